/**
 * The seed notebook's plateau rule (`cifar10_with_PDE.ipynb` of liuyao12/pytorch-cifar, its training cell): when
 * `patience` epochs have passed since the best validation accuracy (or since the rule last acted), go back to
 * the best weights, set the learning rate to the best epoch's times `factor`, start the optimizer afresh, and
 * (optionally) switch the twist of more stages on. The notebook's numbers: patience 30, factor 0.1, layer1 and
 * layer2 twisted from the first plateau on.
 *
 * The rule alone, as a function of the run's bookkeeping, so that it can be checked against the notebook's own
 * loop; the trainer does what it decides.
 * @module
 */

/**
 * What goes back to the best epoch's values when the rule acts: `weights`, every weight and statistic (pdenet's,
 * the rule as the notebook describes it); `notebook`, what the notebook's code does. Its checkpoint is
 * `net.state_dict()` without a copy, whose tensors share storage with the live ones, which the optimizer and
 * BatchNorm update in place: loading it changes nothing but the twist kernels (`conv1x`, `conv2y`, `convx`, …),
 * whose `.data` each forward replaces, so that the checkpoint kept the old tensors.
 */
export const PLATEAU_RESTORES = ['weights', 'notebook'] as const;
export type PlateauRestore = (typeof PLATEAU_RESTORES)[number];

/** The rule's settings (`plateau` in a training configuration). */
export interface PlateauRule {
  /** Epochs without a better validation accuracy before the rule acts (0: never). */
  patience: number;
  /** The new learning rate is the best epoch's times this. */
  factor: number;
  restore: PlateauRestore;
}

/** The notebook networks' twist kernels, by their state_dict names. */
const TWIST_KERNEL = /(^|\.)conv\d?[xy]\.weight$/;

/** The state_dict entries the rule sets back to the best epoch's, of the names `names`. */
export function restoredByPlateau(rule: Pick<PlateauRule, 'restore'>, names: Iterable<string>): string[] {
  return [...names].filter((name) => rule.restore === 'weights' || TWIST_KERNEL.test(name));
}

/** What the rule remembers between epochs (part of a run's checkpoint). */
export interface PlateauState {
  /** The epoch (0-based) the rule last acted at, or 0: the notebook's `checkpoint['epoch']` when it is later than the best epoch. */
  acted: number;
  /** How many times it acted. */
  times: number;
  /** Each parameter group's base learning rate when the best epoch ran (null before the first best). */
  bestLrs: number[] | null;
}

export const PLATEAU_START: PlateauState = { acted: 0, times: 0, bestLrs: null };

/** The rule before training epoch `epoch` (0-based): whether it acts, and if so the new base learning rates. */
export type PlateauDecision = { acts: false } | { acts: true; lrs: number[]; state: PlateauState };

/**
 * The rule before training epoch `epoch` (0-based), given the best epoch so far (-1: none). The notebook keeps
 * one marker, `checkpoint['epoch']`, set by each new best and by each plateau, and acts when
 * `epoch - marker >= patience`; the new learning rate is the best epoch's times the factor
 * (`checkpoint['lr'] * 0.1`), not the current one's.
 */
export function plateauBefore(
  rule: PlateauRule,
  state: PlateauState,
  bestEpoch: number,
  epoch: number,
): PlateauDecision {
  const due = rule.patience > 0 && state.bestLrs !== null && epoch - Math.max(state.acted, bestEpoch) >= rule.patience;
  if (!due) return { acts: false };
  return {
    acts: true,
    lrs: state.bestLrs!.map((lr) => lr * rule.factor),
    state: { ...state, acted: epoch, times: state.times + 1 },
  };
}

/** The rule after a new best epoch: it remembers the base learning rates that epoch ran with. */
export function plateauAfterBest(state: PlateauState, baseLrs: readonly number[]): PlateauState {
  return { ...state, bestLrs: [...baseLrs] };
}
