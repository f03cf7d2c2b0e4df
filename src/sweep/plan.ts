/**
 * A sweep's plan: every combination of the varied settings × every seed, each a run with its own
 * configuration (the base recipe, the combination's values, the seed), checked before anything runs.
 * @module
 */
import { join } from 'node:path';
import { TorchError } from '../tensor/errors.js';
import { createModel } from '../models/registry.js';
import { resolveConfig, type TrainConfig } from '../train/config.js';
import {
  formatValue,
  labelPart,
  PAUSES,
  pauseRefusal,
  type Recipe,
  shortName,
  type SweepSetting,
  withSetting,
} from './settings.js';

/** What a sweep is: written to `sweeps/<name>/sweep.json`. */
export interface SweepSpec {
  name: string;
  /** The base recipe: training settings every run shares. */
  base: Recipe;
  /** The varied settings; the first value of each is the baseline. */
  settings: SweepSetting[];
  seeds: number[];
  /**
   * A budget of training time per run in minutes (the trainer's `budgetMinutes`: summed over the run's sessions,
   * the run ends as done when it is spent), or null: the recipe's epochs.
   */
  minutes: number | null;
}

/** One combination of the varied settings' values. */
export interface Combination {
  index: number;
  values: unknown[];
  /** `twist=1,0,0 boundary=reflect` (or `base` when nothing varies). */
  label: string;
}

export interface PlannedRun {
  /** The run's folder name, e.g. `twist-1-0-0_boundary-reflect_seed-2`. */
  id: string;
  combination: number;
  seed: number;
  /** The configuration `pdenet train --config` is given. */
  config: Recipe;
  runDir: string;
  configPath: string;
  logPath: string;
}

export interface SweepPlan {
  spec: SweepSpec;
  dir: string;
  combinations: Combination[];
  /** Seed after seed, every combination within a seed: a sweep stopped early has balanced groups. */
  runs: PlannedRun[];
}

function fail(message: string): never {
  throw new TorchError(message, 'sweep');
}

function product(settings: readonly SweepSetting[]): unknown[][] {
  return settings.reduce<unknown[][]>((acc, s) => acc.flatMap((prefix) => s.values.map((v) => [...prefix, v])), [[]]);
}

const slug = (text: string) => text.replace(/[^A-Za-z0-9.+]+/g, '-').replace(/^-+|-+$/g, '') || 'x';

/** Checks a specification and lays out its runs under `<sweepsDir>/<name>/`; writes nothing. */
export function planSweep(spec: SweepSpec, sweepsDir = 'sweeps'): SweepPlan {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(spec.name))
    fail(`a sweep's name is letters, digits, ".", "_" and "-", got "${spec.name}"`);
  if (spec.seeds.length === 0 || spec.seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    fail(`seeds must be a non-empty list of non-negative integers, got ${JSON.stringify(spec.seeds)}`);
  }
  if (new Set(spec.seeds).size !== spec.seeds.length) fail(`seeds repeat: ${spec.seeds.join(',')}`);
  if (spec.minutes !== null && !(spec.minutes > 0))
    fail(`the time budget must be a positive number of minutes, got ${spec.minutes}`);
  const keys = spec.settings.map((s) => s.key);
  if (new Set(keys).size !== keys.length) fail(`a setting is varied twice: ${keys.join(', ')}`);
  for (const s of spec.settings) {
    const shown = s.values.map(formatValue);
    if (shown.length === 0) fail(`${s.key} has no values`);
    if (new Set(shown).size !== shown.length) fail(`${s.key} repeats a value: ${shown.join(' : ')}`);
  }
  const dir = join(sweepsDir, spec.name);
  const combinations = product(spec.settings).map((values, index) => ({
    index,
    values,
    label: spec.settings.map((s, k) => labelPart(s.key, values[k])).join(' ') || 'base',
  }));
  const configs = combinations.map((c) => {
    const config = spec.settings.reduce((r, s, k) => withSetting(r, s.key, c.values[k]), spec.base);
    return spec.minutes === null ? config : { ...config, budgetMinutes: spec.minutes };
  });
  combinations.forEach((c, i) => {
    const pause = PAUSES.find((key) => Number(configs[i]![key] ?? 0) !== 0);
    if (pause !== undefined) fail(`${c.label}: ${pauseRefusal(pause)}`);
    try {
      const resolved = resolveConfig(configs[i] as Partial<TrainConfig>);
      createModel(resolved.model, resolved.modelOptions).dispose();
    } catch (e) {
      fail(`${c.label}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  const runs = spec.seeds.flatMap((seed) =>
    combinations.map((c) => {
      const name = [
        ...spec.settings.map((s, k) => `${shortName(s.key)}-${slug(formatValue(c.values[k]))}`),
        `seed-${seed}`,
      ].join('_');
      const config: Recipe = { ...configs[c.index], seed, runName: name, runsDir: join(dir, 'runs') };
      return {
        id: name,
        combination: c.index,
        seed,
        config,
        runDir: join(dir, 'runs', name),
        configPath: join(dir, 'configs', `${name}.json`),
        logPath: join(dir, 'logs', `${name}.log`),
      };
    }),
  );
  const ids = runs.map((r) => r.id);
  if (new Set(ids).size !== ids.length)
    fail('two combinations give the same folder name; write their values differently');
  return { spec, dir, combinations, runs };
}
