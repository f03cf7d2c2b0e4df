/**
 * The training configuration: every knob with its default, validated in one place. A run's resolved
 * configuration is written to `runs/<name>/config.json`, which is enough to rebuild its model.
 * @module
 */
import { TorchError } from '../tensor/errors.js';
import type { ModelOptions } from '../models/options.js';

export type ScheduleName = 'onecycle' | 'cosine' | 'step' | 'multistep' | 'rise-decay' | 'constant';
export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'muon';
export type Precision = 'fp32' | 'bf16';

export interface AugmentConfig {
  /** Random-crop padding in pixels (0: no crop). */
  crop: number;
  cropPadding: 'zeros' | 'reflect';
  /** Horizontal flips: at random (true), alternating by epoch ('alternate', the speed runs'), or none (false). */
  flip: boolean | 'alternate';
  /** Cutout square size in pixels (0: off). */
  cutout: number;
  /** The notebook's RandomAffine: rotation in degrees, translation as a fraction, scale range; null: off. */
  affine: { degrees: number; translate: number; scale: [number, number] } | null;
}

export interface TrainConfig {
  model: string;
  modelOptions: ModelOptions;
  /** A CIFAR binary folder or archive, an image folder or .tar.gz, or "synthetic". */
  data: string;
  /** Images held out of the training split for validation. */
  valSplit: number;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  /** Peak learning rate. */
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  /** One-cycle: fraction of steps rising; cosine: warmup epochs. */
  warmup: number;
  /** One-cycle: the learning rate starts at lr·lrStartFactor (PyTorch's default 1/25)… */
  lrStartFactor: number;
  /** …and ends at lr·lrEndFactor (PyTorch's default 1/(25·10⁴)). */
  lrEndFactor: number;
  /** One-cycle: the shape of the rise and of the fall. */
  anneal: 'cos' | 'linear';
  /** One-cycle: cycle the momentum between 0.95 and 0.85, inversely to the lr (PyTorch's default); false holds `momentum`. */
  cycleMomentum: boolean;
  /** Learning-rate multiplier of the one-dimensional parameters: biases and normalization parameters. */
  biasLr: number;
  /**
   * Whether the one-dimensional parameters decay too, by weightDecay / biasLr — so that they shrink by the
   * same factor per step as the weights; false: they do not decay (the usual recipe).
   */
  biasDecay: boolean;
  /**
   * Muon (optimizer "muon"): the learning rate and momentum of the convolution filters, which Muon
   * orthogonalizes; every other parameter takes SGD's step with lr, momentum, nesterov, weightDecay and biasLr.
   */
  muonLr: number;
  muonMomentum: number;
  /** Muon: rescale each filter bank to norm √(output channels) before its step (filters followed by BatchNorm). */
  muonNormalize: boolean;
  /**
   * Parameters that learn only for their first epochs, by name: `{ "whiten.bias": 3 }` trains SpeedNet's
   * whitening bias for 3 epochs and then holds it; 0 holds a parameter at its initial value throughout.
   */
  freezeAfter: Record<string, number>;
  /** Lookahead: every this many steps, the weights and a slow copy of them meet (0: off; see lookahead.ts). */
  lookahead: number;
  /** Step/multistep schedules: epochs at which the lr is multiplied by gamma. */
  milestones: number[];
  gamma: number;
  labelSmoothing: number;
  augment: AugmentConfig;
  /** Decay of the exponential moving average of the weights (0: off). */
  ema: number;
  /** Evaluate with horizontal-flip test-time augmentation. */
  tta: boolean;
  /**
   * The final evaluation also averages the logits of the images shifted by ±ttaTranslate pixels (reflect
   * padding) with equal weight to the unshifted ones (0: off). Evaluations before the last skip it: it
   * triples their cost.
   */
  ttaTranslate: number;
  /** Lay out the model's convolution kernels channels-last (faster oneDNN convolutions; see Module.toMemoryFormat). */
  channelsLast: boolean;
  precision: Precision;
  seed: number;
  /** Epoch from which the twist is on (0: from the start), per the notebook's schedule. */
  twistFromEpoch: number;
  /** Weight of the hyperbolicity regularizer (0: off). */
  hyperbolicity: number;
  /** Weight of the time regularization of dynamic blocks (0: off). */
  timeRegularization: number;
  /** Clamp convolution and linear weights into [−clip, clip] after each step (0: off; DynamicBlocks' box constraints). */
  clip: number;
  /** Recompute each segment's interior in the backward pass to save memory (models with `segments()`: rknet). */
  checkpointing: boolean;
  /** Evaluate every this many epochs (and always after the last). */
  evalEvery: number;
  runName: string;
  runsDir: string;
  /** Stop after this many training steps in total (for smoke runs; 0: no limit). */
  maxSteps: number;
  /** Stop, with a checkpoint, after this many minutes of this session (0: no limit). */
  maxMinutes: number;
}

export const DEFAULT_CONFIG: TrainConfig = {
  model: 'resnet20',
  modelOptions: {},
  data: 'synthetic',
  valSplit: 5000,
  epochs: 30,
  batchSize: 128,
  optimizer: 'sgd',
  lr: 0.2,
  momentum: 0.9,
  nesterov: true,
  weightDecay: 5e-4,
  schedule: 'onecycle',
  warmup: 0.25,
  lrStartFactor: 1 / 25,
  lrEndFactor: 1 / 25e4,
  anneal: 'cos',
  cycleMomentum: true,
  biasLr: 1,
  biasDecay: false,
  muonLr: 0.05,
  muonMomentum: 0.6,
  muonNormalize: true,
  freezeAfter: {},
  lookahead: 0,
  milestones: [],
  gamma: 0.1,
  labelSmoothing: 0.1,
  augment: { crop: 4, cropPadding: 'reflect', flip: true, cutout: 0, affine: null },
  ema: 0,
  tta: true,
  ttaTranslate: 0,
  channelsLast: false,
  precision: 'fp32',
  seed: 0,
  twistFromEpoch: 0,
  hyperbolicity: 0,
  timeRegularization: 0,
  clip: 0,
  checkpointing: false,
  evalEvery: 1,
  runName: '',
  runsDir: 'runs',
  maxSteps: 0,
  maxMinutes: 0,
};

function fail(message: string): never {
  throw new TorchError(message, 'config');
}

function positiveInteger(value: unknown, name: string, allowZero = false): void {
  if (!Number.isInteger(value) || (value as number) < (allowZero ? 0 : 1)) {
    fail(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`);
  }
}

function inRange(value: unknown, name: string, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    fail(`${name} must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
}

function oneOf<T extends string>(value: unknown, name: string, options: readonly T[]): void {
  if (!options.includes(value as T)) fail(`${name} must be one of ${options.join(', ')}, got ${JSON.stringify(value)}`);
}

/** The defaults overridden by `overrides` (deeply for augment and modelOptions), validated. */
export function resolveConfig(overrides: Partial<TrainConfig> & { augment?: Partial<AugmentConfig> } = {}): TrainConfig {
  const known = new Set(Object.keys(DEFAULT_CONFIG));
  for (const key of Object.keys(overrides)) if (!known.has(key)) fail(`unknown setting "${key}"`);
  const config: TrainConfig = {
    ...DEFAULT_CONFIG,
    ...overrides,
    modelOptions: { ...DEFAULT_CONFIG.modelOptions, ...overrides.modelOptions },
    augment: { ...DEFAULT_CONFIG.augment, ...overrides.augment },
  } as TrainConfig;
  if (typeof config.model !== 'string' || config.model === '') fail('model must be a model name');
  if (typeof config.data !== 'string' || config.data === '') fail('data must be a path or "synthetic"');
  positiveInteger(config.epochs, 'epochs');
  positiveInteger(config.batchSize, 'batchSize');
  positiveInteger(config.valSplit, 'valSplit', true);
  positiveInteger(config.evalEvery, 'evalEvery');
  positiveInteger(config.maxSteps, 'maxSteps', true);
  inRange(config.maxMinutes, 'maxMinutes', 0, 1e9);
  positiveInteger(config.seed, 'seed', true);
  positiveInteger(config.twistFromEpoch, 'twistFromEpoch', true);
  inRange(config.lr, 'lr', 1e-8, 100);
  inRange(config.momentum, 'momentum', 0, 1);
  inRange(config.weightDecay, 'weightDecay', 0, 1);
  inRange(config.warmup, 'warmup', 0, 1e6);
  inRange(config.gamma, 'gamma', 0, 1);
  inRange(config.lrStartFactor, 'lrStartFactor', 1e-9, 1);
  inRange(config.lrEndFactor, 'lrEndFactor', 1e-12, 1);
  oneOf(config.anneal, 'anneal', ['cos', 'linear'] as const);
  inRange(config.biasLr, 'biasLr', 1e-6, 1e6);
  positiveInteger(config.lookahead, 'lookahead', true);
  positiveInteger(config.ttaTranslate, 'ttaTranslate', true);
  for (const key of ['checkpointing', 'cycleMomentum', 'biasDecay', 'channelsLast', 'tta', 'muonNormalize'] as const) {
    if (typeof config[key] !== 'boolean') fail(`${key} must be true or false, got ${JSON.stringify(config[key])}`);
  }
  if (config.lookahead > 0 && config.ema > 0) fail('lookahead and ema both keep a copy of the weights; choose one');
  inRange(config.labelSmoothing, 'labelSmoothing', 0, 1);
  inRange(config.ema, 'ema', 0, 0.999999);
  inRange(config.hyperbolicity, 'hyperbolicity', 0, 1e6);
  inRange(config.timeRegularization, 'timeRegularization', 0, 1e6);
  inRange(config.clip, 'clip', 0, 1e6);
  oneOf(config.optimizer, 'optimizer', ['sgd', 'adam', 'adamw', 'muon'] as const);
  inRange(config.muonLr, 'muonLr', 1e-8, 100);
  inRange(config.muonMomentum, 'muonMomentum', 0, 0.999999);
  if (config.freezeAfter === null || typeof config.freezeAfter !== 'object' || Array.isArray(config.freezeAfter)) {
    fail(`freezeAfter must map parameter names to epochs, got ${JSON.stringify(config.freezeAfter)}`);
  }
  for (const [name, epochs] of Object.entries(config.freezeAfter)) positiveInteger(epochs, `freezeAfter["${name}"]`, true);
  oneOf(config.schedule, 'schedule', ['onecycle', 'cosine', 'step', 'multistep', 'rise-decay', 'constant'] as const);
  oneOf(config.precision, 'precision', ['fp32', 'bf16'] as const);
  oneOf(config.augment.cropPadding, 'augment.cropPadding', ['zeros', 'reflect'] as const);
  positiveInteger(config.augment.crop, 'augment.crop', true);
  if (![true, false, 'alternate'].includes(config.augment.flip)) {
    fail(`augment.flip must be true, false or "alternate", got ${JSON.stringify(config.augment.flip)}`);
  }
  positiveInteger(config.augment.cutout, 'augment.cutout', true);
  if (!Array.isArray(config.milestones) || config.milestones.some((m) => !Number.isInteger(m) || m < 1)) {
    fail(`milestones must be a list of positive epoch numbers, got ${JSON.stringify(config.milestones)}`);
  }
  if (config.nesterov && ['sgd', 'muon'].includes(config.optimizer) && config.momentum === 0) fail('nesterov needs momentum > 0');
  return config;
}
