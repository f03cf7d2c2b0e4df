/**
 * Where the reference RKNet's training step spends its time: each piece of a DoubleSym layer evaluation
 * (forward + backward) timed in isolation at the network's three shapes, beside the whole step.
 * usage: node dist/bench/rknet-profile.js [BATCH=125] [REPS=5]  -> a table in milliseconds (medians)
 * The network evaluates the layer 16 times per block (RK4, 4 steps), at 16×32², 32×16², 64×8².
 */
import { dynamics, F, optim, rand, randint, randn, tidy, type Tensor } from '../src/index.js';

const batch = Number(process.argv[2] ?? 125);
const reps = Number(process.argv[3] ?? 5);

function median(f: () => void): number {
  f();
  const t: number[] = [];
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    tidy(f);
    t.push(performance.now() - s);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
}

const rows: [string, number][] = [];
for (const [c, n] of [
  [16, 32],
  [32, 16],
  [64, 8],
] as const) {
  const x = randn([batch, c, n, n]).requiresGrad_();
  const w = randn([c, c, 3, 3]).mul(0.1).requiresGrad_();
  const b = randn([c]).requiresGrad_();
  const one = randn([c]);
  const back = (y: Tensor) => y.sum().backward();
  rows.push([`${c}x${n}² conv K fwd+bwd`, median(() => back(F.conv2d(x, w, b, { padding: 1 })))]);
  rows.push([`${c}x${n}² convTranspose Kᵀ fwd+bwd`, median(() => back(F.convTranspose2d(x, w, b, { padding: 1 })))]);
  rows.push([
    `${c}x${n}² conv flipped Kᵀ fwd+bwd`,
    median(() => back(F.conv2d(x, w.transpose(0, 1).flip([2, 3]), b, { padding: 1 }))),
  ]);
  rows.push([`${c}x${n}² tvNorm fwd+bwd`, median(() => back(dynamics.tvNorm(x, one, b)))]);
  rows.push([`${c}x${n}² relu fwd+bwd`, median(() => back(x.relu()))]);
  rows.push([`${c}x${n}² DoubleSym layer fwd+bwd`, median(() => back(new dynamics.DoubleSymLayer(c).forward(x)))]);
  rows.push([`${c}x${n}² RK stage add (axpy) fwd+bwd`, median(() => back(x.add(x, 0.5)))]);
  for (const t of [x, w, b, one]) t.dispose();
}
const net = new dynamics.RKNet();
const opt = new optim.SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 4e-4 });
const xs = rand([batch, 3, 32, 32]).sub(0.5);
const ys = randint(0, 10, [batch]);
net.train();
rows.push([
  'RKNet forward',
  median(() => {
    net.forward(xs);
  }),
]);
rows.push([
  'RKNet step (fwd+bwd+SGD+clip)',
  median(() => {
    F.crossEntropy(net.forward(xs), ys).backward();
    opt.step();
    opt.zeroGrad();
    net.clip();
  }),
]);
for (const [name, ms] of rows) console.log(`${name.padEnd(40)} ${ms.toFixed(1).padStart(8)} ms`);
