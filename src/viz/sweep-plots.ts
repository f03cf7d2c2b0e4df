/**
 * A sweep's plot: validation accuracy against epoch and against training time, one colour per combination
 * of settings — its mean over seeds as a line, a band of ± one standard deviation, and one dot per seed at
 * the run's end — and beside them the final accuracy of each combination: its seeds' dots, their mean and the
 * summary's confidence interval of it.
 * @module
 */
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { mean, type SampleSummary, summarize, variance } from '../sweep/stats.js';
import { levelPercent, type SweepSummary } from '../sweep/summary.js';
import { writeChart } from './charts.js';

interface Point {
  label: string;
  x: number;
  mean: number;
  low: number;
  high: number;
}

/** An accuracy axis (in percent, not from zero) on the lower end of a band or interval (`low`, with `high` as its x2/y2). */
const lowerEnd = (title: string) => ({
  field: 'low',
  type: 'quantitative',
  title,
  axis: { format: '.1~%' },
  scale: { zero: false },
});

/** The sample standard deviation; 0 for one value. */
const sd = (xs: readonly number[]) => (xs.length < 2 ? 0 : Math.sqrt(variance(xs)));

/** Per combination and epoch: the mean accuracy over the seeds' runs that reached it, at their mean epoch or time. */
function meanCurves(summary: SweepSummary, x: 'epoch' | 'seconds'): Point[] {
  return summary.combinations.flatMap((c) => {
    const curves = summary.runs.filter((r) => r.combination === c.index && r.curve.length > 0).map((r) => r.curve);
    const epochs = [...new Set(curves.flatMap((curve) => curve.map((p) => p.epoch)))].sort((a, b) => a - b);
    return epochs.map((epoch) => {
      const at = curves.flatMap((curve) => curve.filter((p) => p.epoch === epoch));
      const ys = at.map((p) => p.valAccuracy);
      const m = mean(ys);
      return {
        label: c.label,
        x: x === 'epoch' ? epoch : mean(at.map((p) => p.seconds)),
        mean: m,
        low: m - sd(ys),
        high: m + sd(ys),
      };
    });
  });
}

/** A group's mean final accuracy and the interval of it. */
type MeanPoint = Omit<Point, 'x'>;

/** A sample's mean and interval (the mean alone when it has one value, and so no interval). */
const meanPoint = (label: string, s: SampleSummary): MeanPoint => ({
  label,
  mean: s.mean,
  low: s.low ?? s.mean,
  high: s.high ?? s.mean,
});

/** Each group's final accuracy on a row: one dot per seed, the mean as a tick, its confidence interval as a bar. */
function finalPanel(
  labels: string[],
  means: MeanPoint[],
  ends: { label: string; accuracy: number }[],
  colour: object,
  title: string,
) {
  const row = { field: 'label', type: 'nominal', sort: labels, axis: null };
  return {
    title,
    width: 300,
    height: 210,
    layer: [
      {
        data: { values: means },
        mark: { type: 'rule', strokeWidth: 2.5, opacity: 0.6 },
        encoding: {
          y: row,
          x: lowerEnd('final validation accuracy'),
          x2: { field: 'high' },
          color: colour,
        },
      },
      {
        data: { values: means },
        mark: { type: 'tick', thickness: 3, size: 20 },
        encoding: { y: row, x: { field: 'mean', type: 'quantitative' }, color: colour },
      },
      {
        data: { values: ends },
        mark: { type: 'point', filled: true, size: 36, opacity: 0.85, stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          y: row,
          x: { field: 'accuracy', type: 'quantitative' },
          color: colour,
          shape: { value: 'circle' },
        },
      },
    ],
  };
}

/** One colour per label, in the order given, with the legend the sweep plots share. */
const colourOf = (labels: string[]) => ({
  field: 'label',
  type: 'nominal',
  title: null,
  scale: { domain: labels },
  legend: { columns: 1, labelLimit: 1000, symbolOpacity: 1, symbolType: 'circle' },
});

/** Final accuracies (fractions) of a group of runs, one per seed: a row of the final-accuracy chart. */
export interface FinalAccuracies {
  label: string;
  accuracies: readonly number[];
}

/**
 * The final-accuracy panel of {@link sweepPlotSpec} alone, from groups of final accuracies rather than a sweep's
 * folder (runs gathered from several sweeps or machines, say): each group's dots, its mean and Student-t interval.
 */
export function finalAccuracySpec(
  groups: readonly FinalAccuracies[],
  options: { title: string; level?: number },
): TopLevelSpec {
  const level = options.level ?? 0.95;
  const labels = groups.map((g) => g.label);
  const means = groups.map((g) => meanPoint(g.label, summarize(g.accuracies, level)));
  const ends = groups.flatMap((g) => g.accuracies.map((accuracy) => ({ label: g.label, accuracy })));
  return {
    ...finalPanel(labels, means, ends, colourOf(labels), ''),
    title: {
      text: options.title,
      subtitle: ["dots: each seed's final accuracy;", `the mean (tick) and its ${levelPercent(level)} interval (bar)`],
    },
  } as unknown as TopLevelSpec;
}

/** Draws {@link finalAccuracySpec} to a PNG at `outPath`; returns its path. */
export async function plotFinalAccuracies(
  groups: readonly FinalAccuracies[],
  outPath: string,
  options: { title: string; level?: number },
): Promise<string> {
  await writeChart(finalAccuracySpec(groups, options), outPath);
  return outPath;
}

/**
 * Draws `accuracy.png` in the sweep's folder (or at `outPath`) from a summary; returns its path.
 *
 * @example
 * const { summary } = await runSweep(options);
 * await plotSweep(summary);
 */
export async function plotSweep(summary: SweepSummary, outPath = join(summary.dir, 'accuracy.png')): Promise<string> {
  await writeChart(sweepPlotSpec(summary), outPath);
  return outPath;
}

/** The Vega-Lite specification {@link plotSweep} draws: the two curve panels and the final-accuracy panel. */
export function sweepPlotSpec(summary: SweepSummary): TopLevelSpec {
  const labels = summary.combinations.map((c) => c.label);
  const colour = colourOf(labels);
  const ends = summary.runs.flatMap((r) => {
    const last = r.curve.at(-1);
    return r.status === 'done' && last
      ? [
          {
            label: labels[r.combination]!,
            epoch: last.epoch,
            seconds: last.seconds,
            accuracy: last.valAccuracy,
            seed: r.seed,
          },
        ]
      : [];
  });
  const panel = (x: 'epoch' | 'seconds', title: string) => ({
    title,
    width: 300,
    height: 210,
    layer: [
      {
        data: { values: meanCurves(summary, x) },
        mark: { type: 'area', opacity: 0.18 },
        encoding: {
          x: {
            field: 'x',
            type: 'quantitative',
            title: x === 'epoch' ? 'epoch' : 'training time (s)',
            ...(x === 'epoch' ? { axis: { tickMinStep: 1, format: 'd' } } : {}),
          },
          y: lowerEnd('validation accuracy'),
          y2: { field: 'high' },
          color: colour,
        },
      },
      {
        data: { values: meanCurves(summary, x) },
        mark: { type: 'line', strokeWidth: 2, point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: 'mean', type: 'quantitative' },
          color: colour,
        },
      },
      {
        data: { values: ends },
        mark: { type: 'point', filled: true, size: 36, opacity: 0.85, stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: { field: x, type: 'quantitative' },
          y: { field: 'accuracy', type: 'quantitative' },
          color: colour,
          shape: { value: 'circle' },
        },
      },
    ],
  });
  const level = levelPercent(summary.level);
  const spec = {
    title: {
      text: `sweep ${summary.name}: validation accuracy`,
      subtitle:
        `lines: mean over seeds ${summary.seeds.join(', ')}; bands: ± one standard deviation; dots: each seed's ` +
        `final accuracy; right: the mean (tick) and its ${level} interval (bar)`,
    },
    hconcat: [
      panel('epoch', 'by epoch'),
      panel('seconds', 'by training time'),
      finalPanel(
        labels,
        summary.combinations.flatMap((c) => (c.accuracy ? [meanPoint(c.label, c.accuracy)] : [])),
        ends,
        colour,
        `final accuracy, mean and ${level} interval`,
      ),
    ],
    resolve: { scale: { color: 'shared' } },
  } as unknown as TopLevelSpec;
  return spec;
}
