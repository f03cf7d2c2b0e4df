import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { memory, randn, setNumThreads, TorchError } from '../src/index.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';
import {
  carveValidation,
  closeSplits,
  loadDataSplits,
  loadTrainingImages,
  streamOf,
  trainingSubset,
  type DataSplits,
} from '../src/train/data.js';
import { syntheticImages } from '../src/data/synthetic.js';
import { ImageDataset, splitTrainVal } from '../src/data/dataset.js';
import { DataLoader } from '../src/data/loader.js';
import { loadTrainedModel, readMetrics } from '../src/train/run.js';
import { predictImages } from '../src/train/trained.js';
import { encodePng } from '../src/data/codec.js';
import * as F from '../src/tensor/functional.js';
import { createModel } from '../src/models/registry.js';
import { twistStages } from '../src/models/stages.js';
import { makeOptimizer, train } from '../src/train/trainer.js';
import { evaluate } from '../src/train/evaluate.js';
import { assertClose, deterministic, values } from './helpers.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';

// Tiny models: one thread avoids idle threads spinning on a busy machine.
setNumThreads(1);
const runsDir = mkdtempSync(join(tmpdir(), 'pdenet-runs-'));

/** Small synthetic splits: 640 training and 160 validation images. */
function splits(seed = 0): DataSplits {
  const { train: tr, val } = splitTrainVal(syntheticImages({ perClass: 80, seed }), 160, seed);
  const normalization = tr.channelStats();
  return {
    train: streamOf(tr, {
      seed,
      shuffle: true,
      dropLast: true,
      augment: { crop: { padding: 2, mode: 'reflect' }, flip: true },
      normalization,
      prefetch: 0,
    }),
    val: streamOf(val, { seed, shuffle: false, dropLast: false, augment: null, normalization, prefetch: 0 }),
    classes: tr.classes,
    normalization,
  };
}

/** Rewrites the training state in a checkpoint's metadata, its tensors as they are. */
function editCheckpointState(path: string, edit: (state: Record<string, unknown>) => Record<string, unknown>): void {
  const { tensors, metadata } = loadSafetensors(path);
  saveSafetensors(path, tensors, { ...metadata, state: JSON.stringify(edit(JSON.parse(metadata.state!))) });
  for (const t of tensors.values()) t.dispose();
}

const base: Partial<TrainConfig> = {
  model: 'resnet20',
  modelOptions: { twist: true, width: 4 },
  epochs: 2,
  batchSize: 32,
  lr: 0.05,
  runsDir,
  tta: false,
};

describe('trainer', () => {
  it('learns the synthetic task in two epochs and writes the run folder', async () => {
    const result = await train({ ...base, runName: 'learns' }, { data: splits() });
    assert.equal(result.metrics.length, 2);
    assert.ok(result.final!.accuracy > 0.3, `validation accuracy ${result.final!.accuracy} (chance is 0.1)`);
    for (const file of [
      'config.json',
      'metrics.jsonl',
      'metrics.csv',
      'report.md',
      'checkpoints/last.ckpt.safetensors',
      'checkpoints/best.safetensors',
      'checkpoints/last.safetensors',
    ]) {
      assert.ok(existsSync(join(result.runDir, file)), file);
    }
    assert.equal(readMetrics(result.runDir).length, 2);
    assert.match(readFileSync(join(result.runDir, 'metrics.csv'), 'utf8'), /^epoch,step,trainLoss/);
    const weights = loadSafetensors(join(result.runDir, 'checkpoints/best.safetensors')).tensors;
    assert.ok(weights.has('conv1.weight') || weights.size > 10);
  });

  it('resumes after a stop exactly where an uninterrupted run would be', async () => {
    const whole = await train({ ...base, runName: 'whole' }, { data: splits() });
    const first = await train({ ...base, runName: 'parts', maxSteps: 27 }, { data: splits() });
    assert.equal(first.interrupted, true);
    const rest = await train({ ...base, runName: 'parts' }, { data: splits(), resume: true });
    assert.equal(rest.interrupted, false);
    const resumed = readMetrics(rest.runDir).map(deterministic);
    assert.deepEqual(resumed, whole.metrics.map(deterministic));
    const a = loadSafetensors(join(whole.runDir, 'checkpoints/last.safetensors')).tensors;
    const b = loadSafetensors(join(rest.runDir, 'checkpoints/last.safetensors')).tensors;
    for (const [k, t] of a) assert.deepEqual(values(b.get(k)!), values(t), k);
  });

  it('stops on a signal with a checkpoint, and refuses to overwrite a run without --resume', async () => {
    const controller = new AbortController();
    let steps = 0;
    const result = await train(
      { ...base, runName: 'signal' },
      {
        data: splits(),
        signal: controller.signal,
        events: {
          onProgress: () => {
            if (++steps === 5) controller.abort();
          },
        },
      },
    );
    assert.equal(result.interrupted, true);
    assert.equal(loadCheckpoint(join(result.runDir, 'checkpoints/last.ckpt.safetensors')).state.batch, 5);
    await assert.rejects(
      train({ ...base, runName: 'signal' }, { data: splits() }),
      /already holds a run; pass --resume/,
    );
  });

  it('stops with a clear message when the loss becomes NaN', async () => {
    await assert.rejects(
      train({ ...base, runName: 'nan', lr: 100, schedule: 'constant', labelSmoothing: 0 }, { data: splits() }),
      (e: unknown) =>
        e instanceof TorchError &&
        /loss became (NaN|Infinity|-Infinity) at epoch \d+, step \d+ \(batch \d+\)/.test(e.message),
    );
    assert.ok(!existsSync(join(runsDir, 'nan')), 'a run that never finished an epoch leaves no folder');
  });

  it('switches the twist on at the chosen epoch; weights and checkpoints load with the twist they trained with', async () => {
    // What a reader of the run folder rebuilds after each epoch: from the last weights, and from the checkpoint.
    const loaded: boolean[][][] = [];
    const twistOf = (path: string) => {
      const { model } = loadTrainedModel(path);
      const stages = twistStages(model);
      model.dispose();
      return stages;
    };
    const result = await train(
      { ...base, runName: 'twist-later', twistFromEpoch: 1 },
      {
        data: splits(),
        events: {
          onEpoch: (_m, dir) => {
            loaded.push(['last.safetensors', 'last.ckpt.safetensors'].map((f) => twistOf(join(dir, 'checkpoints', f))));
          },
        },
      },
    );
    assert.deepEqual(
      result.metrics.map((m) => m.twist),
      [false, true],
    );
    const off = [false, false, false];
    const on = [true, true, true];
    assert.deepEqual(
      loaded,
      [
        [off, off],
        [on, on],
      ],
      JSON.stringify(loaded),
    );
    const plain = await train(
      { ...base, runName: 'twist-never', epochs: 1, modelOptions: { twist: false, width: 4 } },
      { data: splits() },
    );
    assert.deepEqual(
      plain.metrics.map((m) => m.twist),
      [false],
    );
  });

  it('follows a staged twist: a stage learns its Kx only from the epoch its step twists it', async () => {
    const kx = (dir: string) => {
      const w = loadSafetensors(join(dir, 'checkpoints/last.safetensors')).tensors;
      return ['layers.0.c1.kx', 'layers.3.c1.kx', 'layers.6.c1.kx'].map((k) => values(w.get(k)!));
    };
    const after: number[][][] = [];
    // Before the first step (epoch 1) the twist is modelOptions.twist: stage 0 only.
    const config = {
      ...base,
      epochs: 3,
      runName: 'twist-staged',
      modelOptions: { twist: [true, false, false], width: 4 },
      twistSchedule: [
        { epoch: 1, twist: [true, true, false] },
        { epoch: 2, twist: true },
      ],
    };
    const result = await train(config, {
      data: splits(),
      events: {
        onEpoch: (_m, dir) => {
          after.push(kx(dir));
        },
      },
    });
    assert.deepEqual(
      result.metrics.map((m) => m.twist),
      [true, true, true],
    );
    const changed = (a: number[][], b: number[][]) => a.map((x, i) => x.some((v, j) => v !== b[i]![j]));
    assert.deepEqual(changed(after[0]!, after[1]!), [true, true, false], 'epoch 1: stages 0 and 1 twisted');
    assert.deepEqual(changed(after[1]!, after[2]!), [true, true, true], 'epoch 2: every stage twisted');
    // Resumed within epoch 1, the run finds the step in force and ends as the uninterrupted one.
    const first = await train({ ...config, runName: 'twist-staged-parts', maxSteps: 27 }, { data: splits() });
    assert.equal(first.interrupted, true);
    const rest = await train({ ...config, runName: 'twist-staged-parts' }, { data: splits(), resume: true });
    assert.deepEqual(kx(rest.runDir), kx(result.runDir));
    await assert.rejects(
      train({ ...config, runName: 'both', twistFromEpoch: 1 }, { data: splits() }),
      /give one of twistFromEpoch and twistSchedule/,
    );
  });

  it('normalizes with fixed statistics when given, and records them in data.json', async () => {
    // DynamicBlocks' Normalize(mean 0.5, std 1): x = p/255 − 0.5, so 255·(x + 0.5) is a whole pixel value in [0, 255].
    const fixed = { mean: [0.5, 0.5, 0.5], std: [1, 1, 1] };
    const config = resolveConfig({
      ...base,
      data: 'synthetic',
      valSplit: 100,
      epochs: 1,
      runName: 'fixed-normalization',
      normalization: fixed,
    });
    const data = await loadDataSplits(config);
    assert.deepEqual(data.normalization, fixed);
    for await (const { x, y } of data.val!.batches(0, 50, 0)) {
      const pixels = values(x).map((v) => 255 * (v + 0.5));
      assert.ok(pixels.every((p) => Math.abs(p - Math.round(p)) < 1e-3 && p > -1e-3 && p < 255 + 1e-3));
      assert.ok(new Set(pixels.map(Math.round)).size > 10, 'not a constant image');
      x.dispose();
      y.dispose();
      break;
    }
    const result = await train(config, { data });
    assert.deepEqual(JSON.parse(readFileSync(join(result.runDir, 'data.json'), 'utf8')).normalization, fixed);
    // The default: the training split's channel statistics.
    const measured = (await loadDataSplits(resolveConfig({ ...base, data: 'synthetic', valSplit: 100 }))).normalization;
    assert.notDeepEqual(measured, fixed);
    await assert.rejects(
      loadDataSplits(resolveConfig({ ...base, data: 'synthetic', normalization: { mean: [0.5], std: [1] } })),
      /normalization gives 1 channel statistics; the images have 3 channels/,
    );
  });

  it('trains on trainImages images of the training split, each class keeping its share', () => {
    // 400 images of 1×1×2 bytes that spell their own index; class 0 holds 300 of them, class 1 the other 100.
    const n = 400;
    const images = new Uint8Array(2 * n);
    for (let i = 0; i < n; i++) [images[2 * i], images[2 * i + 1]] = [i % 256, i >> 8];
    const labels = Int32Array.from({ length: n }, (_, i) => (i % 4 === 3 ? 1 : 0));
    const all = new ImageDataset({ images, labels, height: 1, width: 1, channels: 2, classes: ['a', 'b'] });
    const config = { valSplit: 80, seed: 3, trainImages: 100 };
    const { train, val } = carveValidation(all, config)!;
    const indexOf = (d: ImageDataset) =>
      Array.from({ length: d.n }, (_, i) => d.images[2 * i]! + 256 * d.images[2 * i + 1]!);
    const subset = trainingSubset(train, config);
    const picked = indexOf(subset);
    assert.equal(subset.n, 100);
    assert.equal(new Set(picked).size, 100);
    assert.deepEqual(
      [0, 1].map((k) => subset.labels.filter((l) => l === k).length),
      [75, 25],
    );
    const trainSet = new Set(indexOf(train));
    const valSet = new Set(indexOf(val));
    assert.ok(
      picked.every((i) => trainSet.has(i) && !valSet.has(i)),
      'the subset is drawn from the training split',
    );
    assert.deepEqual(indexOf(trainingSubset(train, config)), picked, 'the same seed draws the same images');
    assert.notDeepEqual(indexOf(trainingSubset(train, { ...config, seed: 4 })), picked);
    assert.equal(trainingSubset(train, { ...config, trainImages: 0 }), train);
    assert.throws(
      () => trainingSubset(train, { ...config, trainImages: 321 }),
      /trainImages is 321; the training split holds only 320 images/,
    );
  });

  it('keeps the weights of the lowest validation loss as best with bestBy loss', async () => {
    const after: Map<string, number[]>[] = [];
    const weightsOf = (file: string) => new Map([...loadSafetensors(file).tensors].map(([k, t]) => [k, values(t)]));
    const result = await train(
      { ...base, epochs: 4, lr: 0.2, schedule: 'constant', runName: 'best-by-loss', bestBy: 'loss' },
      {
        data: splits(),
        events: {
          onEpoch: (_m, dir) => {
            after.push(weightsOf(join(dir, 'checkpoints/last.safetensors')));
          },
        },
      },
    );
    const losses = result.metrics.map((m) => m.valLoss!);
    const lowest = losses.indexOf(Math.min(...losses));
    assert.equal(loadCheckpoint(join(result.runDir, 'checkpoints/last.ckpt.safetensors')).state.bestEpoch, lowest);
    assert.deepEqual(weightsOf(join(result.runDir, 'checkpoints/best.safetensors')), after[lowest]);
  });

  it('exempts from weight decay the parameters named by noDecay, and only them', async () => {
    const result = await train(
      { ...base, epochs: 1, maxSteps: 1, weightDecay: 1e-3, runName: 'no-decay', noDecay: ['.bias'] },
      { data: splits() },
    );
    const model = createModel('resnet20', { twist: true, width: 4 });
    const names = [...model.namedParameters()].map(([n]) => n);
    model.dispose();
    const groups = loadCheckpoint(join(result.runDir, 'checkpoints/last.ckpt.safetensors')).optimizer.param_groups;
    const biases = names.filter((n) => n.includes('.bias')).length;
    assert.ok(biases > 0 && biases < names.filter((n) => !n.endsWith('kx')).length);
    assert.deepEqual(
      groups.map((g) => [g.params.length, g.weight_decay]),
      [
        [names.length - biases, 1e-3],
        [biases, 0],
      ],
    );
  });

  it("leaves the twist's kernels out of Muon's group, so that its normalization cannot pin their scale", () => {
    const config = resolveConfig({ ...base, optimizer: 'muon' });
    const groupsOf = (model: ReturnType<typeof createModel>, twistName: RegExp) => {
      const named = [...model.namedParameters()];
      const muon = new Set(makeOptimizer(model, config).paramGroups[0]!.params);
      assert.ok(
        named.some(([n]) => twistName.test(n)),
        'the model has twist kernels',
      );
      for (const [n, p] of named) assert.equal(muon.has(p), p.ndim === 4 && !twistName.test(n), `${n} in Muon's group`);
      model.dispose();
    };
    groupsOf(createModel('resnet20', { twist: true, width: 4 }), /\.kx$/);
    groupsOf(createModel('notebook-resnet18', { twist: [true, false, false, false], width: 4 }), /conv\d[xy]\.weight$/);
    // One step: every filter is rescaled to norm √(output channels); Kx keeps the scale it started at.
    const model = createModel('resnet20', { twist: true, width: 4 });
    const optimizer = makeOptimizer(model, config);
    const kx = [...model.namedParameters()].filter(([n]) => n.endsWith('.kx')).map(([, p]) => p);
    const norms = () => kx.map((p) => p.norm().item());
    const before = norms();
    const input = randn([2, 3, 8, 8]);
    model.forward(input).mean().mul(1e-6).backward(); // a tiny gradient: SGD barely moves Kx
    optimizer.step();
    const filter = [...model.namedParameters()].find(([n]) => n === 'layers.0.c1.weight')![1];
    assert.ok(Math.abs(filter.norm().item() - Math.sqrt(filter.shape[0]!)) < 0.1);
    norms().forEach((after, i) => assert.ok(after < 2 * before[i]!, `Kx norm ${before[i]} → ${after}`));
    input.dispose();
    model.dispose();
  });

  it('reports corrupt and truncated checkpoints clearly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pdenet-ckpt-'));
    const path = join(dir, 'x.ckpt.safetensors');
    copyFileSync(join(runsDir, 'learns/checkpoints/last.ckpt.safetensors'), path);
    truncateSync(path, 100);
    assert.throws(() => loadCheckpoint(path), TorchError);
    writeFileSync(path, 'not a checkpoint at all');
    assert.throws(() => loadCheckpoint(path), TorchError);
    copyFileSync(join(runsDir, 'learns/checkpoints/best.safetensors'), path);
    assert.throws(() => loadCheckpoint(path), /not a pdenet training checkpoint/);
    assert.throws(() => loadCheckpoint(join(dir, 'missing')), /no checkpoint at/);
  });

  it('keeps the previous checkpoint loadable when killed while writing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pdenet-kill-'));
    const path = join(dir, 'last.ckpt.safetensors');
    copyFileSync(join(runsDir, 'learns/checkpoints/last.ckpt.safetensors'), path);
    const writer = fileURLToPath(new URL('./fixtures/checkpoint-writer.js', import.meta.url));
    for (let trial = 0; trial < 3; trial++) {
      const child = spawn(process.execPath, [writer, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve())); // it is writing in a loop now
      await new Promise((r) => setTimeout(r, 50 + 100 * trial));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const loaded = loadCheckpoint(path);
      assert.ok(loaded.model.size > 0);
      loaded.dispose();
    }
  });

  it('trains an RKNet with checkpointed steps and box constraints', async () => {
    const result = await train(
      {
        ...base,
        runName: 'rknet',
        model: 'rknet',
        epochs: 1,
        lr: 0.05,
        checkpointing: true,
        clip: 0.2,
        modelOptions: { width: 4, rknet: { integrator: 'rk4', layer: 'doublesym', norm: 'tv', tY: [0, 1, 2] } },
      },
      { data: splits() },
    );
    assert.ok(result.metrics[0]!.trainLoss < Math.log(10), 'the loss fell below chance level');
    const weights = loadSafetensors(join(result.runDir, 'checkpoints/last.safetensors')).tensors;
    for (const [k, t] of weights) {
      if (/conv.*weight|linear\.weight|controlLayers\.\d+\.weight$/.test(k)) {
        assert.ok(t.abs().max().item() <= 0.2 + 1e-7, `${k} within the box`);
      }
    }
  });

  it('frees every batch it evaluates: repeated evaluations leave the live tensors and native bytes as they were', async () => {
    const model = createModel('resnet20', { width: 4 });
    const { val } = splits();
    const evaluateAll = () => evaluate(model, val!.batches(0, 50, 0), 10, { tta: true });
    const first = await evaluateAll();
    assert.equal(first.n, 160);
    const before = memory();
    for (let i = 0; i < 3; i++) assert.deepEqual(await evaluateAll(), first);
    const after = memory();
    assert.equal(after.liveTensors, before.liveTensors, 'live tensors');
    assert.equal(after.nativeBytes, before.nativeBytes, 'native bytes');
    await val!.close();
    model.dispose();
  });

  it('records the training image size in data.json, and predicts at that size', async () => {
    // Three classes of 64×64 stripes (horizontal, vertical, diagonal) with a varying phase: detail that resizing blurs.
    const folder = mkdtempSync(join(tmpdir(), 'pdenet-64-'));
    const stripes = [(y: number) => y, (_y: number, x: number) => x, (y: number, x: number) => x + y];
    stripes.forEach((stripe, k) => {
      mkdirSync(join(folder, `c${k}`));
      for (let i = 0; i < 8; i++) {
        const rgb = new Uint8Array(64 * 64 * 3);
        for (let p = 0; p < 64 * 64; p++) {
          const on = (stripe(Math.floor(p / 64), p % 64) + i) % 4 < 2;
          rgb.fill(on ? 200 : 40, 3 * p, 3 * p + 3);
          rgb[3 * p + (k % 3)] = 100 + 10 * i;
        }
        writeFileSync(join(folder, `c${k}`, `${i}.png`), encodePng(rgb, 64, 64));
      }
    });
    const result = await train({ ...base, data: folder, valSplit: 3, epochs: 1, batchSize: 7, runName: 'size-64' });
    const described = JSON.parse(readFileSync(join(result.runDir, 'data.json'), 'utf8'));
    assert.deepEqual(described.imageSize, [64, 64]);
    const trained = loadTrainedModel(result.runDir);
    // The reference: the model's forward at 64×64 on the image as the training pipeline reads it (c0/0.png first).
    const stream = streamOf(await loadTrainingImages(folder), {
      seed: 0,
      shuffle: false,
      dropLast: false,
      augment: null,
      normalization: trained.data.normalization,
      prefetch: 0,
    });
    let expected: number[] = [];
    for await (const { x, y } of stream.batches(0, 1, 0)) {
      expected = values(F.softmax(trained.model.forward(x), 1));
      x.dispose();
      y.dispose();
      break;
    }
    await stream.close();
    const [predicted] = await predictImages(trained, [join(folder, 'c0', '0.png')]);
    for (const { label, probability } of predicted!.top) {
      const k = trained.data.classes.indexOf(label);
      assert.ok(Math.abs(probability - expected[k]!) < 1e-6, `${label}: ${probability} vs ${expected[k]}`);
    }
    trained.model.dispose();
  });

  it('closes the data it loads itself, when the run ends and when it fails', async () => {
    // Three classes of six 16×16 images, each of one colour and brightness.
    const folder = mkdtempSync(join(tmpdir(), 'pdenet-close-'));
    for (let k = 0; k < 3; k++) {
      mkdirSync(join(folder, `c${k}`));
      for (let i = 0; i < 6; i++) {
        const rgb = new Uint8Array(16 * 16 * 3).fill(30 + 20 * i);
        for (let p = k; p < rgb.length; p += 3) rgb[p] = 220;
        writeFileSync(join(folder, `c${k}`, `${i}.png`), encodePng(rgb, 16, 16));
      }
    }
    // The loaders that prepared batches (each holds a worker until it is closed), and those closed.
    const started = new Set<DataLoader>();
    const closed = new Set<DataLoader>();
    const { epoch, close } = DataLoader.prototype;
    DataLoader.prototype.epoch = function (this: DataLoader, ...args: Parameters<DataLoader['epoch']>) {
      started.add(this);
      return epoch.apply(this, args);
    };
    DataLoader.prototype.close = function (this: DataLoader) {
      closed.add(this);
      return close.call(this);
    };
    const config = { ...base, data: folder, valSplit: 3, epochs: 1, batchSize: 5 };
    const open = () => [...started].filter((l) => !closed.has(l)).length;
    try {
      const result = await train({ ...config, runName: 'closes-data' });
      assert.equal(result.metrics.length, 1);
      assert.equal(started.size, 2, 'the training and the validation loader');
      assert.equal(open(), 0, 'loaders left open after the run');
      started.clear();
      await assert.rejects(
        train(
          { ...config, runName: 'closes-data-failed' },
          {
            events: {
              onEpoch: () => {
                throw new TorchError('the epoch hook failed', 'test');
              },
            },
          },
        ),
        /the epoch hook failed/,
      );
      assert.equal(started.size, 2, 'the training and the validation loader');
      assert.equal(open(), 0, 'loaders left open after the failure');
      // Data given in the options stays the caller's: the run leaves it open.
      started.clear();
      const data = splits();
      await train({ ...base, epochs: 1, runName: 'leaves-given-data' }, { data });
      assert.equal(open(), started.size);
      await closeSplits(data);
    } finally {
      DataLoader.prototype.epoch = epoch;
      DataLoader.prototype.close = close;
    }
  });

  it('validates settings with one clear message', () => {
    assert.throws(() => resolveConfig({ epochs: 0 }), /epochs must be a positive integer, got 0/);
    assert.throws(() => resolveConfig({ schedule: 'linear' as never }), /schedule must be one of/);
    assert.throws(() => resolveConfig({ nope: 1 } as never), /unknown setting "nope"/);
  });
});

describe('trainer limits', () => {
  const checkpointOf = (dir: string) => loadCheckpoint(join(dir, 'checkpoints/last.ckpt.safetensors'));

  it('a run resumed at its maxSteps takes no step and stops again at the limit', async () => {
    const first = await train({ ...base, runName: 'at-limit', maxSteps: 5 }, { data: splits() });
    assert.deepEqual([first.stop, checkpointOf(first.runDir).state.step], ['limit', 5]);
    let steps = 0;
    const again = await train(
      { ...base, runName: 'at-limit', maxSteps: 5 },
      { data: splits(), resume: true, events: { onProgress: () => steps++ } },
    );
    assert.deepEqual([again.stop, again.interrupted, steps], ['limit', true, 0]);
    assert.equal(checkpointOf(again.runDir).state.step, 5);
    assert.equal(readMetrics(again.runDir).length, 0);
  });

  it('a spent budgetMinutes ends the run as done: the epoch in progress ends with the final evaluation', async () => {
    // Any step outlasts a budget of 6e-8 s: the run ends after its first step, within its first epoch.
    const config = { ...base, runName: 'budget', budgetMinutes: 1e-9 };
    const result = await train(config, { data: splits() });
    assert.deepEqual([result.stop, result.interrupted], ['done', false]);
    const metrics = readMetrics(result.runDir);
    assert.deepEqual(
      metrics.map((m) => [m.epoch, m.step]),
      [[0, 1]],
    );
    assert.ok(metrics[0]!.valAccuracy !== null && result.final !== null, 'evaluated');
    assert.equal(result.final!.accuracy, metrics[0]!.valAccuracy);
    // Resumed, the run has no budget left: no step, still done.
    let steps = 0;
    const again = await train(config, { data: splits(), resume: true, events: { onProgress: () => steps++ } });
    assert.deepEqual([again.stop, again.interrupted, steps], ['done', false, 0]);
    assert.equal(readMetrics(again.runDir).length, 1);
  });

  it('with a budget, the schedule runs its course over the training time (budgetSchedule time), or over the steps', async () => {
    // One step spends the budget: all of the budget, so all of the cosine schedule (lr 0 at its end); or one step of
    // its 2 epochs' (cos(π/steps)).
    const lrAfterOneStep = async (budgetSchedule: 'time' | 'steps') => {
      const lrs: number[] = [];
      const config = { ...base, runName: `budget-${budgetSchedule}`, schedule: 'cosine' as const, warmup: 0 };
      await train(
        { ...config, budgetMinutes: 1e-9, budgetSchedule },
        { data: splits(), events: { onProgress: (p) => lrs.push(p.lr) } },
      );
      return lrs;
    };
    assert.deepEqual(await lrAfterOneStep('time'), [0]);
    const steps = 2 * (640 / 32); // 2 epochs of the 640 training images in batches of 32
    const [lr] = await lrAfterOneStep('steps');
    assertClose(lr!, (0.05 * (1 + Math.cos(Math.PI / steps))) / 2, { atol: 1e-15 });
  });

  it('with budgetSchedule time, the staged twist and freezeAfter follow the share of the budget spent', async () => {
    // Epoch 0 as a first session; then its checkpoint says 60% of a 10-minute budget is spent (the resumed steps add
    // milliseconds). Epoch 1 starts where epoch 0 left the schedule (step 0: epoch 0's twist and weights); its steps
    // put the schedule at 60% of 10 epochs, so epoch 2 trains as epoch 6 does: twisted (from epoch 5), the stem
    // frozen (after 4). Counting steps instead, epoch 2 trains as epoch 2.
    const epochsOf = async (budgetSchedule: 'time' | 'steps') => {
      const config = {
        ...base,
        runName: `budget-twist-${budgetSchedule}`,
        epochs: 10,
        twistFromEpoch: 5,
        freezeAfter: { 'stem.0.weight': 4 },
        budgetMinutes: 10,
        budgetSchedule,
      };
      await train({ ...config, maxSteps: 20 }, { data: splits() });
      const path = join(runsDir, config.runName, 'checkpoints/last.ckpt.safetensors');
      editCheckpointState(path, (state) => ({ ...state, seconds: 360 }));
      const stem = () => values(loadTrainedModel(path).model.stateDict().get('stem.0.weight')!);
      const before = stem();
      await train({ ...config, maxSteps: 40 }, { data: splits(), resume: true });
      const afterEpoch1 = stem();
      await train({ ...config, maxSteps: 60 }, { data: splits(), resume: true });
      const twist = readMetrics(join(runsDir, config.runName)).map((m) => m.twist);
      return {
        twist,
        stemMoved: [before, afterEpoch1, stem()].map((w, i, all) => i > 0 && w.some((v, j) => v !== all[i - 1]![j])),
      };
    };
    assert.deepEqual(await epochsOf('time'), { twist: [false, false, true], stemMoved: [false, true, false] });
    assert.deepEqual(await epochsOf('steps'), { twist: [false, false, false], stemMoved: [false, true, true] });
  });

  it("the budget counts the checkpoint's training time: a resumed run gets only what is left of it", async () => {
    // A signal after the first step stops the run within its epoch, its budget already spent by that step.
    const controller = new AbortController();
    const config = { ...base, runName: 'budget-resumed', budgetMinutes: 1e-9 };
    const first = await train(config, {
      data: splits(),
      signal: controller.signal,
      events: { onProgress: () => controller.abort() },
    });
    assert.deepEqual([first.stop, readMetrics(first.runDir).length], ['signal', 0]);
    assert.equal(checkpointOf(first.runDir).state.batch, 1);
    let steps = 0;
    const again = await train(config, { data: splits(), resume: true, events: { onProgress: () => steps++ } });
    assert.deepEqual([again.stop, again.interrupted, steps], ['done', false, 0]);
    const metrics = readMetrics(again.runDir);
    assert.deepEqual(
      metrics.map((m) => [m.epoch, m.step]),
      [[0, 1]],
    );
    assert.ok(metrics[0]!.valAccuracy !== null, 'the stopped epoch ends with its evaluation');
  });
});
