/**
 * The Module: the unit models are written in, shaped like `torch.nn.Module`.
 *
 * A module owns, in registration order, its parameters (tensors that learn), its buffers (state that
 * does not learn, such as BatchNorm's running statistics) and its child modules. Names are paths, as
 * in PyTorch: the parameter `weight` of child `conv1` of child `0` of child `layer1` is
 * `layer1.0.conv1.weight`, so state dicts move between pdenet and PyTorch unchanged.
 *
 * Parameters and buffers are exempt from `tidy` scopes (a model outlives any one step); free them with
 * `dispose()`.
 * @module
 */
import { type DType, isFloatingPoint } from '../tensor/dtype.js';
import { check, TorchError } from '../tensor/errors.js';
import { keep } from '../tensor/memory.js';
import { noGrad } from '../tensor/autograd.js';
import { type MemoryFormat, type Shape, Tensor } from '../tensor/tensor.js';
import { zeros } from '../tensor/creation.js';

/** A function called after a module's forward with its inputs and output. */
export type ForwardHook = (module: Module, inputs: unknown[], output: unknown) => void;

/** Removes a hook. */
export interface HookHandle {
  remove(): void;
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadOptions {
  /** Fail on missing or unexpected keys (default true). Shape mismatches always fail. */
  strict?: boolean;
}

/** What {@link Module.loadStateDict} did not match (empty lists when strict loading succeeded). */
export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** One row of {@link Module.summary}. */
export interface SummaryRow {
  name: string;
  type: string;
  outputShape: number[] | null;
  params: number;
}

export abstract class Module {
  /** Training mode (dropout active, BatchNorm on batch statistics) or evaluation mode. */
  training = true;

  readonly #parameters = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #nonPersistent = new Set<string>();
  readonly #children = new Map<string, Module>();
  readonly #hooks = new Set<ForwardHook>();

  /** The computation of this module. Call it directly: `model.forward(x)`. */
  abstract forward(...inputs: never[]): unknown;

  // ---- registration ----

  #checkName(name: string): void {
    check(typeof name === 'string' && name.length > 0, 'Module', 'names must be non-empty strings');
    check(!name.includes('.'), 'Module', `name "${name}" must not contain "."`);
    check(
      !this.#parameters.has(name) && !this.#buffers.has(name) && !this.#children.has(name),
      'Module',
      `"${name}" is already registered in ${this.constructor.name}`,
    );
  }

  /** Registers a parameter (it gets requiresGrad) and returns it; null registers an absent one (bias: false). */
  protected registerParameter<T extends Tensor | null>(name: string, value: T): T {
    this.#checkName(name);
    if (value !== null) {
      check(isFloatingPoint(value.dtype), 'Module', `parameter "${name}" must be floating point, got ${value.dtype}`);
      keep(value.requiresGrad_(true));
    }
    this.#parameters.set(name, value);
    return value;
  }

  /** Registers a buffer; non-persistent buffers are left out of the state dict. */
  protected registerBuffer<T extends Tensor | null>(name: string, value: T, options: { persistent?: boolean } = {}): T {
    this.#checkName(name);
    if (value !== null) keep(value);
    this.#buffers.set(name, value);
    if (options.persistent === false) this.#nonPersistent.add(name);
    return value;
  }

  /** Registers a child module and returns it. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#checkName(name);
    check(module instanceof Module, 'Module', `"${name}" must be a Module`);
    this.#children.set(name, module);
    return module;
  }

  /** Replaces the registered child `name` (keeping its place in the order) and returns the new one. */
  protected replaceModule<M extends Module>(name: string, module: M): M {
    check(this.#children.has(name), 'Module', `"${name}" is not a child of ${this.constructor.name}`);
    check(module instanceof Module, 'Module', `"${name}" must be a Module`);
    this.#children.set(name, module);
    return module;
  }

  // ---- traversal ----

  /** Child modules with their names, in registration order. */
  *namedChildren(): Generator<[string, Module]> {
    yield* this.#children;
  }

  *children(): Generator<Module> {
    yield* this.#children.values();
  }

  /** This module and all below it, depth first, with dotted names ("" for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.#children) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Parameters with dotted names (each tensor once, even when shared), in PyTorch's order. */
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, p] of m.#parameters) {
        if (p === null || seen.has(p)) continue;
        seen.add(p);
        yield [path ? `${path}.${name}` : name, p];
      }
    }
  }

  *parameters(): Generator<Tensor> {
    for (const [, p] of this.namedParameters()) yield p;
  }

  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, b] of m.#buffers) if (b !== null) yield [path ? `${path}.${name}` : name, b];
    }
  }

  *buffers(): Generator<Tensor> {
    for (const [, b] of this.namedBuffers()) yield b;
  }

  /** Number of parameter elements (trainable only: those with requiresGrad). */
  numParameters({ trainableOnly = false } = {}): number {
    let n = 0;
    for (const p of this.parameters()) if (!trainableOnly || p.requiresGrad) n += p.numel;
    return n;
  }

  // ---- modes and types ----

  /** Sets training mode here and below. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Sets evaluation mode here and below. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Converts floating-point parameters and buffers to `dtype` in place: the tensors keep their
   * identity (an optimizer holding them still works), as PyTorch's `module.to(dtype)`.
   */
  to(dtype: DType): this {
    check(isFloatingPoint(dtype), 'Module.to', `modules convert to floating-point dtypes, got ${dtype}`);
    return this.#replaceData((t) => (isFloatingPoint(t.dtype) && t.dtype !== dtype ? t.to(dtype) : null));
  }

  /**
   * Lays out the 4-D parameters and buffers (convolution kernels) in `memoryFormat` in place, keeping the
   * tensors' identity, as PyTorch's `module.to(memory_format=…)`. With channels-last kernels and inputs,
   * oneDNN's convolutions skip their layout conversions.
   */
  toMemoryFormat(memoryFormat: MemoryFormat): this {
    return this.#replaceData((t) =>
      t.ndim === 4 && !t.isContiguousAs(memoryFormat) ? t.contiguous(memoryFormat) : null,
    );
  }

  /** Swaps the data of each parameter and buffer for `convert(t)` (null: leave it), keeping the tensors' identity. */
  #replaceData(convert: (t: Tensor) => Tensor | null): this {
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        const converted = convert(t);
        if (converted === null) continue;
        t.setData_(converted);
        converted.dispose();
      }
    });
    return this;
  }

  /** Sets every gradient to null. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  // ---- state ----

  /**
   * Parameters and persistent buffers by dotted name, in PyTorch's order (each module's parameters,
   * then its buffers, then its children). The tensors are the module's own, not copies.
   */
  stateDict(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [path, m] of this.namedModules(prefix)) {
      const key = (name: string) => (path ? `${path}.${name}` : name);
      for (const [name, p] of m.#parameters) if (p !== null) out.set(key(name), p);
      for (const [name, b] of m.#buffers) if (b !== null && !m.#nonPersistent.has(name)) out.set(key(name), b);
    }
    return out;
  }

  /**
   * Copies values from `stateDict` into this module's tensors (converting dtype when needed). Shapes
   * must match; with `strict` (default) keys must match too. Nothing is changed when it throws.
   */
  loadStateDict(stateDict: Map<string, Tensor> | Record<string, Tensor>, options: LoadOptions = {}): LoadResult {
    const given = stateDict instanceof Map ? stateDict : new Map(Object.entries(stateDict));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !own.has(k));
    const problems: string[] = [];
    for (const [k, t] of own) {
      const v = given.get(k);
      if (v === undefined) continue;
      check(v instanceof Tensor, 'loadStateDict', `"${k}" is not a tensor`);
      const [a, b] = [t.shape, v.shape];
      if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
        problems.push(`  ${k}: this module has shape [${a.join(', ')}], the state dict [${b.join(', ')}]`);
      }
    }
    if ((options.strict ?? true) && missingKeys.length > 0) problems.push(`  missing keys: ${missingKeys.join(', ')}`);
    if ((options.strict ?? true) && unexpectedKeys.length > 0) {
      problems.push(`  unexpected keys: ${unexpectedKeys.join(', ')}`);
    }
    if (problems.length > 0) {
      throw new TorchError(
        `the state dict does not fit ${this.constructor.name}:\n${problems.join('\n')}`,
        'loadStateDict',
      );
    }
    noGrad(() => {
      for (const [k, t] of own) {
        const v = given.get(k);
        if (v !== undefined) t.copy_(v);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every parameter and buffer here and below. The module is unusable afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) t.dispose();
  }

  // ---- hooks and inspection ----

  /** Calls `hook(module, inputs, output)` after every forward of this module. */
  registerForwardHook(hook: ForwardHook): HookHandle {
    if (this.#hooks.size === 0) {
      // Shadow the prototype's forward with one that runs the hooks; removed with the last hook.
      const forward = Object.getPrototypeOf(this).forward as (...a: unknown[]) => unknown;
      Object.defineProperty(this, 'forward', {
        configurable: true,
        writable: true,
        value: (...inputs: unknown[]) => {
          const output = forward.apply(this, inputs);
          for (const h of this.#hooks) h(this, inputs, output);
          return output;
        },
      });
    }
    this.#hooks.add(hook);
    return {
      remove: () => {
        this.#hooks.delete(hook);
        if (this.#hooks.size === 0) delete (this as { forward?: unknown }).forward;
      },
    };
  }

  /**
   * Runs one forward pass on zeros of `inputShape` (in eval mode, without gradients; afterwards every
   * module is back in the mode it was in) and lists every module with its output shape and own parameter count.
   */
  summary(inputShape: Shape): { rows: SummaryRow[]; totalParams: number; trainableParams: number; text: string } {
    const rows: SummaryRow[] = [];
    const index = new Map<Module, SummaryRow>();
    for (const [name, m] of this.namedModules()) {
      let own = 0;
      for (const p of m.#parameters.values()) own += p?.numel ?? 0;
      const row = { name: name || '(model)', type: m.constructor.name, outputShape: null, params: own };
      rows.push(row);
      index.set(m, row);
    }
    const handles = [...this.modules()].map((m) =>
      m.registerForwardHook((mod, _inputs, output) => {
        if (output instanceof Tensor) index.get(mod)!.outputShape = output.shape;
      }),
    );
    const modes = [...this.modules()].map((m) => [m, m.training] as const);
    this.eval();
    try {
      noGrad(() => {
        const x = zeros(inputShape);
        const y = this.forward(x as never);
        x.dispose();
        if (y instanceof Tensor) y.dispose();
      });
    } finally {
      for (const h of handles) h.remove();
      for (const [m, training] of modes) m.training = training;
    }
    const totalParams = this.numParameters();
    const trainableParams = this.numParameters({ trainableOnly: true });
    const table = [
      ['layer', 'type', 'output shape', 'params'],
      ...rows.map((r) => [
        r.name,
        r.type,
        r.outputShape ? `[${r.outputShape.join(', ')}]` : '-',
        r.params.toLocaleString('en-US'),
      ]),
    ];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
    const line = (row: string[]) =>
      row.map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ');
    const text = [
      line(table[0]!),
      widths.map((w) => '-'.repeat(w)).join('  '),
      ...table.slice(1).map(line),
      `total parameters: ${totalParams.toLocaleString('en-US')} (trainable ${trainableParams.toLocaleString('en-US')})`,
    ].join('\n');
    return { rows, totalParams, trainableParams, text };
  }

  /** One line describing this module's configuration, as in PyTorch's `extra_repr`. */
  protected extraRepr(): string {
    return '';
  }

  /** A PyTorch-style tree of the modules. */
  toString(): string {
    const children = [...this.#children].map(([name, m]) => `  (${name}): ${m.toString().split('\n').join('\n  ')}`);
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    return children.length === 0 ? `${head})` : `${head}\n${children.join('\n')}\n)`;
  }
}
