/**
 * Containers: Sequential and ModuleList. Children are named "0", "1", … as in PyTorch.
 * @module
 */
import { check } from '../tensor/errors.js';
import { chain } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** A module applying its children in order; intermediate results are freed as it goes. */
export class Sequential extends Module {
  readonly #layers: Module[] = [];

  constructor(...layers: Module[]) {
    super();
    for (const layer of layers) this.append(layer);
  }

  append(layer: Module): this {
    this.registerModule(String(this.#layers.length), layer);
    this.#layers.push(layer);
    return this;
  }

  get length(): number {
    return this.#layers.length;
  }

  at(index: number): Module {
    const layer = this.#layers.at(index);
    check(layer !== undefined, 'Sequential', `index ${index} is out of range for ${this.#layers.length} layers`);
    return layer;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.#layers[Symbol.iterator]();
  }

  forward(input: Tensor): Tensor {
    return chain(
      input,
      ...this.#layers.map((layer) => (x: Tensor) => {
        const y = layer.forward(x as never);
        check(y instanceof Tensor, 'Sequential', `${layer.constructor.name} did not return a tensor`);
        return y;
      }),
    );
  }
}

/** A list of modules, registered so their parameters are found; it has no forward of its own. */
export class ModuleList extends Module {
  readonly #items: Module[] = [];

  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(module: Module): this {
    this.registerModule(String(this.#items.length), module);
    this.#items.push(module);
    return this;
  }

  get length(): number {
    return this.#items.length;
  }

  at(index: number): Module {
    const m = this.#items.at(index);
    check(m !== undefined, 'ModuleList', `index ${index} is out of range for ${this.#items.length} modules`);
    return m;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.#items[Symbol.iterator]();
  }

  forward(): never {
    throw new Error('ModuleList has no forward; iterate over it');
  }
}
