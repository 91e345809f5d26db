"""The tracer's self-measured perturbation (profiler/experiments/protocol.py): median traced
window over median untraced step, and a percentile bootstrap of the rounds' ratios; the
report prints it with its target and warns above it."""
import numpy as np
import pytest
from scipy.stats import bootstrap

from stepscope.analysis.summary import perturbation as summarised
from stepscope.profiler.experiments.protocol import perturbation


def test_median_ratio_and_bootstrap_over_rounds():
    blocks = [[100, 101, 99], [100, 102, 98], [100, 100, 100]]
    windows = [110, 111, 105, 104, 109, 108]
    p = perturbation(blocks, windows, 2)
    assert p["pct"] == pytest.approx(100 * (np.median(windows) / 100 - 1))
    assert p["round_ratios"] == pytest.approx([110.5 / 100, 104.5 / 100, 108.5 / 100])
    ref = bootstrap((np.array(p["round_ratios"]),), np.median, confidence_level=0.95, n_resamples=10_000,
                    method="percentile", random_state=np.random.default_rng(0)).confidence_interval
    assert p["ci95_pct"] == pytest.approx([100 * (ref.low - 1), 100 * (ref.high - 1)])
    assert perturbation(blocks[:2], windows[:4], 2)["ci95_pct"] is None   # two rounds: no interval


@pytest.mark.parametrize("mode, pct, over", [("graph", 2.9, False), ("graph", 3.1, True),
                                              ("eager", 1.9, False), ("eager-static", 2.1, True)])
def test_targets_by_mode(mode, pct, over):
    s = summarised({"perturbation": {"pct": pct, "rounds": 3}, "workload": {"mode": mode}})
    assert s["over_target"] is over and s["target_pct"] == (3.0 if mode == "graph" else 2.0)
    assert summarised({}) is None
