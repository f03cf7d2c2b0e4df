/**
 * SpeedNet: the network of the CIFAR-10 speed-run literature, with the twist. The speed runs (Page's
 * DAWNBench ResNet-9, 2018; Jordan's airbench94, arXiv:2404.00498) found that a shallow, wide net
 * with aggressive pooling trains to 94% in about ten epochs:
 *
 * ```text
 * whiten   2×2 conv 3 → 24, no padding (filters frozen: ± the eigenvectors of the 2×2 patch covariance), GELU
 * group 1  conv 24 → 64,   maxpool 2, BN, GELU, conv 64 → 64,   BN, GELU      31×31 → 15×15
 * group 2  conv 64 → 256,  maxpool 2, BN, GELU, conv 256 → 256, BN, GELU      15×15 → 7×7
 * group 3  conv 256 → 256, maxpool 2, BN, GELU, conv 256 → 256, BN, GELU      7×7 → 3×3
 * head     global max-pool (3×3 → 1), linear 256 → classes (no bias), × 1/9
 * ```
 *
 * Every BatchNorm keeps its scale at 1 (only the shift learns), with momentum 0.4 and ε = 10⁻¹²; every
 * 3×3 convolution starts as the identity on its first input channels (Dirac initialization), so at
 * initialization the net passes its whitened input through. The whitening layer's filters are fixed; its
 * bias may learn (the speed runs train it for the first 3 epochs: the trainer's `freezeAfter`).
 *
 * **The twist.** Each group is a stage; a twisted stage's second convolution — the one that runs at
 * the stage's resolution, after the pooling — becomes a {@link TwistConv2d}: out = K⋆u + X·(Kx⋆u) +
 * Y·(Ky⋆u). Twisting the first convolution too would triple the cost of the most expensive layers
 * for the same kind of operator.
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { eye, zeros } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { chain, tidy } from '../tensor/memory.js';
import * as linalg from '../tensor/linalg.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { markBlock } from '../nn/block.js';
import { type LoadOptions, type LoadResult, Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import type { Boundary } from '../pde/boundary.js';
import type { TwistConv2d } from '../pde/twist.js';
import { type SpeedNetModelOptions, resolveOptions, type ResolvedOptions } from './options.js';
import { conv3x3, ZooModel } from './stages.js';

/** Channels of the whitening layer: ± each of the 3·2·2 eigenvectors of the patch covariance. */
const WHITEN_CHANNELS = 24;

/** The speed runs' ε for the whitening layer's eigenvalues. */
const DEFAULT_WHITEN_EPS = 5e-4;

/** A BatchNorm whose scale stays 1: momentum 0.4 (PyTorch's convention), ε = 10⁻¹². */
function shiftOnlyNorm(channels: number): BatchNorm2d {
  const norm = new BatchNorm2d(channels, { momentum: 0.4, eps: 1e-12 });
  norm.weight!.requiresGrad = false;
  return norm;
}

/** Sets the first min(out, in) filters of a 3×3 kernel to the identity (δ at the centre, channel i → i). */
function diracInit_(weight: Tensor): void {
  noGrad(() =>
    tidy(() => {
      const [outChannels, inChannels] = weight.shape as [number, number, number, number];
      const n = Math.min(outChannels, inChannels);
      const identity = zeros([n, inChannels, 3, 3]);
      identity.select(3, 1).select(2, 1).copy_(eye(n, inChannels));
      weight.narrow(0, 0, n).copy_(identity);
    }),
  );
}

/** conv → maxpool 2 → BN → GELU → conv → BN → GELU; the second convolution is the stage's (twistable) operator. */
export class ConvGroup extends Module {
  readonly conv1: Conv2d;
  readonly norm1: BatchNorm2d;
  readonly conv2: TwistConv2d | Conv2d;
  readonly norm2: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, conv2: TwistConv2d | Conv2d, boundary: Boundary = 'zeros') {
    super();
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(inChannels, outChannels, 3, { padding: 1, bias: false, paddingMode: boundary }),
    );
    this.norm1 = this.registerModule('norm1', shiftOnlyNorm(outChannels));
    this.conv2 = this.registerModule('conv2', conv2);
    this.norm2 = this.registerModule('norm2', shiftOnlyNorm(outChannels));
    diracInit_(this.conv1.weight);
    diracInit_(this.conv2.weight);
  }

  forward(x: Tensor): Tensor {
    return chain(x, this.conv1, (u) => F.maxPool2d(u, 2), this.norm1, F.gelu, this.conv2, this.norm2, F.gelu);
  }
}
markBlock(ConvGroup);

/** SpeedNet; see the module documentation. `width` scales the three groups (default 64: 64, 256, 256). */
export class SpeedNet extends ZooModel {
  readonly whiten: Conv2d;
  readonly groups: ConvGroup[];
  readonly fc: Linear;
  /** The logits' scale (1/9). */
  readonly scale = 1 / 9;

  /** ε of {@link initWhitening}. */
  readonly whitenEps: number;

  constructor(options: ResolvedOptions, whitenEps = DEFAULT_WHITEN_EPS) {
    super();
    check(
      Number.isFinite(whitenEps) && whitenEps > 0,
      'models.speednet',
      `whitenEps must be a positive number, got ${whitenEps}`,
    );
    this.whitenEps = whitenEps;
    const { width, boundary, numClasses } = options;
    this.whiten = this.registerModule('whiten', new Conv2d(3, WHITEN_CHANNELS, 2, { bias: true }));
    this.whiten.weight.requiresGrad = false;
    noGrad(() => this.whiten.bias!.zero_());
    const widths = [width, 4 * width, 4 * width];
    this.groups = widths.map((planes, i) => {
      this.beginStage();
      const conv2 = this.inStage(
        conv3x3(planes, planes, {
          boundary,
          twistable: options.twistable[i]!,
          twist: options.twist[i]!,
          variant: options.twistVariant,
          field: options.twistField,
        }),
      );
      return this.registerModule(
        `group${i + 1}`,
        new ConvGroup(i === 0 ? WHITEN_CHANNELS : widths[i - 1]!, planes, conv2, boundary),
      );
    });
    this.fc = this.registerModule('fc', new Linear(widths[2]!, numClasses, { bias: false }));
  }

  /** The trainer's hook for layers set from data: the whitening layer, from a sample of training images. */
  initFromData(images: Tensor): string {
    this.initWhitening(images);
    return `whitening layer from ${images.shape[0]} training images`;
  }

  /**
   * Sets the whitening layer from training images N×3×H×W (normalized as the model will see them): with
   * C = the covariance of all 2×2 patches, C = V Λ Vᵀ, the filters are ±vᵢ/√(λᵢ + ε), largest λ first — so
   * the layer's outputs are decorrelated with unit variance. A few thousand images suffice.
   */
  initWhitening(images: Tensor, eps = this.whitenEps): void {
    check(
      images.ndim === 4 && images.shape[1] === 3,
      'SpeedNet.initWhitening',
      `expects images N×3×H×W, got ${JSON.stringify(images.shape)}`,
    );
    noGrad(() =>
      tidy(() => {
        const k = 2;
        const unfold = (t: Tensor, dim: number) => t.unfold(dim, k, 1);
        // In float64: summing millions of products in float32 makes the small eigenvalues negative.
        const patches = unfold(unfold(images.to('float64'), 2), 3)
          .transpose(1, 3)
          .reshape(-1, 3 * k * k);
        const covariance = patches.t().matmul(patches).div(patches.shape[0]!);
        const { eigenvalues, eigenvectors } = linalg.eigh(covariance, 'U');
        // eigh sorts ascending; the filters go largest first. Column j of V is the j-th eigenvector.
        const filters = eigenvectors
          .t()
          .flip(0)
          .reshape(3 * k * k, 3, k, k)
          .div(eigenvalues.flip(0).add(eps).sqrt().reshape(-1, 1, 1, 1));
        this.whiten.weight.copy_(cat([filters, filters.neg()], 0).float());
      }),
    );
  }

  /** As Module's; weights without the whitening layer's bias (`whiten.weight` alone) load with the bias zero. */
  override loadStateDict(
    stateDict: Map<string, Tensor> | Record<string, Tensor>,
    options: LoadOptions = {},
  ): LoadResult {
    const given = stateDict instanceof Map ? stateDict : new Map(Object.entries(stateDict));
    if (given.has('whiten.bias') || !given.has('whiten.weight')) return super.loadStateDict(given, options);
    return tidy(() => super.loadStateDict(new Map([...given, ['whiten.bias', zeros([WHITEN_CHANNELS])]]), options));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const h = chain(x, this.whiten, F.gelu, ...this.groups);
      // A global max: on 32×32 images the last group's output is 3×3, the speed runs' max-pool 3.
      return this.fc.forward(h.amax([2, 3])).mul(this.scale);
    });
  }
}

/** SpeedNet (64, 256, 256 channels; about 2 M parameters); `whitenEps` is its own option, the rest the zoo's. */
export function speednet(options: SpeedNetModelOptions = {}): SpeedNet {
  check(typeof options === 'object' && options !== null, 'models.speednet', 'options must be an object');
  const { whitenEps, ...shared } = options;
  return new SpeedNet(
    resolveOptions('speednet', shared, { stages: 3, defaultWidth: 64, defaultVariant: 'point' }),
    whitenEps,
  );
}
