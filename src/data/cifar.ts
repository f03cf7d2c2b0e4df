/**
 * CIFAR-10 and CIFAR-100 in their official binary format (Krizhevsky, "Learning Multiple Layers of
 * Features from Tiny Images", 2009; https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * A binary file is a run of records: the label byte(s) — CIFAR-10 one, CIFAR-100 two (coarse, then
 * fine) — and 3,072 pixel bytes: the red plane, then green, then blue, each 32×32 row-major (CHW).
 * The reader turns them into HWC images, the layout of {@link ImageDataset}.
 *
 * Files: `cifar-10-binary.tar.gz` holds `cifar-10-batches-bin/` with data_batch_1…5.bin (train),
 * test_batch.bin and batches.meta.txt (class names); `cifar-100-binary.tar.gz` holds
 * `cifar-100-binary/` with train.bin, test.bin, fine_label_names.txt and coarse_label_names.txt.
 * They are read from an extracted folder or from the archive itself; `loadCifar` finds them in the
 * data directory, downloading and checking the archive there when missing.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { TorchError } from '../tensor/errors.js';
import { ImageDataset } from './dataset.js';
import { resolveDataDir } from './paths.js';
import { readTarGz, type TarEntry } from './tar.js';

export type CifarName = 'cifar10' | 'cifar100';

/** What a CIFAR release is made of. */
export interface CifarSpec {
  title: string;
  archive: string;
  url: string;
  /** The MD5 published on the CIFAR page. */
  md5: string;
  /** The archive's size in bytes. */
  bytes: number;
  /** The folder the archive unpacks to. */
  folder: string;
  train: string[];
  test: string[];
  /** Label bytes per record (CIFAR-100: coarse, fine). */
  labelBytes: number;
  /** Class-name files: [fine (or only), coarse]. */
  meta: string[];
  classes: number;
}

/** The official releases. MD5s as published on https://www.cs.toronto.edu/~kriz/cifar.html. */
export const CIFAR: Record<CifarName, CifarSpec> = {
  cifar10: {
    title: 'CIFAR-10',
    archive: 'cifar-10-binary.tar.gz',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    md5: 'c32a1d4ab5d03f1284b67883e8d87530',
    bytes: 170_052_171,
    folder: 'cifar-10-batches-bin',
    train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    test: ['test_batch.bin'],
    labelBytes: 1,
    meta: ['batches.meta.txt'],
    classes: 10,
  },
  cifar100: {
    title: 'CIFAR-100',
    archive: 'cifar-100-binary.tar.gz',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
    md5: '03b5dce01913d631647c71ecec9e9cb8',
    bytes: 168_513_733,
    folder: 'cifar-100-binary',
    train: ['train.bin'],
    test: ['test.bin'],
    labelBytes: 2,
    meta: ['fine_label_names.txt', 'coarse_label_names.txt'],
    classes: 100,
  },
};

/** CIFAR-10's classes, for a folder without batches.meta.txt. */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

const SIDE = 32;
const PIXELS = SIDE * SIDE * 3;

/** Options of {@link readCifar} and {@link loadCifar}. */
export interface CifarReadOptions {
  /** 'train' (default) or 'test'. */
  split?: 'train' | 'test';
  /** CIFAR-100: the fine (100, default) or the coarse (20) labels. */
  labels?: 'fine' | 'coarse';
}

/**
 * Records of one binary file to HWC images and labels.
 *
 * @param labelIndex which label byte to keep (CIFAR-100: 0 coarse, 1 fine)
 */
export function parseCifarRecords(
  bytes: Uint8Array,
  labelBytes: number,
  labelIndex: number,
  classes: number,
  source: string,
): { images: Uint8Array; labels: Int32Array } {
  const op = 'readCifar';
  const record = labelBytes + PIXELS;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw new TorchError(
      `${source} is truncated or not a CIFAR binary file: ${bytes.length} bytes is not a whole ` +
        `number of ${record}-byte records`,
      op,
    );
  }
  const n = bytes.length / record;
  const images = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  const plane = SIDE * SIDE;
  for (let i = 0; i < n; i++) {
    const at = i * record;
    const label = bytes[at + labelIndex]!;
    if (label >= classes)
      throw new TorchError(
        `${source} is corrupt: record ${i} has label ${label}, but there are ${classes} classes`,
        op,
      );
    labels[i] = label;
    const src = at + labelBytes;
    const dst = i * PIXELS;
    for (let p = 0; p < plane; p++) {
      images[dst + p * 3] = bytes[src + p]!;
      images[dst + p * 3 + 1] = bytes[src + plane + p]!;
      images[dst + p * 3 + 2] = bytes[src + 2 * plane + p]!;
    }
  }
  return { images, labels };
}

function classNames(text: string | null, spec: CifarSpec, coarse: boolean): string[] {
  const count = coarse ? 20 : spec.classes;
  const names =
    text
      ?.split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0) ?? [];
  if (names.length === count) return names;
  if (spec === CIFAR.cifar10) return CIFAR10_CLASSES.slice();
  return Array.from({ length: count }, (_, k) => String(k));
}

/** Which release a folder holds, and where its files are (the folder itself or its standard sub-folder). */
function findCifarFolder(dir: string): { name: CifarName; folder: string } | null {
  for (const name of ['cifar10', 'cifar100'] as const) {
    const spec = CIFAR[name];
    for (const folder of [join(dir, spec.folder), dir]) {
      if (existsSync(join(folder, spec.train[0]!)) || existsSync(join(folder, spec.test[0]!))) return { name, folder };
    }
  }
  return null;
}

/** Which release an archive is, from its name or, failing that, its contents. */
function archiveRelease(entries: TarEntry[], path: string): CifarName {
  const names = new Set(entries.map((e) => basename(e.name)));
  if (names.has(CIFAR.cifar10.train[0]!) || names.has(CIFAR.cifar10.test[0]!)) return 'cifar10';
  if (names.has(CIFAR.cifar100.train[0]!) || names.has(CIFAR.cifar100.test[0]!)) return 'cifar100';
  throw new TorchError(
    `${path} holds no CIFAR binary files (data_batch_1.bin, test_batch.bin, train.bin or test.bin)`,
    'readCifar',
  );
}

/**
 * Reads a split of CIFAR-10 or CIFAR-100 from an extracted folder (`cifar-10-batches-bin/`, its
 * parent, or the CIFAR-100 equivalents) or from the `.tar.gz` itself.
 */
export async function readCifar(source: string, options: CifarReadOptions = {}): Promise<ImageDataset> {
  const op = 'readCifar';
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new TorchError(`split must be train or test, got ${split}`, op);
  const path = resolve(source);
  if (!existsSync(path)) throw new TorchError(`${source} does not exist`, op);
  let name: CifarName;
  let read: (file: string) => Uint8Array | null;
  let where: (file: string) => string;
  if (statSync(path).isDirectory()) {
    const found = findCifarFolder(path);
    if (!found) {
      throw new TorchError(
        `${source} holds no CIFAR binary files (expected ${CIFAR.cifar10.folder}/ or ` +
          `${CIFAR.cifar100.folder}/, or their files)`,
        op,
      );
    }
    name = found.name;
    where = (file) => join(found.folder, file);
    read = (file) => (existsSync(where(file)) ? readFileSync(where(file)) : null);
  } else {
    const entries = (await readTarGz(path, op)).filter((e) => e.type === 'file');
    name = archiveRelease(entries, path);
    const byName = new Map(entries.map((e) => [basename(e.name), e.data]));
    where = (file) => `${path}: ${file}`;
    read = (file) => byName.get(file) ?? null;
  }
  const spec = CIFAR[name];
  const coarse = name === 'cifar100' && options.labels === 'coarse';
  const files = split === 'train' ? spec.train : spec.test;
  const parts = files.map((file) => {
    const bytes = read(file);
    if (bytes === null) throw new TorchError(`${spec.title} is incomplete: ${where(file)} is missing`, op);
    return parseCifarRecords(
      bytes,
      spec.labelBytes,
      spec.labelBytes === 2 && !coarse ? 1 : 0,
      coarse ? 20 : spec.classes,
      where(file),
    );
  });
  const n = parts.reduce((s, p) => s + p.labels.length, 0);
  const images = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * PIXELS);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  const metaFile = coarse ? spec.meta[1]! : spec.meta[0]!;
  const meta = read(metaFile);
  const classes = classNames(meta ? new TextDecoder().decode(meta) : null, spec, coarse);
  return new ImageDataset({ images, labels, height: SIDE, width: SIDE, channels: 3, classes });
}

/** The MD5 of a file, as lowercase hex. */
export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Options of {@link downloadCifar}. */
export interface DownloadOptions {
  /** Called as bytes arrive (total: the Content-Length, or the known size). */
  onProgress?: (received: number, total: number) => void;
  /** Download from here instead of the official address (a mirror, or a test server). */
  url?: string;
  /** Give up when no byte arrives for this long (default 60 s). */
  idleTimeoutMs?: number;
}

function whereToPut(spec: CifarSpec, dataDir: string): string {
  return (
    `Download ${spec.archive} (${Math.round(spec.bytes / 1e6)} MB, MD5 ${spec.md5}) from ${spec.url} and put it at ` +
    `${join(dataDir, spec.archive)} (or its extracted folder ${spec.folder}/ in ${dataDir}); ` +
    'the data directory is --data, else PDENET_DATA, else ~/.cache/pdenet'
  );
}

/**
 * Downloads a CIFAR archive into `dataDir` (the bytes go to a temporary file there, checked against
 * the published MD5, then renamed into place) and returns its path. An archive already there is
 * returned as it is.
 *
 * @throws TorchError saying which file to download and where to put it, when the download fails
 */
export async function downloadCifar(name: CifarName, dataDir: string, options: DownloadOptions = {}): Promise<string> {
  const op = 'downloadCifar';
  const spec = CIFAR[name];
  if (!spec) throw new TorchError(`unknown dataset ${String(name)}: cifar10 or cifar100`, op);
  const target = join(dataDir, spec.archive);
  if (existsSync(target)) return target;
  const url = options.url ?? spec.url;
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    throw new TorchError(
      `cannot create the data directory ${dataDir}: ${(e as Error).message}. ${whereToPut(spec, dataDir)}`,
      op,
    );
  }
  const temp = join(dataDir, `.${spec.archive}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  let file: FileHandle;
  try {
    file = await open(temp, 'wx');
  } catch (e) {
    throw new TorchError(
      `cannot write to the data directory ${dataDir}: ${(e as Error).message}. ${whereToPut(spec, dataDir)}`,
      op,
    );
  }
  const watchdog = new IdleWatchdog(options.idleTimeoutMs ?? 60_000);
  try {
    const response = await fetchArchive(url, watchdog);
    await receiveChecked(response, file, spec, watchdog, options.onProgress);
    await file.close();
    renameSync(temp, target);
    return target;
  } catch (e) {
    await file.close().catch(() => {});
    removeIfThere(temp);
    throw new TorchError(
      `cannot download ${spec.title} from ${url}: ${(e as Error).message}. ${whereToPut(spec, dataDir)}`,
      op,
    );
  } finally {
    watchdog.stop();
  }
}

/** Aborts a transfer when no byte arrives for `idleMs`; {@link poke} restarts the wait. */
class IdleWatchdog {
  readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout>;

  constructor(readonly idleMs: number) {
    this.timer = setTimeout(() => this.controller.abort(), idleMs);
  }

  get fired(): boolean {
    return this.controller.signal.aborted;
  }

  poke(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(), this.idleMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** The server's answer for `url`, with a body; an Error saying why not otherwise. */
async function fetchArchive(url: string, watchdog: IdleWatchdog): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal: watchdog.controller.signal });
  } catch (e) {
    const cause = (e as Error & { cause?: Error }).cause;
    throw new Error(
      watchdog.fired ? `no answer within ${watchdog.idleMs / 1000} s` : (cause?.message ?? (e as Error).message),
    );
  }
  if (!response.ok || !response.body) throw new Error(`the server answered ${response.status} ${response.statusText}`);
  return response;
}

/** Writes the body of `response` to `file`, checks its MD5 against the published one and syncs the file. */
async function receiveChecked(
  response: Response,
  file: FileHandle,
  spec: CifarSpec,
  watchdog: IdleWatchdog,
  onProgress: DownloadOptions['onProgress'],
): Promise<void> {
  const total = Number(response.headers.get('content-length')) || spec.bytes;
  const hash = createHash('md5');
  let received = 0;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      watchdog.poke();
      hash.update(chunk);
      await file.write(chunk);
      received += chunk.length;
      onProgress?.(received, total);
    }
  } catch (e) {
    throw new Error(
      watchdog.fired
        ? `the transfer stalled for ${watchdog.idleMs / 1000} s after ${received} bytes`
        : `the transfer broke off after ${received} bytes (${(e as Error).message})`,
    );
  }
  const md5 = hash.digest('hex');
  if (md5 !== spec.md5) throw new Error(`the file has MD5 ${md5}, not the published ${spec.md5} (${received} bytes)`);
  await file.sync();
}

function removeIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Options of {@link loadCifar}. */
export interface LoadCifarOptions extends CifarReadOptions, DownloadOptions {
  /** The data directory (default: {@link resolveDataDir}). */
  dataDir?: string;
  /** Download the archive when it is missing (default true). */
  download?: boolean;
  /** Where notes go (downloading, extracting). */
  log?: (message: string) => void;
}

/**
 * A split of CIFAR-10 or CIFAR-100 from the data directory: from the extracted folder if there, else
 * from the archive (checked against its MD5 and extracted for next time), else downloaded first.
 */
export async function loadCifar(name: CifarName, options: LoadCifarOptions = {}): Promise<ImageDataset> {
  const op = 'loadCifar';
  const spec = CIFAR[name];
  if (!spec) throw new TorchError(`unknown dataset ${String(name)}: cifar10 or cifar100`, op);
  const dataDir = resolveDataDir(options.dataDir);
  const folder = join(dataDir, spec.folder);
  const files = [...spec.train, ...spec.test];
  if (files.every((f) => existsSync(join(folder, f)))) return readCifar(folder, options);
  let archive = join(dataDir, spec.archive);
  if (!existsSync(archive)) {
    if (options.download === false)
      throw new TorchError(`${spec.title} is not in ${dataDir}. ${whereToPut(spec, dataDir)}`, op);
    options.log?.(
      `downloading ${spec.title} (${Math.round(spec.bytes / 1e6)} MB) from ${options.url ?? spec.url} to ${dataDir}`,
    );
    archive = await downloadCifar(name, dataDir, options);
  } else {
    const md5 = await md5File(archive);
    if (md5 !== spec.md5) {
      throw new TorchError(
        `${archive} has MD5 ${md5}, not the published ${spec.md5}: it is damaged or not the official ` +
          `file. Delete it to download it again. ${whereToPut(spec, dataDir)}`,
        op,
      );
    }
  }
  await extractCifar(archive, folder, spec, options.log);
  return readCifar(files.every((f) => existsSync(join(folder, f))) ? folder : archive, options);
}

/** Writes the archive's CIFAR files into `folder` (each atomically), so later loads skip the gzip. */
async function extractCifar(
  archive: string,
  folder: string,
  spec: CifarSpec,
  log?: (m: string) => void,
): Promise<void> {
  const entries = await readTarGz(archive, 'loadCifar');
  const wanted = new Set([...spec.train, ...spec.test, ...spec.meta]);
  try {
    mkdirSync(folder, { recursive: true });
    for (const e of entries) {
      if (e.type === 'file' && wanted.has(basename(e.name)) && basename(dirname(e.name)) === spec.folder) {
        writeFileAtomic(join(folder, basename(e.name)), [e.data], 'loadCifar');
      }
    }
    log?.(`extracted ${spec.title} to ${folder}`);
  } catch (e) {
    log?.(`could not extract ${archive} to ${folder} (${(e as Error).message}); reading the archive each time`);
  }
}
