"""Why was the GPU idle? One cause per gap, decided from launch calls, to the nanosecond.

For a gap that the record R ends (R: the first kernel, copy or set after the gap),
with L the launch call of R (same correlation id) and [g0, g1) the gap:

1. SYNC    a host synchronisation call (``*Synchronize``, or a blocking ``cudaMemcpy``
           / ``cuMemcpy{DtoH,HtoD,...}`` without ``Async``) of the same step returned in
           (g0, g1]: the host was waiting for the GPU and then had to launch again.
2. COPY    R is a copy that involves host memory (H2D, D2H, H2H): staging, not launch.
3. LAUNCH  L ended after g0: R was not yet submitted when the GPU went idle, so the GPU
           waited for the CPU. The leading gap (step start -> first record) is LAUNCH.
4. QUEUED  L ended at or before g0: R was already submitted; the delay is on the GPU
           side (scheduling, dependencies, launch latency).
5. OTHER   L was not recorded, or (trailing gap) nothing above applies: host work after
           the last record.
6. GRAPH   an internal gap before a node of a CUDA-graph replay (R has a graph id) whose
           graph launch call L started before the gap: the replayed graph's nodes do not
           wait for the CPU, even while ``cudaGraphLaunch`` has not returned yet (the gaps
           before and after its return have the same size), so this is graph-internal
           node overhead, never launch overhead. Takes precedence over LAUNCH and QUEUED.

The trailing gap (last record end -> step end) is SYNC when the step's closing
synchronisation returned inside it (stepscope's Tracer always closes a step so), else OTHER.

Comparison with Holistic Trace Analysis: HTA calls a gap host-wait when the *start*
of the next kernel's launch call is after the previous kernel ended, per stream, on
timestamps rounded to whole microseconds. Decode gaps are 1-5 us; rounding moves
each end by up to 0.5 us, and a launch call that started before the GPU went idle
but returned after it (the common case when the CPU barely keeps up) is not
host-wait by HTA's rule but is by ours: the kernel could not start before the call
returned. ``hta_rule`` reproduces HTA's rule for side-by-side comparison.
"""
from __future__ import annotations

import re
from enum import IntEnum

import numpy as np

from .intervals import INTERNAL, LEADING, GpuRecords, StepIntervals
from .trace.join import lookup


class GapCause(IntEnum):
    LAUNCH = 0
    QUEUED = 1
    SYNC = 2
    COPY = 3
    OTHER = 4
    GRAPH = 5


#: CUPTI memcpy kinds that touch host memory: HtoD, DtoH, HtoA, AtoH, HtoH.
HOST_COPY_KINDS = (1, 2, 3, 4, 9)
_SYNC_RE = re.compile(r"Synchronize$|^cudaMemcpy(2D|3D)?(Peer|ToSymbol|FromSymbol)?$|"
                      r"^cuMemcpy(HtoD|DtoH|DtoD|HtoA|AtoH|AtoA|AtoD|DtoA|2D|3D|Peer)?$")


def launch_end_of(trace, rec: GpuRecords) -> np.ndarray:
    """End time of each GPU record's launch call (latest, if several share it); -1 if none."""
    api = trace["api"]
    _, end = lookup(api["correlation"], api["end_ns"], rec.correlation, keep="last",
                    order_by=api["end_ns"])
    return end


def is_sync_call(trace) -> np.ndarray:
    """Per API call: whether it is a host synchronisation call (rule 1 above)."""
    is_sync = np.array([bool(_SYNC_RE.search(s)) for s in trace.strings], bool) \
        if trace.strings else np.zeros(0, bool)
    api = trace["api"]
    return is_sync[api["name"]] if len(api["name"]) else np.zeros(0, bool)


def sync_ends(trace) -> np.ndarray:
    """Sorted end times of host synchronisation calls."""
    return np.sort(trace["api"]["end_ns"][is_sync_call(trace)])


def classify(trace, rec: GpuRecords, iv: StepIntervals) -> np.ndarray:
    launch_end = launch_end_of(trace, rec)
    syncs = sync_ends(trace)
    g0, g1 = iv.gap_start_ns, iv.gap_end_ns
    # A sync call that returned in (g0, g1].
    has_sync = np.searchsorted(syncs, g1, side="right") > np.searchsorted(syncs, g0, side="right")
    nxt = iv.gap_next
    known = nxt >= 0
    nx = np.where(known, nxt, 0)
    l_end = np.where(known, launch_end[nx] if len(launch_end) else -1, -1)
    host_copy = np.zeros(len(nxt), bool)
    if len(rec.table):
        cpy = trace["memcpy"]["copy_kind"]
        is_cpy = known & (rec.table[nx] == 1)
        kinds = np.where(is_cpy, cpy[np.where(is_cpy, rec.row[nx], 0)] if len(cpy) else -1, -1)
        host_copy = is_cpy & np.isin(kinds, HOST_COPY_KINDS)
    cause = np.full(len(nxt), GapCause.OTHER, np.int64)
    cause[known & (l_end >= 0) & (l_end <= g0)] = GapCause.QUEUED
    cause[known & (l_end > g0)] = GapCause.LAUNCH
    cause[(iv.gap_position == LEADING) & known] = GapCause.LAUNCH
    cause[in_graph_replay(trace, rec, iv)] = GapCause.GRAPH
    cause[host_copy] = GapCause.COPY
    cause[has_sync & (iv.gap_position != LEADING)] = GapCause.SYNC
    return cause


def graph_ids(trace) -> np.ndarray:
    """The graph id of every GPU record, in ``intervals.gpu_records`` order (0 or -1: not a graph node)."""
    return np.concatenate([trace[t]["graph_id"] for t in ("kernels", "memcpy", "memset")])


def in_graph_replay(trace, rec: GpuRecords, iv: StepIntervals) -> np.ndarray:
    """Internal gaps before a graph node whose graph launch call started before the gap."""
    api = trace["api"]
    nxt = iv.gap_next
    ok = (nxt >= 0) & (iv.gap_position == INTERNAL)
    if not len(rec.correlation):
        return np.zeros(len(nxt), bool)
    nx = np.where(ok, nxt, 0)
    found, l_start = lookup(api["correlation"], api["start_ns"], rec.correlation[nx], order_by=api["start_ns"])
    return ok & (graph_ids(trace)[nx] > 0) & found & (l_start <= iv.gap_start_ns)


def hta_rule(trace, rec: GpuRecords, iv: StepIntervals) -> np.ndarray:
    """HTA's host-wait rule on our gaps: launch *start* after the GPU went idle, on
    timestamps rounded to whole microseconds. True where HTA would say host-wait."""
    api = trace["api"]
    nxt = iv.gap_next
    ok = (nxt >= 0) & (iv.gap_position == INTERNAL)
    if not len(rec.correlation):
        return np.zeros(len(nxt), bool)
    found, l_start = lookup(api["correlation"], api["start_ns"], rec.correlation[np.where(ok, nxt, 0)],
                            order_by=api["start_ns"])
    l_start = np.where(ok & found, l_start, -1)
    us = lambda t: np.round(t / 1000.0)  # noqa: E731 - HTA's whole microseconds
    return ok & (l_start >= 0) & (us(l_start) > us(iv.gap_start_ns))


#: Gap histogram bin edges, ns.
GAP_BINS_NS = np.array([0, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000,
                        np.iinfo(np.int64).max], np.int64)


def histogram(gaps: dict) -> dict:
    """Count and total ns of gaps per cause and length bin (``GAP_BINS_NS``)."""
    b = np.searchsorted(GAP_BINS_NS, gaps["gap_ns"], side="right") - 1
    out = {"bin_lo_ns": GAP_BINS_NS[:-1]}
    for c in GapCause:
        sel = gaps["cause"] == c
        out[f"{c.name.lower()}_count"] = np.bincount(b[sel], minlength=len(GAP_BINS_NS) - 1)
        out[f"{c.name.lower()}_ns"] = np.bincount(b[sel], weights=gaps["gap_ns"][sel],
                                                  minlength=len(GAP_BINS_NS) - 1).astype(np.int64)
    return out


def hta_comparison(trace, attr: dict) -> dict:
    """Internal gaps: our LAUNCH cause vs HTA's host-wait rule (rounded to us)."""
    g = attr["gaps"]
    hta = hta_rule(trace, attr["records"], attr["intervals"])
    inner = g["position"] == INTERNAL
    ours = inner & (g["cause"] == GapCause.LAUNCH)
    return {"internal_gaps": int(inner.sum()), "launch_ours": int(ours.sum()),
            "host_wait_hta": int(hta.sum()), "both": int((ours & hta).sum()),
            "ours_only": int((ours & ~hta).sum()), "hta_only": int((hta & ~ours).sum()),
            "launch_ns_ours": int(g["gap_ns"][ours].sum()),
            "host_wait_ns_hta": int(g["gap_ns"][hta].sum()),
            "gaps_under_2us": int((inner & (g["gap_ns"] < 2000)).sum())}


__all__ = ["GapCause", "classify", "hta_rule", "launch_end_of", "histogram", "hta_comparison",
           "GAP_BINS_NS"]
