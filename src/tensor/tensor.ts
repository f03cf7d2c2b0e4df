/**
 * The Tensor: a handle to a libtorch tensor with PyTorch's semantics and TypeScript's naming.
 *
 * Every operation calls a libtorch operator by its schema name through {@link call}, so broadcasting,
 * type promotion, autograd and autocast behave exactly as in PyTorch. Memory rules: see memory.ts.
 * @module
 */
import { inspect } from 'node:util';
import { native, type NativeArg, type NativeResult, type NativeTensor, type NativeOp } from '../native/binding.js';
import { type DType, dtypeCode, dtypeFromCode, isDType, isFloatingPoint, STORAGE, type TypedArrayOf } from './dtype.js';
import { check, checkOptions, describe, TorchError } from './errors.js';
import { track } from './memory.js';

/** A shape: the size of each dimension. */
export type Shape = readonly number[];
/** A device: `"cpu"`, `"cuda"`, `"cuda:1"`, … (CUDA needs a CUDA build of libtorch). */
export type Device = string;
/** Anything an operator accepts: tensors, numbers, booleans, strings, null, and lists of them. */
export type OpArg = Tensor | NativeArg | readonly OpArg[];
/** A nested array of numbers or booleans, as `toArray()` returns and `tensor()` accepts. */
export type NestedArray = number | boolean | bigint | NestedArray[];

// ---- calling operators -------------------------------------------------------------------------

const ops = new Map<string, NativeOp>();

/** The libtorch operator `aten::name.overload`, looked up once and cached. */
export function findOp(qualifiedName: string): NativeOp {
  let op = ops.get(qualifiedName);
  if (op === undefined) {
    const dot = qualifiedName.indexOf('.', qualifiedName.indexOf('::') + 2);
    const name = dot < 0 ? qualifiedName : qualifiedName.slice(0, dot);
    const overload = dot < 0 ? '' : qualifiedName.slice(dot + 1);
    op = native.findOp(name, overload);
    ops.set(qualifiedName, op);
  }
  return op;
}

/** The schema of an operator, e.g. `aten::conv2d(Tensor input, Tensor weight, ...) -> Tensor`. */
export function opSchema(qualifiedName: string): string {
  return native.opSchema(findOp(qualifiedName));
}

function toNative(arg: OpArg): NativeArg {
  if (arg instanceof Tensor) return arg.handle;
  if (Array.isArray(arg)) {
    for (const x of arg) if (x instanceof Tensor || Array.isArray(x)) return arg.map(toNative);
  }
  return arg as NativeArg;
}

/** A result of an operator, with tensors wrapped. */
export type OpResult = Tensor | number | boolean | string | null | undefined | OpResult[];

function fromNative(result: NativeResult): OpResult {
  if (result === null || typeof result !== 'object') return result;
  if (Array.isArray(result)) return result.map(fromNative);
  return new Tensor(result);
}

/** Calls the operator `qualifiedName` ("aten::add.Tensor") and returns what it returns. */
export function callOp(qualifiedName: string, ...args: OpArg[]): OpResult {
  return fromNative(native.call(findOp(qualifiedName), ...args.map(toNative)));
}

/** Calls an operator that returns one tensor. */
export function call(qualifiedName: string, ...args: OpArg[]): Tensor {
  return new Tensor(native.call(findOp(qualifiedName), ...args.map(toNative)) as NativeTensor);
}

/** Calls an operator that returns a list or tuple of tensors. */
export function callTensors(qualifiedName: string, ...args: OpArg[]): Tensor[] {
  return callOp(qualifiedName, ...args) as Tensor[];
}

/** Calls an in-place operator (its result, the mutated input, is not wrapped again). */
export function callInPlace(qualifiedName: string, ...args: OpArg[]): void {
  native.callInPlace(findOp(qualifiedName), ...args.map(toNative));
}

/** `name.Tensor` when `other` is a tensor, else `name.Scalar` (the overloads of binary operators). */
function overload(name: string, other: Tensor | number | boolean): string {
  return other instanceof Tensor ? `${name}.Tensor` : `${name}.Scalar`;
}

const SIGNED_INTEGERS = new Set<DType>(['int8', 'int16', 'int32', 'int64']);

function dims(dim: number | readonly number[]): readonly number[] {
  return typeof dim === 'number' ? [dim] : dim;
}

function shapeArgs(shape: readonly (number | Shape)[]): Shape {
  return shape.length === 1 && Array.isArray(shape[0]) ? (shape[0] as Shape) : (shape as Shape);
}

/** Options of reductions. */
export interface ReduceOptions {
  /** Keep reduced dimensions with size 1 (default false). */
  keepdim?: boolean;
}

// ---- the tensor --------------------------------------------------------------------------------

/**
 * An n-dimensional array on a device, with autograd. Create tensors with the functions of
 * creation.ts (`tensor`, `zeros`, `randn`, …), not with this constructor.
 */
export class Tensor {
  #handle: NativeTensor | null;

  /** @internal Wraps a native handle; the tensor joins the innermost tidy scope. */
  constructor(handle: NativeTensor) {
    this.#handle = handle;
    track(this);
  }

  /** @internal The native handle; throws if the tensor was disposed. */
  get handle(): NativeTensor {
    if (this.#handle === null) throw new TorchError('this tensor was already disposed', 'tensor');
    return this.#handle;
  }

  // ---- lifetime ----

  /** Frees the native tensor now. Idempotent. */
  dispose(): void {
    if (this.#handle !== null) {
      native.dispose(this.#handle);
      this.#handle = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  get isDisposed(): boolean {
    return this.#handle === null;
  }

  // ---- metadata ----

  get shape(): number[] {
    return native.shape(this.handle);
  }

  get dtype(): DType {
    return dtypeFromCode(native.dtype(this.handle));
  }

  get device(): Device {
    return native.device(this.handle);
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Number of elements. */
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Size of dimension `dim` (negative counts from the end). */
  size(dim: number): number {
    const shape = this.shape;
    check(Number.isInteger(dim), 'size', () => `the dimension must be an integer, got ${describe(dim)}`);
    const d = dim < 0 ? dim + shape.length : dim;
    check(d >= 0 && d < shape.length, 'size', `dimension ${dim} is out of range for ${shape.length} dimensions`);
    return shape[d]!;
  }

  // ---- reading values ----

  /** The elements in row-major order (16-bit floats are converted to Float32Array, bool to Uint8Array). */
  toTypedArray<D extends DType = DType>(): TypedArrayOf[D] {
    const dtype = this.dtype;
    if (dtype === 'float16' || dtype === 'bfloat16') {
      const wide = this.to('float32');
      try {
        return wide.toTypedArray() as TypedArrayOf[D];
      } finally {
        wide.dispose();
      }
    }
    const Ctor = STORAGE[dtype] as unknown as new (b: ArrayBuffer) => TypedArrayOf[D];
    return new Ctor(native.toBytes(this.handle));
  }

  /** The single element of a one-element tensor. */
  item(): number {
    const v = native.call(findOp('aten::item'), this.handle);
    return typeof v === 'boolean' ? Number(v) : (v as number);
  }

  /** The elements as nested arrays (int64 as numbers, bool as booleans). */
  toArray(): NestedArray {
    const data = this.toTypedArray();
    const bool = this.dtype === 'bool';
    const flat: (number | boolean)[] = Array.from(data as ArrayLike<number | bigint>, (v) =>
      bool ? v !== 0 : Number(v),
    );
    const shape = this.shape;
    const build = (dim: number, offset: number): NestedArray => {
      if (dim === shape.length) return flat[offset]!;
      const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: shape[dim]! }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  toString(): string {
    if (this.isDisposed) return 'tensor(<disposed>)';
    const values = this.numel <= 64 ? JSON.stringify(this.toArray()) : `[… ${this.numel} elements]`;
    const grad = this.requiresGrad ? ', requiresGrad' : '';
    return `tensor(${values}, shape=[${this.shape.join(', ')}], dtype=${this.dtype}${grad})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  // ---- conversion ----

  /**
   * A copy as `dtype`, or on `device`. When nothing changes it copies nothing, but still returns a new handle: it
   * shares this tensor's storage and is disposed separately.
   */
  to(target: DType | Device): Tensor {
    if (isDType(target)) return call('aten::to.dtype', this, dtypeCode(target));
    return call('aten::to.device', this, target, dtypeCode(this.dtype));
  }

  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  bfloat16(): Tensor {
    return this.to('bfloat16');
  }
  half(): Tensor {
    return this.to('float16');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  byte(): Tensor {
    return this.to('uint8');
  }
  bool(): Tensor {
    return this.to('bool');
  }

  // ---- autograd ----

  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }

  set requiresGrad(value: boolean) {
    native.setRequiresGrad(this.handle, value);
  }

  /** Sets `requiresGrad` (default true) and returns this tensor. */
  requiresGrad_(value = true): this {
    native.setRequiresGrad(this.handle, value);
    return this;
  }

  /** True for tensors created by the user rather than by an operation that records a gradient. */
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }

  /**
   * The gradient accumulated by `backward()`, or null. Each read returns a new handle to the same
   * storage: dispose it (or read it inside `tidy`) like any other tensor.
   */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : new Tensor(g);
  }

  set grad(value: Tensor | null) {
    check(
      value === null || value instanceof Tensor,
      'grad',
      () => `the gradient must be a tensor or null, got ${describe(value)}`,
    );
    native.setGrad(this.handle, value === null ? null : value.handle);
  }

  /**
   * Computes the gradient of this tensor with respect to the leaves of its graph and accumulates it in
   * their `.grad`. A non-scalar tensor needs `gradient` (d loss / d this).
   */
  backward(gradient?: Tensor, options: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    checkOptions(options, 'backward');
    check(
      gradient === undefined || gradient === null || gradient instanceof Tensor,
      'backward',
      () => `the gradient must be a tensor, got ${describe(gradient)}`,
    );
    native.backward(
      [this.handle],
      [gradient?.handle ?? null],
      options.retainGraph ?? options.createGraph ?? false,
      options.createGraph ?? false,
    );
  }

  /** The same data, cut from the autograd graph. */
  detach(): Tensor {
    return call('aten::detach', this);
  }

  // ---- arithmetic (broadcasting, PyTorch type promotion) ----

  /** this + alpha·other */
  add(other: Tensor | number, alpha = 1): Tensor {
    return call(overload('aten::add', other), this, other, alpha);
  }

  /** this − alpha·other */
  sub(other: Tensor | number, alpha = 1): Tensor {
    return call(overload('aten::sub', other), this, other, alpha);
  }

  mul(other: Tensor | number): Tensor {
    return call(overload('aten::mul', other), this, other);
  }

  /** this + value · t1 · t2, broadcasting (one pass, no intermediate product). */
  addcmul(t1: Tensor, t2: Tensor, value = 1): Tensor {
    return call('aten::addcmul', this, t1, t2, value);
  }

  /** True division (integer tensors give floats). */
  div(other: Tensor | number): Tensor {
    return call(overload('aten::div', other), this, other);
  }

  /** Python's `%`: the remainder with the sign of the divisor. */
  remainder(other: Tensor | number): Tensor {
    // For integers x % −1 = x % 1 = 0, but libtorch computes INT_MIN % −1 with a machine division that
    // overflows and kills the process (SIGFPE): divide integers by 1 wherever the divisor is −1.
    if (!isFloatingPoint(this.dtype)) {
      if (other instanceof Tensor && SIGNED_INTEGERS.has(other.dtype)) {
        const minusOne = other.eq(-1);
        const safe = call('aten::where.ScalarSelf', minusOne, 1, other);
        minusOne.dispose();
        try {
          return call('aten::remainder.Tensor', this, safe);
        } finally {
          safe.dispose();
        }
      }
      if (other === -1 || (other as unknown) === -1n) other = 1;
    }
    return call(overload('aten::remainder', other), this, other);
  }

  pow(exponent: Tensor | number): Tensor {
    return exponent instanceof Tensor
      ? call('aten::pow.Tensor_Tensor', this, exponent)
      : call('aten::pow.Tensor_Scalar', this, exponent);
  }

  /** Matrix product with PyTorch's broadcasting rules (batched, vector-matrix, …). */
  matmul(other: Tensor): Tensor {
    return call('aten::matmul', this, other);
  }

  /** beta·this + alpha·(mat1 @ mat2), fused (this broadcast to the product's shape). */
  addmm(mat1: Tensor, mat2: Tensor, beta = 1, alpha = 1): Tensor {
    return call('aten::addmm', this, mat1, mat2, beta, alpha);
  }

  neg(): Tensor {
    return call('aten::neg', this);
  }
  abs(): Tensor {
    return call('aten::abs', this);
  }
  sign(): Tensor {
    return call('aten::sign', this);
  }
  exp(): Tensor {
    return call('aten::exp', this);
  }
  log(): Tensor {
    return call('aten::log', this);
  }
  sqrt(): Tensor {
    return call('aten::sqrt', this);
  }
  rsqrt(): Tensor {
    return call('aten::rsqrt', this);
  }
  square(): Tensor {
    return call('aten::square', this);
  }
  reciprocal(): Tensor {
    return call('aten::reciprocal', this);
  }
  sin(): Tensor {
    return call('aten::sin', this);
  }
  cos(): Tensor {
    return call('aten::cos', this);
  }
  tanh(): Tensor {
    return call('aten::tanh', this);
  }
  sigmoid(): Tensor {
    return call('aten::sigmoid', this);
  }
  relu(): Tensor {
    return call('aten::relu', this);
  }
  floor(): Tensor {
    return call('aten::floor', this);
  }
  ceil(): Tensor {
    return call('aten::ceil', this);
  }
  round(): Tensor {
    return call('aten::round', this);
  }
  isnan(): Tensor {
    return call('aten::isnan', this);
  }
  isfinite(): Tensor {
    return call('aten::isfinite', this);
  }

  /** Limits every element to [min, max]; either bound may be null. */
  clamp(min: number | null, max: number | null = null): Tensor {
    return call('aten::clamp', this, min, max);
  }

  // ---- comparison and logic (bool results) ----

  eq(other: Tensor | number): Tensor {
    return call(overload('aten::eq', other), this, other);
  }
  ne(other: Tensor | number): Tensor {
    return call(overload('aten::ne', other), this, other);
  }
  lt(other: Tensor | number): Tensor {
    return call(overload('aten::lt', other), this, other);
  }
  le(other: Tensor | number): Tensor {
    return call(overload('aten::le', other), this, other);
  }
  gt(other: Tensor | number): Tensor {
    return call(overload('aten::gt', other), this, other);
  }
  ge(other: Tensor | number): Tensor {
    return call(overload('aten::ge', other), this, other);
  }
  logicalAnd(other: Tensor): Tensor {
    return call('aten::logical_and', this, other);
  }
  logicalOr(other: Tensor): Tensor {
    return call('aten::logical_or', this, other);
  }
  logicalNot(): Tensor {
    return call('aten::logical_not', this);
  }

  /** True when every element is within `atol + rtol·|other|` of `other` (NaNs equal when `equalNan`). */
  allclose(other: Tensor, options: { rtol?: number; atol?: number; equalNan?: boolean } = {}): boolean {
    checkOptions(options, 'allclose');
    checkTensor(other, 'allclose', 'other');
    const { rtol = 1e-5, atol = 1e-8, equalNan = false } = options;
    return native.call(findOp('aten::allclose'), this.handle, other.handle, rtol, atol, equalNan) as boolean;
  }

  /** Where `mask` is true, `value`; elsewhere this tensor. */
  maskedFill(mask: Tensor, value: Tensor | number): Tensor {
    return call(overload('aten::masked_fill', value), this, mask, value);
  }

  // ---- reductions ----

  /** Sum of all elements, or over `dim`. */
  sum(dim?: number | readonly number[], options: ReduceOptions & { dtype?: DType } = {}): Tensor {
    checkOptions(options, 'sum');
    const dtype = options.dtype === undefined ? null : dtypeCode(options.dtype);
    if (dim === undefined) return call('aten::sum', this, dtype);
    return call('aten::sum.dim_IntList', this, dims(dim), options.keepdim ?? false, dtype);
  }

  /** Mean of all elements, or over `dim`. */
  mean(dim?: number | readonly number[], options: ReduceOptions = {}): Tensor {
    checkOptions(options, 'mean');
    if (dim === undefined) return call('aten::mean', this);
    return call('aten::mean.dim', this, dims(dim), options.keepdim ?? false);
  }

  /** Variance with Bessel's correction by default (`correction: 0` for the population variance). */
  var(dim?: number | readonly number[], options: ReduceOptions & { correction?: number } = {}): Tensor {
    checkOptions(options, 'var');
    return call(
      'aten::var.correction',
      this,
      dim === undefined ? null : dims(dim),
      options.correction ?? 1,
      options.keepdim ?? false,
    );
  }

  /** Standard deviation, with Bessel's correction by default. */
  std(dim?: number | readonly number[], options: ReduceOptions & { correction?: number } = {}): Tensor {
    checkOptions(options, 'std');
    return call(
      'aten::std.correction',
      this,
      dim === undefined ? null : dims(dim),
      options.correction ?? 1,
      options.keepdim ?? false,
    );
  }

  /** Product of all elements, or along `dim`. */
  prod(dim?: number, options: ReduceOptions = {}): Tensor {
    checkOptions(options, 'prod');
    if (dim === undefined) return call('aten::prod', this);
    return call('aten::prod.dim_int', this, dim, options.keepdim ?? false);
  }

  /** The largest element; with `dim`, the largest values along it and their indices. */
  max(): Tensor;
  max(dim: number, options?: ReduceOptions): { values: Tensor; indices: Tensor };
  max(dim?: number, options: ReduceOptions = {}): Tensor | { values: Tensor; indices: Tensor } {
    checkOptions(options, 'max');
    if (dim === undefined) return call('aten::max', this);
    const [values, indices] = callTensors('aten::max.dim', this, dim, options.keepdim ?? false);
    return { values: values!, indices: indices! };
  }

  /** The smallest element; with `dim`, the smallest values along it and their indices. */
  min(): Tensor;
  min(dim: number, options?: ReduceOptions): { values: Tensor; indices: Tensor };
  min(dim?: number, options: ReduceOptions = {}): Tensor | { values: Tensor; indices: Tensor } {
    checkOptions(options, 'min');
    if (dim === undefined) return call('aten::min', this);
    const [values, indices] = callTensors('aten::min.dim', this, dim, options.keepdim ?? false);
    return { values: values!, indices: indices! };
  }

  /** Maximum over dimensions, without indices. */
  amax(dim: number | readonly number[], options: ReduceOptions = {}): Tensor {
    checkOptions(options, 'amax');
    return call('aten::amax', this, dims(dim), options.keepdim ?? false);
  }

  /** Minimum over dimensions, without indices. */
  amin(dim: number | readonly number[], options: ReduceOptions = {}): Tensor {
    checkOptions(options, 'amin');
    return call('aten::amin', this, dims(dim), options.keepdim ?? false);
  }

  /** Index of the largest element (of the flattened tensor, or along `dim`). */
  argmax(dim?: number, options: ReduceOptions = {}): Tensor {
    checkOptions(options, 'argmax');
    return call('aten::argmax', this, dim ?? null, options.keepdim ?? false);
  }

  argmin(dim?: number, options: ReduceOptions = {}): Tensor {
    checkOptions(options, 'argmin');
    return call('aten::argmin', this, dim ?? null, options.keepdim ?? false);
  }

  /** The vector p-norm (default 2) of all elements, or over `dim`. */
  norm(p = 2, dim?: number | readonly number[], options: ReduceOptions = {}): Tensor {
    checkOptions(options, 'norm');
    return call('aten::linalg_vector_norm', this, p, dim === undefined ? null : dims(dim), options.keepdim ?? false);
  }

  /** log Σ exp over `dim`, computed stably. */
  logsumexp(dim: number | readonly number[], options: ReduceOptions = {}): Tensor {
    checkOptions(options, 'logsumexp');
    return call('aten::logsumexp', this, dims(dim), options.keepdim ?? false);
  }

  /** True (a bool tensor) when every element is non-zero. */
  all(): Tensor {
    return call('aten::all', this);
  }
  /** True (a bool tensor) when some element is non-zero. */
  any(): Tensor {
    return call('aten::any', this);
  }

  // ---- views and movement ----

  /** The same elements in a new shape (a view when possible); one size may be −1. */
  reshape(...shape: number[] | [Shape]): Tensor {
    return call('aten::reshape', this, shapeArgs(shape));
  }

  /** A view with a new shape; fails when the strides do not allow one (use `reshape`). */
  view(...shape: number[] | [Shape]): Tensor {
    return call('aten::view', this, shapeArgs(shape));
  }

  permute(...order: number[] | [Shape]): Tensor {
    return call('aten::permute', this, shapeArgs(order));
  }

  transpose(dim0: number, dim1: number): Tensor {
    return call('aten::transpose.int', this, dim0, dim1);
  }

  /** The transpose of a matrix (≤ 2 dimensions). */
  t(): Tensor {
    return call('aten::t', this);
  }

  /** The diagonal of the matrices in dims `dim1`, `dim2` (a view), shifted by `offset`. */
  diagonal(offset = 0, dim1 = 0, dim2 = 1): Tensor {
    return call('aten::diagonal', this, offset, dim1, dim2);
  }

  /** Reverses the order of elements along `dims`. */
  flip(dim: number | readonly number[]): Tensor {
    return call('aten::flip', this, dims(dim));
  }

  /** Every window of `size` elements along `dim`, `step` apart, as a new last dimension (a view). */
  unfold(dim: number, size: number, step: number): Tensor {
    return call('aten::unfold', this, dim, size, step);
  }

  /** The view of this tensor's storage with the given shape, strides and element offset. */
  asStrided(shape: Shape, stride: Shape, offset = 0): Tensor {
    return call('aten::as_strided', this, shape, stride, offset);
  }

  /** `length` elements of `dim` from `start` (a view). */
  narrow(dim: number, start: number, length: number): Tensor {
    return call('aten::narrow', this, dim, start, length);
  }

  /** Python's `x[start:end:step]` along `dim` (a view); `end` defaults to the end. */
  slice(dim: number, start = 0, end: number | null = null, step = 1): Tensor {
    return call('aten::slice.Tensor', this, dim, start, end, step);
  }

  /** Element `index` of `dim`, removing that dimension (a view). */
  select(dim: number, index: number): Tensor {
    return call('aten::select.int', this, dim, index);
  }

  /** The entries of `dim` listed in `index` (an int64 vector), copied. */
  indexSelect(dim: number, index: Tensor): Tensor {
    return call('aten::index_select', this, dim, index);
  }

  /** out[i][j] = this[index[i][j]][j] for dim 0, and so on (index: int64, same rank). */
  gather(dim: number, index: Tensor): Tensor {
    return call('aten::gather', this, dim, index, false);
  }

  /** Removes dimensions of size 1 (all, or `dim`). */
  squeeze(dim?: number): Tensor {
    return dim === undefined ? call('aten::squeeze', this) : call('aten::squeeze.dim', this, dim);
  }

  /** Inserts a dimension of size 1 at `dim`. */
  unsqueeze(dim: number): Tensor {
    return call('aten::unsqueeze', this, dim);
  }

  /** Flattens dimensions `startDim..endDim` into one. */
  flatten(startDim = 0, endDim = -1): Tensor {
    return call('aten::flatten.using_ints', this, startDim, endDim);
  }

  /** A broadcast view with `shape` (−1 keeps a size). */
  expand(...shape: number[] | [Shape]): Tensor {
    return call('aten::expand', this, shapeArgs(shape), false);
  }

  /** Tiles the tensor `repeats[i]` times along each dimension. */
  repeat(...repeats: number[] | [Shape]): Tensor {
    return call('aten::repeat', this, shapeArgs(repeats));
  }

  /** Rolls elements along `dims` by `shifts` (circularly). */
  roll(shifts: number | readonly number[], dim: number | readonly number[]): Tensor {
    return call('aten::roll', this, dims(shifts), dims(dim));
  }

  /** Splits into pieces of `size` along `dim` (the last may be smaller), or into the given sizes. */
  split(size: number | readonly number[], dim = 0): Tensor[] {
    return typeof size === 'number'
      ? callTensors('aten::split.Tensor', this, size, dim)
      : callTensors('aten::split_with_sizes', this, size, dim);
  }

  /** Splits into `chunks` nearly equal pieces along `dim`. */
  chunk(chunks: number, dim = 0): Tensor[] {
    return callTensors('aten::chunk', this, chunks, dim);
  }

  /**
   * A tensor with the same data laid out contiguously. When it already is, nothing is copied, but the result is
   * still a new handle: it shares this tensor's storage and is disposed separately. `channelsLast`
   * lays a 4-D tensor out as N×H×W×C in memory while its shape stays N×C×H×W — the layout in which
   * oneDNN's convolutions are fastest on CPU; the outputs of a convolution keep its input's layout.
   */
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    const code = memoryFormatCode(memoryFormat, 'contiguous');
    if (memoryFormat === 'channelsLast')
      check(this.ndim === 4, 'contiguous', `channelsLast needs a 4-D tensor, got ${this.ndim}-D`);
    return call('aten::contiguous', this, code);
  }

  /** Whether the tensor is laid out in `memoryFormat` (see {@link contiguous}). */
  isContiguousAs(memoryFormat: MemoryFormat): boolean {
    return native.isContiguous(this.handle, memoryFormatCode(memoryFormat, 'isContiguousAs'));
  }

  get isContiguous(): boolean {
    return native.isContiguous(this.handle);
  }

  /** A copy that autograd differentiates through. */
  clone(): Tensor {
    return call('aten::clone', this);
  }

  // ---- in-place updates (for optimizers and initializers; each returns this tensor) ----

  #inPlace(name: string, ...args: OpArg[]): this {
    callInPlace(name, this, ...args);
    return this;
  }

  add_(other: Tensor | number, alpha = 1): this {
    return this.#inPlace(overload('aten::add_', other), other, alpha);
  }
  sub_(other: Tensor | number, alpha = 1): this {
    return this.#inPlace(overload('aten::sub_', other), other, alpha);
  }
  mul_(other: Tensor | number): this {
    return this.#inPlace(overload('aten::mul_', other), other);
  }
  div_(other: Tensor | number): this {
    return this.#inPlace(overload('aten::div_', other), other);
  }
  /** this += value · t1 · t2 */
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    return this.#inPlace('aten::addcmul_', t1, t2, value);
  }
  /** this += value · t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    return this.#inPlace('aten::addcdiv_', t1, t2, value);
  }
  /** this += weight · (end − this) */
  lerp_(end: Tensor, weight: number): this {
    return this.#inPlace('aten::lerp_.Scalar', end, weight);
  }
  sqrt_(): this {
    return this.#inPlace('aten::sqrt_');
  }
  clamp_(min: number | null, max: number | null = null): this {
    return this.#inPlace('aten::clamp_', min, max);
  }
  /**
   * Makes this tensor share `src`'s data, shape, dtype and layout, keeping its own identity (and so its
   * place in modules and optimizers): PyTorch's `t.data = src`.
   */
  setData_(src: Tensor): this {
    return this.#inPlace('aten::set_data', src);
  }
  /** Copies `src` (broadcast, converted to this dtype) into this tensor. */
  copy_(src: Tensor): this {
    return this.#inPlace('aten::copy_', src, false);
  }
  zero_(): this {
    return this.#inPlace('aten::zero_');
  }
  fill_(value: number): this {
    return this.#inPlace('aten::fill_.Scalar', value);
  }
  /** Fills with samples of U(from, to). */
  uniform_(from = 0, to = 1): this {
    return this.#inPlace('aten::uniform_', from, to, null);
  }
  /** Fills with samples of N(mean, std²). */
  normal_(mean = 0, std = 1): this {
    return this.#inPlace('aten::normal_', mean, std, null);
  }
  maskedFill_(mask: Tensor, value: number): this {
    return this.#inPlace('aten::masked_fill_.Scalar', mask, value);
  }
}

/** Throws a TorchError for `op` unless `value` is a tensor (`name` says which argument it is). */
export function checkTensor(value: unknown, op: string, name: string): asserts value is Tensor {
  check(value instanceof Tensor, op, () => `${name} must be a tensor, got ${describe(value)}`);
}

/** Memory layouts of {@link Tensor.contiguous}. */
export type MemoryFormat = 'contiguous' | 'channelsLast';

/** c10::MemoryFormat's values. */
const MEMORY_FORMATS: Record<MemoryFormat, number> = { contiguous: 0, channelsLast: 2 };

/** The c10::MemoryFormat code of `format`; a TorchError for `op` naming the valid ones when it is none of them. */
function memoryFormatCode(format: MemoryFormat, op: string): number {
  check(
    typeof format === 'string' && Object.hasOwn(MEMORY_FORMATS, format),
    op,
    () =>
      `the memory format must be ${Object.keys(MEMORY_FORMATS)
        .map((f) => JSON.stringify(f))
        .join(' or ')}, got ${describe(format)}`,
  );
  return MEMORY_FORMATS[format];
}

/** Concatenates tensors along an existing dimension. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  check(Array.isArray(tensors), 'cat', () => `needs an array of tensors, got ${describe(tensors)}`);
  check(tensors.length > 0, 'cat', 'needs at least one tensor');
  return call('aten::cat', tensors, dim);
}

/** base^exponent elementwise, for a number base (PyTorch's `torch.pow(base, exponent)`). */
export function powScalar(base: number, exponent: Tensor): Tensor {
  return call('aten::pow.Scalar', base, exponent);
}

/** Stacks tensors of equal shape along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  check(Array.isArray(tensors), 'stack', () => `needs an array of tensors, got ${describe(tensors)}`);
  check(tensors.length > 0, 'stack', 'needs at least one tensor');
  return call('aten::stack', tensors, dim);
}

/** Elementwise `condition ? a : b`, broadcasting all three. */
export function where(condition: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  if (a instanceof Tensor) {
    return b instanceof Tensor
      ? call('aten::where.self', condition, a, b)
      : call('aten::where.ScalarOther', condition, a, b);
  }
  return b instanceof Tensor
    ? call('aten::where.ScalarSelf', condition, a, b)
    : call('aten::where.Scalar', condition, a, b);
}
