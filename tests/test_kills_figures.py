"""The launch-gap timeline and the attribution bars (``analysis.render.figures``), read back
from the Figures they save (issue 31): small constructed traces whose every bar, line,
label, limit and size is computed by hand below, drawn under a matplotlibrc whose dpi and
font size are not the figures' own; and the pure helpers (interval merging, the class of
most GPU time per pixel, step choice, titles, bar labels) on inputs with hand-computed
answers. Each test names what a reader sees."""
from __future__ import annotations

import re
from types import SimpleNamespace

import matplotlib
import matplotlib.figure
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gaps import GapCause
from stepscope.analysis.kernel_classes import KernelClass
from stepscope.analysis.render import figures
from stepscope.analysis.trace import Trace, table_from_rows
from stepscope.analysis.trace.model import DOMAIN_RUNTIME
from stepscope.analysis.trace.steps import assign_steps

T0 = 1_000_000_000
US = 1000
H100 = {"name": "NVIDIA H100 80GB HBM3", "peak_bytes_per_s": 3.35e12}


def rgba(c):
    return tuple(np.round(to_rgba(c), 6))


# -- constructed traces ---------------------------------------------------------------------

def build(steps, kernels, api, sets=(), pm=(), meta=None, spans=()):
    """Times in us relative to T0 (pm: absolute ns). ``steps``: (index, mode, start, end);
    ``kernels``: (start, end, name, correlation); ``api``: (start, end, name, correlation);
    ``sets``: memsets (start, end, correlation); ``pm``: (start_ns, end_ns, read, write);
    ``spans``: depth-0 host spans (start, end, name)."""
    t = Trace()
    t.meta.update(meta or {})
    t.tables["steps"] = table_from_rows("steps", {
        "index": [s[0] for s in steps], "mode": [t.intern(s[1]) for s in steps],
        "start_ns": [T0 + s[2] * US for s in steps], "end_ns": [T0 + s[3] * US for s in steps]})
    t.tables["kernels"] = table_from_rows("kernels", {
        "start_ns": [T0 + k[0] * US for k in kernels], "end_ns": [T0 + k[1] * US for k in kernels],
        "name": [t.intern(k[2]) for k in kernels], "correlation": [k[3] for k in kernels],
        "graph_id": [0] * len(kernels), "stream": [7] * len(kernels)})
    if sets:
        t.tables["memset"] = table_from_rows("memset", {
            "start_ns": [T0 + r[0] * US for r in sets], "end_ns": [T0 + r[1] * US for r in sets],
            "correlation": [r[2] for r in sets], "graph_id": [0] * len(sets), "stream": [7] * len(sets),
            "bytes": [64] * len(sets)})
    t.tables["api"] = table_from_rows("api", {
        "start_ns": [T0 + a[0] * US for a in api], "end_ns": [T0 + a[1] * US for a in api],
        "name": [t.intern(a[2]) for a in api], "correlation": [a[3] for a in api],
        "domain": [DOMAIN_RUNTIME] * len(api), "thread_id": [1] * len(api)})
    if pm:
        t.tables["pm"] = table_from_rows("pm", {
            "start_ns": [p[0] for p in pm], "end_ns": [p[1] for p in pm],
            "dram_read_bytes": [p[2] for p in pm], "dram_write_bytes": [p[3] for p in pm]})
    if spans:
        t.tables["host_spans"] = table_from_rows("host_spans", {
            "start_ns": [T0 + s[0] * US for s in spans], "end_ns": [T0 + s[1] * US for s in spans],
            "name": [t.intern(s[2]) for s in spans], "kind": [0] * len(spans), "depth": [0] * len(spans),
            "parent": [-1] * len(spans), "thread_id": [1] * len(spans)})
    assign_steps(t)
    return t


#: Trace A, step 0 (eager, host [-100, 2000) us, 2.1 ms): GEMM [0, 400), attention [500, 700), a
#: memset [900, 1000), elementwise [1200, 1300); launch calls [-80, -20), [100, 450),
#: [750, 880) (the memset's), [1050, 1150); a stream sync [1400, 1900). Its gaps: launch
#: [-100, 0), [400, 500), [700, 900), [1000, 1200); sync [1300, 2000). Step 1 (graph, host [3000,
#: 6000) us, 3 ms, the longer: the median step of two): a norm kernel [3100, 3400) launched
#: [3010, 3090); gaps: launch [3000, 3100), other [3400, 6000). x in the figure: ms from the
#: step's host start, so step 0's t us is drawn at (t + 100) / 1000.
PM = [(T0 + 1000 * US, T0 + 1500 * US, 4_000_000, 1_000_000),   # 10 B/ns at 1.35 ms
      (T0, T0 + 1000 * US, 20_000_000, 0),                       # 20 B/ns at 0.6 ms (listed second)
      (T0 + 1500 * US, T0 + 1500 * US + 1, 7, 0),                # a 1-ns sample: 7 B/ns
      (0, T0 + 500 * US, 10**9, 0),                              # start 0: not a valid sample
      (T0 - 300 * US, T0 - 100 * US, 10**8, 0),                  # ends at the step's start: out
      (T0 + 2000 * US, T0 + 2500 * US, 10**8, 0),                # starts at the step's end: out
      (T0 + 3200 * US, T0 + 3300 * US, 10**6, 0)]                # step 1


def trace_a(pm=(), gpu=H100, spans=()):
    return build([(0, "eager", -100, 2000), (1, "graph", 3000, 6000)],
                 [(0, 400, "ampere_sgemm", 1), (500, 700, "flash_fwd", 2), (1200, 1300, "silu_kernel", 3),
                  (3100, 3400, "rms_norm_kernel", 4)],
                 [(-80, -20, "cudaLaunchKernel", 1), (100, 450, "cudaLaunchKernel", 2),
                  (750, 880, "cudaMemsetAsync", 5), (1050, 1150, "cudaLaunchKernel", 3),
                  (1400, 1900, "cudaStreamSynchronize", 0), (3010, 3090, "cudaLaunchKernel", 4)],
                 sets=[(900, 1000, 5)], pm=pm, spans=spans,
                 meta={"gpu": dict(gpu), "workload": {"model": "qwen-x", "ctx": 2048}})


def trace_b():
    """Trace B: one graph step, host [0, 1000) us, a GEMV [100, 300) launched [10, 90); an
    H200 without an NVML peak (the datasheet's 4.8 TB/s); no PM samples."""
    return build([(0, "graph", 0, 1000)], [(100, 300, "gemv_kernel", 1)], [(10, 90, "cudaGraphLaunch", 1)],
                 meta={"gpu": {"name": "NVIDIA H200"}, "workload": {"model": "llama-y", "ctx": 2048}})


@pytest.fixture
def kept(monkeypatch):
    """Every figure the module would save, kept open (not written), with the path it was
    given and the rect of each tight_layout; drawn under an rc whose dpi and font size
    are not the figures' own."""
    out = {"figs": [], "rects": []}
    monkeypatch.setattr(figures, "save_figure", lambda f, path: out["figs"].append((f, path)))
    real = matplotlib.figure.Figure.tight_layout

    def spy(self, *a, **kw):
        out["rects"].append(kw.get("rect"))
        return real(self, *a, **kw)
    monkeypatch.setattr(matplotlib.figure.Figure, "tight_layout", spy)
    with matplotlib.rc_context({"figure.dpi": 72, "font.size": 14}):
        yield out
    for f, _ in out["figs"]:
        figures._plt().close(f)


def rects(coll):
    """[(x, width, y, height)] of a broken_barh collection, from its paths."""
    out = []
    for p in coll.get_paths():
        v = p.vertices
        out.append((v[:, 0].min(), v[:, 0].max() - v[:, 0].min(), v[:, 1].min(), v[:, 1].max() - v[:, 1].min()))
    return out


def xw(coll):
    return [(x, w) for x, w, _, _ in rects(coll)]


class approx:
    """Equal to a number or a (nested) sequence of numbers within 1e-9 (relative), 1e-12."""

    def __init__(self, want):
        self.want = want

    def __eq__(self, got):
        w, g = np.asarray(self.want, float), np.asarray(got, float)
        return w.shape == g.shape and bool(np.allclose(g, w, rtol=1e-9, atol=1e-12))

    def __repr__(self):
        return f"approx({self.want!r})"


# -- the timeline: lanes ---------------------------------------------------------------------

def test_timeline_draws_the_asked_step_lane_by_lane(tmp_path, kept):
    """Step 0 of trace A at full width (one pixel 1167 ns, so nothing merges): the CPU lane
    at y 2.1-2.9 (launch calls grey, the sync red with a red 'v' at y 2.95 above it), the
    kernel lane at 1.1-1.9 one bar collection per class in the palette's order, the idle
    lane at 0.1-0.9 one per cause (colour, hatch, #333333 edge, no line), every x in ms from
    the step's start; y ticks name the three lanes, y 0..3, x 0..2.1 ms; the title gives the
    step's attribution."""
    out = figures.timeline([TraceAnalysis(trace_a())], tmp_path / "t.png", step=0)
    assert out == tmp_path / "t.png"
    ((fig, path),) = kept["figs"]
    assert path == out
    ax, axd = fig.axes
    c = ax.collections
    assert len(c) == 8
    assert xw(c[0]) == approx([(0.02, 0.06), (0.2, 0.35), (0.85, 0.13), (1.15, 0.1)])
    assert xw(c[1]) == approx([(1.5, 0.5)])
    want = [(figures.LAUNCH_COLOR, None), (figures.SYNC_COLOR, None)]
    for coll in c[:2]:
        assert all((y, h) == approx((2.1, 0.8)) for _, _, y, h in rects(coll))
    classes = [(KernelClass.GEMM, [(0.1, 0.4)]), (KernelClass.ATTENTION, [(0.6, 0.2)]),
               (KernelClass.ELEMENTWISE, [(1.3, 0.1)]), (KernelClass.MEMSET, [(1.0, 0.1)])]
    for coll, (k, bars) in zip(c[2:6], classes):
        assert xw(coll) == approx(bars), k
        assert all((y, h) == approx((1.1, 0.8)) for _, _, y, h in rects(coll))
        want.append((figures.CLASS_COLORS[k], None))
    causes = [(GapCause.LAUNCH, [(0.0, 0.1), (0.5, 0.1), (0.8, 0.2), (1.1, 0.2)]), (GapCause.SYNC, [(1.4, 0.7)])]
    for coll, (k, bars) in zip(c[6:8], causes):
        assert xw(coll) == approx(bars), k
        assert all((y, h) == approx((0.1, 0.8)) for _, _, y, h in rects(coll))
        assert coll.get_hatch() == figures.CAUSE_STYLE[k][1]
        assert rgba(coll.get_edgecolor()[0]) == rgba("#333333") and list(coll.get_linewidth()) == [0]
        want.append((figures.CAUSE_STYLE[k][0], figures.CAUSE_STYLE[k][1]))
    for coll, (colour, hatch) in zip(c[:8], want):
        assert rgba(coll.get_facecolor()[0]) == rgba(colour)
        if hatch is None:
            assert coll.get_hatch() is None
    (mark,) = ax.lines
    assert list(mark.get_xdata()) == approx([1.5]) and list(mark.get_ydata()) == [2.95]
    assert (mark.get_marker(), mark.get_linestyle(), mark.get_markersize(), mark.get_clip_on()) == ("v", "None", 8, False)
    assert rgba(mark.get_color()) == rgba(figures.SYNC_COLOR)
    assert list(ax.get_yticks()) == [0.5, 1.5, 2.5]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["GPU idle (cause)", "GPU kernels (class)", "CPU calls"]
    assert ax.get_ylim() == (0, 3) and ax.get_xlim() == approx((0.0, 2.1))
    assert ax.get_title(loc="left") == ("eager, step 0: 2.10 ms = busy 0.80 + launch 0.60 + other idle 0.70 ms"
                                        "   (floor unknown)")
    assert ax._left_title.get_fontsize() == 9
    # nine legend entries: two rows of at most eight
    assert len(fig.legends[0].get_texts()) == 9 and kept["rects"] == [approx((0, 0.03 + 0.035 * 2 * 600 / 530, 1, 1))]


def test_timeline_figure_size_layout_titles_and_legend(tmp_path, kept):
    """One trace: 1800 x 530 px at its own dpi 100 (380 px a trace + 150), two panels of
    height ratio 3 : 1.3 sharing x, the x axis named under the last; suptitle (11 pt)
    model, ctx, GPU and the drawn step's mode; the figure legend at the bottom centre,
    frameless, 8 pt, the drawn things in a fixed order, at most 8 columns: 11 entries are
    two rows, so the layout keeps 0.03 + 0.035 x 2 x 600 / 530 of the height for it."""
    a = TraceAnalysis(trace_a(pm=PM))
    a.get_dram_record_rates = lambda: np.array([3.0, 0.0, 5.0, 9.0, 4.0])
    a.get_dram_kernels = lambda: {"source": "counter pass (ncu)"}
    figures.timeline([a], tmp_path / "t.png", step=0)
    ((fig, _),) = kept["figs"]
    assert tuple(fig.get_size_inches()) == approx((18.0, 5.3)) and fig.get_dpi() == 100
    ax, axd = fig.axes
    assert ax.get_gridspec().get_height_ratios() == [3, 1.3]
    assert ax.get_shared_x_axes().joined(ax, axd)
    assert axd.get_xlabel() == "time from step start (ms)" and ax.get_xlabel() == ""
    assert fig._suptitle.get_text() == "qwen-x ctx 2048 on H100 80GB HBM3, eager: one decode step"
    assert fig._suptitle.get_fontsize() == 11
    (leg,) = fig.legends
    assert [t.get_text() for t in leg.get_texts()] == [
        "kernel: gemm", "kernel: attention", "kernel: elementwise", "kernel: memset", "idle: launch", "idle: sync",
        "CPU: launch call", "CPU: host synchronisation", "DRAM read+write (PM samples)",
        "DRAM per kernel (counter pass)", "peak DRAM bandwidth (NVML)"]
    assert leg._ncols == 8 and leg._loc == 8 and not leg.get_frame_on()
    assert {t.get_fontsize() for t in leg.get_texts()} == {8}
    h = leg.legend_handles
    assert [rgba(x.get_facecolor()) for x in h[:2]] == [rgba(figures.CLASS_COLORS[KernelClass.GEMM]),
                                                        rgba(figures.CLASS_COLORS[KernelClass.ATTENTION])]
    assert h[5].get_hatch() == figures.CAUSE_STYLE[GapCause.SYNC][1] and h[7].get_marker() == "v"
    assert kept["rects"] == [approx((0, 0.03 + 0.035 * 2 * 600 / 530, 1, 1))]


def test_timeline_dram_panel_draws_pm_samples_model_and_peak(tmp_path, kept):
    """The DRAM panel: the PM samples of the step (valid, overlapping its host span: not the
    sample starting at 0, nor those ending at its start or starting at its end) as
    (read + write) / duration B/ns = GB/s at their midpoints in time order (a 1-ns sample
    too), blue, 0.8 pt, over the per-kernel model: one flat level per record of the step
    with a positive rate (0.5 B/ns too; not 0), zero between, time-ordered (the memset, last in the records,
    between its kernels), orange at 45%, no line, under the PM line; the NVML peak
    dashed red at 3350 GB/s, the y axis 0 .. 1.15 x peak, named with the peak."""
    a = TraceAnalysis(trace_a(pm=PM))
    a.get_dram_record_rates = lambda: np.array([0.5, 0.0, 5.0, 9.0, 4.0])   # K1 K2 K3 K4(step 1) memset
    a.get_dram_kernels = lambda: {"source": "pm deconvolution"}
    figures.timeline([a], tmp_path / "t.png", step=0)
    ((fig, _),) = kept["figs"]
    axd = fig.axes[1]
    line, peak = axd.lines
    assert list(line.get_xdata()) == approx([0.6, 1.35, 1.6000005])
    assert list(line.get_ydata()) == approx([20.0, 10.0, 7.0])
    assert (line.get_linewidth(), line.get_zorder()) == (0.8, 2) and rgba(line.get_color()) == rgba(figures.DRAM_COLOR)
    (fill,) = axd.collections
    v = fill.get_paths()[0].vertices
    top = [(x, y) for x, y in v if y > 0]
    assert top == approx([(0.1, 0.5), (0.5, 0.5), (1.0, 4.0), (1.1, 4.0), (1.3, 5.0), (1.4, 5.0)])
    assert sorted(set(np.round(v[:, 0], 9).tolist())) == approx([0.1, 0.5, 1.0, 1.1, 1.3, 1.4])
    assert v[:, 1].min() == 0
    assert rgba(fill.get_facecolor()[0])[:3] == rgba(figures.DRAM_MODEL_COLOR)[:3]
    assert fill.get_alpha() == 0.45 and list(fill.get_linewidth()) == [0] and fill.get_zorder() == 1
    assert list(peak.get_ydata()) == [3350.0, 3350.0] and rgba(peak.get_color()) == rgba(figures.PEAK_COLOR)
    assert (peak.get_linewidth(), peak.get_linestyle()) == (1, "--")
    assert axd.get_ylim() == (0, 3.35e12 / 1e9 * 1.15)
    assert axd.get_ylabel() == "DRAM (GB/s)\npeak 3350" and axd.yaxis.label.get_fontsize() == 8
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "DRAM per kernel (model)" in texts and "DRAM per kernel (counter pass)" not in texts
    assert not axd.texts


def test_timeline_peak_in_gb_per_s(tmp_path, kept):
    """The peak is shown in GB/s = bytes/s / 1e9, rounded to whole GB/s (3351.5: 3352)."""
    figures.timeline([TraceAnalysis(trace_a(pm=PM, gpu={"name": "X", "peak_bytes_per_s": 3.3515e12}))],
                     tmp_path / "t.png", step=0)
    axd = kept["figs"][0][0].axes[1]
    assert axd.get_ylabel() == "DRAM (GB/s)\npeak 3352" and axd.get_ylim() == (0, 3351.5 * 1.15)
    assert list(axd.lines[-1].get_ydata()) == [3351.5, 3351.5]


def test_timeline_without_a_peak_starts_dram_at_zero_and_skips_empty_rates(tmp_path, kept):
    """A GPU of unknown peak: no peak line, no peak in the legend or the y label, the DRAM
    axis from 0 (not from the lowest sample); no model rates: no fill, no model entry;
    the default step is the median one (step 1: its norm kernel, its launch and other
    idle; x 0..3 ms), and the titles say step 1 and its mode (graph)."""
    a = TraceAnalysis(trace_a(pm=PM, gpu={}))
    a.get_dram_record_rates = lambda: None
    figures.timeline([a], tmp_path / "t.png")
    ((fig, _),) = kept["figs"]
    ax, axd = fig.axes
    (line,) = axd.lines
    assert list(line.get_ydata()) == approx([10.0]) and list(line.get_xdata()) == approx([0.25])
    assert not axd.collections and axd.get_ylim()[0] == 0 and axd.get_ylim()[1] > 10.0
    assert axd.get_ylabel() == "DRAM (GB/s)"
    assert ax.get_xlim() == approx((0.0, 3.0))
    assert ax.get_title(loc="left").startswith("graph, step 1: 3.00 ms = busy 0.30 + launch 0.10")
    c = ax.collections
    assert xw(c[0]) == approx([(0.01, 0.08)]) and xw(c[1]) == approx([(0.1, 0.3)])
    assert rgba(c[1].get_facecolor()[0]) == rgba(figures.CLASS_COLORS[KernelClass.NORM])
    assert xw(c[2]) == approx([(0.0, 0.1)]) and xw(c[3]) == approx([(0.4, 2.6)])
    assert rgba(c[3].get_facecolor()[0]) == rgba(figures.CAUSE_STYLE[GapCause.OTHER][0])
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["kernel: norm", "idle: launch", "idle: other", "CPU: launch call", "DRAM read+write (PM samples)"]
    assert fig.legends[0]._ncols == 5
    assert fig._suptitle.get_text() == "qwen-x ctx 2048 on unknown GPU, graph: one decode step"


def test_timeline_of_two_traces_in_a_window(tmp_path, kept):
    """Trace A (an analysis) and trace B (a file), step 0, window 0.5-1.3 ms, 1000 px high
    at dpi 50: four panels; only what overlaps the window is drawn (A's GEMM ending at the
    window's start and elementwise kernel starting at its end are not, nor any sync);
    nothing in B's window; both DRAM panels say there are no counters; B's peak is the
    H200 datasheet's; the suptitle joins both models and GPUs and both drawn modes, and
    names the window (the modes of the steps drawn: A's step 0 is eager, its median step
    graph); one legend row of six; the x axis named under the last panel only."""
    b = tmp_path / "b.stepscope"
    trace_b().save(b)
    figures.timeline([TraceAnalysis(trace_a()), b], tmp_path / "t.png", step=0, window_ms=(0.5, 1.3),
                     height_px=1000, dpi=50)
    ((fig, _),) = kept["figs"]
    assert tuple(fig.get_size_inches()) == approx((36.0, 20.0)) and fig.get_dpi() == 50
    assert len(fig.axes) == 4
    assert fig.axes[0].get_gridspec().get_height_ratios() == [3, 1.3, 3, 1.3]
    ax, axd, bx, bxd = fig.axes
    c = ax.collections
    assert len(c) == 4
    assert xw(c[0]) == approx([(0.2, 0.35), (0.85, 0.13), (1.15, 0.1)])
    assert xw(c[1]) == approx([(0.6, 0.2)]) and xw(c[2]) == approx([(1.0, 0.1)])
    assert xw(c[3]) == approx([(0.5, 0.1), (0.8, 0.2), (1.1, 0.2)])
    assert not ax.lines
    assert ax.get_xlim() == approx((0.5, 1.3)) and bx.get_xlim() == approx((0.5, 1.3))
    assert xw(bx.collections[0]) == [] and xw(bx.collections[1]) == approx([(0.3, 0.7)])
    for d in (axd, bxd):
        (t,) = d.texts
        assert t.get_text() == "no DRAM counters in this trace" and t.get_position() == (0.5, 0.5)
        assert t.get_transform() == d.transAxes and (t.get_ha(), t.get_va()) == ("center", "center")
        assert t.get_fontsize() == 9 and rgba(t.get_color()) == rgba("#555555")
    assert bxd.get_ylim() == approx((0, 4800 * 1.15)) and bxd.get_ylabel() == "DRAM (GB/s)\npeak 4800"
    assert bx.get_title(loc="left").startswith("graph, step 0: 1.00 ms")
    assert bxd.get_xlabel() == "time from step start (ms)" and axd.get_xlabel() == bx.get_xlabel() == ""
    assert fig._suptitle.get_text() == ("qwen-x / llama-y ctx 2048 on H100 80GB HBM3 / H200, eager vs graph: "
                                        "one decode step, 0.5-1.3 ms of it")
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["kernel: attention", "kernel: memset", "idle: launch", "idle: other", "CPU: launch call",
                     "peak DRAM bandwidth (NVML / datasheet)"]
    assert fig.legends[0]._ncols == 6
    assert kept["rects"] == [approx((0, 0.03 + 0.035 * 600 / 1000, 1, 1))]


def test_timeline_window_with_only_a_sync_call_lists_no_launch_call(tmp_path, kept):
    """Window 1.55-2.1 ms of step 0: its only CPU call is the sync (red bar, marker, legend
    entry); no launch call drawn, none in the legend; nor any kernel, only the sync idle."""
    figures.timeline([TraceAnalysis(trace_a())], tmp_path / "t.png", step=0, window_ms=(1.55, 2.1))
    ((fig, _),) = kept["figs"]
    ax = fig.axes[0]
    assert xw(ax.collections[0]) == [] and xw(ax.collections[1]) == approx([(1.5, 0.5)])
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["idle: sync", "CPU: host synchronisation", "peak DRAM bandwidth (NVML)"]


def test_timeline_of_two_traces_spans_the_longer_step(tmp_path, kept):
    """Without a window the shared x axis spans the longer of the drawn steps (A's 2.1 ms,
    not B's 1.0), the height is 380 px a trace + 150."""
    figures.timeline([TraceAnalysis(trace_a()), TraceAnalysis(trace_b())], tmp_path / "t.png", step=0)
    ((fig, _),) = kept["figs"]
    assert fig.axes[2].get_xlim() == approx((0.0, 2.1))
    assert tuple(fig.get_size_inches()) == approx((18.0, 9.1))


def test_timeline_at_step_scale_draws_the_class_with_most_time_per_pixel(tmp_path, kept):
    """Window 0.21-2.1 ms over 9 px: 210 us a pixel, over the 150-us median kernel, so the
    kernel lane draws per pixel (from the window's start) the class with most GPU time:
    GEMM 0.21-0.63 (it outweighs attention in 0.42-0.63), attention to 0.84, memset to
    1.26, elementwise 1.26-1.47; launch calls and idle of one cause closer than a pixel
    merge into one bar; the lane's tick says it is per pixel."""
    figures.timeline([TraceAnalysis(trace_a())], tmp_path / "t.png", step=0, window_ms=(0.21, 2.1), width_px=9)
    ((fig, _),) = kept["figs"]
    ax = fig.axes[0]
    c = ax.collections
    assert xw(c[0]) == approx([(0.2, 0.35), (0.85, 0.4)]) and xw(c[1]) == approx([(1.5, 0.5)])
    assert [xw(x) for x in c[2:6]] == [approx([(0.21, 0.42)]), approx([(0.63, 0.21)]), approx([(1.26, 0.21)]),
                                       approx([(0.84, 0.42)])]
    assert xw(c[6]) == approx([(0.5, 0.8)]) and xw(c[7]) == approx([(1.4, 0.7)])
    assert ax.get_yticklabels()[1].get_text() == "GPU kernels (class\nwith most time per pixel)"


def test_timeline_per_pixel_only_below_the_median_kernel():
    """A pixel exactly as long as the median kernel (1.5 ms over 10 px = 150 us) keeps
    the per-class bars (no sync in the window: the GEMM bar follows the launch bars)."""
    figs = []
    real = figures.save_figure
    try:
        figures.save_figure = lambda f, p: figs.append(f)
        figures.timeline([TraceAnalysis(trace_a())], "x.png", step=0, window_ms=(0.0, 1.5), width_px=10)
    finally:
        figures.save_figure = real
    (fig,) = figs
    ax = fig.axes[0]
    assert ax.get_yticklabels()[1].get_text() == "GPU kernels (class)"
    assert xw(ax.collections[1]) == approx([(0.1, 0.4)])
    figures._plt().close(fig)


def test_timeline_host_spans_get_a_fourth_lane(tmp_path, kept):
    """A step with host spans: a fourth lane 'CPU: host spans' at 3.1-4.4 (one row: its bar
    at 3.1 + 5% .. 95% of 1.3), y 0..4.5."""
    figures.timeline([TraceAnalysis(trace_a(spans=[(-90, 1950, "Model.forward")]))], tmp_path / "t.png", step=0)
    ((fig, _),) = kept["figs"]
    ax = fig.axes[0]
    assert list(ax.get_yticks()) == [0.5, 1.5, 2.5, 3.75]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["GPU idle (cause)", "GPU kernels (class)", "CPU calls",
                                                            "CPU: host spans"]
    assert ax.get_ylim() == (0, 4.5)
    assert rects(ax.collections[-1]) == [approx((0.01, 2.04, 3.1 + 0.065, 1.17))]


@pytest.mark.parametrize("window, msg", [((-1.0, 0.0), "--window -1:0 ms"), ((2.1, 3.0), "--window 2.1:3 ms")])
def test_timeline_refuses_a_window_outside_the_step(tmp_path, window, msg):
    """A window ending at or before 0, or starting at or after the longest drawn step's end
    (2.1 ms, A's, not B's 1.0), would draw nothing: refused, saying where the step is."""
    with pytest.raises(ValueError, match="^" + re.escape(msg + " is outside the step (0 to 2.100 ms): "
                                                         "the figure would be blank.") + "$"):
        figures.timeline([TraceAnalysis(trace_b()), TraceAnalysis(trace_a())], tmp_path / "t.png", step=0,
                         window_ms=window)
    figures._plt().close("all")


def test_timeline_window_inside_the_longer_step_is_drawn(tmp_path, kept):
    """A window starting after B's 1.0-ms step but inside A's 2.1 ms is drawn."""
    figures.timeline([TraceAnalysis(trace_b()), TraceAnalysis(trace_a())], tmp_path / "t.png", step=0,
                     window_ms=(1.5, 3.0))
    assert len(kept["figs"]) == 1


# -- legend entries ----------------------------------------------------------------------------

def test_legend_entries_in_fixed_order_with_their_styles():
    """Classes in KernelClass order, causes in GapCause order, then the marks in the order
    launch, sync, DRAM, model, counter pass, peak; each handle drawn as its mark is."""
    plt = figures._plt()
    drawn = {"classes": {KernelClass.MEMSET, KernelClass.GEMM}, "causes": {GapCause.SYNC, GapCause.LAUNCH},
             "marks": {"peak", "dram_counted", "dram_model", "dram", "sync", "launch"}}
    h, labels = figures.legend_entries(plt, drawn)
    assert labels == ["kernel: gemm", "kernel: memset", "idle: launch", "idle: sync", "CPU: launch call",
                      "CPU: host synchronisation", "DRAM read+write (PM samples)", "DRAM per kernel (model)",
                      "DRAM per kernel (counter pass)", "peak DRAM bandwidth (NVML)"]
    assert rgba(h[0].get_facecolor()) == rgba(figures.CLASS_COLORS[KernelClass.GEMM])
    assert rgba(h[1].get_facecolor()) == rgba(figures.CLASS_COLORS[KernelClass.MEMSET])
    for hh, k in ((h[2], GapCause.LAUNCH), (h[3], GapCause.SYNC)):
        assert rgba(hh.get_facecolor()) == rgba(figures.CAUSE_STYLE[k][0]) and hh.get_hatch() == figures.CAUSE_STYLE[k][1]
        assert rgba(hh.get_edgecolor()) == rgba("#333333") and hh.get_linewidth() == 0.5
    assert rgba(h[4].get_facecolor()) == rgba(figures.LAUNCH_COLOR)
    assert rgba(h[5].get_color()) == rgba(figures.SYNC_COLOR)
    assert (h[5].get_marker(), h[5].get_linestyle(), h[5].get_markersize()) == ("v", "None", 8)
    assert rgba(h[6].get_color()) == rgba(figures.DRAM_COLOR) and h[6].get_linewidth() == 1.2
    for hh in h[7:9]:
        assert rgba(hh.get_facecolor())[:3] == rgba(figures.DRAM_MODEL_COLOR)[:3] and hh.get_alpha() == 0.45
    assert rgba(h[9].get_color()) == rgba(figures.PEAK_COLOR)
    assert (h[9].get_linewidth(), h[9].get_linestyle()) == (1, "--")


def test_legend_entries_name_the_peak_sources():
    """The peak entry names its sources sorted and joined by ' / '; no sources (or none
    recorded): NVML."""
    plt = figures._plt()
    base = {"classes": set(), "causes": set(), "marks": {"peak"}}
    assert figures.legend_entries(plt, base)[1] == ["peak DRAM bandwidth (NVML)"]
    assert figures.legend_entries(plt, {**base, "peak_sources": set()})[1] == ["peak DRAM bandwidth (NVML)"]
    assert figures.legend_entries(plt, {**base, "peak_sources": {"datasheet", "NVML"}})[1] == \
        ["peak DRAM bandwidth (NVML / datasheet)"]
    assert figures.legend_entries(plt, {**base, "peak_sources": {"datasheet"}})[1] == \
        ["peak DRAM bandwidth (datasheet)"]
    assert figures.legend_entries(plt, {"classes": set(), "causes": set(), "marks": set()}) == ([], [])


# -- pure helpers ------------------------------------------------------------------------------

def test_coalesce_merges_gaps_up_to_a_pixel_in_start_order():
    """Unsorted, nested and touching intervals: sorted by start, a gap of exactly the pixel
    (10) merges, one longer (10 > 9.5) does not; a nested interval does not shorten its run
    (the running latest end)."""
    s = np.array([50, 0, 5, 30, 61], np.int64)
    e = np.array([60, 20, 10, 40, 70], np.int64)
    bs, bw = figures.coalesce(s, e, 10)
    assert bs.tolist() == [0] and bw.tolist() == [70]
    bs, bw = figures.coalesce(s, e, 9.5)
    assert bs.tolist() == [0, 30, 50] and bw.tolist() == [20, 10, 20]
    bs, bw = figures.coalesce(s, e, 0)
    assert bs.tolist() == [0, 30, 50, 61] and bw.tolist() == [20, 10, 10, 9]


def test_coalesce_keeps_equal_starts_in_input_order():
    """Equal starts merge into one run whose width reaches the latest end of them."""
    bs, bw = figures.coalesce(np.array([0, 0, 100]), np.array([50, 30, 120]), 10)
    assert bs.tolist() == [0, 100] and bw.tolist() == [50, 20]


def test_coalesce_of_nothing_is_two_empty_arrays():
    bs, bw = figures.coalesce(np.zeros(0), np.zeros(0), 5)
    assert bs.shape == (0,) and bw.shape == (0,)


def test_dominant_class_runs_per_pixel_exact_time():
    """Pixels of 10 ns over [0, 95) (ten pixels, the last one past 95): class 6 [0, 15),
    [55, 58), [70, 75); class 2 [12, 30), [56, 65), [75, 80), listed out of order. Pixel 0:
    6 (10 ns); 1: 2 (8 vs 5); 2: 2; 3, 4: empty; 5: 2 (4 vs 3); 6: 2; 7: a 5-5 tie, the
    lower class (2) - merged with 5 and 6; 8: empty; 9: class 6 [90, 98)."""
    s = np.array([56, 0, 12, 55, 70, 75, 90], float)
    e = np.array([65, 15, 30, 58, 75, 80, 98], float)
    c = np.array([2, 6, 2, 6, 6, 2, 6])
    bs, bw, bc = figures.dominant_class_runs(s, e, c, 0, 95, 10)
    assert bs.tolist() == [0, 10, 50, 90] and bw.tolist() == [10, 20, 30, 10] and bc.tolist() == [6, 2, 2, 6]


def test_dominant_class_runs_clip_to_the_pixel_edges_from_lo():
    """Pixels start at lo (100): a record [95, 135) holds 10 ns of pixel 0 [100, 110) and 5
    of pixel 3 [130, 140) where class 1 has 8 of [132, 140); a run of one class over
    adjacent pixels is one run; a zero-length window still has one pixel."""
    bs, bw, bc = figures.dominant_class_runs(np.array([95, 132]), np.array([135, 140]), np.array([4, 1]),
                                             100, 140, 10)
    assert bs.tolist() == [100, 130] and bw.tolist() == [30, 10] and bc.tolist() == [4, 1]
    bs, bw, bc = figures.dominant_class_runs(np.array([0.0]), np.array([20.0]), np.array([3]), 0, 0, 10)
    assert bs.tolist() == [0] and bw.tolist() == [10] and bc.tolist() == [3]


def test_dominant_class_runs_exact_at_recorded_timestamps():
    """At a recorded trace's clock (~1.8e18 ns) with 700 records the per-pixel times stay
    exact (the sums of absolute ns, ~1e21, had float64 steps of 65 us: the class drawn was
    noise; the shipped graph trace drew a memcpy pixel no exact count gives): 1000-ns
    pixels; in [0, 3000) class 2 holds 6 ns of every 10, class 5 the other 4; in [3000,
    4000) class 5 holds 7 of 10."""
    lo = 1_795_328_804_496_933_705
    i, j = np.arange(300), np.arange(100)
    s = np.r_[lo + 10 * i, lo + 10 * i + 6, lo + 3000 + 10 * j, lo + 3007 + 10 * j]
    e = np.r_[lo + 10 * i + 6, lo + 10 * i + 10, lo + 3007 + 10 * j, lo + 3010 + 10 * j]
    c = np.r_[np.full(300, 2), np.full(300, 5), np.full(100, 5), np.full(100, 2)]
    bs, bw, bc = figures.dominant_class_runs(s, e, c, lo, lo + 4000, 1000.0)
    assert bc.tolist() == [2, 5]
    assert bs[0] == float(lo) and bw.tolist() == pytest.approx([3000, 1000], abs=512)
    assert bs[1] == bs[0] + bw[0]
    # float times (rounded to 256 ns there) give the same classes
    bs, bw, bc = figures.dominant_class_runs(s.astype(float), e.astype(float), c, float(lo), float(lo + 4000), 1000.0)
    assert bc.tolist() == [2, 5]


def test_dominant_class_runs_integer_times_stay_integer_until_relative():
    """Integer times are taken from the origin before they become float: at 1.8e18 ns a
    float64 is a multiple of 256, so class 5 [lo, lo + 300) and class 2 [lo + 300,
    lo + 500) would read 256 ns each (a tie, drawn as class 2); exact, class 5 has more."""
    lo = 256 * 7_013_000_000_000_000
    bs, bw, bc = figures.dominant_class_runs(np.array([lo, lo + 300]), np.array([lo + 300, lo + 500]),
                                             np.array([5, 2]), lo, lo + 1000, 1000.0)
    assert bc.tolist() == [5] and bs[0] == float(lo)


def test_dominant_class_runs_first_records_and_one_ns_pixels():
    """10-ns pixels. Class 2 [0, 5), [10, 14), class 5 [14, 18): pixel 1 is a 4-4 tie
    (class 2, the lower) though class 5's first record starts there: one run of class 2.
    Class 5 [0, 3), class 2 [10, 14), class 5 [14, 18), class 2 [25, 26): pixel 1 is again
    a tie though class 2's first record ends there; pixel 2 holds 1 ns (busy): class 5,
    then class 2 for two pixels."""
    bs, bw, bc = figures.dominant_class_runs(np.array([0, 10, 14]), np.array([5, 14, 18]), np.array([2, 2, 5]),
                                             0, 20, 10)
    assert bs.tolist() == [0] and bw.tolist() == [20] and bc.tolist() == [2]
    bs, bw, bc = figures.dominant_class_runs(np.array([0, 10, 14, 25]), np.array([3, 14, 18, 26]),
                                             np.array([5, 2, 5, 2]), 0, 30, 10)
    assert bs.tolist() == [0, 10] and bw.tolist() == [10, 20] and bc.tolist() == [5, 2]


def test_dominant_class_runs_of_no_gpu_time_is_empty_of_the_class_dtype():
    bs, bw, bc = figures.dominant_class_runs(np.array([200.0]), np.array([300.0]), np.array([3], np.int16), 0, 100, 10)
    assert bs.shape == bw.shape == bc.shape == (0,) and bc.dtype == np.int16


def steps_of(**cols):
    return SimpleNamespace(get_steps=lambda: {k: np.asarray(v) for k, v in cols.items()})


def test_pick_step_median_or_the_asked_one():
    """None: the row of the median-duration step (of four, the third shortest); a step
    index: its row; an unknown one: refused, listing the steps."""
    a = steps_of(step=[5, 6, 7, 8], step_ns=[40, 10, 30, 20])
    assert figures.pick_step(a, None) == 2
    assert figures.pick_step(a, 8) == 3 and figures.pick_step(a, 5) == 0
    assert isinstance(figures.pick_step(a, 6), int)
    with pytest.raises(ValueError, match=r"^the trace has no step 9 \(steps: 5, 6, 7, 8\)\.$"):
        figures.pick_step(a, 9)


def fake(meta, modes=(0,), strings=("eager",)):
    t = SimpleNamespace(meta=meta, strings=list(strings))
    return SimpleNamespace(trace=t, get_steps=lambda: {"mode": np.array(modes)})


def test_describe_labels_with_fallbacks():
    """GPU name without 'NVIDIA ', else 'unknown GPU'; model, else the workload's kind,
    else the trace's source, else 'trace'; ctx or None; the modes of the steps, once each."""
    d = figures.describe(fake({"gpu": {"name": "NVIDIA H100"}, "workload": {"model": "m", "kind": "k", "ctx": 512},
                               "source": "s"}, modes=[1, 0, 1], strings=["graph", "eager"]))
    assert d == {"gpu": "H100", "model": "m", "ctx": 512, "modes": ["graph", "eager"]}
    assert figures.describe(fake({"gpu": {"name": None}, "workload": {"kind": "k"}, "source": "s"})) == \
        {"gpu": "unknown GPU", "model": "k", "ctx": None, "modes": ["eager"]}
    assert figures.describe(fake({"workload": {"model": ""}, "source": "s"}))["model"] == "s"
    d = figures.describe(fake({}))
    assert d["model"] == "trace" and d["gpu"] == "unknown GPU"


def test_suptitle_names_common_parts_once():
    """Models, ctxs and GPUs of all traces, each distinct one once, joined by ' / ' (a
    missing ctx left out); the modes drawn, else every mode of the traces; ' vs '."""
    a = fake({"gpu": {"name": "NVIDIA H100"}, "workload": {"model": "qwen", "ctx": None}})
    b = fake({"gpu": {"name": "H100"}, "workload": {"model": "llama", "ctx": 4096}}, modes=[0, 1],
             strings=["graph", "eager"])
    c = fake({"gpu": {"name": "H200"}, "workload": {"model": "qwen", "ctx": 4096}}, strings=["graph"])
    assert figures._suptitle([a, b, c]) == "qwen / llama ctx 4096 on H100 / H200, eager vs graph: one decode step"
    assert figures._suptitle([a, b], ["graph", "graph"]) == "qwen / llama ctx 4096 on H100, graph: one decode step"
    assert figures._suptitle([a]) == "qwen on H100, eager: one decode step"


def test_title_gives_the_steps_attribution():
    """With a floor: step time = floor + kernel inefficiency + launch + other idle, and the
    % of floor; without: busy + launch + other idle, floor unknown; of the row asked; ms
    are ns / 1e6 (1 205 000 ns: 1.21, where ns / 1.000001e6 would print 1.20)."""
    t = SimpleNamespace(strings=["eager", "graph"])
    s = {"mode": np.array([0, 1]), "step": np.array([3, 7]), "step_ns": np.array([1_205_000, 2_345_678]),
         "floor_ns": np.array([0, 1_000_000]), "kernel_inefficiency_ns": np.array([9, 500_000]),
         "launch_overhead_ns": np.array([300_000, 600_000]), "other_idle_ns": np.array([196_000, 245_678]),
         "busy_ns": np.array([708_000, 9]), "pct_floor": np.array([0.0, 42.66])}
    a = SimpleNamespace(trace=t, get_steps=lambda: s)
    assert figures._title(a, 1) == ("graph, step 7: 2.35 ms = floor 1.00 + kernel inefficiency 0.50 + launch 0.60"
                                    " + other idle 0.25 ms   (42.7% of floor)")
    assert figures._title(a, 0) == "eager, step 3: 1.21 ms = busy 0.71 + launch 0.30 + other idle 0.20 ms   (floor unknown)"


def long_trace(n):
    """n steps, index i + 10, host [i ms, i ms + 100 + (37 i mod n) us), one kernel each."""
    d = [100 + (37 * i) % n for i in range(n)]
    return build([(i + 10, "eager", i * 1000, i * 1000 + d[i]) for i in range(n)],
                 [(i * 1000 + 10, i * 1000 + 50, "gemv", i + 1) for i in range(n)],
                 [(i * 1000 + 1, i * 1000 + 5, "cudaLaunchKernel", i + 1) for i in range(n)])


def test_one_step_cuts_the_drawn_step_out_of_a_long_trace():
    """Over 64 steps, not yet analysed: the drawn step alone (the median span: of 65,
    the 33rd; spans 100 + 37 i mod 65 us, so i = 36, index 46; or the asked index),
    with the calibration kept; an unknown step: the whole analysis (pick_step refuses)."""
    cal = {"achievable": 1}
    a = TraceAnalysis(long_trace(65), calibration=cal)
    o = figures.one_step(a, None)
    assert o is not a and o.calibration is cal
    assert o.trace["steps"]["index"].tolist() == [46]
    assert o.trace["steps"]["start_ns"].tolist() == [T0 + 36 * 1000 * US]
    assert figures.one_step(a, 50).trace["steps"]["index"].tolist() == [50]
    assert figures.one_step(a, 999) is a


def test_timeline_of_a_long_trace_draws_the_asked_step(tmp_path, kept):
    """A 65-step trace: the step asked (index 50) is cut out and drawn (its title, its
    100 + (37 x 40 mod 65) = 150-us span); without one, the median step (index 46, 132 us)."""
    figures.timeline([TraceAnalysis(long_trace(65))], tmp_path / "t.png", step=50)
    ax = kept["figs"][0][0].axes[0]
    assert ax.get_title(loc="left").startswith("eager, step 50: 0.15 ms") and ax.get_xlim() == approx((0, 0.15))
    figures.timeline([TraceAnalysis(long_trace(65))], tmp_path / "u.png")
    assert kept["figs"][1][0].axes[0].get_title(loc="left").startswith("eager, step 46: 0.13 ms")


def test_one_step_keeps_a_short_or_analysed_trace():
    """64 steps: the analysis itself; over 64 but already analysed: itself too."""
    a = TraceAnalysis(long_trace(64))
    assert figures.one_step(a, None) is a and figures.one_step(a, 12) is a
    b = TraceAnalysis(long_trace(65))
    assert "steps" in b.attribution
    assert figures.one_step(b, None) is b


# -- bar labels ---------------------------------------------------------------------------------

D100 = {"model": "qwen", "ctx": 2048, "gpu": "H100"}
D200 = {"model": "qwen", "ctx": 2048, "gpu": "H200"}


def test_bar_labels_keep_varying_fields_in_labels_and_common_ones_in_the_title():
    """GPU and mode vary (labels: GPU then mode); model and ctx are common (the title: model,
    ctx); one bar: every field common, the label its mode; a missing ctx left out."""
    labels, common = figures.bar_labels([(D100, "eager", "a"), (D200, "eager", "b"), (D100, "graph", "c")])
    assert labels == ["H100\neager", "H200\neager", "H100\ngraph"] and common == "qwen ctx 2048"
    labels, common = figures.bar_labels([({**D100, "ctx": None}, "eager", "a")])
    assert labels == ["eager"] and common == "qwen H100 eager"
    labels, common = figures.bar_labels([(D100, "eager", "a"), ({**D100, "ctx": 4096, "model": "llama"}, "eager", "b")])
    assert labels == ["qwen\nctx 2048", "llama\nctx 4096"] and common == "H100 eager"


def test_bar_labels_tell_colliding_bars_apart_by_file_name():
    """Equal labels get the part of their file stem that differs (common prefix and suffix
    cut, '-_. ' stripped), or the stem's first 24 characters where nothing differs."""
    items = [(D100, "eager", "runs/qwen2.5-7b-ctx2048-eager-h100.stepscope"),
             (D100, "eager", "runs\\qwen2.5-7b-ctx2048-eager-8steps-h100.json.gz"),
             (D100, "graph", "g.json")]
    labels, common = figures.bar_labels(items)
    assert labels == ["eager\nqwen2.5-7b-ctx2048-eager", "eager\n8steps", "graph"]
    assert common == "qwen ctx 2048 H100"
    labels, _ = figures.bar_labels([(D100, "eager", "run_a.json"), (D100, "eager", "run_b.json"),
                                    (D100, "eager", "run.c.json")])
    assert labels == ["eager\na", "eager\nb", "eager\nc"]
    labels, _ = figures.bar_labels([(D100, "eager", "run-X.json"), (D100, "eager", "run-Y.json")])
    assert labels == ["eager\nX", "eager\nY"]


def test_stem_drops_folders_and_trace_suffixes():
    assert figures._stem("a/b/c.stepscope") == "c" and figures._stem("a\\b\\c.json.gz") == "c"
    assert figures._stem("c.json") == "c" and figures._stem("c.stepscope.json") == "c.stepscope"
    assert figures._stem("x.json.gz.stepscope") == "x"
    from pathlib import Path
    assert figures._stem(Path("d") / "e.tar") == "e.tar"


# -- attribution bars -------------------------------------------------------------------------

class Fake(TraceAnalysis):
    """An analysis of given summary modes (no trace read)."""

    def __init__(self, modes: dict, gpu="NVIDIA H100", model="qwen-x", ctx=2048):
        self.trace = Trace(strings=list(modes), meta={"gpu": {"name": gpu}, "workload": {"model": model, "ctx": ctx}})
        self.calibration = None
        self._modes = modes

    def get_summary(self):
        return {"modes": self._modes}

    def get_steps(self):
        return {"mode": np.arange(len(self._modes))}


def part(floor, ki, launch, other, pct=0.0):
    return {"floor_ms": floor, "kernel_inefficiency_ms": ki, "launch_overhead_ms": launch, "other_idle_ms": other,
            "pct_floor": pct}


def test_bars_stack_the_parts_of_each_trace_and_mode(tmp_path, kept):
    """Three bars (A eager, A graph, B eager): floor, kernel inefficiency, launch, other
    idle stacked in that order from 0 (a negative part as 0), 0.8 wide at 0, 1, 2; solid
    parts edged in their colour, idle parts hatched with a #333333 edge; '% of floor' (no
    decimals, 9 pt) above each bar; y from 0 to 1.12 x the tallest; 1200 x 600 px at dpi 100."""
    a = Fake({"eager": part(2.0, 1.0, 3.0, 0.5, 30.77), "graph": part(2.0, 1.5, 0.25, -0.1, 53.3)})
    b = Fake({"eager": part(1.5, 0.5, 2.0, 0.3, 35.29)}, gpu="NVIDIA H200")
    out = figures.attribution_bars([a, b], tmp_path / "b.png")
    ((fig, path),) = kept["figs"]
    assert out == path == tmp_path / "b.png"
    assert tuple(fig.get_size_inches()) == approx((12.0, 6.0)) and fig.get_dpi() == 100
    (ax,) = fig.axes
    heights = [[2.0, 2.0, 1.5], [1.0, 1.5, 0.5], [3.0, 0.25, 2.0], [0.5, 0.0, 0.3]]
    bottoms = [[0, 0, 0], [2.0, 2.0, 1.5], [3.0, 3.5, 2.0], [6.0, 3.75, 4.0]]
    assert len(ax.containers) == 4
    for cont, (key, label, colour, hatch), h, b0 in zip(ax.containers, figures.BAR_PARTS, heights, bottoms):
        assert cont.get_label() == label
        for i, p in enumerate(cont.patches):
            assert (p.get_x(), p.get_width()) == approx((i - 0.4, 0.8))
            assert (p.get_y(), p.get_height()) == approx((b0[i], h[i])), key
            assert rgba(p.get_facecolor()) == rgba(colour) and p.get_linewidth() == 0
            assert rgba(p.get_edgecolor()) == rgba("#333333" if hatch else colour) and (p.get_hatch() or "") == hatch
    got = [(t.get_position(), t.get_text(), t.get_ha(), t.get_va(), t.get_fontsize()) for t in ax.texts]
    assert got == [((0, 6.5), "31% of floor", "center", "bottom", 9), ((1, 3.75), "53% of floor", "center", "bottom", 9),
                   ((2, 4.3), "35% of floor", "center", "bottom", 9)]
    assert ax.get_ylim() == approx((0, 6.5 * 1.12))
    assert list(ax.get_xticks()) == [0, 1, 2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["H100\neager", "H100\ngraph", "H200\neager"]
    assert {(t.get_fontsize(), t.get_rotation()) for t in ax.get_xticklabels()} == {(9, 0)}
    assert ax.get_ylabel() == "median traced step time (ms)"
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == [p[1] for p in figures.BAR_PARTS]
    assert not leg.get_frame_on() and leg._loc == 1 and {t.get_fontsize() for t in leg.get_texts()} == {9}
    assert ax.get_title() == "where the decode step's time goes: qwen-x ctx 2048 (median traced step)"
    assert ax.title.get_fontsize() == 11
    assert kept["rects"] == [None]


def test_bars_without_a_floor_say_kernel_inefficiency_is_busy_time(tmp_path, kept):
    """A mode without a floor: the second part is named as busy time, no '% of floor' above
    it (the other, with a floor, keeps its own); parts all zero are not drawn nor listed."""
    a = Fake({"eager": part(0.0, 2.0, 1.0, 0.0), "graph": part(1.0, 0.5, 0.5, 0.0, 40.0)}, ctx=None)
    figures.attribution_bars([a], tmp_path / "b.png")
    ((fig, _),) = kept["figs"]
    (ax,) = fig.axes
    labels = [c.get_label() for c in ax.containers]
    assert labels == ["memory floor", "kernel inefficiency (busy, where the floor is unknown)", "launch overhead (idle)"]
    assert [(t.get_position(), t.get_text()) for t in ax.texts] == [((1, 2.0), "40% of floor")]
    assert ax.get_title() == "where the decode step's time goes: qwen-x H100 (median traced step)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["eager", "graph"]


def test_bars_of_nothing_in_common_have_a_plain_title(tmp_path, kept):
    """Bars differing in model, GPU, ctx and mode: every field in the labels, the title
    names nothing after 'goes'."""
    a = Fake({"eager": part(1.0, 1.0, 1.0, 1.0, 25.0)})
    b = Fake({"graph": part(1.0, 1.0, 1.0, 1.0, 25.0)}, gpu="NVIDIA H200", model="llama", ctx=4096)
    figures.attribution_bars([a, b], tmp_path / "b.png")
    ax = kept["figs"][0][0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["qwen-x\nH100\nctx 2048\neager",
                                                            "llama\nH200\nctx 4096\ngraph"]
    assert ax.get_title() == "where the decode step's time goes (median traced step)"


def test_bars_widen_to_110_px_a_bar_and_name_bars_apart(tmp_path, kept):
    """Twelve bars: 1320 px wide, not 1200; bars alike in every field are told apart by
    position ('trace 1', 'trace 2' differ in '1', '2'), or by the names given."""
    a = Fake({f"m{i:02d}": part(1.0, 1.0, 1.0, 1.0, 25.0) for i in range(12)})
    figures.attribution_bars([a], tmp_path / "b.png")
    fig = kept["figs"][0][0]
    assert tuple(fig.get_size_inches()) == approx((13.2, 6.0))
    same = [Fake({"eager": part(1.0, 1.0, 1.0, 1.0, 25.0)}) for _ in range(2)]
    figures.attribution_bars(same, tmp_path / "c.png")
    assert [t.get_text() for t in kept["figs"][1][0].axes[0].get_xticklabels()] == ["eager\n1", "eager\n2"]
    assert kept["figs"][1][0].axes[0].get_title() == \
        "where the decode step's time goes: qwen-x ctx 2048 H100 eager (median traced step)"
    figures.attribution_bars(same, tmp_path / "d.png", names=["runA.json", "runB.json"])
    assert [t.get_text() for t in kept["figs"][2][0].axes[0].get_xticklabels()] == ["eager\nA", "eager\nB"]


def test_bars_of_trace_files_are_named_by_their_stems(tmp_path, kept):
    """Files alike in every field: told apart by their file names ('run-x', 'run-y')."""
    paths = []
    for n in ("run-x", "run-y"):
        p = tmp_path / f"{n}.stepscope"
        trace_b().save(p)
        paths.append(p)
    figures.attribution_bars(paths, tmp_path / "b.png")
    assert [t.get_text() for t in kept["figs"][0][0].axes[0].get_xticklabels()] == ["graph\nx", "graph\ny"]


@pytest.mark.parametrize("chars, rotation", [(166, 0), (167, 90)])
def test_bar_labels_turn_upright_when_wider_than_their_slot(tmp_path, kept, chars, rotation):
    """One bar in 1200 px: a label of 166 characters (6.5 px each: 1079 px) fits 90% of its
    slot (1080 px) and stays level; 167 (1085.5 px) is turned upright."""
    figures.attribution_bars([Fake({"x" * chars: part(1.0, 1.0, 1.0, 1.0, 25.0)})], tmp_path / "b.png",
                             width_px=1200, height_px=600)
    ax = kept["figs"][0][0].axes[0]
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {rotation}


def test_bar_labels_turn_by_their_widest_line_not_word(tmp_path, kept):
    """The widest line of a label counts, not the label (two bars in 1200 px: slots of
    540 px; 'H100' over 80 characters is 520 px wide, level, though its 85 characters would
    not fit) and not its widest word (a 167-character line of two words in one bar is
    turned); a label exactly as wide as 90% of its slot (18 characters, 117 px, in 130 px)
    stays level."""
    a = Fake({"x" * 80: part(1.0, 1.0, 1.0, 1.0, 25.0)})
    b = Fake({"y" * 80: part(1.0, 1.0, 1.0, 1.0, 25.0)}, gpu="NVIDIA H200")
    figures.attribution_bars([a, b], tmp_path / "b.png", width_px=1200)
    ax = kept["figs"][0][0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["H100\n" + "x" * 80, "H200\n" + "y" * 80]
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {0}
    figures.attribution_bars([Fake({"x" * 100 + " " + "x" * 66: part(1.0, 1.0, 1.0, 1.0, 25.0)})], tmp_path / "c.png",
                             width_px=1200)
    assert {t.get_rotation() for t in kept["figs"][1][0].axes[0].get_xticklabels()} == {90}
    figures.attribution_bars([Fake({"x" * 18: part(1.0, 1.0, 1.0, 1.0, 25.0)})], tmp_path / "d.png", width_px=130)
    assert {t.get_rotation() for t in kept["figs"][2][0].axes[0].get_xticklabels()} == {0}


def test_bars_take_size_and_dpi(tmp_path, kept):
    figures.attribution_bars([Fake({"eager": part(1.0, 1.0, 1.0, 1.0, 25.0)})], tmp_path / "b.png",
                             width_px=800, height_px=500, dpi=50)
    fig = kept["figs"][0][0]
    assert tuple(fig.get_size_inches()) == approx((16.0, 10.0)) and fig.get_dpi() == 50


# -- saving -----------------------------------------------------------------------------------

def test_plt_sets_text_as_text_thin_hatches_and_stable_ids():
    """Whatever the matplotlibrc: SVG text stays text, hatches 0.6 pt, SVG ids salted."""
    with matplotlib.rc_context({"svg.fonttype": "path", "hatch.linewidth": 1.0, "svg.hashsalt": None}):
        plt = figures._plt()
        assert plt.rcParams["svg.fonttype"] == "none" and plt.rcParams["hatch.linewidth"] == 0.6
        assert plt.rcParams["svg.hashsalt"] == "stepscope"
        assert matplotlib.get_backend().lower() == "agg"


def _small():
    plt = figures._plt()
    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    ax.text(0.5, 0.5, "hello")
    return plt, fig


def test_save_figure_follows_the_suffix_without_a_date_and_closes(tmp_path):
    """The format from the suffix, any case; SVG and PDF without a creation date (a PDF's is
    /CreationDate: given only SVG's "Date", PDFs kept theirs and re-renders differed); no
    suffix: PNG; the figure is closed."""
    plt, fig = _small()
    figures.save_figure(fig, tmp_path / "a.SVG")
    text = (tmp_path / "a.SVG").read_text()
    assert text.startswith("<?xml") and ">hello</text>" in text and "<dc:date>" not in text
    assert not plt.fignum_exists(fig.number)
    plt, fig = _small()
    figures.save_figure(fig, tmp_path / "a.pdf")
    data = (tmp_path / "a.pdf").read_bytes()
    assert data.startswith(b"%PDF") and b"/CreationDate" not in data
    plt, fig = _small()
    figures.save_figure(fig, str(tmp_path / "noext"))
    assert (tmp_path / "noext").read_bytes()[:4] == b"\x89PNG"
    plt, fig = _small()
    figures.save_figure(fig, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_save_figure_closes_the_figure_when_saving_fails(tmp_path):
    """An unknown format (also '.XPNG': only the dot is stripped, not an X) raises and
    writes nothing; the figure saved is closed, not another one drawn after it."""
    for name in ("a.nosuchformat", "a.XPNG"):
        plt, fig = _small()
        with pytest.raises(ValueError):
            figures.save_figure(fig, tmp_path / name)
        assert not plt.fignum_exists(fig.number) and not (tmp_path / name).exists()
    plt, fig = _small()
    _, other = _small()
    figures.save_figure(fig, tmp_path / "a.png")
    assert not plt.fignum_exists(fig.number) and plt.fignum_exists(other.number)
    plt.close(other)
