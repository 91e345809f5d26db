"""Figures of traces: launch-gap timelines and attribution bars (matplotlib, Agg backend,
no display). They read traces and analyses only."""
from __future__ import annotations

import os

import numpy as np

from ..dram import valid
from ..facade import TraceAnalysis
from ..gaps import GapCause, is_sync_call
from ..kernel_classes import KernelClass, record_classes
from ..trace.atomic import atomic_open
from ..window import step_spans_ns, step_trace

#: Above this many steps, a timeline analyses only the step it draws (analysis/window.py).
LONG_TRACE_STEPS = 64

# Colour-blind-safe: Paul Tol's "muted" scheme for kernel classes (solid), Tol "vibrant"
# tones with hatching for idle causes, so a class and a cause never differ by hue alone.
CLASS_COLORS = {
    KernelClass.GEMM: "#332288", KernelClass.ATTENTION: "#CC6677", KernelClass.NORM: "#DDCC77",
    KernelClass.ROTARY: "#117733", KernelClass.REDUCTION: "#882255", KernelClass.COPY: "#88CCEE",
    KernelClass.ELEMENTWISE: "#44AA99", KernelClass.OTHER: "#999933", KernelClass.MEMCPY: "#AA4499",
    KernelClass.MEMSET: "#DDDDDD", KernelClass.DEQUANT: "#000000", KernelClass.GRAPH: "#BBBBBB"}
CAUSE_STYLE = {GapCause.LAUNCH: ("#EE7733", "////"), GapCause.QUEUED: ("#BBBBBB", "...."),
               GapCause.SYNC: ("#0077BB", "xxxx"), GapCause.COPY: ("#33BBEE", "\\\\"),
               GapCause.OTHER: ("#FFFFFF", "----"), GapCause.GRAPH: ("#DDDDDD", "||||")}
LAUNCH_COLOR, SYNC_COLOR = "#555555", "#CC3311"
DRAM_COLOR, PEAK_COLOR, DRAM_MODEL_COLOR = "#0077BB", "#CC3311", "#EE7733"


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.fonttype"] = "none"    # SVG text stays text: searchable, and testable
    plt.rcParams["hatch.linewidth"] = 0.6
    plt.rcParams["svg.hashsalt"] = "stepscope"  # stable element ids: re-renders are identical
    return plt


def save_figure(fig, out) -> None:
    """Render to memory, then write atomically (a killed run leaves no truncated figure);
    the format follows the file name's suffix; SVG and PDF without a creation date, so a
    re-render of the same trace is byte-identical."""
    import io
    from pathlib import Path
    fmt = Path(out).suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    try:
        # the date's key is "Date" in SVG and "CreationDate" in PDF (a PDF given "Date" kept its date)
        fig.savefig(buf, format=fmt, metadata={"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt))
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


def dominant_class_runs(start, end, cls, lo_ns: float, hi_ns: float, px_ns: float):
    """At a scale where kernels are narrower than a pixel: the class with the most GPU
    time in each pixel of [lo_ns, hi_ns), runs of pixels of one class merged. Returns
    (start_ns, width_ns, class) arrays; pixels with no GPU time are left out. The time of
    each class per pixel is exact (each record clipped to the pixel's edges)."""
    n_px = max(int(np.ceil((hi_ns - lo_ns) / px_ns)), 1)
    # Times from an integer origin at lo_ns, subtracted exactly: the cumulative sums below of
    # absolute ns (~1e18 each, ~1e21 summed: float64 steps of 0.5 ms) would swamp a pixel.
    ref = int(np.floor(lo_ns))
    edges = (lo_ns - ref) + px_ns * np.arange(n_px + 1)
    start, end = (np.asarray(x) for x in (start, end))
    start, end = ((x - ref if x.dtype.kind in "iu" else x - float(ref)).astype(float) for x in (start, end))
    classes = np.unique(cls)
    per = np.zeros((len(classes), n_px))
    for i, c in enumerate(classes):
        sel = cls == c
        s, e = np.sort(start[sel]), np.sort(end[sel])
        # GPU time of class c before each edge: sum of min(edge, e) - s over records with s < edge
        cs, ce = np.r_[0.0, np.cumsum(s)], np.r_[0.0, np.cumsum(e)]
        ks, ke = np.searchsorted(s, edges), np.searchsorted(e, edges)
        before = (ce[ke] + edges * (ks - ke)) - cs[ks]
        per[i] = np.diff(before)
    busy = per.sum(axis=0) > 0
    best = classes[np.argmax(per, axis=0)]
    px = np.nonzero(busy)[0]
    if not len(px):
        return np.zeros(0), np.zeros(0), np.zeros(0, cls.dtype if hasattr(cls, "dtype") else int)
    new = np.r_[True, (np.diff(px) != 1) | (best[px][1:] != best[px][:-1])]
    first = px[new]
    last = np.r_[px[np.nonzero(new)[0][1:] - 1], px[-1]]
    edges = edges + ref      # back on the trace's clock: each run ends where the next pixel starts
    return edges[first], edges[last + 1] - edges[first], best[first]


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


def describe(a: TraceAnalysis) -> dict:
    """GPU, model, ctx and mode labels of a trace, for titles."""
    wl = a.trace.meta.get("workload", {})
    gpu = (a.trace.meta.get("gpu", {}).get("name") or "unknown GPU").replace("NVIDIA ", "")
    modes = [a.trace.strings[m] for m in np.unique(a.get_steps()["mode"])]
    return {"gpu": gpu, "model": wl.get("model") or wl.get("kind") or a.trace.meta.get("source", "trace"),
            "ctx": wl.get("ctx"), "modes": modes}


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
    mode = a.trace.strings[s["mode"][pos]]
    ms = lambda k: s[k][pos] / 1e6  # noqa: E731
    if s["floor_ns"][pos]:
        t = (f"{mode}, step {int(s['step'][pos])}: {ms('step_ns'):.2f} ms = floor {ms('floor_ns'):.2f}"
             f" + kernel inefficiency {ms('kernel_inefficiency_ns'):.2f} + launch {ms('launch_overhead_ns'):.2f}"
             f" + other idle {ms('other_idle_ns'):.2f} ms   ({s['pct_floor'][pos]:.1f}% of floor)")
    else:
        t = (f"{mode}, step {int(s['step'][pos])}: {ms('step_ns'):.2f} ms = busy {ms('busy_ns'):.2f}"
             f" + launch {ms('launch_overhead_ns'):.2f} + other idle {ms('other_idle_ns'):.2f} ms   (floor unknown)")
    return t


def _suptitle(items, modes_drawn: list[str] | None = None) -> str:
    """GPU, model, ctx and modes of the traces drawn (``modes_drawn``: the mode of each
    step drawn, else every mode of the traces), common parts once."""
    d = [describe(a) for a in items]
    parts = []
    for key, fmt in (("model", "{}"), ("ctx", "ctx {}"), ("gpu", "on {}")):
        vals = list(dict.fromkeys(str(x[key]) for x in d if x[key] is not None))
        if vals:
            parts.append(fmt.format(" / ".join(vals)))
    modes = list(dict.fromkeys(modes_drawn or [m for x in d for m in x["modes"]]))
    return " ".join(parts) + ", " + " vs ".join(modes) + ": one decode step"


def _overlaps(start, end, lo, x0_ns, x1_ns):
    return (end > lo + x0_ns) & (start < lo + x1_ns)


def timeline(paths_or_analyses, out, step: int | None = None, window_ms=None,
             width_px: int = 1800, height_px: int | None = None, dpi: int = 100):
    """One panel pair (lanes + DRAM) per trace, on one time scale (ms from step start).
    The legend lists the kernel classes, idle causes and marks drawn, and nothing else."""
    plt = _plt()
    items = [one_step(x if isinstance(x, TraceAnalysis) else TraceAnalysis(x), step) for x in paths_or_analyses]
    n = len(items)
    height_px = height_px or 380 * n + 150
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
    drawn = {"classes": set(), "causes": set(), "marks": set()}
    for j, a in enumerate(items):
        _panel(a, pick_step(a, step), axes[2 * j], axes[2 * j + 1], px_ns, x0, x1, drawn)
    axes[-1].set_xlabel("time from step start (ms)")
    handles, labels = legend_entries(plt, drawn)
    drawn_modes = [a.trace.strings[a.get_steps()["mode"][pick_step(a, step)]] for a in items]
    fig.suptitle(_suptitle(items, drawn_modes) + ("" if window_ms is None else f", {x0:g}-{x1:g} ms of it"), fontsize=11)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8, frameon=False)
    rows = -(-len(labels) // 8)
    fig.tight_layout(rect=(0, 0.03 + 0.035 * rows * 600 / height_px, 1, 1))
    save_figure(fig, out)
    return out


def legend_entries(plt, drawn: dict):
    """Legend handles and labels, in a fixed order, for what was drawn only."""
    handles, labels = [], []
    for c in KernelClass:
        if c in drawn["classes"]:
            handles.append(plt.Rectangle((0, 0), 1, 1, color=CLASS_COLORS[c]))
            labels.append(f"kernel: {c.name.lower()}")
    for c in GapCause:
        if c in drawn["causes"]:
            color, hatch = CAUSE_STYLE[c]
            handles.append(plt.Rectangle((0, 0), 1, 1, facecolor=color, hatch=hatch, edgecolor="#333333", lw=0.5))
            labels.append(f"idle: {c.name.lower()}")
    from matplotlib.lines import Line2D
    marks = {"launch": (plt.Rectangle((0, 0), 1, 1, color=LAUNCH_COLOR), "CPU: launch call"),
             "sync": (Line2D([], [], color=SYNC_COLOR, marker="v", ls="", markersize=8), "CPU: host synchronisation"),
             "dram": (Line2D([], [], color=DRAM_COLOR, lw=1.2), "DRAM read+write (PM samples)"),
             "dram_model": (plt.Rectangle((0, 0), 1, 1, color=DRAM_MODEL_COLOR, alpha=0.45),
                            "DRAM per kernel (model)"),
             "dram_counted": (plt.Rectangle((0, 0), 1, 1, color=DRAM_MODEL_COLOR, alpha=0.45),
                              "DRAM per kernel (counter pass)"),
             "peak": (Line2D([], [], color=PEAK_COLOR, lw=1, ls="--"), "peak DRAM bandwidth (NVML)")}
    if drawn.get("peak_sources"):
        marks["peak"] = (marks["peak"][0], f"peak DRAM bandwidth ({' / '.join(sorted(drawn['peak_sources']))})")
    for k, (h, lab) in marks.items():
        if k in drawn["marks"]:
            handles.append(h)
            labels.append(lab)
    return handles, labels


def _panel(a: TraceAnalysis, pos: int, ax, axd, px_ns, x0, x1, drawn: dict):
    t = a.trace
    s = a.get_steps()
    sidx, lo = s["step"][pos], s["start_ns"][pos]
    w0, w1 = x0 * 1e6, x1 * 1e6
    rel = lambda v: (v - lo) / 1e6  # noqa: E731
    api = t["api"]
    sync = is_sync_call(t)
    m = (api["step"] == sidx) & _overlaps(api["start_ns"], api["end_ns"], lo, w0, w1)
    bs, bw = coalesce(api["start_ns"][m & ~sync], api["end_ns"][m & ~sync], px_ns)
    ax.broken_barh(list(zip(rel(bs), bw / 1e6)), (2.1, 0.8), color=LAUNCH_COLOR)
    if (m & ~sync).any():
        drawn["marks"].add("launch")
    if (m & sync).any():
        ss, se = api["start_ns"][m & sync], api["end_ns"][m & sync]
        ax.broken_barh(list(zip(rel(ss), (se - ss) / 1e6)), (2.1, 0.8), color=SYNC_COLOR)
        ax.plot(rel(ss), np.full(len(ss), 2.95), "v", color=SYNC_COLOR, markersize=8, clip_on=False)
        drawn["marks"].add("sync")
    rec = a.attribution["records"]
    cls = record_classes(t, rec)
    mine = (rec.step == sidx) & _overlaps(rec.start_ns, rec.end_ns, lo, w0, w1)
    dur = rec.end_ns[mine] - rec.start_ns[mine]
    per_pixel = bool(len(dur)) and float(np.median(dur)) < px_ns
    if per_pixel:       # step scale: one class per pixel, the one with most GPU time there
        rs, rw, rc = dominant_class_runs(rec.start_ns[mine], rec.end_ns[mine], cls[mine], lo + w0, lo + w1, px_ns)
    for c, color in CLASS_COLORS.items():
        if per_pixel:
            bs, bw = rs[rc == c], rw[rc == c]
        else:
            sel = mine & (cls == c)
            bs, bw = coalesce(rec.start_ns[sel], rec.end_ns[sel], px_ns)
        if not len(bs):
            continue
        drawn["classes"].add(c)
        ax.broken_barh(list(zip(rel(bs), bw / 1e6)), (1.1, 0.8), color=color)
    kernel_lane = "GPU kernels (class)" if not per_pixel else "GPU kernels (class\nwith most time per pixel)"
    g = a.get_gaps()
    gm = (g["step"] == sidx) & _overlaps(g["start_ns"], g["end_ns"], lo, w0, w1)
    for c, (color, hatch) in CAUSE_STYLE.items():
        sel = gm & (g["cause"] == c)
        if not sel.any():
            continue
        drawn["causes"].add(c)
        bs, bw = coalesce(g["start_ns"][sel], g["end_ns"][sel], px_ns)
        ax.broken_barh(list(zip(rel(bs), bw / 1e6)), (0.1, 0.8), facecolor=color, hatch=hatch,
                       edgecolor="#333333", linewidth=0)
    from .host_lane import draw as draw_host
    if draw_host(ax, t, sidx, lo, px_ns, 3.1, 1.3):   # host spans (nn.Module, operators), when recorded
        ax.set_yticks([0.5, 1.5, 2.5, 3.75], ["GPU idle (cause)", kernel_lane, "CPU calls", "CPU: host spans"])
        ax.set_ylim(0, 4.5)
    else:
        ax.set_yticks([0.5, 1.5, 2.5], ["GPU idle (cause)", kernel_lane, "CPU calls"])
        ax.set_ylim(0, 3)
    ax.set_xlim(x0, x1)
    ax.set_title(_title(a, pos), fontsize=9, loc="left")
    pm = t["pm"]
    pk, pk_source = a.get_peak()
    sel = valid(pm) & (pm["end_ns"] > s["start_ns"][pos]) & (pm["start_ns"] < s["end_ns"][pos])
    if sel.any():
        mid = (pm["start_ns"][sel] + pm["end_ns"][sel]) / 2
        gbs = (pm["dram_read_bytes"][sel] + pm["dram_write_bytes"][sel]) / \
            np.maximum(pm["end_ns"][sel] - pm["start_ns"][sel], 1)
        o = np.argsort(mid)
        axd.plot(rel(mid[o]), gbs[o], lw=0.8, color=DRAM_COLOR, zorder=2)
        drawn["marks"].add("dram")
        rates = a.get_dram_record_rates()
        if rates is not None:       # the per-kernel model (analysis/dram_fit.py), one level per record
            rec, rp = a.attribution["records"], a.attribution["record_pos"]
            m = (rp == pos) & (rates > 0)
            o = np.argsort(rec.start_ns[m], kind="stable")
            rs, re_, rv = rel(rec.start_ns[m][o]), rel(rec.end_ns[m][o]), rates[m][o]
            # a filled area, one flat level per record (zero between records), under the PM line
            xs = np.column_stack([rs, rs, re_, re_]).ravel()
            ys = np.column_stack([np.zeros_like(rv), rv, rv, np.zeros_like(rv)]).ravel()
            axd.fill_between(xs, ys, color=DRAM_MODEL_COLOR, alpha=0.45, lw=0, zorder=1)
            counted = str(a.get_dram_kernels().get("source", "")).startswith("counter pass")
            drawn["marks"].add("dram_counted" if counted else "dram_model")
    else:
        axd.text(0.5, 0.5, "no DRAM counters in this trace", transform=axd.transAxes, ha="center",
                 va="center", fontsize=9, color="#555555")
    if pk:
        axd.axhline(pk / 1e9, color=PEAK_COLOR, lw=1, ls="--")
        drawn["marks"].add("peak")
        drawn.setdefault("peak_sources", set()).add("NVML" if str(pk_source).startswith("nvml") else "datasheet")
        axd.set_ylim(0, pk / 1e9 * 1.15)
    else:
        axd.set_ylim(bottom=0)
    axd.set_ylabel("DRAM (GB/s)" + (f"\npeak {pk / 1e9:.0f}" if pk else ""), fontsize=8)


BAR_PARTS = (("floor_ms", "memory floor", "#332288", ""),
             ("kernel_inefficiency_ms", "kernel inefficiency", "#88CCEE", ""),
             ("launch_overhead_ms", "launch overhead (idle)", "#EE7733", "////"),
             ("other_idle_ms", "other idle", "#BBBBBB", "...."))


def bar_labels(items: list[tuple[dict, str, str]]) -> tuple[list[str], str]:
    """Distinct x labels for bars described by (describe() dict, mode, file stem): only
    the fields that differ between bars go into the labels, the common ones into the
    returned title; the file name is added where labels would still collide."""
    fields = [{"model": d["model"], "ctx": f"ctx {d['ctx']}" if d["ctx"] else "", "gpu": d["gpu"], "mode": mode}
              for d, mode, _ in items]
    varying = [k for k in ("model", "gpu", "ctx", "mode") if len({f[k] for f in fields}) > 1]
    common = [fields[0][k] for k in ("model", "ctx", "gpu", "mode") if k not in varying and fields[0][k]]
    labels = ["\n".join(f[k] for k in varying if f[k]) or f["mode"] for f in fields]
    out = list(labels)
    for lab in {lab for lab in labels if labels.count(lab) > 1}:
        idx = [i for i, x in enumerate(labels) if x == lab]
        stems = [_stem(items[i][2]) for i in idx]
        pre = os.path.commonprefix(stems)
        suf = os.path.commonprefix([x[len(pre):][::-1] for x in stems])[::-1]
        for i, st in zip(idx, stems):
            diff = st[len(pre):len(st) - len(suf)].strip("-_. ")
            out[i] = f"{lab}\n{diff or st[:24]}"
    return out, " ".join(common)


def _stem(path) -> str:
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".stepscope", ".json.gz", ".json"):
        name = name.removesuffix(suffix)
    return name


def attribution_bars(paths_or_analyses, out, width_px: int = 1200, height_px: int = 600, dpi: int = 100,
                     names: list[str] | None = None):
    """Stacked bars of the median attribution, one bar per (trace, mode); the figure
    widens to 110 px a bar when there are many. Idle parts are hatched. ``names``
    (e.g. file names) tell apart bars whose GPU, model, ctx and mode are the same; by
    default the file name, or the trace's position for an analysis."""
    plt = _plt()
    rows, keys = [], []
    for i, x in enumerate(paths_or_analyses):
        a = x if isinstance(x, TraceAnalysis) else TraceAnalysis(x)
        d = describe(a)
        stem = names[i] if names else f"trace {i + 1}" if isinstance(x, TraceAnalysis) else _stem(x)
        for mode, m in a.get_summary()["modes"].items():
            rows.append(m)
            keys.append((d, mode, stem))
    labels, common = bar_labels(keys)
    width_px = max(width_px, 110 * len(rows))
    fig, ax = plt.subplots(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    no_floor = any(not m["floor_ms"] for m in rows)
    for key, label, color, hatch in BAR_PARTS:
        v = np.array([max(m[key], 0.0) for m in rows])
        if key == "kernel_inefficiency_ms" and no_floor:
            label = "kernel inefficiency (busy, where the floor is unknown)"
        if not v.any():
            continue
        ax.bar(x, v, bottom=bottom, color=color, hatch=hatch, edgecolor="#333333" if hatch else color,
               linewidth=0, label=label)
        bottom += v
    for i, m in enumerate(rows):
        if m["floor_ms"]:
            ax.text(i, bottom[i], f"{m['pct_floor']:.0f}% of floor", ha="center", va="bottom", fontsize=9)
    # labels wider than a bar's slot are turned upright, so neighbours never overlap
    widest = max((len(line) for lab in labels for line in lab.split("\n")), default=0)
    turn = widest * 6.5 > 0.9 * width_px / max(len(rows), 1)
    ax.set_xticks(x, labels, fontsize=9, rotation=90 if turn else 0)
    ax.set_ylabel("median traced step time (ms)")
    ax.set_ylim(0, bottom.max() * 1.12 if len(rows) else 1)
    ax.legend(frameon=False, fontsize=9, loc="upper right")
    ax.set_title(f"where the decode step's time goes{': ' + common if common else ''} (median traced step)",
                 fontsize=11)
    fig.tight_layout()
    save_figure(fig, out)
    return out
