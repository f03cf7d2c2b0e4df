/**
 * Creating tensors: from data, constant, ranges, identity and random.
 *
 * Numbers default to float32 (JavaScript cannot tell `1` from `1.0`, so unlike PyTorch an integer
 * literal does not make an int64 tensor); bigints default to int64 and booleans to bool.
 * @module
 */
import { native } from '../native/binding.js';
import { type AnyTypedArray, type DType, dtypeCode, ITEM_SIZE, STORAGE, typedArrayDType } from './dtype.js';
import { check, checkOptions, describe, TorchError } from './errors.js';
import { call, type Device, type NestedArray, type Shape, Tensor } from './tensor.js';

/** Options shared by the creation functions. */
export interface TensorOptions {
  /** Element type (default float32). */
  dtype?: DType;
  /** Device (default "cpu"). */
  device?: Device;
  /** Record operations on the new tensor for autograd (default false). */
  requiresGrad?: boolean;
}

/** Data `tensor()` accepts: a TypedArray, a number, a boolean, or nested arrays of them. */
export type TensorData = AnyTypedArray | ArrayBufferView | NestedArray | bigint | readonly NestedArray[];

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** `t` converted by `convert`; the handle `t` is released (the result holds its own reference). */
function replace(t: Tensor, convert: (t: Tensor) => Tensor): Tensor {
  const next = convert(t);
  t.dispose();
  return next;
}

function creationArgs(options: TensorOptions, op: string): [number, null, string, null] {
  return [dtypeCode(options.dtype ?? 'float32', op), null, options.device ?? 'cpu', null];
}

/** Nested arrays deeper than this are refused (a cyclic array would otherwise never end). */
const MAX_DEPTH = 64;

/** Reads the shape of nested arrays and flattens them; ragged input is an error. */
function flatten(data: NestedArray | readonly NestedArray[], op: string): { shape: number[]; flat: unknown[] } {
  const shape: number[] = [];
  for (let level: unknown = data; Array.isArray(level); level = level[0]) {
    check(
      shape.length < MAX_DEPTH,
      op,
      `the nested arrays are more than ${MAX_DEPTH} levels deep (does one contain itself?)`,
    );
    shape.push(level.length);
  }
  const flat: unknown[] = [];
  const walk = (value: unknown, dim: number): void => {
    if (dim === shape.length) {
      check(!Array.isArray(value), op, 'the nested arrays are ragged (deeper in some places than others)');
      flat.push(value);
      return;
    }
    check(
      Array.isArray(value) && value.length === shape[dim],
      op,
      () => `the nested arrays are ragged: expected length ${shape[dim]} at depth ${dim}`,
    );
    // An index loop, not for…of: holes of sparse arrays must be seen (as undefined, an error below).
    for (let i = 0; i < shape[dim]!; i++) walk((value as unknown[])[i], dim + 1);
  };
  walk(data, 0);
  return { shape, flat };
}

/** The range of each integer dtype (int64's is checked on bigints). */
const INTEGER_RANGE: Partial<Record<DType, [bigint, bigint]>> = {
  uint8: [0n, 255n],
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
};

function encode(flat: unknown[], dtype: DType, op: string): ArrayBufferView {
  const at = flat.findIndex((v) => typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint');
  check(
    at < 0,
    op,
    () =>
      `elements must be numbers, booleans or bigints, got ${
        flat[at] === null ? 'null' : typeof flat[at]
      } at index ${at} (of the flattened data)`,
  );
  const range = INTEGER_RANGE[dtype];
  if (range !== undefined) {
    // Integers, as PyTorch would store them: no silent truncation, wrap-around or NaN → 0.
    const [low, high] = range;
    const outOfRange = (v: unknown): never => {
      throw new TorchError(`${describe(v)} is out of the range of ${dtype} [${low}, ${high}]`, op);
    };
    const notInteger = (v: unknown): never => {
      throw new TorchError(`${dtype} needs integers, got ${v}`, op);
    };
    if (dtype === 'int64') {
      return BigInt64Array.from(flat as (number | bigint | boolean)[], (v) => {
        if (typeof v === 'number' && !Number.isInteger(v)) notInteger(v);
        const i = BigInt(v);
        return i < low || i > high ? outOfRange(v) : i;
      });
    }
    const [lo, hi] = [Number(low), Number(high)];
    return (STORAGE[dtype] as { from(v: unknown[], f: (v: unknown) => number): ArrayBufferView }).from(flat, (v) => {
      const n = Number(v);
      if (typeof v === 'number' && !Number.isInteger(v)) notInteger(v);
      return n < lo || n > hi ? outOfRange(v) : n;
    });
  }
  if (dtype === 'bool') return Uint8Array.from(flat, (v) => (Number(v) !== 0 ? 1 : 0));
  const numbers = flat.map(Number);
  if (dtype === 'float16' || dtype === 'bfloat16') return Float32Array.from(numbers);
  return (STORAGE[dtype] as { from(v: number[]): ArrayBufferView }).from(numbers);
}

/**
 * A tensor holding a copy of `data`.
 *
 * @param data a TypedArray (its dtype is kept unless `dtype` says otherwise; give `shape` to reshape it),
 *   a number or boolean (a 0-d tensor), or nested arrays.
 * @example
 * tensor([[1, 2], [3, 4]])                       // float32, shape [2, 2]
 * tensor(new Float64Array(6), { shape: [2, 3] })  // float64
 * tensor([1, 2, 3], { dtype: 'int64' })
 */
export function tensor(data: TensorData, options: TensorOptions & { shape?: Shape } = {}): Tensor {
  checkOptions(options, 'tensor');
  const op = 'tensor';
  if (options.dtype !== undefined) dtypeCode(options.dtype, op);
  let bytes: ArrayBufferView;
  let shape: Shape;
  let stored: DType;
  let length: number;
  if (ArrayBuffer.isView(data)) {
    const own = typedArrayDType(data);
    check(own !== null, op, `unsupported TypedArray ${data.constructor.name}`);
    length = data.byteLength / ITEM_SIZE[own];
    shape = options.shape ?? [length];
    bytes = data;
    stored = own;
  } else {
    const { shape: inferred, flat } = flatten(data as NestedArray, op);
    const first = flat[0];
    stored = options.dtype ?? (typeof first === 'boolean' ? 'bool' : typeof first === 'bigint' ? 'int64' : 'float32');
    if (stored === 'float16' || stored === 'bfloat16') stored = 'float32';
    bytes = encode(flat, stored, op);
    length = flat.length;
    shape = options.shape ?? inferred;
  }
  check(
    Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0),
    op,
    () =>
      `the shape must be an array of non-negative integers, got ${
        Array.isArray(shape) ? `[${shape.map(describe).join(', ')}]` : describe(shape)
      }`,
  );
  // (A size 0 first: the product of the others may overflow to Infinity, and Infinity × 0 is NaN.)
  const numel = shape.includes(0) ? 0 : shape.reduce((a, b) => a * b, 1);
  check(numel === length, op, () => `shape [${shape.join(', ')}] holds ${numel} elements, but the data has ${length}`);
  let t = new Tensor(native.fromBytes(bytes, shape, dtypeCode(stored)));
  if (options.dtype !== undefined && options.dtype !== stored) t = replace(t, (x) => x.to(options.dtype!));
  if (options.device !== undefined && options.device !== 'cpu') t = replace(t, (x) => x.to(options.device!));
  return finish(t, options);
}

/** A tensor of zeros. */
export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'zeros');
  return finish(call('aten::zeros', shape, ...creationArgs(options, 'zeros')), options);
}

/** A tensor of ones. */
export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'ones');
  return finish(call('aten::ones', shape, ...creationArgs(options, 'ones')), options);
}

/** A tensor filled with `value`. */
export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'full');
  return finish(call('aten::full', shape, value, ...creationArgs(options, 'full')), options);
}

/** An uninitialized tensor (its contents are whatever memory held). */
export function empty(shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'empty');
  return finish(call('aten::empty.memory_format', shape, ...creationArgs(options, 'empty'), null), options);
}

/** Tensors shaped like `t`, with its dtype unless given. */
export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'zerosLike');
  return zeros(t.shape, { dtype: t.dtype, device: t.device, ...options });
}

export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'onesLike');
  return ones(t.shape, { dtype: t.dtype, device: t.device, ...options });
}

export function fullLike(t: Tensor, value: number, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'fullLike');
  return full(t.shape, value, { dtype: t.dtype, device: t.device, ...options });
}

/**
 * Values from `start` (inclusive) to `end` (exclusive) in steps of `step`; `arange(n)` is 0…n−1.
 * Default dtype: int64 when all three are integers, else float32.
 */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'arange');
  if (end === undefined) [start, end] = [0, start];
  check(step !== 0, 'arange', 'step must not be zero');
  const integral = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = options.dtype ?? (integral ? 'int64' : 'float32');
  return finish(
    call('aten::arange.start_step', start, end, step, ...creationArgs({ ...options, dtype }, 'arange')),
    options,
  );
}

/** `steps` values evenly spaced from `start` to `end`, both included. */
export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'linspace');
  return finish(call('aten::linspace', start, end, steps, ...creationArgs(options, 'linspace')), options);
}

/** The n×m identity matrix (m defaults to n). */
export function eye(n: number, m = n, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'eye');
  return finish(call('aten::eye.m', n, m, ...creationArgs(options, 'eye')), options);
}

/** Samples of U[0, 1). */
export function rand(shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'rand');
  return finish(call('aten::rand', shape, ...creationArgs(options, 'rand')), options);
}

/** Samples of the standard normal distribution. */
export function randn(shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'randn');
  return finish(call('aten::randn', shape, ...creationArgs(options, 'randn')), options);
}

/** Integers drawn uniformly from [low, high); int64 unless `dtype` says otherwise. */
export function randint(low: number, high: number, shape: Shape, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'randint');
  const dtype = options.dtype ?? 'int64';
  return finish(
    call('aten::randint.low', low, high, shape, ...creationArgs({ ...options, dtype }, 'randint')),
    options,
  );
}

/** A random permutation of 0…n−1 (int64). */
export function randperm(n: number, options: TensorOptions = {}): Tensor {
  checkOptions(options, 'randperm');
  const dtype = options.dtype ?? 'int64';
  return finish(call('aten::randperm', n, ...creationArgs({ ...options, dtype }, 'randperm')), options);
}
