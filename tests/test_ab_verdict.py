"""The A/B statistics pinned down: the bootstrap (level, pairing, statistic) against
scipy.stats.bootstrap on fixed data, the prediction and its interval, the decision rule
on its edge cases, the sensitivity line, and the seeded per-session arm order."""
import numpy as np
import pytest
from scipy.stats import bootstrap

from stepscope.analysis.results import ab as AB
from stepscope.profiler.experiments import ab as pab

# fixed data: 8 sessions, base and arm medians (ms), paired by session
BASE = np.array([30.2, 20.5, 20.1, 22.0, 23.9, 20.9, 25.4, 22.6])
ARM = np.array([9.71, 9.80, 9.68, 9.65, 9.68, 9.68, 9.78, 9.77])


def _scipy(data, stat, level=0.95, paired=False, vectorized=False):
    r = bootstrap(data, stat, confidence_level=level, n_resamples=10_000, method="percentile",
                  paired=paired, vectorized=vectorized, random_state=np.random.default_rng(0))
    return r.confidence_interval.low, r.confidence_interval.high


def test_median_ci_is_scipy_percentile_bootstrap_of_the_median_at_95():
    sp = BASE / ARM
    assert AB.bootstrap_ci(sp) == pytest.approx(_scipy((sp,), np.median), rel=1e-12)
    # neither the mean, nor another level, gives the same interval
    assert AB.bootstrap_ci(sp) != pytest.approx(_scipy((sp,), np.mean), rel=1e-3)
    assert AB.bootstrap_ci(sp) != pytest.approx(_scipy((sp,), np.median, level=0.5), rel=1e-3)
    assert AB.LEVEL == 0.95


def test_ratio_of_means_ci_resamples_sessions_paired():
    # sessions that are slow in both arms: pairing matters
    base = np.array([20.0, 30.0, 40.0, 25.0, 35.0, 22.0, 38.0, 28.0])
    arm = base / 2.5 * np.array([1.01, 0.99, 1.02, 0.98, 1.0, 1.03, 0.97, 1.0])
    paired = _scipy((base, arm), AB._ratio_of_means, paired=True, vectorized=True)
    unpaired = _scipy((base, arm), AB._ratio_of_means, paired=False, vectorized=True)
    got = AB.ratio_of_means_ci(base, arm)
    assert got == pytest.approx(paired, rel=1e-12)
    assert got != pytest.approx(unpaired, rel=1e-3)
    assert AB._ratio_of_means(BASE, ARM) == pytest.approx(BASE.mean() / ARM.mean())


def test_ratio_of_medians_ci_resamples_each_arm_on_its_own():
    # the main job's measured interval: two independent samples of steps
    base, arm = BASE * 1e6, np.concatenate([ARM, ARM[:3] * 1.01]) * 1e6
    ratio = lambda b, a, axis=-1: np.median(b, axis=axis) / np.median(a, axis=axis)  # noqa: E731
    assert AB.ratio_of_medians_ci(base, arm) == pytest.approx(_scipy((base, arm), ratio, vectorized=True), rel=1e-12)
    assert AB.ratio_of_medians_ci(base, arm) != pytest.approx(_scipy((base, arm), AB._ratio_of_means, vectorized=True),
                                                              rel=1e-3)
    assert AB.ratio_of_medians_ci([4.0], [1.0, 2.0, 3.0]) == (2.0, 2.0)
    assert AB.ratio_of_medians_ci([4.0, 4.0], [2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_step_prediction_interval_resamples_timed_and_traced_steps_on_their_own():
    rng = np.random.default_rng(3)
    timed, fixed, k = rng.normal(22e6, 1e6, 30), rng.normal(9e6, 3e5, 8), rng.integers(1480, 1490, 8).astype(float)
    it = np.random.default_rng(0).integers(0, 30, (AB.N_RESAMPLES, 30))
    ik = np.random.default_rng(2).integers(0, 8, (AB.N_RESAMPLES, 8))
    pred = np.median(timed[it], axis=1) / np.median(fixed[ik] + k[ik] * 300.0, axis=1)
    assert AB.step_prediction_ci(timed, fixed, k, 300.0) == pytest.approx(tuple(np.percentile(pred, [2.5, 97.5])),
                                                                          rel=1e-12)
    # a gap per resample: its spread widens the interval
    draws = AB.gap_draws([100.0, 300.0, 900.0])
    wide = AB.step_prediction_ci(timed, fixed, k, draws)
    narrow = AB.step_prediction_ci(timed, fixed, k, 300.0)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]


def test_degenerate_samples_give_a_point_interval():
    assert AB.bootstrap_ci([2.0]) == (2.0, 2.0)
    assert AB.bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert AB.ratio_of_means_ci([4.0], [2.0]) == (2.0, 2.0)


def test_prediction_formula():
    # 20 ms base; busy + non-launch idle 9 ms; 1000 kernels x 1000 ns = 1 ms: 10 ms, 2x
    assert AB.predicted_speedups([20.0], [9e6], [1000], 1000.0) == pytest.approx([2.0])
    assert AB.predicted_speedups([20.0], [9e6], [1000], 0.0) == pytest.approx([20 / 9])


def test_prediction_interval_draws_sessions_and_node_gaps():
    fixed, k = np.full(8, 9.0e6), np.full(8, 1500)
    one = AB.prediction_ci(BASE, fixed, k, [500.0])
    # with one node gap the interval is the session bootstrap of the median prediction
    idx = np.random.default_rng(0).integers(0, 8, (AB.N_RESAMPLES, 8))
    med = np.median(AB.predicted_speedups(BASE[idx], fixed[idx], k[idx], 500.0), axis=1)
    assert one == pytest.approx(tuple(np.percentile(med, [2.5, 97.5])))
    # a second, larger gap estimate widens it downwards: the gap's uncertainty is in it
    two = AB.prediction_ci(BASE, fixed, k, [500.0, 900.0])
    assert two[0] < one[0] - 0.05 and two[1] <= one[1]
    # identical sessions and one gap: a point
    lo, hi = AB.prediction_ci(np.full(5, 20.0), np.full(5, 9e6), np.full(5, 1000), [1000.0])
    assert lo == pytest.approx(2.0) and hi == pytest.approx(2.0)


@pytest.mark.parametrize("pred, meas, explained", [
    ((2.0, 2.2), (2.3, 2.8), False),      # prediction wholly below
    ((2.9, 3.0), (2.3, 2.8), False),      # wholly above
    ((2.0, 2.3), (2.3, 2.8), True),       # touching ends: closed intervals overlap
    ((2.8, 3.0), (2.3, 2.8), True),
    ((2.0, 2.2999), (2.3, 2.8), False),   # a hair apart
    ((2.4, 2.5), (2.3, 2.8), True),       # inside
    ((1.0, 4.0), (2.3, 2.8), True),       # containing
    ((2.5, 2.5), (2.5, 2.5), True),       # two points, equal
])
def test_decision_rule_edges(pred, meas, explained):
    assert AB.verdict(pred, meas) == (AB.EXPLAINED if explained else AB.NOT_EXPLAINED)
    assert AB.verdict(meas, pred) == AB.verdict(pred, meas)          # symmetric


def test_no_fixed_tolerance():
    # a point prediction 3% off a tight measured interval is not explained (no 5% slack)
    assert AB.verdict((2.40, 2.40), (2.47, 2.50)) == AB.NOT_EXPLAINED
    assert AB.verdict(None, (1.0, 2.0)) == "no prediction"


def _sessions(base, arm, fixed_ns=9.0e6, kernels=1500):
    return [{"gpu": "g", "arms": {"eager-static": {"median_ms": b, "traced": {
        "busy_ns": fixed_ns - 1e5, "other_idle_ns": 1e5, "kernels": kernels}},
        "graph": {"median_ms": a}, "eager": {"median_ms": 3 * b}}} for b, a in zip(base, arm)]


def test_summary_carries_both_estimands_rule_and_sensitivity():
    r = AB.summarize(_sessions(BASE, ARM), node_gaps_ns=[500.0])
    sp = BASE / ARM
    assert r["speedup_median"] == pytest.approx(np.median(sp))
    assert r["estimands"]["ratio_of_means"]["value"] == pytest.approx(BASE.mean() / ARM.mean())
    assert r["estimands"]["median_of_ratios"]["ci95"] == list(AB.bootstrap_ci(sp))
    assert r["rule"] == AB.RULE and r["node_gap"]["ns"] == [500.0]
    assert r["verdict"] == AB.verdict(r["prediction_ci95"], r["ci95"])
    lo_g, hi_g = r["sensitivity"]["explained_for_node_gap_ns"]
    # the sensitivity range is where the rule flips: just inside explained, just outside not
    for g, want in ((hi_g - 1, AB.EXPLAINED), (hi_g + 1, AB.NOT_EXPLAINED)):
        assert AB.summarize(_sessions(BASE, ARM), node_gaps_ns=[g])["verdict"] == want
    if lo_g > 0:
        assert AB.summarize(_sessions(BASE, ARM), node_gaps_ns=[lo_g - 1])["verdict"] == AB.NOT_EXPLAINED
        assert AB.summarize(_sessions(BASE, ARM), node_gaps_ns=[lo_g + 1])["verdict"] == AB.EXPLAINED


def test_sensitivity_finds_both_ends():
    # measured ~2x exactly; fixed 9 ms of 20 ms, 1000 kernels: explained only near 1000 ns
    base, arm = np.full(6, 20.0) + np.arange(6) * 0.01, np.full(6, 10.0)
    r = AB.summarize(_sessions(base, arm, kernels=1000), node_gaps_ns=[1000.0])
    lo_g, hi_g = r["sensitivity"]["explained_for_node_gap_ns"]
    assert 900 < lo_g < 1000 < hi_g < 1100 and r["verdict"] == AB.EXPLAINED
    assert AB.summarize(_sessions(base, arm, kernels=1000), node_gaps_ns=[0.0])["verdict"] == AB.NOT_EXPLAINED


def test_no_prediction_without_a_node_gap_or_for_eager():
    s = _sessions(BASE, ARM)
    assert "no calibrated node gap" in AB.summarize(s)["verdict"]
    r = AB.summarize(s, "eager-static", "eager", node_gaps_ns=[500.0])
    assert r["prediction_ci95"] is None and "not a graph" in r["verdict"]


def test_node_gap_is_the_untraced_1000_node_figure_of_the_same_gpu():
    cal = {"gpu": {"name": "H"}, "launch": {"10": {"graph_ns_per_node": 9.0}, "1000": {"graph_ns_per_node": 788.0}},
           "traced_gaps": {"graph_gap_ns_median": 256.0}}
    assert pab.node_gaps_ns([cal, cal], "H") == [788.0, 788.0]
    with pytest.raises(ValueError, match="same GPU"):
        pab.node_gaps_ns([cal], "other")


def test_arm_order_is_shuffled_per_session_and_seeded():
    arms = ["eager-static", "graph", "eager"]
    orders = [pab.arm_order(arms, pab.session_seed(0, i)) for i in range(10)]
    assert all(sorted(o) == sorted(arms) for o in orders)
    assert len({tuple(o) for o in orders}) > 2                       # not one fixed order
    assert orders == [pab.arm_order(arms, pab.session_seed(0, i)) for i in range(10)]   # reproducible
    assert pab.session_seed(0, 3) != pab.session_seed(1, 3)


def test_run_ab_passes_each_session_its_seed(tmp_path, fake_children):
    import json
    seen = []

    def behave(target, kwargs, out):
        seen.append(kwargs["seed"])
        out.write_text(json.dumps({"model": "qwen2.5-7b", "ctx": 2048, "gpu": "g", "arms": {}}))
        return 0
    fake_children(behave)
    pab.run_ab("qwen2.5-7b", 2048, 3, ["eager-static", "graph"], tmp_path, progress=lambda m: None, seed=7)
    assert seen == [pab.session_seed(7, i) for i in range(3)]
    assert json.loads((tmp_path / "ab.json").read_text())["seed"] == 7
