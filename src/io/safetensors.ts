/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written exactly:
 *
 * ```text
 * [8 bytes]  N, the header length: an unsigned little-endian 64-bit integer
 * [N bytes]  the header: UTF-8 JSON, padded with spaces so that N is a multiple of 8
 *            { "__metadata__": { "key": "value", … },          (optional, strings only)
 *              "name": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, … }
 * [rest]     the tensors' bytes, little-endian and row-major, one after another without gaps;
 *            data_offsets count from the first byte after the header
 * ```
 *
 * Every number of a header is checked before it is used, so a corrupt or hostile file is a
 * TorchError, never a read out of bounds.
 * @module
 */
import { endianness } from 'node:os';
import { native } from '../native/binding.js';
import { type DType, dtypeCode, ITEM_SIZE } from '../tensor/dtype.js';
import { TorchError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';
import { type ByteSource, bufferSource, fileSource, withSource } from './source.js';
import { type TensorDict, tensorEntries } from './statedict.js';

/** safetensors' names of the dtypes pdenet has. */
const FORMAT_NAME: Record<DType, string> = {
  float32: 'F32',
  float64: 'F64',
  bfloat16: 'BF16',
  float16: 'F16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};
const FROM_FORMAT_NAME = new Map(Object.entries(FORMAT_NAME).map(([dtype, name]) => [name, dtype as DType]));

/** The largest header read (the reference implementation's limit): a guard against absurd lengths. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

/** One tensor as a safetensors header describes it. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte range [begin, end) within the data that follows the header. */
  dataOffsets: [number, number];
}

/** The header of a safetensors file. */
export interface SafetensorsHeader {
  /** The tensors, in the order of their data in the file. */
  entries: SafetensorsEntry[];
  /** The `__metadata__` strings (empty when the file has none). */
  metadata: Record<string, string>;
  /** Where the data starts in the file: 8 + the header length. */
  dataStart: number;
}

/** What a safetensors file holds. */
export interface SafetensorsContent {
  /** The tensors by name, in the order of their data in the file. */
  tensors: Map<string, Tensor>;
  /** The `__metadata__` strings (empty when the file has none). */
  metadata: Record<string, string>;
}

function checkLittleEndian(op: string): void {
  if (endianness() !== 'LE') throw new TorchError('weight files are little-endian; this machine is big-endian', op);
}

// ---- writing -----------------------------------------------------------------------------------

function checkMetadata(metadata: unknown, op: string, what = 'metadata'): Record<string, string> | undefined {
  if (metadata === undefined) return undefined;
  if (metadata instanceof Map) metadata = Object.fromEntries(metadata);
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new TorchError(`${what} must be an object mapping strings to strings`, op);
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
      throw new TorchError(`${what} must map strings to strings, but "${key}" holds ${got}`, op);
    }
  }
  return metadata as Record<string, string>;
}

/** The file's bytes, piece by piece: the length and header first, then one tensor at a time. */
function encode(tensors: TensorDict, metadata: Record<string, string> | undefined, op: string): Iterable<Uint8Array> {
  checkLittleEndian(op);
  const entries = tensorEntries(tensors, op);
  const meta = checkMetadata(metadata, op);
  // The header is written by hand rather than with JSON.stringify of one object, which would move
  // names that look like integers ("0", "1", …) to the front; here the header lists the tensors in
  // the order their data follows.
  const fields: string[] = [];
  if (meta !== undefined) fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(meta)}`);
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === METADATA_KEY) throw new TorchError(`"${METADATA_KEY}" is reserved and cannot name a tensor`, op);
    const dtype = t.dtype;
    const shape = t.shape;
    const nbytes = shape.reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype];
    fields.push(
      `${JSON.stringify(name)}:${JSON.stringify({
        dtype: FORMAT_NAME[dtype],
        shape,
        data_offsets: [offset, offset + nbytes],
      })}`,
    );
    offset += nbytes;
  }
  let json = `{${fields.join(',')}}`;
  const headerBytes = (): number => Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (headerBytes() % 8)) % 8);
  const header = Buffer.alloc(8 + headerBytes());
  header.writeBigUInt64LE(BigInt(header.length - 8), 0);
  header.write(json, 8, 'utf8');

  return (function* () {
    yield header;
    for (const [, t] of entries) yield new Uint8Array(native.toBytes(t.handle));
  })();
}

/**
 * Writes tensors to a safetensors file, atomically (see {@link writeFileAtomic}).
 *
 * Every dtype of pdenet is written bit for bit (bfloat16 and float16 as their raw 16 bits), in the
 * order of `tensors`; non-contiguous tensors are written in row-major order; tensors on another
 * device are copied to the CPU first.
 *
 * @param tensors named tensors (names may be anything but `__metadata__`)
 * @param metadata strings stored under `__metadata__`, e.g. `{ format: 'pt' }`
 * @throws TorchError if a value is not a tensor, metadata is not strings, or the file cannot be
 *   written (an existing file is then left as it was)
 * @example
 * saveSafetensors('model.safetensors', { 'fc.weight': w, 'fc.bias': b }, { epoch: '3' });
 */
export function saveSafetensors(path: string, tensors: TensorDict, metadata?: Record<string, string>): void {
  const op = 'saveSafetensors';
  writeFileAtomic(path, encode(tensors, metadata, op), op);
}

/** The bytes of a safetensors file holding `tensors`: see {@link saveSafetensors}. */
export function saveSafetensorsBuffer(tensors: TensorDict, metadata?: Record<string, string>): Uint8Array {
  const chunks = [...encode(tensors, metadata, 'saveSafetensorsBuffer')];
  return new Uint8Array(Buffer.concat(chunks));
}

// ---- reading -----------------------------------------------------------------------------------

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseEntry(name: string, value: unknown, op: string): SafetensorsEntry {
  const bad = (what: string): TorchError => new TorchError(`tensor "${name}" of the header: ${what}`, op);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('is not an object');
  const { dtype: format, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof format !== 'string') throw bad('has no dtype');
  const dtype = FROM_FORMAT_NAME.get(format);
  if (dtype === undefined) {
    throw bad(
      `has the dtype ${JSON.stringify(format)}, which pdenet does not read ` +
        `(it reads ${[...FROM_FORMAT_NAME.keys()].join(', ')})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isSize))
    throw bad(`has the shape ${JSON.stringify(shape)}: not a list of sizes`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize) || offsets[0]! > offsets[1]!) {
    throw bad(`has the data_offsets ${JSON.stringify(offsets)}: not [begin, end] with 0 ≤ begin ≤ end`);
  }
  let nbytes = ITEM_SIZE[dtype];
  for (const d of shape as number[]) nbytes *= d;
  if (!Number.isSafeInteger(nbytes)) throw bad(`has the shape [${shape.join(', ')}]: too large`);
  const [begin, end] = offsets as [number, number];
  if (end - begin !== nbytes) {
    throw bad(
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape [${shape.join(', ')}] ` +
        `of ${format} needs ${nbytes}`,
    );
  }
  return { name, dtype, shape: shape as number[], dataOffsets: [begin, end] };
}

/**
 * The keys of the top-level object of valid JSON `text`, in the order they are written (an object
 * from JSON.parse lists integer-like keys first, whatever their place), so that tensors of no bytes,
 * which share their offsets, keep their order.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, end + 1)) as string);
      expectKey = false;
      i = end;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

/** The header's JSON text and where the data starts, after checking the header length against the file. */
function readHeaderText(source: ByteSource, op: string): { text: string; dataStart: number } {
  const name = source.name;
  if (source.size < 8) {
    throw new TorchError(
      `${name} is not a safetensors file: it holds ${source.size} bytes, ` +
        'fewer than the 8 of the header length (truncated?)',
      op,
    );
  }
  const length = Buffer.from(source.read(0, 8)).readBigUInt64LE(0);
  if (length > BigInt(source.size - 8)) {
    throw new TorchError(
      `${name}: the header length ${length} is larger than the file ` +
        `(${source.size} bytes; truncated, or not a safetensors file?)`,
      op,
    );
  }
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new TorchError(`${name}: the header length ${length} exceeds the limit of ${MAX_HEADER_BYTES} bytes`, op);
  }
  try {
    return {
      text: new TextDecoder('utf-8', { fatal: true }).decode(source.read(8, Number(length))),
      dataStart: 8 + Number(length),
    };
  } catch {
    throw new TorchError(`${name}: the header is not valid UTF-8 (not a safetensors file?)`, op);
  }
}

/** The header's JSON object: the metadata and the tensor entries, each key named once. */
function parseHeaderJson(name: string, text: string, op: string): Omit<SafetensorsHeader, 'dataStart'> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TorchError(
      `${name}: the header is not valid JSON (${(e as Error).message}); not a safetensors file, or a corrupt one`,
      op,
    );
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new TorchError(`${name}: the header is not a JSON object`, op);
  }
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  const keys = topLevelKeys(text);
  const twice = keys.find((k, i) => keys.indexOf(k) !== i);
  if (twice !== undefined) throw new TorchError(`${name}: the header names ${JSON.stringify(twice)} twice`, op);
  for (const key of keys) {
    const value = (json as Record<string, unknown>)[key];
    if (key === METADATA_KEY) {
      metadata = { ...checkMetadata(value, op, `${name}: ${METADATA_KEY}`) };
    } else {
      entries.push(parseEntry(key, value, op));
    }
  }
  return { entries, metadata };
}

/**
 * Sorts `entries` by offset and checks that the data is the tensors one after another: no overlaps,
 * no gaps, nothing after the last.
 */
function checkDataLayout(name: string, entries: SafetensorsEntry[], dataSize: number, op: string): void {
  entries.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let end = 0;
  let previous: SafetensorsEntry | null = null;
  for (const e of entries) {
    const [b, f] = e.dataOffsets;
    if (b < end) {
      throw new TorchError(
        `${name}: tensor "${e.name}" (data bytes ${b}..${f}) overlaps ` +
          `tensor "${previous!.name}" (data bytes ${previous!.dataOffsets.join('..')})`,
        op,
      );
    }
    if (b > end) throw new TorchError(`${name}: the data has a gap of ${b - end} bytes before tensor "${e.name}"`, op);
    end = f;
    previous = e;
  }
  if (end > dataSize) {
    throw new TorchError(
      `${name} is truncated: the data of tensor "${previous!.name}" ends at byte ${end} ` +
        `of the data, but the file holds only ${dataSize} bytes of data`,
      op,
    );
  }
  if (end < dataSize) {
    throw new TorchError(
      `${name}: ${dataSize - end} bytes follow the data of the last tensor ` +
        '(the header does not describe the whole file)',
      op,
    );
  }
}

function readHeader(source: ByteSource, op: string): SafetensorsHeader {
  checkLittleEndian(op);
  const { text, dataStart } = readHeaderText(source, op);
  const { entries, metadata } = parseHeaderJson(source.name, text, op);
  checkDataLayout(source.name, entries, source.size - dataStart, op);
  return { entries, metadata, dataStart };
}

function readTensors(source: ByteSource, op: string): SafetensorsContent {
  const { entries, metadata, dataStart } = readHeader(source, op);
  const tensors = tidy(() => {
    const out = new Map<string, Tensor>();
    for (const e of entries) {
      const bytes = source.read(dataStart + e.dataOffsets[0], e.dataOffsets[1] - e.dataOffsets[0]);
      if (e.dtype === 'bool' && bytes.some((b) => b > 1)) {
        throw new TorchError(`${source.name}: tensor "${e.name}" is BOOL but holds bytes other than 0 and 1`, op);
      }
      out.set(e.name, new Tensor(native.fromBytes(bytes, e.shape, dtypeCode(e.dtype))));
    }
    return out;
  });
  return { tensors, metadata };
}

/**
 * Reads a safetensors file: its tensors (on the CPU, bit for bit as stored) and metadata.
 *
 * The file is read a tensor at a time; it is never held in memory at once.
 *
 * @throws TorchError naming the problem if the file is truncated, its header is not valid JSON or
 *   has an unknown dtype, its offsets are out of range, overlap or disagree with the shapes, or its
 *   metadata is not strings
 * @example
 * const { tensors, metadata } = loadSafetensors('model.safetensors');
 */
export function loadSafetensors(path: string): SafetensorsContent {
  const op = 'loadSafetensors';
  return withSource(fileSource(path, op), (source) => readTensors(source, op));
}

/** Reads safetensors bytes: see {@link loadSafetensors}. */
export function loadSafetensorsBuffer(bytes: Uint8Array): SafetensorsContent {
  const op = 'loadSafetensorsBuffer';
  return readTensors(bufferSource(bytes, op), op);
}

/** Reads and checks only the header of a safetensors file: names, dtypes, shapes and metadata. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const op = 'readSafetensorsHeader';
  return withSource(fileSource(path, op), (source) => readHeader(source, op));
}
