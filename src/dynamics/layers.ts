/**
 * Layer functions f(Y; θ) of dynamic blocks and their normalizations (Onken, Novikov, Treister, Haber,
 * Ruthotto, "DynamicBlocks: A Generalized ResNet Architecture", 2019; seed 004).
 *
 * A layer function is written once, against parameters it is given, so that a dynamic block can
 * evaluate it with parameters interpolated in time between its controls. Its own parameters (one
 * control's worth) are registered as usual, with PyTorch names.
 * @module
 */
import { ones, zeros } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import { type Activation, activate, applyK, applyKT } from '../pde/hyperbolic.js';
import type { Boundary } from '../pde/boundary.js';

/** Normalizations inside layer functions. */
export const NORMS = ['batch', 'tv', 'none'] as const;

export type NormKind = (typeof NORMS)[number];

/**
 * Total-variation normalization: each pixel's channel vector divided by its length,
 * x ↦ x / √(Σ_c x_c² + ε), then a learned per-channel scale and bias.
 */
export class TvNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly channels: number, readonly eps = 1e-4) {
    super();
    this.weight = this.registerParameter('weight', ones([channels]));
    this.bias = this.registerParameter('bias', zeros([channels]));
  }

  forward(x: Tensor): Tensor {
    return tvNorm(x, this.weight, this.bias, this.eps);
  }
}

export function tvNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-4): Tensor {
  const c = weight.shape[0]!;
  return x.div(x.square().sum(1, { keepdim: true }).add(eps).sqrt())
    .mul(weight.reshape(1, c, 1, 1)).add(bias.reshape(1, c, 1, 1));
}

/** A normalization module of the given kind (null for none). */
export function makeNorm(kind: NormKind, channels: number): Module | null {
  switch (kind) {
    case 'batch':
      return new BatchNorm2d(channels);
    case 'tv':
      return new TvNorm(channels);
    case 'none':
      return null;
    default:
      throw new Error(`unknown normalization ${String(kind)}; expected batch, tv or none`);
  }
}

/**
 * The parameters a layer function is evaluated with: θ(t), interpolated between controls, and the control
 * whose running statistics (BatchNorm) are used and updated.
 */
export interface LayerState {
  /** The parameter `name` (as in `namedParameters()` of a layer function) at this time. */
  param(name: string): Tensor | null;
  /** The layer function of the control at or below this time. */
  readonly control: LayerFunction;
}

/** Options shared by the layer functions. */
export interface LayerOptions {
  norm?: NormKind;
  activation?: Activation;
  boundary?: Boundary;
}

/** A layer function f(Y; θ): the right-hand side of Y' = f(t, Y) inside a dynamic block. */
export abstract class LayerFunction extends Module {
  readonly norm: NormKind;
  readonly activation: Activation;
  readonly boundary: Boundary;

  constructor(readonly channels: number, options: LayerOptions = {}) {
    super();
    check(Number.isInteger(channels) && channels > 0, 'LayerFunction', `channels must be a positive integer, got ${channels}`);
    this.norm = options.norm ?? 'batch';
    this.activation = options.activation ?? 'relu';
    this.boundary = options.boundary ?? 'zeros';
  }

  /** f(Y; θ) with θ from `state`. */
  abstract evaluate(y: Tensor, state: LayerState): Tensor;

  /** f(Y; θ) with this module's own parameters. */
  forward(y: Tensor): Tensor {
    return this.evaluate(y, ownState(this));
  }

  /** Applies the normalization registered as child `name`, with parameters from `state`. */
  protected normalize(name: string, x: Tensor, state: LayerState): Tensor {
    const weight = state.param(`${name}.weight`);
    const bias = state.param(`${name}.bias`);
    switch (this.norm) {
      case 'none':
        return x;
      case 'tv':
        return tvNorm(x, weight!, bias!);
      case 'batch': {
        const bn = [...state.control.namedChildren()].find(([n]) => n === name)![1] as BatchNorm2d;
        return F.batchNorm(x, bn.runningMean, bn.runningVar,
          { weight, bias, training: this.training, momentum: bn.momentum ?? 0.1, eps: bn.eps });
      }
      default:
        throw new Error(`unknown normalization ${String(this.norm)}`);
    }
  }

  protected conv(name: string, channels: number): Conv2d {
    return this.registerModule(name, new Conv2d(channels, channels, 3, { padding: 1, bias: false, paddingMode: this.boundary }));
  }

  protected registerNorm(name: string): void {
    const norm = makeNorm(this.norm, this.channels);
    if (norm) this.registerModule(name, norm);
  }
}

/** The state of a layer function with its own parameters. */
export function ownState(layer: LayerFunction): LayerState {
  const params = new Map(layer.namedParameters());
  return { param: (name) => params.get(name) ?? null, control: layer };
}

/** DoubleLayer: f(Y) = σ(N₂(K₂ σ(N₁(K₁ Y)))). */
export class DoubleLayer extends LayerFunction {
  constructor(channels: number, options: LayerOptions = {}) {
    super(channels, options);
    this.conv('conv1', channels);
    this.registerNorm('norm1');
    this.conv('conv2', channels);
    this.registerNorm('norm2');
  }

  evaluate(y: Tensor, s: LayerState): Tensor {
    const z = activate(this.normalize('norm1', applyK(y, s.param('conv1.weight')!, this.boundary), s), this.activation);
    return activate(this.normalize('norm2', applyK(z, s.param('conv2.weight')!, this.boundary), s), this.activation);
  }
}

/**
 * DoubleSymLayer, the parabolic layer: f(Y) = −Kᵀσ(N(K Y)), one weight shared by the convolution and
 * its transpose. Its linearization −KᵀDK (D ≥ 0 the activation's slopes) is negative semi-definite, so
 * the forward propagation is stable (Ruthotto & Haber 2018).
 */
export class DoubleSymLayer extends LayerFunction {
  constructor(channels: number, options: LayerOptions = {}) {
    super(channels, options);
    this.conv('conv', channels);
    this.registerNorm('norm');
  }

  evaluate(y: Tensor, s: LayerState): Tensor {
    const weight = s.param('conv.weight')!;
    const z = activate(this.normalize('norm', applyK(y, weight, this.boundary), s), this.activation);
    return applyKT(z, weight, this.boundary).neg();
  }
}

/** PreactDoubleLayer: f(Y) = K₂ σ(N₂(K₁ σ(N₁ Y))), normalization and activation first. */
export class PreactDoubleLayer extends LayerFunction {
  constructor(channels: number, options: LayerOptions = {}) {
    super(channels, options);
    this.registerNorm('norm1');
    this.conv('conv1', channels);
    this.registerNorm('norm2');
    this.conv('conv2', channels);
  }

  evaluate(y: Tensor, s: LayerState): Tensor {
    const z = applyK(activate(this.normalize('norm1', y, s), this.activation), s.param('conv1.weight')!, this.boundary);
    return applyK(activate(this.normalize('norm2', z, s), this.activation), s.param('conv2.weight')!, this.boundary);
  }
}

/**
 * The hyperbolic layer: the same f(Y) = −Kᵀσ(N(K Y)) as DoubleSymLayer, meant for the second-order
 * equation Y'' = f(t, Y), integrated with leapfrog (Ruthotto–Haber's hyperbolic network).
 */
export class HyperbolicLayer extends DoubleSymLayer {
  readonly secondOrder = true;
}

export const LAYERS = {
  double: DoubleLayer,
  doublesym: DoubleSymLayer,
  preactdouble: PreactDoubleLayer,
  hyperbolic: HyperbolicLayer,
} as const;

export type LayerKind = keyof typeof LAYERS;

/** The names of {@link LAYERS}. */
export const LAYER_KINDS = Object.keys(LAYERS) as readonly LayerKind[];
