/**
 * Hyperbolic layers and the hyperbolicity regularizer.
 *
 * A parabolic layer (heat-like) dissipates: Y' = −Kᵀσ(KY) shrinks ‖Y‖. A hyperbolic layer (wave-like)
 * transports and conserves: information travels at finite speed and is not smoothed away. Sources:
 * Ruthotto & Haber, "Deep Neural Networks Motivated by Partial Differential Equations" (2018);
 * Chang et al., "Reversible Architectures for Arbitrarily Deep Residual Neural Networks" (2018); seed
 * "ConvNets from the PDE perspective" (symmetric hyperbolic systems, a hyperbolicity regularizer).
 * @module
 */
import { empty, zeros } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { BatchNorm2d } from '../nn/norm.js';
import { Conv2d } from '../nn/conv.js';
import { defaultLayerInit_ } from '../nn/init.js';
import { markBlock } from '../nn/block.js';
import { Module } from '../nn/module.js';
import { ModuleList } from '../nn/container.js';
import { leapfrogFrom, verlet } from '../dynamics/integrate.js';
import { type Boundary, convK, convKT } from './boundary.js';
import { TwistConv2d } from './twist.js';

/** Activations usable inside the PDE layers. */
export type Activation = 'relu' | 'tanh' | 'identity';

export function activate(u: Tensor, activation: Activation): Tensor {
  switch (activation) {
    case 'relu':
      return F.relu(u);
    case 'tanh':
      return u.tanh();
    case 'identity':
      return u;
    default:
      throw new Error(`unknown activation ${String(activation)}`);
  }
}

/** K u: the 3×3 convolution with weight W (C×C×3×3) under the boundary condition ({@link convK} without bias). */
export function applyK(u: Tensor, weight: Tensor, boundary: Boundary): Tensor {
  return convK(u, weight, null, boundary);
}

/** Kᵀ z: the exact adjoint of {@link applyK} sharing the same weight, for every boundary ({@link convKT}). */
export function applyKT(z: Tensor, weight: Tensor, boundary: Boundary): Tensor {
  return convKT(z, weight, null, boundary);
}

/** Options of the symmetric layers. */
export interface SymmetricLayerOptions {
  activation?: Activation;
  /** Normalization N between K and σ (default "batch"). */
  norm?: 'batch' | 'none';
  boundary?: Boundary;
}

/**
 * The symmetric layer F(Y) = Kᵀσ(N(KY)): one weight shared by the convolution and its transpose. Used as
 * −F in the parabolic (DoubleSym) layer and in the leapfrog and Hamiltonian blocks. Parameters: `weight`
 * (C×C×3×3) and the norm's.
 */
export class SymmetricLayer extends Module {
  readonly weight: Tensor;
  readonly norm: BatchNorm2d | null;
  readonly activation: Activation;
  readonly boundary: Boundary;

  constructor(
    readonly channels: number,
    options: SymmetricLayerOptions = {},
  ) {
    super();
    const { activation = 'relu', norm = 'batch', boundary = 'zeros' } = options;
    this.activation = activation;
    this.boundary = boundary;
    this.weight = this.registerParameter('weight', empty([channels, channels, 3, 3]));
    defaultLayerInit_(this.weight, null);
    this.norm = norm === 'batch' ? this.registerModule('norm', new BatchNorm2d(channels)) : null;
  }

  forward(y: Tensor): Tensor {
    return tidy(() => {
      const ky = applyK(y, this.weight, this.boundary);
      return applyKT(activate(this.norm ? this.norm.forward(ky) : ky, this.activation), this.weight, this.boundary);
    });
  }
}

/** The time points 0, h, …, steps·h. */
function stepTimes(steps: number, h: number): number[] {
  return Array.from({ length: steps + 1 }, (_, k) => k * h);
}

/** Options of {@link LeapfrogBlock}. */
export interface LeapfrogOptions extends SymmetricLayerOptions {
  /** Number of time steps (each with its own K; default 2). */
  steps?: number;
  /** Step size h (default 1). */
  h?: number;
}

/**
 * The second-order (hyperbolic) block in the Ruthotto–Haber form, integrated with leapfrog:
 *
 *   Y_{j+1} = 2Y_j − Y_{j−1} − h²·Kⱼᵀσ(N(Kⱼ Y_j)),   Y_{−1} = Y_0 (starting at rest),
 *
 * the discretization of Y'' = −Kᵀσ(N(KY)). For σ = N = identity it is a wave equation whose discrete
 * energy E_j = ‖(Y_{j+1} − Y_j)/h‖² + ⟨K Y_{j+1}, K Y_j⟩ is conserved exactly (see `energy`), under every
 * boundary condition (Kᵀ is K's exact adjoint).
 * `forwardState` keeps Y_{j−1} so blocks can be chained without losing the velocity.
 */
export class LeapfrogBlock extends Module {
  readonly layers: ModuleList;
  readonly h: number;

  constructor(
    readonly channels: number,
    options: LeapfrogOptions = {},
  ) {
    super();
    const { steps = 2, h = 1 } = options;
    check(Number.isInteger(steps) && steps >= 1, 'LeapfrogBlock', `steps must be a positive integer, got ${steps}`);
    this.h = h;
    this.layers = this.registerModule(
      'layers',
      new ModuleList(Array.from({ length: steps }, () => new SymmetricLayer(channels, options))),
    );
  }

  /** One pass from the state (Y_{j−1}, Y_j) to (Y_{j+steps−1}, Y_{j+steps}): leapfrog with Y'' = −F_k(Y) in step k. */
  forwardState(previous: Tensor, current: Tensor): { previous: Tensor; current: Tensor } {
    const layers = [...this.layers] as SymmetricLayer[];
    const force = (t: number, y: Tensor) => layers[Math.round(t / this.h)]!.forward(y).neg();
    // The states between the first and the last are freed here; autograd keeps what it needs of them.
    return tidy(() => leapfrogFrom(force, previous, current, stepTimes(layers.length, this.h)));
  }

  forward(y: Tensor): Tensor {
    return tidy(() => this.forwardState(y, y).current);
  }

  /** The conserved discrete energy of the linear wave (σ = N = identity) between two states of step j. */
  static energy(current: Tensor, next: Tensor, weight: Tensor, h: number, boundary: Boundary = 'zeros'): number {
    return tidy(() => {
      const velocity = next.sub(current).div(h).square().sum();
      const potential = applyK(next, weight, boundary)
        .mul(applyK(current, weight, boundary))
        .sum();
      return velocity.add(potential).item();
    });
  }
}
markBlock(LeapfrogBlock, { stepOperators: (b) => [...b.layers], stepState: 'leapfrog state' });

/**
 * A Hamiltonian pair integrated with Verlet (Chang et al. 2018): the channels split into Y and Z, and
 *
 *   Y_{j+1} = Y_j + h·K₁ᵀσ(K₁ Z_j),   Z_{j+1} = Z_j − h·K₂ᵀσ(K₂ Y_{j+1}),
 *
 * a symplectic, reversible update (it can be run backwards exactly).
 */
export class HamiltonianBlock extends Module {
  readonly layers: ModuleList;
  readonly h: number;

  constructor(
    readonly channels: number,
    options: LeapfrogOptions = {},
  ) {
    super();
    const { steps = 2, h = 1 } = options;
    check(channels % 2 === 0, 'HamiltonianBlock', `channels must be even (split into Y and Z), got ${channels}`);
    this.h = h;
    this.layers = this.registerModule(
      'layers',
      new ModuleList(
        Array.from(
          { length: 2 * steps },
          () => new SymmetricLayer(channels / 2, { ...options, norm: options.norm ?? 'none' }),
        ),
      ),
    );
  }

  forward(input: Tensor): Tensor {
    const layers = [...this.layers] as SymmetricLayer[];
    const step = (t: number) => 2 * Math.round(t / this.h);
    return tidy(() => {
      const [y0, z0] = input.chunk(2, 1) as [Tensor, Tensor];
      const { y, z } = verlet(
        (t, z) => layers[step(t)]!.forward(z),
        (t, y) => layers[step(t) + 1]!.forward(y).neg(),
        y0,
        z0,
        stepTimes(layers.length / 2, this.h),
      );
      return cat([y, z], 1);
    });
  }
}
markBlock(HamiltonianBlock);

/**
 * The part of a convolution operator that is not skew-adjoint: S = (K + K*)/2, with K* the adjoint
 * kernel. K maps C channels to C (C_out = C_in/groups · groups); with groups its matrix is block-diagonal, and
 * the adjoint transposes the channels within each group's block and flips space:
 * K*[g·n + o, i, a, b] = K[g·n + i, o, 2 − a, 2 − b] (n = C/groups; groups 1: K*[o, i] = K[i, o] flipped;
 * depthwise, n = 1: each kernel flipped).
 *
 * Why this part: for u' = Lu, d/dt ½‖u‖² = ⟨u, Lu⟩ = ⟨u, S u⟩. A skew-adjoint operator (S = 0) conserves
 * the energy ‖u‖² — a symmetric hyperbolic system such as u' = A∂ₓu + B∂ᵧu with A, B symmetric — while
 * S ≠ 0 makes the flow dissipate (diffusion, decay) or grow.
 */
export function selfAdjointPart(weight: Tensor, groups = 1): Tensor {
  const [out, inPerGroup, kh, kw] = weight.shape as [number, number, number, number];
  check(kh === kw, 'selfAdjointPart', `needs a square kernel, got ${kh}×${kw}`);
  check(
    isSquareOperator(weight, groups),
    'selfAdjointPart',
    `needs an operator from C channels to C (C_out = C_in/groups · groups), got [${weight.shape.join(', ')}] with groups ${groups}`,
  );
  return tidy(() => {
    const adjoint = weight
      .reshape(groups, inPerGroup, inPerGroup, kh, kw)
      .transpose(1, 2)
      .flip([3, 4])
      .reshape(out, inPerGroup, kh, kw);
    return weight.add(adjoint).div(2);
  });
}

/** Whether a (grouped) convolution weight maps C channels to C: each group's block is square. */
export function isSquareOperator(weight: Tensor, groups: number): boolean {
  const [out, inPerGroup, kh, kw] = weight.shape as [number, number, number, number];
  return kh === kw && out === inPerGroup * groups;
}

/** A learned 3×3 operator of a model: Conv2d 3×3 weights, TwistConv2d's K, SymmetricLayer weights. */
export interface Operator3x3 {
  /** The module's dotted name (with the weight's own, for an operator a module declares). */
  name: string;
  module: Module;
  weight: Tensor;
  groups: number;
}

/** An operator a module declares through its `operators3x3()` hook, named relative to the module. */
export type DeclaredOperator = Omit<Operator3x3, 'module'>;

/**
 * Hooks a module may declare (duck-typed, as `twistParameters` is used across the zoo):
 * - `operators3x3()`: its learned 3×3 operators that are parameters rather than Conv2d children (the dynamic
 *   blocks' layer functions), by name relative to the module;
 * - `twistParameters()`: the kernels of its variable-coefficient (twist) terms — coefficients of an operator,
 *   not operators of their own, so a Conv2d holding one is left out.
 */
interface OperatorHooks {
  operators3x3?: () => DeclaredOperator[];
  twistParameters?: () => Tensor[];
}

/**
 * Every learned 3×3 operator of `model`, in module order: Conv2d 3×3 weights (not the twist's coefficient
 * kernels a module declares with `twistParameters`), TwistConv2d's K, SymmetricLayer weights and the operators
 * modules declare with `operators3x3()` (the dynamic blocks' Double/DoubleSym/… layers).
 */
export function* operators3x3(model: Module): Generator<Operator3x3> {
  const twist = new Set<Tensor>();
  for (const m of model.modules()) for (const p of (m as OperatorHooks).twistParameters?.() ?? []) twist.add(p);
  for (const [name, m] of model.namedModules()) {
    const declared = (m as OperatorHooks).operators3x3;
    if (m instanceof Conv2d && m.kernelSize[0] === 3 && m.kernelSize[1] === 3) {
      if (!twist.has(m.weight)) yield { name, module: m, weight: m.weight, groups: m.groups };
    } else if (m instanceof TwistConv2d) yield { name, module: m, weight: m.weight, groups: m.groups };
    else if (m instanceof SymmetricLayer) yield { name, module: m, weight: m.weight, groups: 1 };
    else if (typeof declared === 'function') {
      for (const op of declared.call(m)) {
        const full = [name, op.name].filter((part) => part !== '').join('.');
        yield { name: full, module: m, weight: op.weight, groups: op.groups };
      }
    }
  }
}

/**
 * The hyperbolicity regularizer: R = Σ_layers ‖(K + K*)/2‖²_F over every operator of {@link operators3x3}
 * that maps C channels to C — groups 1, grouped (each group's block) or depthwise; the others (a stem's 3→C,
 * a stride-2 C→2C, depthwise with a multiplier) have no adjoint of their own shape and are left out. Added to
 * the loss with a small weight λ, it pulls each learned operator toward a skew-adjoint one, i.e. toward a
 * symmetric hyperbolic system that transports information instead of diffusing it. Throws when `model` has
 * no such operator, so that a weight λ never silently does nothing.
 */
export function hyperbolicityPenalty(model: Module): Tensor {
  const square = [...operators3x3(model)].filter(({ weight, groups }) => isSquareOperator(weight, groups));
  check(
    square.length > 0,
    'hyperbolicityPenalty',
    `${model.constructor.name} has no 3×3 operator from C channels to C (a Conv2d, TwistConv2d, SymmetricLayer ` +
      'or dynamic-block layer whose every group maps its channels to as many): the penalty would be zero',
  );
  return tidy(() => {
    let total: Tensor = zeros([]);
    for (const { weight, groups } of square) total = total.add(selfAdjointPart(weight, groups).square().sum());
    return total;
  });
}
