// Peak memory of one RKNet training step, plain and checkpointed (block-wise, step-wise).
// node dist/bench/checkpoint-memory.js [--batch 32]
import { dynamics, F, memory, manualSeed, nn, randn, resetPeakMemory, tensor, tidy } from '../src/index.js';
import { parseFlags, positiveInteger } from './harness/flags.js';

const { values } = parseFlags(
  { options: { batch: { type: 'string', default: '32' } } },
  'usage: node dist/bench/checkpoint-memory.js [--batch 32]',
);
const batch = positiveInteger('batch', values.batch);
manualSeed(3);
const net = new dynamics.RKNet({
  channels: [16, 32, 64, 64],
  tY: [0, 1, 2, 3, 4],
  norm: 'tv',
  layer: 'doublesym',
  integrator: 'rk4',
});
const x = randn([batch, 3, 32, 32]);
const y = tensor(
  Array.from({ length: batch }, (_, i) => i % 10),
  { dtype: 'int64' },
);
const peakMiB = (step: () => void): number => {
  net.zeroGrad();
  resetPeakMemory();
  const before = memory().nativeBytes;
  step();
  return (memory().peakNativeBytes - before) / 2 ** 20;
};
const loss = (out: Parameters<typeof F.crossEntropy>[0]) => F.crossEntropy(out, y);
const rows = {
  plain: peakMiB(() => tidy(() => loss(net.forward(x)).backward())),
  block: peakMiB(() => nn.checkpointedStep(net, net.segments('block'), x, loss).output.dispose()),
  step: peakMiB(() => nn.checkpointedStep(net, net.segments('step'), x, loss).output.dispose()),
};
console.log(
  `RKNet (${net.numParameters().toLocaleString('en-US')} parameters), batch ${batch}: peak MiB`,
  JSON.stringify(Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, Number(v.toFixed(1))]))),
);
