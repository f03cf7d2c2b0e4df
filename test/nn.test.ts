import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  arange,
  F,
  manualSeed,
  memory,
  nn,
  noGrad,
  ones,
  randn,
  type Tensor,
  tensor,
  tidy,
  TorchError,
  zeros,
} from '../src/index.js';
import { assertClose, gradcheck, values } from './helpers.js';

const reference = JSON.parse(readFileSync(new URL('../../test/fixtures/nn_reference.json', import.meta.url), 'utf8'));

// A torchvision-style ResNet built from pdenet's modules, mirroring test/fixtures/make_nn_fixture.py.
class BasicBlock extends nn.Module {
  conv1: nn.Conv2d;
  bn1: nn.BatchNorm2d;
  relu: nn.ReLU;
  conv2: nn.Conv2d;
  bn2: nn.BatchNorm2d;
  downsample: nn.Module | null;
  constructor(inplanes: number, planes: number, stride = 1, downsample: nn.Module | null = null) {
    super();
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(inplanes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new nn.BatchNorm2d(planes));
    this.relu = this.registerModule('relu', new nn.ReLU());
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new nn.BatchNorm2d(planes));
    this.downsample = downsample && this.registerModule('downsample', downsample);
  }
  forward(x: Tensor): Tensor {
    const out = this.bn2.forward(this.conv2.forward(this.relu.forward(this.bn1.forward(this.conv1.forward(x)))));
    return F.relu(out.add(this.downsample ? (this.downsample.forward(x as never) as Tensor) : x));
  }
}

class ResNet extends nn.Module {
  #inplanes = 64;
  constructor(layers: number[], numClasses = 1000) {
    super();
    this.registerModule('conv1', new nn.Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.registerModule('bn1', new nn.BatchNorm2d(64));
    this.registerModule('relu', new nn.ReLU());
    this.registerModule('maxpool', new nn.MaxPool2d(3, { stride: 2, padding: 1 }));
    [64, 128, 256, 512].forEach((planes, i) =>
      this.registerModule(`layer${i + 1}`, this.#makeLayer(planes, layers[i]!, i === 0 ? 1 : 2)),
    );
    this.registerModule('avgpool', new nn.AdaptiveAvgPool2d(1));
    this.registerModule('fc', new nn.Linear(512, numClasses));
  }
  #makeLayer(planes: number, blocks: number, stride: number): nn.Sequential {
    const downsample =
      stride !== 1 || this.#inplanes !== planes
        ? new nn.Sequential(
            new nn.Conv2d(this.#inplanes, planes, 1, { stride, bias: false }),
            new nn.BatchNorm2d(planes),
          )
        : null;
    const layer = new nn.Sequential(new BasicBlock(this.#inplanes, planes, stride, downsample));
    this.#inplanes = planes;
    for (let i = 1; i < blocks; i++) layer.append(new BasicBlock(planes, planes));
    return layer;
  }
  forward(x: Tensor): Tensor {
    return x;
  }
}

class Twice extends nn.Module {
  forward(x: Tensor): Tensor {
    return x.mul(2);
  }
}

describe('Module', () => {
  it('names parameters and buffers exactly as PyTorch does for a torchvision ResNet-18', () => {
    const model = new ResNet([2, 2, 2, 2]);
    assert.deepEqual([...model.stateDict().keys()], reference.resnet18_state_dict_keys);
    assert.equal(model.numParameters(), reference.resnet18_num_parameters);
    const names = [...model.namedParameters()].map(([k]) => k);
    assert.ok(names.includes('layer2.0.downsample.0.weight') && !names.some((n) => n.includes('running')));
    model.dispose();
  });

  it('initializes Conv2d, Linear and ConvTranspose2d exactly as PyTorch with the same seed', () => {
    manualSeed(0);
    const conv = new nn.Conv2d(3, 8, 3);
    const linear = new nn.Linear(8, 10);
    const convt = new nn.ConvTranspose2d(4, 6, 3, { groups: 2 });
    for (const [layer, ref] of [
      [conv, reference.seed0_conv2d_3_8_3],
      [linear, reference.seed0_linear_8_10],
      [convt, reference.seed0_convtranspose2d_4_6_3_g2],
    ] as const) {
      assertClose(values(layer.weight).slice(0, 12), ref.weight, { atol: 1e-7, rtol: 0 });
      assertClose(layer.bias!, ref.bias, { atol: 1e-7, rtol: 0 });
    }
  });

  it('rejects dotted, empty and duplicate names', () => {
    class Bad extends nn.Module {
      constructor(name: string, twice = false) {
        super();
        this.registerParameter(name, zeros([1]));
        if (twice) this.registerBuffer(name, zeros([1]));
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    assert.throws(() => new Bad('a.b'), /must not contain "."/);
    assert.throws(() => new Bad(''), /non-empty/);
    assert.throws(() => new Bad('w', true), /already registered/);
  });

  it('lists children and modules, and switches train/eval everywhere', () => {
    const net = new nn.Sequential(new nn.Linear(2, 3), new nn.Sequential(new nn.Dropout(0.5), new nn.ReLU()));
    assert.deepEqual(
      [...net.namedModules()].map(([n]) => n),
      ['', '0', '1', '1.0', '1.1'],
    );
    assert.deepEqual(
      [...net.namedChildren()].map(([n]) => n),
      ['0', '1'],
    );
    net.eval();
    assert.ok([...net.modules()].every((m) => !m.training));
    const x = ones([4, 2]);
    assert.deepEqual(values(net.forward(x)), values(net.forward(x)), 'dropout is off in eval mode');
    net.train();
    assert.ok([...net.modules()].every((m) => m.training));
  });

  it('saves and loads state dicts, listing what does not fit and changing nothing then', () => {
    const a = new nn.Sequential(new nn.Conv2d(2, 3, 3), new nn.BatchNorm2d(3));
    const b = new nn.Sequential(new nn.Conv2d(2, 3, 3), new nn.BatchNorm2d(3));
    noGrad(() => (a.at(1) as nn.BatchNorm2d).runningMean!.fill_(0.25));
    b.loadStateDict(a.stateDict());
    for (const [k, t] of a.stateDict()) assert.deepEqual(values(b.stateDict().get(k)!), values(t), k);

    const before = values((b.at(0) as nn.Conv2d).weight);
    const wrong = new Map(a.stateDict());
    wrong.set('0.weight', zeros([3, 2, 5, 5]));
    wrong.delete('1.running_var');
    wrong.set('extra.weight', zeros([1]));
    assert.throws(
      () => b.loadStateDict(wrong),
      (e: unknown) =>
        e instanceof TorchError &&
        /0\.weight: this module has shape \[3, 2, 3, 3\], the state dict \[3, 2, 5, 5\]/.test(e.message) &&
        /missing keys: 1\.running_var/.test(e.message) &&
        /unexpected keys: extra\.weight/.test(e.message),
    );
    assert.deepEqual(values((b.at(0) as nn.Conv2d).weight), before, 'nothing changed');

    wrong.set('0.weight', zeros([3, 2, 3, 3]));
    const result = b.loadStateDict(wrong, { strict: false });
    assert.deepEqual(result, { missingKeys: ['1.running_var'], unexpectedKeys: ['extra.weight'] });
    assert.equal((b.at(0) as nn.Conv2d).weight.abs().sum().item(), 0);
  });

  it('converts dtype in place, keeping tensor identity', () => {
    const lin = new nn.Linear(3, 2);
    const w = lin.weight;
    lin.to('float64');
    assert.equal(lin.weight, w);
    assert.equal(w.dtype, 'float64');
    assert.equal(w.requiresGrad, true);
    assert.equal(lin.forward(ones([1, 3], { dtype: 'float64' })).dtype, 'float64');
    const bn = new nn.BatchNorm2d(2).to('float64');
    assert.equal(bn.runningMean!.dtype, 'float64');
    assert.equal(bn.numBatchesTracked!.dtype, 'int64', 'integer buffers stay');
  });

  it('summarizes output shapes and parameter counts, and prints a tree', () => {
    const net = new nn.Sequential(
      new nn.Conv2d(3, 4, 3, { padding: 1 }),
      new nn.MaxPool2d(2),
      new nn.Flatten(),
      new nn.Linear(64, 5),
    );
    const s = net.summary([1, 3, 8, 8]);
    assert.deepEqual(
      s.rows.map((r) => r.outputShape),
      [
        [1, 5],
        [1, 4, 8, 8],
        [1, 4, 4, 4],
        [1, 64],
        [1, 5],
      ],
    );
    assert.deepEqual(
      s.rows.map((r) => r.params),
      [0, 4 * 3 * 9 + 4, 0, 0, 64 * 5 + 5],
    );
    assert.equal(s.totalParams, 4 * 27 + 4 + 325);
    assert.match(s.text, /total parameters: 437/);
    assert.equal(net.training, true, 'summary restores the mode');
    assert.match(String(net), /\(0\): Conv2d\(3, 4, kernelSize=\[3,3\]/);
  });

  it("summary puts every module back in its own mode, not the root's", () => {
    const frozen = new nn.BatchNorm2d(4).eval();
    const net = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), frozen, new nn.ReLU());
    net.summary([1, 3, 8, 8]);
    assert.deepEqual(
      [...net.modules()].map((m) => m.training),
      [true, true, false, true],
      'the frozen BatchNorm stays in eval mode, the rest in training mode',
    );
    net.eval();
    net.at(0).train();
    net.summary([1, 3, 8, 8]);
    assert.deepEqual(
      [...net.modules()].map((m) => m.training),
      [false, true, false, false],
    );
  });

  it('runs forward hooks until removed', () => {
    const m = new Twice();
    const seen: number[][] = [];
    const handle = m.registerForwardHook((_m, _inputs, out) => seen.push((out as Tensor).shape));
    m.forward(ones([2, 3]));
    handle.remove();
    m.forward(ones([4]));
    assert.deepEqual(seen, [[2, 3]]);
  });

  it('disposes its tensors and survives tidy scopes', () => {
    const before = memory().liveTensors;
    const lin = tidy(() => new nn.Linear(4, 4));
    assert.equal(lin.weight.isDisposed, false, 'parameters are exempt from tidy');
    assert.equal(memory().liveTensors, before + 2);
    lin.dispose();
    assert.equal(memory().liveTensors, before);
  });
});

describe('layers', () => {
  it('Linear computes x·Wᵀ + b', () => {
    const lin = new nn.Linear(3, 2);
    noGrad(() => {
      lin.weight.copy_(
        tensor([
          [1, 2, 3],
          [4, 5, 6],
        ]),
      );
      lin.bias!.copy_(tensor([0.5, -1]));
    });
    assertClose(lin.forward(tensor([[1, 0, -1]])), [[1 - 3 + 0.5, 4 - 6 - 1]]);
    assert.equal(new nn.Linear(3, 2, { bias: false }).bias, null);
    assert.throws(() => new nn.Linear(0, 2), /positive integer/);
  });

  it('Conv2d honours every boundary condition', () => {
    // One input channel, a kernel that reads only the left neighbour: out[i][j] = u[i][j-1].
    const u = arange(9, undefined, 1, { dtype: 'float32' }).reshape(1, 1, 3, 3);
    const expected: Record<nn.PaddingMode, number[][]> = {
      zeros: [
        [0, 0, 1],
        [0, 3, 4],
        [0, 6, 7],
      ],
      reflect: [
        [1, 0, 1],
        [4, 3, 4],
        [7, 6, 7],
      ],
      replicate: [
        [0, 0, 1],
        [3, 3, 4],
        [6, 6, 7],
      ],
      circular: [
        [2, 0, 1],
        [5, 3, 4],
        [8, 6, 7],
      ],
    };
    for (const mode of ['zeros', 'reflect', 'replicate', 'circular'] as const) {
      const conv = new nn.Conv2d(1, 1, 3, { padding: 1, paddingMode: mode, bias: false });
      noGrad(() =>
        conv.weight.copy_(
          tensor([
            [0, 0, 0],
            [1, 0, 0],
            [0, 0, 0],
          ]).reshape(1, 1, 3, 3),
        ),
      );
      assertClose(conv.forward(u), [[expected[mode]]], { message: mode });
    }
    assert.throws(() => new nn.Conv2d(4, 6, 3, { groups: 4 }), /outChannels \(6\) must be divisible by groups \(4\)/);
    assert.throws(() => new nn.Conv2d(1, 1, 3, { paddingMode: 'mirror' as nn.PaddingMode }), /paddingMode/);
  });

  it('Conv2d and ConvTranspose2d name a kernel size, stride, dilation or padding that is not a size', () => {
    const rejects = (make: () => unknown, op: string, message: string) =>
      assert.throws(make, (e: unknown) => e instanceof TorchError && e.op === op && e.message === `${op}: ${message}`);
    const conv =
      (kernelSize: unknown, options: object = {}) =>
      () =>
        new nn.Conv2d(2, 2, kernelSize as number, options as nn.ConvOptions);
    rejects(conv(0), 'Conv2d', 'kernelSize must be a positive integer or a pair of them, got 0');
    rejects(conv(2.5), 'Conv2d', 'kernelSize must be a positive integer or a pair of them, got 2.5');
    rejects(conv([3]), 'Conv2d', 'kernelSize must be a positive integer or a pair of them, got [3]');
    rejects(conv('3'), 'Conv2d', 'kernelSize must be a positive integer or a pair of them, got "3"');
    rejects(conv(3, { stride: 0 }), 'Conv2d', 'stride must be a positive integer or a pair of them, got 0');
    rejects(conv(3, { stride: [1, -2] }), 'Conv2d', 'stride must be a positive integer or a pair of them, got [1, -2]');
    rejects(
      conv(3, { dilation: [1, 1.5] }),
      'Conv2d',
      'dilation must be a positive integer or a pair of them, got [1, 1.5]',
    );
    rejects(conv(3, { padding: -1 }), 'Conv2d', 'padding must be a non-negative integer or a pair of them, got -1');
    rejects(
      conv(3, { padding: [1, null] }),
      'Conv2d',
      'padding must be a non-negative integer or a pair of them, got [1, null]',
    );
    rejects(
      conv(3, { padding: 'full' }),
      'Conv2d',
      'padding must be "same", "valid", a non-negative integer or a pair of them, got "full"',
    );
    const transposed = (options: object) => () => new nn.ConvTranspose2d(2, 2, 3, options as nn.ConvTransposeOptions);
    rejects(
      () => new nn.ConvTranspose2d(2, 2, [3, 0]),
      'ConvTranspose2d',
      'kernelSize must be a positive integer or a pair of them, got [3, 0]',
    );
    rejects(transposed({ stride: 0 }), 'ConvTranspose2d', 'stride must be a positive integer or a pair of them, got 0');
    rejects(
      transposed({ dilation: -1 }),
      'ConvTranspose2d',
      'dilation must be a positive integer or a pair of them, got -1',
    );
    rejects(
      transposed({ padding: 0.5 }),
      'ConvTranspose2d',
      'padding must be a non-negative integer or a pair of them, got 0.5',
    );
    rejects(
      transposed({ outputPadding: [-1, 0] }),
      'ConvTranspose2d',
      'outputPadding must be a non-negative integer or a pair of them, got [-1, 0]',
    );
    // The edges of the ranges are accepted.
    const ok = new nn.Conv2d(2, 2, [1, 3], { stride: [1, 2], padding: [0, 1], dilation: 1 });
    assert.deepEqual(ok.forward(ones([1, 2, 5, 5])).shape, [1, 2, 5, 3]);
    const up = new nn.ConvTranspose2d(2, 2, 3, { stride: 2, padding: 0, outputPadding: 1 });
    assert.deepEqual(up.forward(ones([1, 2, 4, 4])).shape, [1, 2, 10, 10]);
  });

  it('Conv2d with padding "same" keeps the size for any boundary condition', () => {
    for (const mode of ['zeros', 'reflect'] as const) {
      const conv = new nn.Conv2d(2, 3, [3, 4], { padding: 'same', paddingMode: mode, dilation: 2 });
      assert.deepEqual(conv.forward(randn([1, 2, 9, 10])).shape, [1, 3, 9, 10], mode);
    }
  });

  it('BatchNorm2d running statistics follow the closed form', () => {
    const bn = new nn.BatchNorm2d(2, { momentum: 0.1 });
    // Channel 0 holds 1..8, channel 1 holds 2·(1..8): means 4.5 and 9, unbiased variances 6 and 24.
    const x = arange(1, 9, 1, { dtype: 'float32' })
      .reshape(2, 1, 2, 2)
      .repeat(1, 2, 1, 1)
      .mul(tensor([1, 2]).reshape(1, 2, 1, 1));
    const n = 5;
    for (let i = 0; i < n; i++) tidy(() => bn.forward(x));
    const decay = 0.9 ** n;
    assertClose(bn.runningMean!, [(1 - decay) * 4.5, (1 - decay) * 9]);
    assertClose(bn.runningVar!, [decay + (1 - decay) * 6, decay + (1 - decay) * 24], { rtol: 1e-5 });
    assert.equal(bn.numBatchesTracked!.item(), n);
    const y = bn.forward(x);
    assertClose(y.mean([0, 2, 3]), [0, 0], { atol: 1e-6 });
    bn.eval();
    const rm = values(bn.runningMean!),
      rv = values(bn.runningVar!);
    const ev = bn.forward(x);
    assertClose(
      ev.select(1, 0).flatten(),
      [1, 2, 3, 4, 5, 6, 7, 8].map((v) => (v - rm[0]!) / Math.sqrt(rv[0]! + 1e-5)),
      { rtol: 1e-5 },
    );

    const cumulative = new nn.BatchNorm2d(2, { momentum: null });
    tidy(() => cumulative.forward(x));
    tidy(() => cumulative.forward(x.mul(3)));
    assertClose(cumulative.runningMean!, [(4.5 + 13.5) / 2, (9 + 27) / 2]);
  });

  it('GroupNorm, LayerNorm, pools, activations and dropout behave as their functional forms', () => {
    const x = randn([2, 4, 3, 3]);
    assertClose(new nn.GroupNorm(2, 4).forward(x), F.groupNorm(x, 2));
    assertClose(new nn.LayerNorm([3, 3]).forward(x), F.layerNorm(x, [3, 3]));
    assertClose(new nn.AvgPool2d(3).forward(x).flatten(), x.mean([2, 3]).flatten());
    assertClose(new nn.MaxPool2d(3).forward(x).flatten(), x.amax([2, 3]).flatten());
    assertClose(new nn.AdaptiveAvgPool2d(1).forward(x), x.mean([2, 3], { keepdim: true }));
    assertClose(new nn.GELU('tanh').forward(x), F.gelu(x, 'tanh'));
    assertClose(new nn.SiLU().forward(x), x.mul(x.sigmoid()));
    assertClose(new nn.Tanh().forward(x), x.tanh());
    assert.equal(new nn.Identity().forward(x), x);
    const drop = new nn.Dropout(0.25);
    const kept = drop
      .forward(ones([10000]))
      .gt(0)
      .float()
      .mean()
      .item();
    assert.ok(Math.abs(kept - 0.75) < 0.03, `kept ${kept}`);
    assert.throws(() => new nn.Dropout(1.5), /p must be in \[0, 1\]/);
  });

  it('gradients flow correctly through a composite module (finite differences, float64)', () => {
    manualSeed(1);
    const net = new nn.Sequential(
      new nn.Conv2d(2, 3, 3, { padding: 1, paddingMode: 'reflect' }),
      new nn.BatchNorm2d(3),
      new nn.GELU(),
      new nn.Conv2d(3, 2, 3, { stride: 2, padding: 1, paddingMode: 'circular', groups: 1 }),
      new nn.GroupNorm(1, 2),
      new nn.AdaptiveAvgPool2d(1),
      new nn.Flatten(),
      new nn.Linear(2, 3),
    ).to('float64');
    const x = randn([2, 2, 5, 5], { dtype: 'float64', requiresGrad: true });
    const w = randn([2, 3], { dtype: 'float64' });
    const conv0 = net.at(0) as nn.Conv2d;
    gradcheck(
      (input, weight) => {
        void weight;
        return net.forward(input).mul(w).sum();
      },
      [x, conv0.weight],
    );
  });
});

describe('memory format', () => {
  it('channels-last keeps shape and values; convolutions give the same result in either layout', () => {
    manualSeed(5);
    const x = randn([2, 3, 5, 4]);
    const cl = x.contiguous('channelsLast');
    assert.deepEqual(cl.shape, [2, 3, 5, 4]);
    assert.ok(cl.isContiguousAs('channelsLast') && !cl.isContiguous);
    assert.ok(x.isContiguousAs('contiguous') && !x.isContiguousAs('channelsLast'));
    assert.deepEqual(values(cl), values(x));
    const conv = new nn.Conv2d(3, 6, 3, { padding: 1 });
    const expected = noGrad(() => values(conv.forward(x)));
    const weight = conv.weight;
    conv.toMemoryFormat('channelsLast');
    assert.equal(conv.weight, weight, 'the parameter keeps its identity');
    assert.ok(conv.weight.isContiguousAs('channelsLast'));
    const y = noGrad(() => conv.forward(x));
    assert.ok(y.isContiguousAs('channelsLast'), 'a channels-last kernel makes a channels-last output');
    assertClose(y, expected, { atol: 1e-5 });
    assert.throws(() => tensor([1, 2]).contiguous('channelsLast'), /channelsLast needs a 4-D tensor, got 1-D/);
    for (const t of [x, cl, y]) t.dispose();
    conv.dispose();
  });
});
