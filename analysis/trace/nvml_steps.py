"""Per-step NVML values from the background samples (the ``nvml`` table).

The samples are piecewise constant: sample i holds from its ``t_ns`` to the next sample's.
For a step [start, end]: clocks and temperature are the median of the values holding in
the window (the sample holding at ``start`` and every sample inside it); ``throttle_reasons``
is the OR of those read (-1 when none was); ``power_mw`` the time-weighted mean and ``energy_mj`` the integral of
power over the window (mW x ns / 1e9 = mJ). A step before the first sample gets -1.
"""
from __future__ import annotations

import numpy as np

HELD = ("sm_clock_mhz", "mem_clock_mhz", "temperature_c")


def combine_reasons(masks) -> int:
    """The OR of the throttle-reason masks that were read (-1: not read, e.g. the query
    failed or no NVML); -1 when none was, so an unread window reads "unknown", not "no
    throttling" (the steps' column here, and a mode's steps in the summary)."""
    read = np.asarray(masks)
    read = read[read >= 0]
    return int(np.bitwise_or.reduce(read)) if len(read) else -1


def power_integral_mj(nvml: dict, start_ns, end_ns) -> np.ndarray:
    """Energy in mJ over each [start, end] from the piecewise-constant power samples."""
    t, p = nvml["t_ns"], nvml["power_mw"].astype(np.float64)
    start_ns, end_ns = np.asarray(start_ns), np.asarray(end_ns)
    if len(t) < 1:
        return np.full(len(start_ns), -1.0)
    t0 = t[0]
    x = (t - t0).astype(np.float64)
    cum = np.concatenate([[0.0], np.cumsum(p[:-1] * np.diff(x))])   # mW x ns at each sample

    def at(ts):
        rel = np.clip((ts - t0).astype(np.float64), 0, None)
        i = np.clip(np.searchsorted(x, rel, side="right") - 1, 0, len(x) - 1)
        return cum[i] + p[i] * (rel - x[i])
    return (at(end_ns) - at(start_ns)) / 1e9


def per_step(nvml: dict, start_ns, end_ns) -> dict[str, np.ndarray]:
    """The ``steps`` table's NVML columns for windows [start_ns, end_ns]."""
    start_ns, end_ns = np.asarray(start_ns, np.int64), np.asarray(end_ns, np.int64)
    n = len(start_ns)
    out = {c: np.full(n, -1, np.int64) for c in HELD + ("power_mw", "energy_mj", "throttle_reasons")}
    t = nvml["t_ns"]
    if not len(t):
        return out
    first = np.searchsorted(t, start_ns, side="right") - 1      # the sample holding at start
    last = np.searchsorted(t, end_ns, side="right") - 1         # the last one inside
    ok = last >= 0
    for i in np.nonzero(ok)[0]:
        sel = slice(max(first[i], 0), last[i] + 1)
        for c in HELD:
            out[c][i] = int(np.median(nvml[c][sel]))
        out["throttle_reasons"][i] = combine_reasons(nvml["throttle_reasons"][sel])
    dur = np.maximum(end_ns - start_ns, 1)
    e = power_integral_mj(nvml, start_ns, end_ns)
    out["energy_mj"] = np.where(ok, np.round(e), -1).astype(np.int64)
    out["power_mw"] = np.where(ok, np.round(e * 1e9 / dur), -1).astype(np.int64)
    return out
