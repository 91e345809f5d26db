"""The main job's comparison pinned whole (issue 31): ``compare_modes.arm`` (one column of
the side-by-side table) on one trace of each kind, and ``compare`` (both arms, the
measured and predicted speedup, their intervals, the verdict and the shares that decide
it) on each kind of pair: a graph trace's own node gap, the graph-level block of a graph
arm, calibration node gaps, two arms neither of which is a graph replay, arms recorded
without untraced timings and without a memory floor, both orders. Plus the refusals, each
in its one sentence. Every field of the goldens is compared (floats to conftest's
GOLDEN_REL), so a mutant that changes any figure or label the main job prints fails.
Regenerate with `python tests/test_compare_modes_golden.py` after a change that means to
move them (say so in the commit)."""
import functools
import json
import sys

import pytest

from conftest import ROOT, same_json, same_text, trace_path
from stepscope.analysis.compare_modes import arm, compare
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.main_job import render, render_json

GOLDEN = ROOT / "tests" / "golden" / "compare_modes"
Q = "qwen2.5-7b-ctx2048-"
#: One trace of each kind an arm can be: untraced timings with an untraced-equivalent
#: attribution, a graph arm with a graph-level block, a counter pass, a quantised arm, a
#: recorded program (no untraced timings, no memory floor).
ARMS = [Q + "eager-static-h100", Q + "graph-h100", Q + "eager-h100", Q + "graph-mainjob-h200",
        Q + "graph-r10b-h200", Q + "eager-static-counters-h100", "quant-qwen2.5-7b-ctx2048-awq-marlin-graph-h100",
        "record-qwen2.5-7b-ctx2048-hf-eager-h200"]
#: (name, first trace, second trace, node gaps or None, their source)
PAIRS = [
    ("graph-own-gap", Q + "eager-static-h100", Q + "graph-h100", None, None),
    ("graph-own-gap-swapped", Q + "graph-h100", Q + "eager-static-h100", None, None),
    ("graph-level-calibrated", Q + "eager-static-mainjob-h200", Q + "graph-mainjob-h200", [90.0, 110.0, 130.0],
     "calibration runs"),
    ("given-gap", Q + "eager-static-counters-h100", Q + "graph-counters-h100", [250.0], None),
    ("no-graph-arm", Q + "eager-static-h100", Q + "eager-h100", None, None),
    ("recorded-no-untraced-no-floor", "record-qwen2.5-7b-ctx2048-hf-static-h200",
     "record-qwen2.5-7b-ctx2048-hf-eager-h200", None, None),
]


def _json(x) -> str:
    return json.dumps(x, indent=1, default=float) + "\n"


def _arm(name):
    return _json(arm(TraceAnalysis(trace_path(name))))


@functools.cache
def _result(first, second, gaps, source):
    return compare(TraceAnalysis(trace_path(first)), TraceAnalysis(trace_path(second)),
                   node_gaps_ns=None if gaps is None else list(gaps), node_gap_source=source)


def _compare(first, second, gaps, source):
    return _json(_result(first, second, None if gaps is None else tuple(gaps), source))


def _texts(first, second, gaps, source):
    """The main job's text of the pair, short and with --explain."""
    c = _result(first, second, None if gaps is None else tuple(gaps), source)
    return render(c, "shipped traces") + "\n", render(c, "shipped traces", explain=True) + "\n"


@pytest.mark.parametrize("name", ARMS)
def test_arm_is_the_golden(name):
    assert (d := same_json(_arm(name), (GOLDEN / f"arm-{name}.json").read_text())) is None, d


@pytest.mark.parametrize("case", PAIRS, ids=[p[0] for p in PAIRS])
def test_compare_is_the_golden(case):
    name, *args = case
    assert (d := same_json(_compare(*args), (GOLDEN / f"compare-{name}.json").read_text())) is None, d


@pytest.mark.parametrize("case", PAIRS, ids=[p[0] for p in PAIRS])
def test_main_job_text_is_the_golden(case):
    """What the main job prints for the pair, to each number's last digit."""
    name, *args = case
    short, full = _texts(*args)
    assert (d := same_text(short, (GOLDEN / f"text-{name}.txt").read_text())) is None, d
    assert (d := same_text(full, (GOLDEN / f"text-{name}-explain.txt").read_text())) is None, d


def test_main_job_json_writes_nan_as_null_and_adds_the_paths():
    c = {**_result(*PAIRS[0][1:]), "measured_speedup": float("nan")}
    d = json.loads(render_json(c, traces=["a", "b"]))
    assert d["measured_speedup"] is None and d["traces"] == ["a", "b"] and d["verdict"] == c["verdict"]


@pytest.mark.parametrize("first, second, gaps, message", [
    (Q + "eager-static-h100", Q + "graph-h100", [-1.0], "a node gap must be 0..1000000 ns, not [-1.0]."),
    (Q + "eager-static-h100", Q + "graph-h100", [float("nan")], "a node gap must be 0..1000000 ns, not [nan]."),
    (Q + "eager-static-h100", Q + "graph-h100", [0.0, 1e6 + 1], "a node gap must be 0..1000000 ns, not [0.0, 1000001.0]."),
    ("llama-3.1-8b-ctx2048-eager-static-h100", Q + "graph-h100", None,
     "the two traces are of different workloads or GPUs: llama-3.1-8b ctx 2048 on NVIDIA H100 80GB HBM3 vs "
     "qwen2.5-7b ctx 2048 on NVIDIA H100 80GB HBM3."),
    (Q + "eager-static-h200", Q + "graph-h100", None,
     "the two traces are of different workloads or GPUs: qwen2.5-7b ctx 2048 on NVIDIA H200 vs "
     "qwen2.5-7b ctx 2048 on NVIDIA H100 80GB HBM3."),
    ("synthetic-h100", Q + "graph-h100", None, "a trace of one mode is needed; this one has 2 (eager, graph)."),
    (Q + "eager-static-mainjob-h200", Q + "graph-mainjob-graphlevel-h200", None,
     "the graph trace has no gap between GPU records to measure a node gap from."),
])
def test_refusals_say_why_in_one_sentence(first, second, gaps, message):
    with pytest.raises(ValueError) as e:
        compare(TraceAnalysis(trace_path(first)), TraceAnalysis(trace_path(second)), node_gaps_ns=gaps)
    assert str(e.value) == message


def test_the_edges_of_the_node_gap_range_are_accepted():
    c = compare(TraceAnalysis(trace_path(Q + "eager-static-h100")), TraceAnalysis(trace_path(Q + "graph-h100")),
                node_gaps_ns=[0.0, 1e6])
    assert c["node_gap_ns"] == 5e5 and c["node_gap_source"] == "given" and c["node_gap_estimates_ns"] == [0.0, 1e6]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for n in ARMS:
        (GOLDEN / f"arm-{n}.json").write_text(_arm(n))
    for name, *args in PAIRS:
        (GOLDEN / f"compare-{name}.json").write_text(_compare(*args))
        short, full = _texts(*args)
        (GOLDEN / f"text-{name}.txt").write_text(short)
        (GOLDEN / f"text-{name}-explain.txt").write_text(full)
    print("wrote", GOLDEN)
