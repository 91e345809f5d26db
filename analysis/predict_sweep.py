"""``stepscope predict --sweep``: the predict model over `stepscope sweep`'s ctx grid, from one
trace per model (docs/predict.md, "The ctx sweep").

A trace records one ctx (ctx0). The work of a decode step that grows with the KV length is
in two kinds of kernel: attention (it reads K and V of every cached token), and, in HF's SDPA
path for GQA models, the ``repeat_kv`` copies that expand K and V of each layer to every query
head (a copy of ``group`` x one layer's K). Those are the records called KV-proportional:

    kv_k = class(k) is ATTENTION  or  (class(k) is COPY  and  d_k >= group * K_layer(ctx0) / A_S)

with ``group`` = query heads / KV heads, ``K_layer(ctx0)`` = one layer's K bytes at ctx0 and
``A_S`` the source GPU's achievable bandwidth (the shortest time such a copy can take). At
ctx, with rho = ctx / ctx0, a KV-proportional record does rho times its work on the source:
its DRAM bytes and its inefficiency both scale by rho (b' = rho b, r' = rho r, so its source
time is rho d); every other record, gap and the host timeline are unchanged. The target
kernel time and the stream are then the ordinary model (``predict_model``). The floor is the
workload's modelled bytes at position ctx (``floor.step_bytes``), both conventions. Before
scaling, each attention record's bytes are raised to at least its share of the cache's K and V
at ctx0 (``attention_bytes_floor``).
numpy only; no per-record Python loops.
"""
from __future__ import annotations

import numpy as np

from . import predict_model as pm
from .floor import head_dim, kv_bytes_per_token, step_bytes
from .kernel_classes import KernelClass
from .predict import _modes, _on_target, resolve_targets, source_model

#: `stepscope sweep`'s default ctx grid (tokens).
SWEEP_CTX = (2048, 4096, 8192, 16384)


def kv_records(src: dict, workload: dict, achievable_bytes_per_s: float) -> np.ndarray:
    """Which records' work grows with the KV length (the rule in the module docstring)."""
    cfg = workload["config"]
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    k_layer_bytes = workload["ctx"] * kv_heads * head_dim(cfg) * 2
    expand_ns = (heads // kv_heads) * k_layer_bytes / achievable_bytes_per_s * 1e9
    cls = src["class"]
    return (cls == KernelClass.ATTENTION) | ((cls == KernelClass.COPY) & (src["dur_ns"] >= expand_ns))


def attention_bytes_floor(src: dict, workload: dict) -> np.ndarray:
    """The records' DRAM bytes with each attention record raised to at least its share of the
    whole cache's K and V at ctx0 (``kv_bytes_per_token x ctx0`` over the step's attention
    records): the PM-sample deconvolution gives short attention kernels next to no bytes (0 in
    the dynamic-cache eager traces), and beyond the L2 the cache must come from DRAM."""
    att = src["class"] == KernelClass.ATTENTION
    n_steps = max(len(np.unique(src["step_pos"])), 1)
    per_step = att.sum() / n_steps
    if not per_step:
        return src["bytes"]
    floor = kv_bytes_per_token(workload["config"]) * workload["ctx"] / per_step
    return np.where(att, np.maximum(src["bytes"], floor), src["bytes"])


def at_ctx(src: dict, split: dict, kv: np.ndarray, rho: float, bytes_only: bool = False) -> tuple[dict, dict]:
    """The source's records and inefficiency split as they would be at rho x the KV length:
    KV-proportional records do rho times the work (bytes and inefficiency); beta unchanged.
    ``bytes_only``: the other bound, where only the bytes and the per-byte inefficiency
    (beta b) grow and the fixed cost per kernel stays (docs/predict.md)."""
    scale = np.where(kv, rho, 1.0)
    s2 = dict(src, bytes=src["bytes"] * scale, dur_ns=src["dur_ns"] * scale)
    if bytes_only:
        per_byte = split["beta_ns_per_byte"][src["class"]] * src["bytes"]
        return s2, dict(split, r_ns=split["r_ns"] + per_byte * (scale - 1.0))
    return s2, dict(split, r_ns=split["r_ns"] * scale)


def predict_sweep(analyses: list, targets: list[str], ctxs=SWEEP_CTX, host_scale: float = 1.0,
                  table: list[dict] | None = None, extra: list[dict] | None = None, bytes_only: bool = False) -> dict:
    """Per source trace (and mode), per ctx, per target GPU: the predicted step, its range and
    attribution, % of floor at that ctx. ``ctxs`` must be positive; ``bytes_only``: see at_ctx."""
    if host_scale <= 0:
        raise ValueError("--host-scale must be positive.")
    if not ctxs or min(ctxs) <= 0:
        raise ValueError("--ctx takes positive context lengths.")
    entries, frac, tgt = resolve_targets(targets, table, extra)
    sources = []
    for a in analyses:
        wl = a.trace.meta["workload"]
        for mode in _modes(a):
            sm = source_model(a, mode, entries, frac)
            sm["src"] = dict(sm["src"], bytes=attention_bytes_floor(sm["src"], wl))
            sm["split"] = pm.inefficiency_split(sm["src"], sm["spec"]["achievable_bytes_per_s"],
                                                sm["spec"]["bf16_dense_flops_per_s"], sm["phi"])
            kv = kv_records(sm["src"], wl, sm["spec"]["achievable_bytes_per_s"])
            n_steps = max(len(np.unique(sm["src"]["step_pos"])), 1)
            row = {"trace": str(getattr(a.trace, "path", "") or ""), "model": wl.get("model"), "ctx0": wl["ctx"],
                   "mode": mode, "gpu": sm["spec"]["name"], "bytes_source": sm["src"]["bytes_source"],
                   "host_sigma": sm["sigma"]["sigma"], "kv_records_per_step": int(kv.sum() // n_steps),
                   "kv_ms_per_step": float(sm["src"]["dur_ns"][kv].sum() / n_steps / 1e6), "cells": []}
            for ctx in ctxs:
                rho = ctx / wl["ctx"]
                src, split = at_ctx(sm["src"], sm["split"], kv, rho, bytes_only)
                sb = step_bytes(wl, int(ctx))
                out = {"model_read_bytes": float(sb["read_bytes"]), "model_all_bytes": float(sb["all_bytes"])}
                for tg in tgt:
                    p = _on_target(src, split, sm["spec"], tg, sm["phi"], sm["trail"], sm["queued_gap_ns"],
                                   sm["sigma"]["sigma"] * host_scale, out)
                    row["cells"].append({"ctx": int(ctx), "dram_bytes": float(src["bytes"].sum() / n_steps),
                                         "peak_bytes_per_s": tg["peak_bytes_per_s"], **p})
            sources.append(row)
    return {"host_scale": host_scale, "targets": [t["name"] for t in tgt], "ctxs": [int(c) for c in ctxs],
            "target_specs": tgt, "sources": sources}
