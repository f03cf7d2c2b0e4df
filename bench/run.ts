/**
 * pdenet's benchmark suite, each figure side by side with its PyTorch counterpart measured in the same run.
 *
 *   node dist/bench/run.js [--quick] [--repeats N] [--only conv|overhead|memory] [--json]
 *
 * - conv (bench/suite/conv.ts): conv2d 64→64 3×3, padding 1, batch 32, 32×32, float32, forward + backward, in
 *   pdenet and in PyTorch (bench/torch_bench.py run by /usr/bin/python3), both with pdenet's thread count.
 * - overhead (bench/suite/overhead.ts): µs per call of tiny ops in pdenet, in Python PyTorch and in libtorch C++
 *   (bench/native_baseline.cpp, compiled on the fly into build/bench/), and where pdenet's share of it goes.
 * - memory (bench/suite/memory.ts): peak native bytes of one conv step, next to what the step needs in theory.
 *
 * Samples of the sides are interleaved (pdenet, PyTorch, pdenet, PyTorch, …, the first side alternating), so
 * that noise on the machine hits both; every figure is the median of the repeats (bench/harness/). The output is
 * markdown to paste into BENCHMARKS.md (progress goes to stderr); `--json` prints one JSON object instead.
 *
 * Environment: PDENET_BENCH_PYTHON (default /usr/bin/python3), CXX (default g++), PDENET_NUM_THREADS.
 * @module
 */
import { getNumThreads } from '../src/index.js';
import { parseFlags, positiveInteger } from './harness/flags.js';
import { PYTHON, startNativeBaseline, startPython } from './harness/counterparts.js';
import { cpuPressure, describeMachine, type Load, load, type Machine, machineMarkdown } from './harness/machine.js';
import { log } from './harness/sampling.js';
import { benchConv, convMarkdown, type ConvResult } from './suite/conv.js';
import { benchMemory, memoryMarkdown, type MemoryResult } from './suite/memory.js';
import { benchOverhead, overheadMarkdown, type OverheadResult } from './suite/overhead.js';

const USAGE = `usage: node dist/bench/run.js [--quick] [--repeats N] [--only conv|overhead|memory] [--json]

  --quick        fewer repeats and iterations (about a minute); for checking, not for publishing
  --repeats N    samples per side (default 7, quick 3); every figure is the median of N
  --only WHAT    run one benchmark: conv (includes memory), overhead, or memory
  --json         print one JSON object instead of markdown tables`;

const { values: opts } = parseFlags(
  {
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      repeats: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  },
  USAGE,
);

if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const ONLY = opts.only ?? 'all';
if (!['all', 'conv', 'overhead', 'memory'].includes(ONLY)) {
  console.error(`--only must be conv, overhead or memory, got ${JSON.stringify(ONLY)}\n\n${USAGE}`);
  process.exit(2);
}
const REPEATS = opts.repeats === undefined ? (opts.quick ? 3 : 7) : positiveInteger('repeats', opts.repeats);

/** Iterations per sample and warm-up; a conv step takes ~0.1–0.3 s on 2 cores, a tiny op a few µs. */
const SETTINGS = {
  repeats: REPEATS,
  convItersPerSample: opts.quick ? 2 : 5,
  convWarmupSteps: opts.quick ? 1 : 3,
  overheadCallsPerSample: opts.quick ? 5_000 : 20_000,
  overheadWarmupCalls: opts.quick ? 1_000 : 5_000,
};

const THREADS = getNumThreads();

interface Report {
  date: string;
  command: string;
  settings: typeof SETTINGS & { quick: boolean; only: string };
  machine: Machine;
  load: Load;
  conv: ConvResult[] | null;
  memory: MemoryResult | null;
  overhead: OverheadResult | null;
  notes: string[];
}

function markdown(report: Report): string {
  const lines: string[] = [];
  lines.push(`### Run of ${report.date}`, '');
  lines.push(
    `Command: \`${report.command}\` (${report.settings.repeats} repeats per side, interleaved; ` +
      'figures are medians of the repeats).',
    '',
  );
  lines.push(...machineMarkdown(report.machine, report.load), '');
  if (report.conv) lines.push(...convMarkdown(report.conv, report.settings.convItersPerSample));
  if (report.memory) lines.push(...memoryMarkdown(report.memory));
  if (report.overhead) lines.push(...overheadMarkdown(report.overhead));
  if (report.notes.length) lines.push('Notes:', '', ...report.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const startLoad = load();
  const startPressure = cpuPressure();
  const wantConv = ONLY === 'all' || ONLY === 'conv';
  const wantMemory = ONLY === 'all' || ONLY === 'conv' || ONLY === 'memory';
  const wantOverhead = ONLY === 'all' || ONLY === 'overhead';
  log(`threads ${THREADS}, load ${startLoad.join(' ')}; starting ${PYTHON} bench/torch_bench.py …`);

  const notes: string[] = [];
  const python = wantConv || wantOverhead ? await startPython(THREADS, notes) : null;
  const cxx = wantOverhead ? await startNativeBaseline(notes) : null;
  try {
    const conv = wantConv
      ? await benchConv(python?.server ?? null, {
          repeats: REPEATS,
          threads: THREADS,
          itersPerSample: SETTINGS.convItersPerSample,
          warmupSteps: SETTINGS.convWarmupSteps,
        })
      : null;
    const mem = wantMemory ? benchMemory() : null;
    const overhead = wantOverhead
      ? await benchOverhead(python?.server ?? null, cxx?.server ?? null, {
          repeats: REPEATS,
          threads: THREADS,
          callsPerSample: SETTINGS.overheadCallsPerSample,
          warmupCalls: SETTINGS.overheadWarmupCalls,
        })
      : null;
    if (opts.quick)
      notes.push('--quick: few repeats and short samples; use the default settings for published figures.');
    const report: Report = {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      command: ['node dist/bench/run.js', ...process.argv.slice(2)].join(' '),
      settings: { ...SETTINGS, quick: opts.quick ?? false, only: ONLY },
      machine: describeMachine(THREADS, python?.info ?? null, cxx ? String(cxx.info.compiler) : null),
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
    cxx?.server.close();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exitCode = 1;
});
