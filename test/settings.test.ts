import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { configFromFlags } from '../src/cli/train.js';
import {
  changedSettings,
  checkImageSettings,
  checkSettings,
  DEFAULT_CONFIG,
  modelOptionsOf,
  resolveConfig,
  TRAIN_FLAGS,
  TRAIN_SETTINGS,
  type TrainConfig,
} from '../src/train/config.js';
import { getAt, settingsOf } from '../src/train/settings.js';
import { createModel } from '../src/models/registry.js';
import { readdirSync } from 'node:fs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'dist/src/cli/main.js');
const pdenet = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const recipe = (name: string) =>
  JSON.parse(readFileSync(join(root, 'recipes', `${name}.json`), 'utf8')) as Partial<TrainConfig>;

/** The configurations the recipes, the defaults and a set of flags resolve to, as written to config.json. */
const resolved = JSON.parse(readFileSync(join(root, 'test/fixtures/resolved-configs.json'), 'utf8')) as Record<
  string,
  TrainConfig
>;

/** Every flag of `pdenet train` with a valid text that differs from the setting's default. */
const SAMPLES: Record<string, string> = {
  '--model': 'speednet',
  '--twist': '1,0,1',
  '--twistable': 'true',
  '--twist-variant': 'mirror',
  '--twist-field': 'conformal',
  '--twist-mode': 'parametrized',
  '--twist-init-std': '0.05',
  '--boundary': 'circular',
  '--width': '8',
  '--whiten-eps': '0.001',
  '--integrator': 'leapfrog',
  '--layer': 'hyperbolic',
  '--norm': 'batch',
  '--time-points': '0,0.5,2',
  '--control-points': '0,2',
  '--channels': '8,16',
  '--norm-stats': 'control',
  '--regularizer': 'l2',
  '--rknet-clip': '',
  '--data': 'cifar10',
  '--val-split': '100',
  '--epochs': '7',
  '--batch-size': '64',
  '--optimizer': 'adamw',
  '--lr': '0.01',
  '--momentum': '0.8',
  '--nesterov': '',
  '--weight-decay': '0.001',
  '--schedule': 'cosine',
  '--warmup': '2',
  '--lr-start-factor': '0.1',
  '--lr-end-factor': '0.01',
  '--anneal': 'linear',
  '--cycle-momentum': '',
  '--bias-lr': '8',
  '--bias-decay': '',
  '--decay-exempt': 'normLayer,bias',
  '--muon-lr': '0.1',
  '--muon-momentum': '0.9',
  '--muon-normalize': '',
  '--freeze-after': 'whiten.bias=3,fc.bias=0',
  '--lookahead': '5',
  '--milestones': '3,5',
  '--gamma': '0.5',
  '--label-smoothing': '0.2',
  '--crop': '2',
  '--crop-padding': 'zeros',
  '--flip': 'alternate',
  '--cutout': '8',
  '--affine': '15,0.1,0.9,1.1',
  '--ema': '0',
  '--tta': '',
  '--tta-translate': '2',
  '--channels-last': '',
  '--precision': 'bf16',
  '--seed': '3',
  // twistFromEpoch is the simple form of twistSchedule: the two are not given together.
  '--twist-from-epoch': '0',
  '--twist-schedule': '0:1,0,0;2:1,1,0',
  '--normalization': '0.5,0.5,0.5/1,1,1',
  '--best-by': 'loss',
  '--hyperbolicity': '0.5',
  '--time-regularization': '0.1',
  '--clip': '0.5',
  '--checkpointing': '',
  '--sync-bn': '',
  '--eval-every': '2',
  '--run-name': 'sample',
  '--runs-dir': 'elsewhere',
  '--max-steps': '10',
  '--max-minutes': '5',
  '--budget-minutes': '20',
  '--budget-schedule': 'steps',
  '--train-images': '100',
  '--plateau-patience': '3',
  '--plateau-factor': '0.5',
  '--plateau-twist': '1,1,0',
  '--plateau-restore': 'notebook',
};

/** The command-line words of a sample: a switch whose default is on is given as --no-…. */
function sampleArgs(): string[] {
  return TRAIN_FLAGS.flatMap(({ flags, setting }) => {
    const flag = flags.split(' ')[0]!;
    if (setting.isSwitch) return [setting.default === true ? `--no-${flag.slice(2)}` : flag];
    return [flag, SAMPLES[flag]!];
  });
}

describe('the table of training settings', () => {
  it('gives every setting a flag of its own, help text, and a default that passes its own check', () => {
    const names = TRAIN_FLAGS.map((f) => f.flags.split(' ')[0]);
    assert.equal(new Set(names).size, names.length, 'flags are unique');
    assert.equal(TRAIN_FLAGS.length, settingsOf(TRAIN_SETTINGS).length);
    for (const { key, setting, help } of TRAIN_FLAGS) {
      assert.ok(setting.help.length > 10 && help.includes('(default: '), key);
      if (setting.default !== undefined) assert.equal(setting.broken(setting.default), null, key);
    }
    assert.deepEqual(resolveConfig({}), DEFAULT_CONFIG);
  });

  it('builds the model of every recipe from its configuration, as the trainer does', () => {
    const names = readdirSync(join(root, 'recipes')).map((f) => f.replace(/\.json$/, ''));
    assert.ok(names.includes('notebook-resnet') && names.includes('dynamicblocks-rknet'));
    for (const name of names) {
      const config = resolveConfig(recipe(name));
      createModel(config.model, { ...modelOptionsOf(config), numClasses: 10 }).dispose();
    }
  });

  it('resolves the recipes and the defaults to the configurations they always resolved to, key order included', () => {
    for (const name of ['cifar10-default', 'cifar10-resnet20']) {
      assert.equal(JSON.stringify(resolveConfig(recipe(name))), JSON.stringify(resolved[name]), name);
    }
    assert.equal(JSON.stringify(resolveConfig({})), JSON.stringify(resolved.defaults));
  });

  it("resolves the seeds' recipes with the seeds' normalization, decay exemptions, best rule and staged twist", () => {
    const rk = resolveConfig(recipe('dynamicblocks-rknet'));
    // utils.py getDataLoaders: Normalize(mean [0.5]*3, std [1]*3); RKNet.py: only 'normLayer' names skip weight decay;
    // trainNet keeps the model of lowest validation loss.
    assert.deepEqual(
      [rk.normalization, rk.noDecay, rk.bestBy],
      [{ mean: [0.5, 0.5, 0.5], std: [1, 1, 1] }, ['normLayer'], 'loss'],
    );
    const nb = resolveConfig(recipe('notebook-resnet'));
    assert.deepEqual(nb.normalization, { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] });
    assert.deepEqual(nb.twistSchedule, [{ epoch: 0, twist: [true, false, false, false] }]);
  });

  it('maps the parsed flags to the settings they name (configFromFlags)', () => {
    const flags = {
      model: 'rknet',
      twist: [true, false, true],
      twistVariant: 'mirror',
      twistField: 'conformal',
      boundary: 'reflect',
      width: 8,
      integrator: 'rk2',
      layer: 'double',
      norm: 'batch',
      timePoints: [0, 1, 2],
      controlPoints: [0, 2],
      data: 'x',
      valSplit: 10,
      epochs: 3,
      batchSize: 64,
      optimizer: 'muon',
      lr: 0.1,
      weightDecay: 0.001,
      schedule: 'multistep',
      warmup: 0.1,
      biasLr: 2,
      muonLr: 0.02,
      milestones: [1, 2],
      labelSmoothing: 0.05,
      crop: 2,
      flip: 'off',
      cutout: 8,
      ema: 0.9,
      tta: false,
      ttaTranslate: 2,
      channelsLast: true,
      precision: 'bf16',
      seed: 4,
      twistFromEpoch: 1,
      hyperbolicity: 0.5,
      timeRegularization: 0.1,
      clip: 1,
      checkpointing: true,
      evalEvery: 2,
      runName: 'n',
      runsDir: 'r',
      maxSteps: 9,
    };
    assert.equal(JSON.stringify(resolveConfig(configFromFlags(flags))), JSON.stringify(resolved.flags));
    // The flags override the config file one by one, inside augment and modelOptions too.
    const fromFile = configFromFlags({ config: recipe('cifar10-default'), flip: 'random', width: 16 });
    assert.deepEqual(resolveConfig(fromFile).augment, { ...resolved['cifar10-default']!.augment, flip: true });
    assert.deepEqual(resolveConfig(fromFile).modelOptions, { twist: [true, false, false], width: 16 });
  });

  it('round-trips: a resolved configuration, written as JSON and read again, resolves to itself', () => {
    const everything = JSON.parse(pdenet('train', ...sampleArgs(), '--print-config').stdout) as TrainConfig;
    for (const config of [...Object.values(resolved), everything]) {
      const again = resolveConfig(JSON.parse(JSON.stringify(config)) as TrainConfig);
      assert.equal(JSON.stringify(again), JSON.stringify(config));
    }
  });

  it('names the bad value, its setting and the rule, for every kind of setting', () => {
    const cases: [unknown, RegExp][] = [
      [{ epochs: 1e300 }, /^config: epochs must be at most 100000, got 1e\+300$/],
      [{ epochs: 2.5 }, /epochs must be a positive integer, got 2.5/],
      [{ weightDecay: NaN }, /weightDecay must be a number in \[0, 1\], got NaN/],
      [{ weightDecay: '0.1' }, /weightDecay must be a number in \[0, 1\], got "0.1"/],
      [
        { schedule: 'linear' },
        /schedule must be one of onecycle, cosine, step, multistep, rise-decay, constant, got "linear"/,
      ],
      [{ model: 'resnet21' }, /model must be one of resnet18, .*, got "resnet21"/],
      [{ nesterov: 'yes' }, /nesterov must be true or false, got "yes"/],
      [{ data: '' }, /data must be a dataset name, a path or "synthetic", got ""/],
      [{ milestones: [3, 0] }, /milestones must be a list of positive epoch numbers, got \[3,0\]/],
      [
        { modelOptions: { rknet: { tY: [0, 2, 1] } } },
        /modelOptions.rknet.tY must be a list of at least two strictly increasing/,
      ],
      [
        { modelOptions: { twist: 'yes' } },
        /modelOptions.twist must be true, false or one boolean per stage, got "yes"/,
      ],
      [{ modelOptions: 'resnet' }, /modelOptions must be an object of twist, twistable, .*, got "resnet"/],
      [{ freezeAfter: { 'whiten.bias': -1 } }, /freezeAfter\["whiten.bias"\] must be a non-negative integer, got -1/],
      [
        { augment: { affine: { degrees: 10, translate: 0.1, scale: [1.2, 0.9] } } },
        /augment.affine must be null or \{ degrees/,
      ],
      [{ augment: { cutot: 8 } }, /unknown setting "augment.cutot"; did you mean "augment.cutout"\?/],
      [{ cutout: 8 }, /unknown setting "cutout"; did you mean "augment.cutout"\?/],
      [{ integrator: 'rk4' }, /unknown setting "integrator"; did you mean "modelOptions.rknet.integrator"\?/],
      [{ weight_decay: 0.1 }, /unknown setting "weight_decay"; did you mean "weightDecay"\?/],
      [{ learningRate: 0.1 }, /unknown setting "learningRate" \(pdenet train --help lists the settings/],
      [[1, 2], /the settings must be an object of model, modelOptions, data, .*, got \[1,2\]/],
    ];
    for (const [overrides, pattern] of cases) {
      assert.throws(
        () => resolveConfig(overrides as never),
        (e: Error) => pattern.test(e.message) && !e.message.includes('\n'),
        JSON.stringify(overrides),
      );
    }
    assert.throws(() => resolveConfig({ lookahead: 5, ema: 0.9 }), /lookahead and ema both keep a copy of the weights/);
    // A config file alone is checked setting by setting; the rules that join settings wait for the flags.
    checkSettings({ lookahead: 5, ema: 0.9 });
    assert.throws(() => checkSettings({ lookahead: -5 }), /lookahead must be a non-negative integer, got -5/);
  });

  it('checks the settings that must fit the images against their size', () => {
    const config = resolveConfig({ ttaTranslate: 3, augment: { crop: 4, cutout: 16 } });
    checkImageSettings(config, 32, 32);
    assert.throws(
      () => checkImageSettings(config, 12, 24),
      /augment.cutout \(--cutout\) must be at most 12 for 12×24 images, got 16/,
    );
    assert.throws(
      () => checkImageSettings(resolveConfig({ ttaTranslate: 1000 }), 32, 32),
      (e: Error) => e.message === 'config: ttaTranslate (--tta-translate) must be below 32 for 32×32 images, got 1000',
    );
    assert.throws(
      () => checkImageSettings(resolveConfig({ augment: { cutout: 1000 } }), 32, 32),
      /augment.cutout \(--cutout\) must be at most 32 for 32×32 images, got 1000/,
    );
    assert.throws(
      () => checkImageSettings(resolveConfig({ augment: { crop: 32 } }), 32, 32),
      /augment.crop \(--crop\) must be below 32 for 32×32 images, got 32/,
    );
    checkImageSettings(resolveConfig({ augment: { cutout: 32 } }), 32, 32);
  });

  it('says which settings differ and whether a resumed run may change them', () => {
    const saved = resolveConfig(recipe('cifar10-default'));
    const changed = changedSettings(
      saved,
      resolveConfig({
        ...recipe('cifar10-default'),
        epochs: 40,
        lr: 1,
        augment: { ...recipe('cifar10-default').augment, crop: 3 },
        modelOptions: { twist: [true, false, false], width: 32 },
      }),
    );
    assert.deepEqual(changed, [
      { key: 'modelOptions.width', resumable: false },
      { key: 'epochs', resumable: true },
      { key: 'lr', resumable: false },
      { key: 'augment.crop', resumable: false },
    ]);
    assert.deepEqual(changedSettings(saved, resolveConfig(recipe('cifar10-default'))), []);
  });
});

describe('pdenet train flags made from the table', () => {
  it('lists every setting as a flag with its help in --help', () => {
    const r = pdenet('train', '--help');
    assert.equal(r.status, 0, r.stderr);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const { flags, help: text } of TRAIN_FLAGS)
      assert.ok(help.includes(`${flags} ${text.replace(/\s+/g, ' ')}`), flags);
  });

  it('sets every setting through its flag', () => {
    assert.deepEqual(
      Object.keys(SAMPLES).sort(),
      TRAIN_FLAGS.map((f) => f.flags.split(' ')[0]!).sort(),
      'a sample per flag',
    );
    const r = pdenet('train', ...sampleArgs(), '--print-config');
    assert.equal(r.status, 0, r.stderr);
    const config = JSON.parse(r.stdout) as TrainConfig;
    for (const { key, flags, setting } of TRAIN_FLAGS) {
      const value = getAt(config, key);
      const flag = flags.split(' ')[0]!;
      // lookahead and ema exclude each other, and so do twistSchedule and twistFromEpoch: the samples set lookahead
      // and twistSchedule, and ema and twistFromEpoch to their defaults.
      if (flag !== '--ema' && flag !== '--twist-from-epoch')
        assert.notDeepEqual(value, setting.default, `${flags} changed ${key}`);
      if (!setting.isSwitch && !setting.words) assert.deepEqual(value, setting.parse(SAMPLES[flag]!), flag);
    }
    // The printed configuration is a config file that gives the same configuration.
    const file = join(mkdtempSync(join(tmpdir(), 'pdenet-settings-')), 'config.json');
    writeFileSync(file, r.stdout);
    assert.deepEqual(JSON.parse(pdenet('train', '--config', file, '--print-config').stdout), config);
  });

  it('keeps the flag names and values of the command line (the fixture flags, as words)', () => {
    const r = pdenet(
      'train',
      '--model',
      'rknet',
      '--twist',
      '1,0,1',
      '--twist-variant',
      'mirror',
      '--twist-field',
      'conformal',
      '--boundary',
      'reflect',
      '--width',
      '8',
      '--integrator',
      'rk2',
      '--layer',
      'double',
      '--norm',
      'batch',
      '--time-points',
      '0,1,2',
      '--control-points',
      '0,2',
      '--data',
      'x',
      '--val-split',
      '10',
      '--epochs',
      '3',
      '--batch-size',
      '64',
      '--optimizer',
      'muon',
      '--lr',
      '0.1',
      '--weight-decay',
      '0.001',
      '--schedule',
      'multistep',
      '--warmup',
      '0.1',
      '--bias-lr',
      '2',
      '--muon-lr',
      '0.02',
      '--milestones',
      '1,2',
      '--label-smoothing',
      '0.05',
      '--crop',
      '2',
      '--flip',
      'off',
      '--cutout',
      '8',
      '--ema',
      '0.9',
      '--no-tta',
      '--tta-translate',
      '2',
      '--channels-last',
      '--precision',
      'bf16',
      '--seed',
      '4',
      '--twist-from-epoch',
      '1',
      '--hyperbolicity',
      '0.5',
      '--time-regularization',
      '0.1',
      '--clip',
      '1',
      '--checkpointing',
      '--eval-every',
      '2',
      '--run-name',
      'n',
      '--runs-dir',
      'r',
      '--max-steps',
      '9',
      '--print-config',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.stringify(JSON.parse(r.stdout)), JSON.stringify(resolved.flags));
  });
});
