"""Per-step attribution that closes to the nanosecond.

    step_ns = floor_ns + kernel_inefficiency_ns + launch_overhead_ns + other_idle_ns

- step_ns: host step start -> max(host step end, last GPU record of the step);
- floor_ns: modelled bytes (``read`` convention, floor.py) / peak bandwidth; for other
  workloads their ``bytes_per_step`` by construction, else the measured DRAM bytes / peak;
- kernel_inefficiency_ns = busy_ns - floor_ns (negative: busy below the floor, flagged);
- launch_overhead_ns: idle gaps whose cause is LAUNCH (gaps.py);
- other_idle_ns: all other idle (QUEUED, SYNC, COPY, OTHER, GRAPH-internal).
Integers throughout; ``closure_ns`` is their difference from step_ns and is always 0.
"""
from __future__ import annotations

import re

import numpy as np

from . import dram, floor
from .gaps import GapCause, classify
from .intervals import LEADING, TRAILING, gpu_records, step_intervals
from .trace.join import lookup

#: API calls that launch GPU work (kernels, graphs, copies, sets).
_LAUNCH_RE = re.compile(r"Launch|Memcpy|Memset")


def step_positions(trace) -> tuple:
    """Map each GPU record's step index to the step's row position (-1 if none)."""
    st = trace["steps"]
    rec = gpu_records(trace)
    found, pos = lookup(st["index"], np.arange(len(st["index"]), dtype=np.int64), rec.step)
    return rec, np.where(found & (rec.step >= 0), pos, -1).astype(np.int64)


def floors(trace, measured_bytes: np.ndarray, peak: float | None) -> dict:
    """Modelled bytes (both conventions) and floors per step, and where the floor comes from."""
    st = trace["steps"]
    n = len(st["start_ns"])
    wl = trace.meta.get("workload") or {}
    out = {k: np.zeros(n, np.int64) for k in ("floor_ns", "floor_all_ns", "model_all_bytes",
                                              "model_read_bytes")}
    if wl.get("kind") == "decode" and "config" in wl and peak:
        first = int(wl.get("first_traced_position", wl.get("ctx", 0)))
        order = np.argsort(st["index"], kind="stable")
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        positions = wl.get("traced_positions")
        if not positions or len(positions) != n:
            positions = [first + i for i in range(n)]
        for i in range(n):
            b = floor.step_bytes(wl, int(positions[int(rank[i])]))
            out["model_all_bytes"][i], out["model_read_bytes"][i] = b["all_bytes"], b["read_bytes"]
        out["floor_all_ns"] = np.array([floor.floor_ns(b, peak) for b in out["model_all_bytes"]], np.int64)
        out["floor_ns"] = np.array([floor.floor_ns(b, peak) for b in out["model_read_bytes"]], np.int64)
        source = "model"
    elif wl.get("bytes_per_step") and peak:
        out["model_read_bytes"][:] = out["model_all_bytes"][:] = int(wl["bytes_per_step"])
        out["floor_ns"][:] = out["floor_all_ns"][:] = floor.floor_ns(wl["bytes_per_step"], peak)
        source = "workload bytes by construction"
    elif peak and len(trace["pm"]["start_ns"]):
        out["floor_ns"] = np.array([floor.floor_ns(b, peak) for b in measured_bytes], np.int64)
        out["floor_all_ns"] = out["floor_ns"].copy()
        source = "measured DRAM bytes"
    else:
        source = "none (no model, no DRAM counters, or no peak bandwidth)"
    return {**out, "source": source}


def _per_step(values_step: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(values_step, weights=weights, minlength=n).astype(np.int64)


def count_per_step(step_index: np.ndarray, record_step: np.ndarray) -> np.ndarray:
    """How many records carry each step's index (records of no listed step ignored)."""
    n = len(step_index)
    found, pos = lookup(step_index, np.arange(n, dtype=np.int64), record_step)
    return np.bincount(pos[found], minlength=n).astype(np.int64)


def launch_calls_per_step(trace) -> np.ndarray:
    api = trace["api"]
    is_launch_name = np.array([bool(_LAUNCH_RE.search(x)) for x in trace.strings], bool)
    is_launch = is_launch_name[api["name"]] if len(api["name"]) else np.zeros(0, bool)
    return count_per_step(trace["steps"]["index"], api["step"][is_launch])


def attribute(trace) -> dict:
    """Everything per step and per gap, as plain dicts of numpy arrays."""
    st = trace["steps"]
    rec, pos = step_positions(trace)
    iv = step_intervals(st["start_ns"], st["end_ns"], rec.start_ns, rec.end_ns, pos)
    cause = classify(trace, rec, iv)
    n = len(st["start_ns"])
    by_cause = {c: _per_step(iv.gap_step[cause == c], iv.gap_ns[cause == c], n) for c in GapCause}
    idle = iv.step_ns - iv.busy_ns
    pm = trace["pm"]
    rd = dram.bytes_between(pm, iv.lo_ns, iv.hi_ns, "dram_read_bytes")
    wr = dram.bytes_between(pm, iv.lo_ns, iv.hi_ns, "dram_write_bytes")
    peak, peak_source = floor.peak_bandwidth(trace.meta)
    fl = floors(trace, rd + wr, peak)
    launch = by_cause[GapCause.LAUNCH]
    ineff = iv.busy_ns - fl["floor_ns"]
    other = idle - launch
    lead, trail = (iv.gap_position == LEADING), (iv.gap_position == TRAILING)
    kern_step = trace["kernels"]["step"]
    sidx = st["index"]
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = {
            "step": sidx, "mode": st["mode"], "start_ns": iv.lo_ns, "end_ns": iv.hi_ns,
            "step_ns": iv.step_ns, "busy_ns": iv.busy_ns, "idle_ns": idle,
            "floor_ns": fl["floor_ns"], "floor_all_ns": fl["floor_all_ns"],
            "kernel_inefficiency_ns": ineff, "launch_overhead_ns": launch, "other_idle_ns": other,
            "closure_ns": fl["floor_ns"] + ineff + launch + other - iv.step_ns,
            "queued_ns": by_cause[GapCause.QUEUED], "sync_ns": by_cause[GapCause.SYNC],
            "copy_ns": by_cause[GapCause.COPY], "unexplained_ns": by_cause[GapCause.OTHER],
            "graph_internal_ns": by_cause[GapCause.GRAPH],
            "leading_gap_ns": _per_step(iv.gap_step[lead], iv.gap_ns[lead], n),
            "trailing_gap_ns": _per_step(iv.gap_step[trail], iv.gap_ns[trail], n),
            "kernels": count_per_step(sidx, kern_step),
            "launch_calls": launch_calls_per_step(trace),
            "gpu_records": iv.n_records,
            "model_all_bytes": fl["model_all_bytes"], "model_read_bytes": fl["model_read_bytes"],
            "dram_read_bytes": np.round(rd).astype(np.int64),
            "dram_write_bytes": np.round(wr).astype(np.int64),
            "dram_coverage": dram.coverage(pm, iv.lo_ns, iv.hi_ns),
            "dram_bytes_per_s": (rd + wr) / iv.step_ns * 1e9,
            "pct_floor": np.where(iv.step_ns > 0, 100.0 * fl["floor_ns"] / iv.step_ns, np.nan),
            "pct_floor_all": np.where(iv.step_ns > 0, 100.0 * fl["floor_all_ns"] / iv.step_ns, np.nan),
            "busy_below_floor": ineff < 0,
            "sm_clock_mhz": st["sm_clock_mhz"], "mem_clock_mhz": st["mem_clock_mhz"],
            "power_mw": st["power_mw"], "throttle_reasons": st["throttle_reasons"],
            "cupti_buffers_completed": st["cupti_buffers_completed"],
        }
    gaps = {"step": sidx[iv.gap_step] if len(iv.gap_step) else iv.gap_step,
            "start_ns": iv.gap_start_ns, "end_ns": iv.gap_end_ns, "gap_ns": iv.gap_ns,
            "cause": cause, "position": iv.gap_position, "next_record": iv.gap_next}
    return {"steps": steps, "gaps": gaps, "records": rec, "record_pos": pos,
            "peak_bytes_per_s": peak, "peak_source": peak_source, "floor_source": fl["source"],
            "intervals": iv}
