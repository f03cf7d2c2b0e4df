/**
 * The training floor: configuration, the trainer and its one-step function, checkpoints, evaluation,
 * using trained models, and throughput measurement.
 * @module
 */
export {
  DEFAULT_CONFIG,
  TRAIN_SETTINGS,
  TRAIN_FLAGS,
  resolveConfig,
  checkSettings,
  checkImageSettings,
  changedSettings,
  type TrainConfig,
  type TrainOverrides,
  type AugmentConfig,
  type ScheduleName,
  type OptimizerName,
  type Precision,
} from './config.js';
export { type Setting, type Group, type Flag, SettingError } from './settings.js';
export {
  train,
  trainStep,
  makeOptimizer,
  EXIT_CODES,
  type TrainOptions,
  type TrainResult,
  type TrainEvents,
  type Progress,
  type StepContext,
  type StopReason,
} from './trainer.js';
export {
  RUN_FILES,
  RunWriter,
  runDirOf,
  runFile,
  readRunConfig,
  readRunData,
  readMetrics,
  readRunCheckpoint,
  readWeights,
  resolveRunTarget,
  loadTrainedModel,
  modelOfRun,
  evaluationImages,
  checkSameModel,
  type RunData,
  type EpochMetrics,
  type EpochCommit,
  type FaultHook,
  type TrainedModel,
  type EvaluationImages,
} from './run.js';
export { RESUME_CHANGES, resumedConfig } from './resume.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  saveWeights,
  CHECKPOINT_FORMAT,
  type CheckpointParts,
  type TrainingState,
  type LoadedCheckpoint,
} from './checkpoint.js';
export { evaluate, predictLogits, type Batch, type Evaluation } from './evaluate.js';
export {
  loadDataSplits,
  loadTrainingImages,
  streamOf,
  validationCount,
  carveValidation,
  type BatchStream,
  type DataSplits,
} from './data.js';
export { evaluateTrained, type EvaluateTrainedOptions, predictImages, imageFiles, type Prediction } from './trained.js';
export { benchModel, type BenchOptions, type BenchResult } from './bench.js';
export { WeightAverage } from './ema.js';
export { runSmoke, type SmokeOptions, type SmokeResult } from './smoke.js';
export { Lookahead, type LookaheadOptions } from './lookahead.js';
