"""Step detection (analysis/trace/detect.py) on recorded traces: `stepscope record` of HF
generate and a hand-written loop on an H200, plain torch.profiler traces of the same runs,
and the built-in traces with their step windows removed. Goldens: rule, steps, kernels."""
import time

import numpy as np
import pytest

from conftest import TRACES
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gaps import GapCause
from stepscope.analysis.trace import detect, load

H200 = "qwen2.5-7b-ctx2048"


def steps_of(t, mode="decode"):
    modes = np.array([t.strings[m] for m in t["steps"]["mode"]])
    idx = t["steps"]["index"][modes == mode]
    k = t["kernels"]
    per = np.bincount(k["step"][k["step"] >= 0], minlength=int(t["steps"]["index"].max()) + 1)
    return per[idx]


# (trace, rule, decode steps found, prefill found, median kernels per decode step)
GOLDEN = [
    (f"record-{H200}-hf-eager-h200.stepscope", detect.RULE_PERIOD, 31, 1, 1346),
    (f"record-{H200}-hf-static-h200.stepscope", detect.RULE_PERIOD, 31, 1, 1580),
    (f"record-{H200}-loop-eager-static-h200.stepscope", detect.RULE_PERIOD, 31, 1, 1540),
    (f"kineto-{H200}-loop-eager-static-h200.json.gz", detect.RULE_PERIOD, 31, 0, 1540),   # profiled after the prefill
    (f"kineto-{H200}-loop-eager-static-last4-h200.json.gz", detect.RULE_PERIOD, 4, 0, 1540),
]


@pytest.mark.parametrize("name, rule, n, prefill, kernels", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_detection_golden(name, rule, n, prefill, kernels):
    t = load(TRACES / name)
    det = t.meta["step_detection"]
    assert (det["rule"], det["decode_steps"], det["prefill"]) == (rule, n, prefill)
    assert int(np.median(steps_of(t))) == kernels


def test_record_and_torch_profiler_find_the_same_steps():
    """The same program (the hand-written eager-static loop, 32 new tokens), once under
    `stepscope record`, once under plain torch.profiler: the same 31 steps, kernel for kernel."""
    rec = steps_of(load(TRACES / f"record-{H200}-loop-eager-static-h200.stepscope"))
    tp = steps_of(load(TRACES / f"kineto-{H200}-loop-eager-static-h200.json.gz"))
    assert len(rec) == len(tp) == 31
    assert np.abs(rec - tp).max() <= 1


def test_record_matches_the_builtin_trace_per_step():
    """Per decode step, the recorded loop and the built-in eager-static trace of the same
    model on the same GPU launch the same kernels and keep the GPU busy as long (2%)."""
    rec = TraceAnalysis(load(TRACES / f"record-{H200}-loop-eager-static-h200.stepscope")).get_steps()
    ref_t = load(TRACES / f"{H200}-eager-static-builtin-ref-h200.stepscope")
    ref = TraceAnalysis(ref_t).get_steps()
    k_rec = np.median(steps_of(load(TRACES / f"record-{H200}-loop-eager-static-h200.stepscope")))
    k_ref = np.median(steps_of(ref_t, "eager-static"))
    assert abs(k_rec / k_ref - 1) <= 0.02
    assert abs(np.median(rec["busy_ns"]) / np.median(ref["busy_ns"]) - 1) <= 0.02


def test_compiled_generate_is_graph_replays_with_graph_internal_gaps():
    t = load(TRACES / f"record-{H200}-hf-compiled-h200.stepscope")
    det = t.meta["step_detection"]
    assert det["rule"] == detect.RULE_GRAPH and det["steady_steps"] >= 28
    a = TraceAnalysis(t)
    g = a.get_gaps()
    inside = g["cause"] == GapCause.GRAPH
    assert inside.sum() > 1000 and det["graph_launch_calls"] >= det["steady_steps"]


def test_one_cuda_graph_step_under_torch_profiler():
    """Issue 27: launch overhead no more than the wait from cudaGraphLaunch's start to the
    replay's first kernel; gaps inside the replay graph-internal; the profiler's start-up
    calls outside the step; the launch call's own duration reported."""
    t = load(TRACES / f"kineto-{H200}-loop-graph-1step-h200.json.gz")
    det = t.meta["step_detection"]
    assert det["rule"] == detect.RULE_WHOLE
    api = t["api"]
    names = np.array([t.strings[i] for i in api["name"]])
    gl = np.flatnonzero(names == "cudaGraphLaunch")
    assert len(gl) == 1
    wait = int(t["kernels"]["start_ns"].min() - api["start_ns"][gl[0]])
    m = next(iter(TraceAnalysis(t).get_summary()["modes"].values()))
    assert 0 < m["launch_overhead_ms"] * 1e6 <= wait
    g = TraceAnalysis(t).get_gaps()
    internal = g["cause"][g["position"] == 1]
    # every gap between the replay's kernels is graph-internal; the last is the token's copy home
    assert (internal[:-1] == GapCause.GRAPH).all() and len(internal) >= 1400 and internal[-1] == GapCause.COPY
    outside = set(names[api["step"] < 0])
    assert {"cudaDeviceSynchronize", "cudaStreamIsCapturing"} <= outside
    assert det["graph_launch_call_ns_median"] == int(api["end_ns"][gl[0]] - api["start_ns"][gl[0]])


def test_markers_removed_give_the_same_steps(tmp_path):
    """The shipped torch.profiler trace read with its ProfilerStep markers and without them:
    the same steps, kernel for kernel."""
    import gzip
    import json
    doc = json.loads(gzip.decompress((TRACES / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz").read_bytes()))
    marked = load(TRACES / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz")
    assert marked.meta["step_detection"]["rule"] == detect.RULE_PROFILER_STEP
    doc["traceEvents"] = [e for e in doc["traceEvents"] if not str(e.get("name", "")).startswith("ProfilerStep#")]
    (tmp_path / "t.json").write_text(json.dumps(doc))
    bare = load(tmp_path / "t.json")
    assert bare.meta["step_detection"]["rule"] == detect.RULE_PERIOD
    assert steps_of(bare).tolist() == steps_of(marked, "kineto").tolist() == [1255] * 3


@pytest.mark.parametrize("name, mode, n", [("qwen2.5-7b-ctx2048-eager-h100.stepscope", "eager", 4),
                                           ("qwen2.5-7b-ctx2048-graph-r10-h200.stepscope", "graph", 20)])
def test_builtin_traces_without_windows(name, mode, n):
    """A built-in trace's records without its step windows: every forward the tracer saw
    (the untimed step before each round too), with the kernels of a traced step."""
    t = load(TRACES / name)
    det = detect.detect(t)
    assert len(det.steps["index"]) == n
    want = int(np.median(steps_of(t, mode)))
    detect.apply(t, det)
    assert int(np.median(steps_of(t))) == want


def test_one_forward_is_one_step_not_its_layers():
    """One eager step alone (its records only): 28 layers repeat, but they are one forward."""
    t = load(TRACES / "qwen2.5-7b-ctx2048-eager-static-h200.stepscope")
    for tab in ("kernels", "memcpy", "memset", "api"):
        sel = t[tab]["step"] == 1
        t.tables[tab] = {c: v[sel] for c, v in t[tab].items()}
    det = detect.detect(t)
    assert det.rule == detect.RULE_WHOLE and len(det.steps["index"]) == 1


def test_no_gpu_work_is_one_sentence():
    from stepscope.analysis.trace import Trace
    det = detect.detect(Trace())
    assert not det.steps and det.message == "the trace holds no GPU work, so it has no steps"


def test_detection_of_100_steps_is_fast():
    """Under 0.5 s for 100 eager-static steps (on the 2-core CI machine it takes about
    a tenth of that: benchmarks/results/detect_speed.json)."""
    t = load(TRACES / f"record-{H200}-loop-eager-static-h200.stepscope")
    t0 = time.perf_counter()
    det = detect.detect(t)
    dt = time.perf_counter() - t0
    assert len(det.steps["index"]) == 31 and dt < 5.0   # a loose bound here; the benchmark is the measure
