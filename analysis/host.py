"""What the CPU was doing while the GPU waited: every launch-bound gap split, to the
nanosecond, into

    (a) launch API   time inside the launch call of the kernel that ends the gap,
    (b) other API    time inside other runtime/driver calls (module loads, allocations,
                     synchronisations, ...), by call name,
    (c) framework    host time outside any API call, charged to the innermost host span
                     running then (``nn.Module`` path or torch operator), or to
                     ``(no span)`` where none was recorded,

on the thread that made the launch call. (a) + (b) + (c) = the gap, so per step they add
up to the attribution's launch overhead exactly. Also per step: CPU time per kernel
launched, inside the launch API and outside any API call (the framework's share).
"""
from __future__ import annotations

import re

import numpy as np

from .gaps import GapCause
from .trace.join import lookup

NO_SPAN = "(no span)"
#: CUPTI reports a thread id as pthread_self() cut to 32 bits; host spans are matched on those bits.
THREAD_MASK = 0xFFFFFFFF


def _elementary(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = np.sort(bounds)     # np.unique, by a sort (numpy 2's hashed unique is several times slower here)
    b = b[np.concatenate(([True], b[1:] != b[:-1]))] if len(b) else b
    return b[:-1], b[1:]


def _sums_by_name(ids: np.ndarray, ns: np.ndarray, label) -> list[tuple[str, int, int]]:
    """(name, ns summed, first row) per distinct name, sorted by name: ``ids`` are string
    ids (or any codes), ``label(id)`` their names; codes of one name are added together."""
    if not len(ids):
        return []
    u, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    sums = np.zeros(len(u), np.int64)
    np.add.at(sums, inv.reshape(-1), ns.astype(np.int64))
    out: dict[str, list[int]] = {}
    for code, total, row in zip(u.tolist(), sums.tolist(), first.tolist()):
        g = out.setdefault(label(code), [0, row])
        g[0] += total
        g[1] = min(g[1], row)
    return [(name, g[0], g[1]) for name, g in sorted(out.items())]


def _innermost(start: np.ndarray, end: np.ndarray, parent: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row of the innermost interval (of a properly nested set, sorted by start) holding
    each time in ``t``; -1 where none does."""
    if not len(start):
        return np.full(len(t), -1, np.int64)
    j = np.searchsorted(start, t, side="right") - 1
    for _ in range(64):          # climb to the enclosing interval; depth is small
        bad = (j >= 0) & (end[np.clip(j, 0, None)] <= t)
        if not bad.any():
            break
        j = np.where(bad, parent[np.clip(j, 0, None)], j)
    return j


def _api_owner(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row of the API call (sorted by start) covering each time; -1 where none does: of
    the calls running then, the one that started last (nested calls: the innermost)."""
    if not len(start):
        return np.full(len(t), -1, np.int64)
    return _innermost(start, end, _previous_longer(end), t)


def _previous_longer(end: np.ndarray) -> np.ndarray:
    """For each call (sorted by start), the last earlier call that ends after it (-1: none):
    where a time passes once this call has returned (every call between ended before)."""
    p = np.arange(len(end)) - 1
    while True:             # pointer jumping: the calls skipped end no later than this one
        pp = np.clip(p, 0, None)
        bad = (p >= 0) & (end[pp] <= end)
        if not bad.any():
            return p
        p = np.where(bad, p[pp], p)


def _take(rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """rows[idx] where idx >= 0, else -1."""
    return np.where(idx >= 0, rows[np.clip(idx, 0, None)], -1) if len(rows) else np.full(len(idx), -1, np.int64)


def split(trace, attr: dict) -> dict:
    """Per launch-bound gap: the three parts and the labels of (b) and (c) pieces."""
    api, spans = trace["api"], trace["host_spans"]
    gaps, rec = attr["gaps"], attr["records"]
    lb = np.nonzero(gaps["cause"] == GapCause.LAUNCH)[0]
    g0, g1 = gaps["start_ns"][lb], gaps["end_ns"][lb]
    nxt = gaps["next_record"][lb]
    corr = rec.correlation[np.clip(nxt, 0, None)] if len(rec.correlation) else np.zeros(len(lb), np.int64)
    rows = np.arange(len(api["start_ns"]), dtype=np.int64)
    found, lrow = lookup(api["correlation"], rows, corr, order_by=api["start_ns"])
    found &= nxt >= 0
    tids, counts = np.unique(api["thread_id"][lrow[found]], return_counts=True) if found.any() else ([], [])
    thread = int(tids[np.argmax(counts)]) if len(tids) else -1
    # The launching thread's API calls and spans, each sorted by start.
    am = api["thread_id"] == thread
    a_rows = rows[am][np.argsort(api["start_ns"][am], kind="stable")]
    a_s, a_e = api["start_ns"][a_rows], api["end_ns"][a_rows]
    sm = (spans["thread_id"] & THREAD_MASK) == (thread & THREAD_MASK)
    s_rows = np.nonzero(sm)[0]
    s_rows = s_rows[np.argsort(spans["start_ns"][s_rows], kind="stable")]
    pos_of = np.full(len(spans["start_ns"]), -1, np.int64)
    pos_of[s_rows] = np.arange(len(s_rows))
    s_par = spans["parent"][s_rows]
    s_par = np.where(s_par >= 0, pos_of[np.clip(s_par, 0, None)], -1) if len(s_par) else s_par
    # Elementary pieces: every gap cut at every API and span boundary inside it.
    bounds = np.concatenate([g0, g1, a_s, a_e, spans["start_ns"][s_rows], spans["end_ns"][s_rows]])
    e0, e1 = _elementary(bounds) if len(bounds) else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    order = np.argsort(g0)        # gaps do not overlap
    g0s, g1s = g0[order], g1[order]
    gi = np.searchsorted(g0s, e0, side="right") - 1
    keep = (gi >= 0) & (e1 <= g1s[np.clip(gi, 0, None)])
    e0, e1, gi = e0[keep], e1[keep], order[gi[keep]]
    mid = e0 + (e1 - e0) // 2
    own = _api_owner(a_s, a_e, mid)
    own_row = _take(a_rows, own)
    span_row = _take(s_rows, _innermost(spans["start_ns"][s_rows], spans["end_ns"][s_rows], s_par, mid))
    is_launch = (own_row >= 0) & (own_row == np.where(found, lrow, -2)[gi])
    is_other = (own_row >= 0) & ~is_launch
    dur = e1 - e0
    n = len(lb)
    return {"gap": lb, "thread_id": thread,
            "launch_api_ns": np.bincount(gi[is_launch], dur[is_launch], n).astype(np.int64),
            "other_api_ns": np.bincount(gi[is_other], dur[is_other], n).astype(np.int64),
            "framework_ns": np.bincount(gi[own_row < 0], dur[own_row < 0], n).astype(np.int64),
            "piece_gap": gi, "piece_ns": dur, "piece_api_row": np.where(is_other, own_row, -1),
            "piece_span_row": np.where(own_row < 0, span_row, -1), "piece_is_launch": is_launch}


def _costs(trace, attr: dict, sp: dict) -> tuple[list[tuple[str, str]], list[int]]:
    """Every host cost inside launch-bound idle, summed over steps: (what, name) -> ns.
    An API call is one row whatever it did (the launch of the kernel that ended the gap,
    or another call): what = "API call"; framework time is charged to its innermost host
    span ("module"/"operator") or, outside any span, to ("framework", NO_SPAN)."""
    keys, vals = [], []
    lrow = _launch_rows(trace, attr, sp)
    other = sp["piece_api_row"] >= 0
    rows = np.concatenate([lrow[lrow >= 0], sp["piece_api_row"][other]]).astype(np.int64)
    ns = np.concatenate([sp["launch_api_ns"][lrow >= 0], sp["piece_ns"][other]]).astype(np.int64)
    if len(rows):
        strings = trace.strings
        for name, total, _ in _sums_by_name(trace["api"]["name"][rows], ns, lambda i: str(strings[i])):
            keys.append(("API call", name))
            vals.append(total)
    fw = ~other & ~sp["piece_is_launch"]
    if fw.any():
        srow = sp["piece_span_row"][fw]
        has = trace.n("host_spans") > 0
        code = np.where(srow >= 0, trace["host_spans"]["name"][np.clip(srow, 0, None)], -1) if has else \
            np.full(len(srow), -1, np.int64)
        kinds = np.where(srow >= 0, trace["host_spans"]["kind"][np.clip(srow, 0, None)] if has else -1, -1)
        strings = trace.strings
        for name, total, row in _sums_by_name(code, sp["piece_ns"][fw],
                                              lambda i: NO_SPAN if i < 0 else str(strings[i])):
            kind = kinds[row]
            keys.append(("operator" if kind == 1 else "module" if kind == 0 else "framework", name))
            vals.append(total)
    return keys, vals


def _top(keys, vals, n_steps: int, total: int, n: int, extra: dict | None = None) -> dict:
    order = np.argsort(-np.asarray(vals, np.int64), kind="stable")[:n]
    out = {"what": [keys[i][0] for i in order], "name": [keys[i][1] for i in order],
           "ns_per_step": [vals[i] / n_steps for i in order], "share_of_launch_idle": [vals[i] / total for i in order]}
    for k, v in (extra or {}).items():
        out[k] = [v[i] for i in order]
    return out


def hotspots(trace, attr: dict, sp: dict, n: int = 10) -> dict:
    """The top host costs inside launch-bound idle: (what, name) -> ms per step, share."""
    keys, vals = _costs(trace, attr, sp)
    return _top(keys, vals, max(len(trace["steps"]["index"]), 1),
                max(int(attr["steps"]["launch_overhead_ns"].sum()), 1), n)


def module_type(name: str) -> str:
    """A module path with its layer indices as '*' (model.layers.12.self_attn ->
    model.layers.*.self_attn): the spans of one module type, over layers, as one name."""
    return re.sub(r"(?<=\.)\d+(?=\.|$)", "*", name)


def by_type(trace, attr: dict, sp: dict, n: int = 10) -> dict:
    """The host costs of ``hotspots`` with every layer's spans of one module type added up
    (``module_type``), and how many span names each row holds; API calls and operators as
    there."""
    keys, vals = _costs(trace, attr, sp)
    groups: dict[tuple[str, str], list] = {}
    for (what, name), v in zip(keys, vals):
        g = groups.setdefault((what, module_type(name) if what == "module" else name), [0, 0])
        g[0] += v
        g[1] += 1
    k = list(groups)
    return _top(k, [groups[x][0] for x in k], max(len(trace["steps"]["index"]), 1),
                max(int(attr["steps"]["launch_overhead_ns"].sum()), 1), n, {"spans": [groups[x][1] for x in k]})


def _launch_rows(trace, attr, sp) -> np.ndarray:
    api, rec = trace["api"], attr["records"]
    nxt = attr["gaps"]["next_record"][sp["gap"]]
    corr = rec.correlation[np.clip(nxt, 0, None)] if len(rec.correlation) else np.zeros(len(nxt), np.int64)
    found, row = lookup(api["correlation"], np.arange(len(api["start_ns"]), dtype=np.int64), corr,
                        order_by=api["start_ns"])
    return np.where(found & (nxt >= 0), row, -1)


def per_step(trace, attr: dict, sp: dict) -> dict:
    """Per step: the split of launch-bound idle, and CPU time per kernel launched (the
    step's time in launch calls, and outside any API call, over its kernels)."""
    st = attr["steps"]
    n = len(st["step"])
    pos = _step_pos(st["step"], attr["gaps"]["step"][sp["gap"]])
    out = {k: np.bincount(pos, sp[k], n).astype(np.int64) if len(pos) else np.zeros(n, np.int64)
           for k in ("launch_api_ns", "other_api_ns", "framework_ns")}
    api = trace["api"]
    on_thread = api["thread_id"] == sp["thread_id"]
    dur = api["end_ns"] - api["start_ns"]
    a_pos = _step_pos(st["step"], api["step"])
    ok = (a_pos >= 0) & on_thread
    is_launch = np.isin(api["name"], [i for i, s in enumerate(trace.strings) if _is_launch(s)])
    out["launch_api_total_ns"] = np.bincount(a_pos[ok & is_launch], dur[ok & is_launch], n).astype(np.int64)
    out["api_total_ns"] = np.bincount(a_pos[ok], dur[ok], n).astype(np.int64)
    kernels = np.maximum(st["kernels"], 1)
    host_window = st["end_ns"] - st["start_ns"]
    out["launch_api_ns_per_launch"] = out["launch_api_total_ns"] / kernels
    out["framework_ns_per_launch"] = (host_window - out["api_total_ns"]) / kernels
    return out


def _is_launch(name: str) -> bool:
    return ("Launch" in name) or ("Memcpy" in name) or ("Memset" in name)


def _step_pos(step_index: np.ndarray, values: np.ndarray) -> np.ndarray:
    found, pos = lookup(step_index, np.arange(len(step_index), dtype=np.int64), values)
    return np.where(found, pos, -1)


PART_WORDS = {"launch_api_ns": "launch calls", "other_api_ns": "other API calls",
              "framework_ns": "framework code between API calls"}


def verdict(split_per_step: dict, hot: dict, groups: dict, spans_recorded: bool) -> str:
    """Two short lines: what the GPU waited for (the three parts, largest first), then the
    largest host cost (one module type or operator over all layers, or one API call) or,
    without host spans, how to name the framework code."""
    parts = {k: int(split_per_step[k].sum()) for k in PART_WORDS}
    total = sum(parts.values())
    if not total:
        return "no launch-bound idle: the GPU never waited for the CPU."
    first = "the GPU waited for " + ", ".join(f"{PART_WORDS[k]} {100 * v / total:.0f}%"
                                              for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
    if not groups["name"]:
        return first
    what, name, share = groups["what"][0], groups["name"][0], groups["share_of_launch_idle"][0]
    if what == "framework":
        second = ("the framework code is not named: capture with `stepscope trace --host-spans` to name the module"
                  if not spans_recorded else f"largest: framework code outside any host span, {100 * share:.0f}%")
    else:
        second = f"largest: {what} {name}, {100 * share:.0f}%"
        members = [i for i, (w, nm) in enumerate(zip(hot["what"], hot["name"])) if w == what and module_type(nm) == name]
        if groups["spans"][0] > 1:
            second += f" ({groups['spans'][0]} spans" + (
                f"; the most, {hot['name'][members[0]]}, {100 * hot['share_of_launch_idle'][members[0]]:.0f}%)"
                if members else ")")
    return first + "\n" + second


def longest_gaps(trace, attr: dict, sp: dict, n: int = 3) -> dict:
    """The ``n`` longest launch-bound gaps: what ended them (the kernel and its launch
    call), the innermost host span running at their middle, and the API calls inside."""
    from .kernel_classes import short_name
    gaps, rec = attr["gaps"], attr["records"]
    g = sp["gap"][np.argsort(-gaps["gap_ns"][sp["gap"]], kind="stable")[:n]]
    lrow = _launch_rows(trace, attr, {"gap": g})
    spans, api = trace["host_spans"], trace["api"]
    out = {k: [] for k in ("step", "gap_ns", "next_kernel", "launch_api", "span", "apis_inside")}
    for i, gi in enumerate(g):
        g0, g1 = gaps["start_ns"][gi], gaps["end_ns"][gi]
        r = gaps["next_record"][gi]
        name = trace.strings[trace["kernels"]["name"][rec.row[r]]] if r >= 0 and rec.table[r] == 0 else \
            ("memcpy" if r >= 0 and rec.table[r] == 1 else "memset" if r >= 0 else "-")
        mid = g0 + (g1 - g0) // 2
        inside = np.nonzero((spans["start_ns"] <= mid) & (spans["end_ns"] > mid) &
                            ((spans["thread_id"] & THREAD_MASK) == (sp["thread_id"] & THREAD_MASK)))[0]
        span = trace.strings[spans["name"][inside[np.argmax(spans["depth"][inside])]]] if len(inside) else NO_SPAN
        am = (api["start_ns"] < g1) & (api["end_ns"] > g0) & (np.arange(len(api["start_ns"])) != lrow[i])
        out["step"].append(int(gaps["step"][gi]))
        out["gap_ns"].append(int(g1 - g0))
        out["next_kernel"].append(short_name(name))
        out["launch_api"].append(trace.strings[api["name"][lrow[i]]] if lrow[i] >= 0 else "-")
        out["span"].append(span)
        out["apis_inside"].append(sorted({trace.strings[x] for x in api["name"][am]}))
    return out


def report(trace, attr: dict, n: int = 10) -> dict:
    """The host section of a report: per-step split, CPU per launch, hotspots, verdict."""
    sp = split(trace, attr)
    ps = per_step(trace, attr, sp)
    hot = hotspots(trace, attr, sp, n)
    groups = by_type(trace, attr, sp, n)
    cap = trace.meta.get("capture", {})
    return {"thread_id": sp["thread_id"], "apis": cap.get("apis", "launch"),
            "host_spans": cap.get("host_spans", "off"), "spans": int(trace.n("host_spans")),
            "per_step": ps, "hotspots": hot, "by_type": groups, "longest_gaps": longest_gaps(trace, attr, sp),
            "verdict": verdict(ps, hot, groups, bool(trace.n("host_spans")))}
