"""DRAM bytes over any interval, from PM samples (piecewise-constant rate per sample).

Bytes in [a, b] = C(b) - C(a), with C the cumulative bytes, linear inside each sample
and flat between samples. Exact for intervals aligned to samples; otherwise it
assumes a constant rate inside a sample (20 us by default).
"""
from __future__ import annotations

import numpy as np


def valid(pm: dict) -> np.ndarray:
    """Samples with a real interval. CUPTI reports the first sample of a decode with a
    start timestamp of 0; such samples are ignored (they carry a few KB at most)."""
    return (pm["start_ns"] > 0) & (pm["end_ns"] > pm["start_ns"])


def cumulative(pm: dict, column: str):
    ok = valid(pm)
    s, e, b = pm["start_ns"][ok], pm["end_ns"][ok], pm[column][ok].astype(np.float64)
    order = np.argsort(s, kind="stable")
    s, e, b = s[order], e[order], b[order]
    xs = np.empty(2 * len(s), np.float64)
    ys = np.empty(2 * len(s), np.float64)
    csum = np.concatenate([[0.0], np.cumsum(b)])
    xs[0::2], xs[1::2] = s, e
    ys[0::2], ys[1::2] = csum[:-1], csum[1:]
    return xs, ys


def bytes_between(pm: dict, start_ns, end_ns, column: str) -> np.ndarray:
    """Bytes of ``column`` moved in each [start, end]; zeros when there are no samples."""
    start_ns, end_ns = np.asarray(start_ns), np.asarray(end_ns)
    if not valid(pm).any():
        return np.zeros(len(start_ns))
    xs, ys = cumulative(pm, column)
    # Times as offsets from the first sample keep float64 exact to the nanosecond.
    t0 = xs[0]
    return (np.interp(end_ns - t0, xs - t0, ys) - np.interp(start_ns - t0, xs - t0, ys))


def coverage(pm: dict, start_ns, end_ns) -> np.ndarray:
    """Fraction of each interval that PM samples cover (1.0 = fully sampled)."""
    start_ns, end_ns = np.asarray(start_ns), np.asarray(end_ns)
    if not valid(pm).any():
        return np.zeros(len(start_ns))
    ones = {"start_ns": pm["start_ns"], "end_ns": pm["end_ns"],
            "d": (pm["end_ns"] - pm["start_ns"])}
    covered = bytes_between(ones, start_ns, end_ns, "d")
    return covered / np.maximum(end_ns - start_ns, 1)


def summary(trace, steps: dict) -> dict:
    """The capture's DRAM status and the per-step DRAM figures."""
    pm = trace["pm"]
    cap = trace.meta.get("capture", {})
    return {"samples": int(len(pm["start_ns"])), "status": cap.get("dram_status", "unknown"),
            "interval_ns": cap.get("dram_interval_ns"),
            "read_bytes_per_step": steps["dram_read_bytes"], "write_bytes_per_step": steps["dram_write_bytes"],
            "coverage": steps["dram_coverage"], "bytes_per_s": steps["dram_bytes_per_s"]}
