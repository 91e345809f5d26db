"""The figures of result sets (``analysis.render.result_figures``), read back from the
Figures they save (issue 31): the A/B speedups, the two sweep figures and the cross-GPU
comparison, each drawn from a small constructed result whose marks are computed by hand
here. Each test names what a reader sees: where a mark sits, its kind, colour and size, its
label, the axes' ticks, limits and titles, the figure's size (its own dpi, whatever the
matplotlibrc says) and its legend."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from conftest import keep_saved_figures
from stepscope.analysis.render import figures, result_figures


@pytest.fixture
def kept(monkeypatch):
    """Every figure result_figures saves, kept open to read (the file is written as usual),
    drawn under a matplotlibrc whose figure.dpi and font.size are not the figures' own."""
    out = keep_saved_figures(monkeypatch, result_figures)
    with matplotlib.rc_context({"figure.dpi": 72, "font.size": 11}):
        yield out
    for f, _ in out:
        figures._plt().close(f)


def rgba(c):
    return tuple(np.round(to_rgba(c), 6))


# -- ab_figure ----------------------------------------------------------------------------

AB = {
    "h100": {"base": "eager", "arm": "graph", "speedup": [1.2, 1.3, 1.25], "ci95": (1.21, 1.29),
             "speedup_median": 1.25, "predicted_speedup_median": 1.22, "prediction_ci95": (1.10, 1.30),
             "verdict": "explained", "sensitivity": {"explained_for_node_gap_ns": [800.4, 2400.6],
                                                     "node_gap_median_ns": 1500.4}},
    "l4": {"base": "eager", "arm": "eager-static", "speedup": [1.01, 1.03], "ci95": (1.0, 1.04),
           "speedup_median": 1.02, "predicted_speedup_median": 1.5, "prediction_ci95": (1.6, 1.4),
           "verdict": "not explained", "sensitivity": {"explained_for_node_gap_ns": None,
                                                       "node_gap_median_ns": 900.0}},
    "a10": {"base": "eager", "arm": "graph", "speedup": [1.1], "ci95": (1.05, 1.15), "speedup_median": 1.1},
}


def test_ab_sessions_spread_around_their_result(tmp_path, kept):
    """Per result j, its sessions at x = j + (i - (n - 1) / 2) * 0.03, 14-pt blue dots over
    the bars (zorder 3); the first result's labelled 'per session', the others unlabelled."""
    out = result_figures.ab_figure(AB, tmp_path / "ab.png", title="T")
    assert out == tmp_path / "ab.png" and out.read_bytes()[:4] == b"\x89PNG"
    (fig, path), = kept
    assert path == out
    assert tuple(fig.get_size_inches()) == (7, 4.5) and fig.get_dpi() == 100
    ax = fig.axes[0]
    sc = ax.collections[:0] + [c for c in ax.collections if isinstance(c, matplotlib.collections.PathCollection)]
    assert len(sc) == 3
    want = [([-0.03, 0.0, 0.03], [1.2, 1.3, 1.25]), ([0.985, 1.015], [1.01, 1.03]), ([2.0], [1.1])]
    for c, (xs, ys) in zip(sc, want):
        np.testing.assert_allclose(c.get_offsets()[:, 0], xs, atol=1e-12)
        np.testing.assert_allclose(c.get_offsets()[:, 1], ys, atol=1e-12)
        assert list(c.get_sizes()) == [14] and rgba(c.get_facecolor()[0]) == rgba("#1f77b4") and c.get_zorder() == 3
    assert [c.get_label() for c in sc][0] == "per session"
    assert all(c.get_label().startswith("_") for c in sc[1:])


def errorbars(ax):
    """(marker, colour, x, y, lower end, upper end, cap size) per errorbar container."""
    out = []
    for c in ax.containers:
        data, caps, bars = c.lines
        (seg,) = bars[0].get_segments()
        out.append((data.get_marker(), rgba(data.get_color()), data.get_xdata()[0], data.get_ydata()[0],
                    seg[0][1], seg[1][1], caps[0].get_markersize() if caps else None, c.get_label()))
    return out


def test_ab_median_with_its_ci_and_the_clipped_prediction(tmp_path, kept):
    """The median as a black square at j + 0.25 spanning its 95% CI; the prediction as an
    orange diamond at j + 0.4 spanning its interval, each side clipped at 0 (l4's interval
    lies above and below its median the wrong way round: no bar); caps 4 pt (markers 8).
    Only the first result's marks are labelled; a10, without prediction, has none drawn."""
    result_figures.ab_figure(AB, tmp_path / "ab.png")
    (fig, _), = kept
    got = errorbars(fig.axes[0])
    black, orange = rgba("black"), rgba("#ff7f0e")
    want = [("s", black, 0.25, 1.25, 1.21, 1.29, 8.0, "median, 95% bootstrap CI"),
            ("D", orange, 0.4, 1.22, 1.10, 1.30, 8.0, "predicted (launch overhead only), 95% interval"),
            ("s", black, 1.25, 1.02, 1.0, 1.04, 8.0, None),
            ("D", orange, 1.4, 1.5, 1.5, 1.5, 8.0, None),
            ("s", black, 2.25, 1.1, 1.05, 1.15, 8.0, None)]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[:2] == w[:2]
        assert g[2:7] == pytest.approx(w[2:7], abs=1e-12)
        if w[7] is None:
            assert g[7].startswith("_")
        else:
            assert g[7] == w[7]


def test_ab_verdict_boxes_name_the_node_gap(tmp_path, kept):
    """Under each predicted result: its verdict, the node gap median and the range of gaps
    that explains the speedup (or 'no gap explains'), centred at j + 0.2, 2% up the axes,
    8 pt on a white 0.8-alpha box without edge."""
    result_figures.ab_figure(AB, tmp_path / "ab.png")
    (fig, _), = kept
    ann = fig.axes[0].texts
    assert [a.get_text() for a in ann] == [
        "explained\nnode gap 1500 ns; explained for gaps 800-2401 ns",
        "not explained\nnode gap 900 ns; no gap explains"]
    for a, x in zip(ann, (0.2, 1.2)):
        assert a.xy == pytest.approx((x, 0.02)) and a.xycoords == ("data", "axes fraction")
        assert (a.get_ha(), a.get_fontsize()) == ("center", 8)
        p = a.get_bbox_patch()
        assert rgba(p.get_facecolor()) == rgba((1, 1, 1, 0.8)) and p.get_edgecolor()[3] == 0 and p.get_alpha() == 0.8


def test_ab_axes_ticks_title_rule_and_legend(tmp_path, kept):
    """One tick per result, 'base / arm'; x from -0.5 to n - 0.3; the y label; the rule in
    8 pt at the figure's bottom left; the title at 9 pt; an 8-pt frameless legend of the
    three labelled marks."""
    result_figures.ab_figure(AB, tmp_path / "ab.png", title="my title")
    (fig, _), = kept
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [0, 1, 2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["eager / graph", "eager / eager-static", "eager / graph"]
    assert ax.get_xlim() == pytest.approx((-0.5, 2.7))
    assert ax.get_ylabel() == "speedup (x, baseline step / arm step)"
    (rule,) = fig.texts
    assert (rule.get_text(), rule.get_position(), rule.get_fontsize()) == (
        "rule: intervals overlap = explained by launch overhead", (0.01, 0.005), 8)
    assert (ax.get_title(), ax.title.get_fontsize()) == ("my title", 9)
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == [
        "per session", "median, 95% bootstrap CI", "predicted (launch overhead only), 95% interval"]
    assert leg.get_frame_on() is False and all(t.get_fontsize() == 8 for t in leg.get_texts())


# -- sweep_figures ------------------------------------------------------------------------

def cell(model, mode, ctx, pct, share, valid=True, gpu="NVIDIA H100 80GB HBM3"):
    return {"model": model, "mode": mode, "ctx": ctx, "pct_floor_all": pct, "launch_share": share,
            "valid": valid, "gpu": gpu}


CELLS = [cell("qwen", "eager", 2048, 30.0, 0.40), cell("qwen", "eager", 512, 25.0, 0.50, gpu="second cell's GPU"),
         cell("qwen", "graph", 512, 27.0, 0.05), cell("qwen", "eager-static", 512, 26.0, 0.30),
         cell("llama", "graph", 2048, 35.0, 0.02), cell("llama", "eager", 2048, 33.0, 0.35),
         cell("llama", "graph", 512, 99.0, 0.99, valid=False), cell("llama", "compiled", 512, 1.0, 0.9)]


def test_sweep_floor_lines_one_colour_per_model_style_per_mode(tmp_path, kept):
    """Valid cells only, per model (sorted, Paul Tol colours in turn) and mode: eager '--'
    'o', eager-static ':' '^', graph '-' 's'; points in ctx order; an unknown mode is not
    drawn. x: log2 at the ctxs measured, labelled plainly, no minor ticks; both axis
    labels; title naming the first valid cell's GPU, 10 pt; an 8-pt frameless legend."""
    paths = result_figures.sweep_figures(CELLS, tmp_path)
    assert paths == [tmp_path / "pct_floor_vs_ctx.png", tmp_path / "launch_share.png"]
    assert [p for _, p in kept] == paths and all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    fig, _ = kept[0]
    assert tuple(fig.get_size_inches()) == (9, 5) and fig.get_dpi() == 100
    ax = fig.axes[0]
    got = [(ln.get_label(), list(ln.get_xdata()), list(ln.get_ydata()), ln.get_linestyle(), ln.get_marker(),
            ln.get_color()) for ln in ax.lines]
    assert got == [("llama eager", [2048], [33.0], "--", "o", "#4477AA"),
                   ("llama graph", [2048], [35.0], "-", "s", "#4477AA"),
                   ("qwen eager", [512, 2048], [25.0, 30.0], "--", "o", "#EE6677"),
                   ("qwen eager-static", [512], [26.0], ":", "^", "#EE6677"),
                   ("qwen graph", [512], [27.0], "-", "s", "#EE6677")]
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    assert list(ax.get_xticks()) == [512, 2048]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["512", "2048"]
    assert isinstance(ax.xaxis.get_minor_locator(), matplotlib.ticker.NullLocator)
    assert ax.get_xlabel() == "context length (tokens)"
    assert ax.get_ylabel() == "% of analytic floor (all parameters + KV)"
    assert ax.get_title() == "batch-1 decode on NVIDIA H100 80GB HBM3: % of floor vs ctx"
    assert ax.title.get_fontsize() == 10
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == [g[0] for g in got]
    assert leg.get_frame_on() is False and all(t.get_fontsize() == 8 for t in leg.get_texts())


def test_sweep_palette_wraps_after_seven_models(tmp_path, kept):
    """The eighth model takes the first colour again."""
    cells = [cell(f"m{k}", "graph", 512, 10.0 + k, 0.1) for k in range(8)]
    result_figures.sweep_figures(cells, tmp_path)
    ax = kept[0][0].axes[0]
    assert [ln.get_color() for ln in ax.lines] == ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE",
                                                   "#AA3377", "#BBBBBB", "#4477AA"]


def test_sweep_launch_share_bars_per_mode_side_by_side(tmp_path, kept):
    """Per (model, ctx), sorted, one bar per mode (sorted) of width 0.8 / modes at x + j *
    0.8 / modes, height 100 x the launch share (0 where the mode has no cell); ticks at the
    groups' middles, 'model\\nctx', 8 pt, upright for 8 groups or fewer; y 0-125; labels,
    title, and a frameless legend of the modes in one row at the upper centre."""
    result_figures.sweep_figures(CELLS, tmp_path)
    fig, _ = kept[1]
    assert tuple(fig.get_size_inches()) == (9, 5) and fig.get_dpi() == 100
    ax = fig.axes[0]
    modes = ["compiled", "eager", "eager-static", "graph"]
    groups = [("llama", 512), ("llama", 2048), ("qwen", 512), ("qwen", 2048)]
    share = {("llama", 512, "compiled"): 90.0, ("llama", 2048, "eager"): 35.0, ("llama", 2048, "graph"): 2.0,
             ("qwen", 512, "eager"): 50.0, ("qwen", 512, "eager-static"): 30.0, ("qwen", 512, "graph"): 5.0,
             ("qwen", 2048, "eager"): 40.0}
    assert len(ax.containers) == 4
    for j, (c, mode) in enumerate(zip(ax.containers, modes)):
        assert c.get_label() == mode
        for i, (rect, g) in enumerate(zip(c.patches, groups)):
            assert rect.get_x() == pytest.approx(i + j * 0.2 - 0.1)
            assert rect.get_width() == pytest.approx(0.2)
            assert rect.get_height() == pytest.approx(share.get((*g, mode), 0.0))
    np.testing.assert_allclose(ax.get_xticks(), np.arange(4) + 0.3)
    labels = ax.get_xticklabels()
    assert [t.get_text() for t in labels] == ["llama\n512", "llama\n2048", "qwen\n512", "qwen\n2048"]
    assert all(t.get_fontsize() == 8 and t.get_rotation() == 0 for t in labels)
    assert ax.get_ylim() == (0, 125)
    assert ax.get_ylabel() == "launch overhead (% of traced step)"
    assert ax.get_xlabel() == "model and ctx (tokens)"
    assert ax.get_title() == "batch-1 decode on NVIDIA H100 80GB HBM3: launch overhead share per mode"
    assert ax.title.get_fontsize() == 10
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == modes
    assert leg.get_frame_on() is False and leg._ncols == 4 and leg._loc == 9


def test_sweep_many_groups_turn_their_labels(tmp_path, kept):
    """Nine (model, ctx) groups: tick labels rotated 90 degrees; eight stay upright."""
    nine = [cell("m", "graph", 2 ** (k + 8), 10.0, 0.1) for k in range(9)]
    result_figures.sweep_figures(nine, tmp_path)
    result_figures.sweep_figures(nine[:8], tmp_path)
    assert {t.get_rotation() for t in kept[1][0].axes[0].get_xticklabels()} == {90}
    assert {t.get_rotation() for t in kept[3][0].axes[0].get_xticklabels()} == {0}


def test_sweep_without_valid_cells_names_no_gpu(tmp_path, kept):
    """No valid cell: both figures are still written, titled with '?' for the GPU."""
    paths = result_figures.sweep_figures([cell("q", "graph", 512, 1.0, 0.1, valid=False)], tmp_path)
    assert all(p.exists() for p in paths)
    assert kept[0][0].axes[0].get_title() == "batch-1 decode on ?: % of floor vs ctx"
    assert kept[1][0].axes[0].get_title() == "batch-1 decode on ?: launch overhead share per mode"
    assert not kept[0][0].axes[0].lines and kept[0][0].axes[0].get_legend() is None
    assert not kept[1][0].axes[0].patches and kept[1][0].axes[0].get_legend() is None


# -- compare_figure -----------------------------------------------------------------------

ROWS = [
    {"gpu": "NVIDIA L4", "peak_bytes_per_s": 0.3e12, "pct_floor_all_eager": 78.0, "pct_floor_all_graph": 81.0,
     "graph_speedup_median": 1.03},
    {"gpu": "NVIDIA H100 80GB HBM3", "peak_bytes_per_s": 3.35e12, "pct_floor_all_eager": 22.0,
     "pct_floor_all_graph": 27.0, "graph_speedup_median": 1.26},
    {"gpu": "A100", "peak_bytes_per_s": 2.0e12, "pct_floor_all_eager": 40.0, "pct_floor_all_graph": None,
     "graph_speedup_median": None},
]


def test_compare_left_floor_per_mode_with_gpu_names(tmp_path, kept):
    """Left: % of floor against peak TB/s, eager 'o-' and graph 's-' (a None leaves a
    hole); each GPU named without 'NVIDIA ' at (TB/s, its graph % or 0), 8 pt, 4 points up
    and right; axis labels; a frameless legend; the 10-pt title."""
    out = result_figures.compare_figure({"gpus": ROWS}, [{"model": "qwen"}, {"model": "llama"}, {"model": "qwen"}],
                                        str(tmp_path / "c.png"))
    assert out == tmp_path / "c.png" and isinstance(out, Path) and out.read_bytes()[:4] == b"\x89PNG"
    (fig, _), = kept
    assert tuple(fig.get_size_inches()) == (11, 4.5) and fig.get_dpi() == 100
    a1 = fig.axes[0]
    got = [(ln.get_label(), list(ln.get_xdata()), list(ln.get_ydata()), ln.get_marker(), ln.get_linestyle())
           for ln in a1.lines]
    assert got == [("eager", [0.3, 3.35, 2.0], [78.0, 22.0, 40.0], "o", "-"),
                   ("graph", [0.3, 3.35, 2.0], [81.0, 27.0, None], "s", "-")]
    ann = [(t.get_text(), t.xy, t.get_fontsize(), t.get_anncoords(), tuple(t.xyann)) for t in a1.texts]
    assert ann == [("L4", (0.3, 81.0), 8, "offset points", (4, 4)),
                   ("H100 80GB HBM3", (3.35, 27.0), 8, "offset points", (4, 4)),
                   ("A100", (2.0, 0), 8, "offset points", (4, 4))]
    assert a1.get_xlabel() == "peak DRAM bandwidth (TB/s, NVML)"
    assert a1.get_ylabel() == "% of analytic floor (median over cells)"
    assert [t.get_text() for t in a1.get_legend().get_texts()] == ["eager", "graph"]
    assert a1.get_legend().get_frame_on() is False
    assert (a1.get_title(), a1.title.get_fontsize()) == ("% of floor vs bandwidth, per mode", 10)


def test_compare_right_graph_speedup_where_measured(tmp_path, kept):
    """Right: the graph speedup against peak TB/s as orange 'D-', only the GPUs with one,
    each annotated '<gpu>: <x.xx>x' at its point, 8 pt, 4 points up and right."""
    result_figures.compare_figure({"gpus": ROWS}, [], tmp_path / "c.png")
    (fig, _), = kept
    a2 = fig.axes[1]
    (ln,) = a2.lines
    assert (list(ln.get_xdata()), list(ln.get_ydata()), ln.get_marker(), ln.get_linestyle(), ln.get_color()) == (
        [0.3, 3.35], [1.03, 1.26], "D", "-", "#EE7733")
    ann = [(t.get_text(), t.xy, t.get_fontsize(), t.get_anncoords(), tuple(t.xyann)) for t in a2.texts]
    assert ann == [("L4: 1.03x", (0.3, 1.03), 8, "offset points", (4, 4)),
                   ("H100 80GB HBM3: 1.26x", (3.35, 1.26), 8, "offset points", (4, 4))]
    assert a2.get_xlabel() == "peak DRAM bandwidth (TB/s, NVML)"
    assert a2.get_ylabel() == "graph speedup over eager (x, median over cells)"
    assert (a2.get_title(), a2.title.get_fontsize()) == ("graph speedup over eager vs bandwidth", 10)


def test_compare_axes_span_the_gpus_from_zero(tmp_path, kept):
    """x from max(lo - pad, 0) to hi + pad, pad = max(0.25 (hi - lo), 0.1 hi): 0.3..3.35
    TB/s gives pad 0.7625, x 0..4.1125; y from 0 to 1.12 x the autoscaled top (data top +
    5% of the data's range)."""
    result_figures.compare_figure({"gpus": ROWS}, [], tmp_path / "c.png")
    (fig, _), = kept
    a1, a2 = fig.axes
    for ax in (a1, a2):
        assert ax.get_xlim() == pytest.approx((0.0, 4.1125))
    assert a1.get_ylim() == pytest.approx((0, (81 + 0.05 * (81 - 22)) * 1.12))
    assert a2.get_ylim() == pytest.approx((0, (1.26 + 0.05 * (1.26 - 1.03)) * 1.12))


def test_compare_close_gpus_keep_a_tenth_of_the_top_as_pad(tmp_path, kept):
    """Two GPUs 0.1 TB/s apart: pad = 0.1 x 2.1 (more than a quarter of the spread); x
    from 2.0 - 0.21 to 2.1 + 0.21."""
    rows = [dict(ROWS[1], peak_bytes_per_s=2.0e12), dict(ROWS[0], peak_bytes_per_s=2.1e12)]
    result_figures.compare_figure({"gpus": rows}, [], tmp_path / "c.png")
    assert kept[0][0].axes[0].get_xlim() == pytest.approx((1.79, 2.31))


def test_compare_title_names_models_and_gpus(tmp_path, kept):
    """The suptitle: the floors' models sorted and once each ('the sweep's models' with no
    floors), the GPUs without 'NVIDIA ', and the question, at 10 pt."""
    result_figures.compare_figure({"gpus": ROWS}, [{"model": "qwen"}, {"model": "llama"}, {"model": "qwen"}],
                                  tmp_path / "c.png")
    result_figures.compare_figure({"gpus": ROWS}, [], tmp_path / "d.png")
    t1, t2 = (f._suptitle for f, _ in kept)
    q = "\ndoes the achieved fraction fall, and the graph speedup grow, with bandwidth?"
    assert t1.get_text() == "llama, qwen, all ctx, eager and graph, on L4, H100 80GB HBM3, A100" + q
    assert t2.get_text() == "the sweep's models, all ctx, eager and graph, on L4, H100 80GB HBM3, A100" + q
    assert t1.get_fontsize() == 10


def test_compare_without_a_mode_or_speedup_draws_neither(tmp_path, kept):
    """No graph % anywhere: no graph line; no speedup anywhere: an empty right panel."""
    rows = [dict(r, pct_floor_all_graph=None, graph_speedup_median=None) for r in ROWS]
    result_figures.compare_figure({"gpus": rows}, [], tmp_path / "c.png")
    a1, a2 = kept[0][0].axes
    assert [ln.get_label() for ln in a1.lines] == ["eager"]
    assert not a2.lines and not a2.texts


def test_ab_without_a_title_has_none(tmp_path, kept):
    """The title defaults to empty."""
    result_figures.ab_figure(AB, tmp_path / "ab.png")
    assert kept[0][0].axes[0].get_title() == ""


def test_sweep_one_mode_fills_the_slot(tmp_path, kept):
    """One mode: each bar 0.8 wide from x - 0.4, the tick at the group's x (the bar's middle)."""
    result_figures.sweep_figures([cell("m", "graph", 512, 10.0, 0.1), cell("m", "graph", 1024, 11.0, 0.2)], tmp_path)
    ax = kept[1][0].axes[0]
    (c,) = ax.containers
    got = [v for r in c.patches for v in (r.get_x(), r.get_width(), r.get_height())]
    assert got == pytest.approx([-0.4, 0.8, 10.0, 0.6, 0.8, 20.0])
    np.testing.assert_allclose(ax.get_xticks(), [0, 1])


def test_compare_with_no_gpu_spans_zero_to_one_and_a_quarter(tmp_path, kept):
    """No GPU measured: x from 0 to 1 + max(0.25 x 1, 0.1 x 1) = 1.25 (lo 0, hi 1 by
    default); nothing drawn, the figure still written."""
    out = result_figures.compare_figure({"gpus": []}, [], tmp_path / "c.png")
    assert out.exists()
    a1, a2 = kept[0][0].axes
    assert a1.get_xlim() == pytest.approx((0.0, 1.25)) and a2.get_xlim() == pytest.approx((0.0, 1.25))
    assert not a1.lines and not a2.lines and a1.get_legend() is None
