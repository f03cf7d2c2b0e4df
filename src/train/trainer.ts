/**
 * The trainer: optimizer and schedule from the config, label smoothing, evaluation every epoch, best and
 * last checkpoints committed with the epoch's metrics as one transaction (see run.ts), exact resumption,
 * graceful stop on a signal or a limit, NaN detection, EMA, flip test-time augmentation, bfloat16 autocast,
 * and the twist switched on at a chosen epoch.
 *
 * `train()` runs four phases: {@link setUp} (a new run, or the resumption of one), {@link runEpoch} (the
 * steps of one epoch), {@link endEpoch} (evaluate and commit) and {@link finish}.
 *
 * Data parallelism: started as one of several workers (the env:// variables `pdenet launch` sets), the trainer
 * joins the process group, each rank trains on its shard of every global batch (`batchSize / worldSize`
 * images) through DistributedDataParallel, and the epoch's sums and the decision to stop are all-reduced once
 * per step, so every rank holds the same figures and stops after the same step. Rank 0 alone owns the run
 * folder (lock, checkpoints, metrics, report) and reports progress; it evaluates while the others wait.
 *
 * Determinism: every source of randomness is a function of (seed, epoch, batch) — the data order and
 * augmentation through the loader, libtorch's generator re-seeded before each step — so a resumed run
 * continues bit for bit like an uninterrupted one.
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { autocast, manualSeed } from '../tensor/runtime.js';
import { check, TorchError } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import { tensor } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { Adam, AdamW } from '../optim/adam.js';
import { parameterGroupsForWeightDecay } from '../optim/groups.js';
import type { BaseOptions, Optimizer } from '../optim/optimizer.js';
import {
  CosineAnnealingLR,
  MultiStepLR,
  OneCycleLR,
  RiseAndDecayLR,
  type Schedule,
  Scheduler,
  StepLR,
} from '../optim/schedule.js';
import { SGD } from '../optim/sgd.js';
import { Muon } from '../optim/muon.js';
import { hyperbolicityPenalty } from '../pde/hyperbolic.js';
import { checkpointedStep } from '../nn/checkpoint.js';
import { constrainAfterStep } from '../dynamics/constraints.js';
import { distEnv, initProcessGroup, type ProcessGroup } from '../distributed/group.js';
import { DistributedDataParallel } from '../distributed/ddp.js';
import type { ModelOptions } from '../models/options.js';
import { createModel, type ImageModel } from '../models/registry.js';
import { applyTwistSchedule, setTwist, twistOn, twistParameters, twistStages } from '../models/stages.js';
import { loadSafetensors } from '../io/safetensors.js';
import { PLATEAU_START, plateauAfterBest, plateauBefore, restoredByPlateau } from './plateau.js';
import type { LoadedCheckpoint, TrainingState } from './checkpoint.js';
import type { PlateauState } from './plateau.js';
import {
  DEFAULT_CONFIG,
  modelOptionsOf,
  resolveConfig,
  type TrainConfig,
  type TrainOverrides,
  twistScheduleOf,
} from './config.js';
import { WeightAverage } from './ema.js';
import { Lookahead } from './lookahead.js';
import { allReduceEvaluation, type Batch, evaluate, type Evaluation } from './evaluate.js';
import { closeSplits, type DataSplits, loadDataSplits } from './data.js';
import {
  checkSameModel,
  type EpochMetrics,
  type FaultHook,
  readMetrics,
  readRunCheckpoint,
  RUN_FILES,
  runDirOf,
  RunWriter,
} from './run.js';
import { resumedConfig } from './resume.js';

export type { EpochMetrics, RunData } from './run.js';
export { readMetrics } from './run.js';

/** Progress within an epoch, for progress bars. */
export interface Progress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  accuracy: number;
  imagesPerSec: number;
  lr: number;
}

export interface TrainEvents {
  onStart?(info: {
    runDir: string;
    config: TrainConfig;
    params: number;
    trainSize: number;
    valSize: number;
    batchesPerEpoch: number;
    resumedAt: TrainingState | null;
  }): void;
  onProgress?(progress: Progress): void;
  onEpoch?(metrics: EpochMetrics, runDir: string): void | Promise<void>;
  log?(line: string): void;
}

export interface TrainOptions {
  /** Continue the run in `runs/<runName>` from its last checkpoint (see resume.ts for the settings it may change). */
  resume?: boolean;
  events?: TrainEvents;
  /** Aborting it stops after the current step with a checkpoint. */
  signal?: AbortSignal;
  /** Preloaded data (tests), which the caller closes; otherwise read from `config.data` and closed when the run ends. */
  data?: DataSplits;
  /** Called at each write of an epoch's commit (tests of what a kill there leaves; see run.ts). */
  fault?: FaultHook;
}

/**
 * Why a run stopped: it is done (it ran its epochs, or spent its budgetMinutes), it reached maxSteps or maxMinutes,
 * or a signal stopped it.
 */
export type StopReason = 'done' | 'limit' | 'signal';

/** The exit codes of `pdenet train`: done, stopped by a limit, stopped by a signal, failed. */
export const EXIT_CODES: Readonly<Record<StopReason | 'failed', number>> = {
  done: 0,
  failed: 1,
  limit: 3,
  signal: 130,
};

export interface TrainResult {
  runDir: string;
  metrics: EpochMetrics[];
  bestAccuracy: number;
  bestEpoch: number;
  /** True when stopped (by a signal or a limit) before the run was done. */
  interrupted: boolean;
  stop: StopReason;
  final: Evaluation | null;
  /** This process's rank in a data-parallel run (0 when alone): only rank 0 wrote the run folder. */
  rank: number;
}

/** What one training step needs: a function of the model and a batch (the unit a data-parallel trainer splits). */
export interface StepContext {
  model: ImageModel;
  optimizer: { step(): void; zeroGrad(): void };
  config: TrainConfig;
  /** In data-parallel training: the model's replica wrapper (forward and backward go through it). */
  ddp?: DistributedDataParallel<ImageModel> | null;
}

/** The loss a step minimizes: cross-entropy (label-smoothed), plus the regularizers the config weighs in. */
function objective({ model, config }: StepContext, logits: Tensor, labels: Tensor): Tensor {
  let loss = F.crossEntropy(logits, labels, { labelSmoothing: config.labelSmoothing });
  if (config.hyperbolicity > 0) loss = loss.add(hyperbolicityPenalty(model), config.hyperbolicity);
  if (config.timeRegularization > 0 && model.timeRegularization) {
    loss = loss.add(model.timeRegularization(), config.timeRegularization);
  }
  return loss;
}

const NO_CHECKPOINTING =
  'checkpointing is not available in data-parallel training (more than one process): drop --checkpointing';

/** The gradients of one batch in the parameters' `.grad` (unless the loss is not finite); the loss and the hits. */
function backward(ctx: StepContext, batch: Batch): { loss: number; correct: number } {
  const { model, config } = ctx;
  const hits = (logits: Tensor) => logits.argmax(1).eq(batch.y).sum().item();
  if (config.checkpointing) {
    check(!ctx.ddp, 'train', NO_CHECKPOINTING);
    const segments = model.segments?.();
    check(segments !== undefined, 'train', `checkpointing needs a model made of segments (rknet), not ${config.model}`);
    check(
      config.precision === 'fp32' && config.hyperbolicity === 0 && config.timeRegularization === 0,
      'train',
      'checkpointing runs fp32 without regularizers',
    );
    let correct = 0;
    const { loss } = checkpointedStep(model, segments, batch.x, (logits) => {
      correct = hits(logits);
      return objective(ctx, logits, batch.y);
    });
    return { loss, correct };
  }
  const { ddp } = ctx;
  const forward = () => (ddp ? ddp.forward(batch.x) : model.forward(batch.x));
  const logits = (config.precision === 'bf16' ? autocast(forward) : forward()).float();
  const loss = objective(ctx, logits, batch.y);
  const value = loss.item();
  // Replicas run backward whatever their own loss: the others wait for this one's gradients.
  if (ddp) ddp.backward(loss);
  else if (Number.isFinite(value)) loss.backward();
  return { loss: value, correct: hits(logits) };
}

/** One optimizer step on one batch; returns the loss and the number of correct predictions (0 when the loss is not finite). */
export function trainStep(ctx: StepContext, batch: Batch): { loss: number; correct: number } {
  const { model, optimizer, config } = ctx;
  return tidy(() => {
    const { loss, correct } = backward(ctx, batch);
    if (!Number.isFinite(loss)) return { loss, correct: 0 };
    optimizer.step();
    optimizer.zeroGrad();
    constrainAfterStep(model, config.clip);
    return { loss, correct };
  });
}

/**
 * The optimizer a configuration trains a model with: its parameter groups (weights; biases and normalization
 * parameters at `biasLr` times the rate; with Muon, the convolution filters first) and their options.
 */
export function makeOptimizer(model: Module, config: TrainConfig): Optimizer<BaseOptions, object> {
  const trainable = [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
  // Muon takes the convolution filters; the rest is grouped as for the other optimizers. The twist's kernels
  // stay out: their norm against K's is the twist's strength, which Muon's normalization would pin.
  const twist = twistParameters(model);
  const isFilter = ([, p]: readonly [string, Tensor]) => config.optimizer === 'muon' && p.ndim === 4 && !twist.has(p);
  const filters = trainable.filter(isFilter);
  const [weights, others] = parameterGroupsForWeightDecay(
    trainable.filter((named) => !isFilter(named)),
    config.weightDecay,
    config.noDecay,
  );
  // Biases and normalization parameters (or the noDecay names): their own learning rate, and (biasDecay) the
  // weights' shrink per step.
  const groups = [
    weights,
    {
      ...others,
      lr: config.lr * config.biasLr,
      weightDecay: config.biasDecay ? config.weightDecay / config.biasLr : 0,
    },
  ];
  switch (config.optimizer) {
    case 'sgd':
      return new SGD(groups, { lr: config.lr, momentum: config.momentum, nesterov: config.nesterov });
    case 'adam':
      return new Adam(groups, { lr: config.lr });
    case 'adamw':
      return new AdamW(groups, { lr: config.lr });
    case 'muon':
      return new Muon(
        [
          {
            params: filters.map(([, p]) => p),
            lr: config.muonLr,
            momentum: config.muonMomentum,
            normalizeWeights: config.muonNormalize,
          },
          ...groups.map((g) => ({ ...g, orthogonalize: false, momentum: config.momentum, nesterov: config.nesterov })),
        ],
        { lr: config.lr },
      );
    default:
      throw new TorchError(`unknown optimizer ${String(config.optimizer)}`, 'train');
  }
}

/**
 * The parameters of `config.freezeAfter` by name, each with the epoch from which it stops learning; a name
 * the model does not have is an error that lists the parameters it trains.
 */
function frozenSchedule(model: Module, config: TrainConfig): [Tensor, number][] {
  const named = new Map(model.namedParameters());
  return Object.entries(config.freezeAfter).map(([name, epochs]) => {
    const p = named.get(name);
    check(
      p !== undefined,
      'train',
      () =>
        `freezeAfter names "${name}", which ${config.model} does not have ` +
        `(its trained parameters: ${[...named]
          .filter(([, t]) => t.requiresGrad)
          .map(([k]) => k)
          .join(', ')})`,
    );
    check(p.requiresGrad, 'train', `freezeAfter names "${name}", which ${config.model} does not train`);
    return [p, epochs];
  });
}

function makeSchedule(config: TrainConfig, stepsPerEpoch: number): Schedule | ((t: number, base: number) => number) {
  const total = config.epochs * stepsPerEpoch;
  switch (config.schedule) {
    case 'onecycle':
      // No maxLr: each group peaks at its own initial lr (the biases' at lr·biasLr).
      return new OneCycleLR({
        totalSteps: total,
        pctStart: config.warmup,
        divFactor: 1 / config.lrStartFactor,
        finalDivFactor: config.lrStartFactor / config.lrEndFactor,
        annealStrategy: config.anneal,
        cycleMomentum: config.cycleMomentum,
      });
    case 'cosine':
      return new CosineAnnealingLR(
        total,
        0,
        config.warmup > 0 ? { steps: Math.round(config.warmup * stepsPerEpoch) } : undefined,
      );
    case 'step':
      return new StepLR(
        (config.milestones[0] ?? Math.max(1, Math.floor(config.epochs / 3))) * stepsPerEpoch,
        config.gamma,
      );
    case 'multistep':
      return new MultiStepLR(
        config.milestones.map((m) => m * stepsPerEpoch),
        config.gamma,
      );
    case 'rise-decay': {
      // The notebook's lr(x) = 0.001 + x·e^(−x/x0)·e·y0/x0 in epochs, peaking at y0 + 0.001 = lr at x0 = warmup.
      const x0 = Math.max(config.warmup, 1e-3);
      const rise = new RiseAndDecayLR(x0, config.lr - 0.001);
      return (t: number) => rise.lr(t / stepsPerEpoch);
    }
    case 'constant':
      return (_t: number, base: number) => base;
    default:
      throw new TorchError(`unknown schedule ${String(config.schedule)}`, 'train');
  }
}

function stepSeed(seed: number, epoch: number, batch: number): number {
  return ((seed * 1_000_003 + epoch) * 100_003 + batch) % 2 ** 52;
}

/** What the trainer needs of its run folder: the RunWriter on rank 0, a writer of nothing on the other ranks. */
type RunSink = Pick<RunWriter, 'dir' | 'hasCheckpoint' | 'describe' | 'commit' | 'writeView' | 'close' | 'abandon'>;

function silentRun(dir: string): RunSink {
  const nothing = (): void => {};
  return {
    dir,
    hasCheckpoint: () => existsSync(join(dir, RUN_FILES.checkpoint)),
    describe: nothing,
    commit: nothing,
    writeView: nothing,
    close: nothing,
    abandon: nothing,
  };
}

/** Everything a run holds while it trains. */
interface Session {
  config: TrainConfig;
  run: RunSink;
  /** The process group of a data-parallel run (null when alone), and the model's replica wrapper in it. */
  group: ProcessGroup | null;
  ddp: DistributedDataParallel<ImageModel> | null;
  /** Which parameters `ddp` was built to average (it is rebuilt when freezeAfter changes them). */
  ddpTrains: string;
  data: DataSplits;
  /** Whether the trainer loaded `data` itself (from config.data) and closes it when the run ends. */
  ownsData: boolean;
  model: ImageModel;
  ema: WeightAverage | null;
  lookahead: Lookahead | null;
  optimizer: Optimizer<BaseOptions, object>;
  scheduler: Scheduler;
  freezing: [Tensor, number][];
  /** The model options with the twist as configured (the model may be built with it off until twistFromEpoch). */
  modelOptions: ModelOptions;
  batchesPerEpoch: number;
  state: TrainingState;
  metrics: EpochMetrics[];
  final: Evaluation | null;
  stop: StopReason | null;
  /** When this session started (performance.now(), for maxMinutes). */
  started: number;
  options: TrainOptions;
  log: (line: string) => void;
}

/** The sums of one epoch's steps. */
interface EpochSums {
  lossSum: number;
  correct: number;
  seen: number;
  /** Milliseconds of the epoch (from performance.now()) and of them waiting for data. */
  start: number;
  dataWait: number;
  twist: boolean;
}

/** Trains a model as `overrides` (over the defaults) say; see the module documentation. */
export async function train(overrides: Partial<TrainConfig>, options: TrainOptions = {}): Promise<TrainResult> {
  const s = await setUp(overrides, options);
  try {
    // A resumed run already at its step limit or out of its budget takes no step (the same on every rank: both
    // come from its checkpoint; a signal or this session's maxMinutes is looked at after a step, as always).
    const partial = s.state.batch > 0 ? (s.state.partial?.seconds ?? 0) : 0;
    s.stop = budgetSpent(s.config, s.state, partial)
      ? 'done'
      : s.config.maxSteps > 0 && s.state.step >= s.config.maxSteps
        ? 'limit'
        : null;
    // Its budget ran out within an epoch that a signal stopped at the same step: that epoch ends now.
    if (s.stop === 'done' && s.state.batch > 0) await endEpoch(s, startEpoch(s, s.state.epoch));
    while (s.state.epoch < s.config.epochs && s.stop === null) {
      const sums = await runEpoch(s);
      if (sums === null) break;
      await endEpoch(s, sums);
      s.stop = agreedStop(s, [])[1];
    }
    return finish(s);
  } catch (e) {
    s.run.abandon();
    throw e;
  } finally {
    release(s);
    if (s.ownsData) await closeSplits(s.data);
    s.group?.destroy();
  }
}

/** Phase 1: a new run (its folder locked, its model built) or the resumption of one from its last checkpoint. */
async function setUp(overrides: Partial<TrainConfig>, options: TrainOptions): Promise<Session> {
  const config = options.resume ? null : resolveConfig(overrides);
  const resumedDir = options.resume ? resumedRunDir(overrides) : null;
  const group = distEnv() ? await initProcessGroup() : null;
  // Rank 0 alone writes the run folder and reports; the other ranks train silently beside it.
  const main = group === null || group.isMain;
  const quiet: TrainOptions = main ? options : { ...options, events: {} };
  const log = quiet.events?.log ?? (() => {});
  const dir = config ? runDirOf(config) : resumedDir!;
  let run: RunSink | null = null;
  try {
    run = main ? new RunWriter(dir, { fault: options.fault, log }) : silentRun(dir);
    // The others read the folder once rank 0 holds its lock and has finished what an interrupted commit left.
    await group?.barrierAsync();
    return await build(run, group, config, overrides, quiet, log);
  } catch (e) {
    run?.abandon();
    group?.destroy();
    throw e;
  }
}

async function build(
  run: RunSink,
  group: ProcessGroup | null,
  fresh: TrainConfig | null,
  overrides: Partial<TrainConfig>,
  options: TrainOptions,
  log: (line: string) => void,
): Promise<Session> {
  if (fresh && (group === null || group.isMain) && run.hasCheckpoint()) {
    throw new TorchError(
      `${run.dir} already holds a run; pass --resume to continue it or choose another --run-name`,
      'train',
    );
  }
  const resumed = fresh ? null : readRunCheckpoint(run.dir);
  // Data read here (not given in the options) is closed here when the setup fails, by train() when the run ends.
  let loaded: DataSplits | null = null;
  try {
    const config = fresh ?? continuedConfig(run.dir, resumed!, overrides);
    const world = group?.size ?? 1;
    if (group) checkDataParallel(config, world);
    manualSeed(config.seed);
    const data =
      options.data ??
      (loaded = await loadDataSplits(config, log, group ? { rank: group.rank, worldSize: world } : null));
    checkData(config, data, world);
    run.describe(config, {
      classes: data.classes,
      normalization: data.normalization,
      trainSize: data.train.size,
      valSize: data.val?.size ?? 0,
      ...(data.imageSize ? { imageSize: data.imageSize } : {}),
      ...(group ? { worldSize: world, batchPerRank: config.batchSize / world } : {}),
    });
    const s = buildModel(run, group, config, data, resumed === null, options, log);
    s.ownsData = loaded !== null;
    try {
      if (resumed) restore(s, resumed);
    } catch (e) {
      release(s);
      throw e;
    }
    if (group)
      log(
        `data-parallel: ${world} processes × batch ${config.batchSize / world} (global batch ${config.batchSize}, ` +
          `lr ${config.lr})`,
      );
    options.events?.onStart?.({
      runDir: run.dir,
      config,
      params: s.model.numParameters(),
      trainSize: data.train.size,
      valSize: data.val?.size ?? 0,
      batchesPerEpoch: s.batchesPerEpoch,
      resumedAt: resumed ? s.state : null,
    });
    return s;
  } catch (e) {
    if (loaded) await closeSplits(loaded);
    throw e;
  } finally {
    resumed?.dispose();
  }
}

/** The folder of the run `--resume` continues: the one the overrides name (refused without a run name). */
function resumedRunDir(overrides: Pick<TrainOverrides, 'runName' | 'runsDir'>): string {
  const runName = overrides.runName ?? '';
  if (runName === '') throw new TorchError('--resume needs the --run-name of the run to continue', 'train');
  return runDirOf({ runsDir: overrides.runsDir ?? DEFAULT_CONFIG.runsDir, runName, model: '' });
}

/**
 * The configuration `train(overrides, { resume: true })` continues the run with: its checkpoint's, with the
 * changes a resume may make; refused with one line, as the resume would be, when there is no such run or a
 * change is not allowed. Reads the checkpoint, nothing else.
 */
export function resumeConfig(overrides: TrainOverrides): TrainConfig {
  const dir = resumedRunDir(overrides);
  const resumed = readRunCheckpoint(dir);
  try {
    return continuedConfig(dir, resumed, overrides);
  } finally {
    resumed.dispose();
  }
}

/** The configuration of the run in `dir` resumed from its checkpoint `resumed`, with the changes a resume may make. */
function continuedConfig(dir: string, resumed: LoadedCheckpoint, overrides: TrainOverrides): TrainConfig {
  checkSameModel(dir, resumed.config);
  return resumedConfig(resumed.config as TrainConfig, overrides, resumed.state.epoch);
}

/** What a data-parallel run of `world` processes needs of its configuration. */
export function checkDataParallel(config: TrainConfig, world: number): void {
  check(
    config.batchSize % world === 0,
    'train',
    `--batch-size ${config.batchSize} is the global batch and must be a ` +
      `multiple of the ${world} processes (each takes batchSize / ${world})`,
  );
  check(!config.checkpointing, 'train', NO_CHECKPOINTING);
  check(
    config.plateau.patience === 0,
    'train',
    'the plateau rule (plateau.patience) runs in one process: data-parallel runs do not support it yet',
  );
}

/** A resumed run's model, averaged weights, optimizer, schedule, state and metrics, from its checkpoint. */
function restore(s: Session, resumed: LoadedCheckpoint): void {
  s.model.loadStateDict(resumed.model);
  if (s.ema && resumed.ema) s.ema.average.loadStateDict(resumed.ema);
  if (s.lookahead && resumed.ema) s.lookahead.average.loadStateDict(resumed.ema);
  s.optimizer.loadStateDict(resumed.optimizer);
  s.state = resumed.state;
  s.scheduler.loadStateDict(s.state.scheduler);
  s.metrics = readMetrics(s.run.dir).filter((m) => m.epoch < s.state.epoch);
  s.log(`resuming ${s.run.dir} at epoch ${s.state.epoch + 1}, batch ${s.state.batch + 1}`);
}

/** Frees the model, its averaged copy and the optimizer's state. */
function release(s: Session): void {
  s.ddp?.dispose();
  s.model.dispose();
  (s.ema ?? s.lookahead)?.average.dispose();
  s.optimizer.dispose();
}

/** The settings that depend on the data, checked before the first step. */
function checkData(config: TrainConfig, data: DataSplits, world: number): void {
  check(
    data.classes.length >= 2,
    'train',
    `the data has ${data.classes.length} class${data.classes.length === 1 ? '' : 'es'} ` +
      `(${data.classes.join(', ')}): a classifier needs at least two`,
  );
  const batches = data.train.batchesPerEpoch(config.batchSize / world);
  check(
    batches > 0,
    'train',
    `the training split (${data.train.size} images) is smaller than one batch (${config.batchSize})`,
  );
  const side = data.imageSize ? Math.min(...data.imageSize) : Infinity;
  check(
    config.ttaTranslate < side,
    'train',
    `ttaTranslate must be smaller than the images (${side} pixels), got ${config.ttaTranslate}`,
  );
}

/** The model (set from the data on a new run), its averaged copies, the optimizer and the schedule. */
function buildModel(
  run: RunSink,
  group: ProcessGroup | null,
  config: TrainConfig,
  data: DataSplits,
  fresh: boolean,
  options: TrainOptions,
  log: (line: string) => void,
): Session {
  const modelOptions = { ...config.modelOptions, numClasses: data.classes.length };
  // A staged twist: the stages it twists own their parameters from the start (startEpoch sets the flags).
  const buildOptions = { ...modelOptionsOf(config), numClasses: data.classes.length };
  const make = () => {
    const m = createModel(config.model, buildOptions);
    return config.channelsLast ? m.toMemoryFormat('channelsLast') : m;
  };
  const model = make();
  if (fresh && model.initFromData) {
    // Layers set from the data (SpeedNet's whitening) see a sample of training images first.
    const sample = data.train.sample(Math.min(5000, data.train.size));
    log(`set the ${config.model} ${model.initFromData(sample.x)}`);
    sample.x.dispose();
    sample.y.dispose();
  }
  const batchesPerEpoch = data.train.batchesPerEpoch(config.batchSize / (group?.size ?? 1));
  const ema = config.ema > 0 ? new WeightAverage(model, make(), config.ema) : null;
  const lookahead =
    config.lookahead > 0
      ? new Lookahead(model, make(), { every: config.lookahead, totalSteps: config.epochs * batchesPerEpoch })
      : null;
  const freezing = frozenSchedule(model, config);
  const optimizer = makeOptimizer(model, config);
  const scheduler = new Scheduler(optimizer, makeSchedule(config, batchesPerEpoch));
  return {
    config,
    run,
    group,
    ddp: null,
    ddpTrains: '',
    data,
    ownsData: false,
    model,
    ema,
    lookahead,
    optimizer,
    scheduler,
    freezing,
    modelOptions,
    batchesPerEpoch,
    state: {
      epoch: 0,
      batch: 0,
      step: 0,
      scheduler: scheduler.stateDict(),
      bestAccuracy: -1,
      bestEpoch: -1,
      seconds: 0,
      ...(config.plateau.patience > 0 ? { plateau: PLATEAU_START } : {}),
    },
    metrics: [],
    final: null,
    stop: null,
    started: performance.now(),
    options,
    log,
  };
}

/** Whether a run has spent its training-time budget, given the seconds of its epoch in progress. */
function budgetSpent(config: TrainConfig, state: TrainingState, epochSeconds = 0): boolean {
  return config.budgetMinutes > 0 && state.seconds + epochSeconds >= config.budgetMinutes * 60;
}

/** Whether the learning-rate schedule follows the share of the training-time budget spent (budgetSchedule time). */
const followsTime = (config: TrainConfig): boolean => config.budgetMinutes > 0 && config.budgetSchedule === 'time';

/**
 * The schedule's step for a run whose epoch in progress has trained `epochSeconds` (the ranks' mean): the share
 * of the budget spent, of the steps of --epochs. At the budget's end it is the schedule's last step.
 */
function timePosition(s: Session, epochSeconds: number): number {
  const share = Math.min(1, (s.state.seconds + epochSeconds) / (s.config.budgetMinutes * 60));
  return Math.round(share * s.config.epochs * s.batchesPerEpoch);
}

/**
 * Why this process would stop once `steps` steps are done and its epoch in progress has trained `epochSeconds`,
 * if it would: 'done' when the run's budget is spent.
 */
function stopReason(s: Session, steps: number, epochSeconds = 0): StopReason | null {
  if (s.options.signal?.aborted) return 'signal';
  if (budgetSpent(s.config, s.state, epochSeconds)) return 'done';
  if (s.config.maxSteps > 0 && steps >= s.config.maxSteps) return 'limit';
  if (s.config.maxMinutes > 0 && performance.now() - s.started >= s.config.maxMinutes * 60_000) return 'limit';
  return null;
}

/**
 * `values` summed over the ranks, and why the run stops after this step: every rank stops when any would (a
 * signal that reached some ranks first, a time limit met on one), for the same reason. One all-reduce; alone,
 * the values and this process's own reason.
 */
function agreedStop(
  s: Session,
  values: number[],
  steps = s.state.step,
  epochSeconds = 0,
): [number[], StopReason | null] {
  const own = stopReason(s, steps, epochSeconds);
  if (s.group === null) return [values, own];
  const reasons: StopReason[] = ['signal', 'done', 'limit'];
  const t = tensor([...values, ...reasons.map((r) => (own === r ? 1 : 0))], { dtype: 'float64' });
  try {
    s.group.allReduce(t, 'sum');
    const all = t.toArray() as number[];
    const votes = all.slice(values.length);
    return [all.slice(0, values.length), reasons.find((_, i) => votes[i]! > 0) ?? null];
  } finally {
    t.dispose();
  }
}

/** The replica wrapper of a data-parallel run, (re)built when the parameters it averages change. */
function replicate(s: Session, twistOff: boolean): void {
  if (s.group === null) return;
  const trains = `${[...s.model.namedParameters()]
    .filter(([, p]) => p.requiresGrad)
    .map(([n]) => n)
    .join(',')}|${twistOff}`;
  if (s.ddp !== null && trains === s.ddpTrains) return;
  s.ddp?.dispose();
  // Parameters of a twist that is still off get no gradient: the reducer must not wait for them.
  s.ddp = new DistributedDataParallel(s.model, s.group, {
    syncBatchNorm: s.config.syncBn,
    findUnusedParameters: twistOff,
  });
  s.ddpTrains = trains;
}

/**
 * The notebook's plateau rule acting before `epoch`: the best weights back (with their batch statistics), the
 * base learning rates the best epoch's times the factor, and a new optimizer (no momentum carried over). The
 * schedule keeps its step count.
 */
function actOnPlateau(s: Session, lrs: number[], plateau: PlateauState): void {
  const mark = Math.max(s.state.plateau!.acted, s.state.bestEpoch) + 1;
  const best = loadSafetensors(join(s.run.dir, RUN_FILES.best));
  try {
    const names = restoredByPlateau(s.config.plateau, best.tensors.keys());
    const restored = new Map(names.map((k) => [k, best.tensors.get(k)!]));
    const strict = s.config.plateau.restore === 'weights';
    for (const m of [s.model, s.ema?.average, s.lookahead?.average]) m?.loadStateDict(restored, { strict });
  } finally {
    for (const t of best.tensors.values()) t.dispose();
  }
  const step = s.scheduler.stepCount;
  s.optimizer.dispose();
  s.optimizer = makeOptimizer(s.model, s.config);
  s.scheduler = new Scheduler(s.optimizer, makeSchedule(s.config, s.batchesPerEpoch));
  s.scheduler.loadStateDict({ step, base_lrs: lrs });
  s.state = { ...s.state, plateau };
  const what = s.config.plateau.restore === 'weights' ? 'the weights' : 'the twist kernels';
  s.log(
    `plateau: no better validation accuracy since epoch ${mark}; back to ${what} of epoch ` +
      `${s.state.bestEpoch + 1}, lr ${lrs[0]!.toExponential(2)}, a new optimizer`,
  );
}

/**
 * The epoch whose staged twist and frozen parameters `epoch` trains with (TrainingState.scheduleEpoch): its own;
 * with a time budget's schedule, the epoch the learning-rate schedule stands in (the same on every rank); a run
 * resumed within an epoch keeps the one it started with.
 */
function scheduleEpochOf(s: Session, epoch: number): number {
  if (!followsTime(s.config)) return epoch;
  if (s.state.batch > 0 && s.state.scheduleEpoch !== undefined) return s.state.scheduleEpoch;
  return Math.min(s.config.epochs - 1, Math.floor(s.scheduler.stepCount / s.batchesPerEpoch));
}

/** The twist and the frozen parameters of `epoch`, and the sums of the batches of it already run. */
function startEpoch(s: Session, epoch: number): EpochSums {
  const at = scheduleEpochOf(s, epoch);
  s.state.scheduleEpoch = at; // in place: the epoch's steps update this state object
  const schedule = twistScheduleOf(s.config);
  let someStageOff = false; // its twist parameters get no gradient while it is off
  if (schedule) {
    const flags = applyTwistSchedule(s.model, schedule, at);
    someStageOff = !flags.every((on) => on);
    for (const copy of [s.ema?.average, s.lookahead?.average]) if (copy) applyTwistSchedule(copy, schedule, at);
  }
  const atPlateau = s.config.plateau.twist;
  if ((s.state.plateau?.times ?? 0) > 0 && atPlateau !== undefined) {
    for (const m of [s.model, s.ema?.average, s.lookahead?.average]) if (m) setTwist(m, atPlateau);
    someStageOff = !twistStages(s.model).every((on) => on);
  }
  for (const [p, epochs] of s.freezing) p.requiresGrad = at < epochs;
  replicate(s, someStageOff);
  s.model.train();
  const partial = s.state.batch > 0 ? s.state.partial : undefined;
  return {
    lossSum: partial?.lossSum ?? 0,
    correct: partial?.correct ?? 0,
    seen: partial?.seen ?? 0,
    start: performance.now() - (partial?.seconds ?? 0) * 1000,
    dataWait: (partial?.dataSeconds ?? 0) * 1000,
    twist: twistOn(s.model),
  };
}

/**
 * Phase 2: the steps of the next epoch (from the batch a stopped run reached). Returns its sums, or null when
 * it stopped within the epoch (then its progress is committed).
 */
async function runEpoch(s: Session): Promise<EpochSums | null> {
  // The plateau rule first: it replaces the state, which the steps below then update.
  const plateau = s.state.plateau && plateauBefore(s.config.plateau, s.state.plateau, s.state.bestEpoch, s.state.epoch);
  if (plateau?.acts) actOnPlateau(s, plateau.lrs, plateau.state);
  const { config, state } = s;
  const epoch = state.epoch;
  const sums = startEpoch(s, epoch);
  let index = state.batch - 1;
  let waitStart = performance.now();
  for await (const batch of s.data.train.batches(epoch, config.batchSize / (s.group?.size ?? 1), state.batch)) {
    sums.dataWait += performance.now() - waitStart;
    index += 1;
    manualSeed(stepSeed(config.seed, epoch, index));
    const step = trainStep(s, batch);
    const size = batch.y.numel;
    batch.x.dispose();
    batch.y.dispose();
    // Prefetched batches arrive as resolved promises, which never leave the microtask queue: yield to the event
    // loop once per step, or a signal handler (SIGINT, SIGTERM) would not run before the epoch ends.
    await new Promise<void>((resolve) => setImmediate(resolve));
    // The step's figures over the global batch, and whether to stop after it, the same on every rank.
    const ownSeconds = (performance.now() - sums.start) / 1000;
    const [[lossSum, correct, n, secondsSum], stop] = agreedStop(
      s,
      [step.loss * size, step.correct, size, ownSeconds],
      state.step + 1,
      ownSeconds,
    );
    const loss = lossSum! / n!;
    if (!Number.isFinite(loss)) {
      throw new TorchError(
        `the loss became ${loss} at epoch ${epoch + 1}, step ${state.step + 1} (batch ${index + 1}); ` +
          `lower the learning rate or check the data. ${
            s.run.hasCheckpoint()
              ? `The last good checkpoint is ${join(s.run.dir, RUN_FILES.checkpoint)}`
              : 'No checkpoint was written'
          }`,
        'train',
      );
    }
    s.ema?.update();
    const position = followsTime(config) ? timePosition(s, secondsSum! / (s.group?.size ?? 1)) : null;
    if (position !== null) s.scheduler.seek(position);
    else s.scheduler.step();
    state.step += 1;
    s.lookahead?.step(state.step, position ?? state.step);
    sums.lossSum += lossSum!;
    sums.correct += correct!;
    sums.seen += n!;
    const elapsed = (performance.now() - sums.start) / 1000;
    s.options.events?.onProgress?.({
      epoch: epoch + 1,
      epochs: config.epochs,
      batch: index + 1,
      batches: s.batchesPerEpoch,
      loss: sums.lossSum / sums.seen,
      accuracy: sums.correct / sums.seen,
      imagesPerSec: sums.seen / elapsed,
      lr: s.scheduler.lastLr[0]!,
    });
    // Alone, a signal that arrived while the progress was reported stops the run after this step too.
    s.stop = s.group === null ? stopReason(s, state.step, elapsed) : stop;
    if (s.stop === 'done' && index + 1 < s.batchesPerEpoch) {
      s.log(
        `the training-time budget of ${config.budgetMinutes} min is spent at epoch ${epoch + 1}, batch ${index + 1}`,
      );
      break; // the epoch ends here, as the run's last
    }
    if (s.stop !== null && index + 1 < s.batchesPerEpoch) {
      stopWithinEpoch(s, index + 1, sums, elapsed);
      return null;
    }
    waitStart = performance.now();
  }
  return sums;
}

/** The weights a run evaluates and saves: the moving average when it keeps one. */
const weightsOf = (s: Session): Module => s.ema?.average ?? s.model;

/** Whether a run's twist changes as it trains (a staged twist or the plateau rule's), so its weights say theirs. */
const twistChanges = (config: TrainConfig): boolean =>
  twistScheduleOf(config) !== null || (config.plateau.patience > 0 && config.plateau.twist !== undefined);

function commit(s: Session, best: boolean, metrics: EpochMetrics[] | null): void {
  tidy(() =>
    s.run.commit({
      checkpoint: {
        model: s.model,
        ema: (s.ema ?? s.lookahead)?.average ?? null,
        optimizer: s.optimizer.stateDict(),
        state: s.state,
        config: s.config,
      },
      weights: weightsOf(s),
      ...(twistChanges(s.config) ? { twist: twistStages(weightsOf(s)) } : {}),
      epoch: s.state.epoch,
      best: best ? { epoch: s.state.bestEpoch } : null,
      metrics,
      config: s.config,
    }),
  );
}

/** A stop within an epoch: the sums so far go into the checkpoint, and the next run starts at `batch`. */
function stopWithinEpoch(s: Session, batch: number, sums: EpochSums, elapsed: number): void {
  s.state = {
    ...s.state,
    batch,
    scheduler: s.scheduler.stateDict(),
    partial: {
      lossSum: sums.lossSum,
      correct: sums.correct,
      seen: sums.seen,
      seconds: elapsed,
      dataSeconds: sums.dataWait / 1000,
    },
  };
  commit(s, false, null);
  s.log(
    `stopped at epoch ${s.state.epoch + 1}, batch ${batch}; checkpoint written to ${join(s.run.dir, RUN_FILES.checkpoint)}`,
  );
}

/** Phase 3: evaluate (when due), then commit the epoch: checkpoint, weights, best weights and metrics line. */
async function endEpoch(s: Session, sums: EpochSums): Promise<void> {
  const { config } = s;
  const epoch = s.state.epoch;
  const seconds = (performance.now() - sums.start) / 1000;
  const lastEpoch = epoch + 1 === config.epochs || s.stop === 'limit' || s.stop === 'done';
  let evaluation: Evaluation | null = null;
  const evalStart = performance.now();
  const main = s.group === null || s.group.isMain;
  // Data-parallel: each rank evaluates its part of the validation split; without parts, rank 0 the whole.
  const part = s.group === null ? null : (s.data.valPart ?? null);
  const stream = part ?? (main ? s.data.val : null);
  if (stream && ((epoch + 1) % config.evalEvery === 0 || lastEpoch)) {
    evaluation = await evaluate(weightsOf(s), stream.batches(0, 500, 0), s.data.classes.length, {
      tta: config.tta,
      translate: lastEpoch ? config.ttaTranslate : 0,
      precision: config.precision,
    });
    if (part && s.group) evaluation = allReduceEvaluation(s.group, evaluation);
    if (lastEpoch) s.final = evaluation;
  }
  const m: EpochMetrics = {
    epoch,
    step: s.state.step,
    trainLoss: sums.lossSum / sums.seen,
    trainAccuracy: sums.correct / sums.seen,
    valLoss: evaluation?.loss ?? null,
    valAccuracy: evaluation?.accuracy ?? null,
    lr: s.scheduler.lastLr[0]!,
    seconds,
    evalSeconds: (performance.now() - evalStart) / 1000,
    dataShare: sums.dataWait / 1000 / seconds,
    imagesPerSec: sums.seen / seconds,
    twist: sums.twist,
  };
  s.metrics.push(m);
  // The best weights: the highest validation accuracy, or (bestBy loss, DynamicBlocks') the lowest validation loss.
  const best =
    evaluation !== null &&
    (config.bestBy === 'loss'
      ? evaluation.loss < (s.state.bestLoss ?? Infinity)
      : evaluation.accuracy > s.state.bestAccuracy);
  s.state = {
    ...s.state,
    epoch: epoch + 1,
    batch: 0,
    scheduler: s.scheduler.stateDict(),
    seconds: s.state.seconds + seconds,
    partial: undefined,
    ...(best ? { bestAccuracy: evaluation!.accuracy, bestLoss: evaluation!.loss, bestEpoch: epoch } : {}),
    ...(best && s.state.plateau ? { plateau: plateauAfterBest(s.state.plateau, s.scheduler.baseLrs) } : {}),
  };
  commit(s, best, s.metrics);
  // Rank 0 evaluates and writes while the others wait (at most the group's timeout).
  await s.group?.barrierAsync();
  await s.options.events?.onEpoch?.(m, s.run.dir);
  s.log(
    `epoch ${epoch + 1}/${config.epochs}  loss ${m.trainLoss.toFixed(4)}  train ${(m.trainAccuracy * 100).toFixed(2)}%` +
      (m.valAccuracy === null ? '' : `  val ${(m.valAccuracy * 100).toFixed(2)}%`) +
      `  lr ${m.lr.toExponential(2)}  ${m.seconds.toFixed(1)}s  ${m.imagesPerSec.toFixed(0)} img/s  data ${(m.dataShare * 100).toFixed(1)}%`,
  );
}

/** Phase 4: the report, the lock released, the result. */
function finish(s: Session): TrainResult {
  const done = s.state.epoch >= s.config.epochs || budgetSpent(s.config, s.state);
  s.run.writeView(RUN_FILES.report, reportOf(s));
  s.run.close();
  return {
    runDir: s.run.dir,
    metrics: s.metrics,
    bestAccuracy: s.state.bestAccuracy,
    bestEpoch: s.state.bestEpoch,
    interrupted: !done,
    stop: done ? 'done' : (s.stop ?? 'done'),
    final: s.final,
    rank: s.group?.rank ?? 0,
  };
}

function reportOf({ run, config, metrics, state, model, group }: Session): string {
  const world = group?.size ?? 1;
  const last = metrics.at(-1);
  const pct = (v: number | null | undefined) =>
    v === null || v === undefined || v < 0 ? '–' : `${(v * 100).toFixed(2)}%`;
  return [
    `# Run ${run.dir}`,
    '',
    `Model **${config.model}** (${model.numParameters().toLocaleString('en-US')} parameters), options \`${JSON.stringify(config.modelOptions)}\`.`,
    `Data \`${config.data}\`, ${config.epochs} epochs of batch ${config.batchSize}` +
      `${world > 1 ? ` (${world} processes × ${config.batchSize / world})` : ''}, ${config.optimizer} with ${config.schedule} ` +
      `schedule (peak lr ${config.lr}), label smoothing ${config.labelSmoothing}, precision ${config.precision}, seed ${config.seed}.`,
    '',
    '| | |',
    '|---|---|',
    `| epochs run | ${metrics.length} |`,
    config.bestBy === 'loss'
      ? `| lowest validation loss | ${state.bestLoss?.toFixed(4)} (epoch ${state.bestEpoch + 1}, accuracy ${pct(state.bestAccuracy)}) |`
      : `| best validation accuracy | ${pct(state.bestAccuracy)} (epoch ${state.bestEpoch + 1}) |`,
    `| last validation accuracy | ${pct(last?.valAccuracy)} |`,
    `| last training accuracy | ${pct(last?.trainAccuracy)} |`,
    `| training time | ${(state.seconds / 60).toFixed(1)} min |`,
    `| throughput (last epoch) | ${last ? last.imagesPerSec.toFixed(0) : '–'} images/s |`,
    '',
    'Files: `config.json` (the resolved configuration), `data.json` (classes and normalization), `metrics.jsonl` / ' +
      '`metrics.csv` (one line per epoch), `checkpoints/` (`last.ckpt.safetensors` to resume; `best.safetensors`, ' +
      '`last.safetensors`: model weights).',
    '',
  ].join('\n');
}
