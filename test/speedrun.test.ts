// The pieces of the speed-run recipe: lookahead, translation test-time augmentation, and a SpeedNet run
// with all of them that learns and resumes exactly.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { models, nn, noGrad, setNumThreads, type Tensor, tensor } from '../src/index.js';
import { Lookahead } from '../src/train/lookahead.js';
import { predictLogits } from '../src/train/evaluate.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';
import { configFromFlags } from '../src/cli/train.js';
import { streamOf, type DataSplits } from '../src/train/data.js';
import { syntheticImages } from '../src/data/synthetic.js';
import { splitTrainVal } from '../src/data/dataset.js';
import { readMetrics, train } from '../src/train/trainer.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { assertClose, values } from './helpers.js';

setNumThreads(1);

/** A module with one parameter p (and one buffer b), for following the lookahead by hand. */
class Scalar extends nn.Module {
  readonly p: Tensor;
  readonly b: Tensor;
  constructor(value: number) {
    super();
    this.p = this.registerParameter('p', tensor([value]));
    this.b = this.registerBuffer('b', tensor([value]));
  }

  forward(x: Tensor): Tensor {
    return x.mul(this.p);
  }
}

describe('lookahead', () => {
  it('meets every k steps with weight decay^k·(t/T)³, and ends on the slow copy', () => {
    const model = new Scalar(0);
    const slow = new Scalar(123);
    const la = new Lookahead(model, slow, { every: 2, totalSteps: 4, decay: 0.5 });
    assert.deepEqual(values(slow.p), [0], 'the slow copy starts at the weights');
    const set = (v: number) =>
      noGrad(() => {
        model.p.fill_(v);
        model.b.fill_(v);
      });
    set(10);
    la.step(1); // not a meeting
    assert.deepEqual([values(model.p)[0], values(slow.p)[0]], [10, 0]);
    la.step(2); // d = 0.5² · (2/4)³ = 1/32: φ = d·0 + (1 − d)·10
    const phi = (1 - 1 / 32) * 10;
    assertClose([values(model.p)[0]!, values(slow.p)[0]!, values(model.b)[0]!], [phi, phi, phi]);
    set(20);
    la.step(3);
    la.step(4); // the last step: d = 1, θ ← φ
    assertClose([values(model.p)[0]!, values(slow.p)[0]!], [phi, phi]);
    assert.equal(la.weightAt(4), 1);
    assert.throws(() => new Lookahead(model, slow, { every: 0, totalSteps: 4 }), /every must be a positive integer/);
  });

  it('reads the weight at the position it is given (a schedule that follows training time), meeting last at T', () => {
    const model = new Scalar(0);
    const slow = new Scalar(0);
    const la = new Lookahead(model, slow, { every: 2, totalSteps: 4, decay: 0.5 });
    const set = (v: number) => noGrad(() => model.p.fill_(v));
    set(10);
    la.step(1, 3); // not a meeting
    la.step(2, 1); // d = 0.5² · (1/4)³ = 1/256
    const phi = (1 - 1 / 256) * 10;
    assertClose([values(model.p)[0]!, values(slow.p)[0]!], [phi, phi]);
    set(20);
    la.step(3, 4); // not a k-th step, but the budget is spent: the last meeting, θ ← φ
    assertClose([values(model.p)[0]!, values(slow.p)[0]!], [phi, phi]);
  });
});

describe('translation test-time augmentation', () => {
  it('averages the logits with those of the image shifted by ±t (reflect), by hand on a 1×1×3×3 image', () => {
    // The "classifier" returns the top-left pixel, so every shift shows which pixel lands there.
    const topLeft = new (class extends nn.Module {
      forward(x: Tensor): Tensor {
        return x.narrow(2, 0, 1).narrow(3, 0, 1).flatten(1);
      }
    })();
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], { shape: [1, 1, 3, 3] });
    // Reflect-padded by 1, the image's (−1, −1) shift puts pixel (1, 1) = 5 top-left; the (+1, +1) shift pixel (1, 1) too.
    assert.deepEqual(values(predictLogits(topLeft, x, false, 1)), [(1 + (5 + 5) / 2) / 2]);
    // With the mirror: plain top-left 1, mirrored 3 → 2; both shifts give 5 and (mirrored) 5 → 5.
    assert.deepEqual(values(predictLogits(topLeft, x, true, 1)), [(2 + 5) / 2]);
    assert.deepEqual(values(predictLogits(topLeft, x, true, 0)), [2]);
  });
});

/** P(X ≥ k) for X ~ Binomial(n, p). */
function binomialTail(n: number, p: number, k: number): number {
  let term = (1 - p) ** n; // P(X = 0)
  let tail = 0;
  for (let i = 0; i <= n; i++) {
    if (i >= k) tail += term;
    term *= ((n - i) / (i + 1)) * (p / (1 - p));
  }
  return tail;
}

describe('the speed-run recipe', () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'pdenet-speedrun-'));
  const splits = (): DataSplits => {
    const { train: tr, val } = splitTrainVal(syntheticImages({ perClass: 80, seed: 0 }), 160, 0);
    const normalization = tr.channelStats();
    return {
      train: streamOf(tr, {
        seed: 0,
        shuffle: true,
        dropLast: true,
        augment: { crop: { padding: 2, mode: 'reflect' }, flip: 'alternate' },
        normalization,
        prefetch: 0,
      }),
      val: streamOf(val, { seed: 0, shuffle: false, dropLast: false, augment: null, normalization, prefetch: 0 }),
      classes: tr.classes,
      normalization,
    };
  };
  const recipe: Partial<TrainConfig> = {
    model: 'speednet',
    modelOptions: { width: 8, twist: [true, false, false] },
    epochs: 4,
    batchSize: 64,
    lr: 1.5,
    momentum: 0.85,
    weightDecay: 0.00133,
    biasLr: 64,
    biasDecay: true,
    warmup: 0.23,
    lrStartFactor: 0.2,
    lrEndFactor: 0.07,
    anneal: 'linear',
    cycleMomentum: false,
    labelSmoothing: 0.2,
    lookahead: 5,
    tta: true,
    ttaTranslate: 1,
    channelsLast: true,
    freezeAfter: { 'whiten.bias': 1 },
    runsDir,
  };
  const deterministic = (m: {
    epoch: number;
    step: number;
    trainLoss: number;
    valAccuracy: number | null;
    lr: number;
  }) => [m.epoch, m.step, m.trainLoss, m.valAccuracy, m.lr];

  it('learns the synthetic task, and a resumed run equals the uninterrupted one', async () => {
    const lines: string[] = [];
    const whole = await train(
      { ...recipe, runName: 'whole' },
      { data: splits(), events: { log: (l) => lines.push(l) } },
    );
    assert.ok(
      lines.some((l) => /set the speednet whitening layer from 640 training images/.test(l)),
      lines.join('\n'),
    );
    // Learned: guessing among 10 classes gets this many of the 160 validation images right with probability < 10⁻⁶.
    const correct = Math.round(whole.final!.accuracy * 160);
    assert.ok(binomialTail(160, 0.1, correct) < 1e-6, `validation accuracy ${whole.final!.accuracy} (chance is 0.1)`);
    // The linear schedule: the weights' lr at the end of epoch 1 lies between its end points.
    const lr = whole.metrics[0]!.lr;
    assert.ok(lr < 1.5 && lr > 1.5 * 0.07, `lr after epoch 1: ${lr}`);
    const first = await train({ ...recipe, runName: 'parts', maxSteps: 17 }, { data: splits() });
    assert.equal(first.interrupted, true);
    const rest = await train({ ...recipe, runName: 'parts' }, { data: splits(), resume: true });
    assert.deepEqual(readMetrics(rest.runDir).map(deterministic), whole.metrics.map(deterministic));
    const a = loadSafetensors(join(whole.runDir, 'checkpoints/last.safetensors')).tensors;
    const b = loadSafetensors(join(rest.runDir, 'checkpoints/last.safetensors')).tensors;
    for (const [k, t] of a) assert.deepEqual(values(b.get(k)!), values(t), k);
  });

  it('trains with Muon, and holds a frozen parameter from its epoch on', async () => {
    const muon: Partial<TrainConfig> = {
      ...recipe,
      optimizer: 'muon',
      muonLr: 0.1,
      lookahead: 0,
      freezeAfter: { 'whiten.bias': 1 },
      runName: 'muon',
    };
    const stepsPerEpoch = 10; // 640 training images, batch 64
    const first = await train({ ...muon, maxSteps: stepsPerEpoch }, { data: splits() });
    assert.equal(first.interrupted, true);
    const bias = (run: string) =>
      values(loadSafetensors(join(run, 'checkpoints/last.safetensors')).tensors.get('whiten.bias')!);
    const afterEpoch1 = bias(first.runDir);
    assert.ok(
      afterEpoch1.some((b) => b !== 0),
      'the whitening bias learns in epoch 1',
    );
    const rest = await train(muon, { data: splits(), resume: true });
    assert.deepEqual(bias(rest.runDir), afterEpoch1, 'and is held from epoch 2 on');
    assert.ok(rest.final!.accuracy > 0.3, `validation accuracy ${rest.final!.accuracy} (chance is 0.1)`);
    await assert.rejects(
      train({ ...muon, runName: 'typo', freezeAfter: { 'whiten.bais': 1 } }, { data: splits() }),
      /freezeAfter names "whiten.bais", which speednet does not have \(its trained parameters: whiten.bias, group1/,
    );
  });

  it('loads SpeedNet weights saved before the whitening layer had a bias, with the bias zero', () => {
    const model = models.speednet({ width: 8 });
    const old = new Map([...model.stateDict()].filter(([k]) => k !== 'whiten.bias'));
    noGrad(() => model.whiten.bias!.fill_(1));
    const result = model.loadStateDict(old);
    assert.deepEqual(result.missingKeys, []);
    assert.ok(values(model.whiten.bias!).every((b) => b === 0));
    old.delete('fc.weight');
    assert.throws(() => model.loadStateDict(old), /missing keys: fc.weight/);
  });

  it('rejects a lookahead together with an EMA, and bad recipe values', () => {
    assert.throws(() => resolveConfig({ lookahead: 5, ema: 0.99 }), /lookahead and ema both keep a copy/);
    assert.throws(() => resolveConfig({ anneal: 'cubic' as never }), /anneal must be one of cos, linear/);
    assert.throws(() => resolveConfig({ biasLr: 0 }), /biasLr must be a number in/);
    assert.throws(() => resolveConfig({ channelsLast: 'yes' as never }), /channelsLast must be true or false/);
    assert.throws(() => resolveConfig({ ttaTranslate: -1 }), /ttaTranslate must be a non-negative integer/);
    assert.throws(
      () => resolveConfig({ freezeAfter: { 'whiten.bias': -1 } }),
      /freezeAfter\["whiten.bias"\] must be a non-negative integer/,
    );
    assert.throws(
      () => resolveConfig({ freezeAfter: ['whiten.bias'] as never }),
      /freezeAfter must be a map of parameter names to epochs/,
    );
    assert.throws(() => resolveConfig({ optimizer: 'muon', muonLr: 0 }), /muonLr must be a number in/);
    assert.throws(
      () => resolveConfig({ augment: { flip: 'sometimes' } } as never),
      /augment.flip must be true, false or "alternate"/,
    );
  });

  it('takes the flip mode from the command line', () => {
    for (const [flag, flip] of [
      ['random', true],
      ['alternate', 'alternate'],
      ['off', false],
    ] as const) {
      assert.equal(resolveConfig(configFromFlags({ flip: flag })).augment.flip, flip, flag);
    }
    assert.equal(resolveConfig(configFromFlags({})).augment.flip, true, 'random flips by default');
  });
});
