"""The figure of `stepscope predict --sweep` (``analysis.render.predict_figure``), read back
from the Figure it saves (issue 31): a constructed prediction with three ctxs, sources of
known and unknown model and mode, measured cells of both marker kinds and a paper star,
and a GPU table whose close peaks share a label. Every mark is pinned where a reader sees
it: panel layout, each line's points, style, colour and legend label, the GPU labels, the
axes' scales, ticks, limits and titles, the figure's legend and title, and the space kept
under the panels for the legend."""
from __future__ import annotations

import matplotlib
import pytest
from matplotlib.colors import to_rgba

from conftest import keep_saved_figures
from stepscope.analysis.render import figures, predict_figure
from stepscope.analysis.render.predict_figure import MODEL_COLORS, _gpu_labels

TB = 1e12
GPUS = [("H200", 4.8), ("L4", 0.3), ("A100-80GB SXM", 2.039), ("H100 PCIe", 2.0), ("A100-40GB", 1.555),
        ("X1", 1.0), ("X1.1", 1.1), ("H100 SXM", 3.35)]


def specs():
    return [{"name": n, "peak_bytes_per_s": tb * TB} for n, tb in GPUS]


def test_gpu_labels_group_peaks_within_ten_percent_of_the_previous():
    """Sorted by peak; a peak at most 1.1x the previous label's peak joins it (1.1 exactly
    joins 1.0; 2.039 joins 2.0, the third label; 3.35 does not), placed at the first peak."""
    assert _gpu_labels(specs()) == [
        (0.3, ["L4"]), (1.0, ["X1", "X1.1"]), (1.555, ["A100-40GB"]), (2.0, ["H100 PCIe", "A100-80GB SXM"]),
        (3.35, ["H100 SXM"]), (4.8, ["H200"])]
    assert _gpu_labels(specs(), apart=1.05) == [
        (0.3, ["L4"]), (1.0, ["X1"]), (1.1, ["X1.1"]), (1.555, ["A100-40GB"]), (2.0, ["H100 PCIe", "A100-80GB SXM"]),
        (3.35, ["H100 SXM"]), (4.8, ["H200"])]


def cells(model_pcts):
    """Cells per ctx: {ctx: [(peak TB/s, pct)]}, given out of peak order."""
    return [{"ctx": ctx, "peak_bytes_per_s": tb * TB, "pct_floor_all": pct}
            for ctx, pts in model_pcts.items() for tb, pct in pts]


RES = {
    "ctxs": [512, 4096, 8192],
    "target_specs": specs(),
    "sources": [
        {"model": "qwen2.5-7b", "mode": "graph", "gpu": "H100",
         "cells": cells({512: [(3.35, 30.0), (0.3, 80.0), (2.0, 40.0)], 4096: [(0.3, 70.0), (3.35, 25.0)],
                         8192: [(1.0, 50.0)]})},
        {"model": "llama-3.1-8b", "mode": "eager", "gpu": "L4",
         "cells": cells({512: [(0.3, 75.0), (4.8, 15.0)], 4096: [(2.0, 33.0)], 8192: [(3.35, 20.0)]})},
        {"model": "phi-9", "mode": "compiled", "gpu": "A10",       # no colour, no line style of its own
         "cells": cells({512: [(1.0, 60.0)], 4096: [(1.0, 55.0)], 8192: [(1.0, 54.0)]})},
    ],
}
MEASURED = [
    {"model": "qwen2.5-7b", "mode": "graph", "ctx": 512, "gpu": "H100 SXM", "peak_bytes_per_s": 3.35 * TB,
     "pct_floor_all": 28.0},
    {"model": "qwen2.5-7b", "mode": "graph", "ctx": 512, "gpu": "H200", "peak_bytes_per_s": 4.8 * TB,
     "pct_floor_all": 21.0},                  # the same label again: once in the legend
    {"model": "llama-3.1-8b", "mode": "eager", "ctx": 512, "gpu": "L4", "peak_bytes_per_s": 0.3 * TB,
     "pct_floor_all": 77.0},
    {"model": "phi-9", "mode": "graph", "ctx": 4096, "gpu": "X1", "peak_bytes_per_s": 1.0 * TB,
     "pct_floor_all": 57.0},
]
PAPER = [{"model": "qwen2.5-7b", "ctx": 512, "gpu": "H100 SXM", "peak_bytes_per_s": 3.35 * TB, "pct_floor_all": 27.0},
         {"model": "qwen2.5-7b", "ctx": 8192, "gpu": "L4", "peak_bytes_per_s": 0.3 * TB, "pct_floor_all": 81.0}]


@pytest.fixture
def fig(tmp_path, monkeypatch):
    """The saved figure, kept open to read (the file is written as usual); drawn under a
    matplotlibrc whose figure.dpi and font.size are not the figure's, so the figure's own
    dpi and font sizes show."""
    kept = keep_saved_figures(monkeypatch, predict_figure)
    with matplotlib.rc_context({"figure.dpi": 72, "font.size": 11}):
        out = predict_figure.floor_vs_bandwidth_figure(RES, tmp_path / "f.png", MEASURED, PAPER)
    assert out == tmp_path / "f.png" and out.read_bytes()[:4] == b"\x89PNG"
    yield kept[0][0]
    figures._plt().close(kept[0][0])


def lines(ax):
    return [(ln.get_label(), list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines]


def test_two_panels_a_row_sized_per_panel_sharing_the_y_axis(fig):
    """Three ctxs: 2 columns, 2 rows, 6.5 x 4.2 in per panel at 100 dpi; the fourth panel
    is empty; the panels share one y axis."""
    assert tuple(fig.get_size_inches()) == pytest.approx((13.0, 8.4))
    assert fig.get_dpi() == 100
    assert len(fig.axes) == 4
    a = fig.axes
    assert [x.get_title() for x in a] == ["ctx 512", "ctx 4096", "ctx 8192", ""]
    assert [round(x.get_position().x0, 1) < 0.5 for x in a] == [True, False, True, False]
    assert [x.get_position().y0 > 0.5 for x in a] == [True, True, False, False]
    assert all(a[0].get_shared_y_axes().joined(a[0], x) for x in a[1:])
    assert not a[3].lines and not a[3].texts


def test_predicted_lines_in_peak_order_styled_by_model_and_mode(fig):
    """One line per source and ctx, its points sorted by peak (TB/s), only the ctx's cells:
    graph solid, eager dashed, an unknown mode dash-dot; a known model's colour, else
    #999933; '.' markers at alpha 0.8; labelled with model, mode and source GPU."""
    ax = fig.axes[0]
    pred = [ln for ln in ax.lines if ln.get_label().startswith("predicted")]
    assert [(ln.get_label(), list(ln.get_xdata()), list(ln.get_ydata())) for ln in pred] == [
        ("predicted qwen2.5-7b graph (from H100)", [0.3, 2.0, 3.35], [80.0, 40.0, 30.0]),
        ("predicted llama-3.1-8b eager (from L4)", [0.3, 4.8], [75.0, 15.0]),
        ("predicted phi-9 compiled (from A10)", [1.0], [60.0])]
    assert [ln.get_linestyle() for ln in pred] == ["-", "--", "-."]
    assert [ln.get_color() for ln in pred] == [MODEL_COLORS["qwen2.5-7b"], MODEL_COLORS["llama-3.1-8b"], "#999933"]
    assert all(ln.get_marker() == "." and ln.get_alpha() == 0.8 for ln in pred)
    assert [(x[0], x[1]) for x in lines(fig.axes[2]) if x[0].startswith("predicted qwen")] == [
        ("predicted qwen2.5-7b graph (from H100)", [1.0])]


def test_measured_points_hollow_circles_for_graph_squares_otherwise(fig):
    """Measured cells of the panel's ctx only: at (peak TB/s, pct), a hollow 8-pt marker
    with a 1.5-pt edge in the model's colour (#999933 when unknown), 'o' for graph, 's'
    for any other mode; no line joins them."""
    got = [(i, ln) for i, ax in enumerate(fig.axes[:3]) for ln in ax.lines if ln.get_label().startswith("measured")]
    assert [(i, ln.get_label()) for i, ln in got] == [
        (0, "measured qwen2.5-7b graph"), (0, "measured qwen2.5-7b graph"), (0, "measured llama-3.1-8b eager"),
        (1, "measured phi-9 graph")]
    q, q2, ll, p = (ln for _, ln in got)
    assert (list(q.get_xdata()), list(q.get_ydata()), q.get_marker()) == ([3.35], [28.0], "o")
    assert (list(q2.get_xdata()), list(q2.get_ydata()), q2.get_marker()) == ([4.8], [21.0], "o")
    assert (list(ll.get_xdata()), list(ll.get_ydata()), ll.get_marker()) == ([0.3], [77.0], "s")
    assert (list(p.get_xdata()), list(p.get_ydata()), p.get_marker()) == ([1.0], [57.0], "o")
    assert [x.get_color() for x in (q, q2, ll, p)] == [MODEL_COLORS["qwen2.5-7b"]] * 2 + [
        MODEL_COLORS["llama-3.1-8b"], "#999933"]
    for x in (q, q2, ll, p):
        assert x.get_linestyle() == "None"
        assert to_rgba(x.get_markerfacecolor()) == (0, 0, 0, 0)
        assert (x.get_markeredgewidth(), x.get_markersize()) == (1.5, 8)


def test_paper_cells_are_orange_stars(fig):
    """The paper's cells: a 14-pt '*' in #EE7733 at (peak TB/s, pct) on its ctx's panel,
    labelled with model and GPU."""
    stars = [(i, ln) for i, ax in enumerate(fig.axes) for ln in ax.lines if ln.get_label().startswith("paper")]
    assert [(i, ln.get_label(), list(ln.get_xdata()), list(ln.get_ydata())) for i, ln in stars] == [
        (0, "paper qwen2.5-7b (H100 SXM)", [3.35], [27.0]), (2, "paper qwen2.5-7b (L4)", [0.3], [81.0])]
    for _, ln in stars:
        assert (ln.get_marker(), ln.get_markersize(), to_rgba(ln.get_color()), ln.get_linestyle()) == (
            "*", 14, to_rgba("#EE7733"), "None")


def test_gpu_names_stand_upright_at_their_peak(fig):
    """On every panel: one label per peak group, ' / '-joined, at (peak TB/s, 2 %), 8 pt,
    rotated 90 degrees, centred on the peak, standing on the point."""
    for ax in fig.axes[:3]:
        got = [(t.get_text(), t.xy, t.get_fontsize(), t.get_rotation(), t.get_ha(), t.get_va()) for t in ax.texts]
        assert got == [(" / ".join(n), (x, 2), 8.0, 90.0, "center", "bottom") for x, n in _gpu_labels(specs())]


def test_axes_log_bandwidth_with_plain_ticks_and_percent_to_100(fig):
    """x: log scale, ticks at 0.3 0.5 1 2 3 5 TB/s written plainly ('0.3', '5'), no minor
    labels; y: 0-100 %; both axis titles; a light grid; 10-pt panel titles."""
    for ax in fig.axes[:3]:
        assert ax.get_xscale() == "log"
        assert list(ax.get_xticks()) == [0.3, 0.5, 1, 2, 3, 5]
        fmt = ax.xaxis.get_major_formatter()
        assert [fmt(v, 0) for v in (0.3, 0.5, 1, 2, 3, 5)] == ["0.3", "0.5", "1", "2", "3", "5"]
        assert isinstance(ax.xaxis.get_minor_formatter(), matplotlib.ticker.NullFormatter)
        assert ax.get_ylim() == (0, 100)
        assert ax.get_xlabel() == "peak DRAM bandwidth (TB/s)"
        assert ax.get_ylabel() == "% of floor (all parameters + KV)"
        assert ax.title.get_fontsize() == 10
        grid = ax.xaxis.get_gridlines() + ax.yaxis.get_gridlines()
        assert grid and all(g.get_visible() and g.get_alpha() == 0.3 for g in grid)


def test_one_legend_of_the_first_panels_labels_under_the_panels(fig):
    """The first panel's labels, each once (the second qwen graph cell adds none), in
    drawing order: 8 pt, no frame, lower centre, three columns, each with its own mark
    (the llama eager label with its square, not the second qwen circle); the figure's
    10-pt title."""
    (leg,) = fig.legends
    assert [t.get_text() for t in leg.get_texts()] == [
        "predicted qwen2.5-7b graph (from H100)", "predicted llama-3.1-8b eager (from L4)",
        "predicted phi-9 compiled (from A10)", "measured qwen2.5-7b graph", "measured llama-3.1-8b eager",
        "paper qwen2.5-7b (H100 SXM)"]
    assert all(t.get_fontsize() == 8 for t in leg.get_texts())
    assert leg.get_frame_on() is False and leg._loc == 8 and leg._ncols == 3
    assert [h.get_marker() for h in leg.legend_handles] == [".", ".", ".", "o", "s", "*"]
    assert fig._suptitle.get_text() == ("batch-1 decode: fraction of the memory floor vs peak bandwidth (lines "
                                        "predicted, circles/squares measured)")
    assert fig._suptitle.get_fontsize() == 10


def test_panels_kept_inside_the_legend_band_and_the_title_band(fig):
    """tight_layout's rect: the panels with their labels end one pad (1.08 x the rc's 11-pt
    font: 0.0196 of the 8.4-in height, 0.0127 of the 13-in width) inside x 0..1 and above
    the legend band, 0.02 + 0.034 per legend row / rows of panels (6 labels: 2 rows ->
    0.054), and below 0.96, the title's band."""
    r = fig.canvas.get_renderer()
    inv = fig.transFigure.inverted()
    boxes = [inv.transform_bbox(ax.get_tightbbox(r)) for ax in fig.axes]
    pad_in = 1.08 * 11 / 72            # tight_layout's pad is in units of the rc font size
    bottom = 0.02 + 0.034 * 2 / 2
    assert min(b.y0 for b in boxes) == pytest.approx(bottom + pad_in / 8.4, abs=2e-3)
    assert max(b.x1 for b in boxes) == pytest.approx(1 - pad_in / 13, abs=2e-3)
    assert 0.85 < max(b.y1 for b in boxes) <= 0.96 - pad_in / 8.4
