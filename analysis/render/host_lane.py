"""The host lane of a timeline: the framework's spans (``nn.Module`` forwards, torch
operators) of one step, nested rows by depth, so a reader sees what the CPU was doing in
each gap. Spans narrower than a pixel are merged per row; the widest few are labelled."""
from __future__ import annotations

import numpy as np

#: Rows drawn: depth 0 (the model) .. MAX_DEPTH.
MAX_DEPTH = 3
COLORS = ("#DDDDDD", "#BBCCEE", "#CCEEFF", "#CCDDAA")   # Paul Tol light, one per depth


def draw(ax, trace, step_index: int, lo_ns: int, px_ns: float, y0: float, height: float, labels: int = 4) -> bool:
    """Draw the spans of ``step_index`` on ``ax`` in [y0, y0 + height]; False if none."""
    from .figures import coalesce
    s = trace["host_spans"]
    m = s["step"] == step_index
    if not m.any():
        return False
    rows = min(int(s["depth"][m].max()), MAX_DEPTH) + 1
    h = height / rows
    names = trace.names("host_spans")
    for d in range(rows):
        sel = m & (np.minimum(s["depth"], MAX_DEPTH) == d)
        bs, bw = coalesce(s["start_ns"][sel], s["end_ns"][sel], px_ns)
        ax.broken_barh(list(zip((bs - lo_ns) / 1e6, bw / 1e6)), (y0 + d * h + 0.05 * h, 0.9 * h),
                       color=COLORS[d % len(COLORS)], edgecolor="#777777", linewidth=0.3)
        idx = np.nonzero(sel)[0]
        widest = idx[np.argsort(-(s["end_ns"][idx] - s["start_ns"][idx]))[:labels]]
        for i in widest:
            label = ".".join(str(names[i]).split(".")[-2:])
            # labelled only where the span is wider than its label (8 pt: ~6 px a character)
            if s["end_ns"][i] - s["start_ns"][i] > (len(label) + 2) * 6 * px_ns:
                ax.text((s["start_ns"][i] - lo_ns) / 1e6, y0 + (d + 0.5) * h, " " + label,
                        fontsize=8, va="center", ha="left", clip_on=True)
    return True
