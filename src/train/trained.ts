/**
 * Using a trained model: rebuild it from a run folder or a checkpoint path, with the classes and the
 * normalization its training used, and classify images.
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadSafetensors } from '../io/safetensors.js';
import { noGrad } from '../tensor/autograd.js';
import { TorchError } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { createModel } from '../models/registry.js';
import type { ImageModel } from '../models/registry.js';
import { decodeImage, resizeImage } from '../data/codec.js';
import { BatchNormalizer } from '../data/transforms.js';
import { hwcToChw } from '../data/augment.js';
import { loadCheckpoint } from './checkpoint.js';
import { resolveConfig, type TrainConfig } from './config.js';
import type { RunData } from './trainer.js';

export interface TrainedModel {
  model: ImageModel;
  config: TrainConfig;
  data: RunData;
  runDir: string;
  /** The weights file or checkpoint read. */
  weights: string;
}

function readJson<T>(path: string, what: string): T {
  if (!existsSync(path)) throw new TorchError(`${path} is missing: ${what}`, 'loadTrainedModel');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    throw new TorchError(`${path} is not valid JSON`, 'loadTrainedModel');
  }
}

/**
 * Loads a model trained by `pdenet train` from its run folder (best weights), a weights file
 * (`checkpoints/best.safetensors`) or a training checkpoint (`checkpoints/last.ckpt.safetensors`).
 */
export function loadTrainedModel(path: string): TrainedModel {
  if (!existsSync(path)) throw new TorchError(`${path} does not exist`, 'loadTrainedModel');
  const isRun = statSync(path).isDirectory();
  const weights = isRun ? join(path, 'checkpoints/best.safetensors') : path;
  const runDir = isRun ? path : basename(dirname(path)) === 'checkpoints' ? dirname(dirname(path)) : dirname(path);
  const config = resolveConfig(readJson<Partial<TrainConfig>>(join(runDir, 'config.json'), 'the run configuration'));
  const data = readJson<RunData>(join(runDir, 'data.json'), 'the run data description');
  const model = createModel(config.model, { ...config.modelOptions, numClasses: data.classes.length });
  let state: Map<string, Tensor>;
  let release: () => void;
  if (weights.endsWith('.ckpt.safetensors')) {
    const ckpt = loadCheckpoint(weights);
    state = ckpt.ema ?? ckpt.model;
    release = ckpt.dispose;
  } else {
    state = loadSafetensors(weights).tensors;
    release = () => { for (const t of state.values()) t.dispose(); };
  }
  try {
    model.loadStateDict(state);
  } finally {
    release();
  }
  model.eval();
  return { model, config, data, runDir, weights };
}

export interface Prediction {
  file: string;
  label: string;
  probability: number;
  /** The five most probable classes. */
  top: { label: string; probability: number }[];
}

/** Classifies image files (JPEG/PNG), resized to the model's training size. */
export async function predictImages(trained: TrainedModel, files: readonly string[], size = 32): Promise<Prediction[]> {
  const channels = 3;
  const normalizer = new BatchNormalizer(channels, trained.data.normalization);
  const out: Prediction[] = [];
  for (const file of files) {
    if (!existsSync(file)) throw new TorchError(`${file} does not exist`, 'predict');
    const image = await decodeImage(new Uint8Array(readFileSync(file)), file);
    const rgb = image.width === size && image.height === size ? image.data
      : resizeImage(image.data, image.width, image.height, channels, size, size);
    const chw = hwcToChw(rgb, { height: size, width: size, channels });
    const probs = tidy(() => noGrad(() => {
      const x = normalizer.apply(chw, [1, channels, size, size]);
      return F.softmax(trained.model.forward(x), 1).flatten().toTypedArray() as Float32Array;
    }));
    const ranked = Array.from(probs, (p, k) => ({ label: trained.data.classes[k]!, probability: p }))
      .sort((a, b) => b.probability - a.probability);
    out.push({ file, label: ranked[0]!.label, probability: ranked[0]!.probability, top: ranked.slice(0, 5) });
  }
  return out;
}
