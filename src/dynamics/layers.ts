/**
 * Layer functions f(Y; θ) of dynamic blocks and their normalizations (Onken, Novikov, Treister, Haber,
 * Ruthotto, "DynamicBlocks: A Generalized ResNet Architecture", 2019; seed 004), as the reference code
 * (EmoryMLIP/DynamicBlocks, modules/*.py) computes them, under its state-dict names.
 *
 * A layer function is written once, against parameters it is given, so that a dynamic block can
 * evaluate it with parameters interpolated in time between its controls. Its own parameters (one
 * control's worth) are registered as usual. Convolutions carry biases and start from the reference's
 * clamped normal initialization ({@link normalInit}); biases start at zero.
 * @module
 */
import { ones, randn, zeros } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Shape, Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import { type Activation, activate, type DeclaredOperator } from '../pde/hyperbolic.js';
import { type Boundary, convK, convKT } from '../pde/boundary.js';

/**
 * Normalizations inside layer functions: `tv` (the reference's TvNorm: fixed unit scale, a buffer, and a
 * learned bias), `tv-learned` (pdenet's: the scale learned too), `batch` (BatchNorm2d, ε = 10⁻⁵ as the
 * reference's "Batch"), `none`.
 */
export const NORMS = ['tv', 'tv-learned', 'batch', 'none'] as const;

export type NormKind = (typeof NORMS)[number];

/**
 * The reference's `normalInit`: N(0, σ²) with σ = √(2 / (fan_in + fan_out)) (Glorot), clamped to ±2σ.
 * fan_in = shape[1]·k², fan_out = shape[0]·k² (k² the kernel's size; 1 for a linear layer's matrix).
 */
export function normalInit(shape: Shape): Tensor {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  const sd = Math.sqrt(2 / ((shape[0]! + shape[1]!) * receptive));
  return noGrad(() =>
    tidy(() =>
      randn(shape)
        .mul(sd)
        .clamp(-2 * sd, 2 * sd),
    ),
  );
}

/**
 * Total-variation normalization: each pixel's channel vector divided by its length,
 * x ↦ x / √(Σ_c x_c² + ε), then a per-channel scale and bias. The reference's scale is a buffer of ones
 * (not learned); `learnScale` makes it a parameter (pdenet's `tv-learned`).
 */
export class TvNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly channels: number,
    readonly eps = 1e-4,
    { learnScale = false } = {},
  ) {
    super();
    this.weight = learnScale
      ? this.registerParameter('weight', ones([channels]))
      : this.registerBuffer('weight', ones([channels]));
    this.bias = this.registerParameter('bias', zeros([channels]));
  }

  forward(x: Tensor): Tensor {
    return tvNorm(x, this.weight, this.bias, this.eps);
  }
}

export function tvNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-4): Tensor {
  const c = weight.shape[0]!;
  // x · (Σ_c x_c² + ε)^(−1/2): one reciprocal square root per pixel, then a product (cheaper than a division).
  return tidy(() =>
    x
      .mul(x.square().sum(1, { keepdim: true }).add(eps).rsqrt())
      .mul(weight.reshape(1, c, 1, 1))
      .add(bias.reshape(1, c, 1, 1)),
  );
}

/** A normalization module of the given kind (null for none). */
export function makeNorm(kind: NormKind, channels: number): Module | null {
  switch (kind) {
    case 'batch':
      return new BatchNorm2d(channels);
    case 'tv':
      return new TvNorm(channels);
    case 'tv-learned':
      return new TvNorm(channels, 1e-4, { learnScale: true });
    case 'none':
      return null;
    default:
      throw new Error(`unknown normalization ${String(kind)}; expected tv, tv-learned, batch or none`);
  }
}

/** BatchNorm running statistics without the affine parameters (those are interpolated in time). */
export class RunningStats extends Module {
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  readonly eps: number;
  readonly momentum: number;

  constructor(source: BatchNorm2d) {
    super();
    this.eps = source.eps;
    this.momentum = source.momentum ?? 0.1;
    this.runningMean = this.registerBuffer('running_mean', source.runningMean!.detach().clone());
    this.runningVar = this.registerBuffer('running_var', source.runningVar!.detach().clone());
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', source.numBatchesTracked!.detach().clone());
  }

  forward(): never {
    throw new Error('RunningStats holds statistics; a layer function uses them');
  }
}

/** The BatchNorm statistics an evaluation uses and, in training, updates. */
export type NormStats = BatchNorm2d | RunningStats;

/**
 * The parameters a layer function is evaluated with: θ(t), interpolated between controls; the buffers of
 * the control at or below t (TvNorm's fixed scale); and the BatchNorm statistics of this evaluation (its
 * RK stage's, as in the reference, or its control's).
 */
export interface LayerState {
  /** The parameter `name` (as in `namedParameters()` of a layer function) at this time. */
  param(name: string): Tensor | null;
  /** The buffer `name` of the control at or below this time. */
  buffer(name: string): Tensor | null;
  /** The running statistics of the BatchNorm child `name`. */
  stats(name: string): NormStats | null;
}

/** Options shared by the layer functions. */
export interface LayerOptions {
  norm?: NormKind;
  activation?: Activation;
  boundary?: Boundary;
}

/** K·u + b and its exact adjoint Kᵀ·z + b, sharing K's weight, under the boundary condition. */
export { convK, convKT } from '../pde/boundary.js';

/** Which box constraint of the reference's ClippedModule a tensor gets. */
export type BoxKind = 'conv' | 'other';

/** A 3×3 convolution's parameters, weight (normalInit) and bias (zero), without a forward of its own. */
export class ConvParameters extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor;

  constructor(cin: number, cout: number, kernel = 3, { weight = true } = {}) {
    super();
    this.weight = this.registerParameter('weight', weight ? normalInit([cout, cin, kernel, kernel]) : null);
    this.bias = this.registerParameter('bias', zeros([cout]));
  }

  forward(): never {
    throw new Error("ConvParameters holds a convolution's parameters; the layer function applies them");
  }
}

/** A layer function f(Y; θ): the right-hand side of Y' = f(t, Y) inside a dynamic block. */
export abstract class LayerFunction extends Module {
  readonly norm: NormKind;
  readonly activation: Activation;
  readonly boundary: Boundary;

  constructor(
    readonly channels: number,
    options: LayerOptions = {},
  ) {
    super();
    check(
      Number.isInteger(channels) && channels > 0,
      'LayerFunction',
      `channels must be a positive integer, got ${channels}`,
    );
    this.norm = options.norm ?? 'tv';
    this.activation = options.activation ?? 'relu';
    this.boundary = options.boundary ?? 'zeros';
  }

  /** f(Y; θ) with θ from `state`. */
  abstract evaluate(y: Tensor, state: LayerState): Tensor;

  /** The tensors the reference's ClippedModule.clip bounds, with their kind (none for a layer of pdenet's own). */
  boxConstrained(): [Tensor, BoxKind][] {
    return [];
  }

  /** Its learned 3×3 operators, for the hyperbolicity regularizer (pde's `operators3x3` reads this hook). */
  operators3x3(): DeclaredOperator[] {
    return [];
  }

  /** f(Y; θ) with this module's own parameters. */
  forward(y: Tensor): Tensor {
    return this.evaluate(y, ownState(this));
  }

  /** Applies the normalization registered as child `name`, with parameters from `state`. */
  protected normalize(name: string, x: Tensor, state: LayerState): Tensor {
    switch (this.norm) {
      case 'none':
        return x;
      case 'tv':
      case 'tv-learned':
        return tvNorm(
          x,
          state.param(`${name}.weight`) ?? state.buffer(`${name}.weight`)!,
          state.param(`${name}.bias`)!,
        );
      case 'batch': {
        const stats = state.stats(name)!;
        if (this.training) noGrad(() => stats.numBatchesTracked!.add_(1));
        return F.batchNorm(x, stats.runningMean, stats.runningVar, {
          weight: state.param(`${name}.weight`),
          bias: state.param(`${name}.bias`),
          training: this.training,
          momentum: stats.momentum ?? 0.1,
          eps: stats.eps,
        });
      }
      default:
        throw new Error(`unknown normalization ${String(this.norm)}`);
    }
  }

  protected registerNorm(name: string): void {
    const norm = makeNorm(this.norm, this.channels);
    if (norm) this.registerModule(name, norm);
  }

  /** conv's weight and bias ('conv'), and the norm children's weight ('other'), as ClippedModule bounds them. */
  protected boxed(convs: string[], norms: string[]): [Tensor, BoxKind][] {
    const children = new Map(this.namedChildren());
    const out: [Tensor, BoxKind][] = [];
    for (const c of convs) {
      const conv = children.get(c) as ConvParameters;
      if (conv.weight) out.push([conv.weight, 'conv']);
      out.push([conv.bias, 'conv']);
    }
    for (const n of norms) {
      const norm = children.get(n) as (Module & { weight?: Tensor | null }) | undefined;
      if (norm?.weight) out.push([norm.weight, 'other']);
    }
    return out;
  }
}

/** The state of a layer function with its own parameters, buffers and statistics. */
export function ownState(layer: LayerFunction): LayerState {
  const params = new Map(layer.namedParameters());
  const buffers = new Map(layer.namedBuffers());
  const children = new Map(layer.namedChildren());
  return {
    param: (name) => params.get(name) ?? null,
    buffer: (name) => buffers.get(name) ?? null,
    stats: (name) => (children.get(name) as BatchNorm2d | undefined) ?? null,
  };
}

/** DoubleLayer (the reference's, a basic ResNet block): f(Y) = σ(N₂(K₂ σ(N₁(K₁ Y + b₁)) + b₂)). */
export class DoubleLayer extends LayerFunction {
  constructor(channels: number, options: LayerOptions = {}) {
    super(channels, options);
    this.registerModule('conv1', new ConvParameters(channels, channels));
    this.registerModule('conv2', new ConvParameters(channels, channels));
    this.registerNorm('normLayer1');
    this.registerNorm('normLayer2');
  }

  evaluate(y: Tensor, s: LayerState): Tensor {
    return tidy(() => {
      const z = activate(
        this.normalize('normLayer1', convK(y, s.param('conv1.weight')!, s.param('conv1.bias'), this.boundary), s),
        this.activation,
      );
      return activate(
        this.normalize('normLayer2', convK(z, s.param('conv2.weight')!, s.param('conv2.bias'), this.boundary), s),
        this.activation,
      );
    });
  }

  override boxConstrained(): [Tensor, BoxKind][] {
    return this.boxed(['conv1', 'conv2'], ['normLayer1', 'normLayer2']);
  }

  override operators3x3(): DeclaredOperator[] {
    const children = new Map(this.namedChildren());
    return ['conv1', 'conv2'].map((name) => ({
      name: `${name}.weight`,
      weight: (children.get(name) as ConvParameters).weight!,
      groups: 1,
    }));
  }
}

/**
 * DoubleSymLayer, the parabolic layer: f(Y) = −(Kᵀσ(N(K Y + b)) + bᵀ), one weight shared by the
 * convolution and its transpose (the reference's `weight`; `conv` and `convt` hold the two biases). Its
 * linearization −KᵀDK (D ≥ 0 the activation's slopes) is negative semi-definite, so the forward
 * propagation is stable (Ruthotto & Haber 2018).
 */
export class DoubleSymLayer extends LayerFunction {
  readonly weight: Tensor;

  constructor(channels: number, options: LayerOptions = {}) {
    super(channels, options);
    this.weight = this.registerParameter('weight', normalInit([channels, channels, 3, 3]));
    this.registerModule('conv', new ConvParameters(channels, channels, 3, { weight: false }));
    this.registerNorm('normLayer');
    this.registerModule('convt', new ConvParameters(channels, channels, 3, { weight: false }));
  }

  evaluate(y: Tensor, s: LayerState): Tensor {
    return tidy(() => {
      const weight = s.param('weight')!;
      const z = activate(
        this.normalize('normLayer', convK(y, weight, s.param('conv.bias'), this.boundary), s),
        this.activation,
      );
      // −(Kᵀz + b) = (−K)ᵀz + (−b): the sign goes on the kernel and the bias, not on the activations.
      return convKT(z, weight.neg(), s.param('convt.bias')?.neg() ?? null, this.boundary);
    });
  }

  override operators3x3(): DeclaredOperator[] {
    return [{ name: 'weight', weight: this.weight, groups: 1 }];
  }

  override boxConstrained(): [Tensor, BoxKind][] {
    // ClippedModule bounds conv.weight (this weight) and conv.bias; convt's bias is left free.
    return [[this.weight, 'conv'], ...this.boxed(['conv'], ['normLayer'])];
  }
}

/** PreactDoubleLayer (the reference's): f(Y) = N₂(K₂ σ(N₁(K₁ σ(Y) + b₁)) + b₂). */
export class PreactDoubleLayer extends DoubleLayer {
  override evaluate(y: Tensor, s: LayerState): Tensor {
    return tidy(() => {
      const z = this.normalize(
        'normLayer1',
        convK(activate(y, this.activation), s.param('conv1.weight')!, s.param('conv1.bias'), this.boundary),
        s,
      );
      return this.normalize(
        'normLayer2',
        convK(activate(z, this.activation), s.param('conv2.weight')!, s.param('conv2.bias'), this.boundary),
        s,
      );
    });
  }
}

/**
 * pdenet's norm-first pre-activation layer (He et al. 2016's ordering): f(Y) = K₂ σ(N₂(K₁ σ(N₁ Y) + b₁)) + b₂.
 * Not in the reference; its names are DoubleLayer's.
 */
export class NormFirstDoubleLayer extends DoubleLayer {
  override evaluate(y: Tensor, s: LayerState): Tensor {
    return tidy(() => {
      const z = convK(
        activate(this.normalize('normLayer1', y, s), this.activation),
        s.param('conv1.weight')!,
        s.param('conv1.bias'),
        this.boundary,
      );
      return convK(
        activate(this.normalize('normLayer2', z, s), this.activation),
        s.param('conv2.weight')!,
        s.param('conv2.bias'),
        this.boundary,
      );
    });
  }
}

/**
 * The hyperbolic layer: the same f(Y) = −Kᵀσ(N(K Y)) as DoubleSymLayer, meant for the second-order
 * equation Y'' = f(t, Y), integrated with leapfrog (Ruthotto–Haber's hyperbolic network; pdenet's).
 */
export class HyperbolicLayer extends DoubleSymLayer {
  readonly secondOrder = true;
}

export const LAYERS = {
  double: DoubleLayer,
  doublesym: DoubleSymLayer,
  preactdouble: PreactDoubleLayer,
  normfirst: NormFirstDoubleLayer,
  hyperbolic: HyperbolicLayer,
} as const;

export type LayerKind = keyof typeof LAYERS;

/** The names of {@link LAYERS}. */
export const LAYER_KINDS = Object.keys(LAYERS) as readonly LayerKind[];
