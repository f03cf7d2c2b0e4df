/**
 * The optimizer step alone on SpeedNet's parameters (twist in group 1): SGD against Muon (filters
 * orthogonalized, the rest SGD), random gradients, mean of 5 steps after one warm-up step.
 *   node dist/bench/optimizer-step.js
 */
import { getNumThreads, models, optim, randn } from '../src/index.js';
import { machineLine } from './harness/machine.js';
import { msOf } from './harness/sampling.js';

const model = models.speednet({ twist: [true, false, false] });
const params = [...model.parameters()].filter((p) => p.requiresGrad);
const filters = params.filter((p) => p.ndim === 4);
const rest = params.filter((p) => p.ndim !== 4);
const setGrads = () => {
  for (const p of params) p.grad = randn(p.shape);
};

function time(name: string, opt: { step(): void }): void {
  setGrads();
  opt.step();
  let total = 0;
  for (let i = 0; i < 5; i++) {
    setGrads();
    total += msOf(() => opt.step());
  }
  console.log(`${name}: ${(total / 5).toFixed(1)} ms per step`);
}

console.log(`Machine: ${machineLine(getNumThreads())}`);
time('SGD', new optim.SGD(params, { lr: 0.1, momentum: 0.85, nesterov: true }));
time(
  'Muon',
  new optim.Muon(
    [
      { params: filters, normalizeWeights: true },
      { params: rest, orthogonalize: false },
    ],
    { lr: 0.1, momentum: 0.6 },
  ),
);
