/**
 * The PDE floor: coordinate fields, the operator basis, boundary conditions, twisted convolutions,
 * hyperbolic layers and PDE blocks.
 * @module
 */
export { coordinates, polynomialFeatures, type CoordinateConvention, type FeatureOptions } from './coords.js';
export { STENCILS, BASIS_ORDER, stencilKernel, type Stencil, type StencilName } from './stencils.js';
export { BOUNDARIES, applyStencil, convK, convKT, padBoundary, padBoundaryAdjoint, type Boundary } from './boundary.js';
export {
  TwistConv2d,
  CoordMixConv2d,
  projectKx,
  kyFromKx,
  TWIST_VARIANTS,
  type TwistConvOptions,
  type TwistVariant,
  type TwistField,
  type CoordMixOptions,
} from './twist.js';
export {
  SymmetricLayer,
  LeapfrogBlock,
  HamiltonianBlock,
  applyK,
  applyKT,
  activate,
  selfAdjointPart,
  operators3x3,
  isSquareOperator,
  type Operator3x3,
  type DeclaredOperator,
  hyperbolicityPenalty,
  type Activation,
  type LeapfrogOptions,
  type SymmetricLayerOptions,
} from './hyperbolic.js';
export { DepthwiseBasisBlock, PDEBlock, type DepthwiseBasisOptions, type PDEBlockOptions } from './blocks.js';
