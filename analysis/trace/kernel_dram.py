"""Fill a trace's ``kernel_dram`` table from counter passes (CUPTI range profiler, one
range per kernel launch: ``stepscope.profiler.capture.counters``).

A counter pass runs on an untimed step of its own after the traced steps, so its ranges
are matched to each traced step's kernels by the order they ran in. CUPTI's auto ranges
are named by their index ("0", "1", ...), not by kernel, so with such names a step's
kernels pair with the ranges one to one, and only when the counts are equal (a step of
the same code launches the same kernels in the same order); ranges that carry kernel
names are aligned by name instead (``difflib``, no junk heuristic) and only kernels whose
names agree get bytes. Pass ``i`` serves traced steps ``i, i + n, ...`` (n passes), so the
report's min..max over steps shows the passes' spread. Nothing is guessed: a kernel the
alignment cannot pair has no row, and the match counts go to ``meta.capture.kernel_dram``.
"""
from __future__ import annotations

import difflib

import numpy as np

from .model import table_from_rows


def _step_kernels(trace, step: int) -> np.ndarray:
    """Rows of ``kernels`` in one step, in the order they ran (start, then correlation)."""
    k = trace["kernels"]
    rows = np.nonzero(k["step"] == step)[0]
    return rows[np.lexsort((k["correlation"][rows], k["start_ns"][rows]))]


def align(step_names: list[str], range_names: list[str]) -> list[tuple[int, int]]:
    """(position in the step, range index) pairs whose names agree, in order."""
    sm = difflib.SequenceMatcher(None, step_names, range_names, autojunk=False)
    return [(a + j, b + j) for a, b, size in sm.get_matching_blocks() for j in range(size)]


def attach(trace, passes: list[dict], steps: list[int] | None = None) -> dict:
    """Write ``kernel_dram`` rows for the traced steps (all, or ``steps``) from ``passes``
    (each: ``names``, ``dram_read_bytes``, ``dram_write_bytes`` and optionally
    ``l2_write_bytes`` per range; -1: not counted). Returns the
    summary also stored in ``meta.capture.kernel_dram`` (``matched``/``kernels`` per step)."""
    if not passes:
        raise ValueError("no counter passes to attach")
    names = trace.names("kernels")
    st = trace["steps"]["index"].tolist() if steps is None else list(steps)
    rows = {"kernel": [], "dram_read_bytes": [], "dram_write_bytes": [], "l2_write_bytes": []}
    matched, kernels = [], []
    by_order = [all(str(n).isdigit() for n in p["names"]) for p in passes]    # auto-range index names
    for i, s in enumerate(st):
        p = passes[i % len(passes)]
        kr = _step_kernels(trace, s)
        if by_order[i % len(passes)]:
            pairs = [(j, j) for j in range(len(kr))] if len(kr) == len(p["names"]) else []
        else:
            pairs = align([names[r] for r in kr], list(p["names"]))
        cols = {c: np.asarray(p.get(c, np.full(len(p["names"]), -1))) for c in rows if c != "kernel"}
        for a, b in pairs:
            rows["kernel"].append(int(kr[a]))
            for c, v in cols.items():
                rows[c].append(int(v[b]))
        matched.append(len(pairs))
        kernels.append(len(kr))
    order = np.argsort(rows["kernel"], kind="stable")
    trace.tables["kernel_dram"] = table_from_rows(
        "kernel_dram", {c: np.asarray(v, np.int64)[order] for c, v in rows.items()})
    summary = {"steps": [int(s) for s in st], "kernels": kernels, "matched": matched,
               "ranges": [len(p["names"]) for p in passes],
               "paired_by": "order (auto-range names are indices)" if all(by_order) else "name alignment",
               "unmatched_kernels": int(sum(kernels) - sum(matched))}
    trace.meta.setdefault("capture", {}).setdefault("kernel_dram", {}).update(summary)
    return summary


__all__ = ["attach", "align"]
