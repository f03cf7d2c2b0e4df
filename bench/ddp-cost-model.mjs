// The cost model of docs/distributed.md, on paper: per training step, compute vs a ring all-reduce of the
// gradients, for 2 to 64 nodes. Prints the Markdown tables the doc shows.
//   node bench/ddp-cost-model.mjs
//
// compute   T_c = b · 3·F / R      b images per node, F forward FLOPs per image (`pdenet models`), the backward
//                                  pass ≈ twice the forward; R a node's sustained FLOP/s in training
// all-reduce T_ar = 2(n−1)·α + 2(n−1)/n · M/β    ring all-reduce of M = 4·params bytes: n−1 reduce-scatter and
//                                  n−1 all-gather rounds, each moving M/n bytes per node
// SyncBN    T_bn = L · 2 · 2(n−1)·α              L BatchNorm layers, one small all-reduce in forward and one in
//                                  backward, latency-bound
// efficiency = T_c / (T_c + T_ar) without overlap; T_c / max(T_c, T_ar) with perfect overlap
const models = [
  // params and forward GFLOPs from `pdenet models`; BatchNorm layers counted in the model code
  { name: 'ResNet-20', params: 272_474, gflops: 0.082, bn: 19 },
  { name: 'SpeedNet', params: 1_972_792, gflops: 0.236, bn: 6 },
  { name: 'ResNet-34', params: 21_282_122, gflops: 2.319, bn: 36 },
];
// this machine class: 2 cores, ResNet-20 trains at ~300 images/s in fp32 (BENCHMARKS.md) → R ≈ 74 GFLOP/s
const R = 300 * 3 * 0.082e9;
const networks = [
  { name: '1 GbE', alpha: 100e-6, beta: 117e6 },
  { name: '10 GbE', alpha: 50e-6, beta: 1.1e9 },
];
const nodes = [2, 4, 8, 16, 32, 64];
const ms = (s) => (s * 1000 < 10 ? (s * 1000).toFixed(1) : Math.round(s * 1000).toString());
const pct = (x) => `${Math.round(x * 100)}%`;

function table(title, batchOf) {
  console.log(`\n${title}\n`);
  console.log(`| model | network | ${nodes.map((n) => `n=${n}`).join(' | ')} |`);
  console.log(`|---|---|${nodes.map(() => '---').join('|')}|`);
  for (const m of models) {
    for (const net of networks) {
      const cells = nodes.map((n) => {
        const b = batchOf(n);
        const tc = (b * 3 * m.gflops * 1e9) / R;
        const M = 4 * m.params;
        const tar = 2 * (n - 1) * net.alpha + ((2 * (n - 1)) / n) * (M / net.beta);
        return `${ms(tc)} / ${ms(tar)} ms: ${pct(tc / (tc + tar))}–${pct(tc / Math.max(tc, tar))}`;
      });
      console.log(`| ${m.name} | ${net.name} | ${cells.join(' | ')} |`);
    }
  }
}

table(
  'Weak scaling, 128 images per node (global batch 128·n). Cell: compute / all-reduce per step: ' +
    'efficiency without overlap – with perfect overlap.',
  () => 128,
);
table('Strong scaling, global batch 512 (512/n images per node).', (n) => 512 / n);
console.log('\nSyncBatchNorm, latency only (2 all-reduces per BN layer per step), ms per step:\n');
console.log(`| model | network | ${nodes.map((n) => `n=${n}`).join(' | ')} |`);
console.log(`|---|---|${nodes.map(() => '---').join('|')}|`);
for (const m of models) {
  for (const net of networks) {
    console.log(
      `| ${m.name} | ${net.name} | ${nodes.map((n) => ms(m.bn * 2 * 2 * (n - 1) * net.alpha)).join(' | ')} |`,
    );
  }
}
