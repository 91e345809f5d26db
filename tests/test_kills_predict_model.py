"""analysis/predict_model.py on constructed inputs with hand-computed answers (issue 31):
phi per kernel class (GEMM 1, attention the GQA group, every other class 0, MHA when the
config names no KV heads), beta as the clipped least-squares slope (three records are
enough, a one-byte spread is a spread, a skipped class does not stop the fit of the next,
graph-level records have a slot), a kernel predicted below zero clamped at exactly 0, the
stream recurrence's edges (host time scaled to 0, a record released before its step's
start, each step restarting its clock and its idle split, a 1-ns host wait being
launch-bound) and the records read from a constructed trace (the gap and cause of each
step's first record, a record with no gap before it, no DRAM counters). Each test names
the behaviour it pins; each was checked by the mutants it kills (``benchmarks/mutation.py``)."""
from __future__ import annotations

import numpy as np
import pytest

from stepscope.analysis import predict_model as pm
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gaps import GapCause
from stepscope.analysis.kernel_classes import KernelClass as K
from stepscope.analysis.trace import Trace, table_from_rows
from stepscope.analysis.trace.model import DOMAIN_RUNTIME
from stepscope.analysis.trace.steps import assign_steps

L, Q = GapCause.LAUNCH, GapCause.QUEUED
NO_GAP = -1


# -- phi ---------------------------------------------------------------------------
def test_phi_is_one_for_gemm_the_query_group_for_attention_and_zero_for_every_other_class():
    # 28 query heads over 4 KV heads: each K/V byte serves 7 query heads -> 7 FLOP/byte
    phi = pm.flops_per_byte({"config": {"num_attention_heads": 28, "num_key_value_heads": 4}})
    assert phi.tolist() == [1.0, 7.0] + [0.0] * 10          # one entry per class, GEMM .. GRAPH
    assert len(K) == 12


def test_phi_of_attention_without_kv_heads_is_one_multi_head():
    # no num_key_value_heads: every query head has its own K/V -> 32 / 32 = 1 FLOP/byte
    assert pm.flops_per_byte({"config": {"num_attention_heads": 32}}).tolist() == [1.0, 1.0] + [0.0] * 10


def test_phi_of_attention_is_zero_without_a_config():
    assert pm.flops_per_byte({}).tolist() == [1.0] + [0.0] * 11
    assert pm.flops_per_byte({"config": None}).tolist() == [1.0] + [0.0] * 11


# -- beta ----------------------------------------------------------------------------
def test_beta_is_the_clipped_least_squares_slope_per_class_of_three_or_more_records():
    # source: 2 TB/s achievable, 1 PFLOP/s; phi GEMM 1, others 0. Memory time = b / 2e12 s:
    # 2e6 B -> 1000 ns, 4e6 B -> 2000 ns (GEMM compute 2e6 FLOP / 1e15 = 2 ns: memory wins).
    cls = [K.GEMM, K.GEMM,                    # 2 records: too few, beta 0 (r would rise 4000 -> 7000)
           K.ATTENTION, K.ATTENTION, K.ATTENTION,   # r 500, 400, 300: slope -5e-5, clipped to 0
           K.NORM, K.NORM, K.NORM,            # r 100, 300, 500 over b 0, 2e6, 4e6: 200 / 2e6 = 1e-4 ns/B
           K.ELEMENTWISE, K.ELEMENTWISE, K.ELEMENTWISE,   # one byte count: no spread, beta 0
           K.GRAPH, K.GRAPH, K.GRAPH]         # r 1000, 1400, 1800: 400 / 2e6 = 2e-4 ns/B
    byt = [2e6, 4e6, 0, 2e6, 4e6, 0, 2e6, 4e6, 2e6, 2e6, 2e6, 0, 2e6, 4e6]
    dur = [5000, 9000, 500, 1400, 2300, 100, 1300, 2500, 2000, 2100, 2200, 1000, 2400, 3800]
    src = {"class": np.array(cls), "bytes": np.array(byt, float), "dur_ns": np.array(dur, float)}
    split = pm.inefficiency_split(src, 2e12, 1e15, pm.flops_per_byte({}))
    r = [4000, 7000, 500, 400, 300, 100, 300, 500, 1000, 1100, 1200, 1000, 1400, 1800]
    assert split["r_ns"].tolist() == pytest.approx(r, rel=1e-12)
    want = [0.0] * 12
    want[K.NORM], want[K.GRAPH] = 1e-4, 2e-4
    assert split["beta_ns_per_byte"].tolist() == pytest.approx(want, rel=1e-9, abs=0)


def test_beta_fits_a_class_whose_bytes_span_one_byte():
    # 1 GB/s: 1000, 1000.5, 1001 B take 1000, 1000.5, 1001 ns; d 1010, 1012.5, 1015 ->
    # r 10, 12, 14 over b spread 1 byte: slope (-0.5 * -2 + 0.5 * 2) / (0.25 + 0.25) = 4 ns/B
    src = {"class": np.array([K.NORM] * 3), "bytes": np.array([1000.0, 1000.5, 1001.0]),
           "dur_ns": np.array([1010.0, 1012.5, 1015.0])}
    beta = pm.inefficiency_split(src, 1e9, 1e15, pm.flops_per_byte({}))["beta_ns_per_byte"]
    assert beta[K.NORM] == pytest.approx(4.0, rel=1e-6)


# -- kernel time ---------------------------------------------------------------------
def test_a_kernel_predicted_below_zero_takes_exactly_zero():
    # 1e6 B in 900 ns on a 1 TB/s source: 100 ns faster than its bytes at achievable
    # bandwidth, r = -100. On a 20 TB/s target of the same clock and SMs: 50 - 100 < 0 -> 0.
    src = {"bytes": np.array([1e6]), "class": np.array([K.COPY])}
    split = {"r_ns": np.array([-100.0]), "beta_ns_per_byte": np.zeros(12)}
    gpu = {"boost_clock_mhz": 1980, "sms": 132, "bf16_dense_flops_per_s": 1e15}
    k = pm.kernel_times(src, split, gpu, gpu, 2e13, pm.flops_per_byte({}))
    assert k["t_ns"].tolist() == [0.0]
    assert k["inefficiency_ns"].tolist() == [-100.0]


# -- the stream ------------------------------------------------------------------------
def _src(dur, cause, start_rel, gap=None, steps=None):
    n = len(dur)
    steps = np.zeros(n, np.int64) if steps is None else np.asarray(steps)
    first = np.r_[True, steps[1:] != steps[:-1]]
    cause = np.asarray(cause)
    return {"step_pos": steps, "first": first, "dur_ns": np.asarray(dur, float),
            "gap_ns": np.asarray(gap if gap is not None else [0] * n, float), "cause": cause,
            "host_bound": np.isin(cause, pm.HOST_CAUSES) | first, "start_rel_ns": np.asarray(start_rel, float)}


def _parts(r):
    return r["end_ns"].tolist(), r["busy_ns"].tolist(), r["launch_ns"].tolist(), r["gpu_gap_ns"].tolist()


def test_with_host_time_scaled_to_zero_the_step_is_kernels_and_gpu_gaps():
    # sigma 0 (the GPU side alone exceeds the untraced step): every host time is 0. Kernels of
    # 10 and 20 ns, the second launch-bound on the source, back to back with the 5 ns queued
    # gap: e0 = 0 + 10, e1 = 10 + 5 + 20 = 35; no launch-bound idle, 5 ns GPU gap.
    s = _src([10, 20], [L, L], [30, 60], [30, 20])
    assert _parts(pm.simulate(s, s["dur_ns"], 0.0, 1.0, 5.0)) == ([35.0], [30.0], [0.0], [5.0])
    # host as recorded, the first record at the step's start, then a GPU-side (queued) gap
    q = _src([10, 20], [L, Q], [0, 15], [0, 5])
    assert _parts(pm.simulate(q, q["dur_ns"], 1.0, 1.0, 99.0)) == ([35.0], [30.0], [0.0], [5.0])


def test_a_record_released_before_its_step_start_starts_at_the_step_start():
    # e'_{-1} = 0: the first record (its source start 3 ns before the step's host start,
    # which intervals.py clamps too) starts at 0, e0 = 10; then 5 ns queued, e1 = 25.
    s = _src([10, 10], [L, Q], [-3, 15], [0, 5])
    assert _parts(pm.simulate(s, s["dur_ns"], 1.0, 1.0, 99.0)) == ([25.0], [20.0], [0.0], [5.0])


def test_each_step_restarts_its_clock_and_its_idle_split():
    # steps at positions 4 and 7, each: host releases at 100 and 150, kernels of 10 ns, queued
    # gap 5: e0 = 110, e1 = max(110 + 5, 150) + 10 = 160; launch-bound idle 100 + 40 = 140.
    s = _src([10] * 4, [L] * 4, [100, 150, 100, 150], [100, 40, 100, 40], [4, 4, 7, 7])
    r = pm.simulate(s, s["dur_ns"], 1.0, 1.0, 5.0)
    assert r["step_pos"].tolist() == [4, 7]
    assert _parts(r) == ([160.0, 160.0], [20.0, 20.0], [140.0, 140.0], [0.0, 0.0])


def test_a_long_host_wait_in_one_step_does_not_delay_the_next():
    # step 0: one record released at 1000 -> ends 1010; step 1: one record at its start -> 10
    s = _src([10, 10], [L, L], [1000, 0], [1000, 0], [0, 1])
    assert _parts(pm.simulate(s, s["dur_ns"], 1.0, 1.0, 5.0)) == ([1010.0, 10.0], [10.0, 10.0],
                                                                  [1000.0, 0.0], [0.0, 0.0])


def test_a_host_release_one_ns_after_the_gpu_is_ready_is_launch_bound():
    # e0 = 10; the GPU is ready for record 1 at 10 + 5 (queued) = 15
    s = _src([10, 10], [L, L], [0, 16], [0, 6])
    # released at 16: waited for the host; idle 16 - 10 = 6 is launch-bound, e1 = 26
    assert _parts(pm.simulate(s, s["dur_ns"], 1.0, 1.0, 5.0)) == ([26.0], [20.0], [6.0], [0.0])
    s = _src([10, 10], [L, L], [0, 15], [0, 5])
    # released at 15, as the GPU got ready: the 5 ns idle is the GPU's own gap, e1 = 25
    assert _parts(pm.simulate(s, s["dur_ns"], 1.0, 1.0, 5.0)) == ([25.0], [20.0], [0.0], [5.0])


# -- the records of a constructed trace -----------------------------------------------
T0 = 1_000_000


def _trace():
    """Steps decode [0, 1000), prefill [1000, 2000), decode [2000, 3000) (ns after T0), no PM
    samples. Kernels (start, end, name, correlation) with their launch calls (start, end)."""
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {
        "index": [0, 1, 2], "mode": [t.intern(m) for m in ("decode", "prefill", "decode")],
        "start_ns": [T0, T0 + 1000, T0 + 2000], "end_ns": [T0 + 1000, T0 + 2000, T0 + 3000]})
    kern = [(100, 200, "gemv_kernel", 1), (200, 300, "rms_norm_kernel", 2), (350, 450, "flash_fwd_kernel", 3),
            (1100, 1200, "gemv_kernel", 4), (2050, 2150, "gemv_kernel", 5), (2160, 2260, "silu_kernel", 6)]
    api = [(20, 90), (92, 98), (300, 340), (1010, 1090), (2010, 2040), (2041, 2045)]
    t.tables["kernels"] = table_from_rows("kernels", {
        "start_ns": [T0 + k[0] for k in kern], "end_ns": [T0 + k[1] for k in kern],
        "name": [t.intern(k[2]) for k in kern], "correlation": [k[3] for k in kern],
        "graph_id": [0] * len(kern), "stream": [7] * len(kern)})
    t.tables["api"] = table_from_rows("api", {
        "start_ns": [T0 + a[0] for a in api], "end_ns": [T0 + a[1] for a in api],
        "name": [t.intern("cudaLaunchKernel")] * len(api), "correlation": [k[3] for k in kern],
        "domain": [DOMAIN_RUNTIME] * len(api), "thread_id": [1] * len(api)})
    assign_steps(t)
    return t


def test_source_records_of_one_mode_with_each_steps_leading_gap_and_no_dram_counters():
    src = pm.source_records(TraceAnalysis(_trace()), "decode")
    assert src["steps"].tolist() == [0, 2]                       # the prefill step is left out
    assert src["step_pos"].tolist() == [0, 0, 0, 2, 2]
    assert src["first"].tolist() == [True, False, False, True, False]
    assert src["dur_ns"].tolist() == [100.0] * 5
    assert src["class"].tolist() == [K.GEMM, K.NORM, K.ATTENTION, K.GEMM, K.ELEMENTWISE]
    # leading gaps 100 (the trace's first record) and 50; the norm kernel follows the GEMV
    # back to back (no gap, no cause); attention waited 50 for its launch (ends at 340 > 300);
    # silu's launch ended at 2045, before the GPU went idle at 2150: 10 ns queued
    assert src["gap_ns"].tolist() == [100.0, 0.0, 50.0, 50.0, 10.0]
    assert src["cause"].tolist() == [L, NO_GAP, L, L, Q]
    assert src["host_bound"].tolist() == [True, False, True, True, False]
    assert src["start_rel_ns"].tolist() == [100.0, 200.0, 350.0, 50.0, 160.0]
    # no PM samples and no counter pass: every kernel is fixed-time, 0 bytes
    assert src["bytes"].tolist() == [0.0] * 5
    assert src["bytes_source"] == "none: no DRAM counters in the trace (kernels modelled as fixed-time)"


def test_a_record_inside_a_longer_one_on_another_stream_opens_no_gap():
    """One decode step on two streams: A [100, 1100) on stream 7, B [200, 300) and C [400,
    500) on stream 8 inside it. The GPU is never idle in [100, 1100), so neither B nor C has
    a gap (C's gap was measured from B's end: 100 ns the GPU never had)."""
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {"index": [0], "mode": [t.intern("decode")],
                                                  "start_ns": [T0], "end_ns": [T0 + 2000]})
    kern = [(100, 1100, "gemv_kernel", 1, 7), (200, 300, "rms_norm_kernel", 2, 8), (400, 500, "silu_kernel", 3, 8),
            (1150, 1250, "gemv_kernel", 4, 7)]
    t.tables["kernels"] = table_from_rows("kernels", {
        "start_ns": [T0 + k[0] for k in kern], "end_ns": [T0 + k[1] for k in kern],
        "name": [t.intern(k[2]) for k in kern], "correlation": [k[3] for k in kern],
        "graph_id": [0] * len(kern), "stream": [k[4] for k in kern]})
    api = [(20, 90), (95, 99), (150, 160), (1120, 1140)]
    t.tables["api"] = table_from_rows("api", {
        "start_ns": [T0 + a[0] for a in api], "end_ns": [T0 + a[1] for a in api],
        "name": [t.intern("cudaLaunchKernel")] * len(api), "correlation": [k[3] for k in kern],
        "domain": [DOMAIN_RUNTIME] * len(api), "thread_id": [1] * len(api)})
    assign_steps(t)
    src = pm.source_records(TraceAnalysis(t), "decode")
    # the leading gap 100; B and C inside A: 0; the last GEMV 50 after A's end (not C's: 650)
    assert src["gap_ns"].tolist() == [100.0, 0.0, 0.0, 50.0]
    r = pm.simulate(src, src["dur_ns"], 1.0, 1.0, 0.0)
    assert r["gpu_gap_ns"].tolist() == [0.0]
