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
        "start_ns": [o + x for x in (100, 200, 1100, 1200)], "end_ns": [o + x for x in (150, 400, 1150, 1400)], "name": [ka, kb, ka, kb],
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


def test_counter_pass_faces_the_pm_measured_bytes_of_each_step():
    """The PM-measured bytes of each step (the samples inside [start, end]) beside the
    counted ones; no PM samples: no measured bytes (nothing to compare)."""
    e = exact_estimate(counter_trace())
    np.testing.assert_array_equal(e["read_measured_bytes_per_step"], [410.0, 230.0])
    np.testing.assert_array_equal(e["write_measured_bytes_per_step"], [41.0, 22.0])
    assert "read_measured_bytes_per_step" not in exact_estimate(counter_trace(pm=False))


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
