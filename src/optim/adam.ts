/**
 * Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay, and AMSGrad.
 * @module
 */
import { tensor, zerosLike } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import { keep } from '../tensor/memory.js';
import { powScalar, type Tensor } from '../tensor/tensor.js';
import * as foreach from '../tensor/foreach.js';
import { type BaseOptions, Optimizer, type OptimizerGroup, type ParamGroup, type StateSpec } from './optimizer.js';

/** The options of {@link Adam} and {@link AdamW} (PyTorch's names in camelCase). */
export interface AdamOptions extends BaseOptions {
  /** γ, the learning rate (default 1e-3). */
  lr: number;
  /** (β₁, β₂), the decay rates of the moment estimates (default [0.9, 0.999]). */
  betas: readonly [number, number];
  /** ε, added to the denominator (default 1e-8). */
  eps: number;
  /** λ: Adam adds λ·θ to the gradient (default 0); AdamW shrinks θ by 1 − γλ (default 1e-2). */
  weightDecay: number;
  /** Use AMSGrad: the running maximum of the second moment (default false). */
  amsgrad: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** The state of one parameter, named as in PyTorch. */
export interface AdamState {
  /** t, the number of updates of this parameter. */
  step: number;
  /** m, the moving average of the gradient. */
  exp_avg: Tensor;
  /** v, the moving average of the squared gradient. */
  exp_avg_sq: Tensor;
  /** v̂ᵐᵃˣ, the running maximum of v (with amsgrad). */
  max_exp_avg_sq?: Tensor;
}

/** The parameters and state tensors at one step count t (usually all of a group's). */
interface Batch {
  params: Tensor[];
  expAvgs: Tensor[];
  expAvgSqs: Tensor[];
  maxExpAvgSqs: Tensor[];
}

/**
 * [β₁ᵗ, β₂ᵗ] as Python computes `beta ** step` (C's `pow`, here through libtorch), so that the bias
 * corrections agree with PyTorch's to the bit: JavaScript's `**` multiplies by repeated squaring and rounds
 * differently for some t (0.9 ** 4 is 0.6561000000000001).
 */
function powers(beta1: number, beta2: number, t: number): [number, number] {
  const exponent = tensor([t], { dtype: 'float64' });
  return [powScalar(beta1, exponent).item(), powScalar(beta2, exponent).item()];
}

/**
 * The update shared by {@link Adam} and {@link AdamW}; they differ in their weight decay only.
 * All parameters of a group are updated together with libtorch's multi-tensor `_foreach_*` operators.
 */
export abstract class AdamBase extends Optimizer<AdamOptions, AdamState> {
  readonly #decoupled: boolean;

  protected constructor(
    name: string,
    decoupled: boolean,
    params: Iterable<Tensor> | Iterable<ParamGroup<AdamOptions>>,
    options: Partial<AdamOptions>,
  ) {
    super(
      name,
      params,
      {
        lr: 1e-3,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weightDecay: decoupled ? 1e-2 : 0,
        amsgrad: false,
        maximize: false,
      },
      options,
    );
    this.#decoupled = decoupled;
  }

  protected override checkOptions(o: AdamOptions, op: string): void {
    check(o.lr >= 0, op, `invalid learning rate: ${o.lr}`);
    check(o.eps >= 0, op, `invalid epsilon value: ${o.eps}`);
    check(Array.isArray(o.betas) && o.betas.length === 2, op, 'betas must be two numbers [β₁, β₂]');
    check(o.betas[0] >= 0 && o.betas[0] < 1, op, `invalid beta parameter at index 0: ${o.betas[0]}`);
    check(o.betas[1] >= 0 && o.betas[1] < 1, op, `invalid beta parameter at index 1: ${o.betas[1]}`);
    check(o.weightDecay >= 0, op, `invalid weightDecay value: ${o.weightDecay}`);
  }

  protected override stateSpec(o: AdamOptions): StateSpec {
    const spec: StateSpec = { step: 'number', exp_avg: 'tensor', exp_avg_sq: 'tensor' };
    if (o.amsgrad) spec.max_exp_avg_sq = 'tensor';
    return spec;
  }

  protected override update(group: OptimizerGroup<AdamOptions>, params: Tensor[], grads: Tensor[]): void {
    const {
      lr,
      betas: [beta1, beta2],
      eps,
      weightDecay,
      amsgrad,
      maximize,
    } = group;
    const states = params.map((p) => {
      let s = this.state.get(p);
      if (s === undefined) {
        s = { step: 0, exp_avg: keep(zerosLike(p)), exp_avg_sq: keep(zerosLike(p)) };
        this.state.set(p, s);
      }
      if (amsgrad && s.max_exp_avg_sq === undefined) s.max_exp_avg_sq = keep(zerosLike(p));
      s.step += 1;
      return s;
    });
    let g = maximize ? foreach.neg(grads) : grads;
    if (this.#decoupled) {
      if (weightDecay !== 0) foreach.mul_(params, 1 - lr * weightDecay);
    } else if (weightDecay !== 0) {
      g = foreach.add(g, params, weightDecay);
    }
    const expAvgs = states.map((s) => s.exp_avg);
    const expAvgSqs = states.map((s) => s.exp_avg_sq);
    foreach.mul_(expAvgs, beta1);
    foreach.add_(expAvgs, g, 1 - beta1);
    foreach.mul_(expAvgSqs, beta2);
    foreach.addcmul_(expAvgSqs, g, g, 1 - beta2);

    // The bias corrections depend on t; parameters that missed steps have a smaller t.
    const batches = new Map<number, Batch>();
    states.forEach((s, i) => {
      let b = batches.get(s.step);
      if (b === undefined) batches.set(s.step, (b = { params: [], expAvgs: [], expAvgSqs: [], maxExpAvgSqs: [] }));
      b.params.push(params[i]!);
      b.expAvgs.push(s.exp_avg);
      b.expAvgSqs.push(s.exp_avg_sq);
      if (amsgrad) b.maxExpAvgSqs.push(s.max_exp_avg_sq!);
    });
    for (const [step, b] of batches) {
      const [beta1t, beta2t] = powers(beta1, beta2, step);
      const biasCorrection1 = 1 - beta1t;
      const biasCorrection2 = 1 - beta2t;
      const stepSize = lr / biasCorrection1;
      const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);
      let second = b.expAvgSqs;
      if (amsgrad) {
        foreach.maximum_(b.maxExpAvgSqs, b.expAvgSqs);
        second = b.maxExpAvgSqs;
      }
      const denom = foreach.sqrt(second);
      foreach.div_(denom, biasCorrection2Sqrt);
      foreach.addScalar_(denom, eps);
      foreach.addcdiv_(b.params, b.expAvgs, denom, -stepSize);
    }
  }
}

/**
 * Adam (Kingma & Ba, 2015), PyTorch's `torch.optim.Adam` (1.13) step for step. With gradient g, parameter
 * θ, and t the parameter's step count:
 *
 * ```text
 * g ← −g                       if maximize
 * g ← g + λ·θ                  if λ ≠ 0      (weight decay as an L2 term)
 * m ← β₁·m + (1 − β₁)·g
 * v ← β₂·v + (1 − β₂)·g²
 * v̂ ← max(v̂, v) and use v̂ for v below      if amsgrad
 * θ ← θ − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
 * ```
 *
 * @example
 * const opt = new Adam(model.parameters(), { lr: 3e-4 });
 */
export class Adam extends AdamBase {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroup<AdamOptions>>, options: Partial<AdamOptions> = {}) {
    super('Adam', false, params, options);
  }
}

/**
 * AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, PyTorch's `torch.optim.AdamW`
 * (1.13) step for step. Before the Adam update (without an L2 term):
 *
 * ```text
 * θ ← θ·(1 − γ·λ)
 * ```
 *
 * The default weight decay λ is 1e-2, as in PyTorch.
 *
 * @example
 * const opt = new AdamW(parameterGroupsForWeightDecay(model.namedParameters(), 0.05), { lr: 1e-3 });
 */
export class AdamW extends AdamBase {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroup<AdamOptions>>, options: Partial<AdamOptions> = {}) {
    super('AdamW', true, params, options);
  }
}
