// DynamicBlocks: integrators against theory, controls, re-discretization, stability, RKNet.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call } from '../src/tensor/tensor.js';
import {
  dynamics,
  F,
  grad,
  manualSeed,
  memory,
  nn,
  noGrad,
  optim,
  randn,
  resetPeakMemory,
  stack,
  type Tensor,
  tensor,
  tidy,
  TorchError,
  zeros,
} from '../src/index.js';
import { leapfrogFrom, verlet } from '../src/dynamics/integrate.js';
import { assertClose, values } from './helpers.js';

const { DynamicBlock, DoubleSymLayer, DoubleLayer, LayerFunction, RKNet, clipParameters } = dynamics;

/** f(Y) = A·Y as a 1×1 convolution (A: C×C), a smooth linear right-hand side. */
class LinearLayer extends LayerFunction {
  readonly weight: Tensor;
  constructor(channels: number, scale = 1) {
    super(channels, { norm: 'none' });
    this.weight = this.registerParameter('weight', randn([channels, channels, 1, 1], { dtype: 'float64' }).mul(scale));
  }
  evaluate(y: Tensor, s: dynamics.LayerState): Tensor {
    return F.conv2d(y, s.param('weight')!);
  }
}

/** The slope of log(error) against log(h), by least squares. */
function slope(hs: number[], errors: number[]): number {
  const xs = hs.map(Math.log);
  const ys = errors.map(Math.log);
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  const sxy = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0);
  const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return sxy / sxx;
}

function uniform(n: number, T = 1): number[] {
  return Array.from({ length: n + 1 }, (_, k) => (k * T) / n);
}

describe('integrators', () => {
  it('converge with order 1 (RK1), 2 (RK2, Heun) and 4 (RK4)', () => {
    manualSeed(7);
    // Time-dependent linear dynamics: θ(t) interpolated between two random controls on [0, 1].
    const block = (integrator: dynamics.IntegratorName, n: number) =>
      new DynamicBlock(() => new LinearLayer(3, 0.7), { tY: uniform(n), tTheta: [0, 1], integrator });
    const reference = block('rk4', 1024);
    const y0 = randn([2, 3, 2, 2], { dtype: 'float64' });
    const exact = noGrad(() => reference.forward(y0));
    for (const [integrator, order, ns] of [
      ['rk1', 1, [8, 16, 32, 64]],
      ['rk2', 2, [8, 16, 32, 64]],
      ['heun', 2, [8, 16, 32, 64]],
      ['rk4', 4, [2, 4, 8, 16]],
    ] as const) {
      const errors = ns.map((n) => {
        const b = block(integrator, n);
        b.loadStateDict(reference.stateDict());
        return noGrad(() => b.forward(y0).sub(exact).norm().item());
      });
      const p = slope(
        ns.map((n) => 1 / n),
        errors,
      );
      assert.ok(Math.abs(p - order) <= 0.3, `${integrator}: observed order ${p.toFixed(2)}, expected ${order}`);
    }
  });

  it('RK1 on non-uniform points is the Euler recurrence; on unit steps it is a residual stack', () => {
    const block = new DynamicBlock(() => new DoubleLayer(2, { norm: 'none' }), {
      tY: [0, 0.3, 1, 2.5],
      integrator: 'rk1',
    });
    const y0 = randn([1, 2, 5, 5]);
    // θ at 0.3 lies between the controls at 0 and 1 (the controls are tY by default): weight 0.3.
    let y = y0;
    for (const [t, h] of [
      [0, 0.3],
      [0.3, 0.7],
      [1, 1.5],
    ] as const)
      y = y.add(block.rhs(t, y), h);
    assertClose(block.forward(y0), y, { atol: 1e-6 });

    const stack = new DynamicBlock(() => new DoubleLayer(2, { norm: 'batch' }), {
      tY: [0, 1, 2, 3],
      integrator: 'rk1',
    });
    let r = y0;
    for (let k = 0; k < 3; k++) r = r.add(stack.layer(k).forward(r));
    stack.eval();
    const s2 = new DynamicBlock(() => new DoubleLayer(2, { norm: 'batch' }), { tY: [0, 1, 2, 3], integrator: 'rk1' });
    s2.loadStateDict(stack.stateDict());
    s2.train();
    assert.deepEqual(values(s2.forward(y0)), values(r), 'exactly y ← y + f_k(y)');
  });

  it('names the points and the step that differs when leapfrog or verlet get non-uniform points', () => {
    const y0 = tensor([1]);
    const f = (_t: number, u: Tensor) => u.neg();
    assert.throws(
      () => dynamics.leapfrog(f, y0, [0, 0.5, 1, 2]),
      (e: unknown) =>
        e instanceof TorchError &&
        e.message ===
          'leapfrog: needs uniform time points, got [0, 0.5, 1, 2]: the step from 1 to 2 is 1, ' +
            'the first (from 0 to 0.5) is 0.5',
    );
    assert.throws(
      () => verlet(f, f, y0, y0, [0, 1, 3]),
      (e: unknown) =>
        e instanceof TorchError &&
        e.message ===
          'verlet: needs uniform time points, got [0, 1, 3]: the step from 1 to 3 is 2, the first (from 0 to 1) is 1',
    );
  });
});

describe('integrators free the states they supersede', () => {
  /** The growth factor of one RK4 step of y' = a·y: 1 + z + z²/2 + z³/6 + z⁴/24 with z = a·h. */
  const rk4Factor = (z: number) => 1 + z + z ** 2 / 2 + z ** 3 / 6 + z ** 4 / 24;
  /** Leapfrog's y_{k+1} = 2y_k − y_{k−1} + h²·a·y_k from (y_{−1}, y_0), every state. */
  const leapfrogStates = (a: number, h: number, steps: number, previous: number, y0: number) => {
    const ys = [previous, y0];
    for (let k = 0; k < steps; k++) ys.push(2 * ys.at(-1)! - ys.at(-2)! + h * h * a * ys.at(-1)!);
    return ys.slice(1);
  };

  it('integrate keeps its result and what onStep cloned; y0 stays, and gradients flow through', () => {
    const a = -0.7;
    const points = [0, 0.1, 0.25, 0.5, 1];
    const y0 = tensor([1, -2], { dtype: 'float64', requiresGrad: true });
    const seen: Tensor[] = [];
    const before = memory().liveTensors;
    const y = dynamics.integrate(
      dynamics.RK4,
      (_t, u) => u.mul(a),
      y0,
      points,
      (_k, u) => seen.push(u.clone()),
    );
    assert.equal(memory().liveTensors, before + 1 + points.length, 'the result and the clones, no other state');
    const factors = [1];
    for (let k = 0; k + 1 < points.length; k++)
      factors.push(factors.at(-1)! * rk4Factor(a * (points[k + 1]! - points[k]!)));
    seen.forEach((u, k) => assertClose(u, [factors[k]!, -2 * factors[k]!], { atol: 1e-14, message: `state ${k}` }));
    assert.equal(y0.isDisposed, false);
    y.sum().backward();
    assertClose(y0.grad!, [factors.at(-1)!, factors.at(-1)!], { atol: 1e-14 });
  });

  it('leapfrog and leapfrogFrom keep the last states only; the given ones stay, and gradients flow through', () => {
    const [a, h, steps] = [-0.5, 0.25, 6];
    const points = Array.from({ length: steps + 1 }, (_, k) => k * h);
    const y0 = tensor([1], { dtype: 'float64', requiresGrad: true });
    const before = memory().liveTensors;
    const y = dynamics.leapfrog((_t, u) => u.mul(a), y0, points);
    assert.equal(memory().liveTensors, before + 1, 'leapfrog leaves its last state alone');
    y.backward();
    // Linear in y0 (starting at rest): y_T = c·y0, c from the recurrence started at (1, 1).
    const c = leapfrogStates(a, h, steps, 1, 1).at(-1)!;
    assertClose(y, [c], { atol: 1e-14 });
    assertClose(y0.grad!, [c], { atol: 1e-14 });

    const previous = tensor([0.5], { dtype: 'float64' });
    const start = memory().liveTensors;
    const state = leapfrogFrom((_t, u) => u.mul(a), previous, y0, points);
    assert.equal(memory().liveTensors, start + 2, 'leapfrogFrom leaves the last two states');
    const expected = leapfrogStates(a, h, steps, 0.5, 1);
    assertClose(state.previous, [expected.at(-2)!], { atol: 1e-14 });
    assertClose(state.current, [expected.at(-1)!], { atol: 1e-14 });
    assert.equal(previous.isDisposed || y0.isDisposed, false, "the caller's states stay");
  });

  it('verlet keeps the last y and z only; the given ones stay', () => {
    const [h, steps] = [0.1, 5];
    const points = Array.from({ length: steps + 1 }, (_, k) => k * h);
    const y0 = tensor([1], { dtype: 'float64', requiresGrad: true });
    const z0 = tensor([0.5], { dtype: 'float64' });
    const before = memory().liveTensors;
    const { y, z } = verlet(
      (_t, u) => u.mul(2),
      (_t, u) => u.neg(),
      y0,
      z0,
      points,
    );
    assert.equal(memory().liveTensors, before + 2);
    let [yk, zk] = [1, 0.5];
    for (let k = 0; k < steps; k++) {
      yk += h * 2 * zk;
      zk -= h * yk;
    }
    assertClose(y, [yk], { atol: 1e-14 });
    assertClose(z, [zk], { atol: 1e-14 });
    assert.equal(y0.isDisposed || z0.isDisposed, false);
    z.backward();
    assert.ok(Math.abs(y0.grad!.item()) > 0);
  });

  it('a leapfrog block returns its output alone; its trajectory keeps every state, the same as forward', () => {
    manualSeed(4);
    const block = new DynamicBlock(() => new dynamics.HyperbolicLayer(2, { norm: 'none' }), {
      tY: [0, 1, 2, 3, 4],
      integrator: 'leapfrog',
    });
    const x = randn([1, 2, 4, 4], { requiresGrad: true });
    const before = memory().liveTensors;
    const out = block.forward(x);
    assert.equal(memory().liveTensors, before + 1, 'no state but the output is left');
    out.square().sum().backward();
    const grad = values(x.grad!);
    x.grad = null;
    const states = block.trajectory(x);
    assert.equal(states.length, 5);
    assert.equal(states[0], x, 'the first state is the input itself');
    assert.ok(states.every((s) => !s.isDisposed));
    // y_{k+1} = 2y_k − y_{k−1} + h²·f(t_k, y_k) with h = 1, from rest.
    for (let k = 0; k < 4; k++) {
      const next = tidy(() =>
        states[k]!.mul(2)
          .sub(states[Math.max(k - 1, 0)]!)
          .add(block.rhs(k, states[k]!), 1),
      );
      assert.deepEqual(values(states[k + 1]!), values(next), `state ${k + 1}`);
    }
    assert.deepEqual(values(states[4]!), values(out));
    states[4]!.square().sum().backward();
    assert.deepEqual(values(x.grad!), grad, 'the same gradient through the trajectory');
  });
});

describe('controls', () => {
  it('interpolate exactly at the nodes and linearly between them', () => {
    const block = new DynamicBlock(() => new LinearLayer(2), { tY: [0, 1], tTheta: [0, 2, 3], integrator: 'rk1' });
    const w = (k: number) => block.layer(k).namedParameters().next().value![1];
    assert.equal(block.stateAt(2).param('weight'), w(1), 'the node parameters themselves');
    assertClose(block.stateAt(1).param('weight')!, w(0).add(w(1)).div(2));
    assertClose(block.stateAt(2.75).param('weight')!, w(1).mul(0.25).add(w(2).mul(0.75)));
    assert.equal(block.stateAt(-1).param('weight'), w(0), 'constant before the first control');
    assert.equal(block.stateAt(9).param('weight'), w(2), 'constant after the last');
  });

  it('re-discretize a trained block without changing what it computes', () => {
    manualSeed(1);
    const block = new DynamicBlock(() => new DoubleSymLayer(3, { norm: 'tv' }), { tY: uniform(4), integrator: 'rk4' });
    const x = randn([4, 3, 6, 6]);
    const target = randn([4, 3, 6, 6]);
    for (let i = 0; i < 20; i++) {
      tidy(() => {
        F.mseLoss(block.forward(x), target).backward();
        noGrad(() => {
          for (const p of block.parameters()) p.sub_(p.grad!, 0.05);
        });
        block.zeroGrad();
      });
    }
    const before = block.forward(x);
    block.setTimeSteps(uniform(64));
    const finest = block.forward(x);
    block.setTimeSteps(uniform(16));
    const refined = block.forward(x);
    // RK4 converges: the same θ(t) on finer grids, each change far smaller than the one before.
    const change = refined.sub(before).norm().item() / before.norm().item();
    const next = finest.sub(refined).norm().item() / before.norm().item();
    assert.ok(change < 0.05, `finer state grid changed the output by ${(change * 100).toFixed(3)}%`);
    assert.ok(
      next < change / 10,
      `16 → 64 steps changed it by ${(next * 100).toFixed(4)}%, 4 → 16 by ${(change * 100).toFixed(3)}%`,
    );
    block.setTimeSteps(uniform(16), uniform(8));
    assert.equal(block.controlLayers.length, 9);
    const moreControls = block.forward(x);
    assertClose(moreControls, refined, {
      atol: 1e-5,
      message: 'controls at the old nodes and midpoints span the same θ(t)',
    });
    assert.equal([...block.parameters()].length, 9 * 4, 'weight, conv.bias, normLayer.bias, convt.bias per control');
  });

  it("leapfrog with BatchNorm updates the statistics of each step (normStats stage), not the controls'", () => {
    manualSeed(3);
    const block = new DynamicBlock(() => new dynamics.HyperbolicLayer(4, { norm: 'batch' }), {
      tY: [0, 1, 2, 3],
      integrator: 'leapfrog',
    });
    const means = () =>
      new Map([...block.namedBuffers()].filter(([k]) => k.endsWith('running_mean')).map(([k, v]) => [k, v.clone()]));
    const before = means();
    block.train();
    tidy(() => block.forward(randn([2, 4, 5, 5])));
    const after = means();
    const moved = [...before].filter(([k, v]) => v.sub(after.get(k)!).abs().max().item() > 0).map(([k]) => k);
    assert.deepEqual(moved, [
      'stateLayers.0.normLayer.running_mean',
      'stateLayers.1.normLayer.running_mean',
      'stateLayers.2.normLayer.running_mean',
    ]);
  });

  it('an optimizer over the parameters setTimeSteps replaced says so at its next step', () => {
    const block = new DynamicBlock(() => new LinearLayer(2), { tY: [0, 1, 2], integrator: 'rk1' });
    const opt = new optim.SGD(block.parameters(), { lr: 0.1 });
    block.setTimeSteps(uniform(4, 2), uniform(4, 2));
    tidy(() =>
      block
        .forward(randn([1, 2, 3, 3], { dtype: 'float64' }))
        .sum()
        .backward(),
    );
    const replaced = /SGD\.(step|zeroGrad): parameter 0 of group 0 was disposed: .*setTimeSteps/;
    assert.throws(() => opt.zeroGrad(), replaced);
    assert.throws(() => opt.step(), replaced);
    const fresh = new optim.SGD(block.parameters(), { lr: 0.1 });
    fresh.step();
  });

  it("measures pdenet's time regularization Σ ‖θ_{k+1} − θ_k‖²/h_k (h on the control grid)", () => {
    const block = new DynamicBlock(() => new LinearLayer(1), {
      tY: [0, 1],
      tTheta: [0, 1, 3],
      integrator: 'rk1',
      regularizer: 'l2',
    });
    noGrad(() => [0.5, 2, -1].forEach((v, k) => block.layer(k).namedParameters().next().value![1].fill_(v)));
    assertClose(block.timeRegularization(), 1.5 ** 2 / 1 + 3 ** 2 / 2);
  });

  it('the l2 time regularization of a linear θ(t) = θ₀ + t·v is T·‖v‖² on every control grid', () => {
    const block = new DynamicBlock(() => new LinearLayer(2), {
      tY: [0, 1, 2],
      integrator: 'rk1',
      regularizer: 'l2',
    });
    // θ(t) = θ₀ + t·v with v = [[1, −2], [0.5, 3]]: ‖v‖² = 14.25, T = 2.
    const v = tensor([1, -2, 0.5, 3], { dtype: 'float64' }).reshape(2, 2, 1, 1);
    const theta0 = tensor([0.3, -1, 2, 0.7], { dtype: 'float64' }).reshape(2, 2, 1, 1);
    noGrad(() =>
      [0, 1, 2].forEach((t, k) =>
        block
          .layer(k)
          .namedParameters()
          .next()
          .value![1].copy_(theta0.add(v.mul(t))),
      ),
    );
    assertClose(block.timeRegularization(), 2 * 14.25, { atol: 1e-9 });
    block.setTimeSteps(uniform(4, 2), uniform(4, 2));
    assertClose(block.timeRegularization(), 2 * 14.25, { atol: 1e-9 });
    block.setTimeSteps(uniform(8, 2), [0, 0.25, 1, 1.25, 2]);
    assertClose(block.timeRegularization(), 2 * 14.25, { atol: 1e-9 });
  });

  it("measures the reference's weight_variance h_k·‖θ_{k+1} − θ_k‖₁ (h on the state grid)", () => {
    const block = new DynamicBlock(() => new LinearLayer(2), {
      tY: [0, 1, 3, 4],
      tTheta: [0, 2, 4],
      integrator: 'rk1',
    });
    noGrad(() =>
      [
        [0.5, 1],
        [2, -1],
        [-1, -1],
      ].forEach((v, k) =>
        block
          .layer(k)
          .namedParameters()
          .next()
          .value![1].copy_(tensor(v, { dtype: 'float64' }).reshape(2, 1, 1, 1).expand([2, 2, 1, 1])),
      ),
    );
    // intervals: ‖Δθ‖₁ = 2·(1.5 + 2) = 7 and 2·(3 + 0) = 6, weighed by tY's steps 1 and 2
    assertClose(block.weightVariance(), [7, 12]);
    assertClose(block.timeRegularization(), 19);
    assert.throws(
      () => new DynamicBlock(() => new LinearLayer(1), { tY: [0, 1], tTheta: [0, 1, 3] }).weightVariance(),
      /no more controls/,
    );
  });
});

describe('stability of DoubleSymLayer', () => {
  it('has a negative semi-definite linearization', () => {
    manualSeed(5);
    const layer = new DoubleSymLayer(2, { norm: 'none' }).to('float64');
    for (let trial = 0; trial < 3; trial++) {
      const y = randn([1, 2, 4, 4], { dtype: 'float64', requiresGrad: true });
      const f = layer.forward(y).flatten();
      const n = f.numel;
      const rows: Tensor[] = [];
      for (let i = 0; i < n; i++) {
        const e = zeros([n], { dtype: 'float64' });
        noGrad(() => e.narrow(0, i, 1).fill_(1));
        rows.push(grad(f, [y], { gradOutputs: [e], retainGraph: true })[0]!.flatten());
      }
      const J = stack(rows, 0); // row i = e_iᵀ J
      const symmetric = J.add(J.t()).div(2);
      const eigenvalues = values(call('aten::linalg_eigvalsh', symmetric, 'L'));
      assert.ok(Math.max(...eigenvalues) <= 1e-10, `largest eigenvalue ${Math.max(...eigenvalues)}`);
      assert.ok(Math.min(...eigenvalues) < -1e-3, 'and it does dissipate');
    }
  });
});

describe('RKNet', () => {
  it('trains forward and backward with every layer, norm and integrator', () => {
    manualSeed(0);
    const configs: dynamics.RKNetOptions[] = [
      { integrator: 'rk4', layer: 'doublesym', norm: 'tv' },
      // RK1 evaluates θ at 0 and 0.5 only: two controls, both reached through the interpolation.
      { integrator: 'rk1', layer: 'double', norm: 'batch', tY: [0, 0.5, 2], tTheta: [0, 1] },
      { integrator: 'heun', layer: 'preactdouble', norm: 'none' },
      { integrator: 'leapfrog', layer: 'hyperbolic', norm: 'tv', boundary: 'reflect', tTheta: [0, 1] },
    ];
    for (const options of configs) {
      const net = new RKNet({ channels: [4, 8], tY: [0, 1, 2], ...options });
      const out = net.forward(randn([2, 3, 8, 8]));
      assert.deepEqual(out.shape, [2, 10]);
      F.crossEntropy(out, tensor([1, 2], { dtype: 'int64' })).backward();
      assert.ok(
        [...net.parameters()].every((p) => p.grad !== null),
        JSON.stringify(options),
      );
      net.dispose();
    }
    assert.throws(() => new RKNet({ layer: 'hyperbolic', integrator: 'rk4' }), /leapfrog/);
    assert.throws(() => new RKNet({ layer: 'double', integrator: 'leapfrog' }), /second-order/);
  });

  it('names a layer that is not one of its own, also one every object inherits', () => {
    for (const layer of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'triple']) {
      assert.throws(
        () => new RKNet({ layer: layer as dynamics.LayerKind }),
        (e: unknown) =>
          e instanceof TorchError &&
          e.message ===
            `RKNet: layer must be one of double, doublesym, preactdouble, normfirst, hyperbolic, got "${layer}"`,
        layer,
      );
    }
  });

  it("names its parameters by the reference's paths and counts them: len(channels) − 1 blocks", () => {
    const net = new RKNet();
    const names = [...net.namedParameters()].map(([n]) => n);
    assert.ok(names.includes('dynamicBlocks.2.controlLayers.4.weight'));
    assert.ok(names.includes('dynamicBlocks.0.controlLayers.0.convt.bias'));
    assert.ok(names.includes('connectors.2.conv.bias'));
    assert.ok(!names.some((n) => n.startsWith('dynamicBlocks.3')), 'three blocks for four channel counts');
    const expected =
      3 * 16 * 9 +
      16 +
      2 * 16 + // open: conv with bias + BatchNorm
      [16, 32, 64].reduce((a, c) => a + 5 * (c * c * 9 + 3 * c), 0) + // 5 controls: K, two biases, TvNorm bias
      [
        [16, 32],
        [32, 64],
        [64, 64],
      ].reduce((a, [i, o]) => a + i! * o! + o! + 2 * o!, 0) + // connectors
      64 * 10 +
      10;
    assert.equal(net.numParameters(), expected);
    assert.equal(expected, 251866, "the reference log's count");
    net.dispose();
  });

  it('checkpointed training gives the same gradients with less memory', () => {
    manualSeed(3);
    const make = () =>
      new RKNet({ channels: [8, 8, 8], tY: [0, 1, 2, 3, 4], norm: 'batch', layer: 'double', integrator: 'rk4' });
    const x = randn([8, 3, 16, 16]);
    const y = tensor([0, 1, 2, 3, 4, 5, 6, 7], { dtype: 'int64' });
    const plain = make();
    const initial = new Map([...plain.stateDict()].map(([k, v]) => [k, v.clone()]));
    const peakOf = (step: () => number) => {
      resetPeakMemory();
      const base = memory().nativeBytes;
      const loss = step();
      return { loss, peak: memory().peakNativeBytes - base };
    };
    const reference = peakOf(() =>
      tidy(() => {
        const l = F.crossEntropy(plain.forward(x), y);
        l.backward();
        return l.item();
      }),
    );
    const grads = new Map([...plain.namedParameters()].map(([n, p]) => [n, p.grad!]));
    const peaks: Record<string, number> = {};
    for (const granularity of ['block', 'step'] as const) {
      const net = make();
      net.loadStateDict(initial);
      const run = peakOf(() => {
        const { loss, output } = nn.checkpointedStep(net, net.segments(granularity), x, (out) =>
          F.crossEntropy(out, y),
        );
        output.dispose();
        return loss;
      });
      peaks[granularity] = run.peak;
      assertClose(run.loss, reference.loss, { atol: 1e-6 });
      for (const [n, p] of net.namedParameters())
        assertClose(p.grad!, grads.get(n)!, { atol: 1e-5, rtol: 1e-4, message: n });
      for (const [n, b] of net.namedBuffers())
        assertClose(b, plain.stateDict().get(n)!, { atol: 1e-6, message: `${n} updated once` });
      net.dispose();
    }
    assert.ok(peaks.block! < reference.peak, `block-wise peak ${peaks.block} vs plain ${reference.peak}`);
    assert.ok(peaks.step! < 0.5 * reference.peak, `step-wise peak ${peaks.step} vs plain ${reference.peak}`);
  });

  it("clips parameters into their boxes (pdenet's generic clamp)", () => {
    const net = new RKNet({ channels: [4, 4], tY: [0, 1] });
    noGrad(() => {
      for (const p of net.parameters()) p.mul_(100);
    });
    clipParameters(net, { conv: [-0.1, 0.1], linear: [-0.2, 0.2], other: [-1, 1] });
    for (const [name, p] of net.namedParameters()) {
      const bound = name.startsWith('linear') ? 0.2 : /conv|controlLayers\.\d\.weight/.test(name) ? 0.1 : 1;
      assert.ok(p.abs().max().item() <= bound + 1e-7, `${name} within ${bound}`);
    }
  });
});
