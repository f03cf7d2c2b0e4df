/**
 * The functional operations a ConvNet needs (PyTorch's `torch.nn.functional`), stateless: layers in
 * nn/ call these. Shapes follow PyTorch: images are N×C×H×W.
 *
 * In the PDE reading of a ConvNet, `conv2d` with a 3×3 kernel is a differential operator of order ≤ 2
 * and `pad`'s mode is the boundary condition: constant 0 is Dirichlet, reflect is Neumann, circular is
 * periodic.
 * @module
 */
import { type DType, dtypeCode } from './dtype.js';
import { check, checkOptions, describe } from './errors.js';
import { call, checkTensor, type Tensor } from './tensor.js';

type Pair = number | readonly [number, number];

/**
 * Checks integer options that libtorch narrows to 32 bits: a larger value would wrap silently (a kernel
 * size of 2³² + 2 pooling as 2) or, for convolution groups, divide by zero and kill the process.
 */
function int32Options(op: string, options: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(options)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      check(
        typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) <= 0x7fffffff,
        op,
        () => `${name} must be an integer of magnitude below 2^31, got ${v}`,
      );
    }
  }
}

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  stride?: Pair;
  /** Zero padding on each side, or "same" / "valid". */
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  /** Split channels into this many independent groups (in and out channels must divide by it). */
  groups?: number;
}

/** The running count of {@link countMacs}, or null when nothing counts. */
let macs: { n: number } | null = null;

/**
 * Runs `fn` and returns the multiply-accumulates of every convolution, transposed convolution and linear map
 * it ran through this module's functions (nested counts add to the outer one). What models/flops.ts counts.
 */
export function countMacs(fn: () => void): number {
  check(typeof fn === 'function', 'countMacs', () => `needs a function to run, got ${describe(fn)}`);
  const outer = macs;
  const mine = { n: 0 };
  macs = mine;
  try {
    fn();
  } finally {
    macs = outer;
    if (outer !== null) outer.n += mine.n;
  }
  return mine.n;
}

/** Adds output elements × the multiply-accumulates of each (the weight's per-output receptive field). */
function counted(out: Tensor, perElement: () => number): Tensor {
  if (macs !== null) macs.n += out.numel * perElement();
  return out;
}

/**
 * 2-D convolution (cross-correlation, as in PyTorch).
 * @param input N×C_in×H×W
 * @param weight C_out×(C_in/groups)×kH×kW
 * @param bias C_out, or null
 */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  checkOptions(options, 'conv2d');
  const { stride = 1, padding = 0, dilation = 1, groups = 1 } = options;
  int32Options('conv2d', { stride, padding, dilation, groups });
  const perOutput = () => weight.shape[1]! * weight.shape[2]! * weight.shape[3]!;
  if (typeof padding === 'string') {
    return counted(call('aten::conv2d.padding', input, weight, bias, stride, padding, dilation, groups), perOutput);
  }
  // pdenet::conv2d (csrc/conv2d.cpp) is aten::conv2d with a faster backward for stride 1 and one group.
  return counted(call('pdenet::conv2d', input, weight, bias, stride, padding, dilation, groups), perOutput);
}

/** Options of {@link convTranspose2d}. */
export interface ConvTranspose2dOptions {
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  groups?: number;
  dilation?: Pair;
}

/**
 * Transposed 2-D convolution (the adjoint of conv2d with the same weight).
 * @param weight C_in×(C_out/groups)×kH×kW
 */
export function convTranspose2d(
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: ConvTranspose2dOptions = {},
): Tensor {
  checkOptions(options, 'convTranspose2d');
  const { stride = 1, padding = 0, outputPadding = 0, groups = 1, dilation = 1 } = options;
  int32Options('convTranspose2d', { stride, padding, outputPadding, groups, dilation });
  const out = call(
    'aten::conv_transpose2d.input',
    input,
    weight,
    bias,
    stride,
    padding,
    outputPadding,
    groups,
    dilation,
  );
  // Each input element meets C_out/groups · kH · kW weights.
  if (macs !== null) macs.n += input.numel * weight.shape[1]! * weight.shape[2]! * weight.shape[3]!;
  return out;
}

/** Padding modes — boundary conditions: constant (Dirichlet), reflect (Neumann), replicate, circular (periodic). */
export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

/**
 * Pads the last dimensions: `pad` = [left, right, top, bottom, …] as in PyTorch (last dimension first).
 * `value` is used by constant mode.
 */
export function pad(input: Tensor, pad: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  checkTensor(input, 'pad', 'the input');
  check(Array.isArray(pad), 'pad', () => `the sizes must be an array of integers, got ${describe(pad)}`);
  check(pad.length % 2 === 0, 'pad', `needs an even number of sizes, got ${pad.length}`);
  check(
    ['constant', 'reflect', 'replicate', 'circular'].includes(mode),
    'pad',
    () => `mode must be constant, reflect, replicate or circular, got ${describe(mode)}`,
  );
  if (mode !== 'constant') {
    const spatial = input.ndim - 2;
    check(
      pad.length === 2 * spatial,
      'pad',
      () =>
        `${mode} padding of a ${input.ndim}-d input (N, C and ${spatial} ` +
        `spatial dimensions) needs ${2 * spatial} sizes, got ${pad.length}`,
    );
  }
  return call('aten::pad', input, pad, mode, mode === 'constant' ? value : null);
}

/** Options of {@link batchNorm}. */
export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Use batch statistics and update the running ones (true), or use the running ones (false). */
  training?: boolean;
  /** Running stat update: running = (1 − momentum)·running + momentum·batch (default 0.1). */
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalization over N, H, W for each channel. In training mode `runningMean` and `runningVar`
 * are updated in place (the variance with Bessel's correction, as in PyTorch).
 */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions = {},
): Tensor {
  checkOptions(options, 'batchNorm');
  const { weight = null, bias = null, training = false, momentum = 0.1, eps = 1e-5 } = options;
  check(
    training || (runningMean !== null && runningVar !== null),
    'batchNorm',
    'evaluation mode needs running statistics (or pass training: true)',
  );
  return call('aten::batch_norm', input, weight, bias, runningMean, runningVar, training, momentum, eps, true);
}

/** Group normalization: channels in `numGroups` groups, each normalized over its channels and H, W. */
export function groupNorm(
  input: Tensor,
  numGroups: number,
  options: { weight?: Tensor | null; bias?: Tensor | null; eps?: number } = {},
): Tensor {
  checkOptions(options, 'groupNorm');
  return call(
    'aten::group_norm',
    input,
    numGroups,
    options.weight ?? null,
    options.bias ?? null,
    options.eps ?? 1e-5,
    true,
  );
}

/** Layer normalization over the trailing `normalizedShape` dimensions. */
export function layerNorm(
  input: Tensor,
  normalizedShape: readonly number[],
  options: { weight?: Tensor | null; bias?: Tensor | null; eps?: number } = {},
): Tensor {
  checkOptions(options, 'layerNorm');
  return call(
    'aten::layer_norm',
    input,
    normalizedShape,
    options.weight ?? null,
    options.bias ?? null,
    options.eps ?? 1e-5,
    true,
  );
}

export function relu(input: Tensor): Tensor {
  return call('aten::relu', input);
}

export function leakyRelu(input: Tensor, negativeSlope = 0.01): Tensor {
  return call('aten::leaky_relu', input, negativeSlope);
}

/**
 * GELU, exact ("none") or with the tanh approximation. pdenet::gelu (csrc/gelu.cpp) is aten::gelu made fast and
 * correct on channels-last tensors, where libtorch 1.13's kernels are slow and its backward can be wrong.
 */
export function gelu(input: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return call('pdenet::gelu', input, approximate);
}

/** SiLU (swish): x·σ(x). */
export function silu(input: Tensor): Tensor {
  return call('aten::silu', input);
}

export function softmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return call('aten::softmax.int', input, dim, dtype === undefined ? null : dtypeCode(dtype));
}

export function logSoftmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return call('aten::log_softmax.int', input, dim, dtype === undefined ? null : dtypeCode(dtype));
}

/** Options of the 2-D pools. */
export interface Pool2dOptions {
  /** Default: the kernel size. */
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}

export function avgPool2d(
  input: Tensor,
  kernelSize: Pair,
  options: Pool2dOptions & { countIncludePad?: boolean } = {},
): Tensor {
  checkOptions(options, 'avgPool2d');
  const { stride = kernelSize, padding = 0, ceilMode = false, countIncludePad = true } = options;
  int32Options('avgPool2d', { kernelSize, stride, padding });
  return call('aten::avg_pool2d', input, kernelSize, stride, padding, ceilMode, countIncludePad, null);
}

export function maxPool2d(input: Tensor, kernelSize: Pair, options: Pool2dOptions & { dilation?: Pair } = {}): Tensor {
  checkOptions(options, 'maxPool2d');
  const { stride = kernelSize, padding = 0, dilation = 1, ceilMode = false } = options;
  int32Options('maxPool2d', { kernelSize, stride, padding, dilation });
  return call('aten::max_pool2d', input, kernelSize, stride, padding, dilation, ceilMode);
}

/** Average pooling to a fixed output size (1 gives global average pooling). */
export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return call('aten::adaptive_avg_pool2d', input, outputSize);
}

/** x·Wᵀ + b, with W: out×in. */
export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return counted(call('aten::linear', input, weight, bias), () => weight.shape[1]!);
}

/** Zeroes elements with probability p and scales the rest by 1/(1−p), when `training`. */
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  check(typeof p === 'number' && p >= 0 && p <= 1, 'dropout', () => `p must be in [0, 1], got ${describe(p)}`);
  return call('aten::dropout', input, p, training);
}

/** How a loss reduces over the batch. */
export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function reductionCode(reduction: Reduction, op: string): number {
  check(
    typeof reduction === 'string' && Object.hasOwn(REDUCTION, reduction),
    op,
    () => `reduction must be none, mean or sum, got ${describe(reduction)}`,
  );
  return REDUCTION[reduction];
}

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  reduction?: Reduction;
  /** Mix the one-hot target with the uniform distribution: (1 − ε)·onehot + ε/C (default 0). */
  labelSmoothing?: number;
  /** Per-class weights (C). */
  weight?: Tensor | null;
  ignoreIndex?: number;
}

/**
 * Cross entropy between logits (N×C) and class indices (N, int64) — log_softmax followed by the negative
 * log likelihood, with optional label smoothing.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  checkOptions(options, 'crossEntropy');
  const { reduction = 'mean', labelSmoothing = 0, weight = null, ignoreIndex = -100 } = options;
  checkTensor(logits, 'crossEntropy', 'the logits');
  checkTensor(target, 'crossEntropy', 'the target');
  check(
    typeof labelSmoothing === 'number' && labelSmoothing >= 0 && labelSmoothing <= 1,
    'crossEntropy',
    () => `labelSmoothing must be in [0, 1], got ${describe(labelSmoothing)}`,
  );
  const targetType = target.dtype;
  check(
    targetType === 'int64' || (targetType === logits.dtype && target.ndim === logits.ndim),
    'crossEntropy',
    () =>
      `the target must hold int64 class indices (or class probabilities shaped like the logits), got ${targetType} ` +
      `of shape [${target.shape.join(', ')}]`,
  );
  return call(
    'aten::cross_entropy_loss',
    logits,
    target,
    weight,
    reductionCode(reduction, 'crossEntropy'),
    ignoreIndex,
    labelSmoothing,
  );
}

/** Mean squared error. */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return call('aten::mse_loss', input, target, reductionCode(reduction, 'mseLoss'));
}

/** Options of {@link interpolate}: give `size` or `scaleFactor`. */
export interface InterpolateOptions {
  size?: Pair;
  scaleFactor?: number | readonly [number, number];
  mode?: 'nearest' | 'bilinear';
  alignCorners?: boolean;
}

function showPair(x: unknown): string {
  return Array.isArray(x) ? `[${x.map(describe).join(', ')}]` : describe(x);
}

/** Resizes N×C×H×W images. */
export function interpolate(input: Tensor, options: InterpolateOptions): Tensor {
  checkTensor(input, 'interpolate', 'the input');
  check(
    typeof options === 'object' && options !== null,
    'interpolate',
    () => `options { size } or { scaleFactor } are needed, got ${describe(options)}`,
  );
  const { size, scaleFactor, mode = 'nearest', alignCorners = false } = options;
  check(
    (size === undefined) !== (scaleFactor === undefined),
    'interpolate',
    'give exactly one of size and scaleFactor',
  );
  const outSize = size === undefined ? null : typeof size === 'number' ? [size, size] : size;
  const scales =
    scaleFactor === undefined ? null : typeof scaleFactor === 'number' ? [scaleFactor, scaleFactor] : scaleFactor;
  check(input.ndim === 4, 'interpolate', () => `resizes N×C×H×W images, got a ${input.ndim}-d input`);
  check(
    outSize === null || (Array.isArray(outSize) && outSize.length === 2),
    'interpolate',
    () => `size must be one number or two (H, W), got ${showPair(size)}`,
  );
  check(
    scales === null ||
      (Array.isArray(scales) &&
        scales.length === 2 &&
        scales.every((f) => typeof f === 'number' && Number.isFinite(f) && f > 0)),
    'interpolate',
    () => `scaleFactor must be one or two finite positive numbers, got ${showPair(scaleFactor)}`,
  );
  if (mode === 'nearest') {
    check(!options.alignCorners, 'interpolate', 'alignCorners applies to bilinear mode only');
    return call('aten::upsample_nearest2d.vec', input, outSize, scales);
  }
  check(mode === 'bilinear', 'interpolate', () => `mode must be nearest or bilinear, got ${describe(mode)}`);
  return call('aten::upsample_bilinear2d.vec', input, outSize, alignCorners, scales);
}

/**
 * The sampling grid (N×H×W×2, coordinates in [−1, 1]) of the affine maps `theta` (N×2×3) for an output
 * of `size` [N, C, H, W]; feed it to {@link gridSample} to rotate, translate or scale images.
 */
export function affineGrid(theta: Tensor, size: readonly number[], alignCorners = false): Tensor {
  return call('aten::affine_grid_generator', theta, size, alignCorners);
}

const INTERPOLATION = { bilinear: 0, nearest: 1, bicubic: 2 } as const;
const GRID_PADDING = { zeros: 0, border: 1, reflection: 2 } as const;

/** Samples `input` (N×C×H×W) at the points of `grid` (N×H'×W'×2, x then y, in [−1, 1]). */
export function gridSample(
  input: Tensor,
  grid: Tensor,
  options: {
    mode?: keyof typeof INTERPOLATION;
    paddingMode?: keyof typeof GRID_PADDING;
    alignCorners?: boolean;
  } = {},
): Tensor {
  const { mode = 'bilinear', paddingMode = 'zeros', alignCorners = false } = options;
  check(
    typeof mode === 'string' && Object.hasOwn(INTERPOLATION, mode),
    'gridSample',
    () => `mode must be bilinear, nearest or bicubic, got ${describe(mode)}`,
  );
  check(
    typeof paddingMode === 'string' && Object.hasOwn(GRID_PADDING, paddingMode),
    'gridSample',
    () => `paddingMode must be zeros, border or reflection, got ${describe(paddingMode)}`,
  );
  return call('aten::grid_sampler', input, grid, INTERPOLATION[mode], GRID_PADDING[paddingMode], alignCorners);
}

/** One-hot encoding of int64 class indices (numClasses −1: inferred from the largest index). */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return call('aten::one_hot', indices, numClasses);
}
