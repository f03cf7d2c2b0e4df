import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runSmoke } from '../src/train/smoke.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { createImage, encodePng } from '../src/viz/image.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const pdenet = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

/** The words of `pdenet train` with these settings as flags (`{ epochs: 2 }`: `--epochs 2`), then the switches. */
function trainArgs(settings: Record<string, string | number>, ...switches: string[]): string[] {
  return ['train', ...Object.entries(settings).flatMap(([flag, v]) => [`--${flag}`, String(v)]), ...switches];
}

describe('smoke run', () => {
  it('learns the stripe task', () => {
    const r = runSmoke({ steps: 80, seed: 3 }, () => {});
    assert.ok(r.lastLoss < r.firstLoss / 3, `loss fell from ${r.firstLoss} to ${r.lastLoss}`);
    assert.ok(r.accuracy > 0.9, `accuracy ${r.accuracy}`);
  });
});

describe('pdenet command line', () => {
  it('prints the backend as JSON', () => {
    const r = pdenet('info', '--json');
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.match(info.libtorch, /^\d+\.\d+/);
    assert.ok(info.threads >= 1);
  });

  it('rejects bad flags and values with one clear line and a non-zero exit', () => {
    for (const args of [['smoke', '--steps', 'x'], ['smoke', '--steps', '-3'], ['smoke', '--nope'], ['nope']]) {
      const r = pdenet(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, /error: /, args.join(' '));
    }
  });

  it('has --help', () => {
    const r = pdenet('smoke', '--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--batch-size/);
  });
});

describe('pdenet train, eval, predict, models, bench', () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'pdenet-cli-'));
  const run = join(runsDir, 'tiny');

  it('trains a run that eval and predict then read', () => {
    const trained = pdenet(
      ...trainArgs({
        model: 'speednet',
        width: 4,
        data: 'synthetic',
        'val-split': 200,
        epochs: 2,
        'batch-size': 100,
        lr: 0.5,
        optimizer: 'muon',
        'muon-lr': 0.1,
        'eval-every': 2,
        'runs-dir': runsDir,
        'run-name': 'tiny',
      }),
    );
    assert.equal(trained.status, 0, trained.stderr);
    const lines = trained.stdout
      .trim()
      .split('\n')
      .filter((l) => /^epoch \d/.test(l));
    assert.equal(lines.length, 2, trained.stdout);
    assert.doesNotMatch(lines[0]!, /val /, 'no evaluation after epoch 1 with --eval-every 2');
    assert.match(lines[1]!, /val \d+\.\d+%/);

    // eval reads the data from the run's configuration unless --data says otherwise.
    const evaluated = pdenet('eval', run, '--json');
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const result = JSON.parse(evaluated.stdout) as {
      accuracy: number;
      loss: number;
      n: number;
      perClass: Record<string, number>;
    };
    assert.equal(result.n, 200);
    assert.equal(Object.keys(result.perClass).length, 10);
    assert.ok(result.accuracy >= 0 && result.accuracy <= 1 && Number.isFinite(result.loss));
    assert.equal(JSON.parse(pdenet('eval', run, '--data', 'synthetic', '--split', 'val', '--json').stdout).n, 200);
    const whole = JSON.parse(pdenet('eval', run, '--data', 'synthetic', '--json').stdout) as {
      n: number;
      images: string;
    };
    assert.deepEqual([whole.n, whole.images], [2000, 'every image of synthetic'], 'with --data: every image it holds');

    const image = join(runsDir, 'red.png');
    writeFileSync(image, encodePng(createImage(32, 32, [255, 0, 0, 255])));
    const predicted = pdenet('predict', run, image, '--json');
    assert.equal(predicted.status, 0, predicted.stderr);
    const [p] = JSON.parse(predicted.stdout) as { file: string; probability: number; top: { probability: number }[] }[];
    assert.equal(p!.file, image);
    assert.equal(p!.top.length, 5);
    assert.ok(p!.probability >= p!.top[1]!.probability && p!.probability <= 1);
  });

  it("--resume --print-config prints the run's configuration as resumed, or says in one line why there is none", () => {
    const resumed = (...args: string[]) =>
      pdenet('train', '--runs-dir', runsDir, '--resume', '--print-config', ...args);
    const printed = resumed('--run-name', 'tiny', '--eval-every', '1');
    assert.equal(printed.status, 0, printed.stderr);
    const config = JSON.parse(printed.stdout) as Record<string, unknown> & { modelOptions: { width: number } };
    assert.deepEqual(
      [config.model, config.modelOptions.width, config.epochs, config.batchSize, config.optimizer, config.evalEvery],
      ['speednet', 4, 2, 100, 'muon', 1],
      'the checkpoint’s settings, with the change a resume may make',
    );
    for (const [args, line] of [
      [
        ['--run-name', 'tiny', '--batch-size', '50'],
        /^pdenet: train: --resume continues a run as it was configured and cannot change batchSize from 100 to 50 /,
      ],
      [
        ['--run-name', 'nope'],
        new RegExp(
          `^pdenet: run: ${join(runsDir, 'nope')} holds no training checkpoint \\(checkpoints/last\\.ckpt\\.safetensors\\)$`,
        ),
      ],
      [[], /^pdenet: train: --resume needs the --run-name of the run to continue$/],
    ] as const) {
      const r = resumed(...args);
      assert.equal(r.status, 1, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, line);
    }
    // With --nproc-per-node, the run's own batch size is checked against the processes, once, before any starts.
    const ddp = pdenet('train', '--runs-dir', runsDir, '--run-name', 'tiny', '--resume', '--nproc-per-node', '3');
    assert.equal(ddp.status, 1);
    assert.deepEqual(
      ddp.stderr.split('\n').filter((l) => l !== ''),
      [
        'pdenet: train: --batch-size 100 is the global batch and must be a multiple of the 3 processes ' +
          '(each takes batchSize / 3)',
      ],
    );
  });

  it('stops on a real SIGTERM after the current step, with a checkpoint, and resumes', async () => {
    const args = trainArgs(
      {
        model: 'speednet',
        width: 4,
        data: 'synthetic',
        'val-split': 200,
        epochs: 50,
        'batch-size': 20,
        'runs-dir': runsDir,
        'run-name': 'signal',
      },
      '--no-tta',
    );
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Mid-epoch 2: the first epoch's line has been printed, and batches are being prefetched.
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (/^epoch 1\/50/m.test(stdout)) resolve();
      }),
    );
    child.kill('SIGTERM');
    assert.equal(await exit, 130, stderr); // stopped by a signal
    assert.match(stderr, /SIGTERM: finishing the current step and writing a checkpoint/);
    assert.doesNotMatch(stdout, /^epoch 50\/50/m, 'stopped before the end');
    const checkpoint = join(runsDir, 'signal/checkpoints/last.ckpt.safetensors');
    const stepOf = (path: string) => {
      const loaded = loadCheckpoint(path);
      loaded.dispose();
      return loaded.state.step;
    };
    const stoppedAt = stepOf(checkpoint);
    const resumed = pdenet(...args, '--resume', '--max-steps', String(stoppedAt + 2));
    assert.match(resumed.stdout, /resuming speednet/, resumed.stderr);
    assert.equal(resumed.status, 3, 'stopped by a limit');
    assert.match(resumed.stdout, /^stopped by a limit: /m);
    assert.equal(stepOf(checkpoint), stoppedAt + 2);
  });

  it("evaluates by default as the run's final evaluation did (its TTA settings), and flags override each one", () => {
    const trained = pdenet(
      ...trainArgs(
        {
          model: 'resnet20',
          width: 4,
          data: 'synthetic',
          'val-split': 200,
          'train-images': 200,
          epochs: 1,
          'batch-size': 20,
          lr: 0.05,
          'tta-translate': 2,
          'runs-dir': runsDir,
          'run-name': 'no-flip',
        },
        '--no-tta',
      ),
    );
    assert.equal(trained.status, 0, trained.stderr);
    const dir = join(runsDir, 'no-flip');
    const final = JSON.parse(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim()) as {
      valAccuracy: number;
      valLoss: number;
    };
    const evaluate = (...flags: string[]) => {
      const r = pdenet('eval', dir, '--json', ...flags);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { accuracy: number; loss: number };
    };
    const byDefault = evaluate();
    assert.equal(byDefault.accuracy, final.valAccuracy, "the run's own final validation accuracy");
    assert.ok(Math.abs(byDefault.loss - final.valLoss) < 1e-6, `loss ${byDefault.loss} vs ${final.valLoss}`);
    assert.deepEqual(evaluate('--no-tta', '--tta-translate', '2'), byDefault, 'the defaults, given');
    // Each flag alone changes only its own part: with the flip, or without the shifts.
    assert.notEqual(evaluate('--tta').loss, byDefault.loss, '--tta adds the flip');
    assert.notEqual(evaluate('--tta-translate', '0').loss, byDefault.loss, '--tta-translate 0 drops the shifts');
    assert.notEqual(evaluate('--tta').loss, evaluate('--tta', '--tta-translate', '0').loss, '--tta keeps the shifts');
  });

  it('lists the models and benchmarks one as JSON', () => {
    const models = JSON.parse(pdenet('models', '--json', '--no-flops').stdout) as { name: string; params: number }[];
    const speednet = models.find((m) => m.name === 'speednet');
    assert.ok(speednet && speednet.params > 1e6, JSON.stringify(speednet));
    const bench = pdenet('bench', '--model', 'speednet', '--width', '4', '--batch-size', '8', '--steps', '1', '--json');
    assert.equal(bench.status, 0, bench.stderr);
    const figures = JSON.parse(bench.stdout) as {
      trainImagesPerSec: number;
      inferImagesPerSec: number;
      threads: number;
    };
    assert.ok(figures.trainImagesPerSec > 0 && figures.inferImagesPerSec > 0 && figures.threads >= 1);
  });

  it('names a bad training flag in one line', () => {
    for (const [args, pattern] of [
      [['--optimizer', 'lion'], /--optimizer.*lion.*Allowed choices are sgd, adam, adamw, muon/],
      [['--muon-lr', '-1'], /--muon-lr/],
      [['--eval-every', '0'], /--eval-every/],
    ] as const) {
      const r = pdenet('train', '--data', 'synthetic', '--runs-dir', runsDir, ...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, pattern, args.join(' '));
    }
  });
});

describe('pdenet train refuses bad settings at start', () => {
  const runsDir = mkdtempSync(join(tmpdir(), 'pdenet-settings-cli-'));
  const config = (name: string, text: string) => {
    const path = join(runsDir, name);
    writeFileSync(path, text);
    return path;
  };
  /** The lines of stderr that say what went wrong (without commander's hint to run --help). */
  const errorLines = (stderr: string) =>
    stderr.split('\n').filter((l) => l.trim() !== '' && l !== '(run with --help for usage)');

  it('names the flag and the bad text in one line, before any data is loaded or any run folder made', () => {
    for (const [args, pattern] of [
      [
        ['--weight-decay', 'NaN'],
        /option '--weight-decay <x>' argument 'NaN' is invalid\. expected a number in \[0, 1\]$/,
      ],
      [['--epochs', '1e300'], /'--epochs <n>' argument '1e300' is invalid\. expected at most 100000$/],
      [['--batch-size', '0'], /'--batch-size <n>' argument '0' is invalid\. expected a positive integer$/],
      [['--cutout', '-1'], /'--cutout <pixels>' argument '-1' is invalid\. expected a non-negative integer$/],
      [
        ['--schedule', 'linear'],
        /'--schedule <name>' argument 'linear' is invalid\. Allowed choices are onecycle, cosine/,
      ],
      [['--model', 'resnet21'], /'--model <name>' argument 'resnet21' is invalid\. Allowed choices are resnet18,/],
      [
        ['--flip', 'sideways'],
        /'--flip <mode>' argument 'sideways' is invalid\. Allowed choices are random, alternate, off/,
      ],
      [
        ['--milestones', '3,x'],
        /'--milestones <list>' argument '3,x' is invalid\. expected a list of positive epoch numbers$/,
      ],
      [
        ['--time-points', '2,1'],
        /'--time-points <list>' argument '2,1' is invalid\. expected a list of at least two strictly/,
      ],
      [
        ['--twist', '1,maybe'],
        /'--twist <flags>' argument '1,maybe' is invalid\. expected true\/false, or one per stage/,
      ],
      [
        ['--freeze-after', 'whiten.bias'],
        /'--freeze-after <name=epochs,…>' argument 'whiten.bias' is invalid\. expected name=epochs/,
      ],
      [
        ['--affine', '10,0.1'],
        /'--affine <degrees,translate,min,max>' argument '10,0.1' is invalid\. expected "off" or degrees/,
      ],
      [['--data', ''], /'--data <path>' argument '' is invalid\. expected a dataset name, a path or "synthetic"$/],
      [
        ['--lookahead', '5', '--ema', '0.9'],
        /^pdenet: config: lookahead and ema both keep a copy of the weights; choose one$/,
      ],
      [
        ['--config', config('syntax.json', '{\n  "lr": 0.1,\n}\n')],
        /argument '.*syntax.json' is invalid\. not valid JSON at line 3, column 1/,
      ],
      [
        ['--config', config('options.json', '{ "modelOptions": "resnet" }')],
        /is invalid\. modelOptions must be an object of twist, twistable, .*, got "resnet"$/,
      ],
      [
        ['--config', config('augment.json', '{ "augment": { "cutot": 8 } }')],
        /is invalid\. unknown setting "augment.cutot"; did you mean "augment.cutout"\?$/,
      ],
      [
        ['--config', config('key.json', '{ "learning_rate": 0.1, "epochs": 3 }')],
        /is invalid\. unknown setting "learning_rate"/,
      ],
    ] as const) {
      const r = pdenet('train', '--data', 'synthetic', '--runs-dir', join(runsDir, 'runs'), ...args);
      assert.equal(r.status, 1, args.join(' '));
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, pattern, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    assert.equal(existsSync(join(runsDir, 'runs')), false, 'no run folder was made');
  });

  it('with --nproc-per-node or launch, refuses what data-parallel training cannot do once, before starting any worker', () => {
    for (const [args, line] of [
      [
        ['--batch-size', '33'],
        'pdenet: train: --batch-size 33 is the global batch and must be a multiple of the 2 processes ' +
          '(each takes batchSize / 2)',
      ],
      [
        ['--batch-size', '32', '--checkpointing'],
        'pdenet: train: checkpointing is not available in data-parallel training (more than one process): ' +
          'drop --checkpointing',
      ],
    ] as const) {
      const train = ['train', '--data', 'synthetic', '--runs-dir', join(runsDir, 'runs'), '--run-name', 'ddp', ...args];
      // The same refusal, once, whether train starts the workers or the launcher does.
      for (const r of [
        pdenet(...train, '--nproc-per-node', '2'),
        pdenet('launch', '--nproc-per-node', '2', '--', ...train),
      ]) {
        assert.equal(r.status, 1, args.join(' '));
        assert.deepEqual(errorLines(r.stderr), [line], r.stderr);
      }
    }
    // A flag train refuses, and a run to resume that is not there, are said once by the launcher too.
    for (const [args, pattern] of [
      [
        ['--batch-size', '0'],
        /^pdenet: train: option '--batch-size <n>' argument '0' is invalid\. expected a positive integer$/,
      ],
      [['--run-name', 'absent', '--resume'], /^pdenet: .*absent/],
    ] as const) {
      const r = pdenet('launch', '--nproc-per-node', '2', '--', 'train', '--runs-dir', join(runsDir, 'runs'), ...args);
      assert.equal(r.status, 1, args.join(' '));
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, pattern);
    }
    assert.equal(existsSync(join(runsDir, 'runs')), false, 'no run folder was made');
  });

  it('refuses an invalid PDENET_NUM_THREADS in one line', () => {
    for (const threads of ['abc', '0', '1.5', '100000']) {
      const r = spawnSync(process.execPath, [cli, 'train', '--print-config'], {
        encoding: 'utf8',
        env: { ...process.env, PDENET_NUM_THREADS: threads },
      });
      assert.equal(r.status, 1, threads);
      assert.equal(errorLines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^pdenet: PDENET_NUM_THREADS.*${threads.replace('.', '\\.')}`), threads);
    }
  });

  it('refuses a translation TTA, cutout or crop larger than the images before the first step', () => {
    for (const [args, pattern] of [
      [
        ['--tta-translate', '1000'],
        /^pdenet: config: ttaTranslate \(--tta-translate\) must be below 32 for 32×32 images, got 1000$/,
      ],
      [
        ['--cutout', '1000'],
        /^pdenet: config: augment.cutout \(--cutout\) must be at most 32 for 32×32 images, got 1000$/,
      ],
    ] as const) {
      const name = args[0].slice(2);
      const r = pdenet(
        'train',
        '--model',
        'speednet',
        '--width',
        '4',
        '--data',
        'synthetic',
        '--val-split',
        '200',
        '--epochs',
        '1',
        '--batch-size',
        '100',
        '--runs-dir',
        runsDir,
        '--run-name',
        name,
        ...args,
      );
      assert.equal(r.status, 1, r.stderr);
      assert.deepEqual(errorLines(r.stderr).filter((l) => l.startsWith('pdenet:')).length, 1, r.stderr);
      assert.match(errorLines(r.stderr).at(-1)!, pattern);
      assert.equal(existsSync(join(runsDir, name, 'checkpoints/last.ckpt.safetensors')), false, 'no step was taken');
    }
  });
});

describe('pdenet on a run of three classes from an image folder', () => {
  const work = mkdtempSync(join(tmpdir(), 'pdenet-cli-3-'));
  const folder = join(work, 'shapes');
  const runsDir = join(work, 'runs');
  const run = join(runsDir, 'three');
  // 24 images a class: red, green or blue, each a little brighter or darker.
  ['red', 'green', 'blue'].forEach((name, k) => {
    mkdirSync(join(folder, name), { recursive: true });
    for (let i = 0; i < 24; i++) {
      const rgba: [number, number, number, number] = [40 + i, 40 + i, 40 + i, 255];
      rgba[k] = 160 + 4 * i;
      writeFileSync(join(folder, name, `${i}.png`), encodePng(createImage(32, 32, rgba)));
    }
  });

  it('trains, inspects, predicts a folder, and evaluates on every image of a given folder', () => {
    const trained = pdenet(
      ...trainArgs({
        model: 'resnet20',
        width: 4,
        data: folder,
        'val-split': 12,
        epochs: 1,
        'batch-size': 20,
        'runs-dir': runsDir,
        'run-name': 'three',
      }),
    );
    assert.equal(trained.status, 0, trained.stderr);
    assert.match(trained.stdout, /^done: /m);
    const inspected = pdenet('inspect', run);
    assert.equal(inspected.status, 0, inspected.stderr);
    const manifest = JSON.parse(readFileSync(join(run, 'inspect', 'inspect.json'), 'utf8')) as { blocks: unknown[] };
    assert.ok(manifest.blocks.length > 0);
    const predicted = pdenet('predict', run, join(folder, 'blue'), '--json');
    assert.equal(predicted.status, 0, predicted.stderr);
    const predictions = JSON.parse(predicted.stdout) as { file: string; top: { label: string }[] }[];
    assert.equal(predictions.length, 24, 'every image of the folder');
    assert.deepEqual(predictions[0]!.top.map((t) => t.label).sort(), ['blue', 'green', 'red']);
    const evaluated = pdenet('eval', run, '--data', folder);
    assert.equal(evaluated.status, 0, evaluated.stderr);
    assert.match(evaluated.stdout, new RegExp(`on 72 images, every image of ${folder}: accuracy`));
    const val = pdenet('eval', run);
    assert.match(
      val.stdout,
      /on 12 images, the run's validation split: 12 of the 72 images of .*, held out with seed 0/,
    );
  });

  it('says clearly when the data has no test split, and when the run holds out no validation images', () => {
    const test = pdenet('eval', run, '--split', 'test');
    assert.equal(test.status, 1);
    assert.match(test.stderr, /has no test split/);
    const noVal = pdenet(
      ...trainArgs({
        model: 'resnet20',
        width: 4,
        data: folder,
        'val-split': 0,
        epochs: 1,
        'batch-size': 24,
        'runs-dir': runsDir,
        'run-name': 'no-val',
      }),
    );
    assert.equal(noVal.status, 0, noVal.stderr);
    const evaluated = pdenet('eval', join(runsDir, 'no-val'));
    assert.equal(evaluated.status, 1);
    assert.match(
      evaluated.stderr,
      /^pdenet: eval: the run holds out no validation images \(valSplit 0\); evaluate it on other images with --data FOLDER$/m,
    );
    const empty = join(work, 'empty');
    mkdirSync(empty);
    assert.match(pdenet('predict', run, empty).stderr, /is a folder without JPEG or PNG images/);
  });

  it("refuses to evaluate on images of other classes than the run's, naming both lists", () => {
    const other = (name: string, classes: string[]) => {
      for (const c of classes) {
        mkdirSync(join(work, name, c), { recursive: true });
        for (let i = 0; i < 4; i++)
          writeFileSync(join(work, name, c, `${i}.png`), encodePng(createImage(32, 32, [60 * i, 90, 30, 255])));
      }
      return join(work, name);
    };
    for (const [name, classes] of [
      ['renamed', ['blue', 'green', 'yellow']],
      ['fewer', ['blue', 'red']],
      ['more', ['blue', 'green', 'red', 'white']],
    ] as const) {
      const r = pdenet('eval', run, '--data', other(name, [...classes]));
      assert.equal(r.status, 1, name);
      assert.deepEqual(
        r.stderr.split('\n').filter((l) => l.startsWith('pdenet:')),
        [
          `pdenet: eval: the data's classes ${JSON.stringify(classes)} are not the run's ["blue","green","red"] ` +
            "(its data.json): evaluate it on images of the run's classes",
        ],
        name,
      );
    }
  });

  it('refuses a second run on a name in use, and one-class data, with one line and no folder left', async () => {
    const args = trainArgs({
      model: 'resnet20',
      width: 4,
      data: folder,
      'val-split': 12,
      epochs: 50,
      'batch-size': 20,
      'runs-dir': runsDir,
      'run-name': 'busy',
    });
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        if (/^training resnet20/m.test(d.toString())) resolve();
      }),
    );
    const second = pdenet(...args);
    assert.equal(second.status, 1);
    assert.match(
      second.stderr,
      /busy is being written by another run \(process \d+\); wait for it to end, or choose another --run-name/,
    );
    child.kill('SIGINT');
    assert.equal(await exit, 130);
    const one = join(work, 'one');
    mkdirSync(join(one, 'only'), { recursive: true });
    for (let i = 0; i < 30; i++)
      writeFileSync(join(one, 'only', `${i}.png`), encodePng(createImage(32, 32, [i, 0, 0, 255])));
    const r = pdenet(
      ...trainArgs({ data: one, 'runs-dir': runsDir, 'run-name': 'one-class', 'val-split': 5, 'batch-size': 10 }),
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the data has 1 class \(only\): a classifier needs at least two/);
    assert.ok(!existsSync(join(runsDir, 'one-class')));
  });
});
