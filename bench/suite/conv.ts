/**
 * conv2d 64→64 3×3, padding 1, batch 32, 32×32, float32, forward + backward, in pdenet and in PyTorch
 * (bench/torch_bench.py), both with pdenet's thread count, samples interleaved.
 * @module
 */
import { F, manualSeed, randn, tidy } from '../../src/index.js';
import type { LineServer } from '../harness/counterparts.js';
import { interleaved, log } from '../harness/sampling.js';
import { fixed, percent, spread, stats, type Stats } from '../harness/stats.js';

/** The shape of the input and of the output: batch, channels, height, width. */
export const N = 32;
export const C = 64;
export const H = 32;
export const W = 32;
/** FLOPs of the forward convolution: 2 (multiply + add) · N · C_out · H · W · C_in · 3 · 3. */
const FWD_FLOP = 2 * N * C * H * W * C * 9;

interface ConvVariant {
  key: 'weightGrad' | 'inputAndWeightGrad';
  inputGrad: boolean;
  /** FLOPs of one step: forward, weight gradient, and the input gradient when it is asked for. */
  flop: number;
  flopRule: string;
}

const CONV_VARIANTS: ConvVariant[] = [
  {
    // backward computes only the weight gradient
    key: 'weightGrad',
    inputGrad: false,
    flop: 2 * FWD_FLOP,
    flopRule: 'forward + weight grad = 2 × forward',
  },
  {
    key: 'inputAndWeightGrad',
    inputGrad: true,
    flop: 3 * FWD_FLOP,
    // a layer inside a network: backward computes input and weight gradients
    flopRule: 'forward + input grad + weight grad = 3 × forward',
  },
];

/** One sample: the mean of a few steps. */
interface ConvSample {
  msPerStep: number;
  /** Minor page faults of the whole process per step: pages the allocator had to get fresh from the kernel. */
  minorFaultsPerStep: number;
}

/** One conv step as a pdenet program writes it; gradients are set to null each step, like zero_grad(set_to_none). */
function pdenetConv(inputGrad: boolean): { sample: (iters: number) => ConvSample; dispose: () => void } {
  manualSeed(0);
  const x = randn([N, C, H, W], { requiresGrad: inputGrad });
  const w = randn([C, C, 3, 3], { requiresGrad: true });
  const r = randn([N, C, H, W]);
  const step = (): void => {
    w.grad = null;
    if (inputGrad) x.grad = null;
    tidy(() => {
      F.conv2d(x, w, null, { padding: 1 }).mul(r).sum().backward();
    });
  };
  return {
    sample(iters) {
      const faults = process.resourceUsage().minorPageFault;
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) step();
      const ms = (performance.now() - t0) / iters;
      return { msPerStep: ms, minorFaultsPerStep: (process.resourceUsage().minorPageFault - faults) / iters };
    },
    dispose() {
      w.grad = null;
      x.grad = null;
      for (const t of [x, w, r]) t.dispose();
    },
  };
}

export interface ConvResult {
  variant: ConvVariant['key'];
  inputRequiresGrad: boolean;
  flopPerStep: number;
  flopRule: string;
  pdenetMs: Stats;
  pytorchMs: Stats | null;
  pdenetFaultsPerStep: number;
  pytorchFaultsPerStep: number | null;
  pdenetGflops: number;
  pytorchGflops: number | null;
  /** median pdenet time / median PyTorch time: 1.00 is parity, above 1 pdenet is slower. */
  ratio: number | null;
}

export interface ConvOptions {
  repeats: number;
  itersPerSample: number;
  warmupSteps: number;
  threads: number;
}

/** Both variants, pdenet beside PyTorch (or pdenet alone when `python` is null). */
export async function benchConv(python: LineServer | null, o: ConvOptions): Promise<ConvResult[]> {
  const results: ConvResult[] = [];
  for (const v of CONV_VARIANTS) {
    log(
      `conv2d fwd+bwd, input requiresGrad ${v.inputGrad}: warm-up, then ${o.repeats} × ${o.itersPerSample} steps ` +
        'per side …',
    );
    const pd = pdenetConv(v.inputGrad);
    const req = (n: number, w: number): string =>
      JSON.stringify({ cmd: 'conv', threads: o.threads, inputGrad: v.inputGrad, iters: n, warmup: w });
    pd.sample(o.warmupSteps);
    if (python) await python.request(req(1, o.warmupSteps - 1));
    const sides: (() => ConvSample | Promise<ConvSample>)[] = [() => pd.sample(o.itersPerSample)];
    if (python) sides.push(async () => (await python.request(req(o.itersPerSample, 0))) as unknown as ConvSample);
    const [ours = [], theirs = []] = await interleaved(o.repeats, sides);
    pd.dispose();
    const pdenetMs = stats(ours.map((s) => s.msPerStep));
    const pytorchMs = python ? stats(theirs.map((s) => s.msPerStep)) : null;
    const gflops = (ms: number): number => v.flop / (ms * 1e-3) / 1e9;
    results.push({
      variant: v.key,
      inputRequiresGrad: v.inputGrad,
      flopPerStep: v.flop,
      flopRule: v.flopRule,
      pdenetMs,
      pytorchMs,
      pdenetFaultsPerStep: stats(ours.map((s) => s.minorFaultsPerStep)).median,
      pytorchFaultsPerStep: python ? stats(theirs.map((s) => s.minorFaultsPerStep)).median : null,
      pdenetGflops: gflops(pdenetMs.median),
      pytorchGflops: pytorchMs ? gflops(pytorchMs.median) : null,
      ratio: pytorchMs ? pdenetMs.median / pytorchMs.median : null,
    });
  }
  return results;
}

/** The report's section, in markdown. */
export function convMarkdown(results: ConvResult[], itersPerSample: number): string[] {
  const lines: string[] = [];
  lines.push('#### conv2d 64→64 3×3, padding 1, batch 32, 32×32, float32, forward + backward', '');
  lines.push(
    `One step: \`(conv2d(x, w, padding=1) * R).sum().backward()\`, weight requiresGrad true, R a fixed ` +
      `random tensor, gradients set to null before each step; ${itersPerSample} steps per ` +
      'sample after a warm-up. Forward FLOPs = 2·N·C_out·H·W·C_in·9 = ' +
      `${(FWD_FLOP / 1e9).toFixed(3)} GFLOP; each gradient that backward computes counts as one forward more.`,
    '',
  );
  lines.push(
    '| input requiresGrad | FLOP per step | pdenet ms/step | PyTorch ms/step | pdenet GFLOP/s | ' +
      'PyTorch GFLOP/s | pdenet/PyTorch (time) | spread pdenet / PyTorch | page faults/step pdenet / PyTorch |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const c of results) {
    lines.push(
      `| ${c.inputRequiresGrad} | ${(c.flopPerStep / 1e9).toFixed(2)} G (${c.flopRule}) | ` +
        `${fixed(c.pdenetMs.median, 1)} | ${fixed(c.pytorchMs?.median, 1)} | ${fixed(c.pdenetGflops, 1)} | ` +
        `${fixed(c.pytorchGflops, 1)} | **${fixed(c.ratio)}** | ${percent(spread(c.pdenetMs))} / ` +
        `${c.pytorchMs ? percent(spread(c.pytorchMs)) : '–'} | ${fixed(c.pdenetFaultsPerStep, 0)} / ` +
        `${fixed(c.pytorchFaultsPerStep, 0)} |`,
    );
  }
  lines.push(
    '',
    'Time ratio: 1.00 is parity, above 1 pdenet is slower; the target is ≤ 1.05 (within 5% of PyTorch). ' +
      'Spread = (slowest − fastest repeat) / median. Page faults/step: minor page faults of the whole process per ' +
      'step (median), i.e. 4 KiB pages glibc malloc got fresh from the kernel; both sides run the same libtorch ' +
      'kernels, so a difference in time often comes with a difference here.',
    '',
  );
  return lines;
}
