/**
 * Parsers for command-line values: each turns a string into a value or throws commander's
 * InvalidArgumentError with one clear line.
 * @module
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { checkSettings, parseStageFlags, type TrainOverrides } from '../train/config.js';

/** The number a flag's text writes; empty or blank text is no number (Number('') would be 0). */
function numberOf(value: string): number {
  return value.trim() === '' ? NaN : Number(value);
}

export function positiveInt(value: string): number {
  const n = numberOf(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = numberOf(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return n;
}

export function positiveNumber(value: string): number {
  const n = numberOf(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

/** "true", "false", or per stage "1,1,1,0" / "true,true,false". */
export function twistFlags(value: string): boolean | boolean[] {
  const flags = parseStageFlags(value);
  if (flags === undefined)
    throw new InvalidArgumentError(`expected true/false or a per-stage list such as 1,1,1,0, got "${value}"`);
  return flags;
}

/** Where a JSON syntax error is, as "line L, column C" (from the parser's "at position N"). */
function jsonPosition(text: string, message: string): string {
  const at = /position (\d+)/.exec(message);
  if (at === null) return '';
  const before = text.slice(0, Number(at[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}

/** A JSON file of training settings, each checked (unknown keys refused with the setting they most likely meant). */
export function configFile(path: string): TrainOverrides {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    throw new InvalidArgumentError(
      `not valid JSON${jsonPosition(text, message)}: ${message.replace(/ in JSON at position \d+.*$/, '')}`,
    );
  }
  try {
    checkSettings(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message.replace(/^config: /, ''));
  }
  return value as TrainOverrides;
}
