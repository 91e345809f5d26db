"""The untraced-equivalent attribution (analysis/untraced.py): the traced step's parts
with the idle the tracer added taken out, summing to the untraced median exactly."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import trace_path
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.trace import Trace
from stepscope.analysis.untraced import METHOD_BUSY, METHOD_IDLE, _rounds, equivalent


def test_hand_computed_parts():
    # medians: busy 7000, floor 3000, launch 2000, other 1000; untraced 9000:
    # idle 2000 split 2:1 -> launch round(1333.3) = 1333, other 667
    e = equivalent([7000, 7000, 7000], [3000] * 3, [2000, 2000, 2000], [1000] * 3, [9000, 8000, 10000])
    assert (e["floor_ms"], e["kernel_inefficiency_ms"], e["launch_overhead_ms"], e["other_idle_ms"]) == \
        (3000 / 1e6, 4000 / 1e6, 1333 / 1e6, 667 / 1e6)
    assert e["sum_ns"] == e["untraced_median_ns"] == 9000 and e["method"] == METHOD_IDLE
    assert e["launch_share"] == pytest.approx(1333 / 9000)


def test_no_idle_recorded_puts_all_untraced_idle_in_other_idle():
    e = equivalent([5000], [1000], [0], [0], [6000])
    assert e["launch_overhead_ms"] == 0 and e["other_idle_ms"] == 1000 / 1e6 and e["sum_ns"] == 6000


def test_busy_above_the_untraced_step_leaves_no_idle_and_says_so():
    e = equivalent([9000], [3000], [500], [100], [8000])
    assert e["method"] == METHOD_BUSY
    assert (e["floor_ms"], e["kernel_inefficiency_ms"], e["launch_overhead_ms"], e["other_idle_ms"]) == \
        (3000 / 1e6, 5000 / 1e6, 0, 0)
    e = equivalent([9000], [8500], [500], [100], [8000])     # even the floor exceeds the untraced step
    assert e["floor_ms"] == 8000 / 1e6 and e["kernel_inefficiency_ms"] == 0 and e["sum_ns"] == 8000


def test_none_without_untraced_or_traced_steps():
    assert equivalent([1], [1], [1], [1], None) is None
    assert equivalent([1], [1], [1], [1], []) is None
    assert equivalent([], [], [], [], [5]) is None


def test_rounds_split_as_the_protocol_splits_blocks():
    assert _rounds(7, 3).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert _rounds(6, 3).tolist() == [0, 0, 1, 1, 2, 2]


def test_interval_resamples_rounds_from_three_and_holds_the_estimate():
    rng = np.random.default_rng(1)
    busy = rng.normal(7e6, 1e5, 10)
    launch = rng.normal(2e6, 3e5, 10)
    un = rng.normal(8.5e6, 2e5, 30)
    e3 = equivalent(busy, np.full(10, 3e6), launch, np.full(10, 1e5), un, rounds=10)
    assert e3["interval"] == "bootstrap over 10 interleaved rounds"
    lo, hi = e3["launch_overhead_ci95_ms"]
    assert lo <= e3["launch_overhead_ms"] <= hi and lo < hi
    s_lo, s_hi = e3["launch_share_ci95"]
    assert s_lo <= e3["launch_share"] <= s_hi
    e1 = equivalent(busy, np.full(10, 3e6), launch, np.full(10, 1e5), un, rounds=2)
    assert e1["interval"] == "bootstrap over 10 traced and 30 untraced steps"
    # the same seed gives the same interval; another seed a different one
    again = equivalent(busy, np.full(10, 3e6), launch, np.full(10, 1e5), un, rounds=10)
    other = equivalent(busy, np.full(10, 3e6), launch, np.full(10, 1e5), un, rounds=10, seed=5)
    assert again["launch_overhead_ci95_ms"] == e3["launch_overhead_ci95_ms"] != other["launch_overhead_ci95_ms"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**8), st.integers(0, 10**8), st.integers(0, 10**8),
                          st.integers(0, 10**8)), min_size=1, max_size=8),
       st.lists(st.integers(1, 2 * 10**8), min_size=1, max_size=8))
def test_parts_sum_to_the_untraced_median_within_0_ns(steps, untraced):
    busy, floor, launch, other = (np.array(c, float) for c in zip(*steps))
    e = equivalent(busy, floor, launch, other, untraced, n_resamples=10)
    assert e["sum_ns"] == int(round(np.median(untraced)))
    assert e["launch_overhead_ms"] >= 0 and e["other_idle_ms"] >= 0


def test_recorded_eager_static_trace_launch_share_from_its_own_steps():
    """Golden on a recorded H200 trace (10 interleaved rounds): the launch share equals
    (untraced median - traced busy median) x L / (L + O) / untraced median, computed here
    from the steps table and the recorded untraced step times."""
    t = Trace.load(trace_path("qwen2.5-7b-ctx2048-eager-static-r10-h200"))
    a = TraceAnalysis(t)
    st_ = a.get_steps()
    u = np.median(t.meta["workload"]["untraced_step_ns"])
    b, lo, o = (np.median(st_[k]) for k in ("busy_ns", "launch_overhead_ns", "other_idle_ns"))
    want = round((round(u) - round(b)) * lo / (lo + o)) / round(u)
    eq = a.get_summary()["modes"]["eager-static"]["untraced_equivalent"]
    assert eq["launch_share"] == pytest.approx(want, abs=1e-12)
    assert round(eq["launch_share"], 3) == 0.666            # 15.663 of 23.503 ms
    assert eq["sum_ns"] == round(u) and eq["interval"] == "bootstrap over 10 interleaved rounds"


# -- the graph arm's graph-level block (recorded on an H200 with benchmarks/issue28_gpu.sh) --
def test_graph_level_block_in_meta_is_the_saved_block_trace():
    """The per-kernel trace keeps its graph-level block's per-step attribution; it is the
    attribution of the block's own saved trace, step for step."""
    from stepscope.profiler.experiments.protocol import graph_level_block
    for run in ("mainjob", "r10b"):
        t = Trace.load(trace_path(f"qwen2.5-7b-ctx2048-graph-{run}-h200"))
        g = Trace.load(trace_path(f"qwen2.5-7b-ctx2048-graph-{run}-graphlevel-h200"))
        assert t.meta["graph_level_block"]["steps"] == graph_level_block(g)["steps"]
        assert g.meta["capture"]["kernel_records"] == "graph" and t.meta["capture"]["kernel_records"] == "concurrent"
        # both blocks timed against the same untraced steps
        assert g.meta["workload"]["untraced_step_ns"] == t.meta["workload"]["untraced_step_ns"]


def test_main_job_graph_column_takes_launch_and_idle_from_the_graph_level_block():
    from stepscope.analysis.compare_modes import compare
    from stepscope.analysis.render.main_job import render
    base = TraceAnalysis(Trace.load(trace_path("qwen2.5-7b-ctx2048-eager-static-mainjob-h200")))
    graph = TraceAnalysis(Trace.load(trace_path("qwen2.5-7b-ctx2048-graph-mainjob-h200")))
    c = compare(base, graph)
    b, g = c["arms"]
    gl = graph.get_summary()["modes"]["graph"]["graph_level"]
    assert g["attribution_source"] == "graph-level block" and b["attribution_source"] == "per-kernel records"
    assert g["launch_overhead_ms"] == gl["launch_overhead_ms"] and round(g["launch_overhead_ms"], 3) == 0.766
    assert round(g["step_ms_per_kernel"], 3) == 11.091 and round(g["step_ms"], 3) == 8.572
    # the traced graph step (graph-level block) within 3% of the untraced one (8.534 ms)
    assert abs(g["step_ms"] / g["untraced_step_ms"] - 1) < 0.03
    # the untraced-equivalent parts sum to the untraced median within 0 ns, for both arms
    for a in (b, g):
        eq = a["untraced_equivalent"]
        assert eq["sum_ns"] == eq["untraced_median_ns"] == round(np.median(a_untraced(a, base, graph)))
    assert c["share_source"] == "untraced-equivalent"
    assert c["base_launch_share"] == pytest.approx(b["untraced_equivalent"]["launch_share"], rel=1e-12)
    text = render(c, "test")
    assert "  step, traced median (graph-level block)                      -            8.572 ms" in text
    assert "0.766 ms   8.9%" in text and "0.697 ms   8.2%" in text
    assert "verdict: launch-bound: the GPU waits for the CPU 77% of the untraced eager-static step;" in text
    assert max(len(x) for x in text.splitlines()) <= 100


def a_untraced(a, base, graph):
    t = base if a["mode"] == "eager-static" else graph
    return t.trace.meta["workload"]["untraced_step_ns"]


def test_report_of_a_graph_arm_prints_its_graph_level_block_and_verdict_from_it():
    from stepscope.analysis.render.console import ConsoleRenderer
    a = TraceAnalysis(Trace.load(trace_path("qwen2.5-7b-ctx2048-graph-r10b-h200")))
    text = ConsoleRenderer().render(a)
    assert "graph-level block (one record per replay, same rounds): 10 traced steps, median 8.408 ms," in text
    assert "    -0.8% vs untraced (95% CI -1.4% to +1.7%); per-kernel records lengthen a replay," in text
    assert "from the graph-level block's medians" in text
    eq = a.get_summary()["modes"]["graph"]["graph_level"]["untraced_equivalent"]
    assert f"the GPU waits for the CPU {100 * eq['launch_share']:.1f}% of the untraced step" in text
