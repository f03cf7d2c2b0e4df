/**
 * Using a trained model: evaluate it on labelled images, or classify images, with the classes and the
 * normalization its training used. The model comes from its run folder through run.ts's {@link loadTrainedModel}.
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { noGrad } from '../tensor/autograd.js';
import { TorchError } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import { decodeImage, IMAGE_EXTENSIONS, resizeImage } from '../data/codec.js';
import { BatchNormalizer } from '../data/transforms.js';
import { hwcToChw } from '../data/augment.js';
import { streamOf } from './data.js';
import { type Evaluation, evaluate } from './evaluate.js';
import { evaluationImages, type TrainedModel } from './run.js';

export { loadTrainedModel, type TrainedModel } from './run.js';

export interface EvaluateTrainedOptions {
  /** val: the run's own validation split; all: every image of the data; test: the data's test split. */
  split: 'val' | 'all' | 'test';
  /** The images (as for training); default: the run's. */
  data?: string;
  /** Horizontal-flip test-time augmentation (default: as the run's final evaluation, its `tta`). */
  tta?: boolean;
  /** Also average over shifts by ± this many pixels (default: as the run's final evaluation, its `ttaTranslate`). */
  ttaTranslate?: number;
}

/**
 * Accuracy, loss, per-class accuracy and confusion matrix of a trained model on labelled images, as its run's
 * final evaluation computes them (its TTA and precision unless the options say otherwise), with a description of
 * the images.
 */
export async function evaluateTrained(
  trained: TrainedModel,
  options: EvaluateTrainedOptions,
): Promise<{ evaluation: Evaluation; description: string }> {
  const { config, data } = trained;
  const { dataset, description } = await evaluationImages(trained, options.split, options.data);
  // The labels are class indices: scored against another list of classes, they would count the wrong answers.
  if (!isDeepStrictEqual(dataset.classes, data.classes)) {
    throw new TorchError(
      `the data's classes ${JSON.stringify(dataset.classes)} are not the run's ${JSON.stringify(data.classes)} ` +
        "(its data.json): evaluate it on images of the run's classes",
      'eval',
    );
  }
  const stream = streamOf(dataset, {
    seed: 0,
    shuffle: false,
    dropLast: false,
    augment: null,
    normalization: data.normalization,
  });
  try {
    // The trainer's final evaluation: flip and translation each as the run's configuration says, unless overridden.
    const evaluation = await evaluate(trained.model, stream.batches(0, 500, 0), data.classes.length, {
      tta: options.tta ?? config.tta,
      translate: options.ttaTranslate ?? config.ttaTranslate,
      precision: config.precision,
    });
    return { evaluation, description };
  } finally {
    await stream.close();
  }
}

export interface Prediction {
  file: string;
  label: string;
  probability: number;
  /** The five most probable classes. */
  top: { label: string; probability: number }[];
}

/** The image files `paths` name: files as given, folders as the JPEG and PNG files in them (and their sub-folders), sorted. */
export function imageFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) => {
    if (!existsSync(path)) throw new TorchError(`${path} does not exist`, 'predict');
    if (!statSync(path).isDirectory()) return [path];
    const found = readdirSync(path, { recursive: true, encoding: 'utf8' })
      .sort()
      .filter((name) => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase()))
      .map((name) => join(path, name));
    if (found.length === 0) throw new TorchError(`${path} is a folder without JPEG or PNG images`, 'predict');
    return found;
  });
}

/** Classifies image files (JPEG/PNG; folders: the images in them), resized to the model's training size. */
export async function predictImages(trained: TrainedModel, paths: readonly string[]): Promise<Prediction[]> {
  // A run folder whose data.json does not record the image size was written when runs trained on 32×32 images.
  const [height, width] = trained.data.imageSize ?? [32, 32];
  const channels = 3;
  const normalizer = new BatchNormalizer(channels, trained.data.normalization);
  const out: Prediction[] = [];
  for (const file of imageFiles(paths)) {
    const image = await decodeImage(new Uint8Array(readFileSync(file)), file);
    const rgb =
      image.width === width && image.height === height
        ? image.data
        : resizeImage(image.data, image.width, image.height, channels, width, height);
    const chw = hwcToChw(rgb, { height, width, channels });
    const probs = tidy(() =>
      noGrad(() => {
        const x = normalizer.apply(chw, [1, channels, height, width]);
        return F.softmax(trained.model.forward(x), 1).flatten().toTypedArray() as Float32Array;
      }),
    );
    const ranked = Array.from(probs, (p, k) => ({ label: trained.data.classes[k]!, probability: p })).sort(
      (a, b) => b.probability - a.probability,
    );
    out.push({ file, label: ranked[0]!.label, probability: ranked[0]!.probability, top: ranked.slice(0, 5) });
  }
  return out;
}
