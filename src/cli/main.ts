#!/usr/bin/env node
/**
 * The `pdenet` command line. It only parses arguments and calls the library. The environment is checked
 * before the library loads, since loading it sets libtorch's thread count from PDENET_NUM_THREADS.
 * @module
 */

/** Why PDENET_NUM_THREADS (when set) is not a thread count, or null. */
function badThreadCount(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  return /^\s*\d+\s*$/.test(value) && Number(value) >= 1
    ? null
    : `PDENET_NUM_THREADS must be a positive integer (libtorch's thread count), got ${JSON.stringify(value)}`;
}

function exitWith(message: string): never {
  console.error(`pdenet: ${message}`);
  process.exit(1);
}

const bad = badThreadCount(process.env.PDENET_NUM_THREADS);
if (bad !== null) exitWith(bad);
try {
  await import('../index.js');
} catch (e) {
  // e.g. more threads than libtorch may start
  exitWith(`PDENET_NUM_THREADS=${process.env.PDENET_NUM_THREADS ?? ''}: ${e instanceof Error ? e.message : String(e)}`);
}
const { program } = await import('./program.js');
program.parseAsync().catch((e: unknown) => {
  console.error(`pdenet: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
