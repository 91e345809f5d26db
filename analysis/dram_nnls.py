"""Non-negative least squares on sparse normal equations with a low-rank term: the
per-kernel DRAM fit's solver (``dram_kernels`` builds the equations, ``dram_fit`` calls it).

min ||Ax - b||^2 subject to x >= 0, given A^T A (sparse) + U U^T (U dense, few columns: one
closure row per mode) and A^T b. Block principal pivoting (Kim & Park 2011) over passive
sets; each passive-set solve factors the sparse block with SuperLU and adds U U^T by the
Woodbury identity, refined once. Nothing of size n^2 is formed except in the Lawson-Hanson
fallback.
"""
from __future__ import annotations

import numpy as np

from .lazy import LazyModule, lazy_function

linalg, sparse = LazyModule("scipy.linalg"), LazyModule("scipy.sparse")
nnls, splu = lazy_function("scipy.optimize", "nnls"), lazy_function("scipy.sparse.linalg", "splu")


def nnls_normal(AtA, Atb: np.ndarray, passive: np.ndarray | None = None, max_iter: int = 60,
                low_rank: np.ndarray | None = None, ridge: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """min ||Ax - b||^2 subject to x >= 0, from the normal equations A^T A = ``AtA`` +
    ``low_rank`` ``low_rank``^T (AtA symmetric, dense or sparse; low_rank: n x k, the
    closure rows), by block principal pivoting (Kim & Park 2011): solve on the passive
    set, swap every infeasible variable, fall back to single swaps when that stops
    improving, and to scipy's Lawson-Hanson ``nnls`` if it has not converged in
    ``max_iter`` solves. ``passive``: a warm start (the variables expected positive).
    Columns are scaled to a unit diagonal and ``ridge`` added to it. A^T A + U U^T is never
    formed densely (``_solve``): the cost follows the nonzeros, not n^2. Returns (x,
    passive set); columns with no data get NaN."""
    S = sparse.csr_array(AtA)
    S.sum_duplicates()
    n = len(Atb)
    U = np.zeros((n, 0)) if low_rank is None else np.asarray(low_rank, np.float64)
    d = np.sqrt(S.diagonal() + (U * U).sum(1))
    live = d > 0
    x = np.full(n, np.nan)
    if not live.any():
        return x, np.zeros(n, bool)
    M = _Sym(S.indptr, S.indices, S.data).principal(live)
    inv = 1.0 / d[live]
    M.data = M.data * (inv[M.row] * inv[M.indices])      # symmetric to the last bit
    M.add_diagonal(ridge)
    V = U[live] * inv[:, None]
    V = V[:, (V != 0).any(0)]
    q = Atb[live] * inv
    tol = 1e-10 * max(float(np.abs(q).max()), 1e-300)
    F = np.ones(len(q), bool) if passive is None else passive[live].copy()
    best, backup = len(q) + 1, 3
    for _ in range(max_iter):
        z = np.zeros(len(q))
        if F.any():
            z[F] = _solve(M if F.all() else M.principal(F), V[F], q[F])
        grad = M.matvec(z) + V @ (V.T @ z) - q
        bad = (F & (z < -tol)) | (~F & (grad < -tol))
        k = int(bad.sum())
        if k == 0:
            break
        if k < best:
            best, backup = k, 3
            F ^= bad
        elif backup > 0:
            backup -= 1
            F ^= bad
        else:
            j = np.nonzero(bad)[0][-1]
            F[j] = ~F[j]
    else:
        R = linalg.cholesky(M.csc().toarray() + V @ V.T, lower=False)
        z, _ = nnls(R, linalg.solve_triangular(R, q, trans="T", lower=False), maxiter=50 * len(q))
    x[live] = np.maximum(z, 0) / d[live]
    pas = np.zeros(n, bool)
    pas[live] = z > 0
    return x, pas


class _Sym:
    """A symmetric sparse matrix as CSR arrays (which are also its CSC arrays)."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray):
        self.indptr, self.indices, self.data = indptr, indices, data
        self.n = len(indptr) - 1
        self.row = np.repeat(np.arange(self.n), np.diff(indptr))

    def principal(self, keep: np.ndarray) -> _Sym:
        """The principal submatrix on the rows and columns where ``keep``."""
        m = keep[self.row] & keep[self.indices]
        new = np.cumsum(keep) - 1
        indptr = np.zeros(int(keep.sum()) + 1, np.int64)
        np.cumsum(np.bincount(new[self.row[m]], minlength=len(indptr) - 1), out=indptr[1:])
        return _Sym(indptr, new[self.indices[m]], self.data[m])

    def add_diagonal(self, v: float):
        diag = self.row == self.indices
        if int(diag.sum()) == self.n:
            self.data = self.data + v * diag
        else:                       # a zero diagonal is not stored: add it to the pattern
            m = sparse.csr_array((self.data, self.indices, self.indptr), shape=(self.n, self.n)) \
                + v * sparse.eye_array(self.n, format="csr")
            m.sort_indices()
            self.__init__(m.indptr, m.indices, m.data)

    def csc(self) -> sparse.csc_array:
        return sparse.csc_array((self.data, self.indices, self.indptr), shape=(self.n, self.n))

    def matvec(self, z: np.ndarray) -> np.ndarray:
        return np.bincount(self.row, weights=self.data * z[self.indices], minlength=self.n)


def _solve(M: _Sym, V: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(M + V V^T)^-1 q, M sparse symmetric positive definite, V n x k: one SuperLU
    factorisation of M (symmetric ordering, diagonal pivots), the Woodbury identity, and
    one step of iterative refinement (the Woodbury sum cancels digits when V V^T dominates,
    as the closure rows do: the refined residual is at rounding level, as a dense
    Cholesky's is)."""
    lu = splu(M.csc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    if not V.shape[1]:
        return lu.solve(q)
    B = lu.solve(V)
    cap = linalg.cho_factor(np.eye(V.shape[1]) + V.T @ B)

    def solve(r):
        a = lu.solve(r)
        return a - B @ linalg.cho_solve(cap, V.T @ a)
    z = solve(q)
    return z + solve(q - M.matvec(z) - V @ (V.T @ z))
