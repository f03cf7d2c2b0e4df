/**
 * The training configuration: every setting with its type, range, default, help and flag in one table
 * ({@link TRAIN_SETTINGS}), from which come {@link TrainConfig}, {@link DEFAULT_CONFIG}, the checking of
 * {@link resolveConfig} and the flags of `pdenet train`. A run's resolved configuration is written to
 * `runs/<name>/config.json`, which is enough to rebuild its model.
 * @module
 */
import { INTEGRATORS, NORM_STATS, REGULARIZERS } from '../dynamics/block.js';
import { LAYER_KINDS, NORMS } from '../dynamics/layers.js';
import { type ModelOptions, type RKNetZooOptions, TWIST_MODES } from '../models/options.js';
import type { TwistStep } from '../models/stages.js';
import { modelNames } from '../models/registry.js';
import { SCHEDULES } from '../optim/schedule.js';
import { PLATEAU_RESTORES } from './plateau.js';
import { BOUNDARIES } from '../pde/boundary.js';
import { TWIST_FIELDS, TWIST_VARIANTS } from '../pde/twist.js';
import { TorchError } from '../tensor/errors.js';
import {
  bool,
  choice,
  custom,
  defaultsOf,
  flagsOf,
  getAt,
  group,
  increasingList,
  int,
  intList,
  intMap,
  isObject,
  num,
  partialGroup,
  resolveGroup,
  SettingError,
  settingsOf,
  show,
  text,
  type GroupValue,
} from './settings.js';

export type { ScheduleName } from '../optim/schedule.js';

const MAX_INT = Number.MAX_SAFE_INTEGER;
/** The default of a model option: none here, the model's own (modelOptions holds only the options given). */
const MODELS_OWN = undefined as never;

/** "1,1,1,0", "true,false" or one "true"/"false" for every stage. */
export function parseStageFlags(t: string): boolean | boolean[] | undefined {
  const one = (v: string): boolean | undefined =>
    ['1', 'true', 'on', 'yes'].includes(v) ? true : ['0', 'false', 'off', 'no'].includes(v) ? false : undefined;
  const flags = t.split(',').map((v) => one(v.trim()));
  if (flags.some((f) => f === undefined)) return undefined;
  return t.includes(',') ? (flags as boolean[]) : flags[0]!;
}

const stageFlags = (help: string, defaultText: string) =>
  custom<boolean | boolean[] | undefined>(
    undefined,
    'true, false or one boolean per stage',
    (v) => typeof v === 'boolean' || (Array.isArray(v) && v.every((b) => typeof b === 'boolean')),
    parseStageFlags,
    { help, arg: 'flags', defaultText, flagRule: 'true/false, or one per stage such as 1,1,1,0' },
  );

const FLIPS = { random: true, alternate: 'alternate', off: false } as const;

type Affine = { degrees: number; translate: number; scale: [number, number] } | null;

function validAffine(v: unknown): boolean {
  if (v === null) return true;
  if (!isObject(v) || Object.keys(v).some((k) => !['degrees', 'translate', 'scale'].includes(k))) return false;
  const { degrees, translate, scale } = v;
  const inRange = (x: unknown, lo: number, hi: number) =>
    typeof x === 'number' && Number.isFinite(x) && x >= lo && x <= hi;
  return (
    inRange(degrees, 0, 180) &&
    inRange(translate, 0, 1) &&
    Array.isArray(scale) &&
    scale.length === 2 &&
    inRange(scale[0], 1e-3, 1e3) &&
    inRange(scale[1], scale[0] as number, 1e3)
  );
}

function parseAffine(t: string): Affine | undefined {
  if (t === 'off') return null;
  const [degrees, translate, lo, hi, ...rest] = t.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
  const affine = { degrees: degrees!, translate: translate!, scale: [lo!, hi!] as [number, number] };
  return rest.length === 0 && validAffine(affine) ? affine : undefined;
}

function parseFreeze(t: string): Record<string, number> | undefined {
  const pairs = t.split(',').map((p) => p.split('='));
  if (pairs.some((p) => p.length !== 2 || p[0]!.trim() === '')) return undefined;
  return Object.fromEntries(
    pairs.map(([name, epochs]) => [name!.trim(), epochs!.trim() === '' ? NaN : Number(epochs)]),
  );
}

/** One twist step: `{ epoch, twist }` with twist true, false or one boolean per stage. */
const isTwistStep = (v: unknown): boolean =>
  isObject(v) &&
  Object.keys(v).every((k) => ['epoch', 'twist'].includes(k)) &&
  Number.isInteger(v.epoch) &&
  (v.epoch as number) >= 0 &&
  (typeof v.twist === 'boolean' ||
    (Array.isArray(v.twist) && v.twist.length > 0 && v.twist.every((b) => typeof b === 'boolean')));

function validTwistSchedule(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every(isTwistStep) &&
    v.every((step, i) => i === 0 || (step as TwistStep).epoch > (v[i - 1] as TwistStep).epoch)
  );
}

/** "0:1,0,0,0;5:1,1,0,0": epoch, then the flags of parseStageFlags, step after step. */
function parseTwistSchedule(t: string): TwistStep[] | undefined {
  const steps = t.split(';').map((part) => {
    const [epoch, flags, ...rest] = part.split(':');
    const twist = flags === undefined ? undefined : parseStageFlags(flags);
    return rest.length > 0 || twist === undefined || epoch === undefined || epoch.trim() === ''
      ? null
      : { epoch: Number(epoch), twist };
  });
  return steps.every((s) => s !== null) && validTwistSchedule(steps) ? (steps as TwistStep[]) : undefined;
}

/** Fixed per-channel statistics, or 'data' (the training split's). */
export type NormalizationSetting = 'data' | { mean: number[]; std: number[] };

function validNormalization(v: unknown): boolean {
  if (v === 'data') return true;
  if (!isObject(v) || Object.keys(v).some((k) => !['mean', 'std'].includes(k))) return false;
  const { mean, std } = v;
  const numbers = (x: unknown, positive: boolean) =>
    Array.isArray(x) &&
    x.length > 0 &&
    x.every((n) => typeof n === 'number' && Number.isFinite(n) && (!positive || n > 0));
  return numbers(mean, false) && numbers(std, true) && (mean as number[]).length === (std as number[]).length;
}

/** "data", or "m1,m2,m3/s1,s2,s3". */
function parseNormalization(t: string): NormalizationSetting | undefined {
  if (t === 'data') return 'data';
  const parts = t.split('/');
  if (parts.length !== 2) return undefined;
  const [mean, std] = parts.map((p) => p.split(',').map((s) => (s.trim() === '' ? NaN : Number(s))));
  const value = { mean: mean!, std: std! };
  return validNormalization(value) ? value : undefined;
}

/** Every training setting. Its order is the order of `config.json` and of `pdenet train --help`. */
export const TRAIN_SETTINGS = group({
  model: choice(modelNames(), 'resnet20', { help: 'model from `pdenet models`' }),
  modelOptions: partialGroup<ModelOptions>({
    twist: stageFlags('twist on/off, or per stage: 1,1,1,0', 'off'),
    twistable: stageFlags(
      'stages that own twist parameters, so that --twist-from-epoch can switch them on (notebook and pdenet models: every stage)',
      'as --twist',
    ),
    twistVariant: choice(TWIST_VARIANTS, MODELS_OWN, {
      help: 'how Kx is antisymmetrized',
      arg: 'v',
      defaultText: "the model's",
    }),
    twistField: choice(TWIST_FIELDS, MODELS_OWN, {
      help: "strain (the seeds' Ky) or conformal (rotation and dilation)",
      arg: 'f',
      defaultText: 'strain',
    }),
    twistMode: choice(TWIST_MODES, MODELS_OWN, {
      help:
        "notebook models: projected (the notebook's: the kernels " +
        "overwritten in every forward) or parametrized (pdenet's)",
      arg: 'm',
      defaultText: 'projected',
    }),
    twistInitStd: num(MODELS_OWN, 0, 1e3, {
      help: "notebook models: std of the initial Kx (0: the notebook's default " + 'conv init)',
      defaultText: "the model's",
    }),
    boundary: choice(BOUNDARIES, MODELS_OWN, {
      help: 'boundary condition of every convolution',
      arg: 'bc',
      defaultText: 'zeros',
    }),
    width: int(MODELS_OWN, 1, 65536, { help: 'channels of the first stage', defaultText: "the model's" }),
    whitenEps: num(MODELS_OWN, 1e-12, 1e6, {
      help: 'speednet: ε added to the eigenvalues of the whitening layer',
      defaultText: '5e-4',
    }),
    rknet: partialGroup<RKNetZooOptions>({
      integrator: choice(INTEGRATORS, MODELS_OWN, { help: 'rknet: time integrator', defaultText: 'rk4' }),
      layer: choice(LAYER_KINDS, MODELS_OWN, { help: 'rknet: layer function', defaultText: 'doublesym' }),
      norm: choice(NORMS, MODELS_OWN, { help: 'rknet: normalization', defaultText: 'tv' }),
      tY: increasingList(undefined, {
        help: 'rknet: state time points, e.g. 0,1,2,3,4',
        flag: 'time-points',
        defaultText: '0,1,2,3,4',
      }),
      tTheta: increasingList(undefined, {
        help: 'rknet: control time points',
        flag: 'control-points',
        defaultText: 'the state points',
      }),
      channels: intList(undefined, 1, 'a list of positive channel counts', {
        help: 'rknet: channels of each block',
        defaultText: '16,32,64,64',
      }),
      normStats: choice(NORM_STATS, MODELS_OWN, {
        help: "rknet: BatchNorm statistics per RK stage (the reference's) or " + "per control (pdenet's)",
        flag: 'norm-stats',
        defaultText: 'stage',
      }),
      regularizer: choice(REGULARIZERS, MODELS_OWN, {
        help: "rknet: time regularizer, l1 (the reference's " + "weight_variance) or l2 (pdenet's)",
        defaultText: 'l1',
      }),
      clip: bool(MODELS_OWN, {
        help: "rknet: the reference's box constraints after each step (conv ±0.5, others ±1.5)",
        flag: 'rknet-clip',
        defaultText: 'on',
      }),
    }),
  }),
  data: text('synthetic', {
    help: '"cifar10" or "cifar100" (downloaded when missing), a CIFAR binary folder/.tar.gz, an image folder/.tar.gz, or "synthetic"',
    arg: 'path',
    nonEmpty: 'a dataset name, a path or "synthetic"',
  }),
  valSplit: int(5000, 0, MAX_INT, { help: 'training images held out for validation (at most a fifth of them)' }),
  trainImages: int(0, 0, MAX_INT, {
    help: 'train on this many images of the training split, the same share of each class (0: all of them)',
  }),
  epochs: int(30, 1, 100_000, { help: 'passes over the training split', resumable: 'length' }),
  batchSize: int(128, 1, 1_000_000, { help: 'images per step' }),
  optimizer: choice(['sgd', 'adam', 'adamw', 'muon'] as const, 'sgd', {
    help: "optimizer (muon: Muon for the convolution filters, SGD for the rest, the twist's kernels included)",
  }),
  lr: num(0.2, 1e-8, 100, { help: 'peak learning rate' }),
  momentum: num(0.9, 0, 1, { help: "SGD momentum (Adam's β₁)" }),
  nesterov: bool(true, { help: 'Nesterov momentum' }),
  weightDecay: num(5e-4, 0, 1, { help: 'weight decay (not applied to biases and normalization unless --bias-decay)' }),
  schedule: choice(SCHEDULES, 'onecycle', { help: 'learning-rate schedule' }),
  warmup: num(0.25, 0, 1e6, {
    help: 'one-cycle: fraction of steps rising; cosine: warmup epochs; rise-decay: peak epoch',
  }),
  lrStartFactor: num(1 / 25, 1e-9, 1, {
    help: 'one-cycle: the learning rate starts at lr × this',
    defaultText: '1/25',
  }),
  lrEndFactor: num(1 / 25e4, 1e-12, 1, {
    help: 'one-cycle: the learning rate ends at lr × this',
    defaultText: '1/250000',
  }),
  anneal: choice(['cos', 'linear'] as const, 'cos', { help: 'one-cycle: the shape of the rise and of the fall' }),
  cycleMomentum: bool(true, { help: 'one-cycle: cycle the momentum between 0.95 and 0.85, inversely to the lr' }),
  biasLr: num(1, 1e-6, 1e6, { help: 'learning-rate multiplier of biases and normalization parameters' }),
  biasDecay: bool(false, { help: 'biases and normalization parameters decay too, by weight decay / bias lr' }),
  noDecay: custom<string[] | undefined>(
    undefined,
    'a list of non-empty parameter-name parts',
    (v) => Array.isArray(v) && v.length > 0 && v.every((n) => typeof n === 'string' && n !== ''),
    (t) => t.split(',').map((n) => n.trim()),
    {
      help:
        'the parameters that do not decay (and take --bias-lr) are those whose name contains one of these, e.g. ' +
        'normLayer (instead of every parameter of at most one dimension)',
      arg: 'names',
      flag: 'decay-exempt',
      defaultText: 'biases and normalization',
      flagRule: 'comma-separated non-empty name parts such as normLayer,bias',
    },
  ),
  muonLr: num(0.05, 1e-8, 100, { help: 'muon: peak learning rate of the convolution filters' }),
  muonMomentum: num(0.6, 0, 0.999999, { help: 'muon: momentum of the convolution filters' }),
  muonNormalize: bool(true, { help: 'muon: rescale each filter bank to norm √(output channels) before its step' }),
  freezeAfter: intMap({}, 0, 'a map of parameter names to epochs', parseFreeze, {
    help: 'parameters that learn only for their first epochs, e.g. whiten.bias=3 (0: held at their initial value)',
    arg: 'name=epochs,…',
    defaultText: 'none',
    flagRule: 'name=epochs pairs such as whiten.bias=3,fc.bias=0',
  }),
  lookahead: int(0, 0, MAX_INT, { help: 'pull the weights to a slow copy every k steps (0: off)', arg: 'k' }),
  milestones: intList([], 1, 'a list of positive epoch numbers', {
    help: 'step/multistep: epochs at which the lr drops, e.g. 60,80,100',
    defaultText: 'none',
  }),
  gamma: num(0.1, 0, 1, { help: 'step/multistep: the factor of each drop' }),
  labelSmoothing: num(0.1, 0, 1, { help: 'label smoothing ε' }),
  augment: group({
    crop: int(4, 0, MAX_INT, { help: 'random-crop padding (0: off)', arg: 'pixels', fitsImages: 'below' }),
    cropPadding: choice(['zeros', 'reflect'] as const, 'reflect', { help: 'how the random crop pads' }),
    flip: custom<boolean | 'alternate'>(
      true,
      'true, false or "alternate"',
      (v) => [true, false, 'alternate'].includes(v as never),
      (t) => FLIPS[t as keyof typeof FLIPS],
      {
        help: 'horizontal flips: at random, alternating by epoch (each image seen both ways), or off',
        arg: 'mode',
        words: FLIPS,
      },
    ),
    cutout: int(0, 0, MAX_INT, { help: 'cutout square size (0: off)', arg: 'pixels', fitsImages: 'atMost' }),
    affine: custom<Affine>(
      null,
      'null or { degrees in [0, 180], translate in [0, 1], scale [min, max] with 0 < min ≤ max }',
      validAffine,
      parseAffine,
      {
        help: 'random affine transform: rotation degrees, translation fraction, scale range, e.g. 15,0.1,0.9,1.1',
        arg: 'degrees,translate,min,max',
        defaultText: 'off',
        flagRule: '"off" or degrees,translate,min,max with degrees in [0, 180], translate in [0, 1], 0 < min ≤ max',
      },
    ),
  }),
  ema: num(0, 0, 0.999999, {
    help: 'evaluate an exponential moving average of the weights with this decay (0: off)',
    arg: 'decay',
  }),
  tta: bool(true, { help: 'evaluate with horizontal-flip test-time augmentation', resumable: 'free' }),
  ttaTranslate: int(0, 0, MAX_INT, {
    help: 'the final evaluation also averages over shifts by ± this many pixels (0: off)',
    arg: 'pixels',
    resumable: 'free',
    fitsImages: 'below',
  }),
  channelsLast: bool(false, { help: 'lay out convolution kernels channels-last (faster with bf16 on CPU)' }),
  precision: choice(['fp32', 'bf16'] as const, 'fp32', { help: 'fp32, or bf16 (CPU autocast)', arg: 'p' }),
  seed: int(0, 0, MAX_INT, { help: 'random seed' }),
  twistFromEpoch: int(0, 0, MAX_INT, {
    help: 'train plain until this epoch, then switch the twist on (the schedule ' + '0:off;E:--twist)',
  }),
  twistSchedule: custom<TwistStep[] | undefined>(
    undefined,
    'a list of { epoch, twist } with increasing epochs (non-negative ' +
      'integers) and twist true, false or one boolean per stage',
    validTwistSchedule,
    parseTwistSchedule,
    {
      help: 'the twist of each stage from each epoch on (0-based), e.g. 0:1,0,0,0;5:1,1,0,0 (before the first step: --twist)',
      arg: 'epoch:flags;…',
      defaultText: 'none',
      flagRule: 'epoch:flags steps joined by ";" such as 0:1,0,0,0;5:1,1,0,0',
    },
  ),
  plateau: group({
    patience: int(0, 0, 100_000, {
      help:
        "the notebook's plateau rule: after this many epochs without a better validation accuracy, go back to " +
        'the best weights, lower the learning rate and start the optimizer afresh (0: off)',
      flag: 'plateau-patience',
      arg: 'epochs',
    }),
    factor: num(0.1, 1e-9, 1, {
      help: "plateau rule: the learning rate becomes the best epoch's times this",
      flag: 'plateau-factor',
    }),
    twist: {
      ...stageFlags('plateau rule: the twist of each stage from the first plateau on', 'unchanged'),
      flag: 'plateau-twist',
    },
    restore: choice(PLATEAU_RESTORES, 'weights', {
      help:
        "plateau rule: what goes back to the best epoch's: weights (every weight and statistic, pdenet's) or " +
        "notebook (the notebook's code: only the twist kernels, as its checkpoint shares the other tensors' storage)",
      flag: 'plateau-restore',
    }),
  }),
  normalization: custom<NormalizationSetting | undefined>(
    undefined,
    '"data" or { mean, std }: lists of equal length, ' + 'std positive',
    validNormalization,
    parseNormalization,
    {
      help: "per-channel mean and std in [0, 1] units, e.g. 0.5,0.5,0.5/1,1,1, or data (the training split's)",
      arg: 'mean/std',
      defaultText: 'data',
      flagRule: '"data" or mean/std lists such as 0.5,0.5,0.5/1,1,1',
    },
  ),
  bestBy: choice(['accuracy', 'loss'] as const, undefined as never, {
    help: 'the best weights are those of the highest ' + 'validation accuracy or of the lowest validation loss',
    arg: 'metric',
    defaultText: 'accuracy',
  }),
  hyperbolicity: num(0, 0, 1e6, { help: 'weight of the hyperbolicity regularizer (0: off)', arg: 'weight' }),
  timeRegularization: num(0, 0, 1e6, {
    help:
      "rknet: weight of the time regularizer (the reference's Σ h‖θ_{k+1} − θ_k‖₁; " +
      "modelOptions.rknet.regularizer l2: pdenet's squared) (0: off)",
    arg: 'weight',
  }),
  clip: num(0, 0, 1e6, {
    help:
      'clamp conv and linear weights into [−bound, bound] after each step (0: off; rknet ' +
      'also applies its own box constraints unless --no-rknet-clip)',
    arg: 'bound',
  }),
  checkpointing: bool(false, { help: 'rknet: recompute each block in the backward pass (less memory, more time)' }),
  syncBn: bool(false, {
    help: 'data-parallel runs (--nproc-per-node): normalize BatchNorm with the statistics of the global batch (SyncBatchNorm)',
  }),
  evalEvery: int(1, 1, MAX_INT, { help: 'evaluate every n epochs (and after the last)', resumable: 'free' }),
  runName: text('', {
    help: 'folder name under the runs directory',
    arg: 'name',
    resumable: 'free',
    defaultText: 'model and time',
  }),
  runsDir: text('runs', { help: 'where runs are written', arg: 'dir', resumable: 'free', nonEmpty: 'a folder' }),
  maxSteps: int(0, 0, MAX_INT, {
    help: 'stop, with a checkpoint, after this many steps in total (exit code 3; 0: no limit)',
    resumable: 'session',
  }),
  maxMinutes: num(0, 0, 1e9, {
    help: 'stop, with a checkpoint, after this many minutes of this session (exit code 3; 0: no limit)',
    arg: 'minutes',
    resumable: 'session',
  }),
  budgetMinutes: num(0, 0, 1e9, {
    help:
      'end the run as done once its training time (summed over its sessions, evaluation excluded) reaches this many ' +
      'minutes: the epoch in progress ends there with the final evaluation (exit code 0; 0: no budget)',
    arg: 'minutes',
  }),
  budgetSchedule: choice(['time', 'steps'] as const, 'time', {
    help:
      'with a budget, what the learning-rate schedule (and the lookahead ramp) follows: time runs its whole course ' +
      '(warmup included, shaped as for --epochs) over the budget, the share of the budget spent standing for the ' +
      'share of the steps, and each epoch takes the staged twist and freezeAfter of the epoch the schedule stands in ' +
      'when it starts; steps spans --epochs, so a budget that ends the run first cuts it short',
  }),
});

/** A run's configuration: the values of {@link TRAIN_SETTINGS}. */
export type TrainConfig = GroupValue<typeof TRAIN_SETTINGS>;
export type AugmentConfig = TrainConfig['augment'];
export type OptimizerName = TrainConfig['optimizer'];
export type Precision = TrainConfig['precision'];

/** Settings given to {@link resolveConfig}: any of them, augment's and the model options' one by one. */
export type TrainOverrides = Partial<Omit<TrainConfig, 'augment'>> & { augment?: Partial<AugmentConfig> };

export const DEFAULT_CONFIG: TrainConfig = defaultsOf(TRAIN_SETTINGS) as TrainConfig;

/** The flags of `pdenet train`, one per setting. */
export const TRAIN_FLAGS = flagsOf(TRAIN_SETTINGS);

function fail(message: string): never {
  throw new TorchError(message, 'config');
}

/** The rules that join two settings. */
function checkTogether(config: TrainConfig): void {
  if (config.lookahead > 0 && config.ema > 0) fail('lookahead and ema both keep a copy of the weights; choose one');
  if (config.nesterov && ['sgd', 'muon'].includes(config.optimizer) && config.momentum === 0)
    fail('nesterov needs momentum > 0');
  if (config.plateau.patience > 0 && config.valSplit === 0)
    fail('the plateau rule (plateau.patience) needs validation images to find the best epoch; set valSplit');
  if (config.twistSchedule && config.twistFromEpoch > 0) {
    fail('twistFromEpoch is the twist schedule 0:off;E:--twist; give one of twistFromEpoch and twistSchedule');
  }
}

/** `overrides` checked one by one and the defaults filled in; a bad value is a TorchError naming it. */
function checkedValues(overrides: unknown): TrainConfig {
  try {
    return resolveGroup(TRAIN_SETTINGS, overrides) as TrainConfig;
  } catch (e) {
    if (e instanceof SettingError) fail(e.message);
    throw e;
  }
}

/**
 * Checks `overrides` alone — each value against its setting, unknown keys refused with the setting they
 * most likely meant — without the rules that join settings (a config file that flags complete).
 */
export function checkSettings(overrides: unknown): void {
  checkedValues(overrides);
}

/** The defaults overridden by `overrides` (one by one in augment and modelOptions), checked. */
export function resolveConfig(overrides: TrainOverrides = {}): TrainConfig {
  const config = checkedValues(overrides);
  checkTogether(config);
  return config;
}

/**
 * The settings whose values differ between two configurations (e.g. a checkpoint's and the flags of a
 * `--resume`), each with whether a resumed run may change it.
 */
export function changedSettings(from: TrainConfig, to: TrainConfig): { key: string; resumable: boolean }[] {
  return settingsOf(TRAIN_SETTINGS)
    .filter(([key]) => JSON.stringify(getAt(from, key)) !== JSON.stringify(getAt(to, key)))
    .map(([key, setting]) => ({ key, resumable: setting.resumable !== undefined }));
}

/**
 * Checks the settings that must fit the images (crop padding, cutout, translation TTA) against images of
 * `height`×`width`, before training starts.
 */
export function checkImageSettings(config: TrainConfig, height: number, width: number): void {
  const side = Math.min(height, width);
  for (const [key, setting] of settingsOf(TRAIN_SETTINGS)) {
    if (setting.fitsImages === undefined) continue;
    const value = getAt(config, key) as number;
    const flag = TRAIN_FLAGS.find((f) => f.key === key)!.flags.split(' ')[0];
    if (setting.fitsImages === 'below' ? value >= side : value > side) {
      fail(
        `${key} (${flag}) must be ${setting.fitsImages === 'below' ? 'below' : 'at most'} ${side} for ` +
          `${height}×${width} images, got ${show(value)}`,
      );
    }
  }
}

/**
 * The staged twist a run follows, from epoch 0 on, or null when the twist stays as the model options say:
 * `twistSchedule` (before its first step, `modelOptions.twist`), or `twistFromEpoch` E as the schedule
 * `[{ epoch: 0, twist: false }, { epoch: E, twist: modelOptions.twist }]`.
 */
export function twistScheduleOf(
  config: Pick<TrainConfig, 'twistSchedule' | 'twistFromEpoch' | 'modelOptions'>,
): TwistStep[] | null {
  const twist = config.modelOptions.twist ?? false;
  if (config.twistSchedule) {
    return config.twistSchedule[0]!.epoch > 0 ? [{ epoch: 0, twist }, ...config.twistSchedule] : config.twistSchedule;
  }
  return config.twistFromEpoch > 0
    ? [
        { epoch: 0, twist: false },
        { epoch: config.twistFromEpoch, twist },
      ]
    : null;
}

/** The stages twisted by any of `flags`: true when one of them is, else one boolean per stage. */
function anyTwisted(flags: readonly (boolean | boolean[])[]): boolean | boolean[] {
  if (flags.some((f) => f === true)) return true;
  const lists = flags.filter((f): f is boolean[] => Array.isArray(f));
  if (lists.length === 0) return false;
  return Array.from({ length: Math.max(...lists.map((l) => l.length)) }, (_, i) => lists.some((l) => l[i] === true));
}

/**
 * The options a run's model is built with: with a staged twist, every stage that any step twists (or the plateau
 * rule's twist) owns twist parameters (unless `twistable` says otherwise) and the twist is the last step's — the
 * run's final state but for the plateau rule's.
 */
export function modelOptionsOf(
  config: Pick<TrainConfig, 'twistSchedule' | 'twistFromEpoch' | 'modelOptions' | 'plateau'>,
): ModelOptions {
  const schedule = twistScheduleOf(config);
  const atPlateau = config.plateau.patience > 0 ? config.plateau.twist : undefined;
  if (schedule === null && atPlateau === undefined) return config.modelOptions;
  const twist = schedule === null ? (config.modelOptions.twist ?? false) : schedule.at(-1)!.twist;
  const steps = [...(schedule ?? []).map((s) => s.twist), twist, ...(atPlateau === undefined ? [] : [atPlateau])];
  return { ...config.modelOptions, twistable: config.modelOptions.twistable ?? anyTwisted(steps), twist };
}
