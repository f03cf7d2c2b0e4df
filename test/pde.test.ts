// The mathematics of the PDE floor: operators, boundary conditions, twist, hyperbolic layers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  arange,
  F,
  manualSeed,
  memory,
  nn,
  noGrad,
  ones,
  pde,
  randn,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from '../src/index.js';
import { assertClose, gradcheck, values } from './helpers.js';

const {
  TwistConv2d,
  CoordMixConv2d,
  DepthwiseBasisBlock,
  PDEBlock,
  LeapfrogBlock,
  SymmetricLayer,
  HamiltonianBlock,
  applyStencil,
  coordinates,
  polynomialFeatures,
  hyperbolicityPenalty,
  selfAdjointPart,
  stencilKernel,
} = pde;

/** A Gaussian bump of width sigma (pixels) centred at (cx, cy) on an n×n float64 grid, shape [1, 1, n, n]. */
function bump(n: number, cx: number, cy: number, sigma: number): Tensor {
  return tidy(() => {
    const j = arange(n, undefined, 1, { dtype: 'float64' });
    const gx = j
      .sub(cx)
      .square()
      .div(-2 * sigma * sigma)
      .exp()
      .reshape(1, n);
    const gy = j
      .sub(cy)
      .square()
      .div(-2 * sigma * sigma)
      .exp()
      .reshape(n, 1);
    return gy.mul(gx).reshape(1, 1, n, n);
  });
}

/** Centre of mass (x, y) in pixels. */
function centreOfMass(u: Tensor): [number, number] {
  return tidy(() => {
    const [, , h, w] = u.shape as [number, number, number, number];
    const mass = u.sum().item();
    const x =
      u
        .mul(arange(w, undefined, 1, { dtype: u.dtype }).reshape(1, 1, 1, w))
        .sum()
        .item() / mass;
    const y =
      u
        .mul(arange(h, undefined, 1, { dtype: u.dtype }).reshape(1, 1, h, 1))
        .sum()
        .item() / mass;
    return [x, y];
  });
}

/** Classical RK4 for u' = L(u), `steps` steps of size dt. */
function rk4(u0: Tensor, L: (u: Tensor) => Tensor, dt: number, steps: number): Tensor {
  let u = u0;
  for (let s = 0; s < steps; s++) {
    const v = u;
    u = tidy(() => {
      const k1 = L(v);
      const k2 = L(v.add(k1, dt / 2));
      const k3 = L(v.add(k2, dt / 2));
      const k4 = L(v.add(k3, dt));
      return v.add(k1.add(k2, 2).add(k3, 2).add(k4), dt / 6);
    });
  }
  return u;
}

/** Pixel coordinates centred on the image (x right, y down), each [1, 1, n, n]. */
function pixelCoordinates(n: number): { X: Tensor; Y: Tensor } {
  const c = arange(n, undefined, 1, { dtype: 'float64' }).sub((n - 1) / 2);
  return { X: c.reshape(1, 1, 1, n).expand(1, 1, n, n), Y: c.reshape(1, 1, n, 1).expand(1, 1, n, n) };
}

function relativeError(actual: Tensor, expected: Tensor, reference: Tensor): number {
  return tidy(() => actual.sub(expected).norm().item() / expected.sub(reference).norm().item());
}

describe('coordinate fields', () => {
  it('follow each convention and are cached', () => {
    const c = coordinates(2, 4, 'centered');
    assertClose(c.x.flatten(), [-0.5, -0.25, 0, 0.25, -0.5, -0.25, 0, 0.25]);
    assertClose(c.y.flatten(), [-0.5, -0.5, -0.5, -0.5, 0, 0, 0, 0]);
    assertClose(coordinates(1, 4, 'corner').x.flatten(), [-1, -0.5, 0, 0.5]);
    assertClose(coordinates(1, 3, 'unit').x.flatten(), [-1, 0, 1]);
    assert.equal(coordinates(2, 4, 'centered').x, c.x, 'cached');
    const f = polynomialFeatures(3, 3, { convention: 'unit' });
    assert.deepEqual(f.shape, [1, 6, 3, 3]);
    // [1, x, y, x², xy, y²] at the bottom-left corner (x = −1, y = 1).
    assertClose(f.select(3, 0).select(2, 2).flatten(), [1, -1, 1, 1, -1, 1]);
    assert.deepEqual(polynomialFeatures(3, 3, { degree: 1, constant: false }).shape, [1, 2, 3, 3]);
    assert.equal(polynomialFeatures(3, 3, { convention: 'unit' }), f, 'cached');
  });
});

describe('stencils', () => {
  it('differentiate polynomials exactly in the interior', () => {
    const n = 7;
    const { X, Y } = pixelCoordinates(n);
    const u = X.mul(X).mul(3).add(X.mul(Y).mul(2)).add(Y.mul(5)); // u = 3x² + 2xy + 5y
    const inner = (t: Tensor) => t.narrow(2, 1, n - 2).narrow(3, 1, n - 2);
    const cases: [pde.StencilName, Tensor][] = [
      ['dx', X.mul(6).add(Y.mul(2))],
      ['dy', X.mul(2).add(5)],
      ['sobelX', X.mul(6).add(Y.mul(2))],
      ['dxx', ones([1, 1, n, n], { dtype: 'float64' }).mul(6)],
      ['dyy', zeros([1, 1, n, n], { dtype: 'float64' })],
      ['dxy', ones([1, 1, n, n], { dtype: 'float64' }).mul(2)],
      ['laplacian', ones([1, 1, n, n], { dtype: 'float64' }).mul(6)],
      ['identity', u],
    ];
    for (const [name, expected] of cases)
      assertClose(inner(applyStencil(u, name)), inner(expected), { atol: 1e-9, message: name });
  });
});

describe('translation by a first-order operator', () => {
  it('u ← u − h·∂x u moves a bump by h pixels per step', () => {
    let u = bump(48, 16, 24, 3);
    const [x0, y0] = centreOfMass(u);
    const h = 0.5;
    const steps = 16;
    for (let s = 0; s < steps; s++) {
      const v = u;
      u = tidy(() => v.sub(applyStencil(v, 'dx', 'zeros'), h));
    }
    const [x1, y1] = centreOfMass(u);
    const speed = (x1 - x0) / steps;
    assert.ok(Math.abs(speed - h) / h < 0.1, `moved ${speed} px per step, expected ${h}`);
    assert.ok(Math.abs(y1 - y0) < 1e-6);
    // The Sobel operator (the seed's picture) translates too.
    let s2 = bump(48, 16, 24, 3);
    for (let s = 0; s < steps; s++) {
      const v = s2;
      s2 = tidy(() => v.sub(applyStencil(v, 'sobelX'), h));
    }
    assert.ok(Math.abs((centreOfMass(s2)[0] - x0) / steps - h) / h < 0.1);
  });
});

describe('variable coefficients rotate and dilate', () => {
  const n = 48;
  const { X, Y } = pixelCoordinates(n);
  const dx = (u: Tensor) => applyStencil(u, 'dx');
  const dy = (u: Tensor) => applyStencil(u, 'dy');
  const u0 = bump(n, 23.5 + 9, 23.5 - 3, 3.5);
  const sample = (theta: number[][]) =>
    F.gridSample(u0, F.affineGrid(tensor([theta], { dtype: 'float64' }), [1, 1, n, n], true), {
      mode: 'bicubic',
      alignCorners: true,
    });

  it('x·∂y − y·∂x rotates like gridSample by the same angle', () => {
    const t = 0.25;
    const pdeRotated = rk4(u0, (u) => X.mul(dy(u)).sub(Y.mul(dx(u))), t / 20, 20);
    const [c, s] = [Math.cos(t), Math.sin(t)];
    const rotated = sample([
      [c, -s, 0],
      [s, c, 0],
    ]);
    const err = relativeError(pdeRotated, rotated, u0);
    assert.ok(err < 0.05, `relative error ${err}`);
    // The direction matters: the opposite rotation is far away.
    assert.ok(
      relativeError(
        pdeRotated,
        sample([
          [c, s, 0],
          [-s, c, 0],
        ]),
        u0,
      ) > 0.5,
    );
  });

  it('x·∂x + y·∂y dilates like gridSample scaling', () => {
    const t = 0.15;
    const pdeScaled = rk4(u0, (u) => X.mul(dx(u)).add(Y.mul(dy(u))), t / 20, 20);
    const e = Math.exp(t);
    const err = relativeError(
      pdeScaled,
      sample([
        [e, 0, 0],
        [0, e, 0],
      ]),
      u0,
    );
    assert.ok(err < 0.05, `relative error ${err}`);
  });
});

describe('boundary conditions of the heat equation u ← u + h·Δu', () => {
  manualSeed(3);
  const u0 = F.avgPool2d(randn([1, 1, 18, 18], { dtype: 'float64' }).abs(), 3, { stride: 1 }); // 16×16, smooth, positive
  const heat = (u: Tensor, boundary: pde.Boundary, steps = 60) => {
    let v = u;
    for (let s = 0; s < steps; s++) {
      const w = v;
      v = tidy(() => w.add(applyStencil(w, 'laplacian', boundary), 0.2));
    }
    return v;
  };
  const trapezoid = (u: Tensor) => {
    const n = u.shape[3]!;
    const w = ones([n], { dtype: 'float64' });
    noGrad(() => {
      w.narrow(0, 0, 1).fill_(0.5);
      w.narrow(0, n - 1, 1).fill_(0.5);
    });
    return u
      .mul(w.reshape(1, 1, n, 1))
      .mul(w.reshape(1, 1, 1, n))
      .sum()
      .item();
  };

  it('Neumann (replicate: cell-centred) conserves the total mass', () => {
    const before = u0.sum().item();
    assert.ok(Math.abs(heat(u0, 'replicate').sum().item() - before) / before < 1e-10);
  });

  it('Neumann (reflect: vertex-centred) conserves the trapezoidal mass', () => {
    const before = trapezoid(u0);
    assert.ok(Math.abs(trapezoid(heat(u0, 'reflect')) - before) / before < 1e-10);
  });

  it('Dirichlet (zeros) loses mass through the boundary', () => {
    assert.ok(heat(u0, 'zeros').sum().item() < 0.9 * u0.sum().item());
  });

  it('periodic (circular) conserves mass and commutes with periodic shifts', () => {
    const after = heat(u0, 'circular');
    assert.ok(Math.abs(after.sum().item() - u0.sum().item()) / u0.sum().item() < 1e-10);
    assertClose(heat(u0.roll([3, -5], [2, 3]), 'circular'), after.roll([3, -5], [2, 3]), { atol: 1e-12 });
  });

  it('obeys the discrete maximum principle under every boundary condition (h ≤ ¼)', () => {
    const [max0, min0] = [u0.max().item(), u0.min().item()];
    for (const b of pde.BOUNDARIES) {
      const u = heat(u0, b);
      assert.ok(u.max().item() < max0, `${b}: the maximum falls`);
      assert.ok(
        u.min().item() >= (b === 'zeros' ? 0 : min0),
        `${b}: the minimum does not fall below the boundary data`,
      );
    }
  });
});

describe('TwistConv2d', () => {
  it('names a bad input shape, channel count, convention or boundary', () => {
    const conv = new TwistConv2d(3, 4);
    assert.throws(
      () => conv.forward(randn([3, 6, 6])),
      /TwistConv2d\(3→4\): expects a 4-d input N×3×H×W, got shape \[3, 6, 6\]/,
    );
    assert.throws(() => conv.forward(randn([1, 5, 6, 6])), /expects 3 input channels, got 5/);
    assert.throws(
      () => new TwistConv2d(3, 4, { convention: 'middle' as never }),
      /convention must be one of .*got "middle"/,
    );
    assert.throws(
      () => new TwistConv2d(3, 4, { boundary: 'periodic' as never }),
      /boundary must be one of .*got "periodic"/,
    );
  });

  it('keeps Kx antisymmetric through optimizer steps and Ky its 90° rotation', () => {
    manualSeed(0);
    for (const variant of ['point', 'mirror'] as const) {
      const conv = new TwistConv2d(3, 4, { variant, twistInitStd: 0.5 });
      for (let step = 0; step < 3; step++) {
        tidy(() => {
          conv
            .forward(randn([2, 3, 6, 6]))
            .square()
            .mean()
            .backward();
          noGrad(() => {
            for (const p of conv.parameters()) p.sub_(p.grad!, 0.1);
          });
          conv.zeroGrad();
        });
        const { kx, ky } = conv.twistKernels();
        const mirrored = variant === 'point' ? kx.flip([2, 3]) : kx.flip(3);
        assertClose(kx, mirrored.neg(), { atol: 1e-7, message: `${variant} antisymmetry` });
        assertClose(ky, kx.transpose(2, 3).flip(2), { atol: 0 });
        assert.ok(kx.abs().sum().item() > 0);
      }
    }
  });

  it("learns strain with the seeds' rotation of Kx, and dilation and rotation with the conformal one", () => {
    // With Kx = ∂x (central), the transport term is v·∇u: strain gives v = (x, −y), conformal v = (x, y).
    const u = bump(16, 9, 6, 2.5).float();
    const interior = (t: Tensor) => t.narrow(2, 2, 12).narrow(3, 2, 12);
    for (const [field, sign] of [
      ['strain', -1],
      ['conformal', 1],
    ] as const) {
      const conv = new TwistConv2d(1, 1, { field, convention: 'centered' });
      noGrad(() => {
        conv.weight.zero_();
        conv.kx.copy_(stencilKernel('dx'));
      });
      const { x, y } = coordinates(16, 16);
      const expected = x.mul(applyStencil(u, 'dx')).add(y.mul(applyStencil(u, 'dy')).mul(sign));
      assertClose(interior(conv.forward(u)), interior(expected), { atol: 1e-6, message: field });
    }
  });

  it('projects Kx: point keeps ∂x, ∂y and drops ∂x∂y; doubly-odd keeps only ∂x∂y; mirror keeps ∂x and ∂x∂y', () => {
    const kernel = (name: 'identity' | 'dx' | 'dy' | 'dxy' | 'laplacian') => stencilKernel(name);
    const kept = { point: ['dx', 'dy'], 'doubly-odd': ['dxy'], mirror: ['dx', 'dxy'] } as const;
    for (const variant of pde.TWIST_VARIANTS) {
      for (const name of ['identity', 'dx', 'dy', 'dxy', 'laplacian'] as const) {
        const k = kernel(name);
        const expected = (kept[variant] as readonly string[]).includes(name) ? values(k) : values(k).map(() => 0);
        assertClose(pde.projectKx(k, variant), expected, { atol: 1e-7, message: `${variant} ${name}` });
      }
      const w = randn([3, 2, 3, 3]);
      const p = pde.projectKx(w, variant);
      assertClose(pde.projectKx(p, variant), p, { atol: 1e-7, message: `${variant} is a projection` });
    }
    // The notebook's Bottleneck: Kx = a·∂x∂y-pattern, rotated the conformal way Ky = −Kx.
    const p = pde.projectKx(randn([2, 2, 3, 3]), 'doubly-odd');
    assertClose(pde.kyFromKx(p, 'conformal'), p.neg(), { atol: 1e-7 });
  });

  it('responds to a constant image only through K (first-order terms vanish away from the border)', () => {
    const conv = new TwistConv2d(2, 3, { twistInitStd: 1 });
    const plain = F.conv2d(ones([1, 2, 8, 8]), conv.weight, null, { padding: 1 });
    const twisted = conv.forward(ones([1, 2, 8, 8]));
    assertClose(twisted.narrow(2, 1, 6).narrow(3, 1, 6), plain.narrow(2, 1, 6).narrow(3, 1, 6), { atol: 1e-6 });
  });

  it('equals a plain convolution with Kx = 0 or the twist off, and the three-convolution form otherwise', () => {
    const x = randn([2, 4, 7, 9]);
    const conv = new TwistConv2d(4, 6, { stride: 2, groups: 2, bias: true, twistInitStd: 0.3 });
    const plain = F.conv2d(x, conv.weight, conv.bias, { stride: 2, padding: 1, groups: 2 });
    const { kx, ky } = conv.twistKernels();
    const conv3 = (k: Tensor) => F.conv2d(x, k, null, { stride: 2, padding: 1, groups: 2 });
    const { x: X, y: Y } = coordinates(4, 5);
    assertClose(conv.forward(x), plain.add(X.mul(conv3(kx))).add(Y.mul(conv3(ky))), { atol: 1e-5 });
    conv.twist = false;
    assert.deepEqual(values(conv.forward(x)), values(plain));
    conv.twist = true;
    noGrad(() => conv.kx.zero_());
    // The fused convolution (3× the output channels) may block its sums differently: equal up to rounding.
    assertClose(conv.forward(x), plain, { atol: 1e-6, rtol: 1e-6, message: 'a plain conv' });
  });

  it('computes the same output and gradients from channels-last tensors (with groups), and keeps that layout', () => {
    manualSeed(5);
    const conv = new TwistConv2d(4, 6, { groups: 2, bias: true, twistInitStd: 0.3 });
    const x = randn([2, 4, 5, 7]);
    const g = randn([2, 6, 5, 7]);
    const gradsOf = (input: Tensor) => {
      conv.zeroGrad();
      const y = conv.forward(input);
      y.mul(g).sum().backward();
      return { y, grads: [conv.weight, conv.kx, conv.bias!].map((p) => p.grad!.clone()) };
    };
    const plain = gradsOf(x);
    const cl = gradsOf(x.contiguous('channelsLast'));
    assert.ok(cl.y.isContiguousAs('channelsLast'), 'the output stays channels-last');
    assertClose(cl.y, plain.y, { atol: 1e-5 });
    cl.grads.forEach((grad, k) => assertClose(grad, plain.grads[k]!, { atol: 1e-4, rtol: 1e-4 }));
  });

  it('honours the boundary condition and differentiates correctly (float64)', () => {
    manualSeed(2);
    const conv = new TwistConv2d(2, 2, { boundary: 'reflect', twistInitStd: 0.5 }).to('float64');
    const x = randn([1, 2, 5, 5], { dtype: 'float64' });
    const reflect = F.pad(x, [1, 1, 1, 1], 'reflect');
    const plain = F.conv2d(reflect, conv.weight);
    conv.twist = false;
    assertClose(conv.forward(x), plain, { atol: 1e-12 });
    conv.twist = true;
    const w = randn([1, 2, 5, 5], { dtype: 'float64' });
    x.requiresGrad_();
    gradcheck(
      (input, kx) => {
        void kx;
        return conv.forward(input).mul(w).sum();
      },
      [x, conv.kx],
    );
  });
});

describe('CoordMixConv2d and the operator basis', () => {
  it('multiplies each depthwise operator by its learned coefficient field', () => {
    const m = new CoordMixConv2d(2, { multiplier: 2 });
    const u = randn([1, 2, 5, 5]);
    // mix = x for every channel: weight picks feature 1 of [1, x, y, x², xy, y²].
    noGrad(() => {
      m.mix.weight.zero_();
      m.mix.weight.select(1, 1).fill_(1);
    });
    const dw = m.conv.forward(u);
    assertClose(m.forward(u), dw.mul(coordinates(5, 5, 'corner').x), { atol: 1e-6 });
    m.twist = false;
    assertClose(m.forward(u), dw);
    assert.deepEqual([...m.stateDict().keys()], ['conv.weight', 'mix.weight']);
  });

  it('initializes the depthwise basis with identity, ∂x, ∂y and Δ', () => {
    const block = new DepthwiseBasisBlock(3, { multiplier: 4, initFromBasis: true });
    const u = randn([1, 3, 6, 6]);
    const out = block.depthwise.forward(u); // channel c·4 + m = stencil m applied to channel c
    for (const [m, name] of (['identity', 'dx', 'dy', 'laplacian'] as const).entries()) {
      assertClose(out.select(1, 4 + m), applyStencil(u, name).select(1, 1), { atol: 1e-6, message: name });
    }
    assert.deepEqual(block.forward(u).shape, [1, 3, 6, 6]);
    assertClose(stencilKernel('laplacian', 2).sum(), 0);
  });
});

describe('PDEBlock', () => {
  it('takes `iterations` forward-Euler steps of one operator, then BN and ReLU', () => {
    const block = new PDEBlock(4, 8, { iterations: 3, stride: 2 });
    const x = randn([2, 4, 8, 8]);
    let u = block.expand!.forward(x);
    for (let i = 0; i < 3; i++) u = u.add(block.op.forward(u).div(3));
    const expected = F.relu(
      F.batchNorm(u, null, null, { weight: block.bn.weight, bias: block.bn.bias, training: true }),
    );
    assertClose(block.forward(x), expected, { atol: 1e-5 });
    assert.deepEqual(block.forward(x).shape, [2, 8, 4, 4]);
  });
});

describe('hyperbolic layers', () => {
  it('leapfrog conserves the discrete energy of a linear wave; a parabolic layer dissipates', () => {
    manualSeed(4);
    const h = 0.5;
    const block = new LeapfrogBlock(3, { steps: 1, h, activation: 'identity', norm: 'none' }).to('float64');
    const layer = block.layers.at(0) as pde.SymmetricLayer;
    noGrad(() => layer.weight.mul_(0.6));
    let prev = randn([1, 3, 10, 10], { dtype: 'float64' });
    let cur = prev.add(randn([1, 3, 10, 10], { dtype: 'float64' }), 0.1);
    const energies: number[] = [];
    for (let j = 0; j < 100; j++) {
      const next = block.forwardState(prev, cur).current;
      energies.push(LeapfrogBlock.energy(cur, next, layer.weight, h));
      [prev, cur] = [cur, next];
    }
    const drift = Math.max(...energies.map((e) => Math.abs(e - energies[0]!))) / Math.abs(energies[0]!);
    assert.ok(drift < 0.01, `energy drift ${drift}`);
    assert.ok(cur.norm().item() > 0.1 * prev.norm().item(), 'the wave does not die out');

    const parabolic = new SymmetricLayer(3, { activation: 'identity', norm: 'none' }).to('float64');
    noGrad(() => parabolic.weight.copy_(layer.weight));
    let y = randn([1, 3, 10, 10], { dtype: 'float64' });
    const norms = [y.norm().item()];
    for (let j = 0; j < 30; j++) {
      const v = y;
      y = tidy(() => v.sub(parabolic.forward(v), 0.1));
      norms.push(y.norm().item());
    }
    assert.ok(
      norms.every((v, i) => i === 0 || v <= norms[i - 1]! + 1e-12),
      'monotone decay',
    );
    assert.ok(norms.at(-1)! < 0.9 * norms[0]!);
  });

  it('Kᵀ is the exact adjoint of K for every boundary: ⟨Ky, z⟩ = ⟨y, Kᵀz⟩, ⟨Pu, w⟩ = ⟨u, Pᵀw⟩', () => {
    manualSeed(7);
    const weight = randn([4, 3, 3, 3], { dtype: 'float64' });
    const y = randn([2, 3, 5, 6], { dtype: 'float64' });
    const z = randn([2, 4, 5, 6], { dtype: 'float64' });
    const w = randn([2, 3, 9, 10], { dtype: 'float64' });
    for (const boundary of pde.BOUNDARIES) {
      const left = pde.applyK(y, weight, boundary).mul(z).sum().item();
      const right = y
        .mul(pde.applyKT(z, weight, boundary))
        .sum()
        .item();
      assertClose(right, left, { atol: 1e-12, message: `K, ${boundary}` });
      const padded = pde.padBoundary(y, 2, boundary).mul(w).sum().item();
      assertClose(
        y
          .mul(pde.padBoundaryAdjoint(w, 2, boundary))
          .sum()
          .item(),
        padded,
        {
          atol: 1e-12,
          message: `P, ${boundary}`,
        },
      );
    }
  });

  it('KᵀK is symmetric and its gradient is right under reflect and replicate', () => {
    manualSeed(8);
    for (const boundary of ['reflect', 'replicate'] as const) {
      const layer = new SymmetricLayer(3, { activation: 'identity', norm: 'none', boundary }).to('float64');
      const y = randn([1, 3, 6, 6], { dtype: 'float64' });
      const z = randn([1, 3, 6, 6], { dtype: 'float64' });
      assertClose(layer.forward(y).mul(z).sum().item(), y.mul(layer.forward(z)).sum().item(), { atol: 1e-12 });
      const weight = randn([2, 2, 3, 3], { dtype: 'float64' }).requiresGrad_();
      const u = randn([1, 2, 4, 5], { dtype: 'float64' });
      gradcheck((k) => pde.applyKT(u.tanh(), k, boundary).square().sum(), [weight]);
    }
  });

  it('leapfrog conserves the linear wave energy under reflect and replicate boundaries too', () => {
    manualSeed(9);
    const h = 0.3;
    for (const boundary of ['reflect', 'replicate', 'circular'] as const) {
      const block = new LeapfrogBlock(3, { steps: 1, h, activation: 'identity', norm: 'none', boundary });
      block.to('float64');
      const layer = block.layers.at(0) as pde.SymmetricLayer;
      let prev = randn([1, 3, 6, 6], { dtype: 'float64' });
      let cur = prev.add(randn([1, 3, 6, 6], { dtype: 'float64' }), 0.1);
      const energies: number[] = [];
      for (let j = 0; j < 30; j++) {
        const next = block.forwardState(prev, cur).current;
        energies.push(LeapfrogBlock.energy(cur, next, layer.weight, h, boundary));
        [prev, cur] = [cur, next];
      }
      const drift = Math.max(...energies.map((e) => Math.abs(e - energies[0]!))) / Math.abs(energies[0]!);
      assert.ok(drift < 1e-9, `${boundary}: energy drift ${drift}`);
    }
  });

  it('the leapfrog and Hamiltonian blocks leave only their output behind, with gradients intact', () => {
    for (const block of [new LeapfrogBlock(4, { steps: 3 }), new HamiltonianBlock(4, { steps: 3 })]) {
      const x = randn([2, 4, 5, 5], { requiresGrad: true });
      const before = memory().liveTensors;
      const out = block.forward(x);
      assert.equal(memory().liveTensors, before + 1, block.constructor.name);
      out.square().sum().backward();
      assert.ok(x.grad!.abs().sum().item() > 0);
      out.dispose();
      x.dispose();
    }
  });

  it('the Hamiltonian (Verlet) block runs backwards exactly', () => {
    const block = new HamiltonianBlock(4, { steps: 3, h: 0.3, activation: 'tanh' }).to('float64');
    const x = randn([1, 4, 6, 6], { dtype: 'float64' });
    const out = block.forward(x);
    let [y, z] = out.chunk(2, 1) as [Tensor, Tensor];
    const layers = [...block.layers] as pde.SymmetricLayer[];
    for (let j = layers.length - 2; j >= 0; j -= 2) {
      z = z.add(layers[j + 1]!.forward(y), 0.3);
      y = y.sub(layers[j]!.forward(z), 0.3);
    }
    assertClose(y, x.narrow(1, 0, 2), { atol: 1e-12 });
    assertClose(z, x.narrow(1, 2, 2), { atol: 1e-12 });
  });

  it('the self-adjoint part of a grouped operator is its symmetric part on a periodic grid', () => {
    manualSeed(10);
    // 6 channels in 3 groups of 2: ⟨u, Ku⟩ = ⟨u, Su⟩ and ⟨Su, v⟩ = ⟨u, Sv⟩ for the periodic convolution.
    const weight = randn([6, 2, 3, 3], { dtype: 'float64' });
    const S = selfAdjointPart(weight, 3);
    const apply = (k: Tensor, u: Tensor) => F.conv2d(pde.padBoundary(u, 1, 'circular'), k, null, { groups: 3 });
    const u = randn([1, 6, 5, 5], { dtype: 'float64' });
    const v = randn([1, 6, 5, 5], { dtype: 'float64' });
    assertClose(u.mul(apply(S, u)).sum().item(), u.mul(apply(weight, u)).sum().item(), { atol: 1e-12 });
    assertClose(apply(S, u).mul(v).sum().item(), u.mul(apply(S, v)).sum().item(), { atol: 1e-12 });
    assert.ok(S.sub(weight).abs().max().item() > 0.1, 'a generic operator is not self-adjoint');
    assert.throws(() => selfAdjointPart(randn([8, 2, 3, 3]), 2), /needs an operator from C channels to C/);
  });

  it('the hyperbolicity penalty refuses a model with no operator from C channels to C', () => {
    const net = new nn.Sequential(new nn.Conv2d(3, 8, 3), new nn.Conv2d(8, 16, 3), new nn.Conv2d(16, 16, 1));
    assert.throws(() => hyperbolicityPenalty(net), /Sequential has no 3×3 operator from C channels to C/);
  });

  it('the hyperbolicity penalty vanishes on skew-adjoint operators and can be minimized', () => {
    // A symmetric matrix times ∂x is skew-adjoint: a symmetric hyperbolic system.
    const A = tensor([
      [1, 2],
      [2, -1],
    ]);
    const dx = stencilKernel('dx').reshape(1, 1, 3, 3);
    const skew = A.reshape(2, 2, 1, 1).mul(dx);
    assertClose(selfAdjointPart(skew).abs().max(), 0, { atol: 1e-7 });
    const lap = stencilKernel('laplacian', 2); // depthwise diffusion is self-adjoint
    assertClose(selfAdjointPart(lap, 2), lap);
    const net = new nn.Sequential(new nn.Conv2d(3, 3, 3), new TwistConv2d(3, 3), new nn.Conv2d(3, 5, 3));
    const initial = hyperbolicityPenalty(net).item();
    assert.ok(initial > 0);
    for (let i = 0; i < 50; i++) {
      tidy(() => {
        hyperbolicityPenalty(net).backward();
        noGrad(() => {
          for (const p of net.parameters()) if (p.grad) p.sub_(p.grad, 0.2);
        });
        net.zeroGrad();
      });
    }
    assert.ok(hyperbolicityPenalty(net).item() < 0.01 * initial, 'gradient descent removes the dissipative part');
    assert.ok((net.at(2) as nn.Conv2d).weight.abs().sum().item() > 0, 'non-square operators are not penalized');
  });
});
