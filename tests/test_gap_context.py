"""What each idle gap waited for (``analysis.gap_context``, the Perfetto idle-cause
track's words), pinned on small constructed steps with hand-computed answers (issue 31):
the host cost that took most of a launch-bound gap (API call, module, operator or no
span; ties to the first name in sorted order; ns, not piece counts), the synchronisation
call that returned inside a sync gap (end in (g0, g1], the first by end time), the record
ending a queued / copy gap, the launch call of the record (the outermost call of its
correlation), and the empty strings of gaps without a record. Then one summary per shipped
trace kind (launch-bound with host spans, graph replay, sync gaps, Kineto) against a golden
file, so a change in any label or ns part on real traces is seen."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from test_host import TID
from test_kills_host import A, one_step

from conftest import TRACES, trace_path
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gap_context import _sync_call_names, gap_context
from stepscope.analysis.trace.model import HostSpanKind

GOLDEN = Path(__file__).parent / "golden" / "gap_context.json"
ROWS = ("cause_name", "position", "next_record", "launch_call", "waited_for",
        "launch_api_ns", "other_api_ns", "framework_ns")


def _rows(t):
    a = TraceAnalysis(t)
    ctx = gap_context(t, a.attribution)
    g = a.attribution["gaps"]
    order = np.argsort(g["start_ns"], kind="stable")
    return [dict({k: (ctx[k][i].item() if hasattr(ctx[k][i], "item") else ctx[k][i]) for k in ROWS},
                 start=int(g["start_ns"][i] - 1_000_000), ns=int(g["gap_ns"][i])) for i in order]


def test_launch_bound_gaps_name_the_host_cost_that_took_most_of_them():
    """Leading gap [-60, 0): K1's launch call cuLaunchKernelEx [-50, -10) is 40 ns, code
    outside any span 20 ns: the call leads. Gap [100, 1000) before K2: the launch call
    cudaLaunchKernel [800, 1000) 200, cuLibraryLoadData [200, 300) 100, module m 250 in
    three pieces ([100, 200), [300, 350), [700, 800)) and its operator aten::mm [350, 700)
    350 in one: the operator leads (by ns; by piece count m would). The trailing gap has
    no record after it: no record, no launch call, host work not recorded."""
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(-50, -10, "cuLaunchKernelEx", 1, A), (200, 300, "cuLibraryLoadData", 0, A),
                  (800, 1000, "cudaLaunchKernel", 2, A)],
                 spans=[(50, 950, "m", HostSpanKind.MODULE, 0, -1, TID),
                        (350, 700, "aten::mm", HostSpanKind.OPERATOR, 1, 0, TID)])
    lead, mid, trail = _rows(t)
    assert lead == {"cause_name": "launch overhead", "position": "leading", "next_record": "k1",
                    "launch_call": "cuLaunchKernelEx", "waited_for": "API call cuLaunchKernelEx",
                    "launch_api_ns": 40, "other_api_ns": 0, "framework_ns": 20, "start": -60, "ns": 60}
    assert mid == {"cause_name": "launch overhead", "position": "internal", "next_record": "k2",
                   "launch_call": "cudaLaunchKernel", "waited_for": "operator aten::mm",
                   "launch_api_ns": 200, "other_api_ns": 100, "framework_ns": 600, "start": 100, "ns": 900}
    assert trail == {"cause_name": "other idle (unexplained)", "position": "trailing", "next_record": "",
                     "launch_call": "", "waited_for": "host work after the last GPU record, not recorded",
                     "launch_api_ns": 0, "other_api_ns": 0, "framework_ns": 0, "start": 1100, "ns": 900}


def test_a_module_span_and_code_outside_spans_are_named_as_such():
    """Gap [100, 1000): module m [150, 700) 550 ns beats the launch call (200) and code
    outside any span ([100, 150) and [700, 800): 150): "module m". Where m is shorter
    ([150, 250): 100), code outside any span (350) leads: "framework (no span)"."""
    api = [(-50, -10, "cudaLaunchKernel", 1, A), (800, 1000, "cudaLaunchKernel", 2, A)]
    kern = [(0, 100, "k1", 1), (1000, 1100, "k2", 2)]
    t = one_step(kern, api, spans=[(150, 700, "m", HostSpanKind.MODULE, 0, -1, TID)])
    assert _rows(t)[1]["waited_for"] == "module m"
    t = one_step(kern, api, spans=[(150, 250, "m", HostSpanKind.MODULE, 0, -1, TID)])
    assert _rows(t)[1]["waited_for"] == "framework (no span)"


def test_a_tie_goes_to_the_first_name_in_sorted_order():
    """Gap [100, 300): cuA [100, 200) and K2's launch call cudaLaunchKernel [200, 300), 100
    ns each: "API call cuA" sorts first ('A' < 'd') and is named, whatever the row order."""
    for api in ([(-50, -10, "cudaLaunchKernel", 1, A), (100, 200, "cuA", 0, A), (200, 300, "cudaLaunchKernel", 2, A)],
                [(200, 300, "cudaLaunchKernel", 2, A), (100, 200, "cuA", 0, A), (-50, -10, "cudaLaunchKernel", 1, A)]):
        t = one_step([(0, 100, "k1", 1), (300, 400, "k2", 2)], api)
        r = _rows(t)[1]
        assert (r["waited_for"], r["launch_api_ns"], r["other_api_ns"], r["framework_ns"]) == \
            ("API call cuA", 100, 100, 0)


def test_the_launch_call_is_the_outermost_call_of_the_records_correlation():
    """A runtime call and the driver call inside it share K2's correlation id; the driver
    call's row comes first. The gap names the call that started first (the runtime one),
    whatever the row order."""
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (850, 990, "cuLaunchKernel", 2, A),
                  (800, 1000, "cudaLaunchKernelExC", 2, A)])
    assert _rows(t)[1]["launch_call"] == "cudaLaunchKernelExC"


def test_queued_copy_memset_and_unrecorded_launch_gaps_name_their_record():
    """K1 [0, 100); K2 [300, 400) was launched at [20, 60), before the GPU went idle:
    queued, "the GPU: k2 was already launched". A host-to-device copy [500, 600): "host
    copy memcpy". A memset [700, 750) launched at [150, 250): queued on "memset". K5
    [900, 950) whose launch call was not recorded: other idle, no launch call."""
    t = one_step([(0, 100, "k1", 1), (300, 400, "k2", 2), (900, 950, "k5", 99)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (20, 60, "cudaLaunchKernel", 2, A),
                  (150, 250, "cudaMemsetAsync", 4, A), (350, 450, "cudaMemcpyAsync", 3, A)],
                 copies=[(500, 600, 3)], sets=[(700, 750, 4)])
    t["memcpy"]["copy_kind"][:] = 1          # host to device
    rows = _rows(t)
    got = [(r["start"], r["cause_name"], r["next_record"], r["launch_call"], r["waited_for"]) for r in rows]
    assert got == [
        (-60, "launch overhead", "k1", "cudaLaunchKernel", "API call cudaLaunchKernel"),
        (100, "queued (GPU side)", "k2", "cudaLaunchKernel", "the GPU: k2 was already launched"),
        (400, "host copy", "memcpy", "cudaMemcpyAsync", "host copy memcpy"),
        (600, "queued (GPU side)", "memset", "cudaMemsetAsync", "the GPU: memset was already launched"),
        (750, "other idle (unexplained)", "k5", "", "a GPU record whose launch call was not recorded"),
        (950, "other idle (unexplained)", "", "", "host work after the last GPU record, not recorded")]
    assert all(r["launch_api_ns"] == r["other_api_ns"] == r["framework_ns"] == 0 for r in rows[1:])


def test_the_leader_is_named_only_for_launch_bound_gaps_and_api_row_0_counts():
    """The leader lookup itself: "" for every gap that is not launch-bound (queued, copy,
    other); and an "other" API call in the first API row (row 0) is an API call, not
    framework code: the gap [100, 1000) is cuLibraryLoadData's (500 of 900 ns)."""
    from stepscope.analysis import host
    from stepscope.analysis.gap_context import _host_leader, _launch_call_names
    from stepscope.analysis.gaps import GapCause
    t = one_step([(0, 100, "k1", 1), (300, 400, "k2", 2), (900, 950, "k5", 99)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (20, 60, "cudaLaunchKernel", 2, A)])
    a = TraceAnalysis(t).attribution
    g = a["gaps"]
    names = _launch_call_names(t, a["records"], g["next_record"])
    lead = _host_leader(t, host.split(t, a), len(g["gap_ns"]), names)
    launch = g["cause"] == GapCause.LAUNCH
    assert launch.sum() == 1 and (~launch).sum() == 3
    assert lead[launch].tolist() == ["API call cudaLaunchKernel"] and lead[~launch].tolist() == ["", "", ""]
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(200, 700, "cuLibraryLoadData", 0, A), (-50, -10, "cudaLaunchKernel", 1, A),
                  (800, 1000, "cudaLaunchKernel", 2, A)])
    assert t["api"]["name"][0] == t.intern("cuLibraryLoadData")
    r = _rows(t)[1]
    assert (r["waited_for"], r["launch_api_ns"], r["other_api_ns"], r["framework_ns"]) == \
        ("API call cuLibraryLoadData", 200, 500, 200)


def test_a_step_without_gpu_records_has_one_gap_and_no_names():
    """API calls but no kernel in the step: one gap, the whole step, with no record and no
    launch call (nothing to look up)."""
    t = one_step([], [(100, 200, "cudaLaunchKernel", 1, A)], step=(0, 1000))
    rows = _rows(t)
    assert [(r["next_record"], r["launch_call"], r["ns"]) for r in rows] == [("", "", 1000)]


def test_a_step_without_api_calls_names_no_launch_call():
    t = one_step([(0, 100, "k1", 1), (300, 400, "k2", 2)], [])
    rows = _rows(t)
    assert [r["launch_call"] for r in rows] == ["", "", ""]
    assert [r["next_record"] for r in rows] == ["k1", "k2", ""]


def test_a_sync_gap_names_the_first_sync_call_that_returned_inside_it():
    """Gap [100, 1000) before K2: cudaDeviceSynchronize returned at 100 (= g0: before the
    gap, not in it), cuCtxSynchronize at 500 and cudaStreamSynchronize at 1000 (= g1: in
    it): the first to return inside, cuCtxSynchronize, is named, though its row comes last.
    The trailing gap [1100, 2000) holds cudaStreamSynchronize's return at 1500."""
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (600, 1000, "cudaStreamSynchronize", 0, A),
                  (20, 100, "cudaDeviceSynchronize", 0, A), (1010, 1020, "cudaLaunchKernel", 2, A),
                  (1200, 1500, "cudaStreamSynchronize", 0, A), (300, 500, "cuCtxSynchronize", 0, A)])
    _, mid, trail = _rows(t)
    assert (mid["cause_name"], mid["waited_for"]) == ("host synchronisation", "API call cuCtxSynchronize")
    assert (trail["cause_name"], trail["position"], trail["waited_for"]) == \
        ("host synchronisation", "trailing", "API call cudaStreamSynchronize")


def test_sync_call_names_outside_any_window_are_empty():
    """The lookup itself: (g0, g1] windows with no sync end in them (before all, between,
    after all) get "", an end exactly at g1 counts, one exactly at g0 does not."""
    t = one_step([(0, 100, "k1", 1)], [(-50, -10, "cudaLaunchKernel", 1, A),
                                       (100, 200, "cudaStreamSynchronize", 0, A),
                                       (300, 400, "cuCtxSynchronize", 0, A)])
    o = 1_000_000
    g0 = np.array([0, 200, 250, 400, 500, 150, 199], np.int64) + o
    g1 = np.array([100, 300, 300, 900, 900, 200, 401], np.int64) + o
    assert _sync_call_names(t, g0, g1).tolist() == ["", "", "", "", "", "cudaStreamSynchronize",
                                                    "cudaStreamSynchronize"]
    g0b, g1b = np.array([200, 150], np.int64) + o, np.array([400, 400], np.int64) + o
    assert _sync_call_names(t, g0b, g1b).tolist() == ["cuCtxSynchronize", "cudaStreamSynchronize"]
    none = one_step([(0, 100, "k1", 1)], [(-50, -10, "cudaLaunchKernel", 1, A)])
    assert _sync_call_names(none, g0, g1).tolist() == [""] * 7


# One summary per shipped trace kind: per distinct (cause, position, record, launch call,
# waited for), the gap count and the summed ns of the gap and its three host parts.
SHIPPED = {"eager-host": trace_path("qwen2.5-7b-ctx2048-eager-host-h100"),
           "graph": trace_path("qwen2.5-7b-ctx2048-graph-h100"),
           "synthetic": trace_path("synthetic-h100"),
           "kineto": TRACES / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"}


def summary(path) -> list:
    a = TraceAnalysis(path)
    ctx = gap_context(a.trace, a.attribution)
    gap_ns = a.attribution["gaps"]["gap_ns"]
    acc = defaultdict(lambda: [0, 0, 0, 0, 0])
    for i in range(len(gap_ns)):
        key = tuple(str(ctx[k][i]) for k in ROWS[:5])
        s = acc[key]
        s[0] += 1
        s[1] += int(gap_ns[i])
        for j, k in enumerate(ROWS[5:]):
            s[2 + j] += int(ctx[k][i])
    return [[*k, *v] for k, v in sorted(acc.items())]


@pytest.mark.parametrize("kind", sorted(SHIPPED))
def test_shipped_traces_match_their_golden_summary(kind):
    """Regenerate (after a reviewed change): ``python tests/test_gap_context.py``."""
    want = json.loads(GOLDEN.read_text())[kind]
    assert summary(SHIPPED[kind]) == want


def test_golden_summaries_cover_every_cause_and_label_kind():
    """The golden is only worth its rows: together the shipped traces hold each cause and
    each kind of waited-for label (so a test above fails when any of them changes)."""
    g = json.loads(GOLDEN.read_text())
    rows = [r for v in g.values() for r in v]
    assert {r[0] for r in rows} >= {"launch overhead", "queued (GPU side)", "host synchronisation",
                                    "graph-internal"}     # other idle: none shipped, constructed above
    waited = {r[4].split(" ")[0] for r in rows}
    assert waited >= {"API", "module", "operator", "framework", "the"}    # host copy: constructed above
    assert {r[1] for r in rows} == {"leading", "internal", "trailing"}


if __name__ == "__main__":
    rows = {k: summary(p) for k, p in sorted(SHIPPED.items())}
    GOLDEN.write_text("{\n" + ",\n".join(json.dumps(k) + ": [\n" + ",\n".join(json.dumps(r) for r in v) + "]"
                                         for k, v in rows.items()) + "\n}\n")
    print("wrote", GOLDEN)
