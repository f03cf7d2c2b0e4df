/**
 * Boundary conditions. Padding is the boundary condition of the PDE a ConvNet solves:
 * - `zeros`: Dirichlet, u = 0 outside (the usual padding);
 * - `reflect`: Neumann, mirrored about the edge pixel (ghost u[−1] = u[1]; a vertex-centred grid);
 * - `replicate`: Neumann, the edge value repeated (ghost u[−1] = u[0]; a cell-centred grid, so the
 *   five-point Laplacian conserves the plain sum of u exactly);
 * - `circular`: periodic.
 * @module
 */
import { zeros } from '../tensor/creation.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import { call, type Tensor } from '../tensor/tensor.js';
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

/**
 * Pᵀw, the adjoint of {@link padBoundary}: crops w's border of `width` and adds each ghost value onto the
 * cell it copies (reflect, replicate: libtorch's reflection/replication_pad2d_backward, differentiable;
 * circular: the wrapped rows and columns; zeros: the crop alone). ⟨P u, w⟩ = ⟨u, Pᵀw⟩.
 */
export function padBoundaryAdjoint(w: Tensor, width: number, boundary: Boundary): Tensor {
  const [n, c, h, wd] = w.shape as [number, number, number, number];
  const inner = [n, c, h - 2 * width, wd - 2 * width];
  if (boundary === 'zeros') return w.narrow(2, width, inner[2]!).narrow(3, width, inner[3]!);
  if (boundary === 'circular') {
    return tidy(() => {
      const wrap = (x: Tensor, dim: number, size: number) => {
        const body = x.narrow(dim, width, size);
        const low = x.narrow(dim, 0, width);
        const high = x.narrow(dim, size + width, width);
        // Ghost cells on the low side copy the last `width` cells, those on the high side the first.
        return body.add(F.pad(high, padsAlong(dim, 0, size - width))).add(F.pad(low, padsAlong(dim, size - width, 0)));
      };
      return wrap(wrap(w, 2, inner[2]!), 3, inner[3]!);
    });
  }
  const op = boundary === 'reflect' ? 'aten::reflection_pad2d_backward' : 'aten::replication_pad2d_backward';
  // The backward reads only the unpadded input's shape from its second argument: a stride-0 view of one zero.
  return tidy(() => call(op, w, zeros([1], { dtype: w.dtype }).expand(inner), [width, width, width, width]));
}

/** F.pad sizes that pad dimension `dim` (2 or 3 of an N×C×H×W tensor) by `before` and `after`. */
function padsAlong(dim: number, before: number, after: number): number[] {
  return dim === 3 ? [before, after] : [0, 0, before, after];
}

/**
 * K u + b: the 3×3 convolution with weight K (C_out×C_in×3×3) on u padded by the boundary condition; same
 * size out.
 */
export function convK(u: Tensor, weight: Tensor, bias: Tensor | null, boundary: Boundary): Tensor {
  if (boundary === 'zeros') return F.conv2d(u, weight, bias, { padding: 1 });
  return tidy(() => F.conv2d(padBoundary(u, 1, boundary), weight, bias));
}

/**
 * Kᵀ z + b, the exact adjoint of {@link convK} (⟨K u, z⟩ = ⟨u, Kᵀz⟩ without bias) sharing K's weight. K is
 * P (padding) then a valid convolution C, so Kᵀ = Pᵀ Cᵀ: Cᵀz is the full convolution of z with the flipped,
 * channel-transposed kernel (Kᵀ)_{io}[a, b] = K_{oi}[2 − a, 2 − b], which {@link padBoundaryAdjoint} folds
 * back. For zeros this is conv_transpose2d(z, K, padding 1) and for circular the flipped kernel on a
 * periodic grid, both computed as one conv2d (whose backward is the fast one).
 */
export function convKT(z: Tensor, weight: Tensor, bias: Tensor | null, boundary: Boundary): Tensor {
  return tidy(() => {
    const flipped = weight.transpose(0, 1).flip([2, 3]);
    if (boundary === 'zeros' || boundary === 'circular') return convK(z, flipped, bias, boundary);
    const full = padBoundaryAdjoint(F.conv2d(z, flipped, null, { padding: 2 }), 1, boundary);
    return bias === null ? full : full.add(bias.reshape(1, -1, 1, 1));
  });
}

/** Applies a 3×3 stencil to every channel of u (N×C×H×W) under the boundary condition; same size out. */
export function applyStencil(u: Tensor, stencil: StencilName | Tensor, boundary: Boundary = 'zeros'): Tensor {
  return tidy(() => {
    const channels = u.shape[1]!;
    const kernel = typeof stencil === 'string' ? stencilKernel(stencil, channels, u.dtype) : stencil;
    return F.conv2d(padBoundary(u, 1, boundary), kernel, null, { groups: channels });
  });
}
