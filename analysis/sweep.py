"""Sweep tables and figures, and the cross-GPU comparison. Reads cell JSON files only."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .floor import DATASHEET_PEAK, kv_bytes_per_token, param_counts

COLUMNS = ("gpu", "model", "ctx", "mode", "valid", "median_ms", "p10_ms", "p90_ms", "floor_ms",
           "floor_all_ms", "pct_floor", "pct_floor_all", "kernels", "launch_share", "dram_gb",
           "dram_gb_per_s_busy", "sm_clock_mhz", "mem_clock_mhz", "throttle_reasons", "reason")


def load_cells(folder) -> list[dict]:
    cells = [json.loads(p.read_text()) for p in sorted(Path(folder, "cells").glob("*.json"))]
    if not cells:
        raise ValueError(f"{folder} holds no sweep cells (expected {folder}/cells/*.json).")
    return cells


def to_csv(cells) -> str:
    f = io.StringIO()
    w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    for c in cells:
        w.writerow({k: (";".join(v) if isinstance(v, list) else v) for k, v in c.items()})
    return f.getvalue()


def to_markdown(cells) -> str:
    rows = ["| GPU | model | ctx | mode | ms/step (p10-p90) | floor ms (read / all) | % of floor (read / all) "
            "| kernels | launch share | DRAM GB | GB/s busy |", "|" + "---|" * 11]
    for c in sorted(cells, key=lambda c: (c.get("gpu", ""), c["model"], c["ctx"], c["mode"])):
        if not c.get("valid"):
            rows.append(f"| {c.get('gpu', '')} | {c['model']} | {c['ctx']} | {c['mode']} | invalid: "
                        f"{c.get('reason', '')} | | | | | | |")
            continue
        rows.append(f"| {c['gpu']} | {c['model']} | {c['ctx']} | {c['mode']} | {c['median_ms']:.2f} "
                    f"({c['p10_ms']:.2f}-{c['p90_ms']:.2f}) | {c['floor_ms']:.2f} / {c['floor_all_ms']:.2f} | "
                    f"{c['pct_floor']:.1f} / {c['pct_floor_all']:.1f} | {c['kernels']:.0f} | "
                    f"{100 * c['launch_share']:.0f}% | {c['dram_gb']:.2f} | {c['dram_gb_per_s_busy']:.0f} |")
    return "\n".join(rows)


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


def figures(cells, out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    valid = [c for c in cells if c.get("valid")]
    paths = []
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    for model in sorted({c["model"] for c in valid}):
        for mode, ls in (("eager", "--"), ("eager-static", ":"), ("graph", "-")):
            pts = sorted((c["ctx"], c["pct_floor_all"]) for c in valid if c["model"] == model and c["mode"] == mode)
            if pts:
                ax.plot(*zip(*pts), ls, marker="o", label=f"{model} {mode}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("% of analytic floor (all parameters + KV)")
    ax.set_title(f"batch-1 decode on {valid[0]['gpu'] if valid else '?'}: % of floor vs ctx", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    paths.append(out_dir / "pct_floor_vs_ctx.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    labels = sorted({(c["model"], c["ctx"]) for c in valid})
    x = np.arange(len(labels))
    modes = sorted({c["mode"] for c in valid})
    for j, mode in enumerate(modes):
        v = [next((100 * c["launch_share"] for c in valid if (c["model"], c["ctx"]) == lab and c["mode"] == mode), 0)
             for lab in labels]
        ax.bar(x + j * 0.8 / len(modes), v, 0.8 / len(modes), label=mode)
    ax.set_xticks(x + 0.4 - 0.4 / len(modes), [f"{m}\n{c}" for m, c in labels], fontsize=6)
    ax.set_ylabel("launch overhead, % of traced step")
    ax.legend(frameon=False)
    fig.tight_layout()
    paths.append(out_dir / "launch_share.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    return paths


def compare_figure(res: dict, floors: list[dict], out) -> Path:
    """Left: % of floor (all parameters) against peak bandwidth, per mode, for the GPUs
    measured. Right: graph speedup over eager against peak bandwidth. GPUs not measured
    appear only in the floor table, never here."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = res["gpus"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    bw = [r["peak_bytes_per_s"] / 1e12 for r in rows]
    for key, label, mk in (("pct_floor_all_eager", "eager", "o"), ("pct_floor_all_graph", "graph", "s")):
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            a1.plot(bw, ys, mk + "-", label=label)
    for r in rows:
        a1.annotate(r["gpu"].replace("NVIDIA ", ""), (r["peak_bytes_per_s"] / 1e12, r.get("pct_floor_all_graph") or 0),
                    fontsize=8, textcoords="offset points", xytext=(4, 4))
    a1.set_xlabel("peak DRAM bandwidth (TB/s, NVML)")
    a1.set_ylabel("% of analytic floor (median over cells)")
    a1.legend(frameon=False)
    sp = [r["graph_speedup_median"] for r in rows]
    a2.plot(bw, sp, "D-", color="#ff7f0e")
    a2.set_xlabel("peak DRAM bandwidth (TB/s, NVML)")
    a2.set_ylabel("graph speedup over eager (median over cells)")
    fig.suptitle("Does the achieved fraction fall, and the graph speedup grow, with bandwidth?", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return Path(out)
