/**
 * Taking samples side by side: every side of a comparison runs in turn, the side that goes first rotating,
 * so that noise on the machine hits all sides alike.
 * @module
 */
import { performance } from 'node:perf_hooks';

/** Progress goes to stderr, so that stdout holds only the report. */
export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Wall time of one call of `fn`, in ms. */
export function msOf(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

/**
 * Runs each side once, in order, starting with side `first` (modulo their number) and going round: called with
 * `first` = 0, 1, 2, … no side always goes first or always follows the same one.
 */
export async function inTurn(sides: readonly (() => unknown)[], first: number): Promise<void> {
  for (let k = 0; k < sides.length; k++) await sides[(first + k) % sides.length]!();
}

/** `repeats` samples of each side, taken in turn (see {@link inTurn}); the samples of side i are element i. */
export async function interleaved<T>(repeats: number, sides: readonly (() => T | Promise<T>)[]): Promise<T[][]> {
  const samples = sides.map((): T[] => []);
  const recording = sides.map((side, i) => async () => {
    samples[i]!.push(await side());
  });
  for (let rep = 0; rep < repeats; rep++) await inTurn(recording, rep);
  return samples;
}
