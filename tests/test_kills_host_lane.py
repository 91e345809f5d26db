"""The host lane of a timeline (``analysis.render.host_lane``), read back from the Axes it
draws on: one constructed step whose spans, bars and labels are computed by hand below
(issue 31). What a reader sees is pinned: which step is drawn, one row per depth (deeper
spans in the last row), where each bar sits in ms and in the lane's height, spans closer
than a pixel merged, the widest few labelled with the last two parts of their name, and
only where the span is wider than its label."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from stepscope.analysis.render import host_lane
from stepscope.analysis.trace import Trace, table_from_rows

T0 = 1_000_000
LO_NS = T0 - 10_000           # the lane's left edge: x = (t - LO_NS) / 1e6 ms
PX_NS = 100.0                 # one pixel; a label of n characters needs (n + 2) * 600 ns
Y0, HEIGHT = 10.0, 2.0        # four rows (depths 0..3): each 0.5 high

#: (name, start, end, depth, step), times relative to T0.
SPANS = [
    ("Qwen2ForCausalLM", 0, 100_000, 0, 0),       # label 16 chars: needs > 10_800 ns
    ("model.layers.0", 1_000, 31_000, 1, 0),      # "layers.0": > 6_000
    ("model.layers.1", 32_000, 52_000, 1, 0),
    ("x.ab.cd", 53_000, 57_200, 1, 0),            # "ab.cd": 4_200 wide, needs > 4_200: no label
    ("x.ab.ce", 58_000, 62_201, 1, 0),            # 4_201 > 4_200: labelled
    ("x.e.f", 63_000, 67_100, 1, 0),              # fifth widest of its row: no label (4 at most)
    ("m.a", 2_000, 10_000, 2, 0),                 # "m.a": > 3_000
    ("m.b", 10_050, 12_000, 2, 0),                # 50 ns after m.a: one bar with it; too narrow
    ("p.q.r", 20_000, 30_000, 3, 0),              # "q.r"
    ("p.deep", 40_000, 41_000, 5, 0),             # deeper than MAX_DEPTH: drawn in row 3, unlabelled
    ("Other", 200_000, 300_000, 0, 1),            # another step: not drawn
]


def lane_trace() -> Trace:
    t = Trace()
    t.tables["host_spans"] = table_from_rows("host_spans", {
        "start_ns": [T0 + s[1] for s in SPANS], "end_ns": [T0 + s[2] for s in SPANS],
        "name": [t.intern(s[0]) for s in SPANS], "kind": [0] * len(SPANS), "depth": [s[3] for s in SPANS],
        "parent": [-1] * len(SPANS), "thread_id": [1] * len(SPANS), "step": [s[4] for s in SPANS]})
    return t


def ms(rel_ns: int) -> float:
    return (T0 + rel_ns - LO_NS) / 1e6


def drawn(step_index: int = 0, **kw):
    ax = Figure().add_subplot()
    ok = host_lane.draw(ax, lane_trace(), step_index, LO_NS, PX_NS, Y0, HEIGHT, **kw)
    return ok, ax


def bars(ax):
    """Per collection: [(x, width, y, height)] from each rectangle's path."""
    out = []
    for c in ax.collections:
        rects = []
        for p in c.get_paths():
            v = p.vertices
            rects.append((v[:, 0].min(), v[:, 0].max() - v[:, 0].min(), v[:, 1].min(), v[:, 1].max() - v[:, 1].min()))
        out.append(rects)
    return out


def test_one_row_per_depth_bars_in_ms_at_their_row_height():
    """Four rows (max depth 5 clamped to 3): row d spans y0 + d*h + 0.05h for 0.9h, h =
    height / rows = 0.5; bars are (start - lo) / 1e6 ms wide (end - start) / 1e6; m.a and
    m.b, 50 ns apart (under a pixel), are one bar; step 1's span is not drawn."""
    ok, ax = drawn()
    assert ok is True
    expect = [
        [(ms(0), 0.1)],
        [(ms(1_000), 0.03), (ms(32_000), 0.02), (ms(53_000), 0.0042), (ms(58_000), 0.004201), (ms(63_000), 0.0041)],
        [(ms(2_000), 0.01)],
        [(ms(20_000), 0.01), (ms(40_000), 0.001)],
    ]
    got = bars(ax)
    assert len(got) == 4
    for d, (rects, want) in enumerate(zip(got, expect)):
        assert len(rects) == len(want), d
        for (x, w, y, h), (wx, ww) in zip(rects, want):
            assert (x, w) == pytest.approx((wx, ww), rel=1e-9, abs=1e-12), d
            assert (y, h) == pytest.approx((Y0 + d * 0.5 + 0.025, 0.45), rel=1e-12), d


def test_rows_are_coloured_by_depth_with_a_thin_grey_edge():
    """Row d filled with COLORS[d]; every bar edged #777777 at 0.3 pt."""
    _, ax = drawn()
    for d, c in enumerate(ax.collections):
        assert tuple(c.get_facecolor()[0]) == pytest.approx(to_rgba(host_lane.COLORS[d])), d
        assert tuple(c.get_edgecolor()[0]) == pytest.approx(to_rgba("#777777")), d
        assert list(c.get_linewidth()) == [0.3], d


def test_the_widest_four_of_a_row_labelled_where_wider_than_the_label():
    """Labels: the last two dotted parts of the name after a space, at the span's start and
    the row's middle (y0 + (d + 0.5) h). Row 1's widest four are layers.0, layers.1, ab.ce
    and ab.cd; ab.cd is exactly as wide as its label needs (not labelled: strictly wider
    only), ab.ce 1 ns wider (labelled); e.f, the fifth, is not labelled though it fits. m.b
    (too narrow) and p.deep (too narrow for 6 characters) are not labelled."""
    _, ax = drawn()
    got = [(t.get_position()[0], t.get_position()[1], t.get_text()) for t in ax.texts]
    want = [(ms(0), 10.25, " Qwen2ForCausalLM"),
            (ms(1_000), 10.75, " layers.0"), (ms(32_000), 10.75, " layers.1"), (ms(58_000), 10.75, " ab.ce"),
            (ms(2_000), 11.25, " m.a"),
            (ms(20_000), 11.75, " q.r")]
    assert [g[2] for g in got] == [w[2] for w in want]
    for g, w in zip(got, want):
        assert g[:2] == pytest.approx(w[:2], rel=1e-9, abs=1e-12), w[2]
    for t in ax.texts:
        assert (t.get_fontsize(), t.get_va(), t.get_ha(), t.get_clip_on()) == (8.0, "center", "left", True)


def test_labels_argument_caps_labels_per_row():
    """labels=5 labels e.f too (4_100 ns > its 3_000); labels=1 only the widest per row."""
    _, ax = drawn(labels=5)
    assert " e.f" in [t.get_text() for t in ax.texts]
    _, ax = drawn(labels=1)
    assert [t.get_text() for t in ax.texts] == [" Qwen2ForCausalLM", " layers.0", " m.a", " q.r"]


def test_a_step_without_spans_draws_nothing():
    """A step with no host span: False, and the Axes stays empty."""
    ok, ax = drawn(step_index=7)
    assert ok is False and not ax.collections and not ax.texts


def test_a_shallow_step_has_one_row_per_depth_it_reaches():
    """Step 1 holds one depth-0 span: one row, the whole height, labelled at its middle."""
    ok, ax = drawn(step_index=1)
    assert ok is True
    assert bars(ax) == [[pytest.approx((ms(200_000), 0.1, Y0 + 0.1, 1.8))]]
    assert [(t.get_text(), t.get_position()[1]) for t in ax.texts] == [(" Other", 11.0)]
    np.testing.assert_allclose(ax.texts[0].get_position()[0], ms(200_000))
