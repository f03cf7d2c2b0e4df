/**
 * Raster images for the pictures: an RGBA buffer, PNG in and out (pngjs), nearest-neighbour scaling,
 * colour maps, and the conversion of tensors (N×C×H×W) to pictures.
 * @module
 */
import { readFileSync } from 'node:fs';
import pngjs from 'pngjs';
import { check } from '../tensor/errors.js';
import { tensor } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

const { PNG } = pngjs;

/** An 8-bit RGBA image, row-major. */
export interface RGBAImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A new image filled with one colour. */
export function createImage(
  width: number,
  height: number,
  rgba: readonly [number, number, number, number] = [255, 255, 255, 255],
): RGBAImage {
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set(rgba, p * 4);
  return { width, height, data };
}

/** The image scaled by an integer factor with nearest neighbour (crisp pixels). */
export function scaleNearest(image: RGBAImage, factor: number): RGBAImage {
  check(
    Number.isInteger(factor) && factor >= 1,
    'scaleNearest',
    `the factor must be a positive integer, got ${factor}`,
  );
  if (factor === 1) return image;
  const { width, height, data } = image;
  const out = new Uint8Array(width * factor * height * factor * 4);
  const rowBytes = width * factor * 4;
  for (let y = 0; y < height; y++) {
    const row = new Uint8Array(rowBytes);
    for (let x = 0; x < width; x++) {
      const px = data.subarray((y * width + x) * 4, (y * width + x) * 4 + 4);
      for (let k = 0; k < factor; k++) row.set(px, (x * factor + k) * 4);
    }
    for (let k = 0; k < factor; k++) out.set(row, (y * factor + k) * rowBytes);
  }
  return { width: width * factor, height: height * factor, data: out };
}

/** Copies `src` into `dst` with its top-left corner at (x, y) (clipped to `dst`). */
export function blit(dst: RGBAImage, src: RGBAImage, x: number, y: number): void {
  for (let r = 0; r < src.height; r++) {
    const ty = y + r;
    if (ty < 0 || ty >= dst.height) continue;
    const x0 = Math.max(0, x);
    const x1 = Math.min(dst.width, x + src.width);
    if (x1 <= x0) continue;
    dst.data.set(
      src.data.subarray((r * src.width + (x0 - x)) * 4, (r * src.width + (x1 - x)) * 4),
      (ty * dst.width + x0) * 4,
    );
  }
}

/** PNG bytes of the image. */
export function encodePng(image: RGBAImage): Buffer {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png);
}

/** Decodes PNG bytes (any bit depth, palette or grey) to RGBA. */
export function decodePng(bytes: Uint8Array): RGBAImage {
  const png = PNG.sync.read(Buffer.from(bytes));
  return {
    width: png.width,
    height: png.height,
    data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
  };
}

/** Reads a PNG file. */
export function readPng(path: string): RGBAImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read the image ${path}: ${(e as Error).message}`);
  }
  if (bytes.subarray(0, 8).toString('latin1') !== '\x89PNG\r\n\x1a\n') {
    throw new Error(`${path} is not a PNG file (pdenet reads PNG images; convert JPEG or GIF first)`);
  }
  return decodePng(bytes);
}

/** A `data:image/png;base64,…` URL of PNG bytes. */
export function pngDataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}

// ---- colour maps -----------------------------------------------------------------------------

type RGB = [number, number, number];

function lut(stops: readonly RGB[]): Uint8Array {
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(t));
    const f = t - k;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(stops[k]![c]! * (1 - f) + stops[k + 1]![c]! * f);
  }
  return out;
}

/** Colour maps: `viridis` (sequential), `diverging` (blue–white–red, for signed values), `gray`. */
export const COLORMAPS = {
  viridis: lut([
    [68, 1, 84],
    [72, 40, 120],
    [62, 74, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [110, 206, 88],
    [181, 222, 43],
    [253, 231, 37],
  ]),
  diverging: lut([
    [5, 48, 97],
    [33, 102, 172],
    [67, 147, 195],
    [146, 197, 222],
    [209, 229, 240],
    [247, 247, 247],
    [253, 219, 199],
    [244, 165, 130],
    [214, 96, 77],
    [178, 24, 43],
    [103, 0, 31],
  ]),
  gray: lut([
    [0, 0, 0],
    [255, 255, 255],
  ]),
} as const;

export type ColormapName = keyof typeof COLORMAPS;

/** The RGB colour of t ∈ [0, 1] in the colour map. */
export function colormapColor(name: ColormapName, t: number): RGB {
  const i = Math.max(0, Math.min(255, Math.round((Number.isFinite(t) ? t : 0) * 255)));
  const m = COLORMAPS[name];
  return [m[i * 3]!, m[i * 3 + 1]!, m[i * 3 + 2]!];
}

/** Colours an H×W field of values, `lo` mapped to the map's start and `hi` to its end. */
export function colorize(
  values: ArrayLike<number>,
  width: number,
  height: number,
  lo: number,
  hi: number,
  map: ColormapName = 'viridis',
): RGBAImage {
  const image = createImage(width, height);
  const span = hi - lo || 1;
  for (let p = 0; p < width * height; p++) {
    const [r, g, b] = colormapColor(map, (values[p]! - lo) / span);
    image.data[p * 4] = r;
    image.data[p * 4 + 1] = g;
    image.data[p * 4 + 2] = b;
  }
  return image;
}

/** The largest |v| at the given quantile (0.99: ignores the 1% largest), at least `floor`. */
export function robustMaxAbs(values: ArrayLike<number>, quantile = 1, floor = 1e-12): number {
  const abs = Float64Array.from(values as ArrayLike<number>, (v) => Math.abs(v)).sort();
  if (abs.length === 0) return floor;
  return Math.max(floor, abs[Math.min(abs.length - 1, Math.floor(quantile * (abs.length - 1)))]!);
}

// ---- tensors <-> pictures ----------------------------------------------------------------------

/** The values of a tensor as float64, copied out. */
export function tensorValues(t: Tensor): Float64Array {
  const data = t.toTypedArray();
  return Float64Array.from(data as ArrayLike<number>);
}

/**
 * A picture of the first image of u (N×C×H×W or C×H×W): C = 3 as RGB, C = 1 as grey, values in
 * [lo, hi] (default [0, 1]) mapped to 0…255 and clipped.
 */
export function tensorToImage(u: Tensor, range: [number, number] = [0, 1]): RGBAImage {
  const shape = u.shape;
  check(
    shape.length === 3 || shape.length === 4,
    'tensorToImage',
    `expects C×H×W or N×C×H×W, got [${shape.join(', ')}]`,
  );
  const [c, h, w] = shape.slice(-3) as [number, number, number];
  check(c === 1 || c === 3, 'tensorToImage', `expects 1 or 3 channels, got ${c}`);
  const values = tensorValues(shape.length === 4 ? u.select(0, 0) : u);
  const image = createImage(w, h);
  const [lo, hi] = range;
  const to8 = (v: number) => Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)));
  for (let p = 0; p < w * h; p++) {
    for (let k = 0; k < 3; k++) image.data[p * 4 + k] = to8(values[(c === 3 ? k : 0) * w * h + p]!);
  }
  return image;
}

/** An RGBA image as a float64 tensor 1×3×H×W (or 1×1×H×W with `grayscale`) with values in [0, 1]. */
export function imageToTensor(image: RGBAImage, options: { grayscale?: boolean } = {}): Tensor {
  const { width: w, height: h, data } = image;
  const channels = options.grayscale ? 1 : 3;
  const out = new Float64Array(channels * w * h);
  for (let p = 0; p < w * h; p++) {
    // Transparent pixels are composited over black.
    const a = data[p * 4 + 3]! / 255;
    const [r, g, b] = [data[p * 4]! * a, data[p * 4 + 1]! * a, data[p * 4 + 2]! * a];
    if (channels === 1) out[p] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else {
      out[p] = r / 255;
      out[w * h + p] = g / 255;
      out[2 * w * h + p] = b / 255;
    }
  }
  return tensor(out, { shape: [1, channels, h, w] });
}
