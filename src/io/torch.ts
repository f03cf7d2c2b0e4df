/**
 * PyTorch's `.pt` files, as `torch.save` writes them since PyTorch 1.6: a zip archive holding
 * `<name>/data.pkl`, a pickle of the saved object, and `<name>/data/<key>`, the raw little-endian
 * bytes of each storage. Inside the pickle a tensor is
 *
 * ```text
 * torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)
 * ```
 *
 * where `storage` is a persistent id `('storage', torch.FloatStorage, key, location, numel)`.
 * A state dict is a `collections.OrderedDict` of such tensors, with a `_metadata` attribute.
 *
 * Writing goes through libtorch's own pickler (`native.pickleSave`), which writes exactly this
 * format; reading is done here in TypeScript (zip.ts, pickle.ts), because libtorch's C++ unpickler
 * cannot read what Python writes (it turns `OrderedDict` into None).
 * @module
 */
import { endianness } from 'node:os';
import { inspect } from 'node:util';
import { native, type NativeArg } from '../native/binding.js';
import { type DType, dtypeCode, ITEM_SIZE, isFloatingPoint } from '../tensor/dtype.js';
import { TorchError } from '../tensor/errors.js';
import { dispose, tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';
import { unpickle } from './pickle.js';
import { type ByteSource, bufferSource, fileSource, withSource } from './source.js';
import { type TensorDict, tensorEntries } from './statedict.js';
import { readZipDirectory, readZipEntry, type ZipEntry } from './zip.js';

/** A value for an error message (bigints and all). */
const show = (v: unknown): string => inspect(v, { depth: 3, breakLength: Infinity, maxArrayLength: 8 });

// ---- writing -----------------------------------------------------------------------------------

function pickled(value: NativeArg | Map<string, unknown> | readonly unknown[], op: string): Uint8Array {
  if (endianness() !== 'LE') throw new TorchError('weight files are little-endian; this machine is big-endian', op);
  return new Uint8Array(native.pickleSave(value));
}

/** The pickled bytes of a state dict: its tensors detached, as `module.state_dict()` holds them. */
function pickledStateDict(stateDict: TensorDict, op: string): Uint8Array {
  const entries = tensorEntries(stateDict, op);
  const detached = entries.map(([, t]) => (t.requiresGrad ? t.detach() : null));
  try {
    return pickled(new Map(entries.map(([name, t], i) => [name, (detached[i] ?? t).handle])), op);
  } finally {
    for (const d of detached) d?.dispose();
  }
}

/**
 * Writes a state dict in the format of Python's `torch.save`, atomically (see
 * {@link writeFileAtomic}): Python reads it with `torch.load(path)` as a dict of tensors, which
 * `module.load_state_dict` accepts.
 *
 * @param stateDict named tensors, written in their order and detached (a tensor that requires grad
 *   is saved as its data, as `module.state_dict()` holds it); tensors that share memory (views) are
 *   saved sharing it, as PyTorch does
 * @throws TorchError if a value is not a tensor or the file cannot be written (an existing file is
 *   then left as it was)
 * @example
 * saveTorch('model.pt', model.stateDict());
 */
export function saveTorch(path: string, stateDict: TensorDict): void {
  const op = 'saveTorch';
  writeFileAtomic(path, [pickledStateDict(stateDict, op)], op);
}

/** The bytes of a `.pt` file holding `stateDict`: see {@link saveTorch}. */
export function saveTorchBuffer(stateDict: TensorDict): Uint8Array {
  return pickledStateDict(stateDict, 'saveTorchBuffer');
}

/** A value the pickler takes: tensors as handles, objects as Maps; anything else is an error. */
function picklable(
  value: unknown,
  where: string,
  op: string,
  within = new Set<object>(),
): NativeArg | Map<string, unknown> | unknown[] {
  if (value instanceof Tensor) {
    if (value.isDisposed) throw new TorchError(`${where} is a disposed tensor`, op);
    return value.handle;
  }
  if (
    value === null ||
    typeof value === 'number' ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    typeof value === 'bigint'
  ) {
    return value;
  }
  const plain = typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value));
  if (!Array.isArray(value) && !(value instanceof Map) && !plain) {
    const kind = typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
    throw new TorchError(
      `${where} cannot be saved: ${kind} (saveTorchObject writes tensors, numbers, strings, ` +
        'booleans, null, arrays, Maps and plain objects)',
      op,
    );
  }
  const container = value as object;
  if (within.has(container)) throw new TorchError(`${where} contains itself`, op);
  within.add(container);
  try {
    if (Array.isArray(container)) return container.map((v, i) => picklable(v, `${where}[${i}]`, op, within));
    const entries = container instanceof Map ? [...container.entries()] : Object.entries(container);
    return new Map(
      entries.map(([k, v]) => {
        if (typeof k !== 'string') throw new TorchError(`${where} has the key ${show(k)}: keys must be strings`, op);
        return [k, picklable(v, `${where}.${k}`, op, within)];
      }),
    );
  } finally {
    within.delete(container);
  }
}

/**
 * Writes any value made of tensors, numbers, strings, booleans, null, arrays, Maps and plain
 * objects (string keys) in the format of `torch.save`, atomically: e.g. a checkpoint
 * `{ model: stateDict, epoch: 3 }`. Python reads objects and Maps as dicts, arrays as lists.
 */
export function saveTorchObject(path: string, value: unknown): void {
  // Unlike saveTorch, tensors keep requires_grad, as torch.save(tensor) keeps it.
  const op = 'saveTorchObject';
  writeFileAtomic(path, [pickled(picklable(value, 'the value', op), op)], op);
}

// ---- reading -----------------------------------------------------------------------------------

/** The storage classes of `torch` and their element types. */
const STORAGE_TYPES: Record<string, DType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** `torch.FloatStorage` and the like, as the pickle names them. */
class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: DType,
  ) {}
}

/** One storage of the archive: `<name>/data/<key>`, holding `numel` elements. */
class Storage {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
  ) {}
}

/** A tensor the pickle describes; made into a Tensor once the whole pickle is read. */
class TensorRecord {
  requiresGrad = false;
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The meaning of the Python globals a torch.save pickle may name; nothing else is allowed. */
function pythonGlobals(fail: (message: string) => TorchError): (module: string, name: string) => unknown {
  const rebuildTensor = (storage: unknown, offset: unknown, shape: unknown, stride: unknown, requiresGrad: unknown) => {
    if (!(storage instanceof Storage)) throw fail('_rebuild_tensor_v2 without a storage');
    if (
      !isSize(offset) ||
      !Array.isArray(shape) ||
      !shape.every(isSize) ||
      !Array.isArray(stride) ||
      !stride.every(isSize) ||
      stride.length !== shape.length
    ) {
      throw fail(
        `_rebuild_tensor_v2 with a bad layout: offset ${show(offset)}, size ${show(shape)}, ` +
          `stride ${show(stride)}`,
      );
    }
    const record = new TensorRecord(storage, offset, shape, stride);
    record.requiresGrad = requiresGrad === true;
    return record;
  };
  const rebuildParameter = (data: unknown, requiresGrad: unknown) => {
    if (!(data instanceof TensorRecord)) throw fail('_rebuild_parameter of something that is not a tensor');
    data.requiresGrad = requiresGrad === true;
    return data;
  };
  const identity = (value: unknown) => value;
  const functions: Record<string, unknown> = {
    'collections.OrderedDict': (items?: unknown) => {
      if (items === undefined) return new Map();
      if (!Array.isArray(items) || !items.every((p) => Array.isArray(p) && p.length === 2)) {
        throw fail('OrderedDict(...) with something other than a list of pairs');
      }
      return new Map(items as [unknown, unknown][]);
    },
    'torch._utils._rebuild_tensor': rebuildTensor,
    'torch._utils._rebuild_tensor_v2': rebuildTensor,
    'torch._utils._rebuild_parameter': rebuildParameter,
    'torch._utils._rebuild_parameter_with_state': rebuildParameter,
    // libtorch's pickler (saveTorch) tags containers with their TorchScript type
    'torch.jit._pickle.restore_type_tag': identity,
    'torch.jit._pickle.build_intlist': identity,
    'torch.jit._pickle.build_doublelist': identity,
    'torch.jit._pickle.build_boollist': identity,
    'torch.jit._pickle.build_tensorlist': identity,
    'torch.jit._pickle.build_genericlist': identity,
  };
  return (module, name) => {
    const qualified = `${module}.${name}`;
    if (Object.hasOwn(functions, qualified)) return functions[qualified];
    if (module === 'torch' && Object.hasOwn(STORAGE_TYPES, name)) return new StorageType(name, STORAGE_TYPES[name]!);
    throw fail(
      `the file refers to the Python global ${qualified}, which pdenet does not load ` +
        '(it loads tensors, parameters, dicts, OrderedDicts, lists, tuples, numbers and strings)',
    );
  };
}

/** Calls `visit` on every value of the tree (through arrays and Maps), replacing it by what it returns. */
function mapTree(value: unknown, visit: (v: unknown) => unknown, seen = new Set<object>()): unknown {
  if (Array.isArray(value)) {
    if (!seen.has(value)) {
      seen.add(value);
      for (let i = 0; i < value.length; i++) value[i] = mapTree(value[i], visit, seen);
    }
    return value;
  }
  if (value instanceof Map) {
    if (!seen.has(value)) {
      seen.add(value);
      for (const [k, v] of value) value.set(k, mapTree(v, visit, seen));
    }
    return value;
  }
  return visit(value);
}

/** The object a torch.save archive holds, with its tensors made. */
function readArchive(source: ByteSource, op: string): unknown {
  if (endianness() !== 'LE') throw new TorchError('weight files are little-endian; this machine is big-endian', op);
  const magic = source.size >= 4 ? source.read(0, 4) : new Uint8Array(0);
  if (!(magic[0] === 0x50 && magic[1] === 0x4b && magic[2] === 0x03 && magic[3] === 0x04)) {
    throw new TorchError(
      magic[0] === 0x80
        ? `${source.name} is in the legacy format of torch.save before PyTorch 1.6, which pdenet does not read; ` +
            're-save it with a newer PyTorch (torch.save(torch.load(path), path))'
        : `${source.name} is not a file written by torch.save (it is not a zip archive)`,
      op,
    );
  }
  const entries = readZipDirectory(source, op);
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    throw new TorchError(`${source.name} is a zip archive but not one torch.save wrote (no <name>/data.pkl)`, op);
  }
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  if (entries.has(`${prefix}constants.pkl`)) {
    throw new TorchError(`${source.name} is a TorchScript archive (torch.jit.save), not a torch.save file`, op);
  }
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && Buffer.from(readZipEntry(source, byteorder, op)).toString() !== 'little') {
    throw new TorchError(`${source.name} was saved on a big-endian machine, which pdenet does not read`, op);
  }

  const what = `${source.name}: ${pickles[0]}`;
  const fail = (message: string): TorchError => new TorchError(`${what}: ${message}`, op);
  const storages = new Map<string, Storage>();
  const tree = unpickle(
    readZipEntry(source, entries.get(pickles[0]!)!, op),
    {
      findGlobal: pythonGlobals(fail),
      persistentLoad(pid) {
        if (
          !Array.isArray(pid) ||
          pid.length !== 5 ||
          pid[0] !== 'storage' ||
          !(pid[1] instanceof StorageType) ||
          typeof pid[2] !== 'string' ||
          !isSize(pid[4])
        ) {
          throw fail(`unsupported persistent id ${show(pid)}`);
        }
        const [, type, key, , numel] = pid as [string, StorageType, string, string, number];
        const known = storages.get(key);
        if (known !== undefined) {
          if (known.dtype !== type.dtype) throw fail(`storage ${key} is used both as ${known.dtype} and ${type.dtype}`);
          return known;
        }
        const storage = new Storage(key, type.dtype, numel);
        storages.set(key, storage);
        return storage;
      },
      build(target, state) {
        // OrderedDict's state is its attributes: a state dict's _metadata (module versions), not needed here.
        if (!(target instanceof Map) || !(state instanceof Map || state === null)) {
          throw fail('BUILD on something other than an OrderedDict');
        }
      },
    },
    what,
    op,
  );

  return makeTensors(tree, source, entries, prefix, fail, op);
}

/** Replaces the tensor records of `tree` by tensors, each owning its memory (contiguous). */
function makeTensors(
  tree: unknown,
  source: ByteSource,
  entries: Map<string, ZipEntry>,
  prefix: string,
  fail: (message: string) => TorchError,
  op: string,
): unknown {
  const records = new Set<TensorRecord>();
  try {
    mapTree(tree, (v) => (v instanceof TensorRecord && records.add(v), v));
  } catch (e) {
    if (e instanceof RangeError) throw fail('the pickled object is nested too deeply');
    throw e;
  }
  const uses = new Map<Storage, number>();
  for (const r of records) uses.set(r.storage, (uses.get(r.storage) ?? 0) + 1);

  return tidy(() => {
    const storageTensors = new Map<Storage, Tensor>();
    const storageTensor = (s: Storage): Tensor => {
      let t = storageTensors.get(s);
      if (t === undefined) {
        const entry = entries.get(`${prefix}data/${s.key}`);
        if (entry === undefined) throw fail(`the storage ${prefix}data/${s.key} is missing from the archive`);
        const nbytes = s.numel * ITEM_SIZE[s.dtype];
        if (entry.size < nbytes) {
          throw fail(
            `the storage ${entry.name} holds ${entry.size} bytes, but ${s.numel} ${s.dtype} elements need ${nbytes}`,
          );
        }
        const bytes = readZipEntry(source, entry, op).subarray(0, nbytes);
        if (s.dtype === 'bool' && bytes.some((b) => b > 1))
          throw fail(`the bool storage ${entry.name} holds bytes other than 0 and 1`);
        t = new Tensor(native.fromBytes(bytes, [s.numel], dtypeCode(s.dtype)));
        storageTensors.set(s, t);
      }
      return t;
    };
    const made = new Map<TensorRecord, Tensor>();
    const make = (r: TensorRecord): Tensor => {
      const numel = r.shape.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(numel)) throw fail(`a tensor of size [${r.shape.join(', ')}] is too large`);
      const last = r.shape.reduce((at, size, i) => at + (size - 1) * r.stride[i]!, r.offset);
      if (numel > 0 && last >= r.storage.numel) {
        throw fail(
          `a tensor of size [${r.shape.join(', ')}], stride [${r.stride.join(', ')}] at offset ` +
            `${r.offset} reaches element ${last} of storage ${r.storage.key}, which holds ${r.storage.numel}`,
        );
      }
      const view = storageTensor(r.storage).asStrided(r.shape, r.stride, r.offset);
      let t = view;
      // The tensor owns its memory: a copy unless it is the whole of a storage no other tensor uses.
      if (!(uses.get(r.storage) === 1 && r.offset === 0 && numel === r.storage.numel && view.isContiguous)) {
        t = view.isContiguous ? view.clone() : view.contiguous();
        view.dispose();
      }
      if (r.requiresGrad && isFloatingPoint(r.storage.dtype)) t.requiresGrad_(true);
      return t;
    };
    return mapTree(tree, (v) => {
      if (!(v instanceof TensorRecord)) return v;
      let t = made.get(v);
      if (t === undefined) made.set(v, (t = make(v)));
      return t;
    });
  });
}

/**
 * Reads any object `torch.save` wrote, without running Python code: tensors (on the CPU,
 * contiguous, each owning its memory), parameters (as tensors that require grad), dicts and
 * OrderedDicts (as Maps), lists and tuples (as arrays), numbers (bigint beyond 2^53), strings,
 * booleans and None (null). Any other Python class is an error naming it.
 *
 * @example
 * const checkpoint = loadTorchObject('checkpoint.pt') as Map<string, unknown>;
 * const epoch = checkpoint.get('epoch');
 */
export function loadTorchObject(path: string): unknown {
  const op = 'loadTorchObject';
  return withSource(fileSource(path, op), (source) => readArchive(source, op));
}

/** What a loaded Python value is, in Python's words. */
function pythonKind(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Tensor) return 'a tensor';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'bigint') return 'a number';
  return `a ${typeof v}`;
}

function asStateDict(value: unknown, name: string, op: string): Map<string, Tensor> {
  const problems: string[] = [];
  if (!(value instanceof Map)) {
    problems.push(`it holds ${pythonKind(value)}`);
  } else {
    for (const [k, v] of value) {
      if (typeof k !== 'string') problems.push(`the key ${show(k)} is not a string`);
      else if (!(v instanceof Tensor)) {
        const hint = v instanceof Map ? ' (for a checkpoint, use loadTorchObject and take the state dict from it)' : '';
        problems.push(`"${k}" is ${pythonKind(v)}${hint}`);
      }
    }
  }
  if (problems.length > 0) {
    dispose(value);
    throw new TorchError(
      `${name} is not a state dict (a dict of tensors): ${problems.slice(0, 5).join('; ')}` +
        (problems.length > 5 ? `; and ${problems.length - 5} more` : ''),
      op,
    );
  }
  return value as Map<string, Tensor>;
}

/**
 * Reads a state dict written by Python's `torch.save(model.state_dict(), path)` or by
 * {@link saveTorch}: names to tensors, in the file's order.
 *
 * Tensors come out on the CPU, contiguous, each owning its memory (views of one storage, such as a
 * transposed weight, are copied out); parameters saved as `nn.Parameter` require grad.
 *
 * @throws TorchError if the file is not a torch.save zip archive (legacy pre-1.6 files included),
 *   is corrupt or truncated, names a Python class other than tensors and dicts, or holds something
 *   other than a dict of tensors
 * @example
 * const state = loadTorch('resnet.pt');
 * state.get('conv1.weight')!.shape;   // [64, 3, 7, 7]
 */
export function loadTorch(path: string): Map<string, Tensor> {
  const op = 'loadTorch';
  return asStateDict(
    withSource(fileSource(path, op), (source) => readArchive(source, op)),
    path,
    op,
  );
}

/** Reads a state dict from the bytes of a `.pt` file: see {@link loadTorch}. */
export function loadTorchBuffer(bytes: Uint8Array): Map<string, Tensor> {
  const op = 'loadTorchBuffer';
  return asStateDict(readArchive(bufferSource(bytes, op), op), 'the buffer', op);
}
