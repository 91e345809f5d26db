"""analysis/trace/merge.py on constructed captures with hand-computed answers (issue 31):
string and row indices remapped (index 0, 'none' kept), one trace returned as it is, shared
step indices refused, and the merged capture block (counts summed, -1 when any capture
lacks one, times and settings from the right capture, the stack samplers' counts)."""
import pytest

from stepscope.analysis.trace.merge import concat
from stepscope.analysis.trace.model import Trace, table_from_rows


def capture(names, step, kernels, spans, cap, stack=None):
    """``kernels``: names; ``spans``: (name, parent); one stack sample of ``stack``."""
    t = Trace()
    for n in names:                  # the string table's own order
        t.intern(n)
    t.tables["steps"] = table_from_rows("steps", {"index": [step], "mode": [t.intern("decode")],
                                                  "start_ns": [step * 100], "end_ns": [step * 100 + 50]})
    t.tables["kernels"] = table_from_rows("kernels", {
        "start_ns": [step * 100 + i for i in range(len(kernels))], "end_ns": [step * 100 + i + 1 for i in range(len(kernels))],
        "name": [t.intern(k) for k in kernels], "correlation": list(range(len(kernels)))})
    t.tables["host_spans"] = table_from_rows("host_spans", {
        "start_ns": [step * 100] * len(spans), "end_ns": [step * 100 + 9] * len(spans),
        "name": [t.intern(s) for s, _ in spans], "parent": [p for _, p in spans], "kind": [0] * len(spans),
        "depth": [0 if p < 0 else 1 for _, p in spans], "thread_id": [1] * len(spans)})
    t.tables["kernel_dram"] = table_from_rows("kernel_dram", {
        "kernel": [len(kernels) - 1], "dram_read_bytes": [64], "dram_write_bytes": [0], "l2_write_bytes": [-1]})
    if stack:
        t.tables["stack_samples"] = table_from_rows("stack_samples", {
            "t_ns": [step * 100], "thread_id": [1], "stack": [t.intern(stack)], "step": [step]})
    t.meta = {"gpu": {"name": f"gpu of step {step}"}, "capture": cap}
    return t


A_CAP = {"start_ns": 10, "end_ns": 20, "device": 0, "dram_interval_ns": 500, "nvml_period_ns": 1000,
         "records": 5, "dropped": 0, "kind_probe": True, "mode": "eager", "lost": 2, "gaps": None,
         "stack_sampler": {"samples": 3, "period_ns": 1000}}
B_CAP = {"start_ns": 30, "end_ns": 40, "device": 1, "dram_interval_ns": 700, "nvml_period_ns": 2000,
         "records": 7, "dropped": 0, "kind_probe": False, "mode": "graph", "lost": -1, "gaps": 3,
         "stack_sampler": {"samples": 4, "period_ns": 2000}}


def two():
    a = capture(["x", "y"], 0, ["y", "gemm"], [("fwd", -1), ("attn", 0)], dict(A_CAP), "main;f")
    b = capture(["gemm", "z"], 1, ["gemm", "z", "gemm"], [("attn", -1), ("mlp", 0)], dict(B_CAP), "main;g")
    return a, b


def test_strings_and_rows_are_remapped():
    a, b = two()
    m = concat([a, b])
    assert m.names("kernels").tolist() == ["y", "gemm", "gemm", "z", "gemm"]
    assert m.names("host_spans").tolist() == ["fwd", "attn", "attn", "mlp"]
    assert m["host_spans"]["parent"].tolist() == [-1, 0, -1, 2]
    assert m["kernel_dram"]["kernel"].tolist() == [1, 4]
    assert [m.strings[s] for s in m["stack_samples"]["stack"]] == ["main;f", "main;g"]
    assert [m.strings[s] for s in m["steps"]["mode"]] == ["decode", "decode"]
    assert m["steps"]["index"].tolist() == [0, 1]
    assert m.intern("new") == len(m.strings) - 1 and m.strings[-1] == "new"
    assert m.intern("gemm") == m.strings.index("gemm")


def test_one_trace_is_returned_as_it_is_and_shared_steps_are_refused():
    a, b = two()
    assert concat([b]) is b
    with pytest.raises(ValueError) as e:
        concat([a, capture([], 0, ["k"], [], {})])
    assert str(e.value) == "the captures share step indices; give each traced step its own index."


def test_the_capture_block():
    a, b = two()
    m = concat([a, b])
    assert m.meta["gpu"] == {"name": "gpu of step 0"}
    cap = m.meta["capture"]
    assert cap == {"start_ns": 10, "end_ns": 40, "device": 0, "dram_interval_ns": 500, "nvml_period_ns": 1000,
                   "records": 12, "dropped": 0, "kind_probe": True, "mode": "eager", "lost": -1, "gaps": None,
                   "stack_sampler": {"samples": 7, "period_ns": 1000}, "sessions": 2}
    c = capture([], 2, ["k"], [], {"records": 1, "dropped": 4})
    cap = concat([a, b, c]).meta["capture"]
    assert cap["records"] == 13 and cap["dropped"] == 4 and cap["end_ns"] is None and cap["sessions"] == 3
    assert cap["stack_sampler"] == A_CAP["stack_sampler"]          # one capture had no sampler: not summed
    a2 = capture([], 0, ["k"], [], {"records": 2, "gaps": 5})
    b2 = capture([], 1, ["k"], [], {"gaps": None, "other": 1})
    cap = concat([a2, b2]).meta["capture"]
    assert cap == {"records": 2, "gaps": -1, "sessions": 2, "end_ns": None}
    s1 = capture([], 0, ["k"], [], {"stack_sampler": {"period_ns": 5}})
    s2 = capture([], 1, ["k"], [], {"stack_sampler": {"samples": 2}})
    assert concat([s1, s2]).meta["capture"]["stack_sampler"] == {"period_ns": 5, "samples": 2}


def test_captures_without_strings_merge():
    """Two empty captures (no string interned while merging)."""
    m = concat([Trace(), Trace()])
    assert m.strings == [] and m.n("steps") == 0 and m.meta["capture"] == {"sessions": 2, "end_ns": None}
