/**
 * pdenet's side of the notebook training-parity check: trains notebook-resnet18 (at the width the Python side
 * used) from the notebook code's initial weights on the same batches with the notebook's optimizer (SGD 0.1 /
 * 0.9 / 5e-4, PyTorch 1.13's `zero_grad()` that zeroes rather than drops gradients), layer1 twisted, and
 * compares the per-step losses with the notebook code's (bench/notebook_parity.py writes them). Runs the
 * notebook's projected twist and, for comparison, pdenet's parametrized one from the same weights.
 *   /usr/bin/python3 bench/notebook_parity.py DIR && node dist/bench/notebook-parity.js DIR
 * Prints one JSON object: per mode the largest relative difference of the losses and the step where it is; with
 * the notebook's fp64 run (`--float64` on the Python side) also the notebook's own fp32-vs-fp64 drift and pdenet
 * against the notebook, both in fp64.
 */
import { existsSync, readFileSync } from 'node:fs';
import { F, io, optim, setNumThreads, type Tensor, tidy } from '../src/index.js';
import { createModel, notebookStateDict, type TwistMode } from '../src/models/index.js';
import { setTwist } from '../src/models/stages.js';

const [dir] = process.argv.slice(2);
if (dir === undefined) {
  console.error('usage: node dist/bench/notebook-parity.js DIR   (DIR written by bench/notebook_parity.py)');
  process.exit(2);
}
const reference = JSON.parse(readFileSync(`${dir}/torch_losses.json`, 'utf8')) as {
  losses: number[];
  seconds: number;
  width: number;
  threads: number;
};
setNumThreads(reference.threads);
const batches = io.loadTorch(`${dir}/batches.pt`);
const xs = batches.get('x')!;
const ys = batches.get('y')!;

function train(mode: TwistMode, dtype: 'float32' | 'float64'): { losses: number[]; seconds: number } {
  const model = createModel('notebook-resnet18', { width: reference.width, twistMode: mode }).to(dtype);
  const cast = (t: Tensor) => (dtype === 'float64' && t.dtype === 'float32' ? t.double() : t);
  model.loadStateDict(new Map([...notebookStateDict(io.loadTorch(`${dir}/init.pt`))].map(([k, v]) => [k, cast(v)])));
  setTwist(model, [true, false, false, false]);
  model.train();
  const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  const losses: number[] = [];
  const start = performance.now();
  for (let step = 0; step < reference.losses.length; step++) {
    losses.push(
      tidy(() => {
        opt.zeroGrad(false);
        const loss: Tensor = F.crossEntropy(model.forward(cast(xs.select(0, step))), ys.select(0, step));
        loss.backward();
        opt.step();
        return loss.item() as number;
      }),
    );
  }
  const seconds = (performance.now() - start) / 1000;
  model.dispose();
  return { losses, seconds };
}

/** Relative differences of two loss curves, summarized. */
function compare(losses: number[], ref: number[]): Record<string, unknown> {
  const rel = losses.map((l, i) => Math.abs(l - ref[i]!) / Math.abs(ref[i]!));
  const worst = rel.indexOf(Math.max(...rel));
  return {
    maxRelDiff: Number(rel[worst]!.toExponential(2)),
    atStep: worst,
    firstStepAbove1e3: rel.findIndex((r) => r > 1e-3),
    relDiffFirst10: rel.slice(0, 10).map((r) => Number(r.toExponential(1))),
    relDiffEvery10: rel.filter((_, i) => i % 10 === 9).map((r) => Number(r.toExponential(1))),
    lastLoss: losses.at(-1),
    referenceLastLoss: ref.at(-1),
  };
}

const report: Record<string, unknown> = {
  steps: reference.losses.length,
  width: reference.width,
  torchSeconds: Number(reference.seconds.toFixed(2)),
};
for (const mode of ['projected', 'parametrized'] as const) {
  const { losses, seconds } = train(mode, 'float32');
  report[`pdenet ${mode} fp32 vs notebook fp32`] = {
    ...compare(losses, reference.losses),
    seconds: Number(seconds.toFixed(2)),
  };
}
if (existsSync(`${dir}/torch_losses_float64.json`)) {
  // How far rounding alone moves the notebook's own curve, and whether pdenet follows it in exact-ish arithmetic.
  const wide = (JSON.parse(readFileSync(`${dir}/torch_losses_float64.json`, 'utf8')) as { losses: number[] }).losses;
  report['notebook fp32 vs notebook fp64'] = compare(reference.losses, wide);
  report['pdenet projected fp64 vs notebook fp64'] = compare(train('projected', 'float64').losses, wide);
}
console.log(JSON.stringify(report, null, 1));
