"""The figure of `stepscope predict --sweep`: fraction of the memory floor against peak DRAM
bandwidth across the GPU table, predicted points as lines (one per model and mode), measured
points (sweep cells, or any cell with ``pct_floor_all``) drawn over them, the paper's cells as
stars; one panel per ctx. Reads prediction dicts only (matplotlib, Agg)."""
from __future__ import annotations

from .figures import _plt, save_figure

MODEL_COLORS = {"qwen2.5-7b": "#332288", "llama-3.1-8b": "#CC6677", "mistral-7b-v0.3": "#117733"}
MODE_STYLE = {"graph": "-", "eager": "--", "eager-static": ":"}


def _gpu_labels(specs: list[dict], apart: float = 1.1) -> list[tuple[float, list[str]]]:
    """(x in TB/s, names) per label: GPUs whose peak bandwidths are within ``apart`` of the
    previous one share a label (H100 PCIe at 2.0 TB/s and A100-80GB SXM at 2.04 would print
    over each other), placed at the group's first peak."""
    out: list[tuple[float, list[str]]] = []
    for g in sorted(specs, key=lambda g: g["peak_bytes_per_s"]):
        x = g["peak_bytes_per_s"] / 1e12
        if out and x <= out[-1][0] * apart:
            out[-1][1].append(g["name"])
        else:
            out.append((x, [g["name"]]))
    return out


def floor_vs_bandwidth_figure(res: dict, out, measured: list[dict] = (), paper: list[dict] = ()):
    """``res``: ``predict_sweep``'s result; ``measured``: dicts with model, mode, ctx,
    peak_bytes_per_s, pct_floor_all (and gpu); ``paper``: the same without mode. One panel per
    ctx of ``res``; returns the path written."""
    plt = _plt()
    ctxs = res["ctxs"]
    ncol = min(len(ctxs), 2)
    nrow = (len(ctxs) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.5 * ncol, 4.2 * nrow), dpi=100, squeeze=False, sharey=True)
    for i, ctx in enumerate(ctxs):
        ax = axes[i // ncol][i % ncol]
        for s in res["sources"]:
            pts = sorted((c["peak_bytes_per_s"] / 1e12, c["pct_floor_all"]) for c in s["cells"] if c["ctx"] == ctx)
            ax.plot(*zip(*pts), MODE_STYLE.get(s["mode"], "-."), color=MODEL_COLORS.get(s["model"], "#999933"),
                    marker=".", alpha=0.8, label=f"predicted {s['model']} {s['mode']} (from {s['gpu']})")
        for m in (x for x in measured if x["ctx"] == ctx):
            ax.plot(m["peak_bytes_per_s"] / 1e12, m["pct_floor_all"], "o" if m["mode"] == "graph" else "s",
                    mfc="none", mew=1.5, ms=8, color=MODEL_COLORS.get(m["model"], "#999933"),
                    label=f"measured {m['model']} {m['mode']}")
        for p in (x for x in paper if x["ctx"] == ctx):
            ax.plot(p["peak_bytes_per_s"] / 1e12, p["pct_floor_all"], "*", ms=14, color="#EE7733",
                    label=f"paper {p['model']} ({p['gpu']})")
        for x, names in _gpu_labels(res["target_specs"]):
            ax.annotate(" / ".join(names), (x, 2), fontsize=8, rotation=90, ha="center", va="bottom")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plt.matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(plt.matplotlib.ticker.NullFormatter())
        ax.set_xticks([0.3, 0.5, 1, 2, 3, 5])
        ax.set_ylim(0, 100)
        ax.set_title(f"ctx {ctx}", fontsize=10)
        ax.set_xlabel("peak DRAM bandwidth (TB/s)")
        ax.set_ylabel("% of floor (all parameters + KV)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    fig.legend(uniq.values(), uniq.keys(), fontsize=8, frameon=False, loc="lower center", ncol=3)
    fig.suptitle("batch-1 decode: fraction of the memory floor vs peak bandwidth (lines predicted, circles/squares "
                 "measured)", fontsize=10)
    bottom = 0.02 + 0.034 * ((len(uniq) + 2) // 3) / nrow
    fig.tight_layout(rect=(0, bottom, 1, 0.96))
    save_figure(fig, out)
    return out
