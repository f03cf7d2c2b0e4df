import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as io from '../src/io/index.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';
import { loadDataSplits } from '../src/train/data.js';
import {
  PLATEAU_START,
  type PlateauRule,
  type PlateauState,
  plateauAfterBest,
  plateauBefore,
  restoredByPlateau,
} from '../src/train/plateau.js';
import { type EpochMetrics, loadTrainedModel, readMetrics } from '../src/train/run.js';
import { train } from '../src/train/trainer.js';
import { twistStages } from '../src/models/stages.js';
import { values } from './helpers.js';

/** The notebook's own loop, run by test/fixtures/make_plateau_fixture.py (patience 2, 14 epochs). */
interface NotebookRecord {
  source: { patience: number; epochs: number };
  tests: { epoch: number; acc: number; checkpoint: boolean; after: 'start' | 'training' | 'loading' }[];
  trains: { epoch: number; lr: number; twist: boolean[][] }[];
  plateaus: { epoch: number; checkpointEpoch: number; lr: number }[];
}
const fixtures = fileURLToPath(new URL('../../test/fixtures/notebook/', import.meta.url));
const notebook = JSON.parse(readFileSync(join(fixtures, 'plateau.json'), 'utf8')) as NotebookRecord;

/**
 * The rule's decisions over a run whose epochs validate at `accuracies`: the epochs it acts at and the learning
 * rate of every epoch, kept as the trainer keeps them (the best epoch, then the rule before and after).
 */
function replay(rule: PlateauRule, accuracies: number[], lr: number) {
  let state: PlateauState = PLATEAU_START;
  let [best, bestEpoch, lrs] = [-1, -1, [lr]];
  const acts: number[] = [];
  const epochLrs: number[] = [];
  accuracies.forEach((accuracy, epoch) => {
    const decision = plateauBefore(rule, state, bestEpoch, epoch);
    if (decision.acts) {
      [state, lrs] = [decision.state, decision.lrs];
      acts.push(epoch);
    }
    epochLrs.push(lrs[0]!);
    if (accuracy > best) {
      [best, bestEpoch] = [accuracy, epoch];
      state = plateauAfterBest(state, lrs);
    }
  });
  return { acts, epochLrs };
}

describe("the notebook's plateau rule", () => {
  const rule: PlateauRule = { patience: notebook.source.patience, factor: 0.1, restore: 'notebook' };

  it("acts at the epochs and sets the learning rates the notebook's loop does", () => {
    // The validation accuracy of each epoch: the test that followed its training.
    const accuracies = notebook.tests.filter((t) => t.after === 'training').map((t) => t.acc);
    assert.equal(accuracies.length, notebook.source.epochs);
    // The notebook's re-test after each load made no new best here, and its best of the random start (its
    // first test) was beaten by an epoch before the first plateau: pdenet's rule, which has neither, applies.
    assert.ok(notebook.tests.every((t) => t.after !== 'loading' || !t.checkpoint));
    const { acts, epochLrs } = replay(rule, accuracies, 0.1);
    assert.deepEqual(
      acts,
      notebook.plateaus.map((p) => p.epoch),
    );
    assert.ok(acts.length >= 3, 'the fixture acts more than once, at a changing and at an unchanged best');
    // Bit for bit: the best epoch's rate times 0.1 (0.1 · 0.1 = 0.010000000000000002), not the current one's.
    assert.deepEqual(
      epochLrs,
      notebook.trains.map((t) => t.lr),
    );
  });

  it('gives back the twist kernels alone, as the notebook’s checkpoint (which shares the other tensors) does', () => {
    const tensors = io.loadTorch(join(fixtures, 'plateau.pt'));
    const names = [...tensors.keys()].filter((k) => k.startsWith('after.')).map((k) => k.slice('after.'.length));
    const restored = new Set(restoredByPlateau(rule, names));
    let differ = 0;
    for (const name of names) {
      const [after, live, snapshot] = ['after', 'live', 'snapshot'].map((w) => values(tensors.get(`${w}.${name}`)!));
      const expected = restored.has(name) ? snapshot! : live!;
      assert.deepEqual(after, expected, name);
      if (restored.has(name) && JSON.stringify(live) !== JSON.stringify(snapshot)) differ++;
    }
    assert.ok(differ >= 8, `the restored twist kernels differ from the live ones (${differ})`);
    assert.deepEqual(restoredByPlateau({ restore: 'weights' }, names), names);
    for (const t of tensors.values()) t.dispose();
  });
});

describe('the plateau rule in the trainer', () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'pdenet-plateau-'));
  const config: Partial<TrainConfig> = {
    model: 'notebook-resnet18',
    modelOptions: { width: 4, twist: [true, false, false, false] },
    data: 'synthetic',
    valSplit: 100,
    epochs: 6,
    batchSize: 50,
    lr: 0.05,
    schedule: 'constant',
    runsDir,
    tta: false,
    plateau: { patience: 1, factor: 0.5, twist: [true, true, false, false], restore: 'weights' },
  };

  it('lowers the learning rate, twists layer2 and records the twist in the weights it saves', async () => {
    const resolved = resolveConfig({ ...config, runName: 'plateau' });
    const data = await loadDataSplits(resolved);
    const lines: string[] = [];
    const result = await train(resolved, { data, events: { log: (line) => lines.push(line) } });
    const accuracies = result.metrics.map((m) => m.valAccuracy!);
    const { acts, epochLrs } = replay({ patience: 1, factor: 0.5, restore: 'weights' }, accuracies, 0.05);
    assert.ok(acts.length > 0, `patience 1 acts in 6 epochs (validation ${accuracies.join(', ')})`);
    assert.deepEqual(
      result.metrics.map((m) => m.lr),
      epochLrs,
    );
    assert.equal(lines.filter((l) => l.startsWith('plateau:')).length, acts.length);
    const trained = loadTrainedModel(result.runDir, 'last');
    assert.deepEqual(twistStages(trained.model), [true, true, false, false]);
    trained.model.dispose();

    // Stopped within the epoch after the rule first acted, then resumed: the run ends as the uninterrupted one.
    const steps = result.metrics[0]!.step;
    assert.deepEqual(
      result.metrics.map((m) => m.step),
      result.metrics.map((m) => (m.epoch + 1) * steps),
      'the steps count on across the rule',
    );
    const parts = { ...resolved, runName: 'plateau-parts' };
    const first = await train({ ...parts, maxSteps: (acts[0]! + 1) * steps - 3 }, { data });
    assert.equal(first.interrupted, true);
    const rest = await train(parts, { data, resume: true });
    const figures = (m: EpochMetrics) => [m.epoch, m.step, m.trainLoss, m.valAccuracy, m.lr];
    assert.deepEqual(readMetrics(rest.runDir).map(figures), result.metrics.map(figures));
  });

  it('refuses the rule without validation images', () => {
    assert.throws(
      () => resolveConfig({ ...config, valSplit: 0 }),
      /the plateau rule \(plateau.patience\) needs validation images/,
    );
  });
});
