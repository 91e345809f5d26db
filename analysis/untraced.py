"""The untraced-equivalent attribution: the traced step's parts, with the idle the tracer
added taken out, so that they sum to the untraced median step.

The tracer lengthens host time (each launch costs more under CUPTI), so the GPU waits for
the CPU longer in a traced step than in an untraced one: the traced attribution inflates
exactly the launch overhead it exists to measure. What the tracer does not change is the
bytes a step reads (the floor). So, medians over the traced steps of one mode:

    busy        = traced busy median (floor + kernel inefficiency, from the traced records)
    idle        = untraced median step - busy
    launch_eq   = idle x L / (L + O)       L, O: the traced launch-overhead and other-idle medians
    other_eq    = idle - launch_eq

and the four parts (floor, busy - floor, launch_eq, other_eq) sum to the untraced median
exactly, in integer ns (other_eq takes the rounding). When the traced busy median alone
exceeds the untraced median (the tracer lengthened the kernels themselves, as per-kernel
records do inside a CUDA-graph replay), no idle is left: busy is scaled down to the
untraced median (the floor kept, kernel inefficiency shrunk, no idle) and the method
says so.

Interval: a percentile bootstrap of the launch overhead and its share, resampling the
interleaved rounds of the capture (each round's untraced block with its traced steps)
when there are at least three, else the untraced and the traced steps independently.
numpy only.
"""
from __future__ import annotations

import numpy as np

METHOD_IDLE = ("floor and kernel inefficiency: traced medians; launch overhead and other idle: their traced "
               "medians scaled to fill untraced median - traced busy median")
METHOD_BUSY = ("traced busy median > untraced median: the tracer lengthened the kernels; busy scaled to the "
               "untraced median, no idle left")
N_RESAMPLES = 2000


def _parts(busy: float, floor: float, launch: float, other: float, untraced: float) -> tuple[int, int, int, int]:
    """(floor, kernel inefficiency, launch overhead, other idle), integer ns summing to
    round(untraced)."""
    u, b, f = int(round(untraced)), int(round(busy)), int(round(floor))
    idle = u - b
    if idle >= 0:
        lo = int(round(idle * launch / (launch + other))) if launch + other > 0 else 0
        return f, b - f, lo, idle - lo
    f2 = min(f, u)
    return f2, u - f2, 0, 0


def _rounds(n: int, rounds: int) -> np.ndarray:
    """Round index of each of n consecutive items split as the protocol splits them
    (n // rounds each, the first n % rounds rounds one more)."""
    sizes = [n // rounds + (r < n % rounds) for r in range(rounds)]
    return np.repeat(np.arange(rounds), sizes)


def equivalent(busy_ns, floor_ns, launch_ns, other_ns, untraced_ns, rounds: int = 1, seed: int = 0,
               n_resamples: int = N_RESAMPLES) -> dict | None:
    """The untraced-equivalent attribution (module docstring) of one mode's traced steps
    (per-step arrays, in capture order) and its untraced step times (capture order);
    ``rounds``: the capture's interleaved rounds. None without untraced steps."""
    busy, floor, launch, other = (np.asarray(x, float) for x in (busy_ns, floor_ns, launch_ns, other_ns))
    un = np.asarray(untraced_ns if untraced_ns is not None else [], float)
    if not len(un) or not len(busy):
        return None
    med = np.median
    f, k, lo, o = _parts(med(busy), med(floor), med(launch), med(other), med(un))
    total = f + k + lo + o
    out = {"untraced_step_ms": total / 1e6, "floor_ms": f / 1e6, "kernel_inefficiency_ms": k / 1e6,
           "launch_overhead_ms": lo / 1e6, "other_idle_ms": o / 1e6,
           "launch_share": lo / total if total else 0.0,
           "sum_ns": total, "untraced_median_ns": int(round(med(un))),
           "method": METHOD_IDLE if med(busy) <= med(un) else METHOD_BUSY}
    rng = np.random.default_rng(seed)
    use_rounds = rounds >= 3 and len(busy) >= rounds and len(un) >= rounds
    if use_rounds:
        rt, ru = _rounds(len(busy), rounds), _rounds(len(un), rounds)
        traced_by = [np.flatnonzero(rt == r) for r in range(rounds)]
        un_by = [np.flatnonzero(ru == r) for r in range(rounds)]
    draws = np.empty((n_resamples, 2))
    for i in range(n_resamples):
        if use_rounds:
            pick = rng.integers(0, rounds, rounds)
            ti = np.concatenate([traced_by[r] for r in pick])
            ui = np.concatenate([un_by[r] for r in pick])
        else:
            ti = rng.integers(0, len(busy), len(busy))
            ui = rng.integers(0, len(un), len(un))
        parts = _parts(med(busy[ti]), med(floor[ti]), med(launch[ti]), med(other[ti]), med(un[ui]))
        s = sum(parts)
        draws[i] = parts[2], parts[2] / s if s else 0.0
    lo_ci = np.percentile(draws, [2.5, 97.5], axis=0)
    out["launch_overhead_ci95_ms"] = [float(lo_ci[0, 0]) / 1e6, float(lo_ci[1, 0]) / 1e6]
    out["launch_share_ci95"] = [float(lo_ci[0, 1]), float(lo_ci[1, 1])]
    out["interval"] = ("bootstrap over " + (f"{rounds} interleaved rounds" if use_rounds else
                                            f"{len(busy)} traced and {len(un)} untraced steps"))
    return out
