/**
 * The addon alone: the one file of bench/ that reaches below pdenet's public API, because what it measures is the
 * binding's own share of a call. It makes the overhead benchmark's tiny ops with `native.call` / `native.dispose`
 * on the tensors' raw handles, without the Tensor class, so that the overhead benchmark can split pdenet's cost
 * into the JavaScript wrapper (pdenet − addon alone) and N-API with its conversions (addon alone − C++ boxed).
 * @module
 */
import type { Tensor } from '../../src/index.js';
import { native, type NativeTensor } from '../../src/native/binding.js';

let _sink = 0;

/** A loop of `n` calls of one op. */
export type Calls = (n: number) => void;

/**
 * The overhead benchmark's ops straight through the addon, on the handles of `one` (1 element), `x`, `y` and `acc`
 * (4 elements each); each result is released at once. `napiFloor` is the cheapest call into the addon (it reads one
 * flag): the floor of any N-API round trip.
 */
export function addonAloneCases(t: {
  one: Tensor;
  x: Tensor;
  y: Tensor;
  acc: Tensor;
}): Record<'add' | 'mul' | 'relu' | 'add_' | 'shape' | 'napiFloor', Calls> {
  const ops = {
    add: native.findOp('aten::add', 'Scalar'),
    mul: native.findOp('aten::mul', 'Tensor'),
    relu: native.findOp('aten::relu', ''),
    add_: native.findOp('aten::add_', 'Scalar'),
  };
  const [h1, hx, hy, hacc] = [t.one.handle, t.x.handle, t.y.handle, t.acc.handle];
  return {
    add: (n) => {
      for (let i = 0; i < n; i++) native.dispose(native.call(ops.add, h1, 1, 1) as NativeTensor);
    },
    mul: (n) => {
      for (let i = 0; i < n; i++) native.dispose(native.call(ops.mul, hx, hy) as NativeTensor);
    },
    relu: (n) => {
      for (let i = 0; i < n; i++) native.dispose(native.call(ops.relu, hx) as NativeTensor);
    },
    add_: (n) => {
      for (let i = 0; i < n; i++) native.callInPlace(ops.add_, hacc, 1, 1);
    },
    shape: (n) => {
      for (let i = 0; i < n; i++) _sink += native.shape(hx)[0]!;
    },
    napiFloor: (n) => {
      for (let i = 0; i < n; i++) _sink += native.gradEnabled() ? 1 : 0;
    },
  };
}
