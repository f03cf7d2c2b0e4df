/**
 * The contract of every entry point: a bad input is a JavaScript error with a clear message and the
 * process stays alive. No input may abort the process (an abort here ends the whole test file).
 *
 * The random cases repeat: each suite draws from its own seeded generator (mulberry32). To find which
 * case kills the process, run with PDENET_FUZZ_TRACE=1: every case is printed before it runs.
 * PDENET_FUZZ_SEED changes the seed; PDENET_FUZZ_TIMES=1 lists the slowest operations.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  arange,
  autocast,
  cat,
  dispose,
  empty,
  enableGrad,
  eye,
  F,
  full,
  getNumThreads,
  grad,
  isAutocastEnabled,
  isGradEnabled,
  keep,
  linspace,
  manualSeed,
  memory,
  noGrad,
  ones,
  rand,
  randint,
  randn,
  randperm,
  setAutocast,
  setNumThreads,
  stack,
  type DType,
  Tensor,
  tensor,
  tidy,
  TorchError,
  where,
  zeros,
} from '../src/index.js';
import { type Binding, native, type NativeOp, type NativeTensor } from '../src/native/binding.js';
import { assertClose, mulberry32 } from './helpers.js';

const TRACE = process.env.PDENET_FUZZ_TRACE === '1';
const SEED = Number(process.env.PDENET_FUZZ_SEED ?? 20240611);

// ---- a small seeded generator ------------------------------------------------------------------

class Random {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

// ---- values ------------------------------------------------------------------------------------
// Sizes are either small or far too large to allocate (≥ 10¹² elements), never in between: a size in
// between could really be allocated and fill the machine's memory.

const HUGE = [1e12, 2 ** 40, 2 ** 53 - 1];
const BAD_INTS = [NaN, Infinity, -Infinity, 1.5, -0.5, 2 ** 53, 2 ** 60, -(2 ** 60), 1e300];
const SMALL = [0, 1, 2, 3, 5, 8];
const NEGATIVE = [-1, -2, -3, -100];

/** Not tensors, not numbers: what a confused caller might pass anywhere. */
function garbage(r: Random): unknown {
  switch (r.int(22)) {
    case 0:
      return undefined;
    case 1:
      return null;
    case 2:
      return 'abc';
    case 3:
      return '';
    case 4:
      return '3';
    case 5:
      return {};
    case 6:
      return { shape: [2], dtype: 'float32' };
    case 7:
      return [];
    case 8:
      return ['a', 'b'];
    case 9:
      return [1, 'x'];
    case 10:
      return Symbol('s');
    case 11:
      return () => 1;
    case 12:
      return 7n;
    case 13:
      return 2n ** 70n;
    case 14:
      return -(2n ** 70n);
    case 15:
      return new ArrayBuffer(8);
    case 16:
      return new Float32Array(2);
    case 17:
      return true;
    case 18:
      return r.pick(BAD_INTS);
    case 19:
      return new Map([['a', 1]]);
    case 20:
      return [[1, 2], [3]];
    default:
      return Object.create(null);
  }
}

const SHAPES: readonly number[][] = [
  [],
  [0],
  [1],
  [3],
  [2, 3],
  [4, 3],
  [3, 1],
  [2, 0, 3],
  [1, 3, 8, 8],
  [2, 4, 5, 5],
  [2, 3, 4, 4],
  [0, 3, 4, 4],
  [1, 1, 4, 4],
  [2, 2, 3, 3, 3],
];
const DTYPES: readonly DType[] = [
  'float32',
  'float32',
  'float32',
  'float64',
  'int64',
  'int32',
  'bool',
  'uint8',
  'float16',
  'bfloat16',
  'int8',
  'int16',
];

/** Arguments for one call: mostly plausible, often wrong, sometimes absurd. */
class Args {
  constructor(readonly r: Random) {}

  /** A tensor argument: sometimes garbage instead. */
  t(shape?: number[], dtype?: DType): unknown {
    return this.r.chance(0.06) ? garbage(this.r) : this.self(shape, dtype);
  }

  /** A tensor of a random shape and dtype; sometimes disposed, a view, or requiring grad. */
  self(shape?: number[], dtype?: DType): Tensor {
    const r = this.r;
    const s = shape !== undefined && r.chance(0.7) ? shape : r.pick(SHAPES);
    const d = dtype !== undefined && r.chance(0.7) ? dtype : r.pick(DTYPES);
    let t: Tensor;
    if (d === 'bool') t = rand(s).gt(0.5);
    else if (d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16') t = randn(s).mul(3).to(d);
    else
      t = randint(-3, 9, s, { dtype: d === 'uint8' ? 'int64' : d })
        .abs()
        .to(d);
    const v = r.int(20);
    if (v === 0) t.dispose();
    else if (v === 1 && t.ndim >= 2) t = t.transpose(0, t.ndim - 1);
    else if (v === 2 && d.startsWith('float') && d !== 'float16') t = t.detach().requiresGrad_();
    else if (v === 3 && t.ndim >= 1) t = t.unsqueeze(0).expand([3, ...t.shape]);
    else if (v === 4 && d === 'float32') t = t.detach().requiresGrad_().mul(2);
    return t;
  }

  /** An index tensor (int64), sometimes out of range or of the wrong type. */
  index(shape: number[] = [3], high = 3): unknown {
    const r = this.r;
    if (r.chance(0.2)) return this.t(shape);
    const low = r.chance(0.2) ? -2 : 0;
    return randint(low, r.chance(0.2) ? high + 3 : Math.max(high, low + 1), shape);
  }

  /** A dimension or index: usually in range, often out of it, sometimes not an integer. */
  i(range = 4): unknown {
    const r = this.r;
    const k = r.int(10);
    if (k < 5) return r.int(2 * range + 1) - range;
    if (k < 7) return r.pick([...SMALL, ...NEGATIVE]);
    if (k < 8) return r.pick(HUGE);
    if (k < 9) return r.pick(BAD_INTS);
    return garbage(r);
  }

  /** A size: small, zero, negative, huge or not a size at all. */
  size(): unknown {
    const r = this.r;
    const k = r.int(10);
    if (k < 6) return r.pick(SMALL);
    if (k < 7) return r.pick(NEGATIVE);
    if (k < 8) return r.pick(HUGE);
    if (k < 9) return r.pick(BAD_INTS);
    return garbage(r);
  }

  /** A list of sizes (a shape), or something else. */
  sizes(maxLength = 4): unknown {
    const r = this.r;
    if (r.chance(0.1)) return garbage(r);
    const sizes = Array.from({ length: r.int(maxLength + 1) }, () => (r.chance(0.85) ? r.pick(SMALL) : this.size()));
    return sizes;
  }

  /** A list of dimensions. */
  dims(): unknown {
    const r = this.r;
    if (r.chance(0.1)) return garbage(r);
    return Array.from({ length: r.int(4) }, () => this.i());
  }

  /** A number: ordinary, special or not a number. */
  n(): unknown {
    const r = this.r;
    const k = r.int(10);
    if (k < 6) return r.pick([0, 1, -1, 0.5, 2, 1e-5, 0.1]);
    if (k < 8) return r.pick([NaN, Infinity, -Infinity, 1e308, -1e308, 2 ** 60]);
    return garbage(r);
  }

  /** A boolean, or not. */
  b(): unknown {
    return this.r.chance(0.85) ? this.r.chance(0.5) : garbage(this.r);
  }

  /** An optional tensor. */
  opt(shape?: number[]): unknown {
    return this.r.chance(0.4) ? null : this.t(shape);
  }

  /** A dtype name, sometimes not one. */
  dtype(): unknown {
    return this.r.chance(0.8)
      ? this.r.pick(DTYPES)
      : this.r.pick(['complex64', 'float', 'int', '', 6, null, 'toString']);
  }

  /** A pair option (stride, padding, kernel size …). */
  pair(): unknown {
    const r = this.r;
    const k = r.int(10);
    if (k < 4) return r.pick([1, 2, 3]);
    if (k < 6) return [r.pick([1, 2, 3]), r.pick([0, 1, 2])];
    if (k < 7) return r.pick([[], [1], [1, 1, 1], [0, 0], [-1, 1]]);
    return this.i();
  }

  /** One of `values`, or garbage. */
  oneOf<T>(values: readonly T[]): unknown {
    return this.r.chance(0.85) ? this.r.pick(values) : garbage(this.r);
  }
}

// ---- checking a call ---------------------------------------------------------------------------

interface Tally {
  ok: number;
  failed: number;
  ms?: number;
}

function checkError(e: unknown, name: string): void {
  assert.ok(e instanceof Error, `${name} threw a non-Error: ${String(e)}`);
  assert.ok(e instanceof TorchError, `${name} threw ${e.name} rather than TorchError: ${e.message}`);
  assert.ok(typeof e.op === 'string' && e.op.length > 0, `${name}: TorchError without an op`);
  assert.ok(e.message.length > 10 + e.op.length, `${name}: message too short: ${JSON.stringify(e.message)}`);
  assert.ok(e.message.startsWith(`${e.op}: `), `${name}: the message does not name the operation: ${e.message}`);
  assert.ok(
    !/undefined is not|Cannot read prop|is not a function/.test(e.message),
    `${name}: a JavaScript slip: ${e.message}`,
  );
}

/**
 * Runs `fn` inside tidy; it must succeed or throw a clear TorchError. A call that breaks the contract is
 * recorded in `problems` (one line per kind of problem), so that one run reports them all.
 */
function attempt(tally: Map<string, Tally>, problems: Set<string>, name: string, fn: () => unknown): void {
  const entry = tally.get(name) ?? { ok: 0, failed: 0, ms: 0 };
  tally.set(name, entry);
  const start = performance.now();
  try {
    tidy(() => {
      const result = fn();
      // a result must be usable: read what it is
      if (result instanceof Tensor && !result.isDisposed) void result.shape;
    });
    entry.ok++;
  } catch (e) {
    entry.failed++;
    try {
      checkError(e, name);
    } catch (problem) {
      problems.add((problem as Error).message.replace(/\d+(\.\d+)?/g, '#').slice(0, 300));
    }
  } finally {
    entry.ms = (entry.ms ?? 0) + performance.now() - start;
  }
}

function summary(tally: Map<string, Tally>): string {
  let ok = 0;
  let failed = 0;
  for (const t of tally.values()) {
    ok += t.ok;
    failed += t.failed;
  }
  return `${ok + failed} calls of ${tally.size} operations: ${ok} succeeded, ${failed} threw a TorchError`;
}

/** A normal computation still gives the right answer. */
function assertUsable(): void {
  tidy(() => {
    const x = tensor([
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(x.matmul(x).toArray(), [
      [7, 10],
      [15, 22],
    ]);
    const img = ones([1, 1, 3, 3]);
    assert.deepEqual(F.conv2d(img, ones([1, 1, 3, 3]), null, { padding: 1 }).toArray(), [
      [
        [
          [4, 6, 4],
          [6, 9, 6],
          [4, 6, 4],
        ],
      ],
    ]);
    const w = tensor([1, -2, 3], { requiresGrad: true });
    w.square().sum().backward();
    assertClose(w.grad!, [2, -4, 6]);
  });
  assert.equal(isGradEnabled(), true, 'grad mode is restored');
  assert.equal(isAutocastEnabled(), false, 'autocast is restored');
  assert.equal(memory().scopeDepth, 0, 'no tidy scope is left open');
}

// ---- the public API ----------------------------------------------------------------------------

type Case = readonly [name: string, run: (a: Args) => unknown];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
// biome-ignore lint/suspicious/noExplicitAny: the fuzz test hands values of every type to typed functions on purpose
const loose = (x: unknown): any => x;
/** A tensor to call a method on (never garbage: `garbage.add` would be the test's own TypeError). */
const T = (a: Args, shape?: number[], dtype?: DType): Tensor => a.self(shape, dtype);

const methodCases: Case[] = [
  ['add', (a) => T(a).add(loose(a.r.chance(0.5) ? a.t() : a.n()), loose(a.r.chance(0.8) ? 1 : a.n()))],
  ['sub', (a) => T(a).sub(loose(a.r.chance(0.5) ? a.t() : a.n()))],
  ['mul', (a) => T(a).mul(loose(a.r.chance(0.5) ? a.t() : a.n()))],
  ['div', (a) => T(a).div(loose(a.r.chance(0.5) ? a.t() : a.n()))],
  ['remainder', (a) => T(a).remainder(loose(a.r.chance(0.5) ? a.t() : a.r.pick([-1, 0, 2, -3, a.n()])))],
  ['pow', (a) => T(a).pow(loose(a.r.chance(0.5) ? a.t() : a.n()))],
  ['matmul', (a) => T(a, [2, 3]).matmul(T(a, [3, 2]))],
  [
    'unary',
    (a) => {
      const name = a.r.pick([
        'neg',
        'abs',
        'sign',
        'exp',
        'log',
        'sqrt',
        'rsqrt',
        'square',
        'reciprocal',
        'sin',
        'cos',
        'tanh',
        'sigmoid',
        'relu',
        'floor',
        'ceil',
        'round',
        'isnan',
        'isfinite',
        'logicalNot',
        'contiguous',
        'clone',
        'detach',
        'float',
        'double',
        'half',
        'bfloat16',
        'long',
        'int',
        'byte',
        'bool',
        'all',
        'any',
      ] as const);
      const x = T(a);
      return (x[name] as () => Tensor).call(x);
    },
  ],
  ['clamp', (a) => T(a).clamp(loose(a.r.chance(0.3) ? null : a.n()), loose(a.r.chance(0.5) ? null : a.n()))],
  [
    'compare',
    (a) => {
      const name = a.r.pick(['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const);
      return T(a)[name](loose(a.r.chance(0.5) ? a.t() : a.n()));
    },
  ],
  ['logical', (a) => (a.r.chance(0.5) ? T(a).logicalAnd(T(a)) : T(a).logicalOr(T(a)))],
  ['allclose', (a) => T(a, [2, 3]).allclose(T(a, [2, 3]), loose(a.r.chance(0.5) ? {} : { rtol: a.n(), atol: a.n() }))],
  ['maskedFill', (a) => T(a, [2, 3]).maskedFill(T(a, [2, 3], 'bool'), loose(a.r.chance(0.7) ? a.n() : a.t([])))],
  [
    'sum',
    (a) =>
      T(a).sum(
        loose(a.r.chance(0.3) ? undefined : a.r.chance(0.5) ? a.i() : a.dims()),
        loose({ keepdim: a.b(), dtype: a.r.chance(0.7) ? undefined : a.dtype() }),
      ),
  ],
  ['mean', (a) => T(a).mean(loose(a.r.chance(0.3) ? undefined : a.i()), loose({ keepdim: a.b() }))],
  [
    'var',
    (a) => T(a).var(loose(a.r.chance(0.3) ? undefined : a.i()), loose({ correction: a.r.chance(0.5) ? 1 : a.i() })),
  ],
  ['std', (a) => T(a).std(loose(a.r.chance(0.3) ? undefined : a.dims()))],
  ['prod', (a) => T(a).prod(loose(a.r.chance(0.3) ? undefined : a.i()))],
  ['max', (a) => (a.r.chance(0.3) ? T(a).max() : T(a).max(loose(a.i()), loose({ keepdim: a.b() })))],
  ['min', (a) => (a.r.chance(0.3) ? T(a).min() : T(a).min(loose(a.i())))],
  ['amax', (a) => T(a).amax(loose(a.r.chance(0.5) ? a.i() : a.dims()))],
  ['amin', (a) => T(a).amin(loose(a.i()))],
  ['argmax', (a) => T(a).argmax(loose(a.r.chance(0.3) ? undefined : a.i()))],
  ['argmin', (a) => T(a).argmin(loose(a.i()))],
  ['norm', (a) => T(a).norm(loose(a.r.chance(0.5) ? 2 : a.n()), loose(a.r.chance(0.5) ? undefined : a.dims()))],
  ['logsumexp', (a) => T(a).logsumexp(loose(a.r.chance(0.5) ? a.i() : a.dims()))],
  ['reshape', (a) => T(a).reshape(loose(a.sizes()))],
  [
    'reshape(-1…)',
    (a) => T(a).reshape(...loose([a.r.pick([-1, -2, 0, 6]), ...(a.r.chance(0.5) ? [a.r.pick([-1, 2, 3])] : [])])),
  ],
  ['view', (a) => T(a).view(loose(a.sizes()))],
  ['permute', (a) => T(a).permute(loose(a.dims()))],
  ['transpose', (a) => T(a).transpose(loose(a.i()), loose(a.i()))],
  ['flip', (a) => T(a).flip(loose(a.r.chance(0.5) ? a.i() : a.dims()))],
  ['narrow', (a) => T(a).narrow(loose(a.i()), loose(a.i()), loose(a.r.chance(0.3) ? a.r.pick(NEGATIVE) : a.i()))],
  [
    'slice',
    (a) =>
      T(a).slice(loose(a.i()), loose(a.i()), loose(a.r.chance(0.3) ? null : a.i()), loose(a.r.chance(0.6) ? 1 : a.i())),
  ],
  ['select', (a) => T(a).select(loose(a.i()), loose(a.i()))],
  ['indexSelect', (a) => T(a, [4, 3]).indexSelect(loose(a.i(2)), loose(a.index([3], 4)))],
  ['gather', (a) => T(a, [2, 3]).gather(loose(a.i(2)), loose(a.index([2, 3], 3)))],
  ['squeeze', (a) => T(a).squeeze(loose(a.r.chance(0.3) ? undefined : a.i()))],
  ['unsqueeze', (a) => T(a).unsqueeze(loose(a.i()))],
  ['flatten', (a) => T(a).flatten(loose(a.i()), loose(a.i()))],
  ['expand', (a) => T(a, [3, 1]).expand(loose(a.sizes()))],
  ['repeat', (a) => T(a, [2]).repeat(loose(a.sizes()))],
  ['roll', (a) => T(a).roll(loose(a.r.chance(0.5) ? a.i() : a.dims()), loose(a.r.chance(0.5) ? a.i() : a.dims()))],
  ['split', (a) => T(a).split(loose(a.r.chance(0.6) ? a.size() : a.sizes()), loose(a.i()))],
  ['chunk', (a) => T(a).chunk(loose(a.size()), loose(a.i()))],
  [
    'to',
    (a) =>
      T(a).to(loose(a.r.chance(0.6) ? a.dtype() : a.oneOf(['cpu', 'meta', 'cuda', 'cuda:0', 'cpu:0', 'bogus', '']))),
  ],
  ['size', (a) => T(a).size(loose(a.i()))],
  ['item', (a) => T(a).item()],
  ['toArray', (a) => T(a).toArray()],
  ['toString', (a) => T(a).toString()],
  ['requiresGrad', (a) => T(a).requiresGrad_(loose(a.b()))],
  [
    'grad=',
    (a) => {
      const x = T(a, [3], 'float32');
      x.grad = loose(a.r.chance(0.5) ? a.t([3], 'float32') : a.r.chance(0.5) ? null : garbage(a.r));
      return x.grad;
    },
  ],
  [
    'backward',
    (a) => {
      const x = randn([3], { requiresGrad: true });
      const y = a.r.chance(0.5) ? x.mul(2).sum() : x.mul(T(a, [3]));
      y.backward(loose(a.r.chance(0.5) ? undefined : a.t([3])), loose(a.r.chance(0.7) ? {} : { retainGraph: a.b() }));
      return x.grad;
    },
  ],
  [
    'in-place',
    (a) => {
      const x = T(a, [2, 3]);
      const other = loose(a.r.chance(0.5) ? a.t([2, 3]) : a.n());
      switch (a.r.int(13)) {
        case 0:
          return x.add_(other);
        case 1:
          return x.sub_(other, loose(a.n()));
        case 2:
          return x.mul_(other);
        case 3:
          return x.div_(other);
        case 4:
          return x.addcmul_(T(a, [2, 3]), T(a, [2, 3]), loose(a.n()));
        case 5:
          return x.addcdiv_(T(a, [2, 3]), T(a, [2, 3]));
        case 6:
          return x.lerp_(T(a, [2, 3]), loose(a.n()));
        case 7:
          return x.clamp_(loose(a.n()), loose(a.r.chance(0.5) ? null : a.n()));
        case 8:
          return x.copy_(T(a, [2, 3]));
        case 9:
          return x.fill_(loose(a.n()));
        case 10:
          return x.uniform_(loose(a.n()), loose(a.n()));
        case 11:
          return x.normal_(loose(a.n()), loose(a.n()));
        default:
          return x.maskedFill_(T(a, [2, 3], 'bool'), loose(a.n()));
      }
    },
  ],
];

const functionCases: Case[] = [
  [
    'tensor',
    (a) =>
      tensor(
        loose(
          a.r.chance(0.5)
            ? a.r.pick([
                [1, 2],
                [[1], [2]],
                [true, 2],
                [1n, 2n],
                3,
                [1e300],
                [NaN],
                [2n ** 64n],
                [[1, 2], [3]],
                new Float64Array(4),
                new Uint16Array(2),
              ])
            : garbage(a.r),
        ),
        loose(
          a.r.chance(0.5)
            ? {}
            : { dtype: a.dtype(), shape: a.r.chance(0.5) ? undefined : a.sizes(), requiresGrad: a.b() },
        ),
      ),
  ],
  ['zeros', (a) => zeros(loose(a.sizes()), loose(a.r.chance(0.6) ? {} : { dtype: a.dtype() }))],
  [
    'ones',
    (a) => ones(loose(a.sizes()), loose({ dtype: a.r.chance(0.5) ? undefined : a.dtype(), requiresGrad: a.b() })),
  ],
  ['full', (a) => full(loose(a.sizes()), loose(a.n()), loose(a.r.chance(0.5) ? {} : { dtype: a.dtype() }))],
  [
    'empty',
    (a) => empty(loose(a.sizes()), loose(a.r.chance(0.7) ? {} : { device: a.oneOf(['cpu', 'meta', 'cuda', 'x']) })),
  ],
  [
    'arange',
    (a) => arange(loose(a.n()), loose(a.r.chance(0.5) ? undefined : a.n()), loose(a.r.chance(0.5) ? 1 : a.n())),
  ],
  ['linspace', (a) => linspace(loose(a.n()), loose(a.n()), loose(a.size()))],
  ['eye', (a) => eye(loose(a.size()), loose(a.r.chance(0.5) ? undefined : a.size()))],
  ['rand', (a) => rand(loose(a.sizes()), loose(a.r.chance(0.7) ? {} : { dtype: a.dtype() }))],
  ['randn', (a) => randn(loose(a.sizes()))],
  [
    'randint',
    (a) => randint(loose(a.i(5)), loose(a.i(5)), loose(a.sizes()), loose(a.r.chance(0.7) ? {} : { dtype: a.dtype() })),
  ],
  ['randperm', (a) => randperm(loose(a.size()), loose(a.r.chance(0.7) ? {} : { dtype: a.dtype() }))],
  ['cat', (a) => cat(loose(a.r.chance(0.85) ? [a.t([2, 3]), a.t([2, 3])] : garbage(a.r)), loose(a.i()))],
  ['stack', (a) => stack(loose(a.r.chance(0.85) ? [a.t([2, 3]), a.t([2, 3])] : garbage(a.r)), loose(a.i()))],
  [
    'where',
    (a) =>
      where(T(a, [2, 3], 'bool'), loose(a.r.chance(0.5) ? a.t([2, 3]) : a.n()), loose(a.r.chance(0.5) ? a.t() : a.n())),
  ],
  [
    'grad',
    (a) => {
      const x = randn([3], { requiresGrad: true });
      const outputs = a.r.chance(0.6) ? x.square().sum() : a.r.chance(0.5) ? [x.mul(2)] : garbage(a.r);
      return grad(
        loose(outputs),
        loose(a.r.chance(0.7) ? [x] : [a.t([3])]),
        loose(a.r.chance(0.5) ? {} : { gradOutputs: [a.opt([3])], allowUnused: a.b(), createGraph: a.b() }),
      );
    },
  ],
  ['noGrad', (a) => noGrad(loose(a.r.chance(0.5) ? () => T(a).mul(2) : garbage(a.r)))],
  ['enableGrad', (a) => enableGrad(loose(a.r.chance(0.5) ? () => T(a).mul(2) : garbage(a.r)))],
  [
    'autocast',
    (a) =>
      autocast(
        loose(a.r.chance(0.6) ? () => T(a, [2, 2]).matmul(T(a, [2, 2])) : garbage(a.r)),
        loose(a.r.chance(0.5) ? {} : { dtype: a.dtype() }),
      ),
  ],
  [
    'setAutocast',
    (a) => {
      try {
        setAutocast(loose(a.b()), loose(a.r.chance(0.2) ? 'bfloat16' : a.dtype()));
      } finally {
        setAutocast(false);
      }
    },
  ],
  [
    'setNumThreads',
    (a) => {
      const threads = getNumThreads();
      try {
        // valid counts other than the current one are left out: each change of the thread pool is slow
        setNumThreads(
          loose(a.r.chance(0.2) ? threads : a.r.chance(0.5) ? a.r.pick([0, -1, 1e6, 2 ** 31, 1.5]) : garbage(a.r)),
        );
      } finally {
        setNumThreads(threads);
      }
    },
  ],
  ['manualSeed', (a) => manualSeed(loose(a.r.chance(0.5) ? a.r.pick([0, 1, 2n ** 63n, 2n ** 64n, -1n]) : a.size()))],
  ['tidy', (a) => tidy(loose(a.r.chance(0.5) ? () => T(a).add(1) : garbage(a.r)))],
  [
    'keep',
    (a) => {
      const x = a.r.chance(0.3) ? a.t() : garbage(a.r);
      keep(loose(x));
      (x as Tensor).dispose(); // kept tensors outlive tidy: free it here
    },
  ],
  ['dispose', (a) => dispose(loose(a.r.chance(0.5) ? [a.t(), { x: a.t() }, new Map([['y', a.t()]])] : garbage(a.r)))],
  [
    'F.conv2d',
    (a) =>
      F.conv2d(
        T(a, [1, 3, 8, 8]),
        T(a, [2, 3, 3, 3]),
        loose(a.opt([2])),
        loose(
          a.r.chance(0.4)
            ? {}
            : {
                stride: a.pair(),
                padding: a.r.chance(0.2) ? a.oneOf(['same', 'valid', 'full']) : a.pair(),
                dilation: a.pair(),
                groups: a.r.chance(0.7) ? 1 : a.r.chance(0.8) ? a.i() : a.r.pick([2 ** 31, 2 ** 32, 2 ** 32 + 3]),
              },
        ),
      ),
  ],
  [
    'F.convTranspose2d',
    (a) =>
      F.convTranspose2d(
        T(a, [1, 3, 4, 4]),
        T(a, [3, 2, 3, 3]),
        loose(a.opt([2])),
        loose(
          a.r.chance(0.4)
            ? {}
            : { stride: a.pair(), padding: a.pair(), outputPadding: a.pair(), groups: a.i(), dilation: a.pair() },
        ),
      ),
  ],
  [
    'F.pad',
    (a) =>
      F.pad(
        T(a, [1, 3, 4, 4]),
        loose(a.r.chance(0.8) ? a.sizes(6) : garbage(a.r)),
        loose(a.oneOf(['constant', 'reflect', 'replicate', 'circular', 'zeros'])),
        loose(a.r.chance(0.7) ? 0 : a.n()),
      ),
  ],
  [
    'F.batchNorm',
    (a) =>
      F.batchNorm(
        T(a, [4, 3, 2, 2]),
        loose(a.opt([3])),
        loose(a.opt([3])),
        loose(
          a.r.chance(0.3)
            ? {}
            : {
                training: a.b(),
                weight: a.opt([3]),
                bias: a.opt([3]),
                momentum: a.n(),
                eps: a.n(),
              },
        ),
      ),
  ],
  [
    'F.groupNorm',
    (a) =>
      F.groupNorm(
        T(a, [2, 4, 3, 3]),
        loose(a.r.chance(0.5) ? a.r.pick([1, 2, 4]) : a.i()),
        loose({ weight: a.opt([4]), bias: a.opt([4]) }),
      ),
  ],
  [
    'F.layerNorm',
    (a) => F.layerNorm(T(a, [2, 3, 4]), loose(a.r.chance(0.5) ? [4] : a.sizes()), loose({ weight: a.opt([4]) })),
  ],
  [
    'F.activation',
    (a) => {
      switch (a.r.int(5)) {
        case 0:
          return F.relu(T(a));
        case 1:
          return F.leakyRelu(T(a), loose(a.n()));
        case 2:
          return F.gelu(T(a), loose(a.oneOf(['none', 'tanh', 'erf'])));
        case 3:
          return F.silu(T(a));
        default:
          return F.dropout(T(a), loose(a.n()), loose(a.b()));
      }
    },
  ],
  [
    'F.softmax',
    (a) =>
      (a.r.chance(0.5) ? F.softmax : F.logSoftmax)(T(a), loose(a.i()), loose(a.r.chance(0.7) ? undefined : a.dtype())),
  ],
  [
    'F.avgPool2d',
    (a) =>
      F.avgPool2d(
        T(a, [1, 2, 6, 6]),
        loose(a.pair()),
        loose(
          a.r.chance(0.5)
            ? {}
            : {
                stride: a.pair(),
                padding: a.pair(),
                ceilMode: a.b(),
                countIncludePad: a.b(),
              },
        ),
      ),
  ],
  [
    'F.maxPool2d',
    (a) =>
      F.maxPool2d(
        T(a, [1, 2, 6, 6]),
        loose(a.pair()),
        loose(
          a.r.chance(0.5)
            ? {}
            : {
                stride: a.pair(),
                padding: a.pair(),
                dilation: a.pair(),
                ceilMode: a.b(),
              },
        ),
      ),
  ],
  ['F.adaptiveAvgPool2d', (a) => F.adaptiveAvgPool2d(T(a, [1, 2, 6, 6]), loose(a.r.chance(0.5) ? a.pair() : a.size()))],
  ['F.linear', (a) => F.linear(T(a, [4, 3]), T(a, [2, 3]), loose(a.opt([2])))],
  [
    'F.crossEntropy',
    (a) =>
      F.crossEntropy(
        T(a, [4, 3]),
        loose(a.r.chance(0.6) ? a.index([4], 3) : a.t([4, 3])),
        loose(
          a.r.chance(0.5)
            ? {}
            : {
                reduction: a.oneOf(['none', 'mean', 'sum', 'avg']),
                labelSmoothing: a.n(),
                weight: a.opt([3]),
                ignoreIndex: a.i(),
              },
        ),
      ),
  ],
  ['F.mseLoss', (a) => F.mseLoss(T(a, [4, 3]), T(a, [4, 3]), loose(a.oneOf(['none', 'mean', 'sum', 'max'])))],
  [
    'F.interpolate',
    (a) =>
      F.interpolate(
        T(a, [1, 2, 4, 4]),
        loose(
          a.r.chance(0.1)
            ? garbage(a.r)
            : {
                size: a.r.chance(0.5) ? undefined : a.r.chance(0.5) ? a.size() : a.sizes(3),
                scaleFactor: a.r.chance(0.5) ? undefined : a.r.chance(0.7) ? a.n() : [a.n(), a.n()],
                mode: a.oneOf(['nearest', 'bilinear', 'bicubic']),
                alignCorners: a.b(),
              },
        ),
      ),
  ],
  [
    'F.affineGrid',
    (a) => F.affineGrid(T(a, [1, 2, 3]), loose(a.r.chance(0.6) ? [1, 1, 4, 4] : a.sizes(5)), loose(a.b())),
  ],
  [
    'F.gridSample',
    (a) =>
      F.gridSample(
        T(a, [1, 2, 4, 4]),
        loose(a.r.chance(0.8) ? randn([1, 3, 3, 2]).mul(loose(a.n())) : a.t([1, 3, 3, 2])),
        loose(
          a.r.chance(0.5)
            ? {}
            : {
                mode: a.oneOf(['bilinear', 'nearest', 'bicubic', 'area']),
                paddingMode: a.oneOf(['zeros', 'border', 'reflection', 'wrap']),
                alignCorners: a.b(),
              },
        ),
      ),
  ],
  ['F.oneHot', (a) => F.oneHot(loose(a.index([4], 3)), loose(a.r.chance(0.5) ? -1 : a.size()))],
];

/** Every method of Tensor and every function of F, with random arguments: new ones are fuzzed too. */
const tensorMethods = Object.entries(Object.getOwnPropertyDescriptors(Tensor.prototype))
  .filter(([name, d]) => typeof d.value === 'function' && name !== 'constructor')
  .map(([name]) => name);
const functionalNames = Object.keys(F).filter((name) => typeof (F as Record<string, unknown>)[name] === 'function');

function randomArgument(a: Args): unknown {
  switch (a.r.int(7)) {
    case 0:
      return a.t();
    case 1:
      return a.i();
    case 2:
      return a.size();
    case 3:
      return a.sizes();
    case 4:
      return a.n();
    case 5:
      return a.r.chance(0.5) ? {} : { dim: a.i(), keepdim: a.b(), dtype: a.dtype(), size: a.size(), training: a.b() };
    default:
      return garbage(a.r);
  }
}

const genericCases: Case[] = [
  [
    'any Tensor method',
    (a) => {
      const x = T(a);
      const name = a.r.pick(tensorMethods);
      const args = Array.from({ length: a.r.int(4) }, () => randomArgument(a));
      return (x as unknown as Record<string, (...xs: unknown[]) => unknown>)[name]!(...args);
    },
  ],
  [
    'any F function',
    (a) => {
      const name = a.r.pick(functionalNames);
      const args = [T(a), ...Array.from({ length: a.r.int(4) }, () => randomArgument(a))];
      return (F as unknown as Record<string, (...xs: unknown[]) => unknown>)[name]!(...args);
    },
  ],
];

/** Inputs the contract names explicitly: each must throw a TorchError matching `message`. */
const mustThrow: [string, () => unknown, RegExp][] = [
  ['zeros([-1])', () => zeros([-1]), /negative dimension/],
  ['zeros([1e12])', () => zeros([1e12]), /allocate/],
  ['empty([2 ** 40, 2 ** 40])', () => empty([2 ** 40, 2 ** 40]), /overflow/],
  ['zeros([NaN])', () => zeros([NaN]), /'size'\[0\] must be an integer, got NaN/],
  ['zeros([2 ** 60])', () => zeros([2 ** 60]), /at most 2\^53 - 1/],
  ['reshape(-2)', () => randn([2, 3]).reshape(-2), /invalid shape dimension -2/],
  ['narrow with a negative length', () => randn([4]).narrow(0, 0, -1), /length/],
  ['a mismatched broadcast', () => randn([2, 3]).add(randn([4, 3])), /size of tensor a/],
  ['conv2d channel mismatch', () => F.conv2d(randn([1, 4, 5, 5]), randn([2, 3, 3, 3])), /channels/],
  ['conv2d of a 2-d input', () => F.conv2d(randn([5, 5]), randn([2, 3, 3, 3])), /3D \(unbatched\) or 4D/],
  [
    'conv2d of an int input and a float weight',
    () => F.conv2d(randn([1, 1, 4, 4]).long(), randn([1, 1, 3, 3])),
    /expected scalar type Long but found Float/,
  ],
  [
    'conv2d with kernel size NaN',
    () => F.maxPool2d(randn([1, 1, 4, 4]), NaN),
    /kernel_size' must be an integer, got NaN/,
  ],
  [
    'conv2d with 2^32 groups (libtorch would divide by zero)',
    () => F.conv2d(randn([1, 3, 4, 4]), randn([3, 1, 3, 3]), null, { groups: 2 ** 32 }),
    /groups must be .* below 2\^31/,
  ],
  [
    'convTranspose2d with 2^32 groups',
    () => F.convTranspose2d(randn([1, 3, 4, 4]), randn([3, 2, 3, 3]), null, { groups: 2 ** 32 }),
    /groups must be .* below 2\^31/,
  ],
  ['a pool kernel that would wrap to 2', () => F.avgPool2d(randn([1, 1, 4, 4]), 2 ** 32 + 2), /kernelSize must be/],
  ['logSoftmax of ints', () => F.logSoftmax(arange(4), 0), /Long/],
  ['float targets of the wrong shape', () => F.crossEntropy(randn([4, 3]), randn([4])), /int64 class indices/],
  ['out-of-range class', () => F.crossEntropy(randn([4, 3]), tensor([0n, 1n, 2n, 3n])), /out of bounds/],
  ['a dim out of range', () => randn([2, 3]).sum(5), /Dimension out of range/],
  ['an index out of range', () => randn([2, 3]).select(0, 2), /out of range/],
  ['indexSelect out of range', () => randn([2]).indexSelect(0, tensor([-1n])), /out of range/],
  [
    'a disposed tensor',
    () => {
      const x = randn([2]);
      x.dispose();
      return x.add(1);
    },
    /disposed/,
  ],
  [
    'a disposed argument',
    () => {
      const x = randn([2]);
      x.dispose();
      return randn([2]).add(x);
    },
    /disposed/,
  ],
  ['a string for a tensor', () => F.relu(loose('x')), /'self' must be a tensor, got the string "x"/],
  ['an object for a tensor', () => F.conv2d(loose({}), randn([1, 1, 3, 3])), /must be a tensor, got an object/],
  ['a symbol for a number', () => randn([2]).add(loose(Symbol('s'))), /got a symbol/],
  ['a tensor for a number', () => randn([2]).fill_(loose(randn([1]))), /must be a number, got a tensor/],
  ['a bigint out of range', () => randn([2]).add(loose(2n ** 70n)), /got the bigint 1180591620717411303424n/],
  ['tensor() of a bigint out of range', () => tensor([2n ** 63n]), /out of the range of int64/],
  ['tensor() of NaN as int32', () => tensor([NaN], { dtype: 'int32' }), /int32 needs integers, got NaN/],
  ['tensor() of 1e300 as int32', () => tensor([1e300], { dtype: 'int32' }), /out of the range of int32/],
  ['tensor() of undefined', () => tensor(loose(undefined)), /got undefined/],
  ['tensor() of a sparse array', () => tensor(loose([1, undefined, 3])), /got undefined at index 1/], // eslint-disable-line no-sparse-arrays
  [
    'tensor() of a cyclic array',
    () => {
      const c: unknown[] = [];
      c.push(c);
      return tensor(loose(c));
    },
    /contain itself/,
  ],
  ['tensor() with a bad dtype', () => tensor([1], loose({ dtype: 'complex64' })), /unknown dtype "complex64"/],
  ['interpolate with NaN scale', () => F.interpolate(randn([1, 1, 4, 4]), { scaleFactor: NaN }), /finite positive/],
  ['interpolate of a 2-d input', () => F.interpolate(randn([4, 4]), { size: 2 }), /N×C×H×W/],
  ['setNumThreads(1e6)', () => setNumThreads(1e6), /between 1 and \d+/],
  [
    'a gradient of another shape',
    () => {
      const x = randn([3], { requiresGrad: true });
      x.grad = randn([5]);
    },
    /must match the tensor/,
  ],
  [
    'a gradient that is not a tensor',
    () => {
      const x = randn([3]);
      x.grad = loose(5);
    },
    /tensor or null, got 5/,
  ],
  ['tidy(async)', () => tidy(loose(async () => 1)), /synchronous/],
  ['tidy(not a function)', () => tidy(loose(5)), /takes a function, got 5/],
  ['keep(not a tensor)', () => keep(loose({ dispose() {} })), /takes a tensor/],
  ['noGrad(not a function)', () => noGrad(loose(null)), /takes a function, got null/],
  ['reading a huge view', () => zeros([1]).expand([1e12]).toTypedArray(), /allocate/],
  ['copying a huge view', () => zeros([1]).expand([1e12]).contiguous(), /allocate/],
  ['a meta tensor read', () => zeros([2], { device: 'meta' }).toArray(), /meta/],
  ['a CUDA tensor', () => zeros([2], { device: 'cuda' }), /cuda|CUDA/],
];

describe('fuzz: the public API', () => {
  it('every named bad input throws a TorchError with a clear message', () => {
    for (const [name, fn, message] of mustThrow) {
      if (TRACE) console.log(`must throw: ${name}`);
      assert.throws(
        () => tidy(fn),
        (e: unknown) => {
          checkError(e, name);
          assert.match((e as Error).message, message, name);
          return true;
        },
        name,
      );
    }
    assertUsable();
  });

  it('integer remainder by −1 gives 0, also for the most negative integer (libtorch would raise SIGFPE)', () => {
    tidy(() => {
      assert.deepEqual(tensor([-2147483648, 5], { dtype: 'int32' }).remainder(-1).toArray(), [0, 0]);
      assert.deepEqual(
        tensor([-(2n ** 63n), 7n])
          .remainder(-1)
          .toArray(),
        [0, 0],
      );
      const divisor = tensor([-1, 3], { dtype: 'int32' });
      assert.deepEqual(tensor([-2147483648, -7], { dtype: 'int32' }).remainder(divisor).toArray(), [0, 2]);
      assert.deepEqual(
        tensor([-(2n ** 63n), -7n])
          .remainder(tensor([-1n, 3n]))
          .toArray(),
        [0, 2],
      );
      assertClose(tensor([7, -7.5]).remainder(-1), [0, -0.5]); // floats are left to libtorch
    });
  });

  it(`random calls of every operation succeed or throw a clear TorchError (seed ${SEED})`, (t) => {
    manualSeed(SEED);
    const r = new Random(SEED);
    const a = new Args(r);
    const cases = [...methodCases, ...functionCases, ...genericCases, ...genericCases, ...genericCases];
    const tally = new Map<string, Tally>();
    const problems = new Set<string>();
    const threads = getNumThreads();
    const before = memory().liveTensors;
    try {
      for (let i = 0; i < 8000; i++) {
        const [name, run] = cases[i % cases.length]!;
        if (TRACE) console.log(`${i} ${name}`);
        attempt(tally, problems, name, () => run(a));
      }
    } finally {
      setNumThreads(threads);
      setAutocast(false);
    }
    t.diagnostic(summary(tally));
    if (process.env.PDENET_FUZZ_TIMES === '1') {
      const slow = [...tally].sort((x, y) => y[1].ms! - x[1].ms!).slice(0, 12);
      for (const [name, { ms, ok, failed }] of slow)
        t.diagnostic(`${name}: ${ms!.toFixed(0)} ms for ${ok + failed} calls`);
    }
    assert.deepEqual([...problems], [], 'calls that broke the contract');
    assert.equal(memory().liveTensors, before, 'every tensor made by the calls (failed ones too) was freed');
    assertUsable();
  });
});

// ---- the raw binding ----------------------------------------------------------------------------

const OPS = [
  'aten::add.Tensor',
  'aten::relu',
  'aten::zeros',
  'aten::cat',
  'aten::conv2d',
  'aten::sum.dim_IntList',
  'aten::to.device',
  'aten::max.dim',
  'aten::pad',
  'aten::index.Tensor',
  'aten::linspace',
  'aten::where.self',
  'aten::upsample_nearest2d.vec',
  'aten::cross_entropy_loss',
  'aten::split.Tensor',
  'aten::mul_.Scalar',
];

/** The handles a run shares: a tensor that requires grad, a gradient for it, a disposed tensor, operators. */
interface Handles {
  tensor: NativeTensor;
  grad: NativeTensor;
  disposed: NativeTensor;
  op: NativeOp;
  ops: NativeOp[];
  /** Tensors made for one call (to dispose after it). */
  fresh: NativeTensor[];
}

function makeHandles(): Handles {
  const tensor = native.fromBytes(new Float32Array([1, 2, 3]), [3], 6);
  native.setRequiresGrad(tensor, true);
  const disposed = native.fromBytes(new Float32Array(2), [2], 6);
  native.dispose(disposed);
  const ops = OPS.map((name) => {
    const [n, o] = name.split('.') as [string, string?];
    return native.findOp(n, o ?? '');
  });
  return { tensor, grad: native.fromBytes(new Float32Array(3), [3], 6), disposed, op: ops[0]!, ops, fresh: [] };
}

function freshTensor(h: Handles): NativeTensor {
  const t = native.fromBytes(new Float32Array([1, 2]), [2], 6);
  h.fresh.push(t);
  return t;
}

/** A random raw value: handles of every kind, arrays of them, and garbage. */
function rawValue(r: Random, h: Handles): unknown {
  switch (r.int(12)) {
    case 0:
      return h.tensor;
    case 1:
      return h.disposed;
    case 2:
      return h.op;
    case 3:
      return [h.tensor];
    case 4:
      return [h.op];
    case 5:
      return [h.tensor, null];
    case 6:
      return r.chance(0.5);
    case 7:
      return r.int(20) - 2;
    case 8:
      return new ArrayBuffer(r.pick([0, 4, 12]));
    case 9:
      return new Float32Array(r.pick([0, 1, 3]));
    default:
      return garbage(r);
  }
}

/**
 * For each function of the binding: random arguments, and whether they are acceptable. Unacceptable
 * arguments must throw; acceptable ones may succeed or fail (a libtorch error); none may crash.
 */
interface Spec {
  args(r: Random, h: Handles): unknown[];
  acceptable(args: unknown[], h: Handles): boolean;
  /** Restores global state the call may have changed. */
  restore?(): void;
}

const isTensor = (x: unknown, h: Handles): boolean =>
  x === h.tensor || x === h.grad || h.fresh.includes(x as NativeTensor);
const isOp = (x: unknown, h: Handles): boolean => h.ops.includes(x as NativeOp);
const isFlag = (x: unknown): boolean => x === undefined || typeof x === 'boolean';
const tensorList = (x: unknown, h: Handles, nulls: boolean): boolean =>
  Array.isArray(x) && x.every((v) => isTensor(v, h) || (nulls && (v === null || v === undefined)));
const raw =
  (n: number) =>
  (r: Random, h: Handles): unknown[] =>
    Array.from({ length: r.int(n + 2) }, () => rawValue(r, h));
const always = (): boolean => true;
const never = (): boolean => false;

function cyclic(): unknown {
  const a: unknown[] = [1];
  a.push(a);
  return a;
}

function deep(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

const initialThreads = native.numThreads();

// Partial: a new binding function fails the coverage test below rather than the build
const specs: Partial<Record<keyof Binding, Spec>> = {
  findOp: {
    args: (r) => [
      r.chance(0.6)
        ? r.pick(['aten::add', 'aten::relu', 'aten::nope', '', 'prim::If', 'aten::add.Tensor'])
        : garbage(r),
      r.chance(0.6) ? r.pick(['', 'Tensor', 'bogus']) : garbage(r),
    ],
    acceptable: ([name]) => typeof name === 'string',
  },
  opSchema: { args: (r, h) => [r.chance(0.4) ? r.pick(h.ops) : rawValue(r, h)], acceptable: ([op], h) => isOp(op, h) },
  call: {
    args: (r, h) => [
      r.chance(0.85) ? r.pick(h.ops) : rawValue(r, h),
      ...Array.from({ length: r.int(7) }, () =>
        r.chance(0.5)
          ? rawValue(r, h)
          : r.pick([[2, 3], [1e12], [-1], [2 ** 53 - 1, 0], 'cpu', 'meta', 'reflect', 0.5, NaN, 2, null]),
      ),
    ],
    acceptable: ([op], h) => isOp(op, h),
  },
  callInPlace: {
    args: (r, h) => [
      r.chance(0.8) ? h.ops[h.ops.length - 1] : rawValue(r, h),
      r.chance(0.5) ? freshTensor(h) : rawValue(r, h),
      r.chance(0.5) ? 2 : rawValue(r, h),
    ],
    acceptable: ([op], h) => isOp(op, h),
  },
  fromBytes: {
    args: (r, h) => [
      r.chance(0.6)
        ? r.pick([
            new Float32Array(6),
            new ArrayBuffer(24),
            new Int8Array(6),
            new BigInt64Array(1),
            new Float64Array(new SharedArrayBuffer(24)),
            new Float32Array(new ArrayBuffer(32), 8, 6),
          ])
        : rawValue(r, h),
      r.chance(0.6) ? r.pick([[6], [2, 3], [3, 2, 1], [], [0], [24], [-6], [2 ** 53 - 1], [1e12, 0]]) : rawValue(r, h),
      r.chance(0.6) ? r.pick([6, 7, 0, 1, 4, 11, 12, 13, 15, 16, 17, 18, 19, -1, 1e10]) : rawValue(r, h),
    ],
    acceptable: ([data, shape, dtype]) =>
      (ArrayBuffer.isView(data) || data instanceof ArrayBuffer) &&
      !(data instanceof DataView) &&
      Array.isArray(shape) &&
      shape.every((d) => Number.isSafeInteger(d) && d >= 0) &&
      Number.isInteger(dtype) &&
      (dtype as number) >= 0 &&
      (dtype as number) < 18,
  },
  toBytes: { args: raw(1), acceptable: ([t], h) => isTensor(t, h) },
  shape: { args: raw(1), acceptable: ([t], h) => isTensor(t, h) },
  dtype: { args: raw(1), acceptable: ([t], h) => isTensor(t, h) },
  device: { args: raw(1), acceptable: ([t], h) => isTensor(t, h) },
  isContiguous: { args: raw(1), acceptable: ([t], h) => isTensor(t, h) },
  dispose: {
    // disposing a shared handle would end the run early: fresh tensors, disposed ones, and garbage
    args: (r, h) => [r.chance(0.3) ? freshTensor(h) : r.chance(0.2) ? h.disposed : r.chance(0.3) ? h.op : garbage(r)],
    acceptable: ([t], h) => isTensor(t, h) || t === h.disposed,
  },
  pickleSave: {
    args: (r, h) => [
      r.chance(0.5)
        ? r.pick([
            { a: 1 },
            [1, 'x', null],
            new Map([['w', h.grad]]),
            cyclic(),
            deep(300),
            new Map([[1, 2]]),
            { s: Symbol('s') },
            2n ** 70n,
            h.op,
            h.disposed,
          ])
        : rawValue(r, h),
    ],
    acceptable: always, // many values are refused, but what can be saved varies: only crashes are wrong
  },
  requiresGrad: { args: raw(1), acceptable: ([t], h) => isTensor(t, h) },
  setRequiresGrad: { args: raw(2), acceptable: ([t, flag], h) => isTensor(t, h) && isFlag(flag) },
  isLeaf: { args: raw(1), acceptable: ([t], h) => isTensor(t, h) },
  grad: { args: raw(1), acceptable: ([t], h) => isTensor(t, h) },
  setGrad: {
    args: (r, h) => [
      r.chance(0.5) ? h.tensor : rawValue(r, h),
      r.chance(0.5) ? r.pick([h.grad, null, h.disposed]) : rawValue(r, h),
    ],
    acceptable: ([t, g], h) => isTensor(t, h) && (g === null || g === undefined || isTensor(g, h)),
  },
  backward: {
    args: raw(4),
    acceptable: ([outs, grads, retain, create], h) =>
      tensorList(outs, h, false) && tensorList(grads, h, true) && isFlag(retain) && isFlag(create),
  },
  autogradGrad: {
    args: raw(6),
    acceptable: ([outs, ins, grads, ...flags], h) =>
      tensorList(outs, h, false) && tensorList(ins, h, false) && tensorList(grads, h, true) && flags.every(isFlag),
  },
  gradEnabled: { args: raw(2), acceptable: always },
  setGradEnabled: { args: raw(1), acceptable: ([flag]) => isFlag(flag), restore: () => native.setGradEnabled(true) },
  autocastEnabled: { args: raw(2), acceptable: always },
  autocastDtype: { args: raw(2), acceptable: always },
  setAutocast: {
    args: (r, h) => [
      r.chance(0.5) ? r.chance(0.5) : rawValue(r, h),
      r.chance(0.5) ? r.pick([15, 6, 4, -1, 99]) : rawValue(r, h),
    ],
    // the dtype is set on and off (libtorch 1.13's CPU autocast takes bfloat16 only)
    acceptable: ([on, dtype]) => (on === false || on === undefined || on === true) && dtype === 15,
    restore: () => native.setAutocast(false, 15),
  },
  numThreads: { args: raw(2), acceptable: always },
  setNumThreads: {
    // valid counts other than the current one are rare: each change of the thread pool is slow
    args: (r) => [
      r.chance(0.7) ? r.pick([0, -1, 1e6, 2 ** 31, 2 ** 32 + 1, 1.5, NaN, initialThreads, -3n]) : garbage(r),
    ],
    acceptable: ([n]) => (Number.isInteger(n) || typeof n === 'bigint') && Number(n) >= 1 && Number(n) <= 256,
    restore: () => {
      if (native.numThreads() !== initialThreads) native.setNumThreads(initialThreads);
    },
  },
  manualSeed: {
    args: (r, h) => [r.chance(0.5) ? r.pick([0, 5, -1, 2 ** 64, 1.5, 5n, -1n, 2n ** 64n]) : rawValue(r, h)],
    acceptable: ([s]) =>
      (Number.isSafeInteger(s) && (s as number) >= 0) || (typeof s === 'bigint' && s >= 0n && s < 2n ** 63n),
  },
  memory: { args: raw(2), acceptable: always },
  resetPeakMemory: { args: raw(2), acceptable: always },
  releaseCachedMemory: { args: raw(2), acceptable: always },
  buildInfo: { args: raw(2), acceptable: always },
  setErrorClass: {
    args: (r, h) => [r.chance(0.5) ? r.pick([class {}, () => 1, function f() {}, Error]) : rawValue(r, h)],
    acceptable: ([f]) => typeof f === 'function',
    restore: () => native.setErrorClass(TorchError),
  },
  // distributed: no process group is ever joined here (that needs peers), so every call but distHasBackend
  // gets a non-handle where a group, work or reducer belongs, and must throw; distInit's options always lack
  // or garble a field, so it throws before starting a rendezvous
  distHasBackend: {
    args: (r, h) => [r.chance(0.5) ? r.pick(['gloo', 'nccl', 'mpi', '']) : rawValue(r, h)],
    acceptable: ([b]) => typeof b === 'string',
  },
  distInit: {
    args: (r, h) => [
      r.chance(0.6)
        ? r.pick([
            {},
            { masterAddr: 1 },
            { masterAddr: '127.0.0.1', masterPort: 'x' },
            { masterAddr: '127.0.0.1', masterPort: 1, rank: 0, worldSize: 1, timeoutMs: -5, backend: 'gloo' },
            { masterAddr: '127.0.0.1', masterPort: 1, rank: 1.5, worldSize: 1, timeoutMs: 5, backend: 'gloo' },
            { masterAddr: '127.0.0.1', masterPort: 1, rank: 0, worldSize: 1, timeoutMs: 5 },
          ])
        : rawValue(r, h),
    ],
    acceptable: never,
  },
  distAllReduce: { args: raw(3), acceptable: never },
  distBroadcast: { args: raw(3), acceptable: never },
  distAllGather: { args: raw(3), acceptable: never },
  distBarrier: { args: raw(1), acceptable: never },
  distWait: { args: raw(2), acceptable: never },
  distWaitAsync: { args: raw(2), acceptable: never },
  distSumGradient: { args: raw(2), acceptable: never },
  distReducer: { args: raw(6), acceptable: never },
  distPrepareBackward: { args: raw(2), acceptable: never },
  distRelease: { args: raw(1), acceptable: never },
};

/** Disposes the tensors a raw call returned. */
function disposeResult(result: unknown): void {
  if (Array.isArray(result)) for (const x of result) disposeResult(x);
  else if (typeof result === 'object' && result !== null) {
    try {
      native.dispose(result as NativeTensor);
    } catch {
      /* not a tensor */
    }
  }
}

function describeRaw(x: unknown, h: Handles, depth = 0): string {
  if (x === h.tensor || x === h.grad || h.fresh.includes(x as NativeTensor)) return '<tensor>';
  if (x === h.disposed) return '<disposed tensor>';
  if (h.ops.includes(x as NativeOp)) return '<op>';
  if (Array.isArray(x)) return depth > 2 ? '[…]' : `[${x.map((v) => describeRaw(v, h, depth + 1)).join(', ')}]`;
  if (typeof x === 'symbol' || typeof x === 'function') return typeof x;
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'object' && x !== null) return Object.prototype.toString.call(x);
  return String(x);
}

describe('fuzz: the raw binding', () => {
  it('has a fuzz spec for every function of the addon', () => {
    const missing = Object.keys(native).filter((name) => !(name in specs));
    assert.deepEqual(missing, [], 'new binding functions: add them to `specs` in test/fuzz.test.ts');
  });

  it(`garbage arguments to every function throw, and never crash (seed ${SEED})`, (t) => {
    const r = new Random(SEED + 1);
    const before = memory().liveTensors;
    const h = makeHandles();
    const threads = native.numThreads();
    const tally = new Map<string, Tally>();
    const names = Object.keys(specs) as (keyof Binding)[];
    try {
      for (let i = 0; i < 4000; i++) {
        const name = names[i % names.length]!;
        const spec = specs[name]!;
        const args = spec.args(r, h);
        const acceptable = spec.acceptable(args, h);
        const call = (): string => `${name}(${args.map((x) => describeRaw(x, h)).join(', ')})`;
        if (TRACE) console.log(`${i} ${call()}`);
        const entry = tally.get(name) ?? { ok: 0, failed: 0 };
        tally.set(name, entry);
        let threw: unknown = null;
        try {
          disposeResult((native[name] as (...xs: unknown[]) => unknown)(...args));
          entry.ok++;
        } catch (e) {
          threw = e;
          entry.failed++;
        } finally {
          spec.restore?.();
          for (const x of h.fresh.splice(0)) native.dispose(x);
        }
        if (threw === null) {
          if (!acceptable) assert.fail(`${call()} accepted unacceptable arguments`);
        } else {
          if (!(threw instanceof Error)) assert.fail(`${call()} threw a non-Error`);
          if (threw.message.length <= 10) assert.fail(`${call()}: message too short: ${threw.message}`);
          // setErrorClass reports a misuse of itself as a plain TypeError: TorchError may be the problem
          if (name !== 'setErrorClass' && !(threw instanceof TorchError))
            assert.fail(`${call()} threw ${threw.name}: ${threw.message}`);
        }
      }
    } finally {
      native.setErrorClass(TorchError);
      native.setNumThreads(threads);
      native.setGradEnabled(true);
      native.setAutocast(false, 15);
      native.dispose(h.tensor);
      native.dispose(h.grad);
    }
    t.diagnostic(summary(tally));
    assert.equal(memory().liveTensors, before, 'every handle made by the calls was freed');
    assertUsable();
  });

  it('survives JavaScript that changes its arguments while they are read', () => {
    // a getter that grows the shape array while the addon reads it (was a heap overflow)
    const shape = [1, 1];
    Object.defineProperty(shape, 0, {
      get() {
        for (let i = 0; i < 10000; i++) shape.push(1);
        return 1;
      },
    });
    const t = native.fromBytes(new Float32Array(1), shape, 6);
    assert.deepEqual(native.shape(t), [1, 1]);
    native.dispose(t);
    // a getter that detaches the data while the shape is read (was a use after free)
    const data = new Float32Array(1 << 16).fill(3);
    const detaching = [1 << 16];
    Object.defineProperty(detaching, 0, {
      get() {
        structuredClone(data.buffer, { transfer: [data.buffer] });
        return 1 << 16;
      },
    });
    assert.throws(() => native.fromBytes(data, detaching, 6), /needs 262144 bytes of data, got 0/);
    // a getter that disposes a tensor listed before it
    const x = native.fromBytes(new Float32Array([1, 2]), [2], 6);
    const list = [x, x];
    Object.defineProperty(list, 1, {
      get() {
        native.dispose(x);
        return x;
      },
    });
    assert.throws(() => native.backward(list, [], false, false), /disposed/);
    // typed arrays over a SharedArrayBuffer are read like any other
    const shared = native.fromBytes(new Float64Array(new SharedArrayBuffer(16)).fill(2), [2], 7);
    assert.deepEqual([...new Float64Array(native.toBytes(shared))], [2, 2]);
    native.dispose(shared);
    // convolution groups beyond 32 bits (libtorch would divide by zero)
    const [input, weight] = [
      native.fromBytes(new Float32Array(48), [1, 3, 4, 4], 6),
      native.fromBytes(new Float32Array(27), [3, 1, 3, 3], 6),
    ];
    assert.throws(
      () => native.call(native.findOp('aten::conv2d', ''), input, weight, null, 1, 0, 1, 2 ** 32),
      /argument 'groups' must be below 2\^31/,
    );
    native.dispose(input);
    native.dispose(weight);
    // a value that contains itself cannot be pickled, but the process lives
    assert.throws(() => native.pickleSave(cyclic()), /contain itself/);
    assertUsable();
  });
});
