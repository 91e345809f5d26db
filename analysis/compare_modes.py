"""Two traces of one decode workload, an eager baseline and a CUDA-graph replay: their
attributions side by side, the predicted and the measured graph speedup, and a verdict.

Prediction (the same formula as ``results.ab.summarize``), from the baseline's traced
attribution, medians over its traced steps:

    predicted graph step = busy + non-launch idle + kernels x node gap

i.e. the baseline step with its launch-bound idle removed and one graph node gap paid
per kernel. ``node_gap_ns`` is the median internal GPU gap (record end -> next record
start, inside a step) of the graph trace unless given (e.g. a `stepscope calibrate`
``traced_gaps.graph_gap_ns_median``); its source is returned with the numbers.
Predicted speedup = baseline untraced median / predicted graph step; measured speedup =
baseline untraced median / graph untraced median (untraced step times: tracing
inflates host time). A trace without untraced timings falls back to its traced median
and says so. Explained: the prediction within ``tolerance`` (5%) of the measurement.
numpy only.
"""
from __future__ import annotations

import numpy as np

from .facade import TraceAnalysis
from .intervals import INTERNAL

PARTS = ("floor_ms", "kernel_inefficiency_ms", "launch_overhead_ms", "other_idle_ms")
#: Above this share of the baseline step, launch overhead is called the bottleneck.
LAUNCH_BOUND_SHARE = 0.5


def _one_mode(a: TraceAnalysis) -> tuple[str, dict]:
    modes = a.get_summary()["modes"]
    if len(modes) != 1:
        raise ValueError(f"a trace of one mode is needed; this one has {len(modes)} ({', '.join(modes)}).")
    return next(iter(modes.items()))


def graph_node_gap_ns(graph: TraceAnalysis) -> float:
    """Median internal GPU gap of the graph trace's steps, ns."""
    g = graph.get_gaps()
    internal = g["gap_ns"][g["position"] == INTERNAL]
    if not len(internal):
        raise ValueError("the graph trace has no gap between GPU records to measure a node gap from.")
    return float(np.median(internal))


def arm(a: TraceAnalysis) -> dict:
    """One column of the side-by-side table: the mode summary plus the step time used
    for speedups (untraced median when recorded) and where it comes from."""
    mode, m = _one_mode(a)
    s = a.get_summary()
    step_ms = m["untraced_step_ms"] or m["step_ms"]
    share = {k: (m[k] / m["step_ms"] if m["step_ms"] else 0.0) for k in PARTS}
    return {"mode": mode, **m, "gpu": s["gpu"], "model": s["model"], "ctx": s["ctx"],
            "floor_known": not str(s["floor_source"]).startswith("none"),
            "timed_step_ms": step_ms, "timed_step_source": "untraced" if m["untraced_step_ms"] else "traced",
            "share": share}


def compare(base: TraceAnalysis, graph: TraceAnalysis, node_gap_ns: float | None = None,
            node_gap_source: str | None = None, tolerance: float = 0.05) -> dict:
    """The main job's comparison of a baseline trace and a graph-replay trace. When the
    second trace is not a graph replay, the speedup is measured and nothing is predicted
    (``predicted_speedup``, ``explained`` and the node gap are None)."""
    b, g = arm(base), arm(graph)
    if (b["model"], b["ctx"], b["gpu"]) != (g["model"], g["ctx"], g["gpu"]):
        raise ValueError(f"the two traces are of different workloads or GPUs: {b['model']} ctx {b['ctx']} on "
                         f"{b['gpu']} vs {g['model']} ctx {g['ctx']} on {g['gpu']}.")
    measured = b["timed_step_ms"] / g["timed_step_ms"]
    if g["mode"] != "graph":   # the prediction models a graph replay only
        node_gap_ns, pred_ns, predicted = None, None, None
    else:
        if node_gap_ns is None:
            node_gap_ns, node_gap_source = graph_node_gap_ns(graph), "median internal GPU gap of the graph trace"
        st = base.get_steps()
        pred_ns = float(np.median(st["busy_ns"] + (st["idle_ns"] - st["launch_overhead_ns"])
                                  + st["kernels"] * node_gap_ns))
        predicted = b["timed_step_ms"] / (pred_ns / 1e6)
    launch_share = b["share"]["launch_overhead_ms"]
    after = max(PARTS if g["floor_known"] else PARTS[2:] + ("busy_ms",),
                key=lambda k: g[k])
    return {
        "model": b["model"], "ctx": b["ctx"], "gpu": b["gpu"], "arms": [b, g],
        "node_gap_ns": node_gap_ns, "node_gap_source": (node_gap_source or "given") if predicted else None,
        "predicted_graph_step_ms": pred_ns / 1e6 if predicted else None, "predicted_speedup": predicted,
        "measured_speedup": measured, "speedup_source": f"{b['timed_step_source']} / {g['timed_step_source']}",
        "explained": bool(abs(predicted / measured - 1) <= tolerance) if predicted else None,
        "tolerance": tolerance,
        "launch_bound": bool(launch_share >= LAUNCH_BOUND_SHARE), "base_launch_share": launch_share,
        "graph_largest_part": after, "graph_largest_share": g[after] / g["step_ms"] if g["step_ms"] else 0.0,
        "host_verdict": base.get_host()["verdict"],
    }
