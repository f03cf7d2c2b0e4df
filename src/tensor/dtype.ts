/**
 * Element types, with libtorch's codes (c10::ScalarType) and the TypedArray each is read into.
 * @module
 */
import { describe, TorchError } from './errors.js';

/** The element types pdenet supports. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

/** c10::ScalarType codes. */
const CODES: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};

const NAMES = new Map<number, DType>(Object.entries(CODES).map(([name, code]) => [code, name as DType]));

/** Bytes per element. */
export const ITEM_SIZE: Record<DType, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  bool: 1,
  bfloat16: 2,
};

/** The TypedArray holding a tensor's elements (16-bit floats are read as Float32Array). */
export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  float16: Float32Array;
  bfloat16: Float32Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type AnyTypedArray = TypedArrayOf[DType];

type TypedArrayCtor = { new (buffer: ArrayBuffer): AnyTypedArray; from(values: ArrayLike<number>): AnyTypedArray };

/** Constructors of the array each dtype is stored as natively (16-bit floats as raw Uint16Array). */
export const STORAGE: Record<DType, TypedArrayCtor | BigInt64ArrayConstructor> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array as unknown as TypedArrayCtor,
  bfloat16: Uint16Array as unknown as TypedArrayCtor,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(CODES, value);
}

/** libtorch's code for `dtype`; a clear error for anything else. */
export function dtypeCode(dtype: DType, op = 'dtype'): number {
  if (!isDType(dtype)) {
    throw new TorchError(`unknown dtype ${describe(dtype)}; expected one of ${Object.keys(CODES).join(', ')}`, op);
  }
  return CODES[dtype];
}

export function dtypeFromCode(code: number): DType {
  const name = NAMES.get(code);
  if (name === undefined) throw new TorchError(`libtorch scalar type ${code} is not supported by pdenet`, 'dtype');
  return name;
}

export function isFloatingPoint(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/** The TypedArray a dtype is stored in: the type of `data` accepted by `tensor()`. */
export function typedArrayDType(data: ArrayBufferView): DType | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8';
  return null;
}
