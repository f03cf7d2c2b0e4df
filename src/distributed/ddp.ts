/**
 * Data parallelism: the same model on every rank, each rank a slice of the global batch, gradients
 * averaged over the ranks before each optimizer step — torch.nn.parallel.DistributedDataParallel,
 * on c10d's own Reducer.
 *
 * - At construction: the ranks check that they hold the same model (parameter and buffer names,
 *   shapes, dtypes), then rank 0's parameters and buffers are broadcast to all.
 * - `forward` arms the Reducer; during `backward`, c10d's Reducer copies each gradient into a flat
 *   bucket (about `bucketCapMB`, in reverse order of the parameters, as PyTorch lays them out) and
 *   all-reduces a bucket as soon as it is full, while the backward pass goes on; when backward
 *   returns, every `.grad` holds the average over the ranks. The optimizer then steps as usual.
 * - Buffers (BatchNorm's running statistics) are broadcast from rank 0 before each training forward,
 *   as PyTorch does with `broadcast_buffers=True`; BatchNorm normalizes with each rank's own batch
 *   unless the model was given `syncBatchNorm: true` (see sync-batchnorm.ts).
 * @module
 */
import { native, type NativeReducer } from '../native/binding.js';
import { isGradEnabled, noGrad } from '../tensor/autograd.js';
import { tensor, zeros } from '../tensor/creation.js';
import { TorchError } from '../tensor/errors.js';
import { cat, Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import type { ProcessGroup } from './group.js';
import { convertSyncBatchNorm } from './sync-batchnorm.js';

/** Options of {@link DistributedDataParallel}. */
export interface DDPOptions {
  /** Size of a gradient bucket in MiB (default 25, PyTorch's). */
  bucketCapMB?: number;
  /** Size of the first bucket (the last parameters' gradients, ready first) in MiB (default 1, PyTorch's). */
  firstBucketMB?: number;
  /** Broadcast rank 0's buffers before each training forward (default true, PyTorch's). */
  broadcastBuffers?: boolean;
  /** Synchronize BatchNorm2d statistics over the ranks in training (default false). */
  syncBatchNorm?: boolean;
  /** Let some parameters get no gradient in a step (default false: each step must use them all). */
  findUnusedParameters?: boolean;
}

/** One line per parameter and buffer: "param name [shape] dtype". */
function signature(module: Module): string {
  const lines: string[] = [];
  for (const [name, p] of module.namedParameters()) lines.push(`parameter ${name} [${p.shape.join(', ')}] ${p.dtype}`);
  for (const [name, b] of module.namedBuffers()) lines.push(`buffer ${name} [${b.shape.join(', ')}] ${b.dtype}`);
  return lines.join('\n');
}

function allGatherInts(group: ProcessGroup, values: Int32Array): Int32Array[] {
  const input = tensor(values);
  const outputs = Array.from({ length: group.size }, () => zeros([values.length], { dtype: 'int32' }));
  try {
    group.allGather(outputs, input);
    return outputs.map((t) => new Int32Array(t.toArray() as number[]));
  } finally {
    input.dispose();
    for (const t of outputs) t.dispose();
  }
}

/**
 * Throws a TorchError on every rank unless every rank's `module` has the same parameters and buffers
 * (names, shapes, dtypes) as rank 0's; the message names the first difference.
 */
export function checkSameModel(module: Module, group: ProcessGroup): void {
  const own = signature(module);
  const codes = Int32Array.from(own, (ch) => ch.codePointAt(0)!);
  const lengths = allGatherInts(group, Int32Array.of(codes.length)).map((l) => l[0]!);
  const longest = Math.max(...lengths);
  const padded = new Int32Array(longest);
  padded.set(codes);
  const all = allGatherInts(group, padded).map((c, r) => String.fromCodePoint(...c.subarray(0, lengths[r])));
  for (let r = 1; r < group.size; r++) {
    if (all[r] === all[0]) continue;
    const a = all[0]!.split('\n');
    const b = all[r]!.split('\n');
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    const has = (lines: string[]): string =>
      i < lines.length ? lines[i]! : `nothing more (${lines.length} tensors in all)`;
    throw new TorchError(
      `the model on rank ${r} differs from rank 0's: rank 0 has ${has(a)}, rank ${r} has ${has(b)} ` +
        '(every rank must build the same model)',
      'DistributedDataParallel',
    );
  }
}

/** Copies rank 0's `tensors` into every rank's, a flat tensor per dtype. */
export function broadcastTensors(tensors: readonly Tensor[], group: ProcessGroup): void {
  const byDtype = new Map<string, Tensor[]>();
  for (const t of tensors) byDtype.set(t.dtype, [...(byDtype.get(t.dtype) ?? []), t]);
  noGrad(() => {
    for (const list of byDtype.values()) {
      const flat = cat(list.map((t) => t.detach().reshape(-1)));
      group.broadcast(flat, 0);
      let offset = 0;
      for (const t of list) {
        const part = flat.narrow(0, offset, t.numel);
        const shaped = part.view(t.shape);
        t.copy_(shaped);
        part.dispose();
        shaped.dispose();
        offset += t.numel;
      }
      flat.dispose();
    }
  });
}

/**
 * A model replicated over the ranks of `group`: call {@link forward} instead of the module's own, then
 * backward and step as usual. Build it on every rank, with the same model, before the optimizer runs.
 *
 * @example
 * const group = await initProcessGroup();            // from the env:// variables `pdenet launch` sets
 * const ddp = new DistributedDataParallel(model, group);
 * for (const batch of shard) {
 *   const loss = tidy(() => F.crossEntropy(ddp.forward(batch.x), batch.y));
 *   loss.backward();                                 // gradients arrive averaged over the ranks
 *   optimizer.step(); optimizer.zeroGrad();
 * }
 */
export class DistributedDataParallel<M extends Module & { forward(...inputs: never[]): unknown }> {
  readonly #reducer: NativeReducer;
  readonly #buffers: Tensor[];
  readonly broadcastBuffers: boolean;
  readonly findUnusedParameters: boolean;
  #sync = true;
  #disposed = false;

  constructor(
    readonly module: M,
    readonly group: ProcessGroup,
    options: DDPOptions = {},
  ) {
    const {
      bucketCapMB = 25,
      firstBucketMB = 1,
      broadcastBuffers = true,
      syncBatchNorm = false,
      findUnusedParameters = false,
    } = options;
    for (const [name, v] of [
      ['bucketCapMB', bucketCapMB],
      ['firstBucketMB', firstBucketMB],
    ] as const) {
      if (!(v > 0)) throw new TorchError(`${name} must be positive, got ${v}`, 'DistributedDataParallel');
    }
    this.broadcastBuffers = broadcastBuffers;
    this.findUnusedParameters = findUnusedParameters;
    checkSameModel(module, group);
    const named = [...module.namedParameters()].filter(([, p]) => p.requiresGrad);
    this.#buffers = [...module.buffers()];
    broadcastTensors([...module.parameters(), ...this.#buffers], group);
    if (syncBatchNorm) convertSyncBatchNorm(module, group);
    const mib = (v: number): number => Math.round(v * 1024 * 1024);
    this.#reducer = native.distReducer(
      group.handle,
      named.map(([, p]) => p.handle),
      named.map(([n]) => n),
      mib(bucketCapMB),
      mib(firstBucketMB),
      findUnusedParameters,
    );
  }

  /**
   * The module's forward. In training with autograd recording, it first broadcasts rank 0's buffers
   * (unless `broadcastBuffers` is off) and arms the gradient all-reduce of the next backward pass.
   */
  forward(...inputs: Parameters<M['forward']>): ReturnType<M['forward']> {
    if (this.#disposed) throw new TorchError('this DistributedDataParallel was disposed', 'DistributedDataParallel');
    const training = this.module.training && isGradEnabled();
    if (training && this.broadcastBuffers && this.#buffers.length > 0 && this.group.size > 1) {
      broadcastTensors(this.#buffers, this.group);
    }
    const output = (this.module.forward as (...a: unknown[]) => unknown)(...inputs) as ReturnType<M['forward']>;
    if (training && this.#sync) {
      const outputs = this.findUnusedParameters ? collectTensors(output) : [];
      native.distPrepareBackward(
        this.#reducer,
        outputs.map((t) => t.handle),
      );
    }
    return output;
  }

  /**
   * `loss.backward()`, the gradients averaged over the ranks on return. A failure becomes one TorchError naming
   * this rank, which says so when the all-reduce inside it lost another rank (exited or hung).
   */
  backward(loss: Tensor): void {
    try {
      loss.backward();
    } catch (e) {
      throw this.group.failure('backward', e);
    }
  }

  /**
   * Runs `fn` (forwards and backwards) without averaging gradients: they accumulate locally, and the
   * first synchronized backward after it averages the sum (gradient accumulation, PyTorch's no_sync).
   */
  noSync<T>(fn: () => T): T {
    const previous = this.#sync;
    this.#sync = false;
    try {
      return fn();
    } finally {
      this.#sync = previous;
    }
  }

  /** Removes the gradient hooks; the module stays usable on its own. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    native.distRelease(this.#reducer);
  }
}

function collectTensors(value: unknown): Tensor[] {
  if (value instanceof Tensor) return [value];
  if (Array.isArray(value)) return value.flatMap(collectTensors);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(collectTensors);
  return [];
}
