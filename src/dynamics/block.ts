/**
 * The dynamic block: a layer function + a time integrator + time points (DynamicBlocks, seed 004).
 *
 * Parameters live on a control grid tTheta; the state is advanced on a grid tY that may differ. At any
 * time t the parameters are interpolated linearly between the two controls around t (constant beyond
 * the ends), so the same learned dynamics can be integrated with RK1 on non-uniform steps, RK4, or on a
 * refined grid (`setTimeSteps`, for multilevel training: coarse first, refine, continue).
 * @module
 */
import { check } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from '../tensor/creation.js';
import { ModuleList } from '../nn/container.js';
import { Module } from '../nn/module.js';
import { checkTimePoints, integrate, leapfrog, rkStep } from './integrate.js';
import { HyperbolicLayer, type LayerFunction, type LayerState } from './layers.js';
import { TABLEAUS } from './tableau.js';

/** Integrators by name: the Runge–Kutta tableaus and leapfrog (second-order layers). */
export const INTEGRATORS = ['rk1', 'rk2', 'heun', 'rk4', 'leapfrog'] as const;

export type IntegratorName = (typeof INTEGRATORS)[number];

/** Options of {@link DynamicBlock}. */
export interface DynamicBlockOptions {
  /** State time points (default [0, 1, 2, 3, 4]). */
  tY?: readonly number[];
  /** Control time points (default: tY). */
  tTheta?: readonly number[];
  integrator?: IntegratorName;
}

/** Where t falls among the controls: the control below and the weight of the one above. */
export function locate(tTheta: readonly number[], t: number): { index: number; weight: number } {
  if (t <= tTheta[0]!) return { index: 0, weight: 0 };
  const last = tTheta.length - 1;
  if (t >= tTheta[last]!) return { index: last, weight: 0 };
  let i = 0;
  while (t >= tTheta[i + 1]!) i++;
  return { index: i, weight: (t - tTheta[i]!) / (tTheta[i + 1]! - tTheta[i]!) };
}

/**
 * A dynamic block. Children: `controls` (one layer function per control time, `controls.k.*`).
 *
 * @example
 * const block = new DynamicBlock(() => new DoubleSymLayer(16, { norm: 'tv' }),
 *   { tY: [0, 1, 2, 3, 4], integrator: 'rk4' });
 */
export class DynamicBlock extends Module {
  controls: ModuleList;
  #tY: number[];
  #tTheta: number[];
  readonly integrator: IntegratorName;
  readonly #makeLayer: () => LayerFunction;

  constructor(makeLayer: () => LayerFunction, options: DynamicBlockOptions = {}) {
    super();
    const { tY = [0, 1, 2, 3, 4], tTheta = tY, integrator = 'rk1' } = options;
    check(INTEGRATORS.includes(integrator), 'DynamicBlock',
      `integrator must be one of ${INTEGRATORS.join(', ')}, got ${integrator}`);
    checkTimePoints(tY, 'DynamicBlock', 'tY');
    checkTimePoints(tTheta, 'DynamicBlock', 'tTheta');
    this.#makeLayer = makeLayer;
    this.integrator = integrator;
    this.#tY = [...tY];
    this.#tTheta = [...tTheta];
    this.controls = this.registerModule('controls', new ModuleList(tTheta.map(() => makeLayer())));
    const secondOrder = this.layer(0) instanceof HyperbolicLayer;
    check(secondOrder === (integrator === 'leapfrog'), 'DynamicBlock',
      secondOrder ? 'the hyperbolic layer is second order: integrate it with leapfrog'
        : 'leapfrog integrates second-order (hyperbolic) layers only');
  }

  get tY(): readonly number[] {
    return this.#tY;
  }

  get tTheta(): readonly number[] {
    return this.#tTheta;
  }

  /** The layer function of control k. */
  layer(k: number): LayerFunction {
    return this.controls.at(k) as LayerFunction;
  }

  /** θ(t): exact at the control nodes, linear between them. */
  stateAt(t: number): LayerState {
    const { index, weight } = locate(this.#tTheta, t);
    const lower = this.layer(index);
    if (weight === 0) {
      const params = new Map(lower.namedParameters());
      return { param: (name) => params.get(name) ?? null, control: lower };
    }
    const upper = new Map(this.layer(index + 1).namedParameters());
    const params = new Map<string, Tensor>();
    for (const [name, p] of lower.namedParameters()) params.set(name, p.mul(1 - weight).add(upper.get(name)!, weight));
    return { param: (name) => params.get(name) ?? null, control: lower };
  }

  /** The right-hand side f(t, Y) = layer(Y; θ(t)). */
  rhs(t: number, y: Tensor): Tensor {
    return tidy(() => this.layer(0).evaluate(y, this.stateAt(t)));
  }

  forward(y: Tensor): Tensor {
    if (this.integrator === 'leapfrog') return this.trajectory(y).at(-1)!;
    let state = y;
    for (const step of this.steps()) {
      const input = state;
      state = step(input);
      if (input !== y) input.dispose();
    }
    return state;
  }

  /**
   * The time steps of a one-step integrator as functions of the state, in order (the finest segments
   * for checkpointed training). Leapfrog, a two-step method, is one segment.
   */
  steps(): ((y: Tensor) => Tensor)[] {
    if (this.integrator === 'leapfrog') return [(y) => this.forward(y)];
    const tableau = TABLEAUS[this.integrator]!;
    const f = (t: number, u: Tensor) => this.rhs(t, u);
    return this.#tY.slice(0, -1).map((t, k) => (y: Tensor) => rkStep(tableau, f, t, y, this.#tY[k + 1]! - t));
  }

  /** The states at every point of tY (the first is the input itself). */
  trajectory(y: Tensor): Tensor[] {
    const states: Tensor[] = [];
    const f = (t: number, u: Tensor) => this.rhs(t, u);
    if (this.integrator === 'leapfrog') leapfrog(f, y, this.#tY, (_k, u) => states.push(u));
    else integrate(TABLEAUS[this.integrator]!, f, y, this.#tY, (_k, u) => states.push(u));
    return states;
  }

  /**
   * Re-discretizes the block: new state points, and optionally new control points whose parameters are
   * θ_old interpolated at the new times — so the learned dynamics stay the same. BatchNorm running
   * statistics are copied from the control at or below each new time.
   */
  setTimeSteps(tY: readonly number[], tTheta: readonly number[] = this.#tTheta): void {
    checkTimePoints(tY, 'setTimeSteps', 'tY');
    checkTimePoints(tTheta, 'setTimeSteps', 'tTheta');
    const sameControls = tTheta.length === this.#tTheta.length && tTheta.every((t, i) => t === this.#tTheta[i]);
    if (!sameControls) {
      const fresh = tTheta.map((t) => {
        const layer = this.#makeLayer();
        tidy(() => noGrad(() => {
          const state = this.stateAt(t);
          for (const [name, p] of layer.namedParameters()) p.copy_(state.param(name)!);
          const source = new Map(state.control.namedBuffers());
          for (const [name, b] of layer.namedBuffers()) b.copy_(source.get(name)!);
        }));
        layer.train(this.training);
        return layer;
      });
      const old = this.controls;
      this.controls = this.replaceModule('controls', new ModuleList(fresh));
      old.dispose();
      this.#tTheta = [...tTheta];
    }
    this.#tY = [...tY];
  }

  /**
   * The time regularization R = Σ_k h_k·‖θ_{k+1} − θ_k‖² over the controls (h_k = tTheta[k+1] − tTheta[k],
   * ‖·‖² summed over every parameter), which favours dynamics that vary smoothly in time.
   */
  timeRegularization(): Tensor {
    return tidy(() => {
      let total = zeros([]);
      for (let k = 0; k + 1 < this.#tTheta.length; k++) {
        const next = new Map(this.layer(k + 1).namedParameters());
        const h = this.#tTheta[k + 1]! - this.#tTheta[k]!;
        for (const [name, p] of this.layer(k).namedParameters()) {
          total = total.add(next.get(name)!.sub(p).square().sum(), h);
        }
      }
      return total;
    });
  }

  protected override extraRepr(): string {
    return `integrator=${this.integrator}, tY=[${this.#tY}], tTheta=[${this.#tTheta}]`;
  }
}
