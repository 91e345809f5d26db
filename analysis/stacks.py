"""Source lines behind the launch-bound idle, from the sampled Python stacks
(``stack_samples``, recorded with ``stepscope trace --stack-sample-us``).

A sample counts when its timestamp falls inside a launch-bound gap (the GPU idle, waiting
for the CPU to launch the next kernel: ``GapCause.LAUNCH``). Its innermost frame is the
line the thread was running; every frame of its stack is a line on the way there. Each
line's share of those samples, times the launch-bound idle per step, estimates its ms per
step; the estimate is as good as the number of samples (the share's binomial standard
error is printed with it). Frames present in every counted sample (the script, the
protocol loop) carry no information and are left out of the inclusive list.
"""
from __future__ import annotations

import numpy as np

from .gaps import GapCause


def _in_launch_gaps(t: np.ndarray, gaps: dict) -> np.ndarray:
    lb = gaps["cause"] == GapCause.LAUNCH
    g0, g1 = gaps["start_ns"][lb], gaps["end_ns"][lb]
    order = np.argsort(g0, kind="stable")
    g0, g1 = g0[order], g1[order]
    i = np.searchsorted(g0, t, side="right") - 1
    return (i >= 0) & (t < g1[np.clip(i, 0, None)]) if len(g0) else np.zeros(len(t), bool)


def report(trace, attr: dict, n: int = 10) -> dict:
    ss = trace["stack_samples"]
    cap = trace.meta.get("capture", {}).get("stack_sampler") or {}
    out = {"samples": int(len(ss["t_ns"])), "period_ns": cap.get("period_ns"),
           "median_interval_ns": cap.get("median_interval_ns")}
    if not out["samples"]:
        return out
    counted = _in_launch_gaps(ss["t_ns"], attr["gaps"]) & (ss["step"] >= 0)
    k = int(counted.sum())
    n_steps = max(len(trace["steps"]["index"]), 1)
    idle_ns_per_step = float(attr["steps"]["launch_overhead_ns"].sum()) / n_steps
    out.update({"samples_in_steps": int((ss["step"] >= 0).sum()), "samples_in_launch_idle": k,
                "launch_idle_ms_per_step": idle_ns_per_step / 1e6})
    if not k:
        out["innermost"] = out["inclusive"] = {"frame": [], "share": [], "ms_per_step": [], "share_se": []}
        return out
    ids, n_of = np.unique(ss["stack"][counted], return_counts=True)   # each distinct stack once
    stacks = [(trace.strings[i].split(";"), int(c)) for i, c in zip(ids, n_of)]

    def table(counts: dict) -> dict:
        items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        share = np.array([c / k for _, c in items])
        return {"frame": [f for f, _ in items], "share": share.tolist(),
                "ms_per_step": (share * idle_ns_per_step / 1e6).tolist(),
                "share_se": np.sqrt(share * (1 - share) / k).tolist()}

    inner: dict[str, int] = {}
    incl: dict[str, int] = {}
    for frames, c in stacks:
        inner[frames[-1]] = inner.get(frames[-1], 0) + c
        for f in set(frames):
            incl[f] = incl.get(f, 0) + c
    out["innermost"] = table(inner)
    out["inclusive"] = table({f: c for f, c in incl.items() if c < k})
    return out
