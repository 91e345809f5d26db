"""Which step does each record belong to? By launch-call correlation, not by time."""
from __future__ import annotations

import numpy as np

from .join import lookup
from .model import Trace


def assign_steps(trace: Trace) -> dict:
    """Set ``step`` on api, kernels, memcpy, memset, host_spans and stack_samples rows.
    Returns counts for metadata.

    A launch call belongs to the step whose host window holds its start. A kernel,
    copy or set belongs to the step of the launch call with its correlation id, even
    when it runs after the window closed. A GPU record whose launch call was not
    recorded falls back to the window that holds it entirely, and is counted.
    """
    steps = trace["steps"]
    order = np.argsort(steps["start_ns"], kind="stable")
    s_start, s_end, s_idx = steps["start_ns"][order], steps["end_ns"][order], steps["index"][order]

    def window_of(t0, t1):
        i = np.searchsorted(s_start, t0, side="right") - 1
        ok = (i >= 0) & (t1 <= s_end[np.clip(i, 0, None)]) if len(s_start) else np.zeros(len(t0), bool)
        return np.where(ok, s_idx[np.clip(i, 0, None)] if len(s_idx) else -1, -1)

    api = trace["api"]
    api["step"] = window_of(api["start_ns"], api["start_ns"])
    # Host spans and stack samples: the window holding their start.
    trace["host_spans"]["step"] = window_of(trace["host_spans"]["start_ns"], trace["host_spans"]["start_ns"])
    trace["stack_samples"]["step"] = window_of(trace["stack_samples"]["t_ns"], trace["stack_samples"]["t_ns"])
    counts = {}
    for t in ("kernels", "memcpy", "memset"):
        tab = trace[t]
        matched, step = lookup(api["correlation"], api["step"], tab["correlation"])
        by_time = window_of(tab["start_ns"], tab["end_ns"])
        fallback = ~matched & (by_time >= 0)
        tab["step"] = np.where(matched, step, by_time).astype(np.int64)
        counts[f"{t}_without_launch_call"] = int((~matched).sum())
        counts[f"{t}_assigned_by_time"] = int(fallback.sum())
        counts[f"{t}_outside_steps"] = int((tab["step"] < 0).sum())
    return counts
