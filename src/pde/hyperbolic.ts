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
    const force = (t: number, y: Tensor) => tidy(() => layers[Math.round(t / this.h)]!.forward(y).neg());
    return leapfrogFrom(force, previous, current, stepTimes(layers.length, this.h));
  }

  forward(y: Tensor): Tensor {
    return this.forwardState(y, y).current;
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
    const [y0, z0] = input.chunk(2, 1) as [Tensor, Tensor];
    const layers = [...this.layers] as SymmetricLayer[];
    const step = (t: number) => 2 * Math.round(t / this.h);
    const { y, z } = verlet(
      (t, z) => layers[step(t)]!.forward(z),
      (t, y) => tidy(() => layers[step(t) + 1]!.forward(y).neg()),
      y0,
      z0,
      stepTimes(layers.length / 2, this.h),
    );
    return cat([y, z], 1);
  }
}
markBlock(HamiltonianBlock);

/**
 * The part of a convolution operator that is not skew-adjoint: S = (K + K*)/2, with K* the adjoint
 * kernel (channels transposed, space flipped: K*[o, i, a, b] = K[i, o, 2 − a, 2 − b]; for a depthwise
 * kernel, K*[c, 0, a, b] = K[c, 0, 2 − a, 2 − b]).
 *
 * Why this part: for u' = Lu, d/dt ½‖u‖² = ⟨u, Lu⟩ = ⟨u, S u⟩. A skew-adjoint operator (S = 0) conserves
 * the energy ‖u‖² — a symmetric hyperbolic system such as u' = A∂ₓu + B∂ᵧu with A, B symmetric — while
 * S ≠ 0 makes the flow dissipate (diffusion, decay) or grow.
 */
export function selfAdjointPart(weight: Tensor, groups = 1): Tensor {
  const [out, inPerGroup, kh, kw] = weight.shape as [number, number, number, number];
  check(kh === kw, 'selfAdjointPart', `needs a square kernel, got ${kh}×${kw}`);
  const depthwise = inPerGroup === 1 && groups === out;
  check(
    depthwise || (groups === 1 && out === inPerGroup),
    'selfAdjointPart',
    `needs a square (C→C, groups 1) or depthwise kernel, got [${weight.shape.join(', ')}] with groups ${groups}`,
  );
  return tidy(() => {
    const adjoint = depthwise ? weight.flip([2, 3]) : weight.transpose(0, 1).flip([2, 3]);
    return weight.add(adjoint).div(2);
  });
}

/** A learned 3×3 operator of a model: Conv2d 3×3 weights, TwistConv2d's K, SymmetricLayer weights. */
export interface Operator3x3 {
  /** The module's dotted name. */
  name: string;
  module: Module;
  weight: Tensor;
  groups: number;
}

/** Every learned 3×3 operator of `model`, in module order. */
export function* operators3x3(model: Module): Generator<Operator3x3> {
  for (const [name, m] of model.namedModules()) {
    if (m instanceof Conv2d && m.kernelSize[0] === 3 && m.kernelSize[1] === 3)
      yield { name, module: m, weight: m.weight, groups: m.groups };
    else if (m instanceof TwistConv2d) yield { name, module: m, weight: m.weight, groups: m.groups };
    else if (m instanceof SymmetricLayer) yield { name, module: m, weight: m.weight, groups: 1 };
  }
}

/**
 * The hyperbolicity regularizer: R = Σ_layers ‖(K + K*)/2‖²_F, summed over every square or depthwise 3×3
 * operator of `model` (Conv2d weights, TwistConv2d's K, SymmetricLayer weights). Added to the loss with a
 * small weight λ, it pulls each learned operator toward a skew-adjoint one, i.e. toward a symmetric
 * hyperbolic system that transports information instead of diffusing it.
 */
export function hyperbolicityPenalty(model: Module): Tensor {
  return tidy(() => {
    let total: Tensor = zeros([]);
    for (const { weight, groups } of operators3x3(model)) {
      const [out, inPerGroup] = weight.shape as [number, number];
      const square = (groups === 1 && out === inPerGroup) || (inPerGroup === 1 && groups === out);
      if (square) total = total.add(selfAdjointPart(weight, groups).square().sum());
    }
    return total;
  });
}
