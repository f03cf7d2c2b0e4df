/**
 * The trainer's view of data: a training and a validation stream of batches, read from whatever
 * `--data` names — CIFAR by name, a CIFAR binary release, an image folder (folder or .tar.gz), or
 * `synthetic` — with the validation split carved from the training images.
 * @module
 */
import type { AugmentOptions } from '../data/augment.js';
import { type ImageDataset, splitTrainVal } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import type { ShardOptions } from '../distributed/sampler.js';
import { loadDataset as loadDatasetFrom } from '../data/sources.js';
import { syntheticImages } from '../data/synthetic.js';
import type { Normalization } from '../data/transforms.js';
import { checkImageSettings, type TrainConfig } from './config.js';
import { check } from '../tensor/errors.js';
import type { Batch } from './evaluate.js';

/** Batches of one split, in an order that depends only on (seed, epoch). */
export interface BatchStream {
  readonly size: number;
  batchesPerEpoch(batchSize: number): number;
  /** The batches of `epoch` from batch `start` on; the consumer disposes each batch's tensors. */
  batches(epoch: number, batchSize: number, start: number): AsyncIterable<Batch>;
  /** The first `n` images of epoch 0's order, as the training sees them (augmented, normalized); the caller disposes. */
  sample(n: number): Batch;
  close(): Promise<void>;
}

export interface DataSplits {
  train: BatchStream;
  val: BatchStream | null;
  /**
   * In data-parallel runs, this rank's contiguous part of the validation split (the ranks' parts together hold
   * each validation image once), which it evaluates; absent: rank 0 evaluates the whole split.
   */
  valPart?: BatchStream | null;
  classes: string[];
  /** The per-channel statistics batches are normalized with (from the training split). */
  normalization: Normalization;
  /** Height and width of the images, when known (checks of the settings that depend on them). */
  imageSize?: [number, number];
}

/** Closes the streams of `data` (their loaders' workers). */
export async function closeSplits(data: DataSplits): Promise<void> {
  await Promise.all([data.train, data.val, data.valPart].map((stream) => stream?.close()));
}

/** A stream over a dataset, one DataLoader per batch size. */
export function streamOf(
  dataset: ImageDataset,
  options: {
    seed: number;
    shuffle: boolean;
    dropLast: boolean;
    augment: AugmentOptions | null;
    normalization: Normalization;
    prefetch?: number;
    shard?: ShardOptions | null;
  },
): BatchStream {
  const loaders = new Map<number, DataLoader>();
  const loader = (batchSize: number) => {
    let l = loaders.get(batchSize);
    if (l === undefined) {
      l = new DataLoader(dataset, {
        batchSize,
        shuffle: options.shuffle,
        seed: options.seed,
        dropLast: options.dropLast,
        augment: options.augment,
        normalize: options.normalization,
        prefetch: options.prefetch ?? 2,
        shard: options.shard ?? null,
      });
      loaders.set(batchSize, l);
    }
    return l;
  };
  return {
    size: dataset.n,
    batchesPerEpoch: (batchSize) => loader(batchSize).length,
    batches: (epoch, batchSize, start) => loader(batchSize).epoch(epoch, { start }),
    sample: (n) =>
      new DataLoader(dataset, {
        batchSize: n,
        shuffle: options.shuffle,
        seed: options.seed,
        dropLast: true,
        augment: options.augment,
        normalize: options.normalization,
        prefetch: 0,
      }).batch(0, 0),
    close: async () => {
      for (const l of loaders.values()) await l.close();
    },
  };
}

/** Reads the training images `--data` names: a dataset name or path (see data/sources.ts), or "synthetic". */
export async function loadTrainingImages(
  source: string,
  log: (line: string) => void = () => {},
): Promise<ImageDataset> {
  if (source === 'synthetic') return syntheticImages({ perClass: 200 });
  let lastShown = 0;
  return loadDatasetFrom(source, {
    log,
    onProgress: (done, total, what) => {
      if (done === total || done - lastShown >= (what === 'download' ? 20e6 : 10000)) {
        lastShown = done;
        log(
          what === 'download'
            ? `downloading: ${(done / 1e6).toFixed(0)}/${(total / 1e6).toFixed(0)} MB`
            : `decoding images: ${done}/${total}`,
        );
      }
    },
  });
}

/** How many of `dataset`'s images a run holds out for validation: its valSplit, at most a fifth of the images. */
export function validationCount(dataset: ImageDataset, config: Pick<TrainConfig, 'valSplit'>): number {
  return Math.min(config.valSplit, Math.floor(dataset.n / 5));
}

/** The training and validation images of a run, as the trainer carves them; null when it holds none out. */
export function carveValidation(
  dataset: ImageDataset,
  config: Pick<TrainConfig, 'valSplit' | 'seed'>,
): { train: ImageDataset; val: ImageDataset } | null {
  const valCount = validationCount(dataset, config);
  return valCount > 0 ? splitTrainVal(dataset, valCount, config.seed) : null;
}

/**
 * The images a run trains on: its whole training split, or `trainImages` of them drawn by `seed` with each class
 * keeping its share (the draw of {@link splitTrainVal}).
 */
export function trainingSubset(train: ImageDataset, config: Pick<TrainConfig, 'trainImages' | 'seed'>): ImageDataset {
  const n = config.trainImages;
  if (n === 0 || n === train.n) return train;
  check(n < train.n, 'train', `trainImages is ${n}; the training split holds only ${train.n} images`);
  return splitTrainVal(train, n, config.seed).val;
}

/**
 * The normalization of a run: its fixed statistics, or the training split's channel statistics ('data', the
 * default). Written to the run's data.json, from which evaluation and prediction read it.
 */
export function normalizationOf(config: Pick<TrainConfig, 'normalization'>, train: ImageDataset): Normalization {
  const fixed = config.normalization;
  if (fixed === undefined || fixed === 'data') return train.channelStats();
  check(
    fixed.mean.length === train.channels,
    'train',
    `normalization gives ${fixed.mean.length} channel statistics; ` + `the images have ${train.channels} channels`,
  );
  return { mean: [...fixed.mean], std: [...fixed.std] };
}

/** Rank `rank`'s contiguous part of `n` items split between `worldSize` ranks (sizes differ by at most one). */
export function partOf(n: number, { rank, worldSize }: ShardOptions): Int32Array {
  const [from, to] = [Math.floor((rank * n) / worldSize), Math.floor(((rank + 1) * n) / worldSize)];
  return Int32Array.from({ length: to - from }, (_, i) => from + i);
}

/**
 * The training and validation streams of a run. With `shard` (data-parallel training), the training stream
 * yields this rank's share of each epoch (batch sizes are then per rank); validation and `sample` are whole.
 */
export async function loadDataSplits(
  config: TrainConfig,
  log: (line: string) => void = () => {},
  shard: ShardOptions | null = null,
): Promise<DataSplits> {
  const dataset = await loadTrainingImages(config.data, log);
  checkImageSettings(config, dataset.height, dataset.width);
  const carved = carveValidation(dataset, config) ?? { train: dataset, val: null };
  const train = trainingSubset(carved.train, config);
  const val = carved.val;
  const normalization = normalizationOf(config, train);
  const a = config.augment;
  const augment: AugmentOptions = {
    ...(a.crop > 0 ? { crop: { padding: a.crop, mode: a.cropPadding } } : {}),
    ...(a.flip ? { flip: a.flip } : {}),
    ...(a.cutout > 0 ? { cutout: { size: a.cutout } } : {}),
    ...(a.affine
      ? {
          affine: {
            degrees: a.affine.degrees,
            translate: [a.affine.translate, a.affine.translate],
            scale: a.affine.scale,
          },
        }
      : {}),
  };
  log(`data: ${train.n} training and ${val?.n ?? 0} validation images of ${dataset.classes.length} classes`);
  return {
    train: streamOf(train, { seed: config.seed, shuffle: true, dropLast: true, augment, normalization, shard }),
    val: val && streamOf(val, { seed: config.seed, shuffle: false, dropLast: false, augment: null, normalization }),
    ...(shard && val
      ? {
          valPart: streamOf(val.subset(partOf(val.n, shard)), {
            seed: config.seed,
            shuffle: false,
            dropLast: false,
            augment: null,
            normalization,
          }),
        }
      : {}),
    classes: dataset.classes,
    normalization,
    imageSize: [dataset.height, dataset.width],
  };
}
