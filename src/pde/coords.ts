/**
 * Coordinate fields: the functions of (x, y) that make a PDE's coefficients vary in space.
 *
 * A ResNet is a PDE with constant coefficients; multiplying an operator's output by x or y (the twist)
 * makes them variable. x runs along the width (column j), y along the height (row i, downward).
 * Conventions:
 * - `centered` (the seed notebook): x = j/W − 0.5, y = i/H − 0.5;
 * - `corner` (the torchvision Bottleneck of "ConvNets from the PDE perspective", as its code computes):
 *   x = 2j/W − 1, y = 2i/H − 1, each pixel at its upper-left corner on [−1, 1]; `seed003` is a deprecated
 *   name of it;
 * - `unit`: x = 2j/(W − 1) − 1, y = 2i/(H − 1) − 1, so the grid spans [−1, 1] exactly.
 *
 * Fields are built once per (size, convention, features, dtype) and cached, never rebuilt per forward.
 * @module
 */
import { arange, ones } from '../tensor/creation.js';
import type { DType } from '../tensor/dtype.js';
import { check, describe } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import { cat, type Tensor } from '../tensor/tensor.js';

export type CoordinateConvention =
  | 'centered'
  | 'corner'
  | 'unit'
  /** @deprecated use 'corner' */
  | 'seed003';

/** The coordinate conventions, for checks and messages. */
export const COORDINATE_CONVENTIONS: readonly CoordinateConvention[] = ['centered', 'corner', 'unit', 'seed003'];

/** Refuses a convention outside {@link COORDINATE_CONVENTIONS}, naming the operation. */
export function checkConvention(convention: unknown, op: string): asserts convention is CoordinateConvention {
  check(
    COORDINATE_CONVENTIONS.includes(convention as CoordinateConvention),
    op,
    () => `convention must be one of centered, corner, unit, got ${describe(convention)}`,
  );
}

/** Options of {@link polynomialFeatures}. */
export interface FeatureOptions {
  convention?: CoordinateConvention;
  /** Highest total degree: 1 gives [x, y], 2 gives [x, y, x², xy, y²] (default 2). */
  degree?: 1 | 2;
  /** Prepend the constant 1 (default true), as the seed's code does. */
  constant?: boolean;
  dtype?: DType;
}

const cache = new Map<string, Tensor>();

function axis(n: number, convention: CoordinateConvention, dtype: DType): Tensor {
  const j = arange(n, undefined, 1, { dtype });
  switch (convention) {
    case 'centered':
      return j.div(n).sub(0.5);
    case 'corner':
    case 'seed003':
      return j.mul(2 / n).sub(1);
    case 'unit':
      return n === 1 ? j.mul(0) : j.mul(2 / (n - 1)).sub(1);
    default:
      checkConvention(convention, 'coordinates');
      throw new Error('unreachable');
  }
}

const axes = new Map<string, { x: Tensor; y: Tensor }>();

/**
 * The coordinate fields x and y on an H×W grid, each of shape [1, 1, H, W] (cached; do not dispose).
 */
export function coordinates(
  height: number,
  width: number,
  convention: CoordinateConvention = 'centered',
  dtype: DType = 'float32',
): { x: Tensor; y: Tensor } {
  check(
    Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0,
    'coordinates',
    `the grid must be a positive size, got ${height}×${width}`,
  );
  const key = `${height}x${width}:${convention}:${dtype}`;
  let xy = axes.get(key);
  if (xy === undefined) {
    xy = tidy(() => ({
      x: keep(axis(width, convention, dtype).reshape(1, 1, 1, width).expand(1, 1, height, width).contiguous()),
      y: keep(axis(height, convention, dtype).reshape(1, 1, height, 1).expand(1, 1, height, width).contiguous()),
    }));
    axes.set(key, xy);
  }
  return xy;
}

/**
 * Polynomial features of the coordinates up to `degree`, stacked as channels in the seed's order
 * [1, x, y, x², xy, y²] (shape [1, k, H, W]; cached — do not dispose).
 */
export function polynomialFeatures(height: number, width: number, options: FeatureOptions = {}): Tensor {
  const { convention = 'centered', degree = 2, constant = true, dtype = 'float32' } = options;
  const key = `${height}x${width}:${convention}:${degree}:${constant}:${dtype}`;
  let features = cache.get(key);
  if (features === undefined) {
    const { x, y } = coordinates(height, width, convention, dtype);
    features = keep(
      tidy(() => {
        const terms = [x, y];
        if (degree === 2) terms.push(x.mul(x), x.mul(y), y.mul(y));
        if (constant) terms.unshift(ones([1, 1, height, width], { dtype }));
        return cat(terms, 1);
      }),
    );
    cache.set(key, features);
  }
  return features;
}
