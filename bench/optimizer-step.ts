/**
 * The optimizer step alone on SpeedNet's parameters (twist in group 1): SGD against Muon (filters
 * orthogonalized, the rest SGD), random gradients, mean of 5 steps after one warm-up step.
 *   node dist/bench/optimizer-step.js
 */
import { randn } from '../src/index.js';
import { speednet } from '../src/models/speednet.js';
import { Muon, SGD } from '../src/optim/index.js';

const model = speednet({ twist: [true, false, false] });
const params = [...model.parameters()].filter((p) => p.requiresGrad);
const filters = params.filter((p) => p.ndim === 4);
const rest = params.filter((p) => p.ndim !== 4);
const setGrads = () => { for (const p of params) p.grad = randn(p.shape); };

function time(name: string, opt: { step(): void }): void {
  setGrads();
  opt.step();
  let total = 0;
  for (let i = 0; i < 5; i++) {
    setGrads();
    const start = performance.now();
    opt.step();
    total += performance.now() - start;
  }
  console.log(`${name}: ${(total / 5).toFixed(1)} ms per step`);
}

time('SGD', new SGD(params, { lr: 0.1, momentum: 0.85, nesterov: true }));
time('Muon', new Muon([{ params: filters, normalizeWeights: true }, { params: rest, orthogonalize: false }],
  { lr: 0.1, momentum: 0.6 }));
