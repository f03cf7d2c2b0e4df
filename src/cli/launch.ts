/**
 * `pdenet launch`: starts the workers of a data-parallel run on this machine, as torchrun does — one
 * process per rank with the env:// variables (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK,
 * LOCAL_WORLD_SIZE) and the machine's threads split between them (PDENET_NUM_THREADS).
 *
 * The launcher owns its workers: SIGINT and SIGTERM are forwarded to every worker once, SIGHUP and SIGQUIT as
 * SIGTERM (workers run in their own process group, so a terminal's Ctrl-C reaches them only through the
 * launcher), and the launcher then exits with 130; when a worker fails, the others get SIGTERM (SIGKILL after a
 * grace period) and the launcher exits non-zero with one line naming the rank and how it ended. A worker of
 * `pdenet train` stopped by a limit (--max-steps, --max-minutes: exit code 3, its checkpoint written) has
 * finished, not failed: the launcher passes the code on. Workers are given the launcher's pid
 * (PDENET_PARENT_PID): a `pdenet train` worker stops at a checkpoint when the launcher is gone, even killed.
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { spawnOwned } from '../train/parent.js';
import { EXIT_CODES } from '../train/trainer.js';
import { nonNegativeInt, positiveInt } from './options.js';
import { STOP_SIGNALS } from './signals.js';

/** Options of {@link launch}. */
export interface LaunchOptions {
  /** The worker's command line: program and arguments (the same for every rank). */
  command: readonly string[];
  /** Workers on this machine. */
  nprocPerNode: number;
  /** Machines in the run (default 1). */
  nnodes?: number;
  /** This machine's place among them, 0…nnodes−1 (default 0; node 0 hosts rank 0 and its TCPStore). */
  nodeRank?: number;
  /** Address of node 0 as every machine reaches it (default 127.0.0.1: one machine). */
  masterAddr?: string;
  /** Port of rank 0's TCPStore (default: a free port when nnodes is 1, else 29500). */
  masterPort?: number;
  /** Threads per worker (default: the machine's cores, or PDENET_NUM_THREADS, split evenly; at least 1). */
  threadsPerWorker?: number;
  /** Environment of the workers, before the launcher's variables (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL when stopping the other workers, in ms (default 10,000). */
  graceMs?: number;
  /** Where the launcher's own messages go (default stderr). */
  log?: (line: string) => void;
  /**
   * Exit codes other than 0 with which a worker ends without failing (`pdenet train`: 3, stopped by a limit);
   * the launcher then exits with the first of them a worker gave.
   */
  finishedCodes?: readonly number[];
}

/** How a launch ended. */
export interface LaunchResult {
  /** 0 when every worker exited with 0. */
  exitCode: number;
  /** The first worker that failed (its rank, and its exit code or signal), or null. */
  failed: { rank: number; code: number | null; signal: NodeJS.Signals | null } | null;
  /** One line saying how the run ended. */
  message: string;
}

/** A TCP port nobody listens on now, on `host`. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function totalThreads(env: NodeJS.ProcessEnv): number {
  const n = Number(env.PDENET_NUM_THREADS);
  return Number.isInteger(n) && n >= 1 ? n : availableParallelism();
}

/** Refuses options that cannot start a run, each with one line naming it. */
function checkLaunchOptions({ command, nprocPerNode, nnodes = 1, nodeRank = 0, masterAddr }: LaunchOptions): void {
  if (command.length === 0) throw new Error('launch: no worker command given');
  if (!Number.isInteger(nprocPerNode) || nprocPerNode < 1)
    throw new Error(`launch: nprocPerNode must be ≥ 1, got ${nprocPerNode}`);
  if (!Number.isInteger(nnodes) || nnodes < 1) throw new Error(`launch: nnodes must be ≥ 1, got ${nnodes}`);
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) {
    throw new Error(`launch: nodeRank must be in 0…${nnodes - 1}, got ${nodeRank}`);
  }
  if (nnodes > 1 && masterAddr === undefined) {
    throw new Error(
      'launch: a run on several machines needs --master-addr (the address of node 0, reachable from every node)',
    );
  }
}

/** The env:// variables of one worker, and its share of the threads. */
function workerEnv(
  base: NodeJS.ProcessEnv,
  at: {
    masterAddr: string;
    masterPort: number;
    worldSize: number;
    rank: number;
    local: number;
    nprocPerNode: number;
    nodeRank: number;
    threads: number;
  },
): NodeJS.ProcessEnv {
  return {
    ...base,
    MASTER_ADDR: at.masterAddr,
    MASTER_PORT: String(at.masterPort),
    WORLD_SIZE: String(at.worldSize),
    RANK: String(at.rank),
    LOCAL_RANK: String(at.local),
    LOCAL_WORLD_SIZE: String(at.nprocPerNode),
    GROUP_RANK: String(at.nodeRank),
    PDENET_NUM_THREADS: String(at.threads),
    OMP_NUM_THREADS: String(at.threads),
    // libtorch's own log (glog) would repeat every failure pdenet reports as an error, in another form
    GLOG_minloglevel: base.GLOG_minloglevel ?? '3',
  };
}

/** How the run ended: the first failed worker, a signal that stopped it, or every worker finished. */
function launchResult(
  workers: readonly { child: ChildProcess }[],
  failed: LaunchResult['failed'],
  stopping: NodeJS.Signals | null,
  nprocPerNode: number,
  finishedCodes: readonly number[],
): LaunchResult {
  if (failed !== null) {
    const how = failed.code !== null ? `exited with code ${failed.code}` : `was killed by ${failed.signal}`;
    return {
      exitCode: failed.code !== null && failed.code !== 0 ? failed.code : EXIT_CODES.failed,
      failed,
      message: `rank ${failed.rank} ${how}; the run was stopped`,
    };
  }
  if (stopping !== null) {
    // Stopped by a signal (130), unless a worker failed with a code of its own on the way.
    const stopped = [0, EXIT_CODES.signal, 143, ...finishedCodes];
    const bad = workers.find((w) => w.child.exitCode !== null && !stopped.includes(w.child.exitCode));
    return { exitCode: bad ? bad.child.exitCode! : EXIT_CODES.signal, failed: null, message: `stopped by ${stopping}` };
  }
  const bad = workers.find((w) => w.child.exitCode !== 0 && w.child.exitCode !== null);
  const exitCode = bad ? bad.child.exitCode! : 0;
  return {
    exitCode,
    failed: null,
    message: `${nprocPerNode} worker(s) finished${exitCode === 0 ? '' : ` (exit code ${exitCode})`}`,
  };
}

/** The signal a worker is sent when the launcher receives `signal`: SIGINT and SIGTERM as they are, others as SIGTERM. */
const forwardedAs = (signal: NodeJS.Signals): NodeJS.Signals => (signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');

/** The workers of one launch: started, signalled and watched together. */
class Workers {
  readonly list: { rank: number; child: ChildProcess; exited: boolean }[] = [];
  failed: LaunchResult['failed'] = null;
  /** The signal the launcher received and forwarded (see {@link forwardedAs}), if any. */
  stopping: NodeJS.Signals | null = null;
  #killTimer: NodeJS.Timeout | null = null;
  #running = 0;
  #allExited: () => void = () => {};
  readonly done: Promise<void>;

  constructor(
    private readonly options: LaunchOptions,
    private readonly log: (line: string) => void,
  ) {
    this.done = new Promise<void>((resolve) => {
      this.#allExited = resolve;
    });
  }

  signalAll(signal: NodeJS.Signals): void {
    for (const w of this.list) if (!w.exited) w.child.kill(signal);
  }

  /** SIGTERM to the workers still running, SIGKILL after the grace period. */
  stopOthers(): void {
    this.signalAll('SIGTERM');
    this.#killTimer ??= setTimeout(() => this.signalAll('SIGKILL'), this.options.graceMs ?? 10_000);
    this.#killTimer.unref();
  }

  /** A signal to the launcher: forwarded once; a second one kills at once. */
  readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.stopping !== null) {
      this.signalAll('SIGKILL');
      return;
    }
    this.stopping = signal;
    const as = forwardedAs(signal);
    this.log(
      `pdenet launch: ${signal}: forwarded${as === signal ? '' : ` as ${as}`} to ` +
        `${this.list.filter((w) => !w.exited).length} worker(s)`,
    );
    this.signalAll(as);
  };

  start(rank: number, env: NodeJS.ProcessEnv): void {
    const { command } = this.options;
    // Owned (src/train/parent.ts): killed with their process groups if the launcher exits first (process.exit, an
    // uncaught error); a worker stops at a checkpoint when the launcher is gone, however it ended.
    const child = spawnOwned(command[0]!, command.slice(1), { env, stdio: 'inherit' });
    const worker = { rank, child, exited: false };
    this.list.push(worker);
    this.#running++;
    const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (worker.exited) return;
      worker.exited = true;
      this.#judge(rank, code, signal);
      if (--this.#running === 0) this.#allExited();
    };
    child.on('exit', exited);
    child.on('error', (e) => {
      this.log(`pdenet launch: could not start rank ${rank} (${command[0]}): ${e.message}`);
      exited(127, null);
    });
  }

  /** A worker's end: a failure (the first one) stops the others; a finish or a forwarded signal does not. */
  #judge(rank: number, code: number | null, signal: NodeJS.Signals | null): void {
    const ok =
      code === 0 ||
      (code !== null && (this.options.finishedCodes ?? []).includes(code)) ||
      (this.stopping !== null && (signal === forwardedAs(this.stopping) || code === 130 || code === 143));
    if (ok || this.failed !== null || this.stopping !== null) return;
    this.failed = { rank, code, signal };
    const others = this.list.filter((w) => !w.exited).length;
    this.log(
      `pdenet launch: rank ${rank} ${code !== null ? `exited with code ${code}` : `was killed by ${signal}`}` +
        (others > 0 ? `; stopping the other ${others} worker(s)` : ''),
    );
    this.stopOthers();
  }

  close(): void {
    if (this.#killTimer) clearTimeout(this.#killTimer);
  }
}

/**
 * Starts the workers and resolves when they have all exited. The launcher handles SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT while it runs (forwarding them) and removes its handlers when done.
 */
export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  checkLaunchOptions(options);
  const { nprocPerNode, nnodes = 1, nodeRank = 0 } = options;
  const masterAddr = options.masterAddr ?? '127.0.0.1';
  const masterPort = options.masterPort ?? (nnodes === 1 ? await freePort(masterAddr) : 29500);
  const baseEnv = options.env ?? process.env;
  const threads = options.threadsPerWorker ?? Math.max(1, Math.floor(totalThreads(baseEnv) / nprocPerNode));
  const worldSize = nnodes * nprocPerNode;
  const workers = new Workers(options, options.log ?? ((line: string) => console.error(line)));
  for (const signal of STOP_SIGNALS) process.on(signal, workers.onSignal);
  try {
    for (let local = 0; local < nprocPerNode; local++) {
      const rank = nodeRank * nprocPerNode + local;
      const place = { masterAddr, masterPort, worldSize, rank, local, nprocPerNode, nodeRank, threads };
      workers.start(rank, workerEnv(baseEnv, place));
    }
    await workers.done;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, workers.onSignal);
    workers.close();
  }
  return launchResult(workers.list, workers.failed, workers.stopping, nprocPerNode, options.finishedCodes ?? []);
}

/** The flags of a distributed run, with their parsed values. */
export interface LaunchFlags {
  nprocPerNode?: number;
  nnodes: number;
  nodeRank: number;
  masterAddr?: string;
  masterPort?: number;
}

function port(value: string): number {
  const n = positiveInt(value);
  if (n > 65535) throw new InvalidArgumentError(`expected a port (1…65535), got "${value}"`);
  return n;
}

/** Adds --nproc-per-node, --nnodes, --node-rank, --master-addr, --master-port to a command. */
export function addLaunchFlags(command: Command, options: { nprocRequired?: boolean } = {}): Command {
  const nproc = new Option(
    '--nproc-per-node <n>',
    'worker processes on this machine (threads split between them)',
  ).argParser(positiveInt);
  if (options.nprocRequired) nproc.makeOptionMandatory();
  return command
    .addOption(nproc)
    .option('--nnodes <n>', 'machines in the run', positiveInt, 1)
    .option('--node-rank <n>', "this machine's index, 0 (hosts rank 0) … nnodes−1", nonNegativeInt, 0)
    .option('--master-addr <host>', 'address of node 0, reachable from every node (default 127.0.0.1)')
    .option(
      '--master-port <port>',
      "port of rank 0's rendezvous store (default: a free one on one machine, 29500 on several)",
      port,
    );
}

/**
 * For a command that accepts the launch flags (`pdenet train --nproc-per-node 2 …`): when they ask for
 * more than one process and this process is not a worker already (no WORLD_SIZE), runs the same
 * command line as workers under {@link launch}, sets the exit code, and returns true; otherwise returns
 * false and the command runs here (as one worker, or alone). `check` is given the world size before any
 * worker starts: what it throws is said once, here, rather than by every worker.
 */
export async function relaunchAsWorkers(
  flags: LaunchFlags,
  argv: readonly string[] = process.argv,
  finishedCodes: readonly number[] = [],
  check: (worldSize: number) => void = () => {},
): Promise<boolean> {
  const nproc = flags.nprocPerNode ?? 1;
  if (process.env.WORLD_SIZE !== undefined || (nproc === 1 && flags.nnodes === 1)) return false;
  check(nproc * flags.nnodes);
  const result = await launch({
    command: [process.execPath, ...process.execArgv, ...argv.slice(1)],
    nprocPerNode: nproc,
    nnodes: flags.nnodes,
    nodeRank: flags.nodeRank,
    finishedCodes,
    ...(flags.masterAddr !== undefined ? { masterAddr: flags.masterAddr } : {}),
    ...(flags.masterPort !== undefined ? { masterPort: flags.masterPort } : {}),
  });
  if (result.exitCode !== 0 && result.failed === null) console.error(`pdenet launch: ${result.message}`); // a failure was told as it happened
  process.exitCode = result.exitCode;
  return true;
}

/**
 * `pdenet launch [flags] -- <pdenet command …>` (or `--exec -- <program …>`). `checks` has, per pdenet command,
 * what refuses its arguments for that many workers: it is said once, before any worker starts.
 */
export function registerLaunch(
  program: Command,
  checks: Record<string, (args: readonly string[], worldSize: number) => void> = {},
): void {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  addLaunchFlags(
    program
      .command('launch')
      .description(
        'start the workers of a data-parallel run, like torchrun: pdenet launch --nproc-per-node 2 -- train …',
      )
      .argument('<command...>', 'the pdenet command each worker runs (after --)'),
    { nprocRequired: true },
  )
    .option('--exec', 'the command is a program with its arguments, not a pdenet command')
    .action(async (command: string[], flags: LaunchFlags & { exec?: boolean }) => {
      if (!flags.exec) checks[command[0]!]?.(command.slice(1), flags.nprocPerNode! * flags.nnodes);
      const result = await launch({
        command: flags.exec ? command : [process.execPath, main, ...command],
        nprocPerNode: flags.nprocPerNode!,
        // `pdenet train` stopped by a limit exits with 3 on every rank, its checkpoint written: a finish.
        finishedCodes: !flags.exec && command[0] === 'train' ? [EXIT_CODES.limit] : [],
        nnodes: flags.nnodes,
        nodeRank: flags.nodeRank,
        ...(flags.masterAddr !== undefined ? { masterAddr: flags.masterAddr } : {}),
        ...(flags.masterPort !== undefined ? { masterPort: flags.masterPort } : {}),
      });
      if (result.exitCode !== 0 && result.failed === null) console.error(`pdenet launch: ${result.message}`); // a failure was told as it happened
      process.exitCode = result.exitCode;
    });
}
