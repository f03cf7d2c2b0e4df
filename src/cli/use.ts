/**
 * `pdenet eval`, `pdenet predict`, `pdenet models` and `pdenet bench`: using and measuring models.
 * @module
 */
import { type Command, Option } from 'commander';
import { listModels } from '../models/registry.js';
import { benchModel } from '../train/bench.js';
import { loadTrainedModel } from '../train/run.js';
import { evaluateTrained, predictImages } from '../train/trained.js';
import { nonNegativeInt, positiveInt, twistFlags } from './options.js';

function percent(v: number): string {
  return Number.isNaN(v) ? '   –  ' : `${(v * 100).toFixed(2).padStart(6)}%`;
}

/** `pdenet eval`, `predict`, `models` and `bench`. */
export function registerUse(program: Command): void {
  registerEval(program);
  registerPredict(program);
  registerModels(program);
  registerBench(program);
}

function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate a trained model: accuracy, loss, per-class accuracy and confusion matrix')
    .argument('<checkpoint>', 'a run folder, its checkpoints/best.safetensors, or a training checkpoint')
    .option('--data <path>', "the images (as for train; default: the run's)")
    .addOption(
      new Option(
        '--split <split>',
        "val: the run's own validation split of the data; all: every image of the data " +
          "(default with --data); test: the data's test split",
      ).choices(['val', 'all', 'test']),
    )
    .option('--tta', "with horizontal-flip test-time augmentation (default: as the run's final evaluation)")
    .option('--no-tta', 'without horizontal-flip test-time augmentation')
    .option(
      '--tta-translate <pixels>',
      "also average over shifts by ± this many pixels (default: as the run's final evaluation)",
      nonNegativeInt,
    )
    .option('--json', 'print one JSON object {accuracy, loss, n, images, perClass}')
    .action(evalCommand);
}

async function evalCommand(
  path: string,
  flags: { data?: string; split?: 'val' | 'all' | 'test'; tta?: boolean; ttaTranslate?: number; json?: boolean },
): Promise<void> {
  const trained = loadTrainedModel(path);
  const { evaluation: result, description } = await evaluateTrained(trained, {
    split: flags.split ?? (flags.data ? 'all' : 'val'),
    data: flags.data,
    tta: flags.tta,
    ttaTranslate: flags.ttaTranslate,
  });
  const { classes } = trained.data;
  if (flags.json) {
    console.log(
      JSON.stringify({
        accuracy: result.accuracy,
        loss: result.loss,
        n: result.n,
        images: description,
        perClass: Object.fromEntries(classes.map((c, k) => [c, result.perClass[k]])),
      }),
    );
    return;
  }
  console.log(
    `${trained.config.model} (${trained.weights}) on ${result.n} images, ${description}: ` +
      `accuracy ${percent(result.accuracy)}, loss ${result.loss.toFixed(4)}`,
  );
  const width = Math.max(...classes.map((c) => c.length));
  console.log(`\n${'class'.padEnd(width)}  accuracy  ${classes.map((_, k) => String(k).padStart(5)).join('')}`);
  classes.forEach((c, k) =>
    console.log(
      `${`${k} ${c}`.padEnd(width + 2)}${percent(result.perClass[k]!)}  ` +
        result.confusion[k]!.map((v) => String(v).padStart(5)).join(''),
    ),
  );
}

function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('classify images with a trained model')
    .argument('<checkpoint>', 'a run folder or a weights file')
    .argument('<images...>', 'JPEG or PNG files, or folders of them')
    .option('--json', 'print JSON')
    .action(async (path: string, images: string[], flags: { json?: boolean }) => {
      const predictions = await predictImages(loadTrainedModel(path), images);
      if (flags.json) {
        console.log(JSON.stringify(predictions));
        return;
      }
      for (const p of predictions) {
        console.log(
          `${p.file}: ${p.label} (${(p.probability * 100).toFixed(1)}%)  ` +
            p.top
              .slice(1, 3)
              .map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`)
              .join(', '),
        );
      }
    });
}

function registerModels(program: Command): void {
  program
    .command('models')
    .description('list the models: name, parameters, FLOPs at 32×32 (ImageNet-style at 224×224)')
    .option('--json', 'print JSON')
    .option('--no-flops', 'skip the FLOP count (a forward pass per model)')
    .action((flags: { json?: boolean; flops: boolean }) => {
      const models = listModels({ flops: flags.flops });
      if (flags.json) {
        console.log(JSON.stringify(models));
        return;
      }
      const width = Math.max(...models.map((m) => m.name.length));
      console.log(`${'model'.padEnd(width)}  ${'params'.padStart(11)}  ${'GFLOPs'.padStart(7)}  description`);
      for (const m of models) {
        const flops = typeof m.flops === 'number' ? (m.flops / 1e9).toFixed(3) : '–';
        console.log(
          `${m.name.padEnd(width)}  ${m.params.toLocaleString('en-US').padStart(11)}  ${flops.padStart(7)}  ${m.description}`,
        );
      }
    });
}

function registerBench(program: Command): void {
  program
    .command('bench')
    .description('training and inference images/s on random data (as ../shared/reference/pytorch_twist.py)')
    .requiredOption('--model <name>', 'model from `pdenet models`')
    .option('--twist [flags]', 'twist on (or per stage: 1,1,1,0)', twistFlags)
    .option('--width <n>', 'channels of the first stage', positiveInt)
    .option('--batch-size <n>', 'images per step', positiveInt, 128)
    .option('--steps <n>', 'timed steps', positiveInt, 10)
    .addOption(new Option('--precision <p>', 'fp32 or bf16').choices(['fp32', 'bf16']).default('fp32'))
    .option('--channels-last', 'lay out convolution kernels channels-last')
    .option('--json', 'print one JSON object {trainImagesPerSec, inferImagesPerSec, threads}')
    .action(
      (flags: {
        model: string;
        twist?: boolean | boolean[];
        width?: number;
        batchSize: number;
        steps: number;
        precision: 'fp32' | 'bf16';
        channelsLast?: boolean;
        json?: boolean;
      }) => {
        const r = benchModel({
          model: flags.model,
          batchSize: flags.batchSize,
          steps: flags.steps,
          precision: flags.precision,
          channelsLast: flags.channelsLast ?? false,
          modelOptions: { twist: flags.twist ?? false, ...(flags.width ? { width: flags.width } : {}) },
        });
        if (flags.json) {
          console.log(
            JSON.stringify({
              trainImagesPerSec: r.trainImagesPerSec,
              inferImagesPerSec: r.inferImagesPerSec,
              threads: r.threads,
            }),
          );
          return;
        }
        console.log(
          `${r.model} twist=${JSON.stringify(flags.twist ?? false)} batch=${r.batchSize} threads=${r.threads}: ` +
            `train ${r.trainImagesPerSec.toFixed(1)} img/s, inference ${r.inferImagesPerSec.toFixed(1)} img/s`,
        );
      },
    );
}
