/**
 * DynamicBlocks: layer functions, Runge–Kutta integrators from Butcher tableaus, controls interpolated in
 * time, and RKNet — the reference's (EmoryMLIP/DynamicBlocks) semantics by default, pdenet's options beside.
 * @module
 */
export { type ButcherTableau, RK1, RK2, HEUN, RK4, TABLEAUS } from './tableau.js';
export { rkStep, integrate, leapfrog, checkTimePoints, type RightHandSide } from './integrate.js';
export {
  LayerFunction,
  DoubleLayer,
  DoubleSymLayer,
  PreactDoubleLayer,
  NormFirstDoubleLayer,
  HyperbolicLayer,
  TvNorm,
  tvNorm,
  makeNorm,
  normalInit,
  ownState,
  convK,
  convKT,
  ConvParameters,
  RunningStats,
  LAYERS,
  type LayerKind,
  type LayerOptions,
  type LayerState,
  type NormKind,
  type NormStats,
  type BoxKind,
} from './layers.js';
export {
  DynamicBlock,
  locate,
  type DynamicBlockOptions,
  type IntegratorName,
  type NormStatsMode,
  type Regularizer,
} from './block.js';
export { RKNet, ConnectingLayer, referenceStateDict, type RKNetOptions } from './rknet.js';
export {
  clipParameters,
  clampBoxes,
  constrainAfterStep,
  REFERENCE_BOUNDS,
  type ClipBounds,
  type ReferenceBounds,
} from './constraints.js';
