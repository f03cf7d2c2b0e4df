/**
 * The base of the optimizers: parameter groups with their own options, per-parameter state, the update
 * step (inside `noGrad` and `tidy`), `zeroGrad`, and state dicts shaped like PyTorch's for resuming.
 *
 * Memory: the optimizer owns its state tensors (momentum buffers, moment estimates). They are created
 * with `keep()`, so no tidy scope frees them; `dispose()` on the optimizer does.
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { zerosLike } from '../tensor/creation.js';
import { check, describe, TorchError } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';

/** The value of one option of a parameter group. */
export type OptionValue = number | boolean | readonly number[];

/** The options every optimizer has. */
export interface BaseOptions {
  /** The learning rate; schedules change it (see schedule.ts). */
  lr: number;
  /** The weight decay (its meaning depends on the optimizer: an L2 term, or decoupled in AdamW). */
  weightDecay: number;
}

/**
 * A parameter group as constructors take it: parameters, and options that override the optimizer's
 * defaults for them (PyTorch's "per-parameter options").
 *
 * @example
 * new SGD([{ params: backbone }, { params: head, lr: 0.1 }], { lr: 0.01, momentum: 0.9 });
 */
export type ParamGroup<O = BaseOptions> = { params: Iterable<Tensor> } & Partial<O>;

/** A parameter group of an optimizer: its parameters and every option (mutable: schedules write `lr`). */
export type OptimizerGroup<O> = O & { params: Tensor[] };

/** One parameter's state in a state dict: tensors (copies), numbers (such as `step`) or null. */
export type ParamStateDict = Record<string, Tensor | number | null>;

/** A parameter group in a state dict: its options under PyTorch's names and its parameters' indices. */
export type ParamGroupStateDict = { params: number[] } & { [option: string]: OptionValue };

/**
 * An optimizer's state, shaped like PyTorch's `optimizer.state_dict()`: `state` maps a parameter's index
 * (counting through the groups in order) to its state; `param_groups` holds each group's options
 * (snake_case, as in PyTorch: `weight_decay`) and the indices of its parameters.
 */
export interface OptimizerStateDict {
  state: Record<number, ParamStateDict>;
  param_groups: ParamGroupStateDict[];
}

/** What the state of a parameter holds, key by key: a tensor shaped like the parameter, maybe null, or a number. */
export type StateSpec = Record<string, 'tensor' | 'tensor?' | 'number'>;

/** `weightDecay` → `weight_decay` */
function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function copyValue<V>(v: V): V {
  return (Array.isArray(v) ? [...v] : v) as V;
}

/** Whether an option's value has the kind of its default: a finite number, a boolean, or as many finite numbers. */
function sameKind(value: unknown, like: unknown): boolean {
  if (Array.isArray(like)) {
    return Array.isArray(value) && value.length === like.length && value.every((x) => Number.isFinite(x));
  }
  if (typeof like === 'number') return Number.isFinite(value);
  return typeof value === typeof like;
}

/** The kind {@link sameKind} expects, for messages. */
function kindOf(like: unknown): string {
  if (Array.isArray(like)) return `${like.length} finite numbers`;
  return typeof like === 'number' ? 'a finite number' : `a ${typeof like}`;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The parameter a saved index stands for: the tensor, its group and that group's restored options. */
interface StateTarget<O> {
  param: Tensor;
  group: number;
  options: O;
}

/** A parameter's saved state, checked, with where it goes and the layout it has. */
interface SavedState<O> {
  target: StateTarget<O>;
  entry: ParamStateDict;
  spec: StateSpec;
}

/**
 * An optimizer over parameter groups. Subclasses give the update of one group ({@link update}), the
 * check of the options ({@link checkOptions}) and the layout of a parameter's state ({@link stateSpec}).
 *
 * @typeParam O the options of one group
 * @typeParam S the state of one parameter (keys named as in PyTorch: `momentum_buffer`, `exp_avg`, …)
 */
export abstract class Optimizer<O extends BaseOptions, S extends object> {
  /** The options of groups that do not set their own. */
  readonly defaults: Readonly<O>;
  /** The parameter groups with their options; set `lr` (or let a Scheduler set it) between steps. */
  readonly paramGroups: OptimizerGroup<O>[] = [];
  /** Per-parameter state, created at a parameter's first update. */
  protected readonly state = new Map<Tensor, S>();
  /** The name used in errors: "SGD", "Adam", … */
  readonly name: string;

  /**
   * @param name the optimizer's name, for errors
   * @param params the parameters, or parameter groups
   * @param defaults every option's default value
   * @param options the options given to the constructor, overriding `defaults` (undefined ones do not)
   */
  protected constructor(
    name: string,
    params: Iterable<Tensor> | Iterable<ParamGroup<O>>,
    defaults: O,
    options: Partial<O>,
  ) {
    this.name = name;
    this.defaults = Object.freeze(this.#merge(defaults, options, name));
    const items: unknown[] = [...(params as Iterable<unknown>)];
    check(items.length > 0, name, 'got an empty parameter list');
    if (items.every((x) => x instanceof Tensor)) {
      this.addParamGroup({ params: items as Tensor[] } as unknown as ParamGroup<O>);
    } else {
      for (const group of items) this.addParamGroup(group as ParamGroup<O>);
    }
  }

  /** Updates the parameters of one group that have a gradient (`grads[i]` belongs to `params[i]`). */
  protected abstract update(group: OptimizerGroup<O>, params: Tensor[], grads: Tensor[]): void;

  /** Throws a TorchError (for operation `op`) when an option is out of range. */
  protected abstract checkOptions(options: O, op: string): void;

  /** The keys of a parameter's state under the options of its group. */
  protected abstract stateSpec(options: O): StateSpec;

  /**
   * Adds a parameter group (PyTorch's `add_param_group`): options it leaves out come from the defaults.
   * A parameter may belong to one group only, and must be a leaf tensor.
   */
  addParamGroup(group: ParamGroup<O>): void {
    const op = this.name;
    check(
      group !== null &&
        typeof group === 'object' &&
        group.params !== undefined &&
        typeof (group.params as Iterable<Tensor>)[Symbol.iterator] === 'function',
      op,
      'expected tensors or parameter groups ({ params: Tensor[], ...options })',
    );
    const { params: _, ...given } = group;
    const options = this.#merge(this.defaults, given as unknown as Partial<O>, op);
    const params = [...group.params];
    const taken = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of params) {
      check(p instanceof Tensor, op, 'a parameter group holds something that is not a tensor');
      check(p.isLeaf, op, "can't optimize a non-leaf tensor (use a tensor created with requiresGrad)");
      check(!taken.has(p), op, 'a parameter appears more than once in the parameter groups');
      taken.add(p);
    }
    this.paramGroups.push({ ...options, params });
  }

  /** `defaults` overridden by the defined values of `options`, checked. */
  #merge(defaults: Readonly<O>, options: Partial<O>, op: string): O {
    const known = Object.keys(defaults);
    const merged = { ...defaults } as Record<string, unknown>;
    for (const [key, value] of Object.entries(options)) {
      check(known.includes(key), op, () => `unknown option '${key}' (options: ${known.join(', ')})`);
      if (value === undefined) continue;
      const like = (defaults as Record<string, unknown>)[key];
      check(sameKind(value, like), op, () => `option '${key}' must be ${kindOf(like)}, got ${describe(value)}`);
      merged[key] = copyValue(value);
    }
    this.checkOptions(merged as O, op);
    return merged as O;
  }

  /**
   * One optimization step: updates every parameter that has a gradient (the others are skipped) from
   * its `.grad`. Runs without autograd; every temporary is freed.
   */
  step(): void {
    this.#checkAlive('step');
    noGrad(() =>
      tidy(() => {
        for (const group of this.paramGroups) {
          const params: Tensor[] = [];
          const grads: Tensor[] = [];
          for (const p of group.params) {
            const g = p.grad;
            if (g !== null) {
              params.push(p);
              grads.push(g);
            }
          }
          if (params.length > 0) this.update(group, params, grads);
        }
      }),
    );
  }

  /**
   * Clears the gradients of all parameters: sets them to null (default; the next backward pass
   * allocates them afresh, and `step()` skips parameters that get none), or fills them with zeros.
   */
  zeroGrad(setToNone = true): void {
    this.#checkAlive('zeroGrad');
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (setToNone) {
          p.grad = null;
        } else {
          const g = p.grad;
          if (g !== null) {
            noGrad(() => g.zero_());
            g.dispose();
          }
        }
      }
    }
  }

  /**
   * Throws when a parameter was disposed — its module replaced it, as `setTimeSteps` of a dynamic block does
   * with its controls' parameters — naming the parameter, rather than failing inside an update.
   */
  #checkAlive(op: string): void {
    this.paramGroups.forEach((group, gi) =>
      group.params.forEach((p, i) =>
        check(
          !p.isDisposed,
          `${this.name}.${op}`,
          () =>
            `parameter ${i} of group ${gi} was disposed: its module replaced it (DynamicBlock/RKNet setTimeSteps ` +
            `re-creates the controls' parameters); create the optimizer again over the model's current parameters`,
        ),
      ),
    );
  }

  /** The state of parameter `p` (null before its first update). The tensors belong to the optimizer. */
  stateOf(p: Tensor): Readonly<S> | null {
    return this.state.get(p) ?? null;
  }

  /**
   * The optimizer's state for checkpoints, shaped like PyTorch's (see {@link OptimizerStateDict}). The
   * tensors are copies owned by the caller: dispose them (or call this inside `tidy`) once written.
   */
  stateDict(): OptimizerStateDict {
    return noGrad(() => {
      const index = new Map<Tensor, number>();
      const param_groups = this.paramGroups.map((group) => {
        const packed: Record<string, OptionValue> = {};
        for (const key of Object.keys(this.defaults)) {
          packed[snake(key)] = copyValue((group as unknown as Record<string, unknown>)[key] as OptionValue);
        }
        packed.params = group.params.map((p) => {
          index.set(p, index.size);
          return index.size - 1;
        });
        return packed as ParamGroupStateDict;
      });
      const state: Record<number, ParamStateDict> = {};
      for (const [p, s] of this.state) {
        const i = index.get(p);
        if (i === undefined) continue;
        const entry: ParamStateDict = {};
        for (const [key, v] of Object.entries(s)) {
          if (v !== undefined) entry[key] = v instanceof Tensor ? v.clone() : (v as number | null);
        }
        state[i] = entry;
      }
      return { state, param_groups };
    });
  }

  /**
   * Restores a state dict made by {@link stateDict} (or by PyTorch, converted): the groups' options and
   * every parameter's state. The values are copied (as the parameter's dtype), so the dict may be disposed
   * afterwards. Parameters are matched by position, as in PyTorch: the number of groups, the number of
   * parameters in each and the shapes of the state tensors must agree, or a TorchError says what differs
   * and nothing is changed.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    check(
      sd !== null &&
        typeof sd === 'object' &&
        Array.isArray(sd.param_groups) &&
        sd.state !== null &&
        typeof sd.state === 'object',
      op,
      'expected an optimizer state dict { state, param_groups }, as stateDict() returns',
    );
    const saved = sd.param_groups;
    check(
      saved.length === this.paramGroups.length,
      op,
      () => `the state dict has ${saved.length} parameter group(s), this optimizer has ${this.paramGroups.length}`,
    );
    const targets = new Map<number, StateTarget<O>>();
    const newOptions = saved.map((sg, gi) => this.savedGroupOptions(sg, gi, targets, op));
    // Every parameter's state is checked before anything is copied.
    const entries = Object.entries(sd.state).map(([key, entry]) => this.checkSavedState(key, entry, targets, op));
    const state = this.copySavedStates(entries, op);
    disposeStates(this.state.values());
    this.state.clear();
    for (const [p, s] of state) this.state.set(p, s);
    newOptions.forEach((options, gi) => Object.assign(this.paramGroups[gi]!, options));
  }

  /**
   * The options of parameter group `gi` restored from the saved group `sg`, checked; records in
   * `targets` the parameter each saved index stands for.
   */
  private savedGroupOptions(
    sg: ParamGroupStateDict,
    gi: number,
    targets: Map<number, StateTarget<O>>,
    op: string,
  ): Record<string, unknown> {
    const group = this.paramGroups[gi]!;
    check(
      sg !== null && typeof sg === 'object' && Array.isArray(sg.params),
      op,
      () => `parameter group ${gi} of the state dict has no 'params' list`,
    );
    check(
      sg.params.length === group.params.length,
      op,
      () =>
        `parameter group ${gi} of the state dict has ${sg.params.length} parameter(s), ` +
        `this optimizer's has ${group.params.length}`,
    );
    const options = { ...group } as unknown as Record<string, unknown>;
    delete options.params;
    for (const key of Object.keys(this.defaults)) {
      const v = (sg as Record<string, unknown>)[snake(key)];
      if (v === undefined) continue;
      const like = (this.defaults as Record<string, unknown>)[key];
      check(
        sameKind(v, like),
        op,
        () => `option '${snake(key)}' of parameter group ${gi} is ${JSON.stringify(v)}, expected ${kindOf(like)}`,
      );
      options[key] = copyValue(v);
    }
    this.checkOptions(options as O, op);
    sg.params.forEach((saved, k) => targets.set(saved, { param: group.params[k]!, group: gi, options: options as O }));
    return options;
  }

  /** Checks the saved state of parameter `key` against the state this optimizer keeps for its parameter. */
  private checkSavedState(
    key: string,
    entry: ParamStateDict,
    targets: Map<number, StateTarget<O>>,
    op: string,
  ): SavedState<O> {
    const target = targets.get(Number(key));
    check(
      target !== undefined,
      op,
      () => `the state dict has state for parameter ${key}, which no parameter group lists`,
    );
    const where = `state of parameter ${key} (group ${target.group})`;
    check(entry !== null && typeof entry === 'object', op, `${where} is not an object`);
    const spec = this.stateSpec(target.options);
    for (const name of Object.keys(entry)) {
      check(
        name in spec,
        op,
        () =>
          `${where} has '${name}', which ${this.name} does not keep ` + `(it keeps: ${Object.keys(spec).join(', ')})`,
      );
    }
    const shape = target.param.shape;
    for (const [name, kind] of Object.entries(spec)) {
      const v = entry[name];
      if (kind === 'number') {
        const ok = typeof v === 'number' || (v instanceof Tensor && !v.isDisposed && v.numel === 1);
        check(ok, op, `${where}: '${name}' must be a number`);
      } else if (v === null || v === undefined) {
        check(kind === 'tensor?', op, `${where}: '${name}' is missing`);
      } else {
        check(v instanceof Tensor && !v.isDisposed, op, `${where}: '${name}' must be a tensor`);
        const got = v.shape;
        check(
          got.length === shape.length && got.every((d, i) => d === shape[i]),
          op,
          () => `${where}: '${name}' has shape ${shapeText(got)}, the parameter has shape ${shapeText(shape)}`,
        );
      }
    }
    return { target, entry, spec };
  }

  /** Copies the checked saved states into new tensors of the parameters' dtypes; on failure frees the copies. */
  private copySavedStates(entries: SavedState<O>[], op: string): Map<Tensor, S> {
    const state = new Map<Tensor, S>();
    try {
      noGrad(() => {
        for (const { target, entry, spec } of entries) {
          const s: Record<string, Tensor | number | null> = {};
          for (const [name, kind] of Object.entries(spec)) {
            const v = entry[name];
            if (kind === 'number') s[name] = typeof v === 'number' ? v : (v as Tensor).item();
            else if (v === null || v === undefined) s[name] = null;
            else s[name] = keep(zerosLike(target.param).copy_(v as Tensor));
          }
          state.set(target.param, s as S);
        }
      });
    } catch (e) {
      disposeStates(state.values());
      throw e instanceof TorchError ? e : new TorchError(String(e), op);
    }
    return state;
  }

  /** Frees the optimizer's state tensors. The optimizer may be used again: its state starts afresh. */
  dispose(): void {
    disposeStates(this.state.values());
    this.state.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function disposeStates(states: Iterable<object>): void {
  for (const s of states) {
    for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
  }
}
