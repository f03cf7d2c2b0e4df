/**
 * Test-time augmentation of a trained run: the validation accuracy of a saved model with several sets of views
 * (horizontal flip × shifts by (dy, dx) with reflect padding), each the mean of its views' logits. The run's own
 * validation split (as the trainer carves it); the model's precision.
 *   node dist/bench/tta-views.js RUN_DIR [DATA]
 */
import { autocast, F, noGrad, type Tensor, tidy } from '../src/index.js';
import { evaluationImages, loadTrainedModel, streamOf } from '../src/train/index.js';

type View = readonly [flip: boolean, dy: number, dx: number];

const [runDir, dataArg] = process.argv.slice(2);
if (runDir === undefined) {
  console.error('usage: node dist/bench/tta-views.js RUN_DIR [DATA]');
  process.exit(2);
}

const MAX_SHIFT = 2;
const square = (r: number) =>
  Array.from({ length: (2 * r + 1) ** 2 }, (_, i) => [Math.floor(i / (2 * r + 1)) - r, (i % (2 * r + 1)) - r]);
const withFlips = (shifts: number[][]): View[] =>
  [false, true].flatMap((f) => shifts.map(([dy, dx]) => [f, dy!, dx!] as const));
const VIEW_SETS: Record<string, View[]> = {
  none: [[false, 0, 0]],
  flip: withFlips([[0, 0]]),
  'flip + diagonal ±1': withFlips([
    [0, 0],
    [1, 1],
    [-1, -1],
  ]),
  'flip + diagonal ±1, ±2': withFlips([
    [0, 0],
    [1, 1],
    [-1, -1],
    [2, 2],
    [-2, -2],
  ]),
  'flip + 4-neighbours ±1': withFlips([
    [0, 0],
    [1, 0],
    [-1, 0],
    [0, 1],
    [0, -1],
  ]),
  'flip + 3×3 shifts': withFlips(square(1)),
  'flip + 5×5 shifts': withFlips(square(2)),
};

const trained = loadTrainedModel(runDir);
const { config, data, model } = trained;
const { dataset: val, description } = await evaluationImages(trained, 'val', dataArg);
console.log(`${val.n} images: ${description}`);
const stream = streamOf(val, {
  seed: config.seed,
  shuffle: false,
  dropLast: false,
  augment: null,
  normalization: data.normalization,
});
model.eval();
const correct = new Map(Object.keys(VIEW_SETS).map((name) => [name, 0]));
for await (const batch of stream.batches(0, 500, 0)) {
  tidy(() =>
    noGrad(() => {
      const run = () => {
        const [h, w] = [batch.x.shape[2]!, batch.x.shape[3]!];
        const padded = F.pad(batch.x, [MAX_SHIFT, MAX_SHIFT, MAX_SHIFT, MAX_SHIFT], 'reflect');
        const logits = new Map<string, Tensor>();
        const of = ([flip, dy, dx]: View) => {
          const key = `${flip} ${dy} ${dx}`;
          let l = logits.get(key);
          if (l === undefined) {
            const shifted = padded.narrow(2, MAX_SHIFT + dy, h).narrow(3, MAX_SHIFT + dx, w);
            l = (model.forward((flip ? shifted.flip(3) : shifted) as never) as Tensor).float();
            logits.set(key, l);
          }
          return l;
        };
        for (const [name, views] of Object.entries(VIEW_SETS)) {
          const mean = views.map(of).reduce((a, b) => a.add(b));
          const hits = mean.argmax(1).eq(batch.y).sum().item();
          correct.set(name, correct.get(name)! + hits);
        }
      };
      return config.precision === 'bf16' ? autocast(run) : run();
    }),
  );
  batch.x.dispose();
  batch.y.dispose();
}
await stream.close();
model.dispose();
for (const [name, hits] of correct)
  console.log(
    `${name}: ${((100 * hits) / val.n).toFixed(2)}% (${VIEW_SETS[name]!.length} view${VIEW_SETS[name]!.length > 1 ? 's' : ''})`,
  );
