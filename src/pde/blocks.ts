/**
 * Blocks built from the PDE view: the depthwise operator basis and pdenet's PDEBlock.
 * @module
 */
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import { stack, type Tensor } from '../tensor/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { BatchNorm2d } from '../nn/norm.js';
import { markBlock } from '../nn/block.js';
import { Module } from '../nn/module.js';
import type { Boundary } from './boundary.js';
import { BASIS_ORDER, stencilKernel } from './stencils.js';
import { TwistConv2d, type TwistField, type TwistVariant } from './twist.js';

/** Options of {@link DepthwiseBasisBlock}. */
export interface DepthwiseBasisOptions {
  /** Operators per channel (default 4: the space of second-order operators is 5–6 dimensional). */
  multiplier?: number;
  boundary?: Boundary;
  /** Start the depthwise kernels at the operator basis identity, ∂x, ∂y, Δ, ∂xx, … (default false). */
  initFromBasis?: boolean;
}

/**
 * The "operator basis" block of seed 003: C →(3×3 depthwise, ×k)→ k·C →(1×1)→ C. Each channel is acted
 * on by k differential operators, then the 1×1 convolution takes linear combinations across channels.
 * Children: `depthwise`, `pointwise`.
 */
export class DepthwiseBasisBlock extends Module {
  readonly depthwise: Conv2d;
  readonly pointwise: Conv2d;

  constructor(
    readonly channels: number,
    options: DepthwiseBasisOptions = {},
  ) {
    super();
    const { multiplier = 4, boundary = 'zeros', initFromBasis = false } = options;
    check(
      (multiplier >= 1 && multiplier <= BASIS_ORDER.length) || !initFromBasis,
      'DepthwiseBasisBlock',
      `initFromBasis needs a multiplier of at most ${BASIS_ORDER.length}, got ${multiplier}`,
    );
    this.depthwise = this.registerModule(
      'depthwise',
      new Conv2d(channels, channels * multiplier, 3, {
        padding: 1,
        groups: channels,
        bias: false,
        paddingMode: boundary,
      }),
    );
    this.pointwise = this.registerModule('pointwise', new Conv2d(channels * multiplier, channels, 1, { bias: false }));
    if (initFromBasis) {
      // Output channel c·k + m of a depthwise conv reads input channel c: give it the m-th basis stencil.
      tidy(() =>
        noGrad(() => {
          const basis = stack(
            BASIS_ORDER.slice(0, multiplier).map((name) => stencilKernel(name).squeeze(0)),
            0,
          );
          this.depthwise.weight.copy_(basis.repeat(channels, 1, 1, 1));
        }),
      );
    }
  }

  forward(u: Tensor): Tensor {
    return tidy(() => this.pointwise.forward(this.depthwise.forward(u)));
  }
}

/** Options of {@link PDEBlock}. */
export interface PDEBlockOptions {
  /** Forward-Euler steps of the shared operator (default 4): time step 1/iterations, total time 1. */
  iterations?: number;
  /** Groups of the operator's convolution (default 4, as the notebook). */
  groups?: number;
  stride?: number;
  twist?: boolean;
  twistVariant?: TwistVariant;
  /** Ky from Kx: `strain` (default, the notebook's BasicBlock and PDEBlock) or `conformal` (TwistConv2d's `field`). */
  field?: TwistField;
  boundary?: Boundary;
}

/**
 * pdenet's PDEBlock, after the notebook's: an optional 1×1 expansion (and stride) to `outChannels`, then
 * `iterations` forward-Euler steps of one twisted operator,
 *
 *   x ← x + (K⋆x + X·(Kx⋆x) + Y·(Ky⋆x)) / iterations,
 *
 * then BatchNorm and ReLU. Children: `expand` (when the shape changes), `op`, `bn`.
 *
 * The notebook's own block is `NotebookPDEBlock` (src/models/notebook.ts), checked against its code. This one
 * differs: 4 steps by default (the notebook: 2), the expansion has no padding and no BatchNorm (the notebook:
 * `conv0` with padding 1, so the map grows by 2 pixels, then `bn0`), the twist is pdenet's fused, parametrized
 * TwistConv2d (the notebook projects `.data` in place), and the twist is on by default.
 */
export class PDEBlock extends Module {
  readonly expand: Conv2d | null;
  readonly op: TwistConv2d;
  readonly bn: BatchNorm2d;
  readonly iterations: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number = inChannels,
    options: PDEBlockOptions = {},
  ) {
    super();
    const {
      iterations = 4,
      groups = 4,
      stride = 1,
      twist = true,
      twistVariant = 'point',
      field = 'strain',
      boundary = 'zeros',
    } = options;
    check(
      Number.isInteger(iterations) && iterations >= 1,
      'PDEBlock',
      `iterations must be a positive integer, got ${iterations}`,
    );
    this.iterations = iterations;
    this.expand =
      inChannels !== outChannels || stride !== 1
        ? this.registerModule('expand', new Conv2d(inChannels, outChannels, 1, { stride, bias: false }))
        : null;
    this.op = this.registerModule(
      'op',
      new TwistConv2d(outChannels, outChannels, { groups, twist, variant: twistVariant, field, boundary }),
    );
    this.bn = this.registerModule('bn', new BatchNorm2d(outChannels));
  }

  forward(input: Tensor): Tensor {
    let x = this.expand ? this.expand.forward(input) : input;
    for (let i = 0; i < this.iterations; i++) {
      const u = x;
      x = tidy(() => u.add(this.op.forward(u), 1 / this.iterations));
    }
    const out = x;
    return tidy(() => F.relu(this.bn.forward(out)));
  }
}
markBlock(PDEBlock, { stepOperators: (b) => [b.op], stepState: 'Euler state' });
