/**
 * Gradient checks: the autograd gradient of every differentiable operation against central finite
 * differences, in float64 (see `gradcheck` in helpers.ts).
 *
 * Vector-valued functions are reduced to a scalar with a fixed random weighting (`reduce` below), never
 * a plain sum: a plain sum would hide wrong gradients that merely permute or rescale entries of equal
 * weight. Inputs stay away from kinks (|x| of relu/abs/norm-1, ties of max/maxPool, clamp bounds, pixel
 * boundaries of gridSample) where finite differences are meaningless.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  callOp,
  cat,
  enableGrad,
  F,
  grad,
  manualSeed,
  type NestedArray,
  setNumThreads,
  stack,
  type Tensor,
  tensor,
  tidy,
  where,
} from '../src/index.js';
import { assertClose, gradcheck, mulberry32, values } from './helpers.js';

// Thousands of operations on tiny tensors: one thread is fastest, and it keeps this file fast on a busy
// machine, where idle OpenMP workers spinning for a core made it several times slower. (Each test file
// runs in its own process, so this does not leak into other tests.)
setNumThreads(1);

// ---- deterministic inputs (a JS generator, so the inputs do not depend on libtorch's seed) ------------

const rng = mulberry32(20240611);
const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A float64 tensor with the given data and shape. */
function f64(data: ArrayLike<number>, shape: readonly number[], requiresGrad = false): Tensor {
  return tensor(Float64Array.from(data), { shape, requiresGrad });
}

/** A float64 leaf with requiresGrad, uniform in [lo, hi). */
function leaf(shape: readonly number[], lo = -1, hi = 1): Tensor {
  return f64(
    Array.from({ length: numel(shape) }, () => lo + (hi - lo) * rng()),
    shape,
    true,
  );
}

/** A leaf whose elements have magnitude in [lo, hi] and a random sign: away from the kink at 0. */
function awayFromZero(shape: readonly number[], lo = 0.2, hi = 1.5): Tensor {
  return f64(
    Array.from({ length: numel(shape) }, () => (rng() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rng())),
    shape,
    true,
  );
}

/** A leaf of distinct values, at least `gap` apart (no ties for max, maxPool, amax), in random order. */
function distinct(shape: readonly number[], gap = 0.1): Tensor {
  const n = numel(shape);
  const data = Array.from({ length: n }, (_, i) => (i - n / 2) * gap + 0.3 * gap * rng());
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [data[i], data[j]] = [data[j]!, data[i]!];
  }
  return f64(data, shape, true);
}

/** Fixed pseudo-random weights in [0.5, 1.5) for a shape: the same every call (seeded by shape and salt). */
function weights(shape: readonly number[], salt = 0): Tensor {
  const r = mulberry32(7919 * (salt + 1) + shape.reduce((h, d) => h * 31 + d, 17));
  return f64(
    Array.from({ length: numel(shape) }, () => 0.5 + r()),
    shape,
  );
}

/** A scalar from a tensor (or list of tensors) by a fixed random weighting. */
function reduce(y: Tensor | Tensor[]): Tensor {
  if (Array.isArray(y)) return y.map((p, k) => p.mul(weights(p.shape, k + 1)).sum()).reduce((a, b) => a.add(b));
  return y.mul(weights(y.shape)).sum();
}

type Tolerance = { eps?: number; atol?: number; rtol?: number };

/** gradcheck of `reduce(f(...inputs))` with respect to every input. */
function check(f: (...xs: Tensor[]) => Tensor | Tensor[], inputs: Tensor[], tolerance: Tolerance = {}): void {
  gradcheck((...xs) => reduce(f(...xs)), inputs, tolerance);
}

/** A test whose tensors are all freed when it ends. */
function test(name: string, body: () => void): void {
  it(name, () => tidy(body));
}

const long = (data: NestedArray): Tensor => tensor(data, { dtype: 'int64' });

// ---- the check itself -----------------------------------------------------------------------------------

describe('gradcheck', () => {
  test('catches a wrong gradient', () => {
    // d/dx (detach(x)·x) is x for autograd but 2x for finite differences.
    assert.throws(() => check((x) => x.detach().mul(x), [leaf([4], 0.5, 1)]), /gradient/);
    // flip(x) with the autograd gradient of the identity: wrong only in how the gradient is distributed
    // over the elements. A plain sum cannot see it; the fixed random weighting does.
    const fake = (a: Tensor): Tensor => a.flip(0).detach().add(a.sub(a.detach()));
    assert.doesNotThrow(() => gradcheck((a) => fake(a).sum(), [leaf([5])]));
    assert.throws(() => check(fake, [leaf([5])]), /gradient/);
  });
});

// ---- arithmetic ------------------------------------------------------------------------------------------

describe('arithmetic', () => {
  test('add: tensor (broadcast, alpha) and scalar', () => {
    check((a, b) => a.add(b), [leaf([2, 3]), leaf([3])]);
    check((a, b) => a.add(b, 2.5), [leaf([2, 1]), leaf([1, 3])]);
    check((a) => a.add(0.7), [leaf([2, 3])]);
  });

  test('sub: tensor (broadcast, alpha) and scalar', () => {
    check((a, b) => a.sub(b), [leaf([2, 3]), leaf([2, 1])]);
    check((a, b) => a.sub(b, -1.5), [leaf([3]), leaf([2, 3])]);
    check((a) => a.sub(2), [leaf([4])]);
  });

  test('mul: tensor (broadcast) and scalar', () => {
    check((a, b) => a.mul(b), [leaf([2, 3]), leaf([3])]);
    check((a, b) => a.mul(b), [leaf([2, 1, 3]), leaf([4, 1])]);
    check((a) => a.mul(-3), [leaf([2, 2])]);
  });

  test('div: tensor (broadcast) and scalar', () => {
    check((a, b) => a.div(b), [leaf([2, 3]), awayFromZero([3], 0.5, 2)]);
    check((a, b) => a.div(b), [leaf([3, 1]), awayFromZero([1, 2], 0.5, 2)]);
    check((a) => a.div(0.3), [leaf([5])]);
  });

  test('pow: scalar and tensor exponent', () => {
    check((a) => a.pow(2.5), [leaf([2, 3], 0.3, 2)]);
    check((a) => a.pow(3), [leaf([2, 3])]);
    check((a) => a.pow(-1.5), [leaf([4], 0.5, 2)]);
    check((a, b) => a.pow(b), [leaf([2, 3], 0.3, 2), leaf([3], -1, 2)]);
  });

  test('matmul: matrix, batched with broadcasting, vector', () => {
    check((a, b) => a.matmul(b), [leaf([2, 3]), leaf([3, 4])]);
    check((a, b) => a.matmul(b), [leaf([2, 2, 3]), leaf([3, 2])]);
    check((a, b) => a.matmul(b), [leaf([3]), leaf([3, 4])]);
    check((a, b) => a.matmul(b), [leaf([2, 3]), leaf([3])]);
  });

  test('neg, exp, square, sin, cos, tanh, sigmoid', () => {
    check((a) => a.neg(), [leaf([2, 3])]);
    check((a) => a.exp(), [leaf([2, 3])]);
    check((a) => a.square(), [leaf([2, 3])]);
    check((a) => a.sin(), [leaf([2, 3], -3, 3)]);
    check((a) => a.cos(), [leaf([2, 3], -3, 3)]);
    check((a) => a.tanh(), [leaf([2, 3], -2, 2)]);
    check((a) => a.sigmoid(), [leaf([2, 3], -3, 3)]);
  });

  test('abs, reciprocal, relu away from 0', () => {
    check((a) => a.abs(), [awayFromZero([2, 3])]);
    check((a) => a.reciprocal(), [awayFromZero([2, 3], 0.5, 2)]);
    check((a) => a.relu(), [awayFromZero([2, 3])]);
  });

  test('log, sqrt, rsqrt on positive numbers', () => {
    check((a) => a.log(), [leaf([2, 3], 0.3, 3)]);
    check((a) => a.sqrt(), [leaf([2, 3], 0.3, 3)]);
    check((a) => a.rsqrt(), [leaf([2, 3], 0.3, 3)]);
  });

  test('clamp away from its bounds (both, min only, max only)', () => {
    const x = () => f64([-1.2, -0.7, -0.3, -0.1, 0.2, 0.4, 0.8, 1.1], [2, 4], true);
    check((a) => a.clamp(-0.5, 0.5), [x()]);
    check((a) => a.clamp(0), [x()]);
    check((a) => a.clamp(null, 0.3), [x()]);
  });

  test('where (tensor and scalar branches) and maskedFill', () => {
    const cond = tensor([
      [true, false, true],
      [false, false, true],
    ]);
    check((a, b) => where(cond, a, b), [leaf([2, 3]), leaf([2, 3])]);
    check((a, b) => where(cond, a, b), [leaf([3]), leaf([2, 1])]);
    check((a) => where(cond, a, 0.5), [leaf([2, 3])]);
    check((b) => where(cond, -2, b), [leaf([2, 3])]);
    check((a) => a.maskedFill(cond, 0.7), [leaf([2, 3])]);
    check((a) => a.maskedFill(tensor([false, true, false]), -1), [leaf([2, 3])]);
  });
});

// ---- reductions --------------------------------------------------------------------------------------------

describe('reductions', () => {
  test('sum and mean: all, over dims, keepdim', () => {
    check((a) => a.sum(), [leaf([2, 3])]);
    check((a) => a.sum(1), [leaf([2, 3, 2])]);
    check((a) => a.sum([0, 2], { keepdim: true }), [leaf([2, 3, 2])]);
    check((a) => a.mean(), [leaf([2, 3])]);
    check((a) => a.mean(-1), [leaf([2, 3, 2])]);
    check((a) => a.mean([0, 1], { keepdim: true }), [leaf([2, 3, 2])]);
  });

  test('var and std with correction 0 and 1', () => {
    for (const correction of [0, 1]) {
      check((a) => a.var(undefined, { correction }), [leaf([2, 3])]);
      check((a) => a.var(1, { correction }), [leaf([3, 4])]);
      check((a) => a.var([0, 2], { correction, keepdim: true }), [leaf([2, 3, 2])]);
      check((a) => a.std(undefined, { correction }), [leaf([2, 3])]);
      check((a) => a.std(0, { correction }), [leaf([3, 4])]);
      check((a) => a.std([1, 2], { correction, keepdim: true }), [leaf([2, 3, 2])]);
    }
  });

  test('prod: all and along a dim', () => {
    check((a) => a.prod(), [awayFromZero([2, 3], 0.5, 1.5)]);
    check((a) => a.prod(1), [awayFromZero([3, 4], 0.5, 1.5)]);
    check((a) => a.prod(0, { keepdim: true }), [awayFromZero([3, 2], 0.5, 1.5)]);
  });

  test('max, min (all and with dim: values), amax, amin', () => {
    check((a) => a.max(), [distinct([3, 4])]);
    check((a) => a.min(), [distinct([3, 4])]);
    check((a) => a.max(1).values, [distinct([3, 4])]);
    check((a) => a.min(0, { keepdim: true }).values, [distinct([3, 4])]);
    check((a) => a.amax(1), [distinct([3, 4])]);
    check((a) => a.amax([0, 2], { keepdim: true }), [distinct([2, 3, 2])]);
    check((a) => a.amin(0), [distinct([3, 4])]);
  });

  test('norm: p = 1 away from 0, p = 2, over dims', () => {
    check((a) => a.norm(1), [awayFromZero([2, 3])]);
    check((a) => a.norm(1, 1, { keepdim: true }), [awayFromZero([2, 3])]);
    check((a) => a.norm(), [leaf([2, 3])]);
    check((a) => a.norm(2, 0), [leaf([3, 4])]);
    check((a) => a.norm(2, [1, 2]), [leaf([2, 3, 2])]);
  });

  test('logsumexp', () => {
    check((a) => a.logsumexp(1), [leaf([3, 4], -2, 2)]);
    check((a) => a.logsumexp([0, 1], { keepdim: true }), [leaf([3, 4], -2, 2)]);
  });
});

// ---- views and movement ---------------------------------------------------------------------------------

describe('views and movement', () => {
  test('reshape, view, permute, transpose, flip', () => {
    check((a) => a.reshape(3, 4), [leaf([2, 6])]);
    check((a) => a.reshape([-1]), [leaf([2, 3, 2])]);
    check((a) => a.view(4, 3), [leaf([2, 6])]);
    check((a) => a.permute(2, 0, 1), [leaf([2, 3, 4])]);
    check((a) => a.transpose(0, 2), [leaf([2, 3, 4])]);
    check((a) => a.flip(1), [leaf([2, 3])]);
    check((a) => a.flip([0, 2]), [leaf([2, 3, 2])]);
  });

  test('narrow, slice, select', () => {
    check((a) => a.narrow(1, 1, 2), [leaf([3, 4])]);
    check((a) => a.slice(1, 1, null, 2), [leaf([3, 5])]);
    check((a) => a.slice(0, 0, 2), [leaf([3, 5])]);
    check((a) => a.select(1, 2), [leaf([3, 4])]);
    check((a) => a.select(0, -1), [leaf([3, 4])]);
  });

  test('indexSelect and gather (with repeated indices)', () => {
    check((a) => a.indexSelect(1, long([2, 0, 2, 3])), [leaf([3, 4])]);
    check((a) => a.indexSelect(0, long([1, 1])), [leaf([3, 4])]);
    check(
      (a) =>
        a.gather(
          1,
          long([
            [0, 0, 3],
            [2, 1, 2],
            [3, 3, 3],
          ]),
        ),
      [leaf([3, 4])],
    );
    check(
      (a) =>
        a.gather(
          0,
          long([
            [2, 0, 1, 2],
            [2, 2, 0, 1],
          ]),
        ),
      [leaf([3, 4])],
    );
  });

  test('squeeze, unsqueeze, flatten', () => {
    check((a) => a.squeeze(), [leaf([1, 3, 1, 2])]);
    check((a) => a.squeeze(2), [leaf([1, 3, 1, 2])]);
    check((a) => a.unsqueeze(1), [leaf([3, 2])]);
    check((a) => a.flatten(), [leaf([2, 3, 2])]);
    check((a) => a.flatten(1), [leaf([2, 3, 2])]);
  });

  test('expand, repeat, roll', () => {
    check((a) => a.expand(4, 3), [leaf([3])]);
    check((a) => a.expand(2, -1, 3), [leaf([2, 1])]);
    check((a) => a.repeat(2, 3), [leaf([2, 2])]);
    check((a) => a.repeat(2, 1, 2), [leaf([3, 2])]);
    check((a) => a.roll(1, 0), [leaf([4])]);
    check((a) => a.roll([1, -2], [0, 1]), [leaf([3, 4])]);
  });

  test('split and chunk (every piece weighted differently)', () => {
    check((a) => a.split(2, 1), [leaf([2, 5])]);
    check((a) => a.split([1, 3, 1], 1), [leaf([2, 5])]);
    check((a) => a.chunk(3, 0), [leaf([5, 2])]);
    check((a) => a.split(2, 1)[1]!, [leaf([2, 5])]);
  });

  test('cat and stack', () => {
    check((a, b) => cat([a, b], 1), [leaf([2, 3]), leaf([2, 2])]);
    check((a, b, c) => cat([a, b, a, c], 0), [leaf([1, 3]), leaf([2, 3]), leaf([1, 3])]);
    check((a, b) => stack([a, b], 0), [leaf([2, 3]), leaf([2, 3])]);
    check((a, b) => stack([a, b, a], 2), [leaf([2, 3]), leaf([2, 3])]);
  });

  test('clone and contiguous', () => {
    check((a) => a.clone(), [leaf([2, 3])]);
    check((a) => a.transpose(0, 1).contiguous().view(-1), [leaf([2, 3])]);
  });
});

// ---- functional: convolutions and padding -----------------------------------------------------------

describe('F.conv2d and F.convTranspose2d', () => {
  const conv = (options: F.Conv2dOptions) => (x: Tensor, w: Tensor, b: Tensor) => F.conv2d(x, w, b, options);

  test('conv2d: plain, with bias', () => {
    check(conv({}), [leaf([2, 2, 4, 4]), leaf([3, 2, 3, 3]), leaf([3])]);
    check((x, w) => F.conv2d(x, w), [leaf([1, 2, 4, 4]), leaf([2, 2, 2, 2])]);
  });

  test('conv2d: the backward made of forward convolutions, channels-last too, both weight-gradient paths', () => {
    // pdenet::conv2d: stride 1, one group. ≤ 16 output pixels take the swapped convolution for ∂L/∂W, more
    // take libtorch's; a 2×2 kernel with no padding has an asymmetric adjoint padding (k − 1 − p = 1).
    const layouts = [(t: Tensor) => t, (t: Tensor) => t.contiguous('channelsLast')];
    for (const layout of layouts) {
      check(
        (x, w, b) => F.conv2d(layout(x), layout(w), b, { padding: 1 }),
        [leaf([2, 3, 4, 4]), leaf([2, 3, 3, 3]), leaf([2])],
      );
      check(
        (x, w, b) => F.conv2d(layout(x), layout(w), b, { padding: 1 }),
        [leaf([2, 3, 5, 6]), leaf([2, 3, 3, 3]), leaf([2])],
      );
      check((x, w) => F.conv2d(layout(x), layout(w)), [leaf([1, 2, 6, 5]), leaf([3, 2, 2, 2])]);
      check(
        (x, w) => F.conv2d(layout(x), layout(w), null, { padding: [2, 0] }),
        [leaf([1, 2, 5, 5]), leaf([2, 2, 3, 3])],
      );
    }
  });

  test('conv2d: stride', () => {
    check(conv({ stride: 2 }), [leaf([1, 2, 5, 5]), leaf([3, 2, 3, 3]), leaf([3])]);
  });

  test('conv2d: padding (number, pair, same)', () => {
    check(conv({ padding: 1 }), [leaf([1, 2, 4, 4]), leaf([2, 2, 3, 3]), leaf([2])]);
    check(conv({ padding: [0, 2] }), [leaf([1, 2, 4, 3]), leaf([2, 2, 3, 3]), leaf([2])]);
    check(conv({ padding: 'same' }), [leaf([1, 2, 4, 4]), leaf([2, 2, 3, 3]), leaf([2])]);
  });

  test('conv2d: dilation', () => {
    check(conv({ dilation: 2 }), [leaf([1, 2, 6, 6]), leaf([2, 2, 3, 3]), leaf([2])]);
  });

  test('conv2d: groups', () => {
    check(conv({ groups: 2 }), [leaf([1, 4, 4, 4]), leaf([4, 2, 3, 3]), leaf([4])]);
    check(conv({ groups: 4 }), [leaf([1, 4, 4, 4]), leaf([4, 1, 3, 3]), leaf([4])]);
  });

  test('conv2d: stride, padding, dilation and groups together', () => {
    check(conv({ stride: [2, 1], padding: [1, 2], dilation: [2, 1], groups: 2 }), [
      leaf([1, 4, 6, 5]),
      leaf([2, 2, 3, 2]),
      leaf([2]),
    ]);
  });

  test('convTranspose2d: plain, stride + outputPadding, groups', () => {
    const convT = (options: F.ConvTranspose2dOptions) => (x: Tensor, w: Tensor, b: Tensor) =>
      F.convTranspose2d(x, w, b, options);
    check(convT({}), [leaf([1, 2, 3, 3]), leaf([2, 3, 3, 3]), leaf([3])]);
    check(convT({ stride: 2, padding: 1, outputPadding: 1 }), [leaf([1, 2, 3, 3]), leaf([2, 2, 3, 3]), leaf([2])]);
    check(convT({ stride: 2, outputPadding: 1, groups: 2 }), [leaf([1, 4, 2, 3]), leaf([4, 1, 3, 3]), leaf([2])]);
    check(convT({ stride: [1, 2], dilation: 2, groups: 2 }), [leaf([1, 2, 3, 2]), leaf([2, 2, 2, 2]), leaf([4])]);
  });
});

describe('F.pad', () => {
  for (const mode of ['constant', 'reflect', 'replicate', 'circular'] as const) {
    test(`${mode} mode`, () => {
      check((x) => F.pad(x, [1, 1, 1, 1], mode), [leaf([1, 2, 3, 4])]);
      check((x) => F.pad(x, [2, 1, 0, 2], mode), [leaf([1, 2, 3, 4])]);
    });
  }
  test('constant mode with a value, and cropping by negative sizes', () => {
    check((x) => F.pad(x, [1, 2, 2, 0], 'constant', 0.5), [leaf([2, 3, 4])]);
    check((x) => F.pad(x, [-1, 1, 0, -1], 'constant'), [leaf([1, 1, 3, 4])]);
  });
});

// ---- functional: normalization ----------------------------------------------------------------------

describe('F normalization', () => {
  test('batchNorm, training mode, with weight and bias', () => {
    check(
      (x, w, b) => F.batchNorm(x, null, null, { training: true, weight: w, bias: b }),
      [leaf([3, 2, 2, 2]), leaf([2], 0.5, 1.5), leaf([2])],
    );
    // with running statistics (updated in place by every call; training output does not read them)
    const rm = f64([0, 0], [2]);
    const rv = f64([1, 1], [2]);
    check(
      (x, w, b) => F.batchNorm(x, rm, rv, { training: true, weight: w, bias: b, momentum: 0.3 }),
      [leaf([4, 2, 3]), leaf([2], 0.5, 1.5), leaf([2])],
    );
    // without affine parameters, 2-D input (N×C)
    check((x) => F.batchNorm(x, null, null, { training: true }), [leaf([5, 3])]);
  });

  test('batchNorm, eval mode', () => {
    const rm = f64([0.2, -0.5], [2]);
    const rv = f64([0.8, 1.7], [2]);
    check(
      (x, w, b) => F.batchNorm(x, rm, rv, { weight: w, bias: b }),
      [leaf([3, 2, 2, 2]), leaf([2], 0.5, 1.5), leaf([2])],
    );
  });

  test('groupNorm', () => {
    check((x, w, b) => F.groupNorm(x, 2, { weight: w, bias: b }), [leaf([2, 4, 2, 3]), leaf([4]), leaf([4])]);
    check((x) => F.groupNorm(x, 1), [leaf([2, 3, 2, 2])]);
  });

  test('layerNorm', () => {
    check((x, w, b) => F.layerNorm(x, [3, 4], { weight: w, bias: b }), [leaf([2, 3, 4]), leaf([3, 4]), leaf([3, 4])]);
    check((x) => F.layerNorm(x, [4], { eps: 1e-3 }), [leaf([2, 3, 4])]);
  });
});

// ---- functional: activations -------------------------------------------------------------------------

describe('F activations', () => {
  test('relu and leakyRelu away from 0', () => {
    check((x) => F.relu(x), [awayFromZero([2, 5])]);
    check((x) => F.leakyRelu(x), [awayFromZero([2, 5])]);
    check((x) => F.leakyRelu(x, 0.2), [awayFromZero([2, 5])]);
  });

  test('gelu (exact and tanh approximation) and silu', () => {
    check((x) => F.gelu(x), [leaf([2, 5], -3, 3)]);
    check((x) => F.gelu(x, 'tanh'), [leaf([2, 5], -3, 3)]);
    check((x) => F.silu(x), [leaf([2, 5], -3, 3)]);
  });

  test("gelu's second derivative, on a transposed input too, as aten::gelu's", () => {
    // pdenet::gelu saves its input itself: a contiguous copy made in its forward, where grad mode is off, would cut
    // the second derivative off from a non-contiguous input.
    const layouts = { contiguous: (t: Tensor) => t, transposed: (t: Tensor) => t.t() };
    for (const approximate of ['none', 'tanh'] as const) {
      for (const [name, layout] of Object.entries(layouts)) {
        /** The gradient of reduce(gelu(x)) with respect to x, differentiable again. */
        const dgelu = (gelu: (t: Tensor) => Tensor) => (x: Tensor) =>
          enableGrad(() => grad(reduce(gelu(layout(x))), [x], { createGraph: true })[0]!);
        const ours = dgelu((t) => F.gelu(t, approximate));
        const theirs = dgelu((t) => callOp('aten::gelu', t, approximate) as Tensor);
        const x = leaf([4, 3], -3, 3);
        check(ours, [x]); // against finite differences of the first derivative
        const [second] = grad(reduce(ours(x)), [x]);
        const [expected] = grad(reduce(theirs(x)), [x]);
        assertClose(second!, expected!, { atol: 1e-12, message: `${approximate}, ${name}` });
      }
    }
  });

  test('softmax and logSoftmax', () => {
    check((x) => F.softmax(x, 1), [leaf([3, 4], -2, 2)]);
    check((x) => F.softmax(x, 0), [leaf([3, 4], -2, 2)]);
    check((x) => F.logSoftmax(x, -1), [leaf([3, 4], -2, 2)]);
    check((x) => F.logSoftmax(x, 1), [leaf([2, 3, 2], -2, 2)]);
  });
});

// ---- functional: pooling, linear, losses ----------------------------------------------------------------

describe('F pooling', () => {
  test('avgPool2d', () => {
    check((x) => F.avgPool2d(x, 2), [leaf([1, 2, 4, 4])]);
    check((x) => F.avgPool2d(x, 3, { stride: 2, padding: 1 }), [leaf([1, 2, 5, 5])]);
    check((x) => F.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), [leaf([1, 2, 5, 5])]);
    check((x) => F.avgPool2d(x, 2, { ceilMode: true }), [leaf([1, 1, 5, 5])]);
  });

  test('maxPool2d on distinct values', () => {
    check((x) => F.maxPool2d(x, 2), [distinct([1, 2, 4, 4])]);
    check((x) => F.maxPool2d(x, 3, { stride: 1 }), [distinct([1, 2, 4, 5])]);
    check((x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 }), [distinct([1, 1, 5, 5])]);
    check((x) => F.maxPool2d(x, 2, { dilation: 2 }), [distinct([1, 1, 5, 5])]);
  });

  test('adaptiveAvgPool2d', () => {
    check((x) => F.adaptiveAvgPool2d(x, 1), [leaf([2, 3, 3, 4])]);
    check((x) => F.adaptiveAvgPool2d(x, [3, 2]), [leaf([1, 2, 5, 5])]);
  });
});

describe('F.linear and losses', () => {
  test('linear (with and without bias, batched)', () => {
    check((x, w, b) => F.linear(x, w, b), [leaf([3, 4]), leaf([2, 4]), leaf([2])]);
    check((x, w) => F.linear(x, w), [leaf([2, 3, 4]), leaf([5, 4])]);
  });

  test('crossEntropy: reductions, labelSmoothing, class weights', () => {
    const target = long([0, 2, 1, 2]);
    const classWeight = f64([0.3, 1.0, 2.5], [3]);
    check((z) => F.crossEntropy(z, target), [leaf([4, 3], -2, 2)]);
    check((z) => F.crossEntropy(z, target, { reduction: 'sum' }), [leaf([4, 3], -2, 2)]);
    check((z) => F.crossEntropy(z, target, { reduction: 'none' }), [leaf([4, 3], -2, 2)]);
    check((z) => F.crossEntropy(z, target, { labelSmoothing: 0.2 }), [leaf([4, 3], -2, 2)]);
    check((z) => F.crossEntropy(z, target, { labelSmoothing: 0.1, reduction: 'none' }), [leaf([4, 3], -2, 2)]);
    check((z) => F.crossEntropy(z, target, { weight: classWeight }), [leaf([4, 3], -2, 2)]);
    check((z) => F.crossEntropy(z, target, { weight: classWeight, reduction: 'none' }), [leaf([4, 3], -2, 2)]);
    check((z) => F.crossEntropy(z, target, { weight: classWeight, labelSmoothing: 0.3 }), [leaf([4, 3], -2, 2)]);
    // N×C×H×W logits with N×H×W targets (per-pixel classification)
    check(
      (z) =>
        F.crossEntropy(
          z,
          long([
            [
              [0, 1],
              [2, 2],
            ],
          ]),
          { labelSmoothing: 0.1 },
        ),
      [leaf([1, 3, 2, 2], -2, 2)],
    );
  });

  test('mseLoss: with respect to input and target, every reduction', () => {
    check((a, b) => F.mseLoss(a, b), [leaf([3, 4]), leaf([3, 4])]);
    check((a, b) => F.mseLoss(a, b, 'sum'), [leaf([3, 4]), leaf([3, 4])]);
    check((a, b) => F.mseLoss(a, b, 'none'), [leaf([3, 4]), leaf([3, 4])]);
  });
});

// ---- functional: resampling ---------------------------------------------------------------------------

/** Normalized grid coordinate of pixel coordinate `p` (in pixels) for size `n` (PyTorch's convention). */
function normalized(p: number, n: number, alignCorners: boolean): number {
  return alignCorners ? (2 * p) / (n - 1) - 1 : (2 * p + 1) / n - 1;
}

/**
 * An N×H'×W'×2 grid leaf whose points lie strictly inside the image, at fractional pixel offsets in
 * [0.2, 0.8] (bilinear), or [0.1, 0.35] ∪ [0.65, 0.9] (nearest): away from the kinks of the interpolation.
 */
function gridAwayFromPixels(
  n: number,
  h: number,
  w: number,
  height: number,
  width: number,
  alignCorners: boolean,
  mode: 'bilinear' | 'nearest' = 'bilinear',
): Tensor {
  const frac = (): number => {
    if (mode === 'bilinear') return 0.2 + 0.6 * rng();
    const f = 0.1 + 0.25 * rng();
    return rng() < 0.5 ? f : 1 - f;
  };
  const data: number[] = [];
  for (let i = 0; i < n * h * w; i++) {
    const px = Math.floor(rng() * (width - 1)) + frac();
    const py = Math.floor(rng() * (height - 1)) + frac();
    data.push(normalized(px, width, alignCorners), normalized(py, height, alignCorners));
  }
  return f64(data, [n, h, w, 2], true);
}

describe('F resampling', () => {
  test('interpolate: bilinear (alignCorners true and false) and nearest', () => {
    check((x) => F.interpolate(x, { scaleFactor: 2, mode: 'bilinear', alignCorners: true }), [leaf([1, 2, 2, 3])]);
    check((x) => F.interpolate(x, { scaleFactor: 2, mode: 'bilinear' }), [leaf([1, 2, 2, 3])]);
    check((x) => F.interpolate(x, { size: [5, 2], mode: 'bilinear' }), [leaf([1, 1, 3, 4])]);
    check((x) => F.interpolate(x, { scaleFactor: 2 }), [leaf([1, 2, 2, 3])]);
    check((x) => F.interpolate(x, { size: [3, 5], mode: 'nearest' }), [leaf([1, 1, 4, 3])]);
  });

  test('affineGrid with respect to theta', () => {
    check((theta) => F.affineGrid(theta, [2, 1, 3, 4]), [leaf([2, 2, 3])]);
    check((theta) => F.affineGrid(theta, [1, 3, 4, 2], true), [leaf([1, 2, 3])]);
  });

  test('gridSample bilinear: with respect to input and grid', () => {
    for (const alignCorners of [false, true]) {
      check(
        (x, g) => F.gridSample(x, g, { alignCorners }),
        [leaf([1, 2, 4, 5]), gridAwayFromPixels(1, 3, 2, 4, 5, alignCorners)],
      );
      check(
        (x, g) => F.gridSample(x, g, { alignCorners, paddingMode: 'border' }),
        [leaf([2, 1, 3, 3]), gridAwayFromPixels(2, 2, 2, 3, 3, alignCorners)],
      );
    }
  });

  test('gridSample nearest: with respect to input (the grid gradient is 0)', () => {
    check(
      (x, g) => F.gridSample(x, g, { mode: 'nearest' }),
      [leaf([1, 2, 4, 5]), gridAwayFromPixels(1, 3, 3, 4, 5, false, 'nearest')],
    );
  });

  test('affineGrid followed by gridSample, with respect to theta and input', () => {
    // a rotation with scaling and shear, chosen so that every sampled point of the 3×3 output stays
    // away from pixel lines (checked first), where bilinear sampling has kinks.
    const theta = f64([0.74, -0.23, 0.01, 0.39, 0.75, 0.1], [1, 2, 3], true);
    const grid = F.affineGrid(theta.detach(), [1, 1, 3, 3]);
    for (const v of values(grid)) {
      const p = ((v + 1) * 4 - 1) / 2; // pixel coordinate in a 4×4 input, alignCorners false
      const f = p - Math.floor(p);
      assert.ok(f > 0.1 && f < 0.9, `grid point ${p} is too close to a pixel line`);
    }
    check((x, t) => F.gridSample(x, F.affineGrid(t, [1, 2, 3, 3])), [leaf([1, 2, 4, 4]), theta]);
  });
});

// ---- functional: dropout ---------------------------------------------------------------------------------

describe('F.dropout', () => {
  test('eval mode is the identity', () => {
    check((x) => F.dropout(x, 0.5, false), [leaf([3, 4])]);
  });

  test('training mode: with a fixed seed, the gradient is the mask/(1 − p) pattern of the output', () => {
    const p = 0.3;
    const x = awayFromZero([400]);
    const w = weights([400]);
    manualSeed(1234);
    const y = F.dropout(x, p, true);
    const [g] = grad(y.mul(w).sum(), [x]);
    const xs = values(x);
    const ys = values(y);
    const ws = values(w);
    const gs = values(g!);
    let kept = 0;
    for (let i = 0; i < xs.length; i++) {
      const mask = ys[i] !== 0 ? 1 : 0;
      kept += mask;
      // the output is x·mask/(1 − p) and the gradient of Σ w·y is w·mask/(1 − p)
      assert.ok(Math.abs(ys[i]! - (xs[i]! * mask) / (1 - p)) <= 1e-12, `output ${i}: ${ys[i]} for x = ${xs[i]}`);
      assert.ok(Math.abs(gs[i]! - (ws[i]! * mask) / (1 - p)) <= 1e-12, `gradient ${i}: ${gs[i]}, mask ${mask}`);
    }
    assert.ok(kept > 0.55 * xs.length && kept < 0.85 * xs.length, `kept ${kept} of ${xs.length}`);
    // the same seed draws the same mask
    manualSeed(1234);
    assert.deepEqual(values(F.dropout(x, p, true)), ys);
  });
});
