/**
 * Throughput of a model on random data, the way ../shared/reference/pytorch_twist.py measures PyTorch:
 * SGD (lr 0.05, momentum 0.9, weight decay 5e-4) training steps on one fixed random batch, then
 * inference in eval mode without gradients; one warm-up step each.
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { randint, randn } from '../tensor/creation.js';
import { autocast, getNumThreads, manualSeed } from '../tensor/runtime.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { SGD } from '../optim/sgd.js';
import type { ModelOptions } from '../models/options.js';
import { createModel } from '../models/registry.js';

export interface BenchOptions {
  model: string;
  modelOptions?: ModelOptions;
  batchSize?: number;
  steps?: number;
  /** Image side (default 32). */
  size?: number;
  precision?: 'fp32' | 'bf16';
  /** Lay out the model's convolution kernels channels-last (see Module.toMemoryFormat); the outputs follow. */
  channelsLast?: boolean;
}

export interface BenchResult {
  model: string;
  batchSize: number;
  steps: number;
  trainImagesPerSec: number;
  inferImagesPerSec: number;
  threads: number;
}

export function benchModel(options: BenchOptions): BenchResult {
  const {
    model: name,
    modelOptions = {},
    batchSize = 128,
    steps = 10,
    size = 32,
    precision = 'fp32',
    channelsLast = false,
  } = options;
  manualSeed(0);
  const model = createModel(name, modelOptions);
  const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  if (channelsLast) model.toMemoryFormat('channelsLast');
  const x = randn([batchSize, 3, size, size]);
  const y = randint(0, modelOptions.numClasses ?? 10, [batchSize]);
  const forward = () => model.forward(x);
  const run = () => (precision === 'bf16' ? autocast(forward) : forward());
  const step = () =>
    tidy(() => {
      optimizer.zeroGrad();
      const loss = F.crossEntropy(run().float(), y);
      loss.backward();
      optimizer.step();
      return loss.item();
    });
  try {
    model.train();
    step();
    let start = performance.now();
    for (let i = 0; i < steps; i++) step();
    const trainSeconds = (performance.now() - start) / 1000;
    model.eval();
    const infer = () => tidy(() => noGrad(() => (run() as Tensor).sum().item()));
    infer();
    start = performance.now();
    for (let i = 0; i < steps; i++) infer();
    const inferSeconds = (performance.now() - start) / 1000;
    return {
      model: name,
      batchSize,
      steps,
      trainImagesPerSec: (batchSize * steps) / trainSeconds,
      inferImagesPerSec: (batchSize * steps) / inferSeconds,
      threads: getNumThreads(),
    };
  } finally {
    model.dispose();
    optimizer.dispose();
    x.dispose();
    y.dispose();
  }
}
