"""DRAM bytes per kernel by deconvolving the PM samples (issue 15).

A PM sample counts the bytes that reached DRAM during its window (20 us by default);
several kernels share a window and a kernel spans several. ``dram.bytes_between`` smears
each sample evenly over its window; this module instead solves for per-kernel bytes.

Model (one per direction, reads and writes apart). For sample i with window [s_i, e_i]
on the PM clock, kernel instance r with interval [a_r, b_r] on the kernel clock, and the
clock offset ``off`` (PM time = kernel time + off):

    bytes_i = sum_r  |[a_r+off, b_r+off] & [s_i, e_i]| / (b_r - a_r) * x_{g(r)}  +  idle_i * rho

- x_g >= 0: the bytes of one instance of *group* g per step. A kernel's identity across
  steps is (mode, signature, occurrence) with signature = (name, grid, block) for kernels,
  (bytes, kind) for copies, (bytes) for sets, and occurrence = how many records with the
  same signature came before it in its step; identical steps therefore share unknowns.
  Identities are ordered by their median start in the step and adjacent short ones are
  merged into groups (``min_span_ns``, by default the sample interval): a run of 1-3 us
  kernels inside one 20 us sample cannot be told apart, so it gets one number, never one
  each. A group's class is its members' class when they share one, else ``mixed``.
- Bytes are assumed to move at a constant rate over a kernel's interval (the overlap
  fraction above). Context growth of attention over the traced steps (one token of
  ``ctx`` per step, 0.05% at ctx 2048) is ignored.
- rho >= 0: a background rate (bytes per ns) over the part of the sample no GPU record
  covers (idle_i), so idle traffic is not handed to a neighbouring kernel.
- Rows: valid samples that overlap a step's span and no record outside every step.
- Solver: non-negative least squares on the normal equations, kept sparse: A^T A (a
  sample overlaps few groups) plus the closure rows as a low-rank term U U^T, solved by
  block principal pivoting whose passive-set solves factor the sparse part (SuperLU) and
  add U U^T by the Woodbury identity (``dram_nnls``). The cost follows the nonzeros, not
  the rows nor the square of the groups. A^T A and A^T y are kept per step span, so a
  bootstrap resample sums them with its draw counts instead of revisiting the rows.
  The system is ill-conditioned (the closure rows dominate each column's scale; the
  scaled passive block's condition is ~1e12 on the shipped traces): one ulp of rounding
  moves some groups' bytes by up to 5e-4 of the largest group and can flip a merge
  between near-equal neighbours; the fitted bytes per step move by 1e-8
  (``benchmarks/dram_speed_check.py``).
- ``off`` is fitted: the read residual is minimised over a grid (coarse, then fine) on
  the first ``offset_steps`` steps. Writes get their own offset (``write_offset_ns``):
  dirty lines reach DRAM when L2 evicts them, later than the kernel that wrote them; the
  fitted write offset absorbs the typical lag, and a write-back that lands during a later
  kernel is counted in that kernel: write bytes read as "written to DRAM while the group
  ran", not "written by the group".
- Uncertainty: the fit is repeated on ``n_boot`` bootstrap resamples of the steps (rows
  weighted by how often their step was drawn); the 2.5/97.5 percentiles give the interval.
  A group whose interval is wider than ``max_rel_halfwidth`` of its value (and than
  ``min_abs_fraction`` of the step's bytes) is merged with its neighbour and the fit
  repeated (up to ``merge_rounds``): what is printed is what the data can separate.
- Exact path: when the trace has a ``kernel_dram`` table (a counter pass), the group bytes
  are the mean over steps of those exact per-kernel bytes and no fit is made.
"""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from .kernel_classes import record_classes, short_name
from .lazy import LazyModule

sparse = LazyModule("scipy.sparse")

MIXED = -1


def identities(trace, rec, pos: np.ndarray, lo_ns: np.ndarray) -> dict:
    """Per record: identity id (-1 outside steps); per identity: mode, class, median
    start in the step and median duration, sorted by (mode, start)."""
    n = len(rec.start_ns)
    k, mc, ms = trace["kernels"], trace["memcpy"], trace["memset"]
    zk, zc, zs = (np.zeros(len(t["start_ns"]), np.int64) for t in (k, mc, ms))
    cols = [np.concatenate(x) for x in (
        (k["name"], mc["bytes"], ms["bytes"]), (k["grid_x"], mc["copy_kind"], zs),
        (k["grid_y"], zc, zs), (k["grid_z"], zc, zs), (k["block_x"], zc, zs),
        (k["block_y"], zc, zs), (k["block_z"], zc, zs))]
    mode = np.where(pos >= 0, trace["steps"]["mode"][np.maximum(pos, 0)], -1)
    ident = np.full(n, -1, np.int64)
    inside = np.nonzero(pos >= 0)[0]
    if not len(inside):
        return {"ident": ident, "mode": np.zeros(0, np.int64), "klass": np.zeros(0, np.int64),
                "rel_start_ns": np.zeros(0), "dur_ns": np.zeros(0), "name": [], "table": np.zeros(0, np.int64)}
    sig = _row_ids([rec.table[inside]] + [c[inside] for c in cols])
    p, st = pos[inside], rec.start_ns[inside]
    order = np.lexsort((st, p * (int(sig.max()) + 1) + sig))       # by step, signature, start
    run = np.ones(len(order), bool)
    run[1:] = (p[order][1:] != p[order][:-1]) | (sig[order][1:] != sig[order][:-1])
    first = np.maximum.accumulate(np.where(run, np.arange(len(order)), 0))
    occ = np.empty(len(order), np.int64)
    occ[order] = np.arange(len(order)) - first
    idn = _row_ids([mode[inside], sig, occ])
    n_id = int(idn.max()) + 1
    rel = (st - lo_ns[p]).astype(np.float64)
    dur = (rec.end_ns - rec.start_ns)[inside].astype(np.float64)
    med_rel, med_dur = _group_median(idn, rel, n_id), _group_median(idn, dur, n_id)
    id_mode = np.zeros(n_id, np.int64)
    id_mode[idn] = mode[inside]
    cls = record_classes(trace, rec)[inside]
    id_cls = np.zeros(n_id, np.int64)
    id_cls[idn] = cls
    id_rec = np.zeros(n_id, np.int64)
    id_rec[idn] = inside
    srt = np.lexsort((med_rel, id_mode))          # renumber identities in step order
    rank = np.empty(n_id, np.int64)
    rank[srt] = np.arange(n_id)
    ident[inside] = rank[idn]
    names = [_record_name(trace, rec, int(r)) for r in id_rec[srt]]
    return {"ident": ident, "mode": id_mode[srt], "klass": id_cls[srt], "rel_start_ns": med_rel[srt],
            "dur_ns": med_dur[srt], "name": names, "table": rec.table[id_rec[srt]]}


def _row_ids(cols: list[np.ndarray]) -> np.ndarray:
    """Dense ids of the distinct rows of equal-length integer columns (lexicographic):
    one sort of a mixed-radix key when the columns' ranges fit in 62 bits, else a lexsort."""
    if not len(cols[0]):
        return np.zeros(0, np.int64)
    lo = [int(c.min()) for c in cols]
    span = [int(c.max()) - m + 1 for c, m in zip(cols, lo)]
    if math.prod(span) < 2 ** 62:
        key = np.zeros(len(cols[0]), np.int64)
        for c, m, w in zip(cols, lo, span):
            key = key * w + (c.astype(np.int64) - m)
        return np.unique(key, return_inverse=True)[1].reshape(-1)
    order = np.lexsort(cols[::-1])
    new = np.zeros(len(order), bool)
    new[0] = True
    for c in cols:
        cs = c[order]
        new[1:] |= cs[1:] != cs[:-1]
    ids = np.empty(len(order), np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


def _record_name(trace, rec, r: int) -> str:
    if rec.table[r] == 0:
        return short_name(trace.strings[trace["kernels"]["name"][rec.row[r]]])
    return "memcpy" if rec.table[r] == 1 else "memset"


def _group_median(g: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """The (lower) median of ``v`` within each group ``g``; ``v`` holds whole ns, so one
    sort of the key g * range + v orders it as a lexsort by (g, v) would."""
    span = float(v.max() - v.min()) + 1 if len(v) else 1.0
    if len(v) and np.array_equal(v, np.round(v)) and n * span < 2.0 ** 52:
        order = np.argsort(g * np.int64(span) + (v - v.min()).astype(np.int64))
    else:
        order = np.lexsort((v, g))
    counts = np.bincount(g, minlength=n)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    return v[order][starts + (counts - 1) // 2]


def initial_groups(ids: dict, min_span_ns: float) -> np.ndarray:
    """Group of each identity: an identity whose span (its median start to the next one's,
    within its mode) is at least ``min_span_ns`` stands alone; runs of shorter ones merge
    until their span reaches ``min_span_ns``."""
    mode, rel, dur = ids["mode"], ids["rel_start_ns"], ids["dur_ns"]
    n = len(mode)
    span = np.empty(n)
    span[:-1] = rel[1:] - rel[:-1]
    last = np.ones(n, bool)
    last[:-1] = mode[1:] != mode[:-1]
    span[last] = dur[last]
    group = np.zeros(n, np.int64)
    g, acc = -1, np.inf
    for i in range(n):      # one pass over identities (a step's kernels), not over records
        new_mode = i == 0 or mode[i] != mode[i - 1]
        if new_mode or span[i] >= min_span_ns or acc >= min_span_ns:
            g += 1
            acc = 0.0
        acc = acc + span[i] if span[i] < min_span_ns else np.inf
        group[i] = g
    return group


class Samples:
    """The valid PM samples, sorted by start: window and bytes of each direction. Times
    are float ns after ``base_ns`` (the first sample's start, an integer): epoch ns
    (~1.8e18) in float64 are multiples of 256 ns, so every time of the fit is made relative
    to the same base, in integers, before it becomes a float (``rel``)."""

    def __init__(self, pm: dict):
        ok = (pm["start_ns"] > 0) & (pm["end_ns"] > pm["start_ns"])
        order = np.nonzero(ok)[0][np.argsort(pm["start_ns"][ok], kind="stable")]
        self.base_ns = int(pm["start_ns"][order[0]]) if len(order) else 0
        self.start_ns = self.rel(pm["start_ns"][order])
        self.end_ns = self.rel(pm["end_ns"][order])
        self.read = pm["dram_read_bytes"][order].astype(np.float64)
        self.write = pm["dram_write_bytes"][order].astype(np.float64)
        self.n = len(order)

    def rel(self, t_ns) -> np.ndarray:
        """Integer ns timestamps as float ns after ``base_ns`` (exact below 2**53 ns)."""
        return (np.asarray(t_ns, np.int64) - self.base_ns).astype(np.float64)


class Design:
    """The sparse overlap matrix at one clock offset: rows = samples inside a step span
    (and touched by no record outside the groups), columns = groups, plus the idle ns of
    each row for the background column. Records: [a_ns, b_ns] on the kernel clock,
    ``group`` (-1: outside every group), ``rec_span`` (the index of its step span, -1
    none); ``lo``/``hi``: the step spans, sorted. ``window``: the range of samples that
    can be rows (the others are never visited); ``rows`` index all samples."""

    def __init__(self, smp: Samples, a_ns, b_ns, group, rec_span, lo, hi, n_groups: int, offset_ns: float,
                 window: tuple | None = None, ramp_ns: float = 0.0):
        i0, i1 = window or (0, smp.n)
        ss, se = smp.start_ns[i0:i1], smp.end_ns[i0:i1]
        n_smp = len(ss)
        a = np.asarray(a_ns, np.float64) + offset_ns
        b = np.maximum(np.asarray(b_ns, np.float64) + offset_ns, a + 1.0)
        lo, hi = lo + offset_ns, hi + offset_ns
        j = np.searchsorted(lo, se, "left") - 1
        jj = np.maximum(j, 0)
        row_step = np.where((j >= 0) & (ss < hi[jj]), jj, -1)
        ramp_s, ramp_e, blur, min_dur, dead_s, dead_e = _profile(ramp_ns)
        ext = blur / 2
        # the first sample ending after each record starts: by the running maximum of the
        # ends, which sorting by start leaves unsorted where windows overlap
        first = np.searchsorted(np.maximum.accumulate(se), a - ext, "right")
        cnt = np.maximum(np.searchsorted(ss, b + ext, "left") - first, 0)
        tot = int(cnt.sum())
        rep = np.repeat(np.arange(len(a)), cnt)
        row = first[rep] + np.arange(tot) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        ov = np.clip(np.minimum(b[rep], se[row]) - np.maximum(a[rep], ss[row]), 0, None)
        covered = np.bincount(row, weights=ov, minlength=n_smp)
        if ramp_s > 0 or ramp_e > 0 or blur > 0 or dead_s > 0 or dead_e > 0:     # bytes follow a trapezoid profile
            d = b - a
            on = d >= min_dur if min_dur >= 0 else d < -min_dur
            kd = np.where(on, np.minimum(1.0, 0.5 * d / max(dead_s + dead_e, 1e-9)), 0.0)
            a2, b2 = a + dead_s * kd, b - dead_e * kd
            d2 = b2 - a2
            rs = ramp_s * d2 if ramp_s < 1 else np.full(len(d), ramp_s)
            re = ramp_e * d2 if ramp_e < 1 else np.full(len(d), ramp_e)
            k = np.minimum(1.0, d2 / np.maximum(rs + re, 1e-9))
            r1 = np.where(on, rs * k, 0.0) + np.minimum(d2, blur)
            r2 = np.where(on, re * k, 0.0) + np.minimum(d2, blur)
            L = d2 + blur
            k2 = np.minimum(1.0, L / np.maximum(r1 + r2, 1e-9))
            r1, r2 = r1 * k2, r2 * k2
            p0 = (a2 - ext)[rep]
            lo_t, hi_t = np.maximum(p0, ss[row]), np.minimum((b2 + ext)[rep], se[row])
            Lr, r1r, r2r = L[rep], r1[rep], r2[rep]
            ov = np.clip(d[rep] * (_trap_cdf(hi_t - p0, Lr, r1r, r2r) - _trap_cdf(lo_t - p0, Lr, r1r, r2r)), 0, None)
        g = group[rep]
        bad = np.zeros(n_smp, bool)
        bad[row[g < 0]] = True
        use = (row_step >= 0) & ~bad
        compact = np.cumsum(use) - 1
        keep = use[row] & (g >= 0)
        self.rows = np.nonzero(use)[0] + i0
        self.row_step = row_step[use]
        # A group moves its bytes at one rate over its members' busy time in the step.
        grouped = group >= 0
        gkey = np.where(grouped, rec_span * n_groups + group, 0)
        gdur = np.bincount(gkey, weights=np.where(grouped, b - a, 0), minlength=len(lo) * n_groups)
        self._entries = (compact[row[keep]], g[keep], ov[keep] / gdur[gkey[rep[keep]]])
        self.idle = np.clip((se - ss) - covered, 0, None)[use]
        self.n_groups, self.n_steps = n_groups, len(lo)

    @cached_property
    def A(self):
        """rows x (groups + background): the overlap fractions, the idle ns last (CSR)."""
        r, c, v = self._entries
        A = sparse.csr_matrix((v, (r, c)), shape=(len(self.rows), self.n_groups))
        return sparse.hstack([A, sparse.csr_matrix(self.idle[:, None])], format="csr")

    def fitted(self, x: np.ndarray) -> np.ndarray:
        """A @ x without building A (the offset scan's residuals): x has the background last."""
        r, c, v = self._entries
        return np.bincount(r, weights=v * x[c], minlength=len(self.rows)) + self.idle * x[self.n_groups]

    def per_step(self, y: np.ndarray) -> np.ndarray:
        """A^T y of each step span apart (rows: spans): sum them with weights for any resample."""
        A = self.A
        r = np.repeat(self.row_step, np.diff(A.indptr))
        n = A.shape[1]
        return np.bincount(r * n + A.indices, weights=A.data * y[np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))],
                           minlength=self.n_steps * n).reshape(self.n_steps, n)

    def gram(self) -> tuple:
        """A^T A of each step span apart, on the pattern of A^T A: (CSR indptr, indices, one
        row of values per span), prepared once. Every pair of nonzeros (j <= k) of a row
        adds a_j a_k to entry (j, k) of its span; the lower triangle mirrors the upper."""
        if not hasattr(self, "_gram"):
            A = self.A
            n = A.shape[1]
            nnz = np.diff(A.indptr)
            row = np.repeat(np.arange(A.shape[0]), nnz)
            left = nnz[row] - (np.arange(A.nnz) - A.indptr[row])     # entries from here to the row's end
            first = [np.nonzero(left > k)[0] for k in range(int(nnz.max(initial=0)))]
            none = np.zeros(0, np.int64)     # no row overlaps any group (e.g. at an offset beyond the data)
            second = np.concatenate([f + k for k, f in enumerate(first)] or [none])
            first = np.concatenate(first or [none])
            j, k = A.indices[first], A.indices[second]                # j <= k: indices sorted in a row
            upper, pos = _dense_ids(j * n + k, n * n)
            vals = np.bincount(self.row_step[row[first]] * len(upper) + pos, weights=A.data[first] * A.data[second],
                               minlength=self.n_steps * len(upper)).reshape(self.n_steps, len(upper))
            uj, uk = upper // n, upper % n
            off = uj != uk
            full_row, full_col = np.r_[uj, uk[off]], np.r_[uk, uj[off]]
            order = np.lexsort((full_col, full_row))
            src = np.r_[np.arange(len(upper)), np.nonzero(off)[0]][order]
            indptr = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(full_row, minlength=n), out=indptr[1:])
            self._gram = (indptr, full_col[order], vals[:, src])
        return self._gram

    def normal(self, y: np.ndarray, w_step: np.ndarray | None = None, strata: np.ndarray | None = None,
               closure_weight: float = 1e3):
        """The normal equations of ``y`` (the rows' bytes) with step weights (None: all 1):
        see ``NormalParts.at``."""
        return NormalParts(self, y).at(w_step, strata, closure_weight)


def _profile(p) -> tuple:
    """The rate profile of ``Design``'s ``ramp_ns``: a number R is a linear ramp of R ns at
    both ends; a tuple is (ramp at the start, ramp at the end, blur, min_dur, dead time at
    the start, dead time at the end) in ns (a ramp below 1: that fraction of the active
    time). Dead times (no bytes) and ramps apply to records of at least ``min_dur`` ns (a
    negative ``min_dur``: to records shorter than -min_dur), dead times to at most half a
    record; ``blur`` spreads every record's bytes by a box of that width (its bytes may
    land outside it). All zero: the uniform rate. Experimental (``dram_fit.RAMP_NS``,
    ``benchmarks/dram_profile_sweep.py``)."""
    if np.isscalar(p):
        return float(p), float(p), 0.0, 0.0, 0.0, 0.0
    p = tuple(p) + (0.0,) * (6 - len(p))
    return tuple(float(v) for v in p)


def _trap_cdf(u, L, r1, r2):
    """CDF at u of a trapezoid on [0, L]: linear rise over r1, flat, linear fall over r2."""
    u = np.clip(u, 0, L)
    h = 1.0 / (L - (r1 + r2) / 2)
    t1, t2 = np.maximum(r1, 1e-9), np.maximum(r2, 1e-9)
    return np.where(u < r1, h * u * u / (2 * t1),
                    np.where(u > L - r2, 1 - h * (L - u) ** 2 / (2 * t2), h * (u - r1 / 2)))


class NormalParts:
    """Per-step pieces of the normal equations of one design and one direction's bytes:
    A^T A and A^T y of each step span, the spans' column sums and measured totals. A
    bootstrap resample sums them with its draw counts (no pass over the rows)."""

    def __init__(self, d: Design, y: np.ndarray):
        self.indptr, self.indices, self.gram = d.gram()
        self.Aty, self.C = d.per_step(y), d.per_step(np.ones(len(y)))     # C: per-step column sums
        self.ys = np.bincount(d.row_step, weights=y, minlength=d.n_steps)
        self.n_steps, self.n = d.n_steps, d.A.shape[1]

    def at(self, w_step: np.ndarray | None, strata: np.ndarray | None, closure_weight: float = 1e3):
        """(A^T W A sparse, A^T W y, U), W the rows' step weights (None: all 1), the
        background column last; U U^T is ``closure_weight`` x one total row per mode
        (``strata``: the mode of each step span): the fitted bytes of a mode's steps sum to
        the measured bytes (the counters' totals are exact)."""
        ws = np.ones(self.n_steps) if w_step is None else w_step
        S = sparse.csr_array((ws @ self.gram, self.indices, self.indptr), shape=(self.n, self.n))
        Atb = ws @ self.Aty
        strata = np.zeros(self.n_steps, np.int64) if strata is None else strata
        modes = np.unique(strata)
        U = np.empty((self.n, len(modes)))
        for k, m in enumerate(modes):
            sel = strata == m
            c = ws[sel] @ self.C[sel]
            U[:, k] = np.sqrt(closure_weight) * c
            Atb += closure_weight * c * float(ws[sel] @ self.ys[sel])
        return S, Atb, U


def _dense_ids(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(key, return_inverse=True) for keys in [0, size): through a table when
    ``size`` is small (no sort), else by sorting."""
    if size > 1 << 23:
        uniq, inv = np.unique(key, return_inverse=True)
        return uniq, inv.reshape(-1)
    seen = np.zeros(size, bool)
    seen[key] = True
    uniq = np.flatnonzero(seen)
    table = np.empty(size, np.int64)
    table[uniq] = np.arange(len(uniq))
    return uniq, table[key]
