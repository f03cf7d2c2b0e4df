/**
 * Linear algebra of matrices (and batches of them), PyTorch's `torch.linalg`.
 * @module
 */
import { callTensors, type Tensor } from './tensor.js';

/** A = Q·R with Q orthonormal columns and R upper triangular; 'reduced' (default) or 'complete'. */
export function qr(a: Tensor, mode: 'reduced' | 'complete' = 'reduced'): { Q: Tensor; R: Tensor } {
  const [Q, R] = callTensors('aten::linalg_qr', a, mode) as [Tensor, Tensor];
  return { Q, R };
}

/**
 * The eigenvalues (ascending) and eigenvectors (the columns of `eigenvectors`) of a symmetric matrix, read
 * from its lower ('L', default) or upper ('U') triangle.
 */
export function eigh(a: Tensor, uplo: 'L' | 'U' = 'L'): { eigenvalues: Tensor; eigenvectors: Tensor } {
  const [eigenvalues, eigenvectors] = callTensors('aten::linalg_eigh', a, uplo) as [Tensor, Tensor];
  return { eigenvalues, eigenvectors };
}
