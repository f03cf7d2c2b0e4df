/**
 * Data-loading figures: decoding and the decoded cache on a real image folder, and the time of data
 * preparation per batch (worker side and main-thread side) against a training step.
 *
 *   node dist/bench/data.js [--data PATH] [--batch-size 256] [--batches 50] [--json]
 *
 * --data defaults to ../shared/datasets/cifar10-jpeg (the 50,000-image CIFAR-10 train split) when it
 * exists; without a dataset the per-batch figures use 50,000 random 32×32 images and the load figures
 * are skipped. The first load decodes into a fresh temporary cache folder, so it is a true first load.
 * @module
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { data, getNumThreads } from '../src/index.js';
import { parseFlags, positiveInteger } from './harness/flags.js';
import { load, ROOT } from './harness/machine.js';
import { log, msOf } from './harness/sampling.js';
import { median } from './harness/stats.js';

const { BatchNormalizer, CIFAR10_NORMALIZATION, DataLoader, ImageDataset, loadDataset, Rng } = data;

const { values: args } = parseFlags(
  {
    options: {
      data: { type: 'string' },
      'batch-size': { type: 'string', default: '256' },
      batches: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
    },
  },
  'usage: node dist/bench/data.js [--data PATH] [--batch-size 256] [--batches 50] [--json]',
);

const defaultData = join(ROOT, '../shared/datasets/cifar10-jpeg');
const dataPath = args.data ?? (existsSync(defaultData) ? defaultData : null);
const batchSize = positiveInteger('batch-size', args['batch-size']);
const batches = positiveInteger('batches', args.batches);

const result: Record<string, unknown> = { batchSize, threads: getNumThreads() };
let dataset: data.ImageDataset;

if (dataPath) {
  const cacheDir = mkdtempSync(join(tmpdir(), 'pdenet-bench-cache-'));
  try {
    let t = performance.now();
    dataset = await loadDataset(dataPath, { cacheDir });
    result.firstLoadSec = (performance.now() - t) / 1000;
    log(`first load (decode ${dataset.n} images, write the cache): ${(result.firstLoadSec as number).toFixed(2)} s`);
    t = performance.now();
    dataset = await loadDataset(dataPath, { cacheDir });
    result.cachedLoadSec = (performance.now() - t) / 1000;
    log(`cached load: ${(result.cachedLoadSec as number).toFixed(2)} s`);
    result.images = dataset.n;
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
} else {
  const n = 50_000;
  const rng = new Rng(0);
  const images = Uint8Array.from({ length: n * 3072 }, () => rng.uint32() & 255);
  dataset = new ImageDataset({
    images,
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
    height: 32,
    width: 32,
    channels: 3,
    classes: Array.from({ length: 10 }, (_, k) => String(k)),
  });
  log('no dataset found: per-batch figures on 50,000 random 32×32 images');
}

// ---- per batch: the per-pixel work (what a worker does) and the main thread's part ----
const augment = { crop: { padding: 4 }, flip: true };
const dims = { height: dataset.height, width: dataset.width, channels: dataset.channels };
const normalizer = new BatchNormalizer(dataset.channels, CIFAR10_NORMALIZATION);
const shape = [batchSize, dataset.channels, dims.height, dims.width] as const;
const indices = (b: number): Int32Array =>
  Int32Array.from({ length: batchSize }, (_, i) => (b * batchSize + i * 7919) % dataset.n);
/** What a loader's worker does for one batch: draw the augmentation, gather and augment the bytes, normalize. */
const prepareBatch = (b: number): Float32Array => {
  const idx = indices(b);
  const params = data.drawAugmentParams(new Rng(0, b), batchSize, augment, dims);
  const bytes = data.renderBatch(dataset.images, dims, idx, params, augment, [0, 0, 0]);
  return data.normalizeBytes(bytes, dims, normalizer.scale, normalizer.shift);
};
const prep: number[] = [];
const main: number[] = [];
const mainAffine: number[] = [];
const cpu0 = process.cpuUsage();
let prepTotal = 0;
for (let b = 0; b < batches; b++) {
  let values: Float32Array = new Float32Array(0);
  prep.push(
    msOf(() => {
      values = prepareBatch(b);
    }),
  );
  prepTotal += prep.at(-1)!;
  main.push(msOf(() => normalizer.toTensor(values, shape).dispose()));
  mainAffine.push(
    msOf(() => {
      const theta = data.drawAffineThetas(
        new Rng(0, b),
        batchSize,
        { degrees: 10, translate: [0.1, 0.1], scale: [1, 1.2] },
        dims,
      );
      normalizer.toTensor(values, shape, theta).dispose();
    }),
  );
}
const cpu = process.cpuUsage(cpu0);
const [load1] = load();
Object.assign(result, {
  prepareMsPerBatch: median(prep),
  mainMsPerBatch: median(main),
  mainAffineMsPerBatch: median(mainAffine),
  loadAverage: load1,
});
log(
  `gather + crop + flip + normalize (worker side): ${median(prep).toFixed(2)} ms per batch of ${batchSize} (median wall)`,
);
log(
  `tensor creation (main thread): ${median(main).toFixed(2)} ms; with RandomAffine (affineGrid + gridSample): ` +
    `${median(mainAffine).toFixed(2)} ms (median wall; load average ${load1.toFixed(1)}, ` +
    `process CPU ${((cpu.user + cpu.system) / 1000 / batches).toFixed(1)} ms per iteration, of which ${(prepTotal / batches).toFixed(1)} ms the worker-side part)`,
);

// ---- the loader with a worker, the consumer away for a stand-in step between batches ----
const stepMs = 0.3 * 1000 * (batchSize / 128); // ResNet-20, about 0.3 s per 128 images on this machine
const loader = new DataLoader(dataset, { batchSize, seed: 0, augment, normalize: CIFAR10_NORMALIZATION, prefetch: 2 });
let seen = 0;
for await (const batch of loader.epoch(0)) {
  batch.dispose();
  if (++seen === 1) loader.resetStats(); // the first batch waits for the worker to start
  await new Promise((r) => setTimeout(r, 100)); // a stand-in for the step (shorter than a real one, to keep the run brief)
  if (seen > batches) break;
}
await loader.close();
const s = loader.stats;
Object.assign(result, {
  loaderMainMsPerBatch: s.mainMs / s.batches,
  loaderWaitMsPerBatch: s.waitMs / s.batches,
  loaderWorkerMsPerBatch: s.prepareMs / s.batches,
  assumedStepMs: stepMs,
  mainShareOfStep: s.mainMs / s.batches / stepMs,
});
log(
  `loader (1 worker, prefetch 2): main thread ${(s.mainMs / s.batches).toFixed(2)} ms, waiting ${(s.waitMs / s.batches).toFixed(2)} ms, ` +
    `worker ${(s.prepareMs / s.batches).toFixed(2)} ms per batch; against a ${stepMs} ms ResNet-20 step: ` +
    `${((100 * (s.mainMs + s.waitMs)) / s.batches / stepMs).toFixed(2)}% of the step`,
);
if (args.json) console.log(JSON.stringify(result));
else
  console.log(
    Object.entries(result)
      .map(([k, v]) => `${k}: ${typeof v === 'number' ? +v.toFixed(4) : v}`)
      .join('\n'),
  );
