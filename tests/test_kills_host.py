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


def one_step(kernels, api, spans=(), step=(-60, 2000), copies=(), sets=(), index=0):
    """One eager step; times relative to T0. ``kernels``: (start, end, name, correlation);
    ``api``: (start, end, name, correlation, thread); ``spans``: (start, end, name, kind,
    depth, parent, thread); ``copies``/``sets``: (start, end, correlation)."""
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {"index": [index], "mode": [t.intern("eager")],
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


def test_one_ns_pieces_at_call_edges_and_launch_calls_by_name():
    """A call holds [start, end): the 1-ns call cuA [200, 201) owns its nanosecond, and
    the nanosecond [300, 301) between cuB's end and cuC's start is nobody's. The first API
    row is an "other" call (cuB), and the two launch calls have different names, each
    charged its own time."""
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(250, 300, "cuB", 0, A), (-50, -10, "cuLaunchKernelEx", 1, A), (200, 201, "cuA", 0, A),
                  (301, 400, "cuC", 0, A), (800, 1000, "cudaLaunchKernel", 2, A)])
    h = TraceAnalysis(t).get_host()
    hot = dict(zip(h["hotspots"]["name"], h["hotspots"]["ns_per_step"]))
    assert hot == {"cuA": 1, "cuB": 50, "cuC": 99, "cuLaunchKernelEx": 40, "cudaLaunchKernel": 200,
                   host.NO_SPAN: 20 + (200 - 100) + (250 - 201) + 1 + (800 - 400)}


def test_ten_hotspots_unless_asked_and_a_one_ns_idle_share():
    """Twelve other-API calls in one gap: the report lists ten hotspots, or n of them. A
    step whose only launch-bound idle is 1 ns: that nanosecond is its whole share; one
    kernel: the CPU time per launch is the whole step's."""
    calls = [(100 + 50 * i, 140 + 50 * i, f"cuCall{i:02d}", 0, A) for i in range(12)]
    t = one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), *calls, (800, 1000, "cudaLaunchKernel", 2, A)])
    a = TraceAnalysis(t)
    assert len(host.report(t, a.attribution)["hotspots"]["name"]) == 10
    assert len(a.get_host(11)["hotspots"]["name"]) == 11 and len(a.get_host(20)["hotspots"]["name"]) == 14
    assert len(host.hotspots(t, a.attribution, host.split(t, a.attribution))["name"]) == 10
    assert len(host.by_type(t, a.attribution, host.split(t, a.attribution))["name"]) == 10
    assert len(a.get_host(11)["by_type"]["name"]) == 11 and len(host.report(t, a.attribution)["by_type"]["name"]) == 10
    t1 = one_step([(0, 100, "k1", 1)], [(-1, 0, "cudaLaunchKernel", 1, A)], step=(-1, 200))
    h = TraceAnalysis(t1).get_host()
    assert h["hotspots"]["share_of_launch_idle"] == [1.0] and h["hotspots"]["ns_per_step"] == [1.0]
    assert h["by_type"]["share_of_launch_idle"] == [1.0]
    assert h["per_step"]["launch_api_ns_per_launch"].tolist() == [1.0]
    assert h["per_step"]["framework_ns_per_launch"].tolist() == [200.0]


def test_per_step_arrays_cover_steps_without_calls_on_the_thread():
    """Step 1's calls run on another thread: its CPU time per launch is 0 in the launch API
    and its whole window outside API calls; the arrays still have one entry per step."""
    from stepscope.analysis.trace.merge import concat
    t = concat([constructed(0, 0), constructed(10_000, 1)])
    t["api"]["thread_id"][t["api"]["step"] == 1] = A + 1
    ps = TraceAnalysis(t).get_host()["per_step"]
    assert ps["launch_api_total_ns"].tolist() == [190, 0] and ps["api_total_ns"].tolist() == [290, 0]
    assert ps["framework_ns_per_launch"].tolist() == [385.0, 530.0]


def test_steps_without_launch_bound_idle():
    """A step whose kernel starts as it opens has no launch-bound gap: its split is 0 ns,
    whether or not an earlier step had one, and the per-step arrays cover every step."""
    from stepscope.analysis.trace.merge import concat
    quiet = one_step([(10_000, 10_100, "k", 7)], [(10_000, 10_001, "cudaLaunchKernel", 7, A)],
                     step=(10_000, 10_100), index=1)
    ps = TraceAnalysis(quiet).get_host()["per_step"]
    assert (ps["launch_api_ns"].tolist(), ps["other_api_ns"].tolist(), ps["framework_ns"].tolist()) == ([0], [0], [0])
    ps = TraceAnalysis(concat([constructed(0, 0), quiet])).get_host()["per_step"]
    assert ps["launch_api_ns"].tolist() == [140, 0] and ps["framework_ns"].tolist() == [320, 0]


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
    # the only launch call found is API row 0; the leading gap's is not found: "-"
    assert list(zip(h["hotspots"]["what"], h["hotspots"]["name"], h["hotspots"]["ns_per_step"])) == [
        ("framework", host.NO_SPAN, 760.0), ("API call", "cudaLaunchKernel", 200.0)]
    lg = h["longest_gaps"]
    assert lg["gap_ns"] == [900, 60] and lg["launch_api"] == ["cudaLaunchKernel", "-"] and lg["next_kernel"] == ["k2", "k1"]


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
    shares are of all launch-bound idle (1120 ns); kinds: API call (a launch call and other
    calls of one name are one row), operator, module, and framework for time in no span;
    sorted by time, ties with API calls first; n cuts."""
    from stepscope.analysis.trace.merge import concat
    t = concat([constructed(0, 0), constructed(10_000, 1)])
    t["host_spans"]["kind"][1] = HostSpanKind.OPERATOR          # step 0's m.attn as an operator span
    a = TraceAnalysis(t)
    hot = host.hotspots(t, a.attribution, host.split(t, a.attribution))
    got = list(zip(hot["what"], hot["name"], hot["ns_per_step"], hot["share_of_launch_idle"]))
    assert got == [("operator", "m.attn", 200.0, 400 / 1120), ("API call", "cudaLaunchKernel", 140.0, 280 / 1120),
                   ("API call", "cuLibraryLoadData", 100.0, 200 / 1120), ("module", "m", 100.0, 200 / 1120),
                   ("framework", host.NO_SPAN, 20.0, 40 / 1120)]
    assert host.hotspots(t, a.attribution, host.split(t, a.attribution), n=2)["name"] == ["m.attn", "cudaLaunchKernel"]


def test_hotspots_without_host_spans_are_framework_no_span():
    t = constructed()
    t.tables["host_spans"] = table_from_rows("host_spans", {"start_ns": []})
    hot = TraceAnalysis(t).get_host()["hotspots"]
    assert list(zip(hot["what"], hot["name"], hot["ns_per_step"])) == [
        ("framework", host.NO_SPAN, 320.0), ("API call", "cudaLaunchKernel", 140.0),
        ("API call", "cuLibraryLoadData", 100.0)]


def layers_step():
    """Before K2 [1000, 1100): model.layers.0.self_attn [100, 320), model.layers.1.self_attn
    [320, 500), lm_head [500, 800), K2's launch call [800, 1000); the leading gap [-60, 0)
    holds K1's launch call [-50, -10). Launch 240 ns, other API 0, framework 720 (220 + 180
    in the two layers' spans, 300 in lm_head, 20 in none) of 960."""
    return one_step([(0, 100, "k1", 1), (1000, 1100, "k2", 2)],
                    [(-50, -10, "cudaLaunchKernel", 1, A), (800, 1000, "cudaLaunchKernel", 2, A)],
                    spans=[(100, 320, "model.layers.0.self_attn", HostSpanKind.MODULE, 0, -1, TID),
                           (320, 500, "model.layers.1.self_attn", HostSpanKind.MODULE, 0, -1, TID),
                           (500, 800, "lm_head", HostSpanKind.MODULE, 0, -1, TID)])


def test_module_type_and_by_type_add_up_layers():
    """Module spans of one type over layers add up; operators and API calls keep their
    own names (an operator named like a layer path is not merged)."""
    assert host.module_type("model.layers.12.self_attn") == "model.layers.*.self_attn"
    assert host.module_type("model.layers.12") == "model.layers.*"
    assert host.module_type("layer12.x") == "layer12.x" and host.module_type("a.1b.c") == "a.1b.c"
    g = TraceAnalysis(layers_step()).get_host()["by_type"]
    assert list(zip(g["what"], g["name"], g["ns_per_step"], g["share_of_launch_idle"], g["spans"])) == [
        ("module", "model.layers.*.self_attn", 400.0, 400 / 960, 2), ("module", "lm_head", 300.0, 300 / 960, 1),
        ("API call", "cudaLaunchKernel", 240.0, 240 / 960, 1), ("framework", host.NO_SPAN, 20.0, 20 / 960, 1)]
    t = layers_step()
    t["host_spans"]["kind"][:2] = HostSpanKind.OPERATOR
    g = TraceAnalysis(t).get_host()["by_type"]
    assert [n for w, n in zip(g["what"], g["name"]) if w == "operator"] == ["model.layers.0.self_attn",
                                                                          "model.layers.1.self_attn"]


def test_verdict_text():
    """First line: the three parts, largest first, whole percent. Second: the largest host
    cost over all layers (with its span count and its largest member), an API call, or the
    framework code: unnamed without host spans, 'outside any host span' with them."""
    assert TraceAnalysis(layers_step()).get_host()["verdict"] == (
        "the GPU waited for framework code between API calls 75%, launch calls 25%, other API calls 0%\n"
        "largest: module model.layers.*.self_attn, 42% (2 spans; the most, model.layers.0.self_attn, 23%)")
    assert TraceAnalysis(constructed()).get_host()["verdict"] == (
        "the GPU waited for framework code between API calls 57%, launch calls 25%, other API calls 18%\n"
        "largest: module m.attn, 36%")
    t = constructed()
    t.tables["host_spans"] = table_from_rows("host_spans", {"start_ns": []})
    assert TraceAnalysis(t).get_host()["verdict"].endswith(
        "\nthe framework code is not named: capture with `stepscope trace --host-spans` to name the module")
    t = constructed()
    t["host_spans"]["thread_id"][:] = TID + 1           # spans recorded, none on the launching thread
    assert TraceAnalysis(t).get_host()["verdict"].endswith("\nlargest: framework code outside any host span, 57%")
    ps = {"launch_api_ns": np.array([100]), "other_api_ns": np.array([300]), "framework_ns": np.array([100])}
    hot = {"what": ["API call"], "name": ["cuX"], "share_of_launch_idle": [0.6]}
    groups = {"what": ["API call"], "name": ["cuX"], "share_of_launch_idle": [0.6], "spans": [1]}
    assert host.verdict(ps, hot, groups, True) == ("the GPU waited for other API calls 60%, launch calls 20%, "
                                                   "framework code between API calls 20%\nlargest: API call cuX, 60%")
    groups = {"what": ["module"], "name": ["m.*"], "share_of_launch_idle": [0.7], "spans": [3]}
    assert host.verdict(ps, hot, groups, True).endswith("\nlargest: module m.*, 70% (3 spans)")
    assert host.verdict(ps, hot, {"name": []}, True) == ("the GPU waited for other API calls 60%, launch calls "
                                                          "20%, framework code between API calls 20%")
    zero = {k: np.zeros(1, np.int64) for k in ps}
    assert host.verdict(zero, hot, groups, True) == "no launch-bound idle: the GPU never waited for the CPU."


def test_longest_gaps_name_what_ended_them():
    """Three launch-bound gaps ended by a memcpy, a kernel and a memset (500, 300, 200 ns):
    longest first, each with its ending record, launch call, the innermost span holding
    its middle (a span holds [start, end)) and the other API calls inside; n cuts the list."""
    t = one_step([(0, 100, "void gemm_kernel<float>(float*)", 1)],
                 [(-50, -10, "cudaLaunchKernel", 1, A), (100, 600, "cudaMemcpyAsync", 2, A),
                  (700, 900, "cuMemsetD8Async", 3, A), (1000, 1300, "cudaLaunchKernel", 4, A),
                  (1100, 1150, "cudaMalloc", 0, A), (650, 700, "cuEndsAtGapStart", 0, A),
                  (900, 950, "cuStartsAtGapEnd", 0, A)],
                 spans=[(50, 1400, "m", HostSpanKind.MODULE, 0, -1, TID),
                        (300, 600, "m.copy", HostSpanKind.MODULE, 1, 0, TID),       # holds 350, not 266
                        (600, 800, "m.tail", HostSpanKind.MODULE, 1, 0, TID),       # ends at the middle 800
                        (1000, 1400, "m.mlp", HostSpanKind.MODULE, 1, 0, TID),
                        (1150, 1300, "m.mlp.up", HostSpanKind.MODULE, 2, 3, TID)],  # starts at the middle 1150
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
    assert lg["span"] == ["m.copy", "m.mlp.up", "m"]
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


def test_a_gap_ended_by_the_first_record_names_it():
    """With no kernels, record 0 is a copy or a set: the leading gap it ends names it."""
    for copies, sets, what in (([(100, 200, 1)], [], "memcpy"), ([], [(100, 200, 1)], "memset")):
        t = one_step([], [(0, 50, "cudaMemcpyAsync" if copies else "cudaMemsetAsync", 1, A)], step=(-60, 300),
                     copies=copies, sets=sets)
        a = TraceAnalysis(t)
        lg = host.longest_gaps(t, a.attribution, host.split(t, a.attribution))
        assert lg["next_kernel"] == [what] and lg["gap_ns"] == [160], what
