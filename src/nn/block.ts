/**
 * Blocks: the modules whose input and output are the hidden state at successive times (a residual block, a
 * PDE step, a stage of a dynamic network). A block class declares itself with {@link markBlock}; tools that
 * follow the state through a network (`pdenet inspect`) find blocks with {@link isBlock}, without knowing any
 * model's classes.
 * @module
 */
import type { Module } from './module.js';

/** What a block class may say about itself beyond being a block. */
export interface BlockDescription<M extends Module = Module> {
  /**
   * An integrator block's per-step operators: the state at each time step is the input of one of them (the
   * operator of an Euler step, the layers of a leapfrog block).
   */
  stepOperators?: (block: M) => Module[];
  /** What the state at one of those steps is called, e.g. 'Euler state'. */
  stepState?: string;
}

const BLOCK = Symbol.for('pdenet.block');

type ModuleClass<M extends Module> = abstract new (...args: never[]) => M;

/** Declares the instances of `cls` blocks (see the module's documentation); returns `cls`. */
export function markBlock<M extends Module, C extends ModuleClass<M>>(
  cls: C & ModuleClass<M>,
  description: BlockDescription<M> = {},
): C {
  Object.defineProperty(cls.prototype, BLOCK, { value: description, enumerable: false, configurable: true });
  return cls;
}

/** Whether `module` is an instance of a class marked with {@link markBlock}. */
export function isBlock(module: Module): boolean {
  return blockDescription(module) !== undefined;
}

/** The description a block's class was marked with, or undefined when `module` is not a block. */
export function blockDescription(module: Module): BlockDescription | undefined {
  return (module as unknown as Record<symbol, BlockDescription | undefined>)[BLOCK];
}
