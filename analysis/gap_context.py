"""What each idle gap waited for: one row per gap of the attribution (``attr["gaps"]``
order), for exports that show gaps one by one (the Perfetto idle-cause track).

Per gap: its cause's name (``CAUSE_NAMES``: the words of the report), the GPU record that
ended it and that record's launch call, and what the GPU waited for:

- launch overhead: the host cost that took most of the gap (``host.split``: the launch
  call itself, another API call, or framework code charged to its innermost host span, or
  to ``(no span)`` where none was recorded), with the gap's three parts in ns;
- host synchronisation: the synchronisation call that returned inside the gap;
- the other causes: the record that ended the gap (queued, copy, graph-internal) or
  nothing recorded (other idle after the last record).
"""
from __future__ import annotations

import numpy as np

from .gaps import GapCause, is_sync_call
from .host import NO_SPAN, split
from .intervals import LEADING, TRAILING
from .kernel_classes import short_name
from .trace.join import lookup

#: A gap's cause as the report words it; launch overhead is the report's own figure, the
#: rest add up to its "other idle".
CAUSE_NAMES = {GapCause.LAUNCH: "launch overhead", GapCause.QUEUED: "queued (GPU side)",
               GapCause.SYNC: "host synchronisation", GapCause.COPY: "host copy",
               GapCause.OTHER: "other idle (unexplained)", GapCause.GRAPH: "graph-internal"}
#: The per-step column of the attribution (``attribution.attribute``) that each cause adds up to.
CAUSE_COLUMNS = {GapCause.LAUNCH: "launch_overhead_ns", GapCause.QUEUED: "queued_ns", GapCause.SYNC: "sync_ns",
                 GapCause.COPY: "copy_ns", GapCause.OTHER: "unexplained_ns", GapCause.GRAPH: "graph_internal_ns"}
POSITION_NAMES = {LEADING: "leading", TRAILING: "trailing"}


def _record_names(trace, rec, nxt: np.ndarray) -> np.ndarray:
    """Short name of the GPU record ending each gap ("memcpy", "memset"; "" where none)."""
    out = np.full(len(nxt), "", dtype=object)
    ok = nxt >= 0
    if not ok.any():
        return out
    r = nxt[ok]
    table, row = rec.table[r], rec.row[r]
    names = np.full(len(r), "memset", dtype=object)
    names[table == 1] = "memcpy"
    k = table == 0
    if k.any():     # by string-table index: a name of megabytes is read once, and only its head
        u, inv = np.unique(trace["kernels"]["name"][row[k]], return_inverse=True)
        names[k] = np.asarray([short_name(trace.strings[i]) for i in u.tolist()], dtype=object)[inv]
    out[ok] = names
    return out


def _launch_call_names(trace, rec, nxt: np.ndarray) -> np.ndarray:
    api = trace["api"]
    out = np.full(len(nxt), "", dtype=object)
    if not len(rec.correlation) or not len(api["start_ns"]):
        return out
    corr = rec.correlation[np.clip(nxt, 0, None)]
    found, row = lookup(api["correlation"], np.arange(len(api["start_ns"]), dtype=np.int64), corr,
                        order_by=api["start_ns"])
    ok = found & (nxt >= 0)
    out[ok] = trace.names("api")[row[ok]]
    return out


def _sync_call_names(trace, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
    """The name of the first synchronisation call that returned in (g0, g1]; "" where none."""
    api = trace["api"]
    sync = np.nonzero(is_sync_call(trace))[0]
    out = np.full(len(g0), "", dtype=object)
    if not len(sync):
        return out
    sync = sync[np.argsort(api["end_ns"][sync], kind="stable")]
    ends = api["end_ns"][sync]
    i = np.searchsorted(ends, g0, side="right")
    ok = (i < len(ends)) & (ends[np.clip(i, 0, len(ends) - 1)] <= g1)
    out[ok] = trace.names("api")[sync[i[ok]]]
    return out


def _host_leader(trace, sp: dict, n_gaps: int, launch_names: np.ndarray) -> np.ndarray:
    """Per gap (``n_gaps``, attribution order): the host cost that took most of each
    launch-bound gap, as "API call NAME", "module NAME", "operator NAME" or "framework
    (no span)"; "" for the other gaps."""
    out = np.full(n_gaps, "", dtype=object)
    if not len(sp["piece_gap"]):
        return out
    lb = sp["gap"]
    piece_gap = lb[sp["piece_gap"]]
    labels = np.full(len(piece_gap), f"framework {NO_SPAN}", dtype=object)
    launch = sp["piece_is_launch"]
    labels[launch] = "API call " + launch_names[piece_gap[launch]]
    other = sp["piece_api_row"] >= 0
    labels[other] = "API call " + trace.names("api")[sp["piece_api_row"][other]]
    srow = sp["piece_span_row"]
    has_span = (srow >= 0) & ~other & ~launch
    if has_span.any():
        spans = trace["host_spans"]
        kind = np.where(spans["kind"][srow[has_span]] == 1, "operator ", "module ").astype(object)
        labels[has_span] = kind + trace.names("host_spans")[srow[has_span]]
    u, lab = np.unique(labels, return_inverse=True)     # object strings: no fixed-width copy
    key = piece_gap * len(u) + lab
    keys, inv = np.unique(key, return_inverse=True)
    tot = np.bincount(inv, sp["piece_ns"]).astype(np.int64)
    kg, kl = keys // len(u), keys % len(u)
    # Largest total per gap; ties go to the first label in sorted order.
    order = np.lexsort((kl, -tot, kg))
    first = np.r_[True, kg[order][1:] != kg[order][:-1]]
    best = order[first]
    out[kg[best]] = u[kl[best]]
    return out


def gap_context(trace, attr: dict) -> dict:
    """Per gap (``attr["gaps"]`` order): cause name, position, the record that ended it
    and its launch call, what the GPU waited for, and for launch-bound gaps the host
    split (launch call / other API calls / framework code, ns; 0 for other gaps)."""
    gaps, rec = attr["gaps"], attr["records"]
    n = len(gaps["gap_ns"])
    nxt = gaps["next_record"]
    launch_names = _launch_call_names(trace, rec, nxt)
    record = _record_names(trace, rec, nxt)
    sp = split(trace, attr)
    parts = {}
    for k in ("launch_api_ns", "other_api_ns", "framework_ns"):
        parts[k] = np.zeros(n, np.int64)
        parts[k][sp["gap"]] = sp[k]
    cause = gaps["cause"]
    waited = np.full(n, "", dtype=object)
    lead = _host_leader(trace, sp, n, launch_names)
    is_launch = cause == GapCause.LAUNCH
    waited[is_launch] = lead[is_launch]
    is_sync = cause == GapCause.SYNC
    waited[is_sync] = "API call " + _sync_call_names(trace, gaps["start_ns"][is_sync], gaps["end_ns"][is_sync])
    for c, words in ((GapCause.QUEUED, "the GPU: {} was already launched"), (GapCause.COPY, "host copy {}"),
                     (GapCause.GRAPH, "the graph's next node {}")):
        m = cause == c      # gaps.classify gives these causes only to gaps that a record ends
        waited[m] = [words.format(r) for r in record[m]]
    other = cause == GapCause.OTHER
    waited[other] = "host work after the last GPU record, not recorded"
    waited[other & (nxt >= 0)] = "a GPU record whose launch call was not recorded"
    return {"cause_name": np.asarray([CAUSE_NAMES[GapCause(c)] for c in cause], dtype=object),
            "position": np.asarray([POSITION_NAMES.get(int(p), "internal") for p in gaps["position"]], dtype=object),
            "next_record": record, "launch_call": launch_names, "waited_for": waited, **parts}


__all__ = ["CAUSE_NAMES", "CAUSE_COLUMNS", "gap_context"]
