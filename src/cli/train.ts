/**
 * `pdenet train`: flags → a training configuration → `train()`, with a progress bar on a terminal and
 * one line per epoch elsewhere. SIGINT/SIGTERM stop after the current step with a checkpoint.
 * @module
 */
import { SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import type { TrainConfig } from '../train/config.js';
import { readMetrics } from '../train/run.js';
import { EXIT_CODES, train } from '../train/trainer.js';
import { fraction, intList, jsonFile, nonNegativeInt, numberList, positiveInt, positiveNumber, twistFlags } from './options.js';
import { afterEpoch, afterRun } from './report.js';

interface TrainFlags {
  config?: Record<string, unknown>;
  model?: string;
  twist?: boolean | boolean[];
  twistVariant?: 'point' | 'mirror';
  twistField?: 'strain' | 'conformal';
  twistFromEpoch?: number;
  boundary?: 'zeros' | 'reflect' | 'replicate' | 'circular';
  width?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: 'sgd' | 'adam' | 'adamw' | 'muon';
  muonLr?: number;
  evalEvery?: number;
  weightDecay?: number;
  schedule?: TrainConfig['schedule'];
  warmup?: number;
  milestones?: number[];
  labelSmoothing?: number;
  ema?: number;
  tta?: boolean;
  ttaTranslate?: number;
  lookahead?: number;
  biasLr?: number;
  channelsLast?: boolean;
  precision?: 'fp32' | 'bf16';
  data?: string;
  valSplit?: number;
  seed?: number;
  runName?: string;
  runsDir?: string;
  resume?: boolean;
  maxSteps?: number;
  maxMinutes?: number;
  crop?: number;
  flip?: 'random' | 'alternate' | 'off';
  cutout?: number;
  hyperbolicity?: number;
  integrator?: 'rk1' | 'rk2' | 'heun' | 'rk4' | 'leapfrog';
  layer?: 'double' | 'doublesym' | 'preactdouble' | 'hyperbolic';
  norm?: 'batch' | 'tv' | 'none';
  timePoints?: number[];
  controlPoints?: number[];
  timeRegularization?: number;
  clip?: number;
  checkpointing?: boolean;
}

/** The configuration the flags describe: defaults ← --config file ← flags. */
export function configFromFlags(flags: TrainFlags): Partial<TrainConfig> {
  const fromFile = (flags.config ?? {}) as Partial<TrainConfig>;
  const set = <K extends keyof TrainConfig>(key: K, value: TrainConfig[K] | undefined) =>
    value === undefined ? {} : { [key]: value };
  const modelOptions = {
    ...fromFile.modelOptions,
    ...(flags.twist === undefined ? {} : { twist: flags.twist }),
    ...(flags.twistVariant === undefined ? {} : { twistVariant: flags.twistVariant }),
    ...(flags.twistField === undefined ? {} : { twistField: flags.twistField }),
    ...(flags.boundary === undefined ? {} : { boundary: flags.boundary }),
    ...(flags.width === undefined ? {} : { width: flags.width }),
  };
  const dynamic = {
    ...fromFile.modelOptions?.rknet,
    ...(flags.integrator === undefined ? {} : { integrator: flags.integrator }),
    ...(flags.layer === undefined ? {} : { layer: flags.layer }),
    ...(flags.norm === undefined ? {} : { norm: flags.norm }),
    ...(flags.timePoints === undefined ? {} : { tY: flags.timePoints }),
    ...(flags.controlPoints === undefined ? {} : { tTheta: flags.controlPoints }),
  };
  if (Object.keys(dynamic).length > 0) Object.assign(modelOptions, { rknet: dynamic });
  const augment = {
    ...fromFile.augment,
    ...(flags.crop === undefined ? {} : { crop: flags.crop }),
    ...(flags.cutout === undefined ? {} : { cutout: flags.cutout }),
    ...(flags.flip === undefined ? {} : { flip: ({ random: true, alternate: 'alternate', off: false } as const)[flags.flip] }),
  };
  return {
    ...fromFile,
    ...set('model', flags.model),
    ...set('epochs', flags.epochs),
    ...set('batchSize', flags.batchSize),
    ...set('lr', flags.lr),
    ...set('optimizer', flags.optimizer),
    ...set('muonLr', flags.muonLr),
    ...set('evalEvery', flags.evalEvery),
    ...set('weightDecay', flags.weightDecay),
    ...set('schedule', flags.schedule),
    ...set('warmup', flags.warmup),
    ...set('milestones', flags.milestones),
    ...set('labelSmoothing', flags.labelSmoothing),
    ...set('ema', flags.ema),
    ...set('tta', flags.tta),
    ...set('ttaTranslate', flags.ttaTranslate),
    ...set('lookahead', flags.lookahead),
    ...set('biasLr', flags.biasLr),
    ...set('channelsLast', flags.channelsLast),
    ...set('precision', flags.precision),
    ...set('data', flags.data),
    ...set('valSplit', flags.valSplit),
    ...set('seed', flags.seed),
    ...set('runName', flags.runName),
    ...set('runsDir', flags.runsDir),
    ...set('maxSteps', flags.maxSteps),
    ...set('maxMinutes', flags.maxMinutes),
    ...set('twistFromEpoch', flags.twistFromEpoch),
    ...set('hyperbolicity', flags.hyperbolicity),
    ...set('timeRegularization', flags.timeRegularization),
    ...set('clip', flags.clip),
    ...set('checkpointing', flags.checkpointing),
    modelOptions,
    augment: augment as TrainConfig['augment'],
  };
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a model (default: a twisted ResNet-20) and write runs/<name>/ with checkpoints, metrics and a report')
    .option('--config <file.json>', 'a JSON file of settings (flags override it)', jsonFile)
    .option('--model <name>', 'model from `pdenet models`')
    .option('--twist <flags>', 'twist on/off, or per stage: 1,1,1,0', twistFlags)
    .addOption(new Option('--twist-variant <v>', 'how Kx is antisymmetrized').choices(['point', 'mirror']))
    .addOption(new Option('--twist-field <f>', 'strain (the seeds\' Ky) or conformal (rotation and dilation)').choices(['strain', 'conformal']))
    .option('--twist-from-epoch <n>', 'train plain until this epoch, then switch the twist on', nonNegativeInt)
    .addOption(new Option('--boundary <bc>', 'boundary condition of every convolution').choices(['zeros', 'reflect', 'replicate', 'circular']))
    .option('--width <n>', 'channels of the first stage', positiveInt)
    .option('--epochs <n>', 'epochs', positiveInt)
    .option('--batch-size <n>', 'images per step', positiveInt)
    .option('--lr <x>', 'peak learning rate', positiveNumber)
    .addOption(new Option('--optimizer <name>', 'optimizer (muon: Muon for the convolution filters, SGD for the rest)')
      .choices(['sgd', 'adam', 'adamw', 'muon']))
    .option('--muon-lr <x>', 'muon: peak learning rate of the convolution filters', positiveNumber)
    .option('--weight-decay <x>', 'weight decay (not applied to biases and normalization)', Number)
    .addOption(new Option('--schedule <name>', 'learning-rate schedule')
      .choices(['onecycle', 'cosine', 'step', 'multistep', 'rise-decay', 'constant']))
    .option('--warmup <x>', 'one-cycle: fraction of steps rising; cosine: warmup epochs; rise-decay: peak epoch', Number)
    .option('--milestones <list>', 'step/multistep: epochs at which the lr drops, e.g. 60,80,100', intList)
    .option('--label-smoothing <x>', 'label smoothing ε', fraction)
    .option('--ema <decay>', 'evaluate an exponential moving average of the weights (0: off)', fraction)
    .option('--eval-every <n>', 'evaluate every n epochs (and after the last)', positiveInt)
    .option('--no-tta', 'evaluate without horizontal-flip test-time augmentation')
    .option('--tta-translate <pixels>', 'the final evaluation also averages over shifts by ± this many pixels (0: off)', nonNegativeInt)
    .option('--lookahead <k>', 'pull the weights to a slow copy every k steps (0: off)', nonNegativeInt)
    .option('--bias-lr <x>', 'learning-rate multiplier of biases and normalization parameters', positiveNumber)
    .option('--channels-last', 'lay out convolution kernels channels-last (faster with bf16 on CPU)')
    .addOption(new Option('--precision <p>', 'fp32, or bf16 (CPU autocast)').choices(['fp32', 'bf16']))
    .option('--crop <pixels>', 'random-crop padding (0: off)', nonNegativeInt)
    .addOption(new Option('--flip <mode>', 'horizontal flips: at random, alternating by epoch (each image seen both ways), or off')
      .choices(['random', 'alternate', 'off']))
    .option('--cutout <pixels>', 'cutout square size (0: off)', nonNegativeInt)
    .option('--hyperbolicity <weight>', 'weight of the hyperbolicity regularizer', Number)
    .addOption(new Option('--integrator <name>', 'rknet: time integrator').choices(['rk1', 'rk2', 'heun', 'rk4', 'leapfrog']))
    .addOption(new Option('--layer <name>', 'rknet: layer function').choices(['double', 'doublesym', 'preactdouble', 'hyperbolic']))
    .addOption(new Option('--norm <name>', 'rknet: normalization').choices(['batch', 'tv', 'none']))
    .option('--time-points <list>', 'rknet: state time points, e.g. 0,1,2,3,4', numberList)
    .option('--control-points <list>', 'rknet: control time points (default: the state points)', numberList)
    .option('--time-regularization <weight>', 'rknet: weight of Σ h‖θ_{k+1} − θ_k‖²', Number)
    .option('--clip <bound>', 'clamp conv and linear weights into [−bound, bound] after each step', positiveNumber)
    .option('--checkpointing', 'rknet: recompute each block in the backward pass (less memory, more time)')
    .option('--data <path>', 'CIFAR binary folder/.tar.gz, image folder/.tar.gz, or "synthetic"')
    .option('--val-split <n>', 'training images held out for validation', nonNegativeInt)
    .option('--seed <n>', 'random seed', nonNegativeInt)
    .option('--run-name <name>', 'folder name under the runs directory')
    .option('--runs-dir <dir>', 'where runs are written (default runs/)')
    .option('--resume', 'continue the run named by --run-name from its last checkpoint')
    .option('--max-steps <n>', 'stop after this many steps, with a checkpoint (exit code 3)', positiveInt)
    .option('--max-minutes <x>', 'stop after this many minutes, with a checkpoint (exit code 3)', positiveNumber)
    .action(async (flags: TrainFlags) => {
      await runTraining(configFromFlags(flags), flags.resume ?? false);
    });
}

async function runTraining(overrides: Partial<TrainConfig>, resume: boolean): Promise<void> {
  const controller = new AbortController();
  const stop = (signal: string) => {
    if (controller.signal.aborted) process.exit(EXIT_CODES.signal);
    console.error(`\n${signal}: finishing the current step and writing a checkpoint (press again to quit at once)`);
    controller.abort();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const tty = process.stderr.isTTY === true;
  const bar = tty ? new SingleBar({
    format: 'epoch {epoch}/{epochs} |{bar}| {value}/{total}  loss {loss}  acc {acc}  {ips} img/s  ETA {eta_formatted}',
    hideCursor: true,
    clearOnComplete: true,
  }) : null;
  let barEpoch = -1;
  try {
    const result = await train(overrides, {
      resume,
      signal: controller.signal,
      events: {
        log: (line) => {
          if (bar && barEpoch >= 0) bar.stop();
          barEpoch = -1;
          console.log(line);
        },
        onStart: (info) => console.log(`${info.resumedAt ? 'resuming' : 'training'} ${info.config.model} ` +
          `(${info.params.toLocaleString('en-US')} parameters) on ${info.trainSize} images, validating on ${info.valSize}; ` +
          `run folder ${info.runDir}`),
        onProgress: (p) => {
          if (!bar) return;
          const payload = { epoch: p.epoch, epochs: p.epochs, loss: p.loss.toFixed(3), acc: `${(p.accuracy * 100).toFixed(1)}%`,
            ips: p.imagesPerSec.toFixed(0) };
          if (barEpoch !== p.epoch) {
            bar.start(p.batches, p.batch, payload);
            barEpoch = p.epoch;
          } else {
            bar.update(p.batch, payload);
          }
        },
        onEpoch: async (_m, runDir) => afterEpoch(runDir, readMetrics(runDir)),
      },
    });
    await afterRun(result.runDir);
    const best = result.bestAccuracy >= 0 ? `${(result.bestAccuracy * 100).toFixed(2)}% (epoch ${result.bestEpoch + 1})` : 'n/a';
    const stopped = { done: 'done', limit: 'stopped by a limit', signal: 'stopped by a signal' }[result.stop];
    console.log(`${stopped}: best validation accuracy ${best}; see ${result.runDir}/report.md`);
    process.exitCode = EXIT_CODES[result.stop];
  } finally {
    bar?.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
