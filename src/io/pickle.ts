/**
 * A small pickle virtual machine: the opcodes `torch.save` uses (protocol 2, and the framing and
 * memo opcodes of protocols 4 and 5), with no code execution. What a Python global (a class or a
 * function named in the stream) means is decided by the caller's `findGlobal`; anything it does not
 * know is an error naming it, so an untrusted file can never make this reader call arbitrary code.
 *
 * Python values become: None → null, bool → boolean, int → number (bigint beyond 2^53), float →
 * number, str → string, bytes → Uint8Array, list and tuple → Array, dict → Map.
 * @module
 */
import { TorchError } from '../tensor/errors.js';

/** How the values of a pickle that go beyond plain data are made. */
export interface UnpickleHooks {
  /**
   * The value of the Python global `module.name` (GLOBAL, STACK_GLOBAL): a JavaScript function when
   * the stream calls it (REDUCE), any value otherwise. Throw for globals that are not allowed.
   */
  findGlobal(module: string, name: string): unknown;
  /** The object a persistent id (BINPERSID) stands for. */
  persistentLoad(pid: unknown): unknown;
  /** Applies `state` to `target` (BUILD); the default refuses. */
  build?(target: unknown, state: unknown): void;
}

/** Opcode names, for error messages. */
const NAMES: Record<number, string> = {
  0x28: 'MARK',
  0x2e: 'STOP',
  0x30: 'POP',
  0x31: 'POP_MARK',
  0x32: 'DUP',
  0x46: 'FLOAT',
  0x49: 'INT',
  0x4a: 'BININT',
  0x4b: 'BININT1',
  0x4c: 'LONG',
  0x4d: 'BININT2',
  0x4e: 'NONE',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x52: 'REDUCE',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x58: 'BINUNICODE',
  0x61: 'APPEND',
  0x62: 'BUILD',
  0x63: 'GLOBAL',
  0x64: 'DICT',
  0x7d: 'EMPTY_DICT',
  0x65: 'APPENDS',
  0x67: 'GET',
  0x68: 'BINGET',
  0x69: 'INST',
  0x6a: 'LONG_BINGET',
  0x6c: 'LIST',
  0x5d: 'EMPTY_LIST',
  0x6f: 'OBJ',
  0x70: 'PUT',
  0x71: 'BINPUT',
  0x72: 'LONG_BINPUT',
  0x73: 'SETITEM',
  0x74: 'TUPLE',
  0x29: 'EMPTY_TUPLE',
  0x75: 'SETITEMS',
  0x47: 'BINFLOAT',
  0x80: 'PROTO',
  0x81: 'NEWOBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x85: 'TUPLE1',
  0x86: 'TUPLE2',
  0x87: 'TUPLE3',
  0x88: 'NEWTRUE',
  0x89: 'NEWFALSE',
  0x8a: 'LONG1',
  0x8b: 'LONG4',
  0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE',
  0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL',
  0x94: 'MEMOIZE',
  0x95: 'FRAME',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/** A Python integer as a number when it fits exactly, else as a bigint. */
function integer(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A two's-complement little-endian integer of any length (LONG1, LONG4). */
function longFromBytes(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes.length > 0 && bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return v;
}

/** The state of one run of the pickle machine: the stream being read, the stack, its marks and the memo. */
class Machine {
  pos = 0;
  opcodeAt = 0;
  readonly stack: unknown[] = [];
  readonly marks: number[] = [];
  readonly memo = new Map<number, unknown>();
  /** Set by STOP: the value the pickle built. */
  result: { value: unknown } | undefined;
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(
    readonly data: Uint8Array,
    readonly hooks: UnpickleHooks,
    readonly what: string,
    readonly op: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  fail(message: string): TorchError {
    return new TorchError(`${this.what}, byte ${this.opcodeAt}: ${message}`, this.op);
  }

  // Reading the stream.

  take(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.data.length)
      throw this.fail('the pickle is truncated');
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(): number {
    return this.take(1)[0]!;
  }

  u16(): number {
    this.take(2);
    return this.view.getUint16(this.pos - 2, true);
  }

  u32(): number {
    this.take(4);
    return this.view.getUint32(this.pos - 4, true);
  }

  i32(): number {
    this.take(4);
    return this.view.getInt32(this.pos - 4, true);
  }

  /** An 8-byte length, which cannot exceed the stream. */
  u64(): number {
    this.take(8);
    const v = this.view.getBigUint64(this.pos - 8, true);
    if (v > BigInt(this.data.length)) throw this.fail('the pickle is truncated');
    return Number(v);
  }

  /** A big-endian double (BINFLOAT). */
  f64(): number {
    this.take(8);
    return this.view.getFloat64(this.pos - 8, false);
  }

  /** A newline-terminated line, as latin-1. */
  line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) throw this.fail('the pickle is truncated');
    const text = Buffer.from(this.data.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return text;
  }

  /** `n` bytes of UTF-8 text. */
  text(n: number): string {
    try {
      return this.utf8.decode(this.take(n));
    } catch (e) {
      if (e instanceof TorchError) throw e;
      throw this.fail('a string is not valid UTF-8');
    }
  }

  /** A length read by `read` that must not be negative; `opcode` names it in the error. */
  length(read: () => number, opcode: string): number {
    const n = read();
    if (n < 0) throw this.fail(`negative ${opcode} length`);
    return n;
  }

  // The stack.

  push(value: unknown): void {
    this.stack.push(value);
  }

  private checkNotEmpty(): void {
    const { stack, marks } = this;
    if (stack.length === 0 || (marks.length > 0 && stack.length === marks[marks.length - 1])) {
      throw this.fail('the stack is empty (corrupt pickle)');
    }
  }

  pop(): unknown {
    this.checkNotEmpty();
    return this.stack.pop();
  }

  top(): unknown {
    this.checkNotEmpty();
    return this.stack[this.stack.length - 1];
  }

  mark(): void {
    this.marks.push(this.stack.length);
  }

  /** The items above the last MARK, removed with it. */
  popMark(): unknown[] {
    const mark = this.marks.pop();
    if (mark === undefined) throw this.fail('no MARK to pop to (corrupt pickle)');
    return this.stack.splice(mark);
  }

  // The memo.

  put(index: number): void {
    this.memo.set(index, this.top());
  }

  get(index: number): void {
    if (!this.memo.has(index)) throw this.fail(`memo entry ${index} was never stored (corrupt pickle)`);
    this.stack.push(this.memo.get(index));
  }

  // Containers.

  dictOf(target: unknown): Map<unknown, unknown> {
    if (!(target instanceof Map)) throw this.fail('SETITEM on something that is not a dict');
    return target;
  }

  listOf(target: unknown): unknown[] {
    if (!Array.isArray(target)) throw this.fail('APPEND on something that is not a list');
    return target;
  }
}

/** What one opcode does, its argument (if any) read from the stream. */
type Handler = (m: Machine) => void;

/** Framing and the stack itself. */
const CONTROL: Record<number, Handler> = {
  0x80: (m) => {
    // PROTO
    const protocol = m.u8();
    if (protocol > 5) throw m.fail(`pickle protocol ${protocol} is newer than 5`);
  },
  0x95: (m) => void m.u64(), // FRAME: a length hint; the frame's opcodes follow inline
  0x2e: (m) => {
    // STOP
    if (m.stack.length !== 1 || m.marks.length > 0) throw m.fail('STOP with a malformed stack (corrupt pickle)');
    m.result = { value: m.stack[0] };
  },
  0x28: (m) => m.mark(), // MARK
  0x30: (m) => void m.pop(), // POP
  0x31: (m) => void m.popMark(), // POP_MARK
  0x32: (m) => m.push(m.top()), // DUP
};

/** None, booleans, integers and floats. */
const NUMBERS: Record<number, Handler> = {
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
  0x4a: (m) => m.push(m.i32()), // BININT
  0x4b: (m) => m.push(m.u8()), // BININT1
  0x4d: (m) => m.push(m.u16()), // BININT2
  0x8a: (m) => m.push(integer(longFromBytes(m.take(m.u8())))), // LONG1
  0x8b: (m) => m.push(integer(longFromBytes(m.take(m.length(() => m.i32(), 'LONG4'))))), // LONG4
  0x47: (m) => m.push(m.f64()), // BINFLOAT (big-endian)
};

/** Strings and bytes. Python 2 str: Python 3 reads it as ASCII text, torch.load as latin-1; latin-1 keeps every byte. */
const STRINGS: Record<number, Handler> = {
  0x58: (m) => m.push(m.text(m.u32())), // BINUNICODE
  0x8c: (m) => m.push(m.text(m.u8())), // SHORT_BINUNICODE
  0x8d: (m) => m.push(m.text(m.u64())), // BINUNICODE8
  0x54: (m) => m.push(Buffer.from(m.take(m.length(() => m.i32(), 'BINSTRING'))).toString('latin1')), // BINSTRING
  0x55: (m) => m.push(Buffer.from(m.take(m.u8())).toString('latin1')), // SHORT_BINSTRING
  0x42: (m) => m.push(m.take(m.u32()).slice()), // BINBYTES
  0x43: (m) => m.push(m.take(m.u8()).slice()), // SHORT_BINBYTES
  0x8e: (m) => m.push(m.take(m.u64()).slice()), // BINBYTES8
};

/** Lists and tuples (both become arrays). */
const SEQUENCES: Record<number, Handler> = {
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x6c: (m) => m.push(m.popMark()), // LIST
  0x61: (m) => {
    // APPEND
    const value = m.pop();
    m.listOf(m.top()).push(value);
  },
  0x65: (m) => {
    // APPENDS
    const items = m.popMark();
    m.listOf(m.top()).push(...items);
  },
  0x29: (m) => m.push([]), // EMPTY_TUPLE
  0x74: (m) => m.push(m.popMark()), // TUPLE
  0x85: (m) => m.push([m.pop()]), // TUPLE1
  0x86: (m) => {
    // TUPLE2
    const b = m.pop();
    m.push([m.pop(), b]);
  },
  0x87: (m) => {
    // TUPLE3
    const c = m.pop();
    const b = m.pop();
    m.push([m.pop(), b, c]);
  },
};

/** Dicts (they become Maps). */
const DICTS: Record<number, Handler> = {
  0x7d: (m) => m.push(new Map()), // EMPTY_DICT
  0x64: (m) => {
    // DICT
    const items = m.popMark();
    const dict = new Map<unknown, unknown>();
    for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
    m.push(dict);
  },
  0x73: (m) => {
    // SETITEM
    const value = m.pop();
    const key = m.pop();
    m.dictOf(m.top()).set(key, value);
  },
  0x75: (m) => {
    // SETITEMS
    const items = m.popMark();
    if (items.length % 2 !== 0) throw m.fail('SETITEMS with an odd number of items (corrupt pickle)');
    const dict = m.dictOf(m.top());
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  },
};

/** The memo: values stored by index to be shared. */
const MEMO: Record<number, Handler> = {
  0x71: (m) => m.put(m.u8()), // BINPUT
  0x72: (m) => m.put(m.u32()), // LONG_BINPUT
  0x94: (m) => m.put(m.memo.size), // MEMOIZE
  0x68: (m) => m.get(m.u8()), // BINGET
  0x6a: (m) => m.get(m.u32()), // LONG_BINGET
};

/** Objects: globals, calls, state and persistent ids, all through the caller's hooks. */
const OBJECTS: Record<number, Handler> = {
  0x63: (m) => {
    // GLOBAL: "module\nname\n"
    const module = m.line();
    m.push(m.hooks.findGlobal(module, m.line()));
  },
  0x93: (m) => {
    // STACK_GLOBAL
    const name = m.pop();
    const module = m.pop();
    if (typeof module !== 'string' || typeof name !== 'string') throw m.fail('STACK_GLOBAL needs two strings');
    m.push(m.hooks.findGlobal(module, name));
  },
  0x52: (m) => {
    // REDUCE: callable(*args)
    const args = m.pop();
    const callable = m.pop();
    if (typeof callable !== 'function') throw m.fail('REDUCE on something that is not callable');
    if (!Array.isArray(args)) throw m.fail('REDUCE with arguments that are not a tuple');
    m.push((callable as (...a: unknown[]) => unknown)(...args));
  },
  0x62: (m) => {
    // BUILD: obj.__setstate__(state)
    const state = m.pop();
    if (m.hooks.build === undefined) throw m.fail('BUILD (setting the state of an object) is not supported');
    m.hooks.build(m.top(), state);
  },
  0x51: (m) => m.push(m.hooks.persistentLoad(m.pop())), // BINPERSID
};

/** The opcodes this reader runs, by code. */
const HANDLERS: ReadonlyMap<number, Handler> = new Map(
  [CONTROL, NUMBERS, STRINGS, SEQUENCES, DICTS, MEMO, OBJECTS].flatMap((family) =>
    Object.entries(family).map(([code, handler]) => [Number(code), handler] as const),
  ),
);

/** The error for an opcode this reader does not run. */
function unsupported(m: Machine, code: number): TorchError {
  const name = NAMES[code];
  return m.fail(
    name === undefined
      ? `unknown pickle opcode 0x${code.toString(16).padStart(2, '0')} (not a pickle, or a corrupt one)`
      : `the pickle opcode ${name} is not supported (torch.save does not write it)`,
  );
}

/**
 * Runs the pickle in `data` and returns the value it builds.
 *
 * @param what names the stream in errors, e.g. `model.pt: archive/data.pkl`
 * @param op the operation named in errors
 */
export function unpickle(data: Uint8Array, hooks: UnpickleHooks, what: string, op: string): unknown {
  const m = new Machine(data, hooks, what, op);
  while (m.result === undefined) {
    m.opcodeAt = m.pos;
    const code = m.u8();
    const handler = HANDLERS.get(code);
    if (handler === undefined) throw unsupported(m, code);
    handler(m);
  }
  return m.result.value;
}
