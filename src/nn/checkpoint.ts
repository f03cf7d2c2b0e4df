/**
 * Checkpointed training: trade compute for memory by keeping only the input of each segment of a network
 * during the forward pass, and recomputing each segment's interior when its gradient is needed.
 *
 * The forward pass runs without recording; then, from the last segment to the first, the segment is run
 * again from its saved input with recording on, and back-propagated with the gradient that arrived at
 * its output. Peak memory holds one segment's graph instead of the whole network's. Running statistics
 * (BatchNorm) are restored after each recomputation, so they are updated once per step, as usual.
 * Segments must be deterministic given their input and parameters (no dropout).
 * @module
 */
import { enableGrad, noGrad } from '../tensor/autograd.js';
import { check } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Dropout } from './activation.js';
import type { Module } from './module.js';

/**
 * Runs `segments` on `input`, computes `loss` of the output and back-propagates it into the parameters'
 * `.grad` with segment-wise recomputation. Returns the loss value and the output (detached).
 */
export function checkpointedStep(
  model: Module,
  segments: readonly ((x: Tensor) => Tensor)[],
  input: Tensor,
  loss: (output: Tensor) => Tensor,
): { loss: number; output: Tensor } {
  check(segments.length > 0, 'checkpointedStep', 'needs at least one segment');
  for (const m of model.modules()) {
    check(
      !(m instanceof Dropout && m.training && m.p > 0),
      'checkpointedStep',
      'dropout makes recomputation differ from the forward pass; use a plain step',
    );
  }
  // Forward without a graph, keeping each segment's input.
  const inputs: Tensor[] = [input];
  noGrad(() => {
    for (const segment of segments) inputs.push(segment(inputs.at(-1)!));
  });
  const saved = noGrad(() => [...model.buffers()].map((b) => b.clone()));
  const restoreBuffers = () => noGrad(() => [...model.buffers()].forEach((b, i) => b.copy_(saved[i]!)));

  let value = 0;
  let gradOutput = tidy(() =>
    enableGrad(() => {
      const out = inputs.at(-1)!.detach().requiresGrad_();
      const l = loss(out);
      value = l.item();
      l.backward();
      return out.grad!;
    }),
  );
  for (let i = segments.length - 1; i >= 0; i--) {
    const g = gradOutput;
    const next = tidy(() =>
      enableGrad(() => {
        const x = inputs[i]!.detach().requiresGrad_(i > 0);
        segments[i]!(x).backward(g);
        restoreBuffers();
        return i > 0 ? x.grad! : null;
      }),
    );
    g.dispose();
    if (next === null) break;
    gradOutput = next;
  }
  for (const t of saved) t.dispose();
  const output = inputs.pop()!;
  for (const t of inputs.slice(1)) t.dispose();
  return { loss: value, output };
}
