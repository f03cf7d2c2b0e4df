/**
 * State dicts: named tensors as weight files hold them, and the check that one fits a model.
 * @module
 */
import type { DType } from '../tensor/dtype.js';
import { TorchError } from '../tensor/errors.js';
import { type Shape, Tensor } from '../tensor/tensor.js';

/** Named tensors: a Map (kept in its order) or a plain object (in property order). */
export type TensorDict = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Tensor) return 'a disposed tensor';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'object'}`;
  return `a ${typeof value}`;
}

/**
 * The entries of `tensors`, checked: string names and live tensors. Errors name every bad entry.
 * @internal
 */
export function tensorEntries(tensors: TensorDict, op: string): [string, Tensor][] {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors) || tensors instanceof Tensor) {
    throw new TorchError(`expected a Map or an object of named tensors, got ${describe(tensors)}`, op);
  }
  const entries: [unknown, unknown][] = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const bad: string[] = [];
  for (const [name, value] of entries) {
    if (typeof name !== 'string') bad.push(`the key ${String(name)} is ${describe(name)}, not a string`);
    else if (!(value instanceof Tensor) || value.isDisposed) bad.push(`"${name}" is ${describe(value)}, not a tensor`);
  }
  if (bad.length > 0) throw new TorchError(`cannot save: ${bad.join('; ')}`, op);
  return entries as [string, Tensor][];
}

/** What a model expects of one entry of a state dict. */
export interface TensorSpec {
  shape: Shape;
  dtype: DType;
}

/** A tensor whose shape differs from the model's. */
export interface ShapeMismatch {
  name: string;
  expected: number[];
  given: number[];
}

/** A tensor whose element type differs from the model's (loading converts it; not an error). */
export interface DTypeChange {
  name: string;
  expected: DType;
  given: DType;
}

/** How a state dict compares with what a model expects. */
export interface StateDictReport {
  /** Names the model has and the state dict lacks. */
  missing: string[];
  /** Names the state dict has and the model lacks. */
  unexpected: string[];
  /** Names in both whose shapes differ. */
  shapeMismatches: ShapeMismatch[];
  /** Names in both whose dtypes differ (loading converts them, as PyTorch's `copy_` does). */
  dtypeChanges: DTypeChange[];
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** The report as lines of text. */
export function formatStateDictReport(report: StateDictReport): string[] {
  const lines: string[] = [];
  const list = (title: string, items: string[]): void => {
    if (items.length > 0) lines.push(`${title} (${items.length}): ${items.join(', ')}`);
  };
  list('missing keys', report.missing);
  list('unexpected keys', report.unexpected);
  list(
    'shape mismatches',
    report.shapeMismatches.map((m) => `${m.name}: model ${shapeText(m.expected)}, file ${shapeText(m.given)}`),
  );
  return lines;
}

/**
 * Compares a state dict with what a model expects, the way PyTorch's `load_state_dict` does.
 *
 * Shape mismatches are always an error; missing and unexpected keys are errors when `strict`
 * (the default), and only reported otherwise. Differing dtypes are reported, never an error.
 *
 * @param expected each name the model holds with its shape and dtype
 * @param given the state dict to load
 * @returns the report (everything empty when the state dict fits exactly)
 * @throws TorchError listing every missing key, unexpected key and shape mismatch (both shapes)
 * @example
 * checkStateDict(new Map([['fc.weight', { shape: [3, 4], dtype: 'float32' }]]), loadTorch('fc.pt'));
 */
export function checkStateDict(
  expected: ReadonlyMap<string, TensorSpec>,
  given: ReadonlyMap<string, Tensor>,
  { strict = true }: { strict?: boolean } = {},
): StateDictReport {
  const op = 'checkStateDict';
  const report: StateDictReport = { missing: [], unexpected: [], shapeMismatches: [], dtypeChanges: [] };
  for (const [name, spec] of expected) {
    const t = given.get(name);
    if (t === undefined) {
      report.missing.push(name);
      continue;
    }
    if (!(t instanceof Tensor) || t.isDisposed) {
      throw new TorchError(`"${name}" of the state dict is ${describe(t)}, not a tensor`, op);
    }
    const shape = t.shape;
    if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
      report.shapeMismatches.push({ name, expected: [...spec.shape], given: shape });
    }
    if (t.dtype !== spec.dtype) report.dtypeChanges.push({ name, expected: spec.dtype, given: t.dtype });
  }
  for (const name of given.keys()) if (!expected.has(name)) report.unexpected.push(name);

  const fatal =
    report.shapeMismatches.length > 0 || (strict && (report.missing.length > 0 || report.unexpected.length > 0));
  if (fatal) {
    const shown = strict ? report : { ...report, missing: [], unexpected: [] };
    throw new TorchError(`the state dict does not fit the model:\n  ${formatStateDictReport(shown).join('\n  ')}`, op);
  }
  return report;
}
