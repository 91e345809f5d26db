"""Per-step attribution that closes to the nanosecond.

    step_ns = floor_ns + kernel_inefficiency_ns + launch_overhead_ns + other_idle_ns

- step_ns: host step start -> max(host step end, last GPU record of the step);
- floor_ns: modelled bytes (``read`` convention, floor.py) / peak bandwidth; for other
  workloads their ``bytes_per_step`` by construction, else the measured DRAM bytes / peak;
- kernel_inefficiency_ns = busy_ns - floor_ns (negative: busy below the floor, flagged);
- launch_overhead_ns: idle gaps whose cause is LAUNCH (gaps.py);
- other_idle_ns: all other idle (QUEUED, SYNC, COPY, OTHER).
Integers throughout; ``closure_ns`` is their difference from step_ns and is always 0.
"""
from __future__ import annotations

import re

import numpy as np

from . import dram, floor
from .gaps import GapCause, classify
from .intervals import LEADING, TRAILING, gpu_records, step_intervals


#: API calls that launch GPU work (kernels, graphs, copies, sets).
_LAUNCH_RE = re.compile(r"Launch|Memcpy|Memset")


def step_positions(trace) -> tuple[np.ndarray, np.ndarray]:
    """Map each GPU record's step index to the step's row position (-1 if none)."""
    st = trace["steps"]
    rec = gpu_records(trace)
    order = np.argsort(st["index"], kind="stable")
    sidx = st["index"][order]
    j = np.clip(np.searchsorted(sidx, rec.step), 0, max(len(sidx) - 1, 0))
    pos = np.where((len(sidx) > 0) & (rec.step >= 0) & (sidx[j] == rec.step) if len(sidx) else False,
                   order[j] if len(sidx) else -1, -1)
    return rec, np.asarray(pos, np.int64)


def attribute(trace) -> dict:
    """Everything per step and per gap, as plain dicts of numpy arrays."""
    st = trace["steps"]
    rec, pos = step_positions(trace)
    iv = step_intervals(st["start_ns"], st["end_ns"], rec.start_ns, rec.end_ns, pos)
    cause = classify(trace, rec, iv)
    n = len(st["start_ns"])
    by_cause = {c: np.bincount(iv.gap_step[cause == c], weights=iv.gap_ns[cause == c],
                               minlength=n).astype(np.int64) for c in GapCause}
    idle = iv.step_ns - iv.busy_ns
    pm = trace["pm"]
    rd = dram.bytes_between(pm, iv.lo_ns, iv.hi_ns, "dram_read_bytes")
    wr = dram.bytes_between(pm, iv.lo_ns, iv.hi_ns, "dram_write_bytes")
    cov = dram.coverage(pm, iv.lo_ns, iv.hi_ns)
    peak, peak_source = floor.peak_bandwidth(trace.meta)
    wl = trace.meta.get("workload") or {}
    f_all = np.zeros(n, np.int64)
    f_read = np.zeros(n, np.int64)
    model_all = np.zeros(n, np.int64)
    model_read = np.zeros(n, np.int64)
    if wl.get("kind") == "decode" and "config" in wl and peak:
        first = int(wl.get("first_traced_position", wl.get("ctx", 0)))
        order = np.argsort(st["index"], kind="stable")
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        for i in range(n):
            b = floor.step_bytes(wl, first + int(rank[i]))
            model_all[i], model_read[i] = b["all_bytes"], b["read_bytes"]
        f_all = np.array([floor.floor_ns(b, peak) for b in model_all], np.int64)
        f_read = np.array([floor.floor_ns(b, peak) for b in model_read], np.int64)
        floor_source = "model"
    elif wl.get("bytes_per_step") and peak:
        model_read[:] = model_all[:] = int(wl["bytes_per_step"])
        f_read[:] = f_all[:] = floor.floor_ns(wl["bytes_per_step"], peak)
        floor_source = "workload bytes by construction"
    elif peak and len(pm["start_ns"]):
        f_read = np.array([floor.floor_ns(b, peak) for b in rd + wr], np.int64)
        f_all = f_read.copy()
        floor_source = "measured DRAM bytes"
    else:
        floor_source = "none (no model, no DRAM counters, or no peak bandwidth)"
    launch = by_cause[GapCause.LAUNCH]
    ineff = iv.busy_ns - f_read
    other = idle - launch
    closure = f_read + ineff + launch + other - iv.step_ns
    lead = np.bincount(iv.gap_step[iv.gap_position == LEADING],
                       weights=iv.gap_ns[iv.gap_position == LEADING], minlength=n).astype(np.int64)
    trail = np.bincount(iv.gap_step[iv.gap_position == TRAILING],
                        weights=iv.gap_ns[iv.gap_position == TRAILING], minlength=n).astype(np.int64)
    api_names = np.array([bool(_LAUNCH_RE.search(x)) for x in trace.strings], bool)
    api = trace["api"]
    is_launch = api_names[api["name"]] if len(api["name"]) else np.zeros(0, bool)
    api_step = api["step"][is_launch]
    kern_step = trace["kernels"]["step"]
    sidx = st["index"]
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = {
            "step": sidx, "mode": st["mode"], "start_ns": iv.lo_ns, "end_ns": iv.hi_ns,
            "step_ns": iv.step_ns, "busy_ns": iv.busy_ns, "idle_ns": idle,
            "floor_ns": f_read, "floor_all_ns": f_all,
            "kernel_inefficiency_ns": ineff, "launch_overhead_ns": launch, "other_idle_ns": other,
            "closure_ns": closure,
            "queued_ns": by_cause[GapCause.QUEUED], "sync_ns": by_cause[GapCause.SYNC],
            "copy_ns": by_cause[GapCause.COPY], "unexplained_ns": by_cause[GapCause.OTHER],
            "leading_gap_ns": lead, "trailing_gap_ns": trail,
            "kernels": np.array([(kern_step == s).sum() for s in sidx], np.int64),
            "launch_calls": np.array([(api_step == s).sum() for s in sidx], np.int64),
            "gpu_records": iv.n_records,
            "model_all_bytes": model_all, "model_read_bytes": model_read,
            "dram_read_bytes": np.round(rd).astype(np.int64),
            "dram_write_bytes": np.round(wr).astype(np.int64),
            "dram_coverage": cov,
            "dram_bytes_per_s": (rd + wr) / iv.step_ns * 1e9,
            "pct_floor": np.where(iv.step_ns > 0, 100.0 * f_read / iv.step_ns, np.nan),
            "pct_floor_all": np.where(iv.step_ns > 0, 100.0 * f_all / iv.step_ns, np.nan),
            "busy_below_floor": ineff < 0,
            "sm_clock_mhz": st["sm_clock_mhz"], "mem_clock_mhz": st["mem_clock_mhz"],
            "power_mw": st["power_mw"], "throttle_reasons": st["throttle_reasons"],
            "cupti_buffers_completed": st["cupti_buffers_completed"],
        }
    gaps = {"step": sidx[iv.gap_step] if len(iv.gap_step) else iv.gap_step,
            "start_ns": iv.gap_start_ns, "end_ns": iv.gap_end_ns, "gap_ns": iv.gap_ns,
            "cause": cause, "position": iv.gap_position, "next_record": iv.gap_next}
    return {"steps": steps, "gaps": gaps, "records": rec, "record_pos": pos,
            "peak_bytes_per_s": peak, "peak_source": peak_source, "floor_source": floor_source,
            "intervals": iv}
