/**
 * The other sides of a comparison, each a child process kept alive for the whole run and asked for one sample at a
 * time: PyTorch (bench/torch_bench.py in `serve` mode) and libtorch C++ (bench/native_baseline.cpp, compiled on the
 * fly against pdenet's libtorch). A side that cannot start is skipped with a note saying why.
 *
 * Environment: PDENET_BENCH_PYTHON (default /usr/bin/python3), CXX (default g++).
 * @module
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { commandOutput, ROOT } from './machine.js';
import { log } from './sampling.js';

export const PYTHON = process.env.PDENET_BENCH_PYTHON ?? '/usr/bin/python3';
const CXX = process.env.CXX ?? 'g++';

/** A child process answering one JSON line per request line. */
export class LineServer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  #stderr = '';
  #dead: Error | null = null;
  /** The first line the process prints when it is ready. */
  readonly ready: Promise<Record<string, unknown>>;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
  ) {
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

  /** Sends one request line; resolves to the JSON reply. */
  request(line: string): Promise<Record<string, unknown>> {
    const reply = this.#next();
    if (!this.#dead) this.#child.stdin.write(`${line}\n`);
    return reply;
  }

  close(): void {
    this.#child.stdin.end();
  }
}

/** A running counterpart and what it reported when it started. */
export interface Counterpart {
  server: LineServer;
  info: Record<string, unknown>;
}

/** The server once it is ready, or null with a note `skipped: why` + `hint`. */
async function started(server: LineServer, notes: string[], skipped: string, hint = ''): Promise<Counterpart | null> {
  try {
    return { server, info: await server.ready };
  } catch (e) {
    notes.push(`${skipped}: ${(e as Error).message}${hint}`);
    server.close();
    return null;
  }
}

/** PyTorch's side with `threads` threads; its info holds the versions of Python and torch. */
export function startPython(threads: number, notes: string[]): Promise<Counterpart | null> {
  const server = new LineServer('PyTorch', PYTHON, [
    join(ROOT, 'bench/torch_bench.py'),
    'serve',
    '--threads',
    String(threads),
  ]);
  return started(server, notes, 'PyTorch columns skipped', ' (set PDENET_BENCH_PYTHON to a Python with torch).');
}

/** Compiles bench/native_baseline.cpp against pdenet's libtorch into build/bench/ (cached by a hash). */
function buildNativeBaseline(notes: string[]): string | null {
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
  const args = [
    '-O2',
    '-std=c++17',
    `-D_GLIBCXX_USE_CXX11_ABI=${abi}`,
    '-w',
    ...includes
      .split(/\s+/)
      .filter(Boolean)
      .map((d) => `-I${d}`),
    source,
    '-o',
    binary,
    `-L${libdir}`,
    `-Wl,-rpath,${libdir}`,
    '-Wl,--no-as-needed',
    '-ltorch',
    '-ltorch_cpu',
    '-lc10',
  ];
  const stamp = createHash('sha256')
    .update(readFileSync(source))
    .update(JSON.stringify([CXX, cxxVersion, args]))
    .digest('hex');
  const stampFile = `${binary}.stamp`;
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

/** libtorch C++'s side; its info's `compiler` names the compiler and flags it was built with. */
export async function startNativeBaseline(notes: string[]): Promise<Counterpart | null> {
  const binary = buildNativeBaseline(notes);
  if (binary === null) return null;
  const side = await started(new LineServer('libtorch C++', binary, []), notes, 'libtorch C++ column skipped');
  if (side) side.info.compiler = `${commandOutput(CXX, ['--version'])?.split('\n')[0] ?? CXX} -O2`;
  return side;
}
