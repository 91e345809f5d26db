"""The main job's comparison of two arms, on the shipped H100 traces (no GPU)."""
import numpy as np
import pytest

from conftest import trace_path
from stepscope.analysis.compare_modes import compare, graph_node_gap_ns
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.main_job import render, verdict

BASE = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-eager-static-h100"))
GRAPH = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-graph-h100"))


def test_prediction_is_the_documented_formula():
    c = compare(BASE, GRAPH)
    st = BASE.get_steps()
    node = graph_node_gap_ns(GRAPH)
    g = GRAPH.get_gaps()
    assert node == np.median(g["gap_ns"][g["position"] == 1]) == 96.0
    pred_ns = np.median(st["busy_ns"] + st["other_idle_ns"] + st["kernels"] * node)
    assert c["predicted_graph_step_ms"] == pytest.approx(pred_ns / 1e6)
    base_ms = np.median(BASE.trace.meta["workload"]["untraced_step_ns"]) / 1e6
    graph_ms = np.median(GRAPH.trace.meta["workload"]["untraced_step_ns"]) / 1e6
    assert c["measured_speedup"] == pytest.approx(base_ms / graph_ms)
    assert c["predicted_speedup"] == pytest.approx(base_ms / (pred_ns / 1e6))
    assert c["measured_speedup"] == pytest.approx(2.2547, abs=1e-4)
    assert c["explained"] and c["launch_bound"] and c["graph_largest_part"] == "kernel_inefficiency_ms"


def test_a_given_node_gap_is_used_and_named():
    c = compare(BASE, GRAPH, node_gap_ns=1000.0, node_gap_source="calibration")
    assert c["node_gap_ns"] == 1000.0 and c["node_gap_source"] == "calibration"
    # 1,485 kernels x 1 us more than the measured 96 ns per node: the prediction falls short.
    assert c["predicted_speedup"] < compare(BASE, GRAPH)["predicted_speedup"]
    assert not c["explained"]
    assert "not launch overhead alone" in verdict(c)


def test_render_shows_both_arms_and_the_verdict():
    text = render(compare(BASE, GRAPH), "test")
    header = next(line for line in text.splitlines() if "eager-static" in line and "graph" in line)
    assert header.split() == ["eager-static", "graph"]
    assert "16.199 ms  62.3%" in text and "0.214 ms   2.2%" in text
    assert text.splitlines()[-2].startswith("verdict: launch-bound")
    assert text.splitlines()[-1].startswith("host side of the eager-static step: launch-bound idle (all steps) is 65% framework")


def test_traces_of_different_workloads_are_refused():
    other = TraceAnalysis(trace_path("llama-3.1-8b-ctx2048-graph-h100"))
    with pytest.raises(ValueError, match="different workloads"):
        compare(BASE, other)


def test_no_prediction_when_the_arm_is_not_a_graph_replay():
    eager = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-eager-h100"))
    c = compare(eager, BASE)
    assert c["predicted_speedup"] is None and c["explained"] is None and c["node_gap_ns"] is None
    assert c["measured_speedup"] > 1
    text = render(c, "test")
    assert "predicted: none" in text and "CUDA graphs make it" not in text
