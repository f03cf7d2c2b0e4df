/**
 * The options every model of the zoo takes, and their checking.
 *
 * One vocabulary for all models, typed per family: `numClasses`, `boundary`, `width` for every model
 * ({@link BaseModelOptions}); `twist` (per stage), `twistable`, `twistVariant`, `twistField` for the twisted ones
 * ({@link TwistModelOptions}); `twistMode` and `twistInitStd` for the notebook's models, `whitenEps` for SpeedNet,
 * `rknet` for RKNet. {@link ModelOptions} is all of them. A bad value or an unknown key throws a TorchError that
 * lists what is valid.
 * @module
 */
import { check, TorchError } from '../tensor/errors.js';
import { BOUNDARIES, type Boundary } from '../pde/boundary.js';
import { TWIST_FIELDS, TWIST_VARIANTS, type TwistField, type TwistVariant } from '../pde/twist.js';
import type { IntegratorName, NormStatsMode as NormStats, Regularizer } from '../dynamics/block.js';
import type { LayerKind, NormKind } from '../dynamics/layers.js';

/** How the notebook models train their twist kernels (see {@link NotebookModelOptions.twistMode}). */
export const TWIST_MODES = ['projected', 'parametrized'] as const;

export type TwistMode = (typeof TWIST_MODES)[number];

/** The options every model of the zoo takes. */
export interface BaseModelOptions {
  /** Size of the classifier's output (default 10). */
  numClasses?: number;
  /** The boundary condition of every convolution (default "zeros", i.e. the usual zero padding). */
  boundary?: Boundary;
  /** Channels of the first stage (each later stage doubles it). Default: the architecture's own. */
  width?: number;
}

/** The options of the models with a twist (every model of the zoo but RKNet). */
export interface TwistModelOptions extends BaseModelOptions {
  /**
   * The twist, on or off, for all stages (`true`) or per stage (`[true, true, true, false]`: one flag per
   * stage, i.e. per resolution). Default false. Switch it later with {@link setTwist}.
   */
  twist?: boolean | boolean[];
  /**
   * Which stages own the twist's parameters (Kx), so that {@link setTwist} can turn their twist on
   * later without rebuilding the model. Default: the stages whose `twist` is on. A stage that is not
   * twistable has plain 3×3 convolutions and exactly the parameters (and state-dict keys) of the plain
   * architecture. Pass `twistable: true, twist: false` to start plain and turn the twist on after the
   * first epochs, as the seed notebook does. Models whose twist parameters are part of the
   * architecture (`notebook-*`, `resnet50-seed003`, `pdenet-*`) are twistable in every stage.
   */
  twistable?: boolean | boolean[];
  /**
   * How Kx is projected from its parameter (see `TwistVariant` in src/pde/twist.ts): `point` (the notebook's
   * BasicBlock and PDEBlock), `doubly-odd` (the notebook's Bottleneck, as its code does: Kx ∝ ∂x∂y) or
   * `mirror` (pdenet's). Default: the notebook's for the `notebook-*` models (point, or doubly-odd for the
   * Bottleneck ones); point for pdenet's BasicBlock models, mirror for its Bottleneck models. Ignored by
   * `resnet50-seed003`, whose twist is a coordinate mix.
   */
  twistVariant?: TwistVariant;
  /**
   * Which vector fields the twist can learn (see `TwistField` in src/pde/twist.ts): `strain` (the notebook's
   * BasicBlock and PDEBlock; the default but for the notebook's Bottleneck models) or `conformal` (rotation
   * and dilation; the notebook's Bottleneck).
   */
  twistField?: TwistField;
}

/** The options of the `notebook-*` models. */
export interface NotebookModelOptions extends TwistModelOptions {
  /**
   * How the twist kernels are trained (see src/models/notebook.ts).
   * `projected` (default, the notebook's): every forward overwrites the parameters `convNx.weight` with the
   * projected Kx and `convNy.weight` with its rotation, and each gets the gradient of its own convolution
   * (Ky's is then discarded by the next overwrite). `parametrized` (pdenet's): Kx and Ky are computed from
   * `convNx.weight` in the forward, so its gradient flows through the projection and the rotation.
   */
  twistMode?: TwistMode;
  /**
   * Start `convNx.weight` at twistInitStd·randn (pdenet's choice is 0.01) instead of the notebook's default
   * convolution initialization.
   */
  twistInitStd?: number;
}

/** The options of the `speednet` model. */
export interface SpeedNetModelOptions extends TwistModelOptions {
  /**
   * ε added to the patch covariance's eigenvalues by the whitening layer (default 5·10⁻⁴, the speed runs').
   * Directions with eigenvalue λ come out with variance λ/(λ + ε): a larger ε damps the faint ones.
   */
  whitenEps?: number;
}

/** The options of the `rknet` model (it has no twist: `twist` may only be false). */
export interface RKNetModelOptions extends BaseModelOptions {
  /** The dynamic blocks (see {@link RKNetZooOptions}). */
  rknet?: RKNetZooOptions;
}

/**
 * Every model's options together: what {@link createModel} takes for a model named at run time (a
 * configuration file, a flag). Each factory takes its own family's type.
 */
export interface ModelOptions extends NotebookModelOptions, SpeedNetModelOptions, RKNetModelOptions {}

/** The options of the `rknet` model (DynamicBlocks, seed 004); see RKNetOptions in src/dynamics/rknet.ts. */
export interface RKNetZooOptions {
  integrator?: IntegratorName;
  layer?: LayerKind;
  norm?: NormKind;
  /** BatchNorm statistics per RK stage (default, the reference's) or per control (pdenet's). */
  normStats?: NormStats;
  /** Time regularizer: l1 (default, the reference's weight_variance) or l2 (pdenet's). */
  regularizer?: Regularizer;
  /** The reference's box constraints after each step (default true). */
  clip?: boolean;
  /** State time points of every block (default [0, 1, 2, 3, 4]). */
  tY?: number[];
  /** Control time points (default: tY). */
  tTheta?: number[];
  /** The reference's vFeat: channels of each block, the last for the last connecting layer (default [16, 32, 64, 64]). */
  channels?: number[];
}

/** The keys of {@link ModelOptions}. */
export const MODEL_OPTION_KEYS: readonly (keyof ModelOptions)[] = [
  'numClasses',
  'twist',
  'twistable',
  'twistVariant',
  'twistField',
  'twistMode',
  'twistInitStd',
  'boundary',
  'width',
  'rknet',
  'whitenEps',
];

/** {@link ModelOptions} with every value decided, per stage where it varies by stage. */
export interface ResolvedOptions {
  numClasses: number;
  twist: boolean[];
  twistable: boolean[];
  twistVariant: TwistVariant;
  twistField: TwistField;
  twistMode: TwistMode;
  /** null: the default convolution initialization of Kx's parameter. */
  twistInitStd: number | null;
  boundary: Boundary;
  width: number;
}

/** What an architecture fixes about its options. */
export interface OptionRules {
  stages: number;
  defaultWidth: number;
  defaultVariant: TwistVariant;
  /** Default of `twistField` (default "strain"). */
  defaultField?: TwistField;
  /** Default of `twist` (default false). */
  defaultTwist?: boolean;
  /** The model takes `twistMode` and `twistInitStd` (the notebook models). */
  twistModes?: boolean;
  /** The twist's parameters are part of the architecture: every stage is twistable. */
  alwaysTwistable?: boolean;
  /** `width` must be a multiple of this (e.g. the groups of a PDEBlock). */
  widthMultipleOf?: number;
  /** The twist has no Ky to derive (a coordinate mix): `twistField` is refused. */
  noTwistField?: boolean;
}

/** One flag per stage from `boolean | boolean[]`, or a TorchError naming the option. */
export function stageFlags(op: string, option: string, value: unknown, stages: number): boolean[] {
  if (typeof value === 'boolean') return new Array<boolean>(stages).fill(value);
  check(
    Array.isArray(value) && value.length === stages && value.every((v) => typeof v === 'boolean'),
    op,
    () => `${option} must be a boolean or an array of ${stages} booleans (one per stage), got ${JSON.stringify(value)}`,
  );
  return [...value];
}

/** Checks `options` for the model `name` and fills in the defaults of its architecture. */
export function resolveOptions(name: string, given: NotebookModelOptions, rules: OptionRules): ResolvedOptions {
  const op = `models.${name}`;
  check(typeof given === 'object' && given !== null, op, 'options must be an object');
  // Callers that name the model at run time pass any model's options: refuse another family's.
  const options: ModelOptions = given;
  check(options.rknet === undefined, op, 'the rknet options apply to the rknet model only');
  check(options.whitenEps === undefined, op, 'whitenEps applies to the speednet model only');
  const unknown = Object.keys(options).filter((k) => !(MODEL_OPTION_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new TorchError(
      `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; ` +
        `the options are ${MODEL_OPTION_KEYS.join(', ')}`,
      op,
    );
  }
  check(
    rules.twistModes || (options.twistMode === undefined && options.twistInitStd === undefined),
    op,
    'twistMode and twistInitStd apply to the notebook-* models only',
  );
  const {
    numClasses = 10,
    twist = rules.defaultTwist ?? false,
    twistVariant = rules.defaultVariant,
    boundary = 'zeros',
    width = rules.defaultWidth,
    twistMode = 'projected',
    twistInitStd,
  } = options;
  check(
    !rules.noTwistField || options.twistField === undefined,
    op,
    `${name} has no Ky to derive from Kx (its twist is a coordinate mix): twistField does not apply`,
  );
  const twistField = options.twistField ?? rules.defaultField ?? 'strain';
  check(Number.isInteger(numClasses) && numClasses > 0, op, `numClasses must be a positive integer, got ${numClasses}`);
  oneOf(op, 'twistVariant', twistVariant, TWIST_VARIANTS);
  oneOf(op, 'boundary', boundary, BOUNDARIES);
  oneOf(op, 'twistField', twistField, TWIST_FIELDS);
  oneOf(op, 'twistMode', twistMode, TWIST_MODES);
  const multiple = rules.widthMultipleOf ?? 1;
  check(
    Number.isInteger(width) && width > 0 && width % multiple === 0,
    op,
    `width must be a positive integer${multiple > 1 ? ` divisible by ${multiple}` : ''}, got ${width}`,
  );
  check(
    twistInitStd === undefined || (Number.isFinite(twistInitStd) && twistInitStd >= 0),
    op,
    `twistInitStd must be a finite number ≥ 0, got ${JSON.stringify(twistInitStd)}`,
  );
  const twistFlags = stageFlags(op, 'twist', twist, rules.stages);
  return {
    numClasses,
    twist: twistFlags,
    twistable: twistableFlags(op, name, options.twistable, twistFlags, rules),
    twistVariant,
    twistField,
    twistMode,
    twistInitStd: twistInitStd ?? null,
    boundary,
    width,
  };
}

/** Refuses a value outside its allowed list, naming the option and the list. */
function oneOf<T>(op: string, option: string, value: T, allowed: readonly T[]): void {
  check(allowed.includes(value), op, `${option} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
}

/**
 * The stages that own twist parameters: all of them for an always-twistable model (which refuses
 * `twistable: false`), else `twistable` as given (default: the twisted stages), which must cover the twist.
 */
function twistableFlags(
  op: string,
  name: string,
  given: ModelOptions['twistable'],
  twistFlags: boolean[],
  rules: OptionRules,
): boolean[] {
  if (rules.alwaysTwistable) {
    // Every stage owns its twist parameters: the stages a staged twist asks for are always among them; none is not.
    check(
      given !== false,
      op,
      `every stage of ${name} is twistable (its twist parameters are part of the architecture); twistable cannot be false`,
    );
    if (given !== undefined) stageFlags(op, 'twistable', given, rules.stages);
    return new Array<boolean>(rules.stages).fill(true);
  }
  const twistable = given === undefined ? twistFlags : stageFlags(op, 'twistable', given, rules.stages);
  twistFlags.forEach((on, i) =>
    check(
      !on || twistable[i],
      op,
      `stage ${i} has twist on but twistable false; a twisted stage needs its twist parameters`,
    ),
  );
  return twistable;
}
