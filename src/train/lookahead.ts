/**
 * Lookahead (Zhang, Lucas, Hinton, Ba, "Lookahead Optimizer: k steps forward, 1 step back", 2019) in the
 * form of the CIFAR-10 speed runs (airbench94): the optimizer takes `every` fast steps, then the slow
 * copy φ and the weights θ meet,
 *
 * ```text
 * φ ← d·φ + (1 − d)·θ,   θ ← φ,      d = decayᵉᵛᵉʳʸ · (t / T)³
 * ```
 *
 * so the pull towards the slow copy is nil early (d ≈ 0: φ follows θ) and grows as the learning rate
 * anneals, averaging the last steps' weights. After the last step (t = T), θ ← φ. Floating-point buffers
 * (BatchNorm statistics) are averaged the same way.
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { check } from '../tensor/errors.js';
import { isFloatingPoint } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';

export interface LookaheadOptions {
  /** Fast steps between two meetings (k). */
  every: number;
  /** T, the number of steps of the run. */
  totalSteps: number;
  /** The per-step decay whose k-th power, ramped by (t/T)³, weighs the slow copy (default 0.95). */
  decay?: number;
}

export class Lookahead {
  readonly every: number;
  readonly totalSteps: number;
  readonly decay: number;
  readonly #pairs: [Tensor, Tensor][];

  /** `average` must have the structure of `model`; it becomes the slow copy, set to the model's weights now. */
  constructor(
    readonly model: Module,
    readonly average: Module,
    options: LookaheadOptions,
  ) {
    const { every, totalSteps, decay = 0.95 } = options;
    check(Number.isInteger(every) && every > 0, 'Lookahead', `every must be a positive integer, got ${every}`);
    check(
      Number.isInteger(totalSteps) && totalSteps > 0,
      'Lookahead',
      `totalSteps must be a positive integer, got ${totalSteps}`,
    );
    check(decay >= 0 && decay <= 1, 'Lookahead', `decay must be in [0, 1], got ${decay}`);
    this.every = every;
    this.totalSteps = totalSteps;
    this.decay = decay;
    const slow = [...average.parameters(), ...average.buffers()];
    const fast = [...model.parameters(), ...model.buffers()];
    check(slow.length === fast.length, 'Lookahead', 'the average must have the structure of the model');
    this.#pairs = slow.map((s, i) => [s, fast[i]!] as [Tensor, Tensor]).filter(([s]) => isFloatingPoint(s.dtype));
    for (const p of average.parameters()) p.requiresGrad = false;
    noGrad(() => {
      for (const [s, f] of this.#pairs) s.copy_(f);
    });
  }

  /** The weight of the slow copy at a meeting after step t (1 at the end). */
  weightAt(t: number): number {
    return t >= this.totalSteps ? 1 : this.decay ** this.every * (t / this.totalSteps) ** 3;
  }

  /**
   * Call after optimizer step t (1, 2, …): the copies meet every `every` steps and after the last one. `at` is
   * the step the weight is read at (default t): a run whose schedule follows its training time passes its
   * position in it, and at = T, its budget spent, is the last meeting whatever t is.
   */
  step(t: number, at = t): void {
    if (t % this.every !== 0 && at < this.totalSteps) return;
    const d = this.weightAt(at);
    noGrad(() => {
      for (const [slow, fast] of this.#pairs) {
        slow.lerp_(fast, 1 - d);
        fast.copy_(slow);
      }
    });
  }
}
