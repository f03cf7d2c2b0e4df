import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  arange,
  callOp,
  cat,
  eye,
  full,
  linspace,
  ones,
  rand,
  randint,
  randn,
  stack,
  type Tensor,
  tensor,
  TorchError,
  where,
  zeros,
} from '../src/index.js';
import { native } from '../src/native/binding.js';
import { assertClose, values } from './helpers.js';

describe('creation', () => {
  it('builds tensors from nested arrays and TypedArrays', () => {
    const a = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(a.shape, [2, 3]);
    assert.equal(a.dtype, 'float32');
    assert.deepEqual(a.toArray(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const b = tensor(new Float64Array([1, 2, 3, 4]), { shape: [2, 2] });
    assert.equal(b.dtype, 'float64');
    assert.deepEqual(b.toArray(), [
      [1, 2],
      [3, 4],
    ]);
    assert.equal(tensor(new Int32Array([7])).dtype, 'int32');
    assert.equal(tensor([1n, 2n]).dtype, 'int64');
    assert.deepEqual(tensor([true, false]).toArray(), [true, false]);
    assert.equal(tensor(3.5).item(), 3.5);
    assert.deepEqual(tensor(3.5).shape, []);
  });

  it('rejects ragged arrays, bad elements and mismatched shapes', () => {
    assert.throws(() => tensor([[1, 2], [3]]), TorchError);
    assert.throws(() => tensor(['a' as unknown as number]), /numbers, booleans or bigints/);
    assert.throws(() => tensor([1.5], { dtype: 'int64' }), /int64 needs integers/);
  });

  it('checks the shape against the data before allocating anything', () => {
    const mismatch = (data: Parameters<typeof tensor>[0], shape: number[], message: RegExp) =>
      assert.throws(
        () => tensor(data, { shape }),
        (e: unknown) => e instanceof TorchError && e.op === 'tensor' && message.test(e.message),
      );
    mismatch(new Float32Array(5), [2, 3], /shape \[2, 3\] holds 6 elements, but the data has 5/);
    mismatch(
      new Float32Array(4),
      [1e6, 1e6],
      /shape \[1000000, 1000000\] holds 1000000000000 elements, but the data has 4/,
    );
    mismatch([1, 2, 3], [2, 2], /holds 4 elements, but the data has 3/);
    mismatch(new Float32Array(1), [2 ** 40, 2 ** 40, 0], /holds 0 elements, but the data has 1/);
    assert.deepEqual(tensor([1, 2, 3, 4], { shape: [2, 2] }).shape, [2, 2]);
    // The addon checks the byte count before allocating too (the weight-file readers call it directly): a shape
    // of 4 TB for 16 bytes is a wrong shape, not an attempt to allocate 4 TB.
    assert.throws(
      () => native.fromBytes(new Float32Array(4), [1e6, 1e6], 6),
      (e: unknown) =>
        e instanceof TorchError &&
        /shape \[1000000, 1000000\] of Float needs 4000000000000 bytes of data, got 16/.test(e.message),
    );
    assert.throws(
      () => native.fromBytes(new Float32Array(4), [2 ** 40, 2 ** 40, 2 ** 40], 6),
      /needs more than 2\^64 bytes of data, got 16/,
    );
    assert.throws(
      () => native.fromBytes(new Float32Array(4), [4], 1000),
      /the dtype must be a libtorch scalar type code from 0 to \d+, got 1000/,
    );
  });

  it('makes constants, ranges and identities', () => {
    assert.deepEqual(zeros([2]).toArray(), [0, 0]);
    assert.deepEqual(ones([2], { dtype: 'int32' }).toArray(), [1, 1]);
    assert.deepEqual(full([2], 7).toArray(), [7, 7]);
    assert.deepEqual(arange(4).toArray(), [0, 1, 2, 3]);
    assert.equal(arange(4).dtype, 'int64');
    assertClose(arange(0, 1, 0.25), [0, 0.25, 0.5, 0.75]);
    assertClose(linspace(-1, 1, 5), [-1, -0.5, 0, 0.5, 1]);
    assert.deepEqual(eye(2, 3).toArray(), [
      [1, 0, 0],
      [0, 1, 0],
    ]);
  });

  it('draws random numbers in range with plausible moments', () => {
    const u = rand([20000]);
    assert.ok(u.min().item() >= 0 && u.max().item() < 1);
    assertClose(u.mean().item(), 0.5, { atol: 0.02 });
    const n = randn([20000]);
    assertClose(n.mean().item(), 0, { atol: 0.03 });
    assertClose(n.std().item(), 1, { atol: 0.03 });
    const r = randint(3, 6, [1000]);
    assert.equal(r.dtype, 'int64');
    assert.ok(r.min().item() >= 3 && r.max().item() <= 5);
  });
});

describe('arithmetic and comparison', () => {
  it('broadcasts with PyTorch type promotion', () => {
    const a = tensor([
      [1, 2],
      [3, 4],
    ]);
    const b = tensor([10, 20]);
    assert.deepEqual(a.add(b).toArray(), [
      [11, 22],
      [13, 24],
    ]);
    assert.deepEqual(a.sub(b, 2).toArray(), [
      [-19, -38],
      [-17, -36],
    ]);
    assert.deepEqual(a.mul(2).toArray(), [
      [2, 4],
      [6, 8],
    ]);
    assert.deepEqual(
      a.div(b).toArray(),
      [
        [0.1, 0.1],
        [0.3, 0.2],
      ].map((r) => r.map((v) => Math.fround(v))),
    );
    const i = arange(4);
    assert.equal(i.add(1).dtype, 'int64', 'an integer scalar keeps int64');
    assert.equal(i.add(0.5).dtype, 'float32', 'a fractional scalar promotes to the default float');
    assert.equal(i.div(2).dtype, 'float32', 'true division');
    assert.deepEqual(tensor([-3, 3], { dtype: 'int64' }).remainder(2).toArray(), [1, 1]);
    assertClose(tensor([1, 2, 3]).pow(2), [1, 4, 9]);
    assertClose(tensor([2, 2]).pow(tensor([1, 3])), [2, 8]);
  });

  it('computes elementwise functions', () => {
    const x = tensor([-1, 0, 1]);
    assertClose(x.exp(), [Math.exp(-1), 1, Math.E]);
    assertClose(x.tanh(), [Math.tanh(-1), 0, Math.tanh(1)]);
    assertClose(x.sigmoid(), [1 / (1 + Math.E), 0.5, 1 / (1 + Math.exp(-1))]);
    assertClose(x.abs(), [1, 0, 1]);
    assertClose(x.clamp(-0.5, 0.5), [-0.5, 0, 0.5]);
    assertClose(x.clamp(0), [0, 0, 1]);
    assertClose(tensor([4, 9]).sqrt(), [2, 3]);
    assertClose(tensor([1, Math.E]).log(), [0, 1]);
  });

  it('compares and selects', () => {
    const x = tensor([1, 2, 3]);
    assert.deepEqual(x.gt(1).toArray(), [false, true, true]);
    assert.deepEqual(x.eq(tensor([1, 0, 3])).toArray(), [true, false, true]);
    assert.deepEqual(where(x.ge(2), x, 0).toArray(), [0, 2, 3]);
    assert.deepEqual(where(x.ge(2), -1, x).toArray(), [1, -1, -1]);
    assert.deepEqual(x.maskedFill(x.lt(2), 9).toArray(), [9, 2, 3]);
    assert.ok(x.allclose(tensor([1, 2, 3.000001])));
    assert.ok(!x.allclose(tensor([1, 2, 3.1])));
  });

  it('multiplies matrices', () => {
    const a = tensor([
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(a.matmul(eye(2)).toArray(), [
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(a.matmul(tensor([1, 1])).toArray(), [3, 7]);
    assert.throws(() => a.matmul(ones([3, 3])), /cannot be multiplied/);
  });
});

describe('reductions', () => {
  const x = tensor([
    [1, 5, 3],
    [4, 2, 6],
  ]);
  it('sums and averages over dims with keepdim', () => {
    assert.equal(x.sum().item(), 21);
    assert.deepEqual(x.sum(0).toArray(), [5, 7, 9]);
    assert.deepEqual(x.sum(1, { keepdim: true }).shape, [2, 1]);
    assert.deepEqual(x.mean([0, 1]).item(), 3.5);
    assert.equal(arange(4).sum(undefined, { dtype: 'float64' }).dtype, 'float64');
  });

  it('computes var and std with and without Bessel correction', () => {
    const v = tensor([1, 2, 3, 4]);
    assertClose(v.var(), 5 / 3);
    assertClose(v.var(0, { correction: 0 }), 1.25);
    assertClose(v.std(), Math.sqrt(5 / 3));
    assertClose(x.var(1), [4, 4]);
  });

  it('finds extrema, their indices and norms', () => {
    assert.equal(x.max().item(), 6);
    const { values: vals, indices } = x.max(1);
    assert.deepEqual(vals.toArray(), [5, 6]);
    assert.deepEqual(indices.toArray(), [1, 2]);
    assert.deepEqual(x.min(0).values.toArray(), [1, 2, 3]);
    assert.equal(x.argmax().item(), 5);
    assert.deepEqual(x.argmax(0).toArray(), [1, 0, 1]);
    assertClose(tensor([3, 4]).norm(), 5);
    assertClose(tensor([3, -4]).norm(1), 7);
    assertClose(x.amax(1), [5, 6]);
    assertClose(tensor([0, 0]).logsumexp(0), Math.log(2));
  });
});

describe('views and movement', () => {
  const x = arange(6).reshape(2, 3);
  it('reshapes, permutes, transposes and flips', () => {
    assert.deepEqual(x.reshape([3, 2]).toArray(), [
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    assert.deepEqual(x.view(-1).toArray(), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(x.transpose(0, 1).toArray(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    assert.deepEqual(x.permute(1, 0).toArray(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    assert.deepEqual(x.flip(1).toArray(), [
      [2, 1, 0],
      [5, 4, 3],
    ]);
    assert.deepEqual(x.flip([0, 1]).toArray(), [
      [5, 4, 3],
      [2, 1, 0],
    ]);
    assert.equal(x.transpose(0, 1).isContiguous, false);
    assert.equal(x.transpose(0, 1).contiguous().isContiguous, true);
    assert.throws(() => x.transpose(0, 1).view(6), /view/);
  });

  it('refuses a memory format it does not know, naming the valid ones', () => {
    const x = zeros([1, 2, 3, 3]).transpose(2, 3);
    for (const [op, run] of [
      ['contiguous', (f: string) => x.contiguous(f as 'contiguous')],
      ['isContiguousAs', (f: string) => x.isContiguousAs(f as 'contiguous')],
    ] as const) {
      for (const format of ['channels_last', 'bogus', 'toString', '__proto__']) {
        assert.throws(
          () => run(format),
          (e: unknown) =>
            e instanceof TorchError &&
            e.op === op &&
            e.message.includes(`the memory format must be "contiguous" or "channelsLast", got "${format}"`),
          `${op}('${format}')`,
        );
      }
    }
    assert.equal(x.isContiguousAs('contiguous'), false);
    assert.equal(x.contiguous('channelsLast').isContiguousAs('channelsLast'), true);
  });

  it('narrows, slices, selects and gathers', () => {
    assert.deepEqual(x.narrow(1, 1, 2).toArray(), [
      [1, 2],
      [4, 5],
    ]);
    assert.deepEqual(x.slice(1, 0, null, 2).toArray(), [
      [0, 2],
      [3, 5],
    ]);
    assert.deepEqual(x.select(0, 1).toArray(), [3, 4, 5]);
    assert.deepEqual(x.indexSelect(1, tensor([2, 0], { dtype: 'int64' })).toArray(), [
      [2, 0],
      [5, 3],
    ]);
    assert.deepEqual(x.gather(1, tensor([[0], [2]], { dtype: 'int64' })).toArray(), [[0], [5]]);
    assert.deepEqual(x.unsqueeze(0).shape, [1, 2, 3]);
    assert.deepEqual(x.unsqueeze(0).squeeze().shape, [2, 3]);
    assert.deepEqual(x.reshape(1, 2, 3, 1).flatten(1).shape, [1, 6]);
    assert.deepEqual(tensor([1, 2]).expand(2, 2).toArray(), [
      [1, 2],
      [1, 2],
    ]);
    assert.deepEqual(tensor([1, 2]).repeat(2).toArray(), [1, 2, 1, 2]);
    assert.deepEqual(tensor([1, 2, 3]).roll(1, 0).toArray(), [3, 1, 2]);
  });

  it('concatenates, stacks, splits and chunks', () => {
    assert.deepEqual(cat([x, x], 0).shape, [4, 3]);
    assert.deepEqual(cat([x, x], 1).shape, [2, 6]);
    assert.deepEqual(stack([x, x], 0).shape, [2, 2, 3]);
    assert.deepEqual(
      x.split(2, 1).map((t) => t.shape),
      [
        [2, 2],
        [2, 1],
      ],
    );
    assert.deepEqual(
      x.split([1, 2], 1).map((t) => t.shape),
      [
        [2, 1],
        [2, 2],
      ],
    );
    assert.deepEqual(
      x.chunk(3, 1).map((t) => values(t)),
      [
        [0, 3],
        [1, 4],
        [2, 5],
      ],
    );
    assert.throws(() => cat([]), /at least one tensor/);
  });

  it('clones and copies data', () => {
    const c = x.clone();
    c.add_(1);
    assert.deepEqual(
      x.toArray(),
      [
        [0, 1, 2],
        [3, 4, 5],
      ],
      'a clone does not share data',
    );
    const v = x.view(6);
    const y = x.clone();
    y.view(6).fill_(7);
    assert.deepEqual(values(y), [7, 7, 7, 7, 7, 7], 'a view shares data');
    assert.equal(v.numel, 6);
  });
});

describe('casts and in-place updates', () => {
  it('converts between dtypes', () => {
    const x = tensor([1.7, -2.2]);
    assert.deepEqual(x.long().toArray(), [1, -2]);
    assert.equal(x.double().dtype, 'float64');
    assert.equal(x.bfloat16().dtype, 'bfloat16');
    assertClose(tensor([1.5, 3.0]).bfloat16().toTypedArray(), [1.5, 3.0], { atol: 0 });
    assertClose(
      tensor([1 + 1 / 256])
        .bfloat16()
        .float(),
      [1],
      { atol: 0 },
    );
    assert.deepEqual(tensor([0, 2]).bool().toArray(), [false, true]);
  });

  it('updates in place and returns the same tensor', () => {
    const p = tensor([1, 2]);
    assert.equal(p.add_(tensor([1, 1]), 2), p);
    assert.deepEqual(p.toArray(), [3, 4]);
    p.mul_(2).sub_(1).div_(7);
    assertClose(p, [5 / 7, 1]);
    const m = zeros([2]);
    m.addcmul_(tensor([1, 2]), tensor([3, 4]), 0.5);
    assertClose(m, [1.5, 4]);
    m.addcdiv_(tensor([1, 1]), tensor([2, 4]));
    assertClose(m, [2, 4.25]);
    m.lerp_(tensor([0, 0]), 0.5);
    assertClose(m, [1, 2.125]);
    m.zero_();
    assert.deepEqual(m.toArray(), [0, 0]);
    m.copy_(tensor([5]));
    assert.deepEqual(m.toArray(), [5, 5]);
  });
});

describe('operator arguments', () => {
  it('refuses dtype, layout and memory-format codes libtorch does not have, naming the argument', () => {
    const empty = (dtype: number | null, layout: number | null, format: number | null) =>
      callOp('aten::empty.memory_format', [2], dtype, layout, null, null, format);
    const refusal = (run: () => unknown, message: RegExp): string => {
      let text = '';
      assert.throws(
        run,
        (e: unknown) =>
          e instanceof TorchError && e.op === 'aten::empty.memory_format' && message.test((text = e.message)),
        String(message),
      );
      return text;
    };
    const last = Number(
      /from 0 to (\d+)/.exec(
        refusal(
          () => empty(1000, null, null),
          /argument 'dtype' must be a libtorch scalar type code from 0 to \d+, got 1000/,
        ),
      )![1],
    );
    refusal(() => empty(last + 1, null, null), new RegExp(`got ${last + 1}$`)); // ScalarType::Undefined
    refusal(() => empty(-1, null, null), /argument 'dtype' must be .* got -1$/);
    refusal(() => empty(null, 99, null), /argument 'layout' must be a libtorch layout code from 0 to \d+, got 99$/);
    refusal(
      () => empty(null, null, 99),
      /argument 'memory_format' must be a libtorch memory format code from 0 to 3, got 99$/,
    );
    const t = empty(7, 0, 0) as Tensor;
    assert.deepEqual([t.dtype, t.shape], ['float64', [2]]);
  });
});
