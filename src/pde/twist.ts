/**
 * "ResNet with a twist": convolutions with coefficients that vary in space.
 *
 * A plain 3×3 convolution is a constant-coefficient differential operator L of order ≤ 2. The twist adds
 * first-order terms whose coefficients are the coordinates: out = K⋆u + x·(Kx⋆u) + y·(Ky⋆u), which lets
 * a network learn to rotate and dilate, not only diffuse and translate (seeds: the "ResNet with a twist"
 * README and notebook; "ConvNets from the PDE perspective").
 * @module
 */
import { empty, randn, zeros } from '../tensor/creation.js';
import { check, TorchError } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { defaultLayerInit_ } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { BOUNDARIES, type Boundary, padBoundary } from './boundary.js';
import { type CoordinateConvention, checkConvention, coordinates, polynomialFeatures } from './coords.js';

/**
 * How Kx is projected from its free parameter w (flip_x reverses the columns, flip_y the rows):
 * - `point`: odd under the 180° rotation, Kx = (w − flip_{x,y} w)/2 — the seed notebook's BasicBlock and
 *   PDEBlock (`weight.flip(2).flip(3)`). On a 3×3 stencil this spans ∂x, ∂y and the third-order ∂x∂y², ∂x²∂y;
 * - `doubly-odd`: odd under x → −x and under y → −y, tmp = (w − flip_y w)/2, Kx = (tmp − flip_x tmp)/2 — the
 *   notebook's Bottleneck, as its code computes. Only the four corners survive, in the pattern
 *   [[a, 0, −a], [0, 0, 0], [−a, 0, a]]: Kx is a multiple of the mixed second derivative ∂x∂y, not the
 *   "1st-order diff op, i.e. a vector field" the code's comment announces (the comment's intent is `point`);
 *   with the Bottleneck's rotation (`conformal`) Ky = −Kx, so the twist term is (X − Y)·(Kx⋆u);
 * - `mirror` (pdenet's own, not the seeds'): odd under x → −x only, Kx = (w − flip_x w)/2 — ∂x times any
 *   vertical profile (∂x, ∂x∂y, ∂x∂y²).
 * Ky is Kx rotated by 90° (see {@link TwistField} for which way), so (Kx, Ky) act as the two components of
 * one vector field.
 */
/** The twist variants, in the order of the docs. */
export const TWIST_VARIANTS = ['point', 'doubly-odd', 'mirror'] as const;

export type TwistVariant = (typeof TWIST_VARIANTS)[number];

/** Kx projected from its free parameter `w` (…×3×3) by `variant` (see {@link TwistVariant}); differentiable. */
export function projectKx(w: Tensor, variant: TwistVariant): Tensor {
  return tidy(() => {
    switch (variant) {
      case 'point':
        return w.sub(w.flip([2, 3])).div(2);
      case 'mirror':
        return w.sub(w.flip(3)).div(2);
      case 'doubly-odd': {
        const tmp = w.sub(w.flip(2)).div(2);
        return tmp.sub(tmp.flip(3)).div(2);
      }
      default:
        throw new TorchError(
          `variant must be one of ${TWIST_VARIANTS.join(', ')}, got ${String(variant)}`,
          'projectKx',
        );
    }
  });
}

/** Ky from Kx: Kx transposed, then flipped along the rows (`strain`) or the columns (`conformal`). */
export function kyFromKx(kx: Tensor, field: TwistField): Tensor {
  return tidy(() => kx.transpose(2, 3).flip(field === 'strain' ? 2 : 3));
}

/**
 * Which 90° rotation makes Ky from Kx, and so which vector fields the twist can learn. Write the
 * first-order part of Kx as a∂x + b∂y; the twist's transport term x·(Kx⋆u) + y·(Ky⋆u) is then v·∇u with
 * v = M·(x, y):
 * - `strain` (the notebook's BasicBlock and PDEBlock, `transpose(2, 3).flip(2)`, ∂x ↦ −∂y, ∂y ↦ ∂x):
 *   M = [[a, b], [b, −a]], symmetric and traceless — shear and strain only, neither rotation nor dilation;
 * - `conformal` (the notebook's Bottleneck, `transpose(2, 3).flip(3)`, ∂x ↦ ∂y, ∂y ↦ −∂x):
 *   M = [[a, −b], [b, a]] = a·I + b·J — dilation and rotation, the motions the seed README motivates the
 *   twist with. (The Bottleneck's Kx is `doubly-odd`, with no first-order part: see {@link TwistVariant}.)
 * (x along columns, y along rows; see test/pde.test.ts.)
 */
export const TWIST_FIELDS = ['strain', 'conformal'] as const;

export type TwistField = (typeof TWIST_FIELDS)[number];

/** Refuses a boundary condition outside {@link BOUNDARIES}, naming the layer. */
function checkBoundary(boundary: unknown, op: string): void {
  check(
    BOUNDARIES.includes(boundary as Boundary),
    op,
    () => `boundary must be one of ${BOUNDARIES.join(', ')}, got ${JSON.stringify(boundary)}`,
  );
}

/** Options of {@link TwistConv2d}. */
export interface TwistConvOptions {
  stride?: number;
  groups?: number;
  bias?: boolean;
  /** The boundary condition (default "zeros"). */
  boundary?: Boundary;
  /** Twist on (default true); switchable at any time with `twist`, the parameters stay. */
  twist?: boolean;
  variant?: TwistVariant;
  /** Which rotation gives Ky (default "strain", as the notebook's BasicBlock). */
  field?: TwistField;
  convention?: CoordinateConvention;
  /** Standard deviation of the initial Kx (default 0.01, as the reference; 0 starts as a plain conv). */
  twistInitStd?: number;
}

/**
 * K⋆u + X·(Kx⋆u) + Y·(Ky⋆u) from the fused convolution's output N×(g·3·c/g)×H×W — per group, the three parts
 * side by side — as two fused multiply-adds on views of the parts, in the layout the convolution wrote (NCHW or
 * channels-last): no copies, one output-sized result, and a backward whose part gradients are gathered into one
 * buffer (`chunk`'s backward is one concatenation). BENCHMARKS.md ("The twist's combine") has its speed.
 */
function combineParts(out: Tensor, groups: number, { x, y }: { x: Tensor; y: Tensor }): Tensor {
  return tidy(() => {
    const [n, c3, h, w] = out.shape as [number, number, number, number];
    const [k, kx, ky] = out.view(n, groups, c3 / groups, h, w).chunk(3, 2) as [Tensor, Tensor, Tensor];
    return k
      .addcmul(x, kx)
      .addcmul_(y, ky)
      .reshape(n, c3 / 3, h, w);
  });
}

/**
 * A 3×3 convolution with a twist: out = K⋆u + X·(Kx⋆u) + Y·(Ky⋆u), X and Y the coordinate fields of
 * the output grid. Kx is antisymmetrized from its parameter on every forward (so it is a first-order
 * operator by construction and gradients flow through the constraint), and the three convolutions run
 * as one convolution with three times the output channels. With the twist off, or Kx = 0, it is exactly
 * a plain convolution.
 *
 * Parameters: `weight` (K, out×in/groups×3×3), `kx` (the free parameter of Kx, same shape), `bias`.
 */
export class TwistConv2d extends Module {
  readonly weight: Tensor;
  readonly kx: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly groups: number;
  readonly boundary: Boundary;
  readonly variant: TwistVariant;
  readonly field: TwistField;
  readonly convention: CoordinateConvention;
  /** Whether the variable-coefficient terms are applied. */
  twist: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    options: TwistConvOptions = {},
  ) {
    super();
    const {
      stride = 1,
      groups = 1,
      bias = false,
      boundary = 'zeros',
      twist = true,
      variant = 'point',
      field = 'strain',
      convention = 'centered',
      twistInitStd = 0.01,
    } = options;
    checkConvention(convention, 'TwistConv2d');
    checkBoundary(boundary, 'TwistConv2d');
    check(
      inChannels % groups === 0 && outChannels % groups === 0,
      'TwistConv2d',
      `channels (${inChannels} in, ${outChannels} out) must be divisible by groups (${groups})`,
    );
    check(
      TWIST_VARIANTS.includes(variant),
      'TwistConv2d',
      `variant must be one of ${TWIST_VARIANTS.join(', ')}, got ${variant}`,
    );
    this.stride = stride;
    this.groups = groups;
    this.boundary = boundary;
    this.variant = variant;
    check(
      field === 'strain' || field === 'conformal',
      'TwistConv2d',
      `field must be strain or conformal, got ${field}`,
    );
    this.field = field;
    this.convention = convention;
    this.twist = twist;
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels / groups, 3, 3]));
    this.bias = this.registerParameter('bias', bias ? empty([outChannels]) : null);
    defaultLayerInit_(this.weight, this.bias);
    this.kx = this.registerParameter(
      'kx',
      twistInitStd > 0
        ? randn([outChannels, inChannels / groups, 3, 3]).mul_(twistInitStd)
        : zeros([outChannels, inChannels / groups, 3, 3]),
    );
  }

  /** The parameters of the variable-coefficient terms (Kx's free parameter): see `twistParameters` in the zoo. */
  twistParameters(): Tensor[] {
    return [this.kx];
  }

  /** The effective (Kx, Ky) of this forward: Kx antisymmetrized per `variant`, Ky its 90° rotation per `field`. */
  twistKernels(): { kx: Tensor; ky: Tensor } {
    return tidy(() => {
      const kx = projectKx(this.kx, this.variant);
      return { kx, ky: kyFromKx(kx, this.field) };
    });
  }

  forward(input: Tensor): Tensor {
    const layer = `TwistConv2d(${this.inChannels}→${this.outChannels})`;
    check(
      input.ndim === 4,
      layer,
      () => `expects a 4-d input N×${this.inChannels}×H×W, got shape [${input.shape.join(', ')}]`,
    );
    check(
      input.shape[1] === this.inChannels,
      layer,
      () => `expects ${this.inChannels} input channels, got ${input.shape[1]} (input [${input.shape.join(', ')}])`,
    );
    return tidy(() => {
      const u = this.boundary === 'zeros' ? input : padBoundary(input, 1, this.boundary);
      const padding = this.boundary === 'zeros' ? 1 : 0;
      const opts = { stride: this.stride, padding, groups: this.groups };
      if (!this.twist) return F.conv2d(u, this.weight, this.bias, opts);
      const { kx, ky } = this.twistKernels();
      // One convolution computes K⋆u, Kx⋆u and Ky⋆u; with groups, each group's three outputs stay together.
      const c = this.outChannels;
      const g = this.groups;
      const stackByGroup = (t: Tensor) => t.reshape(g, c / g, ...t.shape.slice(1));
      const weight = cat([stackByGroup(this.weight), stackByGroup(kx), stackByGroup(ky)], 1).reshape(3 * c, -1, 3, 3);
      const out = F.conv2d(u, weight, null, opts);
      const result = combineParts(out, g, coordinates(out.shape[2]!, out.shape[3]!, this.convention, out.dtype));
      return this.bias === null ? result : result.add(this.bias.reshape(1, c, 1, 1));
    });
  }

  protected override extraRepr(): string {
    return (
      `${this.inChannels}, ${this.outChannels}, stride=${this.stride}` +
      `${this.groups !== 1 ? `, groups=${this.groups}` : ''}, twist=${this.twist}, variant=${this.variant}` +
      `${this.field !== 'strain' ? `, field=${this.field}` : ''}` +
      `${this.boundary !== 'zeros' ? `, boundary=${this.boundary}` : ''}`
    );
  }
}

/** Options of {@link CoordMixConv2d}. */
export interface CoordMixOptions {
  /** Depthwise channel multiplier k (default 4, as in seed 003). */
  multiplier?: number;
  stride?: number;
  boundary?: Boundary;
  /** Twist on (default true): off leaves the plain depthwise convolution. */
  twist?: boolean;
  convention?: CoordinateConvention;
  /**
   * Include the constant feature (6 channels [1, x, y, x², xy, y²] into a 1×1 conv without bias, as the
   * seed's code; default true), or leave it out (5 channels, with a bias instead). Both span the same
   * functions.
   */
  constant?: boolean;
}

/**
 * A coordinate-mixed (variable-coefficient) depthwise convolution, seed 003's: a 3×3 depthwise conv with multiplier k
 * (groups = width, width → k·width channels) whose output is multiplied by mix(XY), a learned 1×1
 * convolution of the degree-2 coordinate features — so each of the k·width operators gets its own
 * quadratic coefficient field. Children: `conv` (the depthwise conv) and `mix` (the 1×1 conv).
 */
export class CoordMixConv2d extends Module {
  readonly conv: Conv2d;
  readonly mix: Conv2d;
  readonly multiplier: number;
  readonly convention: CoordinateConvention;
  readonly constant: boolean;
  twist: boolean;

  constructor(
    readonly width: number,
    options: CoordMixOptions = {},
  ) {
    super();
    const {
      multiplier = 4,
      stride = 1,
      boundary = 'zeros',
      twist = true,
      convention = 'corner',
      constant = true,
    } = options;
    checkConvention(convention, 'CoordMixConv2d');
    checkBoundary(boundary, 'CoordMixConv2d');
    this.multiplier = multiplier;
    this.convention = convention;
    this.constant = constant;
    this.twist = twist;
    this.conv = this.registerModule(
      'conv',
      new Conv2d(width, width * multiplier, 3, {
        stride,
        padding: 1,
        groups: width,
        bias: false,
        paddingMode: boundary,
      }),
    );
    this.mix = this.registerModule('mix', new Conv2d(constant ? 6 : 5, width * multiplier, 1, { bias: !constant }));
  }

  /** The coefficient field of each output channel, mix(XY), shape [1, k·width, H, W]. */
  coefficients(height: number, width: number, like: Tensor): Tensor {
    return this.mix.forward(
      polynomialFeatures(height, width, {
        convention: this.convention,
        degree: 2,
        constant: this.constant,
        dtype: like.dtype,
      }),
    );
  }

  forward(input: Tensor): Tensor {
    return tidy(() => {
      const out = this.conv.forward(input);
      if (!this.twist) return out;
      const [, , h, w] = out.shape as [number, number, number, number];
      return out.mul(this.coefficients(h, w, out));
    });
  }

  protected override extraRepr(): string {
    return `${this.width}, multiplier=${this.multiplier}, twist=${this.twist}`;
  }
}
