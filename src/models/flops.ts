/**
 * Counting the arithmetic of a model by running it.
 *
 * FLOPs here are 2 × the multiply-accumulates of the convolutions, transposed convolutions and linear maps
 * actually executed on one real forward pass, counted where they run — in the functional layer
 * (`countMacs` of src/tensor/functional.ts) — so a layer that calls `F.conv2d` itself (a dynamic block's
 * layer function at interpolated weights, a PDEBlock's Euler steps) counts as much as a Conv2d module:
 * - convolution: N·C_out·H_out·W_out · (C_in/groups)·k_h·k_w MACs; transposed: N·C_in·H_in·W_in · (C_out/groups)·k_h·k_w;
 * - linear: N·out · in MACs;
 * - and two elementwise products of the twist, by forward hooks on their modules: TwistConv2d with the twist on
 *   (its fused convolution, 3·C_out output channels, is counted above) adds the coordinate products
 *   x·(Kx⋆u) + y·(Ky⋆u), 2 MACs per output element; CoordMixConv2d with the twist on, its product with the
 *   coefficient field, 1 MAC per output element.
 * Biases, normalization, activations, pooling and residual additions are not counted (the usual
 * convention, e.g. of fvcore and of the FLOPs columns of papers).
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { zeros } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import { countMacs } from '../tensor/functional.js';
import { type Shape, Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { CoordMixConv2d, TwistConv2d } from '../pde/twist.js';

/** The elementwise products of the twist modules (their convolutions count in the functional layer). */
function productMacs(module: Module, output: unknown): number {
  if (!(output instanceof Tensor)) return 0;
  if (module instanceof TwistConv2d) return module.twist ? 2 * output.numel : 0;
  if (module instanceof CoordMixConv2d) return module.twist ? output.numel : 0;
  return 0;
}

/**
 * The FLOPs (2 × multiply-accumulates, see the module comment) of one forward pass of `model` on zeros of
 * `inputShape` (default one 32×32 RGB image), run in evaluation mode without gradients.
 */
export function countFlops(model: Module, inputShape: Shape = [1, 3, 32, 32]): number {
  check(
    Array.isArray(inputShape) && inputShape.every((d) => Number.isInteger(d) && d > 0),
    'countFlops',
    `inputShape must be positive integers, got ${JSON.stringify(inputShape)}`,
  );
  let products = 0;
  const handles = [...model.modules()]
    .filter((m) => m instanceof TwistConv2d || m instanceof CoordMixConv2d)
    .map((m) =>
      m.registerForwardHook((mod, _inputs, output) => {
        products += productMacs(mod, output);
      }),
    );
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  try {
    noGrad(() => {
      const x = zeros(inputShape);
      try {
        total = countMacs(() => {
          const y = model.forward(x as never);
          if (y instanceof Tensor) y.dispose();
        });
      } finally {
        x.dispose();
      }
    });
  } finally {
    for (const h of handles) h.remove();
    model.train(wasTraining);
  }
  return 2 * (total + products);
}
