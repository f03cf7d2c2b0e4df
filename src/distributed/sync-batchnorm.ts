/**
 * Synchronized batch normalization: in training, every BatchNorm2d normalizes with the statistics
 * of the whole global batch (all ranks' samples), as torch.nn.SyncBatchNorm does, so that 2 ranks × 16
 * images normalize exactly as 1 process × 32 would. Without it, each rank normalizes with its own
 * batch's statistics (PyTorch's default under DDP).
 *
 * Per channel, each rank sums x and x² over its N·H·W values; one all-reduce gives the global sums
 * S, Q and count n, hence  μ = S/n,  σ² = Q/n − μ²,  y = γ·(x − μ)/√(σ² + ε) + β. In the backward pass the
 * gradient reaching (S, Q) is summed over the ranks too (a gradient hook in c10d's group), which is the
 * other half of the exact gradient of the global loss. Running statistics take the global μ and the
 * unbiased σ²·n/(n−1). In evaluation the layer is an ordinary BatchNorm2d.
 * @module
 */
import { native } from '../native/binding.js';
import { noGrad } from '../tensor/autograd.js';
import { full } from '../tensor/creation.js';
import { check } from '../tensor/errors.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import type { ProcessGroup } from './group.js';

/** The sums (S, Q, n) over all ranks, differentiable: the gradient reaching them is summed over the ranks. */
function globalSums(local: Tensor, group: ProcessGroup): Tensor {
  const summed = noGrad(() => local.detach().clone());
  group.allReduce(summed);
  if (!local.requiresGrad) return summed;
  // summed + (local − local.detach()): the value of `summed` exactly, the gradient of `local`
  const zero = local.sub(local.detach());
  const sums = summed.add(zero);
  summed.dispose();
  zero.dispose();
  native.distSumGradient(group.handle, sums.handle);
  return sums;
}

/** BatchNorm2d's training forward with the global batch's statistics. */
export function syncBatchNorm2d(bn: BatchNorm2d, input: Tensor, group: ProcessGroup): Tensor {
  check(input.ndim === 4, 'SyncBatchNorm', `expects N×C×H×W input, got shape [${input.shape.join(', ')}]`);
  const c = bn.numFeatures;
  check(input.shape[1] === c, 'SyncBatchNorm', `expects ${c} channels, got ${input.shape[1]}`);
  const s = input.sum([0, 2, 3]);
  const sq = input.mul(input);
  const q = sq.sum([0, 2, 3]);
  const n = full([1], input.numel / c, { dtype: input.dtype });
  const local = cat([s, q, n]);
  for (const t of [s, sq, q, n]) t.dispose();
  const sums = globalSums(local, group);
  local.dispose();
  const count = noGrad(() => sums.select(0, 2 * c).item());
  const mean = sums.narrow(0, 0, c).div(count);
  const meanSq = sums.narrow(0, c, c).div(count);
  const var_ = meanSq.sub(mean.mul(mean));
  const invStd = var_.add(bn.eps).pow(-0.5);
  if (bn.runningMean !== null && bn.runningVar !== null && bn.numBatchesTracked !== null) {
    noGrad(() => {
      bn.numBatchesTracked!.add_(1);
      const m = bn.momentum ?? 1 / bn.numBatchesTracked!.item();
      bn.runningMean!.mul_(1 - m).add_(mean.detach(), m);
      bn.runningVar!.mul_(1 - m).add_(var_.detach().mul(count / Math.max(count - 1, 1)), m);
    });
  }
  const shape = [1, c, 1, 1];
  let y = input.sub(mean.view(shape)).mul(invStd.view(shape));
  if (bn.weight !== null) y = y.mul(bn.weight.view(shape));
  if (bn.bias !== null) y = y.add(bn.bias.view(shape));
  return y;
}

/**
 * Makes every BatchNorm2d under `model` synchronized across `group` in training (the modules, their
 * names and their state dict stay as they are; evaluation is unchanged). Returns how many it changed.
 * Call it on every rank, before training; PyTorch's counterpart is SyncBatchNorm.convert_sync_batchnorm.
 */
export function convertSyncBatchNorm(model: Module, group: ProcessGroup): number {
  let count = 0;
  for (const m of model.modules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    const bn = m;
    const plain = bn.forward.bind(bn);
    Object.defineProperty(bn, 'forward', {
      configurable: true,
      writable: true,
      value: (input: Tensor): Tensor =>
        bn.training && group.size > 1 ? syncBatchNorm2d(bn, input, group) : plain(input),
    });
    count++;
  }
  return count;
}
