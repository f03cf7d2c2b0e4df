// pdenet's own operators beside libtorch's, on the layers of the default model (SpeedNet, batch 1,024, channels-last,
// operands in bf16 as autocast makes them): forward + backward of each convolution through aten::conv2d and through
// pdenet::conv2d, and of GELU through aten::gelu and pdenet::gelu. The two sides alternate sample by sample; figures
// are medians, in ms.
//
//   node dist/bench/kernels.js [--batch 1024] [--repeats 5]
//
// Prints a markdown table to paste into BENCHMARKS.md ("pdenet's operators beside libtorch's").
import { callOp, getNumThreads, manualSeed, randn, type Tensor, tidy } from '../src/index.js';
import { parseFlags, positiveInteger } from './harness/flags.js';
import { machineLine } from './harness/machine.js';
import { interleaved, msOf } from './harness/sampling.js';
import { median } from './harness/stats.js';

const { values } = parseFlags(
  { options: { batch: { type: 'string', default: '1024' }, repeats: { type: 'string', default: '5' } } },
  'usage: node dist/bench/kernels.js [--batch 1024] [--repeats 5]',
);
const batch = positiveInteger('batch', values.batch);
const repeats = positiveInteger('repeats', values.repeats);

/** The median times in ms of `f` and of `g`, sampled `repeats` times each after one warm-up, in turn. */
async function medians(f: () => void, g: () => void): Promise<[number, number]> {
  f();
  g();
  const [a = [], b = []] = await interleaved(repeats, [() => msOf(f), () => msOf(g)]);
  return [median(a), median(b)];
}

/** Forward + backward of `op` (bf16 operands), with a fixed output gradient of the output's shape and layout. */
function step(op: () => Tensor): () => void {
  const gradient = tidy(() => op().detach().mul(0.01));
  return () => tidy(() => op().backward(gradient));
}

manualSeed(0);
// [in, out, side]: SpeedNet's convolutions (the twist's fused one has 3 × 64 outputs) and whether the input needs a gradient.
const convs: [number, number, number, boolean][] = [
  [24, 64, 31, false],
  [64, 192, 15, true],
  [64, 256, 15, true],
  [256, 256, 7, true],
  [256, 256, 3, true],
];
const rows: string[] = [];
let total = [0, 0];
for (const [cin, cout, side, needsGrad] of convs) {
  const x = randn([batch, cin, side, side]).to('bfloat16').contiguous('channelsLast').requiresGrad_(needsGrad);
  const w = randn([cout, cin, 3, 3]).mul_(0.05).to('bfloat16').contiguous('channelsLast').requiresGrad_();
  const conv = (op: string) => step(() => callOp(op, x, w, null, 1, 1, 1, 1) as Tensor);
  const [aten, ours] = await medians(conv('aten::conv2d'), conv('pdenet::conv2d'));
  total = [total[0]! + aten, total[1]! + ours];
  rows.push(
    `| conv ${cin}→${cout}, ${side}×${side} | ${aten.toFixed(0)} | ${ours.toFixed(0)} | ${(aten / ours).toFixed(2)} |`,
  );
  x.dispose();
  w.dispose();
}
rows.push(
  `| all five convolutions | ${total[0]!.toFixed(0)} | ${total[1]!.toFixed(0)} | ${(total[0]! / total[1]!).toFixed(2)} |`,
);
for (const [channels, side] of [
  [64, 15],
  [256, 7],
] as const) {
  const x = randn([batch, channels, side, side]).to('bfloat16').contiguous('channelsLast').requiresGrad_();
  const gelu = (op: string) => step(() => callOp(op, x, 'none') as Tensor);
  const [aten, ours] = await medians(gelu('aten::gelu'), gelu('pdenet::gelu'));
  rows.push(
    `| GELU ${channels}×${side}×${side} (bf16) | ${aten.toFixed(0)} | ${ours.toFixed(0)} | ${(aten / ours).toFixed(2)} |`,
  );
  x.dispose();
}
console.log(
  `Batch ${batch}, ${getNumThreads()} threads, bf16, channels-last; forward + backward, median of ${repeats} (ms)`,
);
console.log(`Machine: ${machineLine(getNumThreads())}\n`);
console.log('| layer | aten:: | pdenet:: | speed-up |\n|---|---|---|---|');
console.log(rows.join('\n'));
