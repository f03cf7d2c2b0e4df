/**
 * Decoding and encoding image files: JPEG with MozJPEG compiled to WebAssembly (`@jsquash/jpeg`), PNG
 * with `pngjs`.
 *
 * Why these: MozJPEG decodes exactly as libjpeg-turbo does (the same integer IDCT and "fancy"
 * chroma upsampling), so the pixels are bit-identical to PIL's, which torchvision and the PyTorch
 * reference scripts read with; it decodes a 32×32 CIFAR JPEG in about 0.14 ms. Measured on the
 * 50,000 CIFAR-10 JPEGs (2-core machine): MozJPEG-wasm 6.9 s, jpeg-js 6.9 s but pixels off libjpeg's
 * by 1.3 levels on average (up to 43: it upsamples chroma by replication), sharp 47 s (about 0.9 ms
 * of fixed cost per call, in building its libvips pipeline). Neither package loads native code, so
 * both also run in worker threads.
 *
 * Every image comes out as RGB, HWC, 8 bits per channel, like PIL's `convert("RGB")` (alpha is
 * dropped, grey is replicated).
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PNG } from 'pngjs';
import { TorchError } from '../tensor/errors.js';

/** Names the decoders; part of the decoded cache's fingerprint, so a change of decoder rebuilds caches. */
export const CODEC_ID = 'rgb8:mozjpeg-wasm(@jsquash/jpeg@1)+pngjs@7';

/** A decoded image: RGB bytes in HWC order. */
export interface DecodedImage {
  width: number;
  height: number;
  data: Uint8Array;
}

interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

/** The one WebAssembly function used here (TypeScript's lib here has no WebAssembly types). */
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<object> };

interface JpegDecoder {
  init(module: object, overrides: Record<string, unknown>): Promise<void>;
  default(bytes: Uint8Array): Promise<RgbaImage>;
}

interface JpegEncoder {
  init(module: object, overrides: Record<string, unknown>): Promise<void>;
  default(image: RgbaImage, options: Record<string, unknown>): Promise<ArrayBuffer>;
}

const require = createRequire(import.meta.url);
let jpegMessages: string[] = [];
const captureMessages = { print: (s: string) => jpegMessages.push(s), printErr: (s: string) => jpegMessages.push(s) };

let decoderReady: Promise<JpegDecoder> | null = null;
let encoderReady: Promise<JpegEncoder> | null = null;

/** Loads a MozJPEG wasm module. In Node the package cannot fetch its .wasm itself, so it is compiled here. */
async function loadCodec<T extends JpegDecoder | JpegEncoder>(module: string, wasm: string): Promise<T> {
  const codec = (await import(module)) as T;
  const bytes = readFileSync(require.resolve(wasm));
  await codec.init(await WebAssembly.compile(bytes), captureMessages);
  return codec;
}

function jpegDecoder(): Promise<JpegDecoder> {
  decoderReady ??= loadCodec<JpegDecoder>('@jsquash/jpeg/decode.js', '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
  return decoderReady;
}

function jpegEncoder(): Promise<JpegEncoder> {
  encoderReady ??= loadCodec<JpegEncoder>('@jsquash/jpeg/encode.js', '@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm');
  return encoderReady;
}

function isJpeg(b: Uint8Array): boolean {
  return b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

function isPng(b: Uint8Array): boolean {
  return b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

function rgbaToRgb(image: RgbaImage): DecodedImage {
  const { width, height, data } = image;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    out[i * 3] = data[j]!;
    out[i * 3 + 1] = data[j + 1]!;
    out[i * 3 + 2] = data[j + 2]!;
  }
  return { width, height, data: out };
}

/**
 * Whether a libjpeg warning says that pixels were lost: the file ended early (libjpeg fills the rest with
 * grey) or its entropy-coded data is damaged. Warnings about bytes libjpeg skipped ("extraneous bytes
 * before marker") or about metadata leave the pixels whole, as PIL reads them.
 */
function isLostData(message: string): boolean {
  return (
    message.startsWith('Premature end of JPEG file') ||
    /^Corrupt JPEG data: (premature end of data segment|bad Huffman code|found marker)/.test(message)
  );
}

/** The file extensions the image-folder reader takes (torchvision's, less those without a decoder here). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];

/**
 * Decodes one JPEG or PNG file (recognized by its signature, not its name) to RGB.
 *
 * @param name the file's name, for error messages
 * @throws TorchError naming the file when it is neither format or is damaged
 */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<DecodedImage> {
  const op = 'decodeImage';
  if (isJpeg(bytes)) {
    const codec = await jpegDecoder();
    jpegMessages = [];
    let image: RgbaImage;
    try {
      image = await codec.default(bytes);
    } catch (e) {
      const why = jpegMessages.join('; ') || (e as Error).message;
      throw new TorchError(`${name} is not a readable JPEG file (truncated or corrupt): ${why}`, op);
    }
    const lost = jpegMessages.filter(isLostData);
    if (lost.length > 0)
      throw new TorchError(`${name} is not a readable JPEG file (truncated or corrupt): ${lost.join('; ')}`, op);
    return rgbaToRgb(image);
  }
  if (isPng(bytes)) {
    let png: PNG;
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      throw new TorchError(`${name} is not a readable PNG file (truncated or corrupt): ${(e as Error).message}`, op);
    }
    return rgbaToRgb(png);
  }
  throw new TorchError(`${name} is neither a JPEG nor a PNG file (by its first bytes)`, op);
}

function toRgba(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const n = width * height;
  if (rgb.length !== n * 3)
    throw new TorchError(`expected ${n * 3} RGB bytes for ${width}×${height}, got ${rgb.length}`, 'encode');
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    rgba[i * 4] = rgb[i * 3]!;
    rgba[i * 4 + 1] = rgb[i * 3 + 1]!;
    rgba[i * 4 + 2] = rgb[i * 3 + 2]!;
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}

/** A PNG file of an RGB (HWC) image, written as 8-bit RGB. */
export function encodePng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const png = new PNG({ width, height });
  png.data = Buffer.from(toRgba(rgb, width, height).buffer);
  return new Uint8Array(PNG.sync.write(png, { colorType: 2 }));
}

/** A baseline JPEG file of an RGB (HWC) image (MozJPEG, 4:2:0 chroma, `quality` 1–100). */
export async function encodeJpeg(rgb: Uint8Array, width: number, height: number, quality = 90): Promise<Uint8Array> {
  const codec = await jpegEncoder();
  const data = new Uint8ClampedArray(toRgba(rgb, width, height).buffer);
  const out = await codec.default({ width, height, data }, { quality, baseline: true, progressive: false });
  return new Uint8Array(out);
}

/** Weights of a triangle filter widened by the reduction factor (PIL's antialiased bilinear), per output index. */
function filterTaps(
  src: number,
  dst: number,
): { first: Int32Array; count: Int32Array; weights: Float64Array; taps: number } {
  const scale = src / dst;
  const support = Math.max(1, scale);
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(dst);
  const count = new Int32Array(dst);
  const weights = new Float64Array(dst * taps);
  for (let o = 0; o < dst; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(src, Math.ceil(center + support));
    let total = 0;
    let k = 0;
    for (let i = lo; i < hi && k < taps; i++, k++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - center) / support));
      weights[o * taps + k] = w;
      total += w;
    }
    for (let j = 0; j < k; j++) weights[o * taps + j]! /= total || 1;
    first[o] = lo;
    count[o] = k;
  }
  return { first, count, weights, taps };
}

/**
 * Resizes an HWC image with an antialiased bilinear filter (a triangle filter as wide as the
 * reduction, like PIL's `resize(..., BILINEAR)`), rounding to 8 bits.
 */
export function resizeImage(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (width === outWidth && height === outHeight) return src.slice();
  const h = filterTaps(width, outWidth);
  const v = filterTaps(height, outHeight);
  const mid = new Float64Array(height * outWidth * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < channels; c++) {
        let s = 0;
        for (let k = 0; k < h.count[x]!; k++)
          s += h.weights[x * h.taps + k]! * src[(y * width + h.first[x]! + k) * channels + c]!;
        mid[(y * outWidth + x) * channels + c] = s;
      }
    }
  }
  const out = new Uint8Array(outHeight * outWidth * channels);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < channels; c++) {
        let s = 0;
        for (let k = 0; k < v.count[y]!; k++)
          s += v.weights[y * v.taps + k]! * mid[((v.first[y]! + k) * outWidth + x) * channels + c]!;
        out[(y * outWidth + x) * channels + c] = Math.min(255, Math.max(0, Math.round(s)));
      }
    }
  }
  return out;
}
