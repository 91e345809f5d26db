"""Pieces the benchmark scripts share."""
from __future__ import annotations


def shift_event(e: dict, k: int, period_us: float, corr: int, eid: int) -> dict:
    """Copy ``k`` of a Kineto event: ``ts`` moved ``k`` periods later, correlation and
    External ids and flow ids moved ``k`` strides up (so each copy's launches and kernels
    pair up); the caller renames step annotations."""
    e2 = dict(e)
    if "ts" in e2:
        e2["ts"] = round(float(e2["ts"]) + k * period_us, 3)
    a = e2.get("args")
    if a:
        a = dict(a)
        if "correlation" in a:
            a["correlation"] = int(a["correlation"]) + k * corr
        if "External id" in a:
            a["External id"] = int(a["External id"]) + k * eid
        e2["args"] = a
    if e2.get("ph") in ("s", "f") and isinstance(e2.get("id"), int):
        e2["id"] += k * corr
    return e2
