/**
 * Box constraints on weights, applied after each optimizer step.
 *
 * - The DynamicBlocks reference's (ClippedModule.clip): each model names its constrained tensors and their
 *   kind ({@link clampBoxes}; RKNet.clip); convolutions into [−0.5, 0.5], the other kinds into [−1.5, 1.5].
 * - pdenet's generic one ({@link clipParameters}): every parameter of a kind of module into one interval.
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { check } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { ConvParameters } from './layers.js';

/** Bounds [min, max] per kind of parameter; kinds left out are not clipped. */
export interface ClipBounds {
  /** Convolution weights (and biases). */
  conv?: readonly [number, number];
  /** Linear layer weights (and biases). */
  linear?: readonly [number, number];
  /** Every other parameter (normalization scales and shifts, …). */
  other?: readonly [number, number];
}

/**
 * Clamps the parameters of `model` in place into their bounds. A parameter's kind is its module's (Conv2d,
 * Linear); a 4-D parameter of any other module (a layer function's filter) is a convolution's.
 */
export function clipParameters(model: Module, bounds: ClipBounds): void {
  for (const [kind, b] of Object.entries(bounds)) {
    check(b === undefined || (b.length === 2 && b[0] <= b[1]), 'clipParameters', `${kind} bounds must be [min, max]`);
  }
  noGrad(() => {
    for (const m of model.modules()) {
      const kind =
        m instanceof Conv2d || m instanceof ConvParameters ? 'conv' : m instanceof Linear ? 'linear' : 'other';
      for (const [name, p] of m.namedParameters()) {
        if (name.includes('.')) continue; // a child's parameter: clipped with the child
        const b = bounds[kind === 'other' && p.ndim === 4 ? 'conv' : kind];
        if (b !== undefined) p.clamp_(b[0], b[1]);
      }
    }
  });
}

/** The two intervals of the reference's ClippedModule (minConv/maxConv, minDef/maxDef). */
export interface ReferenceBounds {
  conv: readonly [number, number];
  other: readonly [number, number];
}

/** ClippedModule's defaults: convolutions ±0.5, everything else it bounds ±1.5. */
export const REFERENCE_BOUNDS: ReferenceBounds = { conv: [-0.5, 0.5], other: [-1.5, 1.5] };

/** Clamps each tensor in place into the interval of its kind. */
export function clampBoxes(
  boxes: readonly [Tensor, 'conv' | 'other'][],
  bounds: ReferenceBounds = REFERENCE_BOUNDS,
): void {
  for (const b of [bounds.conv, bounds.other])
    check(b.length === 2 && b[0] <= b[1], 'clip', 'bounds must be [min, max]');
  noGrad(() => {
    for (const [t, kind] of boxes) t.clamp_(bounds[kind][0], bounds[kind][1]);
  });
}

/**
 * What the trainer applies after each optimizer step: the model's own constraints (its `clip()`, e.g. RKNet's
 * reference box constraints when on), then, with `bound` > 0, pdenet's clamp of every convolution and linear
 * parameter into [−bound, bound].
 */
export function constrainAfterStep(model: Module & { clip?(): void }, bound: number): void {
  model.clip?.();
  if (bound > 0) clipParameters(model, { conv: [-bound, bound], linear: [-bound, bound] });
}
