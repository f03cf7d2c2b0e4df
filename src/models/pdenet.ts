/**
 * PDEBlock nets: small classifiers made only of the seed notebook's PDEBlock (src/pde/blocks.ts), each a
 * few forward-Euler steps x ← x + (K⋆x + X·(Kx⋆x) + Y·(Ky⋆x))/iterations of one twisted, grouped
 * (groups = 4) operator followed by BN + ReLU. Depth is time: a stage is one solution of a
 * variable-coefficient PDE at a fixed resolution, integrated to t = 1 with `iterations` steps.
 *
 * Layout: `stem` (3×3 conv 3 → w, BN, ReLU), `layers` (the PDEBlocks of three stages of widths w, 2w, 4w;
 * the first block of stages 2 and 3 changes width and halves the resolution with its 1×1 `expand` of
 * stride 2), global average pooling, `linear`. Variants:
 * - `pdenet-s`: w = 32, one PDEBlock per stage;
 * - `pdenet-m`: w = 64, two PDEBlocks per stage.
 * Each PDEBlock takes 4 Euler steps. Every stage is twistable (Kx is part of the PDEBlock); `width` must
 * be a multiple of 4 (the groups).
 * @module
 */
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { ReLU } from '../nn/activation.js';
import { Sequential } from '../nn/container.js';
import { Linear } from '../nn/linear.js';
import { BatchNorm2d } from '../nn/norm.js';
import { PDEBlock } from '../pde/blocks.js';
import { type TwistModelOptions, resolveOptions, type ResolvedOptions } from './options.js';
import { ZooModel, stemConv } from './stages.js';

/** Forward-Euler steps of every PDEBlock of the PDEBlock nets. */
export const PDENET_ITERATIONS = 4;

/** A stack of PDEBlocks: `stem`, `layers`, global average pooling, `linear`. */
export class PDENet extends ZooModel {
  readonly stem: Sequential;
  readonly layers: Sequential;
  readonly linear: Linear;

  constructor(blocksPerStage: readonly number[], options: ResolvedOptions) {
    super();
    const { width, boundary, numClasses } = options;
    this.stem = this.registerModule(
      'stem',
      new Sequential(stemConv(width, boundary), new BatchNorm2d(width), new ReLU()),
    );
    this.layers = this.registerModule('layers', new Sequential());
    let channels = width;
    blocksPerStage.forEach((n, i) => {
      this.beginStage();
      const out = width * 2 ** i;
      for (let j = 0; j < n; j++) {
        const block = new PDEBlock(channels, out, {
          stride: i > 0 && j === 0 ? 2 : 1,
          iterations: PDENET_ITERATIONS,
          twist: options.twist[i]!,
          twistVariant: options.twistVariant,
          field: options.twistField,
          boundary,
        });
        this.inStage(block.op);
        this.layers.append(block);
        channels = out;
      }
    });
    this.linear = this.registerModule('linear', new Linear(channels, numClasses));
  }

  forward(x: Tensor): Tensor {
    return tidy(() =>
      this.linear.forward(F.adaptiveAvgPool2d(this.layers.forward(this.stem.forward(x)), 1).flatten(1)),
    );
  }
}

/** The builder of the PDEBlock nets. */
export function _pdenet(
  name: string,
  blocksPerStage: readonly number[],
  defaultWidth: number,
  options: TwistModelOptions,
): PDENet {
  return new PDENet(
    blocksPerStage,
    resolveOptions(name, options, {
      stages: blocksPerStage.length,
      defaultWidth,
      defaultVariant: 'point',
      alwaysTwistable: true,
      widthMultipleOf: 4,
    }),
  );
}

/** PDEBlock net, small: width 32, one PDEBlock per stage. */
export function pdenetS(options: TwistModelOptions = {}): PDENet {
  return _pdenet('pdenet-s', [1, 1, 1], 32, options);
}

/** PDEBlock net, medium: width 64, two PDEBlocks per stage. */
export function pdenetM(options: TwistModelOptions = {}): PDENet {
  return _pdenet('pdenet-m', [2, 2, 2], 64, options);
}
