/**
 * Augmentation on uint8 images: random crop with padding, horizontal flip, cutout — plain loops over
 * bytes, cheap enough to run for a batch of 256 CIFAR images in about a millisecond — and the random
 * parameters of the affine transform (rotation, translation, scale), which transforms.ts applies to
 * the float batch with `F.affineGrid` + `F.gridSample`.
 *
 * Every random choice is drawn from an {@link Rng} in a fixed order (image by image: crop offsets,
 * flip, cutout), so the same generator state gives the same batch in a worker thread or in the main
 * thread. This file imports nothing that loads the native addon: worker threads load it.
 * @module
 */
import { Rng, STREAM } from './random.js';

/** Padding of {@link AugmentOptions.crop}: zeros (black, like torchvision's `RandomCrop(32, padding=4)`) or reflection. */
export type CropPadding = 'zeros' | 'reflect';

/** The notebook's `RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(1, 1.2))`, on the float batch. */
export interface AffineOptions {
  /** The angle is drawn from U(−degrees, degrees) (default 0). */
  degrees?: number;
  /** Largest shift as a fraction of width and height; shifts are whole pixels, as in torchvision (default [0, 0]). */
  translate?: [number, number];
  /** The scale factor is drawn from U(scale[0], scale[1]) (default [1, 1]). */
  scale?: [number, number];
  /** Sampling: bilinear (default) or nearest (torchvision's default for RandomAffine). */
  interpolation?: 'bilinear' | 'nearest';
  /** Probability of transforming an image (default 1). */
  p?: number;
}

/** The augmentations of a training batch; every one is off unless given. */
export interface AugmentOptions {
  /** Pad by `padding` pixels on each side, then crop a window of the original size at a random place. */
  crop?: { padding: number; mode?: CropPadding };
  /**
   * Mirror left–right: `true` with probability 1/2 per image and epoch; `'alternate'` as the speed runs do
   * (Jordan, arXiv:2404.00498): each image gets one coin toss for the whole run and is mirrored in the epochs
   * where the toss and the epoch's parity disagree — so every image is seen both ways in every two epochs.
   */
  flip?: boolean | 'alternate';
  /** Fill a `size`×`size` square at a random centre (it may stick out of the image) with probability `p` (default 1). */
  cutout?: { size: number; p?: number };
  /** Random rotation, translation and scale (applied in the main thread, on the float batch). */
  affine?: AffineOptions;
}

/** The shape of one image: height, width, channels (HWC bytes). */
export interface ImageDims {
  height: number;
  width: number;
  channels: number;
}

/** The random choices for the images of one batch. */
export interface AugmentParams {
  /** Crop offsets in the padded image, in [0, 2·padding]. */
  dy: Int32Array;
  dx: Int32Array;
  /** 1: mirror. */
  flip: Uint8Array;
  /** Cutout centre (−1: no cutout for this image). */
  cy: Int32Array;
  cx: Int32Array;
}

/** Draws the crop, flip and cutout choices of `n` images, image by image. */
export function drawAugmentParams(rng: Rng, n: number, options: AugmentOptions, dims: ImageDims): AugmentParams {
  const { crop, flip, cutout } = options;
  const padding = crop?.padding ?? 0;
  const params: AugmentParams = {
    dy: new Int32Array(n).fill(padding),
    dx: new Int32Array(n).fill(padding),
    flip: new Uint8Array(n),
    cy: new Int32Array(n).fill(-1),
    cx: new Int32Array(n).fill(-1),
  };
  for (let i = 0; i < n; i++) {
    if (crop && padding > 0) {
      params.dy[i] = rng.int(2 * padding + 1);
      params.dx[i] = rng.int(2 * padding + 1);
    }
    if (flip === true) params.flip[i] = rng.float() < 0.5 ? 1 : 0;
    if (cutout && cutout.size > 0) {
      const apply = rng.float() < (cutout.p ?? 1);
      const cy = rng.int(dims.height);
      const cx = rng.int(dims.width);
      if (apply) {
        params.cy[i] = cy;
        params.cx[i] = cx;
      }
    }
  }
  return params;
}

/** Whether image `index` is mirrored in `epoch` under alternating flips (see {@link AugmentOptions.flip}). */
export function alternatingFlip(seed: number, index: number, epoch: number): number {
  const toss = new Rng(seed, STREAM.flip, index).float() < 0.5 ? 1 : 0;
  return toss ^ (epoch & 1);
}

/** Where padded coordinate `i` (of a side of length `n`, padded by `padding`) reads from, or −1 for zero. */
function sourceIndex(i: number, n: number, padding: number, mode: CropPadding): number {
  let s = i - padding;
  if (s >= 0 && s < n) return s;
  if (mode === 'zeros') return -1;
  // reflect without repeating the edge (PyTorch's "reflect"); padding < n keeps one bounce enough
  s = s < 0 ? -s : 2 * (n - 1) - s;
  return Math.min(Math.max(s, 0), n - 1);
}

/**
 * Gathers the images at `indices` from `images` (N×H×W×C bytes), applies the crop, flip and cutout of
 * `params`, and writes them to `out` as a batch in N×C×H×W order (the layout of the tensors).
 *
 * @param fill the value per channel that cutout writes (e.g. the mean colour, which normalizes to 0)
 */
export function renderBatch(
  images: Uint8Array,
  dims: ImageDims,
  indices: ArrayLike<number>,
  params: AugmentParams,
  options: AugmentOptions,
  fill: ArrayLike<number>,
  out: Uint8Array = new Uint8Array(indices.length * dims.height * dims.width * dims.channels),
): Uint8Array {
  const { height: H, width: W, channels: C } = dims;
  const plane = H * W;
  const size = plane * C;
  const padding = options.crop?.padding ?? 0;
  const mode = options.crop?.mode ?? 'zeros';
  const rows = new Int32Array(H);
  const cols = new Int32Array(W);
  const half = Math.floor((options.cutout?.size ?? 0) / 2);
  for (let k = 0; k < indices.length; k++) {
    const src = indices[k]! * size;
    const dst = k * size;
    for (let y = 0; y < H; y++) rows[y] = sourceIndex(y + params.dy[k]!, H, padding, mode);
    for (let x = 0; x < W; x++) {
      const s = sourceIndex((params.flip[k] ? W - 1 - x : x) + params.dx[k]!, W, padding, mode);
      cols[x] = s < 0 ? -1 : s * C; // byte offset of the source pixel within its row
    }
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        const r = rows[y]!;
        const rowOut = dst + c * plane + y * W;
        if (r < 0) {
          out.fill(0, rowOut, rowOut + W);
          continue;
        }
        const rowIn = src + r * W * C + c;
        for (let x = 0; x < W; x++) {
          const s = cols[x]!;
          out[rowOut + x] = s < 0 ? 0 : images[rowIn + s]!;
        }
      }
    }
    const cy = params.cy[k]!;
    if (cy >= 0) {
      const cx = params.cx[k]!;
      const cutSize = options.cutout!.size;
      const y0 = Math.max(0, cy - half),
        y1 = Math.min(H, cy - half + cutSize);
      const x0 = Math.max(0, cx - half),
        x1 = Math.min(W, cx - half + cutSize);
      for (let c = 0; c < C; c++) {
        const v = fill[c] ?? 0;
        for (let y = y0; y < y1; y++) out.fill(v, dst + c * plane + y * W + x0, dst + c * plane + y * W + x1);
      }
    }
  }
  return out;
}

// ---- single-image operations (HWC in, HWC out): the definitions renderBatch must agree with ----

/** The image (HWC) padded by `padding` on each side and cropped back to its size at offset (dy, dx) ∈ [0, 2·padding]². */
export function cropImage(
  image: Uint8Array,
  dims: ImageDims,
  padding: number,
  dy: number,
  dx: number,
  mode: CropPadding = 'zeros',
): Uint8Array {
  const { height: H, width: W, channels: C } = dims;
  const out = new Uint8Array(H * W * C);
  for (let y = 0; y < H; y++) {
    const r = sourceIndex(y + dy, H, padding, mode);
    for (let x = 0; x < W; x++) {
      const s = sourceIndex(x + dx, W, padding, mode);
      if (r < 0 || s < 0) continue;
      for (let c = 0; c < C; c++) out[(y * W + x) * C + c] = image[(r * W + s) * C + c]!;
    }
  }
  return out;
}

/** The image (HWC) mirrored left–right. */
export function flipImage(image: Uint8Array, dims: ImageDims): Uint8Array {
  const { height: H, width: W, channels: C } = dims;
  const out = new Uint8Array(H * W * C);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) out[(y * W + x) * C + c] = image[(y * W + W - 1 - x) * C + c]!;
    }
  }
  return out;
}

/** HWC bytes to CHW bytes. */
export function hwcToChw(image: Uint8Array, dims: ImageDims): Uint8Array {
  const { height: H, width: W, channels: C } = dims;
  const out = new Uint8Array(H * W * C);
  for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) out[c * H * W + p] = image[p * C + c]!;
  return out;
}

/**
 * The 2×3 matrix (for `F.affineGrid` with alignCorners false) of the transform that rotates an image
 * by `degrees` (counter-clockwise as displayed), scales it by `scale` about its centre and then shifts
 * it by (tx, ty) pixels (right, down). affineGrid wants the inverse map — from output points to the
 * input points they sample — in normalized coordinates, where x/W and y/H run over [−1, 1]:
 * A = D·R(−θ)·D⁻¹/s with D = diag(2/W, 2/H), b = −A·D·t.
 */
export function affineTheta(degrees: number, tx: number, ty: number, scale: number, dims: ImageDims): number[] {
  const { height: H, width: W } = dims;
  const angle = (degrees * Math.PI) / 180;
  const cos = Math.cos(angle) / scale;
  const sin = Math.sin(angle) / scale;
  // y points down, so a counter-clockwise turn on screen is R(−θ) in (x, y); its inverse is R(θ)
  const a00 = cos,
    a01 = (-sin * H) / W,
    a10 = (sin * W) / H,
    a11 = cos;
  const bx = (2 * tx) / W,
    by = (2 * ty) / H;
  return [a00, a01, -(a00 * bx + a01 * by), a10, a11, -(a10 * bx + a11 * by)];
}

/**
 * The affine matrices (N×2×3) of `n` random transforms, torchvision's RandomAffine without shear:
 * angle from U(−degrees, degrees), shifts of whole pixels from U(−t·W, t·W) rounded, scale from
 * U(scale[0], scale[1]).
 */
export function drawAffineThetas(rng: Rng, n: number, options: AffineOptions, dims: ImageDims): Float32Array {
  const { degrees = 0, translate = [0, 0], scale = [1, 1], p = 1 } = options;
  const { height: H, width: W } = dims;
  const theta = new Float32Array(n * 6);
  for (let i = 0; i < n; i++) {
    const apply = rng.float() < p;
    const angle = rng.uniform(-degrees, degrees);
    const tx = Math.round(rng.uniform(-translate[0] * W, translate[0] * W));
    const ty = Math.round(rng.uniform(-translate[1] * H, translate[1] * H));
    const s = rng.uniform(scale[0], scale[1]);
    theta.set(apply ? affineTheta(angle, tx, ty, s, dims) : [1, 0, 0, 0, 1, 0], i * 6);
  }
  return theta;
}

/**
 * Per-channel normalization of a uint8 N×C×H×W batch to float32: v·scale[c] − shift[c]. With
 * scale = 1/(255·std) and shift = mean/std this is (v/255 − mean)/std. Done here, in the worker, the
 * main thread only copies the floats into a tensor.
 */
export function normalizeBytes(
  bytes: Uint8Array,
  dims: ImageDims,
  scale: ArrayLike<number>,
  shift: ArrayLike<number>,
  out: Float32Array = new Float32Array(bytes.length),
): Float32Array {
  const { channels: C } = dims;
  const plane = dims.height * dims.width;
  const planes = bytes.length / plane;
  for (let q = 0; q < planes; q++) {
    const c = q % C;
    const a = scale[c]!,
      b = shift[c]!;
    for (let i = q * plane, end = i + plane; i < end; i++) out[i] = bytes[i]! * a - b;
  }
  return out;
}
