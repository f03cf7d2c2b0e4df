/**
 * The tensor floor of pdenet: tensors, autograd, memory scopes and the runtime, over libtorch.
 * @module
 */
export { TorchError } from './errors.js';
export { type DType, isFloatingPoint } from './dtype.js';
export {
  Tensor,
  cat,
  stack,
  where,
  callOp,
  opSchema,
  type Shape,
  type Device,
  type NestedArray,
  type OpArg,
  type ReduceOptions,
} from './tensor.js';
export * from './creation.js';
export { noGrad, enableGrad, isGradEnabled, grad, backward, type GradOptions } from './autograd.js';
export {
  tidy,
  keep,
  chain,
  type ChainStep,
  dispose,
  memory,
  resetPeakMemory,
  releaseCachedMemory,
  type MemoryInfo,
} from './memory.js';
export {
  setNumThreads,
  getNumThreads,
  defaultNumThreads,
  manualSeed,
  setAutocast,
  isAutocastEnabled,
  getAutocastDtype,
  autocast,
  backend,
  type BackendInfo,
} from './runtime.js';
export * as F from './functional.js';
export * as linalg from './linalg.js';
export { powScalar } from './tensor.js';
