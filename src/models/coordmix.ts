/**
 * ImageNet-style ResNet-50 with a coordinate-mixed Bottleneck, the Bottleneck of seed 003 ("ConvNets from the PDE perspective"):
 * torchvision's ResNet (7×7 stride-2 stem `conv1` + `bn1` + `relu` + `maxpool`, `layer1..layer4` with
 * `downsample`, `avgpool`, `fc`; He et al. arXiv:1512.03385, stride on the 3×3 as torchvision's "v1.5")
 * in which each Bottleneck's 3×3 convolution becomes a twisted depthwise convolution with multiplier 4:
 *
 *   1×1 (inplanes → w) → BN → ReLU → depthwise 3×3 ×4 (w → 4w, groups = w) · mix(XY) → BN(4w) → ReLU
 *   → 1×1 (4w → 4·planes) → BN, + identity (or downsample), ReLU,
 *
 * where mix is a 1×1 convolution of the coordinate features [1, x, y, x², xy, y²] (x = 2j/W − 1), so each
 * of the 4w differential operators gets its own quadratic coefficient field. The seed argues the ×4: a
 * full 3×3 conv is wasteful when the second-order operators span only 5–6 dimensions.
 *
 * Names: torchvision's, except inside the twisted convolution, a {@link CoordMixConv2d} named `conv2`
 * with children `conv` (the depthwise kernel, the seed's `conv2.weight`) and `mix` (the seed's
 * `mix.weight`): `layerL.B.conv2.conv.weight` and `layerL.B.conv2.mix.weight` ({@link keyFromSeed003}).
 * Initialization as torchvision: Kaiming normal (fan out, ReLU) for every convolution — the mix included,
 * as in the seed's code where it is an nn.Conv2d — and BN weight 1, bias 0.
 *
 * The coordinate mix is on by default, as in the seed's model; `twist: false` (pdenet's option) leaves the
 * plain depthwise convolution (the mix is skipped, its parameters stay). The seed's code is the README of
 * liuyao12/ConvNets-PDE-perspective up to commit 974747a (the seed text); later READMEs mix 5 features
 * [x, y, x², xy, y²] with a bias and x = 2j/(W − 1) − 1, and its resnet.py (a timm file) has no mixed
 * Bottleneck. test/notebook-reference.test.ts checks the Bottleneck against the seed's code.
 * `width` is the stem's channels (64); the stages have planes w, 2w, 4w, 8w. Made for 224×224 images.
 * @module
 */
import * as F from '../tensor/functional.js';
import { noGrad } from '../tensor/autograd.js';
import { chain, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { ReLU } from '../nn/activation.js';
import { Sequential } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { kaimingNormal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { markBlock } from '../nn/block.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import type { Boundary } from '../pde/boundary.js';
import { CoordMixConv2d } from '../pde/twist.js';
import { type TwistModelOptions, resolveOptions, type ResolvedOptions } from './options.js';
import { ZooModel } from './stages.js';

/** A Bottleneck (expansion 4) whose `conv2` is a coordinate-mixed depthwise ×4 convolution (seed 003's Bottleneck). */
export class CoordMixBottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: CoordMixConv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: Sequential | null;

  constructor(
    inplanes: number,
    planes: number,
    stride: number,
    downsample: Sequential | null,
    options: { boundary: Boundary; twist: boolean },
  ) {
    super();
    const width = planes; // torchvision: int(planes · base_width / 64) · groups, with base_width 64 and groups 1
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, width, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.conv2 = this.registerModule(
      'conv2',
      new CoordMixConv2d(width, { multiplier: 4, stride, boundary: options.boundary, twist: options.twist }),
    );
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(width * 4));
    this.conv3 = this.registerModule(
      'conv3',
      new Conv2d(width * 4, planes * CoordMixBottleneck.expansion, 1, { bias: false }),
    );
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * CoordMixBottleneck.expansion));
    this.relu = this.registerModule('relu', new ReLU());
    this.downsample = downsample && this.registerModule('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(x, this.conv1, this.bn1, F.relu, this.conv2, this.bn2, F.relu, this.conv3, this.bn3);
      return F.relu(out.add(this.downsample ? this.downsample.forward(x) : x));
    });
  }
}
markBlock(CoordMixBottleneck);

/** torchvision's ResNet skeleton around {@link CoordMixBottleneck}. */
export class CoordMixResNet extends ZooModel {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layers: Sequential[];
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;

  constructor(blocks: readonly number[], options: ResolvedOptions) {
    super();
    const { width, boundary, numClasses } = options;
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(3, width, 7, { stride: 2, padding: 3, bias: false, paddingMode: boundary }),
    );
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.relu = this.registerModule('relu', new ReLU());
    // Max pooling pads with −∞ whatever the boundary condition (it is not a convolution).
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    let inplanes = width;
    this.layers = blocks.map((n, i) => {
      this.beginStage();
      const planes = width * 2 ** i;
      const stride = i === 0 ? 1 : 2;
      const out = planes * CoordMixBottleneck.expansion;
      const downsample =
        stride !== 1 || inplanes !== out
          ? new Sequential(new Conv2d(inplanes, out, 1, { stride, bias: false }), new BatchNorm2d(out))
          : null;
      const blockOptions = { boundary, twist: options.twist[i]! };
      const layer = new Sequential();
      for (let j = 0; j < n; j++) {
        const block = new CoordMixBottleneck(
          inplanes,
          planes,
          j === 0 ? stride : 1,
          j === 0 ? downsample : null,
          blockOptions,
        );
        this.inStage(block.conv2);
        layer.append(block);
        inplanes = out;
      }
      return this.registerModule(`layer${i + 1}`, layer);
    });
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule('fc', new Linear(inplanes, numClasses));
    // torchvision's initialization of the convolutions (BN already starts at weight 1, bias 0).
    noGrad(() => {
      for (const m of this.modules()) {
        if (m instanceof Conv2d) kaimingNormal_(m.weight, { mode: 'fanOut', nonlinearity: 'relu' });
      }
    });
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(x, this.conv1, this.bn1, this.relu, this.maxpool, ...this.layers);
      return this.fc.forward(this.avgpool.forward(out).flatten(1));
    });
  }
}

/** The builder of the coordinate-mixed ResNets. */
export function _coordMixResNet(name: string, blocks: readonly number[], options: TwistModelOptions): CoordMixResNet {
  return new CoordMixResNet(
    blocks,
    resolveOptions(name, options, {
      stages: 4,
      defaultWidth: 64,
      defaultVariant: 'point',
      alwaysTwistable: true,
      defaultTwist: true,
      noTwistField: true,
    }),
  );
}

/** ResNet-50 ([3, 4, 6, 3]) with the coordinate-mixed Bottleneck, torchvision layout, for 224×224 images. */
export function resnet50CoordMix(options: TwistModelOptions = {}): CoordMixResNet {
  return _coordMixResNet('resnet50-seed003', [3, 4, 6, 3], options);
}

/**
 * The pdenet name of a parameter of the seed-003 torchvision model: `…conv2.weight` → `…conv2.conv.weight`,
 * `…mix.weight` → `…conv2.mix.weight`, others unchanged.
 */
export function keyFromSeed003(key: string): string {
  return key.replace(/(^|\.)conv2\.weight$/, '$1conv2.conv.weight').replace(/(^|\.)mix\.weight$/, '$1conv2.mix.weight');
}

/** @deprecated use {@link CoordMixBottleneck} */
export const Seed003Bottleneck = CoordMixBottleneck;
/** @deprecated use {@link CoordMixBottleneck} */
export type Seed003Bottleneck = CoordMixBottleneck;
/** @deprecated use {@link CoordMixResNet} */
export const Seed003ResNet = CoordMixResNet;
/** @deprecated use {@link CoordMixResNet} */
export type Seed003ResNet = CoordMixResNet;
/** @deprecated use {@link resnet50CoordMix} */
export const resnet50Seed003 = resnet50CoordMix;
