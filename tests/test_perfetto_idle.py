"""The Perfetto export's idle-cause track, read back from the exported JSON as a user's
Perfetto would: one slice per idle gap, named by its cause in the report's words, whose
durations add up, per cause and in integer ns, to the figures of `stepscope report --json`
of the same trace; the slices and the GPU's busy time fill each step; every slice says what
the GPU waited for."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TRACES, trace_path
from stepscope.analysis.gap_context import CAUSE_COLUMNS, CAUSE_NAMES

TRACES_CHECKED = [trace_path("qwen2.5-7b-ctx2048-eager-host-h100"),     # launch-bound, host spans
                  trace_path("qwen2.5-7b-ctx2048-graph-h100"),          # graph-internal gaps
                  trace_path("synthetic-h100"),                         # sync gaps, two modes
                  trace_path("qwen2.5-7b-ctx2048-eager-static-h100"),
                  TRACES / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"]


def _cli(*args):
    r = subprocess.run([sys.executable, "-m", "stepscope", *map(str, args)], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module", params=TRACES_CHECKED, ids=lambda p: p.name)
def exported(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("perfetto") / "p.json"
    _cli("export", request.param, "--perfetto", out, "--quiet")
    report = json.loads(_cli("report", request.param, "--json"))
    return json.loads(out.read_text()), report


def _idle(doc):
    meta = {e["args"]["name"]: e["tid"] for e in doc["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] == 2}
    tid = meta["GPU idle (cause)"]
    return [e for e in doc["traceEvents"] if e["ph"] == "X" and e["pid"] == 2 and e["tid"] == tid]


def test_idle_slices_add_up_to_the_reports_figures_per_cause(exported):
    doc, report = exported
    idle = _idle(doc)
    steps = report["steps"]
    assert {e["name"] for e in idle} <= set(CAUSE_NAMES.values())
    for cause, name in CAUSE_NAMES.items():
        mine = [e for e in idle if e["name"] == name]
        # ns from the slice's own duration (three decimals of us), and from its args
        from_dur = sum(round(e["dur"] * 1000) for e in mine)
        from_args = sum(e["args"]["gap_ns"] for e in mine)
        want = sum(steps[CAUSE_COLUMNS[cause]])
        assert from_dur == from_args == want, (name, from_dur, from_args, want)
    # launch overhead is the report's own figure; the rest is its "other idle"
    launch = sum(e["args"]["gap_ns"] for e in idle if e["name"] == "launch overhead")
    assert launch == sum(steps["launch_overhead_ns"])
    assert sum(e["args"]["gap_ns"] for e in idle) - launch == sum(steps["other_idle_ns"])


def test_idle_slices_and_busy_time_fill_each_step_without_overlap(exported):
    doc, report = exported
    idle = _idle(doc)
    steps = report["steps"]
    for i, step in enumerate(steps["step"]):
        mine = sorted((round(e["ts"] * 1000), e["args"]["gap_ns"]) for e in idle if e["args"]["step"] == step)
        starts = np.array([s for s, _ in mine], np.int64)
        ends = starts + np.array([n for _, n in mine], np.int64)
        assert (starts[1:] >= ends[:-1]).all()           # one slice per gap, gaps never overlap
        assert int((ends - starts).sum()) + steps["busy_ns"][i] == steps["step_ns"][i]


def test_every_idle_slice_says_what_the_gpu_waited_for(exported):
    doc, _ = exported
    idle = _idle(doc)
    assert idle and all(e["args"]["waited_for"] for e in idle)
    for e in idle:
        if e["name"] == "launch overhead":
            a = e["args"]
            assert a["host_launch_call_ns"] + a["host_other_api_calls_ns"] + a["host_framework_code_ns"] == a["gap_ns"]
            assert a["waited_for"].startswith(("API call ", "module ", "operator ", "framework "))
        if e["name"] == "host synchronisation":
            assert "Synchronize" in e["args"]["waited_for"] or "Memcpy" in e["args"]["waited_for"]


def test_launch_bound_gaps_name_the_host_span_the_gpu_waited_for():
    """In a host-span trace, the launch-bound slices name module spans by their path, and
    the module named is the one running at the gap's middle on the launching thread
    (recomputed here from the spans)."""
    from stepscope.analysis.render.perfetto import to_chrome
    from stepscope.analysis.trace import Trace
    t = Trace.load(trace_path("qwen2.5-7b-ctx2048-eager-host-h100"))
    idle = _idle(to_chrome(t))
    named = [e for e in idle if e["name"] == "launch overhead" and e["args"]["waited_for"].startswith("module ")]
    assert len(named) > len(idle) // 2
    hs = t["host_spans"]
    names = np.asarray(t.strings, dtype=object)[hs["name"]]
    origin = json.loads(json.dumps(to_chrome(t)["otherData"]))["origin_ns"]
    checked = 0
    for e in named[::97]:
        a = e["args"]
        if a["host_framework_code_ns"] * 2 <= a["gap_ns"]:
            continue          # mostly inside API calls: the leader may be another piece
        mid = origin + round(e["ts"] * 1000) + a["gap_ns"] // 2
        inside = np.nonzero((hs["start_ns"] <= mid) & (hs["end_ns"] > mid) & (hs["kind"] == 0))[0]
        if not len(inside):
            continue
        innermost = names[inside[np.argmax(hs["depth"][inside])]]
        if innermost == a["waited_for"].removeprefix("module "):
            checked += 1
    assert checked >= 5
