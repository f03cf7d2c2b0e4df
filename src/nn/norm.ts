/**
 * Normalization layers.
 * @module
 */
import { ones, tensor, zeros } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** Options of BatchNorm2d. */
export interface BatchNormOptions {
  eps?: number;
  /**
   * Running statistics update: running = (1 − momentum)·running + momentum·batch (default 0.1);
   * null for the cumulative average over all batches seen.
   */
  momentum?: number | null;
  /** Learn a per-channel scale and shift (default true). */
  affine?: boolean;
  /** Keep running statistics for evaluation (default true); without them, batch statistics are always used. */
  trackRunningStats?: boolean;
}

/**
 * Batch normalization over N, H, W for each channel (PyTorch's nn.BatchNorm2d): in training, the batch
 * statistics normalize and the running ones are updated (variance with Bessel's correction); in
 * evaluation, the running ones normalize.
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;

  constructor(
    readonly numFeatures: number,
    options: BatchNormOptions = {},
  ) {
    super();
    check(
      Number.isInteger(numFeatures) && numFeatures > 0,
      'BatchNorm2d',
      `numFeatures must be a positive integer, got ${numFeatures}`,
    );
    const { eps = 1e-5, momentum = 0.1, affine = true, trackRunningStats = true } = options;
    this.eps = eps;
    this.momentum = momentum;
    this.weight = this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
    this.runningMean = this.registerBuffer('running_mean', trackRunningStats ? zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', trackRunningStats ? ones([numFeatures]) : null);
    this.numBatchesTracked = this.registerBuffer(
      'num_batches_tracked',
      trackRunningStats ? tensor([0n], { shape: [] }) : null,
    );
  }

  forward(input: Tensor): Tensor {
    check(input.ndim === 4, 'BatchNorm2d', `expects N×C×H×W input, got shape [${input.shape.join(', ')}]`);
    let momentum = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked !== null) {
      noGrad(() => this.numBatchesTracked!.add_(1));
      if (this.momentum === null) momentum = 1 / this.numBatchesTracked.item();
    }
    // Without running statistics, batch statistics normalize in evaluation too.
    return F.batchNorm(input, this.runningMean, this.runningVar, {
      weight: this.weight,
      bias: this.bias,
      training: this.training || this.runningMean === null,
      momentum,
      eps: this.eps,
    });
  }

  protected override extraRepr(): string {
    return (
      `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight !== null}, ` +
      `trackRunningStats=${this.runningMean !== null}`
    );
  }
}

/** Group normalization (PyTorch's nn.GroupNorm). */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly options: { eps?: number; affine?: boolean } = {},
  ) {
    super();
    check(
      Number.isInteger(numGroups) && numGroups > 0 && numChannels % numGroups === 0,
      'GroupNorm',
      `numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`,
    );
    const affine = options.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones([numChannels]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numChannels]) : null);
  }

  forward(input: Tensor): Tensor {
    return F.groupNorm(input, this.numGroups, { weight: this.weight, bias: this.bias, eps: this.options.eps ?? 1e-5 });
  }

  protected override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}`;
  }
}

/** Layer normalization over the trailing `normalizedShape` dimensions (PyTorch's nn.LayerNorm). */
export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly normalizedShape: number[];

  constructor(
    normalizedShape: number | readonly number[],
    readonly options: { eps?: number; elementwiseAffine?: boolean } = {},
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    const affine = options.elementwiseAffine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones(this.normalizedShape) : null);
    this.bias = this.registerParameter('bias', affine ? zeros(this.normalizedShape) : null);
  }

  forward(input: Tensor): Tensor {
    return F.layerNorm(input, this.normalizedShape, {
      weight: this.weight,
      bias: this.bias,
      eps: this.options.eps ?? 1e-5,
    });
  }

  protected override extraRepr(): string {
    return `[${this.normalizedShape}]`;
  }
}
