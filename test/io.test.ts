// Weight files: safetensors, torch.save archives, atomic writes, state dict checks.
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dispose, memory, type Tensor, tensor, TorchError } from '../src/index.js';
import {
  checkStateDict,
  loadSafetensors,
  loadSafetensorsBuffer,
  loadTorch,
  loadTorchBuffer,
  loadTorchObject,
  readSafetensorsHeader,
  saveSafetensors,
  saveSafetensorsBuffer,
  saveTorch,
  saveTorchBuffer,
  saveTorchObject,
  writeFileAtomic,
} from '../src/io/index.js';
import { crc32, readZipDirectory, readZipEntry } from '../src/io/zip.js';
import { bufferSource } from '../src/io/source.js';
import { native } from '../src/native/binding.js';
import { type DType, dtypeCode } from '../src/tensor/dtype.js';
import { Tensor as TensorClass } from '../src/tensor/tensor.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../test/fixtures');
const work = mkdtempSync(join(tmpdir(), 'pdenet-io-'));
after(() => rmSync(work, { recursive: true, force: true }));
let fileCount = 0;
const tempPath = (name: string): string => join(work, `${fileCount++}-${name}`);

// ---- helpers -----------------------------------------------------------------------------------

/** A tensor holding exactly these bytes (any dtype, 16-bit floats included). */
function raw(dtype: DType, bytes: ArrayLike<number> | ArrayBufferView, shape: number[]): Tensor {
  const data = ArrayBuffer.isView(bytes) ? bytes : Uint8Array.from(bytes as ArrayLike<number>);
  return new TensorClass(native.fromBytes(data, shape, dtypeCode(dtype)));
}

/** The raw bytes of a tensor, row-major. */
const bytesOf = (t: Tensor): Uint8Array => new Uint8Array(native.toBytes(t.handle));

/** Bytes from 16/32/64-bit words, little-endian. */
function words(bits: 16 | 32 | 64, values: (number | bigint)[]): Uint8Array {
  const out = Buffer.alloc((bits / 8) * values.length);
  values.forEach((v, i) => {
    if (bits === 16) out.writeUInt16LE(Number(v), 2 * i);
    else if (bits === 32) out.writeUInt32LE(Number(v), 4 * i);
    else out.writeBigUInt64LE(BigInt(v), 8 * i);
  });
  return new Uint8Array(out);
}

/** One tensor of every dtype, with the bit patterns that a careless conversion would change. */
function everyDtype(): Map<string, Tensor> {
  return new Map<string, Tensor>([
    // NaN with payloads (quiet, signalling, negative), -0, ±inf, the smallest subnormal, 1
    [
      'f32',
      raw(
        'float32',
        words(32, [0x7fc00001, 0x7f800001, 0xffc12345, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000]),
        [2, 4],
      ),
    ],
    [
      'f64',
      raw(
        'float64',
        words(64, [
          0x7ff8000000000001n,
          0x7ff0000000000001n,
          0xfff8000000abcdefn,
          0x8000000000000000n,
          0x7ff0000000000000n,
          0x0000000000000001n,
        ]),
        [3, 2],
      ),
    ],
    ['f16', raw('float16', words(16, [0x7e01, 0x7c01, 0xfe42, 0x8000, 0x7c00, 0xfc00, 0x0001, 0x3c00]), [8])],
    ['bf16', raw('bfloat16', words(16, [0x7fc1, 0x7f81, 0xffc3, 0x8000, 0x7f80, 0xff80, 0x0001, 0x3f80]), [2, 2, 2])],
    ['i64', raw('int64', words(64, [0x8000000000000000n, 0x7fffffffffffffffn, 0xffffffffffffffffn, 0n]), [4])],
    ['i32', raw('int32', words(32, [0x80000000, 0x7fffffff, 0xffffffff]), [3])],
    ['i16', raw('int16', words(16, [0x8000, 0x7fff, 0xffff]), [3])],
    ['i8', raw('int8', [0x80, 0x7f, 0xff], [3])],
    ['u8', raw('uint8', [0, 128, 255], [3])],
    ['bool', raw('bool', [1, 0, 1, 1], [2, 2])],
  ]);
}

function assertSameTensors(actual: Map<string, Tensor>, expected: Map<string, Tensor>): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [name, want] of expected) {
    const got = actual.get(name)!;
    assert.equal(got.dtype, want.dtype, `${name} dtype`);
    assert.deepEqual(got.shape, want.shape, `${name} shape`);
    assert.deepEqual(bytesOf(got), bytesOf(want), `${name} bytes`);
  }
}

/** A safetensors file from a header object and data bytes, written naively (no padding unless asked). */
function safetensorsBytes(header: unknown, data: ArrayLike<number> = [], rawHeader?: string): Uint8Array {
  const json = Buffer.from(rawHeader ?? JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return new Uint8Array(Buffer.concat([length, json, Buffer.from(Uint8Array.from(data))]));
}

/** A zip archive of stored entries, optionally with ZIP64 records, as a minimal torch.save would write. */
function storedZip(files: [string, Uint8Array][], { zip64 = false } = {}): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBytes = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    parts.push(local, nameBytes, Buffer.from(data));
    const extra = Buffer.alloc(zip64 ? 28 : 0);
    if (zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(data.length), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(45, 4);
    entry.writeUInt16LE(zip64 ? 45 : 20, 6);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(zip64 ? 0xffffffff : data.length, 20);
    entry.writeUInt32LE(zip64 ? 0xffffffff : data.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt16LE(extra.length, 30);
    entry.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    central.push(entry, nameBytes, extra);
    offset += 30 + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(central);
  const tail: Buffer[] = [];
  if (zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeBigUInt64LE(BigInt(files.length), 24);
    record.writeBigUInt64LE(BigInt(files.length), 32);
    record.writeBigUInt64LE(BigInt(directory.length), 40);
    record.writeBigUInt64LE(BigInt(offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset + directory.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(zip64 ? 0xffff : files.length, 8);
  end.writeUInt16LE(zip64 ? 0xffff : files.length, 10);
  end.writeUInt32LE(zip64 ? 0xffffffff : directory.length, 12);
  end.writeUInt32LE(zip64 ? 0xffffffff : offset, 16);
  return new Uint8Array(Buffer.concat([...parts, directory, ...tail, end]));
}

/** A torch.save archive around a hand-written pickle and storages. */
function torchArchive(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}, options = {}): Uint8Array {
  return storedZip(
    [
      ['archive/data.pkl', pickle],
      ...Object.entries(storages).map(([key, data]) => [`archive/data/${key}`, data] as [string, Uint8Array]),
      ['archive/version', new Uint8Array(Buffer.from('3\n'))],
    ],
    options,
  );
}

/** Pickle bytes from opcodes (numbers), latin-1 text and byte arrays. */
const P = (...parts: (number | string | Uint8Array)[]): Uint8Array =>
  new Uint8Array(
    Buffer.concat(
      parts.map((p) =>
        typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p),
      ),
    ),
  );
/** BINUNICODE */
const str = (s: string): Uint8Array => {
  const b = Buffer.from(s, 'utf8');
  const n = Buffer.alloc(4);
  n.writeUInt32LE(b.length);
  return P(0x58, n, b);
};
/** A tuple of small ints (MARK, BININT1…, TUPLE). */
const ints = (...values: number[]): Uint8Array => P(0x28, ...values.flatMap((v) => [0x4b, v]), 0x74);
/** The pickle of one tensor: _rebuild_tensor_v2(('storage', torch.<type>, '0', 'cpu', numel), …). */
function tensorPickle({
  numel,
  offset = 0,
  size,
  stride,
  type = 'FloatStorage',
}: {
  numel: number;
  offset?: number;
  size: number[];
  stride: number[];
  type?: string;
}): Uint8Array {
  return P(
    0x80,
    2,
    'ctorch._utils\n_rebuild_tensor_v2\n',
    0x28,
    0x28,
    str('storage'),
    `ctorch\n${type}\n`,
    str('0'),
    str('cpu'),
    0x4b,
    numel,
    0x74,
    0x51,
    0x4b,
    offset,
    ints(...size),
    ints(...stride),
    0x89,
    0x7d,
    0x74,
    0x52,
    0x2e,
  );
}

/** A seeded generator of integers in [0, n), for reproducible fuzzing. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

/** Asserts `fn` throws a TorchError whose message matches `pattern`. */
function throwsTorch(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TorchError, `expected a TorchError, got ${e}`);
    if (pattern) assert.match((e as Error).message, pattern);
    return true;
  });
}

/** Loading must either work or throw a TorchError: never another error, never a crash. */
function loadsOrThrowsTorch(fn: () => unknown): void {
  try {
    dispose(fn());
  } catch (e) {
    assert.ok(e instanceof TorchError, `expected a TorchError, got ${(e as Error)?.stack ?? e}`);
  }
}

/** The temporary files left in a directory by a save. */
const leftovers = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.tmp'));

// ---- safetensors -------------------------------------------------------------------------------

describe('safetensors', () => {
  it('round-trips every dtype bit for bit (NaN payloads, -0, subnormals, integer extremes)', () => {
    const tensors = everyDtype();
    const path = tempPath('all.safetensors');
    saveSafetensors(path, tensors);
    const { tensors: loaded, metadata } = loadSafetensors(path);
    assertSameTensors(loaded, tensors);
    assert.deepEqual(metadata, {});
    assertSameTensors(loadSafetensorsBuffer(saveSafetensorsBuffer(tensors)).tensors, tensors);
    assert.deepEqual(readFileSync(path), Buffer.from(saveSafetensorsBuffer(tensors)));
  });

  it('writes a header byte for byte as the format says', () => {
    const bytes = saveSafetensorsBuffer(
      { a: tensor(new Float32Array([1, -2]), { shape: [2] }), b: raw('uint8', [7], []) },
      { format: 'pdenet' },
    );
    const header =
      '{"__metadata__":{"format":"pdenet"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}';
    assert.equal(header.length, 140); // padded with 4 spaces to 144, a multiple of 8
    const expected = Buffer.concat([
      Buffer.from([144, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from(`${header}    `),
      Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]), // 1.0f, -2.0f little-endian
      Buffer.from([7]),
    ]);
    assert.deepEqual(Buffer.from(bytes), expected);
    const { tensors, metadata } = loadSafetensorsBuffer(bytes);
    assert.deepEqual(tensors.get('a')!.toArray(), [1, -2]);
    assert.deepEqual(tensors.get('b')!.shape, []);
    assert.equal(tensors.get('b')!.item(), 7);
    assert.deepEqual(metadata, { format: 'pdenet' });
  });

  it('keeps metadata, empty tensors, 0-d tensors and the order of names (integer-like ones too)', () => {
    const tensors = new Map<string, Tensor>([
      ['z', tensor(new Float32Array(0), { shape: [0] })],
      ['10', tensor(new Float64Array(0), { shape: [2, 0, 3] })],
      ['2', tensor(2.5)],
      ['a.b', tensor(new Int32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] })],
      ['', raw('bool', [1], [])],
    ]);
    const metadata = { format: 'pt', ünïcode: 'välue ✓', empty: '', '0': 'zero' };
    const path = tempPath('mixed.safetensors');
    saveSafetensors(path, tensors, metadata);
    const loaded = loadSafetensors(path);
    assertSameTensors(loaded.tensors, tensors);
    assert.deepEqual(loaded.metadata, metadata);
    const header = readSafetensorsHeader(path);
    assert.deepEqual(
      header.entries.map((e) => [e.name, e.dtype, e.shape]),
      [
        ['z', 'float32', [0]],
        ['10', 'float64', [2, 0, 3]],
        ['2', 'float32', []],
        ['a.b', 'int32', [2, 3]],
        ['', 'bool', []],
      ],
    );
    assert.equal(header.dataStart % 8, 0);
    // plain objects work too
    const fromObject = loadSafetensorsBuffer(saveSafetensorsBuffer({ w: tensors.get('a.b')! })).tensors;
    assert.deepEqual(fromObject.get('w')!.toArray(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it('reads a file written by the reference implementation (Hugging Face safetensors)', () => {
    // test/fixtures/make_torch_fixture.py: the PyTorch fixture's state dict through safetensors.torch.save_file
    const { tensors, metadata } = loadSafetensors(join(fixtures, 'reference.safetensors'));
    assert.deepEqual(metadata, { format: 'pt', by: 'safetensors' });
    const state = loadTorch(join(fixtures, 'torch_state_dict.pt'));
    assert.deepEqual([...tensors.keys()].sort(), [...state.keys()].sort());
    assertSameTensors(new Map([...state.keys()].map((k) => [k, tensors.get(k)!])), state);
    dispose([tensors, state]);
  });

  it('writes views in row-major order', () => {
    const base = tensor(new Float32Array([0, 1, 2, 3, 4, 5]), { shape: [2, 3] });
    const { tensors } = loadSafetensorsBuffer(
      saveSafetensorsBuffer({ t: base.transpose(0, 1), row: base.select(0, 1) }),
    );
    assert.deepEqual(tensors.get('t')!.toArray(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    assert.deepEqual(tensors.get('row')!.toArray(), [3, 4, 5]);
  });

  it('rejects bad input to save with clear errors', () => {
    throwsTorch(() => saveSafetensorsBuffer({ a: 3 as unknown as Tensor }), /"a" is a number, not a tensor/);
    throwsTorch(() => saveSafetensorsBuffer([tensor(1)] as unknown as Record<string, Tensor>), /Map or an object/);
    throwsTorch(() => saveSafetensorsBuffer({ __metadata__: tensor(1) }), /reserved/);
    throwsTorch(() => saveSafetensorsBuffer({ a: tensor(1) }, { n: 1 as unknown as string }), /"n" holds a number/);
    const gone = tensor(1);
    gone.dispose();
    throwsTorch(() => saveSafetensorsBuffer({ gone }), /"gone" is a disposed tensor/);
  });

  it('gives a TorchError, never a crash, for a file truncated anywhere', () => {
    const good = saveSafetensorsBuffer(everyDtype(), { note: 'x' });
    const headerEnd = 8 + Number(Buffer.from(good).readBigUInt64LE(0));
    for (const cut of [0, 1, 7, 8, 9, 20, headerEnd - 1, headerEnd, headerEnd + 1, good.length - 1]) {
      throwsTorch(() => loadSafetensorsBuffer(good.subarray(0, cut)), /truncated|larger than the file|JSON/);
      const path = tempPath('cut.safetensors');
      writeFileSync(path, good.subarray(0, cut));
      throwsTorch(() => loadSafetensors(path));
    }
    throwsTorch(() => loadSafetensorsBuffer(good.subarray(0, 5)), /fewer than the 8/);
    throwsTorch(() => loadSafetensorsBuffer(good.subarray(0, good.length - 1)), /truncated: the data of tensor/);
  });

  it('rejects corrupt headers, naming the problem', () => {
    const t = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const eight = new Array(8).fill(0);
    const cases: [Uint8Array, RegExp][] = [
      [safetensorsBytes(null, [], 'not json at all!'), /not valid JSON/],
      [safetensorsBytes(null, [], '[1, 2, 3]       '), /not a JSON object/],
      [new Uint8Array([...safetensorsBytes(null, [], 'xx').subarray(0, 8), 0xff, 0xfe]), /UTF-8/],
      [new Uint8Array([255, 255, 255, 255, 255, 255, 255, 127, 123, 125]), /larger than the file/],
      [safetensorsBytes({ a: { ...t, dtype: 'F8_E4M3' } }, eight), /dtype "F8_E4M3", which pdenet does not read/],
      [safetensorsBytes({ a: { ...t, dtype: 7 } }, eight), /has no dtype/],
      [safetensorsBytes({ a: { ...t, shape: [-2] } }, eight), /not a list of sizes/],
      [safetensorsBytes({ a: { ...t, shape: [3] } }, eight), /span 8 bytes, but shape \[3\] of F32 needs 12/],
      [safetensorsBytes({ a: { ...t, data_offsets: [8, 0] } }, eight), /0 ≤ begin ≤ end/],
      [safetensorsBytes({ a: { ...t, data_offsets: [0] } }, eight), /data_offsets/],
      [safetensorsBytes({ a: { ...t, data_offsets: [4, 12] } }, new Array(12).fill(0)), /gap of 4 bytes/],
      [safetensorsBytes({ a: { ...t, data_offsets: [8, 16] } }, eight), /gap of 8 bytes/],
      [
        safetensorsBytes({ a: t, b: { ...t, data_offsets: [4, 12] } }, new Array(12).fill(0)),
        /"b" \(data bytes 4..12\) overlaps tensor "a"/,
      ],
      [safetensorsBytes({ a: t, b: t }, eight), /overlaps/],
      [safetensorsBytes({ a: t }, new Array(12).fill(0)), /4 bytes follow the data of the last tensor/],
      [safetensorsBytes({ a: { ...t, data_offsets: [0, 8] } }, [0, 0, 0]), /truncated/],
      [safetensorsBytes({ a: 'F32' }), /"a" of the header: is not an object/],
      [safetensorsBytes(null, eight, `{"a":${JSON.stringify(t)}, "a" :${JSON.stringify(t)}}`), /names "a" twice/],
      [
        safetensorsBytes({ __metadata__: { n: 1 } }),
        /__metadata__ must map strings to strings, but "n" holds a number/,
      ],
      [safetensorsBytes({ __metadata__: ['x'] }), /__metadata__ must be an object/],
      [safetensorsBytes({ a: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, [1, 7]), /other than 0 and 1/],
      [safetensorsBytes({ a: { dtype: 'F64', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, eight), /too large/],
    ];
    for (const [bytes, pattern] of cases) throwsTorch(() => loadSafetensorsBuffer(bytes), pattern);
    // a header read naively (no padding) is fine
    const ok = loadSafetensorsBuffer(safetensorsBytes({ a: t }, words(32, [0x3f800000, 0x40000000])));
    assert.deepEqual(ok.tensors.get('a')!.toArray(), [1, 2]);
  });

  it('survives random corruption: every load works or throws a TorchError', () => {
    const good = saveSafetensorsBuffer(everyDtype(), { note: 'x' });
    const random = prng(1234);
    for (let trial = 0; trial < 400; trial++) {
      const bad = good.slice();
      for (let k = 1 + random(3); k > 0; k--) bad[random(Math.min(bad.length, trial % 2 ? 16 : 700))] = random(256);
      loadsOrThrowsTorch(() => loadSafetensorsBuffer(bad).tensors);
    }
  });

  it('releases every tensor it made when a load fails midway', () => {
    const good = saveSafetensorsBuffer(everyDtype());
    const view = Buffer.from(good);
    const headerEnd = 8 + Number(view.readBigUInt64LE(0));
    const bad = good.slice();
    const header = JSON.parse(Buffer.from(good.subarray(8, headerEnd)).toString()) as Record<
      string,
      { data_offsets: number[] }
    >;
    bad[headerEnd + header.bool!.data_offsets[0]!] = 9; // the last tensor fails its check after the others were made
    const before = memory().liveTensors;
    throwsTorch(() => loadSafetensorsBuffer(bad), /BOOL/);
    assert.ok(memory().liveTensors <= before);
  });
});

// ---- atomic writes -----------------------------------------------------------------------------

describe('atomic writes', () => {
  const original = new Uint8Array(Buffer.from('the original file'));

  it('leaves an existing file byte-identical when a save fails before writing', () => {
    const dir = mkdtempSync(join(work, 'atomic-'));
    const path = join(dir, 'model.safetensors');
    writeFileSync(path, original);
    throwsTorch(() => saveSafetensors(path, { ok: tensor(1), bad: 'x' as unknown as Tensor }), /"bad" is a string/);
    throwsTorch(() => saveTorch(path, { ok: tensor(1), bad: null as unknown as Tensor }), /"bad" is null/);
    throwsTorch(() => saveTorchObject(path, { f: () => 1 }), /the value\.f cannot be saved: function/);
    throwsTorch(() => saveTorchObject(path, { d: new Date() }), /the value\.d cannot be saved: Date/);
    const cyclic: unknown[] = [1];
    cyclic.push({ back: cyclic });
    throwsTorch(() => saveTorchObject(path, cyclic), /the value\[1\]\.back contains itself/);
    throwsTorch(() => saveTorchObject(path, new Map([[1, tensor(1)]])), /has the key 1: keys must be strings/);
    assert.deepEqual(new Uint8Array(readFileSync(path)), original);
    assert.deepEqual(leftovers(dir), []);
  });

  it('removes the temporary file and keeps the target when the write fails midway', () => {
    const dir = mkdtempSync(join(work, 'atomic-'));
    const path = join(dir, 'model.pt');
    writeFileSync(path, original);
    function* failing(): Generator<Uint8Array> {
      yield new Uint8Array(1000).fill(1);
      assert.equal(leftovers(dir).length, 1, 'the bytes go to a temporary file');
      throw new Error('disk on fire');
    }
    assert.throws(() => writeFileAtomic(path, failing(), 'test'), /disk on fire/);
    assert.deepEqual(new Uint8Array(readFileSync(path)), original);
    assert.deepEqual(leftovers(dir), []);
  });

  it('removes the temporary file when the rename fails, and reports missing directories', () => {
    const dir = mkdtempSync(join(work, 'atomic-'));
    const target = join(dir, 'is-a-directory');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), original);
    throwsTorch(() => saveSafetensors(target, { a: tensor(1) }), /cannot write/);
    assert.deepEqual(leftovers(dir), []);
    assert.deepEqual(new Uint8Array(readFileSync(join(target, 'inside'))), original);
    throwsTorch(() => saveTorch(join(dir, 'no/such/dir/model.pt'), { a: tensor(1) }), /cannot write .*ENOENT/);
  });

  it('replaces a file completely and keeps its permissions', () => {
    const dir = mkdtempSync(join(work, 'atomic-'));
    const path = join(dir, 'weights.safetensors');
    writeFileSync(path, new Uint8Array(100_000).fill(7)); // longer than what replaces it
    chmodSync(path, 0o640);
    saveSafetensors(path, { a: tensor(new Float32Array([1, 2])) });
    assert.deepEqual(
      new Uint8Array(readFileSync(path)),
      saveSafetensorsBuffer({ a: tensor(new Float32Array([1, 2])) }),
    );
    assert.equal(statSync(path).mode & 0o777, 0o640);
    assert.deepEqual(leftovers(dir), []);
    writeFileAtomic(join(dir, 'new.bin'), [new Uint8Array([1, 2]), new Uint8Array([3])]);
    assert.deepEqual([...readFileSync(join(dir, 'new.bin'))], [1, 2, 3]);
  });
});

// ---- torch.save files --------------------------------------------------------------------------

/** The values of the fixture, by the formulas of test/fixtures/make_torch_fixture.py. */
const ramp = (n: number, scale: number, shift: number): number[] =>
  Array.from({ length: n }, (_, i) => i * scale + shift);
const flatten = (x: unknown): unknown[] => (Array.isArray(x) ? x.flatMap(flatten) : [x]);

describe('torch .pt files', () => {
  it('reads a state dict written by Python PyTorch: names, dtypes, shapes and values', () => {
    const state = loadTorch(join(fixtures, 'torch_state_dict.pt'));
    assert.deepEqual(
      [...state.keys()],
      [
        'conv.weight',
        'conv.bias',
        'bn.weight',
        'bn.bias',
        'bn.running_mean',
        'bn.running_var',
        'bn.num_batches_tracked',
        'fc.weight',
        'fc.bias',
        'extra.base',
        'extra.transposed',
        'extra.row',
        'extra.bf16',
        'extra.f16',
        'extra.f64',
        'extra.i32',
        'extra.i16',
        'extra.i8',
        'extra.u8',
        'extra.bool',
        'extra.i64',
        'extra.scalar',
        'extra.empty',
      ],
    );
    const check = (name: string, dtype: DType, shape: number[], flat: (number | boolean)[]): void => {
      const t = state.get(name)!;
      assert.equal(t.dtype, dtype, name);
      assert.deepEqual(t.shape, shape, name);
      assert.ok(t.isContiguous, `${name} is contiguous`);
      assert.deepEqual(flatten(t.toArray()), flat, name);
    };
    check('conv.weight', 'float32', [2, 1, 3, 3], ramp(18, 0.25, -2));
    check('conv.bias', 'float32', [2], [0.5, -0.5]);
    check('bn.weight', 'float32', [2], [1.5, 2]);
    check('bn.bias', 'float32', [2], [0.125, -0.125]);
    check('bn.running_mean', 'float32', [2], [0.25, 0.75]);
    check('bn.running_var', 'float32', [2], [1.25, 4]);
    check('bn.num_batches_tracked', 'int64', [], [7]);
    check('fc.weight', 'float32', [3, 4], ramp(12, 0.5, -3));
    check('fc.bias', 'float32', [3], [1, 2, 3]);
    check('extra.base', 'float32', [3, 4], ramp(12, 1, 0));
    check('extra.transposed', 'float32', [4, 3], [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    check('extra.row', 'float32', [4], [8, 9, 10, 11]);
    check('extra.bf16', 'bfloat16', [2, 3], ramp(6, 0.5, -1));
    check('extra.f16', 'float16', [3], [1, 1.25, 1.5]);
    check('extra.f64', 'float64', [3], [0.1, -2.5, 1e300]);
    check('extra.i32', 'int32', [3], [-2147483648, 0, 2147483647]);
    check('extra.i16', 'int16', [3], [-32768, 1, 32767]);
    check('extra.i8', 'int8', [3], [-128, 1, 127]);
    check('extra.u8', 'uint8', [3], [0, 128, 255]);
    check('extra.bool', 'bool', [3], [true, false, true]);
    check('extra.scalar', 'float32', [], [3.5]);
    check('extra.empty', 'float32', [0, 2], []);
    assert.deepEqual([...(state.get('extra.i64')!.toTypedArray() as BigInt64Array)], [-(2n ** 62n), 2n ** 53n + 1n]);
    for (const t of state.values()) assert.equal(t.requiresGrad, false);

    // every tensor owns its memory: views of one storage in the file are independent copies
    state.get('extra.base')!.add_(100);
    assert.deepEqual(state.get('extra.row')!.toArray(), [8, 9, 10, 11]);
    assert.deepEqual((state.get('extra.transposed')!.toArray() as number[][])[0], [0, 4, 8]);
    dispose(state);
  });

  it('round-trips a state dict through saveTorch and loadTorch, bit for bit and in order', () => {
    const tensors = everyDtype();
    const base = tensor(new Float32Array([0, 1, 2, 3, 4, 5]), { shape: [2, 3] });
    tensors.set('view.t', base.transpose(0, 1));
    tensors.set('view.row', base.select(0, 1));
    tensors.set('scalar', tensor(-0.5));
    tensors.set('empty', tensor(new Float32Array(0), { shape: [3, 0] }));
    const path = tempPath('state.pt');
    saveTorch(path, tensors);
    const loaded = loadTorch(path);
    assertSameTensors(loaded, tensors);
    assert.ok(loaded.get('view.t')!.isContiguous);
    assertSameTensors(loadTorchBuffer(saveTorchBuffer(tensors)), tensors);
    assertSameTensors(loadTorchBuffer(new Uint8Array(readFileSync(path))), tensors);
  });

  it('saves a state dict detached, as module.state_dict() holds it; checkpoints keep requires_grad', () => {
    const w = tensor([1, 2]).requiresGrad_();
    const twice = w.mul(2);
    const state = loadTorchBuffer(saveTorchBuffer({ w, twice }));
    assert.deepEqual([state.get('w')!.requiresGrad, state.get('twice')!.requiresGrad], [false, false]);
    assert.deepEqual(state.get('twice')!.toArray(), [2, 4]);
    assert.equal(w.requiresGrad, true);
    const path = tempPath('grad.pt');
    saveTorchObject(path, [w]);
    assert.equal((loadTorchObject(path) as Tensor[])[0]!.requiresGrad, true);
  });

  it('reads back the fixture after saving it again (what Python checks in make_torch_fixture.py check)', () => {
    const state = loadTorch(join(fixtures, 'torch_state_dict.pt'));
    assertSameTensors(loadTorchBuffer(saveTorchBuffer(state)), state);
  });

  it('reads and writes checkpoints holding more than tensors', () => {
    const path = tempPath('checkpoint.pt');
    const weight = tensor(new Float32Array([1, 2, 3, 4]), { shape: [2, 2] });
    saveTorchObject(path, {
      model: new Map([['w', weight]]),
      epoch: 3,
      lr: 0.5,
      name: 'tiny',
      steps: [10, 20],
      done: false,
      note: null,
      big: 2n ** 60n,
    });
    const loaded = loadTorchObject(path) as Map<string, unknown>;
    assert.deepEqual([...loaded.keys()], ['model', 'epoch', 'lr', 'name', 'steps', 'done', 'note', 'big']);
    assert.deepEqual((loaded.get('model') as Map<string, Tensor>).get('w')!.toArray(), [
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(
      [
        loaded.get('epoch'),
        loaded.get('lr'),
        loaded.get('name'),
        loaded.get('steps'),
        loaded.get('done'),
        loaded.get('note'),
        loaded.get('big'),
      ],
      [3, 0.5, 'tiny', [10, 20], false, null, 2n ** 60n],
    );
    throwsTorch(() => loadTorch(path), /not a state dict.*"model" is a dict \(for a checkpoint, use loadTorchObject/);
  });

  it('reads pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL) and plain Python values', () => {
    const value = loadTorchObject(join(fixtures, 'torch_protocol4.pt')) as Map<string, unknown>;
    assert.deepEqual((value.get('tensor') as Tensor).toArray(), [
      [1, 2],
      [3, 4],
    ]);
    assert.equal((value.get('tensor') as Tensor).dtype, 'float64');
    const [a, b] = value.get('same') as Tensor[];
    assert.equal(a, b, 'one Python object read twice is one tensor');
    assert.deepEqual(a!.toArray(), [1, 2]);
    assert.deepEqual(value.get('ints'), [0, 255, 65535, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 40, -(2n ** 70n)]);
    assert.deepEqual(value.get('floats'), [1.5, -0, Infinity]);
    assert.ok(Object.is((value.get('floats') as number[])[1], -0));
    assert.equal(value.get('text'), 'héllo');
    assert.deepEqual(value.get('tuple'), [1, 'two', null, true, false]);
    assert.deepEqual(value.get('nested'), new Map([['x', new Map([['y', 3]])]]));
    throwsTorch(() => loadTorch(join(fixtures, 'torch_protocol4.pt')), /not a state dict.*"ints" is a list/);
  });

  it('runs the protocol-2 opcodes a hand-written pickle uses', () => {
    const i32 = (v: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v);
      return b;
    };
    const f64 = Buffer.alloc(8);
    f64.writeDoubleBE(-1.25);
    const pickle = P(
      0x80,
      2,
      0x7d,
      0x72,
      i32(7), // EMPTY_DICT, LONG_BINPUT 7
      0x28, // MARK
      str('neg'),
      0x4a,
      i32(-5),
      str('int2'),
      0x4d,
      0x34,
      0x12,
      str('long1'),
      0x8a,
      2,
      0x00,
      0x80, // -32768
      str('long4'),
      0x8b,
      i32(9),
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      1, // 2^64
      str('float'),
      0x47,
      f64,
      str('py2'),
      0x55,
      3,
      'abc',
      str('py2long'),
      0x54,
      i32(2),
      '\xe9t',
      str('bytes'),
      0x43,
      2,
      0x01,
      0xff,
      str('list'),
      0x5d,
      0x4b,
      1,
      0x61,
      0x28,
      0x4e,
      0x88,
      0x89,
      0x65, // [1] + APPEND, MARK NONE TRUE FALSE APPENDS
      str('tuple3'),
      0x4b,
      1,
      0x4b,
      2,
      0x4b,
      3,
      0x87,
      str('dict'),
      0x28,
      str('k'),
      0x4b,
      9,
      0x64, // DICT from MARK
      str('list2'),
      0x28,
      0x4b,
      4,
      0x4b,
      5,
      0x6c, // LIST from MARK
      str('dup'),
      0x4b,
      1,
      0x32,
      0x86, // DUP then TUPLE2
      str('popped'),
      0x4b,
      8,
      0x4b,
      99,
      0x30, // POP drops the 99
      0x75, // SETITEMS
      str('self'),
      0x6a,
      i32(7),
      0x73, // LONG_BINGET 7: the dict itself, SETITEM
      0x2e,
    );
    const value = loadTorchObject(
      (() => {
        const path = tempPath('opcodes.pt');
        writeFileSync(path, torchArchive(pickle));
        return path;
      })(),
    ) as Map<string, unknown>;
    assert.equal(value.get('self'), value);
    value.delete('self');
    assert.deepEqual(
      value,
      new Map<string, unknown>([
        ['neg', -5],
        ['int2', 0x1234],
        ['long1', -32768],
        ['long4', 2n ** 64n],
        ['float', -1.25],
        ['py2', 'abc'],
        ['py2long', 'ét'],
        ['bytes', new Uint8Array([1, 255])],
        ['list', [1, null, true, false]],
        ['tuple3', [1, 2, 3]],
        ['dict', new Map([['k', 9]])],
        ['list2', [4, 5]],
        ['dup', [1, 1]],
        ['popped', 8],
      ]),
    );
  });

  it('builds tensors from storage, offset, size and stride', () => {
    const storage = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer);
    const load = (layout: Parameters<typeof tensorPickle>[0], data = storage): Tensor =>
      loadTorchObject(
        (() => {
          const path = tempPath('layout.pt');
          writeFileSync(path, torchArchive(tensorPickle(layout), { 0: data }));
          return path;
        })(),
      ) as Tensor;
    assert.deepEqual(load({ numel: 8, size: [2, 4], stride: [4, 1] }).toArray(), [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    assert.deepEqual(load({ numel: 8, size: [4, 2], stride: [1, 4] }).toArray(), [
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    assert.deepEqual(load({ numel: 8, offset: 1, size: [2, 2], stride: [3, 2] }).toArray(), [
      [1, 3],
      [4, 6],
    ]);
    assert.deepEqual(load({ numel: 8, offset: 5, size: [3], stride: [0] }).toArray(), [5, 5, 5]);
    assert.deepEqual(load({ numel: 8, offset: 7, size: [], stride: [] }).toArray(), 7);
    assert.deepEqual(load({ numel: 0, size: [0, 4], stride: [4, 1] }, new Uint8Array(0)).shape, [0, 4]);
    const half = new Uint8Array(words(16, [0x3c00, 0xc000]));
    const h = load({ numel: 2, size: [2], stride: [1], type: 'HalfStorage' }, half);
    assert.equal(h.dtype, 'float16');
    assert.deepEqual(bytesOf(h), half);
    throwsTorch(
      () => load({ numel: 8, offset: 2, size: [7], stride: [1] }),
      /reaches element 8 of storage 0, which holds 8/,
    );
    throwsTorch(() => load({ numel: 8, size: [3, 3], stride: [3, 1] }), /reaches element 8/);
    throwsTorch(
      () => load({ numel: 8, size: [2], stride: [1] }, storage.subarray(0, 16)),
      /holds 16 bytes, but 8 float32 elements need 32/,
    );
    throwsTorch(
      () => load({ numel: 8, size: [2], stride: [1], type: 'ComplexFloatStorage' }),
      /Python global torch\.ComplexFloatStorage/,
    );
    throwsTorch(
      () => loadTorchBuffer(torchArchive(tensorPickle({ numel: 2, size: [2], stride: [1] }))),
      /storage archive\/data\/0 is missing/,
    );
  });

  it('refuses Python globals it does not know, naming them, and never runs them', () => {
    const evil = P(0x80, 2, 'cos\nsystem\n', 0x28, str('touch /tmp/pdenet-pwned'), 0x74, 0x52, 0x2e);
    throwsTorch(() => loadTorchBuffer(torchArchive(evil)), /Python global os\.system, which pdenet does not load/);
    const module = P(0x80, 2, 'ctorch.nn.modules.linear\nLinear\n', 0x29, 0x81, 0x2e);
    throwsTorch(() => loadTorchBuffer(torchArchive(module)), /Python global torch\.nn\.modules\.linear\.Linear/);
    const newobj = P(0x80, 2, 'ccollections\nOrderedDict\n', 0x29, 0x81, 0x2e);
    throwsTorch(() => loadTorchBuffer(torchArchive(newobj)), /opcode NEWOBJ is not supported/);
  });

  it('rejects files that are not torch.save archives, and corrupt ones, with clear errors', () => {
    const good = new Uint8Array(readFileSync(join(fixtures, 'torch_state_dict.pt')));
    throwsTorch(() => loadTorchBuffer(new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc])), /legacy format/);
    throwsTorch(() => loadTorchBuffer(new Uint8Array(Buffer.from('hello world'))), /not a zip archive/);
    throwsTorch(() => loadTorchBuffer(new Uint8Array(0)), /not a zip archive/);
    throwsTorch(() => loadTorchBuffer(saveSafetensorsBuffer({ a: tensor(1) })), /not a zip archive/);
    throwsTorch(() => loadTorch(join(work, 'missing.pt')), /cannot open .*missing\.pt/);
    throwsTorch(() => loadTorchBuffer(storedZip([['a/b.txt', new Uint8Array(1)]])), /no <name>\/data\.pkl/);
    throwsTorch(
      () =>
        loadTorchBuffer(
          storedZip([
            ['m/data.pkl', P(0x80, 2, 0x4e, 0x2e)],
            ['m/constants.pkl', new Uint8Array(0)],
          ]),
        ),
      /TorchScript archive/,
    );
    throwsTorch(() => loadTorchBuffer(torchArchive(P(0x80, 2, 0x4e, 0x2e))), /it holds None/);
    // the central directory's method and size fields: compressed, or stored with sizes that disagree
    const zip = storedZip([['m/data.pkl', P(0x80, 2, 0x4e, 0x2e)]]);
    const central = Buffer.from(zip).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    const deflated = zip.slice();
    new DataView(deflated.buffer).setUint16(central + 10, 8, true);
    throwsTorch(() => loadTorchBuffer(deflated), /m\/data\.pkl is compressed \(method 8\)/);
    const sizes = zip.slice();
    new DataView(sizes.buffer).setUint32(central + 20, 99, true);
    throwsTorch(
      () => loadTorchBuffer(sizes),
      /m\/data\.pkl is stored \(method 0\) but its sizes disagree: 99 bytes in the archive, 4 uncompressed/,
    );
    // a byte of a storage flipped: the CRC catches it
    const flipped = good.slice();
    const source = bufferSource(good, 'test');
    const entry = readZipDirectory(source, 'test').get('torch_state_dict/data/0')!;
    const header = Buffer.from(good.subarray(entry.headerOffset, entry.headerOffset + 30));
    const at = entry.headerOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    flipped[at] = flipped[at]! ^ 1;
    throwsTorch(() => loadTorchBuffer(flipped), /torch_state_dict\/data\/0 is corrupt \(its CRC-32 does not match\)/);
    // pickles cut short or holding unknown opcodes
    const pickle = readZipEntry(source, readZipDirectory(source, 'test').get('torch_state_dict/data.pkl')!, 'test');
    throwsTorch(() => loadTorchBuffer(torchArchive(pickle.subarray(0, 500))), /truncated/);
    throwsTorch(() => loadTorchBuffer(torchArchive(P(0x80, 2, 0xff))), /unknown pickle opcode 0xff/);
    throwsTorch(() => loadTorchBuffer(torchArchive(P(0x80, 2, 0x49, '1\n', 0x2e))), /opcode INT is not supported/);
    throwsTorch(() => loadTorchBuffer(torchArchive(P(0x80, 2, 0x68, 5, 0x2e))), /memo entry 5 was never stored/);
    throwsTorch(() => loadTorchBuffer(torchArchive(P(0x80, 2, 0x30, 0x2e))), /stack is empty/);
  });

  it('gives a TorchError, never a crash, for truncated or randomly corrupted files', () => {
    const good = new Uint8Array(readFileSync(join(fixtures, 'torch_state_dict.pt')));
    for (let cut = 0; cut < good.length; cut += 97) throwsTorch(() => loadTorchBuffer(good.subarray(0, cut)));
    const path = tempPath('cut.pt');
    writeFileSync(path, good.subarray(0, good.length - 10));
    throwsTorch(() => loadTorch(path), /not a readable zip archive/);

    // corrupt the pickle itself (with a valid CRC, so that the pickle machine is what meets the damage)
    const source = bufferSource(good, 'test');
    const entries = readZipDirectory(source, 'test');
    const files = [...entries.values()].map((e) => [e.name, readZipEntry(source, e, 'test')] as [string, Uint8Array]);
    const random = prng(42);
    const before = memory().liveTensors;
    for (let trial = 0; trial < 300; trial++) {
      const mutated = files.map(([name, data]) => {
        if (!name.endsWith('data.pkl')) return [name, data] as [string, Uint8Array];
        const bad = data.slice();
        for (let k = 1 + random(3); k > 0; k--) bad[random(bad.length)] = random(256);
        return [name, bad] as [string, Uint8Array];
      });
      loadsOrThrowsTorch(() =>
        loadTorchObject(
          (() => {
            const p = tempPath('fuzz.pt');
            writeFileSync(p, storedZip(mutated));
            return p;
          })(),
        ),
      );
    }
    assert.ok(memory().liveTensors <= before, 'failed loads release their tensors');
  });

  it('reads a ZIP64 extra field only within the extra fields: one cut short is a TorchError', () => {
    const zip = Buffer.from(storedZip([['m/data.pkl', P(0x80, 2, 0x4e, 0x2e)]], { zip64: true }));
    const directory = (bytes: Uint8Array) => readZipDirectory(bufferSource(bytes, 'test.pt'), 'test');
    const { name, size, headerOffset } = directory(zip).get('m/data.pkl')!;
    assert.deepEqual({ name, size, headerOffset }, { name: 'm/data.pkl', size: 4, headerOffset: 0 });
    const central = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    const record = zip.indexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]));
    // the extra fields hold 12 bytes, but the ZIP64 field in them claims 24: within the directory
    const short = Buffer.from(zip);
    short.writeUInt16LE(12, central + 30);
    throwsTorch(() => directory(short), /the ZIP64 field of m\/data\.pkl is too short/);
    // and at the end of the directory, where reading on would run past its bytes
    const atEnd = Buffer.from(short);
    atEnd.writeBigUInt64LE(atEnd.readBigUInt64LE(record + 40) - 16n, record + 40);
    throwsTorch(() => directory(atEnd), /the ZIP64 field of m\/data\.pkl is too short/);
  });

  it('reads ZIP64 archives', () => {
    const storage = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const bytes = torchArchive(tensorPickle({ numel: 3, size: [3], stride: [1] }), { 0: storage }, { zip64: true });
    const path = tempPath('zip64.pt');
    writeFileSync(path, bytes);
    assert.deepEqual((loadTorchObject(path) as Tensor).toArray(), [1, 2, 3]);
  });

  it('frees what it loads: no tensors are left behind', () => {
    const tensors = everyDtype();
    const bytes = saveSafetensorsBuffer(tensors);
    dispose(tensors);
    const before = memory().liveTensors;
    dispose(loadTorch(join(fixtures, 'torch_state_dict.pt')));
    dispose(loadSafetensorsBuffer(bytes).tensors);
    dispose(loadTorchObject(join(fixtures, 'torch_protocol4.pt')));
    assert.ok(memory().liveTensors <= before);
  });
});

// ---- state dict checks -------------------------------------------------------------------------

describe('checkStateDict', () => {
  const expected = new Map([
    ['conv.weight', { shape: [2, 1, 3, 3], dtype: 'float32' as DType }],
    ['conv.bias', { shape: [2], dtype: 'float32' as DType }],
    ['bn.num_batches_tracked', { shape: [], dtype: 'int64' as DType }],
  ]);

  it('accepts a state dict that fits, reporting dtype changes', () => {
    const given = new Map([
      ['conv.weight', tensor(new Float32Array(18), { shape: [2, 1, 3, 3] })],
      ['conv.bias', tensor(new Float64Array(2))],
      ['bn.num_batches_tracked', tensor(7n)],
    ]);
    const report = checkStateDict(expected, given);
    assert.deepEqual(report, {
      missing: [],
      unexpected: [],
      shapeMismatches: [],
      dtypeChanges: [{ name: 'conv.bias', expected: 'float32', given: 'float64' }],
    });
  });

  it('lists missing keys, unexpected keys and shape mismatches with both shapes', () => {
    const given = new Map([
      ['conv.weight', tensor(new Float32Array(18), { shape: [2, 9] })],
      ['head.weight', tensor(1)],
      ['head.bias', tensor(1)],
    ]);
    throwsTorch(
      () => checkStateDict(expected, given),
      new RegExp(
        [
          'missing keys \\(2\\): conv\\.bias, bn\\.num_batches_tracked',
          'unexpected keys \\(2\\): head\\.weight, head\\.bias',
          'shape mismatches \\(1\\): conv\\.weight: model \\[2, 1, 3, 3\\], file \\[2, 9\\]',
        ].join('\n  '),
      ),
    );
    // not strict: missing and unexpected keys are reported, but a shape mismatch is still an error
    assert.throws(
      () => checkStateDict(expected, given, { strict: false }),
      (e: Error) =>
        e instanceof TorchError && /shape mismatches \(1\)/.test(e.message) && !/missing|unexpected/.test(e.message),
    );
    const fits = new Map([
      ['conv.weight', tensor(new Float32Array(18), { shape: [2, 1, 3, 3] })],
      ['extra', tensor(1)],
    ]);
    const report = checkStateDict(expected, fits, { strict: false });
    assert.deepEqual(report.missing, ['conv.bias', 'bn.num_batches_tracked']);
    assert.deepEqual(report.unexpected, ['extra']);
    assert.deepEqual(report.shapeMismatches, []);
  });

  it('fits the PyTorch fixture to a model of the same layout', () => {
    const state = loadTorch(join(fixtures, 'torch_state_dict.pt'));
    const model = new Map(
      [...state].filter(([k]) => !k.startsWith('extra.')).map(([k, t]) => [k, { shape: t.shape, dtype: t.dtype }]),
    );
    const report = checkStateDict(model, state, { strict: false });
    assert.equal(report.unexpected.length, 14);
    assert.deepEqual(report.missing, []);
    dispose(state);
  });
});

assert.ok(existsSync(fixtures), 'the fixtures folder is found from dist/test');
