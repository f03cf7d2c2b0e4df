// DynamicBlocks against the reference code itself: outputs, parameter gradients, running statistics,
// setTimeSteps, weight_variance, whole RKNets and clipping, from test/fixtures/make_dynamicblocks_fixture.py
// (EmoryMLIP/DynamicBlocks@52acc9f run under PyTorch), compared at 1e-5 relative in fp32.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dynamics, F, grad, io, models, type Tensor } from '../src/index.js';
import type { Module } from '../src/nn/module.js';
import { values } from './helpers.js';

const { DynamicBlock, LAYERS, TvNorm, ConnectingLayer, RKNet, referenceStateDict } = dynamics;
const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/dynamicblocks');

interface Fixture {
  t: Map<string, Tensor>;
  config: Record<string, unknown>;
  get(name: string): Tensor;
  /** The entries under `prefix.`, without it. */
  under(prefix: string): Map<string, Tensor>;
}

function fixture(name: string): Fixture {
  const { tensors, metadata } = io.loadSafetensors(join(DIR, `${name}.safetensors`));
  return {
    t: tensors,
    config: JSON.parse(metadata.config!) as Record<string, unknown>,
    get(n) {
      const v = tensors.get(n);
      assert.ok(v !== undefined, `${name}: no tensor ${n}`);
      return v;
    },
    under(prefix) {
      return new Map(
        [...tensors].filter(([k]) => k.startsWith(`${prefix}.`)).map(([k, v]) => [k.slice(prefix.length + 1), v]),
      );
    },
  };
}

/**
 * max |a − e| ≤ 1e-5 · max |e|: relative to the expected tensor's largest magnitude, or to `floor` when that is
 * larger (a bias just before a BatchNorm has a gradient that is zero but for rounding: its scale is the
 * other gradients': the case's largest parameter gradient).
 */
function assertRel(actual: Tensor | number[], expected: Tensor | number[], what: string, floor = 0, rel = 1e-5): void {
  const a = Array.isArray(actual) ? actual : values(actual);
  const e = Array.isArray(expected) ? expected : values(expected);
  assert.equal(a.length, e.length, `${what}: ${a.length} values, expected ${e.length}`);
  const scale = Math.max(...e.map(Math.abs), floor, 1e-30);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - e[i]!));
  assert.ok(
    worst <= rel * scale,
    `${what}: max difference ${worst.toExponential(3)} > ${rel} × ${scale.toExponential(3)}`,
  );
}

/** Loads the fixture's `state.*` (reference names) into `module`. */
function loadReference(module: Module, f: Fixture): void {
  module.loadStateDict(referenceStateDict(module, f.under('state')));
}

/** Forward of `run` on the fixture's input, backward of sum(out · upstream) (or `loss`), compared. */
function checkForwardBackward(
  f: Fixture,
  module: Module,
  run: (x: Tensor) => Tensor,
  loss?: (out: Tensor) => Tensor,
): Tensor {
  const x = f.get('input').detach().requiresGrad_(true);
  const out = run(x);
  assertRel(out, f.get('output'), 'output');
  const named = [...module.namedParameters()];
  const objective = loss ? loss(out) : out.mul(f.get('upstream')).sum();
  const grads = grad(objective, [x, ...named.map(([, p]) => p)], { allowUnused: true });
  assertRel(grads[0]!, f.get('grad.input'), 'd/d input');
  const expected = f.under('grad');
  assert.deepEqual(
    named.map(([n]) => n).sort(),
    [...expected.keys()].filter((k) => k !== 'input').sort(),
    'parameter names',
  );
  const largest = Math.max(...[...expected.values()].map((g) => Math.max(...values(g).map(Math.abs))));
  named.forEach(([n, p], i) => assertRel(grads[i + 1] ?? p.mul(0), expected.get(n)!, `d/d ${n}`, largest));
  return out;
}

/** Every `after.*` running statistic of the fixture against the module's. */
function checkStats(module: Module, expected: Map<string, Tensor>, what: string): void {
  const own = module.stateDict();
  let n = 0;
  for (const [k, v] of expected) {
    if (!/running_(mean|var)$/.test(k)) continue;
    assertRel(own.get(k)!, v, `${what} ${k}`);
    n++;
  }
  return void n;
}

describe('DynamicBlocks reference: layers', () => {
  it('TvNorm: a fixed scale (buffer) and a learned bias', () => {
    const f = fixture('tvnorm');
    const m = new TvNorm(5);
    loadReference(m, f);
    assert.deepEqual(
      [...m.namedParameters()].map(([n]) => n),
      ['bias'],
    );
    checkForwardBackward(f, m, (x) => m.forward(x));
  });

  for (const layer of ['double', 'doublesym', 'preactdouble'] as const) {
    for (const norm of ['tv', 'batch'] as const) {
      it(`${layer} with ${norm}: output, gradients, running statistics`, () => {
        const f = fixture(`${layer}-${norm}`);
        const m = new LAYERS[layer](4, { norm });
        loadReference(m, f);
        checkForwardBackward(f, m, (x) => m.forward(x));
        checkStats(m, f.under('after'), layer);
      });
    }
  }

  it('ConnectingLayer: conv with bias, BatchNorm(ε = 1e-4), ReLU', () => {
    const f = fixture('connecting');
    const m = new ConnectingLayer(3, 5, 3);
    loadReference(m, f);
    checkForwardBackward(f, m, (x) => m.forward(x));
    checkStats(m, f.under('after'), 'connecting');
  });
});

const SCHEME_LAYER: Record<string, dynamics.LayerKind> = { DoubleLayer: 'double', DoubleSymLayer: 'doublesym' };

describe('DynamicBlocks reference: rk1 and rk4 blocks on non-uniform tY, tTheta ≠ tY', () => {
  for (const name of ['rk4-doublesym-tv', 'rk4-double-batch', 'rk1-double-batch', 'rk1-doublesym-tv']) {
    it(`${name}: forward, gradients, weight_variance, stage statistics, eval, setTimeSteps`, () => {
      const f = fixture(`block-${name}`);
      const c = f.config as {
        scheme: 'rk1' | 'rk4';
        layer: string;
        norm: dynamics.NormKind;
        channels: number;
        tTheta: number[];
        tY: number[];
        newTY: number[];
        newTTheta: number[];
        lastUnused: boolean;
      };
      const Layer = LAYERS[SCHEME_LAYER[c.layer]!];
      const block = new DynamicBlock(() => new Layer(c.channels, { norm: c.norm }), {
        tY: c.tY,
        tTheta: c.tTheta,
        integrator: c.scheme,
      });
      loadReference(block, f);
      checkForwardBackward(f, block, (x) => block.forward(x));

      // weight_variance: h_k · ‖θ_k − θ_{k+1}‖₁ per interval, and the gradient of its sum
      const wv = block.weightVariance();
      assertRel(wv, f.get('weight_variance'), 'weight_variance');
      const named = [...block.namedParameters()];
      const g = grad(
        wv.sum(),
        named.map(([, p]) => p),
        { allowUnused: true },
      );
      named.forEach(([n, p], i) => assertRel(g[i] ?? p.mul(0), f.get(`wvgrad.${n}`), `d weight_variance / d ${n}`));

      // each RK stage's own running statistics (BatchNorm)
      const stages = f.under('stage');
      const own = block.stateDict();
      const perStep = c.scheme === 'rk4' ? 4 : 1;
      for (const [k, v] of stages) {
        const [i, ...rest] = k.split('.');
        const step = Math.floor(Number(i) / perStep);
        const key =
          perStep === 1
            ? `stateLayers.${step}.${rest.join('.')}`
            : `stateLayers.${step}.${Number(i) % perStep}.${rest.join('.')}`;
        assert.ok(own.has(key), `stage statistics ${key}`);
        assertRel(own.get(key)!, v, key);
      }
      assert.equal(stages.size > 0, c.norm === 'batch');

      block.eval();
      assertRel(block.forward(f.get('input')), f.get('eval_output'), 'eval output');

      block.setTimeSteps(c.newTY, c.newTTheta, { lastUnused: c.lastUnused });
      const retimed = referenceStateDict(block, f.under('retimed'));
      const mine = block.stateDict();
      for (const [k, v] of retimed) assertRel(mine.get(k)!, v, `retimed ${k}`);
      block.train();
      assertRel(block.forward(f.get('input')), f.get('retimed_output'), 'retimed output');
      block.eval();
      assertRel(block.forward(f.get('input')), f.get('retimed_eval_output'), 'retimed eval output');
    });
  }
});

describe('DynamicBlocks reference: RKNet', () => {
  for (const name of ['rknet-rk4', 'rknet-rk1']) {
    it(`${name}: the reference's state_dict (.pt) loads; loss with regularization, gradients, eval, clipping`, () => {
      const f = fixture(name);
      const c = f.config as {
        tY: number[];
        tTheta: number[];
        vFeat: number[];
        dynamicScheme: 'rk1' | 'rk4';
        layer: string;
        dynamicParams: string | null;
        regularization_param: number;
      };
      const net = new RKNet({
        channels: c.vFeat,
        tY: c.tY,
        tTheta: c.tTheta,
        integrator: c.dynamicScheme,
        layer: SCHEME_LAYER[c.layer],
        norm: c.dynamicParams === 'Batch' ? 'batch' : 'tv',
      });
      net.loadStateDict(referenceStateDict(net, io.loadTorch(join(DIR, `${name}.pt`))));
      const labels = f.get('labels');
      checkForwardBackward(
        f,
        net,
        (x) => net.forward(x),
        (out) => F.crossEntropy(out, labels).add(net.timeRegularization(), c.regularization_param),
      );
      assertRel(net.timeRegularization().reshape(1), f.get('regularization'), 'regularization');
      net.eval();
      assertRel(net.forward(f.get('input')), f.get('eval_output'), 'eval output');

      for (const [, p] of net.namedParameters()) p.detach().mul_(8);
      const unclipped = referenceStateDict(net, f.under('unclipped'));
      const before = net.stateDict();
      for (const [k, v] of unclipped) assertRel(before.get(k)!, v, `before clipping ${k}`);
      net.clip();
      const clipped = referenceStateDict(net, f.under('clipped'));
      const after = net.stateDict();
      let changed = 0;
      for (const [k, v] of clipped) {
        assertRel(after.get(k)!, v, `clipped ${k}`);
        if (values(v).some((x, i) => x !== values(unclipped.get(k)!)[i])) changed++;
      }
      assert.ok(changed > 5, `clipping changed ${changed} tensors`);
    });
  }

  it('the default network is the reference runDefault one: 251,866 parameters, its names', () => {
    const summary = JSON.parse(readFileSync(join(DIR, 'summary.json'), 'utf8')) as { rknet_default_params: number };
    const model = models.createModel('rknet');
    assert.equal(model.numParameters(), summary.rknet_default_params);
    assert.equal(summary.rknet_default_params, 251866);
    const names = [...model.stateDict().keys()];
    for (const n of [
      'open.conv.bias',
      'open.normLayer.running_var',
      'dynamicBlocks.2.controlLayers.4.weight',
      'dynamicBlocks.0.controlLayers.0.normLayer.weight',
      'connectors.2.conv.weight',
      'linear.bias',
    ]) {
      assert.ok(names.includes(n), n);
    }
    assert.equal((model as InstanceType<typeof RKNet>).nBlocks, 3);
    model.dispose();
  });
});
