/**
 * The runtime: threads, seeds, CPU autocast, and what libtorch was found.
 * @module
 */
import { availableParallelism } from 'node:os';
import { buildStamp, native } from '../native/binding.js';
import { type DType, dtypeCode, dtypeFromCode } from './dtype.js';
import { check, checkOptions, describe } from './errors.js';

/**
 * Sets the number of threads libtorch uses inside each operation: at most 256 (or 4 per hardware thread
 * when that is more), since creating thousands of threads can stall or end the process.
 */
export function setNumThreads(n: number): void {
  check(
    Number.isInteger(n) && n >= 1,
    'setNumThreads',
    () => `the number of threads must be a positive integer, got ${describe(n)}`,
  );
  native.setNumThreads(n);
}

export function getNumThreads(): number {
  return native.numThreads();
}

/**
 * The thread count pdenet starts with: PDENET_NUM_THREADS, else OMP_NUM_THREADS, else every core the
 * process may use. (libtorch alone would start with 1 on some machines, halving speed.)
 */
export function defaultNumThreads(): number {
  for (const name of ['PDENET_NUM_THREADS', 'OMP_NUM_THREADS']) {
    const n = Number(process.env[name]);
    if (Number.isInteger(n) && n >= 1) return n;
  }
  return availableParallelism();
}

/** Seeds libtorch's random generators, so runs repeat exactly. */
export function manualSeed(seed: number | bigint): void {
  check(
    (typeof seed === 'bigint' || Number.isInteger(seed)) && seed >= 0,
    'manualSeed',
    () => `the seed must be a non-negative integer, got ${describe(seed)}`,
  );
  native.manualSeed(seed);
}

/**
 * Turns CPU autocast on or off: while on, matmul and convolution run in `dtype` (bfloat16) and
 * precision-sensitive operations stay in float32, as with `torch.autocast('cpu')`.
 */
export function setAutocast(enabled: boolean, dtype: DType = 'bfloat16'): void {
  native.setAutocast(enabled, dtypeCode(dtype));
}

export function isAutocastEnabled(): boolean {
  return native.autocastEnabled();
}

/** The dtype CPU autocast casts to (the last one set, also while autocast is off). */
export function getAutocastDtype(): DType {
  return dtypeFromCode(native.autocastDtype());
}

/**
 * Runs `fn` under CPU autocast (see {@link setAutocast}), restoring the previous state and dtype after. `fn` must be
 * synchronous: the state would be restored when an async one returns its promise, not when it settles.
 */
export function autocast<T>(fn: () => T, options: { dtype?: DType; enabled?: boolean } = {}): T {
  checkOptions(options, 'autocast');
  check(typeof fn === 'function', 'autocast', () => `takes a function, got ${describe(fn)}`);
  const previous = native.autocastEnabled();
  const previousDtype = native.autocastDtype();
  setAutocast(options.enabled ?? true, options.dtype ?? 'bfloat16');
  let result: T;
  try {
    result = fn();
  } finally {
    native.setAutocast(previous, previousDtype);
  }
  check(
    !(result instanceof Promise),
    'autocast',
    'takes a synchronous function; the autocast state would not hold while an async one runs',
  );
  return result;
}

/** What pdenet runs on. */
export interface BackendInfo {
  /** libtorch version compiled against. */
  libtorch: string;
  /** Where libtorch was found ("system" or "LIBTORCH") and its library folder. */
  source: string | null;
  libdir: string | null;
  cxx11Abi: number;
  mkldnn: boolean;
  cuda: boolean;
  threads: number;
}

export function backend(): BackendInfo {
  const info = native.buildInfo();
  return {
    libtorch: info.version,
    source: buildStamp?.libtorch.source ?? null,
    libdir: buildStamp?.libtorch.libdir ?? null,
    cxx11Abi: info.cxx11Abi,
    mkldnn: info.mkldnn,
    cuda: info.cuda,
    threads: native.numThreads(),
  };
}
