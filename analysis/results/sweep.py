"""Statistics of a sweep (one result dict per cell) and the cross-GPU comparison."""
from __future__ import annotations

import numpy as np

from ..floor import DATASHEET_PEAK, kv_bytes_per_token, param_counts


def graph_speedups(cells) -> list[dict]:
    """eager (or eager-static) median / graph median, per (gpu, model, ctx)."""
    by = {}
    for c in cells:
        if c.get("valid"):
            by[(c["gpu"], c["model"], c["ctx"], c["mode"])] = c
    out = []
    for (gpu, model, ctx, mode), c in by.items():
        if mode != "graph":
            continue
        for base in ("eager", "eager-static"):
            b = by.get((gpu, model, ctx, base))
            if b:
                out.append({"gpu": gpu, "model": model, "ctx": ctx, "base": base,
                            "speedup": b["median_ms"] / c["median_ms"],
                            "peak_bytes_per_s": c["peak_bytes_per_s"]})
    return out

def compare(cell_sets: list[list[dict]]) -> dict:
    """Per GPU: median % of floor per mode, median graph speedup; and the paper's question."""
    rows = []
    for cells in cell_sets:
        valid = [c for c in cells if c.get("valid")]
        if not valid:
            continue
        gpu, peak = valid[0]["gpu"], valid[0]["peak_bytes_per_s"]
        row = {"gpu": gpu, "peak_bytes_per_s": peak, "cells": len(cells), "valid": len(valid)}
        for mode in sorted({c["mode"] for c in valid}):
            v = [c["pct_floor_all"] for c in valid if c["mode"] == mode]
            row[f"pct_floor_all_{mode}"] = float(np.median(v))
        sp = [s["speedup"] for s in graph_speedups(valid) if s["base"] == "eager"]
        row["graph_speedup_median"] = float(np.median(sp)) if sp else None
        rows.append(row)
    rows.sort(key=lambda r: r["peak_bytes_per_s"] or 0)
    answer = None
    if len(rows) >= 2:
        keys = [k for k in rows[0] if k.startswith("pct_floor_all_")]
        falls = {k[len("pct_floor_all_"):]: all(rows[i + 1].get(k, np.inf) <= rows[i].get(k, -np.inf)
                                                for i in range(len(rows) - 1)) for k in keys}
        sps = [r["graph_speedup_median"] for r in rows]
        grows = all(a is not None and b is not None and b >= a for a, b in zip(sps, sps[1:]))
        answer = {"pct_floor_falls_as_peak_rises": falls, "graph_speedup_grows_with_peak": grows}
    return {"gpus": rows, "answer": answer}

def floor_table(models_cfg: dict[str, dict], ctx: int = 2048, dtype_bytes: int = 2) -> list[dict]:
    """Analytic floors (ms, all-parameter convention) on datasheet peaks, for GPUs we
    cannot run: no measurement is implied."""
    out = []
    for name, cfg in models_cfg.items():
        b = param_counts(cfg)["param_count"] * dtype_bytes + kv_bytes_per_token(cfg, dtype_bytes) * ctx
        out.append({"model": name, "ctx": ctx, **{gpu: b / bw * 1e3 for gpu, bw in DATASHEET_PEAK}})
    return out
