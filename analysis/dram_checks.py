"""Per-class DRAM bytes, the per-kernel roofline and the physical checks of the
deconvolved estimate (``dram_fit.estimate``).

- Class bytes per step: the sum over a mode's groups of one class; a group whose
  members have several classes is counted as ``mixed`` (never split by a guess). The
  interval is the 2.5/97.5 percentile of the same sum over the bootstrap resamples.
- Achieved bandwidth of a class or group = (read + write bytes) / its kernels' time.
- Kernel inefficiency of a group = max(0, time - (read + write bytes) / B), B the
  calibrated achievable read bandwidth (``--calibration``), else the peak; summed by class.
- Checks (each ``ok`` true/false, never dropped): GEMM/GEMV read bytes against the weight
  bytes they must read (decode traces; the upper value adds mixed groups holding a GEMM);
  classes + background against the measured total of each step (1%); no group faster
  than the peak bandwidth (+5%); constructed workloads: each chain read stage within 5%
  of its construction and the null kernels under 1% of it; the synthetic copy and GEMV
  within 5% of theirs; no group left wider than its support threshold.
"""
from __future__ import annotations

import numpy as np

from .dram_kernels import MIXED
from .kernel_classes import KernelClass


def class_name(c: int) -> str:
    return "mixed" if c == MIXED else KernelClass(int(c)).name.lower()


def achievable(calibration: dict | None, peak: float | None) -> tuple:
    if calibration and calibration.get("achievable_bytes_per_s"):
        return float(calibration["achievable_bytes_per_s"]), "calibrated achievable read bandwidth"
    return (float(peak), "peak bandwidth (no calibration given)") if peak else (None, "unknown")


def _pct(boot: np.ndarray, cols: np.ndarray) -> tuple:
    if not len(boot):
        return np.nan, np.nan
    s = np.nansum(boot[:, cols], axis=1)
    return float(np.percentile(s, 2.5)), float(np.percentile(s, 97.5))


def classes(est: dict, bw: float | None) -> dict:
    """One row per (mode, class)."""
    modes = np.asarray(est["mode"], dtype=object)
    kl = np.asarray(est["klass"])
    rb, wb = est.get("_read_boot", np.zeros((0, len(kl)))), est.get("_write_boot", np.zeros((0, len(kl))))
    ineff = inefficiency_ns(est, bw)
    out = {k: [] for k in ("mode", "class", "groups", "time_ns_per_step", "read_bytes_per_step", "read_lo_bytes",
                           "read_hi_bytes", "write_bytes_per_step", "write_lo_bytes", "write_hi_bytes",
                           "bytes_per_s", "fraction_of_achievable", "inefficiency_ns_per_step")}
    for m in sorted(set(modes)):
        for c in sorted(set(kl[modes == m])):
            cols = np.nonzero((modes == m) & (kl == c))[0]
            t = float(est["time_ns_per_step"][cols].sum())
            r, w = float(np.nansum(est["read_bytes"][cols])), float(np.nansum(est["write_bytes"][cols]))
            rl, rh = _pct(rb, cols)
            wl, wh = _pct(wb, cols)
            gbs = (r + w) / t * 1e9 if t > 0 else np.nan
            for k, v in (("mode", m), ("class", class_name(c)), ("groups", len(cols)), ("time_ns_per_step", t),
                         ("read_bytes_per_step", r), ("read_lo_bytes", rl), ("read_hi_bytes", rh),
                         ("write_bytes_per_step", w), ("write_lo_bytes", wl), ("write_hi_bytes", wh),
                         ("bytes_per_s", gbs), ("fraction_of_achievable", gbs / bw if bw else np.nan),
                         ("inefficiency_ns_per_step", float(ineff[cols].sum()))):
                out[k].append(v)
    return out


def class_bytes_per_step(cls: dict, trace) -> dict:
    """Read + write bytes per step of each class over all modes, weighted by the modes'
    step counts (the shape ``kernel_tables.unmodelled_bytes`` takes)."""
    st = trace["steps"]
    n = {trace.strings[m]: int((st["mode"] == m).sum()) for m in np.unique(st["mode"])}
    tot = max(sum(n.values()), 1)
    out: dict = {}
    for m, c, r, w in zip(cls["mode"], cls["class"], cls["read_bytes_per_step"], cls["write_bytes_per_step"]):
        out[c] = out.get(c, 0.0) + (r + w) * n.get(m, 0) / tot
    return {"class": list(out), "dram_bytes_per_step": list(out.values())}


def inefficiency_ns(est: dict, bw: float | None) -> np.ndarray:
    t = np.asarray(est["time_ns_per_step"], np.float64)
    if not bw:
        return np.full(len(t), np.nan)
    b = np.nan_to_num(est["read_bytes"]) + np.nan_to_num(est["write_bytes"])
    return np.maximum(t - b / bw * 1e9, 0.0)


def top_kernels(est: dict, bw: float | None, n: int = 10) -> dict:
    """The ``n`` kernels (groups summed by mode and label: a merged group keeps its
    ``first .. last`` label) that lose the most time against the achievable bandwidth."""
    ineff = inefficiency_ns(est, bw)
    keys = np.array([f"{m}\x00{x}" for m, x in zip(est["mode"], est["name"])], dtype=object)
    uniq, inv = np.unique(keys, return_inverse=True)
    k = len(uniq)

    def total(v):
        return np.bincount(inv, weights=np.nan_to_num(np.asarray(v, np.float64)), minlength=k)
    t, r, w, lost = total(est["time_ns_per_step"]), total(est["read_bytes"]), total(est["write_bytes"]), total(ineff)
    order = np.argsort(-lost, kind="stable")[:n]
    first = np.zeros(k, np.int64)
    first[inv[::-1]] = np.arange(len(inv))[::-1]
    rb = est.get("_read_boot", np.zeros((0, len(inv))))
    iv = [_pct(rb, np.nonzero(inv == i)[0]) for i in order]
    return {"mode": [uniq[i].split("\x00")[0] for i in order], "name": [uniq[i].split("\x00")[1] for i in order],
            "class": [class_name(est["klass"][first[i]]) for i in order], "groups": np.bincount(inv, minlength=k)[order],
            "time_ns_per_step": t[order], "read_bytes_per_step": r[order],
            "read_lo_bytes": np.array([x[0] for x in iv]), "read_hi_bytes": np.array([x[1] for x in iv]),
            "write_bytes_per_step": w[order],
            "bytes_per_s": np.where(t[order] > 0, (r + w)[order] / np.maximum(t[order], 1) * 1e9, np.nan),
            "fraction_of_achievable": (r + w)[order] / np.maximum(t[order], 1) * 1e9 / bw if bw else np.full(len(order), np.nan),
            "inefficiency_ns_per_step": lost[order]}


def _check(name: str, ok: bool, value, limit, detail: str) -> dict:
    return {"check": name, "ok": bool(ok), "value": value, "limit": limit, "detail": detail}


def checks(trace, est: dict, peak: float | None) -> list[dict]:
    out = []
    wl = trace.meta.get("workload") or {}
    modes = np.asarray(est["mode"], dtype=object)
    kl = np.asarray(est["klass"])
    rb = est.get("_read_boot", np.zeros((0, len(kl))))
    names = [str(x) for x in est["name"]]
    if wl.get("kind") == "decode" and "config" in wl:
        from .floor import step_bytes
        weights = step_bytes(wl, int(wl.get("first_traced_position", wl.get("ctx", 0))))["weights_read_bytes"]
        # A graph-level record (a whole replay, capture kernel_records "graph") holds the GEMMs.
        gemm_bit = (1 << int(KernelClass.GEMM)) | (1 << int(KernelClass.GRAPH))
        for m in sorted(set(modes)):
            pure = np.nonzero((modes == m) & np.isin(kl, (KernelClass.GEMM, KernelClass.GRAPH)))[0]
            with_gemm = np.nonzero((modes == m) & (np.asarray(est["member_classes"]) & gemm_bit > 0))[0]
            g, up = float(np.nansum(est["read_bytes"][pure])), float(np.nansum(est["read_bytes"][with_gemm]))
            hi = _pct(rb, with_gemm)[1] if len(rb) else up
            out.append(_check(f"{m}: GEMM/GEMV reads >= weight bytes", max(hi, up) >= weights, up, weights,
                              f"GEMM/GEMV groups {g / 1e9:.3f} GB, with mixed groups holding a GEMM "
                              f"{up / 1e9:.3f} GB (upper {hi / 1e9:.3f}); weights read per step {weights / 1e9:.3f} GB"))
    meas = est.get("read_measured_bytes_per_step")
    if meas is not None and len(meas):
        m = meas + est["write_measured_bytes_per_step"]
        f = est["read_fitted_bytes_per_step"] + est["write_fitted_bytes_per_step"]
        full = m >= 0.5 * np.median(m)      # steps the samples cover (a truncated PM buffer leaves a stub)
        err = float(np.max(np.abs(f - m)[full] / np.maximum(m[full], 1)))
        er = float(np.max((np.abs(est["read_fitted_bytes_per_step"] - meas) / np.maximum(meas, 1))[full]))
        skip = f"; {int((~full).sum())} step(s) with under half the median bytes left out (partial coverage)" \
            if (~full).any() else ""
        exact = est.get("source", "").startswith("counter pass")
        out.append(_check("counter-pass kernels = PM-measured bytes (per step, read + write)" if exact else
                          "classes + background = measured bytes (per step, read + write)", err <= 0.01, err, 0.01,
                          f"worst step: {100 * err:.2f}% off the PM total of its samples (reads alone "
                          f"{100 * er:.2f}%){skip}"))
    if peak:
        t = np.asarray(est["time_ns_per_step"], np.float64)
        b = np.nan_to_num(est["read_bytes"]) + np.nan_to_num(est["write_bytes"])
        rate = np.where(t > 0, b / np.maximum(t, 1) * 1e9, 0)
        fast = rate > 1.05 * peak
        worst = int(np.argmax(rate)) if len(rate) else 0
        out.append(_check("no group faster than the peak bandwidth (+5%)", not fast.any(), int(fast.sum()), 0,
                          f"fastest: {names[worst] if names else '-'} at {rate[worst] / 1e9 if len(rate) else 0:.0f} GB/s "
                          f"vs peak {peak / 1e9:.0f} GB/s"))
    if wl.get("kind") == "chain" and wl.get("read_bytes_each"):
        each = float(wl["read_bytes_each"])
        rd = np.asarray(est["read_bytes"])
        reads = np.array([n == "read_reduce" for n in names])
        nulls = np.array([n.startswith("null_kernel") and ".." not in n for n in names])
        err = float(np.max(np.abs(rd[reads] - each) / each)) if reads.any() else np.nan
        out.append(_check("chain: each read stage within 5% of its construction", err <= 0.05, err, 0.05,
                          f"{reads.sum()} read stages vs {each / 1e6:.1f} MB each"))
        mx = float(np.nanmax(rd[nulls])) if nulls.any() else 0.0
        out.append(_check("chain: null kernels under 1% of a read stage", mx <= 0.01 * each, mx, 0.01 * each,
                          f"largest null-kernel group {mx / 1e6:.3f} MB"))
    if wl.get("kind") == "synthetic" and wl.get("copy_read_bytes"):
        for label, key, pattern in (("copy", "copy_read_bytes", ("memcpy", "copy")),
                                    ("GEMV", "gemv_read_bytes", ("nvjet", "gemv", "gemm"))):
            sel = np.array([any(p in n.lower() for p in pattern) and ".." not in n for n in names])
            if not sel.any():
                continue
            per_mode = [float(np.nansum(est["read_bytes"][sel & (modes == m)])) for m in sorted(set(modes[sel]))]
            err = float(max(abs(v - wl[key]) / wl[key] for v in per_mode))
            out.append(_check(f"synthetic: {label} reads within 5% of construction", err <= 0.05, err, 0.05,
                              f"{', '.join(f'{v / 1e6:.1f}' for v in per_mode)} MB vs {wl[key] / 1e6:.1f} MB"))
    if wl.get("kind") == "dram-recovery" and wl.get("ops"):
        out += recovery(trace, est, wl["ops"])
    if est.get("source", "").startswith("counter pass"):
        n_nan = int((~np.asarray(est["supported"], bool)).sum())
        out.append(_check("every kernel has counter-pass bytes", n_nan == 0, n_nan, 0,
                           f"{n_nan} kernels without a counter range; {est.get('not_kernels', 0)} copies/sets are "
                           "not kernels and have none (the range profiler counts kernels)"))
        return out
    n_bad = int((~np.asarray(est["supported"], bool)).sum())
    n_nan = int(np.isnan(np.asarray(est["read_bytes"], np.float64)).sum())
    out.append(_check("every group's interval within its support threshold", n_bad == 0, n_bad, 0,
                      f"{n_bad} groups left wider than the threshold after merging"
                      + (f"; {n_nan} groups have no PM samples (no estimate)" if n_nan else "")))
    return out


def recovery(trace, est: dict, ops: list[dict], tolerance: float = 0.05) -> list[dict]:
    """Known bytes per kernel (``ops``, in launch order; one kernel each) against the
    estimate: the k-th identity of a mode is the k-th op; bytes summed per group."""
    out = []
    for m in np.unique(est["identity_mode"]):
        sel = np.nonzero(est["identity_mode"] == m)[0]
        label = trace.strings[int(m)]
        if len(sel) != len(ops):
            out.append(_check(f"{label}: recovery of known bytes", False, None, tolerance,
                              f"{len(sel)} kernels per step, {len(ops)} ops by construction"))
            continue
        g = est["group_of_identity"][sel]
        cols = [("read", "read"), ("write", "write")]
        if np.isfinite(np.asarray(est.get("l2_write_bytes", [np.nan]), np.float64)).any():
            # The counter pass also counted the bytes each kernel wrote into L2: those are its
            # writes; DRAM sees them when L2 evicts them, partly during later kernels, so
            # DRAM writes are checked over the step instead of per kernel.
            cols = [("read", "read"), ("l2_write", "write")]
            known_w = float(sum(o["write_bytes"] for o in ops))
            got_w = float(np.nansum(est["write_bytes"][np.unique(g)]))
            err_w = abs(got_w - known_w) / max(known_w, 1)
            out.append(_check(f"{label}: DRAM writes of the step within {100 * tolerance:.0f}% of the known total",
                              err_w <= tolerance, err_w, tolerance,
                              f"{got_w / 2**20:.1f} MiB vs {known_w / 2**20:.1f} MiB written by construction"))
        for col, known_col in cols:
            known = np.bincount(g, weights=[float(o[f"{known_col}_bytes"]) for o in ops],
                                minlength=len(est["read_bytes"]))
            grp = np.unique(g)
            grp = grp[known[grp] > 0]
            err = np.abs(np.nan_to_num(est[f"{col}_bytes"][grp]) - known[grp]) / known[grp]
            worst = int(grp[np.argmax(err)]) if len(grp) else -1
            what = "L2-write (bytes written, counter pass)" if col == "l2_write" else \
                f"DRAM {col}" + (" (as they reach DRAM: L2 write-back lands on later kernels)" if col == "write" else "")
            out.append(_check(f"{label}: every {what} group within {100 * tolerance:.0f}% of its known bytes",
                              bool(len(grp)) and float(err.max()) <= tolerance, float(err.max()) if len(grp) else None,
                              tolerance, f"{len(grp)} groups; worst {est['name'][worst] if worst >= 0 else '-'} "
                              f"{100 * float(err.max()) if len(grp) else 0:.1f}% off"))
    return out


def report(trace, est: dict, peak: float | None, calibration: dict | None) -> dict:
    """Everything the renderers print about per-kernel DRAM."""
    base = {k: v for k, v in est.items() if not k.startswith("_") and k not in (
        "group_of_identity", "read_offsets_tried_ns", "read_offset_mse", "write_offsets_tried_ns",
        "write_offset_mse", "mode", "klass", "name", "members", "time_ns_per_step", "rel_start_ns",
        "read_bytes", "read_lo_bytes", "read_hi_bytes", "write_bytes", "write_lo_bytes", "write_hi_bytes",
        "supported", "member_classes", "identity_mode", "identity_table", "record_bytes_per_ns",
        "l2_write_bytes", "l2_write_lo_bytes", "l2_write_hi_bytes")}
    if est.get("source", "none") == "none":
        return {**base, "classes": {}, "top_kernels": {}, "checks": []}
    bw, bw_source = achievable(calibration, peak)
    return {**base, "groups": len(est["klass"]), "achievable_bytes_per_s": bw, "achievable_source": bw_source,
            "classes": classes(est, bw), "top_kernels": top_kernels(est, bw), "checks": checks(trace, est, peak)}
