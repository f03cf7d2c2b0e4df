/**
 * The run folder, and its one owner. Every reader and writer of `runs/<name>/` goes through this module.
 *
 *     runs/<name>/
 *       config.json            the resolved configuration (enough to rebuild the model)
 *       data.json              the classes, the normalization statistics, the split sizes and the image size
 *       metrics.jsonl / .csv   one line per finished epoch
 *       checkpoints/last.ckpt.safetensors   everything a resumed run needs (model, EMA, optimizer, state, config)
 *       checkpoints/last.safetensors        the weights after the last epoch (EMA weights when on)
 *       checkpoints/best.safetensors        the weights of the best validated epoch
 *       report.md, report.html, curves.png  views written from the above
 *       .lock                  while a run writes the folder: its process id
 *       commit.json            only between the commit point of an epoch's end and its last rename
 *
 * An epoch's end is one transaction. Each file it changes is first written whole beside its target as
 * `<file>.pending`; then `commit.json` (written atomically) lists them — the commit point; then each pending
 * file is renamed over its target and `commit.json` removed. Whoever opens the folder for writing finishes a
 * committed transaction (the renames are idempotent) and deletes the pending and temporary files of one that
 * never committed, so after a kill at any point the checkpoint, the weights, the best weights and the metrics
 * lines all describe the same epoch. Readers see committed files: a pending file named by `commit.json` is
 * read in place of its target.
 * @module
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { loadSafetensors } from '../io/safetensors.js';
import { check, TorchError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { createModel, type ImageModel } from '../models/registry.js';
import { setTwist, twistStepAt } from '../models/stages.js';
import type { ImageDataset } from '../data/dataset.js';
import type { Normalization } from '../data/transforms.js';
import { loadDataset } from '../data/sources.js';
import { CHECKPOINT_FORMAT, type CheckpointParts, loadCheckpoint, saveCheckpoint, saveWeights } from './checkpoint.js';
import { modelOptionsOf, resolveConfig, type TrainConfig, twistScheduleOf } from './config.js';
import { carveValidation, loadTrainingImages } from './data.js';

/** The files of a run folder, relative to it. */
export const RUN_FILES = {
  config: 'config.json',
  data: 'data.json',
  metrics: 'metrics.jsonl',
  metricsCsv: 'metrics.csv',
  report: 'report.md',
  checkpoint: 'checkpoints/last.ckpt.safetensors',
  last: 'checkpoints/last.safetensors',
  best: 'checkpoints/best.safetensors',
  commit: 'commit.json',
  lock: '.lock',
} as const;

/** What a run records about its data (`data.json`), needed to use the model afterwards. */
export interface RunData {
  classes: string[];
  normalization: Normalization;
  trainSize: number;
  valSize: number;
  /** Height and width of the training images, which prediction resizes images to (when the trainer knew them). */
  imageSize?: [number, number];
  /** Data-parallel runs: the processes, and each one's share of the global batch (config.batchSize). */
  worldSize?: number;
  batchPerRank?: number;
}

/** One line of metrics.jsonl. */
export interface EpochMetrics {
  epoch: number;
  step: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  lr: number;
  /** Seconds of this epoch: training steps, data waits included, evaluation excluded. */
  seconds: number;
  evalSeconds: number;
  /** Share of the epoch spent waiting for batches. */
  dataShare: number;
  imagesPerSec: number;
  /** Whether any layer computed its twist in this epoch (false for a model without twisted layers). */
  twist: boolean;
}

/**
 * Called before every write, rename and removal of an epoch's commit with the step's name (`write <file>`,
 * `commit`, `rename <file>`, `done`): the tests stop the process there to check that nothing is lost.
 */
export type FaultHook = (point: string) => void;

const PENDING = '.pending';
const encode = (text: string) => new TextEncoder().encode(text);

/** The folder of a run: `runsDir/runName`, or a name from the model and the time when there is none. */
export function runDirOf(config: Pick<TrainConfig, 'runsDir' | 'runName' | 'model'>): string {
  const name = config.runName || `${config.model}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`;
  return join(config.runsDir, name);
}

function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new TorchError(`${path} is missing: ${what}`, 'run');
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TorchError(`${path} is not valid JSON (${(e as Error).message})`, 'run');
  }
}

/** The pending files a committed, unfinished transaction of `dir` still has to rename (empty when none). */
function pendingCommit(dir: string): string[] {
  const path = join(dir, RUN_FILES.commit);
  if (!existsSync(path)) return [];
  const record = readJson(path, 'the commit record') as { files?: unknown };
  check(Array.isArray(record.files), 'run', `${path} is not a commit record`);
  return record.files as string[];
}

/** The path to read for `file` of a run: its committed pending version while a commit is being finished. */
export function runFile(dir: string, file: string): string {
  const pending = join(dir, file + PENDING);
  return pendingCommit(dir).includes(file) && existsSync(pending) ? pending : join(dir, file);
}

// ——— reading ———

/** The run's configuration, as config.json holds it and resolved against today's defaults. */
export function readRunConfig(dir: string): TrainConfig {
  return resolveConfig(readJson(runFile(dir, RUN_FILES.config), 'the run configuration') as Partial<TrainConfig>);
}

/** The run's data description (data.json), or null when the folder has none. */
export function readRunData(dir: string): RunData | null {
  const path = runFile(dir, RUN_FILES.data);
  return existsSync(path) ? (readJson(path, 'the run data description') as RunData) : null;
}

/** The metrics of a run: one object per line of metrics.jsonl (empty when there is none). */
export function readMetrics(dir: string): EpochMetrics[] {
  const path = runFile(dir, RUN_FILES.metrics);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as EpochMetrics;
      } catch {
        throw new TorchError(`${path}, line ${i + 1}, is not JSON`, 'run');
      }
    });
}

/** The run's training checkpoint (see checkpoint.ts), or a clear error when the folder has none. */
export function readRunCheckpoint(dir: string): ReturnType<typeof loadCheckpoint> {
  const path = runFile(dir, RUN_FILES.checkpoint);
  if (!existsSync(path)) throw new TorchError(`${dir} holds no training checkpoint (${RUN_FILES.checkpoint})`, 'run');
  return loadCheckpoint(path);
}

/** Refuses a training checkpoint whose model is not the one the run folder describes (config.json). */
export function checkSameModel(dir: string, checkpointConfig: unknown): void {
  const path = runFile(dir, RUN_FILES.config);
  if (!existsSync(path)) return;
  const described = readJson(path, 'the run configuration') as Partial<TrainConfig>;
  const theirs = checkpointConfig as Partial<TrainConfig>;
  const model = (c: Partial<TrainConfig>) => JSON.stringify([c.model, c.modelOptions ?? {}]);
  if (model(described) !== model(theirs)) {
    throw new TorchError(
      `${join(dir, RUN_FILES.checkpoint)} is a checkpoint of ${model(theirs)}, but the run is ` +
        `${model(described)} (config.json): it is not this run's checkpoint`,
      'train',
    );
  }
}

/** The weights file a target names: a run folder (its best weights, else its last), or a file. */
export function resolveRunTarget(
  target: string,
  which: 'best' | 'last' = 'best',
): { runDir: string | null; weights: string } {
  const path = resolve(target);
  if (!existsSync(path)) throw new TorchError(`no run folder or weights file at ${target}`, 'run');
  if (!statSync(path).isDirectory()) {
    const dir = dirname(path);
    const runDir = basename(dir) === 'checkpoints' ? dirname(dir) : dir;
    return { runDir: existsSync(join(runDir, RUN_FILES.config)) ? runDir : null, weights: path };
  }
  check(
    existsSync(join(path, RUN_FILES.config)),
    'run',
    `${target} is a folder but not a run folder (no ${RUN_FILES.config})`,
  );
  const order = which === 'last' ? [RUN_FILES.last, RUN_FILES.best] : [RUN_FILES.best, RUN_FILES.last];
  for (const file of [...order, RUN_FILES.checkpoint]) {
    const weights = runFile(path, file);
    if (existsSync(weights)) return { runDir: path, weights };
  }
  throw new TorchError(`${target} holds no weights yet: the run has not finished an epoch or a checkpoint`, 'run');
}

/** A model's state dict from a weights file, or from a training checkpoint (its EMA weights when it has them). */
export function readWeights(path: string): {
  tensors: Map<string, Tensor>;
  /** The stages twisted when the weights were saved, when the run's configuration alone does not say. */
  twist?: boolean | boolean[];
  dispose(): void;
} {
  const { tensors, metadata } = loadSafetensors(path);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    const twist = metadata.twist === undefined ? {} : { twist: JSON.parse(metadata.twist) as boolean[] };
    return { tensors, ...twist, dispose: () => tensors.forEach((t) => t.dispose()) };
  }
  tensors.forEach((t) => t.dispose());
  const ckpt = loadCheckpoint(path);
  const twist = checkpointTwist(resolveConfig(ckpt.config as Partial<TrainConfig>), ckpt.state);
  return { tensors: ckpt.ema ?? ckpt.model, ...(twist === undefined ? {} : { twist }), dispose: ckpt.dispose };
}

/**
 * The twist a checkpoint's weights trained with when it was written, when the run's twist changes as it trains:
 * the plateau rule's once it has acted, else the staged twist's step of the epoch it was in (its `scheduleEpoch`;
 * in checkpoints without one, that epoch's own: an epoch's end is written with `state.epoch` past it).
 */
function checkpointTwist(
  config: TrainConfig,
  state: { epoch: number; batch: number; scheduleEpoch?: number; plateau?: { times: number } | null },
): boolean | boolean[] | undefined {
  if ((state.plateau?.times ?? 0) > 0 && config.plateau.twist !== undefined) return config.plateau.twist;
  const schedule = twistScheduleOf(config);
  const epoch = state.scheduleEpoch ?? (state.batch > 0 ? state.epoch : Math.max(0, state.epoch - 1));
  return schedule === null ? undefined : twistStepAt(schedule, epoch)?.twist;
}

export interface TrainedModel {
  model: ImageModel;
  config: TrainConfig;
  data: RunData;
  runDir: string;
  /** The weights file or checkpoint read. */
  weights: string;
}

/**
 * Loads a model trained by `pdenet train` from its run folder (best weights, else last), a weights file
 * (`checkpoints/best.safetensors`) or a training checkpoint (`checkpoints/last.ckpt.safetensors`), with the
 * run's class count.
 */
export function loadTrainedModel(path: string, which: 'best' | 'last' = 'best'): TrainedModel {
  const { runDir, weights } = resolveRunTarget(path, which);
  if (runDir === null)
    throw new TorchError(`${path} is not inside a run folder (no ${RUN_FILES.config} beside it)`, 'run');
  const config = readRunConfig(runDir);
  const data = readRunData(runDir);
  if (data === null)
    throw new TorchError(`${join(runDir, RUN_FILES.data)} is missing: the run data description`, 'run');
  const model = modelOfRun(config, weights, data.classes.length);
  return { model, config, data, runDir, weights };
}

/**
 * The model a run of `config` trained, built as the trainer builds it (a staged or plateau twist owns its
 * parameters), with the weights of `weights` (a weights file or a training checkpoint) and the twist they were
 * saved with, in evaluation mode. `numClasses`: the run's class count (data.json), when known.
 */
export function modelOfRun(config: TrainConfig, weights: string, numClasses?: number): ImageModel {
  const model = createModel(config.model, {
    ...modelOptionsOf(config),
    ...(numClasses === undefined ? {} : { numClasses }),
  });
  const state = readWeights(weights);
  try {
    model.loadStateDict(state.tensors);
    if (state.twist !== undefined) setTwist(model, state.twist);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    state.dispose();
  }
  model.eval();
  return model;
}

/** Images to evaluate a run on, and the words that say which they are. */
export interface EvaluationImages {
  dataset: ImageDataset;
  description: string;
}

/**
 * The images a run is evaluated on: `val`, the validation split the trainer carved from the run's data (or
 * from `data`); `all`, every image `data` holds (its train split, or the folder of class folders itself);
 * `test`, the test split of `data`.
 */
export async function evaluationImages(
  run: { config: TrainConfig },
  split: 'val' | 'test' | 'all',
  data?: string,
): Promise<EvaluationImages> {
  const source = data ?? run.config.data;
  if (split === 'test') {
    check(source !== 'synthetic', 'eval', 'synthetic data has no test split');
    return { dataset: await loadDataset(source, { split: 'test' }), description: `the test split of ${source}` };
  }
  const all = await loadTrainingImages(source);
  if (split === 'all') return { dataset: all, description: `every image of ${source}` };
  const val = carveValidation(all, run.config);
  if (val === null) {
    throw new TorchError(
      `the run holds out no validation images (valSplit ${run.config.valSplit}); ` +
        'evaluate it on other images with --data FOLDER',
      'eval',
    );
  }
  return {
    dataset: val.val,
    description:
      `the run's validation split: ${val.val.n} of the ${all.n} images of ${source}, ` +
      `held out with seed ${run.config.seed}`,
  };
}

// ——— writing ———

/** What an epoch's end (or a stop within an epoch) commits. */
export interface EpochCommit {
  checkpoint: CheckpointParts;
  /** The weights saved as last.safetensors (and as best.safetensors when `best`). */
  weights: Module;
  /**
   * The stages the weights were trained with twisted, when the configuration alone does not say (the plateau
   * rule's twist): written into the weights files, read by {@link loadTrainedModel}.
   */
  twist?: boolean[];
  epoch: number;
  best: { epoch: number } | null;
  /** Every metrics line so far; null: unchanged (a stop within an epoch). */
  metrics: EpochMetrics[] | null;
  config: TrainConfig;
}

const CSV_COLUMNS: (keyof EpochMetrics)[] = [
  'epoch',
  'step',
  'trainLoss',
  'trainAccuracy',
  'valLoss',
  'valAccuracy',
  'lr',
  'seconds',
  'evalSeconds',
  'dataShare',
  'imagesPerSec',
  'twist',
];

function metricsFiles(metrics: EpochMetrics[]): [string, Uint8Array][] {
  const csv = `${[CSV_COLUMNS.join(','), ...metrics.map((m) => CSV_COLUMNS.map((c) => m[c] ?? '').join(','))].join('\n')}\n`;
  return [
    [RUN_FILES.metrics, encode(`${metrics.map((m) => JSON.stringify(m)).join('\n')}\n`)],
    [RUN_FILES.metricsCsv, encode(csv)],
  ];
}

/** Is the process `pid` alive (on this machine)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live process that holds the lock file at `path`, or null (no lock, or one left by a process that ended). */
export function lockHolder(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && alive(pid) ? pid : null;
}

/**
 * Takes the lock file at `path` for this process (its id written in it), taking over one left by a process that
 * ended. When a live process holds it, throws `busy(pid)` (pid null: another process took it at the same moment).
 */
export function takeLock(path: string, busy: (pid: number | null) => Error, log: (line: string) => void): void {
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (attempt > 0) throw busy(null);
    }
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (Number.isInteger(pid) && alive(pid)) throw busy(pid);
    log(
      `${dirname(path)}: taking over the lock of process ${Number.isInteger(pid) ? pid : '?'}, which is no longer running`,
    );
    unlinkSync(path);
  }
}

/**
 * A run folder opened for writing by one run: locked while open, with an interrupted epoch's end finished or
 * undone. `close()` releases the lock; `abandon()` also removes a folder this writer created and never committed to.
 */
export class RunWriter {
  readonly dir: string;
  private readonly created: boolean;
  private committed = false;
  private readonly fault: FaultHook;

  /** Locks `dir` (creating it); a second run on the same folder gets a clear error. */
  constructor(dir: string, options: { fault?: FaultHook; log?: (line: string) => void } = {}) {
    this.dir = dir;
    this.fault = options.fault ?? (() => {});
    this.created = !existsSync(dir);
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    RunWriter.lock(dir, options.log ?? (() => {}));
    try {
      this.recover();
    } catch (e) {
      unlinkSync(join(dir, RUN_FILES.lock));
      throw e;
    }
  }

  private static lock(dir: string, log: (line: string) => void): void {
    const busy = (pid: number | null) =>
      new TorchError(
        pid === null
          ? `${dir}: another run took the lock first; choose another --run-name`
          : `${dir} is being written by another run (process ${pid}); wait for it to end, or choose another --run-name`,
        'run',
      );
    takeLock(join(dir, RUN_FILES.lock), busy, log);
  }

  /** Finishes a committed epoch's end and removes what an uncommitted one left (pending and temporary files). */
  private recover(): void {
    for (const file of pendingCommit(this.dir)) {
      const pending = join(this.dir, file + PENDING);
      if (existsSync(pending)) renameSync(pending, join(this.dir, file));
    }
    rmSync(join(this.dir, RUN_FILES.commit), { force: true });
    for (const sub of ['.', 'checkpoints']) {
      for (const name of readdirSync(join(this.dir, sub))) {
        if (name.endsWith(PENDING) || /^\..*\.tmp$/.test(name)) rmSync(join(this.dir, sub, name), { force: true });
      }
    }
  }

  /** Whether the folder holds a training checkpoint (a run to resume). */
  hasCheckpoint(): boolean {
    return existsSync(join(this.dir, RUN_FILES.checkpoint));
  }

  /** Writes config.json and data.json at the start of a run. */
  describe(config: TrainConfig, data: RunData): void {
    writeFileAtomic(join(this.dir, RUN_FILES.config), [encode(`${JSON.stringify(config, null, 2)}\n`)]);
    writeFileAtomic(join(this.dir, RUN_FILES.data), [encode(`${JSON.stringify(data, null, 2)}\n`)]);
  }

  /** One epoch's end as one transaction (see the module documentation). */
  commit(c: EpochCommit): void {
    const files: string[] = [];
    const write = (file: string, save: (path: string) => void) => {
      this.fault(`write ${file}`);
      save(join(this.dir, file + PENDING));
      files.push(file);
    };
    write(RUN_FILES.checkpoint, (p) => saveCheckpoint(p, c.checkpoint));
    const twist: Record<string, string> = c.twist ? { twist: JSON.stringify(c.twist) } : {};
    write(RUN_FILES.last, (p) => saveWeights(p, c.weights, { epoch: String(c.epoch), ...twist }));
    const best = c.best;
    if (best) write(RUN_FILES.best, (p) => saveWeights(p, c.weights, { epoch: String(best.epoch), ...twist }));
    for (const [file, bytes] of c.metrics ? metricsFiles(c.metrics) : [])
      write(file, (p) => writeFileAtomic(p, [bytes]));
    write(RUN_FILES.config, (p) => writeFileAtomic(p, [encode(`${JSON.stringify(c.config, null, 2)}\n`)]));
    this.fault('commit');
    writeFileAtomic(join(this.dir, RUN_FILES.commit), [encode(`${JSON.stringify({ epoch: c.epoch, files })}\n`)]);
    this.committed = true;
    for (const file of files) {
      this.fault(`rename ${file}`);
      renameSync(join(this.dir, file + PENDING), join(this.dir, file));
    }
    this.fault('done');
    unlinkSync(join(this.dir, RUN_FILES.commit));
  }

  /** Writes a file that is a view of the committed ones (report.md), atomically. */
  writeView(file: string, text: string): void {
    writeFileAtomic(join(this.dir, file), [encode(text)]);
  }

  /** Releases the lock. */
  close(): void {
    rmSync(join(this.dir, RUN_FILES.lock), { force: true });
  }

  /** Releases the lock after a failure; a folder this writer created and never committed to is removed. */
  abandon(): void {
    if (this.created && !this.committed) rmSync(this.dir, { recursive: true, force: true });
    else this.close();
  }
}
