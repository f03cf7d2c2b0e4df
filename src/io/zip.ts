/**
 * Reading the zip archives `torch.save` writes: a central directory of stored (uncompressed)
 * entries, ZIP64 for large files. Only what that needs is here: no compression, no encryption, no
 * multi-disk archives. Entries are found through the central directory (torch.save's local headers
 * leave the sizes to data descriptors) and their CRC-32 is checked when read.
 * @module
 */
import * as zlib from 'node:zlib';
import { TorchError } from '../tensor/errors.js';
import type { ByteSource } from './source.js';

/** CRC-32 as zip computes it: zlib's (Node 20.15 and later), else a table-driven one. */
export const crc32: (data: Uint8Array) => number =
  (zlib as { crc32?: (data: Uint8Array) => number }).crc32 ??
  (() => {
    const table = Array.from({ length: 256 }, (_, n) => {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      return c >>> 0;
    });
    return (data: Uint8Array): number => {
      let c = 0xffffffff;
      for (const byte of data) c = table[(c ^ byte) & 0xff]! ^ (c >>> 8);
      return (c ^ 0xffffffff) >>> 0;
    };
  })();

/** One file of an archive. */
export interface ZipEntry {
  name: string;
  /** Where the local header starts. */
  headerOffset: number;
  size: number;
  crc32: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

function u64(view: DataView, at: number, what: string, op: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TorchError(`the zip archive's ${what} ${v} is too large`, op);
  return Number(v);
}

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

type Bad = (what: string) => TorchError;

/** Where the central directory is and how many entries it holds. */
interface DirectoryLocation {
  count: number;
  directorySize: number;
  directoryOffset: number;
}

/** Reads the end-of-central-directory record (and its ZIP64 form, when the archive uses it). */
function findDirectory(source: ByteSource, bad: Bad, op: string): DirectoryLocation {
  // The end-of-central-directory record: 22 bytes, then a comment of up to 65535 bytes.
  const tailLength = Math.min(source.size, 22 + 0xffff);
  const tail = source.read(source.size - tailLength, tailLength);
  const tailView = viewOf(tail);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tailView.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record (truncated?)');
  const count = tailView.getUint16(eocd + 10, true);
  const directorySize = tailView.getUint32(eocd + 12, true);
  const directoryOffset = tailView.getUint32(eocd + 16, true);
  if (count === 0xffff || directorySize === U32_MAX || directoryOffset === U32_MAX) {
    return readZip64Record(source, source.size - tailLength + eocd, bad, op);
  }
  return { count, directorySize, directoryOffset };
}

/** ZIP64: a locator just before the record at `eocdAt` points at the 64-bit end-of-central-directory record. */
function readZip64Record(source: ByteSource, eocdAt: number, bad: Bad, op: string): DirectoryLocation {
  const locatorAt = eocdAt - 20;
  if (locatorAt < 0) throw bad('a ZIP64 archive without its locator');
  const locator = viewOf(source.read(locatorAt, 20));
  if (locator.getUint32(0, true) !== ZIP64_LOCATOR) throw bad('a ZIP64 archive without its locator');
  const record = viewOf(source.read(u64(locator, 8, 'ZIP64 record offset', op), 56));
  if (record.getUint32(0, true) !== ZIP64_EOCD) throw bad('a broken ZIP64 end-of-central-directory record');
  return {
    count: u64(record, 32, 'entry count', op),
    directorySize: u64(record, 40, 'directory size', op),
    directoryOffset: u64(record, 48, 'directory offset', op),
  };
}

/** The sizes and offset of an entry, the 32-bit ones replaced by the ZIP64 extra field where they did not fit. */
interface EntryExtent {
  size: number;
  compressed: number;
  headerOffset: number;
}

/**
 * Applies the ZIP64 extra field among the `length` bytes of extra fields at `start`: it holds, in
 * this order, those of the three values that did not fit in 32 bits. A field that claims more bytes
 * than the extra fields hold is read only up to their end.
 */
function applyZip64Extra(
  view: DataView,
  start: number,
  length: number,
  name: string,
  extent: EntryExtent,
  bad: Bad,
  op: string,
): void {
  const end = start + length;
  for (let e = start; e + 4 <= end; ) {
    const id = view.getUint16(e, true);
    const fieldLength = view.getUint16(e + 2, true);
    if (id === 0x0001) {
      const fieldEnd = Math.min(e + 4 + fieldLength, end);
      let p = e + 4;
      const next = (what: string): number => {
        if (p + 8 > fieldEnd) throw bad(`the ZIP64 field of ${name} is too short`);
        const v = u64(view, p, what, op);
        p += 8;
        return v;
      };
      if (extent.size === U32_MAX) extent.size = next('entry size');
      if (extent.compressed === U32_MAX) extent.compressed = next('entry size');
      if (extent.headerOffset === U32_MAX) extent.headerOffset = next('entry offset');
    }
    e += 4 + fieldLength;
  }
}

/** The central directory entry `i` at `at`, and where the next one starts. */
function readCentralEntry(
  directory: Uint8Array,
  view: DataView,
  at: number,
  i: number,
  bad: Bad,
  op: string,
): { entry: ZipEntry; next: number } {
  if (at + 46 > directory.length || view.getUint32(at, true) !== CENTRAL)
    throw bad(`central directory entry ${i} is broken`);
  const method = view.getUint16(at + 10, true);
  const crc = view.getUint32(at + 16, true);
  const extent: EntryExtent = {
    compressed: view.getUint32(at + 20, true),
    size: view.getUint32(at + 24, true),
    headerOffset: view.getUint32(at + 42, true),
  };
  const nameLength = view.getUint16(at + 28, true);
  const extraLength = view.getUint16(at + 30, true);
  const commentLength = view.getUint16(at + 32, true);
  if (at + 46 + nameLength + extraLength > directory.length) throw bad(`central directory entry ${i} is broken`);
  const name = Buffer.from(directory.subarray(at + 46, at + 46 + nameLength)).toString('utf8');
  applyZip64Extra(view, at + 46 + nameLength, extraLength, name, extent, bad, op);
  if (method !== 0) throw bad(`${name} is compressed (method ${method}); torch.save stores its entries uncompressed`);
  if (extent.compressed !== extent.size) {
    throw bad(
      `${name} is stored (method 0) but its sizes disagree: ${extent.compressed} bytes in the archive, ` +
        `${extent.size} uncompressed; the central directory is corrupt`,
    );
  }
  const entry = { name, headerOffset: extent.headerOffset, size: extent.size, crc32: crc };
  return { entry, next: at + 46 + nameLength + extraLength + commentLength };
}

/** The entries of the zip archive in `source`, by name. */
export function readZipDirectory(source: ByteSource, op: string): Map<string, ZipEntry> {
  const bad = (what: string): TorchError =>
    new TorchError(`${source.name} is not a readable zip archive (what torch.save writes): ${what}`, op);
  const { count, directorySize, directoryOffset } = findDirectory(source, bad, op);
  const directory = source.read(directoryOffset, directorySize);
  const view = viewOf(directory);
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    const { entry, next } = readCentralEntry(directory, view, at, i, bad, op);
    entries.set(entry.name, entry);
    at = next;
  }
  return entries;
}

/** The bytes of one entry, with its CRC-32 checked. */
export function readZipEntry(source: ByteSource, entry: ZipEntry, op: string): Uint8Array {
  const header = viewOf(source.read(entry.headerOffset, 30));
  if (header.getUint32(0, true) !== LOCAL) {
    throw new TorchError(`${source.name}: the zip entry ${entry.name} has no local header (corrupt archive)`, op);
  }
  const start = entry.headerOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  const data = source.read(start, entry.size);
  if (crc32(data) >>> 0 !== entry.crc32) {
    throw new TorchError(`${source.name}: the zip entry ${entry.name} is corrupt (its CRC-32 does not match)`, op);
  }
  return data;
}
