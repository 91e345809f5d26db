"""Figures of traces: launch-gap timelines and attribution bars (matplotlib, Agg backend,
no display). They read traces and analyses only."""
from __future__ import annotations

import numpy as np

from ..dram import valid
from ..facade import TraceAnalysis
from ..gaps import GapCause
from ..kernel_classes import KernelClass, record_classes
from ..trace.atomic import atomic_open
from ..window import step_spans_ns, step_trace

#: Above this many steps, a timeline analyses only the step it draws (analysis/window.py).
LONG_TRACE_STEPS = 64

CLASS_COLORS = {
    KernelClass.GEMM: "#1f77b4", KernelClass.ATTENTION: "#d62728", KernelClass.NORM: "#9467bd",
    KernelClass.ROTARY: "#8c564b", KernelClass.REDUCTION: "#e377c2", KernelClass.COPY: "#7f7f7f",
    KernelClass.ELEMENTWISE: "#2ca02c", KernelClass.OTHER: "#bcbd22", KernelClass.MEMCPY: "#17becf",
    KernelClass.MEMSET: "#aec7e8", KernelClass.DEQUANT: "#ffbb78"}
CAUSE_COLORS = {GapCause.LAUNCH: "#ff7f0e", GapCause.QUEUED: "#c7c7c7", GapCause.SYNC: "#9edae5",
                GapCause.COPY: "#17becf", GapCause.OTHER: "#f7b6d2"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, out) -> None:
    """Render to memory, then write atomically (a killed run leaves no truncated figure);
    the format follows the file name's suffix."""
    import io
    from pathlib import Path
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=(Path(out).suffix.lstrip(".").lower() or "png"))
    finally:
        _plt().close(fig)
    with atomic_open(out) as f:
        f.write(buf.getbuffer())


def coalesce(start, end, min_gap_ns: float):
    """Merge intervals separated by less than ``min_gap_ns`` (one pixel): returns
    (start, width) arrays for broken_barh. Full detail when a pixel is < 1 gap."""
    if not len(start):
        return np.zeros(0), np.zeros(0)
    o = np.argsort(start, kind="stable")
    s, e = start[o], end[o]
    run = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] - run[:-1] > min_gap_ns
    first = np.nonzero(new)[0]
    last = np.r_[first[1:] - 1, len(s) - 1]
    return s[first], run[last] - s[first]


def pick_step(a: TraceAnalysis, step: int | None) -> int:
    """Row position of step ``step`` (its index), or of the median-duration step."""
    st = a.get_steps()
    if step is None:
        order = np.argsort(st["step_ns"])
        return int(order[len(order) // 2])
    pos = np.nonzero(st["step"] == step)[0]
    if not len(pos):
        raise ValueError(f"the trace has no step {step} (steps: {', '.join(map(str, st['step']))}).")
    return int(pos[0])


def one_step(a: TraceAnalysis, step: int | None) -> TraceAnalysis:
    """The analysis of the one step a timeline draws: for a long trace not yet analysed,
    that step cut out (attributed exactly like its row of the whole trace), so the figure
    costs the memory and time of one step."""
    t = a.trace
    st = t["steps"]
    if len(st["index"]) <= LONG_TRACE_STEPS or "attribution" in a.__dict__:
        return a
    if step is None:
        spans = step_spans_ns(t)
        pos = int(np.argsort(spans)[len(spans) // 2])
    else:
        hit = np.nonzero(st["index"] == step)[0]
        if not len(hit):
            return a   # pick_step says which steps there are
        pos = int(hit[0])
    return TraceAnalysis(step_trace(t, pos), calibration=a.calibration)


def _title(a: TraceAnalysis, pos: int) -> str:
    s = a.get_steps()
    wl = a.trace.meta.get("workload", {})
    name = wl.get("model") or wl.get("kind") or a.trace.meta.get("source", "trace")
    mode = a.trace.strings[s["mode"][pos]]
    ms = lambda k: s[k][pos] / 1e6  # noqa: E731
    t = (f"{name} {mode}, step {int(s['step'][pos])}: {ms('step_ns'):.2f} ms = floor {ms('floor_ns'):.2f}"
         f" + kernel inefficiency {ms('kernel_inefficiency_ns'):.2f} + launch {ms('launch_overhead_ns'):.2f}"
         f" + other idle {ms('other_idle_ns'):.2f} ms")
    if s["floor_ns"][pos]:
        t += f"   ({s['pct_floor'][pos]:.1f}% of floor)"
    return t


def timeline(paths_or_analyses, out, step: int | None = None, window_ms=None,
             width_px: int = 1800, height_px: int | None = None, dpi: int = 100):
    """One panel pair (lanes + DRAM) per trace, on one time scale (ms from step start)."""
    plt = _plt()
    items = [one_step(x if isinstance(x, TraceAnalysis) else TraceAnalysis(x), step) for x in paths_or_analyses]
    n = len(items)
    height_px = height_px or 360 * n + 80
    fig, axes = plt.subplots(2 * n, 1, figsize=(width_px / dpi, height_px / dpi), dpi=dpi, sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.3] * n})
    axes = np.atleast_1d(axes)
    spans = []
    for a in items:
        pos = pick_step(a, step)
        spans.append(a.get_steps()["step_ns"][pos] / 1e6)
    x0, x1 = (0.0, max(spans)) if window_ms is None else window_ms
    if x1 <= 0 or x0 >= max(spans):
        raise ValueError(f"--window {x0:g}:{x1:g} ms is outside the step (0 to {max(spans):.3f} ms): "
                         "the figure would be blank.")
    px_ns = (x1 - x0) * 1e6 / width_px
    for j, a in enumerate(items):
        _panel(a, pick_step(a, step), axes[2 * j], axes[2 * j + 1], px_ns, x0, x1)
    axes[-1].set_xlabel("time from step start (ms)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in CLASS_COLORS.values()]
    labels = [f"kernel: {k.name.lower()}" for k in CLASS_COLORS]
    handles += [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.8) for c in CAUSE_COLORS.values()]
    labels += [f"idle: {c.name.lower()}" for c in CAUSE_COLORS]
    fig.legend(handles, labels, loc="lower center", ncol=8, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_figure(fig, out)
    return out


def _panel(a: TraceAnalysis, pos: int, ax, axd, px_ns, x0, x1):
    t = a.trace
    s = a.get_steps()
    sidx, lo = s["step"][pos], s["start_ns"][pos]
    rel = lambda v: (v - lo) / 1e6  # noqa: E731
    api = t["api"]
    m = api["step"] == sidx
    bs, bw = coalesce(api["start_ns"][m], api["end_ns"][m], px_ns)
    ax.broken_barh(list(zip(rel(bs), bw / 1e6)), (2.1, 0.8), color="#444444")
    rec = a.attribution["records"]
    cls = record_classes(t, rec)
    mine = rec.step == sidx
    for c, color in CLASS_COLORS.items():
        sel = mine & (cls == c)
        bs, bw = coalesce(rec.start_ns[sel], rec.end_ns[sel], px_ns)
        ax.broken_barh(list(zip(rel(bs), bw / 1e6)), (1.1, 0.8), color=color)
    g = a.get_gaps()
    gm = g["step"] == sidx
    for c, color in CAUSE_COLORS.items():
        sel = gm & (g["cause"] == c)
        bs, bw = coalesce(g["start_ns"][sel], g["end_ns"][sel], px_ns)
        ax.broken_barh(list(zip(rel(bs), bw / 1e6)), (0.1, 0.8), color=color, alpha=0.8)
    ax.set_yticks([0.5, 1.5, 2.5], ["GPU idle (cause)", "GPU kernels (class)", "CPU launch calls"])
    ax.set_ylim(0, 3)
    ax.set_xlim(x0, x1)
    ax.set_title(_title(a, pos), fontsize=9, loc="left")
    pm = t["pm"]
    pk, _ = a.get_peak()
    sel = valid(pm) & (pm["end_ns"] > s["start_ns"][pos]) & (pm["start_ns"] < s["end_ns"][pos])
    if sel.any():
        mid = (pm["start_ns"][sel] + pm["end_ns"][sel]) / 2
        gbs = (pm["dram_read_bytes"][sel] + pm["dram_write_bytes"][sel]) / \
            np.maximum(pm["end_ns"][sel] - pm["start_ns"][sel], 1)
        o = np.argsort(mid)
        axd.plot(rel(mid[o]), gbs[o], lw=0.8, color="#1f77b4", label="DRAM read+write (PM samples)")
    else:
        axd.text(0.5, 0.5, "no DRAM counters in this trace", transform=axd.transAxes, ha="center",
                 va="center", fontsize=9, color="#777777")
    if pk:
        axd.axhline(pk / 1e9, color="#d62728", lw=1, ls="--", label=f"peak {pk / 1e12:.2f} TB/s")
    axd.set_ylabel("DRAM GB/s", fontsize=8)
    axd.set_ylim(bottom=0)
    axd.legend(loc="upper right", fontsize=7, frameon=False)


def attribution_bars(paths_or_analyses, out, width_px: int = 1200, height_px: int = 600, dpi: int = 100):
    """Stacked bars of the median attribution, one bar per (trace, mode); the figure
    widens to 110 px a bar when there are many."""
    plt = _plt()
    rows = []
    for x in paths_or_analyses:
        a = x if isinstance(x, TraceAnalysis) else TraceAnalysis(x)
        summ = a.get_summary()
        wl = a.trace.meta.get("workload", {})
        name = wl.get("model") or wl.get("kind") or "trace"
        gpu = (summ["gpu"] or "").replace("NVIDIA ", "").replace(" 80GB HBM3", "")
        for mode, m in summ["modes"].items():
            ctx = f" ctx {wl['ctx']}" if wl.get("ctx") else ""
            rows.append((f"{name}\n{mode}\n{gpu}{ctx}", m))
    parts = [("floor_ms", "memory floor", "#1f77b4"),
             ("kernel_inefficiency_ms", "kernel inefficiency", "#9467bd"),
             ("launch_overhead_ms", "launch overhead", "#ff7f0e"),
             ("other_idle_ms", "other idle", "#c7c7c7")]
    width_px = max(width_px, 110 * len(rows))
    fig, ax = plt.subplots(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for key, label, color in parts:
        v = np.array([max(m[key], 0.0) for _, m in rows])
        ax.bar(x, v, bottom=bottom, color=color, label=label)
        bottom += v
    for i, (_, m) in enumerate(rows):
        if m["floor_ms"]:
            ax.text(i, bottom[i], f"{m['pct_floor']:.0f}% of floor", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [r[0] for r in rows], fontsize=7)
    ax.set_ylabel("median step time (ms), traced")
    ax.legend(frameon=False)
    ax.set_title("where the decode step's time goes (median traced step)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out)
    return out
