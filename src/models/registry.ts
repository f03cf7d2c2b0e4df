/**
 * The registry of the model zoo: `createModel(name, options)` and `listModels()`.
 * @module
 */
import { TorchError } from '../tensor/errors.js';
import type { Shape } from '../tensor/tensor.js';
import { countFlops } from './flops.js';
import { resnet20, resnet32, resnet44, resnet56, resnet110 } from './he.js';
import type { ModelOptions } from './options.js';
import { pdenetM, pdenetS } from './pdenet.js';
import { preactResnet18, preactResnet34, resnet10s } from './preact.js';
import { resnet18, resnet34, resnet50, resnet101, resnet152 } from './resnet.js';
import { resnet50CoordMix } from './coordmix.js';
import {
  notebookPdenet,
  notebookResnet18,
  notebookResnet34,
  notebookResnet50,
  notebookResnet101,
  notebookResnet152,
} from './notebook.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TrainingAbilities } from './abilities.js';
import { rknet } from './rknet.js';
import { speednet } from './speednet.js';

/** A model of the zoo: images N×3×H×W in, class scores N×classes out, and the abilities it declares for training. */
export type ImageModel = Module & { forward(input: Tensor): Tensor } & TrainingAbilities;

/** One entry of the registry. */
export interface ModelEntry {
  name: string;
  description: string;
  /** The factory (also exported under its own name, e.g. `resnet18`). */
  create: (options?: ModelOptions) => ImageModel;
  /** The input the model is made for, N×3×H×W with N = 1 (used by {@link listModels}). */
  inputShape: Shape;
}

const CIFAR: Shape = [1, 3, 32, 32];
const IMAGENET: Shape = [1, 3, 224, 224];

const ENTRIES = [
  {
    name: 'resnet18',
    create: resnet18,
    inputShape: CIFAR,
    description: 'CIFAR ResNet-18, kuangliu layout (BasicBlock [2,2,2,2])',
  },
  {
    name: 'resnet34',
    create: resnet34,
    inputShape: CIFAR,
    description: 'CIFAR ResNet-34, kuangliu layout (BasicBlock [3,4,6,3])',
  },
  {
    name: 'resnet50',
    create: resnet50,
    inputShape: CIFAR,
    description: 'CIFAR ResNet-50, kuangliu layout (Bottleneck [3,4,6,3])',
  },
  {
    name: 'resnet101',
    create: resnet101,
    inputShape: CIFAR,
    description: 'CIFAR ResNet-101, kuangliu layout (Bottleneck [3,4,23,3])',
  },
  {
    name: 'resnet152',
    create: resnet152,
    inputShape: CIFAR,
    description: 'CIFAR ResNet-152, kuangliu layout (Bottleneck [3,8,36,3])',
  },
  {
    name: 'preact-resnet18',
    create: preactResnet18,
    inputShape: CIFAR,
    description: "pre-activation ResNet-18 ([2,2,2,2], width 64; the seed notebook's block), fused twist",
  },
  {
    name: 'preact-resnet34',
    create: preactResnet34,
    inputShape: CIFAR,
    description: "pre-activation ResNet-34 ([3,4,6,3], width 64; the seed notebook's block), fused twist",
  },
  {
    name: 'resnet10s',
    create: resnet10s,
    inputShape: CIFAR,
    description: "pre-activation ResNet-10 ([1,1,1,1], width 16; the seed notebook's block), fused twist",
  },
  {
    name: 'notebook-resnet18',
    create: notebookResnet18,
    inputShape: CIFAR,
    description: "the seed notebook's ResNet18 (pre-activation BasicBlock [2,2,2,2], channels [1,2,4,4]·32), its twist",
  },
  {
    name: 'notebook-resnet34',
    create: notebookResnet34,
    inputShape: CIFAR,
    description: "the seed notebook's ResNet34 (pre-activation BasicBlock [3,4,6,3], channels [1,2,4,4]·32), its twist",
  },
  {
    name: 'notebook-resnet50',
    create: notebookResnet50,
    inputShape: CIFAR,
    description: "the seed notebook's ResNet50 (Bottleneck [3,4,6,3], channels [1,2,4,4]·32), its twist",
  },
  {
    name: 'notebook-resnet101',
    create: notebookResnet101,
    inputShape: CIFAR,
    description: "the seed notebook's ResNet101 (Bottleneck [3,4,23,3], channels [1,2,4,4]·32), its twist",
  },
  {
    name: 'notebook-resnet152',
    create: notebookResnet152,
    inputShape: CIFAR,
    description: "the seed notebook's ResNet152 (Bottleneck [3,8,36,3], channels [1,2,4,4]·32), its twist",
  },
  {
    name: 'notebook-pdenet',
    create: notebookPdenet,
    inputShape: CIFAR,
    description: "the seed notebook's ResNet(PDEBlock, [3,3,3,0]): 2 Euler steps per block, groups 4, width 32",
  },
  {
    name: 'resnet20',
    create: resnet20,
    inputShape: CIFAR,
    description: 'He et al. CIFAR ResNet-20 (3×3 blocks, 16/32/64), train_ref.py',
  },
  {
    name: 'resnet32',
    create: resnet32,
    inputShape: CIFAR,
    description: 'He et al. CIFAR ResNet-32 (3×5 blocks, 16/32/64)',
  },
  {
    name: 'resnet44',
    create: resnet44,
    inputShape: CIFAR,
    description: 'He et al. CIFAR ResNet-44 (3×7 blocks, 16/32/64)',
  },
  {
    name: 'resnet56',
    create: resnet56,
    inputShape: CIFAR,
    description: 'He et al. CIFAR ResNet-56 (3×9 blocks, 16/32/64)',
  },
  {
    name: 'resnet110',
    create: resnet110,
    inputShape: CIFAR,
    description: 'He et al. CIFAR ResNet-110 (3×18 blocks, 16/32/64)',
  },
  {
    name: 'resnet50-seed003',
    create: resnet50CoordMix,
    inputShape: IMAGENET,
    description:
      'ImageNet-style ResNet-50 (torchvision layout), coordinate-mixed Bottleneck (seed 003): depthwise ×4 · mix(XY); 224×224',
  },
  {
    name: 'pdenet-s',
    create: pdenetS,
    inputShape: CIFAR,
    description: 'PDEBlock net: width 32, 1 PDEBlock per stage, 4 Euler steps each',
  },
  {
    name: 'pdenet-m',
    create: pdenetM,
    inputShape: CIFAR,
    description: 'PDEBlock net: width 64, 2 PDEBlocks per stage, 4 Euler steps each',
  },
  {
    name: 'speednet',
    create: speednet,
    inputShape: CIFAR,
    description:
      "speed-run CIFAR net: whitening stem, 3 conv groups (64/256/256), frozen-scale BN; twist on each group's 2nd conv",
  },
  {
    name: 'rknet',
    create: rknet,
    inputShape: CIFAR,
    description:
      'DynamicBlocks runDefault RKNet: 3 blocks RK4 + DoubleSym + TvNorm, channels [16,32,64,64], time points [0..4], clipped',
  },
] as const satisfies readonly ModelEntry[];

/** The name of a model of the zoo. */
export type ModelName = (typeof ENTRIES)[number]['name'];

/** The options the model `N` takes: its family's type for a registered name, every model's for any other string. */
export type OptionsOf<N extends string> = N extends ModelName
  ? NonNullable<Parameters<Extract<(typeof ENTRIES)[number], { name: N }>['create']>[0]>
  : ModelOptions;

const REGISTRY = new Map<string, ModelEntry>(ENTRIES.map((e) => [e.name, e]));

/** The names of the registered models, in the order of {@link listModels}. */
export function modelNames(): string[] {
  return ENTRIES.map((e) => e.name);
}

/** The registry entry of `name`, or a TorchError listing the valid names. */
export function modelEntry(name: string): ModelEntry {
  const entry = REGISTRY.get(name);
  if (entry === undefined) {
    throw new TorchError(
      `unknown model ${JSON.stringify(name)}; the models are ${modelNames().join(', ')}`,
      'createModel',
    );
  }
  return entry;
}

/**
 * Builds the model `name` of the zoo (see {@link listModels}) with `options` — `numClasses` (10),
 * `twist` (per stage), `twistable`, `twistVariant`, `boundary`, `width`; typed by the model when `name` is a
 * literal (`createModel('speednet', { whitenEps })`), {@link ModelOptions} for a name known at run time. Unknown names or bad options throw
 * a TorchError listing the valid ones.
 */
export function createModel<N extends string>(name: N, options?: OptionsOf<N>): ImageModel {
  // Every family's options are a part of ModelOptions, what the registry's factories accept.
  return modelEntry(name).create(options as ModelOptions | undefined);
}

/** What {@link listModels} reports of a model, with 10 classes. */
export interface ModelInfo {
  name: string;
  description: string;
  /** Parameters of the model with the twist off (without the twist's optional parameters). */
  params: number;
  /** FLOPs of one image of `inputShape` with the twist off (see countFlops); null when not measured. */
  flops: number | null;
  /** Parameters with the twist on in every stage (with `twisted: true`). */
  paramsTwisted?: number;
  /** FLOPs of one image with the twist on in every stage (with `twisted: true` and `flops`). */
  flopsTwisted?: number | null;
  /** The input counted: [1, 3, 32, 32] for the CIFAR models, [1, 3, 224, 224] for the ImageNet-style one. */
  inputShape: Shape;
}

/** Options of {@link listModels} and {@link modelInfo}. */
export interface ListOptions {
  /** Run one forward pass per model to count its FLOPs (default true; the slow part). */
  flops?: boolean;
  /** Also measure each model with the twist on in every stage (default false). */
  twisted?: boolean;
}

const measured = new Map<string, { params: number; flops: number | null }>();

function measure(entry: ModelEntry, twist: boolean, flops: boolean): { params: number; flops: number | null } {
  const key = `${entry.name}:${twist}`;
  const known = measured.get(key);
  if (known !== undefined && (known.flops !== null || !flops)) return known;
  const model = entry.create({ twist });
  try {
    const result = { params: model.numParameters(), flops: flops ? countFlops(model, entry.inputShape) : null };
    measured.set(key, result);
    return result;
  } finally {
    model.dispose();
  }
}

/** Parameters and FLOPs of one model of the zoo (built and run once; cached). */
export function modelInfo(name: string, options: ListOptions = {}): ModelInfo {
  const { flops = true, twisted = false } = options;
  const entry = modelEntry(name);
  const plain = measure(entry, false, flops);
  const info: ModelInfo = {
    name,
    description: entry.description,
    params: plain.params,
    flops: plain.flops,
    inputShape: entry.inputShape,
  };
  if (twisted) {
    const t = measure(entry, true, flops);
    info.paramsTwisted = t.params;
    info.flopsTwisted = t.flops;
  }
  return info;
}

/**
 * Every model of the zoo with its parameters and FLOPs for 10 classes at 32×32 (`resnet50-seed003`,
 * ImageNet-style, at 224×224; `inputShape` says which). Each model is built, and run once for its FLOPs
 * (seconds for the big ones on a small CPU: pass `flops: false` for the parameters only); results are
 * cached for the process.
 */
export function listModels(options: ListOptions = {}): ModelInfo[] {
  return ENTRIES.map((e) => modelInfo(e.name, options));
}
