/**
 * The training floor: configuration, the trainer and its one-step function, checkpoints, evaluation,
 * using trained models, and throughput measurement.
 * @module
 */
export { DEFAULT_CONFIG, TRAIN_SETTINGS, TRAIN_FLAGS, resolveConfig, checkSettings, checkImageSettings, changedSettings,
  type TrainConfig, type TrainOverrides, type AugmentConfig, type ScheduleName, type OptimizerName, type Precision } from './config.js';
export { type Setting, type Group, type Flag, SettingError } from './settings.js';
export { train, trainStep, readMetrics, type TrainOptions, type TrainResult, type TrainEvents, type EpochMetrics,
  type Progress, type RunData, type StepContext } from './trainer.js';
export { saveCheckpoint, loadCheckpoint, saveWeights, type TrainingState, type LoadedCheckpoint } from './checkpoint.js';
export { evaluate, predictLogits, type Batch, type Evaluation } from './evaluate.js';
export { loadDataSplits, loadDataset, streamOf, validationCount, type BatchStream, type DataSplits } from './data.js';
export { loadTrainedModel, predictImages, type TrainedModel, type Prediction } from './trained.js';
export { benchModel, type BenchOptions, type BenchResult } from './bench.js';
export { WeightAverage } from './ema.js';
export { runSmoke, type SmokeOptions, type SmokeResult } from './smoke.js';
export { Lookahead, type LookaheadOptions } from './lookahead.js';
