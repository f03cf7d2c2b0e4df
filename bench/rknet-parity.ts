/**
 * Training parity with the DynamicBlocks reference: pdenet's `rknet` from the reference's initial weights
 * (its state_dict, read through referenceStateDict) on the batches bench/rknet_parity.py wrote, with the
 * reference's runDefault optimizer (SGD lr 0.1, momentum 0.9, weight decay 4e-4 except the normLayer
 * parameters) and its box constraints after every step. Prints both loss curves and their relative gaps.
 *
 * usage: node dist/bench/rknet-parity.js DIR   (DIR from `python3 bench/rknet_parity.py DIR`; see rknet-parity.sh)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dynamics, F, io, optim, tidy } from '../src/index.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: rknet-parity.js DIR (written by bench/rknet_parity.py)');
const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
  losses: number[];
  seconds: number;
  batch: number;
};
const batches = io.loadTorch(join(dir, 'batches.pt'));
const inputs = batches.get('inputs')!;
const labels = batches.get('labels')!;
const net = new dynamics.RKNet();
net.loadStateDict(dynamics.referenceStateDict(net, io.loadTorch(join(dir, 'init.pt'))));
const named = [...net.namedParameters()];
const optimizer = new optim.SGD(
  [
    { params: named.filter(([n]) => n.includes('normLayer')).map(([, p]) => p), weightDecay: 0 },
    { params: named.filter(([n]) => !n.includes('normLayer')).map(([, p]) => p) },
  ],
  { lr: 0.1, momentum: 0.9, weightDecay: 4e-4 },
);

const losses: number[] = [];
const start = performance.now();
for (let s = 0; s < reference.losses.length; s++) {
  net.train();
  losses.push(
    tidy(() => {
      const loss = F.crossEntropy(net.forward(inputs.select(0, s)), labels.select(0, s));
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
      net.clip();
      return loss.item();
    }),
  );
  // With the reference's snapshots (SNAPSHOTS=1), the tensors furthest from it after this step — but the conv biases
  // just before a BatchNorm (open, connectors): BatchNorm cancels them, their gradient is rounding noise.
  const snapshot = join(dir, `state_${s + 1}.pt`);
  if (existsSync(snapshot)) {
    const theirs = dynamics.referenceStateDict(net, io.loadTorch(snapshot));
    const gaps = [...net.stateDict()]
      .filter(
        ([k]) => theirs.has(k) && !k.endsWith('num_batches_tracked') && !/^(open|connectors\.\d+)\.conv\.bias$/.test(k),
      )
      .map(([k, v]) =>
        tidy(() => {
          const t = theirs.get(k)!;
          return [k, v.sub(t).abs().max().item() / Math.max(t.abs().max().item(), 1e-30)] as const;
        }),
      )
      .sort((a, b) => b[1] - a[1]);
    console.log(
      `after step ${s + 1}: ${gaps
        .slice(0, 3)
        .map(([k, g]) => `${k} ${g.toExponential(2)}`)
        .join(', ')}`,
    );
  }
}
const seconds = (performance.now() - start) / 1000;
const gaps = losses.map((l, i) => Math.abs(l - reference.losses[i]!) / Math.abs(reference.losses[i]!));
console.log('step  reference   pdenet      relative gap');
losses.forEach((l, i) => {
  if (i < 5 || i % 5 === 4)
    console.log(
      `${String(i + 1).padStart(4)}  ${reference.losses[i]!.toFixed(6)}  ${l.toFixed(6)}  ${gaps[i]!.toExponential(2)}`,
    );
});
const worst = Math.max(...gaps);
const firstOver = gaps.findIndex((g) => g > 1e-3);
console.log(
  `max relative gap ${worst.toExponential(2)} over ${losses.length} steps` +
    (firstOver >= 0 ? `; first above 1e-3 at step ${firstOver + 1}` : '; every step within 1e-3'),
);
console.log(
  `time: reference ${reference.seconds.toFixed(1)} s, pdenet ${seconds.toFixed(1)} s (${reference.batch} images per step)`,
);
writeFileSync(join(dir, 'pdenet.json'), JSON.stringify({ losses, gaps, seconds }));
