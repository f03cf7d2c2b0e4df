/**
 * Butcher tableaus of explicit Runge–Kutta methods. A method with s stages advances y' = f(t, y) by
 *
 *   k_i = f(t + c_i·h, y + h·Σ_{j<i} a_ij·k_j),   y_next = y + h·Σ_i b_i·k_i.
 *
 * Forward Euler (RK1) with unit steps is a ResNet: y_next = y + f(y).
 * @module
 */

export interface ButcherTableau {
  readonly name: string;
  /** Order of accuracy: the global error is O(h^order). */
  readonly order: number;
  /** Strictly lower-triangular stage coefficients. */
  readonly a: readonly (readonly number[])[];
  readonly b: readonly number[];
  readonly c: readonly number[];
}

export const RK1: ButcherTableau = { name: 'rk1', order: 1, a: [[]], b: [1], c: [0] };

/** Explicit midpoint. */
export const RK2: ButcherTableau = { name: 'rk2', order: 2, a: [[], [1 / 2]], b: [0, 1], c: [0, 1 / 2] };

/** Heun's method (explicit trapezoid). */
export const HEUN: ButcherTableau = { name: 'heun', order: 2, a: [[], [1]], b: [1 / 2, 1 / 2], c: [0, 1] };

/** The classical fourth-order Runge–Kutta method. */
export const RK4: ButcherTableau = {
  name: 'rk4',
  order: 4,
  a: [[], [1 / 2], [0, 1 / 2], [0, 0, 1]],
  b: [1 / 6, 1 / 3, 1 / 3, 1 / 6],
  c: [0, 1 / 2, 1 / 2, 1],
};

export const TABLEAUS: Readonly<Record<string, ButcherTableau>> = { rk1: RK1, rk2: RK2, heun: HEUN, rk4: RK4 };
