/**
 * One entry point for `--data`: a dataset name or a path, whatever form the data has.
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { TorchError } from '../tensor/errors.js';
import { CIFAR, type CifarName, loadCifar, readCifar } from './cifar.js';
import type { ImageDataset } from './dataset.js';
import { loadImageFolder, SPLIT_NAMES } from './imagefolder.js';

/** Options of {@link loadDataset}. */
export interface LoadDatasetOptions {
  /** 'train' (default) or another split name ('test'). */
  split?: string;
  /** The data directory for CIFAR by name (default: `resolveDataDir()`). */
  dataDir?: string;
  /** Download CIFAR when missing (default true). */
  download?: boolean;
  /** CIFAR-100: fine (default) or coarse labels. */
  labels?: 'fine' | 'coarse';
  /** Image folders: decoded cache options (see `loadImageFolder`). */
  cache?: boolean;
  cacheDir?: string;
  size?: [number, number];
  /** Progress of a download (bytes) or of decoding (images). */
  onProgress?: (done: number, total: number, what: 'download' | 'decode') => void;
  log?: (message: string) => void;
}

const NAMES: Record<string, CifarName> = {
  cifar10: 'cifar10',
  'cifar-10': 'cifar10',
  cifar100: 'cifar100',
  'cifar-100': 'cifar100',
};

const ARCHIVE = /\.(tar\.gz|tgz)$/i;

/**
 * Loads a split of a dataset named by `spec`:
 *
 * - `cifar10` / `cifar100`: the official binary release in the data directory, downloaded when missing;
 * - a CIFAR archive (`cifar-10-binary.tar.gz`) or a folder holding CIFAR binary files or their archive;
 * - a folder holding `<split>/` (an image folder) or `<split>.tar.gz` (an archived image folder, its
 *   class folders at the top or in `<split>/`) — e.g. `--data ../shared/datasets/cifar10-jpeg`, which
 *   holds `train.tar.gz`;
 * - a `.tar.gz` holding split folders (`train/`, `test/`), or, like a folder, an image folder itself
 *   (class sub-folders) or a `.tar.gz` of one, for the train split.
 */
export async function loadDataset(spec: string, options: LoadDatasetOptions = {}): Promise<ImageDataset> {
  const op = 'loadDataset';
  const split = options.split ?? 'train';
  const progress = (what: 'download' | 'decode') =>
    options.onProgress ? (done: number, total: number) => options.onProgress!(done, total, what) : undefined;
  const folderOptions = {
    cache: options.cache,
    cacheDir: options.cacheDir,
    size: options.size,
    split,
    onProgress: progress('decode'),
    log: options.log,
  };
  const cifarSplit = (): 'train' | 'test' => {
    if (split !== 'train' && split !== 'test')
      throw new TorchError(`CIFAR has the splits train and test, not ${split}`, op);
    return split;
  };
  const name = NAMES[spec.toLowerCase()];
  if (name && !existsSync(spec)) {
    return loadCifar(name, {
      split: cifarSplit(),
      labels: options.labels,
      dataDir: options.dataDir,
      download: options.download,
      onProgress: progress('download'),
      log: options.log,
    });
  }
  const path = resolve(spec);
  if (!existsSync(path)) {
    throw new TorchError(`${spec} does not exist (give a folder, a .tar.gz, or cifar10 / cifar100)`, op);
  }
  if (statSync(path).isFile()) {
    if (!ARCHIVE.test(path)) throw new TorchError(`${spec} is a file but not a .tar.gz`, op);
    const isCifar = Object.values(CIFAR).some((s) => s.archive === basename(path));
    if (isCifar) return readCifar(path, { split: cifarSplit(), labels: options.labels });
    return loadImageFolder(path, folderOptions);
  }
  const entries = readdirSync(path);
  const has = (name: string): boolean => entries.includes(name);
  for (const s of Object.values(CIFAR)) {
    if (has(s.folder) || has(s.train[0]!) || has(s.test[0]!))
      return readCifar(path, { split: cifarSplit(), labels: options.labels });
  }
  for (const s of Object.values(CIFAR)) {
    if (has(s.archive)) return readCifar(join(path, s.archive), { split: cifarSplit(), labels: options.labels });
  }
  if (has(split) && statSync(join(path, split)).isDirectory()) return loadImageFolder(join(path, split), folderOptions);
  for (const ext of ['.tar.gz', '.tgz']) {
    if (has(split + ext)) return loadImageFolder(join(path, split + ext), { ...folderOptions, archiveSplit: split });
  }
  const otherSplit = SPLIT_NAMES.some((s) => s !== split && (has(s) || has(`${s}.tar.gz`) || has(`${s}.tgz`)));
  if (split === 'train' && !otherSplit) return loadImageFolder(path, folderOptions);
  throw new TorchError(
    `${spec} has no ${split} split: expected ${split}/ (one sub-folder per class) or ${split}.tar.gz there` +
      (split === 'test' ? '; without a test split, hold out a validation split of train (--val-split)' : ''),
    op,
  );
}
