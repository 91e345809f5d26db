"""Find the decode steps of a trace that has no step windows: one module for `stepscope
record`, for `report` on a native trace without steps, and for the torch.profiler import.

Rules, first that applies:

1. ``ProfilerStep#N`` annotations (torch.profiler's schedule), a named marker
   (``--step-marker NAME``: a ``record_function``/NVTX/user span of that name; each span is
   one step), or a module (``--step-module NAME``: each forward of that ``nn.Module`` ends
   a step; needs host spans).
2. From the records alone: the GPU work in launch order, one token per launch (the
   kernel's name; one token per CUDA-graph launch; copies by kind), is cut where it
   repeats. Each token seen at least three times proposes the segmentation between its
   occurrences; a segment is *regular* when its length is within 2% of the median. Of the
   proposals that cover at least 80% of what the best covers (coverage counted in GPU
   records, so a CUDA-graph replay weighs its nodes), a device-to-host copy wins outright
   (the host reading each token ends every decode step, however many steps one generate
   call or request holds); else the coarsest (a decode step, not one layer of it), unless
   a finer proposal splits it evenly and stays regular across its cuts (then a token seen
   every other step was the coarse one); of equally coarse ones, the most frequent. Within a
   step the cut goes where the host waited longest (the median over steps of the gap
   between consecutive launch calls), so a step starts at its first launch call, after
   the synchronisation that ended the one before. Segments are then labelled: decode
   (regular), prefill (GPU busy over 3x the decode median with at least a third of a
   step's launches: long matrix-matrix kernels), warm-up (irregular before the first
   decode step, e.g. torch.compile's first calls), tail (irregular after it); the head
   before the first cut is prefill or warm-up by the same test. Decode steps are the
   regular ones plus the warm-up steps between the prefill and them.
3. One forward only: when nothing repeats regularly, or the repetition is inside one
   forward (the work after the last regular segment never recurs: an output projection
   and sampling seen once), the whole trace is one step, from its first launch call to
   its last GPU record, so profiler start-up before it stays outside.

The result says which rule found the steps, how many, how regular (launches per step
min/median/max) and what it left out; with no steps at all it says so in one sentence.
Imports numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .join import lookup
from .model import HostSpanKind, Trace, table_from_rows
from .steps import assign_steps

REGULAR_TOL = 0.02          # a segment within 2% of the median length is regular
ELIGIBLE_COVERAGE = 0.8     # proposals covering at least 80% of the best one's records
PREFILL_BUSY = 3.0          # prefill: GPU busy over 3x the decode median ...
PREFILL_MIN_LAUNCHES = 1 / 3  # ... with at least a third of a step's launches, fewer than
DECODE_TOKENS = 0.95        # 95% of them of the kinds every decode step launches
NEAR_REGULAR = 0.1          # a decode-like segment within 10% of a step's launches is a step

DTOH_TOKEN = -1 - 2         # the token of a device-to-host copy (CUPTI memcpy kind 2)

RULE_PROFILER_STEP = "ProfilerStep markers"
RULE_MARKER = "marker"
RULE_MODULE = "module"
RULE_PERIOD = "kernel-sequence period"
RULE_GRAPH = "kernel-sequence period (CUDA-graph replays)"
RULE_WHOLE = "one forward (the whole trace)"


@dataclass
class Detection:
    """What step detection found. ``segments``: (label, first launch position, launches,
    GPU busy ns) of every segment, in order; ``steps``: the rows of the steps table."""
    rule: str
    steps: dict
    segments: list = field(default_factory=list)
    anchor: str = ""
    message: str = ""

    def summary(self) -> dict:
        labels = [s[0] for s in self.segments]
        launches = [s[2] for s in self.segments if s[0] == "decode"]
        return {"rule": self.rule, "anchor": self.anchor, "message": self.message,
                "decode_steps": int(sum(lab in ("decode", "warm-up") for lab in labels)),
                "steady_steps": int(labels.count("decode")),
                "warmup_steps": int(labels.count("warm-up")), "prefill": int(labels.count("prefill")),
                "left_out": [{"label": s[0], "launches": int(s[2]), "busy_ns": int(s[3])}
                             for s in self.segments if s[0] not in ("decode",)],
                "launches_per_step": [int(min(launches)), int(np.median(launches)), int(max(launches))]
                if launches else []}


# -- the launch sequence --------------------------------------------------------------
@dataclass
class Launches:
    """One row per launch, in launch order: its token, launch-call start, the GPU records
    it launched (busy ns summed) and the index of those records."""
    token: np.ndarray
    start_ns: np.ndarray
    records: np.ndarray
    busy_ns: np.ndarray
    first_gpu_ns: np.ndarray
    last_gpu_ns: np.ndarray
    names: dict


def launches(trace: Trace) -> Launches:
    """GPU records grouped by launch call (a CUDA-graph launch is one), ordered by the
    launch call's start; records without a recorded call stand alone at their GPU start."""
    api = trace["api"]
    parts = []
    for t, code in (("kernels", None), ("memcpy", "copy"), ("memset", "set")):
        tab = trace[t]
        if not len(tab["start_ns"]):
            continue
        if code is None:
            tok = tab["name"]
        elif code == "copy":
            tok = -1 - tab["copy_kind"]
        else:
            tok = np.full(len(tab["start_ns"]), -100, np.int64)
        graph = tab["graph_id"]
        tok = np.where(graph > 0, -1000 - graph, tok)
        parts.append((tab["start_ns"], tab["end_ns"], tab["correlation"], tok))
    if not parts:
        z = np.zeros(0, np.int64)
        return Launches(z, z, z, z, z, z, {})
    s, e, corr, tok = (np.concatenate([p[i] for p in parts]) for i in range(4))
    found, call = lookup(api["correlation"], api["start_ns"], corr, order_by=api["start_ns"])
    # one launch per correlation id with a call; records without one are their own launch
    key = np.where(found & (corr >= 0), corr, -1 - np.arange(len(corr)))
    t0 = np.where(found, call, s)
    uk, first, inv = np.unique(key, return_index=True, return_inverse=True)
    busy = np.bincount(inv, weights=e - s, minlength=len(uk)).astype(np.int64)
    nrec = np.bincount(inv, minlength=len(uk)).astype(np.int64)
    lo = np.full(len(uk), np.iinfo(np.int64).max, np.int64)
    hi = np.full(len(uk), np.iinfo(np.int64).min, np.int64)
    np.minimum.at(lo, inv, s)
    np.maximum.at(hi, inv, e)
    start = t0[first]
    token = tok[first]
    order = np.lexsort((lo, start))
    names = {}
    for code in np.unique(token):
        names[int(code)] = _token_name(trace, int(code))
    return Launches(token[order], start[order], nrec[order], busy[order], lo[order], hi[order], names)


def _token_name(trace: Trace, code: int) -> str:
    if code >= 0:
        return trace.strings[code] if code < len(trace.strings) else f"kernel {code}"
    if code <= -1000:
        return f"CUDA-graph replay (graph {-1000 - code})"
    if code == -100:
        return "memset"
    return f"memcpy (kind {-1 - code})"


# -- rule 2: the period of the sequence -------------------------------------------------
@dataclass
class _Proposal:
    token: int
    pos: np.ndarray
    length: float
    regular: np.ndarray
    coverage: float


def _propose(tok: np.ndarray, weight: np.ndarray) -> list[_Proposal]:
    """Coverage counts GPU records (a graph replay weighs its nodes), so a kernel repeated
    back to back (autotuning) does not outweigh the decode steps."""
    cw = np.r_[0, np.cumsum(weight)]
    total = float(cw[-1]) or 1.0
    uniq, inv, counts = np.unique(tok, return_inverse=True, return_counts=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.r_[0, np.cumsum(counts)]
    out = []
    for j in np.flatnonzero(counts >= 3):
        pos = order[bounds[j]:bounds[j + 1]]
        d = np.diff(pos)
        length = float(np.median(d))
        reg = np.abs(d - length) <= max(1.0, REGULAR_TOL * length)
        if reg.sum() >= 2 and length >= 1:
            # the step after the last occurrence counts too: with S steps there are S-1 segments
            seg_w = cw[pos[1:]] - cw[pos[:-1]]
            covered = float(seg_w[reg].sum() + np.median(seg_w[reg]))
            out.append(_Proposal(int(uniq[j]), pos, length, reg, min(1.0, covered / total)))
    return out


def _crossings_regular(fine: _Proposal, coarse: _Proposal) -> bool:
    """Does ``fine`` split ``coarse`` evenly: its segments that straddle ``coarse``'s cuts
    are regular too (a layer's are not: they hold the once-a-step work)."""
    ratio = coarse.length / fine.length
    if ratio < 1.5 or abs(ratio - round(ratio)) > 0.05 * ratio:
        return False
    j = np.searchsorted(fine.pos, coarse.pos, side="right") - 1
    ok = (j >= 0) & (j < len(fine.pos) - 1)
    j = j[ok]
    straddle = fine.pos[j] < coarse.pos[ok]
    if not straddle.any():
        return False
    return bool(fine.regular[j[straddle]].mean() >= 0.9)


def _choose(props: list[_Proposal]) -> _Proposal | None:
    if not props:
        return None
    best = max(p.coverage for p in props)
    eligible = [p for p in props if p.coverage >= ELIGIBLE_COVERAGE * best]

    def coarsest(cands):
        top = max(p.length for p in cands)
        same = [p for p in cands if p.length >= top * (1 - REGULAR_TOL)]
        # a device-to-host copy first: a decode step ends when the host reads its token
        return max(same, key=lambda p: (p.token == DTOH_TOKEN, len(p.pos), p.coverage))
    dtoh = [p for p in eligible if p.token == DTOH_TOKEN]
    if dtoh:    # the host reads each token back: that copy ends every decode step, however many
        return dtoh[0]   # steps a generate call or a request holds (no coarser period wins)
    chosen = coarsest(eligible)
    while True:
        finer = [p for p in eligible if p.length < chosen.length * (1 - REGULAR_TOL)
                 and _crossings_regular(p, chosen)]
        if not finer:
            return chosen
        chosen = coarsest(finer)


def _cuts(chosen: _Proposal, gap: np.ndarray) -> np.ndarray:
    """A cut before each occurrence of the anchor, at the same offset in every step: where
    the median gap between launch calls is longest (the host's wait for the step before)."""
    pos = chosen.pos
    reg_first = pos[:-1][chosen.regular]
    span = int(max(1, min(np.diff(pos)[chosen.regular].min(), reg_first.min() + 1)))
    offsets = -np.arange(span)                      # the step starts 0..span-1 launches before its anchor
    idx = reg_first[:, None] + offsets[None, :]
    score = np.median(gap[np.clip(idx, 0, len(gap) - 1)], axis=0)
    o = int(offsets[int(np.argmax(score))])
    cuts = pos + o
    if -o > chosen.length / 2:
        # the step starts just after the anchor before it (the host read the last token and
        # launched the next step): a long irregular stretch right after a decode step (a second
        # request's prefill) starts one step length after that step's anchor, so the prefill
        # is not cut at a decode step's offset (which would fold the last step into it)
        after_step = np.r_[False, chosen.regular[:-1]] & ~chosen.regular & (np.diff(pos) > chosen.length)
        cuts[1:] = np.where(after_step, pos[:-1] + int(round(chosen.length)) + o, cuts[1:])
    return np.maximum.accumulate(np.maximum(cuts, 0))


def _label(cuts: np.ndarray, n: int, length: float, busy: np.ndarray, tok: np.ndarray) -> list:
    """(label, first, launches, busy ns) for the head, each step and the tail, consecutive
    segments of one label other than decode merged (a prefill cut in two is one prefill)."""
    csum = np.r_[0, np.cumsum(busy)]
    tol = max(1.0, REGULAR_TOL * length)
    ends = list(cuts[1:])
    last_len = n - cuts[-1]
    ends.append(n if abs(last_len - length) <= tol or last_len < length else int(cuts[-1] + round(length)))
    segs = [[int(c), int(e - c), int(csum[e] - csum[c])] for c, e in zip(cuts, ends) if e > c]
    reg = np.array([abs(s[1] - length) <= tol for s in segs])
    med_busy = float(np.median([s[2] for s, r in zip(segs, reg) if r])) if reg.any() else 0.0
    # the tokens of a decode step: those present in at least half the regular segments
    regs = [set(tok[s[0]:s[0] + s[1]].tolist()) for s, r in zip(segs, reg) if r]
    counts: dict = {}
    for r in regs:
        for x in r:
            counts[x] = counts.get(x, 0) + 1
    step_tokens = np.array([x for x, c in counts.items() if c * 2 >= len(regs)], np.int64)

    def decode_like(first, launches_n):
        return float(np.isin(tok[first:first + launches_n], step_tokens).mean()) >= DECODE_TOKENS if launches_n else False

    def label(first, launches_n, busy_ns, regular):
        long = busy_ns > PREFILL_BUSY * med_busy
        like = decode_like(first, launches_n)
        if long and not like and launches_n >= PREFILL_MIN_LAUNCHES * length:
            return "prefill"           # long kernels that decode steps do not run: matrix-matrix GEMMs
        if like and (regular or abs(launches_n - length) <= NEAR_REGULAR * length):
            return "decode"            # a step, also the first or last one that does a little more or less
                                       # or runs longer (a first call's one-off GPU work)
        if regular and not long:
            return "decode"
        return "irregular"

    labels = [label(s[0], s[1], s[2], r) for s, r in zip(segs, reg)]
    first_dec = labels.index("decode") if "decode" in labels else len(labels)
    last_dec = len(labels) - 1 - labels[::-1].index("decode") if "decode" in labels else -1
    out = []
    head_prefill = False
    if cuts[0] > 0:
        hb = int(csum[cuts[0]])
        head_prefill = bool(hb > PREFILL_BUSY * med_busy and not decode_like(0, int(cuts[0]))
                            and cuts[0] >= PREFILL_MIN_LAUNCHES * length)
        out.append(("prefill" if head_prefill else "head", 0, int(cuts[0]), hb))
    for i, lab in enumerate(labels):
        if lab == "irregular":     # after a prefill (the head's too), before the first step: warm-up
            labels[i] = ("warm-up" if head_prefill or "prefill" in labels[:i] else "head") if i < first_dec \
                else "tail" if i > last_dec else "other"
    out += [(lab, *s) for lab, s in zip(labels, segs)]
    if segs and segs[-1][0] + segs[-1][1] < n:
        e = segs[-1][0] + segs[-1][1]
        out.append(("tail", e, n - e, int(csum[n] - csum[e])))
    merged: list = []
    for seg in out:
        if merged and seg[0] == merged[-1][0] and seg[0] not in ("decode", "warm-up"):
            lab, f, k, b = merged[-1]
            merged[-1] = (lab, f, k + seg[2], b + seg[3])
        else:
            merged.append(seg)
    return merged


def _one_forward(tok: np.ndarray, segments: list) -> bool:
    """The repetition is inside one forward: after the last decode segment comes work that
    never recurs (an output projection, sampling), and so does work before the first."""
    dec = [s for s in segments if s[0] == "decode"]
    if not dec:
        return True
    uniq, counts = np.unique(tok, return_counts=True)
    once = set(uniq[counts == 1].tolist())
    end = dec[-1][1] + dec[-1][2]
    after = set(tok[end:].tolist()) & once
    before = set(tok[:dec[0][1]].tolist()) & once
    return len(after) >= 2 and len(before) >= 1


# -- rule 1: markers --------------------------------------------------------------------
def _marker_steps(trace: Trace, name: str, kind: int | None) -> tuple[np.ndarray, np.ndarray]:
    hs = trace["host_spans"]
    ids = [i for i, s in enumerate(trace.strings) if s == name or s.endswith(f": {name}")]
    sel = np.isin(hs["name"], ids)
    if kind is not None:
        sel &= hs["kind"] == kind
    o = np.argsort(hs["start_ns"][sel], kind="stable")
    return hs["start_ns"][sel][o], hs["end_ns"][sel][o]


def detect(trace: Trace, marker: str | None = None, module: str | None = None) -> Detection:
    """Steps of ``trace`` by the first rule that applies (module docstring)."""
    mode = trace.intern("decode")
    if marker or module:
        start, end = _marker_steps(trace, marker or module, HostSpanKind.MODULE if module else None)
        if module:      # each forward of the module ends a step: steps run end to end
            end = end.copy()
            start = np.r_[_first_launch_ns(trace), end[:-1]] if len(end) else start
        rule = f"{RULE_MODULE} {module!r}" if module else f"{RULE_MARKER} {marker!r}"
        if not len(start):
            return Detection(rule, {}, message=f"no {'forward of module' if module else 'span named'} "
                             f"{marker or module!r} in the trace")
        steps = {"index": np.arange(len(start)), "start_ns": start, "end_ns": end,
                 "mode": np.full(len(start), mode)}
        return Detection(rule, steps, [("decode", 0, 0, 0)] * len(start))
    la = launches(trace)
    n = len(la.token)
    if n == 0:
        return Detection("none", {}, message="the trace holds no GPU work, so it has no steps")
    gap = np.r_[0, np.diff(la.start_ns)]
    chosen = _choose(_propose(la.token, la.records))
    segments = _label(_cuts(chosen, gap), n, chosen.length, la.busy_ns, la.token) if chosen else []
    if chosen is None or _one_forward(la.token, segments):
        steps = {"index": [0], "start_ns": [int(la.start_ns[0])], "end_ns": [int(la.last_gpu_ns.max())],
                 "mode": [mode]}
        return Detection(RULE_WHOLE, steps, [("decode", 0, n, int(la.busy_ns.sum()))],
                         message="no repetition across forwards: the whole trace is one step")
    keep = [s for s in segments if s[0] in ("decode", "warm-up")]
    starts = [int(la.start_ns[s[1]]) for s in keep]
    nxt = {s[1]: s[1] + s[2] for s in segments}
    ends = []
    for s in keep:
        e = nxt[s[1]]
        ends.append(int(la.start_ns[e]) - 1 if e < n else int(max(la.last_gpu_ns[s[1]:e].max(), la.start_ns[e - 1])))
    graph = chosen.token <= -1000 or (la.token[keep[-1][1]:keep[-1][1] + keep[-1][2]] <= -1000).any() if keep else False
    labels = np.array([trace.intern(s[0]) for s in keep], np.int64)
    steps = {"index": np.arange(len(keep)), "start_ns": np.asarray(starts, np.int64),
             "end_ns": np.asarray(ends, np.int64), "mode": labels}
    return Detection(RULE_GRAPH if graph else RULE_PERIOD, steps, segments, anchor=la.names[chosen.token])


def _first_launch_ns(trace: Trace) -> int:
    la = launches(trace)
    return int(la.start_ns[0]) if len(la.start_ns) else 0


def apply(trace: Trace, det: Detection) -> Trace:
    """Write ``det``'s steps into ``trace`` (replacing its steps), assign records to them,
    and record the detection in ``meta['step_detection']``."""
    from .model import TABLES
    rows = {c: np.asarray(det.steps.get(c, np.full(len(det.steps.get("index", [])), -1)), np.int64)
            for c in TABLES["steps"]}
    trace.tables["steps"] = table_from_rows("steps", rows)
    counts = assign_steps(trace)
    trace.meta.setdefault("capture", {}).update(counts)
    trace.meta["step_detection"] = {**det.summary(), **graph_launch_calls(trace)}
    return trace


def graph_launch_calls(trace: Trace) -> dict:
    """How long the CUDA-graph launch calls inside steps took (median ns), and how many."""
    api = trace["api"]
    ids = [i for i, name in enumerate(trace.strings) if name.startswith(("cudaGraphLaunch", "cuGraphLaunch"))]
    sel = np.isin(api["name"], ids) & (api["step"] >= 0)
    d = (api["end_ns"] - api["start_ns"])[sel]
    return {"graph_launch_calls": int(sel.sum()), "graph_launch_call_ns_median": int(np.median(d)) if len(d) else None}


__all__ = ["Detection", "detect", "apply", "launches", "RULE_PROFILER_STEP", "RULE_MARKER", "RULE_MODULE",
           "RULE_PERIOD", "RULE_GRAPH", "RULE_WHOLE"]
