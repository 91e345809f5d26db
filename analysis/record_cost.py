"""What the tracer cost a program run by `stepscope record` (issue 27 item 5).

`stepscope trace` interleaves untraced steps with traced ones in one process; a user's
program cannot be cut that way. So `record --repeat N` runs the same program N more times,
each in a fresh process, under a timing-only tracer: CUPTI records of memory copies only
(no kernel, API, DRAM, NVML or host records; a few records per decode step). The traced
run and the timing runs are then compared on the same clock points:

- **per decode step**: a decode step ends when the host reads its token back, a
  device-to-host copy outside any CUDA graph (the copy that detection cuts the steps at).
  The n-th such copy from the end of the traced run is the n-th from the end of each timing
  run (the program is the same and its decode steps come last; a run may read back more or
  less before them, e.g. torch.compile's autotuning in a first process; a run without all
  the read-backs of the decode steps is left out of the per-step figure and said so; runs
  with equal counts are matched in order). Step i's time is the interval from the end of
  the copy that ended step i-1 to the end of the copy that ended step i, in both runs, so it holds everything the user
  waits for between two tokens (host and GPU). Figure: median traced interval over median
  untraced interval - 1 (untraced: per step, the median over the timing runs), with a
  bootstrap over steps (pairs of traced and untraced intervals of the same step).
- **decode span**: the sum of those intervals, traced over untraced (median over runs).
- **end to end**: the program's run, first line to last, traced over untraced (median over
  runs); it holds model building and everything else outside the decode steps.

Imports numpy only.
"""
from __future__ import annotations

import numpy as np

from .trace.model import Trace

DTOH = 2                 # CUPTI memcpy kind: device to host
N_RESAMPLES = 2000
#: The per-step targets of the built-in workloads (analysis/summary.py): 3% for
#: CUDA-graph replays, 2% otherwise.
TARGET_GRAPH_PCT, TARGET_PCT = 3.0, 2.0


def readback_ends(trace: Trace) -> np.ndarray:
    """End times (ns) of the device-to-host copies outside CUDA graphs, in start order."""
    m = trace["memcpy"]
    keep = (m["copy_kind"] == DTOH) & (m["graph_id"] <= 0)
    order = np.argsort(m["start_ns"][keep], kind="stable")
    return m["end_ns"][keep][order].astype(np.int64)


def step_anchors(trace: Trace) -> tuple[np.ndarray, np.ndarray] | None:
    """Pairs of read-back copies (indices into ``readback_ends``' order) that bound each
    comparable decode step: the last device-to-host copy starting inside step i-1 and the
    last inside step i, for consecutive decode steps (warm-up left out) that both hold one
    and are as many read-backs apart as most steps are (a step cut elsewhere, e.g. the
    last step of a torch.compile generate, is left out). None when fewer than one pair."""
    st = trace["steps"]
    decode = np.array([trace.strings[m] == "decode" for m in st["mode"]], bool)
    order = np.argsort(st["start_ns"][decode], kind="stable")
    s, e = st["start_ns"][decode][order], st["end_ns"][decode][order]
    m = trace["memcpy"]
    keep = (m["copy_kind"] == DTOH) & (m["graph_id"] <= 0)
    starts = np.sort(m["start_ns"][keep], kind="stable")
    last = np.searchsorted(starts, e, side="left") - 1     # last read-back starting before the step's end
    has = (last >= 0) & (starts[np.maximum(last, 0)] >= s) if len(starts) else np.zeros(len(s), bool)
    both = has[:-1] & has[1:]
    if not both.any():
        return None
    prev, cur = last[:-1][both], last[1:][both]
    apart = cur - prev
    values, counts = np.unique(apart, return_counts=True)
    usual = values[np.argmax(counts)]
    ok = apart == usual
    return prev[ok], cur[ok]


def _pct(a: float, b: float) -> float:
    return 100.0 * (a / b - 1.0) if b else float("nan")


def tracer_cost(traced: Trace, timing: list[Trace], graph: bool = False, seed: int = 0,
                n_resamples: int = N_RESAMPLES) -> dict:
    """The comparison of the module docstring; ``timing``: the timing runs' traces (each
    with ``meta.record``); ``graph``: the steps are CUDA-graph replays (the 3% target)."""
    rec = traced.meta.get("record", {})
    target = TARGET_GRAPH_PCT if graph else TARGET_PCT
    out: dict = {"repeat_runs": len(timing), "target_pct": target,
                 "exit_codes": [int(t.meta.get("record", {}).get("exit_code", -1)) for t in timing]}
    wall = [t.meta["record"]["end_ns"] - t.meta["record"]["start_ns"] for t in timing if "record" in t.meta]
    traced_wall = rec.get("end_ns", 0) - rec.get("start_ns", 0)
    out["end_to_end"] = ({"traced_ns": int(traced_wall), "untraced_ns": [int(w) for w in wall],
                          "pct": _pct(traced_wall, float(np.median(wall)))} if wall and traced_wall > 0 else None)
    pairs = step_anchors(traced)
    if pairs is None:
        out["per_step"] = None
        out["why_not_per_step"] = "no two consecutive decode steps each end with a device-to-host copy"
        return out
    ref = readback_ends(traced)
    runs = [readback_ends(t) for t in timing]
    prev, cur = pairs
    # Read-backs are matched from the end of the run: the decode steps come last, and a run
    # may read back more or less before them (torch.compile's first run autotunes, a later
    # process finds its cache). A run is compared when it holds every read-back the decode
    # steps use, counted from the end.
    need = len(ref) - int(prev.min())
    same = [r if len(r) == len(ref) else
            r[len(r) - len(ref):] if len(r) > len(ref) else np.concatenate([np.zeros(len(ref) - len(r), np.int64), r])
            for r in runs if len(r) >= need]
    out["matched"] = "in order" if all(len(r) == len(ref) for r in runs) else "from the end"
    out["runs_compared"] = len(same)
    out["readbacks_per_run"] = [int(len(r)) for r in runs]
    out["readbacks_traced"] = int(len(ref))
    out["readbacks_matched_from_end"] = int(need)
    if not same:
        out["per_step"] = None
        out["why_not_per_step"] = (f"no timing run read back the {need} tokens of the traced run's decode steps "
                                   f"({len(ref)} device-to-host copies in the traced run; in the timing runs "
                                   f"{', '.join(str(len(r)) for r in runs) or 'none'})")
        return out
    out["steps_left_out"] = int((traced["steps"]["mode"] == traced.strings.index("decode")).sum() - 1 - len(cur))
    t_int = ref[cur] - ref[prev]
    u_all = np.stack([r[cur] - r[prev] for r in same])
    u_int = np.median(u_all, axis=0)
    out["per_step"] = per_step(t_int, u_int, target, seed, n_resamples)
    out["per_step"]["untraced_run_medians_ns"] = [int(round(float(x))) for x in np.median(u_all, axis=1)]
    span_u = float(np.median(u_all.sum(axis=1)))
    out["decode_span"] = {"traced_ns": int(t_int.sum()), "untraced_ns": [int(x) for x in u_all.sum(axis=1)],
                          "pct": _pct(float(t_int.sum()), span_u)}
    return out


def per_step(traced_ns, untraced_ns, target_pct: float, seed: int = 0, n_resamples: int = N_RESAMPLES) -> dict:
    """Median traced over median untraced step interval - 1 (%), with a 95% bootstrap over
    steps (paired: step i of both runs is drawn together)."""
    t, u = np.asarray(traced_ns, float), np.asarray(untraced_ns, float)
    pct = _pct(float(np.median(t)), float(np.median(u)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(t), (n_resamples, len(t)))
    draws = 100.0 * (np.median(t[idx], axis=1) / np.median(u[idx], axis=1) - 1.0)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"pct": pct, "ci95_pct": [float(lo), float(hi)], "steps": int(len(t)),
            "traced_median_ns": int(round(float(np.median(t)))), "untraced_median_ns": int(round(float(np.median(u)))),
            "target_pct": target_pct, "over_target": bool(pct > target_pct),
            "interval": f"bootstrap over {len(t)} steps"}


__all__ = ["readback_ends", "step_anchors", "tracer_cost", "per_step"]
