/**
 * The seed notebook's pre-activation block in the layout of `pytorch_twist.py` (the project's shared
 * references), with pdenet's fused, parametrized twist: `preact-resnet18`, `preact-resnet34` (width 64) and
 * `resnet10s` (one block per stage, base width 16). The notebook's own networks (width 32, channels
 * [1,2,4,4]·32, its names, its projected twist) are the `notebook-*` models of src/models/notebook.ts.
 *
 * Block (exactly as the reference): a = relu(bn1(x)); h = conv1(a) (stride); out = conv2(relu(bn2(h)))
 * + shortcut(a), where shortcut is the identity or a 1×1 conv + BN. Note that the shortcut reads the
 * *activated* input a (kuangliu's PreActBlock reads x for the identity shortcut); there is no ReLU after
 * the sum and no final BN before the pooling. Model: conv1 (3×3) + bn1 + ReLU, `layers` (all blocks of
 * all stages in one Sequential), global average pooling, `linear`.
 *
 * The twist. The reference writes it as three convolutions per layer, `conv1`, `conv1x`, `conv1y`, and on
 * every forward overwrites `conv1x.weight.data` with its antisymmetric part (Kx − flip_{x,y} Kx)/2 and
 * `conv1y.weight.data` with Kx rotated by 90°. Here each is one fused {@link TwistConv2d}: `convN.weight`
 * is the reference's `convN.weight` (K), `convN.kx` replaces `convNx.weight` (the antisymmetrization is
 * applied in the forward, so gradients flow through it; it is idempotent, so a reference checkpoint's
 * `convNx.weight` loads into `convN.kx` unchanged), and `convNy.weight` has no counterpart — Ky is derived
 * from Kx. See {@link keyFromNotebook}. Coordinates: x = j/W − 0.5, y = i/H − 0.5, as the notebook.
 * @module
 */
import * as F from '../tensor/functional.js';
import { chain, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
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

/** The notebook's pre-activation BasicBlock with a fused twist (see the module comment). */
export class PreActBlock extends Module {
  readonly bn1: BatchNorm2d;
  readonly conv1: TwistConv2d | Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: TwistConv2d | Conv2d;
  readonly shortcut: Sequential;

  constructor(inPlanes: number, planes: number, stride: number, context: BlockContext) {
    super();
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inPlanes));
    this.conv1 = this.registerModule('conv1', context.record(conv3x3(inPlanes, planes, { ...context, stride })));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', context.record(conv3x3(planes, planes, context)));
    this.shortcut = this.registerModule('shortcut', projectionShortcut(inPlanes, planes, stride));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const a = F.relu(this.bn1.forward(x));
      return chain(a, this.conv1, this.bn2, F.relu, this.conv2).add(this.shortcut.forward(a));
    });
  }
}
markBlock(PreActBlock);

/** The notebook's ResNet: conv1 + bn1 + ReLU, `layers`, global average pooling, `linear`. */
export class PreActResNet extends ZooModel {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Sequential;
  readonly linear: Linear;

  constructor(numBlocks: readonly number[], options: ResolvedOptions) {
    super();
    const { width, boundary, numClasses } = options;
    this.conv1 = this.registerModule('conv1', stemConv(width, boundary));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.layers = this.registerModule('layers', new Sequential());
    let inPlanes = width;
    numBlocks.forEach((n, i) => {
      const context = this.stageContext(i, options);
      const planes = width * 2 ** i;
      for (let j = 0; j < n; j++) {
        this.layers.append(new PreActBlock(inPlanes, planes, i > 0 && j === 0 ? 2 : 1, context));
        inPlanes = planes;
      }
    });
    this.linear = this.registerModule('linear', new Linear(inPlanes, numClasses));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(x, this.conv1, this.bn1, F.relu, this.layers);
      return this.linear.forward(F.adaptiveAvgPool2d(out, 1).flatten(1));
    });
  }
}

/** The builder behind the notebook-layout factories. */
export function _preactResNet(
  name: string,
  numBlocks: readonly number[],
  defaultWidth: number,
  options: TwistModelOptions,
): PreActResNet {
  return new PreActResNet(
    numBlocks,
    resolveOptions(name, options, { stages: 4, defaultWidth, defaultVariant: 'point' }),
  );
}

/** The notebook's ResNet-18 layout ([2, 2, 2, 2], width 64). */
export function preactResnet18(options: TwistModelOptions = {}): PreActResNet {
  return _preactResNet('preact-resnet18', [2, 2, 2, 2], 64, options);
}

/** The notebook's ResNet-34 layout ([3, 4, 6, 3], width 64); the seed's 94.32% twisted run. */
export function preactResnet34(options: TwistModelOptions = {}): PreActResNet {
  return _preactResNet('preact-resnet34', [3, 4, 6, 3], 64, options);
}

/** The reference's small `resnet10s`: one notebook block per stage, base width 16. */
export function resnet10s(options: TwistModelOptions = {}): PreActResNet {
  return _preactResNet('resnet10s', [1, 1, 1, 1], 16, options);
}

/**
 * The pdenet name of a parameter of the notebook / `pytorch_twist.py` model: `…convN.weight` and the
 * other keys are unchanged, `…convNx.weight` → `…convN.kx`, and `…convNy.weight` → null (Ky is derived
 * from Kx, it has no parameter).
 */
export function keyFromNotebook(key: string): string | null {
  if (/conv\dy\.weight$/.test(key)) return null;
  return key.replace(/conv(\d)x\.weight$/, 'conv$1.kx');
}
