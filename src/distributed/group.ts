/**
 * Process groups and collectives on libtorch's c10d: ranks meet through a TCPStore served by rank 0
 * (the `env://` convention of torch.distributed) and talk through ProcessGroupGloo (CPU tensors) or,
 * with a CUDA libtorch built with it, ProcessGroupNCCL.
 *
 * Every collective has a timeout: a rank that died makes the others fail at once (gloo sees the
 * connection close), a rank that hangs makes them fail after the timeout — with a TorchError naming
 * the collective and this rank, never a silent hang. Joining the group and the `…Async` collectives
 * wait on libuv's thread pool, so the event loop (signal handlers, timers) keeps running meanwhile.
 * @module
 */
import { native, type NativeGroup, type NativeWork } from '../native/binding.js';
import { full } from '../tensor/creation.js';
import { TorchError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';

/** A reduction of {@link ProcessGroup.allReduce}. */
export type ReduceOp = 'sum' | 'product' | 'min' | 'max' | 'avg';

/** Where this process stands in the world (torchrun's variables). */
export interface DistEnv {
  /** Host of rank 0's TCPStore (MASTER_ADDR). */
  masterAddr: string;
  /** Its port (MASTER_PORT). */
  masterPort: number;
  /** This process's rank, 0…worldSize−1 (RANK). */
  rank: number;
  /** The number of processes (WORLD_SIZE). */
  worldSize: number;
  /** This process's rank on its machine (LOCAL_RANK). */
  localRank: number;
}

/** Options of {@link initProcessGroup}. */
export interface ProcessGroupOptions extends Partial<DistEnv> {
  /** gloo (CPU tensors, default) or nccl (CUDA tensors; a CUDA libtorch with NCCL). */
  backend?: 'gloo' | 'nccl';
  /**
   * How long joining and each collective may wait, in ms (default PDENET_DIST_TIMEOUT_MS, else 300,000).
   * A hung peer is reported after this long.
   */
  timeoutMs?: number;
  /** gloo: the network interface to use (default GLOO_SOCKET_IFNAME; else the host's address, loopback for a local world). */
  interface?: string;
}

/** The default timeout of joining and of collectives: PDENET_DIST_TIMEOUT_MS, else 5 minutes. */
export function defaultTimeoutMs(): number {
  const v = process.env.PDENET_DIST_TIMEOUT_MS;
  return v === undefined || v === '' ? 300_000 : positiveInt(v, 'PDENET_DIST_TIMEOUT_MS');
}

function positiveInt(v: string | number, name: string, min = 1): number {
  const n = typeof v === 'number' ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new TorchError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`, 'initProcessGroup');
  }
  return n;
}

/**
 * The env:// variables (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK), or null when WORLD_SIZE
 * is unset (a process on its own). Throws a TorchError naming a variable that is missing or malformed.
 */
export function distEnv(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') return null;
  const worldSize = positiveInt(env.WORLD_SIZE, 'WORLD_SIZE');
  const need = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === '') {
      throw new TorchError(
        `WORLD_SIZE is set, so ${name} must be too (start workers with \`pdenet launch\`)`,
        'initProcessGroup',
      );
    }
    return v;
  };
  const rank = positiveInt(need('RANK'), 'RANK', 0);
  if (rank >= worldSize) throw new TorchError(`RANK ${rank} is not below WORLD_SIZE ${worldSize}`, 'initProcessGroup');
  const masterPort = positiveInt(need('MASTER_PORT'), 'MASTER_PORT');
  if (masterPort > 65535)
    throw new TorchError(`MASTER_PORT must be a port (1…65535), got ${masterPort}`, 'initProcessGroup');
  return {
    masterAddr: need('MASTER_ADDR'),
    masterPort,
    rank,
    worldSize,
    localRank: env.LOCAL_RANK ? positiveInt(env.LOCAL_RANK, 'LOCAL_RANK', 0) : rank,
  };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;

/**
 * Joins the process group described by `options`, the env:// variables filling what is left out.
 * Resolves once every rank has joined; rejects with a TorchError when the address cannot be served or
 * reached, or the world has not assembled within the timeout.
 */
export async function initProcessGroup(options: ProcessGroupOptions = {}): Promise<ProcessGroup> {
  const env = distEnv();
  const get = <K extends keyof DistEnv>(key: K, fallback?: DistEnv[K]): DistEnv[K] => {
    const v = (options[key] as DistEnv[K] | undefined) ?? env?.[key] ?? fallback;
    if (v === undefined) {
      throw new TorchError(
        `${key} is not given and the env:// variables are not set (start workers with \`pdenet launch\`)`,
        'initProcessGroup',
      );
    }
    return v;
  };
  const worldSize = positiveInt(get('worldSize'), 'worldSize');
  const rank = positiveInt(get('rank'), 'rank', 0);
  if (rank >= worldSize) throw new TorchError(`rank ${rank} is not below worldSize ${worldSize}`, 'initProcessGroup');
  const localRank = positiveInt(get('localRank', rank), 'localRank', 0);
  const masterAddr = get('masterAddr');
  const masterPort = positiveInt(get('masterPort'), 'masterPort');
  if (masterPort > 65535)
    throw new TorchError(`masterPort must be a port (1…65535), got ${masterPort}`, 'initProcessGroup');
  const timeoutMs = positiveInt(options.timeoutMs ?? defaultTimeoutMs(), 'timeoutMs');
  const backend = options.backend ?? 'gloo';
  if (!native.distHasBackend(backend)) {
    throw new TorchError(
      backend === 'nccl'
        ? 'this libtorch has no NCCL: use a CUDA build of libtorch (LIBTORCH=…) and rebuild'
        : "pdenet was built without gloo's headers: install them (sudo apt-get install -y libgloo-dev) and rebuild " +
            'with `node scripts/build-native.mjs --force`',
      'initProcessGroup',
    );
  }
  const ifname = options.interface ?? process.env.GLOO_SOCKET_IFNAME;
  const where = `${masterAddr}:${masterPort}`;
  let handle: NativeGroup;
  try {
    handle = await native.distInit({
      masterAddr,
      masterPort,
      rank,
      worldSize,
      timeoutMs,
      backend,
      ...(ifname ? { interface: ifname } : LOOPBACK.test(masterAddr) ? { hostname: '127.0.0.1' } : {}),
    });
  } catch (e) {
    throw new TorchError(
      `rank ${rank} of ${worldSize} could not join the group at ${where} within ${timeoutMs} ms: ` +
        `${reason(e)}${rank === 0 ? '' : ` (is rank 0 running, and is ${where} reachable from here?)`}`,
      'initProcessGroup',
    );
  }
  return new ProcessGroup(handle, rank, worldSize, localRank, timeoutMs);
}

/**
 * What gloo's transport says when a peer's connection closed or a peer is silent past the timeout (its pair's
 * IoExceptions, and the timeout of a wait in csrc/distributed.cpp): another rank has exited, failed or hung.
 */
const PEER_LOST =
  /Connection closed by peer|Connection reset by peer|Broken pipe|Socket (unexpectedly )?closed|Read error|Write error|(Read|Write|Send|Connect) timeout|Timed out waiting|Application timeout caused pair closure|did not complete within \d+ ms/;

/** The message of a failure, without the op prefix of a TorchError or gloo's source location. */
function reason(e: unknown): string {
  const message =
    e instanceof TorchError ? e.message.slice(e.op.length + 2) : e instanceof Error ? e.message : String(e);
  return message.replace(/^\[[^\]]*\.(cc|cpp|h):\d+\] /, '');
}

/** Options of a collective. */
export interface CollectiveOptions {
  /** How long to wait, in ms (default: the group's timeout). */
  timeoutMs?: number;
}

/**
 * A joined group of `size` processes; this one is `rank`. Collectives work in place on CPU tensors
 * (contiguous, same shape and dtype on every rank) and must be called in the same order on every rank.
 */
export class ProcessGroup {
  #handle: NativeGroup | null;

  /** @internal Use {@link initProcessGroup}. */
  constructor(
    handle: NativeGroup,
    readonly rank: number,
    readonly size: number,
    readonly localRank: number,
    readonly timeoutMs: number,
  ) {
    this.#handle = handle;
  }

  /** @internal The native group; throws once destroyed. */
  get handle(): NativeGroup {
    if (this.#handle === null) throw new TorchError('the process group was destroyed', 'ProcessGroup');
    return this.#handle;
  }

  /** Whether this is rank 0, the one that writes a run's files. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  #wait(op: string, work: NativeWork, options: CollectiveOptions): void {
    try {
      native.distWait(work, options.timeoutMs ?? this.timeoutMs);
    } catch (e) {
      throw this.failure(op, e);
    } finally {
      native.distRelease(work);
    }
  }

  async #waitAsync(op: string, work: NativeWork, options: CollectiveOptions): Promise<void> {
    try {
      await native.distWaitAsync(work, options.timeoutMs ?? this.timeoutMs);
    } catch (e) {
      throw this.failure(op, e);
    } finally {
      native.distRelease(work);
    }
  }

  #start(op: string, begin: () => NativeWork): NativeWork {
    try {
      return begin();
    } catch (e) {
      throw this.failure(op, e);
    }
  }

  /**
   * A collective's failure as one clear TorchError naming this rank (`op`: what failed); when gloo lost a
   * connection or timed out, it says that another rank is the cause.
   */
  failure(op: string, e: unknown): TorchError {
    const why = reason(e);
    return new TorchError(
      `rank ${this.rank} of ${this.size}: ${why}` +
        (PEER_LOST.test(why) ? ' — another rank has exited, failed or hung; every rank stops' : ''),
      op,
    );
  }

  /** Starts an all-reduce of `tensors` (the sync and async forms wait on it). */
  #startAllReduce(tensors: Tensor | readonly Tensor[], op: ReduceOp): NativeWork {
    const list = Array.isArray(tensors) ? tensors : [tensors as Tensor];
    return this.#start('allReduce', () =>
      native.distAllReduce(
        this.handle,
        list.map((t) => t.handle),
        op,
      ),
    );
  }

  /** Starts a barrier. */
  #startBarrier(): NativeWork {
    return this.#start('barrier', () => native.distBarrier(this.handle));
  }

  /** Reduces `tensors` element-wise over all ranks, in place (default: sum). */
  allReduce(tensors: Tensor | readonly Tensor[], op: ReduceOp = 'sum', options: CollectiveOptions = {}): void {
    this.#wait('allReduce', this.#startAllReduce(tensors, op), options);
  }

  /** {@link allReduce}, waiting off the event loop. */
  async allReduceAsync(
    tensors: Tensor | readonly Tensor[],
    op: ReduceOp = 'sum',
    options: CollectiveOptions = {},
  ): Promise<void> {
    await this.#waitAsync('allReduce', this.#startAllReduce(tensors, op), options);
  }

  /** Copies `root`'s `tensors` into every other rank's, in place. */
  broadcast(tensors: Tensor | readonly Tensor[], root = 0, options: CollectiveOptions = {}): void {
    const list = Array.isArray(tensors) ? tensors : [tensors as Tensor];
    const work = this.#start('broadcast', () =>
      native.distBroadcast(
        this.handle,
        list.map((t) => t.handle),
        root,
      ),
    );
    this.#wait('broadcast', work, options);
  }

  /** `outputs[i]` receives rank i's `input` (one output per rank, each shaped like `input`). */
  allGather(outputs: readonly Tensor[], input: Tensor, options: CollectiveOptions = {}): void {
    const work = this.#start('allGather', () =>
      native.distAllGather(
        this.handle,
        input.handle,
        outputs.map((t) => t.handle),
      ),
    );
    this.#wait('allGather', work, options);
  }

  /** Waits until every rank has reached its barrier. */
  barrier(options: CollectiveOptions = {}): void {
    this.#wait('barrier', this.#startBarrier(), options);
  }

  /** {@link barrier}, waiting off the event loop. */
  async barrierAsync(options: CollectiveOptions = {}): Promise<void> {
    await this.#waitAsync('barrier', this.#startBarrier(), options);
  }

  /**
   * Whether `flag` holds on any rank (an all-reduce of one number). Ranks that must stop together — after
   * a SIGINT that reached some of them first — ask this once per step and stop after the same one.
   */
  any(flag: boolean, options: CollectiveOptions = {}): boolean {
    const t = full([1], flag ? 1 : 0, { dtype: 'int32' });
    try {
      this.allReduce(t, 'max', options);
      return t.item() !== 0;
    } finally {
      t.dispose();
    }
  }

  /**
   * Leaves the group (its store and connections close once nothing else — a DDP reducer — holds them).
   * Collectives afterwards throw.
   */
  destroy(): void {
    if (this.#handle !== null) native.distRelease(this.#handle);
    this.#handle = null;
  }
}
