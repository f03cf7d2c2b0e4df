/**
 * `pdenet train`: flags → a training configuration → `train()`, with a progress bar on a terminal and
 * one line per epoch elsewhere. SIGINT/SIGTERM stop after the current step with a checkpoint.
 * @module
 */
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { resolveConfig, TRAIN_FLAGS, type TrainConfig, type TrainOverrides } from '../train/config.js';
import { setAt } from '../train/settings.js';
import { readMetrics } from '../train/run.js';
import { checkDataParallel, EXIT_CODES, resumeConfig, type TrainEvents, train } from '../train/trainer.js';
import { addLaunchFlags, type LaunchFlags, relaunchAsWorkers } from './launch.js';
import { configFile } from './options.js';
import { afterEpoch, afterRun } from './report.js';
import { stopOnSignals } from './signals.js';

/** The values commander parsed: one per flag given (named as commander names them, e.g. `batchSize`), `config` and `resume`. */
export type TrainFlags = Record<string, unknown> &
  Partial<LaunchFlags> & { config?: TrainOverrides; resume?: boolean; printConfig?: boolean };

/** The configuration the flags describe: defaults ← --config file ← flags. */
export function configFromFlags(flags: TrainFlags): TrainOverrides {
  const overrides = structuredClone(flags.config ?? {}) as Record<string, unknown>;
  for (const { key, setting, attribute } of TRAIN_FLAGS) {
    const value = flags[attribute];
    if (value === undefined) continue;
    setAt(overrides, key, setting.words ? setting.words[value as string] : value);
  }
  return overrides as TrainOverrides;
}

/** The commander options of the settings: a switch has both `--x` and `--no-x`; a flag's text is checked as the setting says. */
function settingOptions(): Option[] {
  return TRAIN_FLAGS.flatMap(({ setting, flags, help }) => {
    if (setting.isSwitch)
      return [new Option(flags, help), new Option(`--no-${flags.slice(2)}`, `the opposite of ${flags}`)];
    const option = new Option(flags, help);
    const choices = setting.choices ?? (setting.words ? Object.keys(setting.words) : undefined);
    if (choices) return [option.choices(choices)];
    return [
      option.argParser((text: string) => {
        const value = setting.parse(text);
        const broken = setting.broken(value);
        if (broken !== null)
          throw new InvalidArgumentError(
            `expected ${setting.flagRule ?? (typeof broken === 'string' ? broken : broken.rule)}`,
          );
        return value;
      }),
    ];
  });
}

/** The `train` command's description and options on `command` (its action is the caller's). */
function trainOptions(command: Command): Command {
  command
    .description(
      'train a model (default: a twisted ResNet-20) and write runs/<name>/ with checkpoints, metrics and a report',
    )
    .option(
      '--config <file.json>',
      'a JSON file of settings (flags override it), e.g. recipes/cifar10-default.json',
      configFile,
    );
  for (const option of settingOptions()) command.addOption(option);
  return addLaunchFlags(
    command
      .option('--resume', 'continue the run named by --run-name from its last checkpoint')
      .option(
        '--print-config',
        "print the configuration as JSON (with --resume: the run's, as resumed) and exit, without loading data or training",
      ),
  );
}

/**
 * Throws what `pdenet train <args>` would refuse before training as one of `worldSize` workers (a bad flag or
 * setting, a run to resume that is not there, a batch the processes cannot share): `pdenet launch -- train …`
 * says it once, before any worker starts, rather than every worker saying it.
 */
export function checkTrainWorkers(args: readonly string[], worldSize: number): void {
  const command = trainOptions(new Command('train'))
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  try {
    command.parse(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError && e.exitCode === 0) return; // --help: the workers print it
    throw new Error(`train: ${(e as Error).message.replace(/^error: /, '')}`);
  }
  checkDataParallel(runConfigOf(command.opts<TrainFlags>()), worldSize);
}

/** The configuration a run of these flags trains with: with --resume, its checkpoint's with the changes a resume may make (or why not). */
function runConfigOf(flags: TrainFlags, overrides: TrainOverrides = configFromFlags(flags)): TrainConfig {
  return flags.resume ? resumeConfig(overrides) : resolveConfig(overrides);
}

export function registerTrain(program: Command): void {
  trainOptions(program.command('train')).action(async (flags: TrainFlags) => {
    const overrides = configFromFlags(flags);
    resolveConfig(overrides); // bad settings are reported before any data is loaded
    const runConfig = () => runConfigOf(flags, overrides);
    if (flags.printConfig) {
      console.log(JSON.stringify(runConfig(), null, 2));
      return;
    }
    // --nproc-per-node N (or several machines): this process starts the N workers, each running this command,
    // once the configuration is one they can run (said once, here, rather than by every worker).
    const relaunched = await relaunchAsWorkers(flags as LaunchFlags, process.argv, [EXIT_CODES.limit], (world) =>
      checkDataParallel(runConfig(), world),
    );
    if (relaunched) return;
    await runTraining(overrides, flags.resume ?? false);
  });
}

/** A progress bar of the epoch's batches on a terminal (none otherwise), put away whenever a line is logged. */
function progressBar(): Pick<TrainEvents, 'log' | 'onProgress'> & { stop(): void } {
  const bar = process.stderr.isTTY
    ? new SingleBar({
        format:
          'epoch {epoch}/{epochs} |{bar}| {value}/{total}  loss {loss}  acc {acc}  {ips} img/s  ETA {eta_formatted}',
        hideCursor: true,
        clearOnComplete: true,
      })
    : null;
  let barEpoch = -1;
  return {
    log: (line) => {
      if (bar && barEpoch >= 0) bar.stop();
      barEpoch = -1;
      console.log(line);
    },
    onProgress: (p) => {
      if (!bar) return;
      const payload = {
        epoch: p.epoch,
        epochs: p.epochs,
        loss: p.loss.toFixed(3),
        acc: `${(p.accuracy * 100).toFixed(1)}%`,
        ips: p.imagesPerSec.toFixed(0),
      };
      if (barEpoch !== p.epoch) {
        bar.start(p.batches, p.batch, payload);
        barEpoch = p.epoch;
      } else {
        bar.update(p.batch, payload);
      }
    },
    stop: () => bar?.stop(),
  };
}

async function runTraining(overrides: TrainOverrides, resume: boolean): Promise<void> {
  const controller = new AbortController();
  const release = stopOnSignals(
    controller,
    'finishing the current step and writing a checkpoint (press again to quit at once)',
  );
  const bar = progressBar();
  try {
    // train() resolves the overrides as resolveConfig does (augment's keys one by one).
    const result = await train(overrides as Partial<TrainConfig>, {
      resume,
      signal: controller.signal,
      events: {
        log: bar.log,
        onProgress: bar.onProgress,
        onStart: (info) =>
          console.log(
            `${info.resumedAt ? 'resuming' : 'training'} ${info.config.model} ` +
              `(${info.params.toLocaleString('en-US')} parameters) on ${info.trainSize} images, validating on ${info.valSize}; ` +
              `run folder ${info.runDir}`,
          ),
        onEpoch: async (_m, runDir) => afterEpoch(runDir, readMetrics(runDir)),
      },
    });
    process.exitCode = EXIT_CODES[result.stop];
    if (result.rank !== 0) return; // rank 0 reports for the run
    await afterRun(result.runDir);
    const best =
      result.bestAccuracy >= 0 ? `${(result.bestAccuracy * 100).toFixed(2)}% (epoch ${result.bestEpoch + 1})` : 'n/a';
    const stopped = { done: 'done', limit: 'stopped by a limit', signal: 'stopped by a signal' }[result.stop];
    console.log(`${stopped}: best validation accuracy ${best}; see ${result.runDir}/report.md`);
  } finally {
    bar.stop();
    release();
  }
}
