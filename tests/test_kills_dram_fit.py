"""The PM deconvolution of analysis/dram_fit.py by hand (issue 31): the problem's step
spans, the design's record selection and sample window, the offset search, the bootstrap's
draws within each mode, merging, the pair bound, the shortest span, record rates and the
closure, and the estimate's refusals and outputs, on small constructed cases whose answers
are worked out in the test (or, for the offset, constructed with a known shift). Each test
names the behaviour it pins; each was checked by the mutants it kills
(``benchmarks/mutation.py``). The fixtures are per test: mutmut runs, for each mutant,
the tests that called the mutated function, and a module-scoped fixture's work would be
charged to the first test that used it only."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from test_dram_kernels import PEAK, integrate, make_trace, recovery_case

from stepscope.analysis import dram_fit
from stepscope.analysis.attribution import attribute
from stepscope.analysis.dram_fit import (
    Designer,
    Problem,
    _closure,
    _merge,
    _neighbour_corr,
    estimate,
    fit_boot,
    fit_offset,
    max_pairs,
    min_span,
    overlap_pairs,
    record_rates,
)
from stepscope.analysis.dram_kernels import identities, initial_groups

BASE = 1_000_000


def pm_table(windows, read=None, write=None):
    """PM samples from (start, end) pairs after BASE."""
    w = np.asarray(windows, np.int64) + BASE
    n = len(w)
    return {"start_ns": w[:, 0], "end_ns": w[:, 1],
            "dram_read_bytes": np.asarray(read if read is not None else np.zeros(n), np.int64),
            "dram_write_bytes": np.asarray(write if write is not None else np.zeros(n), np.int64)}


def hand_problem(windows=None):
    """Two steps whose rows are out of time order: step 0 spans 60..90 us (mode 5), step 1
    0..40 us (mode 9). Records: one in step 1 at 5 us, two in step 0 at 65 and 70 us, one
    outside every step at 500 us. Samples every 10 us over 0..100 us plus one long sample
    15..75 us, so the running maximum of the ends is not the ends."""
    windows = windows or [(i * 10_000, (i + 1) * 10_000) for i in range(10)] + [(15_000, 75_000)]
    trace = {"pm": pm_table(windows), "steps": {"mode": np.array([5, 9])}}
    rec = SimpleNamespace(start_ns=np.array([5_000, 65_000, 70_000, 500_000]) + BASE,
                          end_ns=np.array([9_000, 68_000, 80_000, 510_000]) + BASE)
    attr = {"records": rec, "record_pos": np.array([1, 0, 0, -1]),
            "intervals": SimpleNamespace(lo_ns=np.array([60_000, 0]) + BASE, hi_ns=np.array([90_000, 40_000]) + BASE)}
    return Problem(trace, attr, {"ident": np.array([0, 1, 2, -1])})


def same_design(a, b) -> bool:
    """Two designs with the same rows, idle time and entries."""
    return (np.array_equal(a.rows, b.rows) and np.array_equal(a.idle, b.idle)
            and all(np.array_equal(u, v) for u, v in zip(a._entries, b._entries)))


# -- Problem and Designer: the step spans in time order, the records of chosen spans ----

def test_problem_puts_step_spans_in_time_order():
    p = hand_problem()
    assert p.step_order.tolist() == [1, 0] and p.n_steps == 2
    assert p.rank.tolist() == [1, 0]                 # step row -> span index
    assert p.lo.tolist() == [0.0, 60_000.0] and p.hi.tolist() == [40_000.0, 90_000.0]
    assert p.span_mode.tolist() == [9, 5]
    assert p.smp.base_ns == BASE and p.smp.n == 11
    assert p.end_max.tolist() == [x * 1_000.0 for x in (10, 20, 75, 75, 75, 75, 75, 75, 80, 90, 100)]
    assert p.a.tolist() == (np.array([5_000, 65_000, 70_000, 500_000]) + BASE).tolist()
    assert p.b.tolist() == (np.array([9_000, 68_000, 80_000, 510_000]) + BASE).tolist()


def test_designer_of_all_spans_keeps_every_record_on_the_pm_clock():
    p = hand_problem()
    d = Designer(p, np.array([0, 0, 1]), 2)
    assert d.a.tolist() == [5_000.0, 65_000.0, 70_000.0, 500_000.0]
    assert d.b.tolist() == [9_000.0, 68_000.0, 80_000.0, 510_000.0]
    assert d.group.tolist() == [0, 0, 1, -1]         # the record outside every identity: no group
    assert d.span.tolist() == [0, 1, 1, -1]          # step 1 is span 0
    assert d.lo.tolist() == [0.0, 60_000.0] and d.hi.tolist() == [40_000.0, 90_000.0]
    assert d.n_groups == 2 and d.smp is p.smp and d.end_max is p.end_max


def test_designer_of_chosen_spans_keeps_their_records_and_those_outside_renumbered():
    p = hand_problem()
    d = Designer(p, np.array([0, 0, 1]), 2, np.array([1]))
    assert d.a.tolist() == [65_000.0, 70_000.0, 500_000.0]
    assert d.group.tolist() == [0, 1, -1]
    assert d.span.tolist() == [0, 0, -1]             # span 1 is the only one: 0
    assert d.lo.tolist() == [60_000.0] and d.hi.tolist() == [90_000.0]
    d0 = Designer(p, np.array([0, 0, 1]), 2, np.array([0]))
    assert d0.a.tolist() == [5_000.0, 500_000.0] and d0.span.tolist() == [0, -1] and d0.group.tolist() == [0, -1]


@pytest.mark.parametrize("off, window", [
    (0.0, (2, 10)),          # ends <= 60 us: 10, 20 (the long sample ends at 75); starts < 90 us: 10
    (15_000.0, (8, 11)),     # an end at exactly 75 us is out (it ends where the span starts)
    (-10_000.0, (2, 9)),     # starts < 80 us: 0..70 (8) and the long one
])
def test_window_holds_the_samples_that_can_meet_a_chosen_span(off, window):
    d = Designer(hand_problem(), np.array([0, 0, 1]), 2, np.array([1]))
    assert d.window(off) == window
    des = d(off)
    assert des.rows.min() >= window[0] and des.rows.max() < window[1]


def test_window_of_no_span_is_empty_and_the_whole_design_sees_every_span():
    p = hand_problem()
    assert Designer(p, np.array([0, 0, 1]), 2, np.array([], np.int64)).window(0.0) == (0, 0)
    assert Designer(p, np.array([0, 0, 1]), 2).window(0.0) == (0, 10)
    assert same_design(p.design(np.array([0, 0, 1]), 2, 1_000.0), Designer(p, np.array([0, 0, 1]), 2)(1_000.0))


# -- overlap_pairs, max_pairs, min_span --------------------------------------------------

def test_overlap_pairs_counts_records_within_the_margin_of_each_sample():
    """Records 5-9, 65-68, 70-80 and 500-510 us; samples as in hand_problem (sorted by
    start). A sample's count is the records starting before its end (+ margin) less those
    ending at or before its start (- margin). No margin: 0-10: 1; 15-75: 2 (65-68, 70-80);
    60-70: 1 (70 starts at its end: out); 70-80: 1 (68 ended); 80-90: 0 (80 ends at its
    start); the rest 0: (1 + 4 + 1 + 1) / 2."""
    p = hand_problem()
    assert overlap_pairs(p, margin_ns=0.0) == 3.5
    # 5 us: 0-10: 1; 10-20: 1 (9 > 5); 15-75: 2; 50-60: 0 (65 is not before 65); 60-70: 2;
    # 70-80: 2; 80-90: 1 (80 > 75); 90-100: 0 (80 <= 85): (1 + 1 + 4 + 4 + 4 + 1) / 2
    assert overlap_pairs(p, margin_ns=5_000.0) == 7.5
    # the default, 60 us: 0-10: 2 (70 is not before 70); 10-20 .. 60-70: 3; 70-80, 80-90,
    # 90-100: 2 (5-9 ended); the record at 500 us is out of reach: (4 + 7 x 9 + 3 x 4) / 2
    assert overlap_pairs(p) == 39.5


def test_max_pairs_is_the_size_limit_over_bytes_per_pair(monkeypatch):
    monkeypatch.delenv("STEPSCOPE_MAX_TRACE_MB", raising=False)
    assert max_pairs() == 4096 * 2**20 // 1024 == 4_194_304
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "1")
    assert max_pairs() == 1024


@pytest.mark.parametrize("starts, expect", [
    ([0, 20_000, 40_000], 20_000.0),             # one phase: the interval
    ([0, 2_499], 20_000.0),                      # 2499 / 20000 * 8 = 0.9996: still phase 0
    ([0, 2_500], 10_000.0),                      # two phases
    ([0, 2_500, 45_000], 20_000 / 3),            # 45 us is 5 us into its interval: phase 2
    ([0, 2_500, 5_000, 7_500, 12_500], 5_000.0), # five phases, divided by at most 4
])
def test_min_span_divides_the_interval_by_the_phases_of_the_step_starts(starts, expect):
    """Phases are eighths of the interval, counted from the first sample's start (1 us
    after 0 here, so the starts are shifted by it)."""
    prob = SimpleNamespace(lo=np.asarray(starts, float) + 1_000.0, smp=SimpleNamespace(start_ns=np.array([1_000.0])))
    assert min_span(prob, 20_000.0) == pytest.approx(expect, rel=1e-15)


# -- _merge: each unsupported group joins its most anticorrelated neighbour of its mode ---

def boots_with(corr_pairs, n=5, rows=40, seed=3):
    """Resamples of n groups (+ background) whose neighbour correlations have the signs
    asked: {g: +1 or -1} makes group g + 1 follow (or mirror) group g."""
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((rows, n + 1))
    for g, s in corr_pairs.items():
        b[:, g + 1] = s * b[:, g] + 0.1 * rng.standard_normal(rows)
    return b


def test_merge_joins_the_most_anticorrelated_neighbour_of_the_same_mode():
    """Groups 0-2 in mode 0, 3-4 in mode 1. Group 1 is unsupported: group 2 mirrors it
    (anticorrelated), group 0 follows it, so 1 and 2 merge. Group 4 is unsupported: its
    only neighbour of its mode is 3 (there is no group 5)."""
    g = np.array([0, 0, 1, 2, 3, 4])
    mode = np.array([0, 0, 0, 0, 1, 1])
    bad = np.array([False, True, False, False, True])
    boots = boots_with({0: +1, 1: -1})
    assert _merge(g, mode, bad, boots).tolist() == [0, 0, 1, 1, 2, 2]
    boots = boots_with({0: -1, 1: +1})                 # now 0 mirrors 1: 0 and 1 merge
    assert _merge(g, mode, bad, boots).tolist() == [0, 0, 0, 1, 2, 2]


def test_merge_never_crosses_a_mode_nor_reuses_a_merged_group():
    g = np.arange(5)
    # group 2's neighbours are of other modes: it stays alone
    assert _merge(g, np.array([0, 0, 1, 2, 2]), np.array([False, False, True, False, False]),
                  boots_with({})).tolist() == [0, 1, 2, 3, 4]
    # 0 and 1 both unsupported: 0 takes 1 (its only neighbour); 1 is then done, and 2
    # (unsupported) cannot take 1, so it takes 3
    bad = np.array([True, True, True, False, False])
    assert _merge(g, np.zeros(5, np.int64), bad, boots_with({})).tolist() == [0, 0, 1, 1, 2]
    # an unsupported group whose free neighbour is only the one below
    bad = np.array([False, False, False, False, True])
    assert _merge(g, np.zeros(5, np.int64), bad, boots_with({})).tolist() == [0, 1, 2, 3, 3]


# -- record_rates and _closure by hand ---------------------------------------------------

def test_record_rates_spread_a_groups_bytes_over_its_busy_time_in_the_step():
    """Two steps; identities 0 and 1 form group 0, identity 2 group 1. Step 0: identity 0
    for 100 ns, identity 1 for 300, identity 2 for 50; step 1: 200, 200, 25; one record
    outside every step. Group 0 holds 800 bytes a step, group 1 100."""
    rec = SimpleNamespace(start_ns=np.array([0, 100, 400, 1_000, 1_200, 1_400, 5_000]),
                          end_ns=np.array([100, 400, 450, 1_200, 1_400, 1_425, 5_010]))
    attr = {"records": rec, "record_pos": np.array([0, 0, 0, 1, 1, 1, -1])}
    ids = {"ident": np.array([0, 1, 2, 0, 1, 2, -1])}
    r = record_rates(attr, ids, np.array([0, 0, 1]), np.array([800.0, 100.0]))
    assert r.tolist() == [2.0, 2.0, 2.0, 2.0, 2.0, 4.0, 0.0]
    # a group with no estimate (NaN) moves nothing
    assert record_rates(attr, ids, np.array([0, 0, 1]), np.array([np.nan, 100.0])).tolist() == [0, 0, 2, 0, 0, 4, 0]


def test_record_rates_of_a_step_whose_group_took_no_time():
    """A zero-length record: the busy time is floored at 1 ns, so the rate is the bytes."""
    rec = SimpleNamespace(start_ns=np.array([10, 50]), end_ns=np.array([10, 60]))
    attr = {"records": rec, "record_pos": np.array([0, 0])}
    r = record_rates(attr, {"ident": np.array([0, 1])}, np.array([0, 1]), np.array([7.0, 30.0]))
    assert r.tolist() == [7.0, 3.0]
    none = record_rates({"records": SimpleNamespace(start_ns=np.zeros(0, np.int64), end_ns=np.zeros(0, np.int64)),
                         "record_pos": np.zeros(0, np.int64)}, {"ident": np.zeros(0, np.int64)},
                        np.zeros(0, np.int64), np.zeros(0))
    assert none.tolist() == []


def test_closure_sums_measured_and_fitted_bytes_per_step_and_the_r2():
    """Rows 0, 1 in span 0, row 2 in span 2 (span 1 has none). A = [[1, 0], [0, 2],
    [1, 1]] (the last column the background), x = [10, NaN -> 0]: fitted 10, 0, 10;
    measured 12, 1, 8: per step 13 | 0 | 8 against 10 | 0 | 10; residuals 2, 1, -2 (9)
    over the spread about the mean 7: 25 + 36 + 1 = 62."""
    d = SimpleNamespace(A=np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), row_step=np.array([0, 0, 2]))
    out = _closure(SimpleNamespace(n_steps=3), d, np.array([12.0, 1.0, 8.0]), np.array([10.0, np.nan]), "read")
    assert out["read_measured_bytes_per_step"].tolist() == [13.0, 0.0, 8.0]
    assert out["read_fitted_bytes_per_step"].tolist() == [10.0, 0.0, 10.0]
    assert out["read_r2"] == pytest.approx(1 - 9 / 62, rel=1e-15)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # no mean of an empty array
        empty = _closure(SimpleNamespace(n_steps=2), SimpleNamespace(A=np.zeros((0, 2)),
                                                                     row_step=np.zeros(0, np.int64)),
                         np.zeros(0), np.zeros(2), "write")
    assert np.isnan(empty["write_r2"]) and empty["write_measured_bytes_per_step"].tolist() == [0.0, 0.0]
    flat = _closure(SimpleNamespace(n_steps=1), SimpleNamespace(A=np.ones((2, 1)), row_step=np.zeros(2, np.int64)),
                    np.array([5.0, 5.0]), np.array([4.0]), "read")
    assert np.isnan(flat["read_r2"])             # no spread to explain: no r2 (not a division by zero)
    assert flat["read_fitted_bytes_per_step"].tolist() == [8.0]
    # a small spread is a spread: 5 and 5.5 about 5.25 (0.125); residuals 1 and 1.5 (3.25)
    small = _closure(SimpleNamespace(n_steps=1), SimpleNamespace(A=np.ones((2, 1)), row_step=np.zeros(2, np.int64)),
                     np.array([5.0, 5.5]), np.array([4.0]), "read")
    assert small["read_r2"] == 1 - 3.25 / 0.125


# -- _neighbour_corr at its edges --------------------------------------------------------

def test_neighbour_corr_needs_two_resamples_and_two_groups():
    assert _neighbour_corr(np.ones((1, 4))).tolist() == [0.0, 0.0, 0.0]     # one resample: no spread
    assert _neighbour_corr(np.ones((5, 1))).tolist() == []                  # one group: no pair
    assert _neighbour_corr(np.ones((0, 0))).tolist() == []
    two = np.array([[1.0, 2.0, 5.0], [3.0, 0.0, 5.0]])                      # two resamples are enough
    assert _neighbour_corr(two).tolist() == pytest.approx([-1.0, 0.0], abs=1e-15)   # a constant column: 0


def test_neighbour_corr_is_quiet_and_within_minus_one_to_one():
    """A column with no spread divides 0 by 0 without a warning; a column that is another
    one scaled correlates by 1 (rounding gives 1 +- 2e-16; above 1 is clipped)."""
    import warnings
    rng = np.random.default_rng(11)
    b = rng.standard_normal((30, 4)) * 1e3
    b[:, 1] = b[:, 0] * 3.7
    b[:, 2] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = _neighbour_corr(b)
    assert c[0] == pytest.approx(1.0, abs=1e-15) and c[0] <= 1.0 and c[1] == 0.0 and c[2] == 0.0
    found = 0
    for seed in range(200):          # cases where the formula rounds past 1 in magnitude
        x = np.random.default_rng(seed).standard_normal((7, 1))
        for s in (1.0, -1.0):
            b = np.hstack([x, s * 0.1 * x])
            v = _neighbour_corr(b)[0]
            assert -1.0 <= v <= 1.0
            xc = b - b.mean(axis=0)
            sd = np.sqrt((xc * xc).sum(axis=0) / 6)
            found += abs((xc[:, 0] * xc[:, 1]).sum() / 6 / sd[0] / sd[1]) > 1
    assert found       # the clip was needed on some of these


# -- fit_offset: the clock offset of a trace shifted by a known amount ---------------------

@pytest.fixture
def shifted():
    """Six steps of 24 kernels, exact bytes (no noise), the PM clock 7 us ahead."""
    dur, b = recovery_case(4)
    t = make_trace(dur, b, n_steps=6, seed=4, write_frac=0.5)
    t["pm"]["start_ns"] += 7_000
    t["pm"]["end_ns"] += 7_000
    attr = attribute(t)
    ids = identities(t, attr["records"], attr["record_pos"], attr["intervals"].lo_ns)
    prob = Problem(t, attr, ids)
    g = initial_groups(ids, 20_000.0)
    return t, attr, prob, g, int(g.max()) + 1


def test_fit_offset_lands_on_the_exact_shift(shifted):
    """The coarse grid (2 us) holds 6 and 8 us; the refits move to 7 us and stay; the 250 ns
    grid confirms it. Offsets come back sorted with their residuals, the least at 7 us."""
    _, _, prob, g, ng = shifted
    best, tried, mse = fit_offset(prob, g, ng, "read", 6)
    assert best == 7_000.0
    assert np.all(np.diff(tried) >= 0) and len(tried) == len(mse)
    assert mse[tried == best].min() == mse.min() < 1e-6 * mse.max()
    # coarse: 0 +- 40 us by 2 (41); fine around 8 or 6 us (17), which moves to 7 us; fine
    # around 7 us again (17), which stays; finer around 7 us by 250 ns (9)
    assert len(tried) == 41 + 17 + 17 + 9 and (tried == 7_000.0).sum() == 3
    assert {-40_000.0, 40_000.0, -1_000.0, 15_000.0, 6_250.0, 7_750.0} <= set(tried.tolist())
    assert not {-42_000.0, 42_000.0, 16_500.0, 500.0} & set(tried.tolist())


def test_fit_offset_from_a_start_never_below_its_floor(shifted):
    """The write search: its grid (0..100 us) added to the start, nothing under the floor;
    the floor itself is tried."""
    _, _, prob, g, ng = shifted
    best, tried, _ = fit_offset(prob, g, ng, "write", 6, dram_fit.WRITE_LAG_NS, 3_000.0, 3_000.0)
    assert best == 7_000.0
    assert tried.min() == 3_000.0 and 103_000.0 in tried
    best, tried, _ = fit_offset(prob, g, ng, "read", 6, dram_fit.COARSE_NS, 0.0, 9_000.0)
    assert best == 9_000.0 and tried.min() == 9_000.0            # the best allowed is the floor


def test_fit_offset_uses_only_the_first_steps(shifted, monkeypatch):
    _, _, prob, g, ng = shifted
    seen = []
    real = dram_fit.Designer

    def spy(p, gid, n, steps=None):
        seen.append(None if steps is None else steps.tolist())
        return real(p, gid, n, steps)
    monkeypatch.setattr(dram_fit, "Designer", spy)
    fit_offset(prob, g, ng, "read", 3)
    fit_offset(prob, g, ng, "read", 100)
    assert seen == [[0, 1, 2], [0, 1, 2, 3, 4, 5]]


def test_fit_offset_mse_is_the_mean_squared_residual(shifted):
    """The coarse scan holds the bytes fitted at the start offset (0) fixed: its residual at
    -40 us is the measured rows there less those bytes placed at -40 us, squared, over
    the rows."""
    from stepscope.analysis.dram_nnls import nnls_normal
    _, _, prob, g, ng = shifted
    _, tried, mse = fit_offset(prob, g, ng, "read", 6)
    d = Designer(prob, g, ng, np.arange(6))
    y = prob.smp.read
    at0 = d(0.0)
    S, Atb, U = at0.normal(y[at0.rows])
    x0 = np.nan_to_num(nnls_normal(S, Atb, low_rank=U)[0])
    for off in (-40_000.0, 40_000.0):
        des = d(off)
        r = y[des.rows] - des.fitted(x0)
        assert mse[tried == off][0] == pytest.approx(r @ r / len(r), rel=1e-12)


# -- fit_boot: resamples of the steps within each mode -----------------------------------

def test_fit_boot_draws_steps_within_each_mode(shifted, monkeypatch):
    from stepscope.analysis import dram_kernels
    from stepscope.analysis.dram_nnls import nnls_normal
    _, _, prob, g, ng = shifted
    d = prob.design(g, ng, 7_000.0)
    y = prob.smp.read[d.rows]
    calls = []
    real_at = dram_kernels.NormalParts.at

    def at(self, w, strata, *a):
        calls.append((None if w is None else w.copy(), strata.copy()))
        return real_at(self, w, strata, *a)
    monkeypatch.setattr(dram_kernels.NormalParts, "at", at)
    strata = np.array([0, 0, 0, 0, 1, 1])
    x, boots = fit_boot(d, y, 8, np.random.default_rng(2), strata)
    assert boots.shape == (8, ng + 1) and len(calls) == 9
    assert calls[0][0] is None and all((s == strata).all() for _, s in calls)
    ws = np.array([w for w, _ in calls[1:]])
    assert (ws == np.round(ws)).all() and (ws >= 0).all()
    assert (ws[:, :4].sum(axis=1) == 4).all() and (ws[:, 4:].sum(axis=1) == 2).all()
    assert len({tuple(w) for w in ws}) > 4             # the draws differ
    for w, b in zip(ws, boots):                         # each row is the fit of its draw
        S, Atb, U = real_at(dram_kernels.NormalParts(d, y), w, strata)
        np.testing.assert_allclose(b, nnls_normal(S, Atb, low_rank=U)[0], rtol=1e-6, atol=1e-3 * np.abs(x).max())
    S, Atb, U = real_at(dram_kernels.NormalParts(d, y), None, strata)
    np.testing.assert_allclose(x, nnls_normal(S, Atb, low_rank=U)[0], rtol=1e-12)
    assert fit_boot(d, y, 0, np.random.default_rng(2), strata)[1].shape == (0, ng + 1)


# -- estimate: refusals ------------------------------------------------------------------

def small_trace(**kw):
    dur, b = recovery_case(5, n=8)
    return make_trace(dur, b, n_steps=4, seed=5, **kw)


def test_estimate_refuses_graph_level_records():
    t = small_trace()
    t.meta["capture"] = {"kernel_records": "graph"}
    assert estimate(t, attribute(t)) == {
        "source": "none", "reason": "graph-level kernel records: one record per CUDA-graph replay, "
                                    "no per-kernel times to deconvolve"}


def test_estimate_without_pm_samples_or_kernels_in_steps():
    from stepscope.analysis.trace import table_from_rows
    t = small_trace()
    empty = {k: v[:0] for k, v in t["pm"].items()}
    t.tables["pm"] = table_from_rows("pm", empty)
    assert estimate(t, attribute(t)) == {"source": "none", "reason": "no PM samples"}
    t = small_trace()
    t["kernels"]["step"][:] = -1                      # no kernel in any step
    t["steps"]["start_ns"] += 10**9
    t["steps"]["end_ns"] += 10**9
    from stepscope.analysis.trace.steps import assign_steps
    assign_steps(t)
    assert (t["kernels"]["step"] < 0).all()
    assert estimate(t, attribute(t)) == {"source": "none", "reason": "no kernels in steps"}
    t.tables["pm"] = table_from_rows("pm", empty)
    assert estimate(t, attribute(t)) == {"source": "none", "reason": "no kernels in steps"}


def test_estimate_without_a_valid_pm_sample():
    t = small_trace()
    t["pm"]["end_ns"][:] = t["pm"]["start_ns"]         # zero-length windows: none valid
    assert estimate(t, attribute(t)) == {"source": "none", "reason": "no valid PM samples"}


def test_estimate_refuses_past_the_pair_limit(monkeypatch):
    t = small_trace()
    attr = attribute(t)
    ids = identities(t, attr["records"], attr["record_pos"], attr["intervals"].lo_ns)
    pairs = overlap_pairs(Problem(t, attr, ids))
    monkeypatch.setattr(dram_fit, "max_pairs", lambda: int(pairs) - 1)
    est = estimate(t, attr)
    assert est == {"source": "none", "reason": f"records overlap too much to deconvolve: {pairs:.3g} pairs of records "
                                               f"share a PM sample, over the {int(pairs) - 1:.3g} the size limit "
                                               "allows (--max-trace-mb)", "work_limit": True}
    monkeypatch.setattr(dram_fit, "max_pairs", lambda: pairs)                   # at the limit: made
    assert estimate(t, attr, n_boot=0)["source"] == "pm deconvolution"


def test_estimate_limits_blas_to_one_thread_only_when_it_fits(monkeypatch):
    import contextlib

    from stepscope.analysis.trace import table_from_rows
    entered = []

    @contextlib.contextmanager
    def spy():
        entered.append(True)
        yield
    monkeypatch.setattr(dram_fit, "one_thread", spy)
    t = small_trace()
    estimate(t, attribute(t), n_boot=0)
    assert entered == [True]
    t.tables["pm"] = table_from_rows("pm", {k: v[:0] for k, v in t["pm"].items()})
    estimate(t, attribute(t))
    assert entered == [True]                           # nothing to fit: no BLAS


# -- estimate: what it returns -----------------------------------------------------------

@pytest.fixture
def exact_case():
    """Six steps of 24 kernels of known bytes; reads at the kernels' times, writes (half
    the reads) landing 10 us later; a background (over the idle time where each lands) of 100 B/ns read and 40 B/ns written
    wherever no kernel runs (the kernels move 2000-3200 B/ns)."""
    dur, b = recovery_case(4)
    t = make_trace(dur, b, n_steps=6, seed=4)
    k, pm = t["kernels"], t["pm"]
    s0, s1 = pm["start_ns"], pm["end_ns"]
    rate = np.tile(b / dur, 6)
    idle = (s1 - s0) - integrate(k["start_ns"], k["end_ns"], np.ones(len(rate)), s0, s1)
    idle_w = (s1 - s0) - integrate(k["start_ns"] + 10_000, k["end_ns"] + 10_000, np.ones(len(rate)), s0, s1)
    pm["dram_read_bytes"][:] = np.round(integrate(k["start_ns"], k["end_ns"], rate, s0, s1) + 100 * idle)
    pm["dram_write_bytes"][:] = np.round(integrate(k["start_ns"] + 10_000, k["end_ns"] + 10_000, rate / 2, s0, s1)
                                         + 40 * idle_w)
    attr = attribute(t)
    return t, attr, b, estimate(t, attr, n_boot=4, seed=1)


def test_estimate_recovers_bytes_offsets_and_background(exact_case):
    t, attr, b, est = exact_case
    g = est["group_of_identity"]
    ng = int(g.max()) + 1
    known = np.bincount(g, weights=b, minlength=ng)
    assert est["source"] == "pm deconvolution"
    np.testing.assert_allclose(est["read_bytes"], known, rtol=2e-3)
    np.testing.assert_allclose(est["write_bytes"], known / 2, rtol=0.02, atol=2e-3 * known.max())
    assert est["read_offset_ns"] == 0.0 and est["write_offset_ns"] == 10_000.0
    assert est["background_read_bytes_per_s"] == pytest.approx(100e9, rel=0.05)
    assert est["background_write_bytes_per_s"] == pytest.approx(40e9, rel=0.05)
    assert est["supported"].all() and est["merge_rounds_used"] == 0
    assert est["read_r2"] > 0.9999 and est["write_r2"] > 0.99


def test_estimate_reports_its_grid_spans_and_sizes(exact_case):
    t, attr, b, est = exact_case
    ids = identities(t, attr["records"], attr["record_pos"], attr["intervals"].lo_ns)
    prob = Problem(t, attr, ids)
    g = est["group_of_identity"]
    ng = int(g.max()) + 1
    assert est["interval_ns"] == 20_000.0 and est["n_boot"] == 4 and est["n_identities"] == 24
    assert est["min_span_ns"] == min_span(prob, 20_000.0)
    assert np.array_equal(g, initial_groups(ids, est["min_span_ns"]))
    assert est["rows"] == len(prob.design(g, ng, 0.0).rows)
    for col in ("read", "write"):
        assert est[f"_{col}_boot"].shape == (4, ng)
        assert len(est[f"{col}_lo_bytes"]) == len(est[f"{col}_hi_bytes"]) == len(est[f"{col}_bytes"]) == ng
        assert (est[f"{col}_lo_bytes"] <= est[f"{col}_hi_bytes"]).all()
        assert len(est[f"{col}_measured_bytes_per_step"]) == len(est[f"{col}_fitted_bytes_per_step"]) == 6
        np.testing.assert_allclose(est[f"{col}_fitted_bytes_per_step"], est[f"{col}_measured_bytes_per_step"],
                                   rtol=2e-3)
    np.testing.assert_allclose(est["_read_boot"], np.broadcast_to(est["read_bytes"], (4, ng)), rtol=1e-2, atol=1e3)
    assert est["read_offsets_tried_ns"].min() == -40_000.0 and est["write_offsets_tried_ns"].min() == 0.0
    assert est["write_offsets_tried_ns"].max() == 100_000.0
    assert len(est["read_offset_mse"]) == len(est["read_offsets_tried_ns"])
    assert len(est["write_offset_mse"]) == len(est["write_offsets_tried_ns"])
    assert est["mode"] == ["eager"] * ng and est["members"].sum() == 24
    want = record_rates(attr, ids, g, est["read_bytes"] + est["write_bytes"])
    np.testing.assert_array_equal(est["record_bytes_per_ns"], want)


def test_estimate_takes_a_given_span_and_seed(exact_case):
    t, attr, _, est = exact_case
    ids = identities(t, attr["records"], attr["record_pos"], attr["intervals"].lo_ns)
    coarse = estimate(t, attr, n_boot=2, min_span_ns=200_000.0)
    assert coarse["min_span_ns"] == 200_000.0 and len(coarse["read_bytes"]) < len(est["read_bytes"])
    assert np.array_equal(coarse["group_of_identity"], initial_groups(ids, 200_000.0))
    a, b = estimate(t, attr, n_boot=3, seed=7), estimate(t, attr, n_boot=3, seed=7)
    c = estimate(t, attr, n_boot=3, seed=8)
    assert np.array_equal(a["_read_boot"], b["_read_boot"]) and not np.array_equal(a["_read_boot"], c["_read_boot"])
    none = estimate(t, attr, n_boot=0)
    assert np.array_equal(none["read_lo_bytes"], none["read_bytes"]) and none["_read_boot"].shape[0] == 0


@pytest.mark.parametrize("ratio, ok", [(1.04, True), (1.06, False)])
def test_groups_faster_than_the_peak_bandwidth_are_unsupported(ratio, ok):
    """Every kernel moves its bytes at one rate R: a group is its bytes over its members'
    time, R again. Supported with a peak R / 1.04 (within the 5% allowance), not at
    R / 1.06; then every merge round is used, and the merged groups are as fast."""
    dur = np.array([60_000, 45_000, 80_000, 30_000, 70_000])
    rate = 2.0                                          # bytes per ns
    t = make_trace(dur, dur * rate, n_steps=6, seed=9)
    est = estimate(t, attribute(t), n_boot=3, peak_bytes_per_s=rate * 1e9 / ratio)
    assert est["supported"].all() if ok else not est["supported"].any()
    assert est["merge_rounds_used"] == (0 if ok else 2)
    assert estimate(t, attribute(t), n_boot=3, merge_rounds=1,
                    peak_bytes_per_s=rate * 1e9 / ratio)["merge_rounds_used"] == (0 if ok else 1)
    assert estimate(t, attribute(t), n_boot=3)["supported"].all()     # no peak: no such check


@pytest.fixture
def noisy():
    dur, b = recovery_case(2)
    t = make_trace(dur, b, n_steps=8, seed=2, noise=0.03)
    return t, attribute(t)


@pytest.mark.parametrize("rel, frac", [(0.25, 0.002), (0.02, 0.0), (0.0, 0.002), (0.0, 0.0), (np.inf, 0.0)])
def test_a_group_is_unsupported_when_its_interval_is_wide_in_both_senses(noisy, rel, frac):
    """Without merging, a group is unsupported when its half interval exceeds ``rel`` of its
    bytes and ``frac`` of the step's measured bytes (both), read from what is returned."""
    t, attr = noisy
    est = estimate(t, attr, n_boot=6, merge_rounds=0, max_rel_halfwidth=rel, min_abs_fraction=frac)
    half = (est["read_hi_bytes"] - est["read_lo_bytes"]) / 2
    step = est["read_measured_bytes_per_step"].sum() / 8
    bad = (half > rel * np.nan_to_num(est["read_bytes"])) & (half > frac * step)
    assert np.array_equal(est["supported"], ~bad)
    assert est["merge_rounds_used"] == 0


def test_the_thresholds_tell_groups_apart_on_the_noisy_case(noisy):
    """The case above is not trivial: the default thresholds and the strict ones disagree."""
    t, attr = noisy
    a = estimate(t, attr, n_boot=6, merge_rounds=0, max_rel_halfwidth=0.02, min_abs_fraction=0.0)["supported"]
    b = estimate(t, attr, n_boot=6, merge_rounds=0, max_rel_halfwidth=0.02, min_abs_fraction=0.002)["supported"]
    assert not a.all() and a.any() and b.sum() > a.sum()


def test_merging_joins_unsupported_groups_until_the_rounds_run_out(noisy):
    t, attr = noisy
    one = estimate(t, attr, n_boot=6, merge_rounds=0, max_rel_halfwidth=0.0, min_abs_fraction=0.0)
    two = estimate(t, attr, n_boot=6, merge_rounds=1, max_rel_halfwidth=0.0, min_abs_fraction=0.0)
    assert two["merge_rounds_used"] == 1 and len(two["read_bytes"]) < len(one["read_bytes"])
    # each merge joins neighbours: the groups of the identities stay in order, none lost
    assert np.all(np.diff(two["group_of_identity"]) >= 0) and two["members"].sum() == 24
    assert two["n_boot"] == 6 and two["_read_boot"].shape == (6, len(two["read_bytes"]))
    # the step's bytes are kept whatever the grouping
    np.testing.assert_allclose(np.nansum(two["read_bytes"]), np.nansum(one["read_bytes"]), rtol=0.01)


# -- edges found by the mutation run -----------------------------------------------------

def test_steps_starting_together_keep_their_row_order():
    """Fifty steps at two start times (every third row the later one): the span order is
    the rows' order within each start time (a stable sort; numpy's default reorders such
    ties)."""
    n = 50
    late = np.arange(n) % 3 == 0
    trace = {"pm": pm_table([(0, 10_000)]), "steps": {"mode": np.arange(n)}}
    empty = np.zeros(0, np.int64)
    attr = {"records": SimpleNamespace(start_ns=empty, end_ns=empty), "record_pos": empty,
            "intervals": SimpleNamespace(lo_ns=BASE + 1_000 * late, hi_ns=BASE + 2_000 + 1_000 * late)}
    p = Problem(trace, attr, {"ident": empty})
    want = np.r_[np.nonzero(~late)[0], np.nonzero(late)[0]].tolist()
    assert p.step_order.tolist() == want and p.span_mode.tolist() == want


def test_problem_design_of_chosen_spans():
    p = hand_problem()
    g = np.array([0, 0, 1])
    a, b = p.design(g, 2, 1_000.0, np.array([1])), Designer(p, g, 2, np.array([1]))(1_000.0)
    assert same_design(a, b) and a.n_steps == b.n_steps == 1
    assert not np.array_equal(a.rows, p.design(g, 2, 1_000.0).rows)


def test_offsets_tried_twice_keep_the_order_they_were_tried_in(shifted):
    """7 us is scanned three times: with the bytes fitted at 6 or 8 us (a poor fit), then
    twice with the bytes fitted at 7 us. Sorted by offset, the three stay in that order."""
    _, _, prob, g, ng = shifted
    _, tried, mse = fit_offset(prob, g, ng, "read", 6)
    at7 = mse[tried == 7_000.0]
    assert at7[0] > 1_000 * at7[1] and at7[1] == at7[2]


def test_the_alternation_stops_after_six_rounds():
    """Each round moves at most 8 us (the fine grid). From a start of 0 with no coarse
    grid, a clock 56 us off is 8 us away after six rounds (48 us) and 7 after the finest
    grid (49 us): the rounds are bounded, not run until the offset stays."""
    dur, b = recovery_case(4)
    t = make_trace(dur, b, n_steps=6, seed=4)
    t["pm"]["start_ns"] += 56_000
    t["pm"]["end_ns"] += 56_000
    attr = attribute(t)
    ids = identities(t, attr["records"], attr["record_pos"], attr["intervals"].lo_ns)
    g = initial_groups(ids, 20_000.0)
    best, tried, _ = fit_offset(Problem(t, attr, ids), g, int(g.max()) + 1, "read", 6, coarse=np.array([0.0]))
    assert best == 49_000.0 and len(tried) == 1 + 6 * 17 + 9


def test_fit_offset_of_a_single_row_divides_by_one():
    """One sample (0-20 us), one step (2-18 us), one kernel (5-15 us) of 1000 bytes: every
    offset scanned has one row, whose squared residual is its mean."""
    from stepscope.analysis.dram_nnls import nnls_normal
    trace = {"pm": pm_table([(0, 20_000)], read=[1_000]), "steps": {"mode": np.array([0])}}
    attr = {"records": SimpleNamespace(start_ns=np.array([BASE + 5_000]), end_ns=np.array([BASE + 15_000])),
            "record_pos": np.array([0]),
            "intervals": SimpleNamespace(lo_ns=np.array([BASE + 2_000]), hi_ns=np.array([BASE + 18_000]))}
    p = Problem(trace, attr, {"ident": np.array([0])})
    _, tried, mse = fit_offset(p, np.array([0]), 1, "read", 1)
    d = Designer(p, np.array([0]), 1, np.arange(1))
    at0 = d(0.0)
    S, Atb, U = at0.normal(p.smp.read[at0.rows])
    x0 = np.nan_to_num(nnls_normal(S, Atb, low_rank=U)[0])
    checked = 0
    for off in (-8_000.0, -6_000.0, 8_000.0, 12_000.0):
        des = d(off)
        assert len(des.rows) == 1
        r = p.smp.read[des.rows] - des.fitted(x0)
        assert mse[tried == off][0] == pytest.approx(float(r @ r), rel=1e-12)
        checked += r @ r > 0
    assert checked


def test_max_pairs_rounds_down_to_whole_pairs(monkeypatch):
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "0.0001")        # 104 bytes: no whole pair
    assert max_pairs() == 0 and isinstance(max_pairs(), int)
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "0.01")          # 10485 bytes: 10 pairs
    assert max_pairs() == 10


def test_merge_goes_on_past_a_group_it_cannot_merge():
    """Group 1 (mode 1) has no neighbour of its mode; group 3 after it still merges."""
    g = np.arange(5)
    bad = np.array([False, True, False, True, False])
    out = _merge(g, np.array([0, 1, 2, 2, 2]), bad, boots_with({2: -1}))     # 3 mirrors 2: they merge
    assert out.tolist() == [0, 1, 2, 2, 3]


def test_neighbour_corr_of_two_groups_and_of_no_resample():
    import warnings
    rng = np.random.default_rng(12)
    b = rng.standard_normal((10, 2))
    assert _neighbour_corr(b)[0] == pytest.approx(np.corrcoef(b.T)[0, 1], abs=1e-12)
    assert abs(_neighbour_corr(b)[0]) > 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # no mean of an empty array
        assert _neighbour_corr(np.zeros((0, 3))).tolist() == [0.0, 0.0]


def test_closure_of_spans_after_the_last_row():
    """Three spans, rows only in span 0: the last two still get a (zero) entry."""
    d = SimpleNamespace(A=np.array([[1.0, 0.0]]), row_step=np.array([0]))
    out = _closure(SimpleNamespace(n_steps=3), d, np.array([4.0]), np.array([3.0, 0.0]), "read")
    assert out["read_fitted_bytes_per_step"].tolist() == [3.0, 0.0, 0.0]
    assert out["read_measured_bytes_per_step"].tolist() == [4.0, 0.0, 0.0]


def test_the_step_bytes_threshold_splits_groups_where_asked(noisy):
    """``min_abs_fraction`` of the step's measured bytes, set between the groups' half
    intervals: the groups above it (and only they) are unsupported (the relative test
    made always true with 0)."""
    t, attr = noisy
    base = estimate(t, attr, n_boot=6, merge_rounds=0, max_rel_halfwidth=0.0, min_abs_fraction=0.0)
    half = (base["read_hi_bytes"] - base["read_lo_bytes"]) / 2
    step = base["read_measured_bytes_per_step"].sum() / 8
    frac = float(np.median(half[half > 0])) / step
    est = estimate(t, attr, n_boot=6, merge_rounds=0, max_rel_halfwidth=0.0, min_abs_fraction=frac)
    assert np.array_equal(est["supported"], ~((half > 0) & (half > frac * step)))
    assert est["supported"].any() and not est["supported"].all()


def test_both_interval_tests_are_strict(noisy):
    """With no resamples every interval is one point (half width 0). A group is then
    unsupported only if 0 exceeds both thresholds: at 0 and 0 it does not; each test
    alone is pinned at its edge by making the other one true (a negative threshold)."""
    t, attr = noisy
    for rel, frac in ((0.0, 0.0), (0.0, -1.0), (-1.0, 0.0)):
        est = estimate(t, attr, n_boot=0, merge_rounds=0, max_rel_halfwidth=rel, min_abs_fraction=frac)
        assert est["supported"].all(), (rel, frac)
    est = estimate(t, attr, n_boot=0, merge_rounds=0, max_rel_halfwidth=-1.0, min_abs_fraction=-1.0)
    assert not est["supported"][est["read_bytes"] > 0].any()


def test_the_peak_test_adds_to_the_interval_test(noisy):
    """A peak far above any group: the groups the interval test rejects stay rejected."""
    t, attr = noisy
    kw = dict(n_boot=6, merge_rounds=0, max_rel_halfwidth=0.02, min_abs_fraction=0.0)
    a = estimate(t, attr, **kw)["supported"]
    b = estimate(t, attr, peak_bytes_per_s=1e20, **kw)["supported"]
    assert np.array_equal(a, b) and not a.all()


def test_estimate_defaults(noisy, monkeypatch):
    """20 resamples drawn with seed 0, the offset fitted on the first 6 steps (the
    thresholds and merge rounds: test_default_thresholds_leave_wide_groups_unsupported)."""
    t, attr = noisy
    steps_seen = []
    real = dram_fit.fit_offset

    def spy(prob, g, ng, column, n_steps, *a):
        steps_seen.append(n_steps)
        return real(prob, g, ng, column, n_steps, *a)
    monkeypatch.setattr(dram_fit, "fit_offset", spy)
    est = estimate(t, attr)
    assert steps_seen == [6, 6] and est["n_boot"] == 20 and est["_read_boot"].shape[0] == 20
    assert np.array_equal(est["_read_boot"], estimate(t, attr, seed=0)["_read_boot"])
    assert not np.array_equal(est["_read_boot"], estimate(t, attr, seed=1)["_read_boot"])


def exact_peak(v: float, tk: float):
    """The peak whose bound, computed as the estimate does (1.05 * peak * t / 1e9), is v
    exactly, and the largest peak below it whose bound is under v; None when rounding
    skips v (for about one value in ten)."""
    peak = v * 1e9 / (1.05 * tk)
    for _ in range(64):
        bound = 1.05 * peak * tk / 1e9
        if bound == v:
            break
        peak = np.nextafter(peak, np.inf if bound < v else 0.0)
    else:
        return None
    below = np.nextafter(peak, 0.0)
    while 1.05 * below * tk / 1e9 >= v:
        below = np.nextafter(below, 0.0)
    return peak, below


def test_a_group_exactly_at_the_peak_allowance_is_supported(noisy):
    """The peak test is strict: a peak whose 5% allowance over the group's time is exactly
    the group's bytes keeps it; a peak whose allowance falls short rejects it. Tried on
    the fastest groups until one has a peak of exactly its bytes."""
    t, attr = noisy
    kw = dict(n_boot=0, merge_rounds=0)
    est = estimate(t, attr, **kw)
    v = np.nan_to_num(est["read_bytes"]) + np.nan_to_num(est["write_bytes"])
    rate = v / est["time_ns_per_step"]
    for k in np.argsort(-rate)[:10]:
        peaks = exact_peak(v[k], est["time_ns_per_step"][k])
        if peaks:
            break
    assert peaks, "no group of the ten fastest has a peak of exactly its bytes"
    assert estimate(t, attr, peak_bytes_per_s=peaks[0], **kw)["supported"][k]
    assert not estimate(t, attr, peak_bytes_per_s=peaks[1], **kw)["supported"][k]


def test_the_write_offset_is_never_searched_before_the_read_offset(shifted):
    """Reads and writes both 7 us after the kernels: the write search starts at the read
    offset and tries nothing before it, though its fine grid (+-8 us) would reach earlier."""
    t, attr, *_ = shifted
    est = estimate(t, attr, n_boot=0)
    assert est["read_offset_ns"] == est["write_offset_ns"] == 7_000.0
    assert est["write_offsets_tried_ns"].min() == 7_000.0
    assert est["write_offsets_tried_ns"].max() == 107_000.0


def test_default_thresholds_leave_wide_groups_unsupported():
    """Sixteen 5-12 us kernels, 20% sample noise: after the default two merge rounds two
    groups are still wider than 25% of their bytes and 0.2% of the step's; they (and
    only they) are unsupported. Thresholds of 125% or of 100.2% of the step would keep them."""
    rng = np.random.default_rng(1)
    dur = rng.integers(5_000, 12_000, 16)
    b = np.round(dur * 1e-9 * PEAK * rng.uniform(0.3, 0.9, 16))
    t = make_trace(dur, b, n_steps=8, seed=1, noise=0.2)
    est = estimate(t, attribute(t))
    assert est["merge_rounds_used"] == 2
    half = (est["read_hi_bytes"] - est["read_lo_bytes"]) / 2
    x = np.nan_to_num(est["read_bytes"])
    step = est["read_measured_bytes_per_step"].sum() / 8
    assert np.array_equal(est["supported"], ~((half > 0.25 * x) & (half > 0.002 * step)))
    assert (~est["supported"]).sum() == 2
    assert (half[~est["supported"]] <= 1.25 * x[~est["supported"]]).all()
    assert (half[~est["supported"]] <= 1.002 * step).all()


def test_bootstrap_solves_start_from_the_point_estimates_passive_set(shifted, monkeypatch):
    """Each resample's solve is warm-started with the point estimate's passive set (the
    system is ill-conditioned: a cold start can end on another solution, and merges with
    it)."""
    _, _, prob, g, ng = shifted
    d = prob.design(g, ng, 7_000.0)
    calls = []
    real = dram_fit.nnls_normal

    def spy(S, Atb, passive=None, **kw):
        out = real(S, Atb, passive, **kw)
        calls.append((None if passive is None else passive.copy(), out[1].copy()))
        return out
    monkeypatch.setattr(dram_fit, "nnls_normal", spy)
    fit_boot(d, prob.smp.read[d.rows], 3, np.random.default_rng(0), np.zeros(6, np.int64))
    assert len(calls) == 4 and calls[0][0] is None
    assert all(p is not None and np.array_equal(p, calls[0][1]) for p, _ in calls[1:])


def test_a_write_offset_without_write_bytes_stays_at_the_read_offset():
    """No write bytes at all: every write offset fits as badly, and ties go to the first
    offset tried, the smallest lag: the write offset is the read offset (a search that
    visited its grids in another order would wander)."""
    dur, b = recovery_case(0, n=10)
    for seed in range(3):
        t = make_trace(dur, b, n_steps=6, seed=seed)
        assert not t["pm"]["dram_write_bytes"].any()
        est = estimate(t, attribute(t), n_boot=0)
        assert est["write_offset_ns"] == est["read_offset_ns"]


def test_the_estimates_offset_search_runs_over_the_initial_groups(exact_case):
    """The residuals the estimate reports are fit_offset's over the initial groups and
    the first six steps, to the bit."""
    t, attr, _, est = exact_case
    ids = identities(t, attr["records"], attr["record_pos"], attr["intervals"].lo_ns)
    prob = Problem(t, attr, ids)
    g = initial_groups(ids, est["min_span_ns"])
    off, tried, mse = fit_offset(prob, g, int(g.max()) + 1, "read", 6)
    assert off == est["read_offset_ns"]
    assert np.array_equal(tried, est["read_offsets_tried_ns"]) and np.array_equal(mse, est["read_offset_mse"])
    _, tried_w, mse_w = fit_offset(prob, g, int(g.max()) + 1, "write", 6, dram_fit.WRITE_LAG_NS, off, off)
    assert np.array_equal(mse_w, est["write_offset_mse"])


@pytest.mark.parametrize("off", [-35_000.0, -10_000.0, 0.0, 15_000.0])
def test_the_window_leaves_the_design_of_overlapping_samples_unchanged(off):
    """hand_problem's long sample overlaps its neighbours: the design over the window is
    the design over every sample."""
    from stepscope.analysis.dram_kernels import Design
    p = hand_problem()
    for steps in (None, np.array([1])):
        des = Designer(p, np.array([0, 0, 1]), 2, steps)
        a = des(off)
        assert same_design(a, Design(p.smp, des.a, des.b, des.group, des.span, des.lo, des.hi, 2, off))
