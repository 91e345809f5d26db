"""analysis/stacks.py on a constructed trace with hand-computed answers (issue 31): which
samples count (inside a launch-bound gap, at its edges, in a step), the innermost and
inclusive tables (order, ties, the frames every sample holds left out, the row limit), the
per-step scaling and the sampler's metadata."""
import numpy as np
import pytest

from stepscope.analysis import stacks
from stepscope.analysis.gaps import GapCause
from stepscope.analysis.trace.model import Trace, table_from_rows

L, Q = GapCause.LAUNCH, GapCause.QUEUED


def trace_with(samples, n_steps=2, cap=None):
    """``samples``: (t_ns, step, 'outer;...;inner')."""
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {"index": list(range(n_steps)), "mode": [t.intern("decode")] * n_steps,
                                                  "start_ns": [0] * n_steps, "end_ns": [1] * n_steps})
    t.tables["stack_samples"] = table_from_rows("stack_samples", {
        "t_ns": [s[0] for s in samples], "thread_id": [1] * len(samples),
        "stack": [t.intern(s[2]) for s in samples], "step": [s[1] for s in samples]})
    if cap is not None:
        t.meta["capture"] = {"stack_sampler": cap}
    return t


def attr_with(gaps, launch_ns):
    """``gaps``: (start, end, cause); ``launch_ns``: launch overhead per step."""
    return {"gaps": {"start_ns": np.array([g[0] for g in gaps], np.int64), "end_ns": np.array([g[1] for g in gaps], np.int64),
                     "cause": np.array([g[2] for g in gaps], np.int64)},
            "steps": {"launch_overhead_ns": np.array(launch_ns, np.int64)}}


GAPS = [(300, 400, L), (100, 200, L), (500, 600, Q)]     # not in start order


def test_samples_count_inside_launch_gaps_start_inclusive_end_exclusive():
    t = np.array([99, 100, 150, 199, 200, 300, 399, 400, 550, 50])
    assert stacks._in_launch_gaps(t, attr_with(GAPS, [0])["gaps"]).tolist() == \
        [False, True, True, True, False, True, True, False, False, False]
    assert stacks._in_launch_gaps(t, attr_with([(500, 600, Q)], [0])["gaps"]).tolist() == [False] * 10


def test_the_report_whole():
    samples = [(110, 0, "main;loop;forward;mm"), (120, 0, "main;loop;forward;mm"), (130, 0, "main;loop;forward;add"),
               (310, 1, "main;loop;aardvark"), (320, -1, "main;loop;forward;mm"),      # outside any step
               (550, 1, "main;loop;forward;mm")]                                    # a queued gap
    cap = {"period_ns": 1000, "median_interval_ns": 1010}
    got = stacks.report(trace_with(samples, 2, cap), attr_with(GAPS, [3_000_000, 1_000_000]))
    k = 4                                     # counted: 110, 120, 130, 310
    per_step_ns = 4_000_000 / 2
    want_inner = [("mm", 2), ("aardvark", 1), ("add", 1)]        # ties by name, not by first appearance
    want_incl = [("forward", 3), ("mm", 2), ("aardvark", 1), ("add", 1)]   # main and loop are in all 4: left out
    share = lambda rows: [c / k for _, c in rows]               # noqa: E731
    assert got["samples"] == 6 and got["period_ns"] == 1000 and got["median_interval_ns"] == 1010
    assert got["samples_in_steps"] == 5 and got["samples_in_launch_idle"] == 4
    assert got["launch_idle_ms_per_step"] == pytest.approx(2.0)
    for key, rows in (("innermost", want_inner), ("inclusive", want_incl)):
        sh = share(rows)
        assert got[key]["frame"] == [f for f, _ in rows]
        assert got[key]["share"] == pytest.approx(sh)
        assert got[key]["ms_per_step"] == pytest.approx([s * per_step_ns / 1e6 for s in sh])
        assert got[key]["share_se"] == pytest.approx([np.sqrt(s * (1 - s) / k) for s in sh])
    assert set(got) == {"samples", "period_ns", "median_interval_ns", "samples_in_steps", "samples_in_launch_idle",
                        "launch_idle_ms_per_step", "innermost", "inclusive"}


def test_rows_are_limited_to_n_ten_by_default():
    samples = [(100 + i, 0, f"main;f{i:02d}") for i in range(12)]
    got = stacks.report(trace_with(samples), attr_with(GAPS, [0, 0]))
    assert len(got["innermost"]["frame"]) == 10 and got["innermost"]["frame"][0] == "f00"
    assert len(stacks.report(trace_with(samples), attr_with(GAPS, [0, 0]), n=11)["innermost"]["frame"]) == 11


def test_no_counted_sample_gives_empty_tables_and_no_sampler_gives_none():
    got = stacks.report(trace_with([(550, 0, "a;b")]), attr_with(GAPS, [500, 500]))
    empty = {"frame": [], "share": [], "ms_per_step": [], "share_se": []}
    assert got == {"samples": 1, "period_ns": None, "median_interval_ns": None, "samples_in_steps": 1,
                   "samples_in_launch_idle": 0, "launch_idle_ms_per_step": 0.0005,
                   "innermost": empty, "inclusive": empty}
    got = stacks.report(trace_with([]), attr_with(GAPS, [0, 0]), n=3)
    assert got == {"samples": 0, "period_ns": None, "median_interval_ns": None}
    t = trace_with([], cap={"period_ns": 7})
    t.meta["capture"]["other"] = 1
    assert stacks.report(t, attr_with(GAPS, [0, 0]))["period_ns"] == 7
