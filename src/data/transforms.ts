/**
 * From uint8 batches to the float tensors a model eats: per-channel normalization and the random
 * affine transform (`F.affineGrid` + `F.gridSample`). The normalization itself is a JavaScript loop
 * (augment.ts `normalizeBytes`, which worker threads run), so the main thread's share is one copy
 * into libtorch — and the affine resampling, which needs libtorch's grid sampler.
 * @module
 */
import { tensor } from '../tensor/creation.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import { TorchError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { type ImageDims, normalizeBytes } from './augment.js';

/** Per-channel mean and standard deviation, in [0, 1] units: x ↦ (x/255 − mean) / std. */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/** CIFAR-10's statistics as the seed notebook (and kuangliu/pytorch-cifar) normalize with. */
export const CIFAR10_NORMALIZATION: Normalization = { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] };

/** Turns uint8 N×C×H×W batches into normalized float32 tensors, optionally resampled by affine maps. */
export class BatchNormalizer {
  readonly channels: number;
  /** 1/(255·std) per channel. */
  readonly scale: Float32Array;
  /** mean/std per channel: the normalized value of black is −shift. */
  readonly shift: Float32Array;

  /** With `normalization` null the output is x/255, in [0, 1]. */
  constructor(channels: number, normalization: Normalization | null) {
    const op = 'BatchNormalizer';
    const mean = normalization?.mean ?? new Array<number>(channels).fill(0);
    const std = normalization?.std ?? new Array<number>(channels).fill(1);
    if (mean.length !== channels || std.length !== channels) {
      throw new TorchError(
        `mean and std need ${channels} values (one per channel), got ${mean.length} and ${std.length}`,
        op,
      );
    }
    if (!std.every((s) => s > 0 && Number.isFinite(s)))
      throw new TorchError(`std must be positive, got [${std.join(', ')}]`, op);
    if (!mean.every(Number.isFinite)) throw new TorchError(`mean must be finite, got [${mean.join(', ')}]`, op);
    this.channels = channels;
    this.scale = Float32Array.from(std, (s) => 1 / (255 * s));
    this.shift = Float32Array.from(mean, (m, k) => m / std[k]!);
  }

  /** The normalized values of a uint8 N×C×H×W batch (a JavaScript loop; no tensor). */
  normalize(bytes: Uint8Array, dims: ImageDims): Float32Array {
    return normalizeBytes(bytes, dims, this.scale, this.shift);
  }

  /**
   * The float32 tensor of normalized values (N×C×H×W); with `theta` (N×2×3 affine matrices) each
   * image is resampled at the transformed points, outside points becoming black, as torchvision's
   * RandomAffine fills.
   */
  toTensor(
    values: Float32Array,
    shape: readonly [number, number, number, number],
    theta?: Float32Array | null,
    interpolation: 'bilinear' | 'nearest' = 'bilinear',
  ): Tensor {
    const op = 'BatchNormalizer';
    const [n, c, h, w] = shape;
    if (c !== this.channels) throw new TorchError(`the batch has ${c} channels, the normalizer ${this.channels}`, op);
    if (values.length !== n * c * h * w)
      throw new TorchError(`${values.length} values is not a ${shape.join('×')} batch`, op);
    if (!theta) return tensor(values, { shape: [n, c, h, w] });
    if (theta.length !== n * 6) throw new TorchError(`theta needs ${n}×2×3 values, got ${theta.length}`, op);
    return tidy(() => {
      // resample x + shift (black is 0 there), so that points outside the image come out black
      const shift = tensor(this.shift, { shape: [1, c, 1, 1] });
      const x = tensor(values, { shape: [n, c, h, w] }).add_(shift);
      const grid = F.affineGrid(tensor(theta, { shape: [n, 2, 3] }), [n, c, h, w], false);
      return F.gridSample(x, grid, { mode: interpolation, paddingMode: 'zeros', alignCorners: false }).sub_(shift);
    });
  }

  /** {@link normalize} then {@link toTensor}: the tensor of a uint8 N×C×H×W batch. */
  apply(
    bytes: Uint8Array,
    shape: readonly [number, number, number, number],
    theta?: Float32Array | null,
    interpolation: 'bilinear' | 'nearest' = 'bilinear',
  ): Tensor {
    const [n, c, h, w] = shape;
    if (bytes.length !== n * c * h * w)
      throw new TorchError(`${bytes.length} bytes is not a ${shape.join('×')} batch`, 'BatchNormalizer');
    return this.toTensor(this.normalize(bytes, { height: h, width: w, channels: c }), shape, theta, interpolation);
  }
}
