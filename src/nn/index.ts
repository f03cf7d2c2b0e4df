/**
 * The nn floor: modules, layers and initialization, shaped like `torch.nn`.
 * @module
 */
export {
  Module,
  type ForwardHook,
  type HookHandle,
  type LoadOptions,
  type LoadResult,
  type SummaryRow,
} from './module.js';
export { Conv2d, ConvTranspose2d, type ConvOptions, type ConvTransposeOptions, type PaddingMode } from './conv.js';
export { Linear } from './linear.js';
export { BatchNorm2d, GroupNorm, LayerNorm, type BatchNormOptions } from './norm.js';
export { ReLU, GELU, SiLU, Tanh, Identity, Flatten, Dropout } from './activation.js';
export { AvgPool2d, MaxPool2d, AdaptiveAvgPool2d } from './pooling.js';
export { Sequential, ModuleList } from './container.js';
export { checkpointedStep } from './checkpoint.js';
export { markBlock, isBlock, blockDescription, type BlockDescription } from './block.js';
export * as init from './init.js';
