// Data-parallel training on c10d, with real processes on loopback: collectives against hand-computed
// values, DDP (2 ranks × 16) against one process × 32, faults (a dead or hung rank, a world that never
// assembles, an address in use, mismatched models) and the launcher.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { freePort, launch } from '../src/cli/launch.js';
import {
  DistributedDataParallel,
  distEnv,
  initProcessGroup,
  shardLength,
  shardOrder,
} from '../src/distributed/index.js';
import { DataLoader } from '../src/data/loader.js';
import { syntheticImages } from '../src/data/synthetic.js';
import { Linear } from '../src/nn/index.js';
import { noGrad, tensor, TorchError } from '../src/tensor/index.js';
import { running, until } from './helpers.js';

const worker = join(dirname(fileURLToPath(import.meta.url)), 'distributed-worker.js');
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const stopOnSignals = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'stop-on-signals.js');
const ownedChildren = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'owned-children.js');

interface Run {
  code: number | null;
  out: Record<string, unknown>[];
  err: string;
  ms: number;
}

function runRank(mode: string, env: Record<string, string>, args: string[] = []): Promise<Run> {
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [worker, mode, ...args], {
      env: { ...process.env, PDENET_NUM_THREADS: '1', GLOG_minloglevel: '3', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    child.on('exit', (code) =>
      resolve({
        code,
        err,
        ms: performance.now() - start,
        out: out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      }),
    );
  });
}

async function runWorld(mode: string, size: number, extra: Record<string, string> = {}): Promise<Run[]> {
  const port = await freePort();
  return Promise.all(
    Array.from({ length: size }, (_, rank) =>
      runRank(mode, {
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        WORLD_SIZE: String(size),
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        ...extra,
      }),
    ),
  );
}

function maxDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let worst = 0;
  for (const k of Object.keys(a)) {
    assert.equal(a[k]!.length, b[k]!.length, k);
    a[k]!.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - b[k]![i]!));
    });
  }
  return worst;
}

describe('shardOrder', () => {
  it('splits an order as DistributedSampler does: strided, padded with the head, equal lengths', () => {
    const order = Int32Array.from([9, 8, 7, 6, 5, 4, 3]);
    assert.deepEqual([...shardOrder(order, { rank: 0, worldSize: 3 })], [9, 6, 3]);
    assert.deepEqual([...shardOrder(order, { rank: 1, worldSize: 3 })], [8, 5, 9]);
    assert.deepEqual([...shardOrder(order, { rank: 2, worldSize: 3 })], [7, 4, 8]);
    assert.deepEqual([...shardOrder(order, { rank: 2, worldSize: 3, dropLast: true })], [7, 4]);
    assert.equal(shardLength(7, { rank: 0, worldSize: 3 }), 3);
    assert.throws(() => shardOrder(order, { rank: 3, worldSize: 3 }), TorchError);
  });
});

describe('DataLoader with shard', () => {
  it("the ranks' batch b together are the one-process batch b of twice the size; equal lengths", async () => {
    const data = syntheticImages({ perClass: 7, classes: 5, height: 8, width: 8 }); // 35 images
    const whole = new DataLoader(data, { batchSize: 8, seed: 4, prefetch: 0 });
    const ranks = [0, 1].map(
      (rank) => new DataLoader(data, { batchSize: 4, seed: 4, prefetch: 0, shard: { rank, worldSize: 2 } }),
    );
    assert.deepEqual(
      ranks.map((l) => l.length),
      [5, 5],
    ); // 18 samples each (35 padded to 36)
    for (let b = 0; b < 4; b++) {
      const together = ranks.flatMap((l) => {
        const batch = l.batch(1, b);
        batch.dispose();
        return [...batch.indices];
      });
      const alone = whole.batch(1, b);
      alone.dispose();
      assert.deepEqual(
        together.sort((p, q) => p - q),
        [...alone.indices].sort((p, q) => p - q),
      );
    }
    assert.throws(() => new DataLoader(data, { batchSize: 4, shard: { rank: 2, worldSize: 2 } }), /rank must be/);
    await Promise.all([whole, ...ranks].map((l) => l.close()));
  });
});

describe('distEnv', () => {
  it('reads the env:// variables and names a bad one', () => {
    assert.equal(distEnv({}), null);
    assert.deepEqual(distEnv({ WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: 'h', MASTER_PORT: '29500' }), {
      masterAddr: 'h',
      masterPort: 29500,
      rank: 1,
      worldSize: 2,
      localRank: 1,
    });
    assert.throws(
      () => distEnv({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' }),
      /RANK 2 is not below WORLD_SIZE 2/,
    );
    assert.throws(() => distEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_PORT: '1' }), /MASTER_ADDR must be/);
    assert.throws(() => distEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: 'h', MASTER_PORT: '70000' }), /MASTER_PORT/);
  });
});

describe('collectives (2 processes on loopback)', () => {
  it('allReduce, broadcast, allGather, barrier and any give the hand-computed values', async () => {
    const runs = await runWorld('collectives', 2);
    for (const [rank, run] of runs.entries()) {
      assert.equal(run.code, 0, run.err);
      assert.deepEqual(run.out[0], {
        rank,
        sum: [3, 30],
        max: [2, -1],
        broadcast: [1, 1, 1],
        gathered: [
          [0, 0],
          [1, 1],
        ],
        asyncSum: [4],
        any: true,
        none: false,
      });
    }
  });
});

describe('DistributedDataParallel', () => {
  for (const [mode, what] of [
    ['plain', 'a model without BatchNorm'],
    ['bn', 'a model with SyncBatchNorm'],
  ] as const) {
    it(`2 ranks × batch 16 end 5 SGD steps with the weights of 1 process × batch 32 (${what})`, async () => {
      const [alone, ranks] = await Promise.all([runRank(mode, {}), runWorld(mode, 2)]);
      assert.equal(alone.code, 0, alone.err);
      const reference = alone.out[0]!.state as Record<string, number[]>;
      for (const run of ranks) {
        assert.equal(run.code, 0, run.err);
        const state = run.out[0]!.state as Record<string, number[]>;
        assert.ok(
          maxDiff(state, reference) < 1e-5,
          `rank ${String(run.out[0]!.rank)}: max difference ${maxDiff(state, reference)}`,
        );
      }
      // the weights moved: the comparison is not between initial weights
      assert.ok(Object.keys(reference).length >= 6);
    });
  }

  it('mismatched models on the ranks: every rank fails, naming the first difference', async () => {
    const runs = await runWorld('mismatch', 2);
    for (const run of runs) {
      assert.equal(run.code, 1);
      assert.match(
        run.err,
        /the model on rank 1 differs from rank 0's: rank 0 has parameter 0\.weight \[4, 3, 3, 3\] float32, rank 1 has parameter 0\.weight \[6, 3, 3, 3\] float32/,
      );
    }
  });
});

describe('faults', () => {
  it('a rank that dies makes the other exit non-zero at once, naming the collective', async () => {
    const [r0, r1] = await runWorld('die', 2, { TEST_TIMEOUT_MS: '20000' });
    assert.equal(r1!.code, 3);
    assert.equal(r0!.code, 1);
    assert.match(r0!.err, /rank 0 of 2: .* another rank has exited, failed or hung; every rank stops/);
    assert.equal(r0!.err.trim().split('\n').length, 1, r0!.err);
    assert.ok(r0!.ms < 20000, `${r0!.ms} ms`);
  });

  it('a rank that hangs makes the other exit non-zero within the timeout', async () => {
    const [r0, r1] = await runWorld('hang', 2, { TEST_TIMEOUT_MS: '3000' });
    assert.equal(r0!.code, 1);
    assert.match(r0!.err, /rank 0 of 2: .*another rank has exited, failed or hung/);
    assert.match(r0!.err, /Timed out waiting 3000ms/);
    // rank 1 sleeps 10 timeouts: rank 0 has to give up long before it wakes
    assert.ok(r0!.ms < r1!.ms - 15000, `rank 0 ended after ${r0!.ms} ms, rank 1 after ${r1!.ms} ms`);
    assert.notEqual(r1!.code, 0); // rank 1 fails too once rank 0 has gone
  });

  /** One rank of a world of 2 trying to join at `port` on its own, with a 2-second timeout. */
  const joinAlone = (port: number, rank: number) =>
    runRank('join', {
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
      WORLD_SIZE: '2',
      RANK: String(rank),
      TEST_TIMEOUT_MS: '2000',
    });

  it('a world that never assembles: rank 0 fails after the timeout, saying so', async () => {
    const port = await freePort();
    const run = await joinAlone(port, 0);
    assert.equal(run.code, 1);
    assert.match(run.err, /rank 0 of 2 could not join the group at 127\.0\.0\.1:\d+ within 2000 ms/);
  });

  it('nobody at the address: rank 1 fails after the timeout, asking whether rank 0 runs', async () => {
    const port = await freePort();
    const run = await joinAlone(port, 1);
    assert.equal(run.code, 1);
    assert.match(
      run.err,
      /rank 1 of 2 could not join .*\(is rank 0 running, and is 127\.0\.0\.1:\d+ reachable from here\?/,
    );
  });

  it('a port in use: rank 0 fails with a clear error', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const run = await joinAlone(port, 0);
      assert.equal(run.code, 1);
      assert.match(run.err, /rank 0 of 2 could not join the group at 127\.0\.0\.1:\d+ .*(in use|bind)/i);
    } finally {
      server.close();
    }
  });
});

describe('launch', () => {
  it('runs the ranks with the env:// variables and threads split between them', async () => {
    const script =
      'console.log(JSON.stringify([process.env.RANK, process.env.LOCAL_RANK, process.env.WORLD_SIZE, ' +
      'process.env.PDENET_NUM_THREADS, process.env.MASTER_ADDR]))';
    const result = await launch({
      command: [process.execPath, '-e', script],
      nprocPerNode: 2,
      env: { ...process.env, PDENET_NUM_THREADS: '4' },
      log: () => {},
    });
    assert.deepEqual(result, { exitCode: 0, failed: null, message: '2 worker(s) finished' });
  });

  it('relaunchAsWorkers: a command given --nproc-per-node 2 runs itself as 2 workers with its other flags', async () => {
    const run = await runRank('relaunch', { PDENET_NUM_THREADS: '2' }, ['--nproc-per-node', '2', '--tag', 'x']);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(
      run.out.sort((a, b) => Number(a.rank) - Number(b.rank)),
      [
        { rank: 0, size: 2, tag: 'x', threads: '1' },
        { rank: 1, size: 2, tag: 'x', threads: '1' },
      ],
    );
  });

  it('a worker that fails stops the others; the launcher names the rank and its exit code', async () => {
    const lines: string[] = [];
    const start = performance.now();
    const result = await launch({
      command: [process.execPath, worker, 'die'],
      nprocPerNode: 2,
      env: { ...process.env, PDENET_NUM_THREADS: '2', TEST_TIMEOUT_MS: '20000' },
      log: (l) => lines.push(l),
    });
    assert.equal(result.exitCode, 3);
    assert.deepEqual(result.failed, { rank: 1, code: 3, signal: null });
    assert.equal(result.message, 'rank 1 exited with code 3; the run was stopped');
    assert.match(lines[0]!, /^pdenet launch: rank 1 exited with code 3; stopping the other 1 worker\(s\)$/);
    assert.ok(performance.now() - start < 20000);
  });

  it('SIGINT reaches every worker once; ranks agree to stop after the same step', async () => {
    const lines: string[] = [];
    const ready = mkdtempSync(join(tmpdir(), 'pdenet-sigint-'));
    const pending = launch({
      command: [process.execPath, worker, 'sigint'],
      nprocPerNode: 2,
      env: { ...process.env, PDENET_NUM_THREADS: '2', TEST_READY_DIR: ready },
      log: (l) => lines.push(l),
    });
    while (readdirSync(ready).length < 2) await new Promise((resolve) => setTimeout(resolve, 100));
    process.kill(process.pid, 'SIGINT');
    const result = await pending;
    assert.equal(result.exitCode, 130, result.message);
    assert.equal(result.message, 'stopped by SIGINT');
    assert.match(lines[0]!, /SIGINT: forwarded to 2 worker\(s\)/);
  });

  it('a signal stops the launch with exit code 130, also when the workers die of it; SIGHUP goes as SIGTERM', async () => {
    for (const signal of ['SIGINT', 'SIGHUP'] as const) {
      const lines: string[] = [];
      const ready = mkdtempSync(join(tmpdir(), 'pdenet-signal-'));
      // A worker without handlers: the signal forwarded kills it (exit code null).
      const script = `require('fs').writeFileSync(require('path').join(${JSON.stringify(ready)}, String(process.pid)), ''); setInterval(() => {}, 1000)`;
      const pending = launch({ command: [process.execPath, '-e', script], nprocPerNode: 2, log: (l) => lines.push(l) });
      await until(() => readdirSync(ready).length === 2, 'the workers starting');
      process.kill(process.pid, signal);
      const result = await pending;
      assert.deepEqual(result, { exitCode: 130, failed: null, message: `stopped by ${signal}` }, signal);
      assert.deepEqual(lines, [
        `pdenet launch: ${signal}: forwarded${signal === 'SIGHUP' ? ' as SIGTERM' : ''} to 2 worker(s)`,
      ]);
    }
  });

  it('a worker killed by a signal is a failure: exit code 1', async () => {
    const lines: string[] = [];
    const result = await launch({
      command: [process.execPath, '-e', "process.kill(process.pid, 'SIGKILL')"],
      nprocPerNode: 1,
      log: (l) => lines.push(l),
    });
    assert.deepEqual(result, {
      exitCode: 1,
      failed: { rank: 0, code: null, signal: 'SIGKILL' },
      message: 'rank 0 was killed by SIGKILL; the run was stopped',
    });
    assert.deepEqual(lines, ['pdenet launch: rank 0 was killed by SIGKILL']);
  });

  /** Kills a launcher of `worker` (a command given the folder it writes in) with SIGKILL; the worker must stop. */
  async function orphanStops(worker: (dir: string) => string[]): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'pdenet-orphan-'));
    const launcher = spawn(process.execPath, [cli, 'launch', '--nproc-per-node', '1', '--exec', '--', ...worker(dir)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PDENET_NUM_THREADS: '1' },
    });
    let err = '';
    launcher.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    const workerPid = () =>
      readdirSync(dir)
        .find((f) => f.startsWith('ready-'))
        ?.slice('ready-'.length);
    await until(() => workerPid() !== undefined, 'the worker starting');
    const pid = Number(workerPid());
    try {
      launcher.kill('SIGKILL');
      await until(() => existsSync(join(dir, `stopped-${pid}`)), 'the worker stopping', 10_000);
      await until(() => !running(pid), 'the worker exiting', 10_000);
      // The worker's stderr is the launcher's: still open to this test.
      await until(() => err.includes('has exited'), 'the worker saying why');
      assert.match(err, new RegExp(`^the parent process ${launcher.pid} has exited: stopping at a checkpoint$`, 'm'));
    } finally {
      if (running(pid)) process.kill(pid, 'SIGKILL');
    }
  }

  it('a worker notices that its launcher was killed (SIGKILL, which nothing forwards) and stops as on SIGTERM', () =>
    orphanStops((dir) => [process.execPath, stopOnSignals, dir]));

  it('so does a worker started through a wrapper process', () =>
    orphanStops((dir) => ['sh', '-c', '"$0" "$1" "$2"; exit $?', process.execPath, stopOnSignals, dir]));
});

describe('owned children (spawnOwned)', () => {
  it("know their parent's pid, and die with their process groups when the parent exits first", async () => {
    const parent = spawnSync(process.execPath, [ownedChildren], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(parent.status, 0, parent.stderr);
    const [parentPid, told, child, grandchild] = parent.stdout.trim().split(' ').map(Number);
    assert.equal(told, parentPid);
    try {
      await until(() => !running(child!) && !running(grandchild!), 'the child and its own child ending');
    } finally {
      for (const pid of [child!, grandchild!]) if (running(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('process group options and failures (one rank, in this process)', () => {
  it('an explicit localRank wins over LOCAL_RANK; the env fills it in otherwise', async () => {
    const port = await freePort();
    const saved = { ...process.env };
    Object.assign(process.env, {
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
      WORLD_SIZE: '1',
      RANK: '0',
      LOCAL_RANK: '0',
    });
    try {
      const given = await initProcessGroup({ localRank: 3, timeoutMs: 20_000 });
      assert.equal(given.localRank, 3);
      given.destroy();
      process.env.MASTER_PORT = String(await freePort());
      const fromEnv = await initProcessGroup({ timeoutMs: 20_000 });
      assert.equal(fromEnv.localRank, 0);
      fromEnv.destroy();
      await assert.rejects(initProcessGroup({ localRank: -1 }), /localRank must be an integer ≥ 0, got -1/);
    } finally {
      for (const key of ['MASTER_ADDR', 'MASTER_PORT', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });

  it("blames another rank only for gloo's lost connections and timeouts", async () => {
    const group = await initProcessGroup({
      worldSize: 1,
      rank: 0,
      masterAddr: '127.0.0.1',
      masterPort: await freePort(),
      timeoutMs: 20_000,
    });
    const blamed = ' — another rank has exited, failed or hung; every rank stops';
    try {
      for (const [message, why] of [
        [
          '[../third_party/gloo/gloo/transport/tcp/pair.cc:598] Connection closed by peer [127.0.0.1]:21650',
          'Connection closed by peer [127.0.0.1]:21650',
        ],
        [
          '[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting 3000ms for recv operation to complete',
          'Timed out waiting 3000ms for recv operation to complete',
        ],
        [
          'Read error [127.0.0.1]:40000: Connection reset by peer',
          'Read error [127.0.0.1]:40000: Connection reset by peer',
        ],
      ]) {
        assert.equal(group.failure('allReduce', new Error(message)).message, `allReduce: rank 0 of 1: ${why}${blamed}`);
      }
      // A failure of this rank's own: the loss does not require a gradient.
      const net = new Linear(2, 1);
      const ddp = new DistributedDataParallel(net, group);
      const error = (() => {
        try {
          ddp.backward(noGrad(() => net.forward(tensor([[1, 2]]))).sum());
        } catch (e) {
          return e as Error;
        }
        return null;
      })();
      ddp.dispose();
      net.dispose();
      assert.ok(error instanceof TorchError, String(error));
      assert.match(error.message, /^backward: rank 0 of 1: /);
      assert.ok(!error.message.includes('another rank'), error.message);
    } finally {
      group.destroy();
    }
  });
});
