// The seeds' twisted networks against their own code: the notebook's twist convolutions, BasicBlock,
// Bottleneck, PDEBlock and whole ResNets, and seed 003's coordinate-mixed Bottleneck. The fixtures are
// written by test/fixtures/make_notebook_fixture.py, which runs the reference code from the mirrors; here
// pdenet loads the same weights (the reference's state_dict names) and must give the same outputs, state
// after the forward (projected kernels, BatchNorm statistics) and gradients, to 1e-5 relative in fp32.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { io, nn, noGrad, pde, setNumThreads, type Tensor } from '../src/index.js';
import {
  _notebookResNet,
  NotebookBasicBlock,
  NotebookBottleneck,
  NotebookPDEBlock,
  type NotebookBlockClass,
  type NotebookTwistSpec,
  notebookStateDict,
} from '../src/models/notebook.js';
import { createModel } from '../src/models/registry.js';
import { applyTwistSchedule, setTwist, twistStages } from '../src/models/stages.js';
import { CoordMixBottleneck, keyFromSeed003 } from '../src/models/coordmix.js';
import { values } from './helpers.js';

setNumThreads(1);

const dir = fileURLToPath(new URL('../../test/fixtures/notebook/', import.meta.url));
const fixture = (name: string) => io.loadTorch(`${dir}${name}.pt`);

/**
 * max |a − e| / max(max |e|, floor): the relative error of a whole tensor (1e-5 is fp32 agreement of different
 * kernels). The floor keeps a gradient that is zero in exact arithmetic (a bias followed by batch
 * normalization) from turning rounding noise into a relative error of order 1 (the fp64 checks use 1e-3:
 * the gradients here are of order 0.1–10).
 */
function relError(actual: Tensor | number[], expected: Tensor | number[], floor = 0): number {
  const a = Array.isArray(actual) ? actual : values(actual);
  const e = Array.isArray(expected) ? expected : values(expected);
  assert.equal(a.length, e.length, 'sizes differ');
  let diff = 0;
  let scale = 0;
  a.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - e[i]!));
    scale = Math.max(scale, Math.abs(e[i]!));
  });
  scale = Math.max(scale, floor);
  return scale === 0 ? diff : diff / scale;
}

function assertRel(actual: Tensor | number[], expected: Tensor, what: string, tol = 1e-5, floor = 0): void {
  const err = relError(actual, expected, floor);
  assert.ok(err <= tol, `${what}: relative error ${err.toExponential(2)} > ${tol}`);
}

/** The entries of `data` under `prefix.`, with the prefix removed and the key mapped. */
function section(
  data: Map<string, Tensor>,
  prefix: string,
  map: (k: string) => string = (k) => k,
): Map<string, Tensor> {
  return new Map(
    [...data].filter(([k]) => k.startsWith(`${prefix}.`)).map(([k, v]) => [map(k.slice(prefix.length + 1)), v]),
  );
}

/**
 * pdenet's fp32 value against the reference's fp32 value to 1e-5 relative — or, where the reference's own fp32
 * value is more than 1e-6 off its fp64 value (an ill-conditioned sum, such as the stem's BatchNorm gradient
 * in a whole network), pdenet's fp32 value within max(1e-5, 4×) that distance of the fp64 value.
 */
function assertMatches(actual: Tensor, ref32: Tensor, ref64: Tensor | undefined, what: string): void {
  const err = relError(actual, ref32);
  if (err <= 1e-5) return;
  assert.ok(ref64 !== undefined, `${what}: relative error ${err.toExponential(2)} > 1e-5`);
  const own = relError(ref32, ref64);
  const ours = relError(actual, ref64);
  assert.ok(
    own > 1e-6 && ours <= Math.max(1e-5, 4 * own),
    `${what}: relative error ${err.toExponential(2)} > 1e-5 ` +
      `(to fp64: pdenet ${ours.toExponential(2)}, the reference's fp32 ${own.toExponential(2)})`,
  );
}

/**
 * Loads the fixture's weights into a module made by `make`, runs the training-mode forward and the backward
 * of sum(output · upstream), and compares output, state after the forward, parameter and input gradients
 * with the reference's fp32 run; then the same in fp64 with the reference's fp64 run, to 1e-10.
 */
function checkAgainstReference(
  make: () => nn.Module & { forward(x: Tensor): Tensor },
  name: string,
  map: (k: string) => string = (k) => k,
): void {
  const data = fixture(name);
  for (const dtype of ['float32', 'float64'] as const) {
    const wide = dtype === 'float64';
    const module = make().to(dtype);
    const cast = (t: Tensor) => (wide && t.dtype === 'float32' ? t.double() : t);
    module.loadStateDict(new Map([...section(data, 'state', map)].map(([k, v]) => [k, cast(v)])));
    module.train();
    const x = cast(data.get('input')!).clone().requiresGrad_();
    const out = module.forward(x);
    const expect = (actual: Tensor, key: string, what: string) => {
      if (wide) assertRel(actual, data.get(key.replace(/^(output|grad)/, '$164'))!, `${what} (fp64)`, 1e-10, 1e-3);
      else assertMatches(actual, data.get(key)!, data.get(key.replace(/^(output|grad)/, '$164')), what);
    };
    expect(out, 'output', `${name} output`);
    out
      .mul(cast(data.get('upstream')!))
      .sum()
      .backward();
    if (!wide) {
      const after = section(data, 'after', map);
      for (const [k, v] of module.stateDict()) assertRel(v, after.get(k)!, `${name} ${k} after the forward`);
    }
    expect(x.grad!, 'grad.input', `${name} input gradient`);
    const grads = section(data, 'grad', map);
    const inverse = new Map([...data.keys()].filter((k) => k.startsWith('grad.')).map((k) => [map(k.slice(5)), k]));
    for (const [k, p] of module.namedParameters()) {
      if (!grads.has(k)) assert.equal(p.grad, null, `${name} ${k}: the reference gives it no gradient`);
      else expect(p.grad!, inverse.get(k)!, `${name} ${k} gradient`);
    }
    module.dispose();
  }
}

const projected = (variant: 'point' | 'doubly-odd', field: 'strain' | 'conformal'): NotebookTwistSpec => ({
  variant,
  field,
  mode: 'projected',
  initStd: null,
  boundary: 'zeros',
});
const BASIC = projected('point', 'strain');
const BOTTLENECK = projected('doubly-odd', 'conformal');

function block<B extends NotebookBlockClass>(
  Block: B,
  args: [number, number, number],
  spec: NotebookTwistSpec,
  twist: boolean,
): InstanceType<B> {
  const b = new Block(...args, spec) as InstanceType<B>;
  b.twist = twist;
  return b;
}

/** A factory of {@link block}s. */
const blocks =
  <B extends NotebookBlockClass>(Block: B, args: [number, number, number], spec: NotebookTwistSpec, twist: boolean) =>
  () =>
    block(Block, args, spec, twist);

describe('notebook twist convolutions against the notebook', () => {
  for (const [name, variant, field, stride] of [
    ['twist_basic', 'point', 'strain', 2],
    ['twist_bottleneck', 'doubly-odd', 'conformal', 1],
  ] as const) {
    it(`${name}: the projected Kx and Ky, and pdenet's fused TwistConv2d on the notebook's kernels`, () => {
      const data = fixture(name);
      const kx = pde.projectKx(data.get('kx')!, variant);
      assertRel(kx, data.get('projected.kx')!, 'Kx');
      assertRel(pde.kyFromKx(kx, field), data.get('projected.ky')!, 'Ky');
      const weight = data.get('weight')!;
      const conv = new pde.TwistConv2d(weight.shape[1]!, weight.shape[0]!, {
        stride,
        variant,
        field,
        convention: 'centered',
      });
      noGrad(() => {
        conv.weight.copy_(weight);
        conv.kx.copy_(data.get('kx')!);
      });
      assertRel(
        noGrad(() => conv.forward(data.get('input')!)),
        data.get('output')!,
        `${name} output`,
      );
      conv.dispose();
    });
  }

  it("the Bottleneck's Kx is a multiple of ∂x∂y (corners only) and its Ky is −Kx", () => {
    const data = fixture('twist_bottleneck');
    const kx = values(data.get('projected.kx')!);
    const ky = values(data.get('projected.ky')!);
    for (let i = 0; i < kx.length; i += 9) {
      const [a, b, c, d, e, f, g, h, k] = kx.slice(i, i + 9) as number[];
      for (const zero of [b, d, e, f, h]) assert.equal(zero, 0);
      assert.ok(Math.abs(c! + a!) < 1e-7 && Math.abs(g! + a!) < 1e-7 && Math.abs(k! - a!) < 1e-7);
    }
    ky.forEach((v, i) => assert.ok(Math.abs(v + kx[i]!) < 1e-7));
  });
});

describe('notebook blocks against the notebook (projected twist)', () => {
  it('BasicBlock, stride 2, twisted', () =>
    checkAgainstReference(blocks(NotebookBasicBlock, [4, 8, 2], BASIC, true), 'basic_s2'));
  it('BasicBlock, stride 1, twisted', () =>
    checkAgainstReference(blocks(NotebookBasicBlock, [8, 8, 1], BASIC, true), 'basic_s1'));
  it('BasicBlock, twist off', () =>
    checkAgainstReference(blocks(NotebookBasicBlock, [8, 8, 1], BASIC, false), 'basic_plain'));
  it('Bottleneck, stride 2, twisted', () =>
    checkAgainstReference(blocks(NotebookBottleneck, [8, 4, 2], BOTTLENECK, true), 'bottleneck_s2'));
  it('PDEBlock expanding (1×1 conv0 with padding 1, stride 2), twisted', () =>
    checkAgainstReference(blocks(NotebookPDEBlock, [4, 8, 2], BASIC, true), 'pde_expand'));
  it('PDEBlock of one width, twisted', () =>
    checkAgainstReference(blocks(NotebookPDEBlock, [8, 8, 1], BASIC, true), 'pde_same'));
});

describe('notebook ResNets against the notebook', () => {
  it("the full-size networks have the notebook's parameter counts and state_dict keys", () => {
    const networks = JSON.parse(readFileSync(`${dir}networks.json`, 'utf8')) as Record<
      string,
      { params: number; keys: string[] }
    >;
    for (const [name, { params, keys }] of Object.entries(networks)) {
      const model = createModel(name);
      assert.equal(model.numParameters(), params, name);
      assert.deepEqual([...model.stateDict().keys()], keys, name);
      model.dispose();
    }
  });

  it('BasicBlock net, width 4, [1,1,1,1], twist on in layer1 and layer2', () => {
    checkAgainstReference(
      () => _notebookResNet('test', NotebookBasicBlock, [1, 1, 1, 1], { width: 4, twist: [true, true, false, false] }),
      'resnet_basic',
    );
  });
  it('Bottleneck net, width 4, [1,1,1,1], twist on in layers 1–3', () => {
    checkAgainstReference(
      () => _notebookResNet('test', NotebookBottleneck, [1, 1, 1, 1], { width: 4, twist: [true, true, true, false] }),
      'resnet_bottleneck',
    );
  });
  it('PDEBlock net, width 4, [1,1,1,0] (a stage of 0 blocks), twist on in layers 1–3', () => {
    checkAgainstReference(
      () => _notebookResNet('test', NotebookPDEBlock, [1, 1, 1, 0], { width: 4, twist: [true, true, true, false] }),
      'resnet_pde',
    );
  });

  it("loads the notebook's own torch.save(state_dict) and its checkpoint layout, and reproduces its output", () => {
    const data = fixture('resnet_basic');
    const state = io.loadTorch(`${dir}resnet_basic_state_dict.pt`);
    for (const wrap of [
      (s: Map<string, Tensor>) => s,
      (s: Map<string, Tensor>) =>
        new Map<string, unknown>([
          ['net', new Map([...s].map(([k, v]) => [`module.${k}`, v]))],
          ['acc', 90],
          ['epoch', 3n],
        ]),
    ]) {
      const model = _notebookResNet('test', NotebookBasicBlock, [1, 1, 1, 1], { width: 4 });
      model.loadStateDict(notebookStateDict(wrap(state) as Map<string, unknown>));
      assert.deepEqual(twistStages(model), [false, false, false, false]);
      setTwist(model, [true, true, false, false]);
      model.train();
      assertRel(
        noGrad(() => model.forward(data.get('input')!)),
        data.get('output')!,
        'output after loading',
      );
      model.dispose();
    }
  });
});

describe('notebook twist modes', () => {
  it("parametrized: same forward as projected; Kx's gradient is the projected gradients pulled back through P and R", () => {
    const data = fixture('basic_s1');
    const spec: NotebookTwistSpec = { ...BASIC, mode: 'parametrized' };
    const b = block(NotebookBasicBlock, [8, 8, 1], spec, true);
    b.loadStateDict(section(data, 'state'));
    b.train();
    const out = b.forward(data.get('input')!);
    assertRel(out, data.get('output')!, 'output');
    out.mul(data.get('upstream')!).sum().backward();
    const params = new Map(b.namedParameters());
    for (const n of ['conv1', 'conv2']) {
      // The reference's gradients of Kx and Ky (each of its own convolution), pulled back through Ky = R(P(w)).
      const w = data.get(`state.${n}x.weight`)!.clone().requiresGrad_();
      const kx = pde.projectKx(w, 'point');
      kx.mul(data.get(`grad.${n}x.weight`)!)
        .add(pde.kyFromKx(kx, 'strain').mul(data.get(`grad.${n}y.weight`)!))
        .sum()
        .backward();
      assertRel(params.get(`${n}x.weight`)!.grad!, w.grad!, `${n}x gradient`);
      assert.equal(params.get(`${n}y.weight`)!.grad, null, `${n}y gets no gradient`);
      assertRel(params.get(`${n}.weight`)!.grad!, data.get(`grad.${n}.weight`)!, `${n} gradient`);
    }
    b.dispose();
  });

  it("twistInitStd starts Kx's parameter at std·randn; by default it has the convolution's default scale", () => {
    const std = (t: Tensor) => Math.sqrt(values(t).reduce((s, v) => s + v * v, 0) / t.numel);
    const small = _notebookResNet('test', NotebookBasicBlock, [1, 1, 1, 1], { width: 16, twistInitStd: 0.01 });
    const dflt = _notebookResNet('test', NotebookBasicBlock, [1, 1, 1, 1], { width: 16 });
    const w = (m: nn.Module) => new Map(m.namedParameters()).get('layer2.0.conv2x.weight')!;
    assert.ok(Math.abs(std(w(small)) - 0.01) < 0.001, `std ${std(w(small))}`);
    // PyTorch's default: uniform(±1/√fan_in), std 1/√(3·fan_in) with fan_in = 32·9.
    assert.ok(Math.abs(std(w(dflt)) - 1 / Math.sqrt(3 * 32 * 9)) < 0.002, `std ${std(w(dflt))}`);
    small.dispose();
    dflt.dispose();
  });

  it('the staged twist: applyTwistSchedule sets the flags in force at each epoch', () => {
    const model = _notebookResNet('test', NotebookBasicBlock, [1, 1, 1, 1], { width: 8 });
    const schedule = [
      { epoch: 0, twist: [true, false, false, false] },
      { epoch: 5, twist: [true, true, false, false] },
    ];
    assert.deepEqual(applyTwistSchedule(model, schedule, 0), [true, false, false, false]);
    assert.deepEqual(applyTwistSchedule(model, schedule, 4), [true, false, false, false]);
    assert.deepEqual(applyTwistSchedule(model, schedule, 7), [true, true, false, false]);
    assert.throws(
      () =>
        applyTwistSchedule(
          model,
          [
            { epoch: 3, twist: true },
            { epoch: 2, twist: false },
          ],
          0,
        ),
      /epochs must increase/,
    );
    assert.throws(() => applyTwistSchedule(model, [{ epoch: 0, twist: [true] }], 0), /4 booleans/);
    model.dispose();
  });
});

describe('seed 003 against its code', () => {
  it("the coordinate-mixed Bottleneck (stride 2, downsample) with the seed's state_dict names", () => {
    checkAgainstReference(
      () =>
        new CoordMixBottleneck(
          16,
          4,
          2,
          new nn.Sequential(new nn.Conv2d(16, 16, 1, { stride: 2, bias: false }), new nn.BatchNorm2d(16)),
          { boundary: 'zeros', twist: true },
        ),
      'seed003_bottleneck',
      keyFromSeed003,
    );
  });
});
