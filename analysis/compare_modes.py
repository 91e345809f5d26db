"""Two traces of one decode workload, an eager baseline and a CUDA-graph replay: their
attributions side by side, the predicted and the measured graph speedup, and a verdict.

Prediction (the same formula as ``results.ab.summarize``), from the baseline's traced
attribution, medians over its traced steps:

    predicted graph step = busy + non-launch idle + kernels x node gap

i.e. the baseline step with its launch-bound idle removed and one graph node gap paid
per kernel. The node gap is the median internal GPU gap (record end -> next record
start, inside a step) of the graph trace unless given: estimates from `stepscope
calibrate` runs (the A/B's node gap, ``results.ab.NODE_GAP_SOURCE``; their median is the
point value) or one fixed number; its source is returned with the numbers.
Predicted speedup = baseline untraced median / predicted graph step; measured speedup =
baseline untraced median / graph untraced median (untraced step times: tracing
inflates host time). A trace without untraced timings falls back to its traced steps
and says so.

Verdict: the A/B's decision rule and code (``results.ab.verdict``, ``explained_range``),
with intervals over the steps of the one session each arm has (not over sessions: they
leave out session-to-session variation, which `stepscope ab` measures):
- measured: 95% percentile bootstrap of median(baseline timed) / median(graph timed),
  the two arms' steps resampled independently (``results.ab.ratio_of_medians_ci``);
- predicted: 95% percentile bootstrap of the predicted speedup, resampling the baseline's
  timed steps, its traced steps and the node gap: from the graph trace, its median
  internal gap over resampled graph steps; from calibration runs, one run drawn per
  resample; a fixed number adds no uncertainty (``results.ab.step_prediction_ci``);
- sensitivity: the node gaps for which the verdict is "explained" (gap held fixed).
numpy (scipy at call time).
"""
from __future__ import annotations

import numpy as np

from .facade import TraceAnalysis
from .intervals import INTERNAL
from .results import ab as AB

PARTS = ("floor_ms", "kernel_inefficiency_ms", "launch_overhead_ms", "other_idle_ms")
#: Above this share of the baseline step, launch overhead is called the bottleneck.
LAUNCH_BOUND_SHARE = 0.5
#: Where the node gap comes from when none is given.
GRAPH_TRACE_GAP = "median internal GPU gap of the graph trace"
RULE = AB.rule("bootstrap over the steps of one session per arm and the node-gap estimate",
               "the ratio of the arms' median step times, each arm's steps resampled")


def _one_mode(a: TraceAnalysis) -> tuple[str, dict]:
    modes = a.get_summary()["modes"]
    if len(modes) != 1:
        raise ValueError(f"a trace of one mode is needed; this one has {len(modes)} ({', '.join(modes)}).")
    return next(iter(modes.items()))


def _internal_gaps(graph: TraceAnalysis) -> tuple[np.ndarray, np.ndarray]:
    g = graph.get_gaps()
    m = g["position"] == INTERNAL
    if not m.any():
        raise ValueError("the graph trace has no gap between GPU records to measure a node gap from.")
    return g["gap_ns"][m], g["step"][m]


def graph_node_gap_ns(graph: TraceAnalysis) -> float:
    """Median internal GPU gap of the graph trace's steps, ns."""
    return float(np.median(_internal_gaps(graph)[0]))


def graph_node_gap_draws(graph: TraceAnalysis, seed: int = 0, n_resamples: int = AB.N_RESAMPLES,
                         chunk: int = 500) -> np.ndarray:
    """``graph_node_gap_ns`` over resampled graph steps, one per resample (n_resamples, 1):
    the median of the pooled internal gaps of the drawn steps (a step drawn twice counts
    twice), from a per-step histogram of the gap values, ``chunk`` resamples at a time."""
    gaps, step = _internal_gaps(graph)
    values, vi = np.unique(gaps, return_inverse=True)
    steps, si = np.unique(step, return_inverse=True)
    hist = np.zeros((len(steps), len(values)), np.int64)
    np.add.at(hist, (si, vi), 1)
    idx = np.random.default_rng(seed + 1).integers(0, len(steps), size=(n_resamples, len(steps)))
    out = np.empty(n_resamples)
    for a in range(0, n_resamples, chunk):
        rows = idx[a:a + chunk]
        weight = np.zeros((len(rows), len(steps)), np.int64)
        np.add.at(weight, (np.arange(len(rows))[:, None], rows), 1)
        cum = np.cumsum(weight @ hist, axis=1)
        n = cum[:, -1:]
        lo = (cum <= (n - 1) // 2).sum(axis=1)      # the two middle values of the sorted pool
        hi = (cum <= n // 2).sum(axis=1)
        out[a:a + chunk] = (values[lo] + values[hi]) / 2
    return out[:, None]


def timed_steps_ns(a: TraceAnalysis, mode: str) -> np.ndarray:
    """The step times behind an arm's timed median: its untraced steps when the trace
    recorded them, else its traced steps."""
    wl = a.trace.meta.get("workload") or {}
    if wl.get("untraced_step_ns") and wl.get("mode") == mode:
        return np.asarray(wl["untraced_step_ns"], float)
    return np.asarray(a.get_steps()["step_ns"], float)


def arm(a: TraceAnalysis) -> dict:
    """One column of the side-by-side table: the mode summary plus the step time used
    for speedups (untraced median when recorded) and where it comes from."""
    mode, m = _one_mode(a)
    s = a.get_summary()
    step_ms = m["untraced_step_ms"] or m["step_ms"]
    gl = m.get("graph_level")
    traced = {"attribution_source": "per-kernel records", "step_ms_per_kernel": m["step_ms"]}
    if gl:   # a graph arm's launch and idle figures: its graph-level block (issue 28)
        traced = {**{k: gl[k] for k in ("step_ms", "busy_ms", "idle_ms", "kernel_inefficiency_ms",
                                        "launch_overhead_ms", "other_idle_ms")},
                  "attribution_source": "graph-level block", "step_ms_per_kernel": m["step_ms"],
                  "pct_floor": 100 * gl["floor_ms"] / gl["step_ms"] if gl["step_ms"] else 0.0}
    eq = (gl or {}).get("untraced_equivalent") or m.get("untraced_equivalent")
    head = {**m, **traced}
    if eq:
        head = {k: eq[k] for k in PARTS} | {"step_ms": eq["untraced_step_ms"]}
    share = {k: (head[k] / head["step_ms"] if head["step_ms"] else 0.0) for k in PARTS}
    return {"mode": mode, **m, **traced, "gpu": s["gpu"], "model": s["model"], "ctx": s["ctx"],
            "floor_known": not str(s["floor_source"]).startswith("none"),
            "timed_step_ms": step_ms, "timed_step_source": "untraced" if m["untraced_step_ms"] else "traced",
            "untraced_equivalent": eq, "share_source": "untraced-equivalent" if eq else "traced",
            "share": share}


def compare(base: TraceAnalysis, graph: TraceAnalysis, node_gaps_ns: list[float] | None = None,
            node_gap_source: str | None = None, seed: int = 0) -> dict:
    """The main job's comparison of a baseline trace and a graph-replay trace (module
    docstring). ``node_gaps_ns``: node-gap estimates (calibration runs, or one given
    number) named by ``node_gap_source``; None: the graph trace's own. When the second
    trace is not a graph replay, the speedup is measured and nothing is predicted
    (``predicted_speedup``, its interval, ``explained`` and the node gap are None).

    Symmetric in the order of the two traces: the baseline is the arm that is not a graph
    replay (of two non-graph arms, the slower one by timed median), so swapping them gives
    the same numbers and verdict; ``arms`` is in that order and ``given_order`` says which
    of the two traces came first ([0, 1] as given, [1, 0] swapped)."""
    if node_gaps_ns is not None and not all(0 <= x <= 1e6 for x in node_gaps_ns):     # refuses nan and inf too
        raise ValueError(f"a node gap must be 0..1000000 ns, not {[float(x) for x in node_gaps_ns]}.")
    b, g = arm(base), arm(graph)
    swap = (b["mode"] == "graph" and g["mode"] != "graph") or \
        (g["mode"] != "graph" and b["mode"] != "graph" and g["timed_step_ms"] > b["timed_step_ms"])
    if swap:
        base, graph, b, g = graph, base, g, b
    if (b["model"], b["ctx"], b["gpu"]) != (g["model"], g["ctx"], g["gpu"]):
        raise ValueError(f"the two traces are of different workloads or GPUs: {b['model']} ctx {b['ctx']} on "
                         f"{b['gpu']} vs {g['model']} ctx {g['ctx']} on {g['gpu']}.")
    tb, tg = timed_steps_ns(base, b["mode"]), timed_steps_ns(graph, g["mode"])
    measured = b["timed_step_ms"] / g["timed_step_ms"]
    measured_ci = list(AB.ratio_of_medians_ci(tb, tg, seed=seed))
    out = {
        "model": b["model"], "ctx": b["ctx"], "gpu": b["gpu"], "arms": [b, g],
        "measured_speedup": measured, "speedup_source": f"{b['timed_step_source']} / {g['timed_step_source']}",
        "measured_ci95": measured_ci, "measured_steps": [len(tb), len(tg)],
        "node_gap_ns": None, "node_gap_source": None, "node_gap_estimates_ns": None, "node_gap_steps": None,
        "base_traced_steps": None,
        "predicted_graph_step_ms": None, "predicted_speedup": None, "prediction_ci95": None,
        "rule": RULE, "verdict": "no prediction (the prediction models a CUDA-graph replay)",
        "explained": None, "sensitivity": None, "given_order": [1, 0] if swap else [0, 1],
    }
    if g["mode"] == "graph":   # the prediction models a graph replay only
        st = base.get_steps()
        fixed = (st["busy_ns"] + (st["idle_ns"] - st["launch_overhead_ns"])).astype(float)
        kernels = st["kernels"].astype(float)
        if node_gaps_ns is None:
            gap, source, estimates = graph_node_gap_ns(graph), GRAPH_TRACE_GAP, None
            draws, gap_steps = graph_node_gap_draws(graph, seed), len(np.unique(_internal_gaps(graph)[1]))
        else:
            gap, source, estimates = float(np.median(node_gaps_ns)), node_gap_source or "given", list(node_gaps_ns)
            draws, gap_steps = AB.gap_draws(node_gaps_ns, seed), None
        pred_ns = float(np.median(fixed + kernels * gap))
        pci = list(AB.step_prediction_ci(tb, fixed, kernels, draws, seed=seed))
        rng = AB.explained_range(lambda x: AB.step_prediction_ci(tb, fixed, kernels, x, seed=seed), measured_ci)
        out.update(node_gap_ns=gap, node_gap_source=source, node_gap_estimates_ns=estimates,
                   predicted_graph_step_ms=pred_ns / 1e6, predicted_speedup=b["timed_step_ms"] / (pred_ns / 1e6),
                   prediction_ci95=pci, verdict=AB.verdict(pci, measured_ci),
                   sensitivity={"explained_for_node_gap_ns": rng, "node_gap_ns": gap},
                   base_traced_steps=len(fixed), node_gap_steps=gap_steps)
        out["explained"] = out["verdict"] == AB.EXPLAINED
    launch_share = b["share"]["launch_overhead_ms"]
    gshare = dict(g["share"])
    gshare["busy_ms"] = gshare["floor_ms"] + gshare["kernel_inefficiency_ms"]
    after = max(PARTS if g["floor_known"] else PARTS[2:] + ("busy_ms",), key=lambda k: gshare[k])
    out.update(launch_bound=bool(launch_share >= LAUNCH_BOUND_SHARE), base_launch_share=launch_share,
               graph_largest_part=after, graph_largest_share=gshare[after], share_source=b["share_source"],
               host_verdict=base.get_host()["verdict"])
    return out
