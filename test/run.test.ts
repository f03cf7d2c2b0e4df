import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { setNumThreads } from '../src/index.js';
import { readSafetensorsHeader } from '../src/io/safetensors.js';
import { train, type TrainResult } from '../src/train/trainer.js';
import {
  loadTrainedModel,
  readMetrics,
  readRunCheckpoint,
  readWeights,
  RUN_FILES,
  runFile,
  RunWriter,
} from '../src/train/run.js';
import { RESUME_CHANGES, resumedConfig } from '../src/train/resume.js';
import { resolveConfig } from '../src/train/config.js';
import { configFromFlags } from '../src/cli/train.js';
import { tinyConfig, tinySplits } from './fixtures/tiny-run.js';
import { deterministic, values } from './helpers.js';

setNumThreads(1);
const runsDir = mkdtempSync(join(tmpdir(), 'pdenet-run-'));
const killer = fileURLToPath(new URL('./fixtures/run-killer.js', import.meta.url));
const weightsEpoch = (path: string) => readSafetensorsHeader(path).metadata.epoch;
const show = (v: unknown) => JSON.stringify(v); // the full value: a failing case names every setting it gave

/**
 * What a reader sees agrees: the checkpoint's epoch, the metrics lines, the last weights' epoch and the best weights'
 * epoch. Returns the epochs the checkpoint holds (−1 without a checkpoint).
 */
function checkConsistent(dir: string): number {
  const checkpoint = runFile(dir, RUN_FILES.checkpoint);
  if (!existsSync(checkpoint)) {
    assert.equal(readMetrics(dir).length, 0, 'metrics without a checkpoint');
    assert.ok(!existsSync(runFile(dir, RUN_FILES.best)), 'best weights without a checkpoint');
    return -1;
  }
  const loaded = readRunCheckpoint(dir);
  loaded.dispose();
  const { state } = loaded;
  const metrics = readMetrics(dir);
  assert.equal(metrics.length, state.epoch, 'one metrics line per finished epoch');
  assert.equal(
    weightsEpoch(runFile(dir, RUN_FILES.last)),
    String(state.epoch),
    "last weights of the checkpoint's epoch",
  );
  if (state.bestEpoch >= 0) {
    assert.equal(weightsEpoch(runFile(dir, RUN_FILES.best)), String(state.bestEpoch), 'best weights of the best epoch');
    assert.equal(Math.max(...metrics.map((m) => m.valAccuracy ?? -1)), state.bestAccuracy);
  }
  return state.epoch;
}

/** Resumes a killed run (or starts it again when no checkpoint survived) and checks it ends as the uninterrupted one. */
async function finishAndCompare(name: string, reference: TrainResult): Promise<void> {
  const dir = join(runsDir, name);
  const resume = existsSync(runFile(dir, RUN_FILES.checkpoint));
  const result = await train(tinyConfig(runsDir, name), { data: tinySplits(), resume });
  assert.equal(result.stop, 'done');
  assert.deepEqual(readMetrics(dir).map(deterministic), reference.metrics.map(deterministic), name);
  const a = readWeights(join(reference.runDir, RUN_FILES.last));
  const b = readWeights(join(dir, RUN_FILES.last));
  for (const [k, t] of a.tensors) assert.deepEqual(values(b.tensors.get(k)!), values(t), `${name}: ${k}`);
  a.dispose();
  b.dispose();
  const left = readdirSync(join(dir, 'checkpoints')).filter((f) => /pending|\.tmp$/.test(f));
  assert.deepEqual(left, [], 'no pending or temporary files after reopening');
  assert.ok(!existsSync(join(dir, RUN_FILES.lock)), 'the lock released');
}

describe('the run folder', () => {
  const points: string[] = [];
  let reference: TrainResult;

  it("commits an epoch's end as one transaction of named steps", async () => {
    reference = await train(tinyConfig(runsDir, 'reference'), { data: tinySplits(), fault: (p) => points.push(p) });
    const epoch = [
      'write checkpoints/last.ckpt.safetensors',
      'write checkpoints/last.safetensors',
      'write checkpoints/best.safetensors',
      'write metrics.jsonl',
      'write metrics.csv',
      'write config.json',
      'commit',
      'rename checkpoints/last.ckpt.safetensors',
      'rename checkpoints/last.safetensors',
      'rename checkpoints/best.safetensors',
      'rename metrics.jsonl',
      'rename metrics.csv',
      'rename config.json',
      'done',
    ];
    // The second epoch writes best weights only when its accuracy rose.
    const rose = reference.metrics[1]!.valAccuracy! > reference.metrics[0]!.valAccuracy!;
    assert.deepEqual(points, [...epoch, ...epoch.filter((p) => rose || !p.endsWith('best.safetensors'))]);
    assert.equal(checkConsistent(reference.runDir), 2);
  });

  it("loses nothing after a real SIGKILL before, at and after the commit point of the first epoch's end", async () => {
    const commit = points.indexOf('commit');
    for (const k of [0, commit, commit + 1, points.indexOf('done')]) {
      const name = `sigkill-${k}`;
      const child = spawn(process.execPath, [killer, runsDir, name, String(k)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let said = '';
      child.stdout.on('data', (d: Buffer) => {
        said += d.toString();
      });
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, s) => resolve(s)));
      assert.equal(signal, 'SIGKILL', `killed at ${points[k]}`);
      assert.equal(said.trim(), points[k]);
      const epochs = checkConsistent(join(runsDir, name));
      // The hook runs before each step: a kill at 'commit' comes before the commit record is written.
      assert.equal(epochs, k <= points.indexOf('commit') ? -1 : 1, `after a kill at ${points[k]}`);
      await finishAndCompare(name, reference);
    }
  });

  it("loses nothing when stopped at each write of the second epoch's end", async () => {
    const second = points.indexOf('done') + 1;
    for (let k = second; k < points.length; k++) {
      const name = `fault-${k}`;
      let calls = 0;
      await assert.rejects(
        train(tinyConfig(runsDir, name), {
          data: tinySplits(),
          fault: () => {
            if (calls++ === k) throw new Error('injected fault');
          },
        }),
        /injected fault/,
      );
      assert.equal(
        checkConsistent(join(runsDir, name)),
        k <= points.indexOf('commit', second) ? 1 : 2,
        `stopped at ${points[k]}`,
      );
      await finishAndCompare(name, reference);
    }
  });

  it("locks the folder: a second run on the same name fails clearly; a dead process's lock is taken over", async () => {
    let second: Promise<unknown> | null = null;
    await train(tinyConfig(runsDir, 'locked'), {
      data: tinySplits(),
      events: {
        onProgress: () => {
          second ??= train(tinyConfig(runsDir, 'locked'), { data: tinySplits() }).then(
            () => null,
            (e: unknown) => e,
          );
        },
      },
    });
    const error = await second;
    assert.match(String(error), new RegExp(`locked is being written by another run \\(process ${process.pid}\\)`));
    assert.equal(readMetrics(join(runsDir, 'locked')).length, 2, 'the first run finished undisturbed');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
    writeFileSync(join(runsDir, 'locked', RUN_FILES.lock), `${dead}\n`);
    const lines: string[] = [];
    const more = await train(
      { ...tinyConfig(runsDir, 'locked'), epochs: 2 },
      { data: tinySplits(), resume: true, events: { log: (l) => lines.push(l) } },
    );
    assert.equal(more.stop, 'done');
    assert.ok(
      lines.some((l) => l.includes(`taking over the lock of process ${dead}`)),
      lines.join('\n'),
    );
  });

  it('removes stale temporary and uncommitted files when opened for writing', () => {
    const dir = join(runsDir, 'reference');
    const stale = [join(dir, 'checkpoints', '.last.safetensors.123.abcdef.tmp'), join(dir, 'metrics.jsonl.pending')];
    for (const f of stale) writeFileSync(f, 'partial');
    new RunWriter(dir).close();
    for (const f of stale) assert.ok(!existsSync(f), f);
    assert.equal(checkConsistent(dir), 2);
  });

  it('leaves no run folder when a run fails before its first epoch ends, and checks data-dependent settings first', async () => {
    await assert.rejects(
      train({ ...tinyConfig(runsDir, 'bad-freeze'), freezeAfter: { nope: 1 } }, { data: tinySplits() }),
      /freezeAfter names "nope"/,
    );
    assert.ok(!existsSync(join(runsDir, 'bad-freeze')));
    await assert.rejects(
      train({ ...tinyConfig(runsDir, 'bad-tta'), ttaTranslate: 1000 }, { data: tinySplits() }),
      /ttaTranslate must be smaller than the images \(32 pixels\), got 1000/,
    );
    assert.ok(!existsSync(join(runsDir, 'bad-tta')));
    await assert.rejects(
      train(tinyConfig(runsDir, 'one-class'), { data: tinySplits({ classes: 1, perClass: 160 }) }),
      /the data has 1 class \(class00\): a classifier needs at least two/,
    );
    assert.ok(!existsSync(join(runsDir, 'one-class')));
  });

  it('says why it stopped: done, a limit (steps or minutes), or a signal', async () => {
    assert.equal(reference.stop, 'done');
    const steps = await train({ ...tinyConfig(runsDir, 'limit-steps'), maxSteps: 3 }, { data: tinySplits() });
    assert.deepEqual([steps.stop, steps.interrupted], ['limit', true]);
    const minutes = await train({ ...tinyConfig(runsDir, 'limit-minutes'), maxMinutes: 1e-9 }, { data: tinySplits() });
    assert.deepEqual([minutes.stop, minutes.interrupted], ['limit', true]);
    const loaded = readRunCheckpoint(minutes.runDir);
    loaded.dispose();
    assert.equal(loaded.state.step, 1, 'stopped after its first step');
    const controller = new AbortController();
    controller.abort();
    const signalled = await train(tinyConfig(runsDir, 'signalled'), { data: tinySplits(), signal: controller.signal });
    assert.deepEqual([signalled.stop, signalled.interrupted], ['signal', true]);
  });

  it('resumes with a changed setting where that is sound, and refuses it with one line where not', async () => {
    await assert.rejects(
      train({ ...tinyConfig(runsDir, 'limit-steps'), lr: 0.01 }, { data: tinySplits(), resume: true }),
      /--resume continues a run as it was configured and cannot change lr from 0\.05 to 0\.01 \(a resume may change .*\bepochs\b.*\)/,
    );
    await assert.rejects(
      train({ ...tinyConfig(runsDir, 'limit-steps'), epochs: 5 }, { data: tinySplits(), resume: true }),
      /--resume cannot change epochs from 2 to 5: the onecycle schedule is stretched over the run's length/,
    );
    await assert.rejects(
      train({ ...tinyConfig(runsDir, 'limit-steps'), model: 'resnet32' }, { data: tinySplits(), resume: true }),
      /cannot change model from "resnet20" to "resnet32"/,
    );
    // A schedule that does not depend on the length: more epochs are applied.
    const constant = { ...tinyConfig(runsDir, 'more-epochs'), schedule: 'constant' as const, epochs: 1 };
    await train(constant, { data: tinySplits() });
    const more = await train({ ...constant, epochs: 2, evalEvery: 2 }, { data: tinySplits(), resume: true });
    assert.deepEqual(
      more.metrics.map((m) => m.epoch),
      [0, 1],
    );
    const trained = loadTrainedModel(more.runDir);
    assert.equal(trained.config.epochs, 2, 'config.json holds the applied change');
    trained.model.dispose();
    assert.ok(Object.keys(RESUME_CHANGES).includes('epochs'));
  });

  it('keeps the rest of a nested group when a resume gives one of its settings again', () => {
    const flags = { model: 'rknet', layer: 'double', channels: [4, 4, 4, 4], plateauPatience: 3, plateauFactor: 0.5 };
    const stored = resolveConfig(
      configFromFlags({ ...flags, affine: { degrees: 10, translate: 0.1, scale: [0.9, 1.1] } }),
    );
    for (const again of [{ layer: 'double' }, { plateauPatience: 3 }, { affine: stored.augment.affine }, {}]) {
      assert.deepEqual(resumedConfig(stored, configFromFlags({ model: 'rknet', ...again }), 0), stored, show(again));
    }
    assert.throws(
      () => resumedConfig(stored, configFromFlags({ layer: 'doublesym' }), 0),
      /cannot change modelOptions from \{"rknet":\{"layer":"double","channels":\[4,4,4,4\]\}\} to \{"rknet":\{"layer":"doublesym","channels":\[4,4,4,4\]\}\}/,
    );
    assert.throws(() => resumedConfig(stored, configFromFlags({ plateauFactor: 0.2 }), 0), /cannot change plateau/);
  });

  it('refuses to resume from a checkpoint of another model', async () => {
    const other = await train(
      {
        ...tinyConfig(runsDir, 'other-model'),
        modelOptions: { width: 4, twist: true },
        epochs: 1,
        lr: 0.001,
        schedule: 'constant',
      },
      { data: tinySplits() },
    );
    const own = await train({ ...tinyConfig(runsDir, 'own-model'), maxSteps: 1 }, { data: tinySplits() });
    copyFileSync(join(other.runDir, RUN_FILES.checkpoint), join(own.runDir, RUN_FILES.checkpoint));
    await assert.rejects(
      train(tinyConfig(runsDir, 'own-model'), { data: tinySplits(), resume: true }),
      /is a checkpoint of \["resnet20",\{"width":4,"twist":true\}\], but the run is \["resnet20",\{"width":4\}\]/,
    );
  });
});
