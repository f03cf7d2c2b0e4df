/**
 * Shared test helpers: closeness checks, a finite-difference gradient check, and waiting on processes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { grad, noGrad, type Tensor, tensor } from '../src/index.js';
import type { EpochMetrics } from '../src/train/run.js';

/** Something holding numbers: a tensor, a (nested) array, a TypedArray or one number. */
export type Numbers = Tensor | readonly unknown[] | ArrayLike<number | bigint> | number;

/** Flattened numbers of a tensor, nested array or TypedArray. */
export function values(x: Numbers): number[] {
  if (typeof x === 'number') return [x];
  if (Array.isArray(x)) return (x.flat(Infinity) as unknown[]).map(Number);
  if (ArrayBuffer.isView(x)) return Array.from(x as ArrayLike<number | bigint>, Number);
  return Array.from((x as Tensor).toTypedArray() as ArrayLike<number | bigint>, Number);
}

/** Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise, with a readable message. */
export function assertClose(actual: Numbers, expected: Numbers, { atol = 1e-5, rtol = 1e-5, message = '' } = {}): void {
  const a = values(actual);
  const e = values(expected);
  assert.equal(a.length, e.length, `${message} length ${a.length} ≠ ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const tol = atol + rtol * Math.abs(e[i]!);
    assert.ok(
      Math.abs(a[i]! - e[i]!) <= tol || (Number.isNaN(a[i]) && Number.isNaN(e[i])),
      `${message} element ${i}: ${a[i]} vs expected ${e[i]} (tolerance ${tol})`,
    );
  }
}

/**
 * Checks the autograd gradient of the scalar `f(...inputs)` against central finite differences, in float64.
 * Every input must be a float64 tensor with requiresGrad.
 */
export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  { eps = 1e-6, atol = 1e-5, rtol = 1e-4 } = {},
): void {
  for (const x of inputs) assert.equal(x.dtype, 'float64', 'gradcheck needs float64 inputs');
  const out = f(...inputs);
  assert.equal(out.numel, 1, 'gradcheck needs a scalar function');
  const analytic = grad(out, inputs, { allowUnused: true });
  noGrad(() => {
    inputs.forEach((x, k) => {
      const base = Float64Array.from(x.toTypedArray() as Float64Array);
      const numeric = new Float64Array(base.length);
      for (let i = 0; i < base.length; i++) {
        const at = (delta: number): number => {
          const data = Float64Array.from(base);
          data[i]! += delta;
          x.copy_(tensor(data, { shape: x.shape }));
          return f(...inputs).item();
        };
        numeric[i] = (at(eps) - at(-eps)) / (2 * eps);
      }
      x.copy_(tensor(base, { shape: x.shape }));
      const g = analytic[k];
      const got = g === null || g === undefined ? new Float64Array(base.length) : values(g);
      assertClose(got, Array.from(numeric), { atol, rtol, message: `input ${k} gradient` });
    });
  });
}

/** mulberry32: a small seeded generator of uniform numbers in [0, 1), so test inputs do not depend on libtorch's seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fields of a metrics line that do not depend on timing. */
export const deterministic = (m: EpochMetrics) => [
  m.epoch,
  m.step,
  m.trainLoss,
  m.trainAccuracy,
  m.valLoss,
  m.valAccuracy,
  m.lr,
];

/** Whether process `pid` runs (one that ended but was not reaped yet, a zombie, does not). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (name) state …"
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `done()` holds, looking every 50 ms; fails saying `what` did not happen within `ms`. */
export async function until(done: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (!done()) {
    if (performance.now() > end) assert.fail(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
