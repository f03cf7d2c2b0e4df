/**
 * The one error type of the tensor floor. libtorch's own errors arrive as TorchError (the addon
 * constructs this class), and so do the checks pdenet makes in TypeScript before calling native code.
 * @module
 */
import { native } from '../native/binding.js';

/** An operation rejected its input or failed inside libtorch. */
export class TorchError extends Error {
  /** The operation that failed, e.g. `aten::conv2d` or `tensor`. */
  readonly op: string;

  constructor(message: string, op: string) {
    super(`${op}: ${message}`);
    this.name = 'TorchError';
    this.op = op;
  }
}

// libtorch's errors are thrown as this class by the addon.
native.setErrorClass(TorchError);

/** Throws a TorchError for `op` unless `condition` holds. */
export function check(condition: unknown, op: string, message: string | (() => string)): asserts condition {
  if (!condition) throw new TorchError(typeof message === 'string' ? message : message(), op);
}

/** Throws a TorchError for `op` unless `options` is an options object (or undefined, for the defaults). */
export function checkOptions(options: unknown, op: string): void {
  check(
    options === undefined || (typeof options === 'object' && options !== null),
    op,
    () => `options must be an object, got ${describe(options)}`,
  );
}

/** A value as an error message shows it. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
