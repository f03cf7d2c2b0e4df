/**
 * Pictures and reports: the operator demos, the inspection of a trained model, run curves, sweep plots and the
 * self-contained HTML report of a run.
 * @module
 */
export {
  runDemo,
  DEMO_KINDS,
  DEFAULT_VISCOSITY,
  type DemoKind,
  type DemoOptions,
  type DemoResult,
  type Rect,
} from './demos.js';
export { drawScene, loadPicture, DEFAULT_IMAGE_PATH } from './scene.js';
export { encodeGif, type GifOptions } from './gif.js';
export {
  encodePng,
  decodePng,
  readPng,
  tensorToImage,
  imageToTensor,
  scaleNearest,
  colorize,
  type RGBAImage,
  type ColormapName,
} from './image.js';
export {
  plotCurves,
  curvesSpec,
  plotOperatorStats,
  vegaLiteToSvg,
  writeChart,
  type MetricsRow,
  type OperatorBar,
} from './charts.js';
export {
  inspectCheckpoint,
  operatorStatistics,
  twistMatrices,
  resolveRunTarget,
  type InspectOptions,
  type InspectResult,
  type OperatorStat,
  type TwistFieldSummary,
} from './inspect.js';
export { writeRunReport, readRunMetrics, type ReportOptions } from './report.js';
export {
  type FinalAccuracies,
  finalAccuracySpec,
  plotFinalAccuracies,
  plotSweep,
  sweepPlotSpec,
} from './sweep-plots.js';
