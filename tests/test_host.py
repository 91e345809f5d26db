"""The host side of launch-bound idle: the exact split (launch API / other API /
framework by innermost span) on a constructed trace, the thread-id match with CUPTI's
32-bit ids, and the merge of several captures' host spans."""
import numpy as np
import pytest

from stepscope.analysis import host
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gaps import GapCause
from stepscope.analysis.trace import Trace, table_from_rows
from stepscope.analysis.trace.merge import concat
from stepscope.analysis.trace.model import DOMAIN_DRIVER, DOMAIN_RUNTIME, HostSpanKind

TID = 0x7F46D7261140          # pthread_self(); CUPTI reports its low 32 bits


def constructed(offset_ns=0, step=0):
    """One step [-60, 1000): K1's launch call runs [-50, -10), K1 [0, 100), then a gap
    until K2 [600, 700). K2's launch call runs [500, 650); cuLibraryLoadData runs [200, 300);
    module m spans [50, 900) with its child m.attn [150, 450). Expected split: of the
    leading gap [-60, 0): launch API 40, no span 20; of the gap [100, 600): launch API 100,
    other API 100 (cuLibraryLoadData), framework 300 (m.attn 200, m 100)."""
    t = Trace()
    o = offset_ns
    t.tables["steps"] = table_from_rows("steps", {"index": [step], "mode": [t.intern("eager")],
                                                  "start_ns": [o - 60], "end_ns": [o + 1000]})
    k = t.intern("kernel")
    t.tables["kernels"] = table_from_rows("kernels", {"start_ns": [o, o + 600], "end_ns": [o + 100, o + 700],
                                                      "name": [k, k], "correlation": [10 + step * 100, 12 + step * 100],
                                                      "graph_id": [0, 0], "stream": [7, 7]})
    t.tables["api"] = table_from_rows("api", {
        "start_ns": [o - 50, o + 200, o + 500], "end_ns": [o - 10, o + 300, o + 650],
        "name": [t.intern("cudaLaunchKernel"), t.intern("cuLibraryLoadData"), t.intern("cudaLaunchKernel")],
        "domain": [DOMAIN_RUNTIME, DOMAIN_DRIVER, DOMAIN_RUNTIME], "thread_id": [TID & 0xFFFFFFFF] * 3,
        "correlation": [10 + step * 100, 11 + step * 100, 12 + step * 100]})
    t.tables["host_spans"] = table_from_rows("host_spans", {
        "start_ns": [o + 50, o + 150], "end_ns": [o + 900, o + 450], "name": [t.intern("m"), t.intern("m.attn")],
        "kind": [HostSpanKind.MODULE] * 2, "depth": [0, 1], "parent": [-1, 0], "thread_id": [TID, TID]})
    from stepscope.analysis.trace.steps import assign_steps
    assign_steps(t)
    return t


def test_split_is_exact_and_names_the_span():
    a = TraceAnalysis(constructed())
    g = a.get_gaps()
    assert g["cause"][g["gap_ns"] == 500].tolist() == [GapCause.LAUNCH]
    h = a.get_host()
    ps = h["per_step"]
    assert (ps["launch_api_ns"][0], ps["other_api_ns"][0], ps["framework_ns"][0]) == (140, 100, 320)
    assert ps["launch_api_ns"][0] + ps["other_api_ns"][0] + ps["framework_ns"][0] == \
        a.get_steps()["launch_overhead_ns"][0] == 560
    hot = dict(zip(h["hotspots"]["name"], h["hotspots"]["ns_per_step"]))
    assert hot["m.attn"] == 200 and hot["m"] == 100 and hot["cuLibraryLoadData"] == 100
    assert hot["cudaLaunchKernel"] == 140 and hot[host.NO_SPAN] == 20
    lg = h["longest_gaps"]
    assert lg["gap_ns"][0] == 500 and lg["span"][0] == "m.attn" and lg["apis_inside"][0] == ["cuLibraryLoadData"]
    assert "framework" in h["verdict"] and "m.attn" in h["verdict"]


def test_spans_on_another_thread_are_not_charged():
    t = constructed()
    t["host_spans"]["thread_id"][:] = TID + 1
    hot = TraceAnalysis(t).get_host()["hotspots"]
    assert "m.attn" not in hot["name"] and host.NO_SPAN in hot["name"]


def test_merged_captures_keep_span_parents():
    merged = concat([constructed(0, 0), constructed(10_000, 1)])
    s = merged["host_spans"]
    assert s["parent"].tolist() == [-1, 0, -1, 2]
    ps = TraceAnalysis(merged).get_host()["per_step"]
    assert ps["framework_ns"].tolist() == [320, 320]
    with pytest.raises(ValueError, match="share step indices"):
        concat([constructed(0, 0), constructed(10_000, 0)])


def test_version_1_traces_have_empty_host_tables(traces_dir):
    t = Trace.load(traces_dir / "qwen2.5-7b-ctx2048-eager-h100.stepscope")
    assert t.n("host_spans") == t.n("nvml") == 0
    h = TraceAnalysis(t).get_host()
    np.testing.assert_array_equal(h["per_step"]["launch_api_ns"] + h["per_step"]["other_api_ns"]
                                  + h["per_step"]["framework_ns"], TraceAnalysis(t).get_steps()["launch_overhead_ns"])


@pytest.fixture(scope="module")
def eager_h100(traces_dir):
    return TraceAnalysis(traces_dir / "qwen2.5-7b-ctx2048-eager-host-h100.stepscope")


def test_recorded_eager_step_names_the_cudnn_gap(eager_h100):
    """The re-recorded eager dynamic-cache trace: every step has one 35-59 ms launch-bound gap
    in layer 0's attention, ended by cuDNN's SDPA kernel, with a cuLibraryLoadData inside."""
    h = eager_h100.get_host()
    ps = h["per_step"]
    idle = eager_h100.get_steps()["launch_overhead_ns"]
    np.testing.assert_array_equal(ps["launch_api_ns"] + ps["other_api_ns"] + ps["framework_ns"], idle)
    hot = dict(zip(h["hotspots"]["name"], h["hotspots"]["ns_per_step"]))
    assert h["hotspots"]["name"][0] == "model.layers.0.self_attn" and 40e6 < hot["model.layers.0.self_attn"] < 60e6
    lg = h["longest_gaps"]
    cudnn = [i for i in range(len(lg["step"])) if lg["span"][i] == "model.layers.0.self_attn"]
    assert len(cudnn) >= 2
    for i in cudnn:
        assert lg["next_kernel"][i].startswith("cudnn_generated_fort_native_sdpa") and lg["launch_api"][i] == "cuLaunchKernelEx"
        assert "cuLibraryLoadData" in lg["apis_inside"][i] and 35e6 < lg["gap_ns"][i] < 60e6
    assert "model.layers.0.self_attn" in h["verdict"]


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_the_ab_without_cudnn_sdpa_removes_the_gap(traces_dir, gpu):
    with_ = TraceAnalysis(traces_dir / f"qwen2.5-7b-ctx2048-eager-host-{gpu}.stepscope")
    without = TraceAnalysis(traces_dir / f"qwen2.5-7b-ctx2048-eager-sdpa-no-cudnn-host-{gpu}.stepscope")
    assert without.trace.meta["workload"]["sdpa_backend"] == "no-cudnn"
    assert max(without.get_host()["longest_gaps"]["gap_ns"]) < 1e6 < 35e6 < min(
        g for g, s in zip(with_.get_host()["longest_gaps"]["gap_ns"], with_.get_host()["longest_gaps"]["span"])
        if s == "model.layers.0.self_attn")
    untraced = lambda a: np.median(a.trace.meta["workload"]["untraced_step_ns"])  # noqa: E731
    assert untraced(with_) - untraced(without) > 35e6      # ~42 ms a step, untraced


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_known_busy_waits_are_recovered_within_5_percent(traces_dir, gpu):
    from stepscope.profiler.workloads.host_spin import SPINS_US
    a = TraceAnalysis(traces_dir / f"host-spin-{gpu}.stepscope")
    calls = a.trace.meta["workload"]["calls_per_step"]
    hot = {n: ns for w, n, ns in zip(*(a.get_host(50)["hotspots"][k] for k in ("what", "name", "ns_per_step")))
           if w == "module"}
    for path, us in SPINS_US.items():
        assert abs(hot[path] / (us * 1000 * calls) - 1) < 0.05, (path, hot[path])


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_recorded_traces_carry_their_perturbation_and_nvml(traces_dir, gpu):
    for mode in ("eager", "eager-static", "graph"):
        t = Trace.load(traces_dir / f"qwen2.5-7b-ctx2048-{mode}-host-{gpu}.stepscope")
        p = t.meta["perturbation"]
        assert p["rounds"] == 3 and len(p["ci95_pct"]) == 2 and p["step_call_outside_window_ns"] < 100_000
        assert t.n("nvml") > 0 and (t["steps"]["sm_clock_mhz"] > 0).all() and (t["steps"]["energy_mj"] > 0).all()
        assert t.meta["capture"]["nvml_energy_counter"]["energy_mj"] > 0


def test_exports_and_timelines_show_host_spans(eager_h100, tmp_path):
    from stepscope.analysis.render.figures import timeline
    from stepscope.analysis.render.perfetto import iter_events
    ev = list(iter_events(eager_h100.trace))
    spans = [e for e in ev if e.get("cat") == "host module"]
    launches = {e["tid"] for e in ev if e.get("cat") == "launch"}
    assert len(spans) == eager_h100.trace.n("host_spans") and {e["tid"] for e in spans} <= launches
    assert any(e["name"] == "model.layers.0.self_attn" for e in spans)
    out = tmp_path / "t.svg"
    timeline([eager_h100], out, step=2, window_ms=(0, 3))
    assert "CPU: host spans" in out.read_text()


def test_torch_profiler_operator_spans_name_the_same_cause(traces_dir):
    """The Kineto import carries cpu_op spans (nested by containment per thread): on the
    shipped torch.profiler trace of the eager step the top host hotspot is cuDNN attention."""
    from stepscope.analysis.trace import load, workload
    from stepscope.profiler.workloads.decode import resolve_model
    t = load(traces_dir / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz")
    s = t["host_spans"]
    assert t.n("host_spans") > 10_000 and (s["kind"] == HostSpanKind.OPERATOR).any()
    par = s["parent"]
    inner = par >= 0
    assert (s["start_ns"][inner] >= s["start_ns"][par[inner]]).all() and (s["end_ns"][inner] <= s["end_ns"][par[inner]]).all()
    spec = resolve_model("qwen2.5-7b")
    t.meta["workload"] = workload.decode(spec.name, spec.config, 2048)
    h = TraceAnalysis(t).get_host()
    assert h["hotspots"]["name"][0] == "aten::_cudnn_attention_forward" and h["hotspots"]["what"][0] == "operator"
    assert h["hotspots"]["share_of_launch_idle"][0] > 0.5
