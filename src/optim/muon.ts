/**
 * Muon: momentum, orthogonalized (Jordan et al., "Muon: an optimizer for hidden layers in neural networks",
 * 2024; the optimizer of the CIFAR-10 and NanoGPT speed-run records). A weight matrix W (a convolution's
 * filters flattened to out × in·k·k) is updated not along its momentum M but along the nearest
 * semi-orthogonal matrix, UVᵀ where M = UΣVᵀ: every direction of the update gets the same step, whatever
 * the gradient's spectrum. Newton–Schulz iterations approximate UVᵀ with a few matrix products.
 * @module
 */
import { check } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import * as foreach from '../tensor/foreach.js';
import { type BaseOptions, Optimizer, type OptimizerGroup, type ParamGroup, type StateSpec } from './optimizer.js';
import { momentumDirection, type SGDState } from './sgd.js';

/** The coefficients (a, b, c) of Muon's quintic Newton–Schulz iteration X ← aX + b(XXᵀ)X + c(XXᵀ)²X. */
export const NEWTON_SCHULZ_COEFFICIENTS = [3.4445, -4.775, 2.0315] as const;

/** The options of {@link Muon} (PyTorch's `torch.optim.Muon` names in camelCase, and three of pdenet's). */
export interface MuonOptions extends BaseOptions {
  /** γ, the learning rate (required). */
  lr: number;
  /** μ, the momentum factor (default 0.95). */
  momentum: number;
  /** Nesterov momentum (default true). */
  nesterov: boolean;
  /** λ: orthogonalized groups shrink θ by 1 − γλ (decoupled), the others add λ·θ to the gradient (default 0). */
  weightDecay: number;
  /** Newton–Schulz iterations (default 5). */
  nsSteps: number;
  /** Orthogonalize the update (default true); false gives the group SGD's update with the same momentum. */
  orthogonalize: boolean;
  /**
   * Before each step, rescale θ to Frobenius norm √rows (default false). For weights followed by a
   * normalization layer, whose scale the network ignores: it keeps the step's relative size fixed
   * (the CIFAR-10 speed runs' use, in place of weight decay).
   */
  normalizeWeights: boolean;
}

/**
 * The Newton–Schulz approximation of UVᵀ for a matrix G = UΣVᵀ (rows × columns), in bfloat16 as the
 * speed runs compute it. Scaled to spectral norm ≤ 1 (through the Frobenius norm), the wide orientation
 * (rows ≤ columns) is iterated `steps` times. Singular values that are not tiny next to the largest come
 * out between about 0.7 and 1.2, not exactly 1: the coefficients trade exactness for speed of convergence
 * from small singular values, which does not hurt training.
 */
export function zeropowerNewtonSchulz(g: Tensor, steps = 5, eps = 1e-7): Tensor {
  check(g.ndim === 2, 'zeropowerNewtonSchulz', `expects a matrix, got shape [${g.shape.join(', ')}]`);
  const [a, b, c] = NEWTON_SCHULZ_COEFFICIENTS;
  const tall = g.shape[0]! > g.shape[1]!;
  let x = tidy(() => {
    const x0 = (tall ? g.t() : g).to('bfloat16');
    return x0.div(x0.norm().float().clamp(eps).item());
  });
  // Each iteration frees its Gram matrix, its polynomial and the iterate it replaces.
  for (let i = 0; i < steps; i++) {
    const previous = x;
    x = tidy(() => {
      const gram = previous.matmul(previous.t());
      // b·A + c·A², then a·X + (b·A + c·A²)·X: two fused multiply-adds (elementwise bfloat16 is slow on CPU).
      const poly = gram.addmm(gram, gram, b, c);
      return previous.addmm(poly, previous, a, 1);
    });
    previous.dispose();
  }
  if (!tall) return x;
  const transposed = x.t();
  x.dispose();
  return transposed;
}

/**
 * Muon, step for step as PyTorch's `torch.optim.Muon` (2.9) for matrices, with gradient g and parameter θ
 * of r rows (a tensor of more dimensions is flattened to r × rest):
 *
 * ```text
 * b ← μ·b + g                                 (b = g at a parameter's first step)
 * u ← g + μ·b  if nesterov, else  u ← b
 * θ ← θ·√r / ‖θ‖                               if normalizeWeights
 * θ ← θ·(1 − γλ)
 * θ ← θ − γ·max(1, r/rest)^½ · NS(u)           NS = zeropowerNewtonSchulz
 * ```
 *
 * (PyTorch keeps b as an average, b ← μ·b + (1 − μ)·g; orthogonalization ignores the scale of u, so the
 * two agree.) Muon is meant for the hidden layers' weights: put biases, normalization parameters and the
 * classifier in groups with `orthogonalize: false`, which take SGD's step (L2 weight decay, momentum and
 * Nesterov as {@link SGD}), so one optimizer holds the whole network.
 *
 * @example
 * const opt = new Muon([
 *   { params: convFilters, lr: 0.24, momentum: 0.6, normalizeWeights: true },
 *   { params: rest, orthogonalize: false, lr: 1.5, momentum: 0.85, weightDecay: 1.3e-3 },
 * ], { lr: 0.24 });
 */
export class Muon extends Optimizer<MuonOptions, SGDState> {
  constructor(
    params: Iterable<Tensor> | Iterable<ParamGroup<MuonOptions>>,
    options: Partial<MuonOptions> & { lr: number },
  ) {
    super(
      'Muon',
      params,
      {
        lr: NaN,
        momentum: 0.95,
        nesterov: true,
        weightDecay: 0,
        nsSteps: 5,
        orthogonalize: true,
        normalizeWeights: false,
      },
      options,
    );
  }

  protected override checkOptions(o: MuonOptions, op: string): void {
    check(o.lr >= 0, op, Number.isNaN(o.lr) ? 'needs a learning rate (lr)' : `invalid learning rate: ${o.lr}`);
    check(o.momentum >= 0 && o.momentum < 1, op, `invalid momentum value: ${o.momentum}`);
    check(o.weightDecay >= 0, op, `invalid weightDecay value: ${o.weightDecay}`);
    check(!o.nesterov || o.momentum > 0, op, 'Nesterov momentum requires a momentum');
    check(Number.isInteger(o.nsSteps) && o.nsSteps >= 1, op, `nsSteps must be a positive integer, got ${o.nsSteps}`);
  }

  protected override stateSpec(): StateSpec {
    return { momentum_buffer: 'tensor?' };
  }

  protected override update(group: OptimizerGroup<MuonOptions>, params: Tensor[], grads: Tensor[]): void {
    const { lr, momentum, nesterov, weightDecay, orthogonalize } = group;
    if (orthogonalize) {
      for (const p of params) {
        check(
          p.ndim >= 2,
          this.name,
          `orthogonalizes matrices; a parameter of shape [${p.shape.join(', ')}] ` +
            'belongs in a group with orthogonalize: false',
        );
      }
    }
    // SGD's L2 term for the plain groups; the orthogonalized ones decay decoupled, below.
    const d = !orthogonalize && weightDecay !== 0 ? foreach.add(grads, params, weightDecay) : grads;
    const u = momentumDirection(this.state, params, d, momentum, 0, nesterov);
    if (!orthogonalize) {
      foreach.add_(params, u, -lr);
      return;
    }
    // One parameter at a time, each in its own scope: a step holds one orthogonalization's temporaries.
    params.forEach((p, i) =>
      tidy(() => {
        const rows = p.shape[0]!;
        const rest = p.numel / rows;
        if (group.normalizeWeights) p.mul_(Math.sqrt(rows) / Math.max(p.norm().item(), 1e-12));
        if (weightDecay !== 0) p.mul_(1 - lr * weightDecay);
        const direction = zeropowerNewtonSchulz(u[i]!.reshape(rows, rest), group.nsSteps).reshape(p.shape).to(p.dtype);
        p.add_(direction, -lr * Math.sqrt(Math.max(1, rows / rest)));
      }),
    );
  }
}
