/**
 * Autograd beyond `tensor.backward()`: gradient-mode scopes and the functional `grad`.
 * @module
 */
import { native } from '../native/binding.js';
import { check } from './errors.js';
import { Tensor } from './tensor.js';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = native.gradEnabled();
  native.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Runs `fn` without recording operations for autograd (evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with autograd recording, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/** Whether operations are being recorded for autograd now. */
export function isGradEnabled(): boolean {
  return native.gradEnabled();
}

/** Options of {@link grad}. */
export interface GradOptions {
  /** d loss / d output for each non-scalar output (default: ones for scalars). */
  gradOutputs?: readonly (Tensor | null)[];
  /** Keep the graph for another backward pass (default: `createGraph`). */
  retainGraph?: boolean;
  /** Record the gradient computation itself, for higher derivatives (default false). */
  createGraph?: boolean;
  /** Return null for inputs the outputs do not depend on instead of failing (default false). */
  allowUnused?: boolean;
}

/**
 * The gradients of `outputs` with respect to `inputs`, returned rather than accumulated in `.grad`
 * (PyTorch's `torch.autograd.grad`).
 */
export function grad(outputs: Tensor | readonly Tensor[], inputs: readonly Tensor[], options: GradOptions = {}):
    (Tensor | null)[] {
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  const gradOutputs = options.gradOutputs ?? outs.map(() => null);
  check(gradOutputs.length === outs.length, 'grad', `got ${gradOutputs.length} gradOutputs for ${outs.length} outputs`);
  const createGraph = options.createGraph ?? false;
  const result = native.autogradGrad(
    outs.map((t) => t.handle),
    inputs.map((t) => t.handle),
    gradOutputs.map((g) => g?.handle ?? null),
    options.retainGraph ?? createGraph,
    createGraph,
    options.allowUnused ?? false,
  );
  return result.map((h) => (h === null ? null : new Tensor(h)));
}

/** Runs backward from several outputs at once, accumulating into the leaves' `.grad`. */
export function backward(outputs: readonly Tensor[], gradOutputs?: readonly (Tensor | null)[],
    options: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
  const grads = gradOutputs ?? outputs.map(() => null);
  check(grads.length === outputs.length, 'backward', `got ${grads.length} gradients for ${outputs.length} outputs`);
  native.backward(outputs.map((t) => t.handle), grads.map((g) => g?.handle ?? null),
    options.retainGraph ?? options.createGraph ?? false, options.createGraph ?? false);
}
