/**
 * Learning-rate schedules and the Scheduler that applies them to an optimizer.
 *
 * A schedule is a pure function of the step count t (0, 1, 2, …; steps or epochs, as the caller counts),
 * so a resumed run continues exactly from the count alone. Each formula below is PyTorch's closed form.
 * StepLR and MultiStepLR multiply by γ one milestone at a time, as PyTorch's `scheduler.step()` does, and
 * OneCycleLR and ReduceLROnPlateau compute as PyTorch does: these give PyTorch's values to the bit.
 * CosineAnnealingLR and LinearWarmup use the closed form, where PyTorch's `step()` recurses (lrₜ from
 * lrₜ₋₁); the two agree up to rounding (about 1e-16 relative).
 * The one stateful rule, {@link ReduceLROnPlateau}, reacts to a metric and has a state dict of its own.
 *
 * @example
 * const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
 * const sched = new Scheduler(opt, new OneCycleLR({ maxLr: 0.2, totalSteps: epochs * batchesPerEpoch }));
 * // per batch: opt.step(); sched.step();
 * @module
 */
import { check, describe } from '../tensor/errors.js';

/** The schedules a training run names (`TrainConfig.schedule`). */
export const SCHEDULES = ['onecycle', 'cosine', 'step', 'multistep', 'rise-decay', 'constant'] as const;

export type ScheduleName = (typeof SCHEDULES)[number];

/** A learning-rate schedule: a pure function of the step count. */
export interface Schedule {
  /** The learning rate at step `t` (0, 1, 2, …) for a parameter group whose initial learning rate is `baseLr`. */
  lr(t: number, baseLr: number): number;
  /** The momentum (SGD's `momentum`, Adam's β₁) at step `t`, for schedules that cycle it; else undefined. */
  momentum?(t: number): number | undefined;
}

/** A schedule written as a function: `(t, baseLr) => lr` (PyTorch's LambdaLR with `baseLr·λ(t)` inlined). */
export type ScheduleFunction = (t: number, baseLr: number) => number;

function positiveInteger(n: number, op: string, what: string): void {
  check(Number.isInteger(n) && n > 0, op, `${what} must be a positive integer, got ${n}`);
}

/**
 * Decays the learning rate by γ every `stepSize` steps, PyTorch's `StepLR`:
 * `lr(t) = baseLr · γ^⌊t / stepSize⌋`.
 */
export class StepLR implements Schedule {
  constructor(
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    positiveInteger(stepSize, 'StepLR', 'stepSize');
  }

  lr(t: number, baseLr: number): number {
    let lr = baseLr;
    for (let k = Math.floor(t / this.stepSize); k > 0; k--) lr *= this.gamma; // γᵏ as PyTorch rounds it
    return lr;
  }
}

/**
 * Decays the learning rate by γ at each milestone, PyTorch's `MultiStepLR`:
 * `lr(t) = baseLr · γ^(number of milestones ≤ t)`.
 */
export class MultiStepLR implements Schedule {
  readonly milestones: readonly number[];

  constructor(
    milestones: readonly number[],
    readonly gamma = 0.1,
  ) {
    for (const m of milestones) check(Number.isInteger(m) && m >= 0, 'MultiStepLR', `milestone ${m} is not a step`);
    this.milestones = [...milestones].sort((a, b) => a - b);
  }

  lr(t: number, baseLr: number): number {
    // one factor per distinct milestone passed, γ^(its multiplicity), as PyTorch's step() rounds it
    let lr = baseLr;
    for (const [i, m] of this.milestones.entries()) {
      if (m > t) break;
      if (this.milestones[i - 1] === m) continue;
      lr *= this.gamma ** this.milestones.filter((x) => x === m).length;
    }
    return lr;
  }
}

/**
 * Raises the learning rate linearly over `warmupSteps` steps from `startFactor·baseLr` to `baseLr`, PyTorch's
 * `LinearLR(start_factor, end_factor=1, total_iters=warmupSteps)`:
 * `lr(t) = baseLr · (s + (1 − s) · min(t, w) / w)`.
 * With `then`, the schedule `then` follows from step w on, started afresh: `lr(t) = then.lr(t − w)` for t ≥ w
 * (PyTorch's `SequentialLR` with milestone w).
 */
export class LinearWarmup implements Schedule {
  constructor(
    readonly warmupSteps: number,
    readonly startFactor = 1 / 3,
    readonly then?: Schedule,
  ) {
    positiveInteger(warmupSteps, 'LinearWarmup', 'warmupSteps');
    check(startFactor > 0 && startFactor <= 1, 'LinearWarmup', `startFactor must be in (0, 1], got ${startFactor}`);
  }

  lr(t: number, baseLr: number): number {
    const w = this.warmupSteps;
    if (this.then !== undefined && t >= w) return this.then.lr(t - w, baseLr);
    return baseLr * (this.startFactor + ((1 - this.startFactor) * Math.min(w, t)) / w);
  }

  momentum(t: number): number | undefined {
    return this.then !== undefined && t >= this.warmupSteps ? this.then.momentum?.(t - this.warmupSteps) : undefined;
  }
}

/** Options of {@link CosineAnnealingLR}'s linear warmup. */
export interface WarmupOptions {
  /** w, the number of warmup steps. */
  steps: number;
  /** s, the fraction of baseLr at step 0 (default 1/3, as PyTorch's LinearLR). */
  startFactor?: number;
}

/**
 * Cosine annealing from baseLr to ηₘᵢₙ over `tMax` steps, PyTorch's `CosineAnnealingLR` (its closed form):
 * `lr(t) = ηₘᵢₙ + (baseLr − ηₘᵢₙ) · (1 + cos(π·t / tMax)) / 2`.
 * Past tMax the cosine rises again, as in PyTorch.
 *
 * With a warmup of w steps, the first w steps rise linearly as {@link LinearWarmup} and the cosine runs over
 * the remaining tMax − w steps: `lr(t) = baseLr·(s + (1 − s)·t/w)` for t < w, else
 * `ηₘᵢₙ + (baseLr − ηₘᵢₙ)·(1 + cos(π·(t − w)/(tMax − w)))/2`.
 */
export class CosineAnnealingLR implements Schedule {
  readonly warmupSteps: number;
  readonly warmupStartFactor: number;

  constructor(
    readonly tMax: number,
    readonly etaMin = 0,
    warmup?: WarmupOptions,
  ) {
    this.warmupSteps = warmup?.steps ?? 0;
    this.warmupStartFactor = warmup?.startFactor ?? 1 / 3;
    check(
      Number.isInteger(this.warmupSteps) && this.warmupSteps >= 0,
      'CosineAnnealingLR',
      `warmup steps must be a non-negative integer, got ${this.warmupSteps}`,
    );
    check(
      Number.isInteger(tMax) && tMax > this.warmupSteps,
      'CosineAnnealingLR',
      `tMax must be an integer larger than the warmup steps (${this.warmupSteps}), got ${tMax}`,
    );
    check(
      this.warmupStartFactor > 0 && this.warmupStartFactor <= 1,
      'CosineAnnealingLR',
      `the warmup's startFactor must be in (0, 1], got ${this.warmupStartFactor}`,
    );
  }

  lr(t: number, baseLr: number): number {
    const w = this.warmupSteps;
    if (t < w) return baseLr * (this.warmupStartFactor + ((1 - this.warmupStartFactor) * t) / w);
    return this.etaMin + ((baseLr - this.etaMin) * (1 + Math.cos((Math.PI * (t - w)) / (this.tMax - w)))) / 2;
  }
}

/** Options of {@link OneCycleLR} (PyTorch's names in camelCase). */
export interface OneCycleOptions {
  /** The peak learning rate; default: each group's initial learning rate (so groups keep their ratios). */
  maxLr?: number;
  /** T, the number of steps of the cycle. */
  totalSteps: number;
  /** The fraction of the steps spent rising (default 0.3). */
  pctStart?: number;
  /** The learning rate starts at maxLr / divFactor (default 25). */
  divFactor?: number;
  /** …and ends at maxLr / (divFactor · finalDivFactor) (default 1e4). */
  finalDivFactor?: number;
  /** The shape of each phase (default 'cos'). */
  annealStrategy?: 'cos' | 'linear';
  /** Three phases (rise, fall back to the start, anneal to the end) instead of two (default false). */
  threePhase?: boolean;
  /** Cycle the momentum inversely to the learning rate (default true, as PyTorch). */
  cycleMomentum?: boolean;
  /** The momentum at the learning rate's peak (default 0.85). */
  baseMomentum?: number;
  /** The momentum at the start and end (default 0.95). */
  maxMomentum?: number;
}

type Level = 'initial' | 'max' | 'min';
interface Phase {
  end: number;
  startLr: Level;
  endLr: Level;
  startMomentum: 'base' | 'max';
  endMomentum: 'base' | 'max';
}

/**
 * The one-cycle policy (Smith & Topin, 2019), PyTorch's `OneCycleLR` with its formulas. With
 * `initial = maxLr / divFactor`, `min = initial / finalDivFactor` and `p = pctStart`, two phases:
 *
 * ```text
 * t ∈ [0, pT − 1]:      anneal(initial → maxLr, pct = t / (pT − 1))
 * t ∈ [pT − 1, T − 1]:  anneal(maxLr → min,     pct = (t − (pT − 1)) / (T − 1 − (pT − 1)))
 * anneal_cos(a → b, pct)    = b + (a − b)/2 · (cos(π·pct) + 1)
 * anneal_linear(a → b, pct) = (b − a)·pct + a
 * ```
 *
 * so lr(0) = initial, lr(pT − 1) = maxLr, lr(T − 1) = min. With `threePhase`: initial → maxLr until pT − 1,
 * maxLr → initial until 2pT − 2, initial → min until T − 1. The momentum (SGD's momentum or Adam's β₁)
 * follows the same phases from maxMomentum to baseMomentum and back, unless `cycleMomentum` is false.
 * Stepping past T throws, as in PyTorch.
 */
export class OneCycleLR implements Schedule {
  readonly maxLr: number | undefined;
  readonly totalSteps: number;
  readonly pctStart: number;
  readonly divFactor: number;
  readonly finalDivFactor: number;
  readonly annealStrategy: 'cos' | 'linear';
  readonly threePhase: boolean;
  readonly cycleMomentum: boolean;
  readonly baseMomentum: number;
  readonly maxMomentum: number;
  readonly #phases: Phase[];

  constructor(options: OneCycleOptions) {
    const op = 'OneCycleLR';
    this.maxLr = options.maxLr;
    this.totalSteps = options.totalSteps;
    this.pctStart = options.pctStart ?? 0.3;
    this.divFactor = options.divFactor ?? 25;
    this.finalDivFactor = options.finalDivFactor ?? 1e4;
    this.annealStrategy = options.annealStrategy ?? 'cos';
    this.threePhase = options.threePhase ?? false;
    this.cycleMomentum = options.cycleMomentum ?? true;
    this.baseMomentum = options.baseMomentum ?? 0.85;
    this.maxMomentum = options.maxMomentum ?? 0.95;
    positiveInteger(this.totalSteps, op, 'totalSteps');
    check(this.maxLr === undefined || this.maxLr >= 0, op, `invalid maxLr: ${this.maxLr}`);
    check(this.pctStart >= 0 && this.pctStart <= 1, op, `pctStart must be between 0 and 1, got ${this.pctStart}`);
    check(
      this.annealStrategy === 'cos' || this.annealStrategy === 'linear',
      op,
      `annealStrategy must be 'cos' or 'linear', got ${this.annealStrategy}`,
    );
    const T = this.totalSteps;
    const rise = this.pctStart * T - 1;
    this.#phases = this.threePhase
      ? [
          { end: rise, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
          {
            end: 2 * this.pctStart * T - 2,
            startLr: 'max',
            endLr: 'initial',
            startMomentum: 'base',
            endMomentum: 'max',
          },
          { end: T - 1, startLr: 'initial', endLr: 'min', startMomentum: 'max', endMomentum: 'max' },
        ]
      : [
          { end: rise, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
          { end: T - 1, startLr: 'max', endLr: 'min', startMomentum: 'base', endMomentum: 'max' },
        ];
    // A phase that ends at the step it starts would divide 0 by 0 (PyTorch raises ZeroDivisionError there).
    const names = this.threePhase ? ['rising', 'falling', 'annealing'] : ['rising', 'annealing'];
    let start = 0;
    for (const [i, phase] of this.#phases.entries()) {
      check(
        phase.end !== start,
        op,
        () =>
          `the ${names[i]} phase is empty: it starts and ends at step ${start} ` +
          `(pctStart·totalSteps = ${this.pctStart}·${T} = ${this.pctStart * T}${this.threePhase ? ', three phases' : ''}); ` +
          'choose pctStart so that the phase spans at least one step',
      );
      start = phase.end;
    }
  }

  #anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'linear') return (end - start) * pct + start;
    const cosOut = Math.cos(Math.PI * pct) + 1;
    return end + ((start - end) / 2.0) * cosOut;
  }

  /** The phase of step t and the fraction of it done. */
  #phaseOf(t: number): { phase: Phase; pct: number } {
    check(
      t <= this.totalSteps,
      'OneCycleLR',
      () => `tried to step ${t + 1} times; the specified number of total steps is ${this.totalSteps}`,
    );
    let start = 0;
    for (const [i, phase] of this.#phases.entries()) {
      if (t <= phase.end || i === this.#phases.length - 1) return { phase, pct: (t - start) / (phase.end - start) };
      start = phase.end;
    }
    throw new Error('unreachable');
  }

  lr(t: number, baseLr: number): number {
    const maxLr = this.maxLr ?? baseLr;
    const initial = maxLr / this.divFactor;
    const levels = { initial, max: maxLr, min: initial / this.finalDivFactor };
    const { phase, pct } = this.#phaseOf(t);
    return this.#anneal(levels[phase.startLr], levels[phase.endLr], pct);
  }

  momentum(t: number): number | undefined {
    if (!this.cycleMomentum) return undefined;
    const levels = { base: this.baseMomentum, max: this.maxMomentum };
    const { phase, pct } = this.#phaseOf(t);
    return this.#anneal(levels[phase.startMomentum], levels[phase.endMomentum], pct);
  }
}

/**
 * The seed notebook's rise-and-decay schedule, a function of the epoch x:
 * `lr(x) = floor + x · e^(−x/x0) · e · y0 / x0`.
 * It rises from `floor` (0.001) at x = 0 to its peak `floor + y0` at x = x0, then decays back towards
 * `floor`. It sets the same learning rate for every group (the groups' initial rates are not used).
 * In PyTorch: `LambdaLR(opt, lambda x: lr(x) / base_lr)`.
 */
export class RiseAndDecayLR implements Schedule {
  constructor(
    readonly x0: number,
    readonly y0: number,
    readonly floor = 0.001,
  ) {
    check(x0 > 0, 'RiseAndDecayLR', `x0 must be positive, got ${x0}`);
  }

  lr(x: number): number {
    return this.floor + (x * Math.exp(-x / this.x0) * Math.E * this.y0) / this.x0;
  }
}

/** Options of {@link ReduceLROnPlateau} (PyTorch's names in camelCase). */
export interface PlateauOptions {
  /** 'min': lower metrics are better (a loss); 'max': higher are (an accuracy). Default 'min'. */
  mode?: 'min' | 'max';
  /** The factor applied to the learning rate at a plateau (default 0.1; must be < 1). */
  factor?: number;
  /** The number of epochs without improvement tolerated; the next one reduces (default 10). */
  patience?: number;
  /** The least change that counts as an improvement (default 1e-4). */
  threshold?: number;
  /** 'rel': relative to the best metric; 'abs': absolute (default 'rel'). */
  thresholdMode?: 'rel' | 'abs';
  /** The epochs after a reduction during which bad epochs are not counted (default 0). */
  cooldown?: number;
  /** The lowest learning rate, one for all groups or one per group (default 0). */
  minLr?: number | readonly number[];
  /** Reductions smaller than this are skipped (default 1e-8). */
  eps?: number;
}

/** The state of a {@link ReduceLROnPlateau}, named as PyTorch's attributes (`best` null stands for ±∞). */
export interface PlateauStateDict {
  best: number | null;
  num_bad_epochs: number;
  cooldown_counter: number;
  last_epoch: number;
}

/**
 * Reduces the learning rate when a metric stops improving, PyTorch's `ReduceLROnPlateau`. At each
 * epoch's metric a:
 *
 * ```text
 * better(a) = a < best·(1 − threshold)  ('min', 'rel')      a < best − threshold  ('min', 'abs')
 *             a > best·(1 + threshold)  ('max', 'rel')      a > best + threshold  ('max', 'abs')
 * if better(a): best ← a, bad ← 0   else bad ← bad + 1
 * if cooldown > 0: cooldown ← cooldown − 1, bad ← 0
 * if bad > patience: lr ← max(lr·factor, minLr) for each group (unless it changes by ≤ eps),
 *                    cooldown ← cooldownEpochs, bad ← 0
 * ```
 *
 * Use it through a {@link Scheduler} (`scheduler.step(metric)`), or call {@link step} with the current rates.
 */
export class ReduceLROnPlateau {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLr: number | readonly number[];
  readonly eps: number;
  /** The best metric so far (±∞ before the first). */
  best: number;
  /** Epochs since the last improvement. */
  numBadEpochs = 0;
  /** Epochs of cooldown left. */
  cooldownCounter = 0;
  /** Metrics seen. */
  lastEpoch = 0;

  constructor(options: PlateauOptions = {}) {
    const op = 'ReduceLROnPlateau';
    this.mode = options.mode ?? 'min';
    this.factor = options.factor ?? 0.1;
    this.patience = options.patience ?? 10;
    this.threshold = options.threshold ?? 1e-4;
    this.thresholdMode = options.thresholdMode ?? 'rel';
    this.cooldown = options.cooldown ?? 0;
    this.minLr = Array.isArray(options.minLr) ? [...options.minLr] : (options.minLr ?? 0);
    this.eps = options.eps ?? 1e-8;
    check(this.factor < 1, op, 'factor should be < 1.0');
    check(this.mode === 'min' || this.mode === 'max', op, `mode ${this.mode} is unknown`);
    check(
      this.thresholdMode === 'rel' || this.thresholdMode === 'abs',
      op,
      `threshold mode ${this.thresholdMode} is unknown`,
    );
    this.best = this.#worst;
  }

  get #worst(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  /** Whether metric `a` improves on `best` by more than the threshold. */
  isBetter(a: number, best: number): boolean {
    const rel = this.thresholdMode === 'rel';
    if (this.mode === 'min') return rel ? a < best * (1 - this.threshold) : a < best - this.threshold;
    return rel ? a > best * (this.threshold + 1) : a > best + this.threshold;
  }

  /** Records one epoch's `metric` and returns the groups' learning rates `lrs`, reduced at a plateau. */
  step(metric: number, lrs: readonly number[]): number[] {
    const op = 'ReduceLROnPlateau';
    check(typeof metric === 'number', op, `the metric must be a number, got ${metric}`);
    const minLrs = typeof this.minLr === 'number' ? lrs.map(() => this.minLr as number) : this.minLr;
    check(minLrs.length === lrs.length, op, () => `expected ${lrs.length} values for minLr, got ${minLrs.length}`);
    this.lastEpoch += 1;
    if (this.isBetter(metric, this.best)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0; // bad epochs in cooldown do not count
    }
    if (this.numBadEpochs <= this.patience) return [...lrs];
    this.cooldownCounter = this.cooldown;
    this.numBadEpochs = 0;
    return lrs.map((old, i) => {
      const reduced = Math.max(old * this.factor, minLrs[i]!);
      return old - reduced > this.eps ? reduced : old;
    });
  }

  /** The counters, for checkpoints. */
  stateDict(): PlateauStateDict {
    return {
      best: Number.isFinite(this.best) ? this.best : null,
      num_bad_epochs: this.numBadEpochs,
      cooldown_counter: this.cooldownCounter,
      last_epoch: this.lastEpoch,
    };
  }

  /** Restores the counters saved by {@link stateDict}. */
  loadStateDict(sd: PlateauStateDict): void {
    const op = 'ReduceLROnPlateau.loadStateDict';
    check(sd !== null && typeof sd === 'object', op, 'expected { best, num_bad_epochs, cooldown_counter, last_epoch }');
    check(sd.best === null || typeof sd.best === 'number', op, `best must be a number or null, got ${sd.best}`);
    for (const key of ['num_bad_epochs', 'cooldown_counter', 'last_epoch'] as const) {
      check(Number.isInteger(sd[key]) && sd[key] >= 0, op, `${key} must be a non-negative integer, got ${sd[key]}`);
    }
    this.best = sd.best ?? this.#worst;
    this.numBadEpochs = sd.num_bad_epochs;
    this.cooldownCounter = sd.cooldown_counter;
    this.lastEpoch = sd.last_epoch;
  }
}

/** A parameter group as a Scheduler sees it: its learning rate and, for momentum cycling, momentum or betas. */
export interface ScheduledGroup {
  lr: number;
  momentum?: number;
  betas?: readonly [number, number];
}

/** What a Scheduler drives: an optimizer's parameter groups. */
export interface ScheduledOptimizer {
  readonly paramGroups: readonly ScheduledGroup[];
}

/** Checks that every entry of `list` (the state dict's `name`) is a learning rate: a finite number ≥ 0. */
function learningRates(list: readonly unknown[], name: string, op: string): void {
  list.forEach((lr, i) =>
    check(
      typeof lr === 'number' && Number.isFinite(lr) && lr >= 0,
      op,
      () => `${name}[${i}] is ${describe(lr)}, expected a finite number ≥ 0`,
    ),
  );
}

/** The state of a {@link Scheduler}. */
export interface SchedulerStateDict {
  /** The step count t. */
  step: number;
  /** Each group's initial learning rate. */
  base_lrs: number[];
  /** With ReduceLROnPlateau: each group's current learning rate, and the plateau's counters. */
  lrs?: number[];
  plateau?: PlateauStateDict;
}

/**
 * Applies a schedule to an optimizer, like PyTorch's `_LRScheduler`: the constructor records each group's
 * initial learning rate (baseLr) and sets the learning rates of step 0; each `step()` advances the count t
 * and writes `schedule.lr(t, baseLr)` into every group (and the momentum, for schedules that cycle it).
 * With {@link ReduceLROnPlateau}, `step(metric)` passes the epoch's metric and writes the rates it returns.
 *
 * Call `optimizer.step()` before `scheduler.step()`, as in PyTorch.
 */
export class Scheduler {
  readonly optimizer: ScheduledOptimizer;
  readonly schedule: Schedule | ReduceLROnPlateau;
  #baseLrs: number[];
  #t = 0;
  #lrs: number[];

  constructor(optimizer: ScheduledOptimizer, schedule: Schedule | ScheduleFunction | ReduceLROnPlateau) {
    this.optimizer = optimizer;
    this.schedule = typeof schedule === 'function' ? { lr: schedule } : schedule;
    this.#baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.#lrs = [...this.#baseLrs];
    if (!(this.schedule instanceof ReduceLROnPlateau)) {
      const m = this.schedule.momentum?.(0);
      check(
        m === undefined || optimizer.paramGroups.every((g) => g.betas !== undefined || g.momentum !== undefined),
        'Scheduler',
        'the schedule cycles the momentum, but the optimizer has neither momentum nor betas',
      );
    }
    this.#apply();
  }

  /** The step count t (PyTorch's `last_epoch`). */
  get stepCount(): number {
    return this.#t;
  }

  /** Each group's initial learning rate. */
  get baseLrs(): readonly number[] {
    return this.#baseLrs;
  }

  /** The learning rates last written into the groups (PyTorch's `get_last_lr()`). */
  get lastLr(): number[] {
    return [...this.#lrs];
  }

  /** Advances one step (or epoch) and writes the new learning rates; `metric` is required with a plateau rule. */
  step(metric?: number): void {
    const groups = this.optimizer.paramGroups;
    check(
      groups.length === this.#baseLrs.length,
      'Scheduler',
      () => `the optimizer has ${groups.length} parameter groups, the scheduler was made for ${this.#baseLrs.length}`,
    );
    if (this.schedule instanceof ReduceLROnPlateau) {
      check(typeof metric === 'number', 'Scheduler', 'ReduceLROnPlateau needs the metric: scheduler.step(metric)');
      this.#lrs = this.schedule.step(metric, this.#lrs);
    }
    this.#t += 1;
    this.#apply();
  }

  /**
   * Moves to step t (forward or back) and writes its learning rates: for a schedule that follows something other
   * than the steps taken, such as the share of a training-time budget spent. Not for ReduceLROnPlateau.
   */
  seek(t: number): void {
    check(Number.isInteger(t) && t >= 0, 'Scheduler.seek', `the step must be a non-negative integer, got ${t}`);
    check(
      !(this.schedule instanceof ReduceLROnPlateau),
      'Scheduler.seek',
      'ReduceLROnPlateau follows its metric: it has no step to seek',
    );
    this.#t = t;
    this.#apply();
  }

  #apply(): void {
    const groups = this.optimizer.paramGroups;
    const schedule = this.schedule;
    if (!(schedule instanceof ReduceLROnPlateau)) {
      this.#lrs = this.#baseLrs.map((base) => schedule.lr(this.#t, base));
      const m = schedule.momentum?.(this.#t);
      if (m !== undefined) {
        for (const g of groups) {
          if (g.betas !== undefined) g.betas = [m, g.betas[1]];
          else g.momentum = m;
        }
      }
    }
    groups.forEach((g, i) => (g.lr = this.#lrs[i]!));
  }

  /** The step count, the initial rates and, with a plateau rule, its state: all a resumed run needs. */
  stateDict(): SchedulerStateDict {
    const sd: SchedulerStateDict = { step: this.#t, base_lrs: [...this.#baseLrs] };
    if (this.schedule instanceof ReduceLROnPlateau) {
      sd.lrs = [...this.#lrs];
      sd.plateau = this.schedule.stateDict();
    }
    return sd;
  }

  /** Restores a state dict of {@link stateDict} and writes the learning rates of that step into the groups. */
  loadStateDict(sd: SchedulerStateDict): void {
    const op = 'Scheduler.loadStateDict';
    const n = this.optimizer.paramGroups.length;
    check(sd !== null && typeof sd === 'object', op, 'expected { step, base_lrs }, as stateDict() returns');
    check(Number.isInteger(sd.step) && sd.step >= 0, op, `step must be a non-negative integer, got ${sd.step}`);
    check(
      Array.isArray(sd.base_lrs) && sd.base_lrs.length === n,
      op,
      () =>
        `the state dict has ${Array.isArray(sd.base_lrs) ? sd.base_lrs.length : 'no'} base_lrs, the optimizer has ${n} groups`,
    );
    learningRates(sd.base_lrs, 'base_lrs', op);
    const plateau = this.schedule instanceof ReduceLROnPlateau;
    check(
      plateau === (sd.plateau !== undefined),
      op,
      plateau
        ? 'the state dict has no plateau state, but the schedule is ReduceLROnPlateau'
        : 'the state dict has plateau state, but the schedule is not ReduceLROnPlateau',
    );
    if (this.schedule instanceof ReduceLROnPlateau) {
      check(Array.isArray(sd.lrs) && sd.lrs.length === n, op, () => `the state dict needs ${n} lrs`);
      learningRates(sd.lrs, 'lrs', op);
      this.schedule.loadStateDict(sd.plateau!);
      this.#lrs = [...sd.lrs];
    }
    this.#baseLrs = [...sd.base_lrs];
    this.#t = sd.step;
    this.#apply();
  }
}
