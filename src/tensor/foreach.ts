/**
 * libtorch's multi-tensor (`_foreach_*`) operators over lists of tensors, as the optimizers use them.
 *
 * One call updates every tensor of a list (one dispatch instead of one per parameter; on CUDA, fused
 * kernels). Each in-place function does nothing for an empty list, which libtorch would reject. The
 * results of the out-of-place ones are new tensors in the current tidy scope.
 *
 * Per-tensor scalars (`Scalar[]` overloads) are not used: the addon cannot pass `Scalar[]` arguments,
 * so callers split their lists by the scalar instead (see adam.ts).
 * @internal
 * @module
 */
import { callInPlace, callTensors, type Tensor } from './tensor.js';

/** self[i] += alpha · other[i] */
export function add_(self: readonly Tensor[], other: readonly Tensor[], alpha = 1): void {
  if (self.length > 0) callInPlace('aten::_foreach_add_.List', self, other, alpha);
}

/** self[i] + alpha · other[i], as new tensors. */
export function add(self: readonly Tensor[], other: readonly Tensor[], alpha = 1): Tensor[] {
  return self.length > 0 ? callTensors('aten::_foreach_add.List', self, other, alpha) : [];
}

/** self[i] += scalar */
export function addScalar_(self: readonly Tensor[], scalar: number): void {
  if (self.length > 0) callInPlace('aten::_foreach_add_.Scalar', self, scalar);
}

/** self[i] ·= scalar */
export function mul_(self: readonly Tensor[], scalar: number): void {
  if (self.length > 0) callInPlace('aten::_foreach_mul_.Scalar', self, scalar);
}

/** self[i] /= scalar */
export function div_(self: readonly Tensor[], scalar: number): void {
  if (self.length > 0) callInPlace('aten::_foreach_div_.Scalar', self, scalar);
}

/** self[i] += value · t1[i] · t2[i] */
export function addcmul_(self: readonly Tensor[], t1: readonly Tensor[], t2: readonly Tensor[], value: number): void {
  if (self.length > 0) callInPlace('aten::_foreach_addcmul_.Scalar', self, t1, t2, value);
}

/** self[i] += value · t1[i] / t2[i] */
export function addcdiv_(self: readonly Tensor[], t1: readonly Tensor[], t2: readonly Tensor[], value: number): void {
  if (self.length > 0) callInPlace('aten::_foreach_addcdiv_.Scalar', self, t1, t2, value);
}

/** self[i] = max(self[i], other[i]) elementwise */
export function maximum_(self: readonly Tensor[], other: readonly Tensor[]): void {
  if (self.length > 0) callInPlace('aten::_foreach_maximum_.List', self, other);
}

/** √self[i], as new tensors. */
export function sqrt(self: readonly Tensor[]): Tensor[] {
  return self.length > 0 ? callTensors('aten::_foreach_sqrt', self) : [];
}

/** −self[i], as new tensors. */
export function neg(self: readonly Tensor[]): Tensor[] {
  return self.length > 0 ? callTensors('aten::_foreach_neg', self) : [];
}
