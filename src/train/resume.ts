/**
 * What `--resume` may change. A resumed run continues with the configuration in its checkpoint; a setting
 * given again with the same value is fine, a changed one is applied when that is sound and refused with
 * one line otherwise.
 * @module
 */
import { TorchError } from '../tensor/errors.js';
import { DEFAULT_CONFIG, resolveConfig, TRAIN_SETTINGS, type TrainConfig, type TrainOverrides } from './config.js';
import { isObject, type ResumeRule, settingsOf, show } from './settings.js';

/**
 * The settings a resume may change, as the settings' table marks them. `session`: when this session stops — its own, not inherited from the run
 * (default when not given again). `free`: where the run is written and how it evaluates — none of them changes a
 * training step. `length`: the number of epochs, which may change (to no
 * fewer than the epochs already run) when nothing depends on the run's length: a learning-rate schedule
 * that is not stretched over the run (constant, multistep, rise-decay, step with milestones) and no
 * lookahead. Every other setting stays the run's own.
 */
export const RESUME_CHANGES: Readonly<Partial<Record<keyof TrainConfig, ResumeRule>>> = Object.fromEntries(
  settingsOf(TRAIN_SETTINGS).flatMap(([key, setting]) =>
    setting.resumable === undefined ? [] : [[key, setting.resumable]],
  ),
);

/** The schedules whose learning rate at a step does not depend on the run's length. */
const LENGTH_FREE_SCHEDULES: readonly TrainConfig['schedule'][] = ['constant', 'multistep', 'rise-decay', 'step'];

function lengthMayChange(config: TrainConfig): string | null {
  if (
    !LENGTH_FREE_SCHEDULES.includes(config.schedule) ||
    (config.schedule === 'step' && config.milestones.length === 0)
  ) {
    return `the ${config.schedule} schedule is stretched over the run's length`;
  }
  return config.lookahead > 0 ? "lookahead is scheduled over the run's length" : null;
}

/** A setting as a checkpoint stores it (JSON): an entry whose value is undefined is no entry. */
const asStored = (value: unknown) => JSON.stringify(value);

/**
 * `base` with the values `over` gives, group by group at every depth (modelOptions.rknet, augment.affine, plateau):
 * a setting given again keeps the rest of its group. Lists and single values are replaced whole.
 */
function mergeSettings(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isObject(base) || !isObject(over)) return over;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) merged[key] = mergeSettings(base[key], value);
  return merged;
}

/**
 * The configuration of a resumed run: its own (`stored`, from its checkpoint) with the `overrides` a resume
 * may apply; a change it may not make is an error naming the setting. `epochsRun`: the epochs already run.
 */
export function resumedConfig(stored: TrainConfig, overrides: TrainOverrides, epochsRun: number): TrainConfig {
  const session = Object.fromEntries(
    Object.entries(RESUME_CHANGES)
      .filter(([, rule]) => rule === 'session')
      .map(([key]) => [key, DEFAULT_CONFIG[key as keyof TrainConfig]]),
  );
  const config = resolveConfig(mergeSettings({ ...stored, ...session }, overrides) as Partial<TrainConfig>);
  const before: TrainConfig = { ...DEFAULT_CONFIG, ...stored };
  for (const key of Object.keys(config) as (keyof TrainConfig)[]) {
    if (asStored(config[key]) === asStored(before[key])) continue;
    const rule = RESUME_CHANGES[key];
    const change = `${key} from ${show(before[key])} to ${show(config[key])}`;
    if (rule === 'length') {
      const why = lengthMayChange(config);
      if (why !== null) throw new TorchError(`--resume cannot change ${change}: ${why}`, 'train');
      if (config.epochs < epochsRun)
        throw new TorchError(`--resume cannot change ${change}: ${epochsRun} epochs have run`, 'train');
    } else if (rule !== 'free' && rule !== 'session') {
      throw new TorchError(
        `--resume continues a run as it was configured and cannot change ${change} ` +
          `(a resume may change ${Object.keys(RESUME_CHANGES).join(', ')})`,
        'train',
      );
    }
  }
  return config;
}
