/**
 * Counting the arithmetic of a model by running it.
 *
 * FLOPs here are 2 × the multiply-accumulates of the convolutions and linear layers met on one real
 * forward pass (forward hooks, so only what actually runs is counted: a stage with the twist off costs a
 * plain convolution, a PDEBlock's operator is counted once per Euler step):
 * - Conv2d: N·C_out·H_out·W_out · (C_in/groups)·k_h·k_w MACs;
 * - Linear: N·out · in MACs;
 * - TwistConv2d: with the twist on, its fused convolution has 3·C_out output channels (K, Kx, Ky), plus the
 *   coordinate products x·(Kx⋆u) + y·(Ky⋆u) accumulated into K⋆u, 2 MACs per output element; with the
 *   twist off, a plain convolution;
 * - CoordMixConv2d: its children (the depthwise `conv`, the `mix` of the coordinate features — computed
 *   once per forward, at batch 1) are Conv2d and counted as such; the product with the coefficient field
 *   counts 1 MAC per output element.
 * Biases, normalization, activations, pooling and residual additions are not counted (the usual
 * convention, e.g. of fvcore and of the FLOPs columns of papers).
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { zeros } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import { type Shape, Tensor } from '../tensor/tensor.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { CoordMixConv2d, TwistConv2d } from '../pde/twist.js';

/** Multiply-accumulates of one call of `module` that produced `output` (0 for modules not counted). */
function macs(module: Module, output: unknown): number {
  if (!(output instanceof Tensor)) return 0;
  const n = output.numel;
  if (module instanceof Conv2d) {
    const [kh, kw] = module.kernelSize;
    return n * (module.inChannels / module.groups) * kh * kw;
  }
  if (module instanceof TwistConv2d) {
    const perOutput = (module.inChannels / module.groups) * 9;
    return module.twist ? 3 * n * perOutput + 2 * n : n * perOutput;
  }
  if (module instanceof CoordMixConv2d) return module.twist ? n : 0;
  if (module instanceof Linear) return n * module.inFeatures;
  return 0;
}

/**
 * The FLOPs (2 × multiply-accumulates, see the module comment) of one forward pass of `model` on zeros of
 * `inputShape` (default one 32×32 RGB image), run in evaluation mode without gradients.
 */
export function countFlops(model: Module, inputShape: Shape = [1, 3, 32, 32]): number {
  check(Array.isArray(inputShape) && inputShape.every((d) => Number.isInteger(d) && d > 0), 'countFlops',
    `inputShape must be positive integers, got ${JSON.stringify(inputShape)}`);
  let total = 0;
  const handles = [...model.modules()]
    .filter((m) => m instanceof Conv2d || m instanceof TwistConv2d || m instanceof CoordMixConv2d || m instanceof Linear)
    .map((m) => m.registerForwardHook((mod, _inputs, output) => { total += macs(mod, output); }));
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      const x = zeros(inputShape);
      try {
        const y = model.forward(x as never);
        if (y instanceof Tensor) y.dispose();
      } finally {
        x.dispose();
      }
    });
  } finally {
    for (const h of handles) h.remove();
    model.train(wasTraining);
  }
  return 2 * total;
}
