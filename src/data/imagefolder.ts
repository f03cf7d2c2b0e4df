/**
 * The image-folder dataset: one sub-folder per class of JPEG/PNG files — torchvision's `ImageFolder`
 * layout — read from a folder or from a `.tar.gz` of one, decoded once into an {@link ImageDataset}
 * and kept in a decoded cache so that later loads skip decoding.
 *
 * As in torchvision: classes are the sub-folders sorted by name (label k is the k-th), the files of a
 * class are found recursively and taken in sorted order, only image extensions count, a class folder
 * without images is an error, and every image becomes RGB.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, type Stats, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TorchError } from '../tensor/errors.js';
import { CacheError, readDecodedCache, writeDecodedCache } from './cache.js';
import { CODEC_ID, decodeImage, IMAGE_EXTENSIONS, resizeImage } from './codec.js';
import { ImageDataset } from './dataset.js';
import { cacheFileName, defaultCacheDir } from './paths.js';
import { readTarGz } from './tar.js';

/** Options of {@link loadImageFolder}. */
export interface ImageFolderOptions {
  /** Resize every image to [height, width]. Default: keep the size when all images share one, else the most common size. */
  size?: [number, number];
  /** Keep a decoded cache (default true). */
  cache?: boolean;
  /** Folder of decoded caches (default `~/.cache/pdenet/decoded`, see `defaultCacheDir`). */
  cacheDir?: string;
  /**
   * For an archive, the split to read: the top folder of that name when the archive holds split folders
   * (`train/`, `test/`, see {@link SPLIT_NAMES}). An archive of class folders is one split, `archiveSplit`.
   * Without `split`, an archive's only split folder, or its class folders, are read.
   */
  split?: string;
  /** The split an archive of class folders (no split folders) holds (default `train`), e.g. `test` for `test.tar.gz`. */
  archiveSplit?: string;
  /** Called as images are decoded. */
  onProgress?: (done: number, total: number) => void;
  /** Where notes go (cache rebuilt, images resized); default: nowhere. */
  log?: (message: string) => void;
}

/** A file of the dataset before decoding. */
interface Item {
  /** Path relative to the dataset's root: class/…/file. */
  path: string;
  className: string;
  read: () => Uint8Array;
}

/** Folder names that name a split rather than a class. */
export const SPLIT_NAMES: readonly string[] = ['train', 'test', 'val'];

const isImage = (name: string): boolean => IMAGE_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e));
const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** torchvision's file order: by directory path, then by file name. */
function sortItems(items: Item[]): Item[] {
  const split = (p: string): [string, string] => {
    const cut = p.lastIndexOf('/');
    return [p.slice(0, cut), p.slice(cut + 1)];
  };
  return items.sort((a, b) => {
    const [da, fa] = split(a.path);
    const [db, fb] = split(b.path);
    return byCodePoint(da, db) || byCodePoint(fa, fb);
  });
}

/** The stat of `path`, following links; a TorchError names a broken link or an entry that cannot be read. */
function statEntry(path: string, op: string): Stats {
  try {
    return statSync(path);
  } catch (e) {
    let target: string | null = null;
    try {
      target = readlinkSync(path);
    } catch {
      // not a link: the error is about the entry itself
    }
    if (target !== null && (e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new TorchError(`${path} is a broken symbolic link: its target ${target} does not exist`, op);
    throw new TorchError(`cannot read ${path}: ${(e as Error).message}`, op);
  }
}

/** The error for class folders that hold no image (torchvision's ImageFolder refuses them too). */
function noImagesIn(where: string, folders: string[], op: string): TorchError {
  return new TorchError(
    `${where} has class folders without images (${IMAGE_EXTENSIONS.join(', ')}): ${folders.join(', ')}; ` +
      'remove them or add images',
    op,
  );
}

/**
 * The image files under `root` (one sub-folder per class) and the fingerprint of the class list and of
 * the files' names, sizes and times.
 *
 * @throws TorchError when a class folder holds no image, or an entry is a broken link
 */
function scanFolder(root: string): { items: Item[]; classes: string[]; fingerprint: string } {
  const op = 'loadImageFolder';
  const classes = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() || (d.isSymbolicLink() && statEntry(join(root, d.name), op).isDirectory()))
    .map((d) => d.name)
    .sort(byCodePoint);
  if (classes.length === 0)
    throw new TorchError(`${root} has no class folders (expected one sub-folder per class)`, op);
  const hash = createHash('sha256');
  hash.update(`${JSON.stringify(classes)}\n`);
  const items: Item[] = [];
  const walk = (dir: string, rel: string, className: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const relPath = `${rel}/${entry.name}`;
      const stat = statEntry(path, op);
      if (stat.isDirectory()) {
        walk(path, relPath, className);
      } else if (stat.isFile() && isImage(entry.name)) {
        items.push({ path: relPath, className, read: () => readFileSync(path) });
        hash.update(`${relPath}\t${stat.size}\t${stat.mtimeMs}\n`);
      }
    }
  };
  const empty: string[] = [];
  for (const c of classes) {
    const before = items.length;
    walk(join(root, c), c, c);
    if (items.length === before) empty.push(c);
  }
  if (empty.length > 0) throw noImagesIn(root, empty, op);
  return { items: sortItems(items), classes, fingerprint: hash.digest('hex') };
}

/**
 * The image files of a gzipped tar of an image folder, for `split`, and its classes.
 *
 * Top folders named in {@link SPLIT_NAMES} hold splits: the one asked for is read; when it is not
 * there, or no split is asked for and there are several, a TorchError names the splits there. A single
 * top folder of another name wraps the image folder and is stepped into. Class folders at the top are
 * one split, `archiveSplit`: asking for another is a TorchError.
 *
 * @throws TorchError also when a class folder holds no image, as for a folder
 */
async function scanArchive(
  path: string,
  split: string | undefined,
  archiveSplit: string,
): Promise<{ items: Item[]; classes: string[] }> {
  const op = 'loadImageFolder';
  const entries = (await readTarGz(path, op)).filter(
    (e) => e.name !== '' && !e.name.split('/').some((part) => part === '__MACOSX' || part.startsWith('._')),
  );
  const files = entries
    .filter((e) => e.type === 'file' && isImage(e.name))
    .map((f) => ({ parts: f.name.split('/'), data: f.data }));
  const prefix: string[] = [];
  const under = (parts: string[]): boolean => prefix.every((p, i) => parts[i] === p);
  /** The files in a folder below the prefix: in a class folder, or in a folder of class folders. */
  const inFolders = () => files.filter((f) => f.parts.length >= prefix.length + 2 && under(f.parts));
  for (;;) {
    const depth = prefix.length;
    const here = inFolders();
    const tops = [...new Set(here.map((f) => f.parts[depth]!))].sort(byCodePoint);
    if (tops.length === 0) break;
    const holdsFolders = (top: string): boolean =>
      here.some((f) => f.parts[depth] === top && f.parts.length >= depth + 3);
    if (split !== undefined && tops.includes(split) && holdsFolders(split)) {
      prefix.push(split);
      break;
    }
    const splits = tops.filter((t) => SPLIT_NAMES.includes(t));
    if (tops.length === 1 && splits.length === 0 && here.every((f) => f.parts.length >= depth + 3)) {
      prefix.push(tops[0]!);
      continue;
    }
    const held = tops.map((t) => `${[...prefix, t].join('/')}/`).join(', ');
    if (splits.length === tops.length) {
      if (split === undefined && tops.length === 1) {
        prefix.push(tops[0]!);
        break;
      }
      throw new TorchError(
        split === undefined
          ? `${path} holds the splits ${held}: choose one (split)`
          : `no ${split} split in ${path}: it holds ${held}`,
        op,
      );
    }
    if (split !== undefined && split !== archiveSplit) {
      const shown = tops.length > 3 ? `${tops.slice(0, 3).join(', ')}, …` : tops.join(', ');
      throw new TorchError(
        `no ${split} split in ${path}: it has no ${[...prefix, split].join('/')}/ folder, and its class folders ` +
          `(${shown}) are its ${archiveSplit} split`,
        op,
      );
    }
    break;
  }
  const depth = prefix.length;
  const found = inFolders();
  if (found.length === 0) throw new TorchError(`${path} holds no images in class folders (class/file.jpg)`, op);
  const items = found.map((f) => ({
    path: f.parts.slice(depth).join('/'),
    className: f.parts[depth]!,
    read: () => f.data,
  }));
  const classes = [...new Set(items.map((i) => i.className))].sort(byCodePoint);
  const folders = entries
    .filter((e) => e.type === 'directory')
    .map((e) => e.name.split('/'))
    .filter((parts) => parts.length === depth + 1 && under(parts));
  const empty = [...new Set(folders.map((parts) => parts[depth]!))].filter((c) => !classes.includes(c));
  if (empty.length > 0)
    throw noImagesIn(
      path,
      empty.sort(byCodePoint).map((c) => [...prefix, c].join('/')),
      op,
    );
  return { items: sortItems(items), classes };
}

/** Decodes every item, resizes to one size and packs them into a dataset. */
async function decodeItems(
  items: Item[],
  classes: string[],
  source: string,
  options: ImageFolderOptions,
): Promise<ImageDataset> {
  const decoded: { width: number; height: number; data: Uint8Array }[] = [];
  const step = Math.max(1, Math.floor(items.length / 100));
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    decoded.push(await decodeImage(item.read(), `${source}: ${item.path}`));
    if (options.onProgress && ((i + 1) % step === 0 || i + 1 === items.length)) options.onProgress(i + 1, items.length);
  }
  let [height, width] = options.size ?? [0, 0];
  if (!options.size) {
    const counts = new Map<string, number>();
    for (const d of decoded) counts.set(`${d.height}x${d.width}`, (counts.get(`${d.height}x${d.width}`) ?? 0) + 1);
    const [common] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
    [height, width] = common.split('x').map(Number) as [number, number];
    if (counts.size > 1) {
      options.log?.(
        `${source}: images come in ${counts.size} sizes; resizing all to the most common, ${height}×${width}`,
      );
    }
  }
  const size = height * width * 3;
  const images = new Uint8Array(items.length * size);
  const labels = new Int32Array(items.length);
  const index = new Map(classes.map((c, k) => [c, k]));
  decoded.forEach((d, i) => {
    const data =
      d.height === height && d.width === width ? d.data : resizeImage(d.data, d.width, d.height, 3, width, height);
    images.set(data, i * size);
    labels[i] = index.get(items[i]!.className)!;
  });
  return new ImageDataset({ images, labels, height, width, channels: 3, classes });
}

/**
 * Loads an image folder (or a `.tar.gz` / `.tgz` of one) into memory, through the decoded cache.
 *
 * The first load decodes every image and writes the cache (atomically); later loads read the cache
 * when its fingerprint — the class list and the files' names, sizes and modification times (for an
 * archive: the archive's, and the split rules), the decoder and the resize option — still matches,
 * and rebuild it otherwise. A damaged cache is reported through `log` and rebuilt; a damaged image or
 * archive, a class folder without images or a broken link is a TorchError naming it.
 */
export async function loadImageFolder(source: string, options: ImageFolderOptions = {}): Promise<ImageDataset> {
  const op = 'loadImageFolder';
  const path = resolve(source);
  if (!existsSync(path)) throw new TorchError(`${source} does not exist`, op);
  const isArchive = statSync(path).isFile();
  if (isArchive && !/\.(tar\.gz|tgz)$/i.test(path)) {
    throw new TorchError(`${source} is a file but not a .tar.gz of an image folder`, op);
  }
  if (options.size && !options.size.every((v) => Number.isInteger(v) && v > 0)) {
    throw new TorchError(`size must be [height, width] of positive integers, got [${options.size}]`, op);
  }
  const variant = `${CODEC_ID};size=${options.size?.join('x') ?? 'auto'};split=${options.split ?? ''}`;
  let scanned: { items: Item[]; classes: string[]; fingerprint: string } | null = null;
  let fingerprint: string;
  const archiveSplit = options.archiveSplit ?? 'train';
  if (isArchive) {
    const stat = statSync(path);
    // the rules that pick a split out of an archive are part of its fingerprint: caches of other rules are rebuilt
    const rules = `splits=${SPLIT_NAMES.join(',')};archiveSplit=${archiveSplit}`;
    fingerprint = createHash('sha256')
      .update(`${path}\t${stat.size}\t${stat.mtimeMs}\n${variant}\n${rules}`)
      .digest('hex');
  } else {
    scanned = scanFolder(path);
    fingerprint = createHash('sha256').update(`${scanned.fingerprint}\n${variant}`).digest('hex');
  }
  const useCache = options.cache ?? true;
  const cachePath = join(options.cacheDir ?? defaultCacheDir(), cacheFileName(path, variant));
  if (useCache && existsSync(cachePath)) {
    try {
      const { dataset, header } = readDecodedCache(cachePath);
      if (header.fingerprint === fingerprint) {
        options.log?.(`read the decoded cache ${cachePath}`);
        return dataset;
      }
      options.log?.(`${source} changed since its decoded cache was written; decoding it again`);
    } catch (e) {
      if (!(e instanceof CacheError)) throw e;
      if (!e.stale) options.log?.(`${e.message}; decoding ${source} again`);
    }
  }
  const { items, classes } = scanned ?? (await scanArchive(path, options.split, archiveSplit));
  if (items.length === 0) throw new TorchError(`${source} holds no images (${IMAGE_EXTENSIONS.join(', ')})`, op);
  const dataset = await decodeItems(items, classes, source, options);
  if (useCache) {
    try {
      mkdirSync(dirname(cachePath), { recursive: true });
      writeDecodedCache(cachePath, dataset, fingerprint, path);
    } catch (e) {
      options.log?.(
        `could not write the decoded cache ${cachePath} (${(e as Error).message}); the next load decodes again`,
      );
    }
  }
  return dataset;
}
