/**
 * Animated GIFs with gifenc (a small, fast pure-JavaScript encoder with its own colour quantizer).
 * @module
 */
import gifenc from 'gifenc';
import { check } from '../tensor/errors.js';
import type { RGBAImage } from './image.js';

/** Options of {@link encodeGif}. */
export interface GifOptions {
  /** Milliseconds per frame (default 100). */
  delayMs?: number;
  /** Milliseconds the last frame is held (default 3 × delayMs). */
  lastDelayMs?: number;
  /** Loop forever (default true). */
  loop?: boolean;
}

/**
 * The bytes of an animated GIF of the frames (all of one size). One palette of up to 256 colours is
 * quantized from every frame together, so colours do not flicker between frames.
 */
export function encodeGif(frames: readonly RGBAImage[], options: GifOptions = {}): Uint8Array {
  const { delayMs = 100, lastDelayMs = 3 * delayMs, loop = true } = options;
  check(frames.length > 0, 'encodeGif', 'needs at least one frame');
  const { width, height } = frames[0]!;
  for (const f of frames) {
    check(
      f.width === width && f.height === height,
      'encodeGif',
      `frames must be one size: ${width}×${height}, got ${f.width}×${f.height}`,
    );
  }
  // A global palette from a sample of every frame's pixels.
  const stride = Math.max(1, Math.floor((frames.length * width * height) / 400_000));
  const sample = new Uint8Array(Math.ceil((frames.length * width * height) / stride) * 4 + 4 * frames.length);
  let n = 0;
  for (const f of frames)
    for (let p = 0; p < width * height; p += stride) sample.set(f.data.subarray(p * 4, p * 4 + 4), 4 * n++);
  const palette = gifenc.quantize(sample.subarray(0, 4 * n), 256);
  const encoder = gifenc.GIFEncoder();
  frames.forEach((f, i) => {
    const index = gifenc.applyPalette(f.data, palette);
    encoder.writeFrame(index, width, height, {
      palette: i === 0 ? palette : undefined,
      delay: i === frames.length - 1 ? lastDelayMs : delayMs,
      repeat: loop ? 0 : -1,
    });
  });
  encoder.finish();
  return encoder.bytes();
}
