/**
 * The one place the sweep reads a training run's folder: whether the run is absent, interrupted or done, its
 * metrics, and the epochs it adds while it trains. The folder is the trainer's; this reads it through the trainer's own reader.
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { lockHolder, RUN_FILES } from '../train/run.js';
import { type EpochMetrics, readMetrics } from '../train/trainer.js';

/** The settings of a run that say when it is over. */
export interface StopRule {
  epochs: number;
  /** The trainer's budgetMinutes: the run's training time, summed over its sessions (0 or absent: none). */
  budgetMinutes?: number;
}

export interface RunState {
  /** absent: nothing to resume; interrupted: a checkpoint to resume from; done: its metrics reached the stop rule. */
  status: 'absent' | 'interrupted' | 'done';
  metrics: EpochMetrics[];
  /** The live process writing the folder (its lock's), or null. */
  writer: number | null;
}

/**
 * A run is done when its metrics reach its last epoch or its time budget (`budgetMinutes`: the training seconds
 * of its epochs add up to the budget, as the trainer that ended it added them).
 */
export function readRunState(runDir: string, rule: StopRule): RunState {
  const metrics = readMetrics(runDir);
  const last = metrics.at(-1);
  const seconds = metrics.reduce((s, m) => s + m.seconds, 0);
  const done =
    last !== undefined &&
    (last.epoch + 1 >= rule.epochs || ((rule.budgetMinutes ?? 0) > 0 && seconds >= rule.budgetMinutes! * 60));
  const writer = lockHolder(join(runDir, RUN_FILES.lock));
  if (done) return { status: 'done', metrics, writer };
  return {
    status: existsSync(join(runDir, RUN_FILES.checkpoint)) ? 'interrupted' : 'absent',
    metrics,
    writer,
  };
}

/** The mean wall-clock seconds of an epoch (training and evaluation); null for no epochs. */
const pace = (metrics: readonly EpochMetrics[]): number | null =>
  metrics.length === 0 ? null : metrics.reduce((t, m) => t + m.seconds + m.evalSeconds, 0) / metrics.length;

/**
 * The wall-clock seconds a run still needs, from its epochs so far: the epochs left at their mean pace (training
 * and evaluation), or, sooner, what is left of its time budget at the same pace. Null before its first epoch.
 */
export function remainingSeconds(metrics: readonly EpochMetrics[], rule: StopRule): number | null {
  const last = metrics.at(-1);
  if (last === undefined) return null;
  const train = metrics.reduce((s, m) => s + m.seconds, 0);
  const perEpoch = pace(metrics)!;
  const byEpochs = Math.max(0, rule.epochs - (last.epoch + 1)) * perEpoch;
  if (!((rule.budgetMinutes ?? 0) > 0) || train === 0) return byEpochs;
  const byBudget = Math.max(0, rule.budgetMinutes! * 60 - train) * ((perEpoch * metrics.length) / train);
  return Math.min(byEpochs, byBudget);
}

/** A run of a sweep as far as it has gone: its combination, its stop rule and the epochs it has done. */
export interface RunProgress {
  combination: number;
  rule: StopRule;
  metrics: readonly EpochMetrics[];
}

/**
 * The wall-clock seconds a sweep still needs with `jobs` runs at once: each unfinished run's
 * {@link remainingSeconds}, a run without epochs yet at the mean pace of its combination's epochs (of any run's when
 * its combination has none), summed and shared between the jobs. Null before any run has an epoch.
 */
export function sweepRemainingSeconds(runs: readonly RunProgress[], jobs: number): number | null {
  const epochs = (keep: (r: RunProgress) => boolean) => runs.filter(keep).flatMap((r) => r.metrics);
  const anyPace = pace(epochs(() => true));
  if (anyPace === null) return null;
  const left = runs
    .map((run) => {
      if (run.metrics.length > 0) return remainingSeconds(run.metrics, run.rule)!;
      const own = pace(epochs((r) => r.combination === run.combination)) ?? anyPace;
      const byBudget = (run.rule.budgetMinutes ?? 0) > 0 ? run.rule.budgetMinutes! * 60 : Infinity;
      return Math.min(run.rule.epochs * own, byBudget);
    })
    .filter((seconds) => seconds > 0);
  return left.reduce((t, x) => t + x, 0) / Math.max(1, Math.min(jobs, left.length));
}

/**
 * Calls `onEpoch` with each epoch a run's metrics gain from now on (the trainer commits them whole) and all the
 * run's epochs so far, looking every `intervalMs` without keeping the process alive. Returns the function that
 * looks a last time and stops.
 */
export function followEpochs(
  runDir: string,
  onEpoch: (m: EpochMetrics, metrics: readonly EpochMetrics[]) => void,
  intervalMs = 2000,
): () => void {
  // A metrics file that does not parse is the training's to report (its resume refuses it), not the sweep's.
  const read = (): EpochMetrics[] | null => {
    try {
      return readMetrics(runDir);
    } catch {
      return null;
    }
  };
  let seen = read()?.length ?? 0;
  const look = () => {
    const metrics = read();
    if (metrics === null) return;
    metrics.slice(seen).forEach((m, i) => onEpoch(m, metrics.slice(0, seen + i + 1)));
    seen = Math.max(seen, metrics.length);
  };
  const timer = setInterval(look, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    look();
  };
}
