/**
 * The DataLoader: batches of an {@link ImageDataset} as normalized float tensors, shuffled and
 * augmented reproducibly, prepared ahead in worker threads.
 *
 * **Reproducible.** The order of epoch e is a permutation drawn from (seed, e); the augmentation of
 * batch b of epoch e from (seed, e, b). Nothing else — not the worker count, not prefetching, not
 * what the model drew from libtorch's generator — changes a batch, so a run resumed at epoch e (or at
 * batch b, with `epoch(e, { start: b })`) sees exactly the batches of an uninterrupted one.
 *
 * **Fast.** Worker threads do the per-pixel work (gather, crop, flip, cutout, HWC→CHW, normalization)
 * on the dataset's bytes, shared with them once, and hand each batch back as a transferred float32
 * buffer; they never load the native addon. The main thread copies it into a tensor (and applies the
 * random affine transform, which needs libtorch's grid sampler). `stats` reports both times.
 *
 * **Ownership.** Each yielded {@link Batch} belongs to the consumer: call `batch.dispose()` (or
 * dispose `x` and `y`) when done with it. The loader keeps no reference to a batch it has yielded
 * and holds no tensor of its own. Call `close()` when done with the loader: it stops the workers.
 * @module
 */
import { Worker } from 'node:worker_threads';
import { tensor } from '../tensor/creation.js';
import { TorchError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { type AugmentOptions, drawAffineThetas, type ImageDims } from './augment.js';
import type { ImageDataset } from './dataset.js';
import { permutation, Rng, STREAM } from './random.js';
import { BatchNormalizer, type Normalization } from './transforms.js';
import { prepareBatch, type WorkerInit, type WorkerReply, type WorkerRequest } from './worker.js';
import { shardLength, shardOrder, type ShardOptions } from '../distributed/sampler.js';

/** Options of {@link DataLoader}. */
export interface DataLoaderOptions {
  batchSize: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the order and the augmentation (default 0). */
  seed?: number;
  /** Leave out the last, smaller batch (default false). */
  dropLast?: boolean;
  /** Augmentations (default none). */
  augment?: AugmentOptions | null;
  /** Per-channel mean and std in [0, 1] units (default none: x/255). */
  normalize?: Normalization | null;
  /** Batches prepared ahead of the consumer (default 2); 0 prepares each batch in the main thread when asked. */
  prefetch?: number;
  /** Worker threads when prefetching (default 1: on a small machine libtorch wants the other cores). */
  workers?: number;
  /**
   * In data-parallel training, this rank's share of each epoch's order (see shardOrder in
   * src/distributed/sampler.ts): every rank draws the same permutation and takes every worldSize-th sample.
   */
  shard?: ShardOptions | null;
}

/** A batch: the consumer owns `x` and `y` and disposes them. */
export interface Batch {
  /** float32 N×C×H×W, normalized (and augmented). */
  x: Tensor;
  /** int64 N: the class indices. */
  y: Tensor;
  /** The batch's number within its epoch. */
  index: number;
  epoch: number;
  /** The dataset indices of its images. */
  indices: Int32Array;
  /** Frees `x` and `y`. */
  dispose(): void;
  [Symbol.dispose](): void;
}

/** Where the time of data preparation goes, summed since the loader was made (or `resetStats`). */
export interface LoaderStats {
  batches: number;
  /** Main thread: tensor creation, affine resampling, labels. */
  mainMs: number;
  /** The per-pixel work: gather, crop, flip, cutout, normalization (in workers, or in the main thread without them). */
  prepareMs: number;
  /** Main thread waiting for a worker's batch (0 when prefetching keeps up). */
  waitMs: number;
}

interface Prepared {
  values: Float32Array;
  ms: number;
}

/** A set of worker threads answering batch requests in order of arrival. */
class WorkerPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, { resolve: (p: Prepared) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #turn = 0;
  #failure: Error | null = null;
  #closed = false;

  constructor(count: number, init: WorkerInit) {
    const url = new URL('./worker.js', import.meta.url);
    for (let i = 0; i < count; i++) {
      const worker = new Worker(url, { workerData: { pdenetDataWorker: true, init } });
      worker.on('message', (reply: WorkerReply) => this.#settle(reply));
      worker.on('error', (e) => this.#fail(new TorchError(`a data worker failed: ${e.message}`, 'DataLoader')));
      worker.on('exit', (code) => {
        if (!this.#closed) this.#fail(new TorchError(`a data worker exited unexpectedly (code ${code})`, 'DataLoader'));
      });
      worker.unref();
      this.#workers.push(worker);
    }
  }

  request(epoch: number, batch: number, indices: Int32Array): Promise<Prepared> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new TorchError('the DataLoader was closed', 'DataLoader'));
    const id = this.#nextId++;
    const worker = this.#workers[this.#turn++ % this.#workers.length]!;
    const promise = new Promise<Prepared>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    // a waiting request keeps the process alive; an idle pool does not
    if (this.#pending.size === 1) for (const w of this.#workers) w.ref();
    worker.postMessage({ id, epoch, batch, indices } satisfies WorkerRequest);
    return promise;
  }

  #settle(reply: WorkerReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
    if (reply.error !== undefined) pending.reject(new TorchError(`a data worker failed: ${reply.error}`, 'DataLoader'));
    else pending.resolve({ values: reply.values!, ms: reply.ms! });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    for (const w of this.#workers) w.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const error = new TorchError('the DataLoader was closed', 'DataLoader');
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

function checkOptions(dataset: ImageDataset, o: DataLoaderOptions): void {
  const op = 'DataLoader';
  const int = (v: unknown, name: string, min: number): void => {
    if (!Number.isInteger(v) || (v as number) < min)
      throw new TorchError(`${name} must be an integer ≥ ${min}, got ${String(v)}`, op);
  };
  int(o.batchSize, 'batchSize', 1);
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed))
    throw new TorchError(`seed must be an integer, got ${o.seed}`, op);
  if (o.prefetch !== undefined) int(o.prefetch, 'prefetch', 0);
  if (o.workers !== undefined) int(o.workers, 'workers', 1);
  const a = o.augment ?? {};
  if (a.crop) {
    int(a.crop.padding, 'augment.crop.padding', 0);
    if (!['zeros', 'reflect', undefined].includes(a.crop.mode)) {
      throw new TorchError(`augment.crop.mode must be zeros or reflect, got ${a.crop.mode}`, op);
    }
    if (a.crop.mode === 'reflect' && a.crop.padding >= Math.min(dataset.height, dataset.width)) {
      throw new TorchError(
        `reflect padding ${a.crop.padding} must be smaller than the image (${dataset.height}×${dataset.width})`,
        op,
      );
    }
  }
  if (a.cutout) int(a.cutout.size, 'augment.cutout.size', 0);
  if (a.affine) {
    const { degrees = 0, translate = [0, 0], scale = [1, 1], interpolation = 'bilinear' } = a.affine;
    if (!(degrees >= 0 && degrees <= 180))
      throw new TorchError(`augment.affine.degrees must be in [0, 180], got ${degrees}`, op);
    if (!translate.every((t) => t >= 0 && t <= 1))
      throw new TorchError(`augment.affine.translate must be in [0, 1], got [${translate}]`, op);
    if (!(scale[0] > 0 && scale[1] >= scale[0]))
      throw new TorchError(`augment.affine.scale must be [low, high] with 0 < low ≤ high, got [${scale}]`, op);
    if (!['bilinear', 'nearest'].includes(interpolation)) {
      throw new TorchError(`augment.affine.interpolation must be bilinear or nearest, got ${interpolation}`, op);
    }
  }
}

/**
 * Batches of a dataset, epoch by epoch.
 *
 * @example
 * const loader = new DataLoader(train, { batchSize: 128, seed: 0, augment: { crop: { padding: 4 }, flip: true },
 *   normalize: CIFAR10_NORMALIZATION });
 * for await (const batch of loader.epoch(e)) {
 *   const loss = tidy(() => F.crossEntropy(model.forward(batch.x), batch.y));
 *   …
 *   batch.dispose();
 * }
 * await loader.close();
 */
export class DataLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly augment: AugmentOptions;
  readonly prefetch: number;
  readonly workers: number;
  readonly shard: ShardOptions | null;
  readonly stats: LoaderStats = { batches: 0, mainMs: 0, prepareMs: 0, waitMs: 0 };
  readonly #init: WorkerInit;
  readonly #normalizer: BatchNormalizer;
  #pool: WorkerPool | null = null;
  #closed = false;

  constructor(dataset: ImageDataset, options: DataLoaderOptions) {
    checkOptions(dataset, options);
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.augment = options.augment ?? {};
    this.prefetch = options.prefetch ?? 2;
    this.workers = options.workers ?? 1;
    this.shard = options.shard ?? null;
    if (this.shard) shardLength(dataset.n, this.shard); // checks rank and worldSize
    const normalize = options.normalize ?? null;
    this.#normalizer = new BatchNormalizer(dataset.channels, normalize);
    // cutout paints the mean colour, which normalizes to zero (DeVries & Taylor cut out to 0 after normalizing)
    const fill = normalize
      ? normalize.mean.map((m) => Math.round(m * 255))
      : new Array<number>(dataset.channels).fill(0);
    const dims: ImageDims = { height: dataset.height, width: dataset.width, channels: dataset.channels };
    this.#init = {
      images: dataset.images,
      dims,
      seed: this.seed,
      augment: this.augment,
      fill,
      scale: this.#normalizer.scale,
      shift: this.#normalizer.shift,
    };
  }

  /** Batches per epoch. */
  get length(): number {
    const n = (this.shard ? shardLength(this.dataset.n, this.shard) : this.dataset.n) / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /**
   * The order of the images in epoch `epoch` (a permutation of 0…N−1, or 0…N−1 without shuffling); with
   * `shard`, this rank's share of it.
   */
  order(epoch: number): Int32Array {
    const all = this.shuffle
      ? permutation(this.dataset.n, new Rng(this.seed, STREAM.order, epoch))
      : Int32Array.from({ length: this.dataset.n }, (_, i) => i);
    return this.shard ? shardOrder(all, this.shard) : all;
  }

  #indices(order: Int32Array, b: number): Int32Array {
    return order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize)).slice();
  }

  #checkBatch(epoch: number, b: number): void {
    if (this.#closed) throw new TorchError('the DataLoader was closed', 'DataLoader');
    if (!Number.isSafeInteger(epoch) || epoch < 0)
      throw new TorchError(`epoch must be an integer ≥ 0, got ${epoch}`, 'DataLoader');
    if (!Number.isInteger(b) || b < 0 || b > this.length) {
      throw new TorchError(`batch ${b} is out of range: an epoch has ${this.length} batches`, 'DataLoader');
    }
  }

  #finish(epoch: number, b: number, indices: Int32Array, values: Float32Array): Batch {
    const start = performance.now();
    const { height, width, channels } = this.dataset;
    const n = indices.length;
    const affine = this.augment.affine;
    const theta = affine
      ? drawAffineThetas(new Rng(this.seed, STREAM.affine, epoch, b), n, affine, this.#init.dims)
      : null;
    const x = this.#normalizer.toTensor(values, [n, channels, height, width], theta, affine?.interpolation);
    const labels = new BigInt64Array(n);
    for (let i = 0; i < n; i++) labels[i] = BigInt(this.dataset.labels[indices[i]!]!);
    const y = tensor(labels);
    this.stats.batches++;
    this.stats.mainMs += performance.now() - start;
    const dispose = (): void => {
      x.dispose();
      y.dispose();
    };
    return { x, y, index: b, epoch, indices, dispose, [Symbol.dispose]: dispose };
  }

  /** Batch `b` of epoch `epoch`, prepared now in the main thread (the same batch `epoch()` yields). */
  batch(epoch: number, b: number): Batch {
    this.#checkBatch(epoch, b);
    if (b >= this.length)
      throw new TorchError(`batch ${b} is out of range: an epoch has ${this.length} batches`, 'DataLoader');
    const indices = this.#indices(this.order(epoch), b);
    const start = performance.now();
    const values = prepareBatch(this.#init, epoch, b, indices);
    this.stats.prepareMs += performance.now() - start;
    return this.#finish(epoch, b, indices, values);
  }

  /**
   * The batches of epoch `epoch`, from batch `start` (default 0) on. Batches are prepared `prefetch`
   * ahead in worker threads while the consumer works. Breaking out of the loop is fine.
   */
  epoch(epoch: number, options: { start?: number } = {}): AsyncGenerator<Batch, void, undefined> {
    const start = options.start ?? 0;
    this.#checkBatch(epoch, start);
    return this.#run(epoch, start);
  }

  async *#run(epoch: number, start: number): AsyncGenerator<Batch, void, undefined> {
    const order = this.order(epoch);
    const total = this.length;
    if (this.prefetch === 0) {
      for (let b = start; b < total; b++) yield this.batch(epoch, b);
      return;
    }
    if (this.#pool === null) {
      // share the pixels with the workers once, without copying them per batch
      const images = this.dataset.images;
      let shared = images;
      if (!(images.buffer instanceof SharedArrayBuffer)) {
        shared = new Uint8Array(new SharedArrayBuffer(images.byteLength));
        shared.set(images);
      }
      this.#pool = new WorkerPool(this.workers, { ...this.#init, images: shared });
    }
    const pool = this.#pool;
    const queue: { b: number; indices: Int32Array; ready: Promise<Prepared> }[] = [];
    let next = start;
    const fill = (): void => {
      while (queue.length < this.prefetch && next < total) {
        const indices = this.#indices(order, next);
        const ready = pool.request(epoch, next, indices);
        ready.catch(() => {}); // a request abandoned by a consumer that stopped early must not be "unhandled"
        queue.push({ b: next++, indices, ready });
      }
    };
    while (queue.length > 0 || next < total) {
      fill();
      const head = queue.shift()!;
      const waitStart = performance.now();
      const prepared = await head.ready;
      this.stats.waitMs += performance.now() - waitStart;
      this.stats.prepareMs += prepared.ms;
      fill();
      yield this.#finish(epoch, head.b, head.indices, prepared.values);
    }
  }

  /** Zeroes {@link stats}. */
  resetStats(): void {
    Object.assign(this.stats, { batches: 0, mainMs: 0, prepareMs: 0, waitMs: 0 });
  }

  /** Stops the workers. Batches already yielded stay valid. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool?.close();
    this.#pool = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
