"""analysis/dram_nnls.py against scipy.optimize.nnls on the dense problem (issue 31): the
solver of the per-kernel DRAM fit gives the same non-negative least-squares solution,
from sparse normal equations with and without the low-rank closure term (the term U U^T
is rows U^T appended to A with zero targets), from a warm start, with columns that have
no data (NaN) or a zero diagonal in the sparse part, and through its Lawson-Hanson
fallback when its iteration limit is reached. Problems are random with fixed seeds, of
full column rank, so the solution is unique."""
import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import nnls

from stepscope.analysis import dram_nnls as N


def problem(seed, m=40, n=12, k=0, sparse_a=True):
    rng = np.random.default_rng(seed)
    A = rng.random((m, n)) * (rng.random((m, n)) < (0.4 if sparse_a else 1.0))
    A[np.arange(n) % m, np.arange(n)] += 1.0                 # full column rank
    x_true = np.where(rng.random(n) < 0.5, rng.random(n) * 3, 0.0)
    b = A @ x_true + rng.normal(0, 0.3, m)
    U = rng.random((n, k)) * 2 if k else None
    return A, b, U


def reference(A, b, U):
    if U is None:
        return nnls(A, b, maxiter=5000)[0]
    return nnls(np.vstack([A, U.T]), np.r_[b, np.zeros(U.shape[1])], maxiter=5000)[0]


def _no_fallback(*a, **k):
    raise AssertionError("the Lawson-Hanson fallback ran: block pivoting did not converge")


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("k", [0, 1, 3])
def test_the_solution_is_scipys_nnls(seed, k, monkeypatch):
    """Found by block principal pivoting itself: the fallback is not needed on these."""
    monkeypatch.setattr(N, "nnls", _no_fallback)
    A, b, U = problem(seed, k=k)
    x, passive = N.nnls_normal(sparse.csr_array(A.T @ A), A.T @ b, low_rank=U, ridge=0.0)
    want = reference(A, b, U)
    assert np.allclose(x, want, rtol=1e-7, atol=1e-9), (x, want)
    assert passive.tolist() == (x > 0).tolist()


@pytest.mark.parametrize("seed", range(6))
def test_dense_input_a_warm_start_and_the_fallback_give_the_same_solution(seed):
    A, b, U = problem(100 + seed, k=2, sparse_a=False)
    want = reference(A, b, U)
    AtA, Atb = A.T @ A, A.T @ b
    x0, p0 = N.nnls_normal(AtA, Atb, low_rank=U, ridge=0.0)            # dense AtA
    assert np.allclose(x0, want, rtol=1e-7, atol=1e-9)
    warm, pw = N.nnls_normal(AtA, Atb, passive=p0, low_rank=U, ridge=0.0)
    assert np.allclose(warm, want, rtol=1e-7, atol=1e-9) and pw.tolist() == p0.tolist()
    cold = np.zeros(len(Atb), bool)                                    # start from nothing passive
    assert np.allclose(N.nnls_normal(AtA, Atb, passive=cold, low_rank=U, ridge=0.0)[0], want, rtol=1e-7, atol=1e-9)
    fb, pf = N.nnls_normal(AtA, Atb, max_iter=0, low_rank=U, ridge=0.0)      # straight to Lawson-Hanson
    assert np.allclose(fb, want, rtol=1e-6, atol=1e-8) and pf.tolist() == (fb > 0).tolist()


def test_columns_without_data_are_nan_and_the_rest_is_solved():
    A, b, _ = problem(7)
    A[:, [2, 5]] = 0.0
    x, passive = N.nnls_normal(sparse.csr_array(A.T @ A), A.T @ b, ridge=0.0)
    assert np.isnan(x[[2, 5]]).all() and not passive[[2, 5]].any()
    keep = np.setdiff1d(np.arange(A.shape[1]), [2, 5])
    assert np.allclose(x[keep], nnls(A[:, keep], b)[0], rtol=1e-7, atol=1e-9)
    none, p = N.nnls_normal(np.zeros((3, 3)), np.zeros(3))
    assert np.isnan(none).all() and not p.any()


def test_a_column_with_data_only_in_the_low_rank_term():
    """A zero diagonal in the sparse part (the pattern gets a stored diagonal for the ridge)."""
    A, b, _ = problem(8, n=6)
    A[:, 4] = 0.0
    U = np.zeros((6, 1))
    U[4, 0], U[1, 0] = 1.0, 0.5
    x, _ = N.nnls_normal(sparse.csr_array(A.T @ A), A.T @ b, low_rank=U, ridge=1e-10)
    assert np.allclose(x, reference(A, b, U), rtol=1e-6, atol=1e-8)


def test_the_ridge_is_added_to_the_unit_diagonal():
    """Columns scaled to a unit diagonal, plus the ridge: a 1x1 problem a x = c gives
    x = c / (a (1 + ridge)) when c > 0 and 0 when c < 0."""
    x, p = N.nnls_normal(sparse.csr_array(np.array([[4.0]])), np.array([2.0]), ridge=1.0)
    assert x.tolist() == [0.25] and p.tolist() == [True]           # 2 / (4 * 2)
    x, p = N.nnls_normal(np.array([[4.0]]), np.array([-2.0]))
    assert x.tolist() == [0.0] and p.tolist() == [False]
    assert N.nnls_normal(np.array([[4.0]]), np.array([2.0]))[0][0] == pytest.approx(0.5, rel=1e-9)


def test_sym_principal_and_matvec_against_dense():
    rng = np.random.default_rng(3)
    D = rng.random((7, 7)) * (rng.random((7, 7)) < 0.5)
    D = D + D.T
    S = sparse.csr_array(D)
    M = N._Sym(S.indptr, S.indices, S.data)
    z = rng.random(7)
    assert np.allclose(M.matvec(z), D @ z)
    keep = np.array([True, False, True, True, False, True, False])
    P = M.principal(keep)
    assert np.allclose(P.csc().toarray(), D[np.ix_(keep, keep)])
    P.add_diagonal(2.0)
    assert np.allclose(P.csc().toarray(), D[np.ix_(keep, keep)] + 2 * np.eye(4))


def test_sym_with_an_empty_last_row_and_a_full_diagonal():
    """A last row and column with nothing stored but the diagonal, or nothing at all: shapes
    come from n, not from the largest stored index."""
    D = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    S = sparse.csr_array(D)
    M = N._Sym(S.indptr, S.indices, S.data)
    assert M.matvec(np.ones(3)).tolist() == [3.0, 4.0, 0.0]
    assert M.csc().shape == (3, 3) and np.array_equal(M.csc().toarray(), D)
    M.add_diagonal(0.5)                          # the empty diagonal entry is added to the pattern
    assert np.array_equal(M.csc().toarray(), D + 0.5 * np.eye(3))
    F = N._Sym(*(lambda c: (c.indptr, c.indices, c.data))(sparse.csr_array(np.diag([1.0, 2.0, 4.0]) + D)))
    F.add_diagonal(1.0)                          # a full diagonal: only the diagonal moves
    assert np.array_equal(F.csc().toarray(), np.diag([1.0, 2.0, 4.0]) + D + np.eye(3))
    P = F.principal(np.array([True, True, False]))
    assert P.n == 2 and len(P.indptr) == 3 and np.array_equal(P.csc().toarray(), (np.diag([1.0, 2.0, 4.0]) + D
                                                                                     + np.eye(3))[:2, :2])
    Q = M.principal(np.array([False, True, True]))          # keeps the row with only its diagonal
    assert np.array_equal(Q.csc().toarray(), (D + 0.5 * np.eye(3))[1:, 1:])
