/**
 * The operator basis: 3×3 stencils of the differential operators a 3×3 convolution can express.
 *
 * Convolution in pdenet (as in PyTorch) is cross-correlation: (K ⋆ u)[i, j] = Σ K[a, b]·u[i + a − 1, j + b − 1],
 * with x along columns (j) and y along rows (i, downward), unit grid spacing. So the central
 * difference ∂x u ≈ (u[i, j+1] − u[i, j−1]) / 2 is the stencil [[0, 0, 0], [−½, 0, ½], [0, 0, 0]].
 * Sobel and Gaussian stencils are normalized so that they approximate ∂x and (1 + ¼Δ) respectively.
 * @module
 */
import type { DType } from '../tensor/dtype.js';
import { check } from '../tensor/errors.js';
import { tensor } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

export type Stencil = readonly [
  readonly [number, number, number],
  readonly [number, number, number],
  readonly [number, number, number],
];

/** The named stencils. */
export const STENCILS = {
  /** u */
  identity: [
    [0, 0, 0],
    [0, 1, 0],
    [0, 0, 0],
  ],
  /** ∂u/∂x, central difference */
  dx: [
    [0, 0, 0],
    [-0.5, 0, 0.5],
    [0, 0, 0],
  ],
  /** ∂u/∂y, central difference (y downward) */
  dy: [
    [0, -0.5, 0],
    [0, 0, 0],
    [0, 0.5, 0],
  ],
  /** ∂u/∂x, Sobel: the central difference smoothed across y, divided by 8 */
  sobelX: [
    [-1 / 8, 0, 1 / 8],
    [-2 / 8, 0, 2 / 8],
    [-1 / 8, 0, 1 / 8],
  ],
  /** ∂u/∂y, Sobel */
  sobelY: [
    [-1 / 8, -2 / 8, -1 / 8],
    [0, 0, 0],
    [1 / 8, 2 / 8, 1 / 8],
  ],
  /** ∂²u/∂x² */
  dxx: [
    [0, 0, 0],
    [1, -2, 1],
    [0, 0, 0],
  ],
  /** ∂²u/∂y² */
  dyy: [
    [0, 1, 0],
    [0, -2, 0],
    [0, 1, 0],
  ],
  /** ∂²u/∂x∂y */
  dxy: [
    [0.25, 0, -0.25],
    [0, 0, 0],
    [-0.25, 0, 0.25],
  ],
  /** Δu = ∂²u/∂x² + ∂²u/∂y², five-point */
  laplacian: [
    [0, 1, 0],
    [1, -4, 1],
    [0, 1, 0],
  ],
  /** Gaussian smoothing, (1/16)[1 2 1; 2 4 2; 1 2 1] ≈ 1 + ¼Δ */
  gaussian: [
    [1 / 16, 2 / 16, 1 / 16],
    [2 / 16, 4 / 16, 2 / 16],
    [1 / 16, 2 / 16, 1 / 16],
  ],
} as const satisfies Record<string, Stencil>;

export type StencilName = keyof typeof STENCILS;

/** The order in which the depthwise operator basis is initialized: 0th, 1st, then 2nd order. */
export const BASIS_ORDER: readonly StencilName[] = [
  'identity',
  'dx',
  'dy',
  'laplacian',
  'dxx',
  'dyy',
  'dxy',
  'gaussian',
];

/**
 * A depthwise kernel (shape [channels, 1, 3, 3]) applying the named stencil to every channel,
 * for `F.conv2d(u, kernel, null, { groups: channels })`.
 */
export function stencilKernel(name: StencilName, channels = 1, dtype: DType = 'float32'): Tensor {
  const stencil = STENCILS[name];
  check(
    stencil !== undefined,
    'stencilKernel',
    `unknown stencil "${name}"; known: ${Object.keys(STENCILS).join(', ')}`,
  );
  const flat = Array.from({ length: channels }, () => stencil.flat()).flat();
  return tensor(flat, { dtype, shape: [channels, 1, 3, 3] });
}
