/**
 * Random-access reading of a file or an in-memory buffer, with clear errors for short reads. The
 * readers of weight files (safetensors, the torch.save zip) read through this, so a file is read in
 * the pieces they need rather than all at once.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { TorchError } from '../tensor/errors.js';

/** Bytes that can be read at any offset. */
export interface ByteSource {
  /** What the bytes are, for error messages: a path or "the buffer". */
  readonly name: string;
  /** The number of bytes. */
  readonly size: number;
  /** `length` bytes from `offset`; a TorchError if they run past the end. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

function checkRange(source: ByteSource, offset: number, length: number, op: string): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > source.size
  ) {
    throw new TorchError(
      `${source.name} is truncated or corrupt: bytes ${offset}..${offset + length} ` +
        `were asked for but it holds ${source.size} bytes`,
      op,
    );
  }
}

/** A source over bytes in memory (not copied). */
export function bufferSource(bytes: Uint8Array, op: string): ByteSource {
  const source: ByteSource = {
    name: 'the buffer',
    size: bytes.byteLength,
    read(offset, length) {
      checkRange(source, offset, length, op);
      return bytes.subarray(offset, offset + length);
    },
    close() {},
  };
  return source;
}

/** A source over a file, read with positioned reads; close it when done. */
export function fileSource(path: string, op: string): ByteSource {
  let fd: number;
  let size: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new TorchError(`cannot open ${path}: ${(e as Error).message}`, op);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new TorchError(`${path} is not a regular file`, op);
    size = stat.size;
  } catch (e) {
    closeSync(fd);
    throw e instanceof TorchError ? e : new TorchError(`cannot read ${path}: ${(e as Error).message}`, op);
  }
  let open = true;
  const source: ByteSource = {
    name: path,
    size,
    read(offset, length) {
      checkRange(source, offset, length, op);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new TorchError(`${path} ended early (was it changed while being read?)`, op);
        done += n;
      }
      return out;
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
  return source;
}

/** Runs `fn` on a source and closes it afterwards. */
export function withSource<T>(source: ByteSource, fn: (source: ByteSource) => T): T {
  try {
    return fn(source);
  } finally {
    source.close();
  }
}
