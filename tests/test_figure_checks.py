"""Each figure the CLI and the benchmarks draw, rendered from shipped traces and committed
results, checked as a person reads it (issue 29): tick labels, axis labels, titles and
legend text at least 8 pt; no two text labels overlapping (their extents from the
renderer); every entry of an axes legend names something drawn in those axes; the title
says what is drawn (model, GPU); and the kernel-class colours stay apart for colour-blind
readers (a simulation of the three dichromacies)."""
import json

import numpy as np
import pytest

from conftest import RESULTS, TRACES, trace_path
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render import figures, predict_figure, result_figures
from stepscope.cli import load_trace

MIN_PT = 8.0
EAGER = trace_path("qwen2.5-7b-ctx2048-eager-static-h100")
GRAPH = trace_path("qwen2.5-7b-ctx2048-graph-h100")


@pytest.fixture
def captured(monkeypatch):
    """The matplotlib figures the renderers would save, drawn and kept open."""
    figs = []
    real = figures.save_figure

    def keep(fig, out):
        fig.canvas.draw()
        figs.append(fig)
        real_close = figures._plt().close
        try:                               # save as usual, but keep the figure to inspect
            figures._plt().close = lambda f=None: None
            real(fig, out)
        finally:
            figures._plt().close = real_close
    monkeypatch.setattr(figures, "save_figure", keep)
    monkeypatch.setattr(result_figures, "save_figure", keep)
    monkeypatch.setattr(predict_figure, "save_figure", keep)
    yield figs
    for f in figs:
        figures._plt().close(f)


def _texts(fig):
    """Every visible, non-empty text of the figure with its kind."""
    out = []
    for ax in fig.axes:
        for t in ax.get_xticklabels() + ax.get_yticklabels():
            out.append(("tick", t))
        for t in (ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title, ax._right_title):
            out.append(("label", t))
        leg = ax.get_legend()
        if leg:
            out += [("legend", t) for t in leg.get_texts()]
        out += [("annotation", t) for t in ax.texts]
    for leg in fig.legends:
        out += [("legend", t) for t in leg.get_texts()]
    if fig._suptitle is not None:
        out.append(("label", fig._suptitle))
    out += [("annotation", t) for t in fig.texts]
    seen, uniq = set(), []
    for k, t in out:            # the suptitle is also one of fig.texts
        if id(t) not in seen and t.get_visible() and t.get_text().strip():
            seen.add(id(t))
            uniq.append((k, t))
    return uniq


def check_figure(fig) -> list[str]:
    """What a reader would trip over, one line each."""
    bad = []
    r = fig.canvas.get_renderer()
    texts = _texts(fig)
    for kind, t in texts:
        if t.get_fontsize() < MIN_PT:
            bad.append(f"{kind} {t.get_text()!r} is {t.get_fontsize():.1f} pt")
    # Overlaps: tick labels on one axis overlap only when crowded; all texts pairwise.
    fig_box = fig.bbox
    boxes = []
    for _kind, t in texts:
        b = t.get_window_extent(r)
        if b.width <= 0 or b.x1 < fig_box.x0 or b.x0 > fig_box.x1 or b.y1 < fig_box.y0 or b.y0 > fig_box.y1:
            continue          # outside the figure (ticks beyond the limits)
        boxes.append((t.get_text(), b.expanded(1, 1).shrunk(0.98, 0.9)))
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if boxes[i][1].overlaps(boxes[j][1]):
                bad.append(f"{boxes[i][0]!r} overlaps {boxes[j][0]!r}")
    # An axes legend names only artists drawn in those axes.
    for ax in fig.axes:
        leg = ax.get_legend()
        if not leg:
            continue
        drawn = {a.get_label() for a in ax.get_children() if not str(a.get_label()).startswith("_")}
        drawn |= {c.get_label() for c in ax.containers}
        for t in leg.get_texts():
            if t.get_text() not in drawn:
                bad.append(f"legend entry {t.get_text()!r} names nothing drawn")
    return bad


def _title(fig) -> str:
    parts = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    return " ".join(parts + [ax.get_title() for ax in fig.axes])


# -- figures of traces -----------------------------------------------------------------
TIMELINES = {
    "full step, two traces": ([EAGER, GRAPH], None, ("qwen2.5-7b", "H100", "eager-static vs graph")),
    "zoomed": ([EAGER, GRAPH], (0.0, 1.5), ("qwen2.5-7b", "H100", "0-1.5 ms")),
    "host spans": ([trace_path("qwen2.5-7b-ctx2048-eager-static-host-h100")], (0.0, 3.0), ("qwen2.5-7b", "H100")),
    "kineto": ([TRACES / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"], (0.0, 3.0), ("H100",)),
    "synthetic, two modes": ([trace_path("synthetic-h100")], None, ("H100", "eager")),
}


@pytest.mark.parametrize("name", TIMELINES)
def test_timeline_reads(tmp_path, captured, name):
    paths, window, needles = TIMELINES[name]
    figures.timeline([TraceAnalysis(load_trace(p)) for p in paths], tmp_path / "t.png", window_ms=window)
    (fig,) = captured
    assert not check_figure(fig), check_figure(fig)[:8]
    for n in needles:
        assert n in _title(fig), (n, _title(fig))


BARS = {
    "the --help example": (sorted(TRACES.glob("qwen2.5-7b-ctx2048-*-h100.stepscope")), ("qwen2.5-7b", "H100")),
    "README's six": ([trace_path(f"qwen2.5-7b-ctx2048-{m}-{g}") for g in ("h100", "h200")
                      for m in ("eager", "eager-static", "graph")], ("qwen2.5-7b",)),
}


@pytest.mark.parametrize("name", BARS)
def test_bars_read(tmp_path, captured, name):
    paths, needles = BARS[name]
    figures.attribution_bars([TraceAnalysis(load_trace(p)) for p in paths], tmp_path / "b.png",
                             names=[p.name for p in paths])
    (fig,) = captured
    assert not check_figure(fig), check_figure(fig)[:8]
    for n in needles:
        assert n in _title(fig)


# -- figures of results ----------------------------------------------------------------
@pytest.mark.parametrize("folder", ["ab-h100", "ab-h200-n10", "ab-compile-h100"])
def test_ab_figure_reads(tmp_path, captured, folder):
    """As `stepscope ab --report-only` draws it: the committed summaries, titled by the
    workload (the first line of the committed report)."""
    summaries = json.loads((RESULTS / folder / "summary.json").read_text())
    title = (RESULTS / folder / "report.txt").read_text().splitlines()[0]
    result_figures.ab_figure(summaries, tmp_path / "ab.png", title=title)
    (fig,) = captured
    assert not check_figure(fig), check_figure(fig)[:8]
    assert "qwen2.5-7b" in _title(fig) and "H" in _title(fig)


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_sweep_figures_read(tmp_path, captured, gpu):
    from stepscope.profiler.experiments.sweep import load_cells
    result_figures.sweep_figures(load_cells(RESULTS / f"sweep-{gpu}"), tmp_path)
    assert len(captured) == 2
    for fig in captured:
        assert not check_figure(fig), check_figure(fig)[:8]
        assert gpu.upper() in _title(fig)
    # one colour per model: its modes differ by line style and marker, not by hue
    ax = captured[0].axes[0]
    by_model = {}
    for line in ax.get_lines():
        by_model.setdefault(line.get_label().split(" ")[0], set()).add(line.get_color())
    assert by_model and all(len(c) == 1 for c in by_model.values()), by_model
    assert len({next(iter(c)) for c in by_model.values()}) == len(by_model)
    # context lengths as numbers, not powers of two
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all(t.isdigit() for t in ticks), ticks


def test_compare_figure_reads(tmp_path, captured):
    from stepscope.analysis.results.sweep import compare
    from stepscope.profiler.experiments.sweep import load_cells
    res = compare([load_cells(RESULTS / "sweep-h100"), load_cells(RESULTS / "sweep-h200")])
    result_figures.compare_figure(res, [], tmp_path / "c.png")
    (fig,) = captured
    assert not check_figure(fig), check_figure(fig)[:8]
    assert all(ax.get_title() for ax in fig.axes), "each panel says what it shows"


# -- the checks themselves fail on a bad figure ------------------------------------------
def test_the_checks_catch_small_ticks_overlaps_and_stray_legend_entries():
    plt = figures._plt()
    fig, ax = plt.subplots(figsize=(3, 2), dpi=100)
    ax.plot([0, 1], [0, 1], label="drawn")
    ax.set_xticks([0, 0.01, 1], ["long label one", "long label two", "c"])
    ax.tick_params(labelsize=6)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(label="never drawn")], fontsize=9)
    fig.canvas.draw()
    bad = check_figure(fig)
    plt.close(fig)
    assert any("pt" in b for b in bad) and any("overlaps" in b for b in bad)
    assert any("names nothing drawn" in b for b in bad)


# -- colour-blind readers ----------------------------------------------------------------
#: Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB.
CVD = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                      [-0.003882, -0.048116, 1.051998]],
       "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                        [-0.011820, 0.042940, 0.968881]],
       "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                      [0.004733, 0.691367, 0.303900]]}


def _lab(rgb_hex: list[str], matrix=None) -> np.ndarray:
    srgb = np.array([[int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)] for h in rgb_hex])
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    if matrix is not None:
        lin = np.clip(lin @ np.asarray(matrix).T, 0, 1)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.column_stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])])


#: Smallest CIELAB distance between two kernel-class colours that a reader still tells
#: apart at a glance in a thin bar (about 5x a just-noticeable difference; the palette's worst
#: pair, attention vs elementwise under protanopia, is 15.6).
MIN_DELTA_E = 12.0


def test_kernel_class_colours_stay_apart_for_colour_blind_readers():
    from stepscope.analysis.kernel_classes import KernelClass
    # the classes a decode step's timeline draws (graph-level replays and quant dequant
    # kernels never share a figure with the copy/memset greys they resemble)
    drawn = [c for c in KernelClass if c not in (KernelClass.GRAPH, KernelClass.DEQUANT)]
    colours = [figures.CLASS_COLORS[c] for c in drawn]
    worst = {}
    for name, m in [("normal", None), *CVD.items()]:
        lab = _lab(colours, m)
        d = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
        d[np.diag_indices(len(d))] = np.inf
        i, j = np.unravel_index(np.argmin(d), d.shape)
        worst[name] = (float(d[i, j]), drawn[i].name, drawn[j].name)
    assert all(v[0] >= MIN_DELTA_E for v in worst.values()), worst


def test_predict_sweep_figure_reads(tmp_path, captured):
    """README's floor_vs_bandwidth.png, drawn again from benchmarks/results/predict/sweep.json
    (every GPU of the table, every source, the measured cells and the paper's): the audit of
    issue 29 found its GPU names and legend at 6 pt."""
    r = json.loads((RESULTS / "predict" / "sweep.json").read_text())
    spec = {c["gpu"]: c["peak_bytes_per_s"] for s in r["sources"] for c in s["cells"]}
    res = {"ctxs": r["ctxs"], "sources": r["sources"],
           "target_specs": [{"name": g, "peak_bytes_per_s": spec[g]} for g in r["targets"]]}
    measured = [{"model": x["model"], "mode": x["mode"], "ctx": x["ctx"], "gpu": x["target"],
                 "peak_bytes_per_s": spec[x["target"]], "pct_floor_all": x["measured_pct_floor_all"]}
                for x in r["rows"]]
    paper = [dict(p, peak_bytes_per_s=spec[p["gpu"]]) for p in r["paper"]]
    predict_figure.floor_vs_bandwidth_figure(res, tmp_path / "f.png", measured, paper)
    (fig,) = captured
    assert check_figure(fig) == []
    names = " ".join(t.get_text() for t in fig.axes[0].texts)
    for g in r["targets"]:
        assert g in names, g
