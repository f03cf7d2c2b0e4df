/**
 * Running a sweep: every run of the plan as a child process of `pdenet train` (each in its own process, so
 * runs share nothing), `jobs` at a time with the cores divided between them, skipping the runs already done
 * and resuming (or restarting) the interrupted ones; then the summary.
 *
 * Folder `sweeps/<name>/`: `sweep.json` (the specification), `configs/<run>.json` (what each run is given),
 * `runs/<run>/` (the trainer's run folders), `logs/<run>.log` (each child's output), and the summary files.
 * @module
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../io/atomic.js';
import { spawnOwned } from '../train/parent.js';
import { type EpochMetrics, takeLock } from '../train/run.js';
import { TorchError } from '../tensor/errors.js';
import { type PlannedRun, planSweep, type SweepPlan, type SweepSpec } from './plan.js';
import {
  followEpochs,
  type RunProgress,
  readRunState,
  remainingSeconds,
  type StopRule,
  sweepRemainingSeconds,
} from './run-folder.js';
import { stopRule, summarizeSweep, type SweepSummary, writeSummary } from './summary.js';

/** What happens to a run: started, then ended done, interrupted (the sweep was stopped) or failed. */
export interface RunEvent {
  run: PlannedRun;
  /** Position among the runs this invocation starts, and their number. */
  index: number;
  total: number;
  resume: boolean;
  status?: 'done' | 'interrupted' | 'failed';
  /** The child's exit code (null: killed by a signal). */
  exitCode?: number | null;
  finalAccuracy?: number | null;
  seconds?: number;
}

/** An epoch a run finished. */
export interface RunEpochEvent extends RunEvent {
  metrics: EpochMetrics;
  epochs: number;
  /** The wall-clock seconds the run still needs at its pace so far ({@link remainingSeconds}). */
  remainingSeconds: number;
  /** The wall-clock seconds this invocation of the sweep still needs ({@link sweepRemainingSeconds}). */
  sweepRemainingSeconds: number;
}

export interface SweepOptions extends SweepSpec {
  /** Where sweeps live (default `sweeps`). */
  sweepsDir?: string;
  /** Runs at once (default 1). */
  jobs?: number;
  /** Cores to divide between the jobs (default: PDENET_NUM_THREADS, else every core the process may use). */
  cores?: number;
  /** Start interrupted runs over instead of resuming them from their last checkpoint. */
  restart?: boolean;
  /**
   * Write the summary of the runs as they are and run nothing: the sweep is the one its folder's `sweep.json`
   * records (which must exist, and is not written); the specification given here is not used.
   */
  summaryOnly?: boolean;
  /** Aborting it stops the running children (each writes a checkpoint) and starts no more. */
  signal?: AbortSignal;
  onRunStart?(event: RunEvent): void;
  /** Each epoch a running run finishes (seen within seconds of its commit), and the epochs the run has in all. */
  onRunEpoch?(event: RunEpochEvent): void;
  onRunEnd?(event: RunEvent): void;
  /** The command that trains one run; `--config <file>` (and `--resume`) are appended. Default: this package's `pdenet train`. */
  command?: string[];
}

export interface SweepResult {
  plan: SweepPlan;
  summary: SweepSummary;
  /** Runs found done and not run again. */
  skipped: number;
  /** Runs this invocation finished. */
  ran: number;
  /** Runs whose child failed, with their logs. */
  failed: { id: string; exitCode: number | null; log: string }[];
  /** True when stopped by the signal before every run was done. */
  interrupted: boolean;
}

function fail(message: string): never {
  throw new TorchError(message, 'sweep');
}

/** JSON with object keys sorted, so that equal specifications compare equal as text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** The specification recorded at `path` (a sweep's `sweep.json`). */
function readSpec(path: string): SweepSpec {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SweepSpec;
  } catch {
    fail(`${path} is not valid JSON; move the folder away to start the sweep afresh`);
  }
}

/** Records the specification, or checks it against the one recorded: only the seeds may change (adding seeds extends a sweep). */
function recordSpec(plan: SweepPlan): void {
  const path = join(plan.dir, 'sweep.json');
  if (existsSync(path)) {
    const recorded = readSpec(path);
    // What defines the runs; how they are run (jobs, folders) may change between invocations.
    if (recorded.name !== plan.spec.name || specDifferences(recorded, plan.spec).length > 0) {
      fail(`${plan.dir} holds a sweep with other settings (see its sweep.json); give this one another name`);
    }
  }
  mkdirSync(join(plan.dir, 'configs'), { recursive: true });
  mkdirSync(join(plan.dir, 'logs'), { recursive: true });
  writeFileAtomic(path, [new TextEncoder().encode(`${JSON.stringify(plan.spec, null, 2)}\n`)]);
}

/** The specification sweep `name`'s folder under `sweepsDir` records (its `sweep.json`). */
export function recordedSweep(name: string, sweepsDir = 'sweeps'): SweepSpec {
  const path = join(sweepsDir, name, 'sweep.json');
  if (!existsSync(path)) fail(`${join(sweepsDir, name)} holds no sweep to summarize`);
  return readSpec(path);
}

/** The parts of a sweep's definition given (base, settings, minutes; the absent are not compared) that differ from the recorded one's. */
export function specDifferences(
  recorded: SweepSpec,
  given: Partial<Pick<SweepSpec, 'base' | 'settings' | 'minutes'>>,
): ('base' | 'settings' | 'minutes')[] {
  return (['base', 'settings', 'minutes'] as const).filter(
    (part) => given[part] !== undefined && canonical(given[part]) !== canonical(recorded[part]),
  );
}

/**
 * The summary of sweep `name` under `sweepsDir` as its runs are now, written to its folder: the sweep is the one its
 * `sweep.json` records (the folder may have moved: `name` is the folder's), which is read and never written.
 */
function summarizeOnly(name: string, sweepsDir = 'sweeps'): SweepResult {
  const plan = planSweep({ ...recordedSweep(name, sweepsDir), name }, sweepsDir);
  const summary = summarizeSweep(plan);
  writeSummary(summary);
  const done = summary.runs.filter((r) => r.status === 'done').length;
  return { plan, summary, skipped: done, ran: 0, failed: [], interrupted: false };
}

/**
 * Locks the sweep's folder for this invocation (a lock left by one that ended is taken over); returns the release.
 * A summary reads the folder without it.
 */
function lockSweep(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, '.lock');
  const busy = (pid: number | null) =>
    new TorchError(
      `${dir} is being run by another invocation of this sweep${pid === null ? '' : ` (process ${pid})`}; ` +
        'wait for it to end, or stop it (its trainings stop at a checkpoint) and run the sweep again',
      'sweep',
    );
  takeLock(path, busy, () => {});
  return () => rmSync(path, { force: true });
}

function threadBudget(options: SweepOptions, jobs: number): number {
  const env = Number(process.env.PDENET_NUM_THREADS ?? process.env.OMP_NUM_THREADS);
  const cores = options.cores ?? (Number.isInteger(env) && env > 0 ? env : availableParallelism());
  if (jobs > cores) fail(`--jobs ${jobs} is more than the ${cores} cores to share; use at most ${cores}`);
  return Math.floor(cores / jobs);
}

const defaultCommand = () => [
  process.execPath,
  resolve(dirname(fileURLToPath(import.meta.url)), '../cli/main.js'),
  'train',
];

/**
 * Runs one child to its end; aborting the signal sends it SIGTERM (it checkpoints and exits). When this process
 * exits first, the child's process group is killed ({@link spawnOwned}).
 */
function runChild(
  command: string[],
  run: PlannedRun,
  resume: boolean,
  threads: number,
  signal?: AbortSignal,
): Promise<number | null> {
  const log = openSync(run.logPath, 'a');
  // Owned: a terminal's Ctrl-C reaches the sweep alone, which stops each child once; a child of a sweep that was
  // killed (and so could not stop it) notices, and stops too.
  const args = [...command.slice(1), '--config', run.configPath, ...(resume ? ['--resume'] : [])];
  const child = spawnOwned(command[0]!, args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, PDENET_NUM_THREADS: String(threads) },
  });
  closeSync(log);
  const stop = () => child.kill('SIGTERM');
  signal?.addEventListener('abort', stop, { once: true });
  return new Promise((done, failed) => {
    const ended = () => signal?.removeEventListener('abort', stop);
    child.on('error', (e) => {
      ended();
      failed(new TorchError(`cannot start ${command[0]}: ${e.message}`, 'sweep'));
    });
    child.on('exit', (code) => {
      ended();
      done(code);
    });
  });
}

/**
 * Runs a sweep (see the module documentation) and writes its summary; returns when every run is done,
 * has failed, or the signal stopped the sweep. A bad setting or value throws before anything runs.
 *
 * @example
 * await runSweep({ name: 'boundary', base: { model: 'resnet20', epochs: 10 }, seeds: [0, 1, 2], minutes: null,
 *   settings: [parseSetting('boundary=zeros,reflect')], jobs: 2 });
 */
export async function runSweep(options: SweepOptions): Promise<SweepResult> {
  if (options.summaryOnly) return summarizeOnly(options.name, options.sweepsDir);
  const { name, base, settings, seeds, minutes } = options;
  const plan = planSweep({ name, base, settings, seeds, minutes }, options.sweepsDir);
  const jobs = options.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) fail(`jobs must be a positive integer, got ${jobs}`);
  const threads = threadBudget(options, jobs);
  const release = lockSweep(plan.dir);
  try {
    return await runLocked(plan, options, jobs, threads);
  } finally {
    release();
  }
}

/** {@link runSweep} once the sweep's folder is locked. */
async function runLocked(plan: SweepPlan, options: SweepOptions, jobs: number, threads: number): Promise<SweepResult> {
  recordSpec(plan);
  const command = options.command ?? defaultCommand();
  const states = plan.runs.map((run) => {
    const rule = stopRule(run.config);
    return { run, rule, ...readRunState(run.runDir, rule) };
  });
  // A run folder still written (by a training an earlier invocation started, which outlived it) is left alone.
  const busy = states.find((r) => r.status !== 'done' && r.writer !== null);
  if (busy) {
    fail(
      `${busy.run.runDir} is being written by process ${busy.writer} (a training of this sweep that outlived its ` +
        'invocation?); wait for it to end, or stop it, then run the sweep again',
    );
  }
  const todo: { run: PlannedRun; resume: boolean; rule: StopRule }[] = [];
  // Every run's epochs so far, for the time the sweep still needs (a failed run is not run again: it leaves).
  const progress = new Map<string, RunProgress>();
  let skipped = 0;
  for (const { run, rule, status, metrics } of states) {
    writeFileAtomic(run.configPath, [new TextEncoder().encode(`${JSON.stringify(run.config, null, 2)}\n`)]);
    const resume = status === 'interrupted' && !options.restart;
    progress.set(run.id, { combination: run.combination, rule, metrics: status === 'done' || resume ? metrics : [] });
    if (status === 'done') {
      skipped += 1;
      continue;
    }
    if (!resume) rmSync(run.runDir, { recursive: true, force: true });
    todo.push({ run, resume, rule });
  }
  let ran = 0;
  const failed: SweepResult['failed'] = [];
  let next = 0;
  const worker = async () => {
    while (next < todo.length && !options.signal?.aborted) {
      const index = next++;
      const { run, resume, rule } = todo[index]!;
      const event: RunEvent = { run, index, total: todo.length, resume };
      options.onRunStart?.(event);
      const start = performance.now();
      const onEpoch = options.onRunEpoch;
      const unfollow = onEpoch
        ? followEpochs(run.runDir, (metrics, all) => {
            progress.set(run.id, { combination: run.combination, rule, metrics: all });
            onEpoch({
              ...event,
              metrics,
              epochs: rule.epochs,
              remainingSeconds: remainingSeconds(all, rule)!,
              sweepRemainingSeconds: sweepRemainingSeconds([...progress.values()], jobs)!,
            });
          })
        : null;
      const exitCode = await runChild(command, run, resume, threads, options.signal).finally(() => unfollow?.());
      const state = readRunState(run.runDir, rule);
      const status = state.status === 'done' ? 'done' : options.signal?.aborted ? 'interrupted' : 'failed';
      if (status === 'done') ran += 1;
      if (status === 'failed') {
        failed.push({ id: run.id, exitCode, log: run.logPath });
        progress.delete(run.id);
      }
      options.onRunEnd?.({
        ...event,
        status,
        exitCode,
        finalAccuracy: state.metrics.at(-1)?.valAccuracy ?? null,
        seconds: (performance.now() - start) / 1000,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, todo.length) }, worker));
  const summary = summarizeSweep(plan);
  writeSummary(summary);
  return {
    plan,
    summary,
    skipped,
    ran,
    failed,
    interrupted: options.signal?.aborted === true && skipped + ran < plan.runs.length,
  };
}
