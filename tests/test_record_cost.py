"""What the tracer cost a recorded program (analysis/record_cost.py, `record --repeat`):
the read-back copies that bound each decode step in the recorded traces, and the
comparison against timing-only runs, checked on timing runs built from the recorded trace
with known per-step changes (the arithmetic is the point; the GPU's own timing runs are in
traces/record-*-repeat-*.stepscope once recorded)."""
import copy
import glob

import numpy as np
import pytest

from conftest import ROOT
from stepscope.analysis import record_cost as rc
from stepscope.analysis.render.console import ConsoleRenderer
from stepscope.analysis.trace import load

RECORDED = sorted(glob.glob(str(ROOT / "traces" / "record-qwen2.5-7b-*-h200.stepscope")))
RECORDED = [p for p in RECORDED if "-repeat-" not in p]


def timing_run(traced, scale=1.0, wall_ns=None, drop_first=0, extra=0):
    """A timing run of the same program: its memcpy table only, read-back ends moved so
    that every interval between consecutive read-backs is ``scale`` times the traced one."""
    t = copy.deepcopy(traced)
    m = t.tables["memcpy"]
    d2h = np.flatnonzero((m["copy_kind"] == 2) & (m["graph_id"] <= 0))
    d2h = d2h[np.argsort(m["start_ns"][d2h], kind="stable")]
    ends = m["end_ns"][d2h].astype(np.int64)
    new = ends[0] + np.concatenate([[0], np.cumsum(np.round(np.diff(ends) * scale).astype(np.int64))])
    m["end_ns"][d2h] = new + extra
    m["start_ns"][d2h] = new + extra - 1000
    if drop_first:      # a run that read back fewer tokens before the decode steps
        keep = np.ones(len(m["start_ns"]), bool)
        keep[d2h[:drop_first]] = False
        t.tables["memcpy"] = {k: v[keep] for k, v in m.items()}
    rec = dict(t.meta["record"])
    if wall_ns is not None:
        rec["end_ns"] = rec["start_ns"] + wall_ns
    t.meta = {**t.meta, "record": rec}
    return t


@pytest.fixture(scope="module", params=RECORDED, ids=lambda p: p.split("/")[-1])
def traced(request):
    return load(request.param)


def test_each_comparable_step_is_bounded_by_read_backs_one_step_apart(traced):
    prev, cur = rc.step_anchors(traced)
    ends = rc.readback_ends(traced)
    st = traced["steps"]
    decode = np.array([traced.strings[m] == "decode" for m in st["mode"]])
    assert len(cur) >= 25                       # 31 decode steps recorded, at most a few left out
    assert len(np.unique(cur - prev)) == 1      # the same count of read-backs per step
    # each anchor lies inside a decode step, and the interval is about a step's length
    s, e = np.sort(st["start_ns"][decode]), np.sort(st["end_ns"][decode])
    inside = [np.any((s <= x) & (x < e)) for x in ends[cur] - 1]
    assert np.mean(inside) > 0.9
    step_med = np.median(e - s)
    assert 0.8 < np.median(ends[cur] - ends[prev]) / step_med < 1.25


def test_a_tracer_that_costs_ten_percent_is_measured_as_ten_percent(traced):
    runs = [timing_run(traced, 1 / 1.1), timing_run(traced, 1 / 1.1, extra=5_000_000)]
    c = rc.tracer_cost(traced, runs)
    p = c["per_step"]
    assert p["pct"] == pytest.approx(10.0, abs=0.01)
    assert p["ci95_pct"][0] <= p["pct"] <= p["ci95_pct"][1] and p["ci95_pct"][1] - p["ci95_pct"][0] < 0.05
    assert p["over_target"] and c["runs_compared"] == 2 and c["matched"] == "in order"
    assert p["untraced_run_medians_ns"] == [p["untraced_median_ns"]] * 2
    assert c["decode_span"]["pct"] == pytest.approx(10.0, abs=0.01)
    prev, cur = rc.step_anchors(traced)
    ends = rc.readback_ends(traced)
    assert p["traced_median_ns"] == int(round(float(np.median(ends[cur] - ends[prev]))))
    assert p["steps"] == len(cur)


def test_a_free_tracer_is_zero_and_within_target(traced):
    c = rc.tracer_cost(traced, [timing_run(traced)])
    assert c["per_step"]["pct"] == 0.0 and not c["per_step"]["over_target"]


def test_end_to_end_is_the_program_wall_time_ratio(traced):
    wall = traced.meta["record"]["end_ns"] - traced.meta["record"]["start_ns"]
    runs = [timing_run(traced, wall_ns=w) for w in (wall // 2, wall // 4, wall // 2 + 10)]
    c = rc.tracer_cost(traced, runs)
    assert c["end_to_end"]["untraced_ns"] == [wall // 2, wall // 4, wall // 2 + 10]
    assert c["end_to_end"]["pct"] == pytest.approx(100.0 * (wall / (wall // 2) - 1), rel=1e-9)


def test_read_backs_are_matched_from_the_end_when_the_head_differs(traced):
    """torch.compile's first process reads back more before the decode steps than a later
    one that finds its cache: the decode steps' read-backs are the last ones."""
    prev, _ = rc.step_anchors(traced)
    head = int(prev.min())
    c = rc.tracer_cost(traced, [timing_run(traced, 1 / 1.05, drop_first=head), timing_run(traced, 1 / 1.05)])
    assert c["runs_compared"] == 2 and c["matched"] == "from the end"
    assert c["per_step"]["pct"] == pytest.approx(5.0, abs=0.01)
    # a run missing a read-back the decode steps use is left out, and said
    c = rc.tracer_cost(traced, [timing_run(traced, drop_first=head + 1), timing_run(traced, 1 / 1.05)])
    assert c["runs_compared"] == 1 and c["per_step"]["pct"] == pytest.approx(5.0, abs=0.01)
    c = rc.tracer_cost(traced, [timing_run(traced, drop_first=head + 1)])
    assert c["per_step"] is None and c["why_not_per_step"].startswith(
        f"no timing run read back the {len(rc.readback_ends(traced)) - head} tokens of the traced run's decode steps")


def test_graph_replays_get_the_graph_target():
    traced = load(RECORDED[0])
    assert rc.tracer_cost(traced, [timing_run(traced)], graph=True)["per_step"]["target_pct"] == 3.0
    assert rc.tracer_cost(traced, [timing_run(traced)])["per_step"]["target_pct"] == 2.0


def test_the_report_prints_the_cost_with_its_numbers():
    from stepscope.analysis.facade import TraceAnalysis
    traced = load(RECORDED[-1])
    cost = rc.tracer_cost(traced, [timing_run(traced, 1 / 1.1)])
    traced.meta["record"]["tracer_cost"] = cost
    text = ConsoleRenderer().render(TraceAnalysis(traced))
    p = cost["per_step"]
    lo, hi = p["ci95_pct"]
    assert (f"\n  per decode step +10.0% (95% CI {lo:+.1f}% to {hi:+.1f}%, bootstrap over {p['steps']} steps); "
            "target <= 2%\n"
            f"    {p['traced_median_ns'] / 1e6:.3f} ms traced vs {p['untraced_median_ns'] / 1e6:.3f} ms untraced "
            "(medians, token read-back to read-back)\n"
            f"    untraced median per run: {p['untraced_run_medians_ns'][0] / 1e6:.3f} ms (1 of 1 runs compared)\n") in text
    assert max(len(x) for x in text.splitlines()) <= 100
    assert "WARNING: the tracer's cost exceeds its target" in text
    assert "tracer cost (record --repeat: 1 untraced run of the program" in text


def test_no_read_back_per_step_says_why():
    traced = load(RECORDED[0])
    t = copy.deepcopy(traced)
    t.tables["memcpy"]["copy_kind"][:] = 1     # no device-to-host copies at all
    c = rc.tracer_cost(t, [timing_run(traced)])
    assert c["per_step"] is None and "device-to-host" in c["why_not_per_step"]
    text = ConsoleRenderer().record_cost(c)
    assert any(line.startswith("  per decode step: not measured: no two consecutive") for line in text)


# -- the H200 run of record --repeat (benchmarks/record_repeat_gpu.sh, 2026-12-05) ----------
REPEAT = sorted(p for p in glob.glob(str(ROOT / "traces" / "record-repeat-qwen2.5-7b-*-h200.stepscope"))
                if "-repeat-1" not in p)


def test_the_committed_results_are_what_the_recorded_runs_give():
    """benchmarks/results/record-repeat-h200/tracer_cost.json, recomputed from the traces
    (and the cost each traced run carries, as record --repeat wrote it)."""
    import json
    want = json.loads((ROOT / "benchmarks/results/record-repeat-h200/tracer_cost.json").read_text())
    assert len(REPEAT) == 4 and set(want) == {p.split("/")[-1][:-len(".stepscope")] for p in REPEAT}
    for p in REPEAT:
        traced = load(p)
        reps = [load(p.replace(".stepscope", "-repeat-1.stepscope"))]
        got = rc.tracer_cost(traced, reps, graph="CUDA-graph" in traced.meta["step_detection"]["rule"])
        name = p.split("/")[-1][:-len(".stepscope")]
        assert got["per_step"] == want[name]["per_step"] == traced.meta["record"]["tracer_cost"]["per_step"]
        assert got["end_to_end"] == want[name]["end_to_end"]


def test_the_h200_timing_runs_read_back_what_the_traced_runs_did():
    """Same program, same tokens: each timing run reads back as many tokens as its traced
    run, except torch.compile's, whose first (traced) process autotuned (92 read-backs
    against 36): matched from the end, all 27 comparable steps kept."""
    import json
    want = json.loads((ROOT / "benchmarks/results/record-repeat-h200/tracer_cost.json").read_text())
    for name, c in want.items():
        compiled = "compiled" in name
        assert c["runs_compared"] == 1 and c["per_step"]["steps"] >= 27
        assert c["matched"] == ("from the end" if compiled else "in order")
        assert (c["readbacks_traced"], c["readbacks_per_run"]) == ((92, [36]) if compiled else
                                                                   (c["readbacks_traced"], [c["readbacks_traced"]]))
        assert c["per_step"]["target_pct"] == (3.0 if compiled else 2.0)


def test_a_timing_run_says_what_it_is():
    text = ConsoleRenderer().render(__import__("stepscope.analysis.facade", fromlist=["x"]).TraceAnalysis(
        load(REPEAT[0].replace(".stepscope", "-repeat-1.stepscope"))))
    assert "note: a timing-only run of record --repeat: memory copies only" in text


def test_readme_table_is_the_committed_result():
    import json
    want = json.loads((ROOT / "benchmarks/results/record-repeat-h200/tracer_cost.json").read_text())
    readme = (ROOT / "README.md").read_text()
    for key, row in (("hf-eager", "HF generate, dynamic cache"), ("hf-static", "HF generate, static cache"),
                     ("hf-compiled", "HF generate, compiled (CUDA graphs)"), ("loop-eager-static",
                                                                               "hand-written loop, eager-static")):
        c = want[f"record-repeat-qwen2.5-7b-ctx2048-{key}-h200"]
        p, e = c["per_step"], c["end_to_end"]
        line = (f"| {row} | {p['traced_median_ns'] / 1e6:.3f} ms | {p['untraced_median_ns'] / 1e6:.3f} ms | "
                f"{p['pct']:+.1f}% ({p['ci95_pct'][0]:+.1f} to {p['ci95_pct'][1]:+.1f}) | {e['pct']:+.1f}% |")
        assert line in readme, line
