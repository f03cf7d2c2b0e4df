/**
 * pdenet's benchmark suite, each figure side by side with its PyTorch counterpart measured in the same run.
 *
 *   node dist/bench/run.js [--quick] [--repeats N] [--only conv|overhead|memory] [--json]
 *
 * - conv: conv2d 64→64 3×3, padding 1, batch 32, 32×32, float32, forward + backward, in pdenet and in
 *   PyTorch (bench/torch_bench.py run by /usr/bin/python3), both with pdenet's thread count.
 * - overhead: µs per call of tiny ops in pdenet, in Python PyTorch and in libtorch C++ (bench/native_baseline.cpp,
 *   compiled on the fly into build/bench/), and where pdenet's share of it goes.
 * - memory: peak native bytes of one conv step, next to what the step needs in theory.
 *
 * Samples of the sides are interleaved (pdenet, PyTorch, pdenet, PyTorch, …, the first side alternating), so
 * that noise on the machine hits both; every figure is the median of the repeats. The output is markdown to
 * paste into BENCHMARKS.md (progress goes to stderr); `--json` prints one JSON object instead.
 *
 * Environment: PDENET_BENCH_PYTHON (default /usr/bin/python3), CXX (default g++), PDENET_NUM_THREADS.
 * @module
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, getPriority, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { F, backend, getNumThreads, manualSeed, memory, noGrad, randn, resetPeakMemory, type Tensor, tidy, zeros }
  from '../src/index.js';
import { native, type NativeTensor } from '../src/native/binding.js';

// ---- options -----------------------------------------------------------------------------------

const USAGE = `usage: node dist/bench/run.js [--quick] [--repeats N] [--only conv|overhead|memory] [--json]

  --quick        fewer repeats and iterations (about a minute); for checking, not for publishing
  --repeats N    samples per side (default 7, quick 3); every figure is the median of N
  --only WHAT    run one benchmark: conv (includes memory), overhead, or memory
  --json         print one JSON object instead of markdown tables`;

const { values: opts } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    repeats: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const ONLY = opts.only ?? 'all';
if (!['all', 'conv', 'overhead', 'memory'].includes(ONLY)) {
  console.error(`--only must be conv, overhead or memory, got ${JSON.stringify(ONLY)}\n\n${USAGE}`);
  process.exit(2);
}
const REPEATS = opts.repeats === undefined ? (opts.quick ? 3 : 7) : Number(opts.repeats);
if (!Number.isInteger(REPEATS) || REPEATS < 1) {
  console.error(`--repeats must be a positive integer, got ${opts.repeats}`);
  process.exit(2);
}

/** Iterations per sample and warm-up; a conv step takes ~0.1–0.3 s on 2 cores, a tiny op a few µs. */
const SETTINGS = {
  repeats: REPEATS,
  convItersPerSample: opts.quick ? 2 : 5,
  convWarmupSteps: opts.quick ? 1 : 3,
  overheadCallsPerSample: opts.quick ? 5_000 : 20_000,
  overheadWarmupCalls: opts.quick ? 1_000 : 5_000,
};

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = process.env.PDENET_BENCH_PYTHON ?? '/usr/bin/python3';
const CXX = process.env.CXX ?? 'g++';
const THREADS = getNumThreads();
const notes: string[] = [];

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

// ---- statistics ----------------------------------------------------------------------------------

interface Stats {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, samples };
}

/** (max − min) / median: how much the repeats disagree. */
function spread(s: Stats): number {
  return (s.max - s.min) / s.median;
}

// ---- helper processes (PyTorch, libtorch C++) ----------------------------------------------------

/** A child process answering one JSON line per request line, kept alive for the whole run. */
class LineServer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  #stderr = '';
  #dead: Error | null = null;
  readonly ready: Promise<Record<string, unknown>>;

  constructor(readonly name: string, command: string, args: string[]) {
    this.#child = spawn(command, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.#child.stdout }).on('line', (line) => this.#waiting.shift()?.resolve(line));
    this.#child.stderr.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    const die = (why: string): void => {
      const tail = this.#stderr.trim().split('\n').slice(-3).join(' | ');
      this.#dead ??= new Error(`${name} ${why}${tail ? `: ${tail}` : ''}`);
      for (const w of this.#waiting.splice(0)) w.reject(this.#dead);
    };
    this.#child.on('error', (e) => die(`could not start (${e.message})`));
    this.#child.on('exit', (code, signal) => die(`exited (${signal ?? code})`));
    this.#child.stdin.on('error', () => {}); // reported by 'exit'
    this.ready = this.#next();
  }

  #next(): Promise<Record<string, unknown>> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise<string>((resolve, reject) => this.#waiting.push({ resolve, reject })).then((line) => {
      let reply: Record<string, unknown>;
      try {
        reply = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`${this.name} answered something that is not JSON: ${line.slice(0, 200)}`);
      }
      if (typeof reply.error === 'string') throw new Error(`${this.name}: ${reply.error}`);
      return reply;
    });
  }

  request(line: string): Promise<Record<string, unknown>> {
    const reply = this.#next();
    if (!this.#dead) this.#child.stdin.write(line + '\n');
    return reply;
  }

  close(): void {
    this.#child.stdin.end();
  }
}

async function startPython(): Promise<{ server: LineServer; info: Record<string, unknown> } | null> {
  const server = new LineServer('PyTorch', PYTHON, [join(ROOT, 'bench/torch_bench.py'), 'serve',
    '--threads', String(THREADS)]);
  try {
    return { server, info: await server.ready };
  } catch (e) {
    notes.push(`PyTorch columns skipped: ${(e as Error).message} (set PDENET_BENCH_PYTHON to a Python with torch).`);
    server.close();
    return null;
  }
}

function commandOutput(command: string, args: string[]): string | null {
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Compiles bench/native_baseline.cpp against pdenet's libtorch into build/bench/ (cached by a hash). */
function buildNativeBaseline(): string | null {
  const cxxVersion = commandOutput(CXX, ['--version']);
  if (cxxVersion === null) {
    notes.push(`libtorch C++ column skipped: no C++ compiler (${CXX}) found; install g++ to get it.`);
    return null;
  }
  const libtorch = (what: string): string | null =>
    commandOutput(process.execPath, [join(ROOT, 'scripts/libtorch.mjs'), what]);
  const includes = libtorch('includes');
  const libdir = libtorch('libdir');
  const abi = libtorch('abi');
  if (includes === null || libdir === null || abi === null) {
    notes.push('libtorch C++ column skipped: scripts/libtorch.mjs could not locate libtorch.');
    return null;
  }
  const source = join(ROOT, 'bench/native_baseline.cpp');
  const outDir = join(ROOT, 'build/bench');
  const binary = join(outDir, 'native_baseline');
  const args = ['-O2', '-std=c++17', `-D_GLIBCXX_USE_CXX11_ABI=${abi}`, '-w',
    ...includes.split(/\s+/).filter(Boolean).map((d) => `-I${d}`),
    source, '-o', binary, `-L${libdir}`, `-Wl,-rpath,${libdir}`, '-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10'];
  const stamp = createHash('sha256').update(readFileSync(source)).update(JSON.stringify([CXX, cxxVersion, args]))
    .digest('hex');
  const stampFile = binary + '.stamp';
  if (existsSync(binary) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return binary;
  log(`compiling bench/native_baseline.cpp with ${CXX} -O2 (about 10–30 s) …`);
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync(CXX, args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || '').trim().split('\n').slice(0, 3).join(' | ');
    notes.push(`libtorch C++ column skipped: compiling bench/native_baseline.cpp failed: ${why}`);
    return null;
  }
  writeFileSync(stampFile, stamp);
  return binary;
}

async function startNativeBaseline(): Promise<LineServer | null> {
  const binary = buildNativeBaseline();
  if (binary === null) return null;
  const server = new LineServer('libtorch C++', binary, []);
  try {
    await server.ready;
    return server;
  } catch (e) {
    notes.push(`libtorch C++ column skipped: ${(e as Error).message}`);
    server.close();
    return null;
  }
}

// ---- machine -------------------------------------------------------------------------------------

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

function cpuFlags(): string {
  try {
    const flags = /^flags\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
    return ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'amx_tile'].filter((f) => flags.includes(f)).join(' ') || '-';
  } catch {
    return '-';
  }
}

function git(): string | null {
  const head = commandOutput('git', ['rev-parse', '--short', 'HEAD']);
  if (head === null) return null;
  const dirty = commandOutput('git', ['status', '--porcelain', '--untracked-files=no']);
  return dirty ? `${head} (with uncommitted changes)` : head;
}

function load(): [number, number, number] {
  return loadavg().map((x) => Math.round(x * 100) / 100) as [number, number, number];
}

/** Linux pressure stall information: % of the last 60 s in which some runnable task waited for a CPU. */
function cpuPressure(): number | null {
  try {
    const m = /^some .*avg60=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// ---- conv2d ----------------------------------------------------------------------------------------

const N = 32;
const C = 64;
const H = 32;
const W = 32;
/** FLOPs of the forward convolution: 2 (multiply + add) · N · C_out · H · W · C_in · 3 · 3. */
const FWD_FLOP = 2 * N * C * H * W * C * 9;

interface ConvVariant {
  key: 'weightGrad' | 'inputAndWeightGrad';
  inputGrad: boolean;
  label: string;
  /** FLOPs of one step: forward, weight gradient, and the input gradient when it is asked for. */
  flop: number;
  flopRule: string;
}

const CONV_VARIANTS: ConvVariant[] = [
  {
    key: 'weightGrad', inputGrad: false, flop: 2 * FWD_FLOP, flopRule: 'forward + weight grad = 2 × forward',
    label: 'input requiresGrad false (the issue\'s setup: backward computes only the weight gradient)',
  },
  {
    key: 'inputAndWeightGrad', inputGrad: true, flop: 3 * FWD_FLOP,
    flopRule: 'forward + input grad + weight grad = 3 × forward',
    label: 'input requiresGrad true (a layer inside a network: backward computes input and weight gradients)',
  },
];

/** One conv step as a pdenet program writes it; gradients are set to null each step, like zero_grad(set_to_none). */
interface ConvSample {
  msPerStep: number;
  /** Minor page faults of the whole process per step: pages the allocator had to get fresh from the kernel. */
  minorFaultsPerStep: number;
}

function pdenetConv(inputGrad: boolean): { sample: (iters: number) => ConvSample; dispose: () => void } {
  manualSeed(0);
  const x = randn([N, C, H, W], { requiresGrad: inputGrad });
  const w = randn([C, C, 3, 3], { requiresGrad: true });
  const r = randn([N, C, H, W]);
  const step = (): void => {
    w.grad = null;
    if (inputGrad) x.grad = null;
    tidy(() => {
      F.conv2d(x, w, null, { padding: 1 }).mul(r).sum().backward();
    });
  };
  return {
    sample(iters) {
      const faults = process.resourceUsage().minorPageFault;
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) step();
      const ms = (performance.now() - t0) / iters;
      return { msPerStep: ms, minorFaultsPerStep: (process.resourceUsage().minorPageFault - faults) / iters };
    },
    dispose() {
      w.grad = null;
      x.grad = null;
      for (const t of [x, w, r]) t.dispose();
    },
  };
}

interface ConvResult {
  variant: ConvVariant['key'];
  inputRequiresGrad: boolean;
  flopPerStep: number;
  flopRule: string;
  pdenetMs: Stats;
  pytorchMs: Stats | null;
  pdenetFaultsPerStep: number;
  pytorchFaultsPerStep: number | null;
  pdenetGflops: number;
  pytorchGflops: number | null;
  /** median pdenet time / median PyTorch time: 1.00 is parity, above 1 pdenet is slower. */
  ratio: number | null;
}

async function benchConv(python: LineServer | null): Promise<ConvResult[]> {
  const results: ConvResult[] = [];
  const { convItersPerSample: iters, convWarmupSteps: warmup } = SETTINGS;
  for (const v of CONV_VARIANTS) {
    log(`conv2d fwd+bwd, input requiresGrad ${v.inputGrad}: warm-up, then ${REPEATS} × ${iters} steps per side …`);
    const pd = pdenetConv(v.inputGrad);
    const req = (n: number, w: number): string =>
      JSON.stringify({ cmd: 'conv', threads: THREADS, inputGrad: v.inputGrad, iters: n, warmup: w });
    pd.sample(warmup);
    if (python) await python.request(req(1, warmup - 1));
    const ours: ConvSample[] = [];
    const theirs: ConvSample[] = [];
    for (let rep = 0; rep < REPEATS; rep++) {
      const pdenetFirst = rep % 2 === 0;
      if (pdenetFirst) ours.push(pd.sample(iters));
      if (python) theirs.push((await python.request(req(iters, 0))) as unknown as ConvSample);
      if (!pdenetFirst) ours.push(pd.sample(iters));
    }
    pd.dispose();
    const pdenetMs = stats(ours.map((s) => s.msPerStep));
    const pytorchMs = python ? stats(theirs.map((s) => s.msPerStep)) : null;
    const gflops = (ms: number): number => v.flop / (ms * 1e-3) / 1e9;
    results.push({
      variant: v.key,
      inputRequiresGrad: v.inputGrad,
      flopPerStep: v.flop,
      flopRule: v.flopRule,
      pdenetMs,
      pytorchMs,
      pdenetFaultsPerStep: stats(ours.map((s) => s.minorFaultsPerStep)).median,
      pytorchFaultsPerStep: python ? stats(theirs.map((s) => s.minorFaultsPerStep)).median : null,
      pdenetGflops: gflops(pdenetMs.median),
      pytorchGflops: pytorchMs ? gflops(pytorchMs.median) : null,
      ratio: pytorchMs ? pdenetMs.median / pytorchMs.median : null,
    });
  }
  return results;
}

// ---- memory ----------------------------------------------------------------------------------------

const MiB = 1 << 20;

interface MemoryResult {
  /** Bytes of x, R and the weight (allocated before the step; not part of the step's peak). */
  persistentBytes: number;
  theory: { outputBytes: number; weightGradBytes: number; minimumStepBytes: number; tidyStepBytes: number };
  /** conv2d alone under noGrad: libtorch's oneDNN path allocates a reorder buffer next to the output. */
  forwardOnly: { peakAboveBaseline: number; retainedAfter: number };
  tidy: { peakAboveBaseline: number; retainedAfter: number };
  eager: { peakAboveBaseline: number; retainedAfter: number };
}

function benchMemory(): MemoryResult {
  log('memory of one conv step …');
  manualSeed(0);
  const x = randn([N, C, H, W]);
  const w = randn([C, C, 3, 3], { requiresGrad: true });
  const r = randn([N, C, H, W]);
  // As written in a training loop: the whole step in tidy, intermediates freed when it ends.
  const tidyStep = (): void => tidy(() => {
    F.conv2d(x, w, null, { padding: 1 }).mul(r).sum().backward();
  });
  // Each intermediate disposed as soon as it is no longer needed (what Python's reference counting does).
  const eagerStep = (): void => {
    const out = F.conv2d(x, w, null, { padding: 1 });
    const product = out.mul(r);
    out.dispose();
    const loss = product.sum();
    product.dispose();
    loss.backward();
    loss.dispose();
  };
  const measure = (step: () => void): { peakAboveBaseline: number; retainedAfter: number } => {
    w.grad = null;
    step(); // warm-up: first-call caches of libtorch and oneDNN are not the step's memory
    w.grad = null;
    const baseline = memory().nativeBytes;
    resetPeakMemory();
    step();
    const m = memory();
    return { peakAboveBaseline: m.peakNativeBytes - baseline, retainedAfter: m.nativeBytes - baseline };
  };
  const forwardResult = measure(() => noGrad(() => F.conv2d(x, w, null, { padding: 1 }).dispose()));
  const tidyResult = measure(tidyStep);
  const eagerResult = measure(eagerStep);
  w.grad = null;
  for (const t of [x, w, r]) t.dispose();
  const act = N * C * H * W * 4;
  const wBytes = C * C * 9 * 4;
  return {
    persistentBytes: 2 * act + wBytes,
    theory: {
      outputBytes: act,
      weightGradBytes: wBytes,
      // out and out·R exist together while mul runs; backward then needs d loss/d out (same size) and d loss/d w.
      minimumStepBytes: Math.max(2 * act, act + wBytes),
      // tidy keeps out and out·R until the scope ends, so backward's d loss/d out and d loss/d w come on top.
      tidyStepBytes: 3 * act + wBytes,
    },
    forwardOnly: forwardResult,
    tidy: tidyResult,
    eager: eagerResult,
  };
}

// ---- per-call overhead -------------------------------------------------------------------------------

const OPS = [
  { key: 'add', pdenet: 'x.add(1), then dispose', python: 'x.add(1)', cxx: 'x.add(1)', size: '1 element' },
  { key: 'mul', pdenet: 'x.mul(y), then dispose', python: 'x.mul(y)', cxx: 'x.mul(y)', size: '4 elements' },
  { key: 'relu', pdenet: 'F.relu(x), then dispose', python: 'F.relu(x)', cxx: 'at::relu(x)', size: '4 elements' },
  { key: 'add_', pdenet: 'x.add_(1) (in place)', python: 'x.add_(1)', cxx: 'x.add_(1)', size: '4 elements' },
  { key: 'shape', pdenet: 'x.shape', python: 'x.shape', cxx: 'x.sizes().vec()', size: '4 elements' },
] as const;
type OpKey = (typeof OPS)[number]['key'];

let sink = 0;

/**
 * Times `calls` calls of each case after `warmup` calls; µs per call. The clock stops only after one turn of
 * the event loop, because Node runs the N-API finalizers of collected handles from there (setImmediate): their
 * cost belongs to the calls that created the handles.
 */
async function timeCases(cases: Record<string, (n: number) => void>, calls: number, warmup: number):
    Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, run] of Object.entries(cases)) {
    run(warmup);
    await tick();
    const t0 = performance.now();
    run(calls);
    await tick();
    out[name] = ((performance.now() - t0) * 1e3) / calls;
  }
  return out;
}

function pdenetOverheadCases(): {
  api: Record<OpKey, (n: number) => void>;
  raw: Record<OpKey | 'napiFloor', (n: number) => void>;
  dispose: () => void;
} {
  manualSeed(0);
  const one = randn([1]);
  const x = randn([4]);
  const y = randn([4]);
  const acc = zeros([4]);
  const api: Record<OpKey, (n: number) => void> = {
    add: (n) => { for (let i = 0; i < n; i++) one.add(1).dispose(); },
    mul: (n) => { for (let i = 0; i < n; i++) x.mul(y).dispose(); },
    relu: (n) => { for (let i = 0; i < n; i++) F.relu(x).dispose(); },
    add_: (n) => { for (let i = 0; i < n; i++) acc.add_(1); },
    shape: (n) => { for (let i = 0; i < n; i++) sink += x.shape[0]!; },
  };
  // The addon alone, with no Tensor wrapper: what the JavaScript layer adds is api − raw.
  const ops = {
    add: native.findOp('aten::add', 'Scalar'),
    mul: native.findOp('aten::mul', 'Tensor'),
    relu: native.findOp('aten::relu', ''),
    add_: native.findOp('aten::add_', 'Scalar'),
  };
  const [h1, hx, hy, hacc] = [one.handle, x.handle, y.handle, acc.handle];
  const raw: Record<OpKey | 'napiFloor', (n: number) => void> = {
    add: (n) => { for (let i = 0; i < n; i++) native.dispose(native.call(ops.add, h1, 1, 1) as NativeTensor); },
    mul: (n) => { for (let i = 0; i < n; i++) native.dispose(native.call(ops.mul, hx, hy) as NativeTensor); },
    relu: (n) => { for (let i = 0; i < n; i++) native.dispose(native.call(ops.relu, hx) as NativeTensor); },
    add_: (n) => { for (let i = 0; i < n; i++) native.callInPlace(ops.add_, hacc, 1, 1); },
    shape: (n) => { for (let i = 0; i < n; i++) sink += native.shape(hx)[0]!; },
    // The cheapest call into the addon (reads one flag): the floor of any N-API round trip.
    napiFloor: (n) => { for (let i = 0; i < n; i++) sink += native.gradEnabled() ? 1 : 0; },
  };
  return { api, raw, dispose: () => { for (const t of [one, x, y, acc] as Tensor[]) t.dispose(); } };
}

interface OverheadResult {
  calls: number;
  ops: {
    key: OpKey;
    pdenet: string;
    size: string;
    pdenetUs: Stats;
    addonUs: Stats;
    pytorchUs: Stats | null;
    cxxUs: Stats | null;
    cxxBoxedUs: Stats | null;
    /** pdenet − libtorch C++ (target < 3 µs). */
    bindingOverheadUs: number | null;
    /** Python − libtorch C++. */
    pythonOverheadUs: number | null;
    /** pdenet / PyTorch (time). */
    ratio: number | null;
    /** pdenet − addon alone: the Tensor class, tidy tracking, argument mapping. */
    jsWrapperUs: number;
    /** addon alone − C++ boxed call: N-API, argument conversion, handle wrapping and finalizers. */
    napiUs: number | null;
    /** C++ boxed − C++ direct: libtorch's boxed (schema-driven) calling convention. */
    boxedDispatchUs: number | null;
  }[];
  napiFloorUs: Stats;
}

async function benchOverhead(python: LineServer | null, cxx: LineServer | null): Promise<OverheadResult> {
  const { overheadCallsPerSample: calls, overheadWarmupCalls: warmup } = SETTINGS;
  log(`per-call overhead: ${REPEATS} × ${calls} calls per op and side …`);
  const cases = pdenetOverheadCases();
  // samples[side][op] = µs per call, one entry per repeat
  const samples: Record<'pdenet' | 'addon' | 'python' | 'cxx' | 'cxxBoxed', Record<string, number[]>> = {
    pdenet: {}, addon: {}, python: {}, cxx: {}, cxxBoxed: {},
  };
  const record = (side: keyof typeof samples, values: Partial<Record<string, number>>): void => {
    for (const [op, v] of Object.entries(values)) if (typeof v === 'number') (samples[side][op] ??= []).push(v);
  };
  const only = <T>(all: Record<string, T>, op: string): Record<string, T> => ({ [op]: all[op]! });
  // One side's sample of one op. Sides and ops are interleaved finely (each sample takes ~0.1 s), so that a
  // burst of load on the machine lands on all sides of the same op.
  const sides: ((op: OpKey) => Promise<void>)[] = [
    async (op) => { record('pdenet', await timeCases(only(cases.api, op), calls, warmup)); },
    async (op) => { record('addon', await timeCases(only(cases.raw, op), calls, warmup)); },
  ];
  if (python) {
    sides.push(async (op) => {
      const reply = await python.request(JSON.stringify({ cmd: 'overhead', threads: THREADS, iters: calls, warmup,
        ops: [op] }));
      record('python', reply.usPerCall as Record<string, number>);
    });
  }
  if (cxx) {
    sides.push(async (op) => {
      // C++ is several times faster per call: more calls for the same timing precision.
      const reply = await cxx.request(`overhead ${calls * 5} ${warmup * 5} ${THREADS} ${op}`);
      record('cxx', reply.usPerCall as Record<string, number>);
      record('cxxBoxed', reply.usPerCallBoxed as Record<string, number>);
    });
  }
  for (let rep = 0; rep < REPEATS; rep++) {
    for (const [i, op] of OPS.entries()) {
      // Rotate which side goes first, so that no side always follows the same one.
      for (let k = 0; k < sides.length; k++) await sides[(rep + i + k) % sides.length]!(op.key);
    }
    record('addon', await timeCases({ napiFloor: cases.raw.napiFloor }, calls, warmup));
  }
  cases.dispose();
  const col = (side: Record<string, number[]>, op: string): Stats | null => (side[op]?.length ? stats(side[op]!) : null);
  return {
    calls,
    ops: OPS.map((op) => {
      const pdenetUs = col(samples.pdenet, op.key)!;
      const addonUs = col(samples.addon, op.key)!;
      const pytorchUs = col(samples.python, op.key);
      const cxxUs = col(samples.cxx, op.key);
      const cxxBoxedUs = col(samples.cxxBoxed, op.key);
      return {
        key: op.key,
        pdenet: op.pdenet,
        size: op.size,
        pdenetUs,
        addonUs,
        pytorchUs,
        cxxUs,
        cxxBoxedUs,
        bindingOverheadUs: cxxUs ? pdenetUs.median - cxxUs.median : null,
        pythonOverheadUs: cxxUs && pytorchUs ? pytorchUs.median - cxxUs.median : null,
        ratio: pytorchUs ? pdenetUs.median / pytorchUs.median : null,
        jsWrapperUs: pdenetUs.median - addonUs.median,
        napiUs: (cxxBoxedUs ?? cxxUs) ? addonUs.median - (cxxBoxedUs ?? cxxUs)!.median : null,
        boxedDispatchUs: cxxBoxedUs && cxxUs ? cxxBoxedUs.median - cxxUs.median : null,
      };
    }),
    napiFloorUs: col(samples.addon, 'napiFloor')!,
  };
}

// ---- report ------------------------------------------------------------------------------------------

const f = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '–' : x.toFixed(digits));
const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(2)} MiB`;

function markdown(report: Report): string {
  const m = report.machine;
  const lines: string[] = [];
  lines.push(`### Run of ${report.date}`, '');
  lines.push(`Command: \`${report.command}\` (${report.settings.repeats} repeats per side, interleaved; ` +
    'figures are medians of the repeats).', '');
  lines.push('| machine | |', '|---|---|');
  lines.push(`| CPU | ${m.cpuModel} (${m.cpuFlags}) |`);
  lines.push(`| cores / threads used | ${m.cores} logical cores (${m.availableParallelism} usable) / ${m.threads} ` +
    'threads on every side |');
  lines.push(`| memory | ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB |`);
  lines.push(`| libtorch | ${m.libtorch}${m.mkldnn ? ' (oneDNN on)' : ''}, ${m.libtorchSource ?? '?'} |`);
  lines.push(`| Node.js / Python / PyTorch | ${m.node} / ${m.python ?? '–'} / ${m.torch ?? '–'} |`);
  lines.push(`| C++ baseline | ${m.cxx ?? 'skipped'} |`);
  lines.push(`| kernel | ${m.kernel} |`);
  lines.push(`| pdenet commit | ${m.git ?? '?'} |`);
  lines.push(`| niceness of the run (every side) | ${m.nice} |`);
  lines.push(`| load average (1, 5, 15 min) | start ${report.load.start.join(', ')}; end ${report.load.end.join(', ')} |`);
  if (report.load.cpuPressureStart !== null) {
    lines.push(`| CPU pressure (share of the last minute some task waited for a CPU) | start ` +
      `${report.load.cpuPressureStart}%; end ${report.load.cpuPressureEnd}% |`);
  }
  lines.push('');

  if (report.conv) {
    lines.push('#### conv2d 64→64 3×3, padding 1, batch 32, 32×32, float32, forward + backward', '');
    lines.push(`One step: \`(conv2d(x, w, padding=1) * R).sum().backward()\`, weight requiresGrad true, R a fixed ` +
      `random tensor, gradients set to null before each step; ${report.settings.convItersPerSample} steps per ` +
      'sample after a warm-up. Forward FLOPs = 2·N·C_out·H·W·C_in·9 = ' +
      `${(FWD_FLOP / 1e9).toFixed(3)} GFLOP; each gradient that backward computes counts as one forward more.`, '');
    lines.push('| input requiresGrad | FLOP per step | pdenet ms/step | PyTorch ms/step | pdenet GFLOP/s | ' +
      'PyTorch GFLOP/s | pdenet/PyTorch (time) | spread pdenet / PyTorch | page faults/step pdenet / PyTorch |');
    lines.push('|---|---|---|---|---|---|---|---|---|');
    for (const c of report.conv) {
      lines.push(`| ${c.inputRequiresGrad} | ${(c.flopPerStep / 1e9).toFixed(2)} G (${c.flopRule}) | ` +
        `${f(c.pdenetMs.median, 1)} | ${f(c.pytorchMs?.median, 1)} | ${f(c.pdenetGflops, 1)} | ` +
        `${f(c.pytorchGflops, 1)} | **${f(c.ratio)}** | ${pct(spread(c.pdenetMs))} / ` +
        `${c.pytorchMs ? pct(spread(c.pytorchMs)) : '–'} | ${f(c.pdenetFaultsPerStep, 0)} / ` +
        `${f(c.pytorchFaultsPerStep, 0)} |`);
    }
    lines.push('', 'Time ratio: 1.00 is parity, above 1 pdenet is slower; the target is ≤ 1.05 (within 5% of PyTorch). ' +
      'Spread = (slowest − fastest repeat) / median. Page faults/step: minor page faults of the whole process per ' +
      'step (median), i.e. 4 KiB pages glibc malloc got fresh from the kernel; both sides run the same libtorch ' +
      'kernels, so a difference in time often comes with a difference here.', '');
  }

  if (report.memory) {
    const mem = report.memory;
    lines.push('#### Memory of one conv step (input requiresGrad false)', '');
    lines.push('Bytes held by libtorch\'s CPU allocator (`memory().peakNativeBytes` after `resetPeakMemory()`), ' +
      `above what was held before the step (x, R and w: ${mib(mem.persistentBytes)}). oneDNN's own scratch ` +
      'buffers do not go through that allocator and are not counted.', '');
    lines.push('| step written as | measured peak | in theory | held after the step |', '|---|---|---|---|');
    lines.push(`| forward only: \`noGrad(() => conv2d(x, w).dispose())\` | ${mib(mem.forwardOnly.peakAboveBaseline)} | ` +
      `${mib(mem.theory.outputBytes)} (the output) | ${mib(mem.forwardOnly.retainedAfter)} |`);
    lines.push(`| \`tidy(() => conv2d(x, w).mul(R).sum().backward())\` | ${mib(mem.tidy.peakAboveBaseline)} | ` +
      `${mib(mem.theory.tidyStepBytes)} (output, output·R and d/d output kept until tidy ends, + d/d w) | ` +
      `${mib(mem.tidy.retainedAfter)} (w.grad) |`);
    lines.push(`| each intermediate disposed as soon as possible | ${mib(mem.eager.peakAboveBaseline)} | ` +
      `${mib(mem.theory.minimumStepBytes)} (output and output·R at once: the minimum) | ` +
      `${mib(mem.eager.retainedAfter)} (w.grad) |`);
    lines.push('', `One activation (32×64×32×32 float32) is ${mib(mem.theory.outputBytes)}; the weight and its ` +
      `gradient are ${(mem.theory.weightGradBytes / 1024).toFixed(0)} KiB each. "In theory" counts the tensors the ` +
      'step produces; what the measurement shows above it is the scratch memory of libtorch\'s oneDNN convolution ' +
      '(the forward-only row isolates it), the same in PyTorch, which runs the same kernels.', '');
  }

  if (report.overhead) {
    const o = report.overhead;
    lines.push('#### Per-call overhead of tiny ops (µs per call)', '');
    lines.push(`Each sample times ${o.calls} calls (C++: ${o.calls * 5}) after a warm-up; the result of each call is ` +
      'released at once (pdenet: `dispose()`, Python: reference counting, C++: destructor); pdenet\'s clock stops ' +
      'after one turn of the event loop, where Node runs the N-API finalizers of the handles. Threads as above.', '');
    lines.push('| op (size) | pdenet | PyTorch (Python) | libtorch C++ | **binding overhead** pdenet − C++ | ' +
      'Python − C++ | pdenet/PyTorch (time) |');
    lines.push('|---|---|---|---|---|---|---|');
    for (const op of o.ops) {
      lines.push(`| \`${op.pdenet}\` (${op.size}) | ${f(op.pdenetUs.median)} | ${f(op.pytorchUs?.median)} | ` +
        `${f(op.cxxUs?.median)} | **${f(op.bindingOverheadUs)}** | ${f(op.pythonOverheadUs)} | ${f(op.ratio)} |`);
    }
    lines.push('', 'Target: binding overhead < 3 µs per call.', '');
    lines.push('Where pdenet\'s part goes (µs per call; medians, so the parts need not add up exactly):', '');
    lines.push('| op | JS wrapper (pdenet − addon alone) | N-API + conversions (addon − C++ boxed) | ' +
      'boxed dispatch (C++ boxed − C++ direct) | addon alone | C++ boxed |');
    lines.push('|---|---|---|---|---|---|');
    for (const op of o.ops) {
      lines.push(`| \`${op.key}\` | ${f(op.jsWrapperUs)} | ${f(op.napiUs)} | ${f(op.boxedDispatchUs)} | ` +
        `${f(op.addonUs.median)} | ${f(op.cxxBoxedUs?.median)} |`);
    }
    lines.push('', `The cheapest N-API call (\`native.gradEnabled()\`) costs ${f(o.napiFloorUs.median, 3)} µs. ` +
      '"Addon alone" calls `native.call` / `native.dispose` on raw handles, without the Tensor class; "C++ boxed" ' +
      'runs the same operator with `OperatorHandle::callBoxed`, as the addon does (for `shape` there is no operator: ' +
      'the N-API column is measured against C++ direct).', '');
  }

  if (report.notes.length) {
    lines.push('Notes:', '', ...report.notes.map((n) => `- ${n}`), '');
  }
  return lines.join('\n');
}

interface Report {
  date: string;
  command: string;
  settings: typeof SETTINGS & { quick: boolean; only: string };
  machine: {
    cpuModel: string;
    cpuFlags: string;
    cores: number;
    availableParallelism: number;
    threads: number;
    totalMemoryBytes: number;
    libtorch: string;
    libtorchSource: string | null;
    mkldnn: boolean;
    node: string;
    python: string | null;
    torch: string | null;
    cxx: string | null;
    kernel: string;
    git: string | null;
    /** The niceness the run had (all sides inherit it): negative when run with `nice -n -10` on a shared machine. */
    nice: number;
  };
  load: {
    start: [number, number, number];
    end: [number, number, number];
    /** % of the last minute some task waited for a CPU (Linux PSI), at start and end; null where unavailable. */
    cpuPressureStart: number | null;
    cpuPressureEnd: number | null;
  };
  conv: ConvResult[] | null;
  memory: MemoryResult | null;
  overhead: OverheadResult | null;
  notes: string[];
}

// ---- main ----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startLoad = load();
  const startPressure = cpuPressure();
  const wantConv = ONLY === 'all' || ONLY === 'conv';
  const wantMemory = ONLY === 'all' || ONLY === 'conv' || ONLY === 'memory';
  const wantOverhead = ONLY === 'all' || ONLY === 'overhead';
  log(`threads ${THREADS}, load ${startLoad.join(' ')}; starting ${PYTHON} bench/torch_bench.py …`);

  const python = wantConv || wantOverhead ? await startPython() : null;
  const cxx = wantOverhead ? await startNativeBaseline() : null;
  const info = backend();
  try {
    const conv = wantConv ? await benchConv(python?.server ?? null) : null;
    const mem = wantMemory ? benchMemory() : null;
    const overhead = wantOverhead ? await benchOverhead(python?.server ?? null, cxx) : null;
    if (opts.quick) notes.push('--quick: few repeats and short samples; use the default settings for published figures.');
    const report: Report = {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      command: ['node dist/bench/run.js', ...process.argv.slice(2)].join(' '),
      settings: { ...SETTINGS, quick: opts.quick ?? false, only: ONLY },
      machine: {
        cpuModel: cpuModel(),
        cpuFlags: cpuFlags(),
        cores: cpus().length,
        availableParallelism: availableParallelism(),
        threads: THREADS,
        totalMemoryBytes: totalmem(),
        libtorch: info.libtorch,
        libtorchSource: info.libdir ? `${info.source}: ${info.libdir}` : info.source,
        mkldnn: info.mkldnn,
        node: process.version,
        python: python ? String(python.info.python) : null,
        torch: python ? String(python.info.torch) : null,
        cxx: cxx ? (commandOutput(CXX, ['--version'])?.split('\n')[0] ?? CXX) + ' -O2' : null,
        kernel: release(),
        git: git(),
        nice: getPriority(),
      },
      load: { start: startLoad, end: load(), cpuPressureStart: startPressure, cpuPressureEnd: cpuPressure() },
      conv,
      memory: mem,
      overhead,
      notes,
    };
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else console.log(markdown(report));
    // Exit code 0 whether or not targets are met: this is a measurement, not a test.
  } finally {
    python?.server.close();
    cxx?.close();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exitCode = 1;
});
