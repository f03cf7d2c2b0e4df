/**
 * Boundary conditions. Padding is the boundary condition of the PDE a ConvNet solves:
 * - `zeros`: Dirichlet, u = 0 outside (the usual padding);
 * - `reflect`: Neumann, mirrored about the edge pixel (ghost u[−1] = u[1]; a vertex-centred grid);
 * - `replicate`: Neumann, the edge value repeated (ghost u[−1] = u[0]; a cell-centred grid, so the
 *   five-point Laplacian conserves the plain sum of u exactly);
 * - `circular`: periodic.
 * @module
 */
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { PADDING_MODES, type PaddingMode } from '../nn/conv.js';
import { type StencilName, stencilKernel } from './stencils.js';

/** A boundary condition: one of the padding modes of Conv2d. */
export type Boundary = PaddingMode;

export const BOUNDARIES: readonly Boundary[] = PADDING_MODES;

/** Pads the last two dimensions by `width` on every side under the boundary condition. */
export function padBoundary(u: Tensor, width: number, boundary: Boundary): Tensor {
  const pads = [width, width, width, width];
  return boundary === 'zeros' ? F.pad(u, pads, 'constant', 0) : F.pad(u, pads, boundary);
}

/** Applies a 3×3 stencil to every channel of u (N×C×H×W) under the boundary condition; same size out. */
export function applyStencil(u: Tensor, stencil: StencilName | Tensor, boundary: Boundary = 'zeros'): Tensor {
  return tidy(() => {
    const channels = u.shape[1]!;
    const kernel = typeof stencil === 'string' ? stencilKernel(stencil, channels, u.dtype) : stencil;
    return F.conv2d(padBoundary(u, 1, boundary), kernel, null, { groups: channels });
  });
}
