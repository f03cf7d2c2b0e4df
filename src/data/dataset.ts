/**
 * The in-memory image dataset: every image of a split decoded into one uint8 array.
 *
 * Columnar for speed: `images` holds N images of H×W×C bytes one after another (each image in HWC
 * order, the order decoders and the CIFAR files' readers produce), `labels` the N class indices. A
 * batch is then a gather of byte ranges, and the whole CIFAR-10 train split is 150 MB in one buffer
 * that worker threads share without copying.
 * @module
 */
import { TorchError } from '../tensor/errors.js';
import { Rng, STREAM } from './random.js';

/** The fields of an {@link ImageDataset}. */
export interface ImageDatasetInit {
  /** N×H×W×C bytes, image after image, each in HWC order. */
  images: Uint8Array;
  /** N class indices in [0, classes.length). */
  labels: Int32Array;
  height: number;
  width: number;
  channels: number;
  /** Class names; label k is `classes[k]`. */
  classes: string[];
}

/** N labelled images of one size, held in memory. */
export class ImageDataset {
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly classes: string[];

  /** Checks that the arrays agree with the shape and that every label names a class. */
  constructor(init: ImageDatasetInit) {
    const op = 'ImageDataset';
    const { images, labels, height, width, channels, classes } = init;
    for (const [name, v] of [
      ['height', height],
      ['width', width],
      ['channels', channels],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new TorchError(`${name} must be a positive integer, got ${v}`, op);
    }
    const size = height * width * channels;
    if (images.length % size !== 0 || images.length / size !== labels.length) {
      throw new TorchError(
        `images hold ${images.length} bytes, which is not ${labels.length} labels × ` +
          `${height}×${width}×${channels}`,
        op,
      );
    }
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i]!;
      if (!(l >= 0 && l < classes.length)) {
        throw new TorchError(`label ${l} of image ${i} is outside the ${classes.length} classes`, op);
      }
    }
    this.images = images;
    this.labels = labels;
    this.n = labels.length;
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.classes = classes;
  }

  /** Bytes per image (H·W·C). */
  get imageSize(): number {
    return this.height * this.width * this.channels;
  }

  /** The bytes of image i (a view, not a copy). */
  image(i: number): Uint8Array {
    const s = this.imageSize;
    return this.images.subarray(i * s, (i + 1) * s);
  }

  /** A new dataset of the images at `indices`, in that order (copied). */
  subset(indices: ArrayLike<number>): ImageDataset {
    const s = this.imageSize;
    const images = new Uint8Array(indices.length * s);
    const labels = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      if (!(Number.isInteger(i) && i >= 0 && i < this.n)) {
        throw new TorchError(`index ${i} is out of range for ${this.n} images`, 'subset');
      }
      images.set(this.images.subarray(i * s, (i + 1) * s), k * s);
      labels[k] = this.labels[i]!;
    }
    return new ImageDataset({
      images,
      labels,
      height: this.height,
      width: this.width,
      channels: this.channels,
      classes: this.classes,
    });
  }

  /** How many images each class has. */
  classCounts(): number[] {
    const counts = new Array<number>(this.classes.length).fill(0);
    for (const l of this.labels) counts[l]!++;
    return counts;
  }

  /** The per-channel mean and standard deviation of the pixels, in [0, 1] units (for normalization). */
  channelStats(): { mean: number[]; std: number[] } {
    const c = this.channels;
    const sum = new Float64Array(c);
    const sq = new Float64Array(c);
    const images = this.images;
    for (let i = 0; i < images.length; i += c) {
      for (let k = 0; k < c; k++) {
        const v = images[i + k]!;
        sum[k] = sum[k]! + v;
        sq[k] = sq[k]! + v * v;
      }
    }
    const count = images.length / c;
    const mean = Array.from(sum, (s) => s / count / 255);
    const std = Array.from(sq, (s, k) =>
      Math.sqrt((Math.max(0, s / count / 65025 - mean[k]! ** 2) * count) / Math.max(1, count - 1)),
    );
    return { mean, std };
  }
}

/**
 * Splits `dataset` into a training part and a validation part of `valCount` images, the same way for
 * the same seed on every machine. Stratified: each class gives its share of the validation images
 * (largest remainders settle the rounding), drawn at random within the class. Both parts keep the
 * original order of the images.
 *
 * @example
 * const { train, val } = splitTrainVal(full, 5000, 0);   // --val-split 5000
 */
export function splitTrainVal(
  dataset: ImageDataset,
  valCount: number,
  seed = 0,
): { train: ImageDataset; val: ImageDataset; trainIndices: Int32Array; valIndices: Int32Array } {
  const op = 'splitTrainVal';
  if (!Number.isInteger(valCount) || valCount < 0 || valCount > dataset.n) {
    throw new TorchError(`the validation split must hold 0…${dataset.n} images, got ${valCount}`, op);
  }
  const byClass: number[][] = dataset.classes.map(() => []);
  for (let i = 0; i < dataset.n; i++) byClass[dataset.labels[i]!]!.push(i);
  // each class's share: floor of its exact share, then one more for the largest remainders
  const exact = byClass.map((members) => (members.length * valCount) / dataset.n);
  const take = exact.map(Math.floor);
  let missing = valCount - take.reduce((a, b) => a + b, 0);
  const order = exact.map((e, k) => ({ k, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.k - b.k);
  for (const { k } of order) {
    if (missing === 0) break;
    if (take[k]! < byClass[k]!.length) {
      take[k]!++;
      missing--;
    }
  }
  const isVal = new Uint8Array(dataset.n);
  byClass.forEach((members, k) => {
    const rng = new Rng(seed, STREAM.split, k);
    const shuffled = rng.shuffle(members.slice());
    for (let j = 0; j < take[k]!; j++) isVal[shuffled[j]!] = 1;
  });
  const valIndices = new Int32Array(valCount);
  const trainIndices = new Int32Array(dataset.n - valCount);
  for (let i = 0, v = 0, t = 0; i < dataset.n; i++) {
    if (isVal[i]) valIndices[v++] = i;
    else trainIndices[t++] = i;
  }
  return { train: dataset.subset(trainIndices), val: dataset.subset(valIndices), trainIndices, valIndices };
}
