/**
 * He et al.'s CIFAR ResNets — ResNet-20/32/44/56/110 = 6n + 2 layers, three stages of 16, 32, 64 channels
 * with n BasicBlocks each (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition",
 * arXiv:1512.03385, §4.2) — in the form of the project's reference recipe `train_ref.py`: projection
 * shortcuts (option B: 1×1 conv + BN) wherever the shape changes, and the twist fused into one conv.
 *
 * Names mirror `train_ref.py`: `stem.0.weight` (3×3 conv), `stem.1.*` (BN), `layers.N.c1`, `layers.N.b1`,
 * `layers.N.c2`, `layers.N.b2`, `layers.N.short.0.weight`, `layers.N.short.1.*`, `fc.*`. One difference:
 * the reference wraps its conv inside its TwistConv (`layers.N.c1.conv.weight`, beside `layers.N.c1.kx`);
 * here c1 *is* the convolution, so K is `layers.N.c1.weight` and Kx `layers.N.c1.kx`
 * ({@link keyFromTrainRef} maps the reference's names). Plain ResNet-20 has 272,474 parameters (the
 * reference's count; option A shortcuts would give the paper's 0.27 M = 269,722).
 * @module
 */
import * as F from '../tensor/functional.js';
import { chain, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { ReLU } from '../nn/activation.js';
import { Sequential } from '../nn/container.js';
import type { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { markBlock } from '../nn/block.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import type { TwistConv2d } from '../pde/twist.js';
import { type TwistModelOptions, resolveOptions, type ResolvedOptions } from './options.js';
import { projectionShortcut } from './resnet.js';
import { type BlockContext, conv3x3, ZooModel, stemConv } from './stages.js';

/** `train_ref.py`'s Block: relu(b1(c1 x)) → b2(c2 ·) → + short(x) → relu. */
export class HeBlock extends Module {
  readonly c1: TwistConv2d | Conv2d;
  readonly b1: BatchNorm2d;
  readonly c2: TwistConv2d | Conv2d;
  readonly b2: BatchNorm2d;
  readonly short: Sequential;

  constructor(inPlanes: number, planes: number, stride: number, context: BlockContext) {
    super();
    this.c1 = this.registerModule('c1', context.record(conv3x3(inPlanes, planes, { ...context, stride })));
    this.b1 = this.registerModule('b1', new BatchNorm2d(planes));
    this.c2 = this.registerModule('c2', context.record(conv3x3(planes, planes, context)));
    this.b2 = this.registerModule('b2', new BatchNorm2d(planes));
    this.short = this.registerModule('short', projectionShortcut(inPlanes, planes, stride));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(x, this.c1, this.b1, F.relu, this.c2, this.b2);
      return F.relu(out.add(this.short.forward(x)));
    });
  }
}
markBlock(HeBlock);

/** He et al.'s CIFAR ResNet with n blocks per stage: `stem`, `layers`, global average pooling, `fc`. */
export class HeResNet extends ZooModel {
  readonly stem: Sequential;
  readonly layers: Sequential;
  readonly fc: Linear;

  constructor(
    readonly blocksPerStage: number,
    options: ResolvedOptions,
  ) {
    super();
    const { width, boundary, numClasses } = options;
    this.stem = this.registerModule(
      'stem',
      new Sequential(stemConv(width, boundary), new BatchNorm2d(width), new ReLU()),
    );
    this.layers = this.registerModule('layers', new Sequential());
    let inPlanes = width;
    for (let i = 0; i < 3; i++) {
      const context = this.stageContext(i, options);
      const planes = width * 2 ** i;
      for (let j = 0; j < blocksPerStage; j++) {
        this.layers.append(new HeBlock(inPlanes, planes, i > 0 && j === 0 ? 2 : 1, context));
        inPlanes = planes;
      }
    }
    this.fc = this.registerModule('fc', new Linear(inPlanes, numClasses));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => this.fc.forward(F.adaptiveAvgPool2d(this.layers.forward(this.stem.forward(x)), 1).flatten(1)));
  }
}

/** The builder behind the He et al. factories: 6n + 2 layers. */
export function _heResNet(name: string, blocksPerStage: number, options: TwistModelOptions): HeResNet {
  return new HeResNet(
    blocksPerStage,
    resolveOptions(name, options, { stages: 3, defaultWidth: 16, defaultVariant: 'point' }),
  );
}

/** ResNet-20 (n = 3): the reference recipe's model; 272,474 parameters plain. */
export function resnet20(options: TwistModelOptions = {}): HeResNet {
  return _heResNet('resnet20', 3, options);
}

/** ResNet-32 (n = 5). */
export function resnet32(options: TwistModelOptions = {}): HeResNet {
  return _heResNet('resnet32', 5, options);
}

/** ResNet-44 (n = 7). */
export function resnet44(options: TwistModelOptions = {}): HeResNet {
  return _heResNet('resnet44', 7, options);
}

/** ResNet-56 (n = 9). */
export function resnet56(options: TwistModelOptions = {}): HeResNet {
  return _heResNet('resnet56', 9, options);
}

/** ResNet-110 (n = 18). */
export function resnet110(options: TwistModelOptions = {}): HeResNet {
  return _heResNet('resnet110', 18, options);
}

/** The pdenet name of a parameter of `train_ref.py`'s ResNet20: `….cN.conv.weight` → `….cN.weight`, others unchanged. */
export function keyFromTrainRef(key: string): string {
  return key.replace(/\.(c\d)\.conv\.weight$/, '.$1.weight');
}
