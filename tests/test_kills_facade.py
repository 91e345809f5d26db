"""The facade (``analysis.facade.TraceAnalysis``) on recorded traces (issue 31). Its job is
wiring: which trace it reads, which analysis each ``get_*`` returns, with which arguments
(the step count, the busy time, the peak, the calibration, the row limits). Each test
pins one of those against figures read straight from the trace's tables, or, for a getter
that only hands its arguments on, against the analysis it names called directly."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import RESULTS, trace_path
from stepscope.analysis import dram_checks, gaps, host, kernel_tables
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.trace import load

GRAPH = "qwen2.5-7b-ctx2048-graph-h100"
OPS = "qwen2.5-7b-ctx2048-eager-ops-host-h100"          # more than ten host hotspots and kernel names
STACKS = "qwen2.5-7b-ctx2048-eager-static-stacks-h100"  # sampled stacks: more than ten frames


def test_reads_a_path_or_keeps_the_trace_it_is_given():
    """A path is loaded (the same tables as ``load``); a Trace is used as it is, not copied."""
    t = load(trace_path(GRAPH))
    a = TraceAnalysis(t)
    assert a.trace is t and a.calibration is None
    b = TraceAnalysis(str(trace_path(GRAPH)))
    assert b.trace.n("kernels") == t.n("kernels") > 0
    assert np.array_equal(b.trace["kernels"]["start_ns"], t["kernels"]["start_ns"])


def test_steps_gaps_and_peak_come_from_the_trace():
    """get_steps: one row per recorded step, its span end - start; get_gaps: the idle
    between records; get_peak: the GPU's peak bandwidth from the trace's metadata and its
    source."""
    a = TraceAnalysis(trace_path(GRAPH))
    st, s = a.trace["steps"], a.get_steps()
    assert list(s["step_ns"]) == list(st["end_ns"] - st["start_ns"])
    g = a.get_gaps()
    assert len(g["gap_ns"]) > 0 and (g["gap_ns"] > 0).all()
    assert int(g["gap_ns"].sum()) == int(s["idle_ns"].sum())
    peak, source = a.get_peak()
    assert peak == a.trace.meta["gpu"]["peak_bytes_per_s"] == 3352320000000 and source.startswith("nvml")


def test_kernel_classes_per_step_and_share_of_all_steps_busy_time():
    """Per class: time per step = the class's record time over all steps / the number of
    steps (the steps table's rows), its share = that time x steps / the steps' busy time;
    the classes' records add up to every kernel, copy and set inside a step."""
    a = TraceAnalysis(trace_path(GRAPH))
    t = a.trace
    n = len(t["steps"]["index"])
    c = a.get_kernel_classes()
    total = sum(int((t[x]["end_ns"] - t[x]["start_ns"])[t[x]["step"] >= 0].sum()) for x in ("kernels", "memcpy", "memset"))
    assert sum(c["time_ns_per_step"]) * n == pytest.approx(total, rel=1e-12)
    busy = int(a.get_steps()["busy_ns"].sum())
    np.testing.assert_allclose(c["share_of_busy"], np.asarray(c["time_ns_per_step"]) * n / busy, rtol=1e-12)
    kernels_per_step = int((t["kernels"]["step"] >= 0).sum()) / n
    assert sum(c["count_per_step"]) >= kernels_per_step


def test_top_kernels_ten_by_default_shares_of_busy():
    """Ten kernel names by default, n when asked; the top name's time per step is its
    kernels' time in steps / steps, its share that over the mean busy time per step."""
    a = TraceAnalysis(trace_path(OPS))
    assert len(a.get_top_kernels()["name"]) == 10
    assert len(a.get_top_kernels(3)["name"]) == 3
    top = a.get_top_kernels(1)
    k, t = a.trace["kernels"], a.trace
    n = len(t["steps"]["index"])
    names = t.names("kernels")
    m = (names == top["name"][0]) & (k["step"] >= 0)
    per_step = int((k["end_ns"] - k["start_ns"])[m].sum()) / n
    assert top["time_ns_per_step"][0] == pytest.approx(per_step, rel=1e-12)
    assert top["share_of_busy"][0] == pytest.approx(per_step * n / int(a.get_steps()["busy_ns"].sum()), rel=1e-12)


def test_host_and_stacks_ten_rows_by_default():
    """get_host and get_stacks list ten rows unless asked for more (the traces hold 50+
    hotspots and 30 frames), and are host.report / stacks.report of the attribution."""
    a = TraceAnalysis(trace_path(OPS))
    assert len(a.get_host()["hotspots"]["name"]) == 10
    assert len(a.get_host(12)["hotspots"]["name"]) == 12
    assert a.get_host(5)["hotspots"]["name"] == host.report(a.trace, a.attribution, 5)["hotspots"]["name"]
    b = TraceAnalysis(trace_path(STACKS))
    assert len(b.get_stacks()["innermost"]["frame"]) == 10
    assert len(b.get_stacks(12)["innermost"]["frame"]) == 12
    assert b.get_stacks()["samples"] == b.trace.n("stack_samples") > 0


def test_histogram_and_hta_comparison_of_this_traces_gaps():
    """get_gap_histogram bins this trace's gaps (the counts add up to the gaps); the HTA
    comparison counts the same internal gaps."""
    a = TraceAnalysis(trace_path(OPS))
    h = a.get_gap_histogram()
    counts = sum(int(np.sum(h[k])) for k in h if k.endswith("_count"))
    assert counts == len(a.get_gaps()["gap_ns"]) > 0
    assert a.get_hta_comparison() == gaps.hta_comparison(a.trace, a.attribution)


def test_dram_summary_of_the_pm_samples_in_the_steps():
    """get_dram: the PM samples' read bytes per step, from the samples themselves."""
    a = TraceAnalysis(trace_path(GRAPH))
    d = a.get_dram()
    pm = a.trace["pm"]
    assert d["samples"] == len(pm["start_ns"]) > 0
    assert len(d["read_bytes_per_step"]) == len(a.trace["steps"]["index"])


def test_calibration_reaches_the_summary_and_the_dram_report():
    """With a calibration (a `stepscope calibrate` result of the same GPU), the summary's
    achievable floor is the model's bytes at the calibrated bandwidth, and the per-kernel
    DRAM report takes that bandwidth; without one, neither has it."""
    cal = json.loads((RESULTS / "calibration-h100.json").read_text())
    a = TraceAnalysis(trace_path(GRAPH), calibration=cal)
    assert a.calibration is cal
    g = a.get_summary()["modes"]["graph"]
    assert g["achievable_floor_ms"] == pytest.approx(g["model_gb"] * 1e9 / cal["achievable_bytes_per_s"] * 1e3,
                                                     rel=1e-6)
    dk = a.get_dram_kernels()
    assert dk["achievable_bytes_per_s"] == cal["achievable_bytes_per_s"] and dk["achievable_source"].startswith("calib")
    b = TraceAnalysis(trace_path(GRAPH))
    assert b.get_summary()["modes"]["graph"]["achievable_floor_ms"] is None
    assert b.get_dram_kernels()["achievable_source"].startswith("peak")


def test_dram_kernels_and_record_rates_from_the_fit_at_the_traces_peak():
    """get_dram_kernels: the fit's classes and checks (a PM-sampled trace: source 'pm');
    get_dram_record_rates: one modelled rate per GPU record, bytes/ns below the peak's."""
    a = TraceAnalysis(trace_path(GRAPH))
    dk = a.get_dram_kernels()
    assert dk["source"] != "none" and dk["classes"]
    rates = a.get_dram_record_rates()
    t = a.trace
    assert len(rates) == t.n("kernels") + t.n("memcpy") + t.n("memset")
    assert (rates >= 0).all() and rates.max() <= a.get_peak()[0] / 1e9 * 1.5


def test_unmodelled_bytes_use_the_deconvolved_classes_when_there_are_any():
    """With deconvolved per-kernel bytes, the excess table is built from them (per class per
    step); without (a trace with no PM samples), from the kernel classes' interval bytes."""
    a = TraceAnalysis(trace_path(GRAPH))
    dk = a.get_dram_kernels()
    want = kernel_tables.unmodelled_bytes(a.trace.meta["workload"], a.get_steps(),
                                          dram_checks.class_bytes_per_step(dk["classes"], a.trace))
    got = a.get_unmodelled_bytes()
    assert got["class"] == want["class"] and got["class"]
    np.testing.assert_array_equal(got["measured_bytes_per_step"], want["measured_bytes_per_step"])
    assert got["measured_bytes_per_step"] != kernel_tables.unmodelled_bytes(
        a.trace.meta["workload"], a.get_steps(), a.get_kernel_classes())["measured_bytes_per_step"]
