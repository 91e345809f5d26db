"""The per-kernel DRAM estimate of one trace: clock offset, fit, bootstrap, merging
(the model is documented in ``dram_kernels``), or the exact counter-pass bytes when the
trace has a ``kernel_dram`` table."""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from .blas_threads import one_thread
from .dram_kernels import MIXED, Design, NormalParts, Samples, identities, initial_groups
from .dram_nnls import nnls_normal
from .kernel_classes import graph_level

#: Offsets tried (ns, PM clock minus kernel clock): a coarse grid, then finer around the best.
COARSE_NS = np.arange(-40_000, 40_001, 2_000)
FINE_NS = (np.arange(-8, 9) * 1_000, np.arange(-4, 5) * 250)
#: Writes reach DRAM after the kernel (L2 write-back): their lag is searched in this range
#: after the read offset.
WRITE_LAG_NS = np.arange(0, 100_001, 2_000)
RAMP_NS = 0.0
#: The fit's work grows with the pairs of records sharing a PM sample (``Design.gram``):
#: quadratic in how much records overlap. Bytes of the trace size limit (``--max-trace-mb``)
#: per pair allowed; at the default 4096 MB, 4.2M pairs, 7x the most of any shipped trace
#: (0.57M). Past it the estimate is not made and the report says why.
LIMIT_BYTES_PER_PAIR = 1024


class Problem:
    """Samples, records and step spans of one trace, prepared once."""

    def __init__(self, trace, attr: dict, ids: dict):
        rec, pos, iv = attr["records"], attr["record_pos"], attr["intervals"]
        self.smp = Samples(trace["pm"])
        self.end_max = np.maximum.accumulate(self.smp.end_ns)    # sorted, for sample windows
        self.a, self.b, self.pos = rec.start_ns, rec.end_ns, pos
        self.ident = ids["ident"]
        order = np.argsort(iv.lo_ns, kind="stable")
        self.step_order = order                      # span k = step position order[k]
        self.lo, self.hi = self.smp.rel(iv.lo_ns[order]), self.smp.rel(iv.hi_ns[order])
        self.n_steps = len(order)
        self.rank = np.empty(self.n_steps, np.int64)
        self.rank[order] = np.arange(self.n_steps)
        self.span_mode = trace["steps"]["mode"][order]

    def design(self, group_of_id: np.ndarray, n_groups: int, offset_ns: float, steps=None) -> Design:
        return Designer(self, group_of_id, n_groups, steps)(offset_ns)


class Designer:
    """The design at any clock offset for one grouping and one set of step spans
    (``steps``: span indices, None all): the records are selected once, and each design
    only visits the samples that can fall in those spans (``window``)."""

    def __init__(self, prob: Problem, group_of_id: np.ndarray, n_groups: int, steps=None):
        g = np.where(prob.ident >= 0, group_of_id[np.maximum(prob.ident, 0)], -1)
        span = np.where(prob.pos >= 0, prob.rank[np.maximum(prob.pos, 0)], -1)
        lo, hi, m = prob.lo, prob.hi, slice(None)
        if steps is not None:       # span indices: only these steps' records and spans
            m = (span < 0) | np.isin(span, steps)
            remap = np.full(prob.n_steps, -1)
            remap[steps] = np.arange(len(steps))
            span = np.where(span >= 0, remap[np.maximum(span, 0)], -1)
            lo, hi = lo[steps], hi[steps]
        self.a, self.b = prob.smp.rel(prob.a[m]), prob.smp.rel(prob.b[m])
        self.group, self.span, self.lo, self.hi = g[m], span[m], lo, hi
        self.smp, self.end_max, self.n_groups = prob.smp, prob.end_max, n_groups

    def window(self, offset_ns: float) -> tuple[int, int]:
        """The samples that can be rows: they end after the first span starts and start
        before the last one ends."""
        if not len(self.lo):
            return 0, 0
        return (int(np.searchsorted(self.end_max, self.lo.min() + offset_ns, "right")),
                int(np.searchsorted(self.smp.start_ns, self.hi.max() + offset_ns, "left")))

    def __call__(self, offset_ns: float) -> Design:
        return Design(self.smp, self.a, self.b, self.group, self.span, self.lo, self.hi, self.n_groups, offset_ns,
                      self.window(offset_ns), RAMP_NS)


def fit_offset(prob: Problem, group_of_id, n_groups: int, column: str, n_steps: int,
               coarse=COARSE_NS, start_ns: float = 0.0, floor_ns: float = -np.inf) -> tuple:
    """The offset minimising the mean squared residual of ``column`` on the first
    ``n_steps`` steps, by alternation: fit the bytes at the current offset, scan a grid
    of offsets with those bytes fixed (no solve per offset), move to the best, refit and
    rescan around it until it stays, then scan a finer grid; never below ``floor_ns``.
    Returns (offset_ns, offsets scanned, their mean squared residual)."""
    steps = np.arange(min(n_steps, prob.n_steps))
    y = getattr(prob.smp, column)
    tried, mse = [], []

    design = lru_cache(maxsize=64)(Designer(prob, group_of_id, n_groups, steps))     # grids revisit offsets

    def fit(off):
        d = design(off)
        S, Atb, U = d.normal(y[d.rows])
        return np.nan_to_num(nnls_normal(S, Atb, low_rank=U)[0])

    def scan(x, grid):
        grid = grid[grid >= floor_ns]
        for off in grid:
            d = design(off)
            r = y[d.rows] - d.fitted(x)
            tried.append(float(off))
            mse.append(float(r @ r / max(len(r), 1)))
        return float(tried[int(np.argmin(mse[-len(grid):])) + len(tried) - len(grid)])

    best = scan(fit(start_ns), start_ns + np.asarray(coarse))
    for _ in range(6):          # bytes fitted at a wrong offset are biased: refit until it stays
        new = scan(fit(best), best + FINE_NS[0])
        if new == best:
            break
        best = new
    best = scan(fit(best), best + FINE_NS[1])
    order = np.argsort(tried, kind="stable")
    return best, np.asarray(tried)[order], np.asarray(mse)[order]


def max_pairs() -> int:
    from .trace.archive import max_bytes
    return max_bytes() // LIMIT_BYTES_PER_PAIR


def overlap_pairs(prob: Problem, margin_ns: float = 60_000.0) -> float:
    """An upper bound of the pairs of records sharing a sample over every offset tried (the
    records within ``margin_ns`` of it): sum over samples of n^2 / 2, n by two searches
    of the sorted record starts and ends. No pair is built."""
    a, b = np.sort(prob.smp.rel(prob.a)), np.sort(prob.smp.rel(prob.b))
    n = np.searchsorted(a, prob.smp.end_ns + margin_ns, "left") - np.searchsorted(b, prob.smp.start_ns - margin_ns,
                                                                                    "right")
    n = np.maximum(n, 0).astype(np.float64)
    return float(n @ n / 2)


def fit_boot(d: Design, y: np.ndarray, n_boot: int, rng, strata: np.ndarray) -> tuple:
    """Point estimate and bootstrap estimates (rows: resamples of the steps, drawn within
    each mode: ``strata`` per step span), warm-started from the point estimate."""
    parts = NormalParts(d, y)
    S, Atb, U = parts.at(None, strata)
    x, pas = nnls_normal(S, Atb, low_rank=U)
    boots = np.empty((n_boot, len(x)))
    members = [np.nonzero(strata == m)[0] for m in np.unique(strata)]
    for i in range(n_boot):
        w = np.zeros(d.n_steps)
        for idx in members:
            np.add.at(w, rng.choice(idx, len(idx)), 1.0)
        S, Atb, U = parts.at(w, strata)
        boots[i], _ = nnls_normal(S, Atb, pas, low_rank=U)
    return x, boots


def min_span(prob: Problem, interval_ns: float) -> float:
    """The shortest span that stands alone: one sample interval, divided by the number of
    distinct phases (eighths of the interval) of the step starts against the sampling
    grid, at most by 4: steps sampled at different phases see different sample edges,
    which is what separates neighbours shorter than a sample."""
    phase = np.floor(((prob.lo - prob.smp.start_ns[0]) % interval_ns) / interval_ns * 8)
    return interval_ns / min(len(np.unique(phase)), 4)


def _merge(group_of_id, id_mode, bad: np.ndarray, boots: np.ndarray) -> np.ndarray:
    """Merge each unsupported group with the neighbour (same mode) whose bootstrap values
    anticorrelate most with it; returns the new group of each identity, renumbered."""
    n = len(bad)
    gmode = np.zeros(n, np.int64)
    gmode[group_of_id] = id_mode
    target = np.arange(n)
    taken = np.zeros(n, bool)
    c = _neighbour_corr(boots[:, :n])
    for g in np.nonzero(bad)[0]:     # one pass over groups, not records
        if taken[g]:
            continue
        nbs = [h for h in (g - 1, g + 1) if 0 <= h < n and gmode[h] == gmode[g] and not taken[h]]
        if not nbs:
            continue
        h = min(nbs, key=lambda k: c[min(g, k)])
        target[max(g, h)] = min(g, h)
        taken[g] = taken[h] = True
    _, new = np.unique(target[group_of_id], return_inverse=True)
    return new.reshape(-1)


def _neighbour_corr(boots: np.ndarray) -> np.ndarray:
    """Correlation over the resamples of each group with the next one (np.corrcoef's
    formula, 0 where undefined): the only pairs a merge compares."""
    n = boots.shape[1]
    if len(boots) < 2 or n < 2:
        return np.zeros(max(n - 1, 0))
    x = boots - boots.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt((x * x).sum(axis=0) / (len(x) - 1))
        c = (x[:, :-1] * x[:, 1:]).sum(axis=0) / (len(x) - 1) / sd[:-1] / sd[1:]
    return np.nan_to_num(np.clip(c, -1, 1), nan=0.0)


def estimate(trace, attr: dict, n_boot: int = 20, min_span_ns: float | None = None, offset_steps: int = 6,
             max_rel_halfwidth: float = 0.25, min_abs_fraction: float = 0.002, merge_rounds: int = 2,
             seed: int = 0, peak_bytes_per_s: float | None = None) -> dict:
    """Per-group DRAM bytes per step (reads and writes), with intervals; see module doc."""
    args = (trace, attr, n_boot, min_span_ns, offset_steps, max_rel_halfwidth, min_abs_fraction, merge_rounds,
            seed, peak_bytes_per_s)
    if not trace.n("pm") and not trace.n("kernel_dram"):
        return _estimate(*args)   # nothing to fit (a Kineto trace): no BLAS, so no scipy to load
    with one_thread():
        return _estimate(*args)


def _estimate(trace, attr, n_boot, min_span_ns, offset_steps, max_rel_halfwidth, min_abs_fraction,
              merge_rounds, seed, peak_bytes_per_s) -> dict:
    ids = identities(trace, attr["records"], attr["record_pos"], attr["intervals"].lo_ns)
    n_id = len(ids["mode"])
    if trace.n("kernel_dram"):
        return _exact(trace, attr, ids)
    if graph_level(trace):
        return {"source": "none", "reason": "graph-level kernel records: one record per CUDA-graph replay, "
                                            "no per-kernel times to deconvolve"}
    if not trace.n("pm") or not n_id:
        return {"source": "none", "reason": "no PM samples" if n_id else "no kernels in steps"}
    prob = Problem(trace, attr, ids)
    if not prob.smp.n:
        return {"source": "none", "reason": "no valid PM samples"}
    pairs, most = overlap_pairs(prob), max_pairs()
    if pairs > most:
        return {"source": "none", "reason": f"records overlap too much to deconvolve: {pairs:.3g} pairs of records "
                                            f"share a PM sample, over the {most:.3g} the size limit allows "
                                            "(--max-trace-mb)", "work_limit": True}
    interval = float(np.median(prob.smp.end_ns - prob.smp.start_ns))
    span_ns = float(min_span_ns or min_span(prob, interval))
    group_of_id = initial_groups(ids, span_ns)
    ng = int(group_of_id.max()) + 1
    off_r, tried, sse_r = fit_offset(prob, group_of_id, ng, "read", offset_steps)
    off_w, tried_w, sse_w = fit_offset(prob, group_of_id, ng, "write", offset_steps, WRITE_LAG_NS, off_r, off_r)
    rng = np.random.default_rng(seed)
    for rnd in range(merge_rounds + 1):
        ng = int(group_of_id.max()) + 1
        dr = prob.design(group_of_id, ng, off_r)
        dw = dr if off_w == off_r else prob.design(group_of_id, ng, off_w)     # same matrix: one build
        yr, yw = prob.smp.read[dr.rows], prob.smp.write[dw.rows]
        xr, br = fit_boot(dr, yr, n_boot, rng, prob.span_mode)
        xw, bw = fit_boot(dw, yw, n_boot, rng, prob.span_mode)
        lo_r, hi_r = _interval(br, xr)
        step_bytes = yr.sum() / max(prob.n_steps, 1)
        half = (hi_r - lo_r)[:ng] / 2
        bad = (half > max_rel_halfwidth * np.nan_to_num(xr[:ng])) & (half > min_abs_fraction * step_bytes)
        if peak_bytes_per_s:        # faster than the memory can go: the bytes are misplaced
            t = np.bincount(group_of_id, weights=ids["dur_ns"], minlength=ng)
            bad |= (np.nan_to_num(xr[:ng]) + np.nan_to_num(xw[:ng])) > 1.05 * peak_bytes_per_s * t / 1e9
        if rnd == merge_rounds or not bad.any():
            break
        group_of_id = _merge(group_of_id, ids["mode"], bad, br)
    lo_w, hi_w = _interval(bw, xw)
    out = _groups(trace, ids, group_of_id, ng)
    out["record_bytes_per_ns"] = record_rates(attr, ids, group_of_id, xr[:ng] + np.nan_to_num(xw[:ng]))
    out.update({
        "source": "pm deconvolution", "read_bytes": xr[:ng], "read_lo_bytes": lo_r[:ng], "read_hi_bytes": hi_r[:ng],
        "write_bytes": xw[:ng], "write_lo_bytes": lo_w[:ng], "write_hi_bytes": hi_w[:ng], "supported": ~bad,
        "_read_boot": br[:, :ng], "_write_boot": bw[:, :ng],
        "background_read_bytes_per_s": xr[ng] * 1e9, "background_write_bytes_per_s": xw[ng] * 1e9,
        "read_offset_ns": off_r, "write_offset_ns": off_w, "read_offsets_tried_ns": tried,
        "read_offset_mse": sse_r, "write_offsets_tried_ns": tried_w, "write_offset_mse": sse_w, "interval_ns": interval,
        "min_span_ns": span_ns, "n_boot": n_boot, "rows": len(dr.rows),
        "merge_rounds_used": rnd, "n_identities": n_id})
    out.update(_closure(prob, dr, yr, xr, "read"))
    out.update(_closure(prob, dw, yw, xw, "write"))
    return out


def record_rates(attr: dict, ids: dict, group_of_id: np.ndarray, group_bytes: np.ndarray) -> np.ndarray:
    """The model's DRAM rate (bytes per ns) of every GPU record (``intervals.GpuRecords``
    order): its group's bytes over the group's busy time in the record's step; 0 outside."""
    rec, pos = attr["records"], attr["record_pos"]
    ident = ids["ident"]
    g = np.where(ident >= 0, group_of_id[np.maximum(ident, 0)], -1)
    ng = len(group_bytes)
    n_steps = int(pos.max()) + 1 if len(pos) else 0
    key = np.where(g >= 0, np.maximum(pos, 0) * ng + g, 0)
    dur = (rec.end_ns - rec.start_ns).astype(np.float64)
    gdur = np.bincount(key, weights=np.where(g >= 0, dur, 0), minlength=max(n_steps * ng, 1))
    rate = np.nan_to_num(group_bytes)[np.maximum(g, 0)] / np.maximum(gdur[key], 1.0)
    return np.where(g >= 0, rate, 0.0)


def _interval(boots: np.ndarray, x: np.ndarray) -> tuple:
    """2.5/97.5 percentiles of the resamples, leaving out NaN (a group with no data in a
    resample); NaN where a group has none. Vectorised: a column's percentile only sees
    its sorted non-NaN values, and columns with as many of those go through one call."""
    if not len(boots):
        return x, x
    srt = np.sort(boots, axis=0)                # NaN sort last
    count = (~np.isnan(srt)).sum(axis=0)
    lo, hi = np.full(boots.shape[1], np.nan), np.full(boots.shape[1], np.nan)
    for c in np.unique(count[count > 0]):
        cols = np.nonzero(count == c)[0]
        lo[cols], hi[cols] = np.percentile(srt[:c, cols], [2.5, 97.5], axis=0)
    return lo, hi


def _closure(prob: Problem, d: Design, y: np.ndarray, x: np.ndarray, col: str) -> dict:
    """Measured vs fitted bytes over the fitted rows, per step (span order) and in all; the
    explained fraction of the sample variance (r2; NaN when the rows measure no spread)."""
    fit = d.A @ np.nan_to_num(x)
    meas = np.bincount(d.row_step, weights=y, minlength=prob.n_steps)
    mod = np.bincount(d.row_step, weights=fit, minlength=prob.n_steps)
    spread = float(((y - y.mean()) ** 2).sum()) if len(y) else 0.0
    r2 = 1 - float(((y - fit) ** 2).sum()) / spread if spread > 0 else np.nan     # no spread: nothing to explain
    return {f"{col}_measured_bytes_per_step": meas, f"{col}_fitted_bytes_per_step": mod, f"{col}_r2": r2}


def _groups(trace, ids: dict, group_of_id: np.ndarray, ng: int) -> dict:
    """Per group: mode, class (or MIXED), first and last member, members, time per step."""
    first = np.full(ng, -1)
    last = np.zeros(ng, np.int64)
    np.maximum.at(last, group_of_id, np.arange(len(group_of_id)))
    first = np.full(ng, len(group_of_id))
    np.minimum.at(first, group_of_id, np.arange(len(group_of_id)))
    kl = ids["klass"]
    cmin, cmax = np.full(ng, 99), np.full(ng, -99)
    np.minimum.at(cmin, group_of_id, kl)
    np.maximum.at(cmax, group_of_id, kl)
    bits = np.zeros(ng, np.int64)
    np.bitwise_or.at(bits, group_of_id, np.left_shift(1, kl))
    names = ids["name"]
    label = [names[f] if f == la else f"{names[f]} .. {names[la]}" for f, la in zip(first, last)]
    return {"group_of_identity": group_of_id, "identity_mode": ids["mode"], "identity_table": ids["table"],
            "mode": [trace.strings[m] for m in ids["mode"][first]],
            "klass": np.where(cmin == cmax, cmin, MIXED), "name": label, "member_classes": bits,
            "members": np.bincount(group_of_id, minlength=ng),
            "time_ns_per_step": np.bincount(group_of_id, weights=ids["dur_ns"], minlength=ng),
            "rel_start_ns": ids["rel_start_ns"][first]}


def _exact(trace, attr: dict, ids: dict) -> dict:
    """Bytes per identity from the counter pass: mean over the steps that hold it; the
    interval is the min..max over steps (kernel replay has no sampling error; each pass is
    one untimed step, so the spread is the passes'). ``_read_boot``/``_write_boot`` hold one
    row per step (so class intervals are percentiles over steps), and the per-step sums
    face the PM-measured bytes of the traced steps (two instruments, the same kernels)."""
    from .dram import bytes_between
    kd, nk = trace["kernel_dram"], trace.n("kernels")
    n_id = len(ids["mode"])
    idk = ids["ident"][:nk]
    pos = np.asarray(attr["record_pos"][:nk])
    n_steps = trace.n("steps")
    out = _groups(trace, ids, np.arange(n_id), n_id)
    per_kernel = {}
    for col in ("read", "write", "l2_write"):
        v = per_kernel[col] = np.full(nk, np.nan)
        got = kd[f"dram_{col}_bytes" if col != "l2_write" else "l2_write_bytes"].astype(np.float64)
        v[kd["kernel"]] = np.where(got >= 0, got, np.nan)
        m = (idk >= 0) & np.isfinite(v) & (pos >= 0)
        per_step = np.full((n_steps, n_id), np.nan)
        per_step[pos[m], idk[m]] = v[m]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)      # an identity with no value: NaN
            out.update({f"{col}_bytes": np.nanmean(per_step, axis=0), f"{col}_lo_bytes": np.nanmin(per_step, axis=0),
                        f"{col}_hi_bytes": np.nanmax(per_step, axis=0)})
        if col != "l2_write":
            out[f"_{col}_boot"] = per_step
            out[f"{col}_fitted_bytes_per_step"] = np.nansum(per_step, axis=1)
    st = trace["steps"]
    if trace.n("pm"):
        for col in ("read", "write"):
            out[f"{col}_measured_bytes_per_step"] = bytes_between(
                trace["pm"], st["start_ns"], st["end_ns"], f"dram_{col}_bytes").astype(np.float64)
    kernels = ids["table"] == 0
    # The timeline's DRAM lane: each kernel at its own counted bytes over its own duration.
    rec = attr["records"]
    both = np.nan_to_num(per_kernel["read"]) + np.nan_to_num(per_kernel["write"])
    dur = np.maximum((rec.end_ns - rec.start_ns).astype(np.float64), 1.0)
    out["record_bytes_per_ns"] = np.concatenate([both / dur[:nk], np.zeros(len(dur) - nk)])
    out.update({"source": "counter pass (kernel_dram)", "supported": np.isfinite(out["read_bytes"]) | ~kernels,
                "background_read_bytes_per_s": 0.0, "background_write_bytes_per_s": 0.0,
                "n_identities": n_id, "not_kernels": int((~kernels).sum()),
                "counter_pass": trace.meta.get("capture", {}).get("kernel_dram", {})})
    return out
