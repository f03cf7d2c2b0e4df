/**
 * Memory you can predict. The rules, stated once:
 *
 * 1. A tensor owns native memory until `dispose()` is called on it. Disposing twice is harmless; using a
 *    disposed tensor throws a TorchError.
 * 2. `tidy(fn)` disposes every tensor created while `fn` runs, except the tensors `fn` returns (found in
 *    arrays, plain objects and Maps of the result) and the tensors passed to `keep()`. Returned tensors
 *    belong to the enclosing scope. Tidy scopes nest; if `fn` throws, everything it created is disposed.
 *    `fn` must be synchronous: a tensor created after an `await` would escape the scope.
 * 3. `keep(t)` exempts `t` from every enclosing tidy; it lives until disposed.
 * 4. Tensors the program drops without disposing are freed by a finalizer when garbage collection
 *    finds them. This is a backstop, not a plan: V8 does not know how large native tensors are until
 *    told, so it may collect too late.
 * 5. `memory()` reports the live tensor handles and the bytes libtorch's CPU allocator holds (tensors,
 *    gradients and autograd graphs), read from native counters. Freed blocks of 1 MiB and more wait in
 *    the allocator for reuse (`cachedNativeBytes`) until `releaseCachedMemory()`.
 * @module
 */
import { native } from '../native/binding.js';
import { describe, TorchError } from './errors.js';

/** What a tidy scope manages: anything with an idempotent `dispose()`. */
export interface Resource {
  dispose(): void;
}

const scopes: Set<Resource>[] = [];
const resources = new WeakSet<Resource>();
const kept = new WeakSet<Resource>();

/** Registers a new resource with the innermost tidy scope. Called by the Tensor constructor. */
export function track(resource: Resource): void {
  resources.add(resource);
  scopes[scopes.length - 1]?.add(resource);
}

/** Exempts `resource` from every enclosing tidy scope. Returns it. */
export function keep<T extends Resource>(resource: T): T {
  if (!resources.has(resource)) {
    throw new TorchError(`takes a tensor (or another tracked resource), got ${describe(resource)}`, 'keep');
  }
  kept.add(resource);
  for (const scope of scopes) scope.delete(resource);
  return resource;
}

/** Calls `visit` on each resource inside `value` (itself, or within arrays, plain objects, Maps). */
function forEachResource(value: unknown, visit: (r: Resource) => void, seen = new Set<object>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (resources.has(value as Resource)) {
    visit(value as Resource);
  } else if (Array.isArray(value)) {
    for (const v of value) forEachResource(v, visit, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) forEachResource(v, visit, seen);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const v of Object.values(value)) forEachResource(v, visit, seen);
    }
  }
}

/**
 * Runs `fn` and disposes every tensor it created except those it returns or kept (see the rules above).
 *
 * @example
 * const loss = tidy(() => model.forward(x).sub(y).square().mean());   // intermediates freed
 */
export function tidy<T>(fn: () => T): T {
  return scoped(fn)[0];
}

/** {@link tidy}, also returning the resources `fn` created and did not keep (those returned among them). */
function scoped<T>(fn: () => T): [T, Set<Resource>] {
  if (typeof fn !== 'function') throw new TorchError(`takes a function, got ${describe(fn)}`, 'tidy');
  const scope = new Set<Resource>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new TorchError('tidy() takes a synchronous function; an async one would let tensors escape', 'tidy');
    }
  } catch (e) {
    scopes.pop();
    for (const r of scope) r.dispose();
    throw e;
  }
  scopes.pop();
  const returned = new Set<Resource>();
  forEachResource(result, (r) => returned.add(r));
  const parent = scopes[scopes.length - 1];
  for (const r of scope) {
    if (returned.has(r)) parent?.add(r);
    else if (!kept.has(r)) r.dispose();
  }
  return [result, scope];
}

/** A step of {@link chain}: a function of one tensor, or anything with such a `forward` (a Module). */
export type ChainStep<T extends Resource> = ((x: T) => T) | { forward(x: T): T };

/**
 * Applies `steps` to `input` in turn and returns the last result, disposing each intermediate result as soon as
 * the next step has consumed it. Only a result its step created is disposed, and not one kept: never `input`, a
 * result passed through unchanged, or a tensor the step returns from elsewhere (a cached one). Each step
 * runs in its own tidy scope. Autograd keeps its own references to what it saved for the backward pass, so
 * this is safe with gradients on. What it saves is memory and cache: a pass written as nested calls inside one
 * tidy holds every intermediate until the scope ends, a chain only the current one and the next.
 *
 * @example
 * const out = chain(x, this.conv1, this.bn1, F.relu, this.conv2, this.bn2);
 */
export function chain<T extends Resource>(input: T, ...steps: ChainStep<T>[]): T {
  let x = input;
  let intermediate = false; // whether x was created by the step that made it (not passed through, not cached)
  for (const [i, step] of steps.entries()) {
    const previous = x;
    let created: Set<Resource>;
    [x, created] = scoped(() => (typeof step === 'function' ? step(previous) : step.forward(previous)));
    if (!resources.has(x)) throw new TorchError(`step ${i} returned ${describe(x)}, not a tensor`, 'chain');
    if (x === previous) continue;
    if (intermediate && !kept.has(previous)) previous.dispose();
    intermediate = created.has(x);
  }
  return x;
}

/** Disposes every tensor inside `value` (a tensor, or arrays, plain objects and Maps of them). */
export function dispose(value: unknown): void {
  forEachResource(value, (r) => r.dispose());
}

/** Native memory counts. */
export interface MemoryInfo {
  /** Tensor handles alive (created and neither disposed nor finalized). */
  liveTensors: number;
  /** Bytes held by libtorch's CPU allocator now: tensors, gradients, autograd graphs. */
  nativeBytes: number;
  /** The most bytes held at once since start or `resetPeakMemory()`. */
  peakNativeBytes: number;
  /** CPU allocations made so far. */
  allocations: number;
  /** Bytes of freed large blocks the allocator keeps for reuse (not part of `nativeBytes`). */
  cachedNativeBytes: number;
  /** Depth of nested tidy scopes now. */
  scopeDepth: number;
}

/** Real counts of native memory, read from the addon. */
export function memory(): MemoryInfo {
  const m = native.memory();
  return {
    liveTensors: m.liveTensors,
    nativeBytes: m.bytes,
    peakNativeBytes: m.peakBytes,
    allocations: m.allocations,
    cachedNativeBytes: m.cachedBytes,
    scopeDepth: scopes.length,
  };
}

/** Starts a new peak measurement for `memory().peakNativeBytes`. */
export function resetPeakMemory(): void {
  native.resetPeakMemory();
}

/**
 * Frees the large blocks (≥ 1 MiB) the CPU allocator keeps for reuse. Training reuses them every step,
 * which spares the kernel from handing out fresh pages; call this to give the memory back after a run.
 */
export function releaseCachedMemory(): void {
  native.releaseCachedMemory();
}
