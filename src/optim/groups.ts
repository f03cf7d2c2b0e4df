/**
 * Parameter groups that the training recipes use.
 * @module
 */
import { check } from '../tensor/errors.js';
import { Tensor } from '../tensor/tensor.js';

/** A parameter group with a weight decay of its own (accepted by every optimizer). */
export interface WeightDecayGroup {
  params: Tensor[];
  weightDecay: number;
}

/**
 * Splits named parameters into two groups, the seeds' recipe: weights decay with `weightDecay`; biases and
 * the affine parameters of normalization layers — every parameter with at most one dimension — do not
 * (`weightDecay: 0`). Given `exempt` (parts of names, e.g. DynamicBlocks' `['normLayer']`), the parameters whose
 * name contains one of them do not decay instead, and every other parameter does, biases too. Returns
 * `[decayed, notDecayed]`, both present even when empty, so a state dict always has two groups.
 *
 * @example
 * const opt = new SGD(parameterGroupsForWeightDecay(model.namedParameters(), 5e-4), { lr: 0.1, momentum: 0.9 });
 */
export function parameterGroupsForWeightDecay(
  named: Iterable<readonly [string, Tensor]>,
  weightDecay: number,
  exempt?: readonly string[],
): [WeightDecayGroup, WeightDecayGroup] {
  check(weightDecay >= 0, 'parameterGroupsForWeightDecay', `invalid weightDecay value: ${weightDecay}`);
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const [name, p] of named) {
    check(p instanceof Tensor, 'parameterGroupsForWeightDecay', `parameter '${name}' is not a tensor`);
    const exempted = exempt ? exempt.some((part) => name.includes(part)) : p.ndim <= 1;
    (exempted ? noDecay : decay).push(p);
  }
  return [
    { params: decay, weightDecay },
    { params: noDecay, weightDecay: 0 },
  ];
}
