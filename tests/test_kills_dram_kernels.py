"""Small constructed cases for analysis/dram_kernels.py (the PM-sample deconvolution): each
test builds a few samples, records, identities or keys whose answer is worked out by hand
in the test (or by a plain definition written here, never by the code under test), so
that a wrong design row, identity, grouping or sort key shows. All fast: mutmut runs them
for every mutant of the module (benchmarks/mutation.py)."""
from types import SimpleNamespace

import numpy as np
import pytest

from stepscope.analysis.dram_kernels import (
    Design,
    NormalParts,
    Samples,
    _dense_ids,
    _group_median,
    _profile,
    _record_name,
    _row_ids,
    _trap_cdf,
    identities,
    initial_groups,
)
from stepscope.analysis.intervals import gpu_records
from stepscope.analysis.trace import Trace, table_from_rows

BASE = 1_000_000_000     # the first sample's start (epoch-like ns); Design times are relative to it


def samples(edges, read=None, write=None):
    """Contiguous PM samples with the given relative edges (ns after BASE)."""
    edges = np.asarray(edges, np.int64) + BASE
    n = len(edges) - 1
    return Samples({"start_ns": edges[:-1], "end_ns": edges[1:],
                    "dram_read_bytes": np.asarray(read if read is not None else np.zeros(n), np.int64),
                    "dram_write_bytes": np.asarray(write if write is not None else np.zeros(n), np.int64)})


def design(smp, recs, lo, hi, n_groups, offset=0.0, window=None, ramp=0.0):
    """``recs``: (a, b, group, span) per record, relative ns."""
    a, b, g, s = (np.array(c) for c in zip(*recs))
    return Design(smp, a.astype(float), b.astype(float), g.astype(np.int64), s.astype(np.int64),
                  np.asarray(lo, float), np.asarray(hi, float), n_groups, offset, window, ramp)


# -- Samples --------------------------------------------------------------------------

def test_samples_keep_only_valid_windows_sorted_by_start():
    """A sample is valid when it starts after 0 and ends after it starts (start 0 and a
    zero-length window are dropped, start 1 is kept); the valid ones are sorted by start
    and made relative to the first one's start."""
    pm = {"start_ns": np.array([3000, 0, 1000, 1, 5000, 2000]),
          "end_ns": np.array([4000, 1000, 1000, 900, 6000, 2500]),
          "dram_read_bytes": np.array([30, 99, 98, 10, 50, 20]),
          "dram_write_bytes": np.array([3, 9, 8, 1, 5, 2])}
    s = Samples(pm)
    assert s.n == 4 and s.base_ns == 1
    np.testing.assert_array_equal(s.start_ns, [0.0, 1999.0, 2999.0, 4999.0])
    np.testing.assert_array_equal(s.end_ns, [899.0, 2499.0, 3999.0, 5999.0])
    np.testing.assert_array_equal(s.read, [10.0, 20.0, 30.0, 50.0])
    np.testing.assert_array_equal(s.write, [1.0, 2.0, 3.0, 5.0])


def test_samples_without_a_valid_window_have_base_zero():
    """No valid sample: n 0 and base 0 (nothing to index)."""
    z = np.zeros(0, np.int64)
    s = Samples({"start_ns": z, "end_ns": z, "dram_read_bytes": z, "dram_write_bytes": z})
    assert s.n == 0 and s.base_ns == 0
    s = Samples({"start_ns": np.array([0]), "end_ns": np.array([5]), "dram_read_bytes": np.array([1]),
                 "dram_write_bytes": np.array([1])})
    assert s.n == 0 and s.base_ns == 0


# -- Design, uniform rate: a hand-built 5-sample case ----------------------------------

EDGES = [0, 20_000, 40_000, 60_000, 80_000, 100_000]
LO, HI = [0, 60_000, 120_000], [40_000, 100_000, 130_000]     # span 2: no sample falls in it
RECS = [(5_000, 25_000, 0, 0),      # r0: 15 us in s0, 5 us in s1
        (25_000, 30_000, 1, 0),     # r1, r2: one group in span 0, 11 us busy together
        (32_000, 38_000, 1, 0),
        (10_000, 10_000, 2, 0),     # r3: zero length -> read as 1 ns
        (60_000, 80_000, 0, 1),     # r4: all of s3
        (70_000, 90_000, 1, 1),     # r5: concurrent with r4, half in s3, half in s4
        (95_000, 99_000, -1, -1),   # r6: outside every group, in s4 -> s4 is no row
        (80_000, 81_000, -1, -1),   # r7: outside, starting exactly where s3 ends (s3 stays)
        (-5_000, -1_000, -1, -1)]   # r8: outside, before every sample (touches none)
#: rows s0, s1, s3 (s2 lies between the spans, s4 is touched by r6/r7); columns g0 g1 g2 idle
A_HAND = np.array([[15_000 / 20_000, 0.0, 1.0, 20_000 - 15_001],
                   [5_000 / 20_000, 5_000 / 11_000 + 6_000 / 11_000, 0.0, 20_000 - 16_000],
                   [20_000 / 20_000, 10_000 / 20_000, 0.0, 0.0]])     # s3 covered 30 us of 20: idle 0


def hand_design():
    return design(samples(EDGES, read=[10, 20, 70, 30, 90]), RECS, LO, HI, 3)


def test_design_rows_steps_and_overlap_fractions_by_hand():
    """Rows: the samples inside a step span (a sample starting at a span's end is outside
    it) that no ungrouped record overlaps (one touching a sample's end does not); entries:
    overlap / busy ns of the record's group in its span; a zero-length record counts as
    1 ns; idle: the window minus the records' overlap, never below 0."""
    d = hand_design()
    np.testing.assert_array_equal(d.rows, [0, 1, 3])
    np.testing.assert_array_equal(d.row_step, [0, 0, 1])
    assert d.n_groups == 3 and d.n_steps == 3
    np.testing.assert_array_equal(d.idle, [4_999.0, 4_000.0, 0.0])
    A = d.A.toarray()
    assert A.shape == (3, 4)
    np.testing.assert_allclose(A, A_HAND, rtol=1e-12, atol=0)
    x = np.array([100.0, 10.0, 1.0, 0.5])
    np.testing.assert_allclose(d.fitted(x), A_HAND @ x, rtol=1e-12)


def test_design_with_an_explicit_window_visits_only_those_samples():
    """``window`` (i0, i1): only samples i0..i1-1 can be rows; ``rows`` index all samples."""
    smp = samples(EDGES)
    d = design(smp, RECS, LO, HI, 3, window=(1, 5))
    np.testing.assert_array_equal(d.rows, [1, 3])
    np.testing.assert_allclose(d.A.toarray(), A_HAND[1:], rtol=1e-12)


def test_design_offset_moves_the_records_on_the_pm_clock():
    """PM time = kernel time + offset: a record [-10, -4] us at offset +10 us fills the first
    6 us of s0 (span [-10, 30] us also moves to [0, 40] us)."""
    d = design(samples([0, 20_000, 40_000]), [(-10_000, -4_000, 0, 0)], [-10_000], [30_000], 1, offset=10_000.0)
    np.testing.assert_array_equal(d.rows, [0, 1])
    np.testing.assert_allclose(d.A.toarray(), [[1.0, 14_000.0], [0.0, 20_000.0]])


def test_uniform_entries_are_exact_overlap_over_duration():
    """With the default (uniform) profile an entry is the integer overlap divided by the
    group's busy ns, bit for bit: 1000/7000 per 1-us sample of a 7-us record (the fit is
    sensitive to single ulps, see the module doc), not a CDF difference that rounds."""
    d = design(samples(np.arange(0, 10_001, 1_000)), [(1_000, 8_000, 0, 0)], [0], [10_000], 1)
    np.testing.assert_array_equal(d.rows, np.arange(10))
    np.testing.assert_array_equal(d.A.toarray()[1:8, 0], np.full(7, 1_000 / 7_000))
    np.testing.assert_array_equal(d.idle, [1_000.0] + [0.0] * 7 + [1_000.0] * 2)


def test_normal_equations_of_the_hand_design():
    """A^T W A, A^T W y + w c (W y), U = sqrt(w) c per mode, with c a mode's weighted column
    sums; defaults: all steps weight 1, one mode, closure weight 1000."""
    d = hand_design()
    y = np.array([10.0, 20.0, 30.0])
    S, Atb, U = d.normal(y)
    A = A_HAND
    np.testing.assert_allclose(S.toarray(), A.T @ A, rtol=1e-12)
    c = A.sum(0)
    np.testing.assert_allclose(U, np.sqrt(1e3) * c[:, None], rtol=1e-12)
    np.testing.assert_allclose(Atb, A.T @ y + 1e3 * c * y.sum(), rtol=1e-12)
    w, strata = np.array([2.0, 1.0, 1.0]), np.array([0, 1, 1])
    S, Atb, U = d.normal(y, w, strata, closure_weight=4.0)
    W = np.array([2.0, 2.0, 1.0])          # row weights: rows 0, 1 in span 0, row 2 in span 1
    np.testing.assert_allclose(S.toarray(), A.T @ (W[:, None] * A), rtol=1e-12)
    c0, c1 = 2.0 * (A[0] + A[1]), A[2]
    np.testing.assert_allclose(U, 2.0 * np.stack([c0, c1], 1), rtol=1e-12)
    np.testing.assert_allclose(Atb, A.T @ (W * y) + 4.0 * (c0 * (2 * 10 + 2 * 20) + c1 * 30), rtol=1e-12)


def test_per_step_pieces_of_the_hand_design():
    """Per step span: A^T y and the column sums (span 2 has no rows: zeros), the measured
    bytes, and A^T A on its sparse pattern."""
    d = hand_design()
    y = np.array([10.0, 20.0, 30.0])
    A = A_HAND
    np.testing.assert_allclose(d.per_step(y), [A[0] * 10 + A[1] * 20, A[2] * 30, np.zeros(4)], rtol=1e-12)
    p = NormalParts(d, y)
    np.testing.assert_allclose(p.C, [A[0] + A[1], A[2], np.zeros(4)], rtol=1e-12)
    np.testing.assert_array_equal(p.ys, [30.0, 30.0, 0.0])
    assert p.n_steps == 3 and p.n == 4
    indptr, indices, vals = d.gram()
    assert vals.shape == (3, len(indices))
    for k, rows in enumerate(([0, 1], [2], [])):
        G = np.zeros((4, 4))
        for r in range(4):
            G[r, indices[indptr[r]:indptr[r + 1]]] = vals[k, indptr[r]:indptr[r + 1]]
        ref = A[rows].T @ A[rows] if rows else np.zeros((4, 4))
        np.testing.assert_allclose(G, ref, rtol=1e-12, atol=0)


def test_design_without_rows_gives_empty_normal_equations():
    """No sample falls in the step span (e.g. an offset beyond the data): zero rows, and the
    normal equations are all zero of the right shapes."""
    d = design(samples(EDGES), [(210_000, 220_000, 0, 0)], [200_000], [300_000], 1)
    assert len(d.rows) == 0 and d.A.shape == (0, 2)
    indptr, indices, vals = d.gram()
    np.testing.assert_array_equal(indptr, [0, 0, 0])
    assert len(indices) == 0 and vals.shape == (1, 0)
    S, Atb, U = NormalParts(d, np.zeros(0)).at(None, None)
    assert S.shape == (2, 2) and S.nnz == 0
    np.testing.assert_array_equal(Atb, [0.0, 0.0])
    np.testing.assert_array_equal(U, [[0.0], [0.0]])


def test_a_sample_overlapping_its_neighbours_meets_every_record_in_it():
    """Samples sorted by start need not have sorted ends: a long sample 15-75 us among
    10 us ones. Records at 30-33 and 35-45 us (one span, 0-100 us) fall in it; its idle
    time is 60 - 3 - 10 = 47 us, and both records have an entry in its row (3/13 and
    10/13 of the group's busy time). Searching the unsorted ends missed them."""
    edges = [(i * 10_000, (i + 1) * 10_000) for i in range(10)] + [(15_000, 75_000)]
    w = np.asarray(edges, np.int64) + BASE
    smp = Samples({"start_ns": w[:, 0], "end_ns": w[:, 1], "dram_read_bytes": np.zeros(11, np.int64),
                   "dram_write_bytes": np.zeros(11, np.int64)})
    d = design(smp, [(30_000, 33_000, 0, 0), (35_000, 45_000, 0, 0)], [0.0], [100_000.0], 1)
    long_row = int(np.nonzero(d.rows == 2)[0][0])        # sorted by start: 0, 10, 15, 20, ...
    assert d.idle[long_row] == 47_000.0
    r, c, v = d._entries
    assert sorted(v[r == long_row].tolist()) == pytest.approx([3 / 13, 10 / 13], rel=1e-15)
    assert d.idle.tolist() == [10_000.0, 10_000.0, 47_000.0, 10_000.0, 2_000.0, 5_000.0, 10_000.0, 10_000.0,
                               10_000.0, 10_000.0, 10_000.0]


def test_fully_covered_samples_keep_the_background_column():
    """Every sample fully covered (idle 0): the background column is empty but still there:
    A^T A is 2 x 2 with only the group's entry."""
    d = design(samples([0, 10_000, 20_000]), [(0, 20_000, 0, 0)], [0], [20_000], 1)
    np.testing.assert_array_equal(d.idle, [0.0, 0.0])
    S, Atb, U = NormalParts(d, np.array([4.0, 6.0])).at(None, None)
    assert S.shape == (2, 2)
    np.testing.assert_allclose(S.toarray(), [[0.5, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(U, np.sqrt(1e3) * np.array([[1.0], [0.0]]))
    np.testing.assert_allclose(Atb, [0.5 * 4 + 0.5 * 6 + 1e3 * 10.0, 0.0])


# -- Design, experimental rate profiles (ramp_ns) --------------------------------------

def trapezoid_fractions(p0, L, r1, r2, edges):
    """The share of a trapezoid density on [p0, p0 + L] (rise over r1, flat, fall over r2)
    in each window between consecutive ``edges``: exact integration of the piecewise-linear
    density (trapezoid rule on its vertices and the edges), written independently of
    ``_trap_cdf``."""
    h = 1.0 / (L - (r1 + r2) / 2)
    xs = [p0, p0 + r1, p0 + L - r2, p0 + L]
    ys = [0.0, h, h, 0.0]
    if r1 == 0:
        xs, ys = xs[1:], ys[1:]
        ys[0] = h
    if r2 == 0:
        xs, ys = xs[:-1], ys[:-1]
    e = np.clip(np.asarray(edges, float), p0, p0 + L)
    pts = np.unique(np.r_[xs, e])
    dens = np.interp(pts, xs, ys)
    if r1 == 0:
        dens[pts == p0] = h
    if r2 == 0:
        dens[pts == p0 + L] = h
    cum = np.r_[0.0, np.cumsum(np.diff(pts) * (dens[1:] + dens[:-1]) / 2)]
    return np.diff(np.interp(e, pts, cum))


#: (profile, [(duration, (support start - record start, support length L, rise r1, fall r2))])
#: The trapezoid of each record worked out by hand from ``_profile``'s rules.
PROFILES = {
    "ramp fractions": ((0.25, 0.1), [(10_000, (0, 10_000, 2_500, 1_000)), (4_000, (0, 4_000, 1_000, 400))]),
    "ramp ns, cut to the record": ((3_000.0, 1_000.0), [(10_000, (0, 10_000, 3_000, 1_000)),
                                                        (3_000, (0, 3_000, 2_250, 750))]),   # k = 3/4
    "start ramp only": ((2_000.0, 0.0), [(10_000, (0, 10_000, 2_000, 0))]),
    "start fraction only": ((0.5,), [(10_000, (0, 10_000, 5_000, 0))]),
    "end fraction only": ((0.0, 0.5), [(10_000, (0, 10_000, 0, 5_000))]),
    "ramps of exactly 1 ns": ((1.0, 1.0), [(10_000, (0, 10_000, 1, 1))]),
    "dead times": ((0, 0, 0, 0, 1_000.0, 3_000.0), [(10_000, (1_000, 6_000, 0, 0)),
                                                    (6_000, (750, 3_000, 0, 0))]),    # at most half: 3/4
    "1 ns dead at the start": ((0, 0, 0, 0, 1.0), [(10_000, (1, 9_999, 0, 0))]),
    "1 ns dead at the end": ((0, 0, 0, 0, 0, 1.0), [(10_000, (0, 9_999, 0, 0))]),
    "blur": ((0, 0, 4_000.0), [(10_000, (-2_000, 14_000, 4_000, 4_000)), (1_000, (-2_000, 5_000, 1_000, 1_000))]),
    "1 ns blur": ((0, 0, 1.0), [(10_000, (-0.5, 10_001, 1, 1))]),
    "ramps and blur, both cut": ((3_000.0, 1_000.0, 1_000.0), [(3_000, (-500, 4_000, 2_600, 1_400)),
                                                              (10_000, (-500, 11_000, 4_000, 2_000))]),
    "ramp fractions and blur, a triangle": ((0.5, 0.5, 2_000.0), [(10_000, (-1_000, 12_000, 6_000, 6_000))]),
    "dead time then ramps of the active part": ((0.25, 0.25, 0, 0, 2_000.0), [(10_000, (2_000, 8_000, 2_000, 2_000))]),
    "ramps from min_dur on": ((2_000.0, 2_000.0, 0, 5_000.0), [(5_000, (0, 5_000, 2_000, 2_000)),
                                                               (4_000, (0, 4_000, 0, 0))]),
    "dead times below -min_dur": ((0, 0, 0, -5_000.0, 1_000.0, 1_000.0), [(4_000, (1_000, 2_000, 0, 0)),
                                                                         (5_000, (0, 5_000, 0, 0)),
                                                                         (10_000, (0, 10_000, 0, 0))]),
}


@pytest.mark.parametrize("name", list(PROFILES))
def test_rate_profile_entries_follow_the_hand_trapezoid(name):
    """Each record alone in its group, 1-us samples: its entry in a sample is the share of
    its trapezoid (dead times, ramps, blur as worked out by hand) in that sample."""
    profile, recs = PROFILES[name]
    starts = [20_000 * (i + 1) for i in range(len(recs))]
    edges = np.arange(0, 20_000 * (len(recs) + 2) + 1, 1_000)
    d = design(samples(edges), [(a, a + dur, i, 0) for i, (a, (dur, _)) in enumerate(zip(starts, recs))],
               [0], [edges[-1]], len(recs), ramp=profile)
    np.testing.assert_array_equal(d.rows, np.arange(len(edges) - 1))
    expect = np.stack([trapezoid_fractions(a + dp0, L, r1, r2, edges)
                       for a, (_, (dp0, L, r1, r2)) in zip(starts, recs)], 1)
    np.testing.assert_allclose(d.A.toarray()[:, :len(recs)], expect, rtol=0, atol=1e-9)


def test_blur_pairs_more_samples_but_idle_counts_the_record_only():
    """Blur 4 us: the record's bytes reach 2 us before and after it, but its idle accounting
    stays the record's own interval: the samples next to it stay fully idle."""
    edges = np.arange(0, 40_001, 1_000)
    d = design(samples(edges), [(20_000, 30_000, 0, 0)], [0], [40_000], 1, ramp=(0, 0, 4_000.0))
    expect = np.full(40, 1_000.0)
    expect[20:30] = 0.0
    np.testing.assert_array_equal(d.idle, expect)


# -- _trap_cdf, _profile -----------------------------------------------------------------

def test_trapezoid_cdf_by_hand():
    """L = 10 us, rise 1 us, fall 3 us: height 1/8000; at 0.5 us 0.5^2/2/1 us x h, in the
    flat part h (u - 0.5 us), at 9 us 1 - 1^2/2/3 us x h; a 0.5 ns rise on a 10 ns record
    is a rise of 0.5 ns, not of 1 ns."""
    L, r1, r2 = np.full(4, 10_000.0), np.full(4, 1_000.0), np.full(4, 3_000.0)
    got = _trap_cdf(np.array([500.0, 4_000.0, 9_000.0, 12_000.0]), L, r1, r2)
    np.testing.assert_allclose(got, [125 / 8_000, 3_500 / 8_000, 1 - (1e6 / 6_000) / 8_000, 1.0], rtol=1e-12)
    L, r = np.full(2, 10.0), np.full(2, 0.5)
    got = _trap_cdf(np.array([0.25, 9.75]), L, r, r)
    np.testing.assert_allclose(got, [0.0625 / 9.5, 1 - 0.0625 / 9.5], rtol=1e-12)


def test_profile_pads_a_tuple_and_repeats_a_number():
    assert _profile(250) == (250.0, 250.0, 0.0, 0.0, 0.0, 0.0)
    assert _profile((100, 200)) == (100.0, 200.0, 0.0, 0.0, 0.0, 0.0)
    assert _profile([1, 2, 3, 4, 5, 6]) == (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert all(type(v) is float for v in _profile((1, 2)))


# -- identities, initial_groups ------------------------------------------------------------

def copies_trace():
    """Step 0 (prefill): gemv; steps 1, 2 (decode): gemv, norm, [gemv,] memcpy, memset;
    one gemv outside every step."""
    t = Trace()
    prefill, decode, gemv, norm = (t.intern(s) for s in ("prefill", "decode", "gemv_kernel", "rms_norm_kernel"))
    t.tables["steps"] = table_from_rows("steps", {"index": [0, 1, 2], "mode": [prefill, decode, decode],
                                                  "start_ns": [1000, 2000, 3000], "end_ns": [1900, 2900, 3900]})
    ks = [(1100, 1200, gemv, 0), (2100, 2150, gemv, 1), (2200, 2300, norm, 1), (2400, 2500, gemv, 1),
          (3120, 3190, gemv, 2), (3220, 3300, norm, 2), (5000, 5100, gemv, -1)]
    k = {c: [] for c in ("start_ns", "end_ns", "name", "step", "grid_x", "grid_y", "grid_z", "block_x", "block_y",
                         "block_z")}
    for s, e, n, st in ks:
        for c, v in zip(("start_ns", "end_ns", "name", "step"), (s, e, n, st)):
            k[c].append(v)
        for c in ("grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z"):
            k[c].append(1)
    t.tables["kernels"] = table_from_rows("kernels", k)
    t.tables["memcpy"] = table_from_rows("memcpy", {"start_ns": [2600, 3600], "end_ns": [2650, 3660],
                                                    "bytes": [4096, 4096], "copy_kind": [1, 1], "step": [1, 2]})
    t.tables["memset"] = table_from_rows("memset", {"start_ns": [2700, 3700], "end_ns": [2710, 3720],
                                                    "bytes": [64, 64], "step": [1, 2]})
    t.validate()
    return t


def test_identities_by_hand():
    """Identity = (mode, signature, occurrence in the step): the decode steps share theirs
    (gemv #0, norm #0, gemv #1 only in step 1, the copy, the set), the prefill gemv is its
    own; ordered by (mode, median start in the step); medians are the lower ones; a record
    outside the steps is -1."""
    t = copies_trace()
    rec = gpu_records(t)
    pos = np.array([0, 1, 1, 1, 2, 2, -1, 1, 2, 1, 2])
    ids = identities(t, rec, pos, np.array([1000, 2000, 3000]))
    prefill, decode = t.strings.index("prefill"), t.strings.index("decode")
    np.testing.assert_array_equal(ids["ident"], [0, 1, 2, 3, 1, 2, -1, 4, 4, 5, 5])
    np.testing.assert_array_equal(ids["mode"], [prefill] + [decode] * 5)
    np.testing.assert_array_equal(ids["klass"], [0, 0, 2, 0, 8, 9])      # GEMM, GEMM, NORM, GEMM, MEMCPY, MEMSET
    np.testing.assert_array_equal(ids["rel_start_ns"], [100.0, 100.0, 200.0, 400.0, 600.0, 700.0])
    np.testing.assert_array_equal(ids["dur_ns"], [100.0, 50.0, 80.0, 100.0, 50.0, 10.0])
    assert ids["name"] == ["gemv_kernel", "gemv_kernel", "rms_norm_kernel", "gemv_kernel", "memcpy", "memset"]
    np.testing.assert_array_equal(ids["table"], [0, 0, 0, 0, 1, 2])


def test_identities_with_no_record_in_a_step():
    t = copies_trace()
    rec = gpu_records(t)
    ids = identities(t, rec, np.full(11, -1), np.array([1000, 2000, 3000]))
    assert set(ids) == {"ident", "mode", "klass", "rel_start_ns", "dur_ns", "name", "table"}
    np.testing.assert_array_equal(ids["ident"], np.full(11, -1))
    for key in ("mode", "klass", "rel_start_ns", "dur_ns", "table"):
        assert ids[key].shape == (0,), key
    assert ids["name"] == []


def test_record_names():
    t = Trace()
    t.intern("x")
    t.tables["kernels"] = table_from_rows("kernels", {"start_ns": [0], "end_ns": [1], "name": [t.intern("gemv_kernel")]})
    rec = SimpleNamespace(table=np.array([0, 1, 2]), row=np.array([0, 0, 0]))
    assert [_record_name(t, rec, r) for r in range(3)] == ["gemv_kernel", "memcpy", "memset"]


def ids_of(mode, rel, dur):
    return {"mode": np.array(mode), "rel_start_ns": np.array(rel, float), "dur_ns": np.array(dur, float)}


def test_initial_groups_by_hand():
    """min_span 10: spans (to the next start in the mode, the last one its duration)
    3, 3, 4 merge to 10; 2 starts a new group (10 reached); 10 stands alone (>= min);
    3 after it alone; the mode's last (duration 12) alone; the next mode starts a group:
    4 + 2 merge; 14 alone; 3 alone."""
    g = initial_groups(ids_of([0] * 7 + [1] * 4, [0, 3, 6, 10, 12, 22, 25, 0, 4, 6, 20],
                              [1, 1, 1, 1, 1, 1, 12, 1, 1, 1, 3]), 10.0)
    np.testing.assert_array_equal(g, [0, 0, 0, 1, 2, 3, 4, 5, 5, 6, 7])


def test_initial_groups_merge_until_the_span_is_reached():
    """3 + 3 + 3 = 9 < 10: the fourth joins (the run is still short)."""
    np.testing.assert_array_equal(initial_groups(ids_of([0] * 4, [0, 3, 6, 9], [1, 1, 1, 2]), 10.0), [0, 0, 0, 0])


def test_initial_groups_start_again_at_a_mode_change():
    """Short runs never merge across modes (nor with the mode before the previous one)."""
    g = initial_groups(ids_of([5, 5, 9, 9], [0, 3, 0, 4], [1, 2, 1, 2]), 10.0)
    np.testing.assert_array_equal(g, [0, 0, 1, 1])


# -- _row_ids, _group_median, _dense_ids ------------------------------------------------------

def test_row_ids_empty_and_near_the_int64_limit():
    """No rows: no ids. Ids follow the rows' order even for values next to 2**63."""
    out = _row_ids([np.zeros(0, np.int64)])
    assert out.dtype == np.int64 and out.shape == (0,)
    np.testing.assert_array_equal(_row_ids([np.array([2 ** 62 + 1, 2 ** 62 - 1, 2 ** 62], np.int64)]), [2, 0, 1])


def test_row_ids_of_wide_columns_see_every_column():
    """Columns too wide for one key (the lexsort path): rows differing only in the first
    column get different ids; lexicographic order."""
    cols = [np.array([0, 2 ** 40, 2 ** 40, 0]), np.array([7, 7, 2 ** 30, 7])]
    np.testing.assert_array_equal(_row_ids(cols), [0, 1, 2, 0])


def test_group_median_by_hand():
    """Lower median per group: whole-ns values spread over the whole range in both groups,
    fractional values, whole values near 1e17, none at all, trailing empty groups keep
    their slot."""
    g = np.array([0, 0, 0, 1, 1])
    np.testing.assert_array_equal(_group_median(g, np.array([0.0, 10.0, 5.0, 0.0, 4.0]), 2), [5.0, 0.0])
    np.testing.assert_array_equal(_group_median(np.zeros(3, np.int64), np.array([0.7, 0.2, 0.5]), 1), [0.5])
    big = 1e17 + np.array([16.0, 32.0, 0.0])         # whole ns where floats are 16 apart
    np.testing.assert_array_equal(_group_median(np.zeros(3, np.int64), big, 1), [1e17 + 16])
    assert _group_median(np.zeros(0, np.int64), np.zeros(0), 0).shape == (0,)
    assert _group_median(np.array([0, 0]), np.array([1.0, 2.0]), 3).shape == (3,)


def test_group_median_of_values_spanning_1e18():
    """Whole values over a range of 1e18 in 20 groups (no single int64 key can hold
    group x range): still the lower median of each group."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(20), 5)
    v = (rng.integers(0, 2 ** 50, 100) * 1024).astype(float)
    v[0], v[1] = 0.0, 2.0 ** 60
    ref = [np.sort(v[g == k])[2] for k in range(20)]
    np.testing.assert_array_equal(_group_median(g, v, 20), ref)


def test_dense_ids_through_the_sort():
    """Keys in a range too large for a table: np.unique's ids."""
    uniq, inv = _dense_ids(np.array([5, 3, 5, 2 ** 24]), 2 ** 25)
    np.testing.assert_array_equal(uniq, [3, 5, 2 ** 24])
    np.testing.assert_array_equal(inv, [1, 0, 1, 2])
    uniq, inv = _dense_ids(np.array([5, 3, 5, 2 ** 4]), 2 ** 5)
    np.testing.assert_array_equal(uniq, [3, 5, 16])
    np.testing.assert_array_equal(inv, [1, 0, 1, 2])
