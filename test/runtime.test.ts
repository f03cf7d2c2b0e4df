import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import {
  autocast,
  backend,
  enableGrad,
  F,
  getAutocastDtype,
  getNumThreads,
  isAutocastEnabled,
  isGradEnabled,
  noGrad,
  manualSeed,
  rand,
  randn,
  setNumThreads,
  TorchError,
} from '../src/index.js';

describe('runtime', () => {
  it('uses every core by default and can change the thread count', () => {
    const expected = Number(process.env.PDENET_NUM_THREADS ?? process.env.OMP_NUM_THREADS ?? availableParallelism());
    assert.equal(getNumThreads(), expected);
    setNumThreads(1);
    assert.equal(getNumThreads(), 1);
    setNumThreads(expected);
    assert.throws(() => setNumThreads(0), TorchError);
    assert.throws(() => setNumThreads(1.5), TorchError);
  });

  it('repeats random draws after manualSeed', () => {
    manualSeed(42);
    const a = randn([5]).toArray();
    const b = rand([3]).toArray();
    manualSeed(42);
    assert.deepEqual(randn([5]).toArray(), a);
    assert.deepEqual(rand([3]).toArray(), b);
    assert.notDeepEqual(randn([5]).toArray(), a);
    assert.throws(() => manualSeed(-1), TorchError);
  });

  it('runs convolutions in bfloat16 under CPU autocast and restores the state', () => {
    const x = randn([1, 2, 4, 4]);
    const w = randn([3, 2, 3, 3]);
    assert.equal(isAutocastEnabled(), false);
    const y = autocast(() => {
      assert.equal(isAutocastEnabled(), true);
      return F.conv2d(x, w);
    });
    assert.equal(y.dtype, 'bfloat16');
    assert.equal(isAutocastEnabled(), false);
    assert.equal(F.conv2d(x, w).dtype, 'float32');
    const full = F.conv2d(x, w);
    const diff = y.float().sub(full).abs().max().item();
    assert.ok(diff < 0.1 * full.abs().max().item(), `bf16 result close to float32 (max diff ${diff})`);
  });

  it('restores the autocast dtype too, and a refused dtype changes nothing', () => {
    assert.equal(getAutocastDtype(), 'bfloat16');
    let cpuHalf = true; // libtorch 1.13's CPU autocast takes bfloat16 only; newer ones take float16 too
    try {
      autocast(() => 0, { dtype: 'float16' });
    } catch (e) {
      assert.ok(e instanceof TorchError, String(e));
      cpuHalf = false;
    }
    assert.equal(isAutocastEnabled(), false);
    assert.equal(getAutocastDtype(), 'bfloat16');
    const inner = autocast(() => {
      if (cpuHalf) {
        assert.equal(
          autocast(() => getAutocastDtype(), { dtype: 'float16' }),
          'float16',
        );
      }
      autocast(() => 0, { enabled: false });
      return [isAutocastEnabled(), getAutocastDtype()];
    });
    assert.deepEqual(inner, [true, 'bfloat16'], 'each inner autocast restored the state and dtype of the outer one');
    assert.equal(isAutocastEnabled(), false);
  });

  it('noGrad, enableGrad and autocast refuse an async function, and restore their state', () => {
    for (const [name, run] of [
      ['noGrad', noGrad],
      ['enableGrad', enableGrad],
      ['autocast', autocast],
    ] as const) {
      assert.throws(
        () => run(async () => 1),
        (e: unknown) => e instanceof TorchError && e.op === name && /takes a synchronous function/.test(e.message),
        name,
      );
    }
    assert.equal(isGradEnabled(), true);
    assert.equal(isAutocastEnabled(), false);
  });

  it('describes the libtorch it runs on', () => {
    const b = backend();
    assert.match(b.libtorch, /^\d+\.\d+\.\d+/);
    assert.equal(b.threads, getNumThreads());
    assert.ok(b.cxx11Abi === 0 || b.cxx11Abi === 1);
  });
});
