/**
 * The settings a sweep varies: each a training-configuration key (`lr`, `augment.cutout`,
 * `modelOptions.boundary`, `modelOptions.rknet.integrator`) with its values, parsed from text such as
 * `boundary=zeros,reflect` or `twist=0,0,0:1,0,0`, and merged into a base recipe. A group of settings
 * (`modelOptions`, `rknet`) takes JSON objects, each value several settings at once:
 * `rknet={"integrator":"rk4"}:{"integrator":"rk1","tY":[0,0.5,1,1.5,2,2.5,3,3.5,4]}`; `recipe` is the whole recipe
 * as one group (`recipe={"epochs":7}:{"epochs":5,"modelOptions":{"twist":[0,0,1]}}`: equal-time comparisons).
 * @module
 */
import { TorchError } from '../tensor/errors.js';
import { DEFAULT_CONFIG, TRAIN_SETTINGS } from '../train/config.js';
import { type Group, isObject, type Setting, settingsOf } from '../train/settings.js';

/** One varied setting: a configuration path and the values it takes (the first is the baseline). */
export interface SweepSetting {
  key: string;
  values: unknown[];
}

/** A training configuration as a recipe file writes it: any subset of the keys, nested objects partial. */
export type Recipe = Record<string, unknown>;

/** Keys the sweep sets itself for each run. */
const OWNED = ['seed', 'runName', 'runsDir'];

/** The trainer's limits that pause a run (exit code 3, to be resumed) rather than end it: a sweep's runs never pause. */
export const PAUSES = ['maxSteps', 'maxMinutes'] as const;

/** Why a sweep refuses a pausing limit. */
export function pauseRefusal(key: string): string {
  return (
    `a sweep's runs end at their epochs or when their training time reaches --minutes (budgetMinutes); ` +
    `${key} would only pause them (exit code 3), so a sweep does not take it`
  );
}

/** Every path a sweep can vary: the training settings' table, less what the sweep sets itself and the pauses. */
export function settingPaths(): string[] {
  return settingsOf(TRAIN_SETTINGS)
    .map(([path]) => path)
    .filter(
      (path) =>
        !OWNED.includes(path) && !(PAUSES as readonly string[]).includes(path) && path !== 'modelOptions.numClasses',
    );
}

const within = (g: Group<unknown>, prefix: string): string[] =>
  Object.entries(g.entries).flatMap(([key, e]) =>
    e.kind === 'group' ? [`${prefix}${key}`, ...within(e, `${prefix}${key}.`)] : [],
  );
/** The table's groups, walked once. */
const GROUP_PATHS: readonly string[] = within(TRAIN_SETTINGS, '');

/** The paths of the table's groups of settings (`augment`, `modelOptions`, `modelOptions.rknet`, …). */
export function groupPaths(): string[] {
  return [...GROUP_PATHS];
}

/** The whole recipe as one group: its values are JSON objects of any settings (`{"epochs":7,"modelOptions":{…}}`). */
export const RECIPE = 'recipe';

/** Whether `path` names a group of settings (or the whole recipe). */
function isGroup(path: string): boolean {
  return path === RECIPE || GROUP_PATHS.includes(path);
}

/** The path of setting `key` within the group at `path`. */
const childPath = (path: string, key: string) => (path === RECIPE ? key : `${path}.${key}`);

/** Short forms: a model option (`twist`), an RKNet option (`integrator`) or group (`rknet`) by its own name. */
function shortForms(): Map<string, string> {
  return new Map(
    [...settingPaths(), ...groupPaths()]
      .filter((path) => path.startsWith('modelOptions.'))
      .map((path) => [path.slice(path.lastIndexOf('.') + 1), path] as const),
  );
}

/** The configuration path of a setting's name (a path or a short form); an unknown name is an error listing the valid ones. */
export function settingPath(name: string): string {
  if (OWNED.includes(name)) {
    throw new TorchError(
      `"${name}" is set by the sweep itself for each run (seeds: --seeds); it cannot be varied`,
      'sweep',
    );
  }
  if ((PAUSES as readonly string[]).includes(name)) throw new TorchError(pauseRefusal(name), 'sweep');
  const paths = settingPaths();
  if (paths.includes(name) || isGroup(name)) return name;
  const short = shortForms().get(name);
  if (short !== undefined) return short;
  throw new TorchError(
    `unknown setting "${name}"; the settings are ${paths.join(', ')}, the groups ${[RECIPE, ...groupPaths()].join(', ')}, ` +
      `and the short forms ${[...shortForms().keys()].join(', ')} of the model options`,
    'sweep',
  );
}

function scalar(text: string): unknown {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true';
  if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  return t;
}

function defaultAt(path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
      DEFAULT_CONFIG,
    );
}

/** The table's settings by path. */
const SETTINGS: ReadonlyMap<string, Setting<unknown>> = new Map(settingsOf(TRAIN_SETTINGS));

/**
 * One value of a setting from its text, checked by the setting's own rule: read by the setting's own parser (as
 * `pdenet train`'s flag reads it: `data=2024` a path, `noDecay=bias` a list of one), else as JSON (`[1,2]`,
 * `{"degrees":5}`) or a list (`0,1,2`) of numbers, true/false and strings, as a recipe file writes it. The twist's
 * flags take 0/1 for false/true; a setting whose default is a list takes a single value as a list of one. A group's
 * values are JSON objects of its settings.
 */
export function parseValue(path: string, text: string): unknown {
  const t = text.trim();
  const json = () => {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      throw new TorchError(`the value ${t} of ${path} is not valid JSON`, 'sweep');
    }
  };
  if (isGroup(path)) {
    const value = t.startsWith('{') ? json() : null;
    if (!isObject(value)) {
      throw new TorchError(`${path} is a group of settings; its values are JSON objects of them, got ${t}`, 'sweep');
    }
    return normalized(path, value);
  }
  const setting = SETTINGS.get(path);
  const own = setting === undefined ? undefined : ownParse(setting, t);
  if (own !== undefined && setting!.broken(own) === null) return own;
  const typed = normalized(
    path,
    t.startsWith('[') || t.startsWith('{') ? json() : t.includes(',') ? t.split(',').map(scalar) : scalar(t),
  );
  if (setting === undefined || setting.broken(typed) === null) return typed;
  const broken = setting.broken(own ?? typed)!;
  throw new TorchError(
    `${path} must be ${setting.flagRule ?? (typeof broken === 'string' ? broken : broken.rule)}, got ${t}`,
    'sweep',
  );
}

/** `text` read by the setting's own parser (undefined: not a text it reads). */
function ownParse(setting: Setting<unknown>, text: string): unknown {
  try {
    return setting.parse(text);
  } catch {
    return undefined;
  }
}

/** A value as the configuration takes it: the twist's 0/1 flags as booleans, a list's single value as a list. */
function normalized(path: string, value: unknown): unknown {
  if (isGroup(path) && isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, normalized(childPath(path, key), v)]));
  }
  if (path === 'modelOptions.twist' || path === 'modelOptions.twistable') {
    const flag = (v: unknown) => (v === 0 || v === 1 ? v === 1 : v);
    value = Array.isArray(value) ? value.map(flag) : flag(value);
  }
  if (Array.isArray(defaultAt(path)) && !Array.isArray(value)) return [value];
  return value;
}

/**
 * A setting from `name=v1,v2` or, when a value itself holds commas, `name=v1:v2` (`twist=0,0,0:1,0,0` is two
 * values, each a flag per stage).
 */
export function parseSetting(text: string): SweepSetting {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) {
    throw new TorchError(
      `a varied setting is name=value1,value2 (or name=v1:v2 when values hold commas), got "${text}"`,
      'sweep',
    );
  }
  const key = settingPath(text.slice(0, eq).trim());
  const list = text.slice(eq + 1);
  const colons = splitOutside(list, ':');
  const parts = colons.length > 1 ? colons : splitOutside(list, ',');
  if (parts.some((p) => p.trim() === '')) throw new TorchError(`${key} has an empty value in "${list}"`, 'sweep');
  const value = (part: string) => {
    try {
      return parseValue(key, part);
    } catch (e) {
      // Split at commas, a value that holds commas (a list) fell apart: the whole text is one valid value.
      if (colons.length > 1 || parts.length === 1 || !(e instanceof TorchError) || !isValue(key, list)) throw e;
      throw new TorchError(
        `${e.message.slice(e.op.length + 2)} (values that hold commas are separated by ":", as in name=v1:v2)`,
        'sweep',
      );
    }
  };
  return { key, values: parts.map(value) };
}

/** Whether `text` is one valid value of the setting at `path`. */
function isValue(path: string, text: string): boolean {
  try {
    parseValue(path, text);
    return true;
  } catch {
    return false;
  }
}

/** `text` split at each `separator` outside JSON brackets and strings. */
function splitOutside(text: string, separator: string): string[] {
  const parts: string[] = [];
  let [depth, quoted, start] = [0, false, 0];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === separator && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  return [...parts, text.slice(start)];
}

/**
 * A copy of `recipe` with the value at `path` set (nested objects copied, never shared); a group's value (an
 * object of its settings) sets each of them, leaving the group's other settings as they were.
 */
export function withSetting(recipe: Recipe, path: string, value: unknown): Recipe {
  if (isGroup(path) && isObject(value)) {
    return Object.entries(value).reduce((r, [key, v]) => withSetting(r, childPath(path, key), v), recipe);
  }
  const [head, ...rest] = path.split('.');
  if (rest.length === 0) return { ...recipe, [head!]: value };
  const inner = recipe[head!];
  const object = inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Recipe) : {};
  return { ...recipe, [head!]: withSetting(object, rest.join('.'), value) };
}

/** A value as the command line would write it: lists joined by commas, flags as 0/1 for the twist. */
export function formatValue(value: unknown): string {
  if (Array.isArray(value))
    return value.map((v) => (typeof v === 'boolean' ? (v ? '1' : '0') : formatValue(v))).join(',');
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * A value as a table or a legend shows it: a group's object as its settings (`twist=0,0,1 twistField=conformal`),
 * anything else as {@link formatValue} writes it.
 */
export function describeValue(path: string, value: unknown): string {
  if (isGroup(path) && isObject(value)) {
    return Object.entries(value)
      .map(([key, v]) =>
        isGroup(childPath(path, key)) && isObject(v)
          ? describeValue(childPath(path, key), v)
          : `${key}=${formatValue(v)}`,
      )
      .join(' ');
  }
  return formatValue(value);
}

/** A combination's part for one setting: `boundary=reflect`, or a group's settings alone. */
export function labelPart(path: string, value: unknown): string {
  return isGroup(path) ? describeValue(path, value) : `${shortName(path)}=${formatValue(value)}`;
}

/** The last part of a path: the name a table column or a folder uses. */
export function shortName(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}
