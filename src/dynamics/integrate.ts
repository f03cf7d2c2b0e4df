/**
 * Time integration of y' = f(t, y) on a grid of time points, by an explicit Runge–Kutta method given
 * by its Butcher tableau, or by leapfrog for second-order equations y'' = f(t, y).
 * @module
 */
import { check } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ButcherTableau } from './tableau.js';

/** The right-hand side f(t, y). */
export type RightHandSide = (t: number, y: Tensor) => Tensor;

/** One Runge–Kutta step from t to t + h. */
export function rkStep(tableau: ButcherTableau, f: RightHandSide, t: number, y: Tensor, h: number): Tensor {
  return tidy(() => {
    const k: Tensor[] = [];
    for (let i = 0; i < tableau.b.length; i++) {
      let stage = y;
      tableau.a[i]!.forEach((aij, j) => {
        if (aij !== 0) stage = stage.add(k[j]!, h * aij);
      });
      k.push(f(t + tableau.c[i]! * h, stage));
    }
    // y + h Σ b_i k_i, summed left to right into one new tensor (in place after the first term: the
    // sum's backward needs none of its inputs).
    let next: Tensor | null = null;
    for (let i = 0; i < tableau.b.length; i++) {
      const bi = tableau.b[i]!;
      if (bi !== 0) next = next === null ? y.add(k[i]!, h * bi) : next.add_(k[i]!, h * bi);
    }
    return next ?? y.clone();
  });
}

/** Checks that time points increase strictly. */
export function checkTimePoints(points: readonly number[], op: string, what = 'time points'): void {
  check(points.length >= 2, op, `needs at least two ${what}, got ${points.length}`);
  for (let i = 1; i < points.length; i++) {
    check(points[i]! > points[i - 1]!, op, `${what} must increase strictly, got [${points.join(', ')}]`);
  }
}

/** Disposes `state` unless it is one of `given`, the caller's. */
function release(state: Tensor, ...given: Tensor[]): void {
  if (!given.includes(state)) state.dispose();
}

/**
 * Integrates from points[0] to points[last] with one step per interval (non-uniform steps allowed);
 * `onStep(k, y)` sees the state at points[k].
 *
 * Each state is disposed once the next one is computed (never `y0`, which is the caller's): an `onStep`
 * that holds on to a state must clone it. Autograd keeps what it saved of the states for the backward pass.
 */
export function integrate(
  tableau: ButcherTableau,
  f: RightHandSide,
  y0: Tensor,
  points: readonly number[],
  onStep?: (k: number, y: Tensor) => void,
): Tensor {
  checkTimePoints(points, 'integrate');
  let y = y0;
  onStep?.(0, y);
  for (let k = 0; k + 1 < points.length; k++) {
    const current = y;
    y = rkStep(tableau, f, points[k]!, current, points[k + 1]! - points[k]!);
    release(current, y0);
    onStep?.(k + 1, y);
  }
  return y;
}

/** Checks that time points are uniform, returning their spacing h. */
function uniformStep(points: readonly number[], op: string): number {
  checkTimePoints(points, op);
  const h = points[1]! - points[0]!;
  for (let k = 1; k + 1 < points.length; k++) {
    const hk = points[k + 1]! - points[k]!;
    check(
      Math.abs(hk - h) <= 1e-9 * Math.max(1, Math.abs(h)),
      op,
      () =>
        `needs uniform time points, got [${points.join(', ')}]: the step from ${points[k]} to ` +
        `${points[k + 1]} is ${hk}, the first (from ${points[0]} to ${points[1]}) is ${h}`,
    );
  }
  return h;
}

/**
 * Leapfrog for y'' = f(t, y) on uniform points: y_{k+1} = 2y_k − y_{k−1} + h²·f(t_k, y_k), from the state
 * (y_{−1}, y_0) = (`previous`, `y0`). Returns the last two states, so that integration can go on from them.
 *
 * Each state is disposed once the two after it are computed (never `previous` or `y0`, which are the
 * caller's): an `onStep` that holds on to a state must clone it. Autograd keeps what it saved of the
 * states for the backward pass.
 */
export function leapfrogFrom(
  f: RightHandSide,
  previous: Tensor,
  y0: Tensor,
  points: readonly number[],
  onStep?: (k: number, y: Tensor) => void,
): { previous: Tensor; current: Tensor } {
  const h = uniformStep(points, 'leapfrog');
  let [before, y] = [previous, y0];
  onStep?.(0, y);
  for (let k = 0; k + 1 < points.length; k++) {
    const [p, c] = [before, y];
    const next = tidy(() =>
      c
        .mul(2)
        .sub(p)
        .add(f(points[k]!, c), h * h),
    );
    release(p, previous, y0);
    [before, y] = [y, next];
    onStep?.(k + 1, y);
  }
  return { previous: before, current: y };
}

/**
 * {@link leapfrogFrom} starting at rest (y_{−1} = y_0); returns the last state. The states before it are
 * disposed as leapfrogFrom disposes them: an `onStep` that holds on to a state must clone it.
 */
export function leapfrog(
  f: RightHandSide,
  y0: Tensor,
  points: readonly number[],
  onStep?: (k: number, y: Tensor) => void,
): Tensor {
  const { previous, current } = leapfrogFrom(f, y0, y0, points, onStep);
  release(previous, y0);
  return current;
}

/**
 * The symplectic (Verlet) scheme for the split system y' = f(t, z), z' = g(t, y) on uniform points:
 * y_{k+1} = y_k + h·f(t_k, z_k), then z_{k+1} = z_k + h·g(t_k, y_{k+1}). Reversible: the steps undo exactly.
 * Each state is disposed once the next one is computed (never `y0` or `z0`, which are the caller's).
 */
export function verlet(
  f: RightHandSide,
  g: RightHandSide,
  y0: Tensor,
  z0: Tensor,
  points: readonly number[],
): { y: Tensor; z: Tensor } {
  const h = uniformStep(points, 'verlet');
  let [y, z] = [y0, z0];
  for (let k = 0; k + 1 < points.length; k++) {
    const [yk, zk, t] = [y, z, points[k]!];
    y = tidy(() => yk.add(f(t, zk), h));
    release(yk, y0);
    const yNext = y;
    z = tidy(() => zk.add(g(t, yNext), h));
    release(zk, z0);
  }
  return { y, z };
}
