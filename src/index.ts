/**
 * pdenet: ConvNets from the PDE perspective, in TypeScript, on libtorch.
 * @module
 */
import { defaultNumThreads, setNumThreads } from './tensor/runtime.js';

// libtorch starts with one thread on some machines; use every core the process may use.
setNumThreads(defaultNumThreads());

export * from './tensor/index.js';
export * as nn from './nn/index.js';
export * as pde from './pde/index.js';
export * as dynamics from './dynamics/index.js';
export * as io from './io/index.js';
export * as optim from './optim/index.js';
export * as models from './models/index.js';
export * as viz from './viz/index.js';
export * as data from './data/index.js';
export * as train from './train/index.js';
export * as distributed from './distributed/index.js';
export * as sweep from './sweep/index.js';
