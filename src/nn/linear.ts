/**
 * Fully connected layers.
 * @module
 */
import { empty } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import type { Tensor } from '../tensor/tensor.js';
import { defaultLayerInit_ } from './init.js';
import { Module } from './module.js';

/** y = x·Wᵀ + b with W: out×in (PyTorch's nn.Linear, same initialization). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    for (const [name, v] of [
      ['inFeatures', inFeatures],
      ['outFeatures', outFeatures],
    ] as const) {
      check(Number.isInteger(v) && v > 0, 'Linear', `${name} must be a positive integer, got ${v}`);
    }
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', (options.bias ?? true) ? empty([outFeatures]) : null);
    this.resetParameters();
  }

  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(input: Tensor): Tensor {
    return F.linear(input, this.weight, this.bias);
  }

  protected override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}
