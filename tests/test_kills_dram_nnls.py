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


# -- degenerate inputs, scale, tolerances ------------------------------------------------

def test_a_lone_column_with_data_only_in_the_low_rank_term():
    """n = 1, nothing in the sparse part, U = [[2]]: A = [2], A^T b = 6, so x = 6 / 4 = 1.5
    (the ridge 1e-10 moves it by 1.5e-10). The scaled closure column is exactly 1 and is
    kept: only all-zero columns of U are dropped."""
    x, p = N.nnls_normal(sparse.csr_array((1, 1)), np.array([6.0]), low_rank=np.array([[2.0]]))
    assert x[0] == pytest.approx(1.5, rel=1e-9) and p.tolist() == [True]


def test_the_solution_scales_with_b():
    """min ||Ax - cb|| over x >= 0 is c times the solution for b, for any c > 0: the
    feasibility tolerance is relative to |A^T b|, so a tiny or huge b is solved alike."""
    A, b, U = problem(3, k=1)
    AtA, Atb = sparse.csr_array(A.T @ A), A.T @ b
    want = reference(A, b, U)
    assert (want == 0).any() and (want > 0).any()               # some constraints are active
    for c in (1e-12, 1e12):
        x, p = N.nnls_normal(AtA, c * Atb, low_rank=U, ridge=0.0)
        assert np.allclose(x / c, want, rtol=1e-7, atol=1e-9), (c, x / c, want)
        assert p.tolist() == (want > 0).tolist()


def test_a_tiny_positive_component_is_kept():
    """Uncoupled columns, A = I: x = max(A^T b, 0) exactly, however small a positive
    component is (the tolerance only decides what counts as negative)."""
    x, p = N.nnls_normal(sparse.eye_array(3, format="csr"), np.array([1.0, 1e-11, -1e-11]), ridge=0.0)
    assert x.tolist() == [1.0, 1e-11, 0.0] and p.tolist() == [True, True, False]


def test_sym_add_diagonal_on_a_full_pattern_with_n_off_diagonal_entries():
    D = np.array([[2.0, 1.0], [1.0, 3.0]])                  # 2 diagonal and 2 off-diagonal entries
    S = sparse.csr_array(D)
    M = N._Sym(S.indptr, S.indices, S.data)
    M.add_diagonal(1.0)
    assert np.array_equal(M.csc().toarray(), D + np.eye(2))


def test_sym_principal_keeps_empty_trailing_rows():
    """A kept last row with nothing stored (no diagonal either: ridge 0 and no data in the
    sparse part) still counts in the submatrix's shape."""
    D = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    S = sparse.csr_array(D)
    M = N._Sym(S.indptr, S.indices, S.data)
    P = M.principal(np.ones(3, bool))
    assert P.n == 3 and np.array_equal(P.indptr, [0, 2, 4, 4]) and np.array_equal(P.csc().toarray(), D)
    Q = M.principal(np.array([True, False, True]))
    assert Q.n == 2 and np.array_equal(Q.indptr, [0, 1, 1]) and np.array_equal(Q.csc().toarray(), [[2.0, 0.0], [0.0, 0.0]])


# -- the pivoting: warm starts, Kim & Park's backup rule, the iteration limit ---------------

def _count_solves(monkeypatch):
    """Counts the passive-set solves (each is one SuperLU factorisation) and the fallbacks."""
    calls = {"solve": 0, "fallback": 0}
    solve, fallback = N._solve, N.nnls

    def counted_solve(*a):
        calls["solve"] += 1
        return solve(*a)

    def counted_fallback(*a, **k):
        calls["fallback"] += 1
        return fallback(*a, **k)
    monkeypatch.setattr(N, "_solve", counted_solve)
    monkeypatch.setattr(N, "nnls", counted_fallback)
    return calls


def test_a_warm_start_at_the_solution_costs_one_solve(monkeypatch):
    """A = I, A^T b = (1, -1): x = (1, 0). Started with every variable passive, the first
    solve gives x2 = -1 < 0 and a second solve is needed; started from the optimal passive
    set {1}, or from nothing passive (the gradient -A^T b then moves variable 1 in), one."""
    calls = _count_solves(monkeypatch)
    AtA, Atb = sparse.eye_array(2, format="csr"), np.array([1.0, -1.0])
    for passive, solves in ((None, 2), (np.array([True, False]), 1), (np.array([False, False]), 1)):
        calls["solve"] = 0
        x, p = N.nnls_normal(AtA, Atb, passive=passive, ridge=0.0)
        assert x.tolist() == [1.0, 0.0] and p.tolist() == [True, False]
        assert calls["solve"] == solves, (passive, calls)
    A, b, U = problem(5, k=2)
    x0, p0 = N.nnls_normal(sparse.csr_array(A.T @ A), A.T @ b, low_rank=U, ridge=0.0)
    calls["solve"] = 0
    x1, p1 = N.nnls_normal(sparse.csr_array(A.T @ A), A.T @ b, passive=p0, low_rank=U, ridge=0.0)
    assert calls["solve"] == 1 and p1.tolist() == p0.tolist() and np.allclose(x1, x0, rtol=1e-12, atol=0)
    assert calls["fallback"] == 0


def fathi(n):
    """Fathi (1979)'s positive definite A^T A = U^T U, U unit upper triangular with 2 above
    the diagonal: the LCP on which single-pivot principal pivoting takes exponentially many
    steps. Block principal pivoting, too, needs many passive-set solves on it."""
    U = np.triu(np.full((n, n), 2.0), 1) + np.eye(n)
    return U, U.T @ U


def test_the_default_iteration_limit_is_60_solves_then_lawson_hanson(monkeypatch):
    """Fathi's matrix, n = 20, A^T b = -1: x = 0 (the gradient -A^T b at 0 is positive), but
    started with every variable passive block pivoting needs 81 solves to find it. With the
    default ``max_iter`` = 60 it stops after 60 and the fallback returns x = 0 exactly
    (Lawson-Hanson never moves a variable in: every w = A^T b < 0)."""
    calls = _count_solves(monkeypatch)
    _, AtA = fathi(20)
    x, p = N.nnls_normal(sparse.csr_array(AtA), -np.ones(20))
    assert calls == {"solve": 60, "fallback": 1}
    assert x.tolist() == [0.0] * 20 and not p.any()
    calls.update(solve=0, fallback=0)
    assert N.nnls_normal(sparse.csr_array(AtA), -np.ones(20), max_iter=7)[0].tolist() == [0.0] * 20
    assert calls == {"solve": 7, "fallback": 1}
    calls.update(solve=0, fallback=0)                     # from nothing passive: optimal at once
    assert N.nnls_normal(sparse.csr_array(AtA), -np.ones(20), passive=np.zeros(20, bool))[0].tolist() == [0.0] * 20
    assert calls == {"solve": 0, "fallback": 0}


@pytest.mark.parametrize("cold", [False, True])
def test_fathis_problem_is_solved_by_block_pivoting_within_the_default_limit(cold, monkeypatch):
    """Fathi's matrix, n = 20, A^T b = +1: full exchanges stop improving (cycling) and Kim
    & Park's backup rule (three more full exchanges, then single exchanges of the largest
    infeasible index) solves it in 48 (cold start: 48) passive-set solves, within the
    default limit of 60; no fallback."""
    monkeypatch.setattr(N, "nnls", _no_fallback)
    U, AtA = fathi(20)
    b = np.linalg.solve(U.T, np.ones(20))                 # A = U, A^T b = 1
    x, p = N.nnls_normal(sparse.csr_array(AtA), np.ones(20), passive=np.zeros(20, bool) if cold else None)
    want = nnls(U, b, maxiter=5000)[0]
    assert np.allclose(x, want, rtol=1e-7, atol=1e-9), (x, want)
    assert p.tolist() == (want > 0).tolist()


def kim_park_solves(A, b, passive=None, ridge=1e-10, p_bar=3):
    """A dense reference of Kim & Park (2011)'s block principal pivoting on the normal
    equations (columns scaled to a unit diagonal, the ridge added, a tolerance of 1e-10
    relative to max |A^T b|): full exchange of every infeasible variable while their
    number falls, at most ``p_bar`` more full exchanges when it does not, else a single
    exchange of the largest infeasible index. Returns (x, number of passive-set solves)."""
    d = np.linalg.norm(A, axis=0)
    G = (A.T @ A) / np.outer(d, d) + ridge * np.eye(len(d))
    q = (A.T @ b) / d
    tol = 1e-10 * np.abs(q).max()
    F = np.ones(len(q), bool) if passive is None else passive.copy()
    best, backup, solves = len(q) + 1, p_bar, 0
    while True:
        z = np.zeros(len(q))
        if F.any():
            z[F] = np.linalg.solve(G[np.ix_(F, F)], q[F])
            solves += 1
        w = G @ z - q
        bad = (F & (z < -tol)) | (~F & (w < -tol))
        if not bad.any():
            return np.maximum(z, 0) / d, solves
        if bad.sum() < best:
            best, backup = bad.sum(), p_bar
            F ^= bad
        elif backup > 0:
            backup -= 1
            F ^= bad
        else:
            F[np.nonzero(bad)[0][-1]] ^= True


@pytest.mark.parametrize("seed", [1188, 10472, 13486, 4214, 2620, 3090, 916, 7828, 13581])
def test_the_pivoting_follows_kim_and_parks_rule(seed, monkeypatch):
    """Square problems with mixed signs on which full exchanges stop improving, so the backup
    rule and single exchanges are used (seeds picked for that; every decision is at least
    1e-5 of max |A^T b| away from the tolerance, far above rounding): the same number of
    passive-set solves as the dense reference, the solution of scipy's nnls, no fallback."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 12))
    m = n + int(rng.integers(0, 5))
    A, b = rng.normal(size=(m, n)), rng.normal(size=m)
    passive = None if seed % 2 == 0 else np.zeros(n, bool)
    calls = _count_solves(monkeypatch)
    x, p = N.nnls_normal(sparse.csr_array(A.T @ A), A.T @ b, passive=passive, ridge=0.0)
    want, solves = kim_park_solves(A, b, passive, ridge=0.0)
    assert calls == {"solve": solves, "fallback": 0}
    assert np.allclose(x, nnls(A, b, maxiter=5000)[0], rtol=1e-7, atol=1e-9)
    assert np.allclose(x, want, rtol=1e-7, atol=1e-9) and p.tolist() == (x > 0).tolist()
