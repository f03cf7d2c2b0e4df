/**
 * Training checkpoints: one safetensors file per checkpoint holding the model's state dict (`model.*`),
 * the EMA weights (`ema.*`), the optimizer's tensors (`optim.<param>.<name>`) and, in the metadata, the
 * rest of the training state as JSON. One file means one atomic rename: a checkpoint is either the old
 * one or the new one, never half of each, even when the process is killed while writing.
 *
 * Beside it, `<name>.safetensors` holds the plain model weights for `pdenet eval`, `predict` and
 * PyTorch users (keys exactly the model's state dict).
 * @module
 */
import { existsSync } from 'node:fs';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { TorchError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import type { OptimizerStateDict, ParamStateDict } from '../optim/optimizer.js';
import type { SchedulerStateDict } from '../optim/schedule.js';
import type { PlateauState } from './plateau.js';

/** Everything besides tensors that a resumed run needs. */
export interface TrainingState {
  /** The epoch to run next (0-based) and the batch within it to start at. */
  epoch: number;
  batch: number;
  /** Optimizer steps taken so far. */
  step: number;
  scheduler: SchedulerStateDict;
  bestAccuracy: number;
  bestEpoch: number;
  /** The validation loss of the best epoch (absent before one is validated). */
  bestLoss?: number;
  /** Seconds of training so far (summed over resumptions). */
  seconds: number;
  /**
   * The epoch of the run's `epochs` whose staged twist and frozen parameters (`twistSchedule`, `freezeAfter`) the
   * epoch in progress trains with, or between epochs the last one trained with: its own, or with a time budget's
   * schedule (`budgetSchedule: time`) where the share of the budget spent stood when it started. Absent in
   * checkpoints written before it was recorded.
   */
  scheduleEpoch?: number;
  /** The plateau rule's bookkeeping (runs with plateau.patience > 0). */
  plateau?: PlateauState;
  /** When stopped within an epoch: the sums of the batches already run in it. */
  partial?: { lossSum: number; correct: number; seen: number; seconds: number; dataSeconds: number };
}

/** The `format` in a training checkpoint's metadata. */
export const CHECKPOINT_FORMAT = 'pdenet-checkpoint-1';
const FORMAT = CHECKPOINT_FORMAT;

/** What a training checkpoint holds. */
export interface CheckpointParts {
  model: Module;
  ema?: Module | null;
  optimizer: OptimizerStateDict;
  state: TrainingState;
  config: unknown;
}

/** Writes a checkpoint, atomically. */
export function saveCheckpoint(path: string, parts: CheckpointParts): void {
  const tensors = new Map<string, Tensor>();
  for (const [k, v] of parts.model.stateDict()) tensors.set(`model.${k}`, v);
  if (parts.ema) for (const [k, v] of parts.ema.stateDict()) tensors.set(`ema.${k}`, v);
  const optimScalars: Record<string, Record<string, number | null>> = {};
  for (const [index, entry] of Object.entries(parts.optimizer.state)) {
    for (const [name, value] of Object.entries(entry)) {
      if (value !== null && typeof value === 'object') tensors.set(`optim.${index}.${name}`, value);
      else (optimScalars[index] ??= {})[name] = value;
    }
  }
  saveSafetensors(path, tensors, {
    format: FORMAT,
    state: JSON.stringify(parts.state),
    paramGroups: JSON.stringify(parts.optimizer.param_groups),
    optimScalars: JSON.stringify(optimScalars),
    config: JSON.stringify(parts.config),
  });
}

/** Writes the model's state dict alone (keys as in PyTorch). */
export function saveWeights(path: string, model: Module, metadata: Record<string, string> = {}): void {
  saveSafetensors(path, model.stateDict(), { format: 'pdenet-weights-1', ...metadata });
}

export interface LoadedCheckpoint {
  model: Map<string, Tensor>;
  ema: Map<string, Tensor> | null;
  optimizer: OptimizerStateDict;
  state: TrainingState;
  config: unknown;
  /** Frees the tensors read (after they were copied into the model and optimizer). */
  dispose(): void;
}

function parseJson(text: string | undefined, what: string, path: string): unknown {
  if (text === undefined)
    throw new TorchError(`${path} has no ${what} in its metadata: not a pdenet checkpoint`, 'loadCheckpoint');
  try {
    return JSON.parse(text);
  } catch {
    throw new TorchError(`${path}: the ${what} in its metadata is not valid JSON`, 'loadCheckpoint');
  }
}

/** Reads a checkpoint written by saveCheckpoint; clear errors for missing, corrupt or foreign files. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new TorchError(`no checkpoint at ${path}`, 'loadCheckpoint');
  const { tensors, metadata } = loadSafetensors(path);
  if (metadata.format !== FORMAT) {
    for (const t of tensors.values()) t.dispose();
    throw new TorchError(
      `${path} is not a pdenet training checkpoint (format ${JSON.stringify(metadata.format)})`,
      'loadCheckpoint',
    );
  }
  const model = new Map<string, Tensor>();
  const ema = new Map<string, Tensor>();
  const state: Record<number, ParamStateDict> = {};
  const scalars = parseJson(metadata.optimScalars, 'optimizer scalars', path) as Record<
    string,
    Record<string, number | null>
  >;
  for (const [index, entry] of Object.entries(scalars)) state[Number(index)] = { ...entry };
  for (const [key, t] of tensors) {
    const [kind, ...rest] = key.split('.');
    if (kind === 'model') model.set(rest.join('.'), t);
    else if (kind === 'ema') ema.set(rest.join('.'), t);
    else if (kind === 'optim') (state[Number(rest[0])] ??= {})[rest.slice(1).join('.')] = t;
  }
  return {
    model,
    ema: ema.size > 0 ? ema : null,
    optimizer: {
      state,
      param_groups: parseJson(metadata.paramGroups, 'parameter groups', path) as OptimizerStateDict['param_groups'],
    },
    state: parseJson(metadata.state, 'training state', path) as TrainingState,
    config: parseJson(metadata.config, 'config', path),
    dispose: () => {
      for (const t of tensors.values()) t.dispose();
    },
  };
}
