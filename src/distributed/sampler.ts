/**
 * Sharding an epoch's order across ranks, as torch.utils.data.DistributedSampler does: every rank
 * draws the same seeded permutation of the epoch (the DataLoader's `order(epoch)`), pads it by
 * repeating its head until it divides evenly (or drops the tail with `dropLast`), and takes every
 * `worldSize`-th index from its rank on. All ranks get the same number of samples, so they run the
 * same number of steps; and rank r's batch b together with the others' batch b is exactly the
 * one-process batch b of `worldSize` times the size (the samples of a global batch, interleaved).
 * @module
 */
import { TorchError } from '../tensor/errors.js';

/** Options of {@link shardOrder}. */
export interface ShardOptions {
  rank: number;
  worldSize: number;
  /** Drop the tail that does not divide evenly instead of padding with the head (default false). */
  dropLast?: boolean;
}

/** Samples per rank for an epoch of `n` samples. */
export function shardLength(n: number, options: ShardOptions): number {
  checkShard(options);
  return options.dropLast ? Math.floor(n / options.worldSize) : Math.ceil(n / options.worldSize);
}

function checkShard({ rank, worldSize }: ShardOptions): void {
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new TorchError(`worldSize must be an integer ≥ 1, got ${worldSize}`, 'shardOrder');
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new TorchError(`rank must be an integer in 0…${worldSize - 1}, got ${rank}`, 'shardOrder');
  }
}

/**
 * This rank's share of `order` (one epoch's sample indices, identical on every rank):
 * `padded[rank], padded[rank + worldSize], …` — PyTorch's DistributedSampler on the same order.
 */
export function shardOrder(order: Int32Array, options: ShardOptions): Int32Array {
  const length = shardLength(order.length, options);
  if (length > 0 && order.length === 0) throw new TorchError('cannot shard an empty epoch', 'shardOrder');
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) out[i] = order[(options.rank + i * options.worldSize) % order.length]!;
  return out;
}
