/**
 * The trainer's view of data: a training and a validation stream of batches, read from whatever
 * `--data` names — a CIFAR binary release (folder or .tar.gz), an image folder (folder or .tar.gz),
 * or `synthetic` — with the validation split carved from the training images.
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TorchError } from '../tensor/errors.js';
import { type AugmentOptions } from '../data/augment.js';
import { readCifar } from '../data/cifar.js';
import { ImageDataset, splitTrainVal } from '../data/dataset.js';
import { loadImageFolder } from '../data/imagefolder.js';
import { DataLoader } from '../data/loader.js';
import { Rng } from '../data/random.js';
import { readTarGz } from '../data/tar.js';
import type { Normalization } from '../data/transforms.js';
import type { TrainConfig } from './config.js';
import type { Batch } from './evaluate.js';

/** Batches of one split, in an order that depends only on (seed, epoch). */
export interface BatchStream {
  readonly size: number;
  batchesPerEpoch(batchSize: number): number;
  /** The batches of `epoch` from batch `start` on; the consumer disposes each batch's tensors. */
  batches(epoch: number, batchSize: number, start: number): AsyncIterable<Batch>;
  close(): Promise<void>;
}

export interface DataSplits {
  train: BatchStream;
  val: BatchStream | null;
  classes: string[];
  /** The per-channel statistics batches are normalized with (from the training split). */
  normalization: Normalization;
}

/** A stream over a dataset, one DataLoader per batch size. */
export function streamOf(dataset: ImageDataset, options: { seed: number; shuffle: boolean; dropLast: boolean;
    augment: AugmentOptions | null; normalization: Normalization; prefetch?: number }): BatchStream {
  const loaders = new Map<number, DataLoader>();
  const loader = (batchSize: number) => {
    let l = loaders.get(batchSize);
    if (l === undefined) {
      l = new DataLoader(dataset, { batchSize, shuffle: options.shuffle, seed: options.seed, dropLast: options.dropLast,
        augment: options.augment, normalize: options.normalization, prefetch: options.prefetch ?? 2 });
      loaders.set(batchSize, l);
    }
    return l;
  };
  return {
    size: dataset.n,
    batchesPerEpoch: (batchSize) => loader(batchSize).length,
    batches: (epoch, batchSize, start) => loader(batchSize).epoch(epoch, { start }),
    close: async () => {
      for (const l of loaders.values()) await l.close();
    },
  };
}

/** Per-channel mean and std of a dataset's images, in [0, 1] units. */
export function channelStatistics(dataset: ImageDataset): Normalization {
  const c = dataset.channels;
  const sum = new Float64Array(c);
  const sumSq = new Float64Array(c);
  const images = dataset.images;
  for (let i = 0; i < images.length; i++) {
    const v = images[i]! / 255;
    sum[i % c] += v;
    sumSq[i % c] += v * v;
  }
  const count = images.length / c;
  const mean = Array.from(sum, (s) => s / count);
  return { mean, std: Array.from(sumSq, (s, k) => Math.sqrt(Math.max(s / count - mean[k]! ** 2, 1e-12))) };
}

/**
 * A learnable synthetic dataset of 32×32 RGB images: each class has its own stripe orientation and
 * colour, drawn with random phase, frequency and noise. For tests and smoke runs; never downloaded.
 */
export function syntheticDataset(n: number, options: { classes?: number; seed?: number; size?: number } = {}): ImageDataset {
  const { classes = 10, seed = 0, size = 32 } = options;
  const rng = new Rng(seed, 5);
  const images = new Uint8Array(n * size * size * 3);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % classes;
    labels[i] = label;
    const angle = (Math.PI * label) / classes;
    const [cx, cy] = [Math.cos(angle), Math.sin(angle)];
    const freq = 0.15 + 0.1 * rng.float();
    const phase = 2 * Math.PI * rng.float();
    const colour = [(label * 37) % 255, (label * 91) % 255, (label * 53) % 255];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const wave = 0.5 + 0.5 * Math.sin(2 * Math.PI * freq * (x * cx + y * cy) + phase);
        for (let ch = 0; ch < 3; ch++) {
          const v = wave * (80 + colour[ch]! * 0.6) + 40 * (rng.float() - 0.5);
          images[((i * size + y) * size + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  const names = Array.from({ length: classes }, (_, k) => `class${k}`);
  return new ImageDataset({ images, labels, height: size, width: size, channels: 3, classes: names });
}

/** True when `path` (a folder or a .tar.gz) holds CIFAR binary batches rather than image folders. */
async function isCifarBinary(path: string): Promise<boolean> {
  const binaryName = (name: string) => /(data_batch_\d|test_batch|train|test)\.bin$/.test(name);
  if (statSync(path).isDirectory()) {
    const walk = (dir: string, depth: number): boolean => readdirSync(dir).some((name) => {
      const full = join(dir, name);
      return binaryName(name) || (depth < 2 && statSync(full).isDirectory() && walk(full, depth + 1));
    });
    return walk(path, 0);
  }
  return (await readTarGz(path)).some((e) => binaryName(e.name));
}

/** Reads the dataset `--data` names (its training images). */
export async function loadDataset(source: string, log: (line: string) => void = () => {}): Promise<ImageDataset> {
  if (source === 'synthetic') return syntheticDataset(2000);
  if (!existsSync(source)) {
    throw new TorchError(`no data at ${source}: give a CIFAR binary folder or .tar.gz, an image folder or .tar.gz, ` +
      'or "synthetic"', 'loadData');
  }
  // A folder holding train.tar.gz (as ../shared/datasets/cifar10-jpeg does) means that archive.
  const path = statSync(source).isDirectory() && existsSync(join(source, 'train.tar.gz')) ? join(source, 'train.tar.gz') : source;
  if (await isCifarBinary(path)) return readCifar(path, { split: 'train' });
  let lastShown = 0;
  return loadImageFolder(path, {
    log,
    onProgress: (done, total) => {
      if (done === total || done - lastShown >= 10000) {
        lastShown = done;
        log(`decoding images: ${done}/${total}`);
      }
    },
  });
}

/** The training and validation streams of a run. */
export async function loadDataSplits(config: TrainConfig, log: (line: string) => void = () => {}): Promise<DataSplits> {
  const dataset = await loadDataset(config.data, log);
  const valCount = Math.min(config.valSplit, Math.floor(dataset.n / 5));
  const { train, val } = valCount > 0 ? splitTrainVal(dataset, valCount, config.seed)
    : { train: dataset, val: null as ImageDataset | null };
  const normalization = channelStatistics(train);
  const a = config.augment;
  const augment: AugmentOptions = {
    ...(a.crop > 0 ? { crop: { padding: a.crop, mode: a.cropPadding } } : {}),
    ...(a.flip ? { flip: true } : {}),
    ...(a.cutout > 0 ? { cutout: { size: a.cutout } } : {}),
    ...(a.affine ? { affine: { degrees: a.affine.degrees, translate: [a.affine.translate, a.affine.translate],
      scale: a.affine.scale } } : {}),
  };
  log(`data: ${train.n} training and ${val?.n ?? 0} validation images of ${dataset.classes.length} classes`);
  return {
    train: streamOf(train, { seed: config.seed, shuffle: true, dropLast: true, augment, normalization }),
    val: val && streamOf(val, { seed: config.seed, shuffle: false, dropLast: false, augment: null, normalization }),
    classes: dataset.classes,
    normalization,
  };
}
