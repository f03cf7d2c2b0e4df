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
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
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

/**
 * Runs the pickle in `data` and returns the value it builds.
 *
 * @param what names the stream in errors, e.g. `model.pt: archive/data.pkl`
 * @param op the operation named in errors
 */
export function unpickle(data: Uint8Array, hooks: UnpickleHooks, what: string, op: string): unknown {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;
  let opcodeAt = 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const fail = (message: string): TorchError => new TorchError(`${what}, byte ${opcodeAt}: ${message}`, op);
  const take = (n: number): Uint8Array => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > data.length) throw fail('the pickle is truncated');
    const out = data.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const u8 = (): number => take(1)[0]!;
  const u16 = (): number => (take(2), view.getUint16(pos - 2, true));
  const u32 = (): number => (take(4), view.getUint32(pos - 4, true));
  const i32 = (): number => (take(4), view.getInt32(pos - 4, true));
  const u64 = (): number => {
    take(8);
    const v = view.getBigUint64(pos - 8, true);
    if (v > BigInt(data.length)) throw fail('the pickle is truncated');
    return Number(v);
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw fail('the pickle is truncated');
    const text = Buffer.from(data.subarray(pos, end)).toString('latin1');
    pos = end + 1;
    return text;
  };
  const text = (n: number): string => {
    try {
      return utf8.decode(take(n));
    } catch (e) {
      if (e instanceof TorchError) throw e;
      throw fail('a string is not valid UTF-8');
    }
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length === marks[marks.length - 1])) {
      throw fail('the stack is empty (corrupt pickle)');
    }
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length === marks[marks.length - 1])) {
      throw fail('the stack is empty (corrupt pickle)');
    }
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const mark = marks.pop();
    if (mark === undefined) throw fail('no MARK to pop to (corrupt pickle)');
    return stack.splice(mark);
  };
  const put = (index: number): void => {
    memo.set(index, top());
  };
  const get = (index: number): void => {
    if (!memo.has(index)) throw fail(`memo entry ${index} was never stored (corrupt pickle)`);
    stack.push(memo.get(index));
  };
  const dictOf = (target: unknown): Map<unknown, unknown> => {
    if (!(target instanceof Map)) throw fail('SETITEM on something that is not a dict');
    return target;
  };
  const listOf = (target: unknown): unknown[] => {
    if (!Array.isArray(target)) throw fail('APPEND on something that is not a list');
    return target;
  };
  const global = (module: string, name: string): void => {
    stack.push(hooks.findGlobal(module, name));
  };

  for (;;) {
    opcodeAt = pos;
    const code = u8();
    switch (code) {
      case 0x80: { // PROTO
        const protocol = u8();
        if (protocol > 5) throw fail(`pickle protocol ${protocol} is newer than 5`);
        break;
      }
      case 0x95: u64(); break; // FRAME: a length hint; the frame's opcodes follow inline
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length > 0) throw fail('STOP with a malformed stack (corrupt pickle)');
        return stack[0];
      }
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP

      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(integer(longFromBytes(take(u8())))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) throw fail('negative LONG4 length');
        stack.push(integer(longFromBytes(take(n))));
        break;
      }
      case 0x47: take(8); stack.push(view.getFloat64(pos - 8, false)); break; // BINFLOAT (big-endian)

      case 0x58: stack.push(text(u32())); break; // BINUNICODE
      case 0x8c: stack.push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(text(u64())); break; // BINUNICODE8
      // Python 2 str: Python 3 reads it as ASCII text, torch.load as latin-1; latin-1 keeps every byte.
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) throw fail('negative BINSTRING length');
        stack.push(Buffer.from(take(n)).toString('latin1'));
        break;
      }
      case 0x55: stack.push(Buffer.from(take(u8())).toString('latin1')); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8

      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { // APPEND
        const value = pop();
        listOf(top()).push(value);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        listOf(top()).push(...items);
        break;
      }
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const items = popMark();
        const dict = new Map<unknown, unknown>();
        for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
        stack.push(dict);
        break;
      }
      case 0x73: { // SETITEM
        const value = pop();
        const key = pop();
        dictOf(top()).set(key, value);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) throw fail('SETITEMS with an odd number of items (corrupt pickle)');
        const dict = dictOf(top());
        for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
        break;
      }

      case 0x71: put(u8()); break; // BINPUT
      case 0x72: put(u32()); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x68: get(u8()); break; // BINGET
      case 0x6a: get(u32()); break; // LONG_BINGET

      case 0x63: { // GLOBAL: "module\nname\n"
        const module = line();
        global(module, line());
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings');
        global(module, name);
        break;
      }
      case 0x52: { // REDUCE: callable(*args)
        const args = pop();
        const callable = pop();
        if (typeof callable !== 'function') throw fail('REDUCE on something that is not callable');
        if (!Array.isArray(args)) throw fail('REDUCE with arguments that are not a tuple');
        stack.push((callable as (...a: unknown[]) => unknown)(...args));
        break;
      }
      case 0x62: { // BUILD: obj.__setstate__(state)
        const state = pop();
        if (hooks.build === undefined) throw fail('BUILD (setting the state of an object) is not supported');
        hooks.build(top(), state);
        break;
      }
      case 0x51: stack.push(hooks.persistentLoad(pop())); break; // BINPERSID

      default: {
        const name = NAMES[code];
        throw fail(name === undefined
          ? `unknown pickle opcode 0x${code.toString(16).padStart(2, '0')} (not a pickle, or a corrupt one)`
          : `the pickle opcode ${name} is not supported (torch.save does not write it)`);
      }
    }
  }
}
