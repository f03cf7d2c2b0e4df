/**
 * Looking inside a trained model from the PDE perspective:
 *
 * - feature evolution through depth: a few channels of the hidden state after every residual block,
 *   "the solution at intermediate times";
 * - the learned twist: for each TwistConv2d the vector field v(x, y) of its first-order variable-coefficient
 *   term x·(Kx⋆u) + y·(Ky⋆u) ≈ v·∇u, and for each CoordMixConv2d its coefficient fields mix(XY);
 * - per-layer operator statistics: ‖K‖ of every 3×3 operator split into its self-adjoint part
 *   (K + K*)/2 (diffusion) and skew-adjoint part (K − K*)/2 (transport);
 * - the run's curves (loss, accuracy, learning rate).
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { tensor, zeros } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { TorchError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { ModuleList, Sequential } from '../nn/container.js';
import type { Module } from '../nn/module.js';
import { blockDescription, isBlock } from '../nn/block.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { coordinates } from '../pde/coords.js';
import { operators3x3, selfAdjointPart } from '../pde/hyperbolic.js';
import { CoordMixConv2d, TwistConv2d } from '../pde/twist.js';
import { modelEntry, modelNames } from '../models/registry.js';
import { CIFAR10_NORMALIZATION } from '../data/transforms.js';
import { plotCurves, plotOperatorStats } from './charts.js';
import { colorize, robustMaxAbs, tensorToImage } from './image.js';
import { loadPicture } from './scene.js';
import { svgArrow, svgDocument, svgImage, svgText, svgToPng } from './svg.js';
import { writeRunReport } from './report.js';
import { resolveConfig, type TrainConfig } from '../train/config.js';
import { CHECKPOINT_FORMAT } from '../train/checkpoint.js';
import {
  modelOfRun,
  readMetrics,
  readRunConfig,
  readRunData,
  readWeights,
  resolveRunTarget,
  type RunData,
} from '../train/run.js';

/** Module classes known to be residual blocks (one time step, or a few, of the PDE), or SpeedNet's groups. */

/** Options of {@link inspectCheckpoint}. */
export interface InspectOptions {
  /** A PNG picture to run through the model (default: the packaged scene), resized to the model's input. */
  image?: string;
  /** Where the pictures go (default `<runDir>/inspect`, or `<checkpoint dir>/inspect` without a run folder). */
  outDir?: string;
  /** With a run folder: which checkpoint (default best, else last). */
  which?: 'best' | 'last';
  /** The model to load the weights into, instead of the run's model as its trainer built it (`modelOfRun`). */
  model?: Module;
  /** Input side in pixels (default: the registry's input for the model, else 32). */
  inputSize?: number;
  /** Input normalization (default: the run's own statistics from data.json, else CIFAR-10's). */
  normalization?: { mean: number[]; std: number[] };
  /** Channels shown per block (default 6) and output channels per twisted layer (default 4). */
  channels?: number;
  twistChannels?: number;
  /** Write `<runDir>/report.html` afterwards (default true when there is a run folder). */
  report?: boolean;
}

/** Statistics of one 3×3 operator. */
export interface OperatorStat {
  layer: string;
  type: string;
  shape: number[];
  groups: number;
  /** ‖K‖_F, ‖(K + K*)/2‖_F (diffusion) and ‖(K − K*)/2‖_F (transport); null when K is not square. */
  norm: number;
  selfAdjoint: number | null;
  skewAdjoint: number | null;
  /** ‖Kx‖_F of a TwistConv2d (its effective, antisymmetrized Kx). */
  twistNorm?: number;
}

/** The twist of one TwistConv2d: per shown output channel, v(x, y) = M·(x, y). */
export interface TwistFieldSummary {
  layer: string;
  twist: boolean;
  grid: [number, number];
  channels: {
    channel: number;
    matrix: [[number, number], [number, number]];
    rotation: number;
    dilation: number;
    shear: number;
  }[];
}

/** What {@link inspectCheckpoint} wrote. */
export interface InspectResult {
  runDir: string | null;
  checkpoint: string | null;
  model: string | null;
  outDir: string;
  images: {
    features: string;
    twistFields: string | null;
    coordMix: string | null;
    operators: string | null;
    curves: string | null;
  };
  /** The blocks whose outputs are shown, in order of depth. */
  blocks: { name: string; type: string; shape: number[] }[];
  operators: OperatorStat[];
  twist: TwistFieldSummary[];
  /** The inspection manifest (inspect.json) and the report, when written. */
  manifest: string;
  report: string | null;
}

export { resolveRunTarget } from '../train/run.js';

/** The run's configuration and data description, from its folder, or from a training checkpoint's metadata without one. */
function describedRun(runDir: string | null, checkpoint: string): { config: TrainConfig | null; data: RunData | null } {
  if (runDir !== null) return { config: readRunConfig(runDir), data: readRunData(runDir) };
  const { metadata } = readSafetensorsHeader(checkpoint);
  if (metadata.format !== CHECKPOINT_FORMAT || metadata.config === undefined) return { config: null, data: null };
  try {
    return { config: resolveConfig(JSON.parse(metadata.config) as Partial<TrainConfig>), data: null };
  } catch {
    return { config: null, data: null };
  }
}

// ---- (a) feature evolution --------------------------------------------------------------------

interface Capture {
  name: string;
  type: string;
  shape: number[];
  /** The shown channels' values, H×W each, and their indices. */
  channels: { index: number; values: Float64Array }[];
  module: Module;
}

/** The k channels of out (1×C×H×W) with the largest spatial standard deviation (or the `fixed` ones), copied out. */
function topChannels(out: Tensor, k: number, fixed?: number[]): { index: number; values: Float64Array }[] {
  return tidy(() => {
    const [, c, h, w] = out.shape as [number, number, number, number];
    let order = fixed?.filter((i) => i < c);
    if (order === undefined || order.length === 0) {
      const spread = Array.from(
        out
          .detach()
          .to('float64')
          .reshape(c, h * w)
          .std(1)
          .toTypedArray() as Float64Array,
      );
      order = spread
        .map((s, i) => [s, i] as const)
        .sort((a, b) => b[0] - a[0])
        .slice(0, k)
        .map(([, i]) => i)
        .sort((a, b) => a - b);
    }
    return order.map((index) => ({
      index,
      values: Float64Array.from(out.select(0, 0).select(0, index).to('float64').toTypedArray() as Float64Array),
    }));
  });
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Runs `input` through the model and captures a few channels of the output of every block. Blocks are the
 * modules whose class is marked a block (`markBlock`); when the model has none, every non-container module with
 * children whose 4-D output has its input's shape, innermost first.
 */
function captureBlocks(
  model: Module,
  input: Tensor,
  k: number,
): { captures: Capture[]; grids: Map<Module, [number, number]> } {
  const names = new Map<Module, string>();
  for (const [name, m] of model.namedModules()) names.set(m, name || '(model)');
  const known = [...model.modules()].some(isBlock);
  const captures: Capture[] = [];
  const grids = new Map<Module, [number, number]>();
  // Integrator blocks: the state at each of their time steps is the input of their per-step operator.
  const stepOf = new Map<Module, { block: Module; state: string }>();
  for (const m of model.modules()) {
    const { stepOperators, stepState = 'state' } = blockDescription(m) ?? {};
    for (const op of stepOperators?.(m) ?? []) stepOf.set(op, { block: m, state: stepState });
  }
  const steps = new Map<Module, { count: number; channels: number[] }>();
  const handles = [...model.modules()].map((m) =>
    m.registerForwardHook((mod, inputs, output) => {
      if (!(output instanceof Tensor) || output.ndim !== 4) return;
      if (mod instanceof TwistConv2d || mod instanceof CoordMixConv2d)
        grids.set(mod, [output.shape[2]!, output.shape[3]!]);
      const first = inputs[0];
      const { block, state: stepState } = stepOf.get(mod) ?? {};
      if (block !== undefined && first instanceof Tensor && first.ndim === 4) {
        const state = steps.get(block) ?? { count: 0, channels: [] };
        const channels = topChannels(first, k, state.channels);
        steps.set(block, { count: state.count + 1, channels: channels.map((c) => c.index) });
        captures.push({
          name: `${names.get(block)} · step ${state.count}`,
          type: stepState!,
          shape: first.shape,
          channels,
          module: mod,
        });
        return;
      }
      const candidate = known
        ? isBlock(mod)
        : mod !== model &&
          [...mod.children()].length > 0 &&
          !(mod instanceof Sequential) &&
          !(mod instanceof ModuleList) &&
          first instanceof Tensor &&
          sameShape(first.shape, output.shape);
      if (candidate) {
        const fixed = steps.get(mod)?.channels;
        captures.push({
          name: names.get(mod)!,
          type: mod.constructor.name,
          shape: output.shape,
          channels: topChannels(output, k, fixed),
          module: mod,
        });
      }
    }),
  );
  try {
    noGrad(() => {
      const out = model.forward(input as never);
      if (out instanceof Tensor) out.dispose();
    });
  } finally {
    for (const h of handles) h.remove();
  }
  if (known) return { captures, grids };
  // Keep the innermost: drop a candidate that contains another one.
  const contains = (outer: Module, inner: Module) => outer !== inner && [...outer.modules()].includes(inner);
  return { captures: captures.filter((c) => !captures.some((d) => contains(c.module, d.module))), grids };
}

const TILE = 72;
/** Pixels per SVG unit of the inspection figures (2: sharp on high-density screens; the report shows them at half size). */
const FIGURE_SCALE = 2;

function featureGrid(picture: Tensor, captures: Capture[], k: number, title: string): Buffer {
  const left = 190;
  const top = 44;
  const rowH = TILE + 22;
  const width = Math.max(left + k * (TILE + 6) + 10, 640);
  const rows = captures.length + 1;
  const height = top + rows * rowH + 6;
  const parts: string[] = [
    svgText(8, 18, title, { size: 14, weight: 'bold' }),
    svgText(
      8,
      34,
      'each tile: one channel (the most varied), coloured on its own scale — viridis ≥ 0, blue–red signed',
      { size: 11, fill: '#555' },
    ),
  ];
  const y0 = top;
  parts.push(
    svgText(8, y0 + TILE / 2, 'input (t = 0)', { size: 12, weight: 'bold' }),
    svgText(8, y0 + TILE / 2 + 15, `${picture.shape.slice(1).join('×')}`, { size: 11, fill: '#555' }),
    svgImage(tensorToImage(picture), left, y0, TILE, TILE),
  );
  captures.forEach((c, r) => {
    const y = top + (r + 1) * rowH;
    const [, , h, w] = c.shape as [number, number, number, number];
    parts.push(
      svgText(8, y + TILE / 2 - 4, `${r + 1}. ${c.name}`, { size: 12, weight: 'bold' }),
      svgText(8, y + TILE / 2 + 11, `${c.type} · ${c.shape.slice(1).join('×')}`, { size: 11, fill: '#555' }),
    );
    c.channels.forEach((ch, j) => {
      const min = Math.min(...ch.values);
      const m = robustMaxAbs(ch.values, 0.995);
      const img = min >= 0 ? colorize(ch.values, w, h, 0, m, 'viridis') : colorize(ch.values, w, h, -m, m, 'diverging');
      const x = left + j * (TILE + 6);
      parts.push(
        svgImage(img, x, y, TILE, TILE),
        svgText(x + TILE / 2, y + TILE + 13, `c${ch.index}`, { size: 10, anchor: 'middle', fill: '#555' }),
      );
    });
  });
  return svgToPng(svgDocument(width, height, parts), { scale: FIGURE_SCALE });
}

// ---- (b) twist fields -------------------------------------------------------------------------

/** First-order coefficients (∂x, ∂y) of each 3×3 kernel: Σ K[a, b]·(b − 1), Σ K[a, b]·(a − 1). Shapes [out, in]. */
function firstOrder(kernel: Tensor): { ax: Float64Array; ay: Float64Array; out: number; inPer: number } {
  return tidy(() => {
    const [out, inPer] = kernel.shape as [number, number];
    const k = kernel.detach().to('float64');
    const offsets = tensor([-1, 0, 1], { dtype: 'float64' });
    const ax = k.mul(offsets.reshape(1, 1, 1, 3)).sum([2, 3]);
    const ay = k.mul(offsets.reshape(1, 1, 3, 1)).sum([2, 3]);
    return {
      ax: Float64Array.from(ax.toTypedArray() as Float64Array),
      ay: Float64Array.from(ay.toTypedArray() as Float64Array),
      out,
      inPer,
    };
  });
}

/**
 * The matrix M of the twist's first-order term per output channel (summed over inputs):
 * x·(Kx⋆u) + y·(Ky⋆u) ≈ v·∇u with v(x, y) = M·(x, y), M = [[αx, αy], [βx, βy]] where (αx, βx) and
 * (αy, βy) are the ∂x and ∂y coefficients of Kx and Ky.
 */
export function twistMatrices(conv: TwistConv2d): [[number, number], [number, number]][] {
  const { kx, ky } = noGrad(() => conv.twistKernels());
  const fx = firstOrder(kx);
  const fy = firstOrder(ky);
  kx.dispose();
  ky.dispose();
  return Array.from({ length: fx.out }, (_, o) => {
    let [a11, a12, a21, a22] = [0, 0, 0, 0];
    for (let i = 0; i < fx.inPer; i++) {
      const p = o * fx.inPer + i;
      a11 += fx.ax[p]!;
      a21 += fx.ay[p]!;
      a12 += fy.ax[p]!;
      a22 += fy.ay[p]!;
    }
    return [
      [a11, a12],
      [a21, a22],
    ];
  });
}

function decompose(m: [[number, number], [number, number]]): { rotation: number; dilation: number; shear: number } {
  const rotation = (m[1][0] - m[0][1]) / 2;
  const dilation = (m[0][0] + m[1][1]) / 2;
  const shear = Math.hypot((m[0][0] - m[1][1]) / 2, (m[0][1] + m[1][0]) / 2);
  return { rotation, dilation, shear };
}

const QUIVER = 132;

function twistFigure(
  layers: { name: string; conv: TwistConv2d; grid: [number, number]; shown: TwistFieldSummary['channels'] }[],
  k: number,
): Buffer {
  const left = 200;
  const top = 58;
  const rowH = QUIVER + 34;
  const width = Math.max(left + k * (QUIVER + 10) + 10, 800);
  const height = top + layers.length * rowH;
  const parts = [
    svgText(8, 18, 'Learned twist: x·(Kx⋆u) + y·(Ky⋆u) ≈ v(x, y)·∇u, per output channel', { size: 14, weight: 'bold' }),
    svgText(
      8,
      34,
      "arrows: v on the layer's grid, summed over input channels (u_t = v·∇u carries the picture along −v); colour: |v|;",
      { size: 11, fill: '#555' },
    ),
    svgText(
      8,
      48,
      "M = ∂v/∂(x, y) = ω·rotation + δ·dilation + shear; the layer's coordinates as in TwistConv2d (centred: x, y ∈ [−½, ½))",
      { size: 11, fill: '#555' },
    ),
  ];
  layers.forEach((layer, r) => {
    const y = top + r * rowH;
    const [h, w] = layer.grid;
    parts.push(
      svgText(8, y + QUIVER / 2 - 6, layer.name, { size: 12, weight: 'bold' }),
      svgText(
        8,
        y + QUIVER / 2 + 9,
        `${layer.conv.inChannels}→${layer.conv.outChannels}, ${h}×${w}, ${layer.conv.variant}`,
        { size: 11, fill: '#555' },
      ),
      svgText(8, y + QUIVER / 2 + 23, layer.conv.twist ? 'twist on' : 'twist off (Kx kept)', {
        size: 11,
        fill: layer.conv.twist ? '#2a7' : '#a52',
      }),
    );
    const { x: X, y: Y } = coordinates(h, w, layer.conv.convention, 'float64');
    const xs = X.toTypedArray() as Float64Array;
    const ys = Y.toTypedArray() as Float64Array;
    layer.shown.forEach((ch, j) => {
      const x0 = left + j * (QUIVER + 10);
      const [[a, b], [c, d]] = ch.matrix;
      const mag = new Float64Array(h * w);
      for (let p = 0; p < h * w; p++) mag[p] = Math.hypot(a * xs[p]! + b * ys[p]!, c * xs[p]! + d * ys[p]!);
      const vmax = Math.max(...mag) || 1;
      parts.push(svgImage(colorize(mag, w, h, 0, vmax, 'viridis'), x0, y, QUIVER, QUIVER));
      const n = Math.min(9, w, h);
      const cell = QUIVER / n;
      for (let gy = 0; gy < n; gy++) {
        for (let gx = 0; gx < n; gx++) {
          // The grid point nearest the centre of this arrow's cell.
          const jx = Math.min(w - 1, Math.floor(((gx + 0.5) * w) / n));
          const iy = Math.min(h - 1, Math.floor(((gy + 0.5) * h) / n));
          const p = iy * w + jx;
          const [vx, vy] = [a * xs[p]! + b * ys[p]!, c * xs[p]! + d * ys[p]!];
          const s = (0.45 * cell) / vmax;
          const [cx, cy] = [x0 + (gx + 0.5) * cell, y + (gy + 0.5) * cell];
          parts.push(
            svgArrow(cx - vx * s, cy - vy * s, cx + vx * s, cy + vy * s, { stroke: 'white', width: 1.3, head: 5 }),
          );
        }
      }
      parts.push(
        svgText(x0 + QUIVER / 2, y + QUIVER + 13, `out c${ch.channel}: max |v| ${vmax.toPrecision(2)}`, {
          size: 10,
          anchor: 'middle',
        }),
        svgText(
          x0 + QUIVER / 2,
          y + QUIVER + 26,
          `ω ${ch.rotation.toPrecision(2)}  δ ${ch.dilation.toPrecision(2)}  shear ${ch.shear.toPrecision(2)}`,
          { size: 10, anchor: 'middle', fill: '#555' },
        ),
      );
    });
  });
  return svgToPng(svgDocument(width, height, parts), { scale: FIGURE_SCALE });
}

// ---- (b') coordinate-mix fields -----------------------------------------------------------------

function coordMixFigure(layers: { name: string; conv: CoordMixConv2d; grid: [number, number] }[], k: number): Buffer {
  const left = 200;
  const top = 44;
  const rowH = TILE + 22;
  const width = Math.max(left + k * (TILE + 6) + 10, 640);
  const height = top + layers.length * rowH;
  const parts = [
    svgText(8, 18, 'Coefficient fields mix(XY) of CoordMixConv2d: mix(1, x, y, x², xy, y²)', {
      size: 14,
      weight: 'bold',
    }),
    svgText(8, 34, 'the most varied channels of each layer; blue–red signed, each on its own scale', {
      size: 11,
      fill: '#555',
    }),
  ];
  layers.forEach((layer, r) => {
    const y = top + r * rowH;
    const [h, w] = layer.grid;
    const fields = noGrad(() =>
      tidy(() => {
        const like = zeros([1], { dtype: 'float32' });
        return topChannels(layer.conv.coefficients(h, w, like), k);
      }),
    );
    parts.push(
      svgText(8, y + TILE / 2 - 4, layer.name, { size: 12, weight: 'bold' }),
      svgText(8, y + TILE / 2 + 11, `${layer.conv.width}×${layer.conv.multiplier} fields, ${h}×${w}`, {
        size: 11,
        fill: '#555',
      }),
    );
    fields.forEach((f, j) => {
      const m = robustMaxAbs(f.values, 1);
      const x = left + j * (TILE + 6);
      parts.push(
        svgImage(colorize(f.values, w, h, -m, m, 'diverging'), x, y, TILE, TILE),
        svgText(x + TILE / 2, y + TILE + 13, `c${f.index} ±${m.toPrecision(2)}`, {
          size: 10,
          anchor: 'middle',
          fill: '#555',
        }),
      );
    });
  });
  return svgToPng(svgDocument(width, height, parts), { scale: FIGURE_SCALE });
}

// ---- (c) operator statistics ----------------------------------------------------------------------

/**
 * (K + K*)/2 for a square operator: groups 1 or depthwise through selfAdjointPart, other groups block by
 * block, depthwise with a multiplier kernel by kernel; null when K has no adjoint of its own shape.
 */
function selfAdjoint(weight: Tensor, groups: number): Tensor | null {
  const [out, inPer, kh, kw] = weight.shape as [number, number, number, number];
  if (kh !== kw) return null;
  if ((groups === 1 && out === inPer) || (inPer === 1 && groups === out)) return selfAdjointPart(weight, groups);
  // Depthwise with a multiplier (seed 003: width → k·width): each kernel is a scalar operator of its own.
  if (inPer === 1) return tidy(() => weight.add(weight.flip([2, 3])).div(2));
  if (out !== inPer * groups) return null;
  // Block-diagonal: the adjoint transposes channels within each group.
  return tidy(() =>
    weight
      .add(weight.reshape(groups, inPer, inPer, kh, kw).transpose(1, 2).flip([3, 4]).reshape(out, inPer, kh, kw))
      .div(2),
  );
}

/** The statistics of every 3×3 operator of the model (Conv2d 3×3, TwistConv2d's K, SymmetricLayer). */
export function operatorStatistics(model: Module): OperatorStat[] {
  const stats: OperatorStat[] = [];
  for (const { name, module: m, weight: w, groups } of operators3x3(model)) {
    const stat = noGrad(() =>
      tidy(() => {
        const k = w.detach().to('float64');
        const norm = k.norm().item();
        const s = selfAdjoint(k, groups);
        const row: OperatorStat = {
          layer: name || '(model)',
          type: m.constructor.name,
          shape: w.shape,
          groups,
          norm,
          selfAdjoint: s === null ? null : s.norm().item(),
          skewAdjoint: s === null ? null : k.sub(s).norm().item(),
        };
        if (m instanceof TwistConv2d) {
          const { kx, ky } = m.twistKernels();
          row.twistNorm = kx.norm().item();
          kx.dispose();
          ky.dispose();
        }
        return row;
      }),
    );
    stats.push(stat);
  }
  return stats;
}

// ---- the whole inspection -------------------------------------------------------------------------

/**
 * Inspects a trained model: rebuilds it from its run folder (`config.json` and `data.json`: the model with the
 * run's options and class count; the input normalized with the run's statistics), loads the checkpoint
 * (`checkpoints/best.safetensors`, else `last.safetensors`; a checkpoint file may be given instead of the
 * folder), runs a picture through it, and writes into
 * `outDir`: `features.png`, `twist-fields.png` (TwistConv2d layers), `coord-mix.png` (CoordMixConv2d
 * layers), `operators.png`, `curves.png` (when the run has metrics.jsonl) and `inspect.json`; then the
 * run's `report.html`.
 *
 * @example
 * const r = await inspectCheckpoint('runs/resnet20-twist');          // pictures in runs/resnet20-twist/inspect
 * await inspectCheckpoint('runs/r/checkpoints/last.safetensors', { image: 'cat.png', outDir: 'look' });
 */
export async function inspectCheckpoint(target: string, options: InspectOptions = {}): Promise<InspectResult> {
  const { runDir, checkpoint, config, model, ownModel, picture, input } = rebuild(target, options);
  const channels = options.channels ?? 6;
  const outDir = resolve(options.outDir ?? join(runDir ?? dirname(checkpoint), 'inspect'));
  mkdirSync(outDir, { recursive: true });
  try {
    // (a) the hidden state after each block.
    const { captures, grids } = captureBlocks(model, input, channels);
    input.dispose();
    const features = join(outDir, 'features.png');
    writeFileAtomic(
      features,
      [
        featureGrid(
          picture,
          captures,
          channels,
          `Feature evolution through depth — the solution at intermediate times${config?.model ? ` (${config.model})` : ''}`,
        ),
      ],
      'inspectCheckpoint',
    );
    picture.dispose();

    // (b) the twist's vector fields and the coordinate-mix fields.
    const { twist, twistFields, coordMix } = drawFields(model, grids, outDir, channels, options.twistChannels ?? 4);

    // (c) operator statistics.
    const operators = operatorStatistics(model);
    const operatorsPng =
      operators.length === 0
        ? null
        : await plotOperatorStats(
            operators.map((s) => ({
              layer: s.layer,
              total: s.norm ** 2,
              diffusion: s.selfAdjoint === null ? null : s.selfAdjoint ** 2,
              transport: s.skewAdjoint === null ? null : s.skewAdjoint ** 2,
            })),
            join(outDir, 'operators.png'),
          );

    // (d) the curves.
    const metrics = runDir !== null ? readMetrics(runDir) : [];
    const curves = metrics.length > 0 ? await plotCurves(metrics, join(outDir, 'curves.png')) : null;

    const result: InspectResult = {
      runDir,
      checkpoint,
      model: config?.model ?? model.constructor.name,
      outDir,
      images: { features, twistFields, coordMix, operators: operatorsPng, curves },
      blocks: captures.map((c) => ({ name: c.name, type: c.type, shape: c.shape })),
      operators,
      twist,
      manifest: join(outDir, 'inspect.json'),
      report: null,
    };
    const manifest = {
      ...result,
      parameters: model.numParameters(),
      image: options.image ?? null,
      createdAt: new Date().toISOString(),
    };
    writeFileAtomic(
      result.manifest,
      [new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`)],
      'inspectCheckpoint',
    );
    if (runDir !== null && options.report !== false)
      result.report = await writeRunReport(runDir, { inspectDir: outDir });
    return result;
  } finally {
    if (ownModel) model.dispose();
  }
}

/**
 * The model of a target with its weights (rebuilt from the run's configuration, with the run's class count, unless
 * given), and the picture at its input size normalized with the run's own statistics.
 */
function rebuild(
  target: string,
  options: InspectOptions,
): {
  runDir: string | null;
  checkpoint: string;
  config: TrainConfig | null;
  model: Module;
  ownModel: boolean;
  picture: Tensor;
  input: Tensor;
} {
  const { runDir, weights: checkpoint } = resolveRunTarget(target, options.which);
  const { config, data } = describedRun(runDir, checkpoint);
  if (options.model === undefined && config === null) {
    throw new TorchError(
      `cannot rebuild the model of ${target}: no config.json with "model" beside it ` +
        '(pass the model, or inspect the run folder)',
      'inspectCheckpoint',
    );
  }
  // The run's model as the trainer built it and its twist as saved (loadTrainedModel's); a model given takes the weights.
  const model = options.model ?? modelOfRun(config!, checkpoint, data?.classes.length);
  if (options.model !== undefined) {
    const tensors = readWeights(checkpoint);
    try {
      model.loadStateDict(tensors.tensors);
    } finally {
      tensors.dispose();
    }
    model.eval();
  }
  const known = config !== null && modelNames().includes(config.model);
  const size = options.inputSize ?? (known ? modelEntry(config.model).inputShape[2]! : 32);
  const picture = loadPicture(options.image, { size, square: true });
  const norm = options.normalization ?? data?.normalization ?? CIFAR10_NORMALIZATION;
  const input = tidy(() =>
    picture
      .to('float32')
      .sub(tensor(norm.mean, { dtype: 'float32' }).reshape(1, 3, 1, 1))
      .div(tensor(norm.std, { dtype: 'float32' }).reshape(1, 3, 1, 1)),
  );
  return { runDir, checkpoint, config, model, ownModel: options.model === undefined, picture, input };
}

/** Draws the twist's vector fields and the coordinate-mix fields (when the model has such layers). */
function drawFields(
  model: Module,
  grids: Map<Module, [number, number]>,
  outDir: string,
  channels: number,
  twistChannels: number,
): { twist: TwistFieldSummary[]; twistFields: string | null; coordMix: string | null } {
  const twistLayers = [...model.namedModules()]
    .filter(([, m]) => m instanceof TwistConv2d)
    .map(([name, m]) => ({ name, conv: m as TwistConv2d, grid: grids.get(m) ?? ([16, 16] as [number, number]) }));
  const twist: TwistFieldSummary[] = twistLayers.map(({ name, conv, grid }) => {
    const matrices = twistMatrices(conv);
    const order = matrices
      .map((m, o) => [Math.hypot(m[0][0], m[0][1], m[1][0], m[1][1]), o] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, twistChannels)
      .map(([, o]) => o)
      .sort((a, b) => a - b);
    return {
      layer: name,
      twist: conv.twist,
      grid,
      channels: order.map((o) => ({ channel: o, matrix: matrices[o]!, ...decompose(matrices[o]!) })),
    };
  });
  let twistFields: string | null = null;
  if (twistLayers.length > 0) {
    twistFields = join(outDir, 'twist-fields.png');
    writeFileAtomic(
      twistFields,
      [
        twistFigure(
          twistLayers.map((l, i) => ({ ...l, shown: twist[i]!.channels })),
          twistChannels,
        ),
      ],
      'inspectCheckpoint',
    );
  }
  const mixLayers = [...model.namedModules()]
    .filter(([, m]) => m instanceof CoordMixConv2d)
    .map(([name, m]) => ({ name, conv: m as CoordMixConv2d, grid: grids.get(m) ?? ([16, 16] as [number, number]) }));
  let coordMix: string | null = null;
  if (mixLayers.length > 0) {
    coordMix = join(outDir, 'coord-mix.png');
    writeFileAtomic(coordMix, [coordMixFigure(mixLayers, Math.max(channels, 6))], 'inspectCheckpoint');
  }
  return { twist, twistFields, coordMix };
}
