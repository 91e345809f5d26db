"""The decode traces recorded on an H100 (and the H200 for Qwen): the shape of each mode."""
import re

import numpy as np
import pytest

from conftest import trace_path
from stepscope.analysis.trace import Trace

CELLS = [(m, mode, gpu) for m in ("qwen2.5-7b", "llama-3.1-8b", "mistral-7b-v0.3")
         for mode in ("eager", "eager-static", "graph") for gpu in ("h100",)] + \
    [("qwen2.5-7b", mode, "h200") for mode in ("eager", "eager-static", "graph")]
KERNEL_LAUNCH = re.compile(r"^cu(da)?LaunchKernel")


def load(model, mode, gpu):
    return Trace.load(trace_path(f"{model}-ctx2048-{mode}-{gpu}"))


def per_step(t, table, mask=None):
    tab = t[table]
    m = np.ones(t.n(table), bool) if mask is None else mask
    return np.array([((tab["step"] == s) & m).sum() for s in t["steps"]["index"]])


@pytest.mark.parametrize("model, mode, gpu", CELLS)
def test_kernels_per_step_identical_across_steps(model, mode, gpu):
    t = load(model, mode, gpu)
    per = per_step(t, "kernels")
    assert len(t["steps"]["index"]) >= 3 and len(set(per)) == 1 and per[0] > 1000
    wl = t.meta["workload"]
    assert (wl["model"], wl["mode"], wl["ctx"], wl["dtype"], wl["batch"]) == (model, mode, 2048, "bfloat16", 1)
    assert len(wl["untraced_step_ns"]) == 30


@pytest.mark.parametrize("model, mode, gpu", CELLS)
def test_launch_calls_match_the_mode(model, mode, gpu):
    t = load(model, mode, gpu)
    names = t.names("api")
    kern = per_step(t, "kernels")
    launches = per_step(t, "api", np.array([bool(KERNEL_LAUNCH.match(n)) for n in names], bool))
    graphs = per_step(t, "api", np.array([n.endswith("GraphLaunch") for n in names], bool))
    if mode == "graph":
        assert set(graphs) == {1} and set(launches) == {0}
        assert (t["kernels"]["graph_id"][t["kernels"]["step"] >= 0] > 0).all()
    else:
        assert set(graphs) == {0}
        np.testing.assert_array_equal(launches, kern)   # one launch call per kernel
        assert (t["kernels"]["graph_id"] == 0).all()
        # Each memset record has its cudaMemsetAsync call.
        sets = per_step(t, "api", np.array(["Memset" in n for n in names], bool))
        np.testing.assert_array_equal(sets, per_step(t, "memset"))


@pytest.mark.parametrize("model, mode, gpu", CELLS)
def test_capture_was_complete(model, mode, gpu):
    cap = load(model, mode, gpu).meta["capture"]
    assert cap["dropped_records"] == 0 and cap["dram_status"] == "ok" and cap["pm_overflows"] == 0
    assert cap["kernels_without_launch_call"] == 0


def test_kernel_names_are_demangled():
    t = load("qwen2.5-7b", "eager", "h100")
    names = t.names("kernels")
    assert not any(n.startswith("_Z") for n in names)
    assert any("at::native::" in n for n in names)


def test_long_capture_keeps_every_pm_sample():
    # 8 eager steps, ~0.9 s under the tracer: more samples than one 20,000-sample decode
    # image held (the first recorder lost them; see the Llama trace below).
    from stepscope.analysis.dram import coverage
    t = Trace.load(trace_path("qwen2.5-7b-ctx2048-eager-8steps-h100"))
    st = t["steps"]
    assert t.n("pm") > 40_000
    assert np.all(coverage(t["pm"], st["start_ns"], st["end_ns"]) > 0.999)
    assert t.meta["capture"]["pm_truncated_decodes"] == 0 and t.meta["capture"]["dram_status"] == "ok"


def test_truncated_dram_samples_are_flagged_not_hidden():
    import subprocess
    import sys

    from conftest import ROOT
    r = subprocess.run([sys.executable, "-m", "stepscope", "report",
                        str(trace_path("llama-3.1-8b-ctx2048-eager-h100"))], cwd=ROOT,
                       capture_output=True, text=True)
    assert "WARNING: the DRAM samples do not cover every step (step 2 30%)" in r.stdout
