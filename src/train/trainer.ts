/**
 * The trainer: optimizer and schedule from the config, label smoothing, evaluation every epoch, best and
 * last checkpoints written atomically, exact resumption, graceful stop on a signal, NaN detection, EMA,
 * flip test-time augmentation, bfloat16 autocast, and the twist switched on at a chosen epoch.
 *
 * Determinism: every source of randomness is a function of (seed, epoch, batch) — the data order and
 * augmentation through the loader, libtorch's generator re-seeded before each step — so a resumed run
 * continues bit for bit like an uninterrupted one.
 * @module
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { autocast, manualSeed } from '../tensor/runtime.js';
import { check, TorchError } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { Adam, AdamW } from '../optim/adam.js';
import { parameterGroupsForWeightDecay } from '../optim/groups.js';
import type { BaseOptions, Optimizer } from '../optim/optimizer.js';
import { CosineAnnealingLR, MultiStepLR, OneCycleLR, RiseAndDecayLR, type Schedule, Scheduler, StepLR } from '../optim/schedule.js';
import { SGD } from '../optim/sgd.js';
import { Muon } from '../optim/muon.js';
import { hyperbolicityPenalty } from '../pde/hyperbolic.js';
import { checkpointedStep } from '../nn/checkpoint.js';
import { constrainAfterStep } from '../dynamics/constraints.js';
import { createModel, type ImageModel } from '../models/registry.js';
import { setTwist } from '../models/stages.js';
import { loadCheckpoint, saveCheckpoint, saveWeights, type TrainingState } from './checkpoint.js';
import { resolveConfig, type TrainConfig } from './config.js';
import { WeightAverage } from './ema.js';
import { Lookahead } from './lookahead.js';
import { type Batch, evaluate, type Evaluation } from './evaluate.js';
import { type DataSplits, loadDataSplits } from './data.js';
import type { Normalization } from '../data/transforms.js';

/** What a run records about its data (`data.json`), needed to use the model afterwards. */
export interface RunData {
  classes: string[];
  normalization: Normalization;
  trainSize: number;
  valSize: number;
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
  twist: boolean;
}

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
  onStart?(info: { runDir: string; config: TrainConfig; params: number; trainSize: number; valSize: number;
    batchesPerEpoch: number; resumedAt: TrainingState | null }): void;
  onProgress?(progress: Progress): void;
  onEpoch?(metrics: EpochMetrics, runDir: string): void | Promise<void>;
  log?(line: string): void;
}

export interface TrainOptions {
  /** Continue the run in `runs/<runName>` from its last checkpoint. */
  resume?: boolean;
  events?: TrainEvents;
  /** Aborting it stops after the current step with a checkpoint. */
  signal?: AbortSignal;
  /** Preloaded data (tests); otherwise read from `config.data`. */
  data?: DataSplits;
}

export interface TrainResult {
  runDir: string;
  metrics: EpochMetrics[];
  bestAccuracy: number;
  bestEpoch: number;
  /** True when stopped by the signal before the last epoch. */
  interrupted: boolean;
  final: Evaluation | null;
}

/** What one training step needs: a function of the model and a batch (the unit a data-parallel trainer splits). */
export interface StepContext {
  model: Module;
  optimizer: { step(): void; zeroGrad(): void };
  config: TrainConfig;
}

/** One optimizer step on one batch; returns the loss and the number of correct predictions. */
export function trainStep(ctx: StepContext, batch: Batch): { loss: number; correct: number } {
  const { model, optimizer, config } = ctx;
  const segmented = model as Module & { segments?: () => ((x: Tensor) => Tensor)[] };
  if (config.checkpointing) {
    check(typeof segmented.segments === 'function', 'train', `checkpointing needs a model made of segments (rknet), not ${config.model}`);
    check(config.precision === 'fp32' && config.hyperbolicity === 0 && config.timeRegularization === 0, 'train',
      'checkpointing runs fp32 without regularizers');
    return tidy(() => {
      let correct = 0;
      const { loss } = checkpointedStep(model, segmented.segments!(), batch.x, (logits) => {
        correct = logits.argmax(1).eq(batch.y).sum().item();
        return F.crossEntropy(logits, batch.y, { labelSmoothing: config.labelSmoothing });
      });
      if (!Number.isFinite(loss)) return { loss, correct: 0 };
      optimizer.step();
      optimizer.zeroGrad();
      constrainAfterStep(model, config.clip);
      return { loss, correct };
    });
  }
  return tidy(() => {
    const forward = () => (model as ImageModel).forward(batch.x);
    const logits = (config.precision === 'bf16' ? autocast(forward) : forward()).float();
    let loss = F.crossEntropy(logits, batch.y, { labelSmoothing: config.labelSmoothing });
    if (config.hyperbolicity > 0) loss = loss.add(hyperbolicityPenalty(model), config.hyperbolicity);
    const timed = model as Module & { timeRegularization?: () => Tensor };
    if (config.timeRegularization > 0 && typeof timed.timeRegularization === 'function') {
      loss = loss.add(timed.timeRegularization(), config.timeRegularization);
    }
    const value = loss.item();
    if (!Number.isFinite(value)) return { loss: value, correct: 0 };
    loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
    constrainAfterStep(model, config.clip);
    return { loss: value, correct: logits.argmax(1).eq(batch.y).sum().item() };
  });
}

function makeOptimizer(model: Module, config: TrainConfig): Optimizer<BaseOptions, object> {
  const trainable = [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
  // Muon takes the convolution filters; the rest is grouped as for the other optimizers.
  const isFilter = ([, p]: readonly [string, Tensor]) => config.optimizer === 'muon' && p.ndim === 4;
  const filters = trainable.filter(isFilter);
  const [weights, others] = parameterGroupsForWeightDecay(trainable.filter((named) => !isFilter(named)), config.weightDecay);
  // Biases and normalization parameters: their own learning rate, and (biasDecay) the weights' shrink per step.
  const groups = [weights, { ...others, lr: config.lr * config.biasLr,
    weightDecay: config.biasDecay ? config.weightDecay / config.biasLr : 0 }];
  switch (config.optimizer) {
    case 'sgd':
      return new SGD(groups, { lr: config.lr, momentum: config.momentum, nesterov: config.nesterov });
    case 'adam':
      return new Adam(groups, { lr: config.lr });
    case 'adamw':
      return new AdamW(groups, { lr: config.lr });
    case 'muon':
      return new Muon([
        { params: filters.map(([, p]) => p), lr: config.muonLr, momentum: config.muonMomentum,
          normalizeWeights: config.muonNormalize },
        ...groups.map((g) => ({ ...g, orthogonalize: false, momentum: config.momentum, nesterov: config.nesterov })),
      ], { lr: config.lr });
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
    check(p !== undefined, 'train', () => `freezeAfter names "${name}", which ${config.model} does not have ` +
      `(its trained parameters: ${[...named].filter(([, t]) => t.requiresGrad).map(([k]) => k).join(', ')})`);
    check(p.requiresGrad, 'train', `freezeAfter names "${name}", which ${config.model} does not train`);
    return [p, epochs];
  });
}

function makeSchedule(config: TrainConfig, stepsPerEpoch: number): Schedule | ((t: number, base: number) => number) {
  const total = config.epochs * stepsPerEpoch;
  switch (config.schedule) {
    case 'onecycle':
      // No maxLr: each group peaks at its own initial lr (the biases' at lr·biasLr).
      return new OneCycleLR({ totalSteps: total, pctStart: config.warmup, divFactor: 1 / config.lrStartFactor,
        finalDivFactor: config.lrStartFactor / config.lrEndFactor, annealStrategy: config.anneal,
        cycleMomentum: config.cycleMomentum });
    case 'cosine':
      return new CosineAnnealingLR(total, 0, config.warmup > 0
        ? { steps: Math.round(config.warmup * stepsPerEpoch) } : undefined);
    case 'step':
      return new StepLR((config.milestones[0] ?? Math.max(1, Math.floor(config.epochs / 3))) * stepsPerEpoch, config.gamma);
    case 'multistep':
      return new MultiStepLR(config.milestones.map((m) => m * stepsPerEpoch), config.gamma);
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

function runDirOf(config: TrainConfig): string {
  const name = config.runName || `${config.model}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`;
  return join(config.runsDir, name);
}

function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, [new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`)]);
}

const CSV_COLUMNS: (keyof EpochMetrics)[] = ['epoch', 'step', 'trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'lr',
  'seconds', 'evalSeconds', 'dataShare', 'imagesPerSec', 'twist'];

function writeMetrics(runDir: string, metrics: EpochMetrics[]): void {
  writeFileAtomic(join(runDir, 'metrics.jsonl'), [new TextEncoder().encode(metrics.map((m) => JSON.stringify(m)).join('\n') + '\n')]);
  const csv = [CSV_COLUMNS.join(','), ...metrics.map((m) => CSV_COLUMNS.map((c) => m[c] ?? '').join(','))].join('\n') + '\n';
  writeFileAtomic(join(runDir, 'metrics.csv'), [new TextEncoder().encode(csv)]);
}

/** Reads metrics.jsonl of a run (empty when there is none). */
export function readMetrics(runDir: string): EpochMetrics[] {
  const path = join(runDir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as EpochMetrics);
}

function stepSeed(seed: number, epoch: number, batch: number): number {
  return ((seed * 1_000_003 + epoch) * 100_003 + batch) % 2 ** 52;
}

/** Trains a model as `config` says; see the module documentation. */
export async function train(overrides: Partial<TrainConfig>, options: TrainOptions = {}): Promise<TrainResult> {
  const events = options.events ?? {};
  const log = events.log ?? (() => {});
  let config = resolveConfig(overrides);
  const runDir = runDirOf(config);
  const checkpointDir = join(runDir, 'checkpoints');
  const lastCheckpoint = join(checkpointDir, 'last.ckpt.safetensors');
  let resumed: ReturnType<typeof loadCheckpoint> | null = null;
  if (options.resume) {
    check(config.runName !== '', 'train', '--resume needs the --run-name of the run to continue');
    resumed = loadCheckpoint(lastCheckpoint);
    // The run continues with its own configuration; only where to write and when to stop may differ.
    config = resolveConfig({ ...(resumed.config as TrainConfig), runsDir: config.runsDir, runName: config.runName,
      maxSteps: config.maxSteps });
  } else if (existsSync(lastCheckpoint)) {
    throw new TorchError(`${runDir} already holds a run; pass --resume to continue it or choose another --run-name`, 'train');
  }
  mkdirSync(checkpointDir, { recursive: true });
  writeJson(join(runDir, 'config.json'), config);

  manualSeed(config.seed);
  const data = options.data ?? await loadDataSplits(config, log);
  const numClasses = data.classes.length;
  writeJson(join(runDir, 'data.json'), { classes: data.classes, normalization: data.normalization, trainSize: data.train.size,
    valSize: data.val?.size ?? 0 } satisfies RunData);
  const modelOptions = { ...config.modelOptions, numClasses };
  const twistLater = config.twistFromEpoch > 0;
  // Twisting later: build the twisted stages' parameters now, with the twist off until its epoch.
  const buildOptions = twistLater
    ? { ...modelOptions, twistable: modelOptions.twistable ?? modelOptions.twist ?? false, twist: false }
    : modelOptions;
  const layout = (m: ImageModel) => (config.channelsLast ? m.toMemoryFormat('channelsLast') : m);
  const model = layout(createModel(config.model, buildOptions));
  const fromData = model as ImageModel & { initFromData?: (images: Tensor) => string };
  if (!resumed && typeof fromData.initFromData === 'function') {
    // Layers set from the data (SpeedNet's whitening) see a sample of training images first.
    const sample = data.train.sample(Math.min(5000, data.train.size));
    log(`set the ${config.model} ${fromData.initFromData(sample.x)}`);
    sample.x.dispose();
    sample.y.dispose();
  }
  const batchesPerEpoch = data.train.batchesPerEpoch(config.batchSize);
  check(batchesPerEpoch > 0, 'train', `the training split (${data.train.size} images) is smaller than one batch (${config.batchSize})`);
  const ema = config.ema > 0 ? new WeightAverage(model, layout(createModel(config.model, buildOptions)), config.ema) : null;
  const lookahead = config.lookahead > 0 ? new Lookahead(model, layout(createModel(config.model, buildOptions)),
    { every: config.lookahead, totalSteps: config.epochs * batchesPerEpoch }) : null;
  const freezing = frozenSchedule(model, config);
  const optimizer = makeOptimizer(model, config);
  const scheduler = new Scheduler(optimizer, makeSchedule(config, batchesPerEpoch));

  let state: TrainingState = { epoch: 0, batch: 0, step: 0, scheduler: scheduler.stateDict(), bestAccuracy: -1, bestEpoch: -1,
    seconds: 0 };
  let metrics: EpochMetrics[] = [];
  if (resumed) {
    model.loadStateDict(resumed.model);
    if (ema && resumed.ema) ema.average.loadStateDict(resumed.ema);
    if (lookahead && resumed.ema) lookahead.average.loadStateDict(resumed.ema);
    optimizer.loadStateDict(resumed.optimizer);
    state = resumed.state;
    scheduler.loadStateDict(state.scheduler);
    resumed.dispose();
    metrics = readMetrics(runDir).filter((m) => m.epoch < state.epoch);
    log(`resuming ${runDir} at epoch ${state.epoch + 1}, batch ${state.batch + 1}`);
  }
  events.onStart?.({ runDir, config, params: model.numParameters(), trainSize: data.train.size, valSize: data.val?.size ?? 0,
    batchesPerEpoch, resumedAt: resumed ? state : null });

  const checkpoint = (best: boolean) => {
    tidy(() => saveCheckpoint(lastCheckpoint, { model, ema: (ema ?? lookahead)?.average ?? null, optimizer: optimizer.stateDict(), state, config }));
    const weightsOf = ema?.average ?? model;
    saveWeights(join(checkpointDir, 'last.safetensors'), weightsOf, { epoch: String(state.epoch) });
    if (best) saveWeights(join(checkpointDir, 'best.safetensors'), weightsOf, { epoch: String(state.bestEpoch) });
  };

  let interrupted = false;
  let final: Evaluation | null = null;
  for (let epoch = state.epoch; epoch < config.epochs && !interrupted; epoch++) {
    const twist = !twistLater || epoch >= config.twistFromEpoch;
    if (twistLater) {
      const flags = twist ? (modelOptions.twist ?? false) : false;
      setTwist(model, flags);
      if (ema) setTwist(ema.average, flags);
    }
    for (const [p, epochs] of freezing) p.requiresGrad = epoch < epochs;
    model.train();
    const first = epoch === state.epoch ? state.batch : 0;
    const partial = first > 0 ? state.partial : undefined;
    let lossSum = partial?.lossSum ?? 0;
    let correct = partial?.correct ?? 0;
    let seen = partial?.seen ?? 0;
    let dataWait = (partial?.dataSeconds ?? 0) * 1000;
    const start = performance.now() - (partial?.seconds ?? 0) * 1000;
    let waitStart = performance.now();
    let index = first - 1;
    for await (const batch of data.train.batches(epoch, config.batchSize, first)) {
      dataWait += performance.now() - waitStart;
      index += 1;
      manualSeed(stepSeed(config.seed, epoch, index));
      const { loss, correct: right } = trainStep({ model, optimizer, config }, batch);
      const n = batch.y.numel;
      batch.x.dispose();
      batch.y.dispose();
      if (!Number.isFinite(loss)) {
        throw new TorchError(`the loss became ${loss} at epoch ${epoch + 1}, step ${state.step + 1} (batch ${index + 1}); ` +
          `lower the learning rate or check the data. The last good checkpoint is ${lastCheckpoint}`, 'train');
      }
      ema?.update();
      scheduler.step();
      state.step += 1;
      lookahead?.step(state.step);
      lossSum += loss * n;
      correct += right;
      seen += n;
      const elapsed = (performance.now() - start) / 1000;
      events.onProgress?.({ epoch: epoch + 1, epochs: config.epochs, batch: index + 1, batches: batchesPerEpoch,
        loss: lossSum / seen, accuracy: correct / seen, imagesPerSec: seen / elapsed, lr: scheduler.lastLr[0]! });
      // Prefetched batches arrive as resolved promises, which never leave the microtask queue: yield to the event
      // loop once per step, or a signal handler (SIGINT, SIGTERM) would not run before the epoch ends.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const stopNow = options.signal?.aborted || (config.maxSteps > 0 && state.step >= config.maxSteps);
      if (stopNow && index + 1 < batchesPerEpoch) {
        state = { ...state, epoch, batch: index + 1, scheduler: scheduler.stateDict(), seconds: state.seconds,
          partial: { lossSum, correct, seen, seconds: elapsed, dataSeconds: dataWait / 1000 } };
        checkpoint(false);
        log(`stopped at epoch ${epoch + 1}, batch ${index + 1}; checkpoint written to ${lastCheckpoint}`);
        interrupted = true;
        break;
      }
      waitStart = performance.now();
    }
    if (interrupted) break;
    const seconds = (performance.now() - start) / 1000;
    const lastEpoch = epoch + 1 === config.epochs || (config.maxSteps > 0 && state.step >= config.maxSteps);
    let evaluation: Evaluation | null = null;
    const evalStart = performance.now();
    if (data.val && ((epoch + 1) % config.evalEvery === 0 || lastEpoch)) {
      evaluation = await evaluate(ema?.average ?? model, data.val.batches(0, 500, 0), numClasses,
        { tta: config.tta, translate: lastEpoch ? config.ttaTranslate : 0, precision: config.precision });
      if (lastEpoch) final = evaluation;
    }
    const m: EpochMetrics = {
      epoch, step: state.step, trainLoss: lossSum / seen, trainAccuracy: correct / seen,
      valLoss: evaluation?.loss ?? null, valAccuracy: evaluation?.accuracy ?? null, lr: scheduler.lastLr[0]!, seconds,
      evalSeconds: (performance.now() - evalStart) / 1000, dataShare: dataWait / 1000 / seconds, imagesPerSec: seen / seconds,
      twist,
    };
    metrics.push(m);
    const best = evaluation !== null && evaluation.accuracy > state.bestAccuracy;
    state = { ...state, epoch: epoch + 1, batch: 0, scheduler: scheduler.stateDict(), seconds: state.seconds + seconds,
      partial: undefined, ...(best ? { bestAccuracy: evaluation!.accuracy, bestEpoch: epoch } : {}) };
    checkpoint(best);
    writeMetrics(runDir, metrics);
    await events.onEpoch?.(m, runDir);
    log(`epoch ${epoch + 1}/${config.epochs}  loss ${m.trainLoss.toFixed(4)}  train ${(m.trainAccuracy * 100).toFixed(2)}%` +
      (m.valAccuracy === null ? '' : `  val ${(m.valAccuracy * 100).toFixed(2)}%`) +
      `  lr ${m.lr.toExponential(2)}  ${m.seconds.toFixed(1)}s  ${m.imagesPerSec.toFixed(0)} img/s  data ${(m.dataShare * 100).toFixed(1)}%`);
    if ((config.maxSteps > 0 && state.step >= config.maxSteps) || options.signal?.aborted) {
      interrupted = epoch + 1 < config.epochs;
      break;
    }
  }
  writeReport(runDir, config, metrics, state, model.numParameters());
  model.dispose();
  (ema ?? lookahead)?.average.dispose();
  optimizer.dispose();
  return { runDir, metrics, bestAccuracy: state.bestAccuracy, bestEpoch: state.bestEpoch, interrupted, final };
}

function writeReport(runDir: string, config: TrainConfig, metrics: EpochMetrics[], state: TrainingState, params: number): void {
  const last = metrics.at(-1);
  const pct = (v: number | null | undefined) => (v === null || v === undefined || v < 0 ? '–' : `${(v * 100).toFixed(2)}%`);
  const lines = [
    `# Run ${runDir}`,
    '',
    `Model **${config.model}** (${params.toLocaleString('en-US')} parameters), options \`${JSON.stringify(config.modelOptions)}\`.`,
    `Data \`${config.data}\`, ${config.epochs} epochs of batch ${config.batchSize}, ${config.optimizer} with ${config.schedule} ` +
      `schedule (peak lr ${config.lr}), label smoothing ${config.labelSmoothing}, precision ${config.precision}, seed ${config.seed}.`,
    '',
    '| | |',
    '|---|---|',
    `| epochs run | ${metrics.length} |`,
    `| best validation accuracy | ${pct(state.bestAccuracy)} (epoch ${state.bestEpoch + 1}) |`,
    `| last validation accuracy | ${pct(last?.valAccuracy)} |`,
    `| last training accuracy | ${pct(last?.trainAccuracy)} |`,
    `| training time | ${(state.seconds / 60).toFixed(1)} min |`,
    `| throughput (last epoch) | ${last ? last.imagesPerSec.toFixed(0) : '–'} images/s |`,
    '',
    'Files: `config.json` (the resolved configuration), `metrics.jsonl` / `metrics.csv` (one line per epoch), ' +
      '`checkpoints/` (`last.ckpt.safetensors` to resume; `best.safetensors`, `last.safetensors`: model weights).',
    '',
  ];
  writeFileAtomic(join(runDir, 'report.md'), [new TextEncoder().encode(lines.join('\n'))]);
}
