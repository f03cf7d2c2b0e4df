/**
 * The dynamic block: a layer function + a time integrator + time points (DynamicBlocks, seed 004; the
 * reference's modules/rk1.py and rk4.py).
 *
 * Parameters live on a control grid tTheta; the state is advanced on a grid tY that may differ. At any
 * time t the parameters are interpolated linearly between the two controls around t (constant beyond
 * the ends), so the same learned dynamics can be integrated with RK1 on non-uniform steps, RK4, or on a
 * refined grid (`setTimeSteps`, for multilevel training: coarse first, refine, continue).
 *
 * BatchNorm statistics: the reference gives every evaluation of the layer function (each RK stage of
 * each step: 4 per step for RK4, 1 for RK1 and leapfrog) its own running statistics (`normStats: 'stage'`, the
 * default); pdenet's alternative shares the statistics of the control at or below t (`'control'`).
 * @module
 */
import { check } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { cat } from '../tensor/tensor.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from '../tensor/creation.js';
import { ModuleList } from '../nn/container.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import { checkTimePoints, leapfrog, rkStep } from './integrate.js';
import { HyperbolicLayer, type LayerFunction, type LayerState, type NormStats, RunningStats } from './layers.js';
import { TABLEAUS } from './tableau.js';
import { markBlock } from '../nn/block.js';

/** Integrators by name: the Runge–Kutta tableaus and leapfrog (second-order layers). */
export const INTEGRATORS = ['rk1', 'rk2', 'heun', 'rk4', 'leapfrog'] as const;

export type IntegratorName = (typeof INTEGRATORS)[number];

/** Where BatchNorm running statistics live: per RK stage (the reference) or per control (pdenet's). */
export const NORM_STATS = ['stage', 'control'] as const;

export type NormStatsMode = (typeof NORM_STATS)[number];

/** The time regularizer: the reference's weight_variance (L1) or pdenet's ∫‖θ′‖² dt (L2; see timeRegularization). */
export const REGULARIZERS = ['l1', 'l2'] as const;

export type Regularizer = (typeof REGULARIZERS)[number];

/** Options of {@link DynamicBlock}. */
export interface DynamicBlockOptions {
  /** State time points (default [0, 1, 2, 3, 4]). */
  tY?: readonly number[];
  /** Control time points (default: tY). */
  tTheta?: readonly number[];
  integrator?: IntegratorName;
  /** BatchNorm statistics per RK stage (default, the reference's) or per control. */
  normStats?: NormStatsMode;
  /** The time regularizer (default l1, the reference's weight_variance). */
  regularizer?: Regularizer;
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

/** The BatchNorm children of a layer function, by name. */
function batchNorms(layer: LayerFunction): [string, BatchNorm2d][] {
  return [...layer.namedChildren()].filter((c): c is [string, BatchNorm2d] => c[1] instanceof BatchNorm2d);
}

/** One RK stage's BatchNorm statistics, children named as the layer's BatchNorm children. */
class StageStats extends Module {
  constructor(layer: LayerFunction) {
    super();
    for (const [name, bn] of batchNorms(layer)) this.registerModule(name, new RunningStats(bn));
  }

  forward(): never {
    throw new Error('StageStats holds statistics');
  }
}

/**
 * A dynamic block. Children: `controlLayers` (one layer function per control time) and, with BatchNorm and
 * per-stage statistics, `stateLayers` (`stateLayers.k.i` for step k, stage i; `stateLayers.k` with RK1),
 * the reference's names.
 *
 * @example
 * const block = new DynamicBlock(() => new DoubleSymLayer(16, { norm: 'tv' }),
 *   { tY: [0, 1, 2, 3, 4], integrator: 'rk4' });
 */
export class DynamicBlock extends Module {
  controlLayers: ModuleList;
  stateLayers: ModuleList | null = null;
  #tY: number[];
  #tTheta: number[];
  readonly integrator: IntegratorName;
  readonly normStats: NormStatsMode;
  readonly regularizer: Regularizer;
  readonly #makeLayer: () => LayerFunction;

  constructor(makeLayer: () => LayerFunction, options: DynamicBlockOptions = {}) {
    super();
    const { tY = [0, 1, 2, 3, 4], tTheta = tY, integrator = 'rk1', normStats = 'stage', regularizer = 'l1' } = options;
    check(
      INTEGRATORS.includes(integrator),
      'DynamicBlock',
      `integrator must be one of ${INTEGRATORS.join(', ')}, got ${integrator}`,
    );
    check(
      NORM_STATS.includes(normStats),
      'DynamicBlock',
      `normStats must be one of ${NORM_STATS.join(', ')}, got ${normStats}`,
    );
    check(
      REGULARIZERS.includes(regularizer),
      'DynamicBlock',
      `regularizer must be one of ${REGULARIZERS.join(', ')}, got ${regularizer}`,
    );
    checkTimePoints(tY, 'DynamicBlock', 'tY');
    checkTimePoints(tTheta, 'DynamicBlock', 'tTheta');
    this.#makeLayer = makeLayer;
    this.integrator = integrator;
    this.normStats = normStats;
    this.regularizer = regularizer;
    this.#tY = [...tY];
    this.#tTheta = [...tTheta];
    this.controlLayers = this.registerModule('controlLayers', new ModuleList(tTheta.map(() => makeLayer())));
    const secondOrder = this.layer(0) instanceof HyperbolicLayer;
    check(
      secondOrder === (integrator === 'leapfrog'),
      'DynamicBlock',
      secondOrder
        ? 'the hyperbolic layer is second order: integrate it with leapfrog'
        : 'leapfrog integrates second-order (hyperbolic) layers only',
    );
    this.#buildStages();
  }

  get tY(): readonly number[] {
    return this.#tY;
  }

  get tTheta(): readonly number[] {
    return this.#tTheta;
  }

  /** The layer function of control k. */
  layer(k: number): LayerFunction {
    return this.controlLayers.at(k) as LayerFunction;
  }

  /** Evaluations of the layer function per step: the tableau's stages (1 for leapfrog). */
  get stagesPerStep(): number {
    return this.integrator === 'leapfrog' ? 1 : TABLEAUS[this.integrator]!.b.length;
  }

  /** Per-stage statistics, copied from control 0 (as the reference builds its state layers). */
  #buildStages(): void {
    const wanted = this.normStats === 'stage' && batchNorms(this.layer(0)).length > 0;
    const old = this.stateLayers;
    if (!wanted) {
      check(old === null, 'DynamicBlock', 'internal: stage statistics without BatchNorm');
      return;
    }
    const source = this.layer(0);
    const steps = this.#tY
      .slice(0, -1)
      .map(() =>
        this.stagesPerStep === 1
          ? new StageStats(source)
          : new ModuleList(Array.from({ length: this.stagesPerStep }, () => new StageStats(source))),
      );
    const fresh = new ModuleList(steps);
    if (old === null) this.stateLayers = this.registerModule('stateLayers', fresh);
    else {
      this.stateLayers = this.replaceModule('stateLayers', fresh);
      old.dispose();
    }
  }

  /** The stage holder of step k, stage i (null without per-stage statistics). */
  #stage(k: number, i: number): Module | null {
    if (this.stateLayers === null) return null;
    const step = this.stateLayers.at(k);
    return this.stagesPerStep === 1 ? step : (step as ModuleList).at(i);
  }

  /**
   * θ(t): exact at the control nodes, linear between them; buffers from the control at or below t;
   * BatchNorm statistics from `stage` (per-stage statistics) or from that control.
   */
  stateAt(t: number, stage: Module | null = null): LayerState {
    const { index, weight } = locate(this.#tTheta, t);
    const lower = this.layer(index);
    const params = new Map(lower.namedParameters());
    if (weight !== 0) {
      const upper = new Map(this.layer(index + 1).namedParameters());
      for (const [name, p] of params) params.set(name, p.mul(1 - weight).add(upper.get(name)!, weight));
    }
    const buffers = new Map(lower.namedBuffers());
    const statsOwner = new Map((stage ?? lower).namedChildren());
    return {
      param: (name) => params.get(name) ?? null,
      buffer: (name) => buffers.get(name) ?? null,
      stats: (name) => (statsOwner.get(name) as NormStats | undefined) ?? null,
    };
  }

  /** The right-hand side f(t, Y) = layer(Y; θ(t)), with the statistics of `stage`. */
  rhs(t: number, y: Tensor, stage: Module | null = null): Tensor {
    return tidy(() => this.layer(0).evaluate(y, this.stateAt(t, stage)));
  }

  forward(y: Tensor): Tensor {
    if (this.integrator === 'leapfrog') return this.#leapfrog(y);
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
    return this.#tY.slice(0, -1).map((t, k) => (y: Tensor) => {
      let i = 0;
      return rkStep(tableau, (s, u) => this.rhs(s, u, this.#stage(k, i++)), t, y, this.#tY[k + 1]! - t);
    });
  }

  /**
   * Leapfrog over tY from y at rest, one evaluation per step, at t_k: step k's statistics. Each state is
   * freed once superseded; `onStep` sees them as {@link leapfrog} passes them.
   */
  #leapfrog(y: Tensor, onStep?: (k: number, u: Tensor) => void): Tensor {
    let k = 0;
    return leapfrog((t, u) => this.rhs(t, u, this.#stage(k++, 0)), y, this.#tY, onStep);
  }

  /** The states at every point of tY (the first is the input itself). */
  trajectory(y: Tensor): Tensor[] {
    if (this.integrator === 'leapfrog') {
      // Leapfrog frees the states between the first and the last: keep copies of them.
      const states = [y];
      const last = this.#tY.length - 1;
      const final = this.#leapfrog(y, (k, u) => {
        if (k > 0 && k < last) states.push(u.clone());
      });
      states.push(final);
      return states;
    }
    const states = [y];
    for (const step of this.steps()) states.push(step(states.at(-1)!));
    return states;
  }

  /**
   * Re-discretizes the block (the reference's setTimeSteps): new state points, and new control points
   * whose parameters are θ_old interpolated at the new times — the learned dynamics stay the same. With
   * `lastUnused` (the reference's rk1 option) the last old control is left out of that interpolation.
   * Buffers of the new controls come from old control 0 with per-stage statistics (the reference copies
   * control 0's state), from the old control at or below each time otherwise; per-stage statistics start
   * again from control 0's.
   *
   * New controls mean new parameter tensors: the old ones are disposed, so an optimizer built over them
   * can no longer step (it says so); build a new one over `parameters()` after re-discretizing.
   */
  setTimeSteps(tY: readonly number[], tTheta: readonly number[] = this.#tTheta, { lastUnused = false } = {}): void {
    checkTimePoints(tY, 'setTimeSteps', 'tY');
    checkTimePoints(tTheta, 'setTimeSteps', 'tTheta');
    const sameControls = tTheta.length === this.#tTheta.length && tTheta.every((t, i) => t === this.#tTheta[i]);
    if (!sameControls) {
      const oldTheta = lastUnused ? this.#tTheta.slice(0, -1) : this.#tTheta;
      check(oldTheta.length >= 1, 'setTimeSteps', 'lastUnused needs at least two controls');
      const fresh = tTheta.map((t) => {
        const layer = this.#makeLayer();
        tidy(() =>
          noGrad(() => {
            const { index, weight } = locate(oldTheta, t);
            const lower = new Map(this.layer(index).namedParameters());
            const upper = weight === 0 ? lower : new Map(this.layer(index + 1).namedParameters());
            for (const [name, p] of layer.namedParameters())
              p.copy_(
                lower
                  .get(name)!
                  .mul(1 - weight)
                  .add(upper.get(name)!, weight),
              );
            const source = new Map(this.layer(this.normStats === 'stage' ? 0 : index).namedBuffers());
            for (const [name, b] of layer.namedBuffers()) b.copy_(source.get(name)!);
          }),
        );
        layer.train(this.training);
        return layer;
      });
      const old = this.controlLayers;
      this.controlLayers = this.replaceModule('controlLayers', new ModuleList(fresh));
      old.dispose();
      this.#tTheta = [...tTheta];
    }
    this.#tY = [...tY];
    this.#buildStages();
    this.stateLayers?.train(this.training);
  }

  /**
   * The reference's weight_variance: for each pair of neighbouring controls, h_k·‖θ_{k+1} − θ_k‖₁ over
   * every parameter, with h_k = tY[k+1] − tY[k] — the state grid's step, as the reference has it (the
   * control grid's when tY = tTheta).
   */
  weightVariance(): Tensor {
    check(
      this.#tTheta.length <= this.#tY.length,
      'weightVariance',
      `the reference's weight_variance weighs control k by the state step h_k: it needs no more controls (${this.#tTheta.length}) than state points (${this.#tY.length})`,
    );
    return tidy(() => {
      const terms: Tensor[] = [];
      for (let k = 0; k + 1 < this.#tTheta.length; k++) {
        const next = new Map(this.layer(k + 1).namedParameters());
        let sum = zeros([]);
        for (const [name, p] of this.layer(k).namedParameters()) sum = sum.add(p.sub(next.get(name)!).abs().sum());
        terms.push(sum.mul(this.#tY[k + 1]! - this.#tY[k]!).reshape(1));
      }
      return cat(terms);
    });
  }

  /**
   * The time regularization: with `l1` (default) Σ weightVariance(), the reference's; with `l2` pdenet's
   * R = Σ_k ‖θ_{k+1} − θ_k‖² / h_k with h_k = tTheta[k+1] − tTheta[k], ‖·‖² summed over every parameter: the
   * discretization of ∫‖θ′(t)‖² dt, so the same θ(t) costs the same on a refined control grid
   * (`setTimeSteps`) — T·‖v‖² for θ(t) = θ₀ + t·v on [0, T]. Both favour dynamics that vary smoothly in time.
   */
  timeRegularization(): Tensor {
    if (this.regularizer === 'l1') return tidy(() => this.weightVariance().sum());
    return tidy(() => {
      let total = zeros([]);
      for (let k = 0; k + 1 < this.#tTheta.length; k++) {
        const next = new Map(this.layer(k + 1).namedParameters());
        const h = this.#tTheta[k + 1]! - this.#tTheta[k]!;
        for (const [name, p] of this.layer(k).namedParameters()) {
          total = total.add(next.get(name)!.sub(p).square().sum(), 1 / h);
        }
      }
      return total;
    });
  }

  protected override extraRepr(): string {
    return `integrator=${this.integrator}, tY=[${this.#tY}], tTheta=[${this.#tTheta}], normStats=${this.normStats}`;
  }
}

markBlock(DynamicBlock);
