/**
 * `pdenet smoke`, a check of the engine alone: a two-layer ConvNet learns a synthetic task (are the stripes of
 * a noisy image horizontal or vertical?) with plain SGD written against the tensor floor — no layers, data
 * loader or trainer involved, so it tells a broken libtorch install from a broken model in seconds.
 * @module
 */
import {
  arange,
  F,
  manualSeed,
  memory,
  noGrad,
  rand,
  randint,
  randn,
  type Tensor,
  tidy,
  where,
  zeros,
} from '../tensor/index.js';

export interface SmokeOptions {
  steps?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
}

export interface SmokeResult {
  firstLoss: number;
  lastLoss: number;
  accuracy: number;
  imagesPerSec: number;
}

/** A batch of 3×16×16 noisy stripe images: label 0 for vertical stripes, 1 for horizontal. */
function batch(n: number): { x: Tensor; y: Tensor } {
  return tidy(() => {
    const y = randint(0, 2, [n]);
    const freq = rand([n, 1, 1]).mul(0.2).add(0.15); // cycles per pixel
    const phase = rand([n, 1, 1]).mul(2 * Math.PI);
    const coord = arange(16, undefined, 1, { dtype: 'float32' });
    const wave = (c: Tensor): Tensor =>
      c
        .mul(freq)
        .mul(2 * Math.PI)
        .add(phase)
        .sin();
    const vertical = wave(coord.reshape(1, 1, 16)).expand(n, 16, 16);
    const horizontal = wave(coord.reshape(1, 16, 1)).expand(n, 16, 16);
    const image = where(y.reshape(n, 1, 1).eq(1), horizontal, vertical);
    const x = image
      .unsqueeze(1)
      .expand(n, 3, 16, 16)
      .add(randn([n, 3, 16, 16]).mul(0.5));
    return { x, y };
  });
}

export function runSmoke(options: SmokeOptions = {}, log: (line: string) => void = console.log): SmokeResult {
  const { steps = 150, batchSize = 64, lr = 0.1, seed = 0 } = options;
  manualSeed(seed);
  const params = {
    w1: randn([16, 3, 3, 3])
      .mul(Math.sqrt(2 / 27))
      .requiresGrad_(),
    b1: zeros([16], { requiresGrad: true }),
    w2: randn([2, 16])
      .mul(Math.sqrt(1 / 16))
      .requiresGrad_(),
    b2: zeros([2], { requiresGrad: true }),
  };
  const forward = (x: Tensor): Tensor => {
    const h = F.relu(F.conv2d(x, params.w1, params.b1, { padding: 1 }));
    return F.linear(F.adaptiveAvgPool2d(h, 1).flatten(1), params.w2, params.b2);
  };
  let firstLoss = NaN;
  let lastLoss = NaN;
  const start = performance.now();
  for (let step = 1; step <= steps; step++) {
    lastLoss = tidy(() => {
      const { x, y } = batch(batchSize);
      const loss = F.crossEntropy(forward(x), y);
      loss.backward();
      noGrad(() => {
        for (const p of Object.values(params)) {
          p.sub_(p.grad!, lr);
          p.grad = null;
        }
      });
      return loss.item();
    });
    if (step === 1) firstLoss = lastLoss;
    if (step === 1 || step % 25 === 0) log(`step ${String(step).padStart(4)}  loss ${lastLoss.toFixed(4)}`);
  }
  const seconds = (performance.now() - start) / 1000;
  const accuracy = tidy(() =>
    noGrad(() => {
      const { x, y } = batch(1000);
      return forward(x).argmax(1).eq(y).float().mean().item();
    }),
  );
  const imagesPerSec = (steps * batchSize) / seconds;
  log(
    `accuracy on 1000 new images: ${(accuracy * 100).toFixed(1)}%  (${imagesPerSec.toFixed(0)} images/s, ` +
      `${memory().liveTensors} live tensors)`,
  );
  return { firstLoss, lastLoss, accuracy, imagesPerSec };
}
