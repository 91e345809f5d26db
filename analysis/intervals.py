"""Interval arithmetic per step, vectorised: busy union and idle gaps.

Records of all GPU tables (kernels, copies, sets) are merged; overlapping records
(several streams) count once. Each step spans [host start, max(host end, last end of
its records)]; every nanosecond of that span is either busy or in exactly one gap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Offsets that keep steps apart in one sorted array; a step must span < 2**42 ns (73 min).
_BIG = np.int64(1) << np.int64(42)


@dataclass
class GpuRecords:
    """All GPU records of a trace, one array each; ``table`` 0 kernel, 1 memcpy, 2 memset."""
    start_ns: np.ndarray
    end_ns: np.ndarray
    step: np.ndarray
    correlation: np.ndarray
    table: np.ndarray
    row: np.ndarray


def gpu_records(trace) -> GpuRecords:
    """Kernels, then copies, then sets, concatenated (the one place they are)."""
    parts = [trace["kernels"], trace["memcpy"], trace["memset"]]

    def cat(c):
        return np.concatenate([p[c] for p in parts])
    return GpuRecords(cat("start_ns"), cat("end_ns"), cat("step"), cat("correlation"),
                      np.concatenate([np.full(len(p["start_ns"]), i, np.int64) for i, p in enumerate(parts)]),
                      np.concatenate([np.arange(len(p["start_ns"]), dtype=np.int64) for p in parts]))


@dataclass
class StepIntervals:
    """Per step (arrays of length n_steps) and per gap (arrays of length n_gaps)."""
    lo_ns: np.ndarray
    hi_ns: np.ndarray
    busy_ns: np.ndarray
    n_records: np.ndarray
    gap_step: np.ndarray       # index into the steps arrays (position, not step index)
    gap_start_ns: np.ndarray
    gap_end_ns: np.ndarray
    gap_next: np.ndarray       # index into GpuRecords of the record ending the gap; -1 trailing
    gap_position: np.ndarray   # 0 leading, 1 internal, 2 trailing

    @property
    def step_ns(self) -> np.ndarray:
        return self.hi_ns - self.lo_ns

    @property
    def gap_ns(self) -> np.ndarray:
        return self.gap_end_ns - self.gap_start_ns


LEADING, INTERNAL, TRAILING = 0, 1, 2


def step_intervals(step_start_ns, step_end_ns, rec_start_ns, rec_end_ns, rec_pos) -> StepIntervals:
    """``rec_pos``: each record's step *position* (0..n_steps-1), or -1 to ignore it."""
    step_start_ns = np.asarray(step_start_ns, np.int64)
    n = len(step_start_ns)
    # Memory: every temporary below is one array of the kept records, computed in place
    # where it can be and dropped as soon as it is used (2000 steps: 3M records).
    idx = np.flatnonzero(rec_pos >= 0)
    g = rec_pos[idx]
    lo = step_start_ns
    lo_g = lo[g]
    # A record may not start before its step (it was launched inside the window).
    s = rec_start_ns[idx]
    np.maximum(s, lo_g, out=s)
    s -= lo_g
    e = rec_end_ns[idx]
    np.maximum(e, lo_g, out=e)
    e -= lo_g
    del lo_g
    hi = np.asarray(step_end_ns, np.int64).copy()
    if len(g) and (e.max() >= _BIG or (hi - lo).max() >= _BIG):
        raise ValueError("a step spans more than 2**42 ns; cannot analyse it")
    key_s = g * _BIG
    key_s += s
    del s
    key_e = g * _BIG
    key_e += e
    del e
    order = np.lexsort((key_e, key_s))
    key_s = key_s[order]
    key_e = key_e[order]
    g = g[order]
    idx = idx[order]
    del order
    if len(g):   # each step ends no earlier than its last record (records are grouped by step now)
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        gs = g[starts]
        hi[gs] = np.maximum(hi[gs], np.maximum.reduceat(key_e, starts) - gs * _BIG + lo[gs])
        del starts, gs
    run_end = np.maximum.accumulate(key_e) if len(key_e) else key_e
    new = np.ones(len(key_s), bool)
    new[1:] = (key_s[1:] > run_end[:-1]) | (g[1:] != g[:-1])
    first = np.nonzero(new)[0]
    last = np.r_[first[1:] - 1, len(key_s) - 1] if len(first) else first
    seg_g = g[first]
    seg_s = key_s[first] - seg_g * _BIG + lo[seg_g]
    seg_e = run_end[last] - seg_g * _BIG + lo[seg_g]
    del key_s, key_e, run_end, new, last
    busy = np.bincount(seg_g, weights=(seg_e - seg_s), minlength=n).astype(np.int64)
    counts = np.bincount(g, minlength=n).astype(np.int64)

    # Gaps: leading (step start -> first segment), internal, trailing (last segment -> hi).
    seg_first = np.ones(len(seg_g), bool)
    seg_first[1:] = seg_g[1:] != seg_g[:-1]
    seg_last = np.ones(len(seg_g), bool)
    seg_last[:-1] = seg_g[1:] != seg_g[:-1]
    lead = (seg_g[seg_first], lo[seg_g[seg_first]], seg_s[seg_first], idx[first[seg_first]],
            np.full(seg_first.sum(), LEADING))
    inner_m = ~seg_first
    # An internal gap runs from the previous segment's end to this segment's start.
    inner = (seg_g[inner_m], seg_e[:-1][inner_m[1:]], seg_s[inner_m],
             idx[first[inner_m]], np.full(inner_m.sum(), INTERNAL))
    trail = (seg_g[seg_last], seg_e[seg_last], hi[seg_g[seg_last]],
             np.full(seg_last.sum(), -1), np.full(seg_last.sum(), TRAILING))
    empty = np.setdiff1d(np.arange(n), seg_g)  # steps with no GPU record: one gap, all idle
    none = (empty, lo[empty], hi[empty], np.full(len(empty), -1), np.full(len(empty), TRAILING))
    parts = [np.concatenate(x).astype(np.int64, copy=False) for x in zip(lead, inner, trail, none)]
    del lead, inner, trail, none, seg_s, seg_e, first
    gs, g0, g1, gn, gp = parts
    del parts
    order = np.lexsort((gp, g0, gs))
    gs, g0, g1, gn, gp = (a[order] for a in (gs, g0, g1, gn, gp))
    nonzero = g1 > g0
    return StepIntervals(lo, hi, busy, counts, gs[nonzero], g0[nonzero], g1[nonzero],
                         gn[nonzero], gp[nonzero])
