import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  labelPart,
  parseSetting,
  followEpochs,
  planSweep,
  readRunState,
  remainingSeconds,
  runSweep,
  sweepRemainingSeconds,
  settingPath,
  summarizeSweep,
  withSetting,
  writeSummary,
} from '../src/sweep/index.js';
import { paired, studentQuantile, summarize, welch } from '../src/sweep/stats.js';
import type { SweepSummary } from '../src/sweep/summary.js';
import { finalAccuracySpec, sweepPlotSpec } from '../src/viz/sweep-plots.js';
import { type EpochMetrics, readMetrics } from '../src/train/trainer.js';
import { nonNegativeInt, positiveInt, positiveNumber } from '../src/cli/options.js';
import { assertClose, running, until } from './helpers.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sweepStopper = fileURLToPath(new URL('./fixtures/sweep-stopper.js', import.meta.url));

describe('sweep statistics', () => {
  // Expected values from SciPy 1.10 (/usr/bin/python3): stats.t.ppf, stats.t.cdf, and stats.ttest_ind(b, a,
  // equal_var=False) with the interval d ± t.ppf(0.975, df)·se.
  const a = [0.912, 0.905, 0.918, 0.909, 0.915];
  const b = [0.921, 0.917, 0.925];

  it("Student's t quantiles match the tables", () => {
    assertClose(studentQuantile(0.975, 1), 12.706204736432095, { rtol: 1e-9 });
    assertClose(studentQuantile(0.975, 4), 2.7764451051977987, { rtol: 1e-9 });
    assertClose(studentQuantile(0.975, 2.5), 3.5746548420118773, { rtol: 1e-9 });
  });

  it('a sample: mean, std (n − 1) and the t interval', () => {
    const s = summarize(a);
    assert.equal(s.n, 5);
    assertClose(
      [s.mean, s.std!, s.low!, s.high!],
      [0.9118, 0.005069516742254635, 0.9055053635728513, 0.9180946364271488],
      { rtol: 1e-9 },
    );
    assert.deepEqual(summarize([0.5]), { n: 1, mean: 0.5, std: null, low: null, high: null });
  });

  it("Welch's t-test and interval match SciPy", () => {
    const w = welch(a, b);
    assertClose(
      [w.difference, w.t!, w.df!, w.p!, w.low!, w.high!],
      [
        0.921 - 0.9118,
        2.842793831144038,
        5.266724319410429,
        0.03406249549412924,
        0.00100608259964894,
        0.01739391740035081,
      ],
      { rtol: 1e-8, atol: 1e-10 },
    );
    // Swapping the samples flips the difference, not the p-value.
    const back = welch(b, a);
    assertClose([back.difference, back.p!], [-w.difference, w.p!], { rtol: 1e-12 });
    assert.equal(welch([1, 1], [1, 1]).p, 1);
    assert.throws(() => summarize([]), /non-empty list of finite numbers/);
  });

  it('the paired t-test and interval match SciPy (stats.ttest_rel)', () => {
    const after = [0.921, 0.91, 0.925, 0.913, 0.917];
    const d = paired(a, after);
    assertClose(
      [d.difference, d.t!, d.df!, d.p!, d.low!, d.high!],
      [0.027 / 5, 4.469071798452787, 4, 0.011082591815720666, 0.0020452086150733397, 0.00875479138492667],
      { rtol: 1e-8, atol: 1e-12 },
    );
    assert.throws(() => paired(a, b), /paired samples must have equal lengths, got 5 and 3/);
    assert.deepEqual(paired([0.5], [0.6]).low, null);
  });
});

describe('sweep settings', () => {
  it('reads paths and the short forms of model options', () => {
    assert.deepEqual(parseSetting('twist=0,0,0:1,0,0'), {
      key: 'modelOptions.twist',
      values: [
        [false, false, false],
        [true, false, false],
      ],
    });
    assert.deepEqual(parseSetting('boundary=zeros,reflect'), {
      key: 'modelOptions.boundary',
      values: ['zeros', 'reflect'],
    });
    assert.deepEqual(parseSetting('modelOptions.twistField=strain,conformal').values, ['strain', 'conformal']);
    assert.deepEqual(parseSetting('integrator=rk4,rk1'), {
      key: 'modelOptions.rknet.integrator',
      values: ['rk4', 'rk1'],
    });
    assert.deepEqual(parseSetting('tY=0,1,2,3,4:0,2,4').values, [
      [0, 1, 2, 3, 4],
      [0, 2, 4],
    ]);
    assert.deepEqual(parseSetting('lr=0.1,0.2'), { key: 'lr', values: [0.1, 0.2] });
    assert.deepEqual(parseSetting('milestones=10:20').values, [[10], [20]]);
    assert.deepEqual(parseSetting('augment.cutout=0,8').values, [0, 8]);
  });

  it('refuses an unknown setting, naming the valid ones', () => {
    assert.throws(
      () => parseSetting('twisty=0,1'),
      (e: Error) =>
        /unknown setting "twisty"/.test(e.message) &&
        e.message.includes('modelOptions.boundary') &&
        e.message.includes('epochs') &&
        /short forms .*twist/.test(e.message),
    );
    assert.throws(() => settingPath('seed'), /set by the sweep itself/);
    assert.throws(() => parseSetting('boundary'), /name=value1,value2/);
  });

  it("reads each value with the setting's own parser, as pdenet train's flag reads it", () => {
    assert.deepEqual(parseSetting('data=2024'), { key: 'data', values: ['2024'] }, 'a path, not a number');
    assert.deepEqual(parseSetting('data=2024,cifar10').values, ['2024', 'cifar10']);
    // A list setting given a single value: a list of one.
    assert.deepEqual(parseSetting('milestones=10').values, [[10]]);
    assert.deepEqual(parseSetting('noDecay=bias:bias,norm').values, [['bias'], ['bias', 'norm']]);
    assert.deepEqual(parseSetting('augment.flip=alternate,random').values, ['alternate', true]);
    assert.deepEqual(parseSetting('augment.affine=off').values, [null]);
    assert.throws(() => parseSetting('epochs=4,abc'), /epochs must be a positive integer, got abc/);
    assert.throws(() => parseSetting('epochs=2.5'), /epochs must be a positive integer, got 2\.5/);
    assert.throws(() => parseSetting('boundary=zeros,sticky'), /boundary must be one of zeros, reflect, .*got sticky/);
    assert.throws(
      () => parseSetting('tY=0,1,2'),
      /tY must be a list of at least two .*got 0 \(values that hold commas are separated by ":"/,
    );
  });

  it('refuses a bad value before anything runs, naming the combination', () => {
    assert.throws(
      () =>
        planSweep(
          {
            name: 'x',
            base: { model: 'resnet20' },
            seeds: [0],
            minutes: null,
            // As a sweep.json may hold it: parseSetting refuses the value itself.
            settings: [{ key: 'modelOptions.boundary', values: ['zeros', 'sticky'] }],
          },
          mkdtempSync(join(tmpdir(), 'pdenet-sweep-')),
        ),
      /boundary=sticky: .*boundary must be one of zeros, reflect/,
    );
  });

  it('plans seed after seed over the grid, the first values the baseline', () => {
    const base = { model: 'resnet20', modelOptions: { width: 8 }, epochs: 3 };
    const plan = planSweep(
      {
        name: 'grid',
        base,
        seeds: [3, 5],
        minutes: null,
        settings: [parseSetting('twist=0:1'), parseSetting('boundary=zeros,reflect')],
      },
      'out',
    );
    assert.deepEqual(
      plan.combinations.map((c) => c.label),
      [
        'twist=false boundary=zeros',
        'twist=false boundary=reflect',
        'twist=true boundary=zeros',
        'twist=true boundary=reflect',
      ],
    );
    assert.deepEqual(
      plan.runs.map((r) => [r.combination, r.seed]),
      [
        [0, 3],
        [1, 3],
        [2, 3],
        [3, 3],
        [0, 5],
        [1, 5],
        [2, 5],
        [3, 5],
      ],
    );
    const run = plan.runs[3]!;
    assert.equal(run.id, 'twist-true_boundary-reflect_seed-3');
    assert.deepEqual(run.config, {
      model: 'resnet20',
      modelOptions: { width: 8, twist: true, boundary: 'reflect' },
      epochs: 3,
      seed: 3,
      runName: run.id,
      runsDir: join('out', 'grid', 'runs'),
    });
    assert.deepEqual(
      base,
      { model: 'resnet20', modelOptions: { width: 8 }, epochs: 3 },
      'the base recipe is not changed',
    );
    assert.deepEqual(withSetting({}, 'modelOptions.rknet.integrator', 'rk4'), {
      modelOptions: { rknet: { integrator: 'rk4' } },
    });
  });

  it('varies a group of settings at once with JSON objects, leaving its other settings as the base has them', () => {
    const rknet = parseSetting('rknet={"integrator":"rk4"}:{"integrator":"rk1","timePoints":[0,0.5,1,1.5,2]}');
    assert.equal(rknet.key, 'modelOptions.rknet');
    assert.deepEqual(rknet.values, [{ integrator: 'rk4' }, { integrator: 'rk1', timePoints: [0, 0.5, 1, 1.5, 2] }]);
    const base = { model: 'rknet', modelOptions: { rknet: { norm: 'batch', integrator: 'rk2' } } };
    assert.deepEqual(withSetting(base, rknet.key, rknet.values[1]), {
      model: 'rknet',
      modelOptions: { rknet: { norm: 'batch', integrator: 'rk1', timePoints: [0, 0.5, 1, 1.5, 2] } },
    });
    const options = parseSetting('modelOptions={"twist":[0,0,1]},{"boundary":"reflect"}');
    assert.deepEqual(options.values, [{ twist: [false, false, true] }, { boundary: 'reflect' }]);
    // The whole recipe as one group: a combination may set epochs and model options together.
    const recipe = parseSetting('recipe={"epochs":7}:{"epochs":5,"modelOptions":{"twist":[0,0,1]}}');
    assert.equal(recipe.key, 'recipe');
    assert.deepEqual(recipe.values[1], { epochs: 5, modelOptions: { twist: [false, false, true] } });
    assert.deepEqual(withSetting({ epochs: 3, modelOptions: { width: 8 } }, 'recipe', recipe.values[1]), {
      epochs: 5,
      modelOptions: { width: 8, twist: [false, false, true] },
    });
    assert.equal(labelPart('recipe', recipe.values[1]), 'epochs=5 twist=0,0,1');
    assert.equal(labelPart('boundary', 'reflect'), 'boundary=reflect');
    assert.throws(
      () => parseSetting('rknet=rk4,rk1'),
      /modelOptions.rknet is a group of settings; its values are JSON objects/,
    );
    assert.throws(() => parseSetting('rknet={"integrator":rk4}'), /is not valid JSON/);
  });
});

describe('sweep summary', () => {
  /** The summary.md of a sweep of runs not yet started. */
  const markdown = (varied: string[], base: Record<string, unknown> = {}, minutes: number | null = null) => {
    const spec = {
      name: 'length',
      base: { model: 'resnet20', ...base },
      seeds: [0],
      minutes,
      settings: varied.map((text) => parseSetting(text)),
    };
    const plan = planSweep(spec, mkdtempSync(join(tmpdir(), 'pdenet-md-')));
    mkdirSync(plan.dir, { recursive: true });
    const summary = summarizeSweep(plan);
    writeSummary(summary);
    return { md: readFileSync(join(plan.dir, 'summary.md'), 'utf8'), summary };
  };

  it('says how many epochs a run has, and that they vary when a varied setting changes them', () => {
    assert.match(markdown([], { epochs: 3 }).md, /; 3 epochs per run\./);
    assert.match(markdown(['boundary=zeros,reflect'], { epochs: 1 }).md, /; 1 epoch per run\./);
    const varied = markdown(['epochs=8,4', 'boundary=zeros,reflect']);
    assert.match(varied.md, /; epochs per run: 4 or 8 \(varied\)\./);
    assert.doesNotMatch(varied.md, /\d+ epochs per run/);
    assert.deepEqual(
      varied.summary.combinations.map((c) => [c.label, c.epochs]),
      [
        ['epochs=8 boundary=zeros', 8],
        ['epochs=8 boundary=reflect', 8],
        ['epochs=4 boundary=zeros', 4],
        ['epochs=4 boundary=reflect', 4],
      ],
    );
    // A group that holds epochs changes them too.
    assert.match(
      markdown(['recipe={"epochs":7}:{"epochs":5}:{"epochs":6,"lr":0.05}']).md,
      /; epochs per run: 5, 6 or 7 \(varied\)\./,
    );
    assert.match(
      markdown(['epochs=8,4'], {}, 2).md,
      /; a budget of 2 minutes of training per run; epochs per run: 4 or 8 \(varied\)\./,
    );
  });
});

describe('sweep run states', () => {
  const metricsLine = (epoch: number, seconds: number) =>
    JSON.stringify({
      epoch,
      step: (epoch + 1) * 10,
      trainLoss: 1,
      trainAccuracy: 0.5,
      valLoss: 1,
      valAccuracy: 0.5,
      lr: 0.1,
      seconds,
      evalSeconds: 1,
      dataShare: 0,
      imagesPerSec: 1,
      twist: false,
    });

  it('a run is done at its last epoch or its time budget; interrupted with a checkpoint', () => {
    const run = mkdtempSync(join(tmpdir(), 'pdenet-run-'));
    assert.equal(readRunState(run, { epochs: 3 }).status, 'absent');
    writeFileSync(join(run, 'metrics.jsonl'), `${metricsLine(0, 50)}\n${metricsLine(1, 50)}\n`);
    assert.equal(readRunState(run, { epochs: 3 }).status, 'absent');
    mkdirSync(join(run, 'checkpoints'));
    writeFileSync(join(run, 'checkpoints', 'last.ckpt.safetensors'), '');
    assert.equal(readRunState(run, { epochs: 3 }).status, 'interrupted');
    assert.equal(readRunState(run, { epochs: 2 }).status, 'done');
    assert.equal(readRunState(run, { epochs: 30, budgetMinutes: 100 / 60 }).status, 'done');
    assert.equal(readRunState(run, { epochs: 30, budgetMinutes: 2 }).status, 'interrupted');
  });

  it("a time budget is the trainer's budgetMinutes in every run's configuration; the pausing limits are refused", () => {
    const spec = { name: 'timed', base: { model: 'resnet20' }, seeds: [0], minutes: 1.5, settings: [] };
    assert.equal(planSweep(spec, 'out').runs[0]!.config.budgetMinutes, 1.5);
    assert.equal(planSweep(spec, 'out').runs[0]!.config.maxMinutes, undefined);
    for (const key of ['maxSteps', 'maxMinutes']) {
      assert.throws(() => settingPath(key), new RegExp(`${key} would only pause them`));
      assert.throws(
        () => planSweep({ ...spec, base: { model: 'resnet20', [key]: 20 } }, 'out'),
        new RegExp(`base: .*${key} would only pause them`),
      );
      assert.throws(
        () => planSweep({ ...spec, settings: [parseSetting(`recipe={"${key}":0}:{"${key}":20}`)] }, 'out'),
        new RegExp(`${key}=20: .*${key} would only pause them`),
      );
    }
  });
});

describe('sweep locks', () => {
  const sweepsDir = mkdtempSync(join(tmpdir(), 'pdenet-sweep-locks-'));
  // A "training" that does nothing: the run ends failed, which is all these tests need of it.
  const noop = join(sweepsDir, 'noop.mjs');
  writeFileSync(noop, '');
  const spec = {
    name: 'locked',
    base: { model: 'speednet', modelOptions: { width: 4 }, epochs: 1 },
    seeds: [0],
    minutes: null,
    settings: [],
  };
  const options = { ...spec, sweepsDir, cores: 1, command: [process.execPath, noop] };
  const runDir = planSweep(spec, sweepsDir).runs[0]!.runDir;
  const sweepLock = join(sweepsDir, 'locked', '.lock');
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;

  it("refuses to delete or resume a run folder whose lock names a live process, and takes over a dead one's", async () => {
    for (const checkpoint of [false, true]) {
      mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
      if (checkpoint) writeFileSync(join(runDir, 'checkpoints', 'last.ckpt.safetensors'), '');
      writeFileSync(join(runDir, '.lock'), `${process.pid}\n`);
      await assert.rejects(runSweep(options), new RegExp(`${runDir} is being written by process ${process.pid}`));
      assert.ok(existsSync(join(runDir, '.lock')), 'the folder is left as it was');
      assert.equal(existsSync(sweepLock), false, "the sweep's lock is released");
      // Its summary says the run is running, not interrupted or absent.
      const { summary } = await runSweep({ ...options, summaryOnly: true });
      assert.equal(summary.runs[0]!.status, 'running');
      assert.match(
        readFileSync(join(sweepsDir, 'locked', 'summary.md'), 'utf8'),
        /\*\*1 of 1 runs are not finished\*\* \(1 running\);/,
      );
    }
    rmSync(join(runDir, 'checkpoints'), { recursive: true });
    writeFileSync(join(runDir, '.lock'), `${deadPid}\n`);
    const result = await runSweep(options);
    assert.deepEqual(
      result.failed.map((f) => f.id),
      ['seed-0'],
    );
    assert.equal(existsSync(join(runDir, '.lock')), false, 'the stale folder was started afresh');
  });

  it('runs one invocation of a sweep at a time, taking over the lock of one that ended', async () => {
    writeFileSync(sweepLock, `${process.pid}\n`);
    await assert.rejects(
      runSweep(options),
      new RegExp(`being run by another invocation of this sweep \\(process ${process.pid}\\)`),
    );
    assert.equal(readFileSync(sweepLock, 'utf8'), `${process.pid}\n`);
    // A summary reads the folder without the lock.
    assert.equal((await runSweep({ ...options, summaryOnly: true })).plan.runs.length, 1);
    writeFileSync(sweepLock, `${deadPid}\n`);
    assert.equal((await runSweep(options)).failed.length, 1);
    assert.equal(existsSync(sweepLock), false, 'released at the end');
  });
});

describe('sweep progress', () => {
  it('followEpochs reports each epoch a run commits, once, and passes over a metrics file that does not parse', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pdenet-follow-'));
    const line = (epoch: number) => `${JSON.stringify({ epoch, step: epoch + 1, seconds: 1 })}\n`;
    writeFileSync(join(dir, 'metrics.jsonl'), line(0));
    const seen: number[] = [];
    const stop = followEpochs(dir, (m) => seen.push(m.epoch), 10);
    writeFileSync(join(dir, 'metrics.jsonl'), `${line(0)}{ not json\n`);
    stop(); // looks once more: nothing new it can read
    assert.equal(seen.length, 0);
    const sofar: number[][] = [];
    const again = followEpochs(dir, (m, all) => (seen.push(m.epoch), sofar.push(all.map((a) => a.epoch))), 10);
    writeFileSync(join(dir, 'metrics.jsonl'), [0, 1, 2].map(line).join(''));
    again();
    assert.deepEqual(seen, [0, 1, 2], 'all three: it started from a file it could not read');
    assert.deepEqual(sofar, [[0], [0, 1], [0, 1, 2]], 'each with the epochs up to it');
  });

  it("sweepRemainingSeconds: each run's time left, a run not started at its combination's pace, shared by the jobs", () => {
    const epoch = (e: number, seconds: number, evalSeconds: number) =>
      ({ epoch: e, seconds, evalSeconds }) as EpochMetrics;
    const runs = [
      { combination: 0, rule: { epochs: 4 }, metrics: [epoch(0, 10, 0), epoch(1, 12, 2)] }, // 2 epochs left at 12 s: 24
      { combination: 0, rule: { epochs: 2 }, metrics: [epoch(0, 20, 0), epoch(1, 20, 0)] }, // done: 0
      { combination: 0, rule: { epochs: 4 }, metrics: [] }, // combination 0's pace, (10 + 14 + 20 + 20) / 4 = 16: 64
      { combination: 1, rule: { epochs: 4 }, metrics: [] }, // none of combination 1 yet: every run's pace, 16: 64
      { combination: 1, rule: { epochs: 4, budgetMinutes: 0.5 }, metrics: [] }, // its 30-second budget ends it first
    ];
    assert.equal(sweepRemainingSeconds(runs, 1), 24 + 64 + 64 + 30);
    assert.equal(sweepRemainingSeconds(runs, 2), (24 + 64 + 64 + 30) / 2);
    assert.equal(sweepRemainingSeconds(runs, 8), (24 + 64 + 64 + 30) / 4, 'no more jobs than runs left');
    assert.equal(sweepRemainingSeconds([runs[1]!], 2), 0);
    assert.equal(sweepRemainingSeconds([runs[2]!, runs[3]!], 2), null, 'no epoch to take a pace from');
  });

  it('remainingSeconds: the epochs left at the mean pace so far, or sooner the budget left', () => {
    const epoch = (e: number, seconds: number, evalSeconds: number) =>
      ({ epoch: e, seconds, evalSeconds }) as EpochMetrics;
    const metrics = [epoch(0, 100, 0), epoch(1, 120, 20)]; // 240 s of wall time in 2 epochs: 120 s each
    assert.equal(remainingSeconds([], { epochs: 10 }), null);
    assert.equal(remainingSeconds(metrics, { epochs: 10 }), 8 * 120);
    assert.equal(remainingSeconds(metrics, { epochs: 2 }), 0);
    // A 5-minute budget: 300 − 220 training seconds left, at 240/220 wall seconds per training second.
    assert.ok(Math.abs(remainingSeconds(metrics, { epochs: 10, budgetMinutes: 5 })! - (80 * 240) / 220) < 1e-9);
    assert.equal(remainingSeconds(metrics, { epochs: 3, budgetMinutes: 60 }), 120, 'the epochs end it first');
    assert.equal(remainingSeconds(metrics, { epochs: 10, budgetMinutes: 3 }), 0, 'budget spent');
  });

  it("the summary's run table gives an unfinished run's epochs done, running or interrupted", async () => {
    const sweepsDir = mkdtempSync(join(tmpdir(), 'pdenet-sweep-progress-'));
    const spec = { name: 'p', base: { model: 'resnet20', epochs: 3 }, seeds: [0, 1], minutes: null, settings: [] };
    mkdirSync(join(sweepsDir, 'p'));
    writeFileSync(join(sweepsDir, 'p', 'sweep.json'), JSON.stringify(spec));
    const [first, second] = planSweep(spec, sweepsDir).runs.map((r) => r.runDir);
    const epoch = { step: 1, trainLoss: 2, trainAccuracy: 0.1, valLoss: null, valAccuracy: null, lr: 0.1, seconds: 1 };
    for (const [dir, epochs] of [
      [first!, 1],
      [second!, 2],
    ] as const) {
      mkdirSync(join(dir, 'checkpoints'), { recursive: true });
      writeFileSync(join(dir, 'checkpoints', 'last.ckpt.safetensors'), '');
      const lines = Array.from({ length: epochs }, (_, i) => `${JSON.stringify({ ...epoch, epoch: i })}\n`);
      writeFileSync(join(dir, 'metrics.jsonl'), lines.join(''));
    }
    writeFileSync(join(second!, '.lock'), `${process.pid}\n`);
    await runSweep({ ...spec, sweepsDir, summaryOnly: true });
    assert.match(
      readFileSync(join(sweepsDir, 'p', 'summary.md'), 'utf8'),
      /^\| base \| interrupted after 1 epoch \| running after 2 epochs \|$/m,
    );
  });
});

describe('sweep signals', () => {
  it('a second signal kills the trainings the first did not stop (their process groups), then the sweep exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pdenet-sweep-signals-'));
    const pidFile = join(dir, 'pid');
    // A training that does not stop on SIGTERM.
    const training = join(dir, 'stubborn.mjs');
    writeFileSync(
      training,
      "import { writeFileSync } from 'node:fs';\nprocess.on('SIGTERM', () => {});\n" +
        `writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));\nsetInterval(() => {}, 1000);\n`,
    );
    const sweep = spawn(process.execPath, [sweepStopper, dir, training], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    sweep.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    const exited = new Promise<number | null>((done) => sweep.on('exit', done));
    await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 'the training starting');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      sweep.kill('SIGTERM');
      await until(() => err.includes('SIGTERM: stopping the running trainings'), 'the first signal handled');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(running(pid), 'the training outlives the first signal');
      sweep.kill('SIGTERM');
      assert.equal(await exited, 130, err);
      await until(() => !running(pid), 'the training killed', 5000);
    } finally {
      if (running(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('pdenet sweep', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdenet-sweep-'));
  const recipe = join(dir, 'tiny.json');
  writeFileSync(
    recipe,
    JSON.stringify({
      model: 'speednet',
      modelOptions: { width: 4 },
      data: 'synthetic',
      valSplit: 200,
      epochs: 2,
      batchSize: 100,
    }),
  );
  const args = [
    'sweep',
    '--name',
    'tiny',
    '--config',
    recipe,
    '--vary',
    'boundary=zeros,reflect',
    '--seeds',
    '0,1',
    '--jobs',
    '1',
    '--sweeps-dir',
    dir,
  ];
  const sweepDir = join(dir, 'tiny');
  const runDir = (id: string) => join(sweepDir, 'runs', id);
  const first = 'boundary-zeros_seed-0';
  const second = 'boundary-reflect_seed-0';

  it('refuses an unknown setting with a clear error and runs nothing', () => {
    const r = spawnSync(
      process.execPath,
      [cli, 'sweep', '--name', 'bad', '--vary', 'bondary=zeros,reflect', '--sweeps-dir', dir],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /error: .*unknown setting "bondary"; the settings are .*modelOptions\.boundary/);
    assert.equal(existsSync(join(dir, 'bad')), false);
  });

  it('stops on SIGTERM with checkpoints, and continues without redoing finished runs', async () => {
    // Stop the sweep once its first run is done and the second is training.
    const child = spawn(process.execPath, [cli, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PDENET_NUM_THREADS: '1' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((done) => child.on('exit', done));
    const secondLog = join(sweepDir, 'logs', `${second}.log`);
    for (
      let i = 0;
      i < 1200 && !(existsSync(secondLog) && /training speednet/.test(readFileSync(secondLog, 'utf8')));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 130, output);
    assert.equal(readMetrics(runDir(first)).length, 2, 'the first run finished');
    const epochsBefore = readMetrics(runDir(second)).length;
    assert.ok(epochsBefore < 2, 'the second run was stopped');
    assert.ok(existsSync(join(runDir(second), 'checkpoints', 'last.ckpt.safetensors')), 'with a checkpoint');
    assert.equal(existsSync(runDir('boundary-zeros_seed-1')), false, 'and no run started after the stop');
    const finished = ['metrics.jsonl', 'checkpoints/last.safetensors'].map(
      (f) => [f, statSync(join(runDir(first), f)).mtimeMs] as const,
    );

    const again = spawnSync(process.execPath, [cli, ...args], {
      encoding: 'utf8',
      env: { ...process.env, PDENET_NUM_THREADS: '2' },
    });
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /1 runs were already done/);
    assert.match(again.stdout, new RegExp(`resuming ${second}`));
    // Its epochs as they end: the one it resumed into and those after it, once each.
    const epochLines = again.stdout.split('\n').filter((l) => l.includes(`${second}: epoch `));
    assert.deepEqual(
      epochLines.map((l) => /epoch (\d+\/\d+)/.exec(l)![1]),
      Array.from({ length: 2 - epochsBefore }, (_, i) => `${epochsBefore + i + 1}/2`),
    );
    // With the time left: the run's, and the sweep's (the two runs of seed 1 are still to come).
    assert.match(
      epochLines.at(-1)!,
      /train \d+\.\d\d% {2}val \d+\.\d\d% {2}\d+ s {2}\(about \d+ (s|min) for the sweep\)$/,
    );
    for (const l of epochLines.slice(0, -1)) assert.match(l, / s {2}\(about \d+ s to go, \d+ (s|min) for the sweep\)$/);
    assert.doesNotMatch(again.stdout, new RegExp(`starting ${first}`));
    assert.match(readFileSync(join(sweepDir, 'logs', `${second}.log`), 'utf8'), /resuming .*at epoch/);
    for (const [f, mtime] of finished)
      assert.equal(statSync(join(runDir(first), f)).mtimeMs, mtime, `${f} of the finished run untouched`);
  });

  it('writes the summary: counts, means, intervals and Welch against the baseline, as computed by hand', () => {
    const summary = JSON.parse(readFileSync(join(sweepDir, 'summary.json'), 'utf8')) as SweepSummary;
    const final = (id: string) => {
      const metrics = readMetrics(runDir(id));
      assert.equal(metrics.length, 2, `${id} ran both epochs`);
      return metrics[1]!.valAccuracy!;
    };
    const zeros = [final('boundary-zeros_seed-0'), final('boundary-zeros_seed-1')];
    const reflect = [final('boundary-reflect_seed-0'), final('boundary-reflect_seed-1')];
    // Two values x, y: mean (x + y)/2, std |x − y|/√2, interval mean ± t(0.975, 1)·std/√2 with t = 12.7062.
    const byHand = ([x, y]: number[]) => {
      const m = (x! + y!) / 2;
      const s = Math.abs(x! - y!) / Math.SQRT2;
      return [m, s, m - (12.706204736 * s) / Math.SQRT2, m + (12.706204736 * s) / Math.SQRT2];
    };
    const [base, other] = summary.combinations;
    assert.deepEqual([base!.label, other!.label], ['boundary=zeros', 'boundary=reflect']);
    assert.deepEqual([base!.accuracy!.n, other!.accuracy!.n, base!.missing, other!.missing], [2, 2, 0, 0]);
    const got = (c: typeof base) => [c!.accuracy!.mean, c!.accuracy!.std!, c!.accuracy!.low!, c!.accuracy!.high!];
    assertClose(got(base), byHand(zeros), { atol: 1e-9 });
    assertClose(got(other), byHand(reflect), { atol: 1e-9 });
    // Welch with two values each: se² = (s²a + s²b)/2, df = (s²a + s²b)²/(s⁴a + s⁴b).
    const [va, vb] = [byHand(zeros)[1]! ** 2, byHand(reflect)[1]! ** 2];
    const d = byHand(reflect)[0]! - byHand(zeros)[0]!;
    const se = Math.sqrt((va + vb) / 2);
    const w = other!.vsBaseline!;
    assertClose([w.difference, w.df!, w.t!], [d, (va + vb) ** 2 / (va ** 2 + vb ** 2), d / se], { atol: 1e-9 });
    assertClose(w.high! - w.difference, w.difference - w.low!, { atol: 1e-12 });
    assert.ok(w.p! > 0 && w.p! <= 1);
    assert.equal(base!.vsBaseline, null);
    // Paired by seed: the two differences d0, d1; with df 1, t's distribution is Cauchy's: p = 1 − (2/π)·atan|t|.
    const diffs = [reflect[0]! - zeros[0]!, reflect[1]! - zeros[1]!];
    const [dm, ds] = [(diffs[0]! + diffs[1]!) / 2, Math.abs(diffs[0]! - diffs[1]!) / Math.SQRT2];
    const tp = dm / (ds / Math.SQRT2);
    const pr = other!.pairedVsBaseline!;
    assertClose(
      [pr.difference, pr.t!, pr.p!, pr.low!, pr.high!],
      [
        dm,
        tp,
        1 - (2 / Math.PI) * Math.atan(Math.abs(tp)),
        dm - (12.706204736 * ds) / Math.SQRT2,
        dm + (12.706204736 * ds) / Math.SQRT2,
      ],
      { atol: 1e-8 },
    );
    assert.equal(base!.pairedVsBaseline, null);
    assert.deepEqual(summary.pairs, [{ a: 0, b: 1, ...w, paired: pr }]);
    const seconds = (id: string) => readMetrics(runDir(id)).reduce((t, m) => t + m.seconds, 0);
    const mean = (ids: string[]) => ids.reduce((t, id) => t + seconds(id), 0) / ids.length;
    assertClose(
      summary.seconds as number[],
      [
        mean(['boundary-zeros_seed-0', 'boundary-zeros_seed-1']),
        mean(['boundary-reflect_seed-0', 'boundary-reflect_seed-1']),
      ],
      { atol: 1e-9 },
    );

    const csv = readFileSync(join(sweepDir, 'summary.csv'), 'utf8').trim().split('\n');
    assert.equal(
      csv[0],
      'boundary,n,mean,std,ci_low,ci_high,diff,diff_low,diff_high,t,df,p,paired_low,paired_high,paired_p',
    );
    assert.deepEqual(
      csv.slice(1).map((l) => l.split(',').slice(0, 3).map(String)),
      [
        ['zeros', '2', String(base!.accuracy!.mean)],
        ['reflect', '2', String(other!.accuracy!.mean)],
      ],
    );
    assert.equal(readFileSync(join(sweepDir, 'runs.csv'), 'utf8').trim().split('\n').length, 5);
    const md = readFileSync(join(sweepDir, 'summary.md'), 'utf8');
    const pct = (v: number) => (v * 100).toFixed(2);
    assert.ok(md.includes(`| zeros | 2 | ${pct(base!.accuracy!.mean)} ± ${pct(base!.accuracy!.std!)} |`), md);
    assert.ok(md.includes(`| reflect | 2 | ${pct(other!.accuracy!.mean)} ± ${pct(other!.accuracy!.std!)}`), md);
    assert.doesNotMatch(md, /not finished/);
    assert.deepEqual([...readFileSync(join(sweepDir, 'accuracy.png')).subarray(1, 4)], [0x50, 0x4e, 0x47]);
    // The picture's final panel: each combination's interval and mean as computed by hand, and a dot per run.
    type Layer = { data: { values: Record<string, number | string>[] } };
    const finals = (sweepPlotSpec(summary) as unknown as { hconcat: { layer: Layer[] }[] }).hconcat[2]!.layer;
    const interval = finals[0]!.data.values;
    assert.deepEqual(
      interval.map((v) => v.label),
      ['boundary=zeros', 'boundary=reflect'],
    );
    assertClose(
      interval.flatMap((v) => [v.mean as number, v.low as number, v.high as number]),
      [zeros, reflect].flatMap((xs) => [byHand(xs)[0]!, byHand(xs)[2]!, byHand(xs)[3]!]),
      { atol: 1e-9 },
    );
    const dots = finals[2]!.data.values;
    assertClose(dots.map((v) => v.accuracy as number).sort(), [...zeros, ...reflect].sort(), { atol: 1e-12 });
  });

  it('finalAccuracySpec draws groups of final accuracies: the mean and interval by hand, a dot per seed', () => {
    type Layer = { data: { values: Record<string, number | string>[] } };
    const spec = finalAccuracySpec(
      [
        { label: 'plain', accuracies: [0.9, 0.92] },
        { label: 'twist', accuracies: [0.8] },
      ],
      { title: 'finals' },
    ) as unknown as { layer: Layer[]; title: { text: string; subtitle: string[] } };
    assert.equal(spec.title.text, 'finals');
    assert.match(spec.title.subtitle.join(' '), /95% interval/);
    // n = 2: std = 0.01·√2, and the half-width t(0.975, 1)·std/√2 = 12.7062047·0.01.
    const half = 0.127062047;
    assertClose(
      spec.layer[0]!.data.values.flatMap((v) => [v.mean as number, v.low as number, v.high as number]),
      [0.91, 0.91 - half, 0.91 + half, 0.8, 0.8, 0.8],
      { atol: 1e-8 },
    );
    assert.deepEqual(
      spec.layer[2]!.data.values.map((v) => [v.label, v.accuracy]),
      [
        ['plain', 0.9],
        ['plain', 0.92],
        ['twist', 0.8],
      ],
    );
  });

  it('summarizes without running, from another folder of sweeps', () => {
    const moved = mkdtempSync(join(tmpdir(), 'pdenet-sweep-moved-'));
    cpSync(sweepDir, join(moved, 'tiny'), { recursive: true });
    const md = join(moved, 'tiny', 'summary.md');
    rmSync(md);
    const changed = args.map((a) => (a === dir ? moved : a));
    const r = spawnSync(process.execPath, [cli, ...changed, '--summary-only'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /starting|resuming/);
    assert.match(readFileSync(md, 'utf8'), /\| zeros \| 2 \|/);
    const none = spawnSync(
      process.execPath,
      [cli, ...changed.map((a) => (a === 'tiny' ? 'absent' : a)), '--summary-only'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(none.status, 1);
    assert.match(none.stderr, /absent holds no sweep to summarize/);
  });

  it('--summary-only takes the sweep from its sweep.json, which it never rewrites; --name is enough, other flags are refused', () => {
    const moved = mkdtempSync(join(tmpdir(), 'pdenet-sweep-spec-'));
    cpSync(sweepDir, join(moved, 'tiny'), { recursive: true });
    const spec = join(moved, 'tiny', 'sweep.json');
    const md = join(moved, 'tiny', 'summary.md');
    const bytes = readFileSync(spec);
    rmSync(md);
    const alone = spawnSync(
      process.execPath,
      [cli, 'sweep', '--name', 'tiny', '--sweeps-dir', moved, '--summary-only'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(alone.status, 0, alone.stdout + alone.stderr);
    assert.doesNotMatch(alone.stdout, /not used/);
    assert.match(readFileSync(md, 'utf8'), /\| zeros \| 2 \|/);
    assert.match(readFileSync(md, 'utf8'), /\| reflect \| 2 \|/);
    assert.deepEqual(readFileSync(spec), bytes);
    // The sweep's own command with --summary-only added: the same summary, nothing said of the flags.
    const here = args.map((a) => (a === dir ? moved : a));
    const own = spawnSync(process.execPath, [cli, ...here, '--summary-only'], { encoding: 'utf8' });
    assert.equal(own.status, 0, own.stdout + own.stderr);
    assert.doesNotMatch(own.stdout, /--summary-only|--seeds/);
    // Other seeds: the recorded ones are summarized, and it says so.
    const fewer = spawnSync(process.execPath, [cli, ...here.map((a) => (a === '0,1' ? '0' : a)), '--summary-only'], {
      encoding: 'utf8',
    });
    assert.equal(fewer.status, 0, fewer.stdout + fewer.stderr);
    assert.match(fewer.stdout, /--summary-only summarizes the seeds the sweep records, 0,1, not --seeds/);
    assert.match(readFileSync(md, 'utf8'), /\| reflect \| 2 \|/);
    // Flags that say another sweep are refused, named, and nothing is written.
    rmSync(md);
    const other = [...here.map((a) => (a === 'boundary=zeros,reflect' ? 'lr=0.1' : a)), '--set', 'epochs=3'];
    const refused = spawnSync(process.execPath, [cli, ...other, '--summary-only'], { encoding: 'utf8' });
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      /--summary-only summarizes the sweep .*tiny\/sweep\.json records, and --config, --set, --vary say another/,
    );
    const vary = spawnSync(
      process.execPath,
      [cli, ...here.map((a) => (a === 'boundary=zeros,reflect' ? 'lr=0.1' : a)), '--summary-only'],
      {
        encoding: 'utf8',
      },
    );
    assert.match(vary.stderr, /records, and --vary says another/, 'the recipe given is the recorded one');
    assert.equal(existsSync(md), false);
    assert.deepEqual(readFileSync(spec), bytes);
  });

  it('a --minutes budget ends each run as done, counted done by the sweep and not run again', () => {
    // Any step outlasts 6e-5 s: each run ends after its first step, as done, with its final evaluation.
    const timed = ['sweep', '--name', 'timed', '--config', recipe, '--set', 'epochs=100', '--minutes', '0.000001'];
    const run = () =>
      spawnSync(process.execPath, [cli, ...timed, '--sweeps-dir', dir], {
        encoding: 'utf8',
        env: { ...process.env, PDENET_NUM_THREADS: '1' },
      });
    const r = run();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\[1\/1\] done seed-0: /);
    const metrics = readMetrics(join(dir, 'timed', 'runs', 'seed-0'));
    assert.deepEqual(
      metrics.map((m) => [m.epoch, m.step]),
      [[0, 1]],
    );
    assert.notEqual(metrics[0]!.valAccuracy, null);
    const again = run();
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /1 runs were already done/);
    assert.doesNotMatch(again.stdout, /starting|resuming/);
    assert.equal(readMetrics(join(dir, 'timed', 'runs', 'seed-0')).length, 1);
  });

  it('refuses a bad --set or --vary value before anything runs, naming the flag and its text', () => {
    for (const [flag, text, message] of [
      ['--set', 'epochs=abc', 'epochs must be a positive integer, got abc'],
      ['--vary', 'lr=0.1,x', 'lr must be a number in \\[1e-8, 100\\], got x'],
      ['--set', 'epochs', 'expected name=value, got "epochs"'],
    ] as const) {
      const r = spawnSync(process.execPath, [cli, 'sweep', '--name', 'bad', flag, text, '--sweeps-dir', dir], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^error: ${flag} ${text}: ${message}\n`));
      assert.equal(existsSync(join(dir, 'bad')), false);
    }
  });

  it('refuses the pausing limits maxSteps and maxMinutes, naming the --set', () => {
    const r = spawnSync(
      process.execPath,
      [cli, 'sweep', '--name', 'steps', '--set', 'epochs=5', '--set', 'maxSteps=20', '--sweeps-dir', dir],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--set .*maxSteps=20.*maxSteps would only pause them/);
    assert.equal(existsSync(join(dir, 'steps')), false);
  });

  it('refuses empty seeds and other empty numbers instead of reading them as 0', () => {
    for (const parse of [nonNegativeInt, positiveInt, positiveNumber]) {
      for (const text of ['', ' ']) assert.throws(() => parse(text), new RegExp(`got "${text}"`));
    }
    assert.equal(nonNegativeInt(' 0 '), 0);
    const r = spawnSync(process.execPath, [cli, 'sweep', '--name', 'empty-seeds', '--seeds', '', '--sweeps-dir', dir], {
      encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--seeds .*expected a non-negative integer, got ""/);
    assert.equal(existsSync(join(dir, 'empty-seeds')), false);
    const t = spawnSync(process.execPath, [cli, 'eval', 'none', '--tta-translate', ''], { encoding: 'utf8' });
    assert.notEqual(t.status, 0);
    assert.match(t.stderr, /--tta-translate .*expected a non-negative integer, got ""/);
  });

  it('refuses to continue a sweep whose varied values changed', () => {
    const r = spawnSync(
      process.execPath,
      [cli, ...args.map((a) => (a === 'boundary=zeros,reflect' ? 'boundary=zeros,circular' : a))],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /holds a sweep with other settings/);
  });
});
