/**
 * Autograd beyond `tensor.backward()`: gradient-mode scopes and the functional `grad`.
 * @module
 */
import { native, type NativeTensor } from '../native/binding.js';
import { check, checkOptions, describe } from './errors.js';
import { checkTensor, Tensor } from './tensor.js';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const op = enabled ? 'enableGrad' : 'noGrad';
  check(typeof fn === 'function', op, () => `takes a function, got ${describe(fn)}`);
  const previous = native.gradEnabled();
  native.setGradEnabled(enabled);
  let result: T;
  try {
    result = fn();
  } finally {
    native.setGradEnabled(previous);
  }
  // The mode is restored when `fn` returns: an async function would run on after its first await in the old mode.
  check(
    !(result instanceof Promise),
    op,
    'takes a synchronous function; the grad mode would not hold while an async one runs',
  );
  return result;
}

/** The native handle of `t`, with a clear error when `t` is not a tensor (an element of `list`). */
function handleOf(t: unknown, op: string, list: string): NativeTensor {
  checkTensor(t, op, `each of ${list}`);
  return t.handle;
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
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: readonly Tensor[],
  options: GradOptions = {},
): (Tensor | null)[] {
  checkOptions(options, 'grad');
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  check(Array.isArray(outs), 'grad', () => `outputs must be a tensor or an array of tensors, got ${describe(outputs)}`);
  check(Array.isArray(inputs), 'grad', () => `inputs must be an array of tensors, got ${describe(inputs)}`);
  const gradOutputs = options.gradOutputs ?? outs.map(() => null);
  check(Array.isArray(gradOutputs), 'grad', () => `gradOutputs must be an array, got ${describe(gradOutputs)}`);
  check(gradOutputs.length === outs.length, 'grad', `got ${gradOutputs.length} gradOutputs for ${outs.length} outputs`);
  const createGraph = options.createGraph ?? false;
  const result = native.autogradGrad(
    outs.map((t) => handleOf(t, 'grad', 'outputs')),
    inputs.map((t) => handleOf(t, 'grad', 'inputs')),
    gradOutputs.map((g) => (g === null || g === undefined ? null : handleOf(g, 'grad', 'gradOutputs'))),
    options.retainGraph ?? createGraph,
    createGraph,
    options.allowUnused ?? false,
  );
  return result.map((h) => (h === null ? null : new Tensor(h)));
}

/** Runs backward from several outputs at once, accumulating into the leaves' `.grad`. */
export function backward(
  outputs: readonly Tensor[],
  gradOutputs?: readonly (Tensor | null)[],
  options: { retainGraph?: boolean; createGraph?: boolean } = {},
): void {
  checkOptions(options, 'backward');
  check(Array.isArray(outputs), 'backward', () => `outputs must be an array of tensors, got ${describe(outputs)}`);
  const grads = gradOutputs ?? outputs.map(() => null);
  check(Array.isArray(grads), 'backward', () => `gradOutputs must be an array, got ${describe(grads)}`);
  check(grads.length === outputs.length, 'backward', `got ${grads.length} gradients for ${outputs.length} outputs`);
  native.backward(
    outputs.map((t) => handleOf(t, 'backward', 'outputs')),
    grads.map((g) => (g === null || g === undefined ? null : handleOf(g, 'backward', 'gradOutputs'))),
    options.retainGraph ?? options.createGraph ?? false,
    options.createGraph ?? false,
  );
}
