/**
 * µs per call of tiny ops in pdenet, in Python PyTorch (bench/torch_bench.py) and in libtorch C++
 * (bench/native_baseline.cpp), and where pdenet's share of it goes (the Tensor class, N-API, boxed dispatch).
 * @module
 */
import { setImmediate as tick } from 'node:timers/promises';

import { F, manualSeed, randn, type Tensor, zeros } from '../../src/index.js';
import type { LineServer } from '../harness/counterparts.js';
import { inTurn, log } from '../harness/sampling.js';
import { fixed, stats, type Stats } from '../harness/stats.js';
import { addonAloneCases, type Calls } from './addon-alone.js';

const OPS = [
  { key: 'add', pdenet: 'x.add(1), then dispose', python: 'x.add(1)', cxx: 'x.add(1)', size: '1 element' },
  { key: 'mul', pdenet: 'x.mul(y), then dispose', python: 'x.mul(y)', cxx: 'x.mul(y)', size: '4 elements' },
  { key: 'relu', pdenet: 'F.relu(x), then dispose', python: 'F.relu(x)', cxx: 'at::relu(x)', size: '4 elements' },
  { key: 'add_', pdenet: 'x.add_(1) (in place)', python: 'x.add_(1)', cxx: 'x.add_(1)', size: '4 elements' },
  { key: 'shape', pdenet: 'x.shape', python: 'x.shape', cxx: 'x.sizes().vec()', size: '4 elements' },
] as const;
type OpKey = (typeof OPS)[number]['key'];

let _sink = 0;

/**
 * Times `calls` calls of each case after `warmup` calls; µs per call. The clock stops only after one turn of
 * the event loop, because Node runs the N-API finalizers of collected handles from there (setImmediate): their
 * cost belongs to the calls that created the handles.
 */
async function timeCases(cases: Record<string, Calls>, calls: number, warmup: number): Promise<Record<string, number>> {
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

/** The ops through pdenet's API, and the same ops through the addon alone. */
function pdenetOverheadCases(): {
  api: Record<OpKey, Calls>;
  raw: Record<OpKey | 'napiFloor', Calls>;
  dispose: () => void;
} {
  manualSeed(0);
  const one = randn([1]);
  const x = randn([4]);
  const y = randn([4]);
  const acc = zeros([4]);
  const api: Record<OpKey, Calls> = {
    add: (n) => {
      for (let i = 0; i < n; i++) one.add(1).dispose();
    },
    mul: (n) => {
      for (let i = 0; i < n; i++) x.mul(y).dispose();
    },
    relu: (n) => {
      for (let i = 0; i < n; i++) F.relu(x).dispose();
    },
    add_: (n) => {
      for (let i = 0; i < n; i++) acc.add_(1);
    },
    shape: (n) => {
      for (let i = 0; i < n; i++) _sink += x.shape[0]!;
    },
  };
  // What the JavaScript layer adds is api − raw.
  const raw = addonAloneCases({ one, x, y, acc });
  return {
    api,
    raw,
    dispose: () => {
      for (const t of [one, x, y, acc] as Tensor[]) t.dispose();
    },
  };
}

export interface OverheadResult {
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

export interface OverheadOptions {
  repeats: number;
  callsPerSample: number;
  warmupCalls: number;
  threads: number;
}

/** Every op on every side that runs (`python`, `cxx` null for a side that was skipped). */
export async function benchOverhead(
  python: LineServer | null,
  cxx: LineServer | null,
  o: OverheadOptions,
): Promise<OverheadResult> {
  const { callsPerSample: calls, warmupCalls: warmup, threads } = o;
  log(`per-call overhead: ${o.repeats} × ${calls} calls per op and side …`);
  const cases = pdenetOverheadCases();
  // samples[side][op] = µs per call, one entry per repeat
  const samples: Record<'pdenet' | 'addon' | 'python' | 'cxx' | 'cxxBoxed', Record<string, number[]>> = {
    pdenet: {},
    addon: {},
    python: {},
    cxx: {},
    cxxBoxed: {},
  };
  const record = (side: keyof typeof samples, values: Partial<Record<string, number>>): void => {
    for (const [op, v] of Object.entries(values)) if (typeof v === 'number') (samples[side][op] ??= []).push(v);
  };
  const only = <T>(all: Record<string, T>, op: string): Record<string, T> => ({ [op]: all[op]! });
  // One side's sample of one op. Sides and ops are interleaved finely (each sample takes ~0.1 s), so that a
  // burst of load on the machine lands on all sides of the same op.
  const sides: ((op: OpKey) => Promise<void>)[] = [
    async (op) => {
      record('pdenet', await timeCases(only(cases.api, op), calls, warmup));
    },
    async (op) => {
      record('addon', await timeCases(only(cases.raw, op), calls, warmup));
    },
  ];
  if (python) {
    sides.push(async (op) => {
      const reply = await python.request(JSON.stringify({ cmd: 'overhead', threads, iters: calls, warmup, ops: [op] }));
      record('python', reply.usPerCall as Record<string, number>);
    });
  }
  if (cxx) {
    sides.push(async (op) => {
      // C++ is several times faster per call: more calls for the same timing precision.
      const reply = await cxx.request(`overhead ${calls * 5} ${warmup * 5} ${threads} ${op}`);
      record('cxx', reply.usPerCall as Record<string, number>);
      record('cxxBoxed', reply.usPerCallBoxed as Record<string, number>);
    });
  }
  for (let rep = 0; rep < o.repeats; rep++) {
    for (const [i, op] of OPS.entries())
      await inTurn(
        sides.map((side) => () => side(op.key)),
        rep + i,
      );
    record('addon', await timeCases({ napiFloor: cases.raw.napiFloor }, calls, warmup));
  }
  cases.dispose();
  const col = (side: Record<string, number[]>, op: string): Stats | null =>
    side[op]?.length ? stats(side[op]!) : null;
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

/** The report's section, in markdown. */
export function overheadMarkdown(o: OverheadResult): string[] {
  const lines: string[] = [];
  lines.push('#### Per-call overhead of tiny ops (µs per call)', '');
  lines.push(
    `Each sample times ${o.calls} calls (C++: ${o.calls * 5}) after a warm-up; the result of each call is ` +
      "released at once (pdenet: `dispose()`, Python: reference counting, C++: destructor); pdenet's clock stops " +
      'after one turn of the event loop, where Node runs the N-API finalizers of the handles. Threads as above.',
    '',
  );
  lines.push(
    '| op (size) | pdenet | PyTorch (Python) | libtorch C++ | **binding overhead** pdenet − C++ | ' +
      'Python − C++ | pdenet/PyTorch (time) |',
  );
  lines.push('|---|---|---|---|---|---|---|');
  for (const op of o.ops) {
    lines.push(
      `| \`${op.pdenet}\` (${op.size}) | ${fixed(op.pdenetUs.median)} | ${fixed(op.pytorchUs?.median)} | ` +
        `${fixed(op.cxxUs?.median)} | **${fixed(op.bindingOverheadUs)}** | ${fixed(op.pythonOverheadUs)} | ` +
        `${fixed(op.ratio)} |`,
    );
  }
  lines.push('', 'Target: binding overhead < 3 µs per call.', '');
  lines.push("Where pdenet's part goes (µs per call; medians, so the parts need not add up exactly):", '');
  lines.push(
    '| op | JS wrapper (pdenet − addon alone) | N-API + conversions (addon − C++ boxed) | ' +
      'boxed dispatch (C++ boxed − C++ direct) | addon alone | C++ boxed |',
  );
  lines.push('|---|---|---|---|---|---|');
  for (const op of o.ops) {
    lines.push(
      `| \`${op.key}\` | ${fixed(op.jsWrapperUs)} | ${fixed(op.napiUs)} | ${fixed(op.boxedDispatchUs)} | ` +
        `${fixed(op.addonUs.median)} | ${fixed(op.cxxBoxedUs?.median)} |`,
    );
  }
  lines.push(
    '',
    `The cheapest N-API call (\`native.gradEnabled()\`) costs ${fixed(o.napiFloorUs.median, 3)} µs. ` +
      '"Addon alone" calls `native.call` / `native.dispose` on raw handles, without the Tensor class; "C++ boxed" ' +
      'runs the same operator with `OperatorHandle::callBoxed`, as the addon does (for `shape` there is no operator: the N-API column is measured against C++ direct).',
    '',
  );
  return lines;
}
