/**
 * The DataLoader's worker thread: gathers and augments uint8 batches (crop, flip, cutout, HWC→CHW)
 * from the dataset's shared buffer, normalizes them to float32 and sends each back as a transferred
 * buffer. It never loads the native addon: it imports only augment.ts and random.ts.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  alternatingFlip,
  type AugmentOptions,
  drawAugmentParams,
  type ImageDims,
  normalizeBytes,
  renderBatch,
} from './augment.js';
import { Rng, STREAM } from './random.js';

/** What the loader gives a worker when it starts. */
export interface WorkerInit {
  images: Uint8Array;
  dims: ImageDims;
  seed: number;
  augment: AugmentOptions;
  /** What cutout paints, per channel. */
  fill: number[];
  /** Normalization v·scale[c] − shift[c], per channel. */
  scale: Float32Array;
  shift: Float32Array;
}

/** A request: the batch `batch` of epoch `epoch`, made of the images at `indices`. */
export interface WorkerRequest {
  id: number;
  epoch: number;
  batch: number;
  indices: Int32Array;
}

/** A reply: the batch's normalized N×C×H×W values (transferred), or an error message. */
export interface WorkerReply {
  id: number;
  values?: Float32Array;
  ms?: number;
  error?: string;
}

/** The work for one batch; the main thread runs the same function when it has no workers. */
export function prepareBatch(init: WorkerInit, epoch: number, batch: number, indices: Int32Array): Float32Array {
  const rng = new Rng(init.seed, STREAM.augment, epoch, batch);
  const params = drawAugmentParams(rng, indices.length, init.augment, init.dims);
  if (init.augment.flip === 'alternate') {
    for (let k = 0; k < indices.length; k++) params.flip[k] = alternatingFlip(init.seed, indices[k]!, epoch);
  }
  const bytes = renderBatch(init.images, init.dims, indices, params, init.augment, init.fill);
  return normalizeBytes(bytes, init.dims, init.scale, init.shift);
}

if (parentPort && workerData?.pdenetDataWorker) {
  const init = workerData.init as WorkerInit;
  const port = parentPort;
  port.on('message', (request: WorkerRequest) => {
    try {
      const start = performance.now();
      const values = prepareBatch(init, request.epoch, request.batch, request.indices);
      const reply: WorkerReply = { id: request.id, values, ms: performance.now() - start };
      port.postMessage(reply, [values.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: request.id, error: (e as Error).stack ?? String(e) } satisfies WorkerReply);
    }
  });
}
