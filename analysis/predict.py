"""``stepscope predict``: a recorded decode step on a GPU you do not have.

For each source trace and mode, and each target GPU of the table (``gpu_table``), the
predicted step (point, and the range over the source's traced steps and the target's
measured or assumed bandwidth and node-cost ranges), its attribution (floor, kernel
inefficiency, launch overhead, other idle), % of floor in both conventions, per-class
kernel time, and the graph speedup where a graph and a non-graph mode of one workload are
given. The model is in ``predict_model`` and docs/predict.md. The host is assumed
unchanged (``host_scale`` scales it)."""
from __future__ import annotations

import itertools

import numpy as np

from . import gpu_table
from . import predict_model as pm
from .gaps import GapCause
from .kernel_classes import KernelClass


def resolve_targets(targets: list[str], table: list[dict] | None, extra: list[dict] | None):
    """The GPU entries looked up (``--gpu-spec`` entries before the table), the table's
    achievable fraction, and the target GPUs' specs: what predict and predict --sweep share."""
    table = table if table is not None else gpu_table.load_table()
    entries = list(extra or []) + table
    frac = gpu_table.achievable_fraction(table)
    return entries, frac, [gpu_table.spec(gpu_table.find(entries, n), frac) for n in targets]


def predict(analyses: list, targets: list[str], host_scale: float = 1.0, table: list[dict] | None = None,
            extra: list[dict] | None = None) -> dict:
    """``analyses``: TraceAnalysis objects; ``targets``: GPU names (table names or aliases);
    ``extra``: entries of ``--gpu-spec`` files, looked up before the table."""
    if host_scale <= 0:
        raise ValueError("--host-scale must be positive.")
    entries, frac, tgt = resolve_targets(targets, table, extra)
    sources = []
    for a in analyses:
        for mode in _modes(a):
            sources.append(_one_source(a, mode, tgt, host_scale, entries, frac))
    return {"host_scale": host_scale, "targets": [t["name"] for t in tgt], "target_specs": tgt,
            "achievable_fraction": frac, "sources": sources, "speedups": _speedups(sources)}


def _modes(a) -> list[str]:
    st = a.get_steps()
    wl = a.trace.meta.get("workload") or {}
    if wl.get("kind") != "decode":
        raise ValueError(f"{a.trace.meta.get('path', 'the trace')} is not a decode trace; predict needs one.")
    return sorted({a.trace.strings[m] for m in st["mode"]})


def source_model(a, mode: str, entries, frac) -> dict:
    """The parts of the model taken from one source trace and mode: its records, the GPU's
    spec, phi, the inefficiency split, trailing gaps, the back-to-back gap and sigma."""
    t = a.trace
    wl = t.meta["workload"]
    src_spec = gpu_table.spec(gpu_table.find(entries, t.meta.get("gpu", {}).get("name", "?")), frac)
    src = pm.source_records(a, mode)
    phi = pm.flops_per_byte(wl)
    split = pm.inefficiency_split(src, src_spec["achievable_bytes_per_s"], src_spec["bf16_dense_flops_per_s"], phi)
    trail = a.get_steps()["trailing_gap_ns"][src["steps"]].astype(np.float64)
    untraced = wl.get("untraced_step_ns") if wl.get("mode") == mode else None
    untraced_ns = float(np.median(untraced)) if untraced else None
    gaps = a.get_gaps()
    queued = gaps["gap_ns"][gaps["cause"] == GapCause.QUEUED]
    graph_gaps = gaps["gap_ns"][gaps["cause"] == GapCause.GRAPH]
    queued_gap_ns = float(np.median(queued)) if len(queued) else float(np.median(graph_gaps)) if len(graph_gaps) else 0.0
    sigma = _fit_sigma(src, src["dur_ns"], trail, queued_gap_ns, untraced_ns)
    return {"spec": src_spec, "src": src, "phi": phi, "split": split, "trail": trail, "untraced_ns": untraced_ns,
            "queued_gap_ns": queued_gap_ns, "sigma": sigma}


def _one_source(a, mode: str, targets: list[dict], host_scale: float, entries, frac) -> dict:
    t = a.trace
    wl = t.meta["workload"]
    sm = source_model(a, mode, entries, frac)
    src_spec, src, phi, split, trail = sm["spec"], sm["src"], sm["phi"], sm["split"], sm["trail"]
    untraced_ns, queued_gap_ns, sigma = sm["untraced_ns"], sm["queued_gap_ns"], sm["sigma"]
    st = a.get_steps()
    sel = src["steps"]
    measured = a.get_summary()["modes"][mode]
    out = {"trace": str(getattr(t, "path", "") or ""), "model": wl.get("model"), "ctx": wl.get("ctx"), "mode": mode,
           "gpu": src_spec["name"], "gpu_nvml_name": t.meta.get("gpu", {}).get("name"),
           "bytes_source": src["bytes_source"], "host_sigma": sigma["sigma"], "host_sigma_note": sigma["note"],
           "queued_gap_ns": queued_gap_ns, "beta_ns_per_byte": {KernelClass(c).name.lower(): float(v)
                                                                for c, v in enumerate(split["beta_ns_per_byte"]) if v},
           "measured": {"untraced_step_ms": untraced_ns / 1e6 if untraced_ns else None,
                        "traced_step_ms": measured["step_ms"], "busy_ms": measured["busy_ms"],
                        "floor_ms": measured["floor_ms"], "floor_all_ms": measured["floor_all_ms"],
                        "pct_floor": measured["pct_floor"], "pct_floor_all": measured["pct_floor_all"],
                        "kernel_inefficiency_ms": measured["kernel_inefficiency_ms"],
                        "launch_overhead_ms": measured["launch_overhead_ms"], "other_idle_ms": measured["other_idle_ms"],
                        "class_ms": _class_ms(src, src["dur_ns"])},
           "model_read_bytes": float(np.median(st["model_read_bytes"][sel])),
           "model_all_bytes": float(np.median(st["model_all_bytes"][sel])), "predictions": []}
    for tg in targets:
        out["predictions"].append(_on_target(src, split, src_spec, tg, phi, trail, queued_gap_ns,
                                             sigma["sigma"] * host_scale, out))
    return out


def _fit_sigma(src, t_ns, trail, queued_gap_ns, untraced_ns) -> dict:
    """The host-time scale that makes the source's own simulated step (median over steps)
    equal its untraced median; 1 when the trace has no untraced steps of this mode."""
    def step(s):
        return float(np.median(pm.simulate(src, t_ns, s, 1.0, queued_gap_ns)["end_ns"] + trail))
    if untraced_ns is None:
        return {"sigma": 1.0, "note": "no untraced steps of this mode: the traced host timeline as recorded"}
    lo, hi = 0.0, 4.0
    if step(lo) >= untraced_ns:
        return {"sigma": 0.0, "note": "the GPU side alone exceeds the untraced step: host time set to 0"}
    if step(hi) <= untraced_ns:
        return {"sigma": hi, "note": "host timeline capped at 4x the traced one"}
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if step(mid) < untraced_ns else (lo, mid)
    return {"sigma": (lo + hi) / 2, "note": "fitted: the source's simulated step equals its untraced median"}


def _class_ms(src, t_ns) -> dict:
    n = max(len(np.unique(src["step_pos"])), 1)
    cls = src["class"]
    return {KernelClass(c).name.lower(): float(t_ns[cls == c].sum() / n / 1e6) for c in np.unique(cls)}


def _on_target(src, split, s, tg, phi, trail, queued_gap_ns, host, out) -> dict:
    same_node = s["graph_node_ns"] is None or tg["graph_node_ns"] is None
    ratios = (1.0,) * 3 if same_node else tuple(tg["graph_node_ns"][i] / s["graph_node_ns"][j]
                                                for i, j in ((0, 0), (1, 2), (2, 1)))
    achs = (tg["achievable_bytes_per_s"], tg["achievable_lo_bytes_per_s"], tg["achievable_hi_bytes_per_s"])
    kt = pm.kernel_times(src, split, s, tg, achs[0], phi)
    sim = pm.simulate(src, kt["t_ns"], host, ratios[0], queued_gap_ns)
    steps_ns = sim["end_ns"] + trail
    k = int(np.argsort(steps_ns)[len(steps_ns) // 2])         # the median step (upper for even counts)
    every = [steps_ns]
    for ach, r in itertools.product(achs, ratios):
        t_ns = pm.kernel_times(src, split, s, tg, ach, phi)["t_ns"]
        every.append(pm.simulate(src, t_ns, host, r, queued_gap_ns)["end_ns"] + trail)
    every = np.concatenate(every)
    step_ns = float(steps_ns[k])
    floor_ns = out["model_read_bytes"] / tg["peak_bytes_per_s"] * 1e9
    floor_all_ns = out["model_all_bytes"] / tg["peak_bytes_per_s"] * 1e9
    busy = float(sim["busy_ns"][k])
    launch = float(sim["launch_ns"][k])
    return {"gpu": tg["name"], "step_ns": int(round(step_ns)), "step_lo_ns": int(round(every.min())),
            "step_hi_ns": int(round(every.max())), "floor_ns": int(round(floor_ns)),
            "floor_all_ns": int(round(floor_all_ns)), "busy_ns": int(round(busy)),
            "kernel_inefficiency_ns": int(round(busy - floor_ns)), "launch_overhead_ns": int(round(launch)),
            "other_idle_ns": int(round(step_ns - busy - launch)),
            "pct_floor": 100 * floor_ns / step_ns, "pct_floor_all": 100 * floor_all_ns / step_ns,
            "memory_ms": float(kt["memory_ns"].sum() / len(steps_ns) / 1e6),
            "carried_inefficiency_ms": float(kt["inefficiency_ns"].sum() / len(steps_ns) / 1e6),
            "compute_bound_kernels": int(kt["compute_bound"].sum() // max(len(steps_ns), 1)),
            "class_ms": _class_ms(src, kt["t_ns"]),
            "achievable_bytes_per_s": achs[0], "achievable_source": tg["achievable_source"],
            "node_gap_ratio": ratios[0], "node_gap_source": "assumed equal to the source's (no calibration of "
            "both GPUs)" if same_node else "calibrated node costs, target / source",
            "same_gpu": tg["name"] == s["name"]}


def _speedups(sources: list[dict]) -> list[dict]:
    """Predicted graph speedup per target: each non-graph mode over the graph mode of the
    same model and ctx (intervals from the two ranges)."""
    out = []
    for g in (x for x in sources if x["mode"] == "graph"):
        for b in (x for x in sources if x["mode"] != "graph" and (x["model"], x["ctx"]) == (g["model"], g["ctx"])):
            meas = b["measured"]["untraced_step_ms"], g["measured"]["untraced_step_ms"]
            row = {"model": g["model"], "ctx": g["ctx"], "base": b["mode"], "base_gpu": b["gpu"], "graph_gpu": g["gpu"],
                   "measured_source": meas[0] / meas[1] if all(meas) else None, "targets": []}
            for pb, pg in zip(b["predictions"], g["predictions"]):
                row["targets"].append({"gpu": pb["gpu"], "speedup": pb["step_ns"] / pg["step_ns"],
                                       "lo": pb["step_lo_ns"] / pg["step_hi_ns"], "hi": pb["step_hi_ns"] / pg["step_lo_ns"]})
            out.append(row)
    return out
