/**
 * The native floor of pdenet, declared once: every function of the addon (csrc/addon.cc) with its
 * TypeScript type, and the loader that finds the addon and says how to fix a failed load.
 *
 * src/tensor/ wraps it (tensors, autograd, the runtime) for everything above. Above it, only src/io/ (weight
 * files read straight into tensors) and src/distributed/ (c10d's groups, collectives and reducer) import it too,
 * as docs/architecture.md says; the rest of pdenet reaches libtorch through tensors.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque handle owning one native tensor (a type-tagged object wrapping it, see csrc/napi_values.h). */
export interface NativeTensor {
  readonly __nativeTensor: unique symbol;
}

/** An opaque handle to a libtorch operator found by schema name. */
export interface NativeOp {
  readonly __nativeOp: unique symbol;
}

/** An opaque handle to a joined c10d process group (its TCPStore and ProcessGroupGloo/NCCL). */
export interface NativeGroup {
  readonly __nativeGroup: unique symbol;
}

/** An opaque handle to a collective in flight (c10d Work objects and the tensors they use). */
export interface NativeWork {
  readonly __nativeWork: unique symbol;
}

/** An opaque handle to c10d's DDP Reducer (gradient buckets all-reduced during backward). */
export interface NativeReducer {
  readonly __nativeReducer: unique symbol;
}

/** How a process joins a group (csrc/distributed.h, GroupOptions). */
export interface NativeGroupOptions {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  timeoutMs: number;
  backend: 'gloo' | 'nccl';
  /** gloo: bind to this network interface … */
  interface?: string;
  /** … or to the address of this host name (neither: gloo's default device). */
  hostname?: string;
  /** gloo's worker threads (default 2). */
  threads?: number;
}

/** A value the addon accepts as an operator argument. */
export type NativeArg = NativeTensor | number | bigint | boolean | string | null | undefined | readonly NativeArg[];

/** A value an operator returns. */
export type NativeResult = NativeTensor | number | boolean | string | null | NativeResult[] | undefined;

export interface NativeMemory {
  liveTensors: number;
  bytes: number;
  peakBytes: number;
  allocations: number;
  cachedBytes: number;
}

export interface NativeBuildInfo {
  version: string;
  cxx11Abi: number;
  mkldnn: boolean;
  cuda: boolean;
  config: string;
}

/** The functions of the addon, in the order csrc/napi_functions.h lists them. */
export interface Binding {
  findOp(name: string, overload: string): NativeOp;
  opSchema(op: NativeOp): string;
  call(op: NativeOp, ...args: NativeArg[]): NativeResult;
  callInPlace(op: NativeOp, ...args: NativeArg[]): void;

  fromBytes(data: ArrayBufferView | ArrayBuffer, shape: readonly number[], dtype: number): NativeTensor;
  toBytes(t: NativeTensor): ArrayBuffer;
  shape(t: NativeTensor): number[];
  dtype(t: NativeTensor): number;
  device(t: NativeTensor): string;
  isContiguous(t: NativeTensor, memoryFormat?: number): boolean;
  dispose(t: NativeTensor): void;

  /**
   * Bytes in the format of Python's torch.save for a value: tensors, numbers, strings, arrays, Maps/objects.
   * (Reading is TypeScript: src/io/torch.ts, since libtorch's unpickler cannot read Python's OrderedDicts.)
   */
  pickleSave(value: unknown): ArrayBuffer;

  requiresGrad(t: NativeTensor): boolean;
  setRequiresGrad(t: NativeTensor, requiresGrad: boolean): void;
  isLeaf(t: NativeTensor): boolean;
  grad(t: NativeTensor): NativeTensor | null;
  setGrad(t: NativeTensor, grad: NativeTensor | null): void;
  backward(outputs: NativeTensor[], grads: (NativeTensor | null)[], retainGraph: boolean, createGraph: boolean): void;
  autogradGrad(
    outputs: NativeTensor[],
    inputs: NativeTensor[],
    gradOutputs: (NativeTensor | null)[],
    retainGraph: boolean,
    createGraph: boolean,
    allowUnused: boolean,
  ): (NativeTensor | null)[];
  gradEnabled(): boolean;
  setGradEnabled(enabled: boolean): void;
  autocastEnabled(): boolean;
  autocastDtype(): number;
  setAutocast(enabled: boolean, dtype: number): void;

  numThreads(): number;
  setNumThreads(n: number): void;
  manualSeed(seed: number | bigint): void;
  memory(): NativeMemory;
  resetPeakMemory(): void;
  releaseCachedMemory(): void;
  buildInfo(): NativeBuildInfo;
  setErrorClass(ctor: new (message: string, op: string) => Error): void;

  // distributed (csrc/napi_distributed.h): errors are TorchErrors, promises reject with them
  distHasBackend(backend: string): boolean;
  distInit(options: NativeGroupOptions): Promise<NativeGroup>;
  distAllReduce(group: NativeGroup, tensors: NativeTensor[], op: string): NativeWork;
  distBroadcast(group: NativeGroup, tensors: NativeTensor[], root: number): NativeWork;
  distAllGather(group: NativeGroup, input: NativeTensor, outputs: NativeTensor[]): NativeWork;
  distBarrier(group: NativeGroup): NativeWork;
  distWait(work: NativeWork, timeoutMs: number): void;
  distWaitAsync(work: NativeWork, timeoutMs: number): Promise<void>;
  distSumGradient(group: NativeGroup, t: NativeTensor): void;
  distReducer(
    group: NativeGroup,
    params: NativeTensor[],
    names: string[],
    bucketBytes: number,
    firstBucketBytes: number,
    findUnused: boolean,
  ): NativeReducer;
  distPrepareBackward(reducer: NativeReducer, outputs: NativeTensor[]): void;
  distRelease(handle: NativeGroup | NativeReducer | NativeWork): void;
}

/** The package root (the folder holding package.json), from dist/src/native/. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** What scripts/build-native.mjs recorded about the libtorch the addon was built against. */
export interface BuildStamp {
  libtorch: { version: string; source: string; libdir: string; cxx11abi: number; cuda: boolean };
}

function loadFailure(cause: unknown): Error {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const fixes = [
    'pdenet could not load its native addon (build/Release/pdenet.node).',
    `  cause: ${detail.split('\n')[0]}`,
    'Possible fixes:',
    '  - build it: `npm run bootstrap` (installs libtorch-dev when run as root, then builds);',
    '  - install libtorch: `sudo apt-get install -y libtorch-dev`, or set LIBTORCH=/path/to/libtorch',
    '    (an unpacked official download) and rebuild with `node scripts/build-native.mjs --force`;',
    '  - after changing Node.js or libtorch, rebuild with `node scripts/build-native.mjs --force`.',
  ];
  return new Error(fixes.join('\n'), { cause });
}

function load(): { binding: Binding; stamp: BuildStamp | null } {
  const addon = join(packageRoot, 'build/Release/pdenet.node');
  const stampFile = join(packageRoot, 'build/stamp.json');
  const stamp = existsSync(stampFile) ? (JSON.parse(readFileSync(stampFile, 'utf8')) as BuildStamp) : null;
  if (stamp && !existsSync(join(stamp.libtorch.libdir, 'libtorch.so'))) {
    throw loadFailure(new Error(`libtorch ${stamp.libtorch.version} is no longer at ${stamp.libtorch.libdir}`));
  }
  let binding: Binding;
  try {
    binding = createRequire(import.meta.url)(addon) as Binding;
  } catch (e) {
    throw loadFailure(e);
  }
  const compiled = binding.buildInfo().version;
  if (stamp && stamp.libtorch.version !== compiled && process.env.PDENET_SKIP_VERSION_CHECK !== '1') {
    throw loadFailure(
      new Error(
        `the addon was compiled against libtorch ${compiled} ` +
          `but build/stamp.json records ${stamp.libtorch.version}`,
      ),
    );
  }
  return { binding, stamp };
}

const loaded = load();

/** The addon. */
export const native: Binding = loaded.binding;

/** What the addon was built against (null when built without scripts/build-native.mjs). */
export const buildStamp: BuildStamp | null = loaded.stamp;
