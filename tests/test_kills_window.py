"""analysis/window.py on a constructed trace with hand-computed answers (issue 31): a step's
span (its host span stretched to the end of its last GPU record, of any table; records
outside every step stretch nothing), the records, launch calls and PM samples a cut step
keeps (calls and samples touching its span at either edge are kept, one past it is not), and
the workload position of the cut step (the floor of step k reads k more KV tokens)."""
import numpy as np

from stepscope.analysis.trace.model import Trace, table_from_rows
from stepscope.analysis.window import step_spans_ns, step_spans_ns_of, step_trace

# Steps in file order: index 7, 5, 9 (not sorted: the rank of index 7 is 1).
STEPS = {"index": [7, 5, 9], "start_ns": [1000, 0, 2000], "end_ns": [1500, 400, 2500]}


def trace(workload=None):
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {**STEPS, "mode": [t.intern("decode")] * 3})
    # step 7: ends at 1800, after its host end 1500; step 5: 600 > 400; outside any step: 9000
    t.tables["kernels"] = table_from_rows("kernels", {"start_ns": [100, 1100, 3000], "end_ns": [600, 1800, 9000],
                                                      "step": [5, 7, -1]})
    t.tables["memcpy"] = table_from_rows("memcpy", {"start_ns": [2100], "end_ns": [2700], "step": [9]})   # 9 -> 2700
    t.tables["memset"] = table_from_rows("memset", {"start_ns": [200], "end_ns": [300], "step": [5]})
    # calls around step 7's span [1000, 1800]: (start, end, step)
    api = [(1050, 1060, 7), (1490, 1520, -1), (1800, 1900, -1), (900, 1000, -1), (1801, 1900, -1), (0, 999, -1),
           (5000, 5100, 7), (100, 200, 5)]
    t.tables["api"] = table_from_rows("api", {"start_ns": [a[0] for a in api], "end_ns": [a[1] for a in api],
                                              "step": [a[2] for a in api], "correlation": list(range(len(api)))})
    pm = [(900, 1000), (1800, 1900), (0, 999), (1801, 2000), (1200, 1300)]
    t.tables["pm"] = table_from_rows("pm", {"start_ns": [p[0] for p in pm], "end_ns": [p[1] for p in pm],
                                            "dram_read_bytes": list(range(len(pm)))})
    if workload is not None:
        t.meta["workload"] = workload
    return t


def test_a_span_runs_to_the_last_gpu_record_of_its_step():
    t = trace()
    # 7: 1800 - 1000; 5: 600 - 0 (the kernel, not the set at 300); 9: 2700 - 2000 (a copy)
    assert step_spans_ns(t).tolist() == [800, 600, 700]
    assert [step_spans_ns_of(t, p) for p in range(3)] == [800, 600, 700]


def test_records_of_no_step_stretch_nothing():
    t = trace()
    t.tables["kernels"]["step"][:] = -1
    t.tables["memset"]["step"][:] = -1
    assert step_spans_ns(t).tolist() == [500, 400, 700]
    assert [step_spans_ns_of(t, p) for p in range(3)] == [500, 400, 700]


def test_a_cut_step_keeps_its_records_and_the_calls_and_samples_touching_its_span():
    t = trace()
    one = step_trace(t, 0)
    assert {c: v.tolist() for c, v in one["steps"].items() if c in STEPS} == \
        {"index": [7], "start_ns": [1000], "end_ns": [1500]}
    assert one["kernels"]["end_ns"].tolist() == [1800]
    assert one.n("memcpy") == 0 and one.n("memset") == 0
    # its own calls (wherever they are), and calls of no step overlapping [1000, 1800],
    # edges included; not the call of step 5, not one a ns past either edge
    assert one["api"]["correlation"].tolist() == [0, 1, 2, 3, 6]
    assert one["pm"]["dram_read_bytes"].tolist() == [0, 1, 4]
    assert sorted(one.tables) == sorted(t.tables)
    assert step_trace(t, 2)["memcpy"]["end_ns"].tolist() == [2700]
    assert step_trace(t, 1)["memset"]["end_ns"].tolist() == [300]


def test_the_cut_step_keeps_its_workload_position():
    wl = {"kind": "decode", "ctx": 100, "traced_positions": [2048, 2049, 2050]}
    t = trace(wl)
    # steps by index 5, 7, 9 -> positions 2048, 2049, 2050; row 0 is index 7
    assert step_trace(t, 0).meta["workload"] == {"kind": "decode", "ctx": 100, "first_traced_position": 2049,
                                                 "traced_positions": [2049]}
    assert t.meta["workload"] == {"kind": "decode", "ctx": 100, "traced_positions": [2048, 2049, 2050]}  # a copy
    assert step_trace(trace({"kind": "decode", "ctx": 100}), 0).meta["workload"]["first_traced_position"] == 101
    assert step_trace(trace({"kind": "decode", "ctx": 100, "first_traced_position": 50}), 2).meta[
        "workload"]["first_traced_position"] == 52
    assert step_trace(trace({"kind": "decode"}), 1).meta["workload"] == {"kind": "decode", "first_traced_position": 0}
    # positions of another length than the steps: counted from the first
    assert step_trace(trace({"kind": "decode", "ctx": 10, "traced_positions": [1, 2]}), 0).meta[
        "workload"]["first_traced_position"] == 11
    assert step_trace(trace({"kind": "spin", "ctx": 10}), 0).meta["workload"] == {"kind": "spin", "ctx": 10}
    assert np.array_equal(step_trace(trace(), 0)["kernels"]["start_ns"], [1100])
