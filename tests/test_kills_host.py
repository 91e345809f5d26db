"""Tests that pin the host side of launch-bound idle (``analysis.host``) on small
constructed steps with hand-computed answers (issue 31): nested API calls owning a gap,
the launching thread's election, the per-step CPU time per launch, the hotspot table's
kinds and shares, the verdict's text, and the longest gaps. Each test names the behaviour
it pins; each was checked by the mutants it kills (``benchmarks/mutation.py``)."""
from __future__ import annotations

import numpy as np
from test_host import TID, constructed

from stepscope.analysis import host
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gaps import GapCause
from stepscope.analysis.trace import Trace, table_from_rows
from stepscope.analysis.trace.model import DOMAIN_DRIVER, DOMAIN_RUNTIME, HostSpanKind
from stepscope.analysis.trace.steps import assign_steps

T0 = 1_000_000


def one_step(kernels, api, spans=(), step=(-60, 2000), copies=(), sets=()):
    """One eager step; times relative to T0. ``kernels``: (start, end, name, correlation);
    ``api``: (start, end, name, correlation, thread); ``spans``: (start, end, name, kind,
    depth, parent, thread); ``copies``/``sets``: (start, end, correlation)."""
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {"index": [0], "mode": [t.intern("eager")],
                                                  "start_ns": [T0 + step[0]], "end_ns": [T0 + step[1]]})
    t.tables["kernels"] = table_from_rows("kernels", {
        "start_ns": [T0 + k[0] for k in kernels], "end_ns": [T0 + k[1] for k in kernels],
        "name": [t.intern(k[2]) for k in kernels], "correlation": [k[3] for k in kernels],
        "graph_id": [0] * len(kernels), "stream": [7] * len(kernels)})
    for table, recs in (("memcpy", copies), ("memset", sets)):
        if recs:
            cols = {"start_ns": [T0 + r[0] for r in recs], "end_ns": [T0 + r[1] for r in recs],
                    "correlation": [r[2] for r in recs], "graph_id": [0] * len(recs), "stream": [7] * len(recs),
                    "bytes": [64] * len(recs)}
            if table == "memcpy":
                cols["copy_kind"] = [8] * len(recs)         # device to device: not a host copy
            t.tables[table] = table_from_rows(table, cols)
    t.tables["api"] = table_from_rows("api", {
        "start_ns": [T0 + a[0] for a in api], "end_ns": [T0 + a[1] for a in api],
        "name": [t.intern(a[2]) for a in api], "correlation": [a[3] for a in api],
        "domain": [DOMAIN_DRIVER if a[2].startswith("cu") and not a[2].startswith("cuda") else DOMAIN_RUNTIME
                   for a in api],
        "thread_id": [a[4] for a in api]})
    if spans:
        t.tables["host_spans"] = table_from_rows("host_spans", {
            "start_ns": [T0 + s[0] for s in spans], "end_ns": [T0 + s[1] for s in spans],
            "name": [t.intern(s[2]) for s in spans], "kind": [s[3] for s in spans], "depth": [s[4] for s in spans],
            "parent": [s[5] for s in spans], "thread_id": [s[6] for s in spans]})
    assign_steps(t)
    return t


A = TID & 0xFFFFFFFF


def test_nested_api_calls_own_the_gap_in_turn():
    """The gap [100, 1000) before K2 holds cudaMalloc [200, 700) with cuMemAlloc [300, 400)
    nested in it, then K2's launch call [800, 1000): cuMemAlloc owns [300, 400) (it started
    last and still runs), cudaMalloc owns [200, 300) and [400, 700) (the encloser again
    once the inner call returned), framework [100, 200) and [700, 800)."""
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (200, 700, "cudaMalloc", 0, A),
                  (300, 400, "cuMemAlloc", 0, A), (800, 1000, "cudaLaunchKernel", 2, A)])
    a = TraceAnalysis(t)
    sp = host.split(t, a.attribution)
    g = np.nonzero(a.attribution["gaps"]["gap_ns"][sp["gap"]] == 900)[0][0]
    assert (sp["launch_api_ns"][g], sp["other_api_ns"][g], sp["framework_ns"][g]) == (200, 500, 200)
    hot = dict(zip(a.get_host()["hotspots"]["name"], a.get_host()["hotspots"]["ns_per_step"]))
    assert hot["cudaMalloc"] == 400 and hot["cuMemAlloc"] == 100


def test_three_deep_calls_return_to_the_middle_one():
    """cuX [200, 700) holds cuY [250, 600), which holds cuZ [300, 400) (a runtime call, its
    driver call, a lazy module load inside): once cuZ returns, [400, 600) is cuY's, not
    cuX's; cuX keeps [200, 250) and [600, 700)."""
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (200, 700, "cuX", 0, A), (250, 600, "cuY", 0, A),
                  (300, 400, "cuZ", 0, A), (800, 1000, "cudaLaunchKernel", 2, A)])
    hot = dict(zip(*(TraceAnalysis(t).get_host()["hotspots"][k] for k in ("name", "ns_per_step"))))
    assert (hot["cuX"], hot["cuY"], hot["cuZ"]) == (150, 250, 100)


def test_a_call_that_outlives_a_later_one_keeps_the_time_after_it():
    """Overlapping, not nested (a driver call running on past a later one): X [200, 600),
    Y [300, 400): after Y returns, [400, 600) is X's again, as [200, 300) was."""
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (200, 600, "cuX", 0, A), (300, 400, "cuY", 0, A),
                  (450, 500, "cuZ", 0, A), (800, 1000, "cudaLaunchKernel", 2, A)])
    hot = dict(zip(*(TraceAnalysis(t).get_host()["hotspots"][k] for k in ("name", "ns_per_step"))))
    assert hot["cuX"] == 250 and hot["cuY"] == 100 and hot["cuZ"] == 50


def test_the_launching_thread_is_elected_from_found_launch_calls_only():
    """K1's launch call is missing from the API records (the leading gap is launch-bound
    all the same); K2's, on thread A, is there. A call on thread B (a lower id) is the last
    API row. The launching thread is A, and K2's gap splits on A's calls."""
    b = A - 5
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(800, 1000, "cudaLaunchKernel", 2, A), (300, 500, "cudaStreamQuery", 0, b)])
    a = TraceAnalysis(t)
    assert (a.get_gaps()["cause"] == GapCause.LAUNCH).sum() == 2
    h = a.get_host()
    assert h["thread_id"] == A
    ps = h["per_step"]
    assert (ps["launch_api_ns"][0], ps["other_api_ns"][0], ps["framework_ns"][0]) == (200, 0, 760)


def test_cpu_time_per_launch_is_the_steps_calls_over_its_kernels():
    """The constructed step of tests/test_host.py: host window [-60, 1000) = 1060 ns, two
    kernels; launch calls 40 + 150 ns, cuLibraryLoadData 100 ns: launch API 95 ns per launch,
    framework (window minus all calls) (1060 - 290) / 2 = 385 ns per launch."""
    ps = TraceAnalysis(constructed()).get_host()["per_step"]
    assert ps["launch_api_total_ns"].tolist() == [190] and ps["api_total_ns"].tolist() == [290]
    assert ps["launch_api_ns_per_launch"].tolist() == [95.0] and ps["framework_ns_per_launch"].tolist() == [385.0]


def test_calls_on_other_threads_and_outside_steps_are_not_counted_per_launch():
    t = constructed()
    t.tables["api"] = {c: np.concatenate([v, v[1:2]]) for c, v in t["api"].items()}
    t["api"]["thread_id"][-1] = A + 1                 # a copy of cuLibraryLoadData on another thread
    t.tables["api"] = {c: np.concatenate([v, v[0:1]]) for c, v in t["api"].items()}
    t["api"]["step"][-1] = -1                         # a launch call outside every step
    t["api"]["correlation"][-1] = 999
    ps = TraceAnalysis(t).get_host()["per_step"]
    assert ps["launch_api_total_ns"].tolist() == [190] and ps["api_total_ns"].tolist() == [290]


def test_is_launch_names():
    assert host._is_launch("cudaLaunchKernel") and host._is_launch("cuMemcpyAsync") and host._is_launch("cudaMemsetAsync")
    assert not host._is_launch("cudaMalloc") and not host._is_launch("cuLibraryLoadData")


def test_hotspots_kinds_order_shares_and_per_step_division():
    """Two copies of the constructed step: every hotspot is the sum over both steps over 2;
    shares are of all launch-bound idle (1120 ns); kinds: launch API, API, module, and
    framework for time in no span; sorted by time, ties in first-seen order; n cuts."""
    from stepscope.analysis.trace.merge import concat
    t = concat([constructed(0, 0), constructed(10_000, 1)])
    t["host_spans"]["kind"][1] = HostSpanKind.OPERATOR          # step 0's m.attn as an operator span
    a = TraceAnalysis(t)
    hot = host.hotspots(t, a.attribution, host.split(t, a.attribution))
    got = list(zip(hot["what"], hot["name"], hot["ns_per_step"], hot["share_of_launch_idle"]))
    assert got == [("operator", "m.attn", 200.0, 400 / 1120), ("launch API", "cudaLaunchKernel", 140.0, 280 / 1120),
                   ("API", "cuLibraryLoadData", 100.0, 200 / 1120), ("module", "m", 100.0, 200 / 1120),
                   ("framework", host.NO_SPAN, 20.0, 40 / 1120)]
    assert host.hotspots(t, a.attribution, host.split(t, a.attribution), n=2)["name"] == ["m.attn", "cudaLaunchKernel"]


def test_hotspots_without_host_spans_are_framework_no_span():
    t = constructed()
    t.tables["host_spans"] = table_from_rows("host_spans", {"start_ns": []})
    hot = TraceAnalysis(t).get_host()["hotspots"]
    assert list(zip(hot["what"], hot["name"], hot["ns_per_step"])) == [
        ("framework", host.NO_SPAN, 320.0), ("launch API", "cudaLaunchKernel", 140.0), ("API", "cuLibraryLoadData", 100.0)]


def test_verdict_text():
    """Launch API 140, other API 100, framework 320 of 560 ns: the framework leads (57%),
    led by its top hotspot; each part rounded to whole percent."""
    h = TraceAnalysis(constructed()).get_host()
    assert h["verdict"] == ("launch-bound idle (all steps) is 57% framework code outside any API call, led by "
                            "module m.attn (the launch API 25%, other API calls 18%, framework code outside any API "
                            "call 57%).")
    ps = {"launch_api_ns": np.array([300]), "other_api_ns": np.array([100]), "framework_ns": np.array([100])}
    hot = {"what": ["module", "API", "launch API"], "name": ["m", "cuX", "cuLaunchKernel"]}
    assert host.verdict(ps, hot) == ("launch-bound idle (all steps) is 60% the launch API, led by launch API "
                                     "cuLaunchKernel (the launch API 60%, other API calls 20%, framework code "
                                     "outside any API call 20%).")
    ps2 = {"launch_api_ns": np.array([100]), "other_api_ns": np.array([300]), "framework_ns": np.array([100])}
    assert host.verdict(ps2, hot).startswith("launch-bound idle (all steps) is 60% other API calls, led by API cuX (")
    assert host.verdict(ps2, {"what": [], "name": []}).startswith("launch-bound idle (all steps) is 60% other API "
                                                                   "calls (the launch API 20%")
    zero = {k: np.zeros(1, np.int64) for k in ps}
    assert host.verdict(zero, hot) == "no launch-bound idle: the GPU never waited for the CPU."


def test_longest_gaps_name_what_ended_them():
    """Three launch-bound gaps ended by a kernel, a memcpy and a memset (500, 300, 200 ns):
    longest first, each with its ending record, launch call, the span at its middle and
    the other API calls inside; n cuts the list."""
    t = one_step([(0, 100, "void gemm_kernel<float>(float*)", 1)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (100, 600, "cudaMemcpyAsync", 2, A),
                  (700, 900, "cuMemsetD8Async", 3, A), (1000, 1300, "cudaLaunchKernel", 4, A),
                  (1100, 1150, "cudaMalloc", 0, A)],
                 spans=[(50, 1400, "m", HostSpanKind.MODULE, 0, -1, TID),
                        (1000, 1400, "m.mlp", HostSpanKind.MODULE, 1, 0, TID)],
                 copies=[(600, 700, 2)], sets=[(900, 1000, 3)])
    t["kernels"]["start_ns"][0]  # noqa: B018 (the kernel table holds one kernel; add K2 ending the 300-ns gap)
    t.tables["kernels"] = {c: np.concatenate([v, v[:1]]) for c, v in t["kernels"].items()}
    t["kernels"]["start_ns"][1], t["kernels"]["end_ns"][1], t["kernels"]["correlation"][1] = T0 + 1300, T0 + 1400, 4
    t["kernels"]["name"][1] = t.intern("k2")
    assign_steps(t)
    a = TraceAnalysis(t)
    lg = host.longest_gaps(t, a.attribution, host.split(t, a.attribution))
    assert lg["gap_ns"] == [500, 300, 200]
    assert lg["next_kernel"] == ["memcpy", "k2", "memset"]
    assert lg["launch_api"] == ["cudaMemcpyAsync", "cudaLaunchKernel", "cuMemsetD8Async"]
    assert lg["span"] == ["m", "m.mlp", "m"]
    assert lg["apis_inside"] == [[], ["cudaMalloc"], []]
    assert lg["step"] == [0, 0, 0]
    assert host.longest_gaps(t, a.attribution, host.split(t, a.attribution), n=1)["gap_ns"] == [500]


def test_report_says_what_was_captured():
    t = constructed()
    t.meta["capture"] = {"apis": "all", "host_spans": "modules"}
    r = TraceAnalysis(t).get_host()
    assert (r["apis"], r["host_spans"], r["spans"], r["thread_id"]) == ("all", "modules", 2, A)
    r0 = TraceAnalysis(constructed()).get_host()
    assert (r0["apis"], r0["host_spans"]) == ("launch", "off")
