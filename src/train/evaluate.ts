/**
 * Evaluation: accuracy, loss, per-class accuracy and the confusion matrix of a classifier on batches,
 * optionally with horizontal-flip test-time augmentation (the logits of x and of its mirror image are
 * averaged).
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { autocast } from '../tensor/runtime.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { tensor } from '../tensor/creation.js';
import type { ProcessGroup } from '../distributed/group.js';

/** A labelled batch: x float32 N×C×H×W, y int64 N. */
export interface Batch {
  x: Tensor;
  y: Tensor;
}

export interface Evaluation {
  accuracy: number;
  loss: number;
  n: number;
  /** Accuracy of each class (NaN for a class with no examples). */
  perClass: number[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
}

/**
 * The logits of a classifier, averaged with those of the mirrored batch when `tta`. With `translate` = t > 0,
 * those logits are averaged, with weight 1/2, with the mean of the logits of the batch shifted by (−t, −t)
 * and by (t, t) (reflect padding) — the translation test-time augmentation of the CIFAR-10 speed runs.
 */
export function predictLogits(model: Module, x: Tensor, tta = false, translate = 0): Tensor {
  return tidy(() => {
    const predict = (input: Tensor) => {
      const logits = model.forward(input as never) as Tensor;
      return tta ? logits.add(model.forward(input.flip(3) as never) as Tensor).div(2) : logits;
    };
    const logits = predict(x);
    if (translate === 0) return logits;
    const [h, w] = [x.shape[2]!, x.shape[3]!];
    const padded = F.pad(x, [translate, translate, translate, translate], 'reflect');
    const shifted = [0, 2 * translate].map((o) => predict(padded.narrow(2, o, h).narrow(3, o, w)));
    return logits.add(shifted[0]!.add(shifted[1]!).div(2)).div(2);
  });
}

/** Evaluates `model` (in eval mode, restored afterwards) on every batch; it disposes each batch's tensors. */
export async function evaluate(
  model: Module,
  batches: AsyncIterable<Batch> | Iterable<Batch>,
  numClasses: number,
  options: { tta?: boolean; translate?: number; precision?: 'fp32' | 'bf16' } = {},
): Promise<Evaluation> {
  const wasTraining = model.training;
  model.eval();
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let lossSum = 0;
  let n = 0;
  try {
    for await (const batch of batches) {
      let scored: { loss: number; predicted: BigInt64Array; labels: BigInt64Array };
      try {
        scored = tidy(() =>
          noGrad(() => {
            const predict = () => predictLogits(model, batch.x, options.tta ?? false, options.translate ?? 0);
            const logits = (options.precision === 'bf16' ? autocast(predict) : predict()).float();
            return {
              loss: F.crossEntropy(logits, batch.y, { reduction: 'sum' }).item(),
              predicted: logits.argmax(1).toTypedArray() as BigInt64Array,
              labels: batch.y.toTypedArray() as BigInt64Array,
            };
          }),
        );
      } finally {
        batch.x.dispose();
        batch.y.dispose();
      }
      const { loss, predicted, labels } = scored;
      lossSum += loss;
      for (let i = 0; i < labels.length; i++) confusion[Number(labels[i])]![Number(predicted[i])]! += 1;
      n += labels.length;
    }
  } finally {
    model.train(wasTraining);
  }
  return evaluationOf(confusion, lossSum, n);
}

function evaluationOf(confusion: number[][], lossSum: number, n: number): Evaluation {
  const correct = confusion.reduce((sum, row, c) => sum + row[c]!, 0);
  return {
    accuracy: n > 0 ? correct / n : NaN,
    loss: n > 0 ? lossSum / n : NaN,
    n,
    perClass: confusion.map((row, c) => {
      const total = row.reduce((a, b) => a + b, 0);
      return total > 0 ? row[c]! / total : NaN;
    }),
    confusion,
  };
}

/**
 * The evaluation of every rank's part together, the same on every rank: the loss sums, counts and confusion
 * matrices all-reduced (one collective), so that it equals one process's evaluation of the whole split.
 */
export function allReduceEvaluation(group: ProcessGroup, part: Evaluation): Evaluation {
  const lossSum = part.n > 0 ? part.loss * part.n : 0;
  const t = tensor([lossSum, part.n, ...part.confusion.flat()], { dtype: 'float64' });
  try {
    group.allReduce(t, 'sum');
    const [loss, n, ...counts] = t.toArray() as number[];
    const k = part.confusion.length;
    const confusion = Array.from({ length: k }, (_, i) => counts.slice(i * k, (i + 1) * k));
    return evaluationOf(confusion, loss!, n!);
  } finally {
    t.dispose();
  }
}
