/**
 * Convolution layers. In the PDE reading, a 3×3 convolution is a differential operator of order ≤ 2
 * acting on the channels (a matrix of such operators), and `paddingMode` is its boundary condition:
 * zeros = Dirichlet, reflect = Neumann, replicate, circular = periodic. Every mode is first-class.
 * @module
 */
import { empty } from '../tensor/creation.js';
import { check, describe } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import type { Tensor } from '../tensor/tensor.js';
import { defaultLayerInit_ } from './init.js';
import { Module } from './module.js';

type Pair = number | readonly [number, number];

/** Boundary conditions of a convolution: how values beyond the image edge are made. */
export const PADDING_MODES = ['zeros', 'reflect', 'replicate', 'circular'] as const;

export type PaddingMode = (typeof PADDING_MODES)[number];

function pair(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** A value as a size error shows it: a pair as [a, b], anything else as errors describe it. */
function shown(v: unknown): string {
  return Array.isArray(v) ? `[${v.map((x) => describe(x)).join(', ')}]` : describe(v);
}

/**
 * `v` as a pair, checked: integers, positive (`min` 1) or non-negative (`min` 0), given as one or as a
 * pair. Throws a TorchError for `op` naming the argument `name` otherwise.
 */
function sizePair(op: string, name: string, v: unknown, min: 0 | 1): [number, number] {
  const ok = (x: unknown) => Number.isInteger(x) && (x as number) >= min;
  check(
    Array.isArray(v) ? v.length === 2 && v.every(ok) : ok(v),
    op,
    () => `${name} must be ${min === 1 ? 'a positive' : 'a non-negative'} integer or a pair of them, got ${shown(v)}`,
  );
  return pair(v as Pair);
}

/** Options shared by Conv2d and ConvTranspose2d. */
export interface ConvOptions {
  stride?: Pair;
  /** Padding on each side, or "same" / "valid" (Conv2d only). Default 0. */
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
  /** Learn a bias (default true). */
  bias?: boolean;
  /** The boundary condition (default "zeros"). */
  paddingMode?: PaddingMode;
}

function checkChannels(op: string, inChannels: number, outChannels: number, groups: number): void {
  for (const [name, v] of [
    ['inChannels', inChannels],
    ['outChannels', outChannels],
    ['groups', groups],
  ] as const) {
    check(Number.isInteger(v) && v > 0, op, `${name} must be a positive integer, got ${v}`);
  }
  check(inChannels % groups === 0, op, `inChannels (${inChannels}) must be divisible by groups (${groups})`);
  check(outChannels % groups === 0, op, `outChannels (${outChannels}) must be divisible by groups (${groups})`);
}

/**
 * 2-D convolution: out = W ∗ in + b, with W of shape out×(in/groups)×kH×kW (PyTorch's nn.Conv2d,
 * same initialization).
 */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly kernelSize: [number, number];
  readonly paddingMode: PaddingMode;
  /** Explicit pads [left, right, top, bottom] for the non-zero boundary conditions. */
  readonly #pads: number[];

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly options: ConvOptions = {},
  ) {
    super();
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true, paddingMode = 'zeros' } = options;
    checkChannels('Conv2d', inChannels, outChannels, groups);
    check(
      PADDING_MODES.includes(paddingMode),
      'Conv2d',
      `paddingMode must be one of ${PADDING_MODES.join(', ')}, got ${JSON.stringify(paddingMode)}`,
    );
    this.kernelSize = sizePair('Conv2d', 'kernelSize', kernelSize, 1);
    this.stride = sizePair('Conv2d', 'stride', stride, 1);
    this.dilation = sizePair('Conv2d', 'dilation', dilation, 1);
    if (typeof padding === 'string') {
      check(
        padding === 'same' || padding === 'valid',
        'Conv2d',
        () => `padding must be "same", "valid", a non-negative integer or a pair of them, got ${describe(padding)}`,
      );
      this.padding = padding;
    } else {
      this.padding = sizePair('Conv2d', 'padding', padding, 0);
    }
    this.paddingMode = paddingMode;
    check(
      padding !== 'same' || (this.stride[0] === 1 && this.stride[1] === 1),
      'Conv2d',
      'padding "same" needs stride 1',
    );
    // PyTorch pads left/right and top/bottom; for "same", an odd total puts the extra one on the right.
    const totals =
      this.padding === 'valid'
        ? [0, 0]
        : this.padding === 'same'
          ? this.dilation.map((d, i) => d * (this.kernelSize[i]! - 1))
          : this.padding.map((p) => 2 * p);
    const [th, tw] = totals as [number, number];
    this.#pads = [Math.floor(tw / 2), tw - Math.floor(tw / 2), Math.floor(th / 2), th - Math.floor(th / 2)];
    this.weight = this.registerParameter(
      'weight',
      empty([outChannels, inChannels / groups, this.kernelSize[0], this.kernelSize[1]]),
    );
    this.bias = this.registerParameter('bias', bias ? empty([outChannels]) : null);
    this.resetParameters();
  }

  get groups(): number {
    return this.options.groups ?? 1;
  }

  /** PyTorch's default: kaimingUniform(a = √5) for the weight, U(±1/√fan_in) for the bias. */
  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(input: Tensor): Tensor {
    const opts = { stride: this.stride, dilation: this.dilation, groups: this.groups };
    if (this.paddingMode === 'zeros')
      return F.conv2d(input, this.weight, this.bias, { ...opts, padding: this.padding });
    const padded = F.pad(input, this.#pads, this.paddingMode);
    try {
      return F.conv2d(padded, this.weight, this.bias, { ...opts, padding: 0 });
    } finally {
      padded.dispose();
    }
  }

  protected override extraRepr(): string {
    const parts = [
      `${this.inChannels}, ${this.outChannels}, kernelSize=[${this.kernelSize}]`,
      `stride=[${this.stride}]`,
    ];
    if (this.padding !== 'valid' && (typeof this.padding === 'string' || this.padding.some((p) => p))) {
      parts.push(`padding=${typeof this.padding === 'string' ? this.padding : `[${this.padding}]`}`);
    }
    if (this.dilation.some((d) => d !== 1)) parts.push(`dilation=[${this.dilation}]`);
    if (this.groups !== 1) parts.push(`groups=${this.groups}`);
    if (this.bias === null) parts.push('bias=false');
    if (this.paddingMode !== 'zeros') parts.push(`paddingMode=${this.paddingMode}`);
    return parts.join(', ');
  }
}

/** Options of ConvTranspose2d. */
export interface ConvTransposeOptions {
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/**
 * Transposed 2-D convolution (the adjoint of Conv2d), weight of shape in×(out/groups)×kH×kW
 * (PyTorch's nn.ConvTranspose2d, zero padding only, as there).
 */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: [number, number];

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly options: ConvTransposeOptions = {},
  ) {
    super();
    const { stride = 1, padding = 0, outputPadding = 0, dilation = 1, groups = 1, bias = true } = options;
    checkChannels('ConvTranspose2d', inChannels, outChannels, groups);
    this.kernelSize = sizePair('ConvTranspose2d', 'kernelSize', kernelSize, 1);
    sizePair('ConvTranspose2d', 'stride', stride, 1);
    sizePair('ConvTranspose2d', 'dilation', dilation, 1);
    sizePair('ConvTranspose2d', 'padding', padding, 0);
    sizePair('ConvTranspose2d', 'outputPadding', outputPadding, 0);
    this.weight = this.registerParameter(
      'weight',
      empty([inChannels, outChannels / groups, this.kernelSize[0], this.kernelSize[1]]),
    );
    this.bias = this.registerParameter('bias', bias ? empty([outChannels]) : null);
    this.resetParameters();
  }

  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(input: Tensor): Tensor {
    return F.convTranspose2d(input, this.weight, this.bias, this.options);
  }

  protected override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=[${this.kernelSize}]`;
  }
}
