/**
 * Flags of the bench scripts, checked before anything runs: a bad value ends the script with one clear line
 * (exit code 2).
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The value of `--flag` as a positive integer, or exit 2 naming the flag and what it got. */
export function positiveInteger(flag: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isInteger(n) || n < 1) {
    console.error(`--${flag} must be a positive integer, got ${text === undefined ? 'nothing' : JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

/** `parseArgs(config)`, or exit 2 with its message and `usage` for an unknown flag or a missing value. */
export function parseFlags<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${usage}`);
    process.exit(2);
  }
}
