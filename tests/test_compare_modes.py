"""The main job's comparison of two arms, on the shipped H100 traces (no GPU): the
prediction, its intervals (pinned against scipy.stats.bootstrap and a plain numpy
resampling), and the verdict through the A/B's decision rule and sensitivity search."""
import numpy as np
import pytest
from scipy.stats import bootstrap

from conftest import trace_path
from stepscope.analysis import compare_modes as CM
from stepscope.analysis.compare_modes import compare, graph_node_gap_ns
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.main_job import render, verdict
from stepscope.analysis.results import ab as AB

BASE = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-eager-static-h100"))
GRAPH = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-graph-h100"))


def test_prediction_is_the_documented_formula():
    c = compare(BASE, GRAPH)
    st = BASE.get_steps()
    node = graph_node_gap_ns(GRAPH)
    g = GRAPH.get_gaps()
    assert node == np.median(g["gap_ns"][g["position"] == 1]) == 96.0
    pred_ns = np.median(st["busy_ns"] + st["other_idle_ns"] + st["kernels"] * node)
    assert c["predicted_graph_step_ms"] == pytest.approx(pred_ns / 1e6)
    base_ms = np.median(BASE.trace.meta["workload"]["untraced_step_ns"]) / 1e6
    graph_ms = np.median(GRAPH.trace.meta["workload"]["untraced_step_ns"]) / 1e6
    assert c["measured_speedup"] == pytest.approx(base_ms / graph_ms)
    assert c["predicted_speedup"] == pytest.approx(base_ms / (pred_ns / 1e6))
    assert c["measured_speedup"] == pytest.approx(2.2547, abs=1e-4)
    assert c["explained"] and c["launch_bound"] and c["graph_largest_part"] == "kernel_inefficiency_ms"


def test_a_given_node_gap_is_used_and_named():
    c = compare(BASE, GRAPH, node_gaps_ns=[1000.0], node_gap_source="calibration")
    assert c["node_gap_ns"] == 1000.0 and c["node_gap_source"] == "calibration"
    # 1,485 kernels x 1 us more than the measured 96 ns per node: the prediction falls short.
    assert c["predicted_speedup"] < compare(BASE, GRAPH)["predicted_speedup"]
    assert not c["explained"] and c["verdict"] == AB.NOT_EXPLAINED
    assert "predicted 1.93x: not explained by launch overhead alone;" in verdict(c)


def test_several_node_gap_estimates_use_their_median_and_widen_the_interval():
    one = compare(BASE, GRAPH, node_gaps_ns=[300.0])
    two = compare(BASE, GRAPH, node_gaps_ns=[200.0, 300.0, 400.0])
    assert two["node_gap_ns"] == 300.0 and two["predicted_speedup"] == one["predicted_speedup"]
    assert two["prediction_ci95"][0] < one["prediction_ci95"][0] and two["prediction_ci95"][1] > one["prediction_ci95"][1]


def _timed(a):
    return np.array(a.trace.meta["workload"]["untraced_step_ns"], float)


def test_measured_interval_is_scipy_bootstrap_of_the_ratio_of_medians_over_steps():
    c = compare(BASE, GRAPH)
    tb, tg = _timed(BASE), _timed(GRAPH)
    assert c["measured_steps"] == [30, 30]

    def ci(stat, paired=False, level=0.95):
        r = bootstrap((tb, tg), stat, paired=paired, vectorized=True, confidence_level=level, n_resamples=10_000,
                      method="percentile", random_state=np.random.default_rng(0))
        return [r.confidence_interval.low, r.confidence_interval.high]
    ratio = lambda b, g, axis=-1: np.median(b, axis=axis) / np.median(g, axis=axis)  # noqa: E731
    assert c["measured_ci95"] == pytest.approx(ci(ratio), rel=1e-12)
    assert c["measured_ci95"][0] < c["measured_speedup"] < c["measured_ci95"][1]
    # neither the mean, nor pairing the steps, nor another level gives it
    means = lambda b, g, axis=-1: np.mean(b, axis=axis) / np.mean(g, axis=axis)  # noqa: E731
    for other in (ci(means), ci(ratio, paired=True), ci(ratio, level=0.5)):
        assert c["measured_ci95"] != pytest.approx(other, rel=1e-4)


def test_prediction_interval_resamples_timed_and_traced_steps_independently():
    c = compare(BASE, GRAPH, node_gaps_ns=[256.0])
    st = BASE.get_steps()
    fixed, k = (st["busy_ns"] + st["other_idle_ns"]).astype(float), st["kernels"].astype(float)
    tb = _timed(BASE)
    it = np.random.default_rng(0).integers(0, len(tb), (AB.N_RESAMPLES, len(tb)))
    ik = np.random.default_rng(2).integers(0, len(fixed), (AB.N_RESAMPLES, len(fixed)))
    pred = np.median(tb[it], axis=1) / np.median(fixed[ik] + k[ik] * 256.0, axis=1)
    assert c["prediction_ci95"] == pytest.approx(list(np.percentile(pred, [2.5, 97.5])), rel=1e-12)
    assert c["base_traced_steps"] == 3
    assert c["predicted_speedup"] == pytest.approx(np.median(tb) / np.median(fixed + k * 256.0))


class _Gaps:
    """A graph trace stand-in: internal gaps of three steps with different medians."""
    def __init__(self, per_step):
        self.per_step = per_step

    def get_gaps(self):
        gaps = np.concatenate(self.per_step)
        step = np.concatenate([np.full(len(g), i) for i, g in enumerate(self.per_step)])
        return {"gap_ns": gaps, "step": step, "position": np.full(len(gaps), CM.INTERNAL)}


def test_node_gap_draws_are_the_pooled_median_of_resampled_graph_steps():
    per_step = [np.array([90, 100, 95, 300]), np.array([120, 80, 81]), np.array([500, 60, 70, 71, 72])]
    g = _Gaps(per_step)
    assert CM.graph_node_gap_ns(g) == np.median(np.concatenate(per_step))
    draws = CM.graph_node_gap_draws(g, seed=0, n_resamples=300, chunk=7)
    idx = np.random.default_rng(1).integers(0, 3, (300, 3))
    brute = [np.median(np.concatenate([per_step[i] for i in row])) for row in idx]
    assert draws.shape == (300, 1) and draws[:, 0] == pytest.approx(brute)
    assert len(np.unique(draws)) > 3            # the steps differ, so the draws do


def test_without_a_given_gap_the_interval_draws_on_the_graph_steps(monkeypatch):
    # the shipped graph steps all have a 96 ns median gap; spread draws must widen the interval
    base = compare(BASE, GRAPH)["prediction_ci95"]
    seen = []

    def spread(graph, seed=0, n_resamples=AB.N_RESAMPLES):
        seen.append(graph)
        return np.random.default_rng(5).uniform(0, 400, (n_resamples, 1))
    monkeypatch.setattr(CM, "graph_node_gap_draws", spread)
    wide = compare(BASE, GRAPH)["prediction_ci95"]
    assert seen == [GRAPH] and wide[0] < base[0] - 0.05 and wide[1] > base[1]


def test_the_verdict_is_the_ab_decision_rule_and_its_sensitivity_search(monkeypatch):
    c = compare(BASE, GRAPH)
    assert "tolerance" not in c and c["rule"] == CM.RULE and "steps of one session" in c["rule"]
    assert c["verdict"] == AB.verdict(c["prediction_ci95"], c["measured_ci95"]) == AB.EXPLAINED
    lo_g, hi_g = c["sensitivity"]["explained_for_node_gap_ns"]
    assert lo_g == 0 and 96 < hi_g < 1000
    # the range is where the rule flips: just inside explained, just outside not
    assert compare(BASE, GRAPH, node_gaps_ns=[hi_g - 1])["verdict"] == AB.EXPLAINED
    assert compare(BASE, GRAPH, node_gaps_ns=[hi_g + 1])["verdict"] == AB.NOT_EXPLAINED
    # one decision function and one sensitivity search, shared with the A/B: no copy here
    monkeypatch.setattr(AB, "verdict", lambda p, m: "decided by results.ab.verdict")
    monkeypatch.setattr(AB, "explained_range", lambda f, m, max_gap_ns=0: ["results.ab.explained_range"])
    c = compare(BASE, GRAPH)
    assert c["verdict"] == "decided by results.ab.verdict"
    assert c["sensitivity"]["explained_for_node_gap_ns"] == ["results.ab.explained_range"]


def test_render_shows_both_arms_the_intervals_the_rule_and_the_verdict():
    c = compare(BASE, GRAPH)
    text = render(c, "test")
    lines = text.splitlines()
    header = next(line for line in lines if "eager-static" in line and "graph" in line and ":" not in line)
    assert header.split() == ["eager-static", "graph"]
    assert "16.199 ms  62.3%" in text and "0.214 ms   2.2%" in text
    # the answer first: the verdict right under the header, in three short lines
    # (issue 28: the share of the untraced-equivalent attribution, 12.140 of 21.845 ms)
    assert "12.140 ms  55.6%" in text and "0.204 ms   2.1%" in text
    assert lines[3:6] == ["verdict: launch-bound: the GPU waits for the CPU 56% of the untraced eager-static step;",
                          "  CUDA graphs make it 2.25x faster, predicted 2.19x: explained by launch overhead;",
                          "  what is left is mostly kernel inefficiency (51% of the graph step)."]
    lo, hi = c["measured_ci95"]
    assert f"graph speedup, measured:  2.255x (95% CI {lo:.3f}-{hi:.3f}), untraced median eager-static / graph" in lines
    plo, phi = c["prediction_ci95"]
    assert (f"graph speedup, predicted: 2.189x (95% CI {plo:.3f}-{phi:.3f}), predicted graph step "
            f"{c['predicted_graph_step_ms']:.3f} ms") in lines
    assert "node gap: 96 ns, the median GPU gap inside the graph trace's 3 steps" in lines
    assert "rule: 'explained by launch overhead' when the two 95% intervals overlap (closed)" in lines
    assert "intervals: bootstraps over the steps of one session per arm (30 + 30 timed, 3 traced, the node gap)" in lines
    assert any(x.startswith("sensitivity: 'explained' for node gaps 0-") for x in lines)
    assert "host side of the eager-static step:\n  the GPU waited for framework code between API calls 65%" in text
    assert "capture with `stepscope trace --host-spans` to name the module" in text
    assert max(len(x) for x in lines) <= 100
    full = render(c, "test", explain=True)
    assert f"rule: {CM.RULE}" in full and "bootstrap over 30 and 30 steps of one session per arm" in full
    assert "node gap: median internal GPU gap of the graph trace, over 3 traced graph steps; no calibration given" in full
    fixed = render(compare(BASE, GRAPH, node_gaps_ns=[256.0], node_gap_source="given"), "test", explain=True)
    assert "node gap: given; one value: no node-gap uncertainty in the interval" in fixed
    assert "node gap: 256 ns, given (fixed: adds no uncertainty)" in fixed


def _without_order(text: str) -> str:
    """The main job's text without its table (whose columns follow the given order)."""
    lines = text.splitlines()
    table = lines.index("", lines.index("") + 1) + 1      # header, blank, verdict, blank: then the table
    return "\n".join(lines[:table] + lines[lines.index("", table):])


@pytest.mark.parametrize("pair", [("eager-static", "graph"), ("eager", "graph"), ("eager", "eager-static")])
def test_swapping_the_arms_gives_the_same_verdict(pair):
    """`--modes A,B` and `--modes B,A`: the same baseline (the arm that is not a graph
    replay; of two such arms the slower), so the same numbers and verdict; only the
    table's columns follow the order given."""
    a, b = (TraceAnalysis(trace_path(f"qwen2.5-7b-ctx2048-{m}-h100")) for m in pair)
    ab, ba = compare(a, b), compare(b, a)
    assert verdict(ab) == verdict(ba)
    assert ab["given_order"] == [0, 1] and ba["given_order"] == [1, 0]
    for k in ("measured_speedup", "measured_ci95", "predicted_speedup", "prediction_ci95", "sensitivity"):
        assert ab[k] == ba[k], k
    assert _without_order(render(ab, "t")) == _without_order(render(ba, "t"))
    head = lambda c: next(x for x in render(c, "t").splitlines() if x.split() in (list(pair), list(pair[::-1])))  # noqa: E731
    assert head(ab).split() == list(pair) and head(ba).split() == list(pair[::-1])
    # the baseline is the arm that is not a graph replay, whichever came first
    assert ab["arms"][0]["mode"] == ba["arms"][0]["mode"] == ("eager" if pair[0] == "eager" else "eager-static")


def test_traces_of_different_workloads_are_refused():
    other = TraceAnalysis(trace_path("llama-3.1-8b-ctx2048-graph-h100"))
    with pytest.raises(ValueError, match="different workloads"):
        compare(BASE, other)


def test_no_prediction_when_the_arm_is_not_a_graph_replay():
    eager = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-eager-h100"))
    c = compare(eager, BASE)
    assert c["predicted_speedup"] is None and c["explained"] is None and c["node_gap_ns"] is None
    assert c["prediction_ci95"] is None and c["verdict"].startswith("no prediction")
    assert c["measured_speedup"] > 1 and c["measured_ci95"][0] <= c["measured_speedup"] <= c["measured_ci95"][1]
    text = render(c, "test")
    assert "nothing predicted: neither arm is a graph replay" in text and "CUDA graphs make it" not in text
    assert "predicted: none (the prediction models a CUDA-graph replay" in render(c, "test", explain=True)
