/**
 * What a model can do for its trainer beyond `forward`, each ability an optional method the model declares
 * (the trainer calls those a model has; it never asks a model's class).
 * @module
 */
import type { Tensor } from '../tensor/tensor.js';

export interface TrainingAbilities {
  /** The model as a chain of functions, for checkpointed steps that recompute each link in the backward pass. */
  segments?(): ((x: Tensor) => Tensor)[];
  /** A penalty on how fast the weights change with time (dynamic blocks), added with the run's weight. */
  timeRegularization?(): Tensor;
  /** Sets layers from a sample of training images before the first step; returns what it set, for the log. */
  initFromData?(images: Tensor): string;
  /** The model's own constraints after each optimizer step (RKNet: the reference's box constraints, when on). */
  clip?(): void;
}
