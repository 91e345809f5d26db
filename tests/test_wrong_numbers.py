"""Tests written to catch wrong numbers that every earlier test let through (issue #20's
mutation audit): DRAM bytes scaled in the attribution, GB/s over the wrong time, DRAM of
the calibration chain, splitK reduce kernels out of the GEMM class, a comparison taking
the mean. Expectations are computed here, independently of the code under test."""
import re

import numpy as np
import pytest

from conftest import trace_path
from stepscope.analysis import dram
from stepscope.analysis.attribution import attribute
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.kernel_classes import KernelClass, classify_name
from stepscope.analysis.render.console import ConsoleRenderer
from stepscope.analysis.results.sweep import compare
from stepscope.analysis.trace import load

MIB = 2 ** 20


def _bytes_in(pm, column, lo, hi):
    """Independent integration: each PM sample's bytes spread evenly over its interval."""
    s, e, b = pm["start_ns"], pm["end_ns"], pm[column].astype(float)
    ok = (s > 0) & (e > s)
    s, e, b = s[ok], e[ok], b[ok]
    over = np.clip(np.minimum(e, hi) - np.maximum(s, lo), 0, None)
    return float((b * over / (e - s)).sum())


@pytest.mark.parametrize("name", ["qwen2.5-7b-ctx2048-graph-h100", "qwen2.5-7b-ctx2048-eager-h200"])
def test_step_dram_is_the_integral_of_the_samples(name):
    t = load(trace_path(name))
    s = attribute(t)["steps"]
    for i in range(len(s["step"])):
        lo, hi = s["start_ns"][i], s["end_ns"][i]
        for col in ("dram_read_bytes", "dram_write_bytes"):
            assert s[col][i] == pytest.approx(_bytes_in(t["pm"], col, lo, hi), rel=1e-9, abs=1)
        total = s["dram_read_bytes"][i] + s["dram_write_bytes"][i]
        # GB/s over the step, not over busy time
        assert s["dram_bytes_per_s"][i] == pytest.approx(total / s["step_ns"][i] * 1e9, rel=1e-6)


def test_report_prints_gbps_over_step_and_over_busy():
    a = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-graph-h100"))
    s = a.get_steps()
    text = ConsoleRenderer().render(a)
    m = re.search(r"DRAM measured ([\d.]+) GB/step, (\d+) GB/s over the step, (\d+) GB/s over busy time", text)
    assert m, text
    gb = np.median(s["dram_read_bytes"] + s["dram_write_bytes"]) / 1e9
    assert float(m.group(1)) == pytest.approx(gb, abs=5e-4)
    assert int(m.group(2)) == pytest.approx(np.median(s["dram_bytes_per_s"]) / 1e9, abs=0.5)
    assert int(m.group(3)) == pytest.approx(gb / (np.median(s["busy_ns"]) / 1e9), abs=0.5)
    assert int(m.group(3)) > int(m.group(2)) + 50          # busy is shorter than the step


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_chain_dram_per_step_and_per_read_kernel(gpu):
    """Ground truth: each step reads 16 x 256 MiB; the null kernels read nothing. Per step,
    measured reads match within 0.01% (read + write within 0.25%). Per kernel, a method
    without smear would give the read kernels all of it and the null kernels none; the
    tolerances here (read kernels 90-101%, null kernels under 5%) hold for such a method
    and for the current constant-rate-per-sample one (93.5% / 91.0%, issue #15 improves it)."""
    t = load(trace_path(f"chain-{gpu}"))
    s = attribute(t)["steps"]
    built = 16 * 256 * MIB
    assert t.meta["workload"]["read_kernels"] * t.meta["workload"]["read_bytes_each"] == built
    assert np.all(np.abs(s["dram_read_bytes"] / built - 1) < 1e-4)
    assert np.all(np.abs((s["dram_read_bytes"] + s["dram_write_bytes"]) / built - 1) < 2.5e-3)
    k, names = t["kernels"], t.names("kernels")
    n_steps = len(s["step"])
    for name, lo, hi in (("read_reduce", 0.90, 1.01), ("null_kernel", 0.0, 0.05)):
        m = (names == name) & (k["step"] >= 0)
        assert m.sum() == n_steps * (16 if name == "read_reduce" else 192)
        got = dram.bytes_between(t["pm"], k["start_ns"][m], k["end_ns"][m], "dram_read_bytes").sum()
        assert lo <= got / (n_steps * built) <= hi, (name, got / (n_steps * built))


def test_splitk_reduce_kernels_are_gemm():
    t = load(trace_path("qwen2.5-7b-ctx2048-graph-h100"))
    split = [x for x in t.strings if "splitKreduce" in x]
    assert split, "the graph trace has cuBLAS splitK reduce kernels"
    assert {classify_name(x) for x in split} == {KernelClass.GEMM}
    assert classify_name("nvjet_sm90_tst_64x8_64x16_2x1_v_bz_splitK_TNT") == KernelClass.GEMM
    # ... while a plain torch reduction stays a reduction
    assert classify_name("void at::native::reduce_kernel<512, 1, ArgMaxOps<float>>") == KernelClass.REDUCTION


def _cell(gpu, peak, model, mode, ms, pct):
    return {"valid": True, "gpu": gpu, "peak_bytes_per_s": peak, "model": model, "ctx": 2048,
            "mode": mode, "median_ms": ms, "pct_floor_all": pct}


def test_compare_takes_medians_not_means():
    # three models; one outlier each, so the mean and the median differ
    cells = []
    for model, eager, graph, pe, pg in (("a", 20.0, 10.0, 5.0, 40.0), ("b", 30.0, 10.0, 6.0, 41.0),
                                        ("c", 100.0, 10.0, 30.0, 90.0)):
        cells += [_cell("G1", 1e12, model, "eager", eager, pe), _cell("G1", 1e12, model, "graph", graph, pg)]
    r = compare([cells])["gpus"][0]
    assert r["pct_floor_all_eager"] == 6.0 and r["pct_floor_all_graph"] == 41.0
    assert r["graph_speedup_median"] == 3.0
