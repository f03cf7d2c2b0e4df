/**
 * Values of the functional API (F) against results computed independently: written out by hand, or
 * by a few lines of plain JavaScript loops (naive reference implementations below) — never taken from
 * pdenet's own output.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  autocast,
  callOp,
  F,
  manualSeed,
  ones,
  randn,
  type NestedArray,
  type Tensor,
  tensor,
  tidy,
  TorchError,
  zeros,
} from '../src/index.js';
import { assertClose, mulberry32, values } from './helpers.js';

// ---- helpers ---------------------------------------------------------------------------------------------

const rng = mulberry32(31337);
const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Uniform numbers in [lo, hi). */
function randomArray(n: number, lo = -1, hi = 1): number[] {
  return Array.from({ length: n }, () => lo + (hi - lo) * rng());
}

/** A float64 tensor of `data` (flat) with `shape`. */
function f64(data: ArrayLike<number>, shape: readonly number[]): Tensor {
  return tensor(Float64Array.from(data), { shape });
}

const long = (data: NestedArray): Tensor => tensor(data, { dtype: 'int64' });

/** A test whose tensors are all freed when it ends. */
function test(name: string, body: () => void): void {
  it(name, () => tidy(body));
}

/** Asserts `fn` throws a TorchError whose message matches every pattern. */
function throwsTorchError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TorchError, `expected a TorchError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, v, i) => s + v * b[i]!, 0);
const pair = (v: number | readonly [number, number]): [number, number] =>
  typeof v === 'number' ? [v, v] : [v[0], v[1]];

// ---- a naive reference convolution ---------------------------------------------------------------------

interface ConvOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

/** Cross-correlation by direct loops, x: N×C×H×W, w: O×(C/groups)×KH×KW. */
function conv2dReference(
  x: number[],
  xShape: number[],
  w: number[],
  wShape: number[],
  b: number[] | null,
  options: ConvOptions = {},
): { data: number[]; shape: number[] } {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [O, Cg, KH, KW] = wShape as [number, number, number, number];
  const [sh, sw] = pair(options.stride ?? 1);
  const [ph, pw] = pair(options.padding ?? 0);
  const [dh, dw] = pair(options.dilation ?? 1);
  const groups = options.groups ?? 1;
  assert.equal(C, Cg * groups);
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const outPerGroup = O / groups;
  const out: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / outPerGroup);
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let s = b === null ? 0 : b[o]!;
          for (let ic = 0; ic < Cg; ic++) {
            const c = g * Cg + ic;
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * sh - ph + ky * dh;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= W) continue;
                s += x[((n * C + c) * H + iy) * W + ix]! * w[((o * Cg + ic) * KH + ky) * KW + kx]!;
              }
            }
          }
          out.push(s);
        }
      }
    }
  }
  return { data: out, shape: [N, O, OH, OW] };
}

// ---- convolution -------------------------------------------------------------------------------------

describe('F.conv2d', () => {
  test('a tiny case by hand: 1×1×3×3 input, 2×2 kernel', () => {
    const x = tensor([
      [
        [
          [1, 2, 3],
          [4, 5, 6],
          [7, 8, 9],
        ],
      ],
    ]);
    const w = tensor([
      [
        [
          [1, 2],
          [3, 4],
        ],
      ],
    ]);
    // out[i][j] = x[i][j] + 2·x[i][j+1] + 3·x[i+1][j] + 4·x[i+1][j+1]
    assert.deepEqual(F.conv2d(x, w).toArray(), [
      [
        [
          [37, 47],
          [67, 77],
        ],
      ],
    ]);
    assert.deepEqual(F.conv2d(x, w, tensor([0.5])).toArray(), [
      [
        [
          [37.5, 47.5],
          [67.5, 77.5],
        ],
      ],
    ]);
    // padding 1, stride 2: the windows at (−1, −1), (−1, 1), (1, −1), (1, 1)
    // (−1,−1): only x[0][0]·4 = 4; (−1,1): x[0][1]·3 + x[0][2]·4 = 6 + 12 = 18;
    // (1,−1): x[1][0]·2 + x[2][0]·4 = 8 + 28 = 36; (1,1): 5 + 2·6 + 3·8 + 4·9 = 77
    assert.deepEqual(F.conv2d(x, w, null, { stride: 2, padding: 1 }).toArray(), [
      [
        [
          [4, 18],
          [36, 77],
        ],
      ],
    ]);
  });

  const cases: [string, number[], number[], ConvOptions][] = [
    ['plain', [2, 3, 6, 5], [4, 3, 3, 3], {}],
    ['stride 2', [2, 3, 7, 6], [4, 3, 3, 3], { stride: 2 }],
    ['padding 1', [1, 3, 5, 5], [2, 3, 3, 3], { padding: 1 }],
    ['dilation 2', [1, 2, 7, 7], [3, 2, 3, 3], { dilation: 2 }],
    ['groups 2', [2, 4, 5, 5], [6, 2, 3, 3], { groups: 2 }],
    ['stride 2, padding 1', [1, 3, 6, 7], [2, 3, 3, 3], { stride: 2, padding: 1 }],
    ['padding 1, dilation 2', [1, 2, 6, 6], [2, 2, 3, 3], { padding: 1, dilation: 2 }],
    ['stride 2, groups 2', [1, 4, 7, 7], [4, 2, 3, 3], { stride: 2, groups: 2 }],
    [
      'stride 2, padding 1, dilation 2, groups 2',
      [2, 4, 8, 7],
      [6, 2, 3, 3],
      { stride: 2, padding: 1, dilation: 2, groups: 2 },
    ],
    ['depthwise (groups = channels), padding 2', [1, 3, 5, 4], [3, 1, 3, 3], { groups: 3, padding: 2 }],
    [
      'asymmetric stride, padding and dilation',
      [1, 2, 7, 8],
      [2, 2, 2, 3],
      { stride: [2, 1], padding: [0, 2], dilation: [1, 2] },
    ],
  ];
  for (const [name, xShape, wShape, options] of cases) {
    test(`matches a naive loop: ${name}`, () => {
      const x = randomArray(numel(xShape));
      const w = randomArray(numel(wShape));
      const b = randomArray(wShape[0]!);
      for (const bias of [null, b]) {
        const expected = conv2dReference(x, xShape, w, wShape, bias, options);
        const got = F.conv2d(f64(x, xShape), f64(w, wShape), bias === null ? null : f64(bias, [bias.length]), options);
        assert.deepEqual(got.shape, expected.shape);
        assertClose(got, expected.data, { atol: 1e-12, rtol: 1e-12 });
      }
    });
  }

  test('padding "same" keeps the size (stride 1) and equals explicit symmetric padding for odd kernels', () => {
    const xShape = [1, 2, 5, 6];
    const wShape = [3, 2, 3, 3];
    const x = randomArray(numel(xShape));
    const w = randomArray(numel(wShape));
    const got = F.conv2d(f64(x, xShape), f64(w, wShape), null, { padding: 'same' });
    assert.deepEqual(got.shape, [1, 3, 5, 6]);
    assertClose(got, conv2dReference(x, xShape, w, wShape, null, { padding: 1 }).data, { atol: 1e-12 });
  });
});

describe('F.conv2d beside aten::conv2d', () => {
  const aten = (x: Tensor, w: Tensor, b: Tensor | null, padding: number) =>
    callOp('aten::conv2d', x, w, b, 1, padding, 1, 1) as Tensor;
  /** Output and gradients of x, w, b for the loss Σ g·conv(x). */
  const run = (conv: () => Tensor, leaves: Tensor[], g: Tensor) => {
    for (const t of leaves) t.grad?.zero_();
    const y = conv();
    y.float().mul(g).sum().backward();
    return { y: y.float().clone(), dtype: y.dtype, grads: leaves.map((t) => t.grad!.clone()) };
  };

  test("gives libtorch's output and gradients, in both layouts, in float32 and under bf16 autocast", () => {
    manualSeed(3);
    for (const [channelsLast, bf16, size] of [
      [false, false, 6],
      [true, false, 3],
      [false, true, 5],
      [true, true, 4],
    ] as const) {
      const x = randn([3, 4, size, size]);
      const input = (channelsLast ? x.contiguous('channelsLast') : x).requiresGrad_();
      const w = randn([5, 4, 3, 3]).requiresGrad_();
      const b = randn([5]).requiresGrad_();
      const g = randn([3, 5, size, size]);
      const maybeAutocast = (f: () => Tensor) => (bf16 ? autocast(f) : f());
      const ours = run(() => maybeAutocast(() => F.conv2d(input, w, b, { padding: 1 })), [input, w, b], g);
      const theirs = run(() => maybeAutocast(() => aten(input, w, b, 1)), [input, w, b], g);
      assert.equal(ours.dtype, bf16 ? 'bfloat16' : 'float32', 'autocast casts as it casts aten::conv2d');
      if (bf16) {
        // bf16 kernels differ by CPU (some accumulate partly in bf16), so each is held to bf16's error bound instead of
        // to the other: within 4 units of rounding (2⁻⁸ each) of Σ|aᵢ·bᵢ|, the scale of every dot product's error,
        // around the exact result of the bf16-rounded operands (computed in float64, as is that scale from |operands|).
        const rounded = [x, w, b, g].map((t) => t.detach().to('bfloat16').to('float64'));
        const exact = (abs: boolean) => {
          const [xe, we, be, ge] = rounded.map((t) => (abs ? t.abs() : t.clone()).requiresGrad_()) as [
            Tensor,
            Tensor,
            Tensor,
            Tensor,
          ];
          return run(() => aten(xe, we, be, 1), [xe, we, be], ge);
        };
        const [reference, scale] = [exact(false), exact(true)];
        const within = (got: Tensor, ref: Tensor, bound: Tensor, what: string) => {
          const excess = got
            .to('float64')
            .sub(ref)
            .abs()
            .sub(bound.mul(4 * 2 ** -8))
            .max()
            .item();
          assert.ok(excess <= 1e-6, `${what}: beyond the bf16 error bound by ${excess}`);
        };
        for (const [side, result] of [
          ['F.conv2d', ours],
          ['aten::conv2d', theirs],
        ] as const) {
          within(result.y, reference.y, scale.y, `${side} output`);
          ['input', 'weight', 'bias'].forEach((name, k) =>
            within(result.grads[k]!, reference.grads[k]!, scale.grads[k]!, `${side} ${name} gradient`),
          );
        }
      } else {
        const tol = { atol: 1e-4, rtol: 1e-4 };
        assertClose(ours.y, theirs.y, { ...tol, message: 'output' });
        ['input', 'weight', 'bias'].forEach((name, k) =>
          assertClose(ours.grads[k]!, theirs.grads[k]!, { ...tol, message: name }),
        );
      }
      if (channelsLast) assert.ok(input.grad!.isContiguousAs('channelsLast'), 'the input gradient keeps the layout');
    }
  });

  test('refuses the biases aten::conv2d refuses, with its error, and adds a strided one as it does', () => {
    manualSeed(5);
    const x = randn([2, 3, 5, 5]);
    const w = randn([4, 3, 3, 3]);
    // Added after the convolution, a one-element bias would broadcast over the channels and a float64 one would
    // make the output float64; aten::conv2d refuses both.
    for (const [bias, message] of [
      [tensor([1]), /expected bias to be 1-dimensional with 4 elements, but got bias of size \[1\]/],
      [randn([4, 1]), /expected bias to be 1-dimensional with 4 elements, but got bias of size \[4, 1\]/],
      [randn([2, 2]).t(), /expected bias to be 1-dimensional with 4 elements/],
      [randn([4], { dtype: 'float64' }), /Input type \(float\) and bias type \(double\) should be the same/],
      [tensor([1, 2, 3, 4], { dtype: 'int64' }), /bias type \(long int\)/],
    ] as const) {
      assert.throws(() => aten(x, w, bias, 1), message, 'aten::conv2d');
      assert.throws(
        () => F.conv2d(x, w, bias, { padding: 1 }),
        (e: unknown) => e instanceof TorchError && e.op === 'pdenet::conv2d' && message.test(e.message),
        `F.conv2d with a bias of shape [${bias.shape}] and dtype ${bias.dtype}`,
      );
    }
    const strided = randn([4, 2]).select(1, 1);
    assert.equal(strided.isContiguous, false);
    assertClose(F.conv2d(x, w, strided, { padding: 1 }), aten(x, w, strided.contiguous(), 1), { atol: 1e-5 });
  });
});

describe('F.gelu on channels-last tensors', () => {
  test('equals GELU of the NCHW tensor, forward and backward, whatever layout the gradient arrives in', () => {
    // libtorch 1.13's own gelu_backward is wrong when input and gradient differ in layout; pdenet::gelu is not.
    manualSeed(4);
    const x = randn([2, 5, 3, 4]);
    const g = randn([2, 5, 3, 4]);
    const layouts = { nchw: (t: Tensor) => t.clone(), nhwc: (t: Tensor) => t.contiguous('channelsLast') };
    for (const approximate of ['none', 'tanh'] as const) {
      const reference = x.clone().requiresGrad_();
      const expected = F.gelu(reference, approximate);
      expected.mul(g).sum().backward();
      for (const [inName, inLayout] of Object.entries(layouts)) {
        for (const [gradName, gradLayout] of Object.entries(layouts)) {
          const input = inLayout(x).requiresGrad_();
          const y = F.gelu(input, approximate);
          assert.equal(
            y.isContiguousAs('channelsLast') && !y.isContiguous,
            inName === 'nhwc',
            'the output keeps the layout',
          );
          assertClose(y, expected, { atol: 1e-6, message: `${approximate} ${inName}` });
          y.backward(gradLayout(g));
          assertClose(input.grad!, reference.grad!, {
            atol: 1e-6,
            message: `${approximate}: ${inName} input, ${gradName} gradient`,
          });
        }
      }
    }
    // by hand: GELU(1) = Φ(1) = 0.8413447…, GELU(−1) = −(1 − Φ(1))
    const one = tensor([1, -1, 1, -1], { shape: [1, 2, 1, 2] }).contiguous('channelsLast');
    assertClose(F.gelu(one), [0.8413447, -0.1586553, 0.8413447, -0.1586553], { atol: 1e-6 });
  });
});

describe('F.convTranspose2d', () => {
  test('a tiny case by hand: stride 2 tiles the kernel scaled by each input pixel', () => {
    const y = tensor([
      [
        [
          [1, 2],
          [3, 4],
        ],
      ],
    ]);
    const k = tensor([
      [
        [
          [1, 10],
          [100, 1000],
        ],
      ],
    ]);
    assert.deepEqual(F.convTranspose2d(y, k, null, { stride: 2 }).toArray(), [
      [
        [
          [1, 10, 2, 20],
          [100, 1000, 200, 2000],
          [3, 30, 4, 40],
          [300, 3000, 400, 4000],
        ],
      ],
    ]);
    // stride 1: overlapping windows add up; out[i][j] = Σ y[a][b]·k[i−a][j−b]
    assert.deepEqual(F.convTranspose2d(y, k).toArray(), [
      [
        [
          [1, 10 + 2, 20],
          [100 + 3, 1000 + 200 + 30 + 4, 2000 + 40],
          [300, 3000 + 400, 4000],
        ],
      ],
    ]);
  });

  const cases: [string, number[], number[], ConvOptions][] = [
    ['stride 1', [2, 3, 6, 5], [4, 3, 3, 3], {}],
    ['stride 1, padding 1', [1, 3, 5, 5], [2, 3, 3, 3], { padding: 1 }],
    ['stride 2 (odd size)', [1, 2, 7, 7], [3, 2, 3, 3], { stride: 2 }],
    ['stride 2 (even size: needs outputPadding)', [1, 2, 8, 6], [3, 2, 3, 3], { stride: 2, padding: 1 }],
    ['stride 2, groups 2', [2, 4, 6, 7], [6, 2, 3, 3], { stride: 2, padding: 1, groups: 2 }],
    ['stride 2, dilation 2', [1, 2, 9, 8], [2, 2, 2, 2], { stride: 2, dilation: 2 }],
  ];
  for (const [name, xShape, wShape, options] of cases) {
    test(`is the adjoint of conv2d: <conv2d(x, w), y> = <x, convTranspose2d(y, w)>, ${name}`, () => {
      const x = randomArray(numel(xShape));
      const w = randomArray(numel(wShape));
      const conv = conv2dReference(x, xShape, w, wShape, null, options);
      const y = randomArray(conv.data.length);
      const [sh, sw] = pair(options.stride ?? 1);
      const [ph, pw] = pair(options.padding ?? 0);
      const [dh, dw] = pair(options.dilation ?? 1);
      // the output padding that brings the transposed convolution back to x's size
      const outputPadding: [number, number] = [
        xShape[2]! - ((conv.shape[2]! - 1) * sh - 2 * ph + dh * (wShape[2]! - 1) + 1),
        xShape[3]! - ((conv.shape[3]! - 1) * sw - 2 * pw + dw * (wShape[3]! - 1) + 1),
      ];
      const xt = F.convTranspose2d(f64(y, conv.shape), f64(w, wShape), null, { ...options, outputPadding });
      assert.deepEqual(xt.shape, xShape);
      const lhs = dot(conv.data, y);
      const rhs = dot(x, values(xt));
      assertClose(rhs, lhs, { atol: 1e-10, rtol: 1e-12 });
      // and pdenet's own conv2d agrees with the reference on the left-hand side
      assertClose(F.conv2d(f64(x, xShape), f64(w, wShape), null, options).mul(f64(y, conv.shape)).sum(), lhs, {
        atol: 1e-10,
        rtol: 1e-12,
      });
    });
  }
});

// ---- padding ------------------------------------------------------------------------------------------------

describe('F.pad', () => {
  const x = () =>
    tensor([
      [
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
      ],
    ]);

  test('[1, 1, 1, 1] in each mode', () => {
    assert.deepEqual(F.pad(x(), [1, 1, 1, 1]).toArray(), [
      [
        [
          [0, 0, 0, 0, 0],
          [0, 1, 2, 3, 0],
          [0, 4, 5, 6, 0],
          [0, 0, 0, 0, 0],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), [1, 1, 1, 1], 'constant', 7).toArray(), [
      [
        [
          [7, 7, 7, 7, 7],
          [7, 1, 2, 3, 7],
          [7, 4, 5, 6, 7],
          [7, 7, 7, 7, 7],
        ],
      ],
    ]);
    // reflect: mirror about the edge element, without repeating it (Neumann)
    assert.deepEqual(F.pad(x(), [1, 1, 1, 1], 'reflect').toArray(), [
      [
        [
          [5, 4, 5, 6, 5],
          [2, 1, 2, 3, 2],
          [5, 4, 5, 6, 5],
          [2, 1, 2, 3, 2],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), [1, 1, 1, 1], 'replicate').toArray(), [
      [
        [
          [1, 1, 2, 3, 3],
          [1, 1, 2, 3, 3],
          [4, 4, 5, 6, 6],
          [4, 4, 5, 6, 6],
        ],
      ],
    ]);
    // circular: wrap around (periodic)
    assert.deepEqual(F.pad(x(), [1, 1, 1, 1], 'circular').toArray(), [
      [
        [
          [6, 4, 5, 6, 4],
          [3, 1, 2, 3, 1],
          [6, 4, 5, 6, 4],
          [3, 1, 2, 3, 1],
        ],
      ],
    ]);
  });

  test('asymmetric [left 2, right 0, top 0, bottom 1] in each mode', () => {
    const p = [2, 0, 0, 1];
    assert.deepEqual(F.pad(x(), p).toArray(), [
      [
        [
          [0, 0, 1, 2, 3],
          [0, 0, 4, 5, 6],
          [0, 0, 0, 0, 0],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), p, 'reflect').toArray(), [
      [
        [
          [3, 2, 1, 2, 3],
          [6, 5, 4, 5, 6],
          [3, 2, 1, 2, 3],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), p, 'replicate').toArray(), [
      [
        [
          [1, 1, 1, 2, 3],
          [4, 4, 4, 5, 6],
          [4, 4, 4, 5, 6],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), p, 'circular').toArray(), [
      [
        [
          [2, 3, 1, 2, 3],
          [5, 6, 4, 5, 6],
          [2, 3, 1, 2, 3],
        ],
      ],
    ]);
  });

  test('asymmetric [left 0, right 1, top 1, bottom 0] in each mode', () => {
    const p = [0, 1, 1, 0];
    assert.deepEqual(F.pad(x(), p).toArray(), [
      [
        [
          [0, 0, 0, 0],
          [1, 2, 3, 0],
          [4, 5, 6, 0],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), p, 'reflect').toArray(), [
      [
        [
          [4, 5, 6, 5],
          [1, 2, 3, 2],
          [4, 5, 6, 5],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), p, 'replicate').toArray(), [
      [
        [
          [1, 2, 3, 3],
          [1, 2, 3, 3],
          [4, 5, 6, 6],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), p, 'circular').toArray(), [
      [
        [
          [4, 5, 6, 4],
          [1, 2, 3, 1],
          [4, 5, 6, 4],
        ],
      ],
    ]);
  });

  test('constant mode: only the last dimension, and negative sizes crop', () => {
    assert.deepEqual(F.pad(x(), [1, 2]).toArray(), [
      [
        [
          [0, 1, 2, 3, 0, 0],
          [0, 4, 5, 6, 0, 0],
        ],
      ],
    ]);
    assert.deepEqual(F.pad(x(), [-1, 0, 0, -1]).toArray(), [[[[2, 3]]]]);
    assert.deepEqual(F.pad(tensor([1, 2]), [2, 1], 'constant', -1).toArray(), [-1, -1, 1, 2, -1]);
  });

  test('bad input: odd number of sizes, unknown mode, reflect padding as large as the input', () => {
    throwsTorchError(() => F.pad(x(), [1, 1, 1]), /^pad: /, /even number of sizes, got 3/);
    throwsTorchError(
      () => F.pad(x(), [1, 1, 1, 1], 'wrap' as F.PadMode),
      /mode must be constant, reflect, replicate or circular/,
      /"wrap"/,
    );
    throwsTorchError(
      () => F.pad(x(), [3, 3, 0, 0], 'reflect'),
      /Padding size should be less than the corresponding input dimension/,
    );
  });
});

// ---- normalization -----------------------------------------------------------------------------------------

/** Per-channel statistics of an N×C×(spatial) array: mean, biased and unbiased variance. */
function channelStats(x: number[], shape: number[]): { mean: number[]; biased: number[]; unbiased: number[] } {
  const [N, C] = shape as [number, number];
  const S = numel(shape.slice(2));
  const mean: number[] = [];
  const biased: number[] = [];
  const unbiased: number[] = [];
  for (let c = 0; c < C; c++) {
    const xs: number[] = [];
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) xs.push(x[(n * C + c) * S + s]!);
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const ss = xs.reduce((a, b) => a + (b - m) ** 2, 0);
    mean.push(m);
    biased.push(ss / xs.length);
    unbiased.push(ss / (xs.length - 1));
  }
  return { mean, biased, unbiased };
}

describe('F.batchNorm', () => {
  const shape = [4, 3, 2, 2];
  const eps = 1e-5;

  test('training mode: per-channel mean 0 and biased variance 1 (to eps)', () => {
    const x = randomArray(numel(shape), -2, 3);
    const y = values(F.batchNorm(f64(x, shape), null, null, { training: true }));
    const input = channelStats(x, shape);
    const output = channelStats(y, shape);
    for (let c = 0; c < 3; c++) {
      assertClose(output.mean[c]!, 0, { atol: 1e-12 });
      // exactly σ²/(σ² + eps): 1 up to the eps in the denominator
      assertClose(output.biased[c]!, input.biased[c]! / (input.biased[c]! + eps), { atol: 1e-12 });
      assertClose(output.biased[c]!, 1, { atol: (2 * eps) / input.biased[c]! });
    }
  });

  test('training mode with weight and bias: per-channel mean = bias, std = weight', () => {
    const x = randomArray(numel(shape), -2, 3);
    const weight = [0.5, 2, -1.5];
    const bias = [1, -3, 0.25];
    const y = values(
      F.batchNorm(f64(x, shape), null, null, {
        training: true,
        weight: f64(weight, [3]),
        bias: f64(bias, [3]),
        eps: 0,
      }),
    );
    const output = channelStats(y, shape);
    assertClose(output.mean, bias, { atol: 1e-12 });
    assertClose(output.biased.map(Math.sqrt), weight.map(Math.abs), { atol: 1e-12 });
  });

  test('running statistics after N steps on one batch: the closed form, with the unbiased variance', () => {
    const x = randomArray(numel(shape), -2, 3);
    const init = { mean: [0.5, -1, 2], var: [1, 2, 0.5] };
    const rm = f64(init.mean, [3]);
    const rv = f64(init.var, [3]);
    const m = 0.1;
    const N = 5;
    for (let step = 0; step < N; step++) F.batchNorm(f64(x, shape), rm, rv, { training: true, momentum: m });
    const { mean, biased, unbiased } = channelStats(x, shape);
    const keep = (1 - m) ** N;
    // running_N = (1 − m)^N · init + (1 − (1 − m)^N) · batch statistic
    assertClose(
      rm,
      init.mean.map((r, c) => keep * r + (1 - keep) * mean[c]!),
      { atol: 1e-12 },
    );
    assertClose(
      rv,
      init.var.map((r, c) => keep * r + (1 - keep) * unbiased[c]!),
      { atol: 1e-12 },
    );
    // … which is not what the biased variance would give
    const wrong = init.var.map((r, c) => keep * r + (1 - keep) * biased[c]!);
    assert.ok(values(rv).every((v, c) => Math.abs(v - wrong[c]!) > 1e-3));
  });

  test('running statistics over different batches: Σ m(1 − m)^(N−k) · batch_k + (1 − m)^N · init', () => {
    const m = 0.3;
    const batches = [0, 1, 2].map(() => randomArray(numel(shape), -1, 2));
    const rm = zeros([3], { dtype: 'float64' });
    const rv = ones([3], { dtype: 'float64' });
    for (const b of batches) F.batchNorm(f64(b, shape), rm, rv, { training: true, momentum: m });
    const N = batches.length;
    const expectedMean = [0, 0, 0].map((_, c) =>
      batches.reduce((s, b, k) => s + m * (1 - m) ** (N - 1 - k) * channelStats(b, shape).mean[c]!, 0),
    );
    const expectedVar = [1, 1, 1].map(
      (init, c) =>
        (1 - m) ** N * init +
        batches.reduce((s, b, k) => s + m * (1 - m) ** (N - 1 - k) * channelStats(b, shape).unbiased[c]!, 0),
    );
    assertClose(rm, expectedMean, { atol: 1e-12 });
    assertClose(rv, expectedVar, { atol: 1e-12 });
  });

  test('eval mode uses the running statistics: (x − rm)/√(rv + eps)·w + b, and leaves them alone', () => {
    const x = randomArray(numel(shape), -2, 3);
    const rm = [0.3, -0.2, 1.5];
    const rv = [0.5, 2, 1.25];
    const w = [1.5, -0.5, 2];
    const b = [0.1, 0.2, -0.3];
    const runningMean = f64(rm, [3]);
    const runningVar = f64(rv, [3]);
    const y = F.batchNorm(f64(x, shape), runningMean, runningVar, { weight: f64(w, [3]), bias: f64(b, [3]) });
    const S = 4;
    const expected = x.map((v, i) => {
      const c = Math.floor(i / S) % 3;
      return ((v - rm[c]!) / Math.sqrt(rv[c]! + eps)) * w[c]! + b[c]!;
    });
    assertClose(y, expected, { atol: 1e-12 });
    assert.deepEqual(values(runningMean), rm);
    assert.deepEqual(values(runningVar), rv);
    // without weight and bias, on N×C input
    assertClose(
      F.batchNorm(f64([1, 2, 3, 4, 5, 6], [2, 3]), runningMean, runningVar),
      [1, 2, 3, 4, 5, 6].map((v, i) => (v - rm[i % 3]!) / Math.sqrt(rv[i % 3]! + eps)),
      { atol: 1e-12 },
    );
  });

  test('eval mode without running statistics is a clear error', () => {
    throwsTorchError(() => F.batchNorm(f64([1, 2], [1, 2]), null, null), /running statistics/);
  });
});

describe('F.groupNorm and F.layerNorm', () => {
  test('groupNorm against a direct computation', () => {
    const shape = [2, 6, 2, 3];
    const [N, C] = [2, 6];
    const S = 6;
    const G = 3;
    const eps = 1e-5;
    const x = randomArray(numel(shape), -2, 2);
    const w = randomArray(C, 0.5, 1.5);
    const b = randomArray(C);
    const expected = new Array<number>(x.length);
    const perGroup = C / G;
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < G; g++) {
        const idx: number[] = [];
        for (let c = g * perGroup; c < (g + 1) * perGroup; c++)
          for (let s = 0; s < S; s++) idx.push((n * C + c) * S + s);
        const mean = idx.reduce((a, i) => a + x[i]!, 0) / idx.length;
        const variance = idx.reduce((a, i) => a + (x[i]! - mean) ** 2, 0) / idx.length;
        for (const i of idx) {
          const c = Math.floor(i / S) % C;
          expected[i] = ((x[i]! - mean) / Math.sqrt(variance + eps)) * w[c]! + b[c]!;
        }
      }
    }
    assertClose(F.groupNorm(f64(x, shape), G, { weight: f64(w, [C]), bias: f64(b, [C]) }), expected, { atol: 1e-12 });
    // one group: normalize each sample over everything
    const y = values(F.groupNorm(f64(x, shape), 1, { eps: 0 }));
    for (let n = 0; n < N; n++) {
      const part = y.slice(n * C * S, (n + 1) * C * S);
      const mean = part.reduce((a, v) => a + v, 0) / part.length;
      assertClose(mean, 0, { atol: 1e-12 });
      assertClose(part.reduce((a, v) => a + v * v, 0) / part.length, 1, { atol: 1e-12 });
    }
  });

  test('layerNorm against a direct computation (one and two normalized dimensions)', () => {
    const shape = [2, 3, 4];
    const x = randomArray(numel(shape), -2, 2);
    const eps = 1e-5;
    const normalize = (size: number, w: number[] | null, b: number[] | null): number[] => {
      const out: number[] = [];
      for (let start = 0; start < x.length; start += size) {
        const part = x.slice(start, start + size);
        const mean = part.reduce((a, v) => a + v, 0) / size;
        const variance = part.reduce((a, v) => a + (v - mean) ** 2, 0) / size;
        part.forEach((v, j) => out.push(((v - mean) / Math.sqrt(variance + eps)) * (w?.[j] ?? 1) + (b?.[j] ?? 0)));
      }
      return out;
    };
    const w = randomArray(12, 0.5, 1.5);
    const b = randomArray(12);
    assertClose(
      F.layerNorm(f64(x, shape), [3, 4], { weight: f64(w, [3, 4]), bias: f64(b, [3, 4]) }),
      normalize(12, w, b),
      { atol: 1e-12 },
    );
    assertClose(F.layerNorm(f64(x, shape), [4]), normalize(4, null, null), { atol: 1e-12 });
    const w4 = randomArray(4);
    assertClose(F.layerNorm(f64(x, shape), [4], { weight: f64(w4, [4]) }), normalize(4, w4, null), { atol: 1e-12 });
  });
});

// ---- softmax and losses -----------------------------------------------------------------------------------

/** log-softmax of each row of a matrix, by hand. */
function logSoftmaxRows(rows: number[][]): number[][] {
  return rows.map((r) => {
    const top = Math.max(...r);
    const lse = top + Math.log(r.reduce((s, v) => s + Math.exp(v - top), 0));
    return r.map((v) => v - lse);
  });
}

describe('F.softmax and F.logSoftmax', () => {
  const rows = [
    [1, 2, 3],
    [-1, 0, 5],
  ];

  test('over the last dimension and over the first', () => {
    const x = f64(rows.flat(), [2, 3]);
    const expected = rows.map((r) => {
      const z = r.reduce((s, v) => s + Math.exp(v), 0);
      return r.map((v) => Math.exp(v) / z);
    });
    assertClose(F.softmax(x, 1), expected, { atol: 1e-15 });
    assertClose(F.softmax(x, -1), expected, { atol: 1e-15 });
    assertClose(
      F.logSoftmax(x, 1),
      expected.map((r) => r.map(Math.log)),
      { atol: 1e-14 },
    );
    // over dim 0: each column normalized
    const columns = [0, 1, 2].map((j) => {
      const z = Math.exp(rows[0]![j]!) + Math.exp(rows[1]![j]!);
      return [Math.exp(rows[0]![j]!) / z, Math.exp(rows[1]![j]!) / z];
    });
    assertClose(
      F.softmax(x, 0),
      [0, 1].map((i) => columns.map((c) => c[i]!)),
      { atol: 1e-15 },
    );
    assertClose(
      F.logSoftmax(x, 0),
      [0, 1].map((i) => columns.map((c) => Math.log(c[i]!))),
      { atol: 1e-14 },
    );
  });

  test('is stable for large logits and keeps the dtype unless asked', () => {
    const big = tensor([1000, 1001, 1002]);
    const z = 1 + Math.E + Math.E ** 2;
    assertClose(F.softmax(big, 0), [1 / z, Math.E / z, Math.E ** 2 / z], { atol: 1e-6 });
    assertClose(F.logSoftmax(big, 0), [-Math.log(z), 1 - Math.log(z), 2 - Math.log(z)], { atol: 1e-5 });
    assert.equal(F.softmax(big, 0).dtype, 'float32');
    assert.equal(F.softmax(big, 0, 'float64').dtype, 'float64');
  });
});

describe('F.crossEntropy', () => {
  const N = 4;
  const C = 3;
  const logits = Array.from({ length: N }, () => randomArray(C, -2, 2));
  const target = [0, 2, 1, 2];
  const logp = logSoftmaxRows(logits);
  const z = () => f64(logits.flat(), [N, C]);
  const t = () => long(target);
  const sum = (a: number[]): number => a.reduce((s, v) => s + v, 0);

  /** −Σ_c w_c q_c log p_c with q = (1 − ε)·onehot + ε/C, per sample. */
  const perSample = (eps: number, w: number[] = [1, 1, 1]): number[] =>
    logp.map((row, n) => -sum(row.map((lp, c) => w[c]! * ((1 - eps) * (c === target[n] ? 1 : 0) + eps / C) * lp)));

  test('without smoothing: −log p of the target, reduced by none, sum and mean', () => {
    const nll = logp.map((row, n) => -row[target[n]!]!);
    assertClose(F.crossEntropy(z(), t(), { reduction: 'none' }), nll, { atol: 1e-12 });
    assertClose(F.crossEntropy(z(), t(), { reduction: 'sum' }), sum(nll), { atol: 1e-12 });
    assertClose(F.crossEntropy(z(), t()), sum(nll) / N, { atol: 1e-12 });
    assertClose(perSample(0), nll, { atol: 1e-12, message: 'the formula itself' });
  });

  test('with labelSmoothing ε: −Σ_c q_c log p_c, q = (1 − ε)·onehot + ε/C', () => {
    for (const eps of [0.1, 0.25, 1]) {
      const losses = perSample(eps);
      assertClose(F.crossEntropy(z(), t(), { labelSmoothing: eps, reduction: 'none' }), losses, { atol: 1e-12 });
      assertClose(F.crossEntropy(z(), t(), { labelSmoothing: eps, reduction: 'sum' }), sum(losses), { atol: 1e-12 });
      assertClose(F.crossEntropy(z(), t(), { labelSmoothing: eps, reduction: 'mean' }), sum(losses) / N, {
        atol: 1e-12,
      });
    }
  });

  test('with class weights (mean divides by the total weight of the targets), with and without smoothing', () => {
    const w = [0.3, 1, 2.5];
    const weight = f64(w, [3]);
    const targetWeight = sum(target.map((c) => w[c]!));
    for (const eps of [0, 0.2]) {
      const losses = perSample(eps, w);
      assertClose(F.crossEntropy(z(), t(), { weight, labelSmoothing: eps, reduction: 'none' }), losses, {
        atol: 1e-12,
      });
      assertClose(F.crossEntropy(z(), t(), { weight, labelSmoothing: eps, reduction: 'sum' }), sum(losses), {
        atol: 1e-12,
      });
      assertClose(F.crossEntropy(z(), t(), { weight, labelSmoothing: eps }), sum(losses) / targetWeight, {
        atol: 1e-12,
      });
    }
  });

  test('ignoreIndex drops samples from the loss and from the mean', () => {
    const nll = logp.map((row, n) => -row[target[n]!]!);
    const ignored = long([0, -100, 1, 2]);
    assertClose(F.crossEntropy(z(), ignored, { reduction: 'none' }), [-logp[0]![0]!, 0, -logp[2]![1]!, -logp[3]![2]!], {
      atol: 1e-12,
    });
    assertClose(F.crossEntropy(z(), ignored), (nll[0]! + nll[2]! + nll[3]!) / 3, { atol: 1e-12 });
    assertClose(F.crossEntropy(z(), t(), { ignoreIndex: 2 }), (nll[0]! + nll[2]!) / 2, { atol: 1e-12 });
  });

  test('bad input: target of the wrong dtype, bad labelSmoothing, bad reduction', () => {
    throwsTorchError(
      () => F.crossEntropy(z(), tensor([0, 2, 1, 2], { dtype: 'int32' })),
      /crossEntropy/,
      /int64 class indices/,
      /got int32 of shape \[4\]/,
    );
    throwsTorchError(
      () => F.crossEntropy(z(), tensor([0, 2, 1, 2])),
      /crossEntropy/,
      /int64 class indices/,
      /got float32/,
    );
    throwsTorchError(
      () => F.crossEntropy(z(), t(), { labelSmoothing: 1.5 }),
      /labelSmoothing must be in \[0, 1\], got 1.5/,
    );
    throwsTorchError(
      () => F.crossEntropy(z(), t(), { reduction: 'avg' as F.Reduction }),
      /reduction must be none, mean or sum/,
    );
  });
});

describe('F.mseLoss', () => {
  test('mean, sum and none of the squared differences', () => {
    const a = [1, -2, 3.5, 0];
    const b = [0.5, 1, 3, -2];
    const sq = a.map((v, i) => (v - b[i]!) ** 2); // 0.25, 9, 0.25, 4
    assert.deepEqual(sq, [0.25, 9, 0.25, 4]);
    assertClose(F.mseLoss(f64(a, [2, 2]), f64(b, [2, 2])), 13.5 / 4, { atol: 1e-15 });
    assertClose(F.mseLoss(f64(a, [2, 2]), f64(b, [2, 2]), 'sum'), 13.5, { atol: 1e-15 });
    assertClose(
      F.mseLoss(f64(a, [2, 2]), f64(b, [2, 2]), 'none'),
      [
        [0.25, 9],
        [0.25, 4],
      ],
      { atol: 1e-15 },
    );
    throwsTorchError(() => F.mseLoss(f64(a, [4]), f64(b, [4]), 'avg' as F.Reduction), /^mseLoss: reduction/);
  });
});

// ---- pooling and resizing ------------------------------------------------------------------------------

describe('pooling', () => {
  const x3 = () =>
    tensor([
      [
        [
          [1, 2, 3],
          [4, 5, 6],
          [7, 8, 9],
        ],
      ],
    ]);

  test('avgPool2d', () => {
    const x = tensor([
      [
        [
          [0, 1, 2, 3],
          [4, 5, 6, 7],
          [8, 9, 10, 11],
          [12, 13, 14, 15],
        ],
      ],
    ]);
    assert.deepEqual(F.avgPool2d(x, 2).toArray(), [
      [
        [
          [2.5, 4.5],
          [10.5, 12.5],
        ],
      ],
    ]);
    assert.deepEqual(F.avgPool2d(x3(), 2, { stride: 1 }).toArray(), [
      [
        [
          [3, 4],
          [6, 7],
        ],
      ],
    ]);
    // padding 1, stride 2 on 3×3: windows {−1, 0} and {1, 2} in each direction
    assert.deepEqual(F.avgPool2d(x3(), 2, { padding: 1 }).toArray(), [
      [
        [
          [1 / 4, 5 / 4],
          [11 / 4, 28 / 4],
        ],
      ],
    ]);
    assert.deepEqual(F.avgPool2d(x3(), 2, { padding: 1, countIncludePad: false }).toArray(), [
      [
        [
          [1, 2.5],
          [5.5, 7],
        ],
      ],
    ]);
    // ceilMode keeps the partial window at the end
    assert.deepEqual(F.avgPool2d(x3(), 2, { ceilMode: true }).toArray(), [
      [
        [
          [3, 4.5],
          [7.5, 9],
        ],
      ],
    ]);
  });

  test('maxPool2d', () => {
    const x = tensor([
      [
        [
          [1, 5, 2, 0],
          [3, 4, 8, 6],
          [9, 2, 1, 7],
          [0, 3, 5, 4],
        ],
      ],
    ]);
    assert.deepEqual(F.maxPool2d(x, 2).toArray(), [
      [
        [
          [5, 8],
          [9, 7],
        ],
      ],
    ]);
    assert.deepEqual(F.maxPool2d(x, 3, { stride: 1 }).toArray(), [
      [
        [
          [9, 8],
          [9, 8],
        ],
      ],
    ]);
    assert.deepEqual(F.maxPool2d(x, 2, { padding: 1 }).toArray(), [
      [
        [
          [1, 5, 0],
          [9, 8, 7],
          [0, 5, 4],
        ],
      ],
    ]);
    // padding never wins, even against negative numbers
    assert.deepEqual(F.maxPool2d(x.neg(), 2, { padding: 1 }).toArray(), [
      [
        [
          [-1, -2, -0],
          [-3, -1, -6],
          [-0, -3, -4],
        ],
      ],
    ]);
    assert.deepEqual(F.maxPool2d(x3(), 2, { ceilMode: true }).toArray(), [
      [
        [
          [5, 6],
          [8, 9],
        ],
      ],
    ]);
    // dilation 2: the window {0, 2} × {0, 2} and so on
    assert.deepEqual(F.maxPool2d(x, 2, { stride: 1, dilation: 2 }).toArray(), [
      [
        [
          [9, 7],
          [8, 6],
        ],
      ],
    ]);
  });

  test('adaptiveAvgPool2d', () => {
    const x = tensor([
      [
        [
          [1, 2, 3],
          [4, 5, 6],
          [7, 8, 9],
        ],
        [
          [0, 0, 0],
          [0, 0, 9],
          [0, 0, 0],
        ],
      ],
    ]);
    assert.deepEqual(F.adaptiveAvgPool2d(x, 1).toArray(), [[[[5]], [[1]]]]);
    // 3 → 2: windows [0, 2) and [1, 3), overlapping
    assert.deepEqual(F.adaptiveAvgPool2d(x3(), 2).toArray(), [
      [
        [
          [3, 4],
          [6, 7],
        ],
      ],
    ]);
    assert.deepEqual(F.adaptiveAvgPool2d(x3(), [1, 3]).toArray(), [[[[4, 5, 6]]]]);
  });
});

describe('F.interpolate', () => {
  const x = () => f64([1, 2, 3, 4], [1, 1, 2, 2]);

  test('nearest ×2 and to a size', () => {
    assert.deepEqual(F.interpolate(x(), { scaleFactor: 2 }).toArray(), [
      [
        [
          [1, 1, 2, 2],
          [1, 1, 2, 2],
          [3, 3, 4, 4],
          [3, 3, 4, 4],
        ],
      ],
    ]);
    // size [3, 2]: source row ⌊i·2/3⌋ = 0, 0, 1
    assert.deepEqual(F.interpolate(x(), { size: [3, 2] }).toArray(), [
      [
        [
          [1, 2],
          [1, 2],
          [3, 4],
        ],
      ],
    ]);
  });

  test('bilinear with alignCorners true', () => {
    // corners stay; 3×3 adds midpoints
    assertClose(
      F.interpolate(x(), { size: 3, mode: 'bilinear', alignCorners: true }),
      [
        [1, 1.5, 2],
        [2, 2.5, 3],
        [3, 3.5, 4],
      ],
      { atol: 1e-15 },
    );
    // ×2: sample positions 0, 1/3, 2/3, 1; the value is 1 + 2·row + col
    assertClose(
      F.interpolate(x(), { scaleFactor: 2, mode: 'bilinear', alignCorners: true }),
      [
        [1, 4 / 3, 5 / 3, 2],
        [5 / 3, 2, 7 / 3, 8 / 3],
        [7 / 3, 8 / 3, 3, 10 / 3],
        [3, 10 / 3, 11 / 3, 4],
      ],
      { atol: 1e-14 },
    );
  });

  test('bilinear with alignCorners false', () => {
    // source positions (i + 0.5)/2 − 0.5 = −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    const t = [0, 0.25, 0.75, 1];
    assertClose(
      F.interpolate(x(), { scaleFactor: 2, mode: 'bilinear' }),
      t.map((r) => t.map((c) => 1 + 2 * r + c)),
      { atol: 1e-15 },
    );
  });

  test('bad input: both or neither of size and scaleFactor', () => {
    throwsTorchError(() => F.interpolate(x(), { size: 4, scaleFactor: 2 }), /exactly one of size and scaleFactor/);
    throwsTorchError(() => F.interpolate(x(), {}), /exactly one of size and scaleFactor/);
  });
});

// ---- affineGrid and gridSample ------------------------------------------------------------------------

describe('F.affineGrid and F.gridSample', () => {
  const identity = () => f64([1, 0, 0, 0, 1, 0], [1, 2, 3]);

  test('the identity grid holds the normalized pixel coordinates (x, then y)', () => {
    // alignCorners true: x ∈ {−1, 0, 1}, y ∈ {−1, 1}
    assertClose(
      F.affineGrid(identity(), [1, 1, 2, 3], true),
      [
        [
          [
            [-1, -1],
            [0, -1],
            [1, -1],
          ],
          [
            [-1, 1],
            [0, 1],
            [1, 1],
          ],
        ],
      ],
      { atol: 1e-15 },
    );
    // alignCorners false: pixel centres, x ∈ {−2/3, 0, 2/3}, y ∈ {−1/2, 1/2}
    assertClose(
      F.affineGrid(identity(), [1, 1, 2, 3], false),
      [
        [
          [
            [-2 / 3, -0.5],
            [0, -0.5],
            [2 / 3, -0.5],
          ],
          [
            [-2 / 3, 0.5],
            [0, 0.5],
            [2 / 3, 0.5],
          ],
        ],
      ],
      { atol: 1e-15 },
    );
  });

  test('the identity theta reproduces the input', () => {
    const shape = [2, 3, 4, 5];
    const data = randomArray(numel(shape));
    const theta = f64([1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0], [2, 2, 3]);
    for (const alignCorners of [true, false]) {
      const grid = F.affineGrid(theta, shape, alignCorners);
      assert.deepEqual(grid.shape, [2, 4, 5, 2]);
      assertClose(F.gridSample(f64(data, shape), grid, { alignCorners }), data, { atol: 1e-12 });
    }
  });

  test('a 90° rotation moves a pixel to its rotated place', () => {
    // theta maps output (x, y) to input (−y, x): out[i][j] = in[j][W − 1 − i], numpy's rot90
    const rotate = f64([0, -1, 0, 1, 0, 0], [1, 2, 3]);
    const x3 = f64([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const grid3 = F.affineGrid(rotate, [1, 1, 3, 3], true);
    assertClose(
      F.gridSample(x3, grid3, { alignCorners: true }),
      [
        [3, 6, 9],
        [2, 5, 8],
        [1, 4, 7],
      ],
      { atol: 1e-12 },
    );
    // one hot pixel at row 0, column 1 of a 4×4 image lands at row 2, column 0
    const hot = zeros([1, 1, 4, 4], { dtype: 'float64' });
    hot.select(2, 0).select(2, 1).fill_(1);
    for (const alignCorners of [true, false]) {
      const out = F.gridSample(hot, F.affineGrid(rotate, [1, 1, 4, 4], alignCorners), { alignCorners });
      const expected = Array.from({ length: 16 }, (_, k) => (k === 2 * 4 + 0 ? 1 : 0));
      assertClose(out, expected, { atol: 1e-12, message: `alignCorners ${alignCorners}` });
    }
  });

  test('a translation by 2k/W shifts by k pixels (alignCorners false)', () => {
    const [H, W] = [3, 4];
    const data = randomArray(H * W, 1, 2);
    const image = f64(data, [1, 1, H, W]);
    const at = (i: number, j: number): number => (i >= 0 && i < H && j >= 0 && j < W ? data[i * W + j]! : 0);
    for (const k of [1, -2, 3]) {
      const theta = f64([1, 0, (2 * k) / W, 0, 1, 0], [1, 2, 3]);
      const out = F.gridSample(image, F.affineGrid(theta, [1, 1, H, W]));
      // the output at column j reads the input at column j + k; outside is zero padding
      const expected = Array.from({ length: H * W }, (_, n) => at(Math.floor(n / W), (n % W) + k));
      assertClose(out, expected, { atol: 1e-12, message: `k = ${k}` });
    }
    // vertically: by 2/H·1 reads one row below
    const down = f64([1, 0, 0, 0, 1, 2 / H], [1, 2, 3]);
    const expected = Array.from({ length: H * W }, (_, n) => at(Math.floor(n / W) + 1, n % W));
    assertClose(F.gridSample(image, F.affineGrid(down, [1, 1, H, W])), expected, { atol: 1e-12 });
  });

  test('bilinear sampling between pixels, by hand', () => {
    const image = f64([1, 2, 3, 4], [1, 1, 2, 2]);
    // alignCorners true: (0, 0) is the centre of the image, (−1, −1) the top-left pixel, (0.5, −1) is 3/4
    // of the way from pixel (0, 0) to (0, 1)
    const grid = f64([0, 0, -1, -1, 0.5, -1, 1, 0], [1, 1, 4, 2]);
    assertClose(F.gridSample(image, grid, { alignCorners: true }), [[[[2.5, 1, 1.75, 3]]]], { atol: 1e-12 });
  });

  test('bad input: unknown mode or padding mode', () => {
    const image = f64([1, 2, 3, 4], [1, 1, 2, 2]);
    const grid = f64([0, 0], [1, 1, 1, 2]);
    throwsTorchError(
      () => F.gridSample(image, grid, { mode: 'cubic' as 'bicubic' }),
      /mode must be bilinear, nearest or bicubic/,
    );
    throwsTorchError(
      () => F.gridSample(image, grid, { paddingMode: 'wrap' as 'zeros' }),
      /paddingMode must be zeros, border or reflection/,
    );
  });
});

// ---- oneHot, linear, dropout, errors -----------------------------------------------------------------

describe('F.oneHot', () => {
  test('encodes int64 indices, with the number of classes given or inferred', () => {
    const h = F.oneHot(long([0, 2, 1]), 4);
    assert.equal(h.dtype, 'int64');
    assert.deepEqual(h.toArray(), [
      [1, 0, 0, 0],
      [0, 0, 1, 0],
      [0, 1, 0, 0],
    ]);
    assert.deepEqual(F.oneHot(long([0, 2, 1])).toArray(), [
      [1, 0, 0],
      [0, 0, 1],
      [0, 1, 0],
    ]);
    assert.deepEqual(F.oneHot(long([[1], [0]]), 2).toArray(), [[[0, 1]], [[1, 0]]]);
    throwsTorchError(() => F.oneHot(long([0, 3]), 3), /smaller than num_classes/);
  });
});

describe('F.linear', () => {
  test('x·Wᵀ + b against loops, with and without bias, batched', () => {
    const [B, I, O] = [3, 4, 2];
    const x = randomArray(B * I);
    const w = randomArray(O * I);
    const b = randomArray(O);
    const expected = (bias: boolean): number[] => {
      const out: number[] = [];
      for (let n = 0; n < B; n++) {
        for (let o = 0; o < O; o++) {
          let s = bias ? b[o]! : 0;
          for (let i = 0; i < I; i++) s += x[n * I + i]! * w[o * I + i]!;
          out.push(s);
        }
      }
      return out;
    };
    assertClose(F.linear(f64(x, [B, I]), f64(w, [O, I]), f64(b, [O])), expected(true), { atol: 1e-14 });
    assertClose(F.linear(f64(x, [B, I]), f64(w, [O, I])), expected(false), { atol: 1e-14 });
    const batched = F.linear(f64(x, [1, B, I]), f64(w, [O, I]), f64(b, [O]));
    assert.deepEqual(batched.shape, [1, B, O]);
    assertClose(batched, expected(true), { atol: 1e-14 });
    // by hand: [1, 2]·[[1, 0], [1, 1], [0, 2]]ᵀ + [0, 1, −1] = [1, 4, 3]
    assert.deepEqual(
      F.linear(
        tensor([[1, 2]]),
        tensor([
          [1, 0],
          [1, 1],
          [0, 2],
        ]),
        tensor([0, 1, -1]),
      ).toArray(),
      [[1, 4, 3]],
    );
    throwsTorchError(() => F.linear(f64(x, [B, I]), f64(w, [I, O])), /shapes cannot be multiplied/);
  });
});

describe('F.dropout', () => {
  test('in training keeps ≈ (1 − p) of the elements, scaled by exactly 1/(1 − p)', () => {
    manualSeed(2024);
    const n = 100_000;
    for (const p of [0.3, 0.5, 0.8]) {
      const y = values(F.dropout(ones([n], { dtype: 'float64' }), p, true));
      const scale = 1 / (1 - p);
      let kept = 0;
      for (const v of y) {
        if (v !== 0) {
          kept++;
          assert.equal(v, scale, `a kept element is ${v}, not 1/(1 − ${p}) = ${scale}`);
        }
      }
      // the kept fraction is binomial: its standard deviation is √(p(1 − p)/n) ≤ 0.0016
      assert.ok(Math.abs(kept / n - (1 - p)) < 0.01, `kept ${kept / n} of the elements with p = ${p}`);
    }
    // general input: each element is either 0 or x/(1 − p)
    const x = randomArray(1000, 0.5, 2);
    const y = values(F.dropout(f64(x, [10, 100]), 0.4, true));
    y.forEach((v, i) => assert.ok(v === 0 || Math.abs(v - x[i]! / 0.6) < 1e-12, `element ${i}: ${v} from ${x[i]}`));
  });

  test('p = 0 keeps everything, p = 1 drops everything', () => {
    const x = randomArray(100);
    assert.deepEqual(values(F.dropout(f64(x, [100]), 0, true)), x);
    assert.deepEqual(values(F.dropout(f64(x, [100]), 1, true)).map(Math.abs), new Array(100).fill(0));
  });

  test('is the identity in eval mode', () => {
    const x = randomArray(100);
    for (const p of [0.1, 0.5, 0.9]) assert.deepEqual(values(F.dropout(f64(x, [4, 25]), p, false)), x);
  });

  test('bad input: p outside [0, 1]', () => {
    throwsTorchError(() => F.dropout(ones([2]), 1.5), /p must be in \[0, 1\], got 1.5/);
    throwsTorchError(() => F.dropout(ones([2]), -0.1), /p must be in \[0, 1\]/);
  });
});

describe('errors name what is wrong', () => {
  test('conv2d channel mismatch names both shapes', () => {
    throwsTorchError(
      () => F.conv2d(zeros([1, 2, 5, 5]), zeros([4, 3, 3, 3])),
      /conv2d/,
      /\[4, 3, 3, 3\]/,
      /\[1, 2, 5, 5\]/,
      /3 channels/,
    );
    // groups that do not divide the channels
    throwsTorchError(() => F.conv2d(zeros([1, 4, 5, 5]), zeros([3, 2, 3, 3]), null, { groups: 2 }), /groups/);
    // a kernel larger than the (padded) input
    throwsTorchError(() => F.conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 3, 3])), /kernel size can't be greater/i);
  });

  test('convTranspose2d weight of the wrong channel count', () => {
    throwsTorchError(() => F.convTranspose2d(zeros([1, 2, 3, 3]), zeros([3, 1, 3, 3])), /conv_transpose2d/);
  });
});
