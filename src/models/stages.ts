/**
 * Stages and the twist switch shared by every model of the zoo.
 *
 * A *stage* is a run of blocks at one resolution (ResNet's layer1..layer4). The twist is decided per
 * stage: twisting the coarse last stage of a CIFAR ResNet (4×4 pixels) buys little, and the seed
 * notebook turns the twist on only after the first epochs. So every model records, per stage, the
 * convolutions whose coefficients may vary in space, and {@link setTwist} flips their flags in place —
 * no parameter is created or removed, so an optimizer built on `model.parameters()` stays valid.
 * @module
 */
import { check, TorchError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Module } from '../nn/module.js';
import type { Boundary } from '../pde/boundary.js';
import { type CoordMixConv2d, TwistConv2d, type TwistField, type TwistVariant } from '../pde/twist.js';
import { type ResolvedOptions, stageFlags } from './options.js';

/** Anything whose twist is switched by a flag: a TwistConv2d, a CoordMixConv2d, a notebook block. */
export interface TwistSwitch {
  twist: boolean;
}

/** A member of a stage: twistable (TwistConv2d, CoordMixConv2d, a notebook block) or plain (Conv2d). */
export type StageConv = TwistConv2d | CoordMixConv2d | TwistSwitch | Conv2d;

/**
 * A model of the zoo: a Module whose forward maps images N×3×H×W to logits N×numClasses, and which
 * knows which convolutions belong to which stage.
 */
export abstract class ZooModel extends Module {
  /** Per stage, the 3×3 convolutions of the residual path (registered inside the blocks, listed here). */
  readonly stageConvs: StageConv[][] = [];

  abstract override forward(input: Tensor): Tensor;

  /** Starts a new stage; the convolutions made by {@link conv3x3} until the next call belong to it. */
  protected beginStage(): void {
    this.stageConvs.push([]);
  }

  /**
   * Starts stage `i` (see {@link beginStage}) and returns what its blocks build their 3×3 convolutions with: the
   * stage's twist options and the recorder that lists the convolutions in it.
   */
  protected stageContext(i: number, options: ResolvedOptions): BlockContext {
    this.beginStage();
    return {
      boundary: options.boundary,
      twistable: options.twistable[i]!,
      twist: options.twist[i]!,
      variant: options.twistVariant,
      field: options.twistField,
      record: (conv) => this.inStage(conv),
    };
  }

  /** Records a convolution in the current stage and returns it. */
  protected inStage<C extends StageConv>(conv: C): C {
    check(
      this.stageConvs.length > 0,
      this.constructor.name,
      'beginStage() must come before the first stage convolution',
    );
    this.stageConvs.at(-1)!.push(conv);
    return conv;
  }
}

/** Options of {@link conv3x3}. */
export interface Conv3x3Options {
  stride?: number;
  boundary: Boundary;
  /** Own the twist's parameter Kx (a TwistConv2d); otherwise a plain Conv2d. */
  twistable: boolean;
  twist: boolean;
  variant: TwistVariant;
  /** Which rotation gives Ky (see TwistField). */
  field?: TwistField;
}

/** The stem's convolution: the image's 3 channels to `width`, 3×3, bias-free, padded by the boundary condition. */
export function stemConv(width: number, boundary: Boundary): Conv2d {
  return new Conv2d(3, width, 3, { padding: 1, bias: false, paddingMode: boundary });
}

/** How a stage's blocks make their 3×3 convolutions (boundary, twist), and the recorder that lists them in it. */
export interface BlockContext extends Omit<Conv3x3Options, 'stride'> {
  /** Called with every 3×3 convolution of the residual path, so the model can list it in its stage. */
  record: <C extends TwistConv2d | Conv2d>(conv: C) => C;
}

/**
 * The 3×3 convolution of a residual path, bias-free and padded by the boundary condition: a
 * TwistConv2d when the stage is twistable (parameters `weight` = K and `kx`), else a Conv2d whose only
 * parameter `weight` has the plain architecture's name and shape. With the twist off the two compute
 * the same function of `weight`.
 */
export function conv3x3(inChannels: number, outChannels: number, options: Conv3x3Options): TwistConv2d | Conv2d {
  const { stride = 1, boundary, twistable, twist, variant, field } = options;
  return twistable
    ? new TwistConv2d(inChannels, outChannels, { stride, boundary, twist, variant, field })
    : new Conv2d(inChannels, outChannels, 3, { stride, padding: 1, bias: false, paddingMode: boundary });
}

function asZooModel(model: Module, op: string): ZooModel {
  if (!(model instanceof ZooModel)) {
    throw new TorchError(`expects a model of the zoo (made by createModel), got ${model?.constructor?.name}`, op);
  }
  return model;
}

/**
 * Turns the twist on or off, for every stage (`true`/`false`) or per stage (`[true, true, true, false]`),
 * in place: the flags of the stages' TwistConv2d / CoordMixConv2d change, the parameters do not (the
 * optimizer is unaffected; Kx simply receives no gradient while its stage is untwisted). The seed
 * notebook trains the first epochs plain and then turns the twist on.
 *
 * Throws (changing nothing) when asked to twist a stage built without twist parameters — create the
 * model with `twistable: true` for that.
 */
export function setTwist(model: Module, twist: boolean | boolean[]): void {
  const zoo = asZooModel(model, 'setTwist');
  const flags = stageFlags('setTwist', 'twist', twist, zoo.stageConvs.length);
  flags.forEach((on, stage) =>
    check(
      !on || zoo.stageConvs[stage]!.every((c) => !(c instanceof Conv2d)),
      'setTwist',
      `stage ${stage} of ${zoo.constructor.name} was built without twist parameters; ` +
        'create the model with twistable: true (or twist on for that stage) to switch it later',
    ),
  );
  flags.forEach((on, stage) => {
    for (const conv of zoo.stageConvs[stage]!) if (!(conv instanceof Conv2d)) conv.twist = on;
  });
}

/**
 * Whether any layer of the model computes its twist now: a twisted convolution or notebook block whose `twist`
 * flag is on. False for a model without twisted layers (a plain network, an RKNet).
 */
export function twistOn(model: Module): boolean {
  for (const m of model.modules()) if ((m as { twist?: unknown }).twist === true) return true;
  return false;
}

/**
 * The parameters of the twist's variable-coefficient terms in any model: Kx's free parameter of every
 * TwistConv2d, and the notebook blocks' `convNx.weight` and `convNy.weight`. Their scale against K's is the
 * twist's strength, so an optimizer that normalizes filters (Muon's `normalizeWeights`) must leave them out.
 */
export function twistParameters(model: Module): Set<Tensor> {
  const found = new Set<Tensor>();
  for (const m of model.modules()) {
    const own = (m as { twistParameters?: () => Tensor[] }).twistParameters;
    if (typeof own === 'function') for (const p of own.call(m)) found.add(p);
  }
  return found;
}

/** The current twist flag of each stage (true when every twistable convolution of the stage is twisted). */
export function twistStages(model: Module): boolean[] {
  const zoo = asZooModel(model, 'twistStages');
  return zoo.stageConvs.map((convs) => convs.length > 0 && convs.every((c) => !(c instanceof Conv2d) && c.twist));
}

/** Whether each stage owns twist parameters (so that {@link setTwist} can turn it on). */
export function twistableStages(model: Module): boolean[] {
  const zoo = asZooModel(model, 'twistableStages');
  return zoo.stageConvs.map((convs) => convs.length > 0 && convs.every((c) => !(c instanceof Conv2d)));
}

/**
 * A staged twist: from `epoch` on (0-based, inclusive), the stages' twist flags are `twist` (one boolean for
 * all stages or one per stage). The seed notebook turns on layer1 before the first epoch and layer1 and
 * layer2 at its first learning-rate drop: `[{ epoch: 0, twist: [true, false, false, false] },
 * { epoch: E, twist: [true, true, false, false] }]`.
 */
export interface TwistStep {
  epoch: number;
  twist: boolean | boolean[];
}

/** Checks a staged twist: epochs non-negative integers in increasing order. */
export function checkTwistSchedule(schedule: readonly TwistStep[]): void {
  check(Array.isArray(schedule), 'twistSchedule', 'the twist schedule must be an array of { epoch, twist }');
  schedule.forEach((step, i) => {
    check(
      typeof step === 'object' && step !== null && Number.isInteger(step.epoch) && step.epoch >= 0,
      'twistSchedule',
      () => `step ${i}: epoch must be a non-negative integer, got ${JSON.stringify(step?.epoch)}`,
    );
    check(
      i === 0 || step.epoch > schedule[i - 1]!.epoch,
      'twistSchedule',
      () => `step ${i}: epochs must increase, got ${schedule[i - 1]!.epoch} then ${step.epoch}`,
    );
    check(
      typeof step.twist === 'boolean' || Array.isArray(step.twist),
      'twistSchedule',
      () => `step ${i}: twist must be a boolean or one boolean per stage, got ${JSON.stringify(step.twist)}`,
    );
  });
}

/** The step of a staged twist in force at `epoch`: the last one at or before it (undefined when none is). */
export function twistStepAt(schedule: readonly TwistStep[], epoch: number): TwistStep | undefined {
  return schedule.filter((s) => s.epoch <= epoch).at(-1);
}

/**
 * Applies the staged twist at the start of `epoch`: the flags of the last step at or before it (nothing
 * when none is). Returns the stages' flags afterwards. Call it before every epoch (also when resuming:
 * it finds the step in force, not only one that starts at `epoch`).
 */
export function applyTwistSchedule(model: Module, schedule: readonly TwistStep[], epoch: number): boolean[] {
  checkTwistSchedule(schedule);
  const step = twistStepAt(schedule, epoch);
  if (step !== undefined) setTwist(model, step.twist);
  return twistStages(model);
}
