"""The step model behind ``stepscope predict`` (docs/predict.md has the equations).

A source trace gives, per traced step, its GPU records in order: duration d, DRAM bytes b
(the counter pass's exact bytes, else the PM-deconvolution estimate), kernel class, and the
gap before each record with its cause. On a target GPU T (source S):

    kernel:  t'_k = max(b_k / A_T, phi_c b_k / F_T) + r'_k
             r_k  = d_k - max(b_k / A_S, phi_c b_k / F_S)             (the kernel's inefficiency)
             r'_k = (r_k - beta_c b_k) * clk_S / clk_T + beta_c b_k * (SM_S clk_S) / (SM_T clk_T)
    stream:  e'_k = max(e'_{k-1} + g_k, sigma * h * H_k) + t'_k,       e'_{-1} = 0 (step start)
    step:    e'_last + trailing gap of the source

A: achievable DRAM bandwidth; F: dense bf16 FLOP rate; phi_c FLOPs per DRAM byte of the
class; beta_c: the per-byte part of the class's inefficiency (least squares over the
source's kernels of that class); g_k: the GPU-side gap before record k (a graph node gap is
scaled by the two GPUs' calibrated node costs); H_k: the host time at which the source
started record k when the GPU had waited for the host (LAUNCH, SYNC, COPY gaps), else
none; sigma: the host-time scale that makes the source's own simulated step equal its
untraced median (the tracer slows the host); h: ``--host-scale``.
numpy only, no per-record Python loops.
"""
from __future__ import annotations

import numpy as np

from .gaps import GapCause
from .kernel_classes import KernelClass, record_classes

#: Gap causes where the GPU waited for the host: the record's start is host-determined.
HOST_CAUSES = (GapCause.LAUNCH, GapCause.SYNC, GapCause.COPY)


def flops_per_byte(workload: dict) -> np.ndarray:
    """phi per kernel class: FLOPs per DRAM byte at batch 1, bf16. A GEMV does 2 FLOPs per
    2-byte weight (1 FLOP/byte); attention 2 FLOPs per K or V element per query head of its
    group (query heads / KV heads FLOP/byte); every other class 0."""
    phi = np.zeros(max(KernelClass) + 1)
    phi[KernelClass.GEMM] = 1.0
    cfg = workload.get("config") or {}
    if cfg.get("num_attention_heads"):
        phi[KernelClass.ATTENTION] = cfg["num_attention_heads"] / cfg.get("num_key_value_heads",
                                                                         cfg["num_attention_heads"])
    return phi


def source_records(a, mode: str) -> dict:
    """Per record of the mode's traced steps, in GPU order within each step: step position,
    duration, DRAM bytes, class, gap before it, whether that gap was host-determined."""
    t, attr = a.trace, a.attribution
    rec, pos = attr["records"], np.asarray(attr["record_pos"])
    st = attr["steps"]
    want = np.flatnonzero(np.array([t.strings[m] == mode for m in st["mode"]], bool))
    keep = np.isin(pos, want)
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((rec.start_ns[idx], pos[idx]))]
    dur = (rec.end_ns - rec.start_ns)[order].astype(np.float64)
    rates = a.get_dram_record_rates()
    byt = (np.nan_to_num(np.asarray(rates, np.float64)[order]) * dur) if rates is not None else np.zeros(len(order))
    iv = attr["intervals"]
    cause = attr["gaps"]["cause"]
    gap = np.zeros(len(rec.start_ns))
    gcause = np.full(len(rec.start_ns), -1, np.int64)
    inner = iv.gap_next >= 0
    gap[iv.gap_next[inner]] = iv.gap_ns[inner]
    gcause[iv.gap_next[inner]] = cause[inner]
    step_pos = pos[order]
    first = np.r_[True, step_pos[1:] != step_pos[:-1]]
    # Overlapping records (several streams) are serialised by the model: their gap is 0. A
    # record's gap is from the latest end of the records before it in its step (not the
    # previous record's end: one short record inside a long one on another stream would
    # otherwise open a gap the GPU never had). Times relative to the earliest end, so the
    # float running maximum stays exact (integers far below 2**53; absolute ns are not).
    t0 = int(rec.end_ns[order].min()) if len(order) else 0
    latest = _segmented_cummax((rec.end_ns[order] - t0).astype(np.float64), step_pos)
    prev_end = np.r_[0.0, latest[:-1]]
    gap_o = np.where(first, gap[order], np.maximum((rec.start_ns[order] - t0) - prev_end, 0)).astype(np.float64)
    host = np.isin(gcause[order], HOST_CAUSES) | first
    return {"step_pos": step_pos, "first": first, "dur_ns": dur, "bytes": byt,
            "class": record_classes(t, rec)[order], "gap_ns": gap_o, "cause": gcause[order],
            "host_bound": host, "start_rel_ns": (rec.start_ns[order] - st["start_ns"][step_pos]).astype(np.float64),
            "steps": want, "bytes_source": _bytes_source(a, rates)}


def _bytes_source(a, rates) -> str:
    if rates is None:
        return "none: no DRAM counters in the trace (kernels modelled as fixed-time)"
    return "counter pass (exact per kernel)" if a.trace.n("kernel_dram") else "PM-sample deconvolution (estimate)"


def inefficiency_split(src: dict, ach_s: float, flops_s: float, phi: np.ndarray) -> dict:
    """r_k per record and beta_c per class: the slope of r on b over the class's records
    (least squares with an intercept, clipped at 0; 0 for fewer than 3 records or no bytes)."""
    b, cls = src["bytes"], src["class"]
    r = src["dur_ns"] - np.maximum(b / ach_s, phi[cls] * b / flops_s) * 1e9
    beta = np.zeros(max(KernelClass) + 1)
    for c in np.unique(cls):
        m = cls == c
        if m.sum() < 3 or np.ptp(b[m]) <= 0:
            continue
        bc = b[m] - b[m].mean()
        beta[c] = max(float((bc * (r[m] - r[m].mean())).sum() / (bc * bc).sum()), 0.0)
    return {"r_ns": r, "beta_ns_per_byte": beta}


def kernel_times(src: dict, split: dict, s: dict, tgt: dict, ach_t: float, phi: np.ndarray) -> dict:
    """t'_k on the target and its parts: memory/compute time and the carried inefficiency."""
    b, cls = src["bytes"], src["class"]
    per_byte = split["beta_ns_per_byte"][cls] * b
    lat = s["boost_clock_mhz"] / tgt["boost_clock_mhz"]
    thr = lat * s["sms"] / tgt["sms"]
    mem = b / ach_t * 1e9
    comp = phi[cls] * b / tgt["bf16_dense_flops_per_s"] * 1e9
    ineff = (split["r_ns"] - per_byte) * lat + per_byte * thr
    return {"t_ns": np.maximum(np.maximum(mem, comp) + ineff, 0.0), "memory_ns": mem, "compute_bound": comp > mem,
            "inefficiency_ns": ineff}


def simulate(src: dict, t_ns: np.ndarray, host_scale: float, node_ratio: float, queued_gap_ns: float) -> dict:
    """The stream recurrence per step (vectorised with a running maximum), and the parts of
    each predicted step: busy, launch-bound idle, other idle."""
    graph = src["cause"] == GapCause.GRAPH
    host = src["host_bound"]
    g = np.where(graph, src["gap_ns"] * node_ratio, np.where(host, queued_gap_ns, src["gap_ns"]))
    g = np.where(src["first"], 0.0, g)
    H = np.where(host, src["start_rel_ns"] * host_scale, -np.inf)
    steps = src["step_pos"]
    c = np.cumsum(g + t_ns)
    # cumsum restarted per step: subtract the running total at each step's first record
    base = np.where(src["first"], c - g - t_ns, np.nan)
    base = _ffill(base)
    c = c - base
    key = H + t_ns - c
    # running maximum restarted per step: offset each step's values above the previous steps'
    run = _segmented_cummax(np.maximum(key, 0.0), steps)
    e = c + run
    s_start = e - t_ns
    prev_e = np.where(src["first"], 0.0, np.r_[0.0, e[:-1]])
    waited = s_start > prev_e + g + 1e-6
    idle = s_start - prev_e
    uniq, inv = np.unique(steps, return_inverse=True)
    last = np.r_[src["first"][1:], True]
    return {"step_pos": uniq, "end_ns": e[last], "busy_ns": np.bincount(inv, t_ns, len(uniq)),
            "launch_ns": np.bincount(inv, np.where(waited, idle, 0.0), len(uniq)),
            "gpu_gap_ns": np.bincount(inv, np.where(waited, 0.0, idle), len(uniq))}


def _ffill(x: np.ndarray) -> np.ndarray:
    idx = np.where(np.isnan(x), 0, np.arange(len(x)))
    np.maximum.accumulate(idx, out=idx)
    return x[idx]


def _segmented_cummax(x: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running maximum of x restarted at each change of seg (x >= 0)."""
    if not len(x):
        return x
    first = np.r_[True, seg[1:] != seg[:-1]]
    sid = np.cumsum(first) - 1
    off = sid * (float(x.max()) + 1.0)
    return np.maximum.accumulate(x + off) - off
