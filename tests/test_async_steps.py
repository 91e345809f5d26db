"""Step segmentation on an asynchronous (`sync=False`-style) trace, where kernels of step N
run during step N+1's window (tests/async_trace.py builds it from a real trace). Each
expectation is computed from the source trace, not by the code under test, and the
per-step figures are pinned in tests/golden/async-eager-static-h100.json."""
import json

import numpy as np
import pytest
from async_trace import EXTRA_KERNEL_NS, EXTRA_STEP, LATE_NS, build

from conftest import ROOT, TRACES
from stepscope.analysis.attribution import attribute
from stepscope.analysis.trace import load

GOLDEN = ROOT / "tests" / "golden" / "async-eager-static-h100.json"
PINNED = ("step_ns", "busy_ns", "kernels", "launch_calls", "launch_overhead_ns", "other_idle_ns",
          "leading_gap_ns", "trailing_gap_ns", "dram_read_bytes", "dram_write_bytes")


@pytest.fixture
def built():
    t, facts = build()
    return t, facts, attribute(t)["steps"]


def test_the_trace_is_asynchronous(built):
    t, facts, _ = built
    # step N's GPU work runs on past its window and into step N+1's window
    assert (facts["records_end_ns"] > facts["end_ns"]).all()
    assert (facts["records_end_ns"][:-1] > facts["start_ns"][1:]).all()
    assert (facts["records_end_ns"][:-1] - facts["start_ns"][1:] < LATE_NS).all()


def test_gpu_records_follow_their_launch_call_not_the_clock(built):
    t, facts, s = built
    assert s["kernels"].tolist() == facts["kernels"].tolist()      # 1485, 1486, 1485
    assert s["launch_calls"].tolist() == facts["launch_calls"].tolist()
    cap = t.meta["capture"]
    assert cap["kernels_without_launch_call"] == 1 and cap["kernels_assigned_by_time"] == 1
    k = t["kernels"]
    late = k["end_ns"] > facts["end_ns"][np.searchsorted(facts["step"], np.maximum(k["step"], 0))]
    assert (late & (k["step"] >= 0)).sum() > 1000                  # many kernels end after their window


def test_boundaries_are_inclusive_and_by_call_start(built):
    t, facts, _ = built
    api = t["api"]
    for i, s in enumerate(facts["step"]):
        at_start = api["start_ns"] == facts["start_ns"][i]
        at_end = api["start_ns"] == facts["end_ns"][i]
        assert (api["step"][at_start] == s).all() and at_start.any()   # side="right"
        assert (api["step"][at_end] == s).all() and at_end.any()       # end is inclusive
        assert (api["end_ns"][at_end] > facts["end_ns"][i]).all()      # by start, not end
    extra = t["kernels"]["correlation"] == -7
    assert t["kernels"]["step"][extra].tolist() == [facts["step"][EXTRA_STEP]]


def test_step_spans_to_its_last_record(built):
    _, facts, s = built
    assert s["start_ns"].tolist() == facts["start_ns"].tolist()
    assert s["end_ns"].tolist() == facts["records_end_ns"].tolist()
    assert s["step_ns"].tolist() == (facts["records_end_ns"] - facts["start_ns"]).tolist()


def test_busy_is_the_source_busy_shifted(built):
    _, facts, s = built
    src = attribute(load(TRACES / "qwen2.5-7b-ctx2048-eager-static-h100.stepscope"))["steps"]
    want = src["busy_ns"].copy()
    want[EXTRA_STEP] += EXTRA_KERNEL_NS
    assert s["busy_ns"].tolist() == want.tolist()
    assert (s["closure_ns"] == 0).all()


def test_golden_async_attribution(built):
    _, _, s = built
    got = {k: np.asarray(s[k]).tolist() for k in PINNED}
    assert got == json.loads(GOLDEN.read_text())
