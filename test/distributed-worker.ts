// A rank of the tests in distributed.test.ts (not a test file itself): `node distributed-worker.js MODE`,
// with the env:// variables set by the test. Prints one JSON line on stdout when it succeeds.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential, AdaptiveAvgPool2d } from '../src/nn/index.js';
import { SGD } from '../src/optim/index.js';
import { F, manualSeed, randint, randn, tensor, tidy, zeros, type Tensor } from '../src/tensor/index.js';
import { DistributedDataParallel, initProcessGroup, shardOrder } from '../src/distributed/index.js';
import { permutation, Rng } from '../src/data/random.js';

const mode = process.argv[2]!;
const timeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 20000);
const out = (value: unknown): void => console.log(JSON.stringify(value));

function model(batchNorm: boolean, width = 4): Sequential {
  return new Sequential(
    new Conv2d(3, width, 3, { padding: 1 }),
    ...(batchNorm ? [new BatchNorm2d(width)] : []),
    new ReLU(),
    new Conv2d(width, 8, 3, { padding: 1, stride: 2 }),
    ...(batchNorm ? [new BatchNorm2d(8)] : []),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(8, 5),
  );
}

/** 5 SGD steps on the same 160 samples: batch 32 alone, or batch 32 / worldSize on each rank. */
async function train(batchNorm: boolean): Promise<void> {
  const distributed = process.env.WORLD_SIZE !== undefined;
  const group = distributed ? await initProcessGroup({ timeoutMs }) : null;
  const rank = group?.rank ?? 0;
  const world = group?.size ?? 1;
  manualSeed(7);
  const x = randn([160, 3, 8, 8]);
  const y = randint(0, 5, [160]);
  manualSeed(100 + rank); // different weights on each rank: DDP must broadcast rank 0's
  const net = model(batchNorm);
  const ddp = group ? new DistributedDataParallel(net, group, { syncBatchNorm: batchNorm }) : null;
  const opt = new SGD(net.parameters(), { lr: 0.2, momentum: 0.9 });
  const global = 32;
  const order = permutation(160, new Rng(3, 0, 0));
  const mine = group ? shardOrder(order, { rank, worldSize: world }) : order;
  const local = global / world;
  for (let step = 0; step < 5; step++) {
    tidy(() => {
      const idx = tensor(Array.from(mine.subarray(step * local, (step + 1) * local)), { dtype: 'int64' });
      const xb = x.indexSelect(0, idx);
      const yb = y.indexSelect(0, idx);
      opt.zeroGrad();
      const logits = ddp ? ddp.forward(xb) : net.forward(xb);
      F.crossEntropy(logits, yb).backward();
      opt.step();
    });
  }
  const state: Record<string, number[]> = {};
  for (const [name, t] of net.stateDict()) if (t.dtype === 'float32') state[name] = t.reshape(-1).toArray() as number[];
  out({ rank, state });
  ddp?.dispose();
}

async function collectives(): Promise<void> {
  const group = await initProcessGroup({ timeoutMs });
  const r = group.rank;
  const a = tensor([r + 1, 10 * (r + 1)]);
  group.allReduce(a);
  const m = tensor([r + 1, -(r + 1)]);
  group.allReduce(m, 'max');
  const b = tensor([r, r, r]);
  group.broadcast(b, 1);
  const outputs = Array.from({ length: group.size }, () => zeros([2]));
  group.allGather(outputs, tensor([r, r * r]));
  const asyncSum = tensor([2 * r + 1]);
  await group.allReduceAsync(asyncSum);
  await group.barrierAsync();
  group.barrier();
  const any = group.any(r === 1);
  const none = group.any(false);
  out({
    rank: r,
    sum: a.toArray(),
    max: m.toArray(),
    broadcast: b.toArray(),
    gathered: outputs.map((t) => t.toArray()),
    asyncSum: asyncSum.toArray(),
    any,
    none,
  });
}

/** Rank 1 leaves (dies or hangs) after two steps; rank 0 keeps training until it fails. */
async function fault(how: 'exit' | 'hang'): Promise<void> {
  const group = await initProcessGroup({ timeoutMs });
  manualSeed(1);
  const net = model(false);
  const ddp = new DistributedDataParallel(net, group);
  const opt = new SGD(net.parameters(), { lr: 0.1 });
  for (let step = 0; ; step++) {
    if (group.rank === 1 && step === 2) {
      if (how === 'exit') process.exit(3);
      await new Promise((resolve) => setTimeout(resolve, 10 * timeoutMs)); // hung: alive, but silent
    }
    tidy(() => {
      opt.zeroGrad();
      ddp.backward(F.crossEntropy(ddp.forward(randn([4, 3, 8, 8])), zeros([4], { dtype: 'int64' })));
      opt.step();
    });
  }
}

async function mismatch(): Promise<void> {
  const group = await initProcessGroup({ timeoutMs });
  new DistributedDataParallel(model(false, group.rank === 1 ? 6 : 4), group);
  out({ rank: group.rank, ok: true });
}

async function joinOnly(): Promise<void> {
  await initProcessGroup({ timeoutMs });
  out({ ok: true });
}

async function sigint(): Promise<void> {
  // ranks stop together after a SIGINT that reached only some of them
  const group = await initProcessGroup({ timeoutMs });
  let stop = false;
  process.on('SIGINT', () => {
    stop = true;
  });
  if (process.env.TEST_READY_DIR) writeFileSync(join(process.env.TEST_READY_DIR, `rank${group.rank}`), '');
  let steps = 0;
  for (;;) {
    const t: Tensor = tensor([1]);
    group.allReduce(t);
    t.dispose();
    steps++;
    if (group.any(stop)) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  out({ rank: group.rank, steps });
}

/** A command with the launch flags: started with --nproc-per-node 2, it runs itself as 2 workers. */
async function relaunch(): Promise<void> {
  const { Command } = await import('commander');
  const { addLaunchFlags, relaunchAsWorkers } = await import('../src/cli/launch.js');
  const program = addLaunchFlags(new Command().argument('<mode>').option('--tag <t>'));
  program.action(async (_mode: string, flags: Parameters<typeof relaunchAsWorkers>[0] & { tag: string }) => {
    if (await relaunchAsWorkers(flags)) return;
    const group = await initProcessGroup({ timeoutMs });
    out({ rank: group.rank, size: group.size, tag: flags.tag, threads: process.env.PDENET_NUM_THREADS });
  });
  await program.parseAsync();
  if (process.exitCode) process.exit(process.exitCode);
}

const modes: Record<string, () => Promise<void>> = {
  relaunch,
  plain: () => train(false),
  bn: () => train(true),
  collectives,
  mismatch,
  join: joinOnly,
  sigint,
  die: () => fault('exit'),
  hang: () => fault('hang'),
};
modes[mode]!().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`worker: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
