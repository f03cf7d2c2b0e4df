// Throughput of data-parallel training: a plain loop (forward, cross-entropy, backward, SGD step) on one
// fixed random batch, alone or as a rank under `pdenet launch`, with DistributedDataParallel.
//   node dist/bench/ddp-train.js --model resnet20 --batch 128 --steps 10             # 1 process
//   PDENET_NUM_THREADS=2 node dist/src/cli/main.js launch --nproc-per-node 2 --exec -- \
//     node dist/bench/ddp-train.js --model resnet20 --batch 128 --steps 10            # 2 processes
// --batch is the global batch (each rank takes batch / world size). Rank 0 prints one JSON line:
// images/s of the whole world, the step time, and the median time of one all-reduce of all gradients
// (a flat float32 tensor of the model's parameter count, all-reduced alone after the timed steps).
import { parseArgs } from 'node:util';
import { DistributedDataParallel, initProcessGroup } from '../src/distributed/index.js';
import { createModel } from '../src/models/index.js';
import { SGD } from '../src/optim/index.js';
import {
  F,
  getNumThreads,
  manualSeed,
  randint,
  randn,
  setNumThreads,
  defaultNumThreads,
  tidy,
  zeros,
} from '../src/tensor/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnet20' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
  },
});
setNumThreads(defaultNumThreads());
const distributed = process.env.WORLD_SIZE !== undefined;
const group = distributed ? await initProcessGroup() : null;
const world = group?.size ?? 1;
const batch = Number(values.batch) / world;
const steps = Number(values.steps);
manualSeed(0);
const model = createModel(values.model!);
const ddp = group ? new DistributedDataParallel(model, group) : null;
const params = [...model.parameters()].filter((p) => p.requiresGrad);
const opt = new SGD(params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
const x = randn([batch, 3, 32, 32]);
const y = randint(0, 10, [batch]);
const step = (): void =>
  tidy(() => {
    opt.zeroGrad();
    F.crossEntropy(ddp ? ddp.forward(x) : model.forward(x), y).backward();
    opt.step();
  });
for (let i = 0; i < Number(values.warmup); i++) step();
group?.barrier();
const start = performance.now();
for (let i = 0; i < steps; i++) step();
group?.barrier();
const ms = (performance.now() - start) / steps;

// one all-reduce of every gradient at once, as a step's communication would be without overlap
const numel = params.reduce((n, p) => n + p.numel, 0);
let allReduceMs: number | null = null;
if (group) {
  const flat = zeros([numel]);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    group.allReduce(flat);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  allReduceMs = times[3]!;
}
if ((group?.rank ?? 0) === 0) {
  console.log(
    JSON.stringify({
      side: 'pdenet',
      model: values.model,
      procs: world,
      threads: getNumThreads(),
      batch: batch * world,
      imagesPerSec: (batch * world * 1000) / ms,
      stepMs: ms,
      params: numel,
      allReduceMs,
    }),
  );
}
ddp?.dispose();
group?.destroy();
process.exit(0);
