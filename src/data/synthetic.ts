/**
 * Tiny synthetic datasets for tests and demos, written in the real formats — CIFAR binary files and
 * image folders of real PNG/JPEG files — so that tests exercise the real readers. Nothing here is
 * downloaded.
 *
 * Each class has a learnable pattern: stripes of its own colour and orientation over a noisy
 * background, with a random phase and frequency per image.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { CIFAR, type CifarName } from './cifar.js';
import { encodeJpeg, encodePng } from './codec.js';
import { ImageDataset } from './dataset.js';
import { Rng, STREAM } from './random.js';
import { writeTarGz } from './tar.js';

/** Options of {@link syntheticImages}. */
export interface SyntheticOptions {
  /** Images per class (default 10). */
  perClass?: number;
  /** Number of classes (default 10) or their names. */
  classes?: number | string[];
  height?: number;
  width?: number;
  seed?: number;
  /** Amplitude of the per-pixel noise, in levels (default 20). */
  noise?: number;
}

/** An in-memory dataset of striped images, class after class (shuffle it to mix them). */
export function syntheticImages(options: SyntheticOptions = {}): ImageDataset {
  const { perClass = 10, height = 32, width = 32, seed = 0, noise = 20 } = options;
  const classes =
    typeof options.classes === 'object'
      ? options.classes
      : Array.from({ length: options.classes ?? 10 }, (_, k) => `class${String(k).padStart(2, '0')}`);
  const K = classes.length;
  const n = K * perClass;
  const images = new Uint8Array(n * height * width * 3);
  const labels = new Int32Array(n);
  const rng = new Rng(seed, STREAM.synthetic);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / perClass);
    labels[i] = k;
    // the class's colour (a hue around the circle) and stripe orientation
    const hue = (k / K) * 2 * Math.PI;
    const colour = [Math.cos(hue), Math.cos(hue - 2.094), Math.cos(hue + 2.094)];
    const angle = (k * Math.PI) / K;
    const freq = 0.15 + 0.1 * rng.float();
    const phase = 2 * Math.PI * rng.float();
    const ca = Math.cos(angle),
      sa = Math.sin(angle);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const wave = Math.sin(2 * Math.PI * freq * (x * ca + y * sa) + phase);
        for (let c = 0; c < 3; c++) {
          const v = 128 + 50 * colour[c]! + 60 * wave * (0.5 + 0.5 * colour[c]!) + noise * (2 * rng.float() - 1);
          images[((i * height + y) * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  return new ImageDataset({ images, labels, height, width, channels: 3, classes });
}

/**
 * The dataset as CIFAR binary records: label byte(s), then the image in CHW order.
 *
 * @param coarse for CIFAR-100 records (two label bytes): the coarse label of each image (default label mod 20)
 */
export function cifarRecords(dataset: ImageDataset, labelBytes = 1, coarse?: Int32Array): Uint8Array {
  const { height: H, width: W } = dataset;
  if (H !== 32 || W !== 32 || dataset.channels !== 3) throw new Error('CIFAR records hold 32×32 RGB images');
  const plane = H * W;
  const record = labelBytes + 3 * plane;
  const out = new Uint8Array(dataset.n * record);
  for (let i = 0; i < dataset.n; i++) {
    const at = i * record;
    if (labelBytes === 2) {
      out[at] = coarse ? coarse[i]! : dataset.labels[i]! % 20;
      out[at + 1] = dataset.labels[i]!;
    } else {
      out[at] = dataset.labels[i]!;
    }
    const img = dataset.image(i);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[at + labelBytes + c * plane + p] = img[p * 3 + c]!;
  }
  return out;
}

/** Options of {@link writeSyntheticCifar}. */
export interface SyntheticCifarOptions {
  /** Training images per class (default 10; CIFAR-10 spreads them over its five batch files). */
  trainPerClass?: number;
  testPerClass?: number;
  seed?: number;
  /** Also write the release's .tar.gz next to the folder (default false). */
  archive?: boolean;
}

/**
 * Writes a tiny CIFAR-10 or CIFAR-100 release into `dir`: the extracted folder
 * (`cifar-10-batches-bin/` or `cifar-100-binary/`) and, with `archive`, the `.tar.gz`. Returns the
 * datasets written and the paths.
 */
export function writeSyntheticCifar(
  dir: string,
  name: CifarName = 'cifar10',
  options: SyntheticCifarOptions = {},
): { train: ImageDataset; test: ImageDataset; folder: string; archive: string | null } {
  const spec = CIFAR[name];
  const { trainPerClass = 10, testPerClass = 5, seed = 0 } = options;
  // interleave the classes (like the real files) so that each batch file holds every class
  const interleave = (d: ImageDataset): ImageDataset => {
    const per = d.n / spec.classes;
    return d.subset(Array.from({ length: d.n }, (_, i) => (i % spec.classes) * per + Math.floor(i / spec.classes)));
  };
  const classes =
    name === 'cifar10'
      ? ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
      : Array.from({ length: 100 }, (_, k) => `fine${k}`);
  const train = interleave(syntheticImages({ perClass: trainPerClass, classes, seed }));
  const test = interleave(syntheticImages({ perClass: testPerClass, classes, seed: seed + 1 }));
  const files: { name: string; data: Uint8Array }[] = [];
  if (name === 'cifar10') {
    const parts = spec.train.length;
    const per = Math.ceil(train.n / parts);
    spec.train.forEach((file, j) => {
      const part = train.subset(
        Array.from({ length: Math.max(0, Math.min(per, train.n - j * per)) }, (_, i) => j * per + i),
      );
      files.push({ name: file, data: cifarRecords(part) });
    });
    files.push({ name: spec.test[0]!, data: cifarRecords(test) });
    files.push({ name: spec.meta[0]!, data: new TextEncoder().encode(`${classes.join('\n')}\n\n`) });
  } else {
    files.push({ name: spec.train[0]!, data: cifarRecords(train, 2) });
    files.push({ name: spec.test[0]!, data: cifarRecords(test, 2) });
    files.push({ name: spec.meta[0]!, data: new TextEncoder().encode(`${classes.join('\n')}\n`) });
    files.push({
      name: spec.meta[1]!,
      data: new TextEncoder().encode(`${Array.from({ length: 20 }, (_, k) => `coarse${k}`).join('\n')}\n`),
    });
  }
  const folder = join(dir, spec.folder);
  mkdirSync(folder, { recursive: true });
  for (const f of files) writeFileAtomic(join(folder, f.name), [f.data], 'writeSyntheticCifar');
  let archive: string | null = null;
  if (options.archive) {
    archive = join(dir, spec.archive);
    writeFileAtomic(
      archive,
      [
        writeTarGz([
          { name: `${spec.folder}/` },
          ...files.map((f) => ({ name: `${spec.folder}/${f.name}`, data: f.data })),
        ]),
      ],
      'writeSyntheticCifar',
    );
  }
  return { train, test, folder, archive };
}

/** Options of {@link writeImageFolder}. */
export interface WriteImageFolderOptions {
  /** png (lossless, default) or jpeg. */
  format?: 'png' | 'jpeg';
  /** JPEG quality (default 95). */
  quality?: number;
}

/** The files of an image folder of `dataset`: `<class>/<NNNN>.<ext>` with the encoded bytes. */
export async function encodeImageFolder(
  dataset: ImageDataset,
  options: WriteImageFolderOptions = {},
): Promise<{ name: string; data: Uint8Array }[]> {
  const format = options.format ?? 'png';
  const count = new Map<number, number>();
  const files: { name: string; data: Uint8Array }[] = [];
  for (let i = 0; i < dataset.n; i++) {
    const label = dataset.labels[i]!;
    const k = count.get(label) ?? 0;
    count.set(label, k + 1);
    const img = dataset.image(i);
    const data =
      format === 'png'
        ? encodePng(img, dataset.width, dataset.height)
        : await encodeJpeg(img, dataset.width, dataset.height, options.quality ?? 95);
    files.push({
      name: `${dataset.classes[label]}/${String(k).padStart(4, '0')}.${format === 'png' ? 'png' : 'jpg'}`,
      data,
    });
  }
  return files;
}

/**
 * Writes `dataset` as an image folder under `dir` (one sub-folder per class). Images are numbered
 * within their class in dataset order, so reading the folder back gives the images class by class.
 */
export async function writeImageFolder(
  dir: string,
  dataset: ImageDataset,
  options: WriteImageFolderOptions = {},
): Promise<void> {
  for (const f of await encodeImageFolder(dataset, options)) {
    const path = join(dir, f.name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, [f.data], 'writeImageFolder');
  }
}

/** Writes `dataset` as a `.tar.gz` of an image folder whose top folder is `root` (default "train"), like the real one. */
export async function writeImageFolderArchive(
  path: string,
  dataset: ImageDataset,
  options: WriteImageFolderOptions & { root?: string } = {},
): Promise<void> {
  const root = options.root ?? 'train';
  const files = await encodeImageFolder(dataset, options);
  const dirs = [`${root}/`, ...dataset.classes.map((c) => `${root}/${c}/`)];
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(
    path,
    [
      writeTarGz([
        ...dirs.map((name) => ({ name })),
        ...files.map((f) => ({ name: `${root}/${f.name}`, data: f.data })),
      ]),
    ],
    'writeImageFolderArchive',
  );
}
