// Learning-rate schedules against their formulas (written out here), and the Scheduler's stepping and resuming.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor, TorchError } from '../src/index.js';
import {
  Adam,
  CosineAnnealingLR,
  LinearWarmup,
  MultiStepLR,
  OneCycleLR,
  ReduceLROnPlateau,
  RiseAndDecayLR,
  type Schedule,
  Scheduler,
  type ScheduledGroup,
  type SchedulerStateDict,
  SGD,
  StepLR,
} from '../src/optim/index.js';
import { assertClose } from './helpers.js';

/** Asserts `schedule.lr(t, base) = formula(t)` for t = 0 … steps, to rounding. */
function assertFormula(schedule: Schedule, base: number, steps: number, formula: (t: number) => number): void {
  for (let t = 0; t <= steps; t++) {
    assertClose(schedule.lr(t, base), formula(t), { atol: 1e-15, rtol: 1e-13, message: `t = ${t}` });
  }
}

/** Parameter groups of a pretend optimizer: all a Scheduler touches. */
function groups(...lrs: number[]): { paramGroups: ScheduledGroup[] } {
  return { paramGroups: lrs.map((lr) => ({ lr, momentum: 0.9 })) };
}

describe('schedules', () => {
  it('StepLR: baseLr·γ^⌊t/stepSize⌋', () => {
    assertFormula(new StepLR(3, 0.5), 0.1, 20, (t) => 0.1 * 0.5 ** Math.floor(t / 3));
    assertFormula(new StepLR(30), 0.4, 100, (t) => 0.4 * 0.1 ** Math.floor(t / 30));
    assert.throws(() => new StepLR(0), /stepSize must be a positive integer/);
  });

  it('MultiStepLR: baseLr·γ^(milestones ≤ t), milestones in any order, repeated ones counting twice', () => {
    const s = new MultiStepLR([12, 3, 7, 7], 0.3);
    const passed = (t: number): number => [3, 7, 7, 12].filter((m) => m <= t).length;
    assertFormula(s, 0.1, 20, (t) => 0.1 * 0.3 ** passed(t));
    assert.equal(s.lr(2, 0.1), 0.1);
    assertClose(s.lr(3, 0.1), 0.03, { atol: 1e-17 });
    assertClose(s.lr(7, 0.1), 0.1 * 0.3 ** 3, { atol: 1e-17 });
  });

  it('CosineAnnealingLR: ηmin + (baseLr − ηmin)(1 + cos(πt/tMax))/2, periodic past tMax', () => {
    const s = new CosineAnnealingLR(10, 0.001);
    assertFormula(s, 0.1, 25, (t) => 0.001 + ((0.1 - 0.001) * (1 + Math.cos((Math.PI * t) / 10))) / 2);
    assert.equal(s.lr(0, 0.1), 0.1);
    assertClose(s.lr(10, 0.1), 0.001, { atol: 1e-17 });
    assertClose(s.lr(5, 0.1), (0.1 + 0.001) / 2, { atol: 1e-17 });
    assertClose(s.lr(20, 0.1), 0.1, { atol: 1e-17 });
  });

  it('CosineAnnealingLR with a linear warmup: rises for w steps, then the cosine over tMax − w', () => {
    const s = new CosineAnnealingLR(20, 0, { steps: 5, startFactor: 0.1 });
    assertFormula(s, 0.2, 20, (t) =>
      t < 5 ? 0.2 * (0.1 + (0.9 * t) / 5) : (0.2 * (1 + Math.cos((Math.PI * (t - 5)) / 15))) / 2,
    );
    assertClose(s.lr(0, 0.2), 0.02, { atol: 1e-17 });
    assert.equal(s.lr(5, 0.2), 0.2, 'the warmup ends at baseLr, where the cosine starts');
    assertClose(s.lr(20, 0.2), 0, { atol: 1e-17 });
    assert.ok(s.lr(4, 0.2) < s.lr(5, 0.2) && s.lr(6, 0.2) < s.lr(5, 0.2));
    assert.throws(() => new CosineAnnealingLR(5, 0, { steps: 5 }), /tMax must be an integer larger than the warmup/);
  });

  it('LinearWarmup: baseLr·(s + (1 − s)·min(t, w)/w), then optionally another schedule', () => {
    const s = new LinearWarmup(4, 0.25);
    assertFormula(s, 0.1, 10, (t) => 0.1 * (0.25 + (0.75 * Math.min(t, 4)) / 4));
    assertClose(s.lr(0, 0.1), 0.025, { atol: 1e-17 });
    assertClose(s.lr(4, 0.1), 0.1, { atol: 1e-17 });
    const chained = new LinearWarmup(3, 0.5, new StepLR(2, 0.1));
    assertFormula(chained, 1, 10, (t) => (t < 3 ? 0.5 + (0.5 * t) / 3 : 0.1 ** Math.floor((t - 3) / 2)));
    assert.equal(new LinearWarmup(3).lr(0, 0.3), 0.3 / 3, "startFactor defaults to 1/3, as PyTorch's LinearLR");
  });

  describe('OneCycleLR', () => {
    const cosAnneal = (a: number, b: number, pct: number): number => b + ((a - b) / 2) * (Math.cos(Math.PI * pct) + 1);
    const linAnneal = (a: number, b: number, pct: number): number => (b - a) * pct + a;

    it('two phases: initial → maxLr until pT − 1, maxLr → min until T − 1', () => {
      const T = 100;
      const maxLr = 0.2;
      const initial = maxLr / 25;
      const min = initial / 1e4;
      const s = new OneCycleLR({ maxLr, totalSteps: T });
      const up = 0.3 * T - 1;
      assertFormula(s, 0.05, T, (t) =>
        t <= up ? cosAnneal(initial, maxLr, t / up) : cosAnneal(maxLr, min, (t - up) / (T - 1 - up)),
      );
      assertClose(s.lr(0, 0.05), 0.2 / 25, { atol: 1e-18, message: 'start' });
      assert.equal(s.lr(29, 0.05), 0.2, 'peak at pctStart·T − 1');
      assertClose(s.lr(T - 1, 0.05), 0.2 / 25 / 1e4, { atol: 1e-18, message: 'end' });
      assert.ok(s.lr(28, 0.05) < 0.2 && s.lr(30, 0.05) < 0.2);
      assert.throws(() => s.lr(T + 1, 0.05), /tried to step 102 times; the specified number of total steps is 100/);
    });

    it('linear annealing, other factors, and three phases', () => {
      const s = new OneCycleLR({
        maxLr: 1,
        totalSteps: 50,
        pctStart: 0.2,
        divFactor: 10,
        finalDivFactor: 100,
        annealStrategy: 'linear',
      });
      assertFormula(s, 1, 50, (t) => (t <= 9 ? linAnneal(0.1, 1, t / 9) : linAnneal(1, 0.001, (t - 9) / 40)));
      const three = new OneCycleLR({ maxLr: 1, totalSteps: 50, pctStart: 0.2, threePhase: true });
      assertFormula(three, 1, 50, (t) =>
        t <= 9
          ? cosAnneal(0.04, 1, t / 9)
          : t <= 18
            ? cosAnneal(1, 0.04, (t - 9) / 9)
            : cosAnneal(0.04, 4e-6, (t - 18) / 31),
      );
    });

    it('cycles the momentum inversely: maxMomentum → baseMomentum at the peak → maxMomentum', () => {
      const s = new OneCycleLR({ maxLr: 0.2, totalSteps: 20, pctStart: 0.25 });
      assert.equal(s.momentum(0), 0.95);
      assert.equal(s.momentum(4), 0.85);
      assert.equal(s.momentum(19), 0.95);
      for (let t = 0; t <= 20; t++) {
        const expected = t <= 4 ? cosAnneal(0.95, 0.85, t / 4) : cosAnneal(0.85, 0.95, (t - 4) / 15);
        assertClose(s.momentum(t)!, expected, { atol: 1e-15 });
      }
      assert.equal(new OneCycleLR({ totalSteps: 20, cycleMomentum: false }).momentum(3), undefined);
    });

    it('equals the values PyTorch 1.13 prints for OneCycleLR(max_lr=0.2, total_steps=20, pct_start=0.25)', () => {
      const s = new OneCycleLR({ maxLr: 0.2, totalSteps: 20, pctStart: 0.25 });
      const torchLrs = [
        0.008000000000000007, 0.036117749006091465, 0.10400000000000001, 0.17188225099390858, 0.2, 0.1978147688143403,
        0.19135458034607702, 0.180901775830697, 0.1669131929836433, 0.1500002, 0.130901975830697, 0.11045320451538004,
        0.08954759548461998, 0.06909882416930302, 0.05000060000000003, 0.03308760701635676, 0.019099024169303015,
        0.008646219653922961, 0.0021860311856597247, 8e-7,
      ];
      assert.deepEqual(
        torchLrs.map((_, t) => s.lr(t, 0.1)),
        torchLrs,
      );
    });

    it('refuses a phase that starts and ends at the same step (0/0 in its fraction), naming it', () => {
      assert.throws(
        () => new OneCycleLR({ maxLr: 1, totalSteps: 10, pctStart: 0.1 }),
        /OneCycleLR: the rising phase is empty: it starts and ends at step 0 \(pctStart·totalSteps = 0\.1·10 = 1\)/,
      );
      assert.throws(
        () => new OneCycleLR({ maxLr: 1, totalSteps: 10, pctStart: 1 }),
        /the annealing phase is empty: it starts and ends at step 9/,
      );
      assert.throws(
        () => new OneCycleLR({ maxLr: 1, totalSteps: 10, pctStart: 0.55, threePhase: true }),
        /the annealing phase is empty: it starts and ends at step 9 \(pctStart·totalSteps = 0\.55·10 = 5\.5, three phases\)/,
      );
      // Shorter than one step (pctStart·T < 1) the rise is skipped, as in PyTorch: finite values from step 0.
      const short = new OneCycleLR({ maxLr: 1, totalSteps: 10, pctStart: 0.05 });
      assert.ok([0, 1, 9].every((t) => Number.isFinite(short.lr(t, 1)) && Number.isFinite(short.momentum(t)!)));
    });

    it("without maxLr, peaks at each group's initial learning rate", () => {
      const s = new OneCycleLR({ totalSteps: 10, pctStart: 0.5 });
      assert.equal(s.lr(4, 0.3), 0.3);
      assert.equal(s.lr(4, 0.03), 0.03);
    });
  });

  it('rise and decay: 0.001 + x·e^(−x/x0)·e·y0/x0 peaks at x0 with 0.001 + y0', () => {
    const s = new RiseAndDecayLR(8, 0.05);
    assertFormula(s, 0.1, 60, (x) => 0.001 + (x * Math.exp(-x / 8) * Math.E * 0.05) / 8);
    assert.equal(s.lr(0), 0.001);
    assertClose(s.lr(8), 0.001 + 0.05, { atol: 1e-16 });
    for (const x of [7, 7.9, 8.1, 9, 20]) assert.ok(s.lr(x) < s.lr(8), `lr(${x}) < lr(x0)`);
    assert.ok(s.lr(200) < 0.0011, 'decays back towards 0.001');
    assert.equal((s as Schedule).lr(3, 123), (s as Schedule).lr(3, 0.1), 'the same for every group');
  });
});

describe('ReduceLROnPlateau', () => {
  /** Feeds the metrics and returns the learning rate after each. */
  function feed(p: ReduceLROnPlateau, metrics: number[], lr = 1): number[] {
    let lrs = [lr];
    return metrics.map((m) => (lrs = p.step(m, lrs))[0]!);
  }

  it('reduces after `patience` bad epochs (at the next bad one)', () => {
    const p = new ReduceLROnPlateau({ patience: 2, factor: 0.5 });
    //                  best  bad1 bad2 bad3→reduce  bad1 bad2 bad3→reduce
    assert.deepEqual(feed(p, [1, 1, 1, 1, 1, 1, 1]), [1, 1, 1, 0.5, 0.5, 0.5, 0.25]);
    const q = new ReduceLROnPlateau({ patience: 0, factor: 0.1 });
    assert.deepEqual(feed(q, [3, 2, 2]), [1, 1, 0.1]);
  });

  it('counts an improvement only beyond the threshold (relative or absolute; min or max)', () => {
    const rel = new ReduceLROnPlateau({ patience: 1, factor: 0.5, threshold: 0.1 });
    // 9.5 is not below 10·(1 − 0.1) = 9: bad; 8.9 is: better
    assert.deepEqual(feed(rel, [10, 9.5, 8.9, 8.5, 8.5]), [1, 1, 1, 1, 0.5]);
    const abs = new ReduceLROnPlateau({ mode: 'max', thresholdMode: 'abs', threshold: 0.5, patience: 1, factor: 0.5 });
    // accuracy 70 → 70.4 (not > 70.5: bad) → 70.6 (better) → 70.9, 71 (bad, bad → reduce)
    assert.deepEqual(feed(abs, [70, 70.4, 70.6, 70.9, 71]), [1, 1, 1, 1, 0.5]);
    assert.equal(abs.best, 70.6);
  });

  it('waits `cooldown` epochs after a reduction, and stops at minLr', () => {
    const p = new ReduceLROnPlateau({ patience: 1, cooldown: 2, factor: 0.5, minLr: 0.2 });
    // epochs: best, bad, bad→0.5, cooldown, cooldown, bad, bad→0.25, cooldown ×2, bad, bad→0.2 (floor), …
    assert.deepEqual(
      feed(p, Array(14).fill(1)),
      [1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2],
    );
    const perGroup = new ReduceLROnPlateau({ patience: 0, minLr: [0.05, 0.002] });
    let lrs = [0.1, 0.1];
    for (const m of [1, 1, 1]) lrs = perGroup.step(m, lrs);
    assert.deepEqual(lrs, [0.05, 0.002]);
  });

  it('skips reductions smaller than eps', () => {
    const p = new ReduceLROnPlateau({ patience: 0, factor: 0.5, eps: 1e-3 });
    assert.deepEqual(feed(p, [1, 1, 1], 0.0015), [0.0015, 0.0015, 0.0015]);
  });

  it("equals PyTorch 1.13's sequence (patience 2, cooldown 1, factor 0.5, min_lr 0.02)", () => {
    const p = new ReduceLROnPlateau({ patience: 2, cooldown: 1, factor: 0.5, minLr: 0.02 });
    assert.deepEqual(
      feed(p, [5, 4, 4, 4, 4, 3.9999, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 0.1),
      [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02],
    );
  });

  it('saves and restores its counters', () => {
    const a = new ReduceLROnPlateau({ patience: 3, cooldown: 2 });
    const b = new ReduceLROnPlateau({ patience: 3, cooldown: 2 });
    assert.deepEqual(a.stateDict(), { best: null, num_bad_epochs: 0, cooldown_counter: 0, last_epoch: 0 });
    const metrics = [5, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3];
    let lrsA = [0.1];
    metrics.slice(0, 6).forEach((m) => (lrsA = a.step(m, lrsA)));
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
    let lrsB = [...lrsA];
    for (const m of metrics.slice(6)) {
      lrsA = a.step(m, lrsA);
      lrsB = b.step(m, lrsB);
      assert.deepEqual(lrsB, lrsA);
    }
    assert.deepEqual(b.stateDict(), a.stateDict());
    assert.throws(
      () => b.loadStateDict({ best: 1, num_bad_epochs: -1, cooldown_counter: 0, last_epoch: 0 }),
      /num_bad_epochs must be a non-negative integer/,
    );
    assert.throws(() => new ReduceLROnPlateau({ factor: 1 }), /factor should be < 1.0/);
  });
});

describe('Scheduler', () => {
  it("writes each group's learning rate from its own initial rate, starting at step 0", () => {
    const opt = groups(0.1, 0.01);
    const sched = new Scheduler(opt, new StepLR(2, 0.5));
    assert.deepEqual(sched.lastLr, [0.1, 0.01]);
    assert.deepEqual(sched.baseLrs, [0.1, 0.01]);
    const seen: number[][] = [];
    for (let k = 0; k < 6; k++) {
      sched.step();
      seen.push(opt.paramGroups.map((g) => g.lr));
    }
    assert.deepEqual(seen, [
      [0.1, 0.01],
      [0.05, 0.005],
      [0.05, 0.005],
      [0.025, 0.0025],
      [0.025, 0.0025],
      [0.0125, 0.00125],
    ]);
    assert.deepEqual(sched.lastLr, [0.0125, 0.00125]);
    assert.equal(sched.stepCount, 6);
  });

  it('takes a function (t, baseLr) => lr', () => {
    const opt = groups(1, 2);
    const sched = new Scheduler(opt, (t, base) => base / (1 + t));
    sched.step();
    sched.step();
    assert.deepEqual(sched.lastLr, [1 / 3, 2 / 3]);
  });

  it('seeks any step, forward or back: the rates and momentum of that step, as if stepped there', () => {
    const onecycle = () => new OneCycleLR({ maxLr: 1, totalSteps: 10, pctStart: 0.3 });
    const stepped = groups(1);
    const seeking = groups(1);
    const a = new Scheduler(stepped, onecycle());
    const b = new Scheduler(seeking, onecycle());
    for (const t of [7, 2, 10, 0]) {
      if (a.stepCount > t) a.loadStateDict({ step: 0, base_lrs: [1] });
      while (a.stepCount < t) a.step();
      b.seek(t);
      assert.deepEqual([b.stepCount, seeking.paramGroups], [t, stepped.paramGroups], `step ${t}`);
    }
    assert.throws(() => b.seek(1.5), /Scheduler.seek.*non-negative integer, got 1.5/);
    assert.throws(() => b.seek(-1), /non-negative integer, got -1/);
    const plateau = new Scheduler(groups(1), new ReduceLROnPlateau());
    assert.throws(() => plateau.seek(3), /ReduceLROnPlateau follows its metric/);
  });

  it('drives a real optimizer: the step uses the scheduled rate', () => {
    const p = tensor([1, 2], { dtype: 'float64' }).requiresGrad_();
    const opt = new SGD([p], { lr: 0.1 });
    const sched = new Scheduler(opt, new StepLR(1, 0.1));
    sched.step(); // lr 0.01
    p.grad = tensor([1, 1], { dtype: 'float64' });
    opt.step();
    assertClose(p, [0.99, 1.99], { atol: 1e-15 });
  });

  it("writes OneCycle's momentum into SGD's momentum and Adam's β₁", () => {
    const p = tensor([1], { requiresGrad: true });
    const sgd = new SGD([p], { lr: 0.1, momentum: 0.9 });
    const s1 = new Scheduler(sgd, new OneCycleLR({ maxLr: 1, totalSteps: 10, pctStart: 0.5 }));
    assert.equal(sgd.paramGroups[0]!.momentum, 0.95);
    for (let k = 0; k < 4; k++) s1.step();
    assert.equal(sgd.paramGroups[0]!.momentum, 0.85);
    assert.equal(sgd.paramGroups[0]!.lr, 1);
    const adam = new Adam([p], { betas: [0.9, 0.99] });
    const s2 = new Scheduler(adam, new OneCycleLR({ maxLr: 1, totalSteps: 10, pctStart: 0.5 }));
    s2.step();
    assert.equal(adam.paramGroups[0]!.betas[1], 0.99);
    assertClose(adam.paramGroups[0]!.betas[0], 0.85 + ((0.95 - 0.85) / 2) * (Math.cos(Math.PI / 4) + 1), {
      atol: 1e-15,
    });
    assert.throws(
      () => new Scheduler({ paramGroups: [{ lr: 1 }] }, new OneCycleLR({ totalSteps: 5 })),
      /cycles the momentum, but the optimizer has neither momentum nor betas/,
    );
  });

  it('applies ReduceLROnPlateau with the metric', () => {
    const opt = groups(0.1, 0.01);
    const sched = new Scheduler(opt, new ReduceLROnPlateau({ patience: 1, factor: 0.5 }));
    for (const m of [3, 3, 3]) sched.step(m);
    assert.deepEqual(
      opt.paramGroups.map((g) => g.lr),
      [0.05, 0.005],
    );
    assert.throws(
      () => sched.step(),
      (e: unknown) => e instanceof TorchError && /needs the metric/.test(e.message),
    );
  });

  it('resumes exactly from its state dict (also through JSON)', () => {
    const makeAll = (): [Schedule | ReduceLROnPlateau, number[]][] => [
      [new OneCycleLR({ maxLr: 0.3, totalSteps: 30 }), []],
      [new CosineAnnealingLR(25, 1e-4, { steps: 3 }), []],
      [new RiseAndDecayLR(5, 0.1), []],
      [new ReduceLROnPlateau({ patience: 1, cooldown: 1, factor: 0.5 }), [5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]],
    ];
    const originals = makeAll();
    const restarts = makeAll();
    originals.forEach(([schedule, metrics], i) => {
      const optA = groups(0.1, 0.02);
      const a = new Scheduler(optA, schedule);
      for (let k = 0; k < 8; k++) a.step(metrics[k]);
      const saved = JSON.parse(JSON.stringify(a.stateDict()));

      const optB = groups(0.1, 0.02); // a fresh optimizer, as after a restart
      const b = new Scheduler(optB, restarts[i]![0]);
      b.loadStateDict(saved);
      assert.equal(b.stepCount, 8);
      assert.deepEqual(b.lastLr, a.lastLr);
      assert.deepEqual(optB.paramGroups, optA.paramGroups);
      for (let k = 8; k < 14; k++) {
        a.step(metrics[k]);
        b.step(metrics[k]);
        assert.deepEqual(optB.paramGroups, optA.paramGroups, `schedule ${i}, step ${k}`);
      }
    });
  });

  it('rejects a state dict that does not fit', () => {
    const sched = new Scheduler(groups(0.1, 0.01), new StepLR(2));
    assert.throws(
      () => sched.loadStateDict({ step: 3, base_lrs: [0.1] }),
      /the state dict has 1 base_lrs, the optimizer has 2 groups/,
    );
    assert.throws(
      () => sched.loadStateDict({ step: -1, base_lrs: [0.1, 0.01] }),
      /step must be a non-negative integer/,
    );
    assert.throws(
      () =>
        sched.loadStateDict({
          step: 1,
          base_lrs: [0.1, 0.01],
          plateau: { best: null, num_bad_epochs: 0, cooldown_counter: 0, last_epoch: 0 },
        }),
      /schedule is not ReduceLROnPlateau/,
    );
    const plateau = new Scheduler(groups(0.1), new ReduceLROnPlateau());
    assert.throws(() => plateau.loadStateDict({ step: 1, base_lrs: [0.1] }), /has no plateau state/);
  });

  it('rejects learning rates that are not finite numbers ≥ 0, naming the entry, and changes nothing then', () => {
    const opt = groups(0.1, 0.01);
    const sched = new Scheduler(opt, new StepLR(2));
    const rejects = (sd: unknown, pattern: RegExp) =>
      assert.throws(
        () => sched.loadStateDict(sd as SchedulerStateDict),
        (e: unknown) => e instanceof TorchError && e.op === 'Scheduler.loadStateDict' && pattern.test(e.message),
      );
    rejects({ step: 3, base_lrs: [null, 0.01] }, /base_lrs\[0\] is null, expected a finite number ≥ 0/);
    rejects({ step: 3, base_lrs: [0.1, '0.1'] }, /base_lrs\[1\] is "0\.1", expected a finite number ≥ 0/);
    rejects({ step: 3, base_lrs: [0.1, -0.01] }, /base_lrs\[1\] is -0\.01/);
    rejects({ step: 3, base_lrs: [Number.POSITIVE_INFINITY, 0.01] }, /base_lrs\[0\] is Infinity/);
    assert.equal(sched.stepCount, 0);
    assert.deepEqual(sched.baseLrs, [0.1, 0.01]);
    assert.deepEqual(
      opt.paramGroups.map((g) => g.lr),
      [0.1, 0.01],
    );

    const plateauSchedule = new ReduceLROnPlateau();
    const plateau = new Scheduler(groups(0.1), plateauSchedule);
    const counters = { best: 3, num_bad_epochs: 2, cooldown_counter: 0, last_epoch: 4 };
    assert.throws(
      () => plateau.loadStateDict({ step: 4, base_lrs: [0.1], lrs: [Number.NaN], plateau: counters }),
      /Scheduler\.loadStateDict: lrs\[0\] is NaN, expected a finite number ≥ 0/,
    );
    assert.equal(plateauSchedule.numBadEpochs, 0, 'the plateau counters are not restored either');
    assert.deepEqual(plateau.lastLr, [0.1]);
  });
});
