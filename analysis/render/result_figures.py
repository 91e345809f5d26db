"""Figures of result sets: A/B speedups, sweep curves, the cross-GPU comparison
(matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .figures import _plt, save_figure


def ab_figure(results: dict, out, title: str = ""):
    """Per-session speedups, their median with the 95% bootstrap CI, and the prediction."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for j, r in enumerate(results.values()):
        sp = np.asarray(r["speedup"])
        x = j + (np.arange(len(sp)) - (len(sp) - 1) / 2) * 0.03
        ax.scatter(x, sp, s=14, color="#1f77b4", zorder=3, label="per session" if j == 0 else None)
        lo, hi = r["ci95"]
        ax.errorbar([j + 0.25], [r["speedup_median"]], yerr=[[r["speedup_median"] - lo], [hi - r["speedup_median"]]],
                    fmt="s", color="black", capsize=4, label="median, 95% bootstrap CI" if j == 0 else None)
        if r.get("prediction_ci95"):
            p, (plo, phi) = r["predicted_speedup_median"], r["prediction_ci95"]
            ax.errorbar([j + 0.4], [p], yerr=[[max(p - plo, 0)], [max(phi - p, 0)]], fmt="D", color="#ff7f0e",
                        capsize=4, label="predicted (launch overhead only), 95% interval" if j == 0 else None)
            rng = r["sensitivity"]["explained_for_node_gap_ns"]
            sens = "no gap explains" if rng is None else f"explained for gaps {rng[0]:.0f}-{rng[1]:.0f} ns"
            ax.annotate(f"{r['verdict']}\nnode gap {r['sensitivity']['node_gap_median_ns']:.0f} ns; {sens}",
                        (j + 0.2, 0.02), xycoords=("data", "axes fraction"), ha="center", fontsize=8,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set_xticks(range(len(results)), [f"{r['base']} / {r['arm']}" for r in results.values()])
    ax.set_xlim(-0.5, len(results) - 0.3)
    ax.set_ylabel("speedup (x, baseline step / arm step)")
    fig.text(0.01, 0.005, "rule: intervals overlap = explained by launch overhead", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    save_figure(fig, out)
    return out


def sweep_figures(cells, out_dir: Path) -> list[Path]:
    plt = _plt()
    valid = [c for c in cells if c.get("valid")]
    paths = []
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    # one colour per model (Paul Tol bright); its modes by line style and marker
    palette = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB")
    ctxs = sorted({c["ctx"] for c in valid})
    for k, model in enumerate(sorted({c["model"] for c in valid})):
        for mode, ls, mk in (("eager", "--", "o"), ("eager-static", ":", "^"), ("graph", "-", "s")):
            pts = sorted((c["ctx"], c["pct_floor_all"]) for c in valid if c["model"] == model and c["mode"] == mode)
            if pts:
                ax.plot(*zip(*pts), ls, marker=mk, color=palette[k % len(palette)], label=f"{model} {mode}")
    ax.set_xscale("log", base=2)
    if ctxs:
        from matplotlib.ticker import NullLocator
        ax.set_xticks(ctxs, [str(c) for c in ctxs])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("% of analytic floor (all parameters + KV)")
    ax.set_title(f"batch-1 decode on {valid[0]['gpu'] if valid else '?'}: % of floor vs ctx", fontsize=10)
    if ax.lines:
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    paths.append(out_dir / "pct_floor_vs_ctx.png")
    save_figure(fig, paths[-1])
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    labels = sorted({(c["model"], c["ctx"]) for c in valid})
    x = np.arange(len(labels))
    modes = sorted({c["mode"] for c in valid})
    n_modes = max(len(modes), 1)      # a sweep with no valid cell still gets its (empty) figure
    for j, mode in enumerate(modes):
        v = [next((100 * c["launch_share"] for c in valid if (c["model"], c["ctx"]) == lab and c["mode"] == mode), 0)
             for lab in labels]
        ax.bar(x + j * 0.8 / n_modes, v, 0.8 / n_modes, label=mode)
    ax.set_xticks(x + 0.4 - 0.4 / n_modes, [f"{m}\n{c}" for m, c in labels], fontsize=8,
                  rotation=90 if len(labels) > 8 else 0)
    ax.set_ylabel("launch overhead (% of traced step)")
    ax.set_xlabel("model and ctx (tokens)")
    ax.set_title(f"batch-1 decode on {valid[0]['gpu'] if valid else '?'}: launch overhead share per mode", fontsize=10)
    ax.set_ylim(0, 100 * 1.25)        # room above the bars for the legend
    if modes:
        ax.legend(frameon=False, ncol=len(modes), loc="upper center")
    fig.tight_layout()
    paths.append(out_dir / "launch_share.png")
    save_figure(fig, paths[-1])
    return paths


def compare_figure(res: dict, floors: list[dict], out) -> Path:
    """Left: % of floor (all parameters) against peak bandwidth, per mode, for the GPUs
    measured. Right: graph speedup over eager against peak bandwidth. GPUs not measured
    appear only in the floor table, never here."""
    plt = _plt()
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
    if a1.lines:
        a1.legend(frameon=False)
    pts = [(b, r["graph_speedup_median"]) for b, r in zip(bw, rows) if r["graph_speedup_median"] is not None]
    if pts:
        a2.plot(*zip(*pts), "D-", color="#EE7733")
        for (b, sp), r in zip(pts, [r for r in rows if r["graph_speedup_median"] is not None]):
            a2.annotate(f"{r['gpu'].replace('NVIDIA ', '')}: {sp:.2f}x", (b, sp), fontsize=8,
                        textcoords="offset points", xytext=(4, 4))
    a2.set_xlabel("peak DRAM bandwidth (TB/s, NVML)")
    a2.set_ylabel("graph speedup over eager (x, median over cells)")
    a1.set_title("% of floor vs bandwidth, per mode", fontsize=10)
    a2.set_title("graph speedup over eager vs bandwidth", fontsize=10)
    lo, hi = min(bw, default=0.0), max(bw, default=1.0)
    pad = max(0.25 * (hi - lo), 0.1 * hi)
    for ax in (a1, a2):   # y from zero (the eye reads ratios off it); x spans the GPUs measured
        ax.set_xlim(max(lo - pad, 0.0), hi + pad)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    gpus = ", ".join(r["gpu"].replace("NVIDIA ", "") for r in rows)
    models = ", ".join(sorted({f["model"] for f in floors})) if floors else "the sweep's models"
    fig.suptitle(f"{models}, all ctx, eager and graph, on {gpus}\n"
                 "does the achieved fraction fall, and the graph speedup grow, with bandwidth?", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out)
    return Path(out)
