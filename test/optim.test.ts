// Optimizers against the formulas of torch.optim (1.13), computed here by hand in float64.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dispose,
  manualSeed,
  memory,
  noGrad,
  ones,
  randn,
  resetPeakMemory,
  Tensor,
  tensor,
  tidy,
  TorchError,
  zeros,
} from '../src/index.js';
import {
  Adam,
  type AdamOptions,
  AdamW,
  Muon,
  type OptimizerStateDict,
  parameterGroupsForWeightDecay,
  SGD,
  type SGDOptions,
  zeropowerNewtonSchulz,
} from '../src/optim/index.js';
import * as linalg from '../src/tensor/linalg.js';
import { assertClose, values } from './helpers.js';

// ---- the problem: f(θ) = Σ ½·a·θ² − b·θ over two parameters, so ∇f = a·θ − b ---------------------------

const P0 = [
  [0.5, -1.25, 2.0, 3.0, -0.75, 0.1],
  [1.5, -2.0, 0.3],
];
const SHAPES = [[2, 3], [3]];
const A = [
  [1.0, 2.0, 0.5, 0.25, 3.0, 1.5],
  [2.0, 0.7, 1.1],
];
const B = [
  [0.1, -0.2, 0.3, 0.4, 0.5, -0.6],
  [0.3, 0.2, -0.1],
];

/** Which parameters get a gradient at step k (default: all). */
type HasGrad = (k: number, i: number) => boolean;
const always: HasGrad = () => true;

function makeParams(): Tensor[] {
  return P0.map((p, i) => tensor(p, { dtype: 'float64', shape: SHAPES[i] }).requiresGrad_());
}

/** Sets every parameter's gradient by backpropagating f (only for those `hasGrad` selects at step k). */
function backward(params: Tensor[], k: number, hasGrad: HasGrad = always): void {
  tidy(() => {
    params.forEach((p, i) => {
      if (!hasGrad(k, i)) return;
      const a = tensor(A[i]!, { dtype: 'float64', shape: SHAPES[i] });
      const b = tensor(B[i]!, { dtype: 'float64', shape: SHAPES[i] });
      p.square().mul(a).mul(0.5).sub(p.mul(b)).sum().backward();
    });
  });
}

interface Stepper {
  step(): void;
  zeroGrad(setToNone?: boolean): void;
}

/** Runs `steps` steps of `opt` on the parameters and returns their values. */
function run(opt: Stepper, params: Tensor[], steps: number, hasGrad: HasGrad = always, from = 0): number[][] {
  for (let k = from; k < from + steps; k++) {
    opt.zeroGrad();
    backward(params, k, hasGrad);
    opt.step();
  }
  return params.map((p) => values(p));
}

const gradOf = (theta: number[], i: number): number[] => theta.map((x, j) => A[i]![j]! * x - B[i]![j]!);

/** SGD by hand: torch/optim/sgd.py `_single_tensor_sgd`. `opts[i]` are the options of parameter i. */
function referenceSGD(opts: Partial<SGDOptions>[], steps: number, hasGrad: HasGrad = always): number[][] {
  const theta = P0.map((p) => [...p]);
  const bufs: (number[] | null)[] = theta.map(() => null);
  for (let k = 0; k < steps; k++) {
    theta.forEach((p, i) => {
      if (!hasGrad(k, i)) return;
      const { lr = NaN, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false, maximize = false } = opts[i]!;
      let d = gradOf(p, i).map((g) => (maximize ? -g : g));
      if (weightDecay !== 0) d = d.map((g, j) => g + weightDecay * p[j]!);
      if (momentum !== 0) {
        const old = bufs[i]!;
        const buf = old === null ? [...d] : old.map((b, j) => momentum * b + (1 - dampening) * d[j]!);
        bufs[i] = buf;
        d = nesterov ? d.map((g, j) => g + momentum * buf[j]!) : buf;
      }
      theta[i] = p.map((x, j) => x - lr * d[j]!);
    });
  }
  return theta;
}

/** Adam and AdamW by hand: torch/optim/adam.py and adamw.py, `_single_tensor_*`. */
function referenceAdam(
  opts: Partial<AdamOptions>[],
  steps: number,
  decoupled: boolean,
  hasGrad: HasGrad = always,
): number[][] {
  const theta = P0.map((p) => [...p]);
  const m = theta.map((p) => p.map(() => 0));
  const v = theta.map((p) => p.map(() => 0));
  const vmax = theta.map((p) => p.map(() => 0));
  const t = theta.map(() => 0);
  for (let k = 0; k < steps; k++) {
    theta.forEach((p, i) => {
      if (!hasGrad(k, i)) return;
      const {
        lr = 1e-3,
        betas = [0.9, 0.999],
        eps = 1e-8,
        weightDecay = decoupled ? 1e-2 : 0,
        amsgrad = false,
        maximize = false,
      } = opts[i]!;
      const [beta1, beta2] = betas;
      t[i]! += 1;
      let g = gradOf(p, i).map((x) => (maximize ? -x : x));
      let q = p;
      if (decoupled) q = p.map((x) => x * (1 - lr * weightDecay));
      else if (weightDecay !== 0) g = g.map((x, j) => x + weightDecay * p[j]!);
      m[i] = m[i]!.map((x, j) => beta1 * x + (1 - beta1) * g[j]!);
      v[i] = v[i]!.map((x, j) => beta2 * x + (1 - beta2) * g[j]! * g[j]!);
      vmax[i] = vmax[i]!.map((x, j) => Math.max(x, v[i]![j]!));
      const second = amsgrad ? vmax[i]! : v[i]!;
      const bc1 = 1 - beta1 ** t[i]!;
      const bc2 = 1 - beta2 ** t[i]!;
      theta[i] = q.map((x, j) => x - ((lr / bc1) * m[i]![j]!) / (Math.sqrt(second[j]!) / Math.sqrt(bc2) + eps));
    });
  }
  return theta;
}

const TIGHT = { atol: 1e-12, rtol: 1e-12 };

function assertParams(got: number[][], expected: number[][], message: string): void {
  got.forEach((g, i) => assertClose(g, expected[i]!, { ...TIGHT, message: `${message}, parameter ${i}` }));
}

/** The parameters' values as exact bit patterns. */
function bits(params: Tensor[]): Float64Array[] {
  return params.map((p) => Float64Array.from(p.toTypedArray() as Float64Array));
}

// ---- tests -----------------------------------------------------------------------------------------------

describe('SGD', () => {
  const cases: [string, Partial<SGDOptions> & { lr: number }][] = [
    ['plain', { lr: 0.1 }],
    ['momentum', { lr: 0.1, momentum: 0.9 }],
    ['momentum with dampening', { lr: 0.1, momentum: 0.9, dampening: 0.3 }],
    ['nesterov', { lr: 0.07, momentum: 0.8, nesterov: true }],
    ['weight decay', { lr: 0.1, weightDecay: 0.05 }],
    ['everything', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }],
    ['maximize', { lr: 0.05, momentum: 0.5, dampening: 0.1, maximize: true }],
  ];
  for (const [name, options] of cases) {
    it(`follows PyTorch's formulas: ${name}`, () => {
      const params = makeParams();
      const got = run(new SGD(params, options), params, 5);
      assertParams(got, referenceSGD([options, options], 5), name);
    });
  }

  it('starts the momentum buffer at the first gradient', () => {
    const params = makeParams();
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9, dampening: 0.5 });
    run(opt, params, 1);
    assertClose(opt.stateOf(params[1]!)!.momentum_buffer!, gradOf(P0[1]!, 1), TIGHT);
  });

  it('rejects Nesterov without momentum or with dampening, and bad values', () => {
    const params = makeParams();
    assert.throws(
      () => new SGD(params, { lr: 0.1, nesterov: true }),
      /Nesterov momentum requires a momentum and zero dampening/,
    );
    assert.throws(() => new SGD(params, { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /zero dampening/);
    assert.throws(() => new SGD([{ params, nesterov: true }], { lr: 0.1 }), TorchError);
    assert.throws(() => new SGD(params, { lr: -1 }), /invalid learning rate/);
    for (const lr of ['0.1', Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new SGD(params, { lr } as { lr: number }), /option 'lr' must be a finite number, got/);
    }
    assert.throws(() => new SGD(params, {} as { lr: number }), /needs a learning rate/);
    assert.throws(() => new SGD(params, { lr: 0.1, momentum: -0.5 }), /invalid momentum/);
    assert.throws(() => new SGD([], { lr: 0.1 }), /empty parameter list/);
    assert.throws(() => new SGD(params, { lr: 0.1, weight_decay: 1 } as never), /unknown option 'weight_decay'/);
    assert.throws(() => new SGD([params[0]!, params[0]!], { lr: 0.1 }), /more than once/);
    assert.throws(() => new SGD([params[0]!.mul(2)], { lr: 0.1 }), /non-leaf/);
  });
});

describe('Adam and AdamW', () => {
  const cases: [string, Partial<AdamOptions>][] = [
    ['defaults', {}],
    ['lr, betas, eps', { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6 }],
    ['weight decay', { lr: 0.01, weightDecay: 0.1 }],
    ['amsgrad', { lr: 0.05, amsgrad: true }],
    ['amsgrad with weight decay', { lr: 0.05, amsgrad: true, weightDecay: 0.2 }],
    ['maximize', { lr: 0.02, maximize: true, weightDecay: 0.1 }],
  ];
  for (const [name, options] of cases) {
    it(`Adam follows PyTorch's formulas: ${name}`, () => {
      const params = makeParams();
      const got = run(new Adam(params, options), params, 5);
      assertParams(got, referenceAdam([options, options], 5, false), name);
    });
    it(`AdamW follows PyTorch's formulas: ${name}`, () => {
      const params = makeParams();
      const got = run(new AdamW(params, options), params, 5);
      assertParams(got, referenceAdam([options, options], 5, true), name);
    });
  }

  it('AdamW decays decoupled: θ·(1 − γλ) even with a zero gradient', () => {
    const p = tensor([2, -4], { dtype: 'float64' }).requiresGrad_();
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.5 });
    p.grad = zeros([2], { dtype: 'float64' });
    opt.step();
    assertClose(p, [2 * 0.95, -4 * 0.95], TIGHT);
    assert.equal(opt.stateOf(p)!.step, 1);
  });

  it('rejects bad betas, eps and learning rates', () => {
    const params = makeParams();
    assert.throws(() => new Adam(params, { betas: [1, 0.999] }), /beta parameter at index 0/);
    assert.throws(() => new Adam(params, { betas: [0.9, -0.1] }), /beta parameter at index 1/);
    assert.throws(() => new AdamW(params, { eps: -1 }), /epsilon/);
    assert.throws(() => new Adam(params, { lr: -0.1 }), /invalid learning rate/);
  });
});

/** The singular values of a matrix, largest first (float64: square roots of the eigenvalues of XXᵀ). */
function singularValues(x: Tensor): number[] {
  return tidy(() => {
    const m = x.shape[0]! <= x.shape[1]! ? x.to('float64') : x.to('float64').t();
    const { eigenvalues } = linalg.eigh(m.matmul(m.t()), 'U');
    return values(eigenvalues.clamp(0).sqrt()).reverse();
  });
}

describe('Muon', () => {
  it('Newton–Schulz orthogonalizes: singular values near 1, the direction of UVᵀ', () => {
    manualSeed(3);
    for (const [rows, cols] of [
      [16, 40],
      [40, 16],
      [64, 576],
    ] as const) {
      tidy(() => {
        // Singular values spread over a decade.
        const g = randn([rows, cols], { dtype: 'float64' }).mul(
          tensor(
            Array.from({ length: cols }, (_, j) => 10 ** (-j / cols)),
            { dtype: 'float64' },
          ),
        );
        const ortho = zeropowerNewtonSchulz(g, 5).to('float64');
        assert.deepEqual(ortho.shape, [rows, cols]);
        const sv = singularValues(ortho);
        // Five quintic steps in bfloat16 do not reach UVᵀ but US′Vᵀ with S′ roughly uniform in (0.5, 1.5) (Jordan, "Muon").
        assert.ok(
          sv.every((s) => s > 0.5 && s < 1.5),
          `${rows}×${cols}: singular values ${sv.map((s) => s.toFixed(2))}`,
        );
        // UVᵀ from the eigen-decomposition of GᵀG: G(GᵀG)^(-1/2) for the wide or square case, transposed otherwise.
        const wide = rows <= cols ? g : g.t();
        const { eigenvalues: lambda, eigenvectors: v } = linalg.eigh(wide.matmul(wide.t()), 'U');
        const polar = v.matmul(v.t().mul(lambda.rsqrt().reshape(-1, 1))).matmul(wide);
        const uvt = rows <= cols ? polar : polar.t();
        const cosine = ortho.mul(uvt).sum().item() / (ortho.norm().item() * uvt.norm().item());
        assert.ok(cosine > 0.95, `${rows}×${cols}: cosine with UVᵀ ${cosine}`);
      });
    }
    assert.throws(
      () => zeropowerNewtonSchulz(zeros([3])),
      (e: unknown) => e instanceof TorchError && /matrix/.test(e.message),
    );
  });

  it('follows its formula: momentum, Nesterov, weight normalization, decoupled decay, orthogonalized step', () => {
    const [lr, mu, wd] = [0.1, 0.6, 0.05];
    for (const normalizeWeights of [false, true]) {
      const [p] = makeParams();
      const opt = new Muon([p!], { lr, momentum: mu, nesterov: true, weightDecay: wd, normalizeWeights });
      let theta = [...P0[0]!];
      let buf: number[] | null = null;
      for (let k = 0; k < 3; k++) {
        const g = gradOf(theta, 0);
        buf = buf === null ? [...g] : buf.map((b, j) => mu * b + g[j]!);
        const u = g.map((x, j) => x + mu * buf![j]!);
        if (normalizeWeights) {
          const norm = Math.hypot(...theta);
          theta = theta.map((x) => (x * Math.sqrt(2)) / norm);
        }
        theta = theta.map((x) => x * (1 - lr * wd));
        const step = tidy(() =>
          values(zeropowerNewtonSchulz(tensor(u, { dtype: 'float64', shape: [2, 3] })).to('float64')),
        );
        theta = theta.map((x, j) => x - lr * step[j]!);
        run(opt, [p!], 1);
        assertClose(values(p!), theta, {
          atol: 1e-12,
          rtol: 1e-12,
          message: `normalizeWeights ${normalizeWeights}, step ${k + 1}`,
        });
      }
    }
  });

  it('scales the step of a tall matrix by √(rows/columns)', () => {
    const p = tensor(
      [
        [1, 0],
        [0, 1],
        [1, 1],
        [0, 0],
        [2, 1],
        [1, 3],
        [0, 1],
        [1, 0],
      ],
      { dtype: 'float64' },
    ).requiresGrad_();
    const g = tensor(
      [
        [0.5, -1],
        [1, 0.25],
        [-0.5, 0.5],
        [1, 1],
        [0, 2],
        [-1, 0],
        [0.3, 0.1],
        [2, -1],
      ],
      { dtype: 'float64' },
    );
    const before = values(p);
    p.grad = g.clone();
    new Muon([p], { lr: 0.1, momentum: 0, nesterov: false }).step();
    const step = tidy(() => values(zeropowerNewtonSchulz(g).to('float64')));
    assertClose(
      values(p),
      before.map((x, j) => x - 0.1 * 2 * step[j]!),
      { atol: 1e-12, rtol: 1e-12 },
    );
  });

  it("takes SGD's step, bit for bit, in groups that it does not orthogonalize", () => {
    const options = { lr: 0.05, momentum: 0.85, nesterov: true, weightDecay: 0.01 };
    const pa = makeParams();
    const pb = makeParams();
    run(new SGD(pa, options), pa, 5);
    run(new Muon([{ params: pb, orthogonalize: false }], options), pb, 5);
    assert.deepEqual(bits(pb), bits(pa));
  });

  it('frees each Newton–Schulz iteration and each parameter as it goes: a step holds one at a time', () => {
    manualSeed(5);
    const g = randn([64, 96]);
    const before = memory().liveTensors;
    const ortho = zeropowerNewtonSchulz(g, 5);
    assert.equal(memory().liveTensors, before + 1, 'the iterations leave only their result');
    dispose([g, ortho]);
    // Each further parameter raises a step's peak by its direction u (computed up front for the group),
    // not by the temporaries of its orthogonalization.
    const bytes = 256 * 256 * 4;
    const peakOfStep = (n: number) =>
      tidy(() => {
        const params = Array.from({ length: n }, () => randn([256, 256]).requiresGrad_());
        for (const p of params) p.grad = randn([256, 256]);
        const opt = new Muon(params, { lr: 0.1 });
        opt.step(); // makes the momentum buffers
        const start = memory().nativeBytes;
        resetPeakMemory();
        opt.step();
        const peak = memory().peakNativeBytes - start;
        opt.dispose();
        return peak;
      });
    const one = peakOfStep(1);
    const four = peakOfStep(4);
    assert.ok(four - one <= 3 * bytes + 64 * 1024, `one parameter: ${one} bytes at the peak, four: ${four}`);
  });

  it('rejects a vector in an orthogonalized group, and bad options', () => {
    const isError = (pattern: RegExp) => (e: unknown) => e instanceof TorchError && pattern.test(e.message);
    const params = makeParams();
    backward(params, 0);
    assert.throws(() => new Muon(params, { lr: 0.1 }).step(), isError(/shape \[3\].*orthogonalize: false/));
    assert.throws(() => new Muon(params, { lr: 0.1, momentum: 1 }), isError(/momentum/));
    assert.throws(() => new Muon(params, { lr: 0.1, momentum: 0, nesterov: true }), isError(/Nesterov/));
    assert.throws(() => new Muon(params, { lr: 0.1, nsSteps: 0 }), isError(/nsSteps/));
    dispose(params);
  });
});

describe('optimizer mechanics', () => {
  it('gives each parameter group its own options', () => {
    const params = makeParams();
    const sgd: Partial<SGDOptions> & { lr: number } = { lr: 0.1, momentum: 0.9 };
    const own = { lr: 0.3, weightDecay: 0.2, nesterov: true };
    const opt = new SGD([{ params: [params[0]!] }, { params: [params[1]!], ...own }], sgd);
    assert.equal(opt.paramGroups.length, 2);
    assert.equal(opt.paramGroups[0]!.lr, 0.1);
    assert.equal(opt.paramGroups[1]!.lr, 0.3);
    assert.equal(opt.paramGroups[1]!.momentum, 0.9, 'options a group leaves out come from the defaults');
    assertParams(run(opt, params, 4), referenceSGD([sgd, { ...sgd, ...own }], 4), 'SGD groups');

    const adamParams = makeParams();
    const adam = new Adam([
      { params: [adamParams[0]!], lr: 0.02 },
      { params: [adamParams[1]!], weightDecay: 0.1, amsgrad: true },
    ]);
    assertParams(
      run(adam, adamParams, 4),
      referenceAdam([{ lr: 0.02 }, { weightDecay: 0.1, amsgrad: true }], 4, false),
      'Adam groups',
    );
  });

  it('uses a learning rate changed between steps', () => {
    const params = makeParams();
    const opt = new SGD(params, { lr: 0.1 });
    run(opt, params, 2);
    opt.paramGroups[0]!.lr = 0.01;
    const got = run(opt, params, 1, always, 2);
    const before = referenceSGD([{ lr: 0.1 }, { lr: 0.1 }], 2);
    const expected = before.map((p, i) => p.map((x, j) => x - 0.01 * gradOf(p, i)[j]!));
    assertParams(got, expected, 'after the change');
  });

  it('skips parameters without a gradient (and counts their steps apart)', () => {
    // parameter 1 gets no gradient at steps 1 and 2, so its Adam step count lags behind parameter 0's
    const hasGrad: HasGrad = (k, i) => i === 0 || (k !== 1 && k !== 2);
    for (const [Opt, decoupled] of [
      [Adam, false],
      [AdamW, true],
    ] as const) {
      const params = makeParams();
      const opt = new Opt(params, { lr: 0.05, amsgrad: true });
      assertParams(
        run(opt, params, 5, hasGrad),
        referenceAdam(
          [
            { lr: 0.05, amsgrad: true },
            { lr: 0.05, amsgrad: true },
          ],
          5,
          decoupled,
          hasGrad,
        ),
        Opt.name,
      );
      assert.equal(opt.stateOf(params[0]!)!.step, 5);
      assert.equal(opt.stateOf(params[1]!)!.step, 3);
    }
    const params = makeParams();
    const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
    assertParams(
      run(sgd, params, 5, hasGrad),
      referenceSGD(
        [
          { lr: 0.1, momentum: 0.9 },
          { lr: 0.1, momentum: 0.9 },
        ],
        5,
        hasGrad,
      ),
      'SGD',
    );

    const frozen = makeParams();
    const opt = new Adam(frozen, { lr: 0.1 });
    run(opt, frozen, 3, (_, i) => i === 0);
    assert.deepEqual(values(frozen[1]!), P0[1], 'a parameter that never had a gradient is unchanged');
    assert.equal(opt.stateOf(frozen[1]!), null, 'and has no state');
  });

  it('zeroGrad sets gradients to null, or to zeros on request', () => {
    const params = makeParams();
    const opt = new SGD(params, { lr: 0.1 });
    backward(params, 0);
    opt.zeroGrad(false);
    assert.deepEqual(values(params[1]!.grad!), [0, 0, 0]);
    opt.zeroGrad();
    assert.equal(params[0]!.grad, null);
    assert.equal(params[1]!.grad, null);
    opt.step(); // no gradients: nothing moves
    assert.deepEqual(values(params[0]!), P0[0]);
  });

  it('splits parameters for weight decay by dimension (biases and norms do not decay)', () => {
    const named: [string, Tensor][] = [
      ['conv.weight', zeros([4, 3, 3, 3])],
      ['conv.bias', zeros([4])],
      ['bn.weight', zeros([4])],
      ['bn.bias', zeros([4])],
      ['fc.weight', zeros([10, 4])],
      ['fc.bias', zeros([10])],
      ['scale', zeros([])],
    ];
    const [decay, noDecay] = parameterGroupsForWeightDecay(named, 5e-4);
    assert.deepEqual(decay.params, [named[0]![1], named[4]![1]]);
    assert.deepEqual(noDecay.params, [named[1]![1], named[2]![1], named[3]![1], named[5]![1], named[6]![1]]);
    assert.equal(decay.weightDecay, 5e-4);
    assert.equal(noDecay.weightDecay, 0);

    // through an optimizer: only the matrix decays
    const params = makeParams();
    const groups = parameterGroupsForWeightDecay(
      [
        ['w', params[0]!],
        ['b', params[1]!],
      ],
      0.1,
    );
    const opt = new SGD(groups, { lr: 0.1, momentum: 0.9 });
    assert.deepEqual(
      opt.paramGroups.map((g) => g.weightDecay),
      [0.1, 0],
    );
    assertParams(
      run(opt, params, 3),
      referenceSGD(
        [
          { lr: 0.1, momentum: 0.9, weightDecay: 0.1 },
          { lr: 0.1, momentum: 0.9 },
        ],
        3,
      ),
      'decay groups',
    );
  });

  it('exempts parameters from weight decay by name (DynamicBlocks: only normLayer), biases decaying', () => {
    const named: [string, Tensor][] = [
      ['open.conv.weight', ones([2, 1, 1, 1])],
      ['open.conv.bias', ones([2])],
      ['open.normLayer.weight', ones([2])],
      ['blocks.0.normLayer.bias', ones([2])],
      ['fc.bias', ones([2])],
    ];
    const [decay, exempt] = parameterGroupsForWeightDecay(named, 0.1, ['normLayer']);
    assert.deepEqual(decay.params, [named[0]![1], named[1]![1], named[4]![1]]);
    assert.deepEqual(exempt.params, [named[2]![1], named[3]![1]]);
    // One SGD step from 1 with a zero gradient, lr 0.1: a decayed parameter becomes 1 − 0.1·0.1 = 0.99.
    for (const [, p] of named) {
      p.requiresGrad_();
      p.grad = zeros(p.shape);
    }
    new SGD([decay, exempt], { lr: 0.1 }).step();
    assert.deepEqual(
      named.map(([, p]) => values(p)[0]),
      [0.99, 0.99, 1, 1, 0.99].map((v) => Math.fround(v)),
    );
  });

  it('works on float32 parameters', () => {
    const p = tensor([1, -2, 3]).requiresGrad_();
    const opt = new Adam([p], { lr: 0.1 });
    p.grad = tensor([0.5, 0.5, -0.5]);
    opt.step();
    assert.equal(p.dtype, 'float32');
    assert.equal(opt.stateOf(p)!.exp_avg.dtype, 'float32');
    assertClose(p, [0.9, -2.1, 3.1], { atol: 1e-6 });
  });

  it('leaks no tensors: the live count is constant over 100 steps, and dispose() frees the state', () => {
    for (const make of [
      (ps: Tensor[]) => new SGD(ps, { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }),
      (ps: Tensor[]) => new Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 1e-3 }),
      (ps: Tensor[]) => new AdamW(ps, { lr: 0.01, maximize: true }),
    ]) {
      const params = makeParams();
      const opt = make(params);
      run(opt, params, 1); // creates the state
      const live = memory().liveTensors;
      const bytes = memory().nativeBytes;
      run(opt, params, 100, always, 1);
      assert.equal(memory().liveTensors, live, `${opt.name}: live tensors`);
      // (the native byte count wobbles by a few bytes when gradients are replaced, so it is bounded, not equal)
      assert.ok(memory().nativeBytes - bytes < 1024, `${opt.name}: native bytes ${bytes} → ${memory().nativeBytes}`);
      opt.zeroGrad();
      const stateTensors = params
        .flatMap((p) => Object.values(opt.stateOf(p)!))
        .filter((v) => v instanceof Tensor).length;
      assert.equal(stateTensors, opt.name === 'SGD' ? 2 : opt.name === 'Adam' ? 6 : 4);
      opt.dispose();
      assert.equal(memory().liveTensors, live - stateTensors, `${opt.name}: dispose() frees the state`);
      assert.equal(opt.stateOf(params[0]!), null);
      dispose(params);
    }
  });

  it('minimizes a least-squares problem', () => {
    manualSeed(7);
    const { X, y, wTrue } = tidy(() => {
      const X = randn([64, 4], { dtype: 'float64' });
      const wTrue = tensor([1.5, -2, 0.5, 3], { dtype: 'float64', shape: [4, 1] });
      return { X, y: X.matmul(wTrue).add(0.25), wTrue };
    });
    const loss = (w: Tensor, b: Tensor): Tensor => X.matmul(w).add(b).sub(y).square().mean();
    for (const make of [
      (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 }),
      (ps: Tensor[]) => new Adam(ps, { lr: 0.1 }),
      (ps: Tensor[]) => new AdamW(ps, { lr: 0.1, weightDecay: 0 }),
    ]) {
      const w = zeros([4, 1], { dtype: 'float64' }).requiresGrad_();
      const b = zeros([1], { dtype: 'float64' }).requiresGrad_();
      const opt = make([w, b]);
      const first = tidy(() => loss(w, b).item());
      for (let k = 0; k < 300; k++) {
        tidy(() => {
          opt.zeroGrad();
          loss(w, b).backward();
          opt.step();
        });
      }
      const last = tidy(() => loss(w, b).item());
      assert.ok(last < 1e-6 * first, `${opt.name}: loss ${first} → ${last}`);
      assertClose(w, wTrue, { atol: 1e-3, message: opt.name });
      assertClose(b, [0.25], { atol: 1e-3, message: opt.name });
      opt.dispose();
    }
  });
});

describe('optimizer state dicts', () => {
  /** Optimizer A runs 6 steps; B runs 3, is saved, restored into C (a new optimizer), and C runs 3 more. */
  function resume(
    make: (params: Tensor[]) => Stepper & {
      stateDict(): OptimizerStateDict;
      loadStateDict(sd: OptimizerStateDict): void;
      paramGroups: { lr: number }[];
    },
  ): void {
    const hasGrad: HasGrad = (k, i) => i === 0 || k !== 1;
    const pa = makeParams();
    const a = make(pa);
    run(a, pa, 3, hasGrad);
    a.paramGroups[0]!.lr *= 0.5; // a schedule's change is part of the state
    run(a, pa, 3, hasGrad, 3);

    const pb = makeParams();
    const b = make(pb);
    run(b, pb, 3, hasGrad);
    b.paramGroups[0]!.lr *= 0.5;
    const sd = b.stateDict();
    const saved = noGrad(() => pb.map((p) => p.clone()));

    const pc = saved.map((p) => p.requiresGrad_());
    const c = make(pc);
    c.loadStateDict(sd);
    dispose(sd); // the optimizer copied what it needs
    assert.equal(c.paramGroups[0]!.lr, b.paramGroups[0]!.lr);
    run(c, pc, 3, hasGrad, 3);
    assert.deepEqual(bits(pc), bits(pa), 'a resumed optimizer continues bit for bit');
  }

  it('SGD resumes bit for bit', () =>
    resume((ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })));
  it('Adam resumes bit for bit', () => resume((ps) => new Adam(ps, { lr: 0.05, amsgrad: true, weightDecay: 0.01 })));
  it('AdamW resumes bit for bit', () => resume((ps) => new AdamW(ps, { lr: 0.05 })));
  it('Muon resumes bit for bit', () =>
    resume(
      ([w, b]) =>
        new Muon(
          [
            { params: [w!], normalizeWeights: true },
            { params: [b!], orthogonalize: false, lr: 0.05 },
          ],
          { lr: 0.1, momentum: 0.6, weightDecay: 0.01 },
        ),
    ));

  it("is shaped like PyTorch's: state by parameter index, param_groups with options and indices", () => {
    const params = makeParams();
    const extra = tensor([1, 2], { dtype: 'float64' }).requiresGrad_();
    const opt = new Adam([{ params }, { params: [extra], lr: 0.5, amsgrad: true }], { weightDecay: 0.1 });
    run(opt, params, 2);
    const sd = opt.stateDict();
    assert.deepEqual(sd.param_groups, [
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.1, amsgrad: false, maximize: false, params: [0, 1] },
      { lr: 0.5, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.1, amsgrad: true, maximize: false, params: [2] },
    ]);
    assert.deepEqual(Object.keys(sd.state), ['0', '1'], 'parameter 2 never had a gradient');
    assert.deepEqual(Object.keys(sd.state[0]!).sort(), ['exp_avg', 'exp_avg_sq', 'step']);
    assert.equal(sd.state[0]!.step, 2);
    assertClose(sd.state[1]!.exp_avg as Tensor, values(opt.stateOf(params[1]!)!.exp_avg), TIGHT);
    assert.notEqual(sd.state[1]!.exp_avg, opt.stateOf(params[1]!)!.exp_avg, 'the dict holds copies');
    dispose(sd);
    assert.equal(opt.stateOf(params[1]!)!.exp_avg.isDisposed, false);

    const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
    run(sgd, params, 1);
    const ssd = sgd.stateDict();
    assert.deepEqual(Object.keys(ssd.state[0]!), ['momentum_buffer']);
    assert.deepEqual(ssd.param_groups[0], {
      lr: 0.1,
      momentum: 0.9,
      dampening: 0,
      weight_decay: 0,
      nesterov: false,
      maximize: false,
      params: [0, 1],
    });
    dispose(ssd);
  });

  it('loadStateDict names what does not match, and changes nothing then', () => {
    const params = makeParams();
    const opt = new Adam(params, { lr: 0.01 });
    run(opt, params, 2);
    const good = opt.stateDict();
    const before = values(opt.stateOf(params[0]!)!.exp_avg);
    const fails = (sd: unknown, pattern: RegExp): void => {
      assert.throws(
        () => opt.loadStateDict(sd as OptimizerStateDict),
        (e: unknown) => e instanceof TorchError && e.op === 'Adam.loadStateDict' && pattern.test(e.message),
      );
    };
    fails(
      { ...good, param_groups: [...good.param_groups, good.param_groups[0]] },
      /the state dict has 2 parameter group\(s\), this optimizer has 1/,
    );
    fails(
      { ...good, param_groups: [{ ...good.param_groups[0], params: [0] }] },
      /parameter group 0 of the state dict has 1 parameter\(s\), this optimizer's has 2/,
    );
    const wrongShape = tidy(() => zeros([4], { dtype: 'float64' }));
    fails(
      { ...good, state: { ...good.state, 1: { ...good.state[1], exp_avg: wrongShape } } },
      /state of parameter 1 \(group 0\): 'exp_avg' has shape \[4\], the parameter has shape \[3\]/,
    );
    fails(
      { ...good, state: { ...good.state, 0: { step: 2, exp_avg: good.state[0]!.exp_avg } } },
      /'exp_avg_sq' is missing/,
    );
    fails(
      { ...good, state: { ...good.state, 0: { ...good.state[0], momentum_buffer: null } } },
      /has 'momentum_buffer', which Adam does not keep/,
    );
    fails(
      { ...good, state: { ...good.state, 5: good.state[0] } },
      /state for parameter 5, which no parameter group lists/,
    );
    fails({ ...good, param_groups: [{ ...good.param_groups[0], betas: 0.9 }] }, /option 'betas' of parameter group 0/);
    fails({ ...good, param_groups: [{ ...good.param_groups[0], lr: -1 }] }, /invalid learning rate/);
    fails({ ...good, param_groups: [{ ...good.param_groups[0], amsgrad: true }] }, /'max_exp_avg_sq' is missing/);
    fails({ state: {} }, /expected an optimizer state dict/);
    assert.deepEqual(values(opt.stateOf(params[0]!)!.exp_avg), before, 'a failed load changes nothing');
    assert.equal(opt.paramGroups[0]!.lr, 0.01);

    const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
    assert.throws(() => sgd.loadStateDict(good), /SGD\.loadStateDict: .*has 'step', which SGD does not keep/);
    dispose([good, wrongShape]);
  });
});
