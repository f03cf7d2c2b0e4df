/**
 * The default picture of the demos and of `inspect`, drawn procedurally by this file (so it is pdenet's
 * own work, under pdenet's MIT licence, with no third-party content): a dusk sky, a sun, the letters
 * "PDE", a red disk and a green triangle, smoothed twice with pdenet's Gaussian stencil. The packaged
 * copy is `assets/scene.png` (64×64, written by `scripts/make-viz-assets.mjs`); when it is missing the
 * same picture is drawn in memory.
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyStencil } from '../pde/boundary.js';
import { imageToTensor, readPng } from './image.js';

/** Where the packaged default picture lives (beside dist/, in the package's assets/). */
export const DEFAULT_IMAGE_PATH = fileURLToPath(new URL('../../../assets/scene.png', import.meta.url));

const GLYPHS: Record<string, string[]> = {
  P: ['11110', '10001', '10001', '11110', '10000', '10000', '10000'],
  D: ['11110', '10001', '10001', '10001', '10001', '10001', '11110'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
};

/** A smooth step: 1 inside (d < 0), 0 outside, half a pixel of anti-aliasing. */
function inside(d: number): number {
  return Math.max(0, Math.min(1, 0.5 - d));
}

/** The default scene, 1×3×64×64, float64 in [0, 1]. */
export function drawScene(): Tensor {
  const n = 64;
  const rgb = new Float64Array(3 * n * n);
  const put = (x: number, y: number, c: readonly number[], alpha: number) => {
    if (alpha <= 0) return;
    for (let k = 0; k < 3; k++) {
      const i = k * n * n + y * n + x;
      rgb[i] = rgb[i]! * (1 - alpha) + c[k]! * alpha;
    }
  };
  // Triangle (29, 59), (48, 59), (38.5, 37): signed distance to the three edges (pixel centres).
  const tri: [number, number][] = [
    [29, 59],
    [48, 59],
    [38.5, 37],
  ];
  const edge = (px: number, py: number, [ax, ay]: [number, number], [bx, by]: [number, number]) => {
    const [ex, ey] = [bx - ax, by - ay];
    const len = Math.hypot(ex, ey);
    return ((px - ax) * ey - (py - ay) * ex) / len; // > 0 inside for this orientation
  };
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const t = y / (n - 1);
      put(x, y, [0.16 * (1 - t) + 0.02 * t, 0.2 * (1 - t) + 0.02 * t, 0.45 * (1 - t) + 0.08 * t], 1); // sky
      put(x, y, [1, 0.85, 0.25], inside(Math.hypot(x - 55, y - 38) - 6)); // sun
      put(x, y, [0.9, 0.15, 0.12], inside(Math.hypot(x - 14, y - 48) - 10)); // red disk
      const d = -Math.min(edge(x, y, tri[0]!, tri[1]!), edge(x, y, tri[1]!, tri[2]!), edge(x, y, tri[2]!, tri[0]!));
      put(x, y, [0.2, 0.8, 0.3], inside(d)); // green triangle
    }
  }
  // The letters PDE, 5×7 glyphs at 3 pixels per dot, from (6, 4).
  [...'PDE'].forEach((ch, g) => {
    GLYPHS[ch]!.forEach((row, r) => {
      [...row].forEach((bit, c) => {
        if (bit !== '1') return;
        for (let dy = 0; dy < 3; dy++)
          for (let dx = 0; dx < 3; dx++) put(6 + g * 18 + 3 * c + dx, 4 + 3 * r + dy, [0.95, 0.95, 0.95], 1);
      });
    });
  });
  // Twice the Gaussian stencil (σ ≈ 1 pixel): sharp edges would excite the grid-scale modes of the demos.
  return tidy(() =>
    applyStencil(
      applyStencil(tensor(rgb, { shape: [1, 3, n, n] }), 'gaussian', 'replicate'),
      'gaussian',
      'replicate',
    ).clamp(0, 1),
  );
}

/** The sizes a picture (a demo's grid) may be resized to, in pixels along its longer side. */
export const PICTURE_SIZES = { min: 8, max: 1024 } as const;

/** Refuses a picture size outside {@link PICTURE_SIZES}, naming it; `op` names the caller. */
export function checkPictureSize(size: number, op: string): void {
  check(
    Number.isInteger(size) && size >= PICTURE_SIZES.min && size <= PICTURE_SIZES.max,
    op,
    `size must be an integer in [${PICTURE_SIZES.min}, ${PICTURE_SIZES.max}], got ${size}`,
  );
}

/**
 * The picture of `path` (a PNG) or the default scene, as a float64 tensor 1×3×H×W (1×1×H×W with
 * `grayscale`) in [0, 1], resized (bilinear) so that its longer side is `size` (default: unchanged).
 */
export function loadPicture(
  path?: string,
  options: { size?: number; grayscale?: boolean; square?: boolean } = {},
): Tensor {
  const { size, grayscale = false, square = false } = options;
  if (size !== undefined) checkPictureSize(size, 'loadPicture');
  let u: Tensor;
  if (path !== undefined) u = imageToTensor(readPng(path), { grayscale });
  else if (existsSync(DEFAULT_IMAGE_PATH)) u = imageToTensor(readPng(DEFAULT_IMAGE_PATH), { grayscale });
  else {
    const scene = drawScene();
    u = grayscale
      ? tidy(() =>
          scene.mul(tensor([0.299, 0.587, 0.114], { dtype: 'float64' }).reshape(1, 3, 1, 1)).sum(1, { keepdim: true }),
        )
      : scene;
  }
  if (size === undefined) return u;
  const [h, w] = u.shape.slice(2) as [number, number];
  const [th, tw] = square
    ? [size, size]
    : h >= w
      ? [size, Math.max(1, Math.round((w * size) / h))]
      : [Math.max(1, Math.round((h * size) / w)), size];
  if (th === h && tw === w) return u;
  return tidy(() => F.interpolate(u, { size: [th, tw], mode: 'bilinear', alignCorners: false }).clamp(0, 1));
}
