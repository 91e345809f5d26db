"""Statistics of an eager vs graph A/B over sessions (scipy is imported at call time), and the launch-overhead prediction.

Speedup per session = median eager step / median graph step. Across sessions: the
median speedup and its 95% bootstrap confidence interval (scipy.stats.bootstrap,
percentile method, resampling sessions). Prediction (graph and compile arms), per session, from the eager arm's traced
attribution: graph step = eager step - eager launch-bound idle + kernels x graph
per-node gap (from `stepscope calibrate` when given, else 0), where the eager step's
launch-bound idle is its untraced median minus the traced busy and non-launch idle
(tracing inflates host time, not GPU time). So: predicted graph step = busy +
non-launch idle + kernels x node gap. Verdict: explained
when the predicted speedup falls inside the CI or within 5% of the measured one.
"""
from __future__ import annotations

import numpy as np


def bootstrap_ci(values, level: float = 0.95, seed: int = 0, n_resamples: int = 10_000):
    from scipy.stats import bootstrap
    v = np.asarray(values, float)
    if len(v) < 2 or np.all(v == v[0]):
        return float(v.min()), float(v.max())
    res = bootstrap((v,), np.median, confidence_level=level, n_resamples=n_resamples,
                    method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(sessions: list[dict], base: str = "eager-static", arm: str = "graph",
              node_cost_ns: float = 0.0) -> dict:
    ok = [s for s in sessions if base in s["arms"] and arm in s["arms"]]
    if not ok:
        raise ValueError(f"no session has both arms {base!r} and {arm!r}")
    base_ms = np.array([s["arms"][base]["median_ms"] for s in ok])
    arm_ms = np.array([s["arms"][arm]["median_ms"] for s in ok])
    speed = base_ms / arm_ms
    lo, hi = bootstrap_ci(speed)
    pred = []
    predictable = arm in ("graph", "compile")
    for s in ok:
        tb = s["arms"][base]["traced"]
        # GPU-side parts of the traced eager step (busy, non-launch idle) are not inflated
        # by tracing; its launch-bound idle is, so it is not scaled onto the untimed step.
        pred_graph_ms = (tb["busy_ns"] + tb["other_idle_ns"] + tb["kernels"] * node_cost_ns) / 1e6
        pred.append(s["arms"][base]["median_ms"] / pred_graph_ms if predictable else np.nan)
    pred = np.array(pred)
    med = float(np.median(speed))
    pmed = float(np.median(pred)) if predictable else None
    explained = predictable and ((lo <= pmed <= hi) or abs(pmed / med - 1) <= 0.05)
    return {"sessions": len(ok), "base": base, "arm": arm,
            "base_ms": base_ms.tolist(), "arm_ms": arm_ms.tolist(), "speedup": speed.tolist(),
            "speedup_median": med, "ci95": [lo, hi], "predicted_speedup": pred.tolist(),
            "predicted_speedup_median": pmed, "node_cost_ns": node_cost_ns,
            "verdict": ("no prediction (not a graph arm)" if not predictable else
                        "explained by launch overhead" if explained else "not explained by launch overhead alone")}
