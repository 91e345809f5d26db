"""analysis/render/perfetto.py on a constructed trace with hand-computed events (issue 31),
and on shipped traces against their own tables. Pinned: the track names (CPU threads by
their launch calls, GPU streams of kernels, copies and sets, the idle-cause track sorted
first); timestamps in microseconds from the first kernel, launch call, step, copy or set
(not a host span or DRAM sample), from integer ns; step slices; host spans on the track of
their thread (thread ids cut to 32 bits) by kind; launch calls; GPU records with their class,
launch geometry, bytes and step; one flow per launched correlation id, from the first call
of that id to the first record it launched; the idle-cause track, one slice per gap named by
cause with its step, gap, position, what the GPU waited for, the record that ended it and
its launch call (and the host split for launch overhead), from the attribution passed in;
the DRAM counter (GB/s of the valid samples in time order, closed by a zero); long names cut
in events and kept whole in otherData; the record count; the streamed file and its
progress reports."""
from __future__ import annotations

import functools
import json

import numpy as np
import orjson
import pytest

from conftest import trace_path
from stepscope.analysis.attribution import attribute
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gap_context import CAUSE_NAMES
from stepscope.analysis.gaps import GAP_BINS_NS, GapCause
from stepscope.analysis.intervals import INTERNAL, LEADING, TRAILING
from stepscope.analysis.render import perfetto as pf
from stepscope.analysis.trace import Trace, table_from_rows

CPU, GPU, IDLE = 1, 2, 1 << 30
T0 = 1_700_000_000_000_000_000          # absolute ns, as a real trace's (offsets below are from it)
GEMM = "ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_tn"     # class gemm
NORM = "rms_norm_kernel"                                     # class norm
MINE = "my_custom_kernel"                                    # class other
NODE = "triton_poi_fused_add_0"                              # class elementwise
H100 = "NVIDIA H100 80GB HBM3"


def _table(t, name, rows, **const):
    cols = {k: [r[k] for r in rows] for k in rows[0]} if rows else {}
    for k, v in const.items():
        cols[k] = [v] * len(rows)
    for k in ("start_ns", "end_ns"):
        if k in cols:
            cols[k] = [T0 + x for x in cols[k]]
    t.tables[name] = table_from_rows(name, cols)


def build() -> Trace:
    """Two steps. Step 3 (decode, 1000-9000): a launch-bound leading gap (the GPU waits while
    the module span ``decoder`` runs), a launch-bound internal gap (inside the next kernel's
    launch call), a host copy, a trailing gap the stream synchronisation ends. Step 4
    (prefill, 10000-12000): a launch-bound leading gap outside any span, a queued set, a
    kernel of no recorded launch call, two graph-internal gaps, a trailing gap of nothing
    recorded. The first event is a call on thread 2 at 900: the origin."""
    t = Trace()
    s = t.intern
    t.meta["gpu"] = {"name": H100}
    _table(t, "steps", [dict(index=3, mode=s("decode"), start_ns=1000, end_ns=9000),
                        dict(index=4, mode=s("prefill"), start_ns=10000, end_ns=12000)])
    api = [("cudaGetDevice", 2, 50, 900, 950, -1),
           ("cudaLaunchKernel", 7, 11, 1700, 1800, 3),
           ("cudaLaunchKernel", 7, 12, 1850, 4000, 3),
           ("cudaMemcpyAsync", 7, 13, 4100, 4200, 3),
           ("cudaStreamSynchronize", 7, 14, 4300, 8500, 3),
           ("cudaLaunchKernel", 7, 15, 10050, 10100, 4),
           ("cudaMemsetAsync", 7, 16, 10150, 10190, 4),
           ("cudaGraphLaunch", 7, 20, 11100, 11300, 4),
           ("cuGraphLaunch", 7, 20, 11150, 11250, 4)]          # the same correlation id, later
    _table(t, "api", [dict(name=s(n), thread_id=th, correlation=c, start_ns=a, end_ns=b, step=st)
                      for n, th, c, a, b, st in api])
    ks = [(GEMM, 7, 11, 2000, 3000, 0, 3, (4, 2, 1), (128, 1, 1), 64),
          (NORM, 7, 12, 4500, 5000, 0, 3, (1, 1, 1), (256, 2, 1), 32),
          (GEMM, 7, 15, 10200, 10400, 0, 4, (8, 1, 3), (64, 4, 2), 96),
          (MINE, 3, 99, 11000, 11200, 0, 4, (2, 3, 4), (5, 6, 7), 8),
          (NODE, 7, 20, 11400, 11500, 5, 4, (16, 1, 1), (32, 1, 1), 16),
          (NODE, 7, 20, 11600, 11700, 5, 4, (16, 1, 1), (32, 1, 1), 16)]
    _table(t, "kernels", [dict(name=s(n), stream=st, correlation=c, start_ns=a, end_ns=b, graph_id=g, step=p,
                               grid_x=gr[0], grid_y=gr[1], grid_z=gr[2], block_x=bl[0], block_y=bl[1], block_z=bl[2],
                               registers=r) for n, st, c, a, b, g, p, gr, bl, r in ks])
    _table(t, "memcpy", [dict(start_ns=5500, end_ns=6007, bytes=4096, copy_kind=1, stream=9, correlation=13, step=3)])
    _table(t, "memset", [dict(start_ns=10600, end_ns=10700, bytes=256, stream=13, correlation=16, step=4)])
    hs = [("decoder", 0, 7 + (5 << 32), 1000, 1600, 3),         # thread 7 as the host sees it (64 bits)
          ("aten::mm", 1, 7, 1600, 1800, 3),
          ("my region", 2, 8, 500, 700, -1),                     # before the origin: a negative ts
          ("mystery", 3, 7, 2500, 2600, 3)]                      # a kind of no name
    _table(t, "host_spans", [dict(name=s(n), kind=k, thread_id=th, start_ns=a, end_ns=b, step=p)
                             for n, k, th, a, b, p in hs], parent=-1, depth=0)
    # DRAM samples (start, end, read, write), not in time order; start 0 and zero length are not valid
    pm = [(T0 + 5000, T0 + 8000, 10000, 2), (0, T0 + 100, 99, 99), (T0 + 1000, T0 + 3000, 4000, 2000),
          (T0 + 3000, T0 + 3000, 5, 5), (T0 + 3000, T0 + 5000, 1234, 6), (T0 + 9500, T0 + 9501, 5, 0)]
    t.tables["pm"] = table_from_rows("pm", {"start_ns": [p[0] for p in pm], "end_ns": [p[1] for p in pm],
                                            "dram_read_bytes": [p[2] for p in pm],
                                            "dram_write_bytes": [p[3] for p in pm]})
    t.validate()
    return t


@pytest.fixture
def doc():
    # made in each test (not once per module): mutmut runs for a mutant only the tests
    # during which its function ran, and a module fixture runs during the first test only
    return pf.to_chrome(build())


def _of(events, ph=None, cat=None):
    return [e for e in events if (ph is None or e["ph"] == ph) and (cat is None or e.get("cat") == cat)]


# -- tracks ----------------------------------------------------------------------------------
def test_tracks_name_cpu_threads_by_launch_calls_every_stream_of_gpu_records_and_the_idle_track(doc):
    meta = _of(doc["traceEvents"], "M")
    assert meta == [
        {"ph": "M", "name": "process_name", "pid": CPU, "tid": 0, "args": {"name": "CPU"}},
        {"ph": "M", "name": "process_name", "pid": GPU, "tid": 0, "args": {"name": f"GPU {H100}"}},
        {"ph": "M", "name": "thread_name", "pid": CPU, "tid": 0, "args": {"name": "steps"}},
        # API thread ids 2 and 7 on tracks 3 and 8 (0 is the steps track)
        {"ph": "M", "name": "thread_name", "pid": CPU, "tid": 3, "args": {"name": "thread 2 (launch calls)"}},
        {"ph": "M", "name": "thread_name", "pid": CPU, "tid": 8, "args": {"name": "thread 7 (launch calls)"}},
        # streams of kernels (7, 3), the copy (9) and the set (13), in order
        {"ph": "M", "name": "thread_name", "pid": GPU, "tid": 3, "args": {"name": "stream 3"}},
        {"ph": "M", "name": "thread_name", "pid": GPU, "tid": 7, "args": {"name": "stream 7"}},
        {"ph": "M", "name": "thread_name", "pid": GPU, "tid": 9, "args": {"name": "stream 9"}},
        {"ph": "M", "name": "thread_name", "pid": GPU, "tid": 13, "args": {"name": "stream 13"}},
        {"ph": "M", "name": "thread_name", "pid": GPU, "tid": IDLE, "args": {"name": "GPU idle (cause)"}},
        {"ph": "M", "name": "thread_sort_index", "pid": GPU, "tid": IDLE, "args": {"sort_index": -1}}]
    assert doc["traceEvents"][:len(meta)] == meta      # the names come first
    assert (pf.CPU_PID, pf.GPU_PID, pf.STEPS_TID, pf.IDLE_TID) == (CPU, GPU, 0, IDLE)


def test_a_trace_without_a_gpu_name_has_a_plain_gpu_process_and_no_gpu_in_other_data():
    d = pf.to_chrome(Trace())
    assert d["traceEvents"][1]["args"] == {"name": "GPU"}
    assert d["otherData"] == {"stepscope": "trace exported by stepscope", "origin_ns": 0, "gpu": None}
    t = Trace()
    t.meta["gpu"] = None
    assert pf.to_chrome(t)["traceEvents"][1]["args"] == {"name": "GPU"}


def test_an_empty_trace_has_only_the_track_names():
    d = pf.to_chrome(Trace())
    assert d["displayTimeUnit"] == "ns"
    assert d["traceEvents"] == [
        {"ph": "M", "name": "process_name", "pid": CPU, "tid": 0, "args": {"name": "CPU"}},
        {"ph": "M", "name": "process_name", "pid": GPU, "tid": 0, "args": {"name": "GPU"}},
        {"ph": "M", "name": "thread_name", "pid": CPU, "tid": 0, "args": {"name": "steps"}},
        {"ph": "M", "name": "thread_name", "pid": GPU, "tid": IDLE, "args": {"name": "GPU idle (cause)"}},
        {"ph": "M", "name": "thread_sort_index", "pid": GPU, "tid": IDLE, "args": {"sort_index": -1}}]


# -- time origin -----------------------------------------------------------------------------
def test_the_origin_is_the_first_kernel_call_step_copy_or_set_never_a_span_or_dram_sample(doc):
    # the call at 900 is first; the span at 500 and the DRAM sample of start 0 do not count
    assert doc["otherData"] == {"stepscope": "trace exported by stepscope", "origin_ns": T0 + 900, "gpu": H100}
    assert pf.origin_ns(build()) == T0 + 900
    for table in ("kernels", "api", "steps", "memcpy", "memset"):
        t = build()
        t.tables[table]["start_ns"][-1] = T0 + 77          # each table's last row made the first event
        assert pf.origin_ns(t) == T0 + 77, table
    t = build()
    t.tables["api"]["start_ns"][0] = T0 + 999_999
    assert pf.origin_ns(t) == T0 + 1000                   # then the first step
    assert pf.origin_ns(Trace()) == 0
    only = Trace()
    only.tables["memset"] = table_from_rows("memset", {"start_ns": [T0 + 5], "end_ns": [T0 + 6]})
    assert pf.origin_ns(only) == T0 + 5 and isinstance(pf.origin_ns(only), int)


def test_timestamps_are_microseconds_from_the_origin_keeping_every_nanosecond():
    assert pf._us(np.array([T0 + 900, T0 + 6007, T0 + 899, T0 + 901]), T0 + 900) == [0.0, 5.107, -0.001, 0.001]
    assert pf._us(np.array([T0 + 2_000_123_456]), T0) == [2_000_123.456]


# -- slices ----------------------------------------------------------------------------------
def test_steps_are_slices_on_the_steps_track_named_by_index_and_mode(doc):
    assert _of(doc["traceEvents"], "X", "step") == [
        {"ph": "X", "cat": "step", "name": "step 3 (decode)", "pid": CPU, "tid": 0, "ts": 0.1, "dur": 8.0},
        {"ph": "X", "cat": "step", "name": "step 4 (prefill)", "pid": CPU, "tid": 0, "ts": 9.1, "dur": 2.0}]


def test_host_spans_sit_on_their_threads_launch_track_by_kind(doc):
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"].startswith("host")]
    assert spans == [
        # thread 7 + (5 << 32) is thread 7 cut to 32 bits: its launch calls' track 8
        {"ph": "X", "cat": "host module", "name": "decoder", "pid": CPU, "tid": 8, "ts": 0.1, "dur": 0.6,
         "args": {"step": 3}},
        {"ph": "X", "cat": "host operator", "name": "aten::mm", "pid": CPU, "tid": 8, "ts": 0.7, "dur": 0.2,
         "args": {"step": 3}},
        {"ph": "X", "cat": "host user", "name": "my region", "pid": CPU, "tid": 9, "ts": -0.4, "dur": 0.2,
         "args": {"step": -1}},
        {"ph": "X", "cat": "host span", "name": "mystery", "pid": CPU, "tid": 8, "ts": 1.6, "dur": 0.1,
         "args": {"step": 3}}]


def test_launch_calls_sit_on_their_threads_track_with_correlation_and_step(doc):
    def call(name, tid, ts, dur, corr, step):
        return {"ph": "X", "cat": "launch", "name": name, "pid": CPU, "tid": tid, "ts": ts, "dur": dur,
                "args": {"correlation": corr, "step": step}}
    assert _of(doc["traceEvents"], "X", "launch") == [
        call("cudaGetDevice", 3, 0.0, 0.05, 50, -1), call("cudaLaunchKernel", 8, 0.8, 0.1, 11, 3),
        call("cudaLaunchKernel", 8, 0.95, 2.15, 12, 3), call("cudaMemcpyAsync", 8, 3.2, 0.1, 13, 3),
        call("cudaStreamSynchronize", 8, 3.4, 4.2, 14, 3), call("cudaLaunchKernel", 8, 9.15, 0.05, 15, 4),
        call("cudaMemsetAsync", 8, 9.25, 0.04, 16, 4), call("cudaGraphLaunch", 8, 10.2, 0.2, 20, 4),
        call("cuGraphLaunch", 8, 10.25, 0.1, 20, 4)]


def _kernel(cat, name, tid, ts, dur, grid, block, regs, corr, graph, step):
    return {"ph": "X", "cat": cat, "name": name, "pid": GPU, "tid": tid, "ts": ts, "dur": dur,
            "args": {"grid": grid, "block": block, "registers": regs, "correlation": corr, "graph_id": graph,
                     "step": step}}


KERNELS = [_kernel("gemm", GEMM, 7, 1.1, 1.0, [4, 2, 1], [128, 1, 1], 64, 11, 0, 3),
           _kernel("norm", NORM, 7, 3.6, 0.5, [1, 1, 1], [256, 2, 1], 32, 12, 0, 3),
           _kernel("gemm", GEMM, 7, 9.3, 0.2, [8, 1, 3], [64, 4, 2], 96, 15, 0, 4),
           _kernel("other", MINE, 3, 10.1, 0.2, [2, 3, 4], [5, 6, 7], 8, 99, 0, 4),
           _kernel("elementwise", NODE, 7, 10.5, 0.1, [16, 1, 1], [32, 1, 1], 16, 20, 5, 4),
           _kernel("elementwise", NODE, 7, 10.7, 0.1, [16, 1, 1], [32, 1, 1], 16, 20, 5, 4)]
COPY = {"ph": "X", "cat": "memcpy", "name": "memcpy", "pid": GPU, "tid": 9, "ts": 4.6, "dur": 0.507,
        "args": {"bytes": 4096, "step": 3}}
SET = {"ph": "X", "cat": "memset", "name": "memset", "pid": GPU, "tid": 13, "ts": 9.7, "dur": 0.1,
       "args": {"bytes": 256, "step": 4}}


def test_gpu_records_sit_on_their_streams_with_class_geometry_correlation_graph_bytes_and_step(doc):
    gpu = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["pid"] == GPU and e["cat"] != "idle"]
    assert gpu == KERNELS + [COPY, SET]


def _flow(corr, call_tid, call_ts, stream, ts):
    return [{"ph": "s", "cat": "flow", "name": "launch", "id": corr, "pid": CPU, "tid": call_tid, "ts": call_ts},
            {"ph": "f", "bp": "e", "cat": "flow", "name": "launch", "id": corr, "pid": GPU, "tid": stream, "ts": ts}]


def test_each_launched_correlation_gets_one_flow_from_its_first_call_to_its_first_record(doc):
    ev = doc["traceEvents"]
    # no flow for the kernel of no call (99), nor for calls that launched nothing (14, 50);
    # one for the graph launch (20), from cudaGraphLaunch (not the later cuGraphLaunch) to the first node
    assert _of(ev, cat="flow") == (_flow(11, 8, 0.8, 7, 1.1) + _flow(12, 8, 0.95, 7, 3.6) + _flow(15, 8, 9.15, 7, 9.3)
                                   + _flow(20, 8, 10.2, 7, 10.5) + _flow(13, 8, 3.2, 9, 4.6)
                                   + _flow(16, 8, 9.25, 13, 9.7))
    # each flow follows the record it ends at
    for i, e in enumerate(ev):
        if e["ph"] == "s":
            assert ev[i - 1]["ph"] == "X" and ev[i - 1]["pid"] == GPU and ev[i - 1]["ts"] == ev[i + 1]["ts"]


# -- the idle-cause track --------------------------------------------------------------------
def _idle(name, ts, dur, step, gap, position, waited, ended=None, call=None, split=None):
    args = {"step": step, "gap_ns": gap, "position": position, "waited_for": waited}
    if ended:
        args["ended_by"] = ended
    if call:
        args["launch_call"] = call
    if split:
        args.update(zip(("host_launch_call_ns", "host_other_api_calls_ns", "host_framework_code_ns"), split))
    return {"ph": "X", "cat": "idle", "name": name, "pid": GPU, "tid": IDLE, "ts": ts, "dur": dur, "args": args}


IDLE_SLICES = [
    # step 3: [1000, 2000) leading; the GPU waited 600 ns in `decoder`, 100 in aten::mm, 50 outside spans
    # (framework 750), 100 in its own launch call (1700-1800) and 150 in the next one (1850-)
    _idle("launch overhead", 0.1, 1.0, 3, 1000, "leading", "module decoder", GEMM, "cudaLaunchKernel", (100, 150, 750)),
    # [3000, 4500): 1000 in the norm's launch call, 100 + 200 in the copy's and the sync's, 200 between
    _idle("launch overhead", 2.1, 1.5, 3, 1500, "internal", "API call cudaLaunchKernel", NORM, "cudaLaunchKernel",
          (1000, 300, 200)),
    _idle("host copy", 4.1, 0.5, 3, 500, "internal", "host copy memcpy", "memcpy", "cudaMemcpyAsync"),
    # [6007, 9000): the synchronisation returned at 8500
    _idle("host synchronisation", 5.107, 2.993, 3, 2993, "trailing", "API call cudaStreamSynchronize"),
    # step 4: [10000, 10200): 50 in the launch call, 40 in the set's call, 110 outside any span
    _idle("launch overhead", 9.1, 0.2, 4, 200, "leading", "framework (no span)", GEMM, "cudaLaunchKernel", (50, 40, 110)),
    _idle("queued (GPU side)", 9.5, 0.2, 4, 200, "internal", "the GPU: memset was already launched", "memset",
          "cudaMemsetAsync"),
    _idle("other idle (unexplained)", 9.8, 0.3, 4, 300, "internal", "a GPU record whose launch call was not recorded",
          MINE),
    _idle("graph-internal", 10.3, 0.2, 4, 200, "internal", f"the graph's next node {NODE}", NODE, "cudaGraphLaunch"),
    _idle("graph-internal", 10.6, 0.1, 4, 100, "internal", f"the graph's next node {NODE}", NODE, "cudaGraphLaunch"),
    _idle("other idle (unexplained)", 10.8, 0.3, 4, 300, "trailing", "host work after the last GPU record, not recorded")]


def test_the_idle_track_has_one_slice_per_gap_named_by_cause_with_what_the_gpu_waited_for(doc):
    assert _of(doc["traceEvents"], "X", "idle") == IDLE_SLICES


def test_the_idle_track_reads_the_attribution_passed_in():
    t = build()
    attr = attribute(t)
    attr["gaps"]["step"] = attr["gaps"]["step"] * 10 + 1       # marks only this attribution has
    idle = _of(pf.to_chrome(t, attr)["traceEvents"], "X", "idle")
    assert [e["args"]["step"] for e in idle] == [31] * 4 + [41] * 6
    assert [e["args"]["step"] for e in _of(pf.to_chrome(t)["traceEvents"], "X", "idle")] == [3] * 4 + [4] * 6


def test_a_trace_without_steps_has_no_idle_slices_and_needs_no_attribution():
    t = build()
    t.tables["steps"] = table_from_rows("steps", {})
    ev = pf.to_chrome(t)["traceEvents"]
    assert _of(ev, cat="idle") == [] and _of(ev, cat="step") == []
    assert len(_of(ev, "X")) == 4 + 9 + 8      # spans, calls, records
    assert pf.record_count(t, {"gaps": {"gap_ns": np.zeros(3)}}) == 4 + 9 + 8 + 5


# -- DRAM ------------------------------------------------------------------------------------
def test_the_dram_counter_is_gb_per_s_of_the_valid_samples_in_time_order_closed_by_a_zero(doc):
    c = [(e["ts"], e["args"]) for e in _of(doc["traceEvents"], "C")]
    assert c == [(0.1, {"read": 2.0, "write": 1.0}),          # 4000 B and 2000 B in 2000 ns
                 (2.1, {"read": 0.617, "write": 0.003}),      # 1234 and 6 in 2000 ns
                 (4.1, {"read": 3.333, "write": 0.001}),      # 10000 and 2 in 3000 ns: three decimals
                 (8.6, {"read": 5.0, "write": 0.0}),          # 5 B in 1 ns
                 (8.601, {"read": 0, "write": 0})]            # the last sample's end
    assert all(e["name"] == "DRAM GB/s" and e["pid"] == GPU and e["tid"] == 0 for e in _of(doc["traceEvents"], "C"))


def test_no_valid_dram_sample_no_counter():
    t = build()
    keep = np.array([1, 3])                                   # start 0, and zero length
    t.tables["pm"] = {k: v[keep] for k, v in t["pm"].items()}
    assert _of(pf.to_chrome(t)["traceEvents"], "C") == []
    assert pf.record_count(t) == 2 + 4 + 9 + 8 + 10


# -- long names ------------------------------------------------------------------------------
def _long_trace(n):
    """One step of one kernel, its call, a module span leading the GPU's wait: each named by
    ``n`` characters (and the GPU)."""
    t = Trace()
    kname, cname, sname, mode, gpu = ("k" * n, "cudaLaunch" + "c" * (n - 10), "s" * n, "m" * n, "G" * (n - 4))
    t.meta["gpu"] = {"name": gpu}
    _table(t, "steps", [dict(index=0, mode=t.intern(mode), start_ns=0, end_ns=3000)])
    _table(t, "kernels", [dict(name=t.intern(kname), stream=7, correlation=1, start_ns=2000, end_ns=2500, step=0)])
    _table(t, "api", [dict(name=t.intern(cname), thread_id=1, correlation=1, start_ns=1900, end_ns=1950, step=0)])
    _table(t, "host_spans", [dict(name=t.intern(sname), kind=0, thread_id=1, start_ns=0, end_ns=1900, step=0,
                                  parent=-1, depth=0)])
    t.validate()
    return t, (mode, kname, cname, sname, gpu)


def test_names_longer_than_the_limit_are_cut_in_events_and_whole_once_in_other_data():
    n = 1500
    t, (mode, kname, cname, sname, gpu) = _long_trace(n)
    d = pf.to_chrome(t)
    ev = d["traceEvents"]

    def cut(s, i=None):
        where = f"; whole in otherData.long_names[{i}]" if i is not None else ""
        return s[:944] + f"... [{len(s)} characters{where}]"
    assert d["otherData"]["long_names"] == {"0": mode, "1": kname, "2": cname, "3": sname}
    assert d["otherData"]["gpu"] == gpu                                    # whole
    assert ev[1]["args"]["name"] == cut("GPU " + gpu) == "GPU " + "G" * 940 + f"... [{n} characters]"
    assert _of(ev, "X", "step")[0]["name"] == f"step 0 ({cut(mode, 0)})"
    assert _of(ev, "X", "gemm") == [] and [e["name"] for e in _of(ev, "X", "other")] == [cut(kname, 1)]
    assert [e["name"] for e in _of(ev, "X", "launch")] == [cut(cname, 2)]
    assert [e["name"] for e in _of(ev, "X", "host module")] == [cut(sname, 3)]
    assert pf.export_names(t) == [cut(mode, 0), cut(kname, 1), cut(cname, 2), cut(sname, 3)]
    assert len(cut(kname, 1)) <= pf.MAX_NAME_CHARS == 1024
    (lead, trail) = _of(ev, "X", "idle")
    assert lead["args"]["waited_for"] == cut("module " + sname)            # the span took 1900 of 2000 ns
    assert lead["args"]["ended_by"] == cut(kname)


def test_a_name_of_exactly_the_limit_is_written_whole_and_one_more_is_cut():
    t, names = _long_trace(1024)
    d = pf.to_chrome(t)
    assert "long_names" not in d["otherData"]
    assert pf.export_names(t) == list(names[:4])
    assert d["traceEvents"][1]["args"]["name"] == "GPU " + names[4]        # 1024 with "GPU "
    assert _of(d["traceEvents"], "X", "idle")[0]["args"]["waited_for"][:7] == "module "
    t, names = _long_trace(1025)
    d = pf.to_chrome(t)
    assert sorted(d["otherData"]["long_names"]) == ["0", "1", "2", "3"]
    assert pf.export_names(t)[1] == "k" * 944 + "... [1025 characters; whole in otherData.long_names[1]]"
    assert d["traceEvents"][1]["args"]["name"] == "GPU " + "G" * 940 + "... [1025 characters]"


# -- record count, the streamed file, progress -------------------------------------------------
def test_record_count_is_every_slice_gap_and_valid_sample_plus_the_closing_sample():
    t = build()
    # steps 2, spans 4, calls 9, kernels 6, copy 1, set 1, gaps 10, valid samples 4 + the closing zero
    assert pf.record_count(t) == 38 == len(_of(pf.to_chrome(t)["traceEvents"], "X")) + 5
    assert pf.record_count(t, {"gaps": {"gap_ns": np.zeros(3)}}) == 38 - 10 + 3      # the gaps given
    assert pf.record_count(Trace()) == 0


def _written(tmp_path, t, **kw):
    calls = []
    out = tmp_path / "p.json"
    pf.write_chrome(t, out, progress=lambda n, part: calls.append((n, part)), **kw)
    return out.read_bytes(), calls


def test_the_file_is_the_document_streamed_in_batches_reporting_records_and_part(tmp_path):
    t = build()
    d = pf.to_chrome(t)
    want = orjson.dumps({"displayTimeUnit": "ns", "otherData": d["otherData"], "traceEvents": d["traceEvents"]})
    # 61 events: 11 names (0-10), 2 steps, 4 spans, 9 calls (17-25), kernels/copies/sets and
    # their flows (26-45), 10 idle slices (46-55), 5 counter samples (56-60)
    got, calls = _written(tmp_path, t, batch=11)
    assert got == want
    assert calls == [(0, "track names"), (11, "launch calls"), (7, "GPU records"), (5, "GPU records"),
                     (9, "idle gaps"), (6, "DRAM samples")]
    got, calls = _written(tmp_path, t, batch=20)
    assert got == want and calls == [(9, "launch calls"), (12, "GPU records"), (16, "DRAM samples"),
                                     (1, "DRAM samples")]
    got, calls = _written(tmp_path, t, batch=12)
    assert got == want and calls[0] == (1, "steps") and sum(n for n, _ in calls) == pf.record_count(t) == 38
    got, calls = _written(tmp_path, t, batch=14)
    assert got == want and calls[0] == (3, "host spans")
    got, calls = _written(tmp_path, t)                 # one batch
    assert got == want and calls == [(38, "DRAM samples")]
    out = tmp_path / "q.json"
    pf.write_chrome(t, out, attr=None)                 # no progress callback
    assert out.read_bytes() == want


def test_a_file_whose_events_fill_whole_batches_ends_cleanly(tmp_path):
    got, calls = _written(tmp_path, Trace(), batch=5)              # exactly the 5 track names
    assert json.loads(got) == pf.to_chrome(Trace()) and calls == [(0, "track names")]
    got, calls = _written(tmp_path, Trace(), batch=1)
    assert json.loads(got) == pf.to_chrome(Trace()) and calls == [(0, "track names")] * 5
    assert got.startswith(b'{"displayTimeUnit":"ns","otherData":{') and got.endswith(b'"sort_index":-1}}]}')


def test_without_orjson_the_file_is_the_same_compact_json(tmp_path, monkeypatch):
    t = build()
    t.tables["kernels"]["name"][0] = t.intern("gemm_\u00e9")      # not ASCII: escaped by json, as valid
    d = pf.to_chrome(t)
    monkeypatch.setitem(__import__("sys").modules, "orjson", None)    # `import orjson` raises ImportError
    got, calls = _written(tmp_path, t, batch=20)
    assert got == json.dumps({"displayTimeUnit": "ns", "otherData": d["otherData"], "traceEvents": d["traceEvents"]},
                             separators=(",", ":")).encode()
    assert calls == [(9, "launch calls"), (12, "GPU records"), (16, "DRAM samples"), (1, "DRAM samples")]


def test_the_default_batch_is_20000_events(tmp_path):
    t = Trace.load(trace_path("host-spin-h100"))
    ev = pf.to_chrome(t)["traceEvents"]
    assert len(ev) > 20_000
    got, calls = _written(tmp_path, t)
    records = [e["ph"] in ("X", "C") for e in ev]
    assert calls == [(sum(records[:20_000]), pf._part(ev[19_999])), (sum(records[20_000:]), "DRAM samples")]
    assert json.loads(got)["traceEvents"] == ev


def test_the_file_reads_the_attribution_passed_in(tmp_path):
    t = build()
    attr = attribute(t)
    attr["gaps"]["step"] = attr["gaps"]["step"] + 100
    got, _ = _written(tmp_path, t, attr=attr)
    assert [e["args"]["step"] for e in _of(json.loads(got)["traceEvents"], "X", "idle")] == [103] * 4 + [104] * 6


def test_each_event_is_reported_as_the_part_of_the_trace_it_comes_from(doc):
    ev = doc["traceEvents"]
    parts = {}
    for e in ev:
        if e["ph"] != "s":
            parts.setdefault(pf._part(e), set()).add((e["ph"], e.get("cat")))
    assert parts == {"track names": {("M", None)}, "steps": {("X", "step")},
                     "host spans": {("X", "host module"), ("X", "host operator"), ("X", "host user"), ("X", "host span")},
                     "launch calls": {("X", "launch")}, "DRAM samples": {("C", None)},
                     "GPU records": {("X", c) for c in ("gemm", "norm", "other", "elementwise", "memcpy", "memset")}
                     | {("f", "flow")},
                     "idle gaps": {("X", "idle")}}


# -- shipped traces, against their own tables ----------------------------------------------------
SHIPPED = ["synthetic-h100",                  # sync gaps, copies, two modes
           "host-spin-h100",                  # host spans
           "qwen2.5-7b-ctx2048-graph-h100"]   # graph-internal gaps, sets


@functools.cache
def _analysis(name):
    """The trace's analysis, once per trace; the export is made in each test (see ``doc``)."""
    return TraceAnalysis(trace_path(name))


@pytest.fixture(params=SHIPPED)
def shipped(request):
    a = _analysis(request.param)
    return a.trace, a, pf.to_chrome(a.trace, a.attribution)


def _ns(us):
    return round(us * 1000)


def test_shipped_every_record_is_one_slice_at_its_own_ns(shipped):
    t, _, d = shipped
    o = d["otherData"]["origin_ns"]
    ev = d["traceEvents"]
    assert o == min(int(t[x]["start_ns"].min()) for x in ("kernels", "api", "steps", "memcpy", "memset") if t.n(x))
    gpu = [e for e in ev if e["ph"] == "X" and e["pid"] == GPU and e["cat"] != "idle"]
    tables = [(x, i) for x in ("kernels", "memcpy", "memset") for i in range(t.n(x))]
    assert len(gpu) == len(tables)
    for e, (x, i) in zip(gpu, tables):
        tab = t[x]
        assert (_ns(e["ts"]) + o, _ns(e["dur"]), e["tid"], e["args"]["step"]) == \
            (tab["start_ns"][i], tab["end_ns"][i] - tab["start_ns"][i], tab["stream"][i], tab["step"][i])
    calls = _of(ev, "X", "launch")
    api = t["api"]
    assert [(_ns(e["ts"]) + o, _ns(e["dur"]), e["tid"], e["args"]["correlation"]) for e in calls] == \
        list(zip(api["start_ns"].tolist(), (api["end_ns"] - api["start_ns"]).tolist(), (api["thread_id"] + 1).tolist(),
                 api["correlation"].tolist()))
    spans = [e for e in ev if e["ph"] == "X" and e["cat"].startswith("host")]
    hs = t["host_spans"]
    assert [(_ns(e["ts"]) + o, _ns(e["dur"]), e["tid"]) for e in spans] == \
        list(zip(hs["start_ns"].tolist(), (hs["end_ns"] - hs["start_ns"]).tolist(),
                 ((hs["thread_id"] & 0xFFFFFFFF) + 1).tolist()))
    st = t["steps"]
    assert [_ns(e["ts"]) + o for e in _of(ev, "X", "step")] == st["start_ns"].tolist()


def test_shipped_one_idle_slice_per_gap_of_the_reports_analysis(shipped):
    t, a, d = shipped
    o = d["otherData"]["origin_ns"]
    idle = _of(d["traceEvents"], "X", "idle")
    g = a.get_gaps()
    assert len(idle) == len(g["gap_ns"]) > 0
    pos = {LEADING: "leading", INTERNAL: "internal", TRAILING: "trailing"}
    assert [(_ns(e["ts"]) + o, _ns(e["dur"]), e["args"]["gap_ns"], e["name"], e["args"]["step"], e["args"]["position"])
            for e in idle] == \
        [(s, n, n, CAUSE_NAMES[GapCause(c)], st, pos[p]) for s, n, c, st, p in
         zip(g["start_ns"].tolist(), g["gap_ns"].tolist(), g["cause"].tolist(), g["step"].tolist(),
             g["position"].tolist())]
    # per cause and length bin, the slices are the report's gap histogram
    h = a.get_gap_histogram()
    for c in GapCause:
        ns = np.array([e["args"]["gap_ns"] for e in idle if e["name"] == CAUSE_NAMES[c]], np.int64)
        b = np.searchsorted(GAP_BINS_NS, ns, side="right") - 1
        assert np.bincount(b, minlength=len(GAP_BINS_NS) - 1).tolist() == h[f"{c.name.lower()}_count"].tolist()
        assert np.bincount(b, weights=ns, minlength=len(GAP_BINS_NS) - 1).astype(np.int64).tolist() == \
            h[f"{c.name.lower()}_ns"].tolist()


def test_shipped_one_flow_per_launched_record_correlation_from_its_first_call(shipped):
    t, _, d = shipped
    o = d["otherData"]["origin_ns"]
    ev = d["traceEvents"]
    api = t["api"]
    first_call = {}
    for c, s, th in zip(api["correlation"].tolist(), api["start_ns"].tolist(), api["thread_id"].tolist()):
        first_call.setdefault(c, (s, th + 1))
    first_rec = {}
    for x in ("kernels", "memcpy", "memset"):
        for c, s, st in zip(t[x]["correlation"].tolist(), t[x]["start_ns"].tolist(), t[x]["stream"].tolist()):
            if c in first_call:
                first_rec.setdefault(c, (s, st))
    starts = {e["id"]: (_ns(e["ts"]) + o, e["tid"]) for e in _of(ev, "s")}
    ends = {e["id"]: (_ns(e["ts"]) + o, e["tid"]) for e in _of(ev, "f")}
    assert len(_of(ev, "s")) == len(_of(ev, "f")) == len(first_rec) > 0
    assert starts == {c: first_call[c] for c in first_rec} and ends == first_rec


def test_shipped_dram_counter_has_every_valid_sample_once_plus_the_closing_zero(shipped):
    t, _, d = shipped
    o = d["otherData"]["origin_ns"]
    pm = t["pm"]
    ok = (pm["start_ns"] > 0) & (pm["end_ns"] > pm["start_ns"])
    c = _of(d["traceEvents"], "C")
    assert [_ns(e["ts"]) + o for e in c[:-1]] == np.sort(pm["start_ns"][ok]).tolist()
    assert c[-1]["args"] == {"read": 0, "write": 0}
