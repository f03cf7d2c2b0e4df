/**
 * A sweep's summary: per combination of settings, the final validation accuracy of its finished runs (n,
 * mean ± std, the Student-t interval of the mean) and its difference from the baseline (Welch's interval
 * and two-sided p-value); written as summary.json, summary.csv, runs.csv and summary.md.
 * @module
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { Combination, SweepPlan } from './plan.js';
import { DEFAULT_CONFIG } from '../train/config.js';
import { readRunState, type StopRule } from './run-folder.js';
import { describeValue, formatValue, type Recipe, shortName } from './settings.js';
import { type Comparison, paired, type SampleSummary, summarize, welch } from './stats.js';

/** One point of a run's validation curve. */
export interface CurvePoint {
  /** 1-based epoch. */
  epoch: number;
  /** Training seconds up to the end of this epoch (evaluation excluded). */
  seconds: number;
  valAccuracy: number;
}

export interface RunRecord {
  id: string;
  combination: number;
  seed: number;
  /** As the run folder is read ({@link readRunState}); `running`: not done, and a live process writes it. */
  status: 'absent' | 'interrupted' | 'running' | 'done';
  /** The validation accuracy of the last epoch (null: not done, or no validation split). */
  finalAccuracy: number | null;
  bestAccuracy: number | null;
  epochs: number;
  trainSeconds: number;
  curve: CurvePoint[];
}

export interface CombinationSummary extends Combination {
  /** Setting path → value. */
  settings: Record<string, unknown>;
  /** The final accuracies of the finished runs; null when none has finished. */
  accuracy: SampleSummary | null;
  /** Against the baseline (combination 0); null for the baseline itself or without runs. */
  vsBaseline: Comparison | null;
  /** Against the baseline seed by seed (the seeds both finished): the paired t-test; null as vsBaseline. */
  pairedVsBaseline: Comparison | null;
  /** Runs of this combination not done yet. */
  missing: number;
  /** The epochs its runs are given (a varied setting may change them). */
  epochs: number;
}

export interface SweepSummary {
  name: string;
  dir: string;
  /** The measure: the final validation accuracy, as a fraction. */
  metric: 'finalAccuracy';
  level: number;
  settings: { key: string; values: unknown[] }[];
  seeds: number[];
  minutes: number | null;
  base: Record<string, unknown>;
  combinations: CombinationSummary[];
  /** Every two combinations with finished runs (a before b): b's mean minus a's, Welch's interval and p-value. */
  pairs: (Comparison & { a: number; b: number; paired: Comparison | null })[];
  /** Each combination's mean training seconds of a finished run (null: none finished). */
  seconds: (number | null)[];
  runs: RunRecord[];
}

/** When a run's configuration says it is over (its settings, else the trainer's defaults). */
export function stopRule(config: Recipe): StopRule {
  return {
    epochs: Number(config.epochs ?? DEFAULT_CONFIG.epochs),
    budgetMinutes: Number(config.budgetMinutes ?? DEFAULT_CONFIG.budgetMinutes),
  };
}

function recordOf(run: SweepPlan['runs'][number]): RunRecord {
  const { status, metrics, writer } = readRunState(run.runDir, stopRule(run.config));
  let seconds = 0;
  const curve: CurvePoint[] = [];
  for (const m of metrics) {
    seconds += m.seconds;
    if (m.valAccuracy !== null) curve.push({ epoch: m.epoch + 1, seconds, valAccuracy: m.valAccuracy });
  }
  const last = metrics.at(-1);
  const accuracies = metrics.flatMap((m) => (m.valAccuracy === null ? [] : [m.valAccuracy]));
  return {
    id: run.id,
    combination: run.combination,
    seed: run.seed,
    status: status !== 'done' && writer !== null ? 'running' : status,
    finalAccuracy: status === 'done' ? (last?.valAccuracy ?? null) : null,
    bestAccuracy: accuracies.length > 0 ? Math.max(...accuracies) : null,
    epochs: metrics.length,
    trainSeconds: seconds,
    curve,
  };
}

/** Combination b against combination a over the seeds both finished (null without such a seed). */
function pairedBySeed(runs: RunRecord[], a: number, b: number, level: number): Comparison | null {
  const final = (c: number, seed: number) =>
    runs.find((r) => r.combination === c && r.seed === seed)?.finalAccuracy ?? null;
  const seeds = [...new Set(runs.map((r) => r.seed))].filter((s) => final(a, s) !== null && final(b, s) !== null);
  if (seeds.length === 0) return null;
  return paired(
    seeds.map((s) => final(a, s)!),
    seeds.map((s) => final(b, s)!),
    level,
  );
}

/** The summary of a sweep's runs as their folders are now. */
export function summarizeSweep(plan: SweepPlan, level = 0.95): SweepSummary {
  const runs = plan.runs.map(recordOf);
  const finals = plan.combinations.map((c) =>
    runs.filter((r) => r.combination === c.index && r.finalAccuracy !== null).map((r) => r.finalAccuracy!),
  );
  const combinations = plan.combinations.map(
    (c, i): CombinationSummary => ({
      ...c,
      settings: Object.fromEntries(plan.spec.settings.map((s, k) => [s.key, c.values[k]])),
      accuracy: finals[i]!.length > 0 ? summarize(finals[i]!, level) : null,
      vsBaseline: i > 0 && finals[0]!.length > 0 && finals[i]!.length > 0 ? welch(finals[0]!, finals[i]!, level) : null,
      pairedVsBaseline: i > 0 ? pairedBySeed(runs, 0, i, level) : null,
      missing: runs.filter((r) => r.combination === c.index && r.status !== 'done').length,
      epochs: stopRule(plan.runs.find((r) => r.combination === c.index)?.config ?? plan.spec.base).epochs,
    }),
  );
  const pairs = combinations.flatMap((_, i) =>
    combinations
      .slice(i + 1)
      .filter((b) => finals[i]!.length > 0 && finals[b.index]!.length > 0)
      .map((b) => ({
        a: i,
        b: b.index,
        ...welch(finals[i]!, finals[b.index]!, level),
        paired: pairedBySeed(runs, i, b.index, level),
      })),
  );
  const seconds = plan.combinations.map((c) => {
    const done = runs.filter((r) => r.combination === c.index && r.status === 'done');
    return done.length > 0 ? done.reduce((t, r) => t + r.trainSeconds, 0) / done.length : null;
  });
  return {
    name: plan.spec.name,
    dir: plan.dir,
    metric: 'finalAccuracy',
    level,
    settings: plan.spec.settings,
    seeds: plan.spec.seeds,
    minutes: plan.spec.minutes,
    base: plan.spec.base,
    combinations,
    pairs,
    seconds,
    runs,
  };
}

const csvField = (v: unknown) => {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : formatValue(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const csv = (rows: unknown[][]) => `${rows.map((r) => r.map(csvField).join(',')).join('\n')}\n`;

/** Percentage points with two decimals; signed for differences. */
function pts(v: number | null | undefined, signed = false): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const s = (v * 100).toFixed(2);
  return signed && v >= 0 ? `+${s}` : s;
}

function pValue(p: number | null): string {
  if (p === null) return '–';
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

/** A difference's interval, `[low, high]` in signed points, or – without one. */
const interval = (d: Comparison | null | undefined) =>
  d && d.low !== null ? `[${pts(d.low, true)}, ${pts(d.high, true)}]` : '–';

/** A markdown table. */
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );

/** A confidence level as the summary and its plot write it: 0.95 → "95%". */
export const levelPercent = (level: number): string => `${Math.round(level * 100)}%`;

/** What was varied, over which seeds and for how long, the shared recipe, and how the figures are computed. */
function preamble(s: SweepSummary): string[] {
  const level = levelPercent(s.level);
  const varied =
    s.settings.map((x) => `\`${x.key}\` (${x.values.map((v) => describeValue(x.key, v)).join(' · ')})`).join(', ') ||
    'nothing';
  // What every run shares: the sweep sets the seed, run name and runs folder itself.
  const { seed: _seed, runName: _name, runsDir: _dir, ...shared } = s.base;
  // The combinations' epochs, which a varied setting (epochs, or a group holding it) may make differ.
  const epochs = [...new Set(s.combinations.map((c) => c.epochs))].sort((a, b) => a - b);
  const perRun =
    epochs.length === 1
      ? `${epochs[0]} epoch${epochs[0] === 1 ? '' : 's'} per run`
      : `epochs per run: ${epochs.slice(0, -1).join(', ')} or ${epochs.at(-1)} (varied)`;
  const length = s.minutes !== null ? `a budget of ${s.minutes} minutes of training per run; ${perRun}` : perRun;
  const missing = s.combinations.reduce((n, c) => n + c.missing, 0);
  const running = s.runs.filter((r) => r.status === 'running').length;
  return [
    `# Sweep ${s.name}`,
    '',
    `Varied: ${varied}; seeds ${s.seeds.join(', ')}; ${length}. Base recipe: \`${JSON.stringify(shared)}\`.`,
    '',
    `Measure: the final validation accuracy (the last epoch's evaluation), in percent. n counts finished runs; std is the ` +
      `sample standard deviation; the ${level} interval of a mean uses Student's t with n − 1 degrees of freedom. Δ is a ` +
      `combination's mean minus the baseline's (the first value of every varied setting, first row), with Welch's ` +
      `interval and the two-sided p-value of Welch's t-test; paired: the same seed by seed (runs of one seed share ` +
      `their data split, subset and order), the t-test of the differences.`,
    ...(missing > 0
      ? [
          '',
          `**${missing} of ${s.runs.length} runs are not finished**${running > 0 ? ` (${running} running)` : ''}; ` +
            'the figures use the finished ones.',
        ]
      : []),
  ];
}

/** One row per combination: its accuracy over the seeds and its difference from the baseline. */
function combinationTable(s: SweepSummary): string {
  const names = s.settings.map((x) => shortName(x.key));
  const level = levelPercent(s.level);
  const head = [
    ...(names.length > 0 ? names : ['settings']),
    'n',
    'mean ± std',
    `${level} CI`,
    'Δ vs baseline',
    `${level} CI of Δ`,
    'p (Welch)',
    `paired ${level} CI`,
    'p (paired)',
    'training min/run',
  ];
  const rows = s.combinations.map((c) => {
    const a = c.accuracy;
    const d = c.vsBaseline;
    return [
      ...(names.length > 0 ? c.values.map((v, k) => describeValue(s.settings[k]!.key, v)) : ['base']),
      String(a?.n ?? 0),
      a ? `${pts(a.mean)} ± ${pts(a.std)}` : '–',
      a && a.low !== null ? `[${pts(a.low)}, ${pts(a.high)}]` : '–',
      c.index === 0 ? 'baseline' : pts(d?.difference, true),
      interval(d),
      pValue(d?.p ?? null),
      interval(c.pairedVsBaseline),
      pValue(c.pairedVsBaseline?.p ?? null),
      s.seconds[c.index] != null ? (s.seconds[c.index]! / 60).toFixed(1) : '–',
    ];
  });
  return table(head, rows);
}

/** Every pair of combinations (when there are more than two), each difference with both tests. */
function pairSection(s: SweepSummary): string[] {
  if (s.pairs.length <= 1) return [];
  const level = levelPercent(s.level);
  return [
    '## Every pair',
    '',
    `Δ is the second's mean minus the first's, with Welch's ${level} interval and two-sided p-value, and the ` +
      'paired interval and p-value over the seeds both finished.',
    '',
    table(
      ['first', 'second', 'Δ', `${level} CI of Δ`, 'p (Welch)', `paired ${level} CI`, 'p (paired)'],
      s.pairs.map((d) => [
        s.combinations[d.a]!.label,
        s.combinations[d.b]!.label,
        pts(d.difference, true),
        interval(d),
        pValue(d.p),
        interval(d.paired),
        pValue(d.paired?.p ?? null),
      ]),
    ),
    '',
  ];
}

/** Each run's final accuracy, or its status when it has none (with the epochs it has done, if any). */
function runTable(s: SweepSummary): string {
  const cell = (r: RunRecord | undefined): string => {
    if (r === undefined) return '–';
    if (r.finalAccuracy != null) return pts(r.finalAccuracy);
    return r.status !== 'done' && r.epochs > 0
      ? `${r.status} after ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}`
      : r.status;
  };
  const rows = s.combinations.map((c) => [
    c.label,
    ...s.seeds.map((seed) => cell(s.runs.find((x) => x.combination === c.index && x.seed === seed))),
  ]);
  return table(['combination', ...s.seeds.map((seed) => `seed ${seed}`)], rows);
}

function markdown(s: SweepSummary): string {
  return [
    ...preamble(s),
    '',
    combinationTable(s),
    '',
    ...pairSection(s),
    '## Runs (final validation accuracy, %)',
    '',
    runTable(s),
    '',
  ].join('\n');
}

const text = (s: string) => [new TextEncoder().encode(s)];

/** Writes summary.json, summary.csv (one row per combination), runs.csv (one row per run) and summary.md into the sweep's folder. */
export function writeSummary(summary: SweepSummary): void {
  const names = summary.settings.map((x) => shortName(x.key));
  writeFileAtomic(join(summary.dir, 'summary.json'), text(`${JSON.stringify(summary, null, 2)}\n`));
  writeFileAtomic(
    join(summary.dir, 'summary.csv'),
    text(
      csv([
        [
          ...names,
          'n',
          'mean',
          'std',
          'ci_low',
          'ci_high',
          'diff',
          'diff_low',
          'diff_high',
          't',
          'df',
          'p',
          'paired_low',
          'paired_high',
          'paired_p',
        ],
        ...summary.combinations.map((c) => [
          ...c.values,
          c.accuracy?.n ?? 0,
          c.accuracy?.mean,
          c.accuracy?.std,
          c.accuracy?.low,
          c.accuracy?.high,
          c.vsBaseline?.difference,
          c.vsBaseline?.low,
          c.vsBaseline?.high,
          c.vsBaseline?.t,
          c.vsBaseline?.df,
          c.vsBaseline?.p,
          c.pairedVsBaseline?.low,
          c.pairedVsBaseline?.high,
          c.pairedVsBaseline?.p,
        ]),
      ]),
    ),
  );
  writeFileAtomic(
    join(summary.dir, 'runs.csv'),
    text(
      csv([
        ['id', ...names, 'seed', 'status', 'final_accuracy', 'best_accuracy', 'epochs', 'train_seconds'],
        ...summary.runs.map((r) => [
          r.id,
          ...summary.combinations[r.combination]!.values,
          r.seed,
          r.status,
          r.finalAccuracy,
          r.bestAccuracy,
          r.epochs,
          r.trainSeconds,
        ]),
      ]),
    ),
  );
  writeFileAtomic(join(summary.dir, 'summary.md'), text(markdown(summary)));
}
