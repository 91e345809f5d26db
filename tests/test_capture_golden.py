"""Golden tests on the synthetic workload captured on an H100 (traces/synthetic-h100):
eager steps of 401 kernels (one copy, one GEMV, 200 x (mul_, add_) minus none), graph
steps of the same chain captured as one CUDA graph."""
import numpy as np
import pytest

from conftest import trace_path
from stepscope.analysis.dram import bytes_between
from stepscope.analysis.trace import Trace


@pytest.fixture(params=["synthetic-h100", "synthetic-h200"])
def t(request):
    return Trace.load(trace_path(request.param))


def test_kernels_per_step(t):
    k, st = t["kernels"], t["steps"]
    modes = np.array([t.strings[m] for m in st["mode"]])
    per = np.array([(k["step"] == s).sum() for s in st["index"]])
    # 1 copy + 1 GEMV (cuBLAS may add a split-K reduction) + 400 tiny elementwise kernels
    assert set(per[modes == "eager"]) == {401}
    assert len(set(per[modes == "graph"])) == 1 and per[modes == "graph"][0] >= 401


def test_graph_ids_on_graph_steps_only(t):
    k, st = t["kernels"], t["steps"]
    for s, m in zip(st["index"], st["mode"]):
        gid = k["graph_id"][k["step"] == s]
        if t.strings[m] == "graph":
            assert (gid > 0).all() and len(np.unique(gid)) == 1
        else:
            assert (gid == 0).all()


def test_every_record_in_exactly_one_step(t):
    k, a = t["kernels"], t["api"]
    assert (k["step"] >= 0).all()
    # Each kernel's step is its launch call's step (same correlation id).
    step_of = dict(zip(a["correlation"].tolist(), a["step"].tolist()))
    assert all(step_of[c] == s for c, s in zip(k["correlation"].tolist(), k["step"].tolist()))
    assert sum((k["step"] == s).sum() for s in t["steps"]["index"]) == t.n("kernels")
    # The one memset outside every step is the tracer's priming memset.
    assert (t["memset"]["step"] < 0).sum() == t.meta["capture"]["memset_outside_steps"] == 1
    assert t.meta["capture"]["kernels_without_launch_call"] == 0
    assert t.meta["capture"]["dropped_records"] == 0


def test_pm_samples_cover_every_step(t):
    from stepscope.analysis.dram import coverage, valid
    pm, cap, st = t["pm"], t.meta["capture"], t["steps"]
    ok = valid(pm)
    assert ok.sum() > 1000 and (~ok).sum() <= 1   # CUPTI's first sample has no start time
    assert pm["end_ns"][ok].max() <= cap["end_ns"]
    assert np.all(coverage(pm, st["start_ns"], st["end_ns"]) > 0.99)
    # Consecutive samples tile time at the configured interval.
    s = np.sort(pm["start_ns"][ok])
    assert abs(np.median(np.diff(s)) - cap["dram_interval_ns"]) < 0.05 * cap["dram_interval_ns"]


def test_dram_bytes_per_step_match_the_buffers(t):
    st, wl = t["steps"], t.meta["workload"]
    rd = bytes_between(t["pm"], st["start_ns"], st["end_ns"], "dram_read_bytes")
    wr = bytes_between(t["pm"], st["start_ns"], st["end_ns"], "dram_write_bytes")
    want_read = wl["copy_read_bytes"] + wl["gemv_read_bytes"]
    want_write = wl["copy_write_bytes"]
    # Reads: the 256 MiB copy source and the 128 MiB matrix, once each, within 5%.
    assert np.all(np.abs(rd / want_read - 1) < 0.05), rd / want_read
    assert np.all(np.abs(wr / want_write - 1) < 0.05), wr / want_write


def test_peak_bandwidth_is_the_nvml_formula(t):
    g = t.meta["gpu"]
    assert g["peak_bytes_per_s"] == g["memory_bus_width_bits"] // 8 * g["max_memory_clock_mhz"] * 10**6 * 2
    assert g["peak_bytes_per_s"] > 3e12


def test_steps_record_clocks_and_throttle_reasons(t):
    st = t["steps"]
    assert (st["sm_clock_mhz"] > 0).all() and (st["mem_clock_mhz"] > 0).all()
    assert (st["throttle_reasons"] >= 0).all() and (st["power_mw"] > 0).all()
    assert t.meta["host"]["cpu_model"] and t.meta["host"]["versions"]["torch"]
