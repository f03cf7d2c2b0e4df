/**
 * What a figure was measured on: the machine, the software on every side, and how loaded the machine was.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, getPriority, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { backend } from '../../src/index.js';

/** The repository (from dist/bench/harness/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The trimmed stdout of a command run in the repository, or null when it fails. */
export function commandOutput(command: string, args: string[]): string | null {
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

/** The vector extensions libtorch's kernels choose between. */
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

/** The load average over 1, 5 and 15 minutes. */
export function load(): [number, number, number] {
  return loadavg().map((x) => Math.round(x * 100) / 100) as [number, number, number];
}

/** Linux pressure stall information: % of the last 60 s in which some runnable task waited for a CPU. */
export function cpuPressure(): number | null {
  try {
    const m = /^some .*avg60=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface Machine {
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
}

/**
 * This machine and pdenet's libtorch, with the versions of the counterparts that ran (null for a side that did
 * not): `python` as `torch_bench.py info` reports it, `cxx` the compiler of the C++ baseline.
 */
export function describeMachine(threads: number, python: Record<string, unknown> | null, cxx: string | null): Machine {
  const info = backend();
  return {
    cpuModel: cpuModel(),
    cpuFlags: cpuFlags(),
    cores: cpus().length,
    availableParallelism: availableParallelism(),
    threads,
    totalMemoryBytes: totalmem(),
    libtorch: info.libtorch,
    libtorchSource: info.libdir ? `${info.source}: ${info.libdir}` : info.source,
    mkldnn: info.mkldnn,
    node: process.version,
    python: python ? String(python.python) : null,
    torch: python ? String(python.torch) : null,
    cxx,
    kernel: release(),
    git: git(),
    nice: getPriority(),
  };
}

/** How loaded the machine was at the start and at the end of a run. */
export interface Load {
  start: [number, number, number];
  end: [number, number, number];
  /** % of the last minute some task waited for a CPU (Linux PSI), at start and end; null where unavailable. */
  cpuPressureStart: number | null;
  cpuPressureEnd: number | null;
}

/** The machine as a markdown table. */
export function machineMarkdown(m: Machine, load: Load): string[] {
  const lines = ['| machine | |', '|---|---|'];
  lines.push(`| CPU | ${m.cpuModel} (${m.cpuFlags}) |`);
  lines.push(
    `| cores / threads used | ${m.cores} logical cores (${m.availableParallelism} usable) / ${m.threads} ` +
      'threads on every side |',
  );
  lines.push(`| memory | ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB |`);
  lines.push(`| libtorch | ${m.libtorch}${m.mkldnn ? ' (oneDNN on)' : ''}, ${m.libtorchSource ?? '?'} |`);
  lines.push(`| Node.js / Python / PyTorch | ${m.node} / ${m.python ?? '–'} / ${m.torch ?? '–'} |`);
  lines.push(`| C++ baseline | ${m.cxx ?? 'skipped'} |`);
  lines.push(`| kernel | ${m.kernel} |`);
  lines.push(`| pdenet commit | ${m.git ?? '?'} |`);
  lines.push(`| niceness of the run (every side) | ${m.nice} |`);
  lines.push(`| load average (1, 5, 15 min) | start ${load.start.join(', ')}; end ${load.end.join(', ')} |`);
  if (load.cpuPressureStart !== null) {
    lines.push(
      `| CPU pressure (share of the last minute some task waited for a CPU) | start ` +
        `${load.cpuPressureStart}%; end ${load.cpuPressureEnd}% |`,
    );
  }
  return lines;
}

/** One line for scripts that print a single table: CPU, threads and load. */
export function machineLine(threads: number): string {
  return `${cpuModel()}, ${cpus().length} logical cores, ${threads} threads; load average ${load().join(', ')}`;
}
