/**
 * `pdenet sweep`: flags → a sweep specification → `runSweep()`, then the plot. A signal (SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT) stops the running trainings with a checkpoint, a second one kills them and exits; running the same
 * command again continues the sweep.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import {
  type Recipe,
  parseSetting,
  parseValue,
  settingPath,
  type SweepSetting,
  withSetting,
} from '../sweep/settings.js';
import { type RunEpochEvent, type RunEvent, recordedSweep, runSweep, specDifferences } from '../sweep/sweep.js';
import { TorchError } from '../tensor/errors.js';
import { plotSweep } from '../viz/sweep-plots.js';
import { configFile, nonNegativeInt, positiveInt, positiveNumber } from './options.js';
import { stopOnSignals } from './signals.js';

interface SweepFlags {
  name: string;
  config?: Recipe;
  set: [string, unknown][];
  vary: SweepSetting[];
  seeds: number[];
  jobs: number;
  minutes?: number;
  restart?: boolean;
  summaryOnly?: boolean;
  sweepsDir: string;
}

/**
 * The parser of a `--set` or `--vary` text: a bad one ends the command with one line naming the flag and its text
 * (`--set epochs=abc: epochs must be a positive integer, got abc`).
 */
function flagText<T>(command: Command, flag: string, parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (e) {
      const message =
        e instanceof TorchError ? e.message.slice(e.op.length + 2) : e instanceof Error ? e.message : String(e);
      return command.error(`error: ${flag} ${text}: ${message}`, { code: 'commander.invalidArgument' });
    }
  };
}

/** A base setting from `name=value`, its value read as the setting's own flag reads it. */
function assignment(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new TorchError(`expected name=value, got "${text}"`, 'sweep');
  const path = settingPath(text.slice(0, eq).trim());
  return [path, parseValue(path, text.slice(eq + 1))];
}

export function registerSweep(program: Command): void {
  const command = program.command('sweep');
  const set = flagText(command, '--set', assignment);
  const vary = flagText(command, '--vary', parseSetting);
  command
    .description(
      'train every combination of settings × seeds (resumable) and write sweeps/<name>/ with a summary and plots',
    )
    .requiredOption('--name <name>', "the sweep's folder under the sweeps directory")
    .option('--config <file.json>', 'the base recipe (a training configuration)', configFile)
    .addOption(
      new Option('--set <name=value>', 'a base setting, e.g. epochs=10 (repeatable)')
        .argParser((v: string, all: [string, unknown][]) => [...all, set(v)])
        .default([], 'none'),
    )
    .addOption(
      new Option(
        '--vary <name=v1,v2>',
        'a varied setting and its values, the first the baseline, e.g. ' +
          'boundary=zeros,reflect or twist=0,0,0:1,0,0 (":" separates values that hold commas; repeatable)',
      )
        .argParser((v: string, all: SweepSetting[]) => [...all, vary(v)])
        .default([], 'none'),
    )
    .addOption(
      new Option('--seeds <list>', 'seeds of every combination')
        .argParser((v: string) => v.split(',').map((x) => nonNegativeInt(x.trim())))
        .default([0], '0'),
    )
    .option('--jobs <n>', 'runs at once (the cores are divided between them)', positiveInt, 1)
    .option(
      '--minutes <m>',
      "a budget of training time per run, summed over its sessions (the trainer's budgetMinutes): a run ends as " +
        'done when it is spent, for equal-time comparisons; the learning-rate schedule runs its course over the ' +
        'budget (budgetSchedule), and the epochs cap the run, so give epochs to spare',
      positiveNumber,
    )
    .option('--restart', 'start interrupted runs over instead of resuming them')
    .option(
      '--summary-only',
      "write the summary and plot of the runs as they are now, and run nothing: the sweep is the one its folder's " +
        'sweep.json records (--name and --sweeps-dir find it; the flags that say what the sweep is are not needed, ' +
        'and refused if they say another)',
    )
    .option('--sweeps-dir <dir>', 'where sweeps are written', 'sweeps')
    .action(sweep);
}

/** A duration as people read it: `45 s`, `12 min`, `2 h 05 min`. */
function duration(seconds: number): string {
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

function runEpoch({ index, total, run, metrics: m, epochs, remainingSeconds, sweepRemainingSeconds }: RunEpochEvent) {
  const left = [
    remainingSeconds > 0 ? `${duration(remainingSeconds)} to go` : '',
    sweepRemainingSeconds > 0 ? `${duration(sweepRemainingSeconds)} for the sweep` : '',
  ].filter((part) => part !== '');
  return (
    `[${index + 1}/${total}] ${run.id}: epoch ${m.epoch + 1}/${epochs}  ` +
    `train ${(m.trainAccuracy * 100).toFixed(2)}%` +
    (m.valAccuracy === null ? '' : `  val ${(m.valAccuracy * 100).toFixed(2)}%`) +
    `  ${m.seconds.toFixed(0)} s` +
    (left.length > 0 ? `  (about ${left.join(', ')})` : '')
  );
}

const runEnd = (e: RunEvent) =>
  `[${e.index + 1}/${e.total}] ${e.status} ${e.run.id}` +
  (e.status === 'done' && e.finalAccuracy != null ? `: ${(e.finalAccuracy * 100).toFixed(2)}%` : '') +
  (e.status === 'failed' ? ` (exit ${e.exitCode}; see ${e.run.logPath})` : '') +
  ` in ${e.seconds!.toFixed(0)} s`;

/** The flags that say each part of what a sweep is. */
const SPEC_FLAGS = { base: ['--config', '--set'], settings: ['--vary'], minutes: ['--minutes'] } as const;

/**
 * With --summary-only, the sweep is the one its sweep.json records: flags that say what it is may be given (the
 * sweep's own command with --summary-only added), but must say the same; other seeds are not summarized.
 */
function checkSummaryFlags(flags: SweepFlags, command: Command, base: Recipe): void {
  const given = (flag: string) => command.getOptionValueSource(flag.slice(2)) === 'cli';
  const recorded = recordedSweep(flags.name, flags.sweepsDir);
  const differ = specDifferences(recorded, {
    ...(SPEC_FLAGS.base.some(given) ? { base } : {}),
    ...(given('--vary') ? { settings: flags.vary } : {}),
    ...(given('--minutes') ? { minutes: flags.minutes } : {}),
  });
  if (differ.length > 0) {
    const named = differ.flatMap((part) => SPEC_FLAGS[part].filter(given));
    throw new TorchError(
      `--summary-only summarizes the sweep ${join(flags.sweepsDir, flags.name, 'sweep.json')} records, and ` +
        `${named.join(', ')} ${named.length > 1 ? 'say' : 'says'} another; give that sweep's own flags, or only ` +
        '--name (and --sweeps-dir)',
      'sweep',
    );
  }
  if (given('--seeds') && flags.seeds.join(',') !== recorded.seeds.join(',')) {
    console.log(`--summary-only summarizes the seeds the sweep records, ${recorded.seeds.join(',')}, not --seeds`);
  }
}

async function sweep(flags: SweepFlags, command: Command): Promise<void> {
  const base = flags.set.reduce((recipe, [path, value]) => withSetting(recipe, path, value), flags.config ?? {});
  if (flags.summaryOnly) checkSummaryFlags(flags, command, base);
  const controller = new AbortController();
  const release = stopOnSignals(
    controller,
    'stopping the running trainings at a checkpoint (run the same command to continue)',
  );
  try {
    const result = await runSweep({
      name: flags.name,
      base,
      settings: flags.vary,
      seeds: flags.seeds,
      minutes: flags.minutes ?? null,
      sweepsDir: flags.sweepsDir,
      jobs: flags.jobs,
      restart: flags.restart ?? false,
      summaryOnly: flags.summaryOnly ?? false,
      signal: controller.signal,
      onRunStart: (e) => console.log(`[${e.index + 1}/${e.total}] ${e.resume ? 'resuming' : 'starting'} ${e.run.id}`),
      onRunEpoch: (e) => console.log(runEpoch(e)),
      onRunEnd: (e) => console.log(runEnd(e)),
    });
    if (result.skipped > 0) console.log(`${result.skipped} runs were already done`);
    await plotSweep(result.summary);
    console.log(readFileSync(`${result.plan.dir}/summary.md`, 'utf8'));
    console.log(`written: ${result.plan.dir}/ (summary.md, summary.csv, summary.json, runs.csv, accuracy.png)`);
    if (result.failed.length > 0) {
      console.error(
        `${result.failed.length} runs failed: ${result.failed.map((f) => `${f.id} (${f.log})`).join(', ')}`,
      );
      process.exitCode = 1;
    } else if (result.interrupted) {
      process.exitCode = 130;
    }
  } finally {
    release();
  }
}
