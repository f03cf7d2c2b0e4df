/**
 * CIFAR ResNets in the layout of kuangliu/pytorch-cifar (`models/resnet.py`), the code the seed notebook
 * ("ResNet with a twist") is based on: ResNet-18/34 with BasicBlock, ResNet-50/101/152 with Bottleneck
 * (expansion 4) — He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", arXiv:1512.03385.
 *
 * Names follow kuangliu exactly: `conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`, `layer1.0.bn1.*`,
 * `layer2.0.shortcut.0.weight` (1×1 projection), `layer2.0.shortcut.1.*` (its BN), `linear.*`. A
 * twistable stage adds one parameter per 3×3 convolution, `…convN.kx` (the free parameter of Kx; Ky is
 * derived from it). Plain ResNet-18 with 10 classes has 11,173,962 parameters, as in PyTorch.
 *
 * One difference from kuangliu: the final pooling is a global average (`adaptive_avg_pool2d(·, 1)`)
 * instead of `avg_pool2d(·, 4)`; the two are the same on 32×32 images, and the former also takes smaller
 * or larger ones.
 * @module
 */
import * as F from '../tensor/functional.js';
import { chain, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Sequential } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { markBlock } from '../nn/block.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import type { TwistConv2d } from '../pde/twist.js';
import { type TwistModelOptions, resolveOptions, type ResolvedOptions } from './options.js';
import { type BlockContext, conv3x3, ZooModel, stemConv } from './stages.js';

/** kuangliu's projection shortcut (1×1 conv with stride, then BN), or the identity (an empty Sequential). */
export function projectionShortcut(inPlanes: number, outPlanes: number, stride: number): Sequential {
  return stride !== 1 || inPlanes !== outPlanes
    ? new Sequential(new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false }), new BatchNorm2d(outPlanes))
    : new Sequential();
}

/** A block class of {@link CifarResNet}: its output has `planes · expansion` channels. */
export interface CifarBlockClass {
  readonly expansion: number;
  new (
    inPlanes: number,
    planes: number,
    stride: number,
    context: BlockContext,
  ): Module & { forward(x: Tensor): Tensor };
}

/**
 * kuangliu's BasicBlock: relu(bn1(conv1 x)) → bn2(conv2 ·) → + shortcut(x) → relu. Both 3×3 convolutions
 * carry the twist when the stage is twistable (the notebook twists both).
 */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: TwistConv2d | Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: TwistConv2d | Conv2d;
  readonly bn2: BatchNorm2d;
  readonly shortcut: Sequential;

  constructor(inPlanes: number, planes: number, stride: number, context: BlockContext) {
    super();
    const { record } = context;
    this.conv1 = this.registerModule('conv1', record(conv3x3(inPlanes, planes, { ...context, stride })));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', record(conv3x3(planes, planes, context)));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.shortcut = this.registerModule('shortcut', projectionShortcut(inPlanes, planes, stride));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(x, this.conv1, this.bn1, F.relu, this.conv2, this.bn2);
      return F.relu(out.add(this.shortcut.forward(x)));
    });
  }
}
markBlock(BasicBlock);

/**
 * kuangliu's Bottleneck (expansion 4): 1×1 → BN → ReLU → 3×3 (stride; twisted) → BN → ReLU → 1×1 → BN,
 * + shortcut, ReLU. The stride sits on the 3×3, as in kuangliu (and torchvision's "v1.5").
 */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: TwistConv2d | Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly shortcut: Sequential;

  constructor(inPlanes: number, planes: number, stride: number, context: BlockContext) {
    super();
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule('conv1', new Conv2d(inPlanes, planes, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', context.record(conv3x3(planes, planes, { ...context, stride })));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', new Conv2d(planes, out, 1, { bias: false }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(out));
    this.shortcut = this.registerModule('shortcut', projectionShortcut(inPlanes, out, stride));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(x, this.conv1, this.bn1, F.relu, this.conv2, this.bn2, F.relu, this.conv3, this.bn3);
      return F.relu(out.add(this.shortcut.forward(x)));
    });
  }
}
markBlock(Bottleneck);

/**
 * kuangliu's CIFAR ResNet: 3×3 stem `conv1` (stride 1) + `bn1` + ReLU, four stages `layer1..layer4` of
 * widths w, 2w, 4w, 8w (w = `width`, 64 by default; stride 2 at the first block of stages 2–4), global
 * average pooling, `linear`. Stage i is twisted per `options.twist[i]`.
 */
export class CifarResNet extends ZooModel {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Sequential[];
  readonly linear: Linear;

  constructor(block: CifarBlockClass, numBlocks: readonly number[], options: ResolvedOptions) {
    super();
    const { width, boundary, numClasses } = options;
    this.conv1 = this.registerModule('conv1', stemConv(width, boundary));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    let inPlanes = width;
    this.layers = numBlocks.map((n, i) => {
      const context = this.stageContext(i, options);
      const planes = width * 2 ** i;
      const layer = new Sequential();
      for (let j = 0; j < n; j++) {
        layer.append(new block(inPlanes, planes, i > 0 && j === 0 ? 2 : 1, context));
        inPlanes = planes * block.expansion;
      }
      return this.registerModule(`layer${i + 1}`, layer);
    });
    this.linear = this.registerModule('linear', new Linear(inPlanes, numClasses));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(x, this.conv1, this.bn1, F.relu, ...this.layers);
      return this.linear.forward(F.adaptiveAvgPool2d(out, 1).flatten(1));
    });
  }
}

/**
 * The one builder behind the kuangliu factories (as torchvision's `_resnet`): checks the options of the
 * named model and builds the network.
 */
export function _cifarResNet(
  name: string,
  block: CifarBlockClass,
  numBlocks: readonly number[],
  options: TwistModelOptions,
): CifarResNet {
  return new CifarResNet(
    block,
    numBlocks,
    resolveOptions(name, options, {
      stages: 4,
      defaultWidth: 64,
      // pdenet's defaults: the point reflection in BasicBlock (as the notebook's), the mirror x → −x in Bottleneck
      // (pdenet's; the notebook's Bottleneck is `doubly-odd`: see TwistVariant and the notebook-* models).
      defaultVariant: block.expansion === 1 ? 'point' : 'mirror',
    }),
  );
}

/** ResNet-18 (BasicBlock, [2, 2, 2, 2]), kuangliu layout; 11,173,962 parameters plain with 10 classes. */
export function resnet18(options: TwistModelOptions = {}): CifarResNet {
  return _cifarResNet('resnet18', BasicBlock, [2, 2, 2, 2], options);
}

/** ResNet-34 (BasicBlock, [3, 4, 6, 3]), kuangliu layout. The seed reports 94.32% on CIFAR-10 twisted, in 50 epochs. */
export function resnet34(options: TwistModelOptions = {}): CifarResNet {
  return _cifarResNet('resnet34', BasicBlock, [3, 4, 6, 3], options);
}

/** ResNet-50 (Bottleneck, [3, 4, 6, 3]), kuangliu layout. The seed reports 94.72% on CIFAR-10 twisted, in 120 epochs. */
export function resnet50(options: TwistModelOptions = {}): CifarResNet {
  return _cifarResNet('resnet50', Bottleneck, [3, 4, 6, 3], options);
}

/** ResNet-101 (Bottleneck, [3, 4, 23, 3]), kuangliu layout. */
export function resnet101(options: TwistModelOptions = {}): CifarResNet {
  return _cifarResNet('resnet101', Bottleneck, [3, 4, 23, 3], options);
}

/** ResNet-152 (Bottleneck, [3, 8, 36, 3]), kuangliu layout. */
export function resnet152(options: TwistModelOptions = {}): CifarResNet {
  return _cifarResNet('resnet152', Bottleneck, [3, 8, 36, 3], options);
}
