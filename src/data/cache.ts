/**
 * The decoded cache: a dataset's decoded pixels, labels and class names in one file, so that the
 * second load of an image folder reads 150 MB instead of decoding 50,000 JPEGs.
 *
 * Layout (little-endian):
 *
 * ```
 * 0   "PDNETIMG"              magic, 8 bytes
 * 8   u32 format version      (CACHE_VERSION; another version is a stale cache, rebuilt)
 * 12  u32 header length L
 * 16  L bytes of JSON         { n, height, width, channels, classes, fingerprint, source,
 *                               labelsOffset, imagesOffset, labelsCrc32, imagesCrc32, fileSize }
 * …   zero padding to 64
 * labelsOffset  n × int32     labels
 * imagesOffset  n·H·W·C bytes images (HWC each)
 * ```
 *
 * The fingerprint describes the source (file names, sizes and modification times; the decoder and
 * resize options), so a changed source invalidates the cache. The CRC-32 of both arrays is checked on
 * every read, so a damaged cache is an error, never wrong pixels. Files are written atomically
 * (temporary file, fsync, rename: `io/atomic.ts`).
 * @module
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { crc32 } from '../io/zip.js';
import { TorchError } from '../tensor/errors.js';
import { ImageDataset } from './dataset.js';

export const CACHE_MAGIC = 'PDNETIMG';
export const CACHE_VERSION = 1;

/** What a cache header records besides the arrays. */
export interface CacheHeader {
  n: number;
  height: number;
  width: number;
  channels: number;
  classes: string[];
  fingerprint: string;
  source: string;
  labelsOffset: number;
  imagesOffset: number;
  labelsCrc32: number;
  imagesCrc32: number;
  fileSize: number;
}

const align = (n: number, to = 64): number => Math.ceil(n / to) * to;

/** Writes `dataset` to `path` atomically with the source's `fingerprint`. */
export function writeDecodedCache(path: string, dataset: ImageDataset, fingerprint: string, source: string): void {
  const labels = new Uint8Array(dataset.labels.buffer, dataset.labels.byteOffset, dataset.labels.byteLength);
  const base = {
    n: dataset.n,
    height: dataset.height,
    width: dataset.width,
    channels: dataset.channels,
    classes: dataset.classes,
    fingerprint,
    source,
    labelsCrc32: crc32(labels),
    imagesCrc32: crc32(dataset.images),
  };
  // offsets depend on the header's length, which depends on the offsets' digits: settle it in two passes
  let header: CacheHeader = { ...base, labelsOffset: 0, imagesOffset: 0, fileSize: 0 };
  for (let pass = 0; pass < 3; pass++) {
    const length = Buffer.byteLength(JSON.stringify(header));
    const labelsOffset = align(16 + length);
    const imagesOffset = align(labelsOffset + labels.byteLength);
    header = { ...base, labelsOffset, imagesOffset, fileSize: imagesOffset + dataset.images.byteLength };
  }
  const json = Buffer.from(JSON.stringify(header));
  if (align(16 + json.length) !== header.labelsOffset) throw new Error('cache header layout did not settle');
  const head = new Uint8Array(header.labelsOffset);
  head.set(Buffer.from(CACHE_MAGIC, 'latin1'), 0);
  const view = new DataView(head.buffer);
  view.setUint32(8, CACHE_VERSION, true);
  view.setUint32(12, json.length, true);
  head.set(json, 16);
  const gap = new Uint8Array(header.imagesOffset - header.labelsOffset - labels.byteLength);
  writeFileAtomic(path, [head, labels, gap, dataset.images], 'writeDecodedCache');
}

/** Why a cache file cannot be used. `stale` caches (another format version) are rebuilt silently. */
export class CacheError extends TorchError {
  readonly stale: boolean;
  constructor(message: string, stale = false) {
    super(message, 'readDecodedCache');
    this.stale = stale;
  }
}

/**
 * Reads a decoded cache. The images are a view into the file's bytes (no copy).
 *
 * @throws CacheError when the file is not a cache, is of another format version (`stale`), is
 *   truncated, or fails its checksums
 */
export function readDecodedCache(path: string): { dataset: ImageDataset; header: CacheHeader } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CacheError(`cannot read the decoded cache ${path}: ${(e as Error).message}`);
  }
  const bad = (why: string): CacheError => new CacheError(`the decoded cache ${path} is unusable: ${why}`);
  if (bytes.length < 16 || bytes.toString('latin1', 0, 8) !== CACHE_MAGIC)
    throw bad('it is not a pdenet decoded cache');
  const version = bytes.readUInt32LE(8);
  if (version !== CACHE_VERSION) {
    throw new CacheError(
      `the decoded cache ${path} has format version ${version}, this pdenet writes ${CACHE_VERSION}`,
      true,
    );
  }
  const length = bytes.readUInt32LE(12);
  if (16 + length > bytes.length) throw bad(`truncated (${bytes.length} bytes, its header alone needs ${16 + length})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8', 16, 16 + length));
  } catch (e) {
    throw bad(`its header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw bad(
      `its header is ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`}, not an object`,
    );
  const header = parsed as CacheHeader;
  const { n, height, width, channels, labelsOffset, imagesOffset, fileSize } = header;
  const imageBytes = n * height * width * channels;
  if (
    ![n, height, width, channels, labelsOffset, imagesOffset, fileSize].every(Number.isSafeInteger) ||
    !Array.isArray(header.classes) ||
    labelsOffset % 4 !== 0 ||
    labelsOffset + 4 * n > imagesOffset ||
    imagesOffset + imageBytes !== fileSize
  ) {
    throw bad('its header is inconsistent');
  }
  if (bytes.length !== fileSize) throw bad(`truncated or extended: ${bytes.length} bytes, its header says ${fileSize}`);
  const labelBytes = bytes.subarray(labelsOffset, labelsOffset + 4 * n);
  const images = new Uint8Array(bytes.buffer, bytes.byteOffset + imagesOffset, imageBytes);
  if (crc32(labelBytes) !== header.labelsCrc32 || crc32(images) !== header.imagesCrc32) {
    throw bad('its contents fail their checksum (the file is damaged)');
  }
  const labels = new Int32Array(n);
  new Uint8Array(labels.buffer).set(labelBytes);
  try {
    return { dataset: new ImageDataset({ images, labels, height, width, channels, classes: header.classes }), header };
  } catch (e) {
    throw bad((e as Error).message);
  }
}
