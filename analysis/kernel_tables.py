"""Per-class and per-kernel tables of one trace: time, share of busy, DRAM bytes, GB/s."""
from __future__ import annotations

import numpy as np

from . import dram
from .kernel_classes import KernelClass, classify_names, record_classes, short_name


def record_table(trace, rec) -> dict:
    """Every GPU record (``intervals.GpuRecords`` order): class, duration, step and the
    DRAM bytes of its interval; ``kernel_*``: the kernel rows alone."""
    cls = record_classes(trace, rec)
    rd = dram.bytes_between(trace["pm"], rec.start_ns, rec.end_ns, "dram_read_bytes")
    wr = dram.bytes_between(trace["pm"], rec.start_ns, rec.end_ns, "dram_write_bytes")
    nk = trace.n("kernels")
    return {"class": cls, "dur_ns": rec.end_ns - rec.start_ns, "step": rec.step, "read": rd,
            "write": wr, "kernel_class": cls[:nk], "kernel_dur_ns": (rec.end_ns - rec.start_ns)[:nk],
            "kernel_read": rd[:nk], "kernel_write": wr[:nk]}


def per_class(table: dict, n_steps: int, busy_ns: int) -> dict:
    """Per class over all steps: count per step, time, share of busy, DRAM, GB/s."""
    m = table["step"] >= 0
    n_steps, busy = max(n_steps, 1), max(int(busy_ns), 1)
    cls, dur = table["class"][m], table["dur_ns"][m]
    byt = table["read"][m] + table["write"][m]
    out = {"class": [], "count_per_step": [], "time_ns_per_step": [], "share_of_busy": [],
           "dram_bytes_per_step": [], "bytes_per_s": []}
    for c in KernelClass:
        sel = cls == c
        if not sel.any():
            continue
        t_ns = int(dur[sel].sum())
        b = float(byt[sel].sum())
        out["class"].append(c.name.lower())
        out["count_per_step"].append(sel.sum() / n_steps)
        out["time_ns_per_step"].append(t_ns / n_steps)
        out["share_of_busy"].append(t_ns / busy)
        out["dram_bytes_per_step"].append(b / n_steps)
        out["bytes_per_s"].append(b / t_ns * 1e9 if t_ns else 0.0)
    return {k: np.asarray(v) for k, v in out.items()}


def top_kernels(trace, table: dict, busy_ns: int, n: int = 10) -> dict:
    """The ``n`` kernels (by name) with the most time over all steps."""
    k = trace["kernels"]
    m = k["step"] >= 0
    names, dur = k["name"][m], table["kernel_dur_ns"][m]
    byt = (table["kernel_read"] + table["kernel_write"])[m]
    uniq, inv = np.unique(names, return_inverse=True)
    tot = np.bincount(inv, weights=dur)
    cnt = np.bincount(inv)
    bb = np.bincount(inv, weights=byt)
    order = np.argsort(-tot)[:n]
    n_steps = max(len(trace["steps"]["index"]), 1)
    busy = max(int(busy_ns), 1)
    return {"name": [short_name(trace.strings[uniq[i]]) for i in order],
            "class": [KernelClass(classify_names(trace.strings, uniq[i:i + 1])[0]).name.lower() for i in order],
            "count_per_step": cnt[order] / n_steps, "mean_ns": tot[order] / cnt[order],
            "time_ns_per_step": tot[order] / n_steps, "share_of_busy": tot[order] / busy,
            "bytes_per_s": np.where(tot[order] > 0, bb[order] / np.maximum(tot[order], 1) * 1e9, 0)}


def unmodelled_bytes(workload: dict, steps: dict, classes: dict) -> dict:
    """Measured DRAM bytes per step by class against the bytes model: GEMM/GEMV kernels
    should move the weights, attention the KV cache, nothing else much. Classes sorted by
    bytes moved beyond the model (decode traces only)."""
    if workload.get("kind") != "decode" or not steps["model_read_bytes"].any():
        return {"class": [], "measured_bytes_per_step": [], "modelled_bytes_per_step": [],
                "excess_bytes_per_step": []}
    from .floor import kv_bytes_per_token, step_bytes
    b = step_bytes(workload, int(workload.get("first_traced_position", workload.get("ctx", 0))))
    model = {"gemm": b["weights_read_bytes"], "attention": b["kv_read_bytes"],
             "copy": kv_bytes_per_token(workload["config"])}
    # A graph-level record is a whole replay: all of the step's modelled bytes.
    model["graph"] = model["gemm"] + model["attention"] + model["copy"]
    rows = [(c, m, model.get(c, 0)) for c, m in zip(classes["class"], classes["dram_bytes_per_step"])]
    rows.sort(key=lambda r: -(r[1] - r[2]))
    return {"class": [r[0] for r in rows], "measured_bytes_per_step": [r[1] for r in rows],
            "modelled_bytes_per_step": [r[2] for r in rows],
            "excess_bytes_per_step": [r[1] - r[2] for r in rows]}
