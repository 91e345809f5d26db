"""The per-mode summary of one trace: medians over steps, the figures `stepscope report`
prints, and the achievable floor from a calibration."""
from __future__ import annotations

import numpy as np

from .throttle import throttle_names
from .trace.nvml_steps import combine_reasons
from .untraced import equivalent


def achievable(calibration: dict | None, meta: dict, model_bytes: float, step_ns: float) -> dict:
    """The floor at the calibrated achievable bandwidth (a `stepscope calibrate` result of
    the same GPU)."""
    if not calibration or not model_bytes:
        return {"achievable_floor_ms": None, "pct_achievable_floor": None}
    gpu = meta.get("gpu", {})
    if calibration.get("gpu", {}).get("name") != gpu.get("name"):
        raise ValueError(f"the calibration is of a {calibration.get('gpu', {}).get('name')}, the trace "
                         f"of a {gpu.get('name')}.")
    f_ms = model_bytes / calibration["achievable_bytes_per_s"] * 1e3
    return {"achievable_floor_ms": f_ms, "pct_achievable_floor": 100 * f_ms / (step_ns / 1e6),
            "achievable_bytes_per_s": calibration["achievable_bytes_per_s"]}


#: Perturbation targets of traced vs untraced step time, by mode (issue #16).
PERTURBATION_TARGET_PCT = {"graph": 3.0}
PERTURBATION_TARGET_DEFAULT_PCT = 2.0


def perturbation(meta: dict) -> dict | None:
    """The trace's own measured perturbation (``meta["perturbation"]``, from interleaved
    traced and untraced steps in the capturing process) and its target; None if absent."""
    p = meta.get("perturbation")
    if not p:
        return None
    mode = (meta.get("workload") or {}).get("mode", "")
    target = PERTURBATION_TARGET_PCT.get(mode, PERTURBATION_TARGET_DEFAULT_PCT)
    return {**p, "target_pct": target, "over_target": p["pct"] > target}


def summarize(trace, attr: dict, calibration: dict | None = None) -> dict:
    """Medians over steps, per mode label."""
    s = attr["steps"]
    t = trace
    wl = t.meta.get("workload", {})
    out = {"gpu": t.meta.get("gpu", {}).get("name"), "model": wl.get("model"),
           "ctx": wl.get("ctx"), "peak_bytes_per_s": attr["peak_bytes_per_s"],
           "peak_source": attr["peak_source"], "floor_source": attr["floor_source"],
           "capture": {k: t.meta.get("capture", {}).get(k) for k in
                       ("dropped_records", "dram_status", "pm_overflows",
                        "kernels_without_launch_call", "kernels_assigned_by_time")}
           | {"kernel_records": t.meta.get("capture", {}).get("kernel_records", "concurrent")},
           "perturbation": perturbation(t.meta),
           "modes": {}}
    cost = t.meta.get("record", {}).get("tracer_cost")
    if cost:    # `record --repeat` (analysis/record_cost.py)
        out["record_cost"] = cost
    modes = s["mode"]
    for mid in np.unique(modes):
        out["modes"][t.strings[mid]] = _mode(t, s, modes == mid, wl, calibration)
    return out


def _mode(t, s: dict, m: np.ndarray, wl: dict, calibration) -> dict:
    def med(a):
        return float(np.median(a[m]))
    mode = t.strings[s["mode"][m][0]]
    untraced = wl.get("untraced_step_ns") if wl.get("mode") == mode else None
    thr = combine_reasons(s["throttle_reasons"][m])
    return {
        "steps": int(m.sum()),
        "step_ms": med(s["step_ns"]) / 1e6,
        "step_ms_min": float(s["step_ns"][m].min()) / 1e6,
        "step_ms_max": float(s["step_ns"][m].max()) / 1e6,
        "untraced_step_ms": float(np.median(untraced)) / 1e6 if untraced else None,
        "untraced_steps": len(untraced) if untraced else 0,
        "kernels": med(s["kernels"]), "launch_calls": med(s["launch_calls"]),
        "busy_ms": med(s["busy_ns"]) / 1e6, "idle_ms": med(s["idle_ns"]) / 1e6,
        "floor_ms": med(s["floor_ns"]) / 1e6, "floor_all_ms": med(s["floor_all_ns"]) / 1e6,
        "kernel_inefficiency_ms": med(s["kernel_inefficiency_ns"]) / 1e6,
        "launch_overhead_ms": med(s["launch_overhead_ns"]) / 1e6,
        "other_idle_ms": med(s["other_idle_ns"]) / 1e6,
        "pct_floor": med(s["pct_floor"]), "pct_floor_all": med(s["pct_floor_all"]),
        "dram_gb": med(s["dram_read_bytes"] + s["dram_write_bytes"]) / 1e9,
        "dram_gb_per_s": med(s["dram_bytes_per_s"]) / 1e9,
        "model_gb": med(s["model_read_bytes"]) / 1e9,
        "model_all_gb": med(s["model_all_bytes"]) / 1e9,
        "closure_max_abs_ns": int(np.abs(s["closure_ns"][m]).max()),
        **achievable(calibration, t.meta, med(s["model_read_bytes"]), med(s["step_ns"])),
        "busy_below_floor_steps": int(s["busy_below_floor"][m].sum()),
        "sm_clock_mhz": med(s["sm_clock_mhz"]), "mem_clock_mhz": med(s["mem_clock_mhz"]),
        "throttle_reasons": throttle_names(thr),
        "untraced_equivalent": equivalent(s["busy_ns"][m], s["floor_ns"][m], s["launch_overhead_ns"][m],
                                          s["other_idle_ns"][m], untraced,
                                          rounds=int((t.meta.get("perturbation") or {}).get("rounds", 1))),
        "graph_level": graph_level(t.meta.get("graph_level_block"), untraced) if mode == "graph" else None,
    }


def graph_level(block: dict | None, untraced) -> dict | None:
    """Medians of a graph arm's graph-level block (``meta["graph_level_block"]``: the same
    process's interleaved rounds traced with one record per replay, which leaves the
    replay's length alone where per-kernel records lengthen it), its perturbation and its
    untraced-equivalent attribution; None without one."""
    if not block:
        return None
    st = {k: np.asarray(v, float) for k, v in block["steps"].items()}
    if not len(st["step_ns"]):
        return None
    med = {k: float(np.median(v)) / 1e6 for k, v in st.items() if k.endswith("_ns")}
    p = block.get("perturbation") or {}
    return {"steps": len(st["step_ns"]), "step_ms": med["step_ns"], "busy_ms": med["busy_ns"],
            "idle_ms": med["idle_ns"], "floor_ms": med["floor_ns"],
            "kernel_inefficiency_ms": float(np.median(st["busy_ns"] - st["floor_ns"])) / 1e6,
            "launch_overhead_ms": med["launch_overhead_ns"], "other_idle_ms": med["other_idle_ns"],
            "perturbation_pct": p.get("pct"), "perturbation_ci95_pct": p.get("ci95_pct"),
            "untraced_equivalent": equivalent(st["busy_ns"], st["floor_ns"], st["launch_overhead_ns"],
                                              st["other_idle_ns"], untraced, rounds=int(p.get("rounds", 1)))}
