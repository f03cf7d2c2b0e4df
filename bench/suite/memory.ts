/**
 * Peak native bytes of one conv step (the conv benchmark's, input requiresGrad false), written three ways, next
 * to what the step needs in theory.
 * @module
 */
import { F, manualSeed, memory, noGrad, randn, resetPeakMemory, tidy } from '../../src/index.js';
import { log } from '../harness/sampling.js';
import { mib } from '../harness/stats.js';
import { C, H, N, W } from './conv.js';

interface Peak {
  peakAboveBaseline: number;
  retainedAfter: number;
}

export interface MemoryResult {
  /** Bytes of x, R and the weight (allocated before the step; not part of the step's peak). */
  persistentBytes: number;
  theory: { outputBytes: number; weightGradBytes: number; minimumStepBytes: number; tidyStepBytes: number };
  /** conv2d alone under noGrad: libtorch's oneDNN path allocates a reorder buffer next to the output. */
  forwardOnly: Peak;
  tidy: Peak;
  eager: Peak;
}

export function benchMemory(): MemoryResult {
  log('memory of one conv step …');
  manualSeed(0);
  const x = randn([N, C, H, W]);
  const w = randn([C, C, 3, 3], { requiresGrad: true });
  const r = randn([N, C, H, W]);
  // As written in a training loop: the whole step in tidy, intermediates freed when it ends.
  const tidyStep = (): void =>
    tidy(() => {
      F.conv2d(x, w, null, { padding: 1 }).mul(r).sum().backward();
    });
  // Each intermediate disposed as soon as it is no longer needed (what Python's reference counting does).
  const eagerStep = (): void => {
    const out = F.conv2d(x, w, null, { padding: 1 });
    const product = out.mul(r);
    out.dispose();
    const loss = product.sum();
    product.dispose();
    loss.backward();
    loss.dispose();
  };
  const measure = (step: () => void): Peak => {
    w.grad = null;
    step(); // warm-up: first-call caches of libtorch and oneDNN are not the step's memory
    w.grad = null;
    const baseline = memory().nativeBytes;
    resetPeakMemory();
    step();
    const m = memory();
    return { peakAboveBaseline: m.peakNativeBytes - baseline, retainedAfter: m.nativeBytes - baseline };
  };
  const forwardResult = measure(() => noGrad(() => F.conv2d(x, w, null, { padding: 1 }).dispose()));
  const tidyResult = measure(tidyStep);
  const eagerResult = measure(eagerStep);
  w.grad = null;
  for (const t of [x, w, r]) t.dispose();
  const act = N * C * H * W * 4;
  const wBytes = C * C * 9 * 4;
  return {
    persistentBytes: 2 * act + wBytes,
    theory: {
      outputBytes: act,
      weightGradBytes: wBytes,
      // out and out·R exist together while mul runs; backward then needs d loss/d out (same size) and d loss/d w.
      minimumStepBytes: Math.max(2 * act, act + wBytes),
      // tidy keeps out and out·R until the scope ends, so backward's d loss/d out and d loss/d w come on top.
      tidyStepBytes: 3 * act + wBytes,
    },
    forwardOnly: forwardResult,
    tidy: tidyResult,
    eager: eagerResult,
  };
}

/** The report's section, in markdown. */
export function memoryMarkdown(mem: MemoryResult): string[] {
  const lines: string[] = [];
  lines.push('#### Memory of one conv step (input requiresGrad false)', '');
  lines.push(
    "Bytes held by libtorch's CPU allocator (`memory().peakNativeBytes` after `resetPeakMemory()`), " +
      `above what was held before the step (x, R and w: ${mib(mem.persistentBytes)}). oneDNN's own scratch ` +
      'buffers do not go through that allocator and are not counted.',
    '',
  );
  lines.push('| step written as | measured peak | in theory | held after the step |', '|---|---|---|---|');
  lines.push(
    `| forward only: \`noGrad(() => conv2d(x, w).dispose())\` | ${mib(mem.forwardOnly.peakAboveBaseline)} | ` +
      `${mib(mem.theory.outputBytes)} (the output) | ${mib(mem.forwardOnly.retainedAfter)} |`,
  );
  lines.push(
    `| \`tidy(() => conv2d(x, w).mul(R).sum().backward())\` | ${mib(mem.tidy.peakAboveBaseline)} | ` +
      `${mib(mem.theory.tidyStepBytes)} (output, output·R and d/d output kept until tidy ends, + d/d w) | ` +
      `${mib(mem.tidy.retainedAfter)} (w.grad) |`,
  );
  lines.push(
    `| each intermediate disposed as soon as possible | ${mib(mem.eager.peakAboveBaseline)} | ` +
      `${mib(mem.theory.minimumStepBytes)} (output and output·R at once: the minimum) | ` +
      `${mib(mem.eager.retainedAfter)} (w.grad) |`,
  );
  lines.push(
    '',
    `One activation (32×64×32×32 float32) is ${mib(mem.theory.outputBytes)}; the weight and its ` +
      `gradient are ${(mem.theory.weightGradBytes / 1024).toFixed(0)} KiB each. "In theory" counts the tensors the ` +
      "step produces; what the measurement shows above it is the scratch memory of libtorch's oneDNN convolution " +
      '(the forward-only row isolates it), the same in PyTorch, which runs the same kernels.',
    '',
  );
  return lines;
}
