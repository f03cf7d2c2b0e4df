/**
 * Sweeps: a grid of training settings × seeds, each run a child process of `pdenet train`, summarized with
 * confidence intervals and Welch's tests against the baseline.
 * @module
 */
export {
  recordedSweep,
  runSweep,
  specDifferences,
  type SweepOptions,
  type SweepResult,
  type RunEvent,
  type RunEpochEvent,
} from './sweep.js';
export { planSweep, type SweepSpec, type SweepPlan, type PlannedRun, type Combination } from './plan.js';
export {
  summarizeSweep,
  writeSummary,
  stopRule,
  type SweepSummary,
  type CombinationSummary,
  type RunRecord,
  type CurvePoint,
} from './summary.js';
export {
  followEpochs,
  readRunState,
  remainingSeconds,
  sweepRemainingSeconds,
  type RunProgress,
  type RunState,
  type StopRule,
} from './run-folder.js';
export {
  parseSetting,
  parseValue,
  settingPath,
  settingPaths,
  withSetting,
  formatValue,
  describeValue,
  labelPart,
  RECIPE,
  type SweepSetting,
  type Recipe,
} from './settings.js';
export {
  summarize,
  welch,
  paired,
  mean,
  variance,
  studentQuantile,
  type SampleSummary,
  type Comparison,
} from './stats.js';
