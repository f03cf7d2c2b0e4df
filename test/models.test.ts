// The model zoo: PyTorch's parameter counts and names, forward/backward of every model under every
// boundary condition with the twist on and off, twist switching in place, and FLOPs counting.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { F, manualSeed, nn, noGrad, pde, randn, setNumThreads, type Tensor, TorchError } from '../src/index.js';
import {
  countFlops,
  createModel,
  keyFromNotebook,
  keyFromSeed003,
  keyFromTrainRef,
  listModels,
  modelInfo,
  modelNames,
  type ModelOptions,
  setTwist,
  twistableStages,
  twistOn,
  twistStages,
  type ImageModel,
} from '../src/models/index.js';
import { assertClose, values } from './helpers.js';

// These models are tiny (width 4, 16×16): one thread is many times faster than several, whose
// synchronization dominates, badly so on a loaded machine. node --test runs each file in its own process.
setNumThreads(1);

const reference = JSON.parse(
  readFileSync(new URL('../../test/fixtures/models_reference.json', import.meta.url), 'utf8'),
);
const BOUNDARIES = ['zeros', 'reflect', 'replicate', 'circular'] as const;

function keys(model: nn.Module): string[] {
  return [...model.stateDict().keys()];
}

function parameterNames(model: nn.Module): string[] {
  return [...model.namedParameters()].map(([k]) => k);
}

/** Runs `fn` with a model and disposes the model afterwards. */
function using<T>(model: ImageModel, fn: (m: ImageModel) => T): T {
  try {
    return fn(model);
  } finally {
    model.dispose();
  }
}

function evalOutput(model: ImageModel, x: Tensor): number[] {
  model.eval();
  return noGrad(() => {
    const y = model.forward(x);
    const v = values(y);
    y.dispose();
    return v;
  });
}

function maxAbsDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

describe('model zoo registry', () => {
  it('lists every model and builds each by name', () => {
    assert.deepEqual(modelNames(), [
      'resnet18',
      'resnet34',
      'resnet50',
      'resnet101',
      'resnet152',
      'preact-resnet18',
      'preact-resnet34',
      'resnet10s',
      'notebook-resnet18',
      'notebook-resnet34',
      'notebook-resnet50',
      'notebook-resnet101',
      'notebook-resnet152',
      'notebook-pdenet',
      'resnet20',
      'resnet32',
      'resnet44',
      'resnet56',
      'resnet110',
      'resnet50-seed003',
      'pdenet-s',
      'pdenet-m',
      'speednet',
      'rknet',
    ]);
    const info = modelInfo('resnet20', { twisted: true });
    assert.equal(info.params, reference.he_params_plain.resnet20);
    assert.equal(info.paramsTwisted, reference.he_params_twisted.resnet20);
    assert.equal(info.flops, reference.he_resnet20_flops);
    assert.deepEqual(info.inputShape, [1, 3, 32, 32]);
    const seed = modelInfo('resnet50-seed003', { flops: false });
    assert.equal(seed.flops, null);
    assert.equal(seed.params, reference.seed003_resnet50_params_10);
    assert.deepEqual(seed.inputShape, [1, 3, 224, 224]);
    assert.equal(typeof listModels, 'function'); // listModels() = modelInfo of every name (slow: builds them all)
  });

  it('rejects unknown names and bad options with the valid ones', () => {
    assert.throws(
      () => createModel('resnet19'),
      (e: unknown) =>
        e instanceof TorchError &&
        e.message.includes('resnet18') &&
        e.message.includes('pdenet-s') &&
        e.message.includes('resnet50-seed003'),
    );
    const bad: [string, ModelOptions, string][] = [
      ['resnet20', { numClasses: 0 }, 'numClasses'],
      ['resnet20', { twist: [true, false] }, '3 booleans'],
      ['resnet18', { twist: [true, true, true] }, '4 booleans'],
      ['resnet20', { boundary: 'mirror' as never }, 'zeros, reflect, replicate, circular'],
      ['resnet20', { twistVariant: 'rotate' as never }, 'point, doubly-odd, mirror'],
      ['resnet20', { twistMode: 'projected' }, 'notebook-* models only'],
      ['notebook-resnet18', { twistMode: 'frozen' as never }, 'projected, parametrized'],
      ['notebook-resnet18', { twistInitStd: -1 }, 'twistInitStd'],
      ['resnet20', { width: 0 }, 'width'],
      ['pdenet-s', { width: 6 }, 'divisible by 4'],
      [
        'resnet20',
        { depth: 3 } as never,
        'numClasses, twist, twistable, twistVariant, twistField, twistMode, twistInitStd, boundary, width, rknet',
      ],
      ['resnet20', { twist: true, twistable: false }, 'twistable'],
      ['pdenet-s', { twistable: false }, 'twistable'],
    ];
    for (const [name, options, expected] of bad) {
      assert.throws(
        () => createModel(name, options),
        (e: unknown) => e instanceof TorchError && e.message.includes(expected),
        `${name} ${JSON.stringify(options)}`,
      );
    }
  });
});

describe('model zoo: PyTorch parameter counts and names', () => {
  it("kuangliu ResNet-18 has 11,173,962 parameters and kuangliu's names", () => {
    using(createModel('resnet18'), (model) => {
      assert.equal(model.numParameters(), 11_173_962);
      assert.equal(reference.kuangliu_params.resnet18, 11_173_962);
      assert.deepEqual(keys(model), reference.kuangliu_resnet18_state_dict_keys);
      assert.deepEqual(parameterNames(model), reference.kuangliu_resnet18_parameter_names);
    });
    // Twisted: kuangliu's names plus one `kx` beside each 3×3 convolution of the residual path.
    using(createModel('resnet18', { twist: true }), (model) => {
      const expected = (reference.kuangliu_resnet18_parameter_names as string[]).flatMap((k) =>
        /^layer\d\.\d\.conv\d\.weight$/.test(k) ? [k, k.replace(/weight$/, 'kx')] : [k],
      );
      assert.deepEqual(parameterNames(model), expected);
    });
  });

  it('kuangliu ResNet-34/50/101/152 count as PyTorch', () => {
    for (const name of ['resnet34', 'resnet50', 'resnet101', 'resnet152']) {
      using(createModel(name), (model) => assert.equal(model.numParameters(), reference.kuangliu_params[name], name));
    }
  });

  it('He et al. ResNet-20…110 count as train_ref.py, plain and twisted, with its names', () => {
    assert.equal(reference.he_params_plain.resnet20, 272_474);
    for (const name of ['resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110']) {
      using(createModel(name), (model) => assert.equal(model.numParameters(), reference.he_params_plain[name], name));
      using(createModel(name, { twist: true }), (model) =>
        assert.equal(model.numParameters(), reference.he_params_twisted[name], `${name} twisted`),
      );
    }
    const refKeys = (reference.he_resnet20_state_dict_keys_twisted as string[]).map(keyFromTrainRef);
    using(createModel('resnet20', { twist: true }), (model) =>
      assert.deepEqual([...keys(model)].sort(), [...refKeys].sort()),
    );
    using(createModel('resnet20'), (model) =>
      assert.deepEqual(
        keys(model),
        refKeys.filter((k) => !k.endsWith('.kx')),
      ),
    );
  });

  it('the notebook layout counts as pytorch_twist.py without conv1y/conv2y, and maps its names', () => {
    for (const name of ['preact-resnet18', 'resnet10s']) {
      // preact-resnet34 is only deeper: in the fixture, not built here
      const plain = reference.notebook_params_plain[name];
      using(createModel(name), (model) => assert.equal(model.numParameters(), plain, name));
      // Twistable: K and Kx per layer, where the reference has K, Kx and Ky.
      using(createModel(name, { twist: true }), (model) =>
        assert.equal(
          model.numParameters(),
          (plain + reference.notebook_params_with_conv_x_y[name]) / 2,
          `${name} twisted`,
        ),
      );
    }
    const mapped = (reference.notebook_resnet10s_state_dict_keys as string[])
      .map(keyFromNotebook)
      .filter((k) => k !== null);
    using(createModel('resnet10s', { twist: true }), (model) => assert.deepEqual(keys(model), mapped));
  });

  it("resnet50-seed003 has torchvision's skeleton and the seed's parameter count", () => {
    using(createModel('resnet50-seed003', { numClasses: 1000 }), (model) => {
      assert.equal(model.numParameters(), reference.seed003_resnet50_params_1000);
      const ours = keys(model);
      assert.deepEqual(
        [...ours].sort(),
        (reference.seed003_resnet50_state_dict_keys as string[]).map(keyFromSeed003).sort(),
      );
      // Without the mix, and with the depthwise kernel under torchvision's name, it is torchvision's list, in order.
      const skeleton = ours
        .filter((k) => !k.endsWith('.conv2.mix.weight'))
        .map((k) => k.replace('.conv2.conv.weight', '.conv2.weight'));
      assert.deepEqual(skeleton, reference.torchvision_resnet50_state_dict_keys);
    });
  });
});

// Forward + backward of every model under every boundary condition, twisted and plain: small widths and
// images, batch 2.
const SMALL: Record<string, { width: number; size: number }> = {
  resnet18: { width: 4, size: 16 },
  resnet34: { width: 4, size: 16 },
  resnet50: { width: 4, size: 16 },
  resnet101: { width: 4, size: 16 },
  resnet152: { width: 4, size: 16 },
  'preact-resnet18': { width: 4, size: 16 },
  'preact-resnet34': { width: 4, size: 16 },
  resnet10s: { width: 4, size: 16 },
  'notebook-resnet18': { width: 4, size: 16 },
  'notebook-resnet34': { width: 4, size: 16 },
  'notebook-resnet50': { width: 4, size: 16 },
  'notebook-resnet101': { width: 4, size: 16 },
  'notebook-resnet152': { width: 4, size: 16 },
  'notebook-pdenet': { width: 4, size: 16 },
  resnet20: { width: 4, size: 16 },
  resnet32: { width: 4, size: 16 },
  resnet44: { width: 4, size: 16 },
  resnet56: { width: 4, size: 16 },
  resnet110: { width: 4, size: 16 },
  // 64×64 so that the last stage is 2×2: reflect padding needs at least two pixels.
  'resnet50-seed003': { width: 8, size: 64 },
  'pdenet-s': { width: 8, size: 16 },
  'pdenet-m': { width: 8, size: 16 },
  // 32×32 so that the last group is 3×3 (the speed runs' layout); reflect padding needs at least two pixels.
  speednet: { width: 4, size: 32 },
};

describe('model zoo: forward and backward', () => {
  // RKNet has no twist; test/dynamics.test.ts runs it with every integrator, layer and normalization.
  it('covers every registered model', () =>
    assert.deepEqual(
      Object.keys(SMALL).sort(),
      modelNames()
        .filter((n) => n !== 'rknet')
        .sort(),
    ));

  it('rknet: built by name with its dynamic-block options', () => {
    using(
      createModel('rknet', {
        width: 8,
        boundary: 'reflect',
        numClasses: 5,
        rknet: { integrator: 'rk1', layer: 'double', norm: 'batch', tY: [0, 1, 2] },
      }),
      (model) => {
        assert.deepEqual(model.forward(randn([2, 3, 16, 16])).shape, [2, 5]);
        assert.ok([...model.namedParameters()].some(([k]) => k === 'dynamicBlocks.0.controlLayers.2.conv1.weight'));
      },
    );
    // Options are typed by the model named: another family's option is refused by the types and at run time.
    // @ts-expect-error RKNet has no twist
    assert.throws(() => createModel('rknet', { twist: true }), /RKNet has no twist/);
    // @ts-expect-error rknet is RKNet's option
    assert.throws(() => createModel('resnet20', { rknet: {} }), /rknet model only/);
    const named: string = 'resnet20'; // a name known at run time takes every model's options
    assert.throws(() => createModel(named, { rknet: {} }), /rknet model only/);
  });

  for (const name of Object.keys(SMALL)) {
    const { width, size } = SMALL[name]!;
    it(`${name}: twisted and plain, under ${BOUNDARIES.join(', ')}`, () => {
      manualSeed(0);
      const x = randn([2, 3, size, size]);
      for (const [twist, boundary] of BOUNDARIES.flatMap(
        (b) =>
          [
            [true, b],
            [false, b],
          ] as const,
      )) {
        using(createModel(name, { width, twist, boundary, numClasses: 5 }), (model) => {
          assert.deepEqual(
            twistStages(model),
            twistableStages(model).map((t) => t && twist),
          );
          const y = model.forward(x);
          assert.deepEqual(y.shape, [2, 5]);
          assert.ok(values(y).every(Number.isFinite), `${name} ${boundary} output is finite`);
          const loss = y.square().mean();
          loss.backward();
          for (const [k, p] of model.namedParameters()) {
            // With the twist off, Kx (and the seed-003 mix) do not take part; frozen parameters get no gradient.
            // The notebook models' convNy.weight is Ky: its gradient is the projected mode's (the default).
            const unused =
              (!twist && (k.endsWith('.kx') || k.endsWith('.mix.weight') || /conv\d?[xy]\.weight$/.test(k))) ||
              !p.requiresGrad;
            assert.equal(p.grad === null, unused, `${name} twist=${twist} ${boundary}: gradient of ${k}`);
          }
          for (const t of [y, loss]) t.dispose();
        });
      }
      x.dispose();
    });
  }

  it('every convolution honours the boundary condition', () => {
    using(
      createModel('resnet20', { width: 4, boundary: 'circular', twist: [true, false, true], twistable: true }),
      (model) => {
        for (const [k, m] of model.namedModules()) {
          if (m instanceof nn.Conv2d && m.kernelSize[0] > 1) assert.equal(m.paddingMode, 'circular', k);
          if (m instanceof pde.TwistConv2d) assert.equal(m.boundary, 'circular', k);
        }
      },
    );
    // Circular padding makes the model commute with periodic shifts until the first stride: a plain
    // resnet20 on an image rolled by 4 pixels (a multiple of the total stride) gives the same logits.
    using(createModel('resnet20', { width: 4, boundary: 'circular' }), (model) => {
      manualSeed(1);
      const x = randn([2, 3, 16, 16]);
      const rolled = x.roll([4, 4], [2, 3]);
      assertClose(evalOutput(model, rolled), evalOutput(model, x), { atol: 1e-4, rtol: 1e-4 });
      for (const t of [x, rolled]) t.dispose();
    });
  });
});

describe('model zoo: twistField', () => {
  it('pdenet-s and pdenet-m build every operator with the field asked for', () => {
    for (const name of ['pdenet-s', 'pdenet-m']) {
      for (const field of ['strain', 'conformal'] as const) {
        using(createModel(name, { width: 4, twist: true, twistField: field }), (model) => {
          const ops = [...model.modules()].filter((m): m is pde.TwistConv2d => m instanceof pde.TwistConv2d);
          assert.ok(ops.length >= 3);
          assert.deepEqual(
            ops.map((m) => m.field),
            ops.map(() => field),
            `${name}, ${field}`,
          );
          // Ky is Kx rotated per the field: the conformal rotation flips the other axis.
          const { kx, ky } = ops[0]!.twistKernels();
          assertClose(ky, pde.kyFromKx(kx, field));
        });
      }
    }
  });

  it('resnet50-seed003 (a coordinate mix, no Ky) refuses twistField', () => {
    assert.throws(
      () => createModel('resnet50-seed003', { width: 4, twistField: 'conformal' }),
      /models\.resnet50-seed003: resnet50-seed003 has no Ky to derive from Kx .*twistField does not apply/,
    );
  });
});

describe('model zoo: the hyperbolicity penalty', () => {
  /** Σ ‖(K + K*)/2‖² over the named operators, by hand. */
  const penaltyOf = (model: nn.Module, names: string[]) => {
    const ops = new Map([...pde.operators3x3(model)].map((o) => [o.name, o]));
    return names.reduce((sum, name) => {
      const { weight, groups } = ops.get(name)!;
      return sum + pde.selfAdjointPart(weight, groups).square().sum().item();
    }, 0);
  };

  it("counts pdenet-s's grouped operators and notebook-pdenet's K, not the twist's kernels", () => {
    manualSeed(1);
    using(createModel('pdenet-s', { width: 8, twist: true }), (model) => {
      const penalty = pde.hyperbolicityPenalty(model).item();
      assertClose(penalty, penaltyOf(model, ['layers.0.op', 'layers.1.op', 'layers.2.op']), { rtol: 1e-5 });
      assert.ok(penalty > 0);
    });
    using(createModel('notebook-pdenet', { width: 4, twist: true }), (model) => {
      const names = [...pde.operators3x3(model)].map((o) => o.name);
      assert.ok(names.includes('layer2.0.conv'));
      assert.ok(!names.some((n) => /conv[xy]$/.test(n)), `twist kernels are coefficients: ${names.join(', ')}`);
      const square = names.filter((n) => n !== 'conv1');
      assert.equal(square.length, 9);
      assertClose(pde.hyperbolicityPenalty(model).item(), penaltyOf(model, square), { rtol: 1e-5 });
    });
    using(createModel('resnet50-seed003', { width: 4 }), (model) =>
      assert.throws(() => pde.hyperbolicityPenalty(model), /CoordMixResNet has no 3×3 operator from C channels to C/),
    );
  });

  it("counts the dynamic blocks' layer operators (rknet)", () => {
    manualSeed(2);
    for (const layer of ['doublesym', 'double'] as const) {
      using(createModel('rknet', { rknet: { channels: [4, 4], layer, tY: [0, 1, 2] } }), (model) => {
        const names = [...pde.operators3x3(model)].map((o) => o.name).filter((n) => n.startsWith('dynamicBlocks'));
        const expected =
          layer === 'double'
            ? [0, 1, 2].flatMap((k) => [1, 2].map((c) => `dynamicBlocks.0.controlLayers.${k}.conv${c}.weight`))
            : [0, 1, 2].map((k) => `dynamicBlocks.0.controlLayers.${k}.weight`);
        assert.deepEqual(names, expected);
        assertClose(pde.hyperbolicityPenalty(model).item(), penaltyOf(model, names), { rtol: 1e-5 });
      });
    }
  });
});

describe('model zoo: switching the twist in place', () => {
  it('setTwist changes the output, not the parameters, per stage', () => {
    manualSeed(2);
    const x = randn([2, 3, 16, 16]);
    for (const [name, options] of [
      ['resnet20', { width: 4, twistable: true }],
      ['resnet50-seed003', { width: 8, twist: false }],
      ['pdenet-s', { width: 8 }],
      ['notebook-resnet50', { width: 4 }],
      ['resnet10s', { width: 4, twistable: true }],
    ] as [string, ModelOptions][]) {
      using(createModel(name, options), (model) => {
        const stages = twistStages(model).length;
        assert.deepEqual(twistStages(model), new Array(stages).fill(false));
        assert.equal(twistOn(model), false, `${name}: built untwisted`);
        assert.deepEqual(twistableStages(model), new Array(stages).fill(true));
        const params = [...model.namedParameters()];
        const input = name === 'resnet50-seed003' ? randn([2, 3, 64, 64]) : x;
        const plain = evalOutput(model, input);
        setTwist(model, true);
        assert.deepEqual(twistStages(model), new Array(stages).fill(true));
        const twisted = evalOutput(model, input);
        assert.ok(maxAbsDiff(plain, twisted) > 1e-4, `${name}: the twist changes the output`);
        const flags = Array.from({ length: stages }, (_, i) => i % 2 === 0);
        setTwist(model, flags);
        assert.deepEqual(twistStages(model), flags);
        assert.equal(twistOn(model), true, `${name}: twisted in stage 0`);
        const partial = evalOutput(model, input);
        assert.ok(maxAbsDiff(partial, twisted) > 1e-6 && maxAbsDiff(partial, plain) > 1e-6, `${name}: per stage`);
        setTwist(model, false);
        assertClose(evalOutput(model, input), plain, { atol: 1e-6, rtol: 1e-5, message: `${name} back to plain` });
        const after = [...model.namedParameters()];
        assert.deepEqual(
          after.map(([k]) => k),
          params.map(([k]) => k),
        );
        assert.ok(
          after.every(([, p], i) => p === params[i]![1]),
          `${name}: the same parameter tensors`,
        );
        if (input !== x) input.dispose();
      });
    }
    x.dispose();
  });

  it('refuses to twist a stage built without twist parameters, changing nothing', () => {
    using(createModel('resnet20', { width: 4, twist: [true, true, false] }), (model) => {
      assert.deepEqual(twistableStages(model), [true, true, false]);
      assert.throws(
        () => setTwist(model, true),
        (e: unknown) => e instanceof TorchError && e.message.includes('stage 2'),
      );
      assert.deepEqual(twistStages(model), [true, true, false]);
      setTwist(model, [false, true, false]);
      assert.deepEqual(twistStages(model), [false, true, false]);
      assert.throws(() => setTwist(model, [true, true]), TorchError);
      assert.throws(() => setTwist(new nn.Linear(2, 2), true), TorchError);
    });
  });

  it('twist off equals twist on with Kx = 0, and equals the plain model with the same weights', () => {
    manualSeed(3);
    const x = randn([2, 3, 16, 16]);
    for (const name of ['resnet18', 'resnet10s', 'resnet20', 'resnet50', 'pdenet-s']) {
      const options = { width: name.startsWith('pdenet') ? 8 : 4, boundary: 'reflect' as const };
      using(createModel(name, { ...options, twist: true }), (model) => {
        setTwist(model, false);
        const off = evalOutput(model, x);
        noGrad(() => {
          for (const [k, p] of model.namedParameters()) if (k.endsWith('.kx')) p.zero_();
        });
        setTwist(model, true);
        assertClose(evalOutput(model, x), off, { atol: 1e-5, rtol: 1e-4, message: `${name} Kx = 0` });
        if (name.startsWith('pdenet')) return; // Kx is part of the PDEBlock: there is no plain model without it
        const state = new Map([...model.stateDict()].filter(([k]) => !k.endsWith('.kx')));
        using(createModel(name, options), (plain) => {
          plain.loadStateDict(state);
          assertClose(evalOutput(plain, x), off, { atol: 1e-5, rtol: 1e-4, message: `${name} plain` });
        });
      });
    }
    // The seed-003 twist is a coefficient field mix(XY): with mix ≡ 1 (only the constant feature, weight 1)
    // the twisted model is the plain one.
    const x32 = randn([2, 3, 32, 32]);
    using(createModel('resnet50-seed003', { width: 8, boundary: 'replicate', twist: false }), (model) => {
      const off = evalOutput(model, x32);
      noGrad(() => {
        for (const [k, p] of model.namedParameters()) {
          if (!k.endsWith('.mix.weight')) continue;
          p.zero_();
          p.select(1, 0).fill_(1);
        }
      });
      setTwist(model, true);
      assertClose(evalOutput(model, x32), off, { atol: 1e-5, rtol: 1e-4, message: 'seed003 mix = 1' });
    });
    for (const t of [x, x32]) t.dispose();
  });
});

describe('model zoo: FLOPs', () => {
  it('counts a single Conv2d, Linear and TwistConv2d by the hand formula', () => {
    const conv = new nn.Conv2d(3, 8, 3, { padding: 1 });
    assert.equal(countFlops(conv, [2, 3, 16, 16]), 2 * (2 * 8 * 16 * 16) * (3 * 3 * 3));
    const strided = new nn.Conv2d(8, 6, 3, { stride: 2, padding: 1, groups: 2 });
    assert.equal(countFlops(strided, [1, 8, 16, 16]), 2 * (6 * 8 * 8) * ((8 / 2) * 3 * 3));
    const linear = new nn.Linear(7, 5);
    assert.equal(countFlops(linear, [4, 7]), 2 * 4 * 5 * 7);
    const twist = new pde.TwistConv2d(4, 6, { stride: 2 });
    const out = 2 * 6 * 4 * 4;
    assert.equal(countFlops(twist, [2, 4, 8, 8]), 2 * (3 * out * 4 * 9 + 2 * out));
    twist.twist = false;
    assert.equal(countFlops(twist, [2, 4, 8, 8]), 2 * out * 4 * 9);
    for (const m of [conv, strided, linear, twist]) m.dispose();
  });

  it('ResNet-20 and ResNet-18 count as PyTorch plain; the twist adds 2 convolutions and 2 products per output', () => {
    using(createModel('resnet20', { twist: true }), (model) => {
      setTwist(model, false);
      const plain = countFlops(model);
      assert.equal(plain, reference.he_resnet20_flops);
      setTwist(model, true);
      // Per residual 3×3 convolution (16·2^i channels at 32/2^i pixels): + 2·MACs(K⋆u) + 2 per output, ×2 FLOPs.
      let extra = 0;
      for (let i = 0; i < 3; i++) {
        const c = 16 * 2 ** i;
        const pixels = (32 / 2 ** i) ** 2;
        for (let j = 0; j < 6; j++) {
          const cin = i > 0 && j === 0 ? c / 2 : c;
          extra += 2 * (2 * c * pixels * cin * 9 + 2 * c * pixels);
        }
      }
      assert.equal(countFlops(model), plain + extra);
    });
    using(createModel('resnet18'), (model) => assert.equal(countFlops(model), reference.kuangliu_resnet18_flops));
  });
});

// Cross-entropy on the zoo's logits works with the library's loss (a training step end to end).
describe('model zoo: one training step', () => {
  it('resnet10s twisted takes an SGD step and lowers the loss on a fixed batch', () => {
    manualSeed(4);
    using(createModel('resnet10s', { width: 4, twist: true, boundary: 'reflect' }), (model) => {
      const x = randn([4, 3, 16, 16]);
      const target = randn([4, 10]).argmax(1);
      const lossOf = () => F.crossEntropy(model.forward(x), target);
      const before = lossOf();
      before.backward();
      noGrad(() => {
        for (const p of model.parameters()) if (p.grad) p.sub_(p.grad, 0.05);
      });
      model.zeroGrad();
      const after = noGrad(lossOf);
      assert.ok(after.item() < before.item(), `${after.item()} < ${before.item()}`);
      for (const t of [x, target, before, after]) t.dispose();
    });
  });
});

describe('model zoo: speednet', () => {
  it('counts its parameters by the hand formula; frozen whitening filters and BN scales do not train', () => {
    using(createModel('speednet', { twist: [true, false, false] }), (model) => {
      const conv = (i: number, o: number) => i * o * 9;
      const groups = [
        [24, 64],
        [64, 256],
        [256, 256],
      ] as const;
      const plain =
        24 * 3 * 2 * 2 + 24 + groups.reduce((n, [i, o]) => n + conv(i, o) + conv(o, o) + 4 * o, 0) + 256 * 10;
      assert.equal(model.numParameters(), plain + conv(64, 64)); // + Kx of group 1's second convolution
      const frozen = [...model.namedParameters()].filter(([, p]) => !p.requiresGrad).map(([k]) => k);
      assert.deepEqual(frozen, [
        'whiten.weight',
        ...[1, 2, 3].flatMap((g) => [`group${g}.norm1.weight`, `group${g}.norm2.weight`]),
      ]);
      assert.deepEqual(twistStages(model), [true, false, false]);
      const whitenBias = (model as unknown as { whiten: nn.Conv2d }).whiten.bias!;
      assert.ok(
        whitenBias.requiresGrad && values(whitenBias).every((b) => b === 0),
        'the whitening bias starts at zero',
      );
    });
  });

  it('starts the first filters of each 3×3 convolution as the identity (Dirac), the others as usual', () => {
    using(createModel('speednet', { width: 4 }), (model) => {
      const group = (model as unknown as { groups: { conv1: nn.Conv2d }[] }).groups[1]!;
      const w = group.conv1.weight; // width 4: 4 → 16 channels, 16 × 4 × 3 × 3
      const [out, inp] = w.shape as [number, number];
      const expected = Array.from({ length: inp * inp * 9 }, (_, idx) => {
        const [o, i, r] = [Math.floor(idx / (inp * 9)), Math.floor(idx / 9) % inp, idx % 9];
        return o === i && r === 4 ? 1 : 0;
      });
      assert.deepEqual(values(w.narrow(0, 0, inp)), expected);
      // The remaining out − in filters keep PyTorch's default initialization: uniform in ±1/√(fan_in).
      const rest = values(w.narrow(0, inp, out - inp));
      const bound = 1 / Math.sqrt(inp * 9);
      assert.ok(rest.every((v) => Math.abs(v) <= bound) && new Set(rest).size > rest.length / 2);
    });
  });

  it('whitening: the layer decorrelates 2×2 patches to unit second moments, ± each filter', () => {
    manualSeed(3);
    // Correlated images: smoothed noise with channel mixing.
    const x = noGrad(() => F.avgPool2d(randn([64, 3, 34, 34]), 3, { stride: 1 }).add(randn([64, 1, 32, 32]), 0.5));
    const model = createModel('speednet', { width: 4 }) as ImageModel & {
      initWhitening(x: Tensor, eps?: number): void;
      whiten: nn.Conv2d;
    };
    using(model, () => {
      model.initWhitening(x, 0);
      noGrad(() => {
        const z = model.whiten.forward(x).double(); // N × 24 × 31 × 31
        const first = z.narrow(1, 0, 12).transpose(0, 1).reshape(12, -1);
        const moments = first.matmul(first.t()).div(first.shape[1]!);
        assertClose(moments, identity(12), { atol: 2e-3 });
        assertClose(z.narrow(1, 12, 12), z.narrow(1, 0, 12).neg(), { atol: 1e-6 });
      });
      assert.throws(() => model.initWhitening(randn([2, 1, 8, 8])), /expects images N×3×H×W/);
    });
    x.dispose();
  });

  it('whitening with ε (whitenEps): direction i comes out with second moment λᵢ/(λᵢ + ε), still uncorrelated', () => {
    manualSeed(4);
    const x = noGrad(() => F.avgPool2d(randn([64, 3, 34, 34]), 3, { stride: 1 }).add(randn([64, 1, 32, 32]), 0.5));
    type Whitened = ImageModel & { initWhitening(x: Tensor, eps?: number): void; whiten: nn.Conv2d; whitenEps: number };
    const eps = 0.05;
    const model = createModel('speednet', { width: 4, whitenEps: eps }) as Whitened;
    using(model, () =>
      noGrad(() => {
        assert.equal(model.whitenEps, eps);
        // With ε = 0 the filters are vᵢ/√λᵢ, so λᵢ = 1/‖fᵢ‖².
        model.initWhitening(x, 0);
        const lambda = values(model.whiten.weight.narrow(0, 0, 12).reshape(12, -1).pow(2).sum(1)).map((n) => 1 / n);
        model.initWhitening(x); // the model's ε
        const z = model.whiten.forward(x).double().narrow(1, 0, 12).transpose(0, 1).reshape(12, -1);
        const moments = z.matmul(z.t()).div(z.shape[1]!);
        const expected = lambda.flatMap((l, i) => lambda.map((_, j) => (i === j ? l / (l + eps) : 0)));
        assertClose(moments, expected, { atol: 2e-3 });
        assert.ok(
          lambda.some((l) => l / (l + eps) < 0.9),
          'ε damps some direction measurably',
        );
      }),
    );
    x.dispose();
    assert.throws(() => createModel('speednet', { whitenEps: -1 }), /whitenEps must be a positive number, got -1/);
    // @ts-expect-error whitenEps is SpeedNet's option
    assert.throws(() => createModel('resnet20', { whitenEps: 0.01 }), /whitenEps applies to the speednet model only/);
  });
});

function identity(n: number): number[] {
  return Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 1 : 0));
}
