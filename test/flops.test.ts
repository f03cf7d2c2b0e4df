// FLOPs of every model of the zoo against an independent count: PyTorch's own (forward hooks on the reference
// code: test/fixtures/make_dynamicblocks_fixture.py, make_notebook_fixture.py, make_models_fixture.py) or the architecture's formula below,
// written from its description (not from pdenet's counter).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { F, models, nn, randn } from '../src/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../test/fixtures');
const dynamicblocks = JSON.parse(readFileSync(join(FIXTURES, 'dynamicblocks/summary.json'), 'utf8')) as {
  rknet_default_flops: number;
};
const notebook = JSON.parse(readFileSync(join(FIXTURES, 'notebook/networks.json'), 'utf8')) as Record<
  string,
  { flops: number }
>;
const torchCounts = JSON.parse(readFileSync(join(FIXTURES, 'models_reference.json'), 'utf8')) as Record<
  string,
  unknown
>;

/** MACs of a k×k convolution cin → cout with an out×out output. */
const conv = (cin: number, cout: number, k: number, out: number, groups = 1) =>
  cout * out * out * (cin / groups) * k * k;

/** kuangliu / the seed notebook's CIFAR ResNets: stem 3×3, four stages (stride 2 from the second), linear. */
function cifarResNet(blocks: number[], bottleneck: boolean, width = 64): number {
  const expansion = bottleneck ? 4 : 1;
  let macs = conv(3, width, 3, 32);
  let cin = width;
  blocks.forEach((n, i) => {
    const planes = width * 2 ** i;
    const size = 32 / 2 ** i;
    for (let j = 0; j < n; j++) {
      const stride = i > 0 && j === 0 ? 2 : 1;
      if (bottleneck)
        macs += conv(cin, planes, 1, size * stride) + conv(planes, planes, 3, size) + conv(planes, 4 * planes, 1, size);
      else macs += conv(cin, planes, 3, size) + conv(planes, planes, 3, size);
      if (stride !== 1 || cin !== planes * expansion) macs += conv(cin, planes * expansion, 1, size);
      cin = planes * expansion;
    }
  });
  return 2 * (macs + cin * 10);
}

/** He et al.'s CIFAR ResNet-(6n+2): 16/32/64 channels, n basic blocks per stage, 1×1 projection shortcuts. */
function heResNet(n: number): number {
  let macs = conv(3, 16, 3, 32);
  let cin = 16;
  for (let i = 0; i < 3; i++) {
    const c = 16 * 2 ** i;
    const size = 32 / 2 ** i;
    for (let j = 0; j < n; j++) {
      macs += conv(cin, c, 3, size) + conv(c, c, 3, size) + (cin !== c ? conv(cin, c, 1, size) : 0);
      cin = c;
    }
  }
  return 2 * (macs + 64 * 10);
}

/** The PDEBlock nets: stem, per stage 1×1 expansion (stride 2 after the first stage) + 4 Euler steps of a 4-group 3×3. */
function pdeNet(width: number, perStage: number): number {
  let macs = conv(3, width, 3, 32);
  let cin = width;
  for (let i = 0; i < 3; i++) {
    const c = width * 2 ** i;
    const size = 32 / 2 ** i;
    for (let j = 0; j < perStage; j++) {
      if (cin !== c) macs += conv(cin, c, 1, size);
      macs += 4 * conv(c, c, 3, size, 4);
      cin = c;
    }
  }
  return 2 * (macs + cin * 10);
}

/** SpeedNet: 2×2 whitening 3 → 24 (31×31); groups conv-pool-conv 64/256/256; linear 256 → 10. */
function speedNet(): number {
  const macs =
    conv(3, 24, 2, 31) +
    conv(24, 64, 3, 31) +
    conv(64, 64, 3, 15) +
    conv(64, 256, 3, 15) +
    conv(256, 256, 3, 7) +
    conv(256, 256, 3, 7) +
    conv(256, 256, 3, 3) +
    256 * 10;
  return 2 * macs;
}

/**
 * seed-003's ResNet-50 at 224×224 (torchvision layout: 7×7 stride-2 stem, max pool, Bottleneck [3, 4, 6, 3]) with
 * its Bottleneck: conv2 depthwise ×4 (width → 4·width, groups = width, stride in conv2), conv3 4·width → 4·planes.
 */
function seed003(): number {
  let macs = conv(3, 64, 7, 112);
  let cin = 64;
  [3, 4, 6, 3].forEach((n, i) => {
    const planes = 64 * 2 ** i;
    const size = 56 / 2 ** i;
    for (let j = 0; j < n; j++) {
      const stride = i > 0 && j === 0 ? 2 : 1;
      macs +=
        conv(cin, planes, 1, size * stride) +
        conv(planes, 4 * planes, 3, size, planes) +
        conv(4 * planes, 4 * planes, 1, size);
      if (stride !== 1 || cin !== 4 * planes) macs += conv(cin, 4 * planes, 1, size);
      cin = 4 * planes;
    }
  });
  return 2 * (macs + cin * 10);
}

const INDEPENDENT: Record<string, () => number> = {
  resnet18: () => cifarResNet([2, 2, 2, 2], false),
  resnet34: () => cifarResNet([3, 4, 6, 3], false),
  resnet50: () => cifarResNet([3, 4, 6, 3], true),
  resnet101: () => cifarResNet([3, 4, 23, 3], true),
  resnet152: () => cifarResNet([3, 8, 36, 3], true),
  'preact-resnet18': () => cifarResNet([2, 2, 2, 2], false),
  'preact-resnet34': () => cifarResNet([3, 4, 6, 3], false),
  resnet10s: () => cifarResNet([1, 1, 1, 1], false, 16),
  resnet20: () => heResNet(3),
  resnet32: () => heResNet(5),
  resnet44: () => heResNet(7),
  resnet56: () => heResNet(9),
  resnet110: () => heResNet(18),
  'resnet50-seed003': seed003,
  'pdenet-s': () => pdeNet(32, 1),
  'pdenet-m': () => pdeNet(64, 2),
  speednet: speedNet,
  // PyTorch's count on the DynamicBlocks reference's own RKNet (global forward hooks reach its RK4 stages).
  rknet: () => dynamicblocks.rknet_default_flops,
  // PyTorch's count on the seed notebook's own networks (make_notebook_fixture.py).
  ...Object.fromEntries(Object.entries(notebook).map(([name, { flops }]) => [name, () => flops])),
};

describe('FLOPs of the zoo', () => {
  it('the formulas agree with PyTorch where PyTorch counted', () => {
    assert.equal(cifarResNet([2, 2, 2, 2], false), torchCounts.kuangliu_resnet18_flops);
    assert.equal(cifarResNet([3, 4, 6, 3], true), torchCounts.kuangliu_resnet50_flops);
    assert.equal(heResNet(3), torchCounts.he_resnet20_flops);
  });

  for (const name of models.modelNames()) {
    it(`${name}: within 2% of the independent count`, () => {
      const independent = INDEPENDENT[name];
      assert.ok(
        independent !== undefined,
        `no independent FLOPs count for ${name}: add its formula to test/flops.test.ts`,
      );
      const { flops } = models.modelInfo(name);
      const expected = independent();
      assert.ok(
        Math.abs(flops! - expected) <= 0.02 * expected,
        `${name}: pdenet counts ${flops}, the independent count is ${expected} (${((flops! / expected - 1) * 100).toFixed(2)}%)`,
      );
    });
  }

  it('counts convolutions called through the functional layer, transposed ones and linear maps', () => {
    const x = randn([2, 3, 5, 5]);
    const w = randn([4, 3, 3, 3]);
    assert.equal(
      F.countMacs(() => F.conv2d(x, w, null, { padding: 1 }).dispose()),
      2 * 4 * 5 * 5 * 3 * 9,
    );
    assert.equal(
      F.countMacs(() => F.convTranspose2d(randn([2, 4, 5, 5]), w, null, { padding: 1 }).dispose()),
      2 * 4 * 5 * 5 * 3 * 9,
    );
    const linear = new nn.Linear(7, 5);
    assert.equal(
      F.countMacs(() => linear.forward(randn([4, 7])).dispose()),
      4 * 5 * 7,
    );
    let inner = 0;
    const outer = F.countMacs(() => {
      inner = F.countMacs(() => linear.forward(randn([1, 7])).dispose());
      linear.forward(randn([1, 7])).dispose();
    });
    assert.deepEqual([inner, outer], [35, 70], 'a nested count adds to the outer one');
  });
});
