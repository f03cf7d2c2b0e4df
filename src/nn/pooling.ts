/**
 * Pooling layers.
 * @module
 */
import * as F from '../tensor/functional.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

type Pair = number | readonly [number, number];

export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: F.Pool2dOptions & { countIncludePad?: boolean } = {},
  ) {
    super();
  }

  forward(input: Tensor): Tensor {
    return F.avgPool2d(input, this.kernelSize, this.options);
  }

  protected override extraRepr(): string {
    return `kernelSize=${this.kernelSize}`;
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: F.Pool2dOptions & { dilation?: Pair } = {},
  ) {
    super();
  }

  forward(input: Tensor): Tensor {
    return F.maxPool2d(input, this.kernelSize, this.options);
  }

  protected override extraRepr(): string {
    return `kernelSize=${this.kernelSize}`;
  }
}

/** Average pooling to a fixed output size; `new AdaptiveAvgPool2d(1)` is global average pooling. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }

  forward(input: Tensor): Tensor {
    return F.adaptiveAvgPool2d(input, this.outputSize);
  }

  protected override extraRepr(): string {
    return `outputSize=${this.outputSize}`;
  }
}
