/**
 * An exponential moving average of a model's weights: after each step, θ_ema ← d·θ_ema + (1 − d)·θ,
 * and buffers (BatchNorm statistics) are copied. Evaluating the average is a cheap, reliable gain for
 * short schedules.
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';

export class WeightAverage {
  readonly #params: [Tensor[], Tensor[]];
  readonly #buffers: [Tensor[], Tensor[]];

  /** `average` must have the structure of `model`; it is set to the model's weights now. */
  constructor(
    readonly model: Module,
    readonly average: Module,
    readonly decay: number,
  ) {
    this.#params = [[...average.parameters()], [...model.parameters()]];
    this.#buffers = [[...average.buffers()], [...model.buffers()]];
    for (const p of average.parameters()) p.requiresGrad = false;
    this.update(0);
  }

  /** One averaging step (decay 0 copies the weights). */
  update(decay = this.decay): void {
    noGrad(() => {
      // θ_ema += (1 − d)·(θ − θ_ema)
      for (const [i, p] of this.#params[0].entries()) p.lerp_(this.#params[1][i]!, 1 - decay);
      for (const [i, b] of this.#buffers[0].entries()) b.copy_(this.#buffers[1][i]!);
    });
  }
}
