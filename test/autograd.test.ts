import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backward, enableGrad, grad, isGradEnabled, noGrad, ones, tensor, TorchError } from '../src/index.js';
import { assertClose } from './helpers.js';

describe('autograd', () => {
  it('accumulates gradients of a scalar into the leaves', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    assert.equal(x.isLeaf, true);
    const y = x.square().sum(); // dy/dx = 2x
    assert.equal(y.isLeaf, false);
    y.backward();
    assertClose(x.grad!, [2, 4, 6]);
    x.square().sum().backward(); // accumulates
    assertClose(x.grad!, [4, 8, 12]);
    x.grad = null;
    assert.equal(x.grad, null);
  });

  it('takes an output gradient for non-scalar outputs, and retains graphs on request', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.mul(x); // saves x for its backward; dy/dx = 2x
    y.backward(tensor([1, 10]), { retainGraph: true });
    assertClose(x.grad!, [2, 40]);
    y.backward(tensor([1, 1]));
    assertClose(x.grad!, [4, 44]);
    assert.throws(
      () => y.backward(tensor([1, 1])),
      (e: unknown) => e instanceof TorchError && /second time/.test(e.message),
    );
    assert.throws(() => x.mul(2).backward(), /scalar/);
  });

  it('computes functional gradients, including second derivatives', () => {
    const x = tensor([2], { requiresGrad: true });
    const y = x.pow(3); // y' = 3x² = 12, y'' = 6x = 12
    const [dy] = grad(y.sum(), [x], { createGraph: true });
    assertClose(dy!, [12]);
    const [d2y] = grad(dy!.sum(), [x]);
    assertClose(d2y!, [12]);
    assert.equal(x.grad, null, 'grad() does not accumulate');
    const unused = tensor([1], { requiresGrad: true });
    assert.throws(() => grad(x.mul(2).sum(), [unused]), TorchError);
    assert.deepEqual(grad(x.mul(2).sum(), [unused], { allowUnused: true }), [null]);
  });

  it('runs backward from several outputs', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    backward([x.sum(), x.mul(x).sum()]);
    assertClose(x.grad!, [3, 5]);
  });

  it('detaches and switches gradient recording', () => {
    const x = tensor([1], { requiresGrad: true });
    assert.equal(x.detach().requiresGrad, false);
    assert.equal(isGradEnabled(), true);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      const inner = enableGrad(() => x.mul(2));
      assert.equal(inner.requiresGrad, true);
      return x.mul(2);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(isGradEnabled(), true, 'restored after noGrad');
    assert.throws(
      () =>
        noGrad(() => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(isGradEnabled(), true, 'restored after an exception');
  });

  it('refuses in-place updates of leaves that require grad outside noGrad', () => {
    const w = ones([2], { requiresGrad: true });
    assert.throws(() => w.add_(1), /leaf Variable that requires grad/);
    noGrad(() => w.add_(1));
    assertClose(w, [2, 2]);
    assert.throws(() => tensor([1, 2], { dtype: 'int64' }).requiresGrad_(), /floating point/);
  });
});
