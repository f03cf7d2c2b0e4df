/**
 * Training-step time of pdenet's `rknet` (the DynamicBlocks reference network) with the reference's
 * optimizer step and box constraints, for bench/rknet-speed.sh.
 * usage: node dist/bench/rknet-speed.js BATCH STEPS  -> one JSON line {"images_per_s", "step_s"}
 */
import { dynamics, F, optim, rand, randint, tidy } from '../src/index.js';

const batch = Number(process.argv[2] ?? 125);
const steps = Number(process.argv[3] ?? 3);
const net = new dynamics.RKNet();
const optimizer = new optim.SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 4e-4 });
const x = rand([batch, 3, 32, 32]).sub(0.5);
const y = randint(0, 10, [batch]);
const times: number[] = [];
for (let s = 0; s <= steps; s++) {
  const start = performance.now();
  net.train();
  tidy(() => {
    F.crossEntropy(net.forward(x), y).backward();
    optimizer.step();
    optimizer.zeroGrad();
    net.clip();
  });
  if (s > 0) times.push((performance.now() - start) / 1000); // the first step warms up
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ images_per_s: batch / times[Math.floor(times.length / 2)]!, step_s: times }));
