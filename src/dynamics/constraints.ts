/**
 * Box constraints on weights, applied after each optimizer step (the ClippedModule semantics of the
 * DynamicBlocks reference): every parameter is clamped into the interval its kind is given.
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { check } from '../tensor/errors.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';

/** Bounds [min, max] per kind of parameter; kinds left out are not clipped. */
export interface ClipBounds {
  /** Convolution weights (and biases). */
  conv?: readonly [number, number];
  /** Linear layer weights (and biases). */
  linear?: readonly [number, number];
  /** Every other parameter (normalization scales and shifts, …). */
  other?: readonly [number, number];
}

/** Clamps the parameters of `model` in place into their bounds. */
export function clipParameters(model: Module, bounds: ClipBounds): void {
  for (const [kind, b] of Object.entries(bounds)) {
    check(b === undefined || (b.length === 2 && b[0] <= b[1]), 'clipParameters', `${kind} bounds must be [min, max]`);
  }
  noGrad(() => {
    for (const m of model.modules()) {
      const kind = m instanceof Conv2d ? 'conv' : m instanceof Linear ? 'linear' : 'other';
      const b = bounds[kind];
      if (b === undefined) continue;
      for (const [name, p] of m.namedParameters()) {
        if (name.includes('.')) continue; // a child's parameter: clipped with the child
        p.clamp_(b[0], b[1]);
      }
    }
  });
}
