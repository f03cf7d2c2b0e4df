/**
 * Settings described once. A {@link Setting} holds everything about one value of a configuration: its type
 * and range, its default, its help, its command-line flag and whether a resumed run may change it. A
 * {@link Group} nests settings (`augment.crop`). From a table of them come the configuration's type
 * ({@link ValuesOf}), its defaults ({@link defaultsOf}), its checking ({@link resolveGroup}) and the flags of a
 * command line ({@link flagsOf}) — in the spirit of Hugging Face's `TrainingArguments` and `HfArgumentParser`.
 *
 * The table of training settings is in config.ts.
 * @module
 */

/** Fields every setting may give. */
export interface SettingOptions {
  /** One line for `--help`. */
  help: string;
  /**
   * Whether a resumed run may take a new value, and why (see resume.ts): `session`, when this session stops (its
   * own, not inherited from the run); `free`, where the run writes and how it evaluates; `length`, the number of
   * epochs, where nothing depends on the run's length. Every other setting is the checkpoint's.
   */
  resumable?: ResumeRule;
  /** The command-line flag without its dashes (default: the key in kebab-case). */
  flag?: string;
  /** The flag's argument as the help names it (default: by kind, e.g. "n" for integers). */
  arg?: string;
  /** The default as the help shows it (default: the value itself). */
  defaultText?: string;
  /** The value must fit the images: be below (`below`) or at most (`atMost`) their height and width. */
  fitsImages?: 'below' | 'atMost';
}

/** One setting. */
export interface Setting<T> extends SettingOptions {
  readonly kind: 'setting';
  readonly default: T;
  /** The valid values, for settings that are one of a list. */
  readonly choices?: readonly string[];
  /** The words a flag takes for the values (e.g. `--flip random` for true); the flag then takes only these. */
  readonly words?: Readonly<Record<string, T>>;
  /** A switch: `--flag` and `--no-flag`, no argument. */
  readonly isSwitch?: boolean;
  /**
   * What a valid value is, as in "must be <rule>" (e.g. "a number in [0, 1]"), or null when `value` is valid;
   * for a value that holds values (a map), the part that breaks its rule.
   */
  broken(value: unknown): string | Broken | null;
  /** What a valid flag text is, when it differs from {@link broken}'s rule. */
  readonly flagRule?: string;
  /** A flag's text as a value (undefined: not a valid text; {@link broken} or flagRule says what is). */
  parse(text: string): T | undefined;
}

/** The part of a value that breaks a rule: where it is below the setting (e.g. `["whiten.bias"]`), the rule and its value. */
export interface Broken {
  at: string;
  rule: string;
  value: unknown;
}

/** Settings nested under one key. A partial group holds only the values given (its defaults belong to someone else). */
export interface Group<T> {
  readonly kind: 'group';
  readonly entries: Readonly<Record<string, Entry>>;
  readonly partial: boolean;
  /** Phantom: the group's value type. */
  readonly value?: T;
}

export type Entry = Setting<unknown> | Group<unknown>;

/** The value type of a table of entries. */
export type ValuesOf<E> = {
  -readonly [K in keyof E]: E[K] extends Setting<infer T> ? T : E[K] extends Group<infer G> ? G : never;
};

/** The value type of a group. */
export type GroupValue<G> = G extends Group<infer T> ? T : never;

/** A group of settings whose value is an object of all of them, each defaulted. */
/** Why a resumed run may change a setting (see {@link Setting.resumable}). */
export type ResumeRule = 'session' | 'free' | 'length';

export function group<E extends Record<string, Entry>>(entries: E): Group<ValuesOf<E>> {
  return { kind: 'group', entries, partial: false };
}

/** A group whose value (of type `T`) holds only the entries given, e.g. a model's options that the model defaults. */
export function partialGroup<T>(entries: { [K in keyof T]?: Entry }): Group<T> {
  return { kind: 'group', entries: entries as Record<string, Entry>, partial: true };
}

/** A value as an error message shows it. */
export function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function make<T>(fields: Omit<Setting<T>, 'kind' | keyof SettingOptions>, options: SettingOptions): Setting<T> {
  return { kind: 'setting', ...fields, ...options };
}

function numberOf(text: string): number {
  return text.trim() === '' ? NaN : Number(text);
}

/** An integer in [min, max]. */
export function int(value: number, min: number, max: number, options: SettingOptions): Setting<number> {
  const named = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
  const broken = (v: unknown) =>
    !Number.isInteger(v) || (v as number) < min ? named : (v as number) > max ? `at most ${max}` : null;
  return make({ default: value, broken, parse: (t) => numberOf(t) }, { arg: 'n', ...options });
}

/** A number in [min, max]. */
export function num(value: number, min: number, max: number, options: SettingOptions): Setting<number> {
  const broken = (v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? null : `a number in [${min}, ${max}]`;
  return make({ default: value, broken, parse: numberOf }, { arg: 'x', ...options });
}

/** True or false: a switch on the command line (`--flag`, `--no-flag`). */
export function bool(value: boolean, options: SettingOptions): Setting<boolean> {
  return make(
    {
      default: value,
      isSwitch: true,
      broken: (v) => (typeof v === 'boolean' ? null : 'true or false'),
      parse: (t) => (t === 'true' ? true : t === 'false' ? false : undefined),
    },
    options,
  );
}

/** One of `choices`. */
export function choice<C extends string>(choices: readonly C[], value: C, options: SettingOptions): Setting<C> {
  return make(
    {
      default: value,
      choices,
      broken: (v) => (choices.includes(v as C) ? null : `one of ${choices.join(', ')}`),
      parse: (t) => t as C,
    },
    { arg: 'name', ...options },
  );
}

/** A string; `nonEmpty` says what it must be when it may not be empty (e.g. "a path or \"synthetic\""). */
export function text(value: string, options: SettingOptions & { nonEmpty?: string }): Setting<string> {
  const { nonEmpty, ...rest } = options;
  const broken = (v: unknown) =>
    typeof v !== 'string' ? (nonEmpty ?? 'a string') : v === '' && nonEmpty ? nonEmpty : null;
  return make({ default: value, broken, parse: (t) => t }, { arg: 'text', ...rest });
}

/** A comma-separated list on the command line: "60,80,100". */
function list<T>(
  value: T[] | undefined,
  rule: string,
  valid: (items: unknown[]) => boolean,
  item: (t: string) => T,
  options: SettingOptions,
): Setting<T[]> {
  return make(
    {
      default: value as T[],
      broken: (v) => (Array.isArray(v) && valid(v) ? null : rule),
      parse: (t) => t.split(',').map((s) => item(s.trim())),
    },
    { arg: 'list', ...options },
  );
}

/** A list of integers ≥ min. */
export function intList(
  value: number[] | undefined,
  min: number,
  rule: string,
  options: SettingOptions,
): Setting<number[]> {
  return list(
    value,
    rule,
    (items) => items.every((v) => Number.isInteger(v) && (v as number) >= min),
    numberOf,
    options,
  );
}

/** A list of at least two strictly increasing numbers (time points). */
export function increasingList(value: number[] | undefined, options: SettingOptions): Setting<number[]> {
  const valid = (items: unknown[]) =>
    items.length >= 2 &&
    items.every((v, i) => typeof v === 'number' && Number.isFinite(v) && (i === 0 || v > (items[i - 1] as number)));
  return list(value, 'a list of at least two strictly increasing numbers', valid, numberOf, options);
}

/** A map of names to integers ≥ min (`rule` says what the map is). */
export function intMap(
  value: Record<string, number>,
  min: number,
  rule: string,
  parse: (text: string) => Record<string, number> | undefined,
  options: SettingOptions & { flagRule?: string },
): Setting<Record<string, number>> {
  const item = int(0, min, Number.MAX_SAFE_INTEGER, options);
  const broken = (v: unknown): string | Broken | null => {
    if (!isObject(v)) return rule;
    for (const [name, n] of Object.entries(v)) {
      const r = item.broken(n);
      if (r !== null) return { at: `[${JSON.stringify(name)}]`, rule: r as string, value: n };
    }
    return null;
  };
  const { flagRule, ...rest } = options;
  return make({ default: value, broken, parse, ...(flagRule ? { flagRule } : {}) }, rest);
}

/** A setting of its own kind: its rule, its check and its flag's parser. */
export function custom<T>(
  value: T,
  rule: string,
  valid: (v: unknown) => boolean,
  parse: (text: string) => T | undefined,
  options: SettingOptions & { words?: Record<string, T>; flagRule?: string },
): Setting<T> {
  const { words, flagRule, ...rest } = options;
  return make(
    {
      default: value,
      broken: (v) => (valid(v) ? null : rule),
      parse,
      ...(words ? { words } : {}),
      ...(flagRule ? { flagRule } : {}),
    },
    rest,
  );
}

/** A setting's failure to hold a valid value, as one line naming it ("lr must be a number in [1e-8, 100], got 0"). */
export class SettingError extends Error {}

/** Whether `v` is a plain object of settings (a group's value), not null, a list or a single value. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function copy<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

/** The defaults of a group's settings (a partial group's: empty). */
export function defaultsOf<T>(g: Group<T>): T {
  if (g.partial) return {} as T;
  return Object.fromEntries(
    Object.entries(g.entries).map(([key, e]) => [key, e.kind === 'group' ? defaultsOf(e) : copy(e.default)]),
  ) as T;
}

/** Every setting under `g` with its dotted key, in the table's order. */
export function settingsOf(g: Group<unknown>, prefix = ''): [string, Setting<unknown>][] {
  return Object.entries(g.entries).flatMap(([key, e]) =>
    e.kind === 'group' ? settingsOf(e, `${prefix}${key}.`) : [[`${prefix}${key}`, e] as [string, Setting<unknown>]],
  );
}

/** Edit distance, for suggesting the setting a misspelt key meant. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/** The key of `root` that `key` (found under `prefix`) most likely meant, or null. */
function suggestion(root: Group<unknown>, prefix: string, key: string): string | null {
  const leaf = (path: string) => path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  const paths = settingsOf(root).map(([path]) => path);
  const groups = Object.keys(root.entries);
  let best: [string, number] | null = null;
  for (const path of [...paths, ...groups]) {
    const d = Math.min(
      distance(key.toLowerCase(), leaf(path)),
      distance(`${prefix}${key}`.toLowerCase(), path.toLowerCase()),
    );
    if (best === null || d < best[1]) best = [path, d];
  }
  return best !== null && best[1] <= Math.max(1, Math.floor(key.length / 3)) ? best[0] : null;
}

/**
 * The values `given` for the group `g` (under the dotted `prefix`), each checked, the rest defaulted; a
 * missing or undefined value takes its default. Throws a {@link SettingError} naming the first bad value,
 * or an unknown key with the key it most likely meant. `root` is the whole table, for suggestions.
 */
export function resolveGroup<T>(g: Group<T>, given: unknown, prefix = '', root: Group<unknown> = g): T {
  const name = prefix.slice(0, -1);
  if (!isObject(given)) {
    const keys = Object.keys(g.entries);
    throw new SettingError(
      `${name || 'the settings'} must be an object of ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', …' : ''}` +
        `, got ${show(given)}`,
    );
  }
  for (const key of Object.keys(given)) {
    if (key in g.entries) continue;
    const meant = suggestion(root, prefix, key);
    throw new SettingError(
      `unknown setting "${prefix}${key}"` +
        (meant ? `; did you mean "${meant}"?` : ' (pdenet train --help lists the settings, each as a flag)'),
    );
  }
  const keys = g.partial ? Object.keys(given).filter((k) => given[k] !== undefined) : Object.keys(g.entries);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const entry = g.entries[key]!;
    const value = given[key];
    if (entry.kind === 'group') {
      out[key] = resolveGroup(entry, value ?? {}, `${prefix}${key}.`, root);
    } else if (value === undefined) {
      out[key] = copy(entry.default);
    } else {
      const broken = entry.broken(value);
      if (typeof broken === 'string') throw new SettingError(`${prefix}${key} must be ${broken}, got ${show(value)}`);
      if (broken !== null)
        throw new SettingError(`${prefix}${key}${broken.at} must be ${broken.rule}, got ${show(broken.value)}`);
      out[key] = copy(value);
    }
  }
  return out as T;
}

/** One command-line flag of a setting. */
export interface Flag {
  /** The dotted key of the setting. */
  key: string;
  setting: Setting<unknown>;
  /** e.g. "--batch-size <n>" (a switch: "--channels-last"). */
  flags: string;
  /** The help line, with the default. */
  help: string;
  /** The name the parsed value has in commander's options object, e.g. "batchSize". */
  attribute: string;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The flags of the settings of `g`, in the table's order. */
export function flagsOf(g: Group<unknown>): Flag[] {
  return settingsOf(g).map(([key, setting]) => {
    const name = setting.flag ?? kebab(key.slice(key.lastIndexOf('.') + 1));
    const shown =
      setting.defaultText ??
      (setting.words
        ? Object.keys(setting.words).find((w) => JSON.stringify(setting.words![w]) === JSON.stringify(setting.default))
        : Array.isArray(setting.default)
          ? setting.default.join(',')
          : typeof setting.default === 'string'
            ? setting.default
            : show(setting.default));
    return {
      key,
      setting,
      flags: setting.isSwitch ? `--${name}` : `--${name} <${setting.arg ?? 'value'}>`,
      help: `${setting.help} (default: ${shown})`,
      attribute: camel(name),
    };
  });
}

/** `value` at the dotted `key` of `target`, creating the objects on the way. */
export function setAt(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let at = target;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(at[part])) at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  at[parts.at(-1)!] = value;
}

/** The value at the dotted `key` of `source` (undefined when absent). */
export function getAt(source: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((at, part) => (isObject(at) ? at[part] : undefined), source);
}
