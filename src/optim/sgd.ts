/**
 * Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.
 * @module
 */
import { check } from '../tensor/errors.js';
import { keep } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import * as foreach from '../tensor/foreach.js';
import { type BaseOptions, Optimizer, type OptimizerGroup, type ParamGroup, type StateSpec } from './optimizer.js';

/** The options of {@link SGD} (PyTorch's names in camelCase). */
export interface SGDOptions extends BaseOptions {
  /** γ, the learning rate (required). */
  lr: number;
  /** μ, the momentum factor (default 0: no momentum). */
  momentum: number;
  /** τ, the dampening of momentum (default 0). */
  dampening: number;
  /** λ, the L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** The state of one parameter: its momentum buffer (null without momentum), as in PyTorch. */
export interface SGDState {
  momentum_buffer: Tensor | null;
}

/**
 * Stochastic gradient descent, PyTorch's `torch.optim.SGD` (1.13) step for step. With gradient g, parameter θ:
 *
 * ```text
 * g ← −g                        if maximize
 * g ← g + λ·θ                   if λ ≠ 0            (weight decay)
 * b ← g                         at a parameter's first step with μ ≠ 0
 * b ← μ·b + (1 − τ)·g           at later steps
 * g ← g + μ·b  if nesterov, else  g ← b             (if μ ≠ 0)
 * θ ← θ − γ·g
 * ```
 *
 * All parameters of a group are updated together with libtorch's multi-tensor `_foreach_*` operators.
 *
 * @example
 * const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
 * tidy(() => { opt.zeroGrad(); lossOf(model).backward(); opt.step(); });
 */
export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(
    params: Iterable<Tensor> | Iterable<ParamGroup<SGDOptions>>,
    options: Partial<SGDOptions> & { lr: number },
  ) {
    super(
      'SGD',
      params,
      { lr: NaN, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false },
      options,
    );
  }

  protected override checkOptions(o: SGDOptions, op: string): void {
    check(o.lr >= 0, op, Number.isNaN(o.lr) ? 'needs a learning rate (lr)' : `invalid learning rate: ${o.lr}`);
    check(o.momentum >= 0, op, `invalid momentum value: ${o.momentum}`);
    check(o.weightDecay >= 0, op, `invalid weightDecay value: ${o.weightDecay}`);
    check(
      !o.nesterov || (o.momentum > 0 && o.dampening === 0),
      op,
      'Nesterov momentum requires a momentum and zero dampening',
    );
  }

  protected override stateSpec(): StateSpec {
    return { momentum_buffer: 'tensor?' };
  }

  protected override update(group: OptimizerGroup<SGDOptions>, params: Tensor[], grads: Tensor[]): void {
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
    let d = maximize ? foreach.neg(grads) : grads;
    if (weightDecay !== 0) d = foreach.add(d, params, weightDecay);
    d = momentumDirection(this.state, params, d, momentum, dampening, nesterov);
    foreach.add_(params, d, -lr);
  }
}

/**
 * The momentum part of SGD's step, shared with Muon's (muon.ts): advances each parameter's buffer b by the
 * direction d (b ← d at its first step, then b ← μ·b + (1 − τ)·d) and returns the update direction,
 * d + μ·b with Nesterov momentum, else b (d itself without momentum).
 */
export function momentumDirection(
  state: Map<Tensor, SGDState>,
  params: readonly Tensor[],
  d: readonly Tensor[],
  momentum: number,
  dampening: number,
  nesterov: boolean,
): Tensor[] {
  if (momentum === 0) {
    for (const p of params) if (!state.has(p)) state.set(p, { momentum_buffer: null });
    return [...d];
  }
  const bufs: Tensor[] = [];
  const old: Tensor[] = [];
  const oldD: Tensor[] = [];
  params.forEach((p, i) => {
    let buf = state.get(p)?.momentum_buffer ?? null;
    if (buf === null) {
      buf = keep(d[i]!.clone());
      state.set(p, { momentum_buffer: buf });
    } else {
      old.push(buf);
      oldD.push(d[i]!);
    }
    bufs.push(buf);
  });
  foreach.mul_(old, momentum);
  foreach.add_(old, oldD, 1 - dampening);
  return nesterov ? foreach.add(d, bufs, momentum) : bufs;
}
