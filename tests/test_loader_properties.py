"""Property tests of the two trace loaders: any mutation of a real shipped trace (bytes of
the file, one value of a column, one metadata field, one field of one Kineto event)
either loads to a trace that `stepscope report` renders (exit 0), or is refused with one
sentence naming the file (exit 2). Never a traceback, never another exit status."""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from stepscope.analysis.trace import TABLES, Trace
from stepscope.cli import main

NATIVE = ROOT / "traces" / "synthetic-h100.stepscope"
KINETO = ROOT / "traces" / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"
RAW = NATIVE.read_bytes()
BASE = Trace.load(NATIVE)
FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from([0, -1, 1, 2**31, 2**63 - 1])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)


def report(path: Path, *extra) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["report", str(path), *extra])
    return rc, err.getvalue()


def loads_or_one_sentence(path: Path) -> int:
    for extra in ((), ("--json",)):
        rc, err = report(path, *extra)
        assert rc in (0, 2), (rc, err)
        if rc == 2:
            assert err.startswith(f"stepscope: {path}") and err.count("\n") == 1 and "Traceback" not in err, err
            return rc
    return rc


@FAST
@given(op=st.sampled_from(["truncate", "flip", "overwrite"]), at=st.integers(0, len(RAW) - 1),
       n=st.integers(1, 64), byte=st.integers(0, 255))
def test_native_bytes(op, at, n, byte):
    b = bytearray(RAW)
    if op == "truncate":
        b = b[:at]
    elif op == "flip":
        b[at] ^= 1 << (byte % 8)
    else:
        b[at:at + n] = bytes([byte]) * len(b[at:at + n])
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.stepscope"
        p.write_bytes(bytes(b))
        loads_or_one_sentence(p)


COLUMNS = [(t, c) for t, cols in TABLES.items() for c in cols]


@FAST
@given(col=st.sampled_from(COLUMNS), row=st.integers(0, 10**6),
       value=st.integers(-2**63, 2**63 - 1) | st.sampled_from([-1, 0, 1, 2**42, -2**42, 2**62, 10**12]))
def test_native_one_value(col, row, value):
    table, column = col
    t = Trace(tables={k: {c: a.copy() for c, a in v.items()} for k, v in BASE.tables.items()},
              strings=list(BASE.strings), meta=json.loads(json.dumps(BASE.meta)))
    a = t.tables[table][column]
    if not len(a):
        return
    a[row % len(a)] = value
    with tempfile.TemporaryDirectory() as d:
        try:
            p = t.save(Path(d) / "t.stepscope")
        except ValueError:   # the writer refuses some (a name outside the string table)
            return
        loads_or_one_sentence(p)


META_PATHS = [("gpu",), ("gpu", "peak_bytes_per_s"), ("gpu", "name"), ("workload",), ("workload", "bytes_per_step"),
              ("workload", "kind"), ("workload", "ctx"), ("capture",), ("capture", "dram_status"),
              ("capture", "dropped_records"), ("capture", "dram_interval_ns")]


@FAST
@given(where=st.sampled_from(META_PATHS), value=json_values)
def test_native_one_meta_field(where, value):
    meta = json.loads(json.dumps(BASE.meta))
    node = meta
    for k in where[:-1]:
        node = node.setdefault(k, {})
    node[where[-1]] = value
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.stepscope"
        try:
            Trace(tables=BASE.tables, strings=BASE.strings, meta=meta).save(p)
        except ValueError:   # a value json cannot write (nan is written; huge ints are)
            return
        loads_or_one_sentence(p)


def _small_kineto() -> dict:
    """The shipped Kineto trace cut to its first step (keeps the tests fast)."""
    doc = json.loads(gzip.decompress(KINETO.read_bytes()))
    steps = [e for e in doc["traceEvents"] if str(e.get("name", "")).startswith("ProfilerStep#")
             and e.get("cat") == "user_annotation"]
    s0 = min(steps, key=lambda e: e["ts"])
    end = s0["ts"] + s0["dur"]
    doc["traceEvents"] = [e for e in doc["traceEvents"] if "ts" not in e or e["ts"] <= end]
    return doc


KDOC = _small_kineto()
KIDX = [i for i, e in enumerate(KDOC["traceEvents"])
        if e.get("cat") in ("kernel", "cuda_runtime", "cuda_driver", "gpu_memset", "user_annotation")]
KEYS = ["ts", "dur", "name", "cat", "ph", "args", "tid", "args.correlation", "args.grid", "args.block",
        "args.stream", "args.registers per thread", "args.bytes", "args.graph id"]


@FAST
@given(i=st.sampled_from(KIDX), key=st.sampled_from(KEYS), value=json_values, delete=st.booleans())
def test_kineto_one_field(i, key, value, delete):
    doc = json.loads(json.dumps(KDOC))
    e = doc["traceEvents"][i]
    if key.startswith("args."):
        e = e.setdefault("args", {}) if isinstance(e.get("args"), dict) else e
        key = key[5:]
    if delete:
        e.pop(key, None)
    else:
        e[key] = value
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.json"
        p.write_text(json.dumps(doc, allow_nan=True))
        loads_or_one_sentence(p)


def test_the_properties_can_fail():
    """The check itself rejects a traceback and a second line (it is not vacuous)."""
    assert not math.isnan(loads_or_one_sentence(NATIVE))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.stepscope"
        p.write_bytes(RAW[:100])
        assert loads_or_one_sentence(p) == 2
    assert np.int64(0) == 0
