/**
 * Memory you can predict (the rules are stated in src/tensor/memory.ts): tidy scopes, keep, dispose,
 * the native counters of memory(), and a long training-like loop that must not leak.
 *
 * The counters are exact: every tensor this file makes is disposed, so no garbage-collection finalizer
 * can change them while a test measures.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chain,
  dispose,
  F,
  getNumThreads,
  keep,
  memory,
  noGrad,
  ones,
  randint,
  randn,
  releaseCachedMemory,
  resetPeakMemory,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
  TorchError,
  zeros,
} from '../src/index.js';

function assertDisposedError(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof TorchError && /disposed/.test(e.message));
}

describe('tidy', () => {
  it('disposes what the function created, except what it returns', () => {
    const outside = randn([2]);
    let inner: Tensor[] = [];
    const result = tidy(() => {
      const a = randn([2]);
      const b = a.add(1);
      const c = b.mul(outside);
      inner = [a, b];
      return c;
    });
    assert.ok(
      inner.every((t) => t.isDisposed),
      'intermediates are disposed',
    );
    assert.equal(result.isDisposed, false, 'the result survives');
    assert.equal(outside.isDisposed, false, 'a tensor made before tidy is not touched');
    assert.deepEqual(result.shape, [2]);
    dispose([result, outside]);
  });

  it('keeps tensors returned in arrays, nested plain objects and Maps', () => {
    let made: Tensor[] = [];
    const result = tidy(() => {
      made = Array.from({ length: 6 }, () => randn([1]));
      const [a, b, c, d, e] = made as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
      return {
        list: [a, [b]],
        nested: { deeper: { c } },
        map: new Map<string, unknown>([
          ['d', d],
          ['in', { e }],
        ]),
        n: 3,
      };
    });
    assert.deepEqual(
      made.map((t) => t.isDisposed),
      [false, false, false, false, false, true],
      'the five returned tensors survive, the sixth is disposed',
    );
    assert.equal(result.n, 3);
    dispose(result);
    assert.ok(
      made.every((t) => t.isDisposed),
      'dispose(container) reached every one of them',
    );
  });

  it('does not look inside class instances or Map keys (only arrays, plain objects, Map values)', () => {
    class Box {
      constructor(readonly t: Tensor) {}
    }
    let boxed: Tensor | undefined;
    let key: Tensor | undefined;
    tidy(() => {
      boxed = randn([1]);
      key = randn([1]);
      return { box: new Box(boxed), map: new Map([[key, 1]]) };
    });
    assert.equal(boxed!.isDisposed, true);
    assert.equal(key!.isDisposed, true);
  });

  it('moves the tensors a nested tidy returns to the enclosing scope', () => {
    let fromInner: Tensor | undefined;
    let innerTemp: Tensor | undefined;
    const outer = tidy(() => {
      fromInner = tidy(() => {
        innerTemp = randn([3]);
        return innerTemp.exp();
      });
      assert.equal(innerTemp!.isDisposed, true, 'the inner scope freed its temporary');
      assert.equal(fromInner.isDisposed, false, 'the inner result lives on in the outer scope');
      assert.equal(memory().scopeDepth, 1);
      return fromInner.sum();
    });
    assert.equal(fromInner!.isDisposed, true, 'the outer scope disposed the inner result it did not return');
    assert.equal(outer.isDisposed, false);
    assert.equal(memory().scopeDepth, 0);

    const survivor = tidy(() => tidy(() => randn([2])));
    assert.equal(survivor.isDisposed, false, 'returned from both scopes, it survives both');
    survivor.dispose();
    outer.dispose();
  });

  it('disposes everything when the function throws, and rethrows the same error', () => {
    const before = memory().liveTensors;
    const made: Tensor[] = [];
    const boom = new Error('boom');
    assert.throws(
      () =>
        tidy(() => {
          made.push(randn([4]), zeros([2]));
          made.push(tidy(() => randn([1])));
          throw boom;
        }),
      (e: unknown) => e === boom,
    );
    assert.ok(made.every((t) => t.isDisposed));
    assert.equal(memory().liveTensors, before);
    assert.equal(memory().scopeDepth, 0, 'the scope was closed');

    // an error of libtorch inside a nested tidy, caught by the outer function
    const kept = tidy(() => {
      const a = randn([2, 3]);
      assert.throws(() => tidy(() => a.matmul(randn([2, 3]))), TorchError);
      return a;
    });
    assert.equal(kept.isDisposed, false);
    kept.dispose();
    assert.equal(memory().liveTensors, before);
  });

  it('keep() exempts a tensor from every enclosing scope', () => {
    let kept: Tensor | undefined;
    let dropped: Tensor | undefined;
    tidy(() => {
      tidy(() => {
        kept = keep(randn([2]));
        dropped = randn([2]);
      });
      assert.equal(kept!.isDisposed, false);
    });
    assert.equal(kept!.isDisposed, false, 'kept survives the outer scope too');
    assert.equal(dropped!.isDisposed, true);
    kept!.dispose();
    assert.equal(kept!.isDisposed, true, 'a kept tensor is still disposed by dispose()');
  });

  it('rejects an async function with a clear error, and frees what it made before awaiting', async () => {
    const before = memory().liveTensors;
    let early: Tensor | undefined;
    let rejected: unknown;
    assert.throws(
      () =>
        tidy(async () => {
          early = randn([2]);
          await null;
          return 1;
        }),
      (e: unknown) => {
        rejected = e;
        return e instanceof TorchError && e.op === 'tidy' && /synchronous/.test(e.message);
      },
    );
    assert.match(String(rejected), /async one would let tensors escape/);
    assert.equal(early!.isDisposed, true);
    assert.equal(memory().liveTensors, before);
    assert.equal(memory().scopeDepth, 0);
  });
});

describe('chain', () => {
  it('applies its steps in turn, functions and modules alike', () => {
    const x = tensor([1, -2, 3]);
    const double = { forward: (u: Tensor) => u.mul(2) };
    const y = chain(x, double, F.relu, (u) => u.add(1));
    assert.deepEqual(y.toArray(), [3, 1, 7]);
    dispose([x, y]);
  });

  it('disposes each intermediate once the next step has it, never the input nor a passed-through result', () => {
    const x = tensor([1, 2]);
    const seen: Tensor[] = [];
    const record = (u: Tensor) => {
      const v = u.add(1);
      seen.push(v);
      return v;
    };
    const identity = (u: Tensor) => u;
    const y = chain(x, identity, record, identity, record, record);
    assert.equal(x.isDisposed, false, "the input is the caller's");
    assert.deepEqual(
      seen.map((t) => t.isDisposed),
      [true, true, false],
      'intermediates go, the result stays',
    );
    assert.equal(y, seen[2]);
    assert.deepEqual(y.toArray(), [4, 5]);
    dispose([x, y]);
  });

  it('disposes only results its steps created and did not keep: never a cached tensor', () => {
    const buffer = tensor([5, 6]); // made before the chain, as a module's buffer
    const fromBuffer = () => buffer;
    let cache: Tensor | undefined;
    const cached = (u: Tensor) => (cache ??= keep(u.mul(10))); // made by a step once, kept, returned after
    const x = tensor([1, 2]);
    const addOne = (u: Tensor) => u.add(1);
    const results = [chain(x, fromBuffer, addOne), chain(x, cached, addOne), chain(x, cached, addOne)];
    assert.equal(buffer.isDisposed, false, 'a tensor the step did not create');
    assert.equal(cache!.isDisposed, false, 'a kept tensor');
    assert.deepEqual(
      results.map((t) => t.toArray()),
      [
        [6, 7],
        [11, 21],
        [11, 21],
      ],
    );
    let consumed: Tensor | undefined;
    const keepsItsInput = (u: Tensor) => {
      consumed = keep(u);
      return u.mul(2);
    };
    const y = chain(x, addOne, keepsItsInput);
    assert.equal(consumed!.isDisposed, false, 'an intermediate the next step kept');
    assert.deepEqual(y.toArray(), [4, 6]);
    dispose([buffer, cache, x, results, consumed, y]);
  });

  it('holds two intermediates at a time where one tidy scope holds them all', () => {
    const x = zeros([256, 1024]); // 1 MiB
    const steps = Array.from({ length: 6 }, () => (u: Tensor) => u.add(1));
    const peakAbove = (fn: () => Tensor) => {
      const before = memory().nativeBytes;
      resetPeakMemory();
      const y = fn();
      const peak = memory().peakNativeBytes - before;
      assert.deepEqual(y.sum().item(), 6 * 256 * 1024);
      y.dispose();
      return peak;
    };
    const nested = peakAbove(() => tidy(() => steps.reduce((u, f) => f(u), x)));
    const chained = peakAbove(() => chain(x, ...steps));
    const MiB = 1024 * 1024;
    assert.ok(nested >= 6 * MiB, `one scope holds all six (${nested} bytes)`);
    assert.ok(chained <= 2 * MiB + 64 * 1024, `a chain holds two (${chained} bytes)`);
    x.dispose();
  });

  it('leaves the gradient to autograd', () => {
    const w = tensor([1, -2, 0.5]).requiresGrad_();
    const loss = chain(
      w,
      (u) => u.mul(3),
      (u) => u.square(),
      (u) => u.sum(),
    );
    loss.backward();
    assert.deepEqual(w.grad!.toArray(), [18, -36, 9], 'd/dw Σ(3w)² = 18w');
    dispose([w, loss]);
  });

  it('names a step that returns something other than a tensor', () => {
    const x = tensor([1]);
    assert.throws(
      () =>
        chain(
          x,
          (u) => u.add(1),
          () => 7 as unknown as Tensor,
        ),
      (e: unknown) => e instanceof TorchError && /step 1 returned/.test(e.message),
    );
    x.dispose();
  });
});

describe('dispose', () => {
  it('frees every tensor of a container, and is harmless twice', () => {
    const before = memory().liveTensors;
    const a = randn([2]);
    const b = randn([2]);
    const c = randn([2]);
    const container = { a, list: [b, 'text', 3, null], map: new Map([['c', c]]) };
    assert.equal(memory().liveTensors, before + 3);
    dispose(container);
    assert.ok([a, b, c].every((t) => t.isDisposed));
    assert.equal(memory().liveTensors, before);
    dispose(container);
    a.dispose();
    assert.equal(memory().liveTensors, before, 'disposing again changes nothing');
    dispose([null, undefined, 5, 'x', {}]);
  });

  it('frees a handle at once: a synchronous loop of 200,000 tensors does not grow the process', () => {
    // Node runs N-API finalizers only when the event loop turns; a handle that needed one kept ~100 bytes
    // per disposed tensor alive through a synchronous loop (about 50 MB here)
    const x = randn([4]);
    for (let i = 0; i < 20_000; i++) x.add(1).dispose();
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 200_000; i++) x.add(1).dispose();
    const growth = process.memoryUsage().rss - rss;
    assert.ok(growth < 20 * 2 ** 20, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MB`);
    x.dispose();
  });

  it('makes any use of a disposed tensor a TorchError that says so', () => {
    const x = randn([2, 2]);
    const y = randn([2, 2]);
    x.dispose();
    assertDisposedError(() => x.shape);
    assertDisposedError(() => x.add(1));
    assertDisposedError(() => y.add(x));
    assertDisposedError(() => x.toArray());
    assertDisposedError(() => F.relu(x));
    assertDisposedError(() => x.requiresGrad_());
    assertDisposedError(() => {
      x.grad = null;
    });
    assert.equal(x.toString(), 'tensor(<disposed>)');
    y.dispose();
  });

  it('Symbol.dispose disposes the tensor', () => {
    const x = randn([2]);
    assert.equal(typeof x[Symbol.dispose], 'function');
    x[Symbol.dispose]();
    assert.equal(x.isDisposed, true);
    x[Symbol.dispose]();
  });

  it('a `using` declaration disposes the tensor at the end of its block', () => {
    const before = memory().liveTensors;
    let seen: Tensor | undefined;
    {
      using x = randn([3]);
      seen = x;
      assert.equal(memory().liveTensors, before + 1);
    }
    assert.equal(seen.isDisposed, true);
    assert.equal(memory().liveTensors, before);
  });
});

describe('memory()', () => {
  it('counts live tensor handles exactly', () => {
    const start = memory().liveTensors;
    const made: Tensor[] = [];
    for (let i = 1; i <= 5; i++) {
      made.push(randn([i]));
      assert.equal(memory().liveTensors, start + i, `after creating tensor ${i}`);
    }
    made.push(tensor([1, 2], { dtype: 'float64' }), made[0]!.add(1), zeros([0]));
    assert.equal(memory().liveTensors, start + 8, 'conversions and empty tensors count one each');
    for (let i = 0; i < made.length; i++) {
      made[i]!.dispose();
      assert.equal(memory().liveTensors, start + made.length - i - 1, `after disposing tensor ${i}`);
    }
  });

  it('counts the native bytes of a 1 MB tensor, and gives them back on dispose', () => {
    const before = memory();
    const t = zeros([256 * 1024]); // float32: 1 MiB
    const during = memory();
    assert.ok(
      during.nativeBytes - before.nativeBytes >= t.numel * 4,
      `grew by ${during.nativeBytes - before.nativeBytes} bytes, at least ${t.numel * 4} expected`,
    );
    assert.ok(during.nativeBytes - before.nativeBytes < t.numel * 4 + 64 * 1024, 'and not by much more');
    assert.ok(during.peakNativeBytes >= during.nativeBytes);
    assert.ok(during.allocations > before.allocations);
    t.dispose();
    assert.equal(memory().nativeBytes, before.nativeBytes, 'back to the bytes held before');
    assert.ok(memory().peakNativeBytes >= during.nativeBytes, 'the peak remembers');
  });

  it('resets the peak to the current bytes', () => {
    tidy(() => zeros([1024 * 1024]).add(1));
    resetPeakMemory();
    const m = memory();
    assert.equal(m.peakNativeBytes, m.nativeBytes);
    const t = zeros([512 * 1024]);
    assert.ok(memory().peakNativeBytes >= m.nativeBytes + 2 * 1024 * 1024);
    t.dispose();
  });

  it('keeps freed large blocks for the next request of their size class, and releases them on demand', () => {
    releaseCachedMemory();
    const MiB = 1024 * 1024;
    assert.equal(memory().cachedNativeBytes, 0, 'an empty cache after release');
    const before = memory();
    // 3 MiB is a size class (four per octave: 2, 2.5, 3, 3.5 MiB); 2.8 MiB rounds up to it.
    const a = randn([(3 * MiB) / 4]);
    assert.equal(memory().nativeBytes - before.nativeBytes, 3 * MiB, 'a large block counts its size class');
    a.dispose();
    assert.equal(memory().nativeBytes, before.nativeBytes, 'freed bytes leave nativeBytes');
    assert.equal(memory().cachedNativeBytes, 3 * MiB, 'and wait in the cache');
    const b = zeros([Math.round((2.8 * MiB) / 4)]);
    assert.equal(memory().cachedNativeBytes, 0, 'a 2.8 MiB request reuses the 3 MiB block');
    assert.equal(memory().nativeBytes - before.nativeBytes, 3 * MiB);
    assert.equal(
      tidy(() => b.abs().max().item()),
      0,
      'a reused block holds what the new tensor wrote, not the old values',
    );
    const c = zeros([Math.round((3.2 * MiB) / 4)]);
    assert.equal(memory().nativeBytes - before.nativeBytes, 3 * MiB + 3.5 * MiB, '3.2 MiB rounds up to 3.5 MiB');
    dispose([b, c]);
    assert.equal(
      memory().cachedNativeBytes,
      (3 + 3.5 + 3) * MiB,
      'b, c and the temporary of b.abs() wait in the cache',
    );
    releaseCachedMemory();
    assert.equal(memory().cachedNativeBytes, 0);
    assert.equal(memory().nativeBytes, before.nativeBytes);
  });

  it('counts autograd graphs: saved tensors until backward, gradients until cleared', () => {
    const x = randn([256, 256], { requiresGrad: true });
    const base = memory().nativeBytes;
    // the intermediates' handles are freed by tidy, but the graph behind the loss keeps what it saved
    const loss = tidy(() => x.exp().mul(x).tanh().sum());
    const forward = memory().nativeBytes;
    assert.ok(
      forward - base >= 2 * 256 * 256 * 4,
      `the graph holds saved activations: ${forward - base} bytes above the parameters`,
    );
    loss.backward();
    const afterBackward = memory().nativeBytes;
    assert.ok(afterBackward < forward, 'backward frees the saved tensors');
    assert.ok(afterBackward - base >= 256 * 256 * 4, 'x.grad is held');
    loss.dispose();
    x.grad = null;
    assert.equal(memory().nativeBytes, base, 'back to the parameters alone');
    x.dispose();
  });
});

describe('a long training-like loop', () => {
  it('leaks no tensor, no native byte and no resident memory over 10,000 steps', (t) => {
    const steps = 10_000;
    // conv 3→8 (3×3) → batch norm (training, running stats) → relu → global average pool → linear 8→10
    const params = {
      convW: randn([8, 3, 3, 3]).mul(0.2).requiresGrad_(),
      convB: zeros([8]).requiresGrad_(),
      bnW: ones([8]).requiresGrad_(),
      bnB: zeros([8]).requiresGrad_(),
      linW: randn([10, 8]).mul(0.3).requiresGrad_(),
      linB: zeros([10]).requiresGrad_(),
    };
    const running = { mean: zeros([8]), var: ones([8]) };
    const weights = Object.values(params);
    const lr = 0.01;

    const step = (): number =>
      tidy(() => {
        const x = randn([4, 3, 8, 8]);
        const y = randint(0, 10, [4]);
        let h = F.conv2d(x, params.convW, params.convB, { padding: 1 });
        h = F.batchNorm(h, running.mean, running.var, { training: true, weight: params.bnW, bias: params.bnB });
        h = F.adaptiveAvgPool2d(F.relu(h), 1).flatten(1);
        const loss = F.crossEntropy(F.linear(h, params.linW, params.linB), y);
        loss.backward();
        noGrad(() => {
          for (const p of weights) {
            const g = p.grad!;
            p.sub_(g, lr);
            g.zero_();
          }
        });
        return loss.item();
      });

    // One thread: these tensors are tiny, and on a busy 2-core machine OpenMP's barriers made a step
    // 30× slower with two threads (0.9 ms vs 29 ms). Leaks do not depend on the thread count.
    const threads = getNumThreads();
    setNumThreads(1);
    t.after(() => setNumThreads(threads));
    // warm-up: the first step allocates the gradients and libtorch's one-time buffers
    step();
    const before = memory();
    let rssAt1000 = 0;
    let first = 0;
    let last = 0;
    const started = performance.now();
    for (let i = 1; i <= steps; i++) {
      const loss = step();
      if (i === 1) first = loss;
      if (i === steps) last = loss;
      if (i === 1000) rssAt1000 = process.memoryUsage().rss;
    }
    const seconds = (performance.now() - started) / 1000;
    const after = memory();
    const rssGrowth = process.memoryUsage().rss - rssAt1000;
    t.diagnostic(
      `${steps} steps in ${seconds.toFixed(1)} s; loss ${first.toFixed(3)} → ${last.toFixed(3)}; ` +
        `RSS +${(rssGrowth / 2 ** 20).toFixed(1)} MB from step 1000; native ${after.nativeBytes} bytes`,
    );

    assert.ok(Number.isFinite(last), 'the loop trained without diverging');
    assert.equal(after.liveTensors, before.liveTensors, 'no tensor handle leaked');
    // exact: the counting allocator sees only tensor storage, and every step frees what it allocates
    assert.equal(after.nativeBytes, before.nativeBytes, 'no native byte leaked');
    assert.equal(after.scopeDepth, 0);
    assert.ok(
      rssGrowth < 64 * 2 ** 20,
      `RSS grew by ${(rssGrowth / 2 ** 20).toFixed(1)} MB from step 1000 to ${steps}`,
    );
    assert.notDeepEqual(running.mean.toArray(), new Array(8).fill(0), 'the running statistics were updated');
    dispose([params, running]);
  });
});
