"""The typed Kineto reader (analysis/trace/kineto_fast.py) on small constructed files
(issue 31): the refusals name their events the way the general reader does, event counts,
copy kinds of unnamed copies, user annotations as user spans, and times that need the exact
path handed back to it."""
import json
from pathlib import Path

import pytest

from stepscope.analysis.trace import kineto, kineto_fast
from stepscope.analysis.trace.errors import TraceFileError
from stepscope.analysis.trace.model import HostSpanKind


def kernel(ts, dur=5.0, corr=1, name="gemm"):
    return {"ph": "X", "cat": "kernel", "name": name, "ts": ts, "dur": dur, "tid": 7, "pid": 0,
            "args": {"correlation": corr, "stream": 7, "grid": [1, 1, 1], "block": [32, 1, 1]}}


def launch(ts, corr=1):
    return {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": ts, "dur": 3.0, "tid": 11, "pid": 1,
            "args": {"correlation": corr, "cbid": 211}}


def write(tmp_path: Path, events: list, name="t.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps({"schemaVersion": 1, "traceEvents": events}))
    return p


BASE = [launch(100.0, 1), kernel(110.0, 5.0, 1), launch(120.0, 2), kernel(130.0, 5.0, 2)]


def test_negative_durations_are_refused_naming_the_events(tmp_path):
    cases = [({"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "ts": 90.0, "dur": -1.0, "tid": 11},
              "1 step annotation events have a negative duration"),
             ({"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 95.0, "dur": -2.0, "tid": 11},
              "1 cpu_op events have a negative duration"),
             (kernel(140.0, -1.0, 3), "1 kernels events have a negative duration")]
    for i, (bad, words) in enumerate(cases):
        p = write(tmp_path, BASE + [bad], f"t{i}.json")
        with pytest.raises(TraceFileError) as e:
            kineto._read_fast(p)
        assert str(e.value) == f"{p}: {words}."


def test_no_kernels_is_refused_in_one_sentence(tmp_path):
    p = write(tmp_path, [launch(100.0)])
    with pytest.raises(TraceFileError) as e:
        kineto._read_fast(p)
    assert str(e.value) == f"{p}: the torch.profiler trace holds no GPU kernels (was CUDA activity recorded?)."


def test_columns_count_the_events_kept():
    cols = kineto_fast.Columns()
    assert cols.n == 0
    events = kineto_fast.loads(json.dumps(BASE + [
        {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "ts": 90.0, "dur": 60.0, "tid": 11},
        {"ph": "i", "cat": "kernel", "name": "instant", "ts": 1.0, "tid": 7},          # not a complete event
        {"ph": "X", "cat": "python_function", "name": "f", "ts": 1.0, "dur": 1.0, "tid": 11}]).encode())
    assert cols.add(events) == 5 and cols.n == 5
    assert cols.add(events[:2]) == 2 and cols.n == 7


def test_an_unnamed_copy_kind_is_zero_and_user_annotations_are_user_spans(tmp_path):
    copy = {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy PtoP (Device -> Device)", "ts": 140.0, "dur": 2.0,
            "tid": 7, "args": {"correlation": 3, "stream": 7, "bytes": 64}}
    dtoh = {**copy, "name": "Memcpy DtoH (Device -> Pinned)", "ts": 150.0, "args": {**copy["args"], "correlation": 4}}
    user = {"ph": "X", "cat": "user_annotation", "name": "my region", "ts": 99.0, "dur": 50.0, "tid": 11}
    op = {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 99.5, "dur": 10.0, "tid": 11}
    t = kineto._read_fast(write(tmp_path, BASE + [copy, dtoh, user, op]))
    assert t["memcpy"]["copy_kind"].tolist() == [0, 2]
    names = t.names("host_spans").tolist()
    kinds = dict(zip(names, t["host_spans"]["kind"].tolist()))
    assert kinds == {"my region": HostSpanKind.USER, "aten::mm": HostSpanKind.OPERATOR}


def test_times_beyond_exact_floats_go_to_the_exact_reader(tmp_path):
    """Microseconds at or above 2**43 cannot all be made exact ns from a float: the typed
    reader hands the file back (None), and load_kineto reads it exactly."""
    base = 2.0 ** 43
    p = write(tmp_path, [launch(base + 100.0, 1), kernel(base + 110.5, 5.25, 1)])
    assert kineto._read_fast(p) is None
    t = kineto.load_kineto(p)
    assert t["kernels"]["start_ns"].tolist() == [int(base) * 1000 + 110_500]
