/**
 * Parsers for command-line values: each turns a string into a value or throws commander's
 * InvalidArgumentError with one clear line.
 * @module
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

export function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`expected a number in [0, 1), got "${value}"`);
  return n;
}

export function choice<T extends string>(options: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!options.includes(value as T)) throw new InvalidArgumentError(`expected one of ${options.join(', ')}, got "${value}"`);
    return value as T;
  };
}

/** "true", "false", or per stage "1,1,1,0" / "true,true,false". */
export function twistFlags(value: string): boolean | boolean[] {
  const one = (v: string): boolean => {
    if (['1', 'true', 'on', 'yes'].includes(v)) return true;
    if (['0', 'false', 'off', 'no'].includes(v)) return false;
    throw new InvalidArgumentError(`expected true/false or a per-stage list such as 1,1,1,0, got "${value}"`);
  };
  return value.includes(',') ? value.split(',').map((v) => one(v.trim())) : one(value.trim());
}

/** A list of positive integers: "60,80,100". */
export function intList(value: string): number[] {
  return value.split(',').map((v) => positiveInt(v.trim()));
}

/** A list of increasing numbers: "0,1,2,3,4". */
export function numberList(value: string): number[] {
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.some((v) => !Number.isFinite(v))) throw new InvalidArgumentError(`expected numbers separated by commas, got "${value}"`);
  return list;
}

/** A JSON file's object. */
export function jsonFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InvalidArgumentError(`cannot read ${path}`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new InvalidArgumentError(`${path} is not a JSON object`);
  }
}
