"""Tests that pin the exact per-kernel DRAM path and its checks on small constructed cases
with hand-computed answers (issue 31): the counter-pass table's pairing rules
(``analysis.trace.kernel_dram``), the counter-pass estimate and the timeline's DRAM lane
(``analysis.dram_fit._exact``), and the physical checks at their tolerance edges
(``analysis.dram_checks``). Each test names the behaviour it pins; each was checked by the
mutants it kills (``benchmarks/mutation.py``)."""
from __future__ import annotations

import numpy as np
import pytest

from stepscope.analysis import dram_checks
from stepscope.analysis.trace.kernel_dram import align, attach
from stepscope.analysis.trace.model import Trace, table_from_rows


def steps_trace(names_per_step: list[list[str]], step_order=None) -> Trace:
    """Kernels 50 ns long every 100 ns, steps 10 us apart; ``step_order`` lays the steps'
    rows into the kernels table in that order (row order need not follow time)."""
    t = Trace()
    rows = {"start_ns": [], "end_ns": [], "name": [], "step": [], "correlation": []}
    for s in (step_order or range(len(names_per_step))):
        for i, n in enumerate(names_per_step[s]):
            rows["start_ns"].append(s * 10_000 + i * 100)
            rows["end_ns"].append(s * 10_000 + i * 100 + 50)
            rows["name"].append(t.intern(n))
            rows["step"].append(s)
            rows["correlation"].append(s * 100 + i)
    t.tables["kernels"] = table_from_rows("kernels", rows)
    n = len(names_per_step)
    t.tables["steps"] = table_from_rows("steps", {"index": list(range(n)), "start_ns": [s * 10_000 for s in range(n)],
                                                  "end_ns": [s * 10_000 + 9_000 for s in range(n)]})
    return t


def a_pass(names, reads, writes=None, l2=None):
    p = {"names": list(names), "dram_read_bytes": np.asarray(reads),
         "dram_write_bytes": np.asarray(writes if writes is not None else np.zeros(len(reads), int))}
    if l2 is not None:
        p["l2_write_bytes"] = np.asarray(l2)
    return p


# -- analysis.trace.kernel_dram: pairing a counter pass's ranges with a step's kernels ----

def test_alignment_of_a_long_step_has_no_junk_heuristic():
    """A decode step of 28 layers x 14 kernels (392 names, each repeated 28 times) against
    ranges with one kernel missing: every other kernel pairs (391), in order, with equal
    names. difflib's autojunk would call every name that fills over 1% of a 200+ list junk
    and pair almost nothing."""
    layer = [f"k{j}" for j in range(14)]
    step = layer * 28
    ranges = step[:200] + step[201:]
    pairs = align(step, ranges)
    assert len(pairs) == 391
    assert all(step[a] == ranges[b] for a, b in pairs)
    assert [a for a, _ in pairs] == sorted({a for a, _ in pairs}) and [b for _, b in pairs] == list(range(391))


def test_attach_writes_every_counted_column_and_only_the_asked_steps():
    """``steps`` limits the rows to those steps; read, write and L2-write bytes land in
    their own columns, by the kernel's row."""
    t = steps_trace([["a", "b"], ["a", "b"]])
    s = attach(t, [a_pass(["0", "1"], [10, 20], [3, 4], [7, 8])], steps=[1])
    kd = t["kernel_dram"]
    assert kd["kernel"].tolist() == [2, 3]
    assert kd["dram_read_bytes"].tolist() == [10, 20] and kd["dram_write_bytes"].tolist() == [3, 4]
    assert kd["l2_write_bytes"].tolist() == [7, 8]
    assert s["steps"] == [1] and s["kernels"] == [2] and s["matched"] == [2]


def test_rows_are_sorted_by_kernel_row_whatever_the_table_order():
    """Step 1's kernels sit first in the kernels table: the kernel_dram rows still come in
    kernel-row order, each with its own bytes."""
    t = steps_trace([["a", "b"], ["c", "d"]], step_order=[1, 0])
    attach(t, [a_pass(["0", "1"], [1, 2]), a_pass(["0", "1"], [3, 4])])
    kd = t["kernel_dram"]
    # rows 0, 1: step 1 (pass 1: 3, 4); rows 2, 3: step 0 (pass 0: 1, 2)
    assert kd["kernel"].tolist() == [0, 1, 2, 3]
    assert kd["dram_read_bytes"].tolist() == [3, 4, 1, 2]
    t.validate()


def test_summary_is_returned_and_stored_in_the_capture_meta():
    """The match counts go to ``meta.capture.kernel_dram`` (keeping what the capture wrote
    there) and are returned; ``paired_by`` says order only when every pass is index-named."""
    t = steps_trace([["a", "b", "c"], ["a", "b"]])
    t.meta["capture"] = {"kernel_dram": {"status": "ok"}}
    s = attach(t, [a_pass(["0", "1", "2"], [10, 20, 30])])
    assert s == {"steps": [0, 1], "kernels": [3, 2], "matched": [3, 0], "ranges": [3],
                 "paired_by": "order (auto-range names are indices)", "unmatched_kernels": 2}
    assert t.meta["capture"]["kernel_dram"] == {"status": "ok", **s}
    t2 = steps_trace([["a", "b"], ["a", "b"]])
    s2 = attach(t2, [a_pass(["0", "1"], [1, 2]), a_pass(["a", "b"], [3, 4])])
    assert s2["paired_by"] == "name alignment" and s2["matched"] == [2, 2] and s2["ranges"] == [2, 2]
    assert t2.meta["capture"]["kernel_dram"]["paired_by"] == "name alignment"


def test_no_passes_is_an_error_that_says_so():
    with pytest.raises(ValueError, match="^no counter passes to attach$"):
        attach(steps_trace([["a"]]), [])


# -- analysis.dram_fit._exact: the counter-pass estimate and the timeline's DRAM lane ----

def counter_trace(pm: bool = True) -> Trace:
    """Two eager steps [T, T + 1000) and [T + 1000, T + 2000) (T = 1 ms: a PM sample that starts
    at 0 is CUPTI's invalid first sample), each: kernel a [s+100, s+150), kernel b
    [s+200, s+400), a memcpy [s+500, s+600). Counter pass: step 0 a 100 B read / 10 B
    written (L2 40), b 300 / 30 (L2 -1: not counted); step 1 a 200 / 20 (L2 60), b not
    counted (-1). PM: one 1000-ns sample per step, 410 and 230 B read, 41 and 22 B written."""
    t = Trace()
    o = 1_000_000
    eager = t.intern("eager")
    ka, kb = t.intern("a"), t.intern("b")
    t.tables["steps"] = table_from_rows("steps", {"index": [0, 1], "mode": [eager, eager],
                                                  "start_ns": [o, o + 1000], "end_ns": [o + 1000, o + 2000]})
    t.tables["kernels"] = table_from_rows("kernels", {
        "start_ns": [o + x for x in (100, 200, 1100, 1200)], "end_ns": [o + x for x in (150, 400, 1150, 1400)],
        "name": [ka, kb, ka, kb],
        "grid_x": [1] * 4, "grid_y": [1] * 4, "grid_z": [1] * 4, "block_x": [32] * 4, "block_y": [1] * 4,
        "block_z": [1] * 4, "stream": [7] * 4, "correlation": [1, 2, 11, 12], "graph_id": [0] * 4,
        "step": [0, 0, 1, 1]})
    t.tables["memcpy"] = table_from_rows("memcpy", {"start_ns": [o + 500, o + 1500], "end_ns": [o + 600, o + 1600],
                                                    "bytes": [64, 64], "copy_kind": [1, 1], "stream": [7, 7],
                                                    "correlation": [3, 13], "graph_id": [0, 0], "step": [0, 1]})
    t.tables["kernel_dram"] = table_from_rows("kernel_dram", {
        "kernel": [0, 1, 2, 3], "dram_read_bytes": [100, 300, 200, -1], "dram_write_bytes": [10, 30, 20, -1],
        "l2_write_bytes": [40, -1, 60, -1]})
    if pm:
        t.tables["pm"] = table_from_rows("pm", {"start_ns": [o, o + 1000], "end_ns": [o + 1000, o + 2000],
                                                "dram_read_bytes": [410, 230], "dram_write_bytes": [41, 22]})
    t.meta["capture"] = {"kernel_dram": {"status": "ok", "unmatched_kernels": 1}}
    return t


def exact_estimate(t: Trace) -> dict:
    from stepscope.analysis.facade import TraceAnalysis
    return TraceAnalysis(t)._dram_estimate


def test_counter_pass_bytes_are_the_mean_over_steps_with_min_max_interval():
    """Per identity (a, b, the memcpy; in step order): mean over the steps that counted it,
    min..max as its interval; a value of -1 is "not counted" (no value, not -1 bytes); the
    memcpy has no counter range and is not a kernel."""
    e = exact_estimate(counter_trace())
    assert e["source"] == "counter pass (kernel_dram)"
    assert e["name"] == ["a", "b", "memcpy"]
    np.testing.assert_array_equal(e["read_bytes"][:2], [150.0, 300.0])
    np.testing.assert_array_equal(e["read_lo_bytes"][:2], [100.0, 300.0])
    np.testing.assert_array_equal(e["read_hi_bytes"][:2], [200.0, 300.0])
    np.testing.assert_array_equal(e["write_bytes"][:2], [15.0, 30.0])
    np.testing.assert_array_equal(e["write_lo_bytes"][:2], [10.0, 30.0])
    np.testing.assert_array_equal(e["write_hi_bytes"][:2], [20.0, 30.0])
    np.testing.assert_array_equal(e["l2_write_bytes"][:2], [50.0, np.nan])
    np.testing.assert_array_equal(e["l2_write_lo_bytes"][:2], [40.0, np.nan])
    np.testing.assert_array_equal(e["l2_write_hi_bytes"][:2], [60.0, np.nan])
    assert np.isnan(e["read_bytes"][2]) and np.isnan(e["write_bytes"][2])
    # one row per step (percentiles over steps): step 0 a, b; step 1 a only
    np.testing.assert_array_equal(e["_read_boot"][:, :2], [[100.0, 300.0], [200.0, np.nan]])
    np.testing.assert_array_equal(e["_write_boot"][:, :2], [[10.0, 30.0], [20.0, np.nan]])
    np.testing.assert_array_equal(e["read_fitted_bytes_per_step"], [400.0, 200.0])
    np.testing.assert_array_equal(e["write_fitted_bytes_per_step"], [40.0, 20.0])
    assert e["supported"].tolist() == [True, True, True]
    assert e["n_identities"] == 3 and e["not_kernels"] == 1
    assert e["background_read_bytes_per_s"] == 0.0 and e["background_write_bytes_per_s"] == 0.0
    assert e["counter_pass"] == {"status": "ok", "unmatched_kernels": 1}
    assert e["members"].tolist() == [1, 1, 1] and e["mode"] == ["eager"] * 3
    # one group per identity: its class, its own class bit, median time and start in the step
    assert e["klass"].tolist() == [7, 7, 8] and e["member_classes"].tolist() == [1 << 7, 1 << 7, 1 << 8]
    assert e["group_of_identity"].tolist() == [0, 1, 2] and e["identity_table"].tolist() == [0, 0, 1]
    np.testing.assert_array_equal(e["time_ns_per_step"], [50.0, 200.0, 100.0])
    np.testing.assert_array_equal(e["rel_start_ns"], [100.0, 200.0, 500.0])


def test_groups_of_merged_identities():
    """``_groups`` (shared by both paths) on a hand-made grouping: identities b and c merged
    (classes other and elementwise: mixed, both bits, label "b .. c", their time summed,
    the first member's start); d alone in the graph mode."""
    from stepscope.analysis.dram_fit import _groups
    t = Trace()
    e, g = t.intern("eager"), t.intern("graph")
    ids = {"mode": np.array([e, e, e, g]), "klass": np.array([0, 7, 6, 0]), "name": ["a", "b", "c", "d"],
           "dur_ns": np.array([10.0, 20.0, 30.0, 40.0]), "rel_start_ns": np.array([0.0, 5.0, 9.0, 1.0]),
           "table": np.array([0, 0, 0, 1])}
    out = _groups(t, ids, np.array([0, 1, 1, 2]), 3)
    assert out["mode"] == ["eager", "eager", "graph"] and out["name"] == ["a", "b .. c", "d"]
    assert out["klass"].tolist() == [0, MIXED, 0] and out["member_classes"].tolist() == [1, 1 << 7 | 1 << 6, 1]
    assert out["members"].tolist() == [1, 2, 1]
    np.testing.assert_array_equal(out["time_ns_per_step"], [10.0, 50.0, 40.0])
    np.testing.assert_array_equal(out["rel_start_ns"], [0.0, 5.0, 1.0])
    assert out["identity_table"].tolist() == [0, 0, 0, 1] and out["identity_mode"].tolist() == [e, e, e, g]
    assert out["group_of_identity"].tolist() == [0, 1, 1, 2]
    out = _groups(t, ids, np.array([0, 1, 2, 1]), 3)      # a group's members need not be neighbours
    assert out["name"] == ["a", "b .. d", "c"] and out["rel_start_ns"].tolist() == [0.0, 5.0, 9.0]


def test_counter_pass_faces_the_pm_measured_bytes_of_each_step():
    """The PM-measured bytes of each step (the samples inside [start, end]) beside the
    counted ones; no PM samples: no measured bytes (nothing to compare)."""
    e = exact_estimate(counter_trace())
    np.testing.assert_array_equal(e["read_measured_bytes_per_step"], [410.0, 230.0])
    np.testing.assert_array_equal(e["write_measured_bytes_per_step"], [41.0, 22.0])
    assert "read_measured_bytes_per_step" not in exact_estimate(counter_trace(pm=False))


def test_counter_pass_keys_without_capture_meta_and_kernels_outside_steps():
    """A kernel outside every step (a warm-up) has counted bytes but no identity: it adds
    nothing to any identity. A 1-ns kernel's DRAM lane is its bytes over 1 ns. L2 writes
    get no per-step rows (only reads and writes face the PM samples). A trace whose meta
    has no capture block reports an empty counter-pass summary."""
    t = counter_trace()
    t.meta = {}
    k = t["kernels"]
    t.tables["kernels"] = {c: np.concatenate([v, v[:1]]) for c, v in k.items()}
    t["kernels"]["start_ns"][4], t["kernels"]["end_ns"][4] = 10, 11       # before step 0, 1 ns long
    t["kernels"]["correlation"][4], t["kernels"]["step"][4] = 99, -1
    kd = t["kernel_dram"]
    t.tables["kernel_dram"] = {c: np.concatenate([v, v[:1]]) for c, v in kd.items()}
    t["kernel_dram"]["kernel"][4], t["kernel_dram"]["dram_read_bytes"][4] = 4, 7
    t["kernel_dram"]["dram_write_bytes"][4] = 1
    from stepscope.analysis.facade import TraceAnalysis
    a = TraceAnalysis(t)
    e = a._dram_estimate
    np.testing.assert_array_equal(e["read_bytes"][:2], [150.0, 300.0])
    assert np.isnan(e["read_bytes"][2]) and e["n_identities"] == 3
    assert e["counter_pass"] == {}
    assert "_l2_write_boot" not in e and "l2_write_fitted_bytes_per_step" not in e
    np.testing.assert_allclose(a.get_dram_record_rates()[:5], [110 / 50, 330 / 200, 220 / 50, 0.0, 8 / 1], atol=1e-12)


def test_a_kernel_never_counted_is_unsupported():
    t = counter_trace()
    t["kernel_dram"]["dram_read_bytes"][1] = -1
    e = exact_estimate(t)
    assert np.isnan(e["read_bytes"][1]) and e["supported"].tolist() == [True, False, True]


def test_timeline_dram_lane_is_each_kernels_counted_bytes_over_its_duration():
    """The timeline's DRAM lane (``record_bytes_per_ns``, GPU-record order: kernels, then
    copies): read + written bytes over the kernel's own duration; a kernel not counted and
    the copies: 0."""
    from stepscope.analysis.facade import TraceAnalysis
    a = TraceAnalysis(counter_trace())
    rate = a.get_dram_record_rates()
    np.testing.assert_allclose(rate, [110 / 50, 330 / 200, 220 / 50, 0.0, 0.0, 0.0], rtol=0, atol=1e-12)


# -- analysis.dram_checks: classes, roofline and the physical checks -----------------------
# A hand-built estimate (the shape dram_fit returns): bytes in MB, the achievable bandwidth
# B = 1e15 B/s (1 MB per ns) so a group's inefficiency is its time minus its MB.
MB = 1e6
MIXED = -1
GRAPH_CLASS = 11


def est6() -> dict:
    """Groups: 0 eager GEMM gemv_a (1000 ns, 600 MB read, 100 written); 1 eager GEMM gemv_b
    (2000 ns, 1500 read, written unknown); 2 eager other k (500 ns, 100 / 50); 3 graph mixed
    (GEMM + other) "x .. y" (0 ns, 10 / 0); 4 eager other k again (100 ns, 50 / 0); 5 graph
    replay (1 ns, 2 / 0). Two bootstrap rows."""
    return {"mode": ["eager", "eager", "eager", "graph", "eager", "graph"],
            "klass": np.array([0, 0, 7, MIXED, 7, GRAPH_CLASS]),
            "name": ["gemv_a", "gemv_b", "k", "x .. y", "k", "graph replay"],
            "member_classes": np.array([1, 1, 1 << 7, 1 | 1 << 7, 1 << 7, 1 << GRAPH_CLASS]),
            "time_ns_per_step": np.array([1000.0, 2000, 500, 0, 100, 1]),
            "read_bytes": np.array([600, 1500, 100, 10, 50, 2]) * MB,
            "write_bytes": np.array([100, np.nan, 50, 0, 0, 0]) * MB,
            "_read_boot": np.array([[500, 1400, 90, 10, 40, 2], [700, 1600, 110, 10, 60, 2]]) * MB,
            "_write_boot": np.array([[90, np.nan, 40, 0, 0, 0], [110, np.nan, 60, 0, 0, 0]]) * MB,
            "supported": np.ones(6, bool), "source": "pm deconvolution"}


def test_achievable_bandwidth_prefers_the_calibration():
    assert dram_checks.achievable({"achievable_bytes_per_s": 3e12}, 4e12) == (3e12, "calibrated achievable read bandwidth")
    assert dram_checks.achievable({"other": 1}, 4e12) == (4e12, "peak bandwidth (no calibration given)")
    assert dram_checks.achievable(None, 4e12) == (4e12, "peak bandwidth (no calibration given)")
    assert dram_checks.achievable(None, None) == (None, "unknown")


def test_kernel_inefficiency_is_time_beyond_the_bytes_at_the_achievable_bandwidth():
    """max(0, time - (read + write) / B); unknown writes count 0; no B: NaN."""
    np.testing.assert_allclose(dram_checks.inefficiency_ns(est6(), 1e15), [300, 500, 350, 0, 50, 0], atol=1e-9)
    assert np.isnan(dram_checks.inefficiency_ns(est6(), None)).all()


def test_classes_sum_groups_per_mode_and_class():
    """Rows by mode then class: eager gemm (groups 0, 1), eager other (2, 4), graph mixed (3),
    graph graph (5). Bytes are sums (unknown writes count 0); the interval is the 2.5/97.5
    percentile of the same sum over the bootstrap rows; bandwidth (r + w) / time; a class
    of zero time has none."""
    c = dram_checks.classes(est6(), 1e15)
    assert c["mode"] == ["eager", "eager", "graph", "graph"] and c["class"] == ["gemm", "other", "mixed", "graph"]
    assert c["groups"] == [2, 2, 1, 1]
    np.testing.assert_allclose(c["time_ns_per_step"], [3000, 600, 0, 1])
    np.testing.assert_allclose(c["read_bytes_per_step"], np.array([2100, 150, 10, 2]) * MB)
    np.testing.assert_allclose(c["write_bytes_per_step"], np.array([100, 50, 0, 0]) * MB)
    np.testing.assert_allclose(c["read_lo_bytes"], np.array([1910, 131, 10, 2]) * MB)
    np.testing.assert_allclose(c["read_hi_bytes"], np.array([2290, 169, 10, 2]) * MB)
    np.testing.assert_allclose(c["write_lo_bytes"], np.array([90.5, 40.5, 0, 0]) * MB)
    np.testing.assert_allclose(c["write_hi_bytes"], np.array([109.5, 59.5, 0, 0]) * MB)
    np.testing.assert_allclose(c["bytes_per_s"], [2200 / 3000 * 1e15, 200 / 600 * 1e15, np.nan, 2e15])
    np.testing.assert_allclose(c["fraction_of_achievable"], [2200 / 3000, 200 / 600, np.nan, 2.0])
    np.testing.assert_allclose(c["inefficiency_ns_per_step"], [800, 400, 0, 0], atol=1e-9)
    assert np.isnan(dram_checks.classes(est6(), None)["fraction_of_achievable"]).all()
    no_boot = {k: v for k, v in est6().items() if not k.endswith("_boot")}
    c = dram_checks.classes(no_boot, 1e15)       # no bootstrap rows: no interval (NaN), not 0
    assert np.isnan(c["read_lo_bytes"]).all() and np.isnan(c["write_hi_bytes"]).all()
    assert np.isnan(dram_checks.top_kernels(no_boot, 1e15)["read_lo_bytes"]).all()


def test_class_bytes_per_step_weights_modes_by_their_step_counts():
    """Three eager steps and one graph step: a class's bytes per step = sum over modes of
    its (read + write) bytes x the mode's steps / 4."""
    t = Trace()
    e, g = t.intern("eager"), t.intern("graph")
    t.tables["steps"] = table_from_rows("steps", {"index": [0, 1, 2, 3], "mode": [e, e, g, e]})
    cls = {"mode": ["eager", "eager", "graph", "graph"], "class": ["gemm", "other", "gemm", "mixed"],
           "read_bytes_per_step": [100.0, 10.0, 40.0, 8.0], "write_bytes_per_step": [20.0, 2.0, 0.0, 0.0]}
    out = dram_checks.class_bytes_per_step(cls, t)
    assert out == {"class": ["gemm", "other", "mixed"], "dram_bytes_per_step": [120 * 3 / 4 + 40 / 4, 12 * 3 / 4, 8 / 4]}
    one = Trace()
    one.tables["steps"] = table_from_rows("steps", {"index": [0], "mode": [one.intern("eager")]})
    cls = {"mode": ["eager", "compile"], "class": ["gemm", "gemm"], "read_bytes_per_step": [100.0, 50.0],
           "write_bytes_per_step": [20.0, 5.0]}
    assert dram_checks.class_bytes_per_step(cls, one) == {"class": ["gemm"], "dram_bytes_per_step": [120.0]}


def test_top_kernels_rank_labels_by_time_lost():
    """Groups with one label in one mode are summed (k: groups 2 and 4); ranked by time
    lost, most first; the class is the first group's; a group of zero time has no bandwidth."""
    tk = dram_checks.top_kernels(est6(), 1e15)
    assert tk["name"] == ["gemv_b", "k", "gemv_a", "graph replay", "x .. y"]
    assert tk["mode"] == ["eager", "eager", "eager", "graph", "graph"]
    assert tk["class"] == ["gemm", "other", "gemm", "graph", "mixed"] and tk["groups"].tolist() == [1, 2, 1, 1, 1]
    np.testing.assert_allclose(tk["inefficiency_ns_per_step"], [500, 400, 300, 0, 0], atol=1e-9)
    np.testing.assert_allclose(tk["time_ns_per_step"], [2000, 600, 1000, 1, 0])
    np.testing.assert_allclose(tk["read_bytes_per_step"], np.array([1500, 150, 600, 2, 10]) * MB)
    np.testing.assert_allclose(tk["write_bytes_per_step"], np.array([0, 50, 100, 0, 0]) * MB)
    np.testing.assert_allclose(tk["read_lo_bytes"], np.array([1405, 131, 505, 2, 10]) * MB)
    np.testing.assert_allclose(tk["read_hi_bytes"], np.array([1595, 169, 695, 2, 10]) * MB)
    np.testing.assert_allclose(tk["bytes_per_s"], [0.75e15, 200 / 600 * 1e15, 0.7e15, 2e15, np.nan])
    np.testing.assert_allclose(tk["fraction_of_achievable"][:4], [0.75, 200 / 600, 0.7, 2.0])
    assert np.isnan(dram_checks.top_kernels(est6(), None)["fraction_of_achievable"]).all()
    many = {"mode": ["eager"] * 12, "klass": np.zeros(12, int), "name": [f"g{i:02d}" for i in range(12)],
            "time_ns_per_step": np.full(12, 10.0), "read_bytes": np.zeros(12), "write_bytes": np.zeros(12)}
    assert len(dram_checks.top_kernels(many, 1e15)["name"]) == 10


def test_gemm_check_uses_the_upper_bound_and_the_first_traced_position(monkeypatch):
    """GEMM/GEMV reads >= the weight bytes of a step at the first traced position (else
    ctx): per mode, the pure GEMM/graph groups, with mixed groups holding one, and their
    bootstrap upper end; ok when the larger of the last two reaches the weights."""
    from stepscope.analysis import floor
    seen = []

    def step_bytes(wl, position):
        seen.append(position)
        return {"weights_read_bytes": 2200 * MB}
    monkeypatch.setattr(floor, "step_bytes", step_bytes)
    t = Trace()
    t.meta["workload"] = {"kind": "decode", "config": {}, "first_traced_position": 7, "ctx": 5}
    ck = {c["check"]: c for c in dram_checks.checks(t, est6(), None)}
    e, g = ck["eager: GEMM/GEMV reads >= weight bytes"], ck["graph: GEMM/GEMV reads >= weight bytes"]
    assert seen == [7]
    assert e["ok"] and e["value"] == 2100 * MB and e["limit"] == 2200 * MB      # upper end 2290 MB
    assert e["detail"] == ("GEMM/GEMV groups 2.100 GB, with mixed groups holding a GEMM 2.100 GB (upper 2.290); "
                           "weights read per step 2.200 GB")
    assert not g["ok"] and g["value"] == 12 * MB
    assert g["detail"].startswith("GEMM/GEMV groups 0.002 GB, with mixed groups holding a GEMM 0.012 GB (upper 0.012)")
    no_boot = {k: v for k, v in est6().items() if k != "_read_boot"}
    assert not {c["check"]: c for c in dram_checks.checks(t, no_boot, None)}[
        "eager: GEMM/GEMV reads >= weight bytes"]["ok"]                       # 2100 < 2200 without the upper end
    weights = [2000 * MB, 2290 * MB]          # without the upper end: 2100 reaches 2000; 2290 reaches 2290
    monkeypatch.setattr(floor, "step_bytes", lambda wl, position: {"weights_read_bytes": weights.pop(0)})
    assert {c["check"]: c for c in dram_checks.checks(t, no_boot, None)}["eager: GEMM/GEMV reads >= weight bytes"]["ok"]
    assert {c["check"]: c for c in dram_checks.checks(t, est6(), None)}["eager: GEMM/GEMV reads >= weight bytes"]["ok"]
    monkeypatch.setattr(floor, "step_bytes", step_bytes)
    t.meta["workload"] = {"kind": "decode", "config": {}, "ctx": 5}
    dram_checks.checks(t, est6(), None)
    t.meta["workload"] = {"kind": "decode", "config": {}}
    dram_checks.checks(t, est6(), None)
    assert seen == [7, 7, 5, 0]
    t.meta["workload"] = {"kind": "chain", "config": {}}
    assert not any("GEMM" in c["check"] for c in dram_checks.checks(t, est6(), None))


def measured(read_meas, write_meas, read_fit, write_fit, source="pm deconvolution"):
    e = est6()
    e.update(source=source, read_measured_bytes_per_step=np.asarray(read_meas, float),
             write_measured_bytes_per_step=np.asarray(write_meas, float),
             read_fitted_bytes_per_step=np.asarray(read_fit, float), write_fitted_bytes_per_step=np.asarray(write_fit, float))
    return e


def test_measured_bytes_check_at_its_one_percent_edge_leaves_out_partial_steps():
    """Fitted read + write within 1% of the PM total of each step: exactly 1% passes. A
    step with under half the median measured bytes (a truncated PM buffer) is left out
    and counted in the detail; one at exactly half is kept."""
    name = "classes + background = measured bytes (per step, read + write)"
    c = {x["check"]: x for x in dram_checks.checks(Trace(), measured([800, 800, 80], [200, 200, 20],
                                                                       [804, 792, 10], [201, 198, 5]), None)}[name]
    assert c["ok"] and c["value"] == 0.01 and c["limit"] == 0.01
    assert c["detail"] == ("worst step: 1.00% off the PM total of its samples (reads alone 1.00%); 1 step(s) with "
                           "under half the median bytes left out (partial coverage)")
    c2 = {x["check"]: x for x in dram_checks.checks(Trace(), measured([800, 800, 400], [200, 200, 100],
                                                                        [800, 800, 300], [200, 200, 100]), None)}[name]
    assert not c2["ok"] and c2["value"] == 0.2 and c2["detail"] == ("worst step: 20.00% off the PM total of its "
                                                                    "samples (reads alone 25.00%)")
    c3 = {x["check"]: x for x in dram_checks.checks(Trace(), measured([0, 0], [0, 0], [1, 0], [0, 0],
                                                                        "counter pass (kernel_dram)"), None)}
    c3 = c3["counter-pass kernels = PM-measured bytes (per step, read + write)"]
    assert c3["value"] == 1.0 and not c3["ok"]          # a step of 0 measured bytes: error over 1 byte
    assert c3["detail"] == "worst step: 100.00% off the PM total of its samples (reads alone 100.00%)"
    assert not any("measured" in x["check"] for x in dram_checks.checks(Trace(), measured([], [], [], []), None))


def test_peak_bandwidth_check_at_its_five_percent_edge():
    """No group faster than 1.05 x peak: a group at exactly 1.05 x passes, one above fails."""
    e = {"mode": ["eager"] * 2, "klass": np.array([7, 7]), "name": ["at", "over"], "supported": np.ones(2, bool),
         "time_ns_per_step": np.array([1000.0, 1000.0]), "read_bytes": np.array([1.05e6, 1.0e6]),
         "write_bytes": np.array([0.0, np.nan])}
    name = "no group faster than the peak bandwidth (+5%)"
    c = {x["check"]: x for x in dram_checks.checks(Trace(), e, 1e12)}[name]
    assert c["ok"] and c["value"] == 0 and c["detail"] == "fastest: at at 1050 GB/s vs peak 1000 GB/s"
    e["write_bytes"] = np.array([0.0, 0.06e6])
    c = {x["check"]: x for x in dram_checks.checks(Trace(), e, 1e12)}[name]
    assert not c["ok"] and c["value"] == 1 and c["limit"] == 0 and c["detail"].startswith("fastest: over at 1060 GB/s")
    assert name not in {x["check"] for x in dram_checks.checks(Trace(), e, None)}
    # a 1-ns group is rated by its time, a group of no time is never fast (rate 0)
    e = {"mode": ["eager"] * 3, "klass": np.array([7, 7, 7]), "name": ["slow", "one", "zero"],
         "supported": np.ones(3, bool), "time_ns_per_step": np.array([1000.0, 1.0, 0.0]),
         "read_bytes": np.array([1.0e6, 1050.0, 2000.0]), "write_bytes": np.zeros(3)}
    c = {x["check"]: x for x in dram_checks.checks(Trace(), e, 1e12)}[name]
    assert c["ok"] and c["detail"] == "fastest: one at 1050 GB/s vs peak 1000 GB/s"
    empty = {"mode": [], "klass": np.zeros(0, int), "name": [], "supported": np.zeros(0, bool),
             "time_ns_per_step": np.zeros(0), "read_bytes": np.zeros(0), "write_bytes": np.zeros(0)}
    c = {x["check"]: x for x in dram_checks.checks(Trace(), empty, 1e12)}[name]
    assert c["ok"] and c["detail"] == "fastest: - at 0 GB/s vs peak 1000 GB/s"


def chain_est(reads, names):
    n = len(reads)
    return {"mode": ["eager"] * n, "klass": np.full(n, 7), "name": names, "time_ns_per_step": np.full(n, 1e6),
            "read_bytes": np.asarray(reads, float), "write_bytes": np.zeros(n), "supported": np.ones(n, bool)}


def test_chain_checks_at_their_tolerance_edges():
    """Each read stage within 5% of its construction (exactly 5% passes), null kernels
    under 1% of a stage (exactly 1% passes); a merged group of null kernels is not one."""
    t = Trace()
    t.meta["workload"] = {"kind": "chain", "read_bytes_each": 1e8}
    names = ["read_reduce", "read_reduce", "null_kernel", "null_kernel .. null_kernel"]
    ck = {c["check"]: c for c in dram_checks.checks(t, chain_est([1.05e8, 0.95e8, 1e6, 5e6], names), None)}
    r, n = ck["chain: each read stage within 5% of its construction"], ck["chain: null kernels under 1% of a read stage"]
    assert r["ok"] and r["value"] == 0.05 and r["limit"] == 0.05 and r["detail"] == "2 read stages vs 100.0 MB each"
    assert n["ok"] and n["value"] == 1e6 and n["limit"] == 1e6 and n["detail"] == "largest null-kernel group 1.000 MB"
    ck = {c["check"]: c for c in dram_checks.checks(t, chain_est([1.06e8, 1e8, 1.1e6, 5e6], names), None)}
    assert not ck["chain: each read stage within 5% of its construction"]["ok"]
    assert not ck["chain: null kernels under 1% of a read stage"]["ok"]
    t.meta["workload"] = {"kind": "chain", "read_bytes_each": 1e8, "ops": [{"read_bytes": 1, "write_bytes": 0}]}
    ck = {c["check"]: c for c in dram_checks.checks(t, chain_est([5.0], ["other"]), None)}
    r, n = ck["chain: each read stage within 5% of its construction"], ck["chain: null kernels under 1% of a read stage"]
    assert not r["ok"] and np.isnan(r["value"]) and r["detail"] == "0 read stages vs 100.0 MB each"
    assert n["ok"] and n["value"] == 0.0
    assert not any("recovery" in c or "known" in c for c in ck)      # ops outside a dram-recovery workload


def test_synthetic_checks_per_mode():
    """Per mode, the groups named like a copy (memcpy, copy) or a GEMV (nvjet, gemv, gemm),
    merged groups left out, against the construction: exactly 5% off passes. No copy
    group: no copy check, the GEMV check all the same; no construction: no check."""
    t = Trace()
    t.meta["workload"] = {"kind": "synthetic", "copy_read_bytes": 1e8, "gemv_read_bytes": 2e8}
    e = chain_est([1.05e8, 1.0e8, 2.2e8, 2.0e8, 5e7, 7.0],
                  ["Memcpy DtoD", "copy_kernel", "nvjet_tst", "gemm_x", "gemv_a .. other", "other"])
    e["mode"] = ["eager", "graph", "eager", "graph", "eager", "eager"]
    ck = {c["check"]: c for c in dram_checks.checks(t, e, None)}
    cp, gv = ck["synthetic: copy reads within 5% of construction"], ck["synthetic: GEMV reads within 5% of construction"]
    assert cp["ok"] and cp["value"] == 0.05 and cp["detail"] == "105.0, 100.0 MB vs 100.0 MB"
    assert not gv["ok"] and gv["value"] == pytest.approx(0.1) and gv["limit"] == 0.05
    assert gv["detail"] == "220.0, 200.0 MB vs 200.0 MB"
    e = chain_est([2.0e8], ["gemv_k"])
    ck = {c["check"]: c for c in dram_checks.checks(t, e, None)}
    assert "synthetic: GEMV reads within 5% of construction" in ck and not any("copy" in c for c in ck)
    t.meta["workload"] = {"kind": "synthetic"}
    assert not any("synthetic" in c["check"] for c in dram_checks.checks(t, e, None))


def recovery_est(mode_ids, group, reads, writes, l2=None):
    e = {"identity_mode": np.asarray(mode_ids), "group_of_identity": np.asarray(group),
         "read_bytes": np.asarray(reads, float), "write_bytes": np.asarray(writes, float),
         "name": [f"g{i}" for i in range(len(reads))]}
    if l2 is not None:
        e["l2_write_bytes"] = np.asarray(l2, float)
    return e


def test_recovery_compares_each_group_with_its_known_bytes():
    """Known bytes per op (k-th kernel of a mode = k-th op), summed per group: reads and
    writes each within 5%, exactly 5% passes, the worst group named; with L2 writes counted,
    the per-kernel write check is on L2 writes and DRAM writes are checked over the step."""
    t = Trace()
    eager = t.intern("eager")
    M = 2**20
    ops = [{"read_bytes": 100 * M, "write_bytes": 10 * M}, {"read_bytes": 200 * M, "write_bytes": 0},
           {"read_bytes": 300 * M, "write_bytes": 30 * M}, {"read_bytes": 1, "write_bytes": 0}]
    # identities 0, 1 merged into group 0; identity 2 is group 1; identity 3 (1 byte) group 2
    est = recovery_est([eager] * 4, [0, 0, 1, 2], [300 * M, 315 * M, 1], [10 * M, 31 * M, 0])
    ck = {c["check"]: c for c in dram_checks.recovery(t, est, ops)}
    rd = ck["eager: every DRAM read group within 5% of its known bytes"]
    assert rd["ok"] and rd["value"] == 0.05 and rd["detail"] == "3 groups; worst g1 5.0% off"
    wr = ck["eager: every DRAM write (as they reach DRAM: L2 write-back lands on later kernels) group within 5% of "
            "its known bytes"]
    assert wr["ok"] and wr["value"] == pytest.approx(1 / 30) and wr["limit"] == 0.05
    est = recovery_est([eager] * 4, [0, 0, 1, 2], [300 * M, 300 * M, 1], [0, 42 * M, 0], l2=[10 * M, 33 * M, 0])
    ck = {c["check"]: c for c in dram_checks.recovery(t, est, ops)}
    step_w = ck["eager: DRAM writes of the step within 5% of the known total"]
    assert step_w["ok"] and step_w["value"] == 0.05 and step_w["limit"] == 0.05
    assert step_w["detail"] == "42.0 MiB vs 40.0 MiB written by construction"
    l2 = ck["eager: every L2-write (bytes written, counter pass) group within 5% of its known bytes"]
    assert not l2["ok"] and l2["value"] == pytest.approx(0.1)          # group 1: 33 vs 30
    assert "eager: every DRAM write (as they reach DRAM: L2 write-back lands on later kernels) group within 5% of " \
           "its known bytes" not in ck
    no_w = [{"read_bytes": o["read_bytes"], "write_bytes": 0} for o in ops]
    est = recovery_est([eager] * 4, [0, 0, 1, 2], [300 * M, 300 * M, 1], [4, 0, 0], l2=[0, 0, 0])
    step_w = {c["check"]: c for c in dram_checks.recovery(t, est, no_w)}[
        "eager: DRAM writes of the step within 5% of the known total"]
    assert step_w["value"] == 4.0                                     # nothing written by construction: over 1 byte
    titles = [c["check"] for c in dram_checks.recovery(t, est, no_w, tolerance=0.9)]
    assert "eager: DRAM writes of the step within 90% of the known total" in titles
    assert "eager: every DRAM read group within 90% of its known bytes" in titles


def test_recovery_of_a_mode_with_another_kernel_count_fails_and_says_why():
    t = Trace()
    eager, graph = t.intern("eager"), t.intern("graph")
    ops = [{"read_bytes": 100, "write_bytes": 0}, {"read_bytes": 200, "write_bytes": 0}]
    out = dram_checks.recovery(t, recovery_est([eager] * 3 + [graph] * 2, [0, 1, 2, 3, 4], [100, 200, 0, 100, 200],
                                               [0] * 5), ops)
    bad = out[0]
    assert bad == {"check": "eager: recovery of known bytes", "ok": False, "value": None, "limit": 0.05,
                   "detail": "3 kernels per step, 2 ops by construction"}
    assert out[1]["check"] == "graph: every DRAM read group within 5% of its known bytes" and out[1]["ok"]
    assert not out[2]["ok"] and out[2]["value"] is None       # no op writes: no group to check, not a pass
    assert out[2]["detail"] == "0 groups; worst - 0.0% off"


def test_support_checks_count_unsupported_groups():
    """PM estimate: groups left wider than the threshold, and those with no samples; the
    counter pass: kernels without a counter range (copies and sets are not kernels)."""
    e = est6()
    e["supported"] = np.array([True, False, True, True, False, True])
    e["read_bytes"][2] = np.nan
    c = dram_checks.checks(Trace(), e, None)[-1]
    assert c == {"check": "every group's interval within its support threshold", "ok": False, "value": 2, "limit": 0,
                 "detail": "2 groups left wider than the threshold after merging; 1 groups have no PM samples (no estimate)"}
    e["supported"][:] = True
    e["read_bytes"][2] = 1.0
    assert dram_checks.checks(Trace(), e, None)[-1] == {
        "check": "every group's interval within its support threshold", "ok": True, "value": 0, "limit": 0,
        "detail": "0 groups left wider than the threshold after merging"}
    e.update(source="counter pass (kernel_dram)", not_kernels=3, supported=np.array([True, False, True, True, True, True]))
    c = dram_checks.checks(Trace(), e, None)
    assert c[-1] == {"check": "every kernel has counter-pass bytes", "ok": False, "value": 1, "limit": 0,
                     "detail": "1 kernels without a counter range; 3 copies/sets are not kernels and have none "
                               "(the range profiler counts kernels)"}
    assert not any(x["check"].startswith("every group") for x in c)
    del e["not_kernels"]
    assert "; 0 copies/sets are not kernels" in dram_checks.checks(Trace(), e, None)[-1]["detail"]


def test_report_on_the_counter_pass_trace():
    """The report of the constructed counter-pass trace: calibration first, else peak;
    every group counted; internal arrays left out; no estimate: empty tables."""
    from stepscope.analysis.facade import TraceAnalysis
    a = TraceAnalysis(counter_trace())
    est = a._dram_estimate
    r = dram_checks.report(a.trace, est, 2e12, {"achievable_bytes_per_s": 1e12})
    assert (r["groups"], r["achievable_bytes_per_s"], r["achievable_source"]) == (3, 1e12, "calibrated achievable read bandwidth")
    assert r["classes"]["class"] == ["other", "memcpy"] and r["classes"]["read_bytes_per_step"] == [450.0, 0.0]
    assert sorted(r) == sorted([
        "read_fitted_bytes_per_step", "write_fitted_bytes_per_step", "read_measured_bytes_per_step",
        "write_measured_bytes_per_step", "source", "background_read_bytes_per_s", "background_write_bytes_per_s",
        "n_identities", "not_kernels", "counter_pass", "groups", "achievable_bytes_per_s", "achievable_source",
        "classes", "top_kernels", "checks"])
    np.testing.assert_allclose(r["classes"]["fraction_of_achievable"], [(450 + 45) / 250 * 1e9 / 1e12, 0.0])
    assert r["top_kernels"]["name"][0] in ("a", "b") and not np.isnan(r["top_kernels"]["fraction_of_achievable"][0])
    assert "no group faster than the peak bandwidth (+5%)" in {c["check"] for c in r["checks"]}
    assert r["source"] == "counter pass (kernel_dram)" and r["n_identities"] == 3
    assert dram_checks.report(a.trace, est, 2e12, None)["achievable_source"] == "peak bandwidth (no calibration given)"
    none = dram_checks.report(a.trace, {"source": "none", "reason": "no PM samples"}, 2e12, None)
    assert none == {"source": "none", "reason": "no PM samples", "classes": {}, "top_kernels": {}, "checks": []}


def test_recovery_names_the_first_group_when_it_is_worst_and_keeps_earlier_checks():
    """The worst group may be group 0; a dram-recovery workload adds its checks after the
    others (the peak check stays)."""
    t = Trace()
    eager = t.intern("eager")
    ops = [{"read_bytes": 100, "write_bytes": 0}, {"read_bytes": 200, "write_bytes": 0}]
    est = recovery_est([eager] * 2, [0, 1], [110, 200], [0, 0])
    rd = {c["check"]: c for c in dram_checks.recovery(t, est, ops)}["eager: every DRAM read group within 5% of its known bytes"]
    assert rd["detail"] == "2 groups; worst g0 10.0% off"
    est.update(mode=["eager"] * 2, klass=np.array([7, 7]), time_ns_per_step=np.array([1000.0, 1000.0]),
               supported=np.ones(2, bool))
    t.meta["workload"] = {"kind": "dram-recovery", "ops": ops}
    names = [c["check"] for c in dram_checks.checks(t, est, 1e12)]
    assert names[0] == "no group faster than the peak bandwidth (+5%)" and "eager: recovery of known bytes" not in names
    assert "eager: every DRAM read group within 5% of its known bytes" in names


def test_report_leaves_out_the_fit_internals():
    """A PM-deconvolution estimate's offsets, residuals and per-group arrays stay out of the
    report's top level (the renderers read them from the tables)."""
    e = est6()
    e.update({k: np.zeros(2) for k in ("read_offsets_tried_ns", "read_offset_mse", "write_offsets_tried_ns",
                                       "write_offset_mse", "group_of_identity", "identity_mode", "identity_table",
                                       "rel_start_ns", "members", "record_bytes_per_ns")})
    e.update(read_offset_ns=1000.0, interval_ns=20000.0)
    r = dram_checks.report(Trace(), e, None, None)
    assert sorted(k for k in r if k not in ("classes", "top_kernels", "checks")) == [
        "achievable_bytes_per_s", "achievable_source", "groups", "interval_ns", "read_offset_ns", "source"]
