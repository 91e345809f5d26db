"""In-process twins of the golden tests, and tests added to kill mutants that survived
benchmarks/mutation.py. mutmut only sees code run in the pytest process, and runs for each
mutant only the tests that reached the mutated function, so the subprocess-based goldens of
tests/test_golden_outputs.py are invisible to it; these are the same checks, in process.
benchmarks/results/mutation.md lists the survivors left standing and why."""
import gzip
import json

import numpy as np
import pytest

from conftest import RESULTS, ROOT, TRACES, same_json
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.json_report import JsonRenderer
from stepscope.analysis.results import ab as AB
from stepscope.analysis.trace import load
from stepscope.profiler.experiments import ab as pab

GOLDEN = ROOT / "tests" / "golden" / "report"
SHIPPED = sorted(p for p in TRACES.iterdir() if p.name.endswith((".stepscope", ".json.gz")))


@pytest.mark.parametrize("trace", SHIPPED, ids=lambda p: p.name)
def test_report_json_matches_golden_in_process(trace):
    got = JsonRenderer().render(TraceAnalysis(load(trace))) + "\n"
    diff = same_json(got, gzip.decompress((GOLDEN / f"{trace.name}.json.gz").read_bytes()).decode())
    assert diff is None, diff


@pytest.mark.parametrize("folder, cals", [
    ("ab-h100", ["calibration-h100.json", "calibration-h100-b.json"]),
    ("ab-h200", ["calibration-h200.json"]),
    ("ab-compile-h100", ["calibration-h100.json", "calibration-h100-b.json"])])
def test_ab_summary_matches_committed_in_process(folder, cals):
    arms = json.loads((RESULTS / folder / "ab.json").read_text())["arms"]
    res = pab.summarise(RESULTS / folder, arms, [json.loads((RESULTS / c).read_text()) for c in cals])
    assert json.loads(json.dumps(res["summaries"])) == json.loads((RESULTS / folder / "summary.json").read_text())


def test_bootstrap_of_two_sessions_is_scipys():
    from scipy.stats import bootstrap
    v = np.array([2.0, 3.0])
    want = bootstrap((v,), np.median, confidence_level=0.95, n_resamples=10_000, method="percentile",
                     random_state=np.random.default_rng(0)).confidence_interval
    assert AB.bootstrap_ci(v) == pytest.approx((want.low, want.high))
    b, a = np.array([4.0, 6.0, 5.0]), np.array([2.0, 2.5, 2.0])
    want = bootstrap((b, a), AB._ratio_of_means, paired=True, vectorized=True, confidence_level=0.95,
                     n_resamples=10_000, method="percentile", random_state=np.random.default_rng(0)).confidence_interval
    assert AB.ratio_of_means_ci(b, a) == pytest.approx((want.low, want.high))


def _tiny_trace(step_windows):
    """Steps at ``step_windows``; launch calls at 50 (outside), 100, 150 (step 0 if it
    starts at 100), and kernels: one per call, plus three without a launch call."""
    from stepscope.analysis.trace import Trace
    from stepscope.analysis.trace.model import table_from_rows
    t = Trace()
    t.strings = ["cudaLaunchKernel", "k"]
    t.tables["steps"] = table_from_rows("steps", {
        "index": [i for i in range(len(step_windows))], "mode": [0] * len(step_windows),
        "start_ns": [w[0] for w in step_windows], "end_ns": [w[1] for w in step_windows]})
    t.tables["api"] = table_from_rows("api", {"start_ns": [50, 100, 150], "end_ns": [60, 110, 160],
                                              "name": [0, 0, 0], "correlation": [1, 2, 3], "step": [-1] * 3})
    t.tables["kernels"] = table_from_rows("kernels", {
        "start_ns": [70, 120, 170, 105, 190, 380], "end_ns": [80, 130, 180, 115, 250, 400], "name": [1] * 6,
        "correlation": [1, 2, 3, 91, 92, 93], "step": [-1] * 6})
    return t


def test_assign_steps_edges_by_time_fallback_and_counts():
    from stepscope.analysis.trace.steps import assign_steps
    t = _tiny_trace([(100, 200), (300, 400)])
    counts = assign_steps(t)
    assert t["api"]["step"].tolist() == [-1, 0, 0]
    # by correlation: 1 (outside), 2, 3 (step 0); no launch call: inside step 0 -> 0 by time,
    # spanning the end of step 0 -> outside (-1), ending exactly at step 1's end -> 1
    assert t["kernels"]["step"].tolist() == [-1, 0, 0, 0, -1, 1]
    assert counts["kernels_without_launch_call"] == 3
    assert counts["kernels_assigned_by_time"] == 2
    assert counts["kernels_outside_steps"] == 2
    assert counts["memcpy_outside_steps"] == 0 and counts["memcpy_without_launch_call"] == 0


def test_assign_steps_with_no_steps_or_one():
    from stepscope.analysis.trace.steps import assign_steps
    t = _tiny_trace([])
    counts = assign_steps(t)
    assert t["api"]["step"].tolist() == [-1, -1, -1]
    assert t["kernels"]["step"].tolist() == [-1] * 6
    assert counts["kernels_assigned_by_time"] == 0 and counts["kernels_outside_steps"] == 6
    t = _tiny_trace([(100, 200)])
    assign_steps(t)
    assert t["kernels"]["step"].tolist() == [-1, 0, 0, 0, -1, -1]


def test_interval_is_the_central_percentiles():
    assert AB._interval(np.arange(101.0), 0.95) == pytest.approx((2.5, 97.5), abs=1e-9)
    assert AB._interval(np.arange(101.0), 0.5) == pytest.approx((25.0, 75.0), abs=1e-9)


def test_ratio_of_means_ci_level_two_sessions_and_constant_ratios():
    from scipy.stats import bootstrap
    b, a = np.array([4.0, 6.0, 5.0, 7.0]), np.array([2.0, 2.5, 2.0, 3.1])
    for level, data in ((0.5, (b, a)), (0.95, (b[:2], a[:2]))):
        want = bootstrap(data, AB._ratio_of_means, paired=True, vectorized=True, confidence_level=level,
                         n_resamples=10_000, method="percentile", random_state=np.random.default_rng(0)).confidence_interval
        assert AB.ratio_of_means_ci(*data, level=level) == pytest.approx((want.low, want.high))
    assert AB.ratio_of_means_ci([4.0, 6.0, 3.0], [2.0, 3.0, 1.5]) == (2.0, 2.0)


def test_prediction_ci_draws_the_node_gaps_with_seed_plus_one():
    base, fixed, k = np.array([20.0, 22.0, 25.0, 21.0]), np.full(4, 9e6), np.full(4, 1000.0)
    idx = np.random.default_rng(3).integers(0, 4, (AB.N_RESAMPLES, 4))
    gaps = np.random.default_rng(4).choice(np.array([300.0, 900.0]), size=(AB.N_RESAMPLES, 1))
    med = np.median(AB.predicted_speedups(base[idx], fixed[idx], k[idx], gaps), axis=1)
    assert AB.prediction_ci(base, fixed, k, [300.0, 900.0], seed=3) == pytest.approx(
        tuple(np.percentile(med, [2.5, 97.5])))


def test_explained_gap_range_open_ends_and_rounding():
    base, fixed, k = np.array([20.0, 22.0, 25.0, 21.0]), np.full(4, 9e6), np.full(4, 1000.0)
    # measured speedups far below anything a gap up to 1 ms per kernel predicts: none explains
    assert AB.explained_gap_range(base, fixed, k, (1e-4, 2e-4)) is None
    # an interval reaching down to nearly 0: every gap from 0 up to the search limit explains
    assert AB.explained_gap_range(base, fixed, k, (1e-3, 100.0)) == [0.0, 1e6]
    lo, hi = AB.explained_gap_range(base, fixed, k, (2.0, 2.1))
    assert 0 < lo < hi and lo == round(lo, 1) and hi == round(hi, 1)


def _sess(b, a, **extra):
    return {"gpu": "g", **extra, "arms": {"eager-static": {"median_ms": b, "traced": {
        "busy_ns": 8.9e6, "other_idle_ns": 1e5, "kernels": 1500}}, "graph": {"median_ms": a}}}


def test_summarize_seed_order_and_messages():
    s = [_sess(b, a, arm_order=["graph", "eager-static"], seed=i)
         for i, (b, a) in enumerate(zip([20.0, 22.0, 25.0, 21.0, 24.0], [9.0, 9.5, 9.2, 9.9, 9.4]))]
    s.append({"gpu": "g", "arms": {"graph": {"median_ms": 9.0}}})            # lacks the base arm: skipped
    r = AB.summarize(s, node_gaps_ns=[500.0, 800.0], seed=5)
    assert r["sessions"] == 5 and r["session_seed"] == [0, 1, 2, 3, 4]
    assert r["arm_order"] == [["graph", "eager-static"]] * 5
    b, a = np.array(r["base_ms"]), np.array(r["arm_ms"])
    assert r["estimands"]["ratio_of_means"]["ci95"] == list(AB.ratio_of_means_ci(b, a, seed=5))
    assert r["estimands"]["ratio_of_means"]["ci95"] != list(AB.ratio_of_means_ci(b, a, seed=0))
    fixed, k = np.full(5, 9e6), np.full(5, 1500.0)
    assert r["prediction_ci95"] == list(AB.prediction_ci(b, fixed, k, [500.0, 800.0], seed=5))
    assert r["ci95"] == list(AB.bootstrap_ci(b / a, seed=5))
    assert r["sensitivity"]["explained_for_node_gap_ns"] == AB.explained_gap_range(b, fixed, k, r["ci95"], seed=5)
    assert AB.summarize(s)["verdict"] == "no prediction (no calibrated node gap: pass --calibration)"
    with pytest.raises(ValueError, match="^no session has both arms 'eager-static' and 'compile'$"):
        AB.summarize(s, arm="compile")


def _gap_trace():
    """One step [0, 1 ms] with one gap of each cause, boundaries exact (times in us x 1000):
    leading [0,20) LAUNCH; [100,200) QUEUED (launch returned exactly at g0); [300,400)
    LAUNCH (runtime call returned at 301; its driver call, listed after it, at 290);
    [450,500) COPY (H2D); [520,600) QUEUED (D2D; a sync returned exactly at g0 does not
    count); [620,720) SYNC; [800,850) OTHER (no launch call); trailing [900,1000] SYNC
    (the closing sync returned exactly at the step end)."""
    from stepscope.analysis.trace import Trace
    from stepscope.analysis.trace.model import table_from_rows
    us = 1000
    t = Trace()
    t.strings = ["cudaLaunchKernel", "cuLaunchKernel", "cudaMemcpyAsync", "cudaStreamSynchronize",
                 "cudaDeviceSynchronize", "k"]
    t.tables["steps"] = table_from_rows("steps", {"index": [0], "mode": [5], "start_ns": [0], "end_ns": [1000 * us]})
    api = [  # (start, end, name, correlation)
        (0, 10, 0, 1), (50, 100, 0, 2), (150, 301, 0, 3), (160, 290, 1, 3), (310, 320, 2, 4), (330, 340, 2, 5),
        (500, 520, 3, 50), (600, 700, 3, 51), (700, 710, 0, 6), (900, 1000, 4, 52)]
    t.tables["api"] = table_from_rows("api", {
        "start_ns": [a[0] * us for a in api], "end_ns": [a[1] * us for a in api], "name": [a[2] for a in api],
        "correlation": [a[3] for a in api], "step": [0] * len(api)})
    kern = [(20, 100, 1), (200, 300, 2), (400, 450, 3), (720, 800, 6), (850, 900, 99)]
    t.tables["kernels"] = table_from_rows("kernels", {
        "start_ns": [k[0] * us for k in kern], "end_ns": [k[1] * us for k in kern], "name": [5] * len(kern),
        "correlation": [k[2] for k in kern], "step": [0] * len(kern)})
    t.tables["memcpy"] = table_from_rows("memcpy", {
        "start_ns": [500 * us, 600 * us], "end_ns": [520 * us, 620 * us], "bytes": [64, 64], "copy_kind": [1, 8],
        "correlation": [4, 5], "step": [0, 0]})
    return t


def test_gap_causes_at_their_boundaries():
    from stepscope.analysis.attribution import attribute
    from stepscope.analysis.gaps import GapCause as C
    from stepscope.analysis.gaps import hta_comparison, hta_rule, sync_ends
    t = _gap_trace()
    a = attribute(t)
    g = a["gaps"]
    assert (g["start_ns"] // 1000).tolist() == [0, 100, 300, 450, 520, 620, 800, 900]
    assert g["cause"].tolist() == [C.LAUNCH, C.QUEUED, C.LAUNCH, C.COPY, C.QUEUED, C.SYNC, C.OTHER, C.SYNC]
    # HTA: only the gap whose launch call *started* after the GPU went idle (700 > 620)
    assert hta_rule(t, a["records"], a["intervals"]).tolist() == [False, False, False, False, False, True, False, False]
    cmp = hta_comparison(t, a)
    assert cmp == {"internal_gaps": 6, "launch_ours": 1, "host_wait_hta": 1, "both": 0, "ours_only": 1,
                   "hta_only": 1, "launch_ns_ours": 100_000, "host_wait_ns_hta": 100_000, "gaps_under_2us": 0}
    assert sync_ends(t).tolist() == [520_000, 700_000, 1_000_000]
    s = a["steps"]
    assert s["launch_overhead_ns"].tolist() == [120_000] and s["closure_ns"].tolist() == [0]
    assert s["sync_ns"].tolist() == [200_000] and s["queued_ns"].tolist() == [180_000]
    assert s["copy_ns"].tolist() == [50_000] and s["unexplained_ns"].tolist() == [50_000]


def test_gap_of_exactly_two_us_is_not_under_two_us():
    from stepscope.analysis.attribution import attribute
    from stepscope.analysis.gaps import hta_comparison
    t = _gap_trace()
    k = t["kernels"]
    k["start_ns"][1], k["end_ns"][0] = 102_000, 100_000           # gap [100, 102) us: 2000 ns exactly
    assert hta_comparison(t, attribute(t))["gaps_under_2us"] == 0
    k["start_ns"][1] = 101_999
    assert hta_comparison(t, attribute(t))["gaps_under_2us"] == 1


def test_no_strings_no_api():
    from stepscope.analysis.gaps import sync_ends
    from stepscope.analysis.trace import Trace
    assert sync_ends(Trace()).tolist() == []
    t = _gap_trace()
    for c in t["api"]:
        t["api"][c] = t["api"][c][:0]
    assert sync_ends(t).tolist() == []


def test_gap_table_columns_and_record_positions():
    from stepscope.analysis.attribution import attribute
    t = _gap_trace()
    a = attribute(t)
    g = a["gaps"]
    assert (g["end_ns"] // 1000).tolist() == [20, 200, 400, 500, 600, 720, 850, 1000]
    assert g["step"].tolist() == [0] * 8
    assert g["next_record"].tolist() == [0, 1, 2, 5, 6, 3, 4, -1]       # kernels, then copies
    assert a["record_pos"].tolist() == [0] * 7
    t["kernels"]["step"][4] = -1                                          # a record outside every step
    assert attribute(t)["record_pos"].tolist() == [0, 0, 0, 0, -1, 0, 0]


def test_busy_exactly_at_the_floor_is_not_below_it():
    from stepscope.analysis.attribution import attribute
    t = _gap_trace()
    t.meta = {"gpu": {"peak_bytes_per_s": 1e12}, "workload": {"bytes_per_step": 400_000_000}}
    s = attribute(t)["steps"]
    assert s["busy_ns"].tolist() == [400_000] and s["floor_ns"].tolist() == [400_000]
    assert s["busy_below_floor"].tolist() == [False]
    t.meta["workload"]["bytes_per_step"] = 400_001_000
    assert attribute(t)["steps"]["busy_below_floor"].tolist() == [True]


def test_attribution_without_launch_calls():
    from stepscope.analysis.attribution import attribute
    t = _gap_trace()
    for c in t["api"]:
        t["api"][c] = t["api"][c][:0]
    s = attribute(t)["steps"]
    assert s["launch_calls"].tolist() == [0] and s["closure_ns"].tolist() == [0]


def test_floor_from_measured_dram_when_no_workload():
    from stepscope.analysis.attribution import attribute
    t = load(TRACES / "qwen2.5-7b-ctx2048-graph-h100.stepscope")
    peak = t.meta["gpu"]["peak_bytes_per_s"]
    t.meta["workload"] = {}
    a = attribute(t)
    s = a["steps"]
    assert a["floor_source"] == "measured DRAM bytes"
    want = np.round((s["dram_read_bytes"] + s["dram_write_bytes"]) / peak * 1e9)
    assert np.abs(s["floor_ns"] - want).max() <= 1 and s["floor_ns"].min() > 4_000_000
    assert s["floor_all_ns"].tolist() == s["floor_ns"].tolist()


def test_floor_starts_at_the_first_traced_position_else_ctx():
    from stepscope.analysis.attribution import attribute
    t = load(TRACES / "qwen2.5-7b-ctx2048-eager-h100.stepscope")
    wl = t.meta["workload"]
    base = attribute(t)["steps"]["model_read_bytes"].copy()
    first = wl.get("first_traced_position", wl["ctx"])
    wl.pop("first_traced_position", None)
    wl["ctx"] = first
    assert attribute(t)["steps"]["model_read_bytes"].tolist() == base.tolist()
    wl["first_traced_position"] = first + 1000              # 1000 tokens later: more KV read
    later = attribute(t)["steps"]["model_read_bytes"]
    assert (later > base).all()
    # the traced steps read one more token of KV each, in step order
    assert np.all(np.diff(later[np.argsort(t["steps"]["index"])]) > 0)


def test_lookup_first_last_order_missing_and_empty():
    from stepscope.analysis.trace.join import lookup
    keys = np.array([5, 3, 5, 9, 3])
    vals = np.array([10, 20, 30, 40, 50])
    f, v = lookup(keys, vals, np.array([3, 5, 9, 4, 100, 1]))
    assert f.tolist() == [True, True, True, False, False, False]
    assert v.tolist() == [20, 10, 40, -1, -1, -1]                      # first in row order
    f, v = lookup(keys, vals, np.array([3, 5, 100]), keep="last", missing=-7)
    assert v.tolist() == [50, 30, -7]
    order_by = np.array([4, 0, 1, 2, 3])                                 # reverses which 5 and 3 come first
    assert lookup(keys, vals, np.array([3, 5]), order_by=order_by)[1].tolist() == [20, 30]
    assert lookup(keys, vals, np.array([3, 5]), keep="last", order_by=order_by)[1].tolist() == [50, 10]
    f, v = lookup(np.array([], np.int64), np.array([], np.int64), np.array([1, 2]), missing=-3)
    assert f.tolist() == [False, False] and v.tolist() == [-3, -3] and v.dtype == np.int64
    f, v = lookup(keys, vals.astype(np.float64), np.array([], np.int64))
    assert len(f) == 0 and len(v) == 0 and v.dtype == np.float64
    f, v = lookup(np.array([1]), np.array([7]), np.array([0, 1, 2]))
    assert f.tolist() == [False, True, False] and v.tolist() == [-1, 7, -1]


def test_hta_rule_takes_the_earliest_start_of_a_shared_correlation():
    from stepscope.analysis.attribution import attribute
    from stepscope.analysis.gaps import hta_rule
    t = _gap_trace()
    # K3's gap [300, 400): add a driver call of correlation 3 that started at 350 (after
    # the GPU went idle), listed first; the earliest start (150) decides: not host-wait
    api = t["api"]
    for c, v in (("start_ns", 350_000), ("end_ns", 351_000), ("name", 1), ("correlation", 3), ("step", 0)):
        api[c] = np.r_[np.int64(v), api[c]]
    for c in ("domain", "cbid", "thread_id"):
        api[c] = np.r_[np.int64(-1), api[c]]
    a = attribute(t)
    assert hta_rule(t, a["records"], a["intervals"]).tolist() == [False] * 5 + [True, False, False]
    # a gap ending at a record whose launch call starts at time 0 (rounds to 0 us) is not host-wait
    t2 = _gap_trace()
    assert hta_rule(t2, a["records"], a["intervals"])[0] == False  # noqa: E712 - leading gap, never


def test_hta_rule_without_records():
    from stepscope.analysis.attribution import attribute
    from stepscope.analysis.gaps import hta_rule
    t = _gap_trace()
    for tab in ("kernels", "memcpy"):
        for c in t[tab]:
            t[tab][c] = t[tab][c][:0]
    a = attribute(t)
    got = hta_rule(t, a["records"], a["intervals"])
    assert got.dtype == bool and got.tolist() == [False] * len(a["gaps"]["gap_ns"]) and len(got) == 1


def test_dram_edges():
    from stepscope.analysis import dram
    from stepscope.analysis.trace import Trace
    pm = {"start_ns": np.array([1, 100, 200, 300]), "end_ns": np.array([50, 200, 200, 400]),
          "dram_read_bytes": np.array([7, 1000, 500, 1000]), "dram_write_bytes": np.zeros(4, np.int64)}
    # a sample starting at 1 ns is real; a zero-length one (at 200) carries nothing usable
    assert dram.valid(pm).tolist() == [True, True, False, True]
    assert dram.bytes_between(pm, [0, 150, 100], [60, 350, 400], "dram_read_bytes").tolist() == \
        pytest.approx([7.0, 1000.0, 2000.0])
    assert dram.coverage(pm, [120, 250], [121, 251]).tolist() == pytest.approx([1.0, 0.0])
    t = Trace()
    assert dram.summary(t, {"dram_read_bytes": 0, "dram_write_bytes": 0, "dram_coverage": 0,
                            "dram_bytes_per_s": 0})["status"] == "unknown"


def test_intervals_limits_and_empty_steps():
    from stepscope.analysis.intervals import _BIG, step_intervals
    one = np.array([0])
    with pytest.raises(ValueError, match=r"^a step spans more than 2\*\*42 ns; cannot analyse it$"):
        step_intervals([0], [10], one, np.array([int(_BIG)]), one)
    with pytest.raises(ValueError, match="2\\*\\*42"):
        step_intervals([0], [int(_BIG)], one, np.array([5]), one)
    iv = step_intervals([0], [int(_BIG) - 1], one, np.array([5]), one)        # just under: fine
    assert iv.busy_ns.tolist() == [5]
    # three steps, the last two without records: one all-idle gap each, no next record
    iv = step_intervals([0, 100, 200], [50, 150, 250], np.array([10]), np.array([20]), np.array([0]))
    assert iv.n_records.tolist() == [1, 0, 0] and iv.busy_ns.tolist() == [10, 0, 0]
    assert iv.gap_next.tolist() == [0, -1, -1, -1] and iv.gap_step.tolist() == [0, 0, 1, 2]


def test_one_record_and_no_record_steps():
    from stepscope.analysis.attribution import attribute
    from stepscope.analysis.gaps import GapCause, hta_rule
    t = _gap_trace()
    for tab in ("kernels", "memcpy"):
        for c in t[tab]:
            t[tab][c] = t[tab][c][:1 if tab == "kernels" else 0]
    a = attribute(t)                                     # one kernel: leading, trailing gaps only
    assert a["gaps"]["cause"].tolist() == [GapCause.LAUNCH, GapCause.SYNC]
    assert hta_rule(t, a["records"], a["intervals"]).tolist() == [False, False]
    t["kernels"]["step"][:] = -1                          # no record in the step: one idle gap, OTHER... or SYNC
    a = attribute(t)
    assert a["gaps"]["cause"].tolist() == [GapCause.SYNC]
    keep = ~np.isin(t["api"]["name"], [3, 4])           # without the sync calls: OTHER
    for c in t["api"]:
        t["api"][c] = t["api"][c][keep]
    assert attribute(t)["gaps"]["cause"].tolist() == [GapCause.OTHER]


def test_floor_follows_step_index_not_row_order():
    from stepscope.analysis.attribution import attribute
    t = load(TRACES / "qwen2.5-7b-ctx2048-eager-h100.stepscope")
    base = dict(zip(t["steps"]["index"].tolist(), attribute(t)["steps"]["model_read_bytes"].tolist()))
    st = t["steps"]
    for c in st:
        st[c] = st[c][::-1].copy()
    s = attribute(t)["steps"]
    assert dict(zip(s["step"].tolist(), s["model_read_bytes"].tolist())) == base
