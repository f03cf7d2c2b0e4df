/**
 * Charts: Vega-Lite specifications compiled and rendered to SVG by Vega (headless, no browser), then
 * rasterized to PNG by resvg. The run curves (loss, accuracy, learning rate) and the per-layer operator
 * statistics are drawn here.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { TopLevelSpec } from 'vega-lite';
import { svgToPng } from './svg.js';

/** One line of a run's metrics.jsonl: the fields the charts read (others, e.g. the trainer's EpochMetrics', are ignored). */
export interface MetricsRow {
  epoch: number;
  trainLoss?: number | null;
  trainAccuracy?: number | null;
  valLoss?: number | null;
  valAccuracy?: number | null;
  lr?: number | null;
  seconds?: number | null;
}

const CONFIG = {
  font: 'DejaVu Sans',
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'bottom' },
  title: { fontSize: 13, anchor: 'start' },
} as const;

/** The SVG of a Vega-Lite specification. */
export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use, so that importing pdenet does not load the charting libraries.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = compile({ config: CONFIG, ...spec } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders a Vega-Lite specification to a PNG file (2× pixels by default); returns its SVG too. */
export async function writeChart(
  spec: TopLevelSpec,
  outPath: string,
  options: { scale?: number } = {},
): Promise<{ png: string; svg: string }> {
  const svg = await vegaLiteToSvg(spec);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileAtomic(outPath, [svgToPng(svg, { scale: options.scale ?? 2 })], 'writeChart');
  return { png: outPath, svg };
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Plots a run's curves — loss (train, validation), accuracy (train, validation) and learning rate, by
 * epoch — side by side in one PNG at `outPath`. Rows without a value for a series are skipped in that
 * series (validation every few epochs is fine). Returns `outPath`.
 *
 * @example
 * await plotCurves(readMetrics('runs/r20'), 'runs/r20/curves.png');
 */
export async function plotCurves(
  metrics: readonly MetricsRow[],
  outPath: string,
  options: { title?: string } = {},
): Promise<string> {
  await writeChart(curvesSpec(metrics, options), outPath);
  return outPath;
}

/**
 * The Vega-Lite specification {@link plotCurves} draws. Epochs are counted from 1, as the log and report.md
 * count them (metrics.jsonl's `epoch` is 0-based).
 */
export function curvesSpec(metrics: readonly MetricsRow[], options: { title?: string } = {}): TopLevelSpec {
  const points = (_panel: string, series: [string, keyof MetricsRow][]) =>
    metrics.flatMap((m) =>
      series
        .filter(([, key]) => finite(m[key]) && finite(m.epoch))
        .map(([name, key]) => ({ epoch: m.epoch + 1, series: name, value: m[key] as number })),
    );
  const loss = points('loss', [
    ['train', 'trainLoss'],
    ['validation', 'valLoss'],
  ]);
  const accuracy = points('accuracy', [
    ['train', 'trainAccuracy'],
    ['validation', 'valAccuracy'],
  ]);
  const lr = points('lr', [['lr', 'lr']]);
  const colour = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: ['train', 'validation'], range: ['#4c78a8', '#f58518'] },
  } as const;
  const line = (title: string, values: object[], y: object, withColour: boolean) => ({
    title,
    width: 240,
    height: 170,
    data: { values },
    mark: { type: 'line', point: values.length <= 40, strokeWidth: 2 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', ...y },
      ...(withColour ? { color: colour } : { color: { value: '#54a24b' } }),
    },
  });
  return {
    ...(options.title ? { title: options.title } : {}),
    hconcat: [
      line('loss', loss, { title: 'cross entropy', scale: { zero: false } }, true),
      line('accuracy', accuracy, { title: 'accuracy', axis: { format: '.0%' }, scale: { zero: false } }, true),
      line('learning rate', lr, { title: 'lr', axis: { format: '.2~g' } }, false),
    ],
    resolve: { scale: { color: 'shared' } },
  } as unknown as TopLevelSpec;
}

/** One operator's statistics for {@link plotOperatorStats}. */
export interface OperatorBar {
  layer: string;
  /** ‖S‖²_F and ‖A‖²_F of the self-adjoint (diffusion) and skew-adjoint (transport) parts; null when not square. */
  diffusion: number | null;
  transport: number | null;
  /** ‖K‖²_F. */
  total: number;
}

/** A horizontal stacked bar per layer: ‖K‖² split into diffusion ‖S‖² and transport ‖A‖² (grey: not square). */
export async function plotOperatorStats(
  bars: readonly OperatorBar[],
  outPath: string,
  options: { title?: string } = {},
): Promise<string> {
  const values = bars.flatMap((b, i) =>
    b.diffusion === null || b.transport === null
      ? [{ layer: b.layer, order: i, part: 'not square (no adjoint)', value: b.total }]
      : [
          { layer: b.layer, order: i, part: 'self-adjoint: diffusion', value: b.diffusion },
          { layer: b.layer, order: i, part: 'skew-adjoint: transport', value: b.transport },
        ],
  );
  const spec = {
    title: options.title ?? '‖K‖² of each 3×3 operator = ‖(K + K*)/2‖² + ‖(K − K*)/2‖²',
    width: 420,
    height: { step: 14 },
    data: { values },
    mark: 'bar',
    encoding: {
      y: {
        field: 'layer',
        type: 'nominal',
        sort: { field: 'order', op: 'min' },
        title: null,
        axis: { labelLimit: 260 },
      },
      x: { field: 'value', type: 'quantitative', title: 'squared Frobenius norm', stack: 'zero' },
      color: {
        field: 'part',
        type: 'nominal',
        title: null,
        legend: { labelLimit: 400, columns: 1, orient: 'bottom' },
        scale: {
          domain: ['self-adjoint: diffusion', 'skew-adjoint: transport', 'not square (no adjoint)'],
          range: ['#e45756', '#4c78a8', '#bab0ac'],
        },
      },
      order: { field: 'part' },
      tooltip: [{ field: 'layer' }, { field: 'part' }, { field: 'value', format: '.4g' }],
    },
  } as unknown as TopLevelSpec;
  await writeChart(spec, outPath);
  return outPath;
}
