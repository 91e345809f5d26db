"""One step of a long trace as a trace of its own, so a figure of one step costs the memory
of one step: its records, the launch and sync calls and PM samples of its span, and the
workload position of that step (the floor of step k reads k more KV tokens). Attribution
of the cut trace equals the whole trace's row of that step (tests/test_window.py).
"""
from __future__ import annotations

import copy

import numpy as np

from .attribution import step_positions
from .trace import Trace


def step_spans_ns(trace) -> np.ndarray:
    """Each step's span as attribution counts it: host start -> max(host end, last end of
    its GPU records)."""
    st = trace["steps"]
    rec, pos = step_positions(trace)
    hi = st["end_ns"].copy()
    keep = pos >= 0
    np.maximum.at(hi, pos[keep], rec.end_ns[keep])
    return hi - st["start_ns"]


def step_trace(trace, pos: int) -> Trace:
    """The step at row ``pos`` of ``steps``, alone."""
    st = trace["steps"]
    sidx, lo = int(st["index"][pos]), int(st["start_ns"][pos])
    hi = lo + int(step_spans_ns_of(trace, pos))
    out = Trace(strings=trace.strings, meta=copy.deepcopy(trace.meta))
    out.tables = {t: dict(cols) for t, cols in trace.tables.items()}
    out.tables["steps"] = {c: v[pos:pos + 1].copy() for c, v in st.items()}
    for t in ("kernels", "memcpy", "memset"):
        m = trace[t]["step"] == sidx
        out.tables[t] = {c: v[m] for c, v in trace[t].items()}
    api = trace["api"]
    m = (api["step"] == sidx) | ((api["end_ns"] >= lo) & (api["start_ns"] <= hi))
    out.tables["api"] = {c: v[m] for c, v in api.items()}
    pm = trace["pm"]
    m = (pm["end_ns"] >= lo) & (pm["start_ns"] <= hi)
    out.tables["pm"] = {c: v[m] for c, v in pm.items()}
    wl = out.meta.get("workload")
    if isinstance(wl, dict) and wl.get("kind") == "decode":
        rank = int(np.sum(st["index"] < sidx))
        positions = wl.get("traced_positions")
        if positions and len(positions) == len(st["index"]):
            wl["first_traced_position"] = int(positions[rank])
            wl["traced_positions"] = [int(positions[rank])]
        else:
            wl["first_traced_position"] = int(wl.get("first_traced_position", wl.get("ctx", 0))) + rank
    return out


def step_spans_ns_of(trace, pos: int) -> int:
    st = trace["steps"]
    sidx = st["index"][pos]
    hi = int(st["end_ns"][pos])
    for t in ("kernels", "memcpy", "memset"):
        m = trace[t]["step"] == sidx
        if m.any():
            hi = max(hi, int(trace[t]["end_ns"][m].max()))
    return hi - int(st["start_ns"][pos])
