/**
 * The operator demos: PDEs solved with pdenet's own 3×3 operator stencils on a picture, written as an
 * animated GIF and a PNG strip of frames.
 *
 * - `translation`: ∂u/∂t = −∂u/∂x with the Sobel stencil (the seed's picture: compounding Sobel shifts the
 *   image one pixel per layer), RK4, one unit of time (one pixel) per frame;
 * - `rotation`: ∂u/∂t = (x∂y − y∂x)u, central differences with pixel-centred coordinates, RK4 (a quarter turn);
 * - `dilation`: ∂u/∂t = −(x∂x + y∂y)u (magnify ×2), then +(x∂x + y∂y)u back, RK4;
 * - `heat`: u ← u + h·Δu (forward Euler, h = 0.2), Dirichlet (zeros) beside Neumann (reflect, or the
 *   boundary given) in one frame;
 * - `wave`: the leapfrog scheme u_{j+1} = 2u_j − u_{j−1} + h²·Δu, the linear case of LeapfrogBlock
 *   (σ = N = identity, KᵀK = −Δ), computed with the five-point Laplacian stencil directly; a pebble
 *   dropped in a pond (or the picture given) shows finite-speed propagation and reflection at the boundary.
 *
 * Each frame is the picture at one time (a column of the table "hidden layers = solution at intermediate
 * times"): depth is time, padding is the boundary condition.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { arange } from '../tensor/creation.js';
import type { DType } from '../tensor/dtype.js';
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { integrate, leapfrog } from '../dynamics/integrate.js';
import { type ButcherTableau, RK1, RK4 } from '../dynamics/tableau.js';
import { applyStencil, BOUNDARIES, type Boundary, padBoundary } from '../pde/boundary.js';
import { stencilKernel } from '../pde/stencils.js';
import { encodeGif } from './gif.js';
import {
  blit,
  colorize,
  encodePng,
  type RGBAImage,
  robustMaxAbs,
  scaleNearest,
  tensorToImage,
  tensorValues,
} from './image.js';
import { checkPictureSize, loadPicture } from './scene.js';
import { svgDocument, svgText, svgToImage } from './svg.js';

export type DemoKind = 'translation' | 'rotation' | 'dilation' | 'heat' | 'wave';

export const DEMO_KINDS: readonly DemoKind[] = ['translation', 'rotation', 'dilation', 'heat', 'wave'];

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Folder the GIF and PNG are written to (created if missing). */
  outDir: string;
  /** A PNG picture (default: the packaged scene; for `wave`: a pebble dropped in a pond). */
  image?: string;
  /**
   * The boundary condition (default: replicate for the transport demos, zeros for `wave`; for `heat`, the
   * one shown beside Dirichlet, default reflect, not zeros).
   */
  boundary?: Boundary;
  /** Frames after the initial one (default: translation 24, rotation 24, dilation 24, heat 24, wave 40). */
  steps?: number;
  /** The picture's longer side in grid points (default 64). */
  size?: number;
  /** Pixels per grid point in the GIF (default 3); the strip uses at most 2. */
  scale?: number;
  /** Milliseconds per GIF frame (default 100). */
  delayMs?: number;
  /** Frames in the PNG strip (default 5, evenly spaced, the first and last included). */
  stripFrames?: number;
  /**
   * ν of a little diffusion ν·Δu added to the transport demos (translation, rotation, dilation; default
   * 0.05; 0 for the pure operator). Central differences cannot move the grid-scale (checkerboard) mode,
   * which jumps at the boundary and at sharp edges excite; ν·Δu damps it, the way a learned 3×3 operator
   * mixes first- and second-order terms. It does not move the centre of mass.
   */
  viscosity?: number;
}

/** ν of the transport demos' diffusion (see {@link DemoOptions.viscosity}). */
export const DEFAULT_VISCOSITY = 0.05;

/** A rectangle in a picture, in pixels. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What {@link runDemo} wrote. */
export interface DemoResult {
  kind: DemoKind;
  /** Path of the animated GIF and of the PNG strip. */
  gif: string;
  png: string;
  /** Frames in the GIF (steps + 1). */
  frames: number;
  /** Size of a GIF frame in pixels. */
  width: number;
  height: number;
  /** The grid (picture) size in points and the pixels per point in the GIF. */
  grid: { width: number; height: number };
  scale: number;
  /** Where each panel (solution) sits in a GIF frame: one panel, or two for `heat`. */
  panels: { label: string; rect: Rect }[];
  /** The PDE time of each frame. */
  times: number[];
  /** The PNG strip: its size and which frames it shows. */
  strip: { width: number; height: number; frames: number[] };
  boundary: Boundary;
  /** The equation solved, as text. */
  equation: string;
}

const DEFAULT_STEPS: Record<DemoKind, number> = { translation: 24, rotation: 24, dilation: 24, heat: 24, wave: 40 };

/**
 * The default boundary conditions: transport leaves through the boundary, and 'replicate' (∂u/∂n = 0)
 * lets it out without the reflections a Dirichlet wall sends back; heat shows it beside Dirichlet; the
 * wave reflects off a Dirichlet wall.
 */
const DEFAULT_BOUNDARY: Record<DemoKind, Boundary> = {
  translation: 'replicate',
  rotation: 'replicate',
  dilation: 'replicate',
  heat: 'reflect',
  wave: 'zeros',
};

const BOUNDARY_NAMES: Record<Boundary, string> = {
  zeros: 'zeros (Dirichlet)',
  reflect: 'reflect (Neumann)',
  replicate: 'replicate (Neumann)',
  circular: 'circular (periodic)',
};

/** One frame of a simulation: its panels (pictures at grid resolution) and time. */
interface Frame {
  panels: RGBAImage[];
  time: number;
  /** The second caption line. */
  note: string;
}

interface Simulation {
  equation: string;
  labels: string[];
  frames: Frame[];
}

/** The time points 0, dt, 2·dt, …, steps·dt. */
function uniformPoints(steps: number, dt: number): number[] {
  return Array.from({ length: steps + 1 }, (_, k) => k * dt);
}

/** u' = L(u) integrated by `tableau` over `steps` steps of dt; the input is not disposed, the steps between are. */
function evolve(tableau: ButcherTableau, u0: Tensor, L: (u: Tensor) => Tensor, dt: number, steps: number): Tensor {
  return tidy(() => integrate(tableau, (_t, u) => L(u), u0, uniformPoints(steps, dt)));
}

/** Pixel coordinates centred on the picture (x right, y down, unit spacing), each 1×1×H×W. */
function pixelCoordinates(h: number, w: number, dtype: DType): { X: Tensor; Y: Tensor } {
  return tidy(() => ({
    X: arange(w, undefined, 1, { dtype })
      .sub((w - 1) / 2)
      .reshape(1, 1, 1, w)
      .expand(1, 1, h, w)
      .contiguous(),
    Y: arange(h, undefined, 1, { dtype })
      .sub((h - 1) / 2)
      .reshape(1, 1, h, 1)
      .expand(1, 1, h, w)
      .contiguous(),
  }));
}

/** (∂u/∂x, ∂u/∂y) by central differences, both from one grouped convolution, under the boundary condition. */
function gradient(u: Tensor, boundary: Boundary): [Tensor, Tensor] {
  return tidy(() => {
    const c = u.shape[1]!;
    const kernel = cat([stencilKernel('dx', 1, u.dtype), stencilKernel('dy', 1, u.dtype)], 0).repeat(c, 1, 1, 1);
    const g = F.conv2d(padBoundary(u, 1, boundary), kernel, null, { groups: c }); // channel 2i: ∂x u_i, 2i + 1: ∂y u_i
    const [n, , h, w] = g.shape as [number, number, number, number];
    const pair = g.reshape(n, c, 2, h, w);
    return [pair.select(2, 0), pair.select(2, 1)];
  });
}

/** u' = L(u) + ν·Δu: the transport L plus a little diffusion (none when ν = 0). */
function withViscosity(L: (u: Tensor) => Tensor, nu: number, boundary: Boundary): (u: Tensor) => Tensor {
  return nu === 0 ? L : (u) => L(u).add(applyStencil(u, 'laplacian', boundary), nu);
}

const fmt = (t: number, digits = 1) => (Number.isInteger(t) ? String(t) : t.toFixed(digits));

function translation(u0: Tensor, steps: number, boundary: Boundary, nu: number): Simulation {
  // ∂u/∂t = −∂u/∂x moves the picture right at speed 1: one pixel per unit of time, two RK4 steps of ½.
  const L = withViscosity((v: Tensor) => applyStencil(v, 'sobelX', boundary).neg(), nu, boundary);
  const frames = transport(
    u0,
    () => L,
    new Array<number>(steps).fill(1),
    1,
    1,
    (k) => `${BOUNDARY_NAMES[boundary]} · t = ${k}${k > 0 ? ` (${k} px)` : ''}`,
  );
  return { equation: `∂u/∂t = −∂u/∂x (Sobel)${viscosityText(nu)}`, labels: ['translation'], frames };
}

function viscosityText(nu: number): string {
  return nu === 0 ? '' : ` + ${nu}·Δu`;
}

/**
 * Integrates ∂u/∂t = field(sign)(u) for `dtFrame` between frames, one sign per frame, in RK4 substeps that
 * move the picture at most ½ pixel (`maxSpeed`: the largest speed of the field, pixels per unit time).
 */
function transport(
  u0: Tensor,
  field: (sign: number) => (u: Tensor) => Tensor,
  signs: number[],
  dtFrame: number,
  maxSpeed: number,
  note: (k: number) => string,
): Frame[] {
  const substeps = Math.max(1, Math.ceil((maxSpeed * dtFrame) / 0.5));
  const frames: Frame[] = [{ panels: [tensorToImage(u0)], time: 0, note: note(0) }];
  let u = u0;
  signs.forEach((sign, i) => {
    const next = evolve(RK4, u, field(sign), dtFrame / substeps, substeps);
    if (u !== u0) u.dispose();
    u = next;
    frames.push({ panels: [tensorToImage(u)], time: (i + 1) * dtFrame, note: note(i + 1) });
  });
  if (u !== u0) u.dispose();
  return frames;
}

function rotation(u0: Tensor, steps: number, boundary: Boundary, nu: number): Simulation {
  const [h, w] = u0.shape.slice(2) as [number, number];
  const { X, Y } = pixelCoordinates(h, w, u0.dtype);
  const angle = Math.PI / 2 / steps; // a quarter turn in all
  const L = withViscosity(
    (v: Tensor) => {
      const [dx, dy] = gradient(v, boundary);
      return X.mul(dy).sub(Y.mul(dx));
    },
    nu,
    boundary,
  );
  const frames = transport(
    u0,
    () => L,
    new Array<number>(steps).fill(1),
    angle,
    Math.hypot(h - 1, w - 1) / 2,
    (k) => `${BOUNDARY_NAMES[boundary]} · angle ${Math.round((k * 90) / steps)}°`,
  );
  X.dispose();
  Y.dispose();
  return { equation: `∂u/∂t = (x∂y − y∂x)u${viscosityText(nu)}`, labels: ['rotation'], frames };
}

function dilation(u0: Tensor, steps: number, boundary: Boundary, nu: number): Simulation {
  const [h, w] = u0.shape.slice(2) as [number, number];
  const { X, Y } = pixelCoordinates(h, w, u0.dtype);
  // Magnify ×2 over the first half of the frames (u(p, t) = u₀(e^{−t}p)), then shrink back: the picture
  // pushed out of the frame is gone, and what flows back in is the boundary condition's.
  const half = Math.ceil(steps / 2);
  const rate = Math.log(2) / half;
  const signs = Array.from({ length: steps }, (_, k) => (k < half ? -1 : 1));
  const field = (sign: number) =>
    withViscosity(
      (v: Tensor) => {
        const [dx, dy] = gradient(v, boundary);
        return X.mul(dx).add(Y.mul(dy)).mul(sign);
      },
      nu,
      boundary,
    );
  let logScale = 0;
  const scales = [0, ...signs.map((s) => (logScale -= s * rate))];
  const frames = transport(
    u0,
    field,
    signs,
    rate,
    Math.hypot(h - 1, w - 1) / 2,
    (k) => `${BOUNDARY_NAMES[boundary]} · scale ×${Math.exp(scales[k]!).toFixed(2)}`,
  );
  X.dispose();
  Y.dispose();
  return { equation: `∂u/∂t = ∓(x∂x + y∂y)u${viscosityText(nu)}`, labels: ['dilation'], frames };
}

function heat(u0: Tensor, steps: number, boundary: Boundary): Simulation {
  const h = 0.2;
  // At 64 pixels, 576 steps (t = 115): the picture diffuses over ~15 pixels, a quarter of its size; the
  // diffusion length goes as √t, so the final time scales with the area.
  const [hh, ww] = u0.shape.slice(2) as [number, number];
  const finalSteps = Math.max(steps, Math.round((576 * hh * ww) / (64 * 64)));
  const boundaries: Boundary[] = ['zeros', boundary];
  let us = [u0, u0];
  let done = 0;
  const frames: Frame[] = [{ panels: us.map((u) => tensorToImage(u)), time: 0, note: 't = 0' }];
  for (let k = 1; k <= steps; k++) {
    const target = Math.max(done + 1, Math.round((k / steps) ** 2 * finalSteps));
    us = us.map((u, i) => {
      const v = evolve(RK1, u, (w) => applyStencil(w, 'laplacian', boundaries[i]!), h, target - done);
      if (u !== u0) u.dispose();
      return v;
    });
    done = target;
    frames.push({
      panels: us.map((u) => tensorToImage(u)),
      time: done * h,
      note: `t = ${fmt(done * h)} (${done} steps)`,
    });
  }
  for (const u of us) if (u !== u0) u.dispose();
  return { equation: 'u ← u + h·Δu, h = 0.2', labels: boundaries.map((b) => BOUNDARY_NAMES[b]), frames };
}

function wave(u0: Tensor | null, size: number, steps: number, boundary: Boundary): Simulation {
  const h = 0.5;
  const perFrame = 4;
  let start: Tensor;
  if (u0 === null) {
    // A pebble: a narrow Gaussian bump off the centre of a size×size pond.
    start = tidy(() => {
      const j = arange(size, undefined, 1, { dtype: 'float64' });
      const [cx, cy, s] = [Math.round(size * 0.3), Math.round(size * 0.38), Math.max(1, size / 40)];
      const gx = j
        .sub(cx)
        .square()
        .div(-2 * s * s)
        .exp()
        .reshape(1, size);
      const gy = j
        .sub(cy)
        .square()
        .div(-2 * s * s)
        .exp()
        .reshape(size, 1);
      return gy.mul(gx).reshape(1, 1, size, size);
    });
  } else {
    start = u0.mean(1, { keepdim: true });
  }
  // Leapfrog starts at rest (u_{−1} = u_0), as LeapfrogBlock does; every perFrame-th state is a frame.
  const values: Float64Array[] = [];
  tidy(() => {
    leapfrog(
      (_t, u) => applyStencil(u, 'laplacian', boundary),
      start,
      uniformPoints(steps * perFrame, h),
      (k, u) => {
        if (k % perFrame === 0) values.push(tensorValues(u));
      },
    );
  });
  const times = values.map((_, k) => k * perFrame * h);
  const [hh, ww] = start.shape.slice(2) as [number, number];
  start.dispose();
  // One colour scale for every frame, set by the travelling wave rather than the initial spike.
  const later = values.slice(Math.min(values.length - 1, 2));
  const range = Math.max(...later.map((v) => robustMaxAbs(v, 0.998))) * 0.9;
  const frames = values.map((v, k) => ({
    panels: [colorize(v, ww, hh, -range, range, 'diverging')],
    time: times[k]!,
    note: `${BOUNDARY_NAMES[boundary]} · t = ${fmt(times[k]!)}`,
  }));
  return { equation: 'u⁺ = 2u − u⁻ + h²·Δu (leapfrog)', labels: ['wave'], frames };
}

/** Caption layout of a GIF frame. */
const MARGIN = 6;
const CAPTION = 52;
const LABEL = 16;
const GAP = 6;

function composeFrame(
  sim: Simulation,
  frame: Frame,
  kind: DemoKind,
  scale: number,
): { image: RGBAImage; rects: Rect[] } {
  const panels = frame.panels.map((p) => scaleNearest(p, scale));
  const [pw, ph] = [panels[0]!.width, panels[0]!.height];
  const multi = panels.length > 1;
  const width = Math.max(2 * MARGIN + panels.length * pw + (panels.length - 1) * GAP, 240);
  const top = CAPTION + (multi ? LABEL : 0);
  const height = top + ph + MARGIN;
  const x0 = Math.floor((width - (panels.length * pw + (panels.length - 1) * GAP)) / 2);
  const rects = panels.map((_, i) => ({ x: x0 + i * (pw + GAP), y: top, width: pw, height: ph }));
  const texts = [
    svgText(MARGIN, 15, kind, { size: 12, weight: 'bold' }),
    svgText(MARGIN, 30, sim.equation, { size: 11 }),
    svgText(MARGIN, 45, frame.note, { size: 11, fill: '#444' }),
    ...(multi
      ? rects.map((r, i) => svgText(r.x + r.width / 2, top - 4, sim.labels[i]!, { size: 11, anchor: 'middle' }))
      : []),
  ];
  const image = svgToImage(svgDocument(width, height, texts));
  panels.forEach((p, i) => blit(image, p, rects[i]!.x, rects[i]!.y));
  return { image, rects };
}

function composeStrip(sim: Simulation, kind: DemoKind, indices: number[], scale: number): RGBAImage {
  const cells = indices.map((k) => sim.frames[k]!.panels.map((p) => scaleNearest(p, scale)));
  const [pw, ph] = [cells[0]![0]!.width, cells[0]![0]!.height];
  const rows = cells[0]!.length;
  const left = rows > 1 ? 20 : MARGIN;
  const top = 22 + 16;
  const width = left + indices.length * pw + (indices.length - 1) * GAP + MARGIN;
  const height = top + rows * ph + (rows - 1) * GAP + MARGIN;
  const texts = [
    svgText(MARGIN, 16, `${kind}: ${sim.equation}`, { size: 12, weight: 'bold' }),
    ...indices.map((k, c) =>
      svgText(left + c * (pw + GAP) + pw / 2, top - 5, sim.frames[k]!.note.split(' · ').at(-1)!, {
        size: 10,
        anchor: 'middle',
        fill: '#444',
      }),
    ),
    ...(rows > 1
      ? sim.labels.map((label, r) =>
          svgText(14, top + r * (ph + GAP) + ph / 2, label.split(' ')[0]!, { size: 10, anchor: 'middle', rotate: -90 }),
        )
      : []),
  ];
  const image = svgToImage(svgDocument(width, height, texts));
  cells.forEach((panels, c) => panels.forEach((p, r) => blit(image, p, left + c * (pw + GAP), top + r * (ph + GAP))));
  return image;
}

/** Evenly spaced frame indices, first and last included. */
function spread(count: number, wanted: number): number[] {
  if (wanted >= count) return Array.from({ length: count }, (_, i) => i);
  return [...new Set(Array.from({ length: wanted }, (_, i) => Math.round((i * (count - 1)) / (wanted - 1))))];
}

/**
 * Runs one operator demo and writes `<outDir>/<kind>.gif` (every frame) and `<outDir>/<kind>.png` (a strip
 * of a few frames).
 *
 * @example
 * await runDemo('translation', { outDir: 'demo', steps: 24 });
 * await runDemo('heat', { outDir: 'demo', image: 'photo.png', boundary: 'reflect' });
 */
export async function runDemo(kind: DemoKind, options: DemoOptions): Promise<DemoResult> {
  check(
    DEMO_KINDS.includes(kind),
    'runDemo',
    `unknown demo ${JSON.stringify(kind)}; the demos are ${DEMO_KINDS.join(', ')}`,
  );
  check(typeof options?.outDir === 'string' && options.outDir.length > 0, 'runDemo', 'outDir is required');
  const { image, size = 64, scale = 3, delayMs = 100, stripFrames = 5, viscosity = DEFAULT_VISCOSITY } = options;
  const boundary = options.boundary ?? DEFAULT_BOUNDARY[kind];
  const steps = options.steps ?? DEFAULT_STEPS[kind];
  check(
    BOUNDARIES.includes(boundary),
    'runDemo',
    `boundary must be one of ${BOUNDARIES.join(', ')}, got ${JSON.stringify(boundary)}`,
  );
  // Checked here for every kind: the wave's pond is drawn at this size without a picture to resize.
  checkPictureSize(size, 'runDemo');
  check(
    kind !== 'heat' || boundary !== 'zeros',
    'runDemo',
    `heat shows Dirichlet (zeros) beside the boundary given, which must be one of ` +
      `${BOUNDARIES.filter((b) => b !== 'zeros').join(', ')}; got "zeros"`,
  );
  check(
    Number.isInteger(steps) && steps >= 1 && steps <= 1000,
    'runDemo',
    `steps must be an integer in [1, 1000], got ${steps}`,
  );
  check(
    Number.isInteger(scale) && scale >= 1 && scale <= 16,
    'runDemo',
    `scale must be an integer in [1, 16], got ${scale}`,
  );
  check(
    Number.isFinite(viscosity) && viscosity >= 0 && viscosity <= 0.25,
    'runDemo',
    `viscosity must be in [0, 0.25], got ${viscosity}`,
  );
  check(
    Number.isInteger(stripFrames) && stripFrames >= 2,
    'runDemo',
    `stripFrames must be an integer ≥ 2, got ${stripFrames}`,
  );

  const u0 = kind === 'wave' && image === undefined ? null : loadPicture(image, { size });
  let sim: Simulation;
  try {
    switch (kind) {
      case 'translation':
        sim = translation(u0!, steps, boundary, viscosity);
        break;
      case 'rotation':
        sim = rotation(u0!, steps, boundary, viscosity);
        break;
      case 'dilation':
        sim = dilation(u0!, steps, boundary, viscosity);
        break;
      case 'heat':
        sim = heat(u0!, steps, boundary);
        break;
      case 'wave':
        sim = wave(u0, size, steps, boundary);
        break;
    }
  } finally {
    u0?.dispose();
  }

  const composed = sim.frames.map((f) => composeFrame(sim, f, kind, scale));
  const indices = spread(sim.frames.length, stripFrames);
  const strip = composeStrip(sim, kind, indices, Math.min(scale, 2));
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const gif = join(outDir, `${kind}.gif`);
  const png = join(outDir, `${kind}.png`);
  writeFileAtomic(
    gif,
    [
      encodeGif(
        composed.map((c) => c.image),
        { delayMs },
      ),
    ],
    'runDemo',
  );
  writeFileAtomic(png, [encodePng(strip)], 'runDemo');
  const first = composed[0]!;
  const grid = sim.frames[0]!.panels[0]!;
  return {
    kind,
    gif,
    png,
    frames: composed.length,
    width: first.image.width,
    height: first.image.height,
    grid: { width: grid.width, height: grid.height },
    scale,
    panels: first.rects.map((rect, i) => ({ label: sim.labels[i]!, rect })),
    times: sim.frames.map((f) => f.time),
    strip: { width: strip.width, height: strip.height, frames: indices },
    boundary,
    equation: sim.equation,
  };
}
