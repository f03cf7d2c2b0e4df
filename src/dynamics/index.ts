/**
 * DynamicBlocks: layer functions, Runge–Kutta integrators from Butcher tableaus, controls interpolated in
 * time, and RKNet.
 * @module
 */
export { type ButcherTableau, RK1, RK2, HEUN, RK4, TABLEAUS } from './tableau.js';
export { rkStep, integrate, leapfrog, checkTimePoints, type RightHandSide } from './integrate.js';
export { LayerFunction, DoubleLayer, DoubleSymLayer, PreactDoubleLayer, HyperbolicLayer, TvNorm, tvNorm, makeNorm,
  ownState, LAYERS, type LayerKind, type LayerOptions, type LayerState, type NormKind } from './layers.js';
export { DynamicBlock, locate, type DynamicBlockOptions, type IntegratorName } from './block.js';
export { RKNet, type RKNetOptions } from './rknet.js';
export { clipParameters, type ClipBounds } from './constraints.js';
