"""Each figure renders from a shipped trace, and its legend lists exactly what it draws:
the kernel classes and idle causes present in the drawn step (or window), no others.
SVG text stays text (svg.fonttype none), so the legend is read back from the file."""
import re

import numpy as np
import pytest

from conftest import RESULTS, TRACES, trace_path
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gaps import GapCause
from stepscope.analysis.kernel_classes import KernelClass, record_classes
from stepscope.analysis.render.figures import attribution_bars, pick_step, timeline

EAGER = trace_path("qwen2.5-7b-ctx2048-eager-static-h100")
GRAPH = trace_path("qwen2.5-7b-ctx2048-graph-h100")


def svg_texts(path) -> set[str]:
    return set(re.findall(r">([^<>]+)</text>", path.read_text()))


def _dominant(start, end, cls, lo, px_ns, n_px):
    """Per pixel, the class with the most GPU time, each record clipped to each pixel it
    touches (a plain loop: independent of the figure's cumulative-sum version)."""
    per = {}
    for s, e, c in zip(start.tolist(), end.tolist(), cls.tolist()):
        row = per.setdefault(c, np.zeros(n_px))
        for p in range(max(int((s - lo) // px_ns), 0), min(int((e - lo) // px_ns), n_px - 1) + 1):
            row[p] += max(0.0, min(e, lo + (p + 1) * px_ns) - max(s, lo + p * px_ns))
    keys = sorted(per)
    m = np.array([per[k] for k in keys])
    return {keys[i] for i in np.argmax(m, axis=0)[m.sum(axis=0) > 0]}


def present(paths, window_ms=None, width_px=1800):
    """Kernel classes and idle causes inside the drawn step of each trace, computed
    here from the records and gaps directly. At a scale where the median kernel is
    narrower than a pixel the lane draws, per pixel, the class with the most GPU time:
    then only those classes are drawn."""
    classes, causes = set(), set()
    spans = [TraceAnalysis(p).get_steps()["step_ns"][pick_step(TraceAnalysis(p), None)] for p in paths]
    w0, w1 = ((0, max(spans)) if window_ms is None else (window_ms[0] * 1e6, window_ms[1] * 1e6))
    px_ns = (w1 - w0) / width_px
    for p in paths:
        a = TraceAnalysis(p)
        pos = pick_step(a, None)
        st = a.get_steps()
        lo = st["start_ns"][pos]
        rec = a.attribution["records"]
        sel = (rec.step == st["step"][pos]) & (rec.end_ns > lo + w0) & (rec.start_ns < lo + w1)
        cls = record_classes(a.trace, rec)[sel]
        if np.median(rec.end_ns[sel] - rec.start_ns[sel]) < px_ns:
            drawn = _dominant(rec.start_ns[sel], rec.end_ns[sel], cls, lo + w0, px_ns, int(np.ceil((w1 - w0) / px_ns)))
        else:
            drawn = set(cls.tolist())
        classes |= {KernelClass(c).name.lower() for c in drawn}
        g = a.get_gaps()
        gs = (g["step"] == st["step"][pos]) & (g["end_ns"] > lo + w0) & (g["start_ns"] < lo + w1)
        causes |= {GapCause(c).name.lower() for c in g["cause"][gs]}
    return classes, causes


def legend(texts, prefix):
    return {t[len(prefix):] for t in texts if t.startswith(prefix)}


@pytest.mark.parametrize("paths, window", [([EAGER, GRAPH], None), ([GRAPH], (0.0, 0.3)),
                                           ([trace_path("synthetic-h100")], None)])
def test_timeline_legend_lists_the_classes_and_causes_drawn(tmp_path, paths, window):
    out = timeline(paths, tmp_path / "t.svg", window_ms=window)
    texts = svg_texts(out)
    classes, causes = present(paths, window)
    assert legend(texts, "kernel: ") == classes
    assert legend(texts, "idle: ") == causes
    assert "CPU: host synchronisation" in texts or window is not None
    # Titled with model, ctx, GPU and mode; axes with units.
    assert "time from step start (ms)" in texts and any(t.startswith("DRAM (GB/s)") for t in texts)


def test_timeline_legend_differs_between_a_window_and_the_whole_step(tmp_path):
    whole = legend(svg_texts(timeline([GRAPH], tmp_path / "a.svg")), "kernel: ")
    zoom = legend(svg_texts(timeline([GRAPH], tmp_path / "b.svg", window_ms=(0.0, 0.3))), "kernel: ")
    assert zoom != whole   # a test that would pass on a fixed legend would be no test


def test_full_step_lane_shows_the_class_with_most_time():
    """At step scale the graph trace's kernel lane reads as GEMM (65% of its busy time),
    not as the many short elementwise kernels drawn last: GEMM holds most drawn pixels."""
    from stepscope.analysis.render.figures import dominant_class_runs
    a = TraceAnalysis(GRAPH)
    pos = pick_step(a, None)
    st = a.get_steps()
    rec = a.attribution["records"]
    sel = rec.step == st["step"][pos]
    lo, hi = st["start_ns"][pos], st["end_ns"][pos]
    px = (hi - lo) / 1800
    s, w, c = dominant_class_runs(rec.start_ns[sel], rec.end_ns[sel], record_classes(a.trace, rec)[sel], lo, hi, px)
    width = {k: w[c == k].sum() for k in set(c.tolist())}
    assert max(width, key=width.get) == KernelClass.GEMM
    assert (s[1:] >= s[:-1] + w[:-1] - 1e-6).all()     # runs do not overlap
    # the same classes as the plain per-pixel loop
    assert set(c.tolist()) == _dominant(rec.start_ns[sel], rec.end_ns[sel], record_classes(a.trace, rec)[sel],
                                        lo, px, int(np.ceil((hi - lo) / px)))


def test_timeline_title_names_gpu_model_ctx_and_modes(tmp_path):
    texts = svg_texts(timeline([EAGER, GRAPH], tmp_path / "t.svg"))
    title = next(t for t in texts if "one decode step" in t)
    for needle in ("qwen2.5-7b", "ctx 2048", "H100", "eager-static vs graph"):
        assert needle in title


def test_bars_legend_lists_only_parts_present_and_labels_are_distinct(tmp_path):
    paths = [EAGER, GRAPH, trace_path("qwen2.5-7b-ctx2048-eager-h100"), trace_path("qwen2.5-7b-ctx2048-eager-8steps-h100")]
    texts = svg_texts(attribution_bars(paths, tmp_path / "b.svg"))
    assert {"memory floor", "kernel inefficiency", "launch overhead (idle)", "other idle"} <= texts
    assert "median traced step time (ms)" in texts
    # A torch.profiler trace without --model has no floor: no floor entry in the legend.
    texts = svg_texts(attribution_bars([TRACES / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"], tmp_path / "k.svg"))
    assert "memory floor" not in texts and "kernel inefficiency (busy, where the floor is unknown)" in texts


def test_bar_labels_are_distinct():
    from stepscope.analysis.render.figures import bar_labels
    d = {"model": "qwen2.5-7b", "ctx": 2048, "gpu": "H100"}
    labels, common = bar_labels([(d, "eager", "qwen2.5-7b-ctx2048-eager-h100"),
                                 (d, "eager", "qwen2.5-7b-ctx2048-eager-8steps-h100"), (d, "graph", "g")])
    assert len(set(labels)) == 3 and common == "qwen2.5-7b ctx 2048 H100"


def test_compare_y_from_zero_x_spans_the_gpus_measured(tmp_path):
    """Speedup and % of floor are read as ratios, so y starts at zero; the x axis (peak
    bandwidth) spans the GPUs measured with a margin, not 0..max (half-empty axes), and no
    measured point sits on its edge."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stepscope.analysis.render.result_figures import compare_figure
    from stepscope.analysis.results.sweep import compare
    from stepscope.profiler.experiments.sweep import load_cells
    res = compare([load_cells(RESULTS / "sweep-h100"), load_cells(RESULTS / "sweep-h200")])
    seen = []
    real_savefig = plt.Figure.savefig

    def spy(fig, *a, **kw):
        seen.extend((ax.get_xlim(), ax.get_ylim()[0]) for ax in fig.axes)
        return real_savefig(fig, *a, **kw)
    plt.Figure.savefig = spy
    try:
        compare_figure(res, [], tmp_path / "c.png")
    finally:
        plt.Figure.savefig = real_savefig
    bw_tbs = [r["peak_bytes_per_s"] / 1e12 for r in res["gpus"]]
    assert len(seen) == 2 and all(y0 == 0 for _, y0 in seen)
    for (x0, x1), _ in seen:
        assert 0 < x0 < min(bw_tbs) and max(bw_tbs) < x1
        assert (max(bw_tbs) - min(bw_tbs)) / (x1 - x0) > 0.5   # the points fill most of the axis


def test_timeline_title_names_the_mode_drawn_and_the_peak_its_source(tmp_path):
    """A trace of two modes draws one step: the title names that step's mode, not both
    (synthetic-h100 was titled 'eager vs graph' over one eager panel); the peak line's
    legend says where the peak came from (a Kineto trace's is the datasheet's, not NVML's)."""
    out = tmp_path / "syn.svg"
    timeline([TraceAnalysis(TRACES / "synthetic-h100.stepscope")], out)
    t = svg_texts(out)
    assert any(x.endswith("eager: one decode step") for x in t) and not any(" vs " in x for x in t)
    assert "peak DRAM bandwidth (NVML)" in t
    from stepscope.cli import load_trace
    out = tmp_path / "kineto.svg"
    timeline([TraceAnalysis(load_trace(TRACES / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"))], out,
             window_ms=(0, 3))
    t = svg_texts(out)
    assert "peak DRAM bandwidth (datasheet)" in t and "peak DRAM bandwidth (NVML)" not in t
