// Pictures and reports: the operator demos (decoded back), the inspection of a model, and the run report
// rendered in headless Chromium.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import omggif from 'omggif';
import pngjs from 'pngjs';
import { arange, manualSeed, nn, noGrad, pde, type Tensor, tidy } from '../src/index.js';
import { saveSafetensors } from '../src/io/index.js';
import { createModel } from '../src/models/index.js';
import type { EpochMetrics } from '../src/train/trainer.js';
import {
  curvesSpec,
  DEMO_KINDS,
  encodePng,
  inspectCheckpoint,
  operatorStatistics,
  plotCurves,
  runDemo,
  twistMatrices,
  writeRunReport,
} from '../src/viz/index.js';

const { GifReader } = omggif;
const { PNG } = pngjs;

const CHROMIUM = '/usr/bin/chromium';

/**
 * Installs Debian's chromium when /usr/bin/chromium is missing and we are root (scripts/bootstrap.mjs may
 * do the same); returns whether Chromium is there.
 */
function ensureChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.getuid?.() !== 0) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'ignore', env });
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'ignore', env });
  }
  return existsSync(CHROMIUM);
}

interface Decoded {
  width: number;
  height: number;
  frames: Uint8Array[];
}

function decodeGif(path: string): Decoded {
  const reader = new GifReader(new Uint8Array(readFileSync(path)));
  const frames = Array.from({ length: reader.numFrames() }, (_, i) => {
    const rgba = new Uint8Array(reader.width * reader.height * 4);
    reader.decodeAndBlitFrameRGBA(i, rgba);
    return rgba;
  });
  return { width: reader.width, height: reader.height, frames };
}

function decodePngFile(path: string): { width: number; height: number; data: Uint8Array } {
  const png = PNG.sync.read(readFileSync(path));
  return { width: png.width, height: png.height, data: png.data };
}

/** Centre of mass (x, y) of the brightness inside a rectangle of an RGBA frame, in pixels of the rectangle. */
function centreOfMass(
  rgba: Uint8Array,
  width: number,
  rect: { x: number; y: number; width: number; height: number },
): [number, number] {
  let [m, mx, my] = [0, 0, 0];
  for (let y = 0; y < rect.height; y++) {
    for (let x = 0; x < rect.width; x++) {
      const p = ((rect.y + y) * width + rect.x + x) * 4;
      const v = rgba[p]! + rgba[p + 1]! + rgba[p + 2]!;
      m += v;
      mx += v * x;
      my += v * y;
    }
  }
  return [mx / m, my / m];
}

/** A grey Gaussian bump on black as a PNG file. */
function writeBump(path: string, n: number, cx: number, cy: number, sigma: number): void {
  const data = new Uint8Array(n * n * 4);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const v = Math.round(255 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma)));
      data.set([v, v, v, 255], (y * n + x) * 4);
    }
  }
  writeFileSync(path, encodePng({ width: n, height: n, data }));
}

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'pdenet-viz-'));
});
after(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('operator demos', () => {
  for (const kind of DEMO_KINDS) {
    it(`${kind}: a GIF of steps + 1 frames and a PNG strip, of the sizes reported`, async () => {
      const steps = kind === 'wave' ? 6 : 4;
      const r = await runDemo(kind, { outDir: join(work, 'demo'), size: 32, steps, scale: 2, stripFrames: 3 });
      assert.equal(r.frames, steps + 1);
      assert.equal(r.times.length, steps + 1);
      const gif = decodeGif(r.gif);
      assert.equal(gif.frames.length, steps + 1, 'GIF frames');
      assert.deepEqual([gif.width, gif.height], [r.width, r.height]);
      assert.equal(r.panels.length, kind === 'heat' ? 2 : 1);
      for (const { rect } of r.panels) {
        assert.deepEqual([rect.width, rect.height], [r.grid.width * 2, r.grid.height * 2]);
        assert.ok(rect.x + rect.width <= r.width && rect.y + rect.height <= r.height);
      }
      assert.deepEqual([r.grid.width, r.grid.height], [32, 32]);
      const strip = decodePngFile(r.png);
      assert.deepEqual([strip.width, strip.height], [r.strip.width, r.strip.height]);
      assert.deepEqual(r.strip.frames, [0, Math.round(steps / 2), steps]);
      // Frames differ: the PDE moved something.
      assert.notDeepEqual(gif.frames[0], gif.frames.at(-1));
    });
  }

  it('translation moves a bump 1 pixel per step (read from the decoded GIF)', async () => {
    const image = join(work, 'bump.png');
    writeBump(image, 48, 14, 24, 3);
    const steps = 12;
    const r = await runDemo('translation', {
      outDir: join(work, 'bump'),
      image,
      size: 48,
      steps,
      scale: 1,
      boundary: 'zeros',
    });
    const gif = decodeGif(r.gif);
    const rect = r.panels[0]!.rect;
    const centres = gif.frames.map((f) => centreOfMass(f, gif.width, rect));
    const [x0, y0] = centres[0]!;
    assert.ok(Math.abs(x0 - 14) < 0.2 && Math.abs(y0 - 24) < 0.2, `the bump starts at (${x0}, ${y0})`);
    for (let k = 1; k <= steps; k++) {
      const [x, y] = centres[k]!;
      assert.ok(Math.abs(x - centres[k - 1]![0] - 1) < 0.1, `step ${k}: moved ${x - centres[k - 1]![0]} px`);
      assert.ok(Math.abs(y - y0) < 0.1);
    }
    const speed = (centres[steps]![0] - x0) / steps;
    assert.ok(Math.abs(speed - 1) < 0.02, `mean speed ${speed} px per step`);
  });

  it('rejects unknown kinds and boundaries with clear errors', async () => {
    await assert.rejects(runDemo('spin' as never, { outDir: work }), /unknown demo "spin"/);
    await assert.rejects(runDemo('heat', { outDir: work, boundary: 'open' as never }), /boundary must be one of/);
    await assert.rejects(runDemo('heat', { outDir: work, image: join(work, 'missing.png') }), /cannot read the image/);
  });

  it('refuses a size outside [8, 1024] for every kind, the wave without a picture too, before drawing anything', async () => {
    for (const kind of DEMO_KINDS) {
      for (const size of [2_000_000, 7, 8.5]) {
        const outDir = join(work, `demo-size-${kind}-${size}`);
        await assert.rejects(
          runDemo(kind, { outDir, size }),
          (e: Error) => e.message === `runDemo: size must be an integer in [8, 1024], got ${size}`,
          `${kind} ${size}`,
        );
        assert.equal(existsSync(outDir), false, `${kind} ${size}: nothing written`);
      }
    }
  });

  it('heat shows zeros beside the boundary given, so it refuses zeros rather than draw reflect under its name', async () => {
    const outDir = join(work, 'heat-zeros');
    await assert.rejects(
      runDemo('heat', { outDir, boundary: 'zeros', size: 16, steps: 1 }),
      (e: Error) =>
        e.message ===
        'runDemo: heat shows Dirichlet (zeros) beside the boundary given, which must be one of reflect, replicate, ' +
          'circular; got "zeros"',
    );
    assert.equal(existsSync(outDir), false);
    const r = await runDemo('heat', { outDir, boundary: 'circular', size: 16, steps: 1 });
    assert.deepEqual(
      [r.boundary, r.panels.map((p) => p.label)],
      ['circular', ['zeros (Dirichlet)', 'circular (periodic)']],
    );
  });
});

describe('operator analysis', () => {
  it('the twist of TwistConv2d: Kx = ∂x gives v = (x, −y), a pure shear (Ky is Kx turned by 90° on a y-down grid)', () => {
    const conv = new pde.TwistConv2d(1, 1, { twistInitStd: 0 });
    noGrad(() => conv.kx.copy_(pde.stencilKernel('dx')));
    const [m] = twistMatrices(conv);
    assert.deepEqual(
      m!.map((row) => row.map((v) => Math.round(v * 1e6) / 1e6 + 0)),
      [
        [1, 0],
        [0, -1],
      ],
    );
    // The layer itself agrees: with K = 0 it maps the ramps u = j and u = i to x·1 and y·(−1) inside the grid.
    noGrad(() => conv.weight.zero_());
    const n = 8;
    const { x: X, y: Y } = pde.coordinates(n, n);
    const inner = (t: Tensor) => t.narrow(2, 1, n - 2).narrow(3, 1, n - 2);
    tidy(() => {
      const j = arange(n, undefined, 1, { dtype: 'float32' }).reshape(1, 1, 1, n).expand(1, 1, n, n);
      const i = arange(n, undefined, 1, { dtype: 'float32' }).reshape(1, 1, n, 1).expand(1, 1, n, n);
      assert.ok(inner(conv.forward(j)).sub(inner(X)).abs().max().item() < 1e-6, 'v_x = x');
      assert.ok(inner(conv.forward(i)).add(inner(Y)).abs().max().item() < 1e-6, 'v_y = −y');
    });
    conv.dispose();
  });

  it('splits each 3×3 operator into its self-adjoint (diffusion) and skew-adjoint (transport) parts', () => {
    const net = new nn.Sequential(
      new nn.Conv2d(2, 2, 3, { groups: 2, bias: false }),
      new nn.Conv2d(2, 2, 3, { groups: 2, bias: false }),
      new nn.Conv2d(2, 4, 3),
      new pde.TwistConv2d(4, 4, { groups: 2 }),
    );
    noGrad(() => {
      (net.at(0) as nn.Conv2d).weight.copy_(pde.stencilKernel('laplacian', 2));
      (net.at(1) as nn.Conv2d).weight.copy_(pde.stencilKernel('dx', 2));
    });
    const [lap, dx, wide, twisted] = operatorStatistics(net);
    assert.ok(lap!.skewAdjoint! < 1e-12 && Math.abs(lap!.selfAdjoint! - lap!.norm) < 1e-12, 'Δ diffuses');
    assert.ok(dx!.selfAdjoint! < 1e-12 && Math.abs(dx!.skewAdjoint! - dx!.norm) < 1e-12, '∂x transports');
    assert.equal(wide!.selfAdjoint, null, '2 → 4 channels has no adjoint of the same shape');
    assert.ok(
      Math.abs(twisted!.selfAdjoint! ** 2 + twisted!.skewAdjoint! ** 2 - twisted!.norm ** 2) < 1e-9,
      'grouped: orthogonal split',
    );
    assert.ok(twisted!.twistNorm! > 0);
  });
});

/** A residual step u + f(u) around any module: no known block class, so blocks are found by shape. */
class Residual extends nn.Module {
  readonly body: nn.Module;
  constructor(body: nn.Module) {
    super();
    this.body = this.registerModule('body', body);
  }
  forward(u: Tensor): Tensor {
    return tidy(() => u.add(this.body.forward(u as never) as Tensor, 0.5));
  }
}

function tinyNet(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1 }),
    new Residual(new nn.Sequential(new pde.TwistConv2d(8, 8, { twistInitStd: 0.3 }), new nn.ReLU())),
    new Residual(new nn.Sequential(new pde.CoordMixConv2d(8, { multiplier: 2 }), new nn.Conv2d(16, 8, 1))),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(8, 10),
  );
}

describe('inspection of a checkpoint', () => {
  it('a model given with a weights file: blocks found by shape, twist and coordinate-mix fields, operators', async () => {
    manualSeed(1);
    const trained = tinyNet();
    const file = join(work, 'tiny.safetensors');
    saveSafetensors(file, trained.stateDict());
    const fresh = tinyNet();
    const r = await inspectCheckpoint(file, { model: fresh, outDir: join(work, 'tiny-inspect'), inputSize: 24 });
    assert.deepEqual(
      r.blocks.map((b) => b.name),
      ['1', '2'],
    );
    assert.deepEqual(r.blocks[0]!.shape, [1, 8, 24, 24]);
    assert.equal(r.runDir, null);
    assert.equal(r.report, null);
    for (const p of [r.images.features, r.images.twistFields, r.images.coordMix, r.images.operators]) {
      const png = decodePngFile(p!);
      assert.ok(png.width > 100 && png.height > 100, p!);
    }
    assert.equal(r.images.curves, null);
    assert.equal(r.twist.length, 1);
    assert.deepEqual(r.twist[0]!.grid, [24, 24]);
    // The weights were loaded: the fresh model now equals the trained one.
    const a = (trained.at(0) as nn.Conv2d).weight;
    const b = (fresh.at(0) as nn.Conv2d).weight;
    assert.equal(a.sub(b).abs().max().item(), 0);
    assert.ok(existsSync(r.manifest));
    trained.dispose();
    fresh.dispose();
  });

  it("rebuilds a run's model as its trainer did: a staged twist, and the twist its weights were saved with", async () => {
    const run = join(work, 'runs', 'staged');
    mkdirSync(join(run, 'checkpoints'), { recursive: true });
    const firstStage = [true, false, false, false];
    const config = {
      model: 'resnet10s',
      modelOptions: { width: 8 },
      data: 'synthetic',
      epochs: 6,
      twistSchedule: [
        { epoch: 0, twist: false },
        { epoch: 2, twist: firstStage },
      ],
    };
    writeFileSync(join(run, 'config.json'), JSON.stringify(config));
    // The trainer's model: the first stage owns twist parameters (plain until epoch 2, twisted from then on).
    manualSeed(4);
    const trained = createModel('resnet10s', { width: 8, twistable: firstStage, twist: firstStage });
    const twisted = [...trained.namedModules()].filter(([, m]) => m instanceof pde.TwistConv2d).map(([name]) => name);
    assert.ok(twisted.length > 0);
    const best = join(run, 'checkpoints', 'best.safetensors');
    const save = (metadata: Record<string, string>) =>
      saveSafetensors(best, trained.stateDict(), { format: 'pdenet-weights-1', ...metadata });
    save({});
    const r = await inspectCheckpoint(run, { report: false });
    assert.deepEqual(
      r.twist.map((t) => [t.layer, t.twist]),
      twisted.map((name) => [name, true]),
    );
    // Weights saved with the twist off (the plateau rule's twist, in their metadata) are shown with it off.
    save({ twist: JSON.stringify([false, false, false, false]) });
    const off = await inspectCheckpoint(run, { report: false });
    assert.deepEqual(
      off.twist.map((t) => [t.layer, t.twist]),
      twisted.map((name) => [name, false]),
    );
    trained.dispose();
  });

  it("finds the blocks every model class marks: the dynamic blocks of RKNet and the notebook network's blocks", async () => {
    const inspectBlocks = async (name: string, options: Record<string, unknown>) => {
      manualSeed(3);
      const model = createModel(name, options);
      const file = join(work, `${name}.safetensors`);
      saveSafetensors(file, model.stateDict());
      const expected = [...model.namedModules()]
        .filter(([, m]) => nn.isBlock(m))
        .map(([n, m]) => [n, m.constructor.name]);
      model.dispose();
      const fresh = createModel(name, options);
      const r = await inspectCheckpoint(file, { model: fresh, outDir: join(work, `${name}-inspect`), inputSize: 16 });
      fresh.dispose();
      return { found: r.blocks.map((b) => [b.name, b.type]), expected };
    };
    const dyn = await inspectBlocks('rknet', { width: 4 });
    // The reference network: a dynamic block at each of its three resolutions, between connecting layers.
    assert.deepEqual(
      dyn.found,
      [0, 1, 2].map((i) => [`dynamicBlocks.${i}`, 'DynamicBlock']),
    );
    assert.deepEqual(dyn.found, dyn.expected);
    const notebook = await inspectBlocks('notebook-resnet18', { width: 4 });
    // ResNet-18: two basic blocks in each of four stages.
    assert.deepEqual(
      notebook.found,
      [1, 2, 3, 4].flatMap((s) => [0, 1].map((b) => [`layer${s}.${b}`, 'NotebookBasicBlock'])),
    );
    assert.deepEqual(notebook.found, notebook.expected);
  });
});

/** Metrics rows as the trainer writes them. */
function epochRows(epochs: number): EpochMetrics[] {
  return Array.from({ length: epochs }, (_, e) => ({
    epoch: e,
    step: 10 * (e + 1),
    trainLoss: 2.3 * Math.exp(-e / 3),
    trainAccuracy: 0.1 + 0.1 * e,
    valLoss: e === 2 ? null : 2.4 * Math.exp(-e / 3),
    valAccuracy: e === 2 ? null : 0.1 + 0.09 * e,
    lr: 0.1 * Math.cos((e / epochs) * (Math.PI / 2)),
    seconds: 1.5,
    evalSeconds: 0.1,
    dataShare: 0.01,
    imagesPerSec: 100,
    twist: e > 1,
  }));
}

/** A run folder as the trainer writes it: config.json, metrics.jsonl, checkpoints/best.safetensors. */
function fakeRun(dir: string): void {
  mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  const config = { model: 'resnet10s', modelOptions: { twist: true, width: 8 }, data: 'synthetic', epochs: 6, lr: 0.1 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  manualSeed(2);
  const model = createModel(config.model, config.modelOptions);
  saveSafetensors(join(dir, 'checkpoints', 'best.safetensors'), model.stateDict(), { format: 'pdenet-weights-1' });
  model.dispose();
  writeFileSync(
    join(dir, 'metrics.jsonl'),
    `${epochRows(6)
      .map((r) => JSON.stringify(r))
      .join('\n')}\n`,
  );
}

describe('run report', () => {
  it('counts epochs from 1 as the log and report.md do: curves, best epoch, final metrics', async () => {
    const spec = curvesSpec(epochRows(3)) as unknown as { hconcat: { data: { values: { epoch: number }[] } }[] };
    assert.deepEqual(
      spec.hconcat.map((panel) => panel.data.values.map((v) => v.epoch)),
      [
        [1, 1, 2, 2, 3], // no validation in the third epoch
        [1, 1, 2, 2, 3],
        [1, 2, 3],
      ],
    );
    const run = join(work, 'runs', 'epochs');
    fakeRun(run);
    // epochRows(6): the best validation accuracy is the last row's, epoch 5 (0-based): the 6th epoch.
    const html = readFileSync(await writeRunReport(run), 'utf8');
    assert.match(html, /<th>best validation accuracy<\/th><td>55\.00% \(epoch 6\)<\/td>/);
    assert.match(html, /<h2>Final metrics \(epoch 6\)<\/h2>/);
    assert.match(html, /<th>epoch<\/th><td>6<\/td>/);
  });

  it("plotCurves draws the trainer's metrics (validation gaps allowed) to a PNG", async () => {
    const out = await plotCurves(epochRows(5), join(work, 'curves', 'curves.png'));
    const png = decodePngFile(out);
    assert.ok(png.width > 1000 && png.height > 300, `${png.width}×${png.height}`);
    await plotCurves([], join(work, 'curves', 'empty.png')); // a run before its first epoch: empty axes, no error
  });

  it('inspectCheckpoint on a run folder writes the pictures and a self-contained report.html', async () => {
    const run = join(work, 'runs', 'r10');
    fakeRun(run);
    const r = await inspectCheckpoint(run);
    assert.equal(r.checkpoint, join(run, 'checkpoints', 'best.safetensors'));
    assert.equal(r.model, 'resnet10s');
    assert.deepEqual(
      r.blocks.map((b) => b.type),
      ['PreActBlock', 'PreActBlock', 'PreActBlock', 'PreActBlock'],
    );
    assert.ok(r.images.curves && r.images.twistFields && r.images.operators);
    assert.equal(r.report, join(run, 'report.html'));
    const html = readFileSync(r.report!, 'utf8');
    assert.ok(!/(src|href)="https?:/.test(html), 'no network resources');
    assert.equal(
      (html.match(/<img src="data:image\/png;base64,/g) ?? []).length,
      4,
      'curves, features, twist, operators inlined',
    );
    // The trainer's call: a report without an inspection.
    const plain = join(work, 'runs', 'plain');
    fakeRun(plain);
    const report = await writeRunReport(plain);
    assert.equal((readFileSync(report, 'utf8').match(/<img /g) ?? []).length, 1);
  });

  it('renders in headless Chromium with no console errors, every image loaded, and a screenshot that is not blank', async (t) => {
    if (!ensureChromium()) {
      t.skip('Chromium is missing and cannot be installed (not root): apt-get install chromium');
      return;
    }
    const report = join(work, 'runs', 'r10', 'report.html');
    if (!existsSync(report)) {
      fakeRun(join(work, 'runs', 'r10'));
      await inspectCheckpoint(join(work, 'runs', 'r10'));
    }
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'pdenet-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1200, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (q) => problems.push(`request failed: ${q.url().slice(0, 80)}`));
      await page.goto(pathToFileURL(report).href, { waitUntil: 'load' });
      // Evaluated in the page (a string: this project's TypeScript has no DOM types).
      const images = (await page.evaluate(
        '[...document.images].map((img) => ({ ok: img.complete && img.naturalWidth > 0, alt: img.alt }))',
      )) as { ok: boolean; alt: string }[];
      assert.equal(images.length, 4);
      assert.deepEqual(
        images.filter((i) => !i.ok),
        [],
        'every image loaded',
      );
      assert.deepEqual(problems, []);
      const shot = PNG.sync.read(await page.screenshot({ fullPage: true }));
      assert.ok(shot.height > 900, 'the page is long: it holds the pictures');
      // Not blank: many distinct colours, and not almost all one colour.
      const counts = new Map<number, number>();
      for (let p = 0; p < shot.width * shot.height; p += 7) {
        const key = (shot.data[p * 4]! << 16) | (shot.data[p * 4 + 1]! << 8) | shot.data[p * 4 + 2]!;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      assert.ok(counts.size > 200, `${counts.size} colours`);
      assert.ok(Math.max(...counts.values()) / total < 0.95, 'not a blank page');
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
