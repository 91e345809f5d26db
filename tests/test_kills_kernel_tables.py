"""analysis/kernel_tables.py (issue 31): the per-class and top-kernel tables of shipped
traces against their report goldens (tests/golden/report, every field), and constructed
records with hand-computed answers for what the goldens do not separate: records outside
every step left out, per-step scaling, shares of busy, GB/s of a zero-time class, the
top-n cut and its order, and the bytes model each class is held to."""
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import stepscope.profiler
from conftest import ROOT, same_json, trace_path
from stepscope.analysis import kernel_tables as KT
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.kernel_classes import KernelClass
from stepscope.analysis.render.json_report import _jsonable
from stepscope.analysis.trace.model import Trace, table_from_rows

TRACES = ["qwen2.5-7b-ctx2048-eager-h100", "qwen2.5-7b-ctx2048-graph-h200", "chain-h100",
          "qwen2.5-7b-ctx2048-eager-static-counters-h100", "record-qwen2.5-7b-ctx2048-hf-eager-h200"]


@pytest.mark.parametrize("name", TRACES)
def test_tables_of_shipped_traces_are_their_report_goldens(name):
    want = json.loads(gzip.decompress((ROOT / "tests" / "golden" / "report" / f"{name}.stepscope.json.gz").read_bytes()))
    a = TraceAnalysis(trace_path(name))
    got = {"kernel_classes": a.get_kernel_classes(), "top_kernels": a.get_top_kernels(10)}
    for k, v in got.items():
        assert (d := same_json(json.dumps(_jsonable(v)), json.dumps(want[k]))) is None, (k, d)


def _trace():
    """Two steps; kernels (start, end, name, step): two GEMMs and a norm in steps, one GEMM
    outside any step; PM samples of 1000 read + 500 written bytes per 100 ns."""
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {"index": [0, 1], "mode": [t.intern("decode")] * 2,
                                                  "start_ns": [0, 1000], "end_ns": [1000, 2000]})
    kern = [(100, 300, "gemv_kernel", 0), (300, 400, "rms_norm_kernel", 0), (1100, 1300, "gemv_kernel", 1),
            (1300, 1300, "rms_norm_kernel", 1), (5000, 9000, "gemv_kernel", -1), (1400, 1500, "elementwise_kernel", 1)]
    t.tables["kernels"] = table_from_rows("kernels", {"start_ns": [k[0] for k in kern], "end_ns": [k[1] for k in kern],
                                                      "name": [t.intern(k[2]) for k in kern], "step": [k[3] for k in kern]})
    t.tables["pm"] = table_from_rows("pm", {"start_ns": list(range(0, 10000, 100)), "end_ns": list(range(100, 10100, 100)),
                                            "dram_read_bytes": [1000] * 100, "dram_write_bytes": [500] * 100})
    return t


def test_per_class_over_the_steps_records():
    from stepscope.analysis.intervals import gpu_records
    t = _trace()
    table = KT.record_table(t, gpu_records(t))
    assert table["dur_ns"].tolist() == [200, 100, 200, 0, 4000, 100]
    # 1500 bytes per 100 ns: 3000 for a 200 ns kernel, 0 for the 0-ns one
    assert (table["read"] + table["write"]).tolist() == [3000, 1500, 3000, 0, 60000, 1500]
    assert table["kernel_dur_ns"].tolist() == table["dur_ns"].tolist()
    got = KT.per_class(table, 2, 600)
    # gemm: 2 in steps (400 ns, 6000 B), the one outside left out; norm: 2 (100 ns, 1500 B);
    # elementwise: 1 (100 ns, 1500 B); per step: / 2; share of 600 ns busy; in KernelClass order
    assert {k: v.tolist() for k, v in got.items()} == {
        "class": ["gemm", "norm", "elementwise"], "count_per_step": [1.0, 1.0, 0.5],
        "time_ns_per_step": [200.0, 50.0, 50.0], "share_of_busy": [400 / 600, 100 / 600, 100 / 600],
        "dram_bytes_per_step": [3000.0, 750.0, 750.0], "bytes_per_s": [1.5e10, 1.5e10, 1.5e10]}
    zero = KT.per_class({k: v[3:4] for k, v in table.items()}, 0, 0)      # one 0-ns norm; no steps, no busy
    assert {k: v.tolist() for k, v in zero.items()} == {
        "class": ["norm"], "count_per_step": [1.0], "time_ns_per_step": [0.0], "share_of_busy": [0.0],
        "dram_bytes_per_step": [0.0], "bytes_per_s": [0.0]}


def test_top_kernels_by_time_cut_at_n():
    from stepscope.analysis.intervals import gpu_records
    t = _trace()
    table = KT.record_table(t, gpu_records(t))
    got = KT.top_kernels(t, table, 600, n=2)
    assert {k: list(np.asarray(v).tolist()) for k, v in got.items()} == {
        "name": ["gemv_kernel", "rms_norm_kernel"], "class": ["gemm", "norm"], "count_per_step": [1.0, 1.0],
        "mean_ns": [200.0, 50.0], "time_ns_per_step": [200.0, 50.0], "share_of_busy": [400 / 600, 100 / 600],
        "bytes_per_s": [1.5e10, 1.5e10]}
    assert KT.top_kernels(t, table, 0, n=10)["share_of_busy"].tolist() == [400.0, 100.0, 100.0]


def test_unmodelled_bytes_hold_each_class_to_its_model():
    cfg = json.loads((Path(next(iter(stepscope.profiler.__path__))) / "workloads" / "models" / "qwen2.5-7b.json")
                     .read_text())
    wl = {"kind": "decode", "config": cfg, "ctx": 100, "first_traced_position": 10}
    steps = {"model_read_bytes": np.array([1, 1])}
    classes = {"class": ["gemm", "attention", "copy", "norm", "graph"],
               "dram_bytes_per_step": [14_141_245_440 + 5, 57_344 * 10 - 4, 57_344, 300.0, 0.0]}
    got = KT.unmodelled_bytes(wl, steps, classes)
    model_graph = 14_141_245_440 + 57_344 * 10 + 57_344
    assert got == {"class": ["norm", "gemm", "copy", "attention", "graph"],
                   "measured_bytes_per_step": [300.0, 14_141_245_445, 57_344, 573_436, 0.0],
                   "modelled_bytes_per_step": [0, 14_141_245_440, 57_344, 573_440, model_graph],
                   "excess_bytes_per_step": [300.0, 5, 0, -4, -model_graph]}
    # no first position: the ctx
    wl2 = {k: v for k, v in wl.items() if k != "first_traced_position"}
    assert KT.unmodelled_bytes(wl2, steps, classes)["modelled_bytes_per_step"][3] == 57_344 * 100
    empty = {"class": [], "measured_bytes_per_step": [], "modelled_bytes_per_step": [], "excess_bytes_per_step": []}
    assert KT.unmodelled_bytes({**wl, "kind": "chain"}, steps, classes) == empty
    assert KT.unmodelled_bytes(wl, {"model_read_bytes": np.array([0, 0])}, classes) == empty


def test_edges_of_the_tables():
    from stepscope.analysis.intervals import gpu_records
    t = _trace()
    table = KT.record_table(t, gpu_records(t))
    G, N, E = KernelClass.GEMM, KernelClass.NORM, KernelClass.ELEMENTWISE
    assert table["kernel_class"].tolist() == [G, N, G, N, G, E]
    # no busy time: shares over 1 ns, not 0 (nor 2)
    assert KT.per_class(table, 2, 0)["share_of_busy"].tolist() == [400.0, 100.0, 100.0]
    # eleven kernel names: ten by default; a 0-ns kernel reads 0 B/s; a 1-ns kernel its bytes over 1 ns
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {"index": [0], "mode": [t.intern("decode")], "start_ns": [0],
                                                  "end_ns": [10_000]})
    names = [f"k{i}_kernel" for i in range(11)]
    kern = [(100 * i, 100 * i + 50 - i, names[i]) for i in range(11)] + [(2000, 2000, "zero_kernel"),
                                                                        (3000, 3001, "one_ns_kernel")]
    t.tables["kernels"] = table_from_rows("kernels", {"start_ns": [k[0] for k in kern], "end_ns": [k[1] for k in kern],
                                                      "name": [t.intern(k[2]) for k in kern], "step": [0] * len(kern)})
    t.tables["pm"] = table_from_rows("pm", {"start_ns": list(range(0, 10000, 100)), "end_ns": list(range(100, 10100, 100)),
                                            "dram_read_bytes": [1000] * 100, "dram_write_bytes": [500] * 100})
    table = KT.record_table(t, gpu_records(t))
    assert KT.top_kernels(t, table, 1000)["name"] == names[:10]
    allk = KT.top_kernels(t, table, 1000, n=13)
    assert allk["name"][-2:] == ["one_ns_kernel", "zero_kernel"]
    assert allk["bytes_per_s"][-2:].tolist() == [15 * 1e9, 0.0] and allk["bytes_per_s"].dtype == np.float64
    # a trace without steps counts per step over one
    t.tables["steps"] = table_from_rows("steps", {"index": []})
    assert KT.top_kernels(t, table, 1000)["count_per_step"][0] == 1.0


def test_unmodelled_bytes_of_a_workload_without_positions():
    cfg = json.loads((Path(next(iter(stepscope.profiler.__path__))) / "workloads" / "models" / "qwen2.5-7b.json")
                     .read_text())
    got = KT.unmodelled_bytes({"kind": "decode", "config": cfg}, {"model_read_bytes": np.array([1])},
                              {"class": ["attention"], "dram_bytes_per_step": [10.0]})
    assert got["modelled_bytes_per_step"] == [0]          # position 0: no KV read
