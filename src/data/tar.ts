/**
 * Reading and writing (gzipped) tar archives — the container of the CIFAR binary release and of the
 * image-folder archives (`train.tar.gz`).
 *
 * A tar file is a sequence of 512-byte headers, each followed by the entry's bytes padded to 512;
 * node:zlib does the gzip. Read here: POSIX ustar (with its name prefix), GNU long names (type L),
 * pax extended headers (type x, `path=`), regular files and directories; links and devices are
 * skipped. Every header's checksum is verified, so a damaged archive is an error naming it, never a
 * garbled entry. Written here: plain ustar, enough for the synthetic datasets of the tests.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { gunzip, gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { TorchError } from '../tensor/errors.js';

/** One file of an archive. */
export interface TarEntry {
  /** The path inside the archive, with `/` separators and no leading `./`. */
  name: string;
  /** 'file' or 'directory' (other kinds are skipped by the reader). */
  type: 'file' | 'directory';
  /** The bytes (a view into the archive's buffer). */
  data: Uint8Array;
  /** Modification time, seconds since the epoch. */
  mtime: number;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function text(b: Uint8Array, at: number, length: number): string {
  const field = b.subarray(at, at + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

/** An octal number field, or GNU's base-256 form (high bit of the first byte set) for large values. */
function number(b: Uint8Array, at: number, length: number): number {
  if (b[at]! & 0x80) {
    let v = b[at]! & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + b[at + i]!;
    return v;
  }
  const s = text(b, at, length).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function isZeroBlock(b: Uint8Array, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function checksumOk(b: Uint8Array, at: number): boolean {
  const stored = number(b, at + 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 32 : b[at + i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return stored === unsigned || stored === signed;
}

/** The values of a pax extended header ("<length> <key>=<value>\n" records). */
function paxRecords(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(decoder.decode(data.subarray(at, space)), 10);
    if (!(length > 0)) break;
    const record = decoder.decode(data.subarray(space + 1, at + length - 1));
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return out;
}

function cleanName(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

/**
 * The entries of the (uncompressed) tar archive in `bytes`.
 *
 * @param source what the bytes are, for error messages (a path)
 * @throws TorchError when a header's checksum is wrong or an entry runs past the end
 */
export function parseTar(bytes: Uint8Array, source: string, op = 'readTar'): TarEntry[] {
  const entries: TarEntry[] = [];
  let at = 0;
  let longName: string | null = null;
  let paxPath: string | null = null;
  while (at + BLOCK <= bytes.length) {
    if (isZeroBlock(bytes, at)) return entries;
    if (!checksumOk(bytes, at)) {
      throw new TorchError(
        `${source} is not a readable tar archive or is corrupt: the header at byte ${at} fails its checksum`,
        op,
      );
    }
    const size = number(bytes, at + 124, 12);
    const type = String.fromCharCode(bytes[at + 156]!);
    const headerAt = at;
    const start = at + BLOCK;
    if (start + size > bytes.length) {
      throw new TorchError(
        `${source} is truncated: its entry "${text(bytes, at, 100)}" needs ${size} bytes ` +
          `but the archive ends ${bytes.length - start} bytes after its header`,
        op,
      );
    }
    const data = bytes.subarray(start, start + size);
    at = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = text(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      paxPath = paxRecords(data).get('path') ?? null;
      continue;
    }
    if (type === 'g' || type === 'K') continue;
    let name = text(bytes, headerAt, 100);
    if (text(bytes, headerAt + 257, 6) === 'ustar') {
      // POSIX ustar (magic "ustar\0") splits long names into prefix/name; GNU's "ustar  " uses the bytes otherwise
      if (bytes[headerAt + 262] === 0) {
        const prefix = text(bytes, headerAt + 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
    }
    name = cleanName(paxPath ?? longName ?? name);
    longName = null;
    paxPath = null;
    const mtime = number(bytes, headerAt + 136, 12);
    if (type === '0' || type === '\0' || type === '7') entries.push({ name, type: 'file', data, mtime });
    else if (type === '5') entries.push({ name, type: 'directory', data, mtime });
    // links, devices and FIFOs are not data: skipped
  }
  // every tar writer ends the archive with zero blocks; running out of bytes first means truncation
  throw new TorchError(
    `${source} is truncated: it ends at byte ${bytes.length} without the end-of-archive marker` +
      (entries.length ? ` (after the entry "${entries[entries.length - 1]!.name}")` : ''),
    op,
  );
}

/** Decompresses gzip bytes; a damaged or truncated stream is a TorchError naming `source`. */
export async function gunzipBytes(bytes: Uint8Array, source: string, op = 'readTarGz'): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new TorchError(`${source} is not a gzip file (it does not start with the gzip signature)`, op);
  }
  try {
    return await promisify(gunzip)(bytes);
  } catch (e) {
    throw new TorchError(`${source} is truncated or corrupt: gzip says "${(e as Error).message}"`, op);
  }
}

/** The entries of the gzipped tar archive at `path` (read whole into memory). */
export async function readTarGz(path: string, op = 'readTarGz'): Promise<TarEntry[]> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new TorchError(`cannot read ${path}: ${(e as Error).message}`, op);
  }
  return parseTar(await gunzipBytes(bytes, path, op), path, op);
}

function writeField(header: Uint8Array, at: number, length: number, value: string): void {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length > length)
    throw new TorchError(`the tar field "${value}" is longer than ${length} bytes`, 'writeTar');
  header.set(bytes, at);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, '0');
}

/** An uncompressed ustar archive of `entries` (names up to 255 bytes; directories end in "/"). */
export function writeTar(entries: readonly { name: string; data?: Uint8Array; mtime?: number }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const isDir = entry.name.endsWith('/');
    const data = entry.data ?? new Uint8Array(0);
    const header = new Uint8Array(BLOCK);
    let name = entry.name;
    let prefix = '';
    if (new TextEncoder().encode(name).length > 100) {
      const cut = name.lastIndexOf('/', name.length - 2);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    writeField(header, 0, 100, name);
    writeField(header, 100, 8, octal(isDir ? 0o755 : 0o644, 8));
    writeField(header, 108, 8, octal(0, 8));
    writeField(header, 116, 8, octal(0, 8));
    writeField(header, 124, 12, octal(isDir ? 0 : data.length, 12));
    writeField(header, 136, 12, octal(Math.floor(entry.mtime ?? 0), 12));
    header.fill(32, 148, 156);
    header[156] = (isDir ? '5' : '0').charCodeAt(0);
    writeField(header, 257, 6, 'ustar');
    writeField(header, 263, 2, '00');
    writeField(header, 345, 155, prefix);
    let sum = 0;
    for (const v of header) sum += v;
    writeField(header, 148, 8, `${octal(sum, 7)}\0`);
    blocks.push(header);
    if (!isDir && data.length > 0) {
      blocks.push(data);
      const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (pad) blocks.push(new Uint8Array(pad));
    }
  }
  blocks.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** {@link writeTar}, gzipped. */
export function writeTarGz(entries: readonly { name: string; data?: Uint8Array; mtime?: number }[]): Uint8Array {
  return gzipSync(writeTar(entries));
}
