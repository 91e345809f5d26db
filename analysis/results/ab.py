"""Statistics of an eager vs graph A/B over sessions, and the launch-overhead verdict
(numpy; scipy is imported at call time).

Measured speedup, two estimands (both reported):
- median of per-session ratios: speedup_i = median base step_i / median arm step_i, the
  median over sessions; 95% percentile bootstrap over sessions (scipy.stats.bootstrap).
  This is the headline and the one the verdict uses.
- ratio of means: mean over sessions of the base medians / mean of the arm medians;
  95% percentile bootstrap resampling sessions *paired* (both arms of a session together).

Prediction (graph and compile arms; the same formula for both, on every GPU): if the arm
removed only launch overhead, its step would be the base arm's traced GPU busy time plus
its non-launch idle plus one node gap per base kernel:
    predicted arm step_i = busy_i + other_idle_i + kernels_i x node_gap
    predicted speedup_i  = base median step_i / predicted arm step_i
(the traced busy and non-launch idle are GPU-side and not inflated by tracing; the traced
launch-bound idle is, so it is replaced, not scaled).

The node gap is the calibrated, untraced per-node cost of a CUDA graph of 1000 null kernels
(`stepscope calibrate`, ``launch["1000"]["graph_ns_per_node"]``), one estimate per
calibration run of the A/B's GPU. It is untraced like the A/B medians it predicts. It
includes the null kernel's own execution, so it is an upper bound on the idle a node adds
between real kernels; the traced gap between graph nodes (``traced_gaps``, 256 ns) is the
low end. The sensitivity line says which node gaps keep the verdict, so a reader can see
where between the two it flips.

Prediction interval: 95% percentile bootstrap of the median predicted speedup, resampling
sessions and, in each resample, one node gap drawn from the calibration runs.

Decision rule (``verdict``): "explained by launch overhead" when the prediction's 95%
interval overlaps the measured 95% interval of the median of per-session ratios (closed
intervals: touching ends overlap); otherwise "not explained by launch overhead alone";
"no prediction" for an arm that is not graph or compile, or without a calibrated node gap.
The main job (``analysis.compare_modes``, one session per arm) decides with the same
``verdict`` and the same sensitivity search (``explained_range``), its intervals
bootstrapped over steps instead of sessions (``ratio_of_medians_ci``,
``step_prediction_ci``).
"""
from __future__ import annotations

import numpy as np

LEVEL = 0.95
N_RESAMPLES = 10_000
PREDICTABLE = ("graph", "compile")
NODE_GAP_SOURCE = 'stepscope calibrate: launch["1000"]["graph_ns_per_node"], untraced, one per calibration run'


def rule(prediction: str, measured: str) -> str:
    """The decision rule in words, naming what each interval is a bootstrap over."""
    return (f"explained by launch overhead when the prediction's 95% interval ({prediction}) overlaps "
            f"the measured 95% interval of {measured} (closed intervals)")


RULE = rule("bootstrap over sessions and the node-gap estimates", "the median per-session speedup")
EXPLAINED = "explained by launch overhead"
NOT_EXPLAINED = "not explained by launch overhead alone"


def bootstrap_ci(values, level: float = LEVEL, seed: int = 0, n_resamples: int = N_RESAMPLES):
    """Percentile bootstrap CI of the median of ``values`` (resampling the values)."""
    from scipy.stats import bootstrap
    v = np.asarray(values, float)
    if len(v) < 2 or np.all(v == v[0]):
        return float(v.min()), float(v.max())
    res = bootstrap((v,), np.median, confidence_level=level, n_resamples=n_resamples,
                    method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _ratio_of_means(b, a, axis=-1):
    return np.mean(b, axis=axis) / np.mean(a, axis=axis)


def ratio_of_means_ci(base, arm, level: float = LEVEL, seed: int = 0, n_resamples: int = N_RESAMPLES):
    """Percentile bootstrap CI of mean(base) / mean(arm), resampling sessions paired."""
    from scipy.stats import bootstrap
    b, a = np.asarray(base, float), np.asarray(arm, float)
    if len(b) < 2 or np.all(b / a == b[0] / a[0]):
        r = b / a
        return float(r.min()), float(r.max())
    res = bootstrap((b, a), _ratio_of_means, paired=True, vectorized=True, confidence_level=level,
                    n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _ratio_of_medians(b, a, axis=-1):
    return np.median(b, axis=axis) / np.median(a, axis=axis)


def ratio_of_medians_ci(base, arm, level: float = LEVEL, seed: int = 0, n_resamples: int = N_RESAMPLES):
    """Percentile bootstrap CI of median(base) / median(arm) for two independent samples
    (the steps of one session per arm), each resampled on its own."""
    from scipy.stats import bootstrap
    b, a = np.asarray(base, float), np.asarray(arm, float)
    if len(b) < 2 or len(a) < 2 or np.all(b == b[0]) and np.all(a == a[0]):
        r = float(np.median(b) / np.median(a))
        return r, r
    res = bootstrap((b, a), _ratio_of_medians, paired=False, vectorized=True, confidence_level=level,
                    n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def predicted_speedups(base_ms, fixed_ns, kernels, node_gap_ns):
    """Predicted speedup per session (broadcasts over a node-gap array)."""
    return np.asarray(base_ms, float) / ((np.asarray(fixed_ns, float)
                                          + np.asarray(kernels, float) * node_gap_ns) / 1e6)


def _resample(n: int, seed: int, n_resamples: int):
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _interval(stat, level: float):
    a = 100 * (1 - level) / 2
    lo, hi = np.percentile(stat, [a, 100 - a])
    return float(lo), float(hi)


def gap_draws(node_gaps_ns, seed: int = 0, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """One node gap per resample, drawn from the estimates ``node_gaps_ns`` (n_resamples, 1)."""
    return np.random.default_rng(seed + 1).choice(np.asarray(node_gaps_ns, float), size=(n_resamples, 1))


def prediction_ci(base_ms, fixed_ns, kernels, node_gaps_ns, level: float = LEVEL, seed: int = 0,
                  n_resamples: int = N_RESAMPLES):
    """Percentile bootstrap interval of the median predicted speedup: sessions resampled,
    and one node gap drawn per resample from ``node_gaps_ns``."""
    base_ms, fixed_ns, kernels = (np.asarray(x, float) for x in (base_ms, fixed_ns, kernels))
    idx = _resample(len(base_ms), seed, n_resamples)
    gaps = gap_draws(node_gaps_ns, seed, n_resamples)
    pred = predicted_speedups(base_ms[idx], fixed_ns[idx], kernels[idx], gaps)
    return _interval(np.median(pred, axis=1), level)


def step_prediction_ci(timed_ns, fixed_ns, kernels, gaps_ns, level: float = LEVEL, seed: int = 0,
                       n_resamples: int = N_RESAMPLES):
    """The main job's prediction interval (one session per arm): percentile bootstrap of
    median(timed) / median(fixed + kernels x gap), the baseline's timed steps and its
    traced steps resampled on their own; ``gaps_ns`` is one gap for all resamples or one
    per resample (n_resamples, 1)."""
    timed, fixed_ns, kernels = (np.asarray(x, float) for x in (timed_ns, fixed_ns, kernels))
    it = _resample(len(timed), seed, n_resamples)
    ik = _resample(len(fixed_ns), seed + 2, n_resamples)
    pred = np.median(timed[it], axis=1) / np.median(fixed_ns[ik] + kernels[ik] * np.asarray(gaps_ns, float), axis=1)
    return _interval(pred, level)


def overlaps(a, b) -> bool:
    """Closed intervals ``a`` and ``b`` share at least one point."""
    return bool(a[0] <= b[1] and b[0] <= a[1])


def verdict(pred_ci, measured_ci) -> str:
    """The decision rule (module docstring); ``pred_ci`` None means no prediction."""
    if pred_ci is None:
        return "no prediction"
    return EXPLAINED if overlaps(pred_ci, measured_ci) else NOT_EXPLAINED


def explained_range(pred_ci_at, measured_ci, max_gap_ns: float = 1e6):
    """Node gaps (ns) for which the rule says "explained": ``pred_ci_at(gap)`` is the
    prediction's interval with the gap held fixed. The predicted speedup falls as the gap
    grows, so the set is one interval: [low, high], or None when no gap gives it;
    bisection to 0.1 ns. The A/B and the main job both use it."""
    def first_gap(pred, lo_g=0.0, hi_g=max_gap_ns):   # smallest gap where pred(ci(gap)) is True
        if pred(pred_ci_at(lo_g)):
            return lo_g
        if not pred(pred_ci_at(hi_g)):
            return None
        while hi_g - lo_g > 0.1:
            mid = (lo_g + hi_g) / 2
            lo_g, hi_g = (lo_g, mid) if pred(pred_ci_at(mid)) else (mid, hi_g)
        return hi_g
    low = first_gap(lambda c: c[0] <= measured_ci[1])           # prediction no longer too high
    too_low = first_gap(lambda c: c[1] < measured_ci[0])        # prediction too low from here on
    if low is None or (too_low is not None and too_low <= low):
        return None
    high = max_gap_ns if too_low is None else too_low - 0.1
    return [round(low, 1), round(high, 1)]


def explained_gap_range(base_ms, fixed_ns, kernels, measured_ci, level: float = LEVEL, seed: int = 0,
                        n_resamples: int = N_RESAMPLES, max_gap_ns: float = 1e6):
    """The A/B's sensitivity: ``explained_range`` with the prediction interval of
    ``prediction_ci`` at a fixed gap (sessions resampled as there)."""
    base_ms, fixed_ns, kernels = (np.asarray(x, float) for x in (base_ms, fixed_ns, kernels))
    idx = _resample(len(base_ms), seed, n_resamples)
    b, f, k = base_ms[idx], fixed_ns[idx], kernels[idx]
    return explained_range(lambda g: _interval(np.median(predicted_speedups(b, f, k, g), axis=1), level),
                           measured_ci, max_gap_ns)


def summarize(sessions: list[dict], base: str = "eager-static", arm: str = "graph",
              node_gaps_ns: list[float] | None = None, seed: int = 0) -> dict:
    """The A/B summary of ``arm`` against ``base``: both estimands, the prediction with
    its interval, the rule, the verdict and the sensitivity (module docstring)."""
    ok = [s for s in sessions if base in s["arms"] and arm in s["arms"]]
    if not ok:
        raise ValueError(f"no session has both arms {base!r} and {arm!r}")
    base_ms = np.array([s["arms"][base]["median_ms"] for s in ok])
    arm_ms = np.array([s["arms"][arm]["median_ms"] for s in ok])
    speed = base_ms / arm_ms
    ci = bootstrap_ci(speed, seed=seed)
    out = {"sessions": len(ok), "base": base, "arm": arm,
           "arm_order": [s.get("arm_order") for s in ok], "session_seed": [s.get("seed") for s in ok],
           "base_ms": base_ms.tolist(), "arm_ms": arm_ms.tolist(), "speedup": speed.tolist(),
           "speedup_median": float(np.median(speed)), "ci95": list(ci),
           "estimands": {"median_of_ratios": {"value": float(np.median(speed)), "ci95": list(ci)},
                         "ratio_of_means": {"value": float(base_ms.mean() / arm_ms.mean()),
                                            "ci95": list(ratio_of_means_ci(base_ms, arm_ms, seed=seed))}},
           "headline_estimand": "median_of_ratios", "rule": RULE,
           "node_gap": {"ns": list(node_gaps_ns or []), "source": NODE_GAP_SOURCE},
           "predicted_speedup": None, "predicted_speedup_median": None, "prediction_ci95": None,
           "sensitivity": None}
    if arm not in PREDICTABLE or not node_gaps_ns:
        out["verdict"] = ("no prediction (not a graph or compile arm)" if arm not in PREDICTABLE else
                          "no prediction (no calibrated node gap: pass --calibration)")
        return out
    tb = [s["arms"][base]["traced"] for s in ok]
    fixed = np.array([t["busy_ns"] + t["other_idle_ns"] for t in tb], float)
    kernels = np.array([t["kernels"] for t in tb], float)
    gap = float(np.median(node_gaps_ns))
    pred = predicted_speedups(base_ms, fixed, kernels, gap)
    pci = prediction_ci(base_ms, fixed, kernels, node_gaps_ns, seed=seed)
    rng = explained_gap_range(base_ms, fixed, kernels, ci, seed=seed)
    out.update(predicted_speedup=pred.tolist(), predicted_speedup_median=float(np.median(pred)),
               prediction_ci95=list(pci), verdict=verdict(pci, ci),
               sensitivity={"explained_for_node_gap_ns": rng, "node_gap_median_ns": gap})
    return out
