/**
 * Data-parallel training on libtorch's c10d: process groups and collectives (group.ts), the DDP
 * wrapper (ddp.ts), synchronized batch norm (sync-batchnorm.ts) and the sharded order of an epoch
 * (sampler.ts). Processes are started by `pdenet launch` (src/cli/launch.ts). See docs/distributed.md.
 * @module
 */
export {
  initProcessGroup,
  ProcessGroup,
  distEnv,
  defaultTimeoutMs,
  type DistEnv,
  type ProcessGroupOptions,
  type ReduceOp,
  type CollectiveOptions,
} from './group.js';
export { DistributedDataParallel, checkSameModel, broadcastTensors, type DDPOptions } from './ddp.js';
export { convertSyncBatchNorm, syncBatchNorm2d } from './sync-batchnorm.js';
export { shardOrder, shardLength, type ShardOptions } from './sampler.js';
