"""analysis/record_cost.py on constructed runs with hand-computed answers (issue 31): which
device-to-host copies bound a decode step (inside the step, at its start, before it, inside
a CUDA graph), the pairs of consecutive steps, matching a timing run with more or fewer
read-backs, the end-to-end figure's edges and the per-step figure at its target."""
import math

import numpy as np
import pytest

from stepscope.analysis import record_cost as rc
from stepscope.analysis.trace.model import Trace, table_from_rows

DTOH, HTOD = 2, 1


def run(steps, copies, record=None, modes=None):
    """``steps``: (start, end) of decode steps; ``copies``: (start, end[, kind, graph_id]);
    ``record``: meta.record (None: none)."""
    t = Trace()
    modes = modes or ["decode"] * len(steps)
    t.tables["steps"] = table_from_rows("steps", {
        "index": list(range(len(steps))), "mode": [t.intern(m) for m in modes],
        "start_ns": [s for s, _ in steps], "end_ns": [e for _, e in steps]})
    full = [(c + (DTOH, 0))[:4] for c in copies]
    t.tables["memcpy"] = table_from_rows("memcpy", {
        "start_ns": [c[0] for c in full], "end_ns": [c[1] for c in full], "copy_kind": [c[2] for c in full],
        "graph_id": [c[3] for c in full], "correlation": list(range(1, len(full) + 1)),
        "stream": [7] * len(full), "bytes": [4] * len(full)})
    if record is not None:
        t.meta["record"] = record
    return t


# Four decode steps of 100 ns, one read-back near each step's end.
STEPS = [(0, 100), (100, 200), (200, 300), (300, 400)]
COPIES = [(90, 95), (190, 196), (290, 297), (390, 398)]


def test_read_back_ends_leave_out_graph_copies_and_other_kinds():
    t = run(STEPS, [(90, 95), (150, 151, DTOH, 1), (160, 161, HTOD, 0), (190, 196), (170, 171, DTOH, -1)])
    assert rc.readback_ends(t).tolist() == [95, 171, 196]       # graph_id 1 is inside a graph


def test_each_step_is_bounded_by_its_last_read_back():
    prev, cur = rc.step_anchors(run(STEPS, COPIES))
    assert prev.tolist() == [0, 1, 2] and cur.tolist() == [1, 2, 3]


def test_a_graph_copy_is_no_step_boundary():
    """A device-to-host copy inside a CUDA graph (graph_id 1) in step 1 does not end it."""
    copies = [(90, 95), (150, 151, DTOH, 1), (290, 297), (390, 398)]
    prev, cur = rc.step_anchors(run(STEPS, copies))
    assert prev.tolist() == [1] and cur.tolist() == [2]         # read-backs 95, 297, 398: steps 2-3 only


def test_a_step_without_a_read_back_breaks_the_pairs_around_it():
    """Step 0 holds none, step 2 holds none: only pairs of steps that both hold one."""
    copies = [(150, 151), (350, 351)]
    assert rc.step_anchors(run(STEPS, copies)) is None
    copies = [(150, 151), (250, 251), (350, 351)]
    prev, cur = rc.step_anchors(run(STEPS, copies))
    assert prev.tolist() == [0, 1] and cur.tolist() == [1, 2]


def test_the_first_read_back_bounds_the_first_step():
    """Read-back 0 inside step 0: index 0 is a real anchor, not 'none'."""
    prev, cur = rc.step_anchors(run(STEPS[:2], [(50, 51), (150, 151)]))
    assert prev.tolist() == [0] and cur.tolist() == [1]


def test_a_read_back_before_the_step_is_not_in_it():
    """Read-back 0 at -50 (the prefill's token) is the last one before step 0 ends, but it
    starts before step 0: step 0 has none of its own."""
    prev, cur = rc.step_anchors(run(STEPS[:3], [(-50, -40), (150, 151), (250, 251)]))
    assert prev.tolist() == [1] and cur.tolist() == [2]


def test_a_read_back_at_the_step_start_is_in_the_step():
    prev, cur = rc.step_anchors(run(STEPS[:2], [(0, 5), (100, 105)]))
    assert prev.tolist() == [0] and cur.tolist() == [1]


def test_steps_usually_apart_by_more_read_backs():
    """Two read-backs per step, one step with three: that pair is left out."""
    copies = [(10, 11), (90, 91), (110, 111), (190, 191), (210, 211), (250, 251), (290, 291), (310, 311), (390, 391)]
    prev, cur = rc.step_anchors(run(STEPS, copies))
    assert prev.tolist() == [1, 6] and cur.tolist() == [3, 8]       # last of each step: 1, 3, 6, 8


def test_pct_of_zero_is_not_a_number():
    assert rc._pct(150.0, 100.0) == 50.0
    assert math.isnan(rc._pct(1.0, 0.0))


def test_per_step_at_its_target_is_not_over_it():
    p = rc.per_step([150, 150, 150], [100, 100, 100], 50.0)
    assert p["pct"] == 50.0 and not p["over_target"]
    assert rc.per_step([151, 151, 151], [100, 100, 100], 50.0)["over_target"]


def test_per_step_default_seed_is_zero():
    t = [100, 130, 90, 160, 120, 110, 105, 170, 95, 140, 133, 117]
    u = [100, 100, 95, 120, 100, 90, 101, 111, 97, 103, 99, 121]
    assert rc.per_step(t, u, 2.0)["ci95_pct"] == rc.per_step(t, u, 2.0, seed=0)["ci95_pct"]
    assert rc.per_step(t, u, 2.0, seed=0)["ci95_pct"] != rc.per_step(t, u, 2.0, seed=1)["ci95_pct"]


def timing(scale_ns, record=None, head=()):
    """A timing run: read-backs at each step's end moved by ``scale_ns`` per step, after
    ``head`` read-backs of its own."""
    copies = list(head) + [(s + 90 + k * scale_ns, s + 95 + k * scale_ns) for k, (s, _) in enumerate(STEPS)]
    return run(STEPS, copies, record)


def test_tracer_cost_keys_exit_codes_and_matching():
    traced = run(STEPS, COPIES, {"start_ns": 0, "end_ns": 1000})
    runs = [timing(-5, {"start_ns": 0, "end_ns": 900, "exit_code": 3}), timing(-5, {"start_ns": 0, "end_ns": 800}),
            timing(-5)]
    c = rc.tracer_cost(traced, runs, n_resamples=50)
    assert c["repeat_runs"] == 3 and c["target_pct"] == 2.0 and c["exit_codes"] == [3, -1, -1]
    assert c["end_to_end"] == {"traced_ns": 1000, "untraced_ns": [900, 800], "pct": pytest.approx(100 * (1000 / 850 - 1))}
    assert c["readbacks_per_run"] == [4, 4, 4] and c["readbacks_traced"] == 4 and c["readbacks_matched_from_end"] == 4
    assert c["matched"] == "in order" and c["runs_compared"] == 3 and c["steps_left_out"] == 0
    # traced intervals 101 each (ends 95, 196, 297, 398); untraced 95 each (95, 190, 285, 380)
    t_int, u_int = np.array([101, 101, 101]), np.array([95, 95, 95])
    assert c["per_step"] == {**rc.per_step(t_int, u_int, 2.0, 0, 50), "untraced_run_medians_ns": [95, 95, 95]}
    assert c["decode_span"] == {"traced_ns": 303, "untraced_ns": [285, 285, 285], "pct": pytest.approx(100 * (303 / 285 - 1))}


def test_the_resample_count_reaches_the_bootstrap():
    traced = run(STEPS + [(400, 500), (500, 600)], COPIES + [(490, 499), (590, 592)], {"start_ns": 0, "end_ns": 10})
    runs = [run(STEPS + [(400, 500), (500, 600)], [(90, 95), (190, 190), (290, 291), (390, 399), (490, 493), (590, 600)])]
    few = rc.tracer_cost(traced, runs, n_resamples=3)["per_step"]
    ends_t = np.array([95, 196, 297, 398, 499, 592])
    ends_u = np.array([95, 190, 291, 399, 493, 600])
    t_int, u_int = np.diff(ends_t), np.diff(ends_u)
    assert few["ci95_pct"] == rc.per_step(t_int, u_int, 2.0, 0, 3)["ci95_pct"]
    assert few["ci95_pct"] != rc.per_step(t_int, u_int, 2.0, 0)["ci95_pct"]


def test_a_timing_run_with_more_read_backs_is_matched_from_the_end():
    traced = run(STEPS, COPIES, {"start_ns": 0, "end_ns": 1000})
    more = timing(-5, head=[(-300, -290), (-200, -190)])           # autotuning read back twice more
    c = rc.tracer_cost(traced, [more, timing(-5)], n_resamples=20)
    assert c["matched"] == "from the end" and c["runs_compared"] == 2
    assert c["readbacks_per_run"] == [6, 4]
    assert c["per_step"]["untraced_run_medians_ns"] == [95, 95]


def test_no_timing_run_says_none():
    traced = run(STEPS, COPIES, {"start_ns": 0, "end_ns": 1000})
    c = rc.tracer_cost(traced, [])
    assert c["per_step"] is None and c["end_to_end"] is None
    assert c["why_not_per_step"] == ("no timing run read back the 4 tokens of the traced run's decode steps "
                                     "(4 device-to-host copies in the traced run; in the timing runs none)")
    c = rc.tracer_cost(traced, [run(STEPS, COPIES[:1]), run(STEPS, COPIES[:2])])
    assert c["why_not_per_step"].endswith("in the timing runs 1, 2)")


def test_end_to_end_edges():
    """No record: no figure, no error. A record without a start counts from 0; a 1-ns run
    is a run; a 0-ns run is none; timing runs without a record give none."""
    runs = [timing(0, {"start_ns": 0, "end_ns": 10})]
    assert rc.tracer_cost(run(STEPS, COPIES), runs)["end_to_end"] is None
    assert rc.tracer_cost(run(STEPS, COPIES, {"end_ns": 20}), runs)["end_to_end"]["traced_ns"] == 20
    assert rc.tracer_cost(run(STEPS, COPIES, {"start_ns": 0}), runs)["end_to_end"] is None
    one = rc.tracer_cost(run(STEPS, COPIES, {"start_ns": 0, "end_ns": 1}), runs)["end_to_end"]
    assert one == {"traced_ns": 1, "untraced_ns": [10], "pct": -90.0}
    assert rc.tracer_cost(run(STEPS, COPIES, {"start_ns": 5, "end_ns": 5}), runs)["end_to_end"] is None
    assert rc.tracer_cost(run(STEPS, COPIES, {"start_ns": 0, "end_ns": 10}), [timing(0)])["end_to_end"] is None


def test_steps_left_out_counts_decode_steps_only():
    """Five decode steps and a prefill: four pairs possible; the one whose step holds no
    read-back (step 4) loses its pair."""
    steps = [(-100, 0)] + STEPS + [(400, 500)]
    t = run(steps, [(-10, -5)] + COPIES, {"start_ns": 0, "end_ns": 10}, modes=["prefill"] + ["decode"] * 5)
    c = rc.tracer_cost(t, [run(steps, [(-10, -5)] + COPIES)], n_resamples=10)
    assert c["steps_left_out"] == 1
