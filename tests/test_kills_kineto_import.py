"""The Kineto importer (analysis/trace/kineto.py) on small constructed torch.profiler
traces, every expected value worked out by hand from the JSON written here: the tables
(times as exact nanoseconds of the microsecond decimals, names in their interning order,
correlation ids, streams, launch parameters and their defaults, copy kinds, API domains),
the steps of the ``ProfilerStep#N`` markers and the records assigned to them, host spans
nested per thread, CUDA-graph replays, the metadata, and the one-sentence refusals of bad
input, whole. Each of the three readers (the typed one, the general dict reader, the exact
decimal reader) is held to the same hand-made answer; the readers' parts (reading, the
size budget, event selection, the two-halves split) are held to theirs."""
import gc
import gzip
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from stepscope.analysis.trace import json_stream, kineto, kineto_fast
from stepscope.analysis.trace.errors import TraceFileError
from stepscope.analysis.trace.json_stream import NotSplittable

RAISE = "(raise it with --max-trace-mb or STEPSCOPE_MAX_TRACE_MB"


def X(cat, name, ts, dur, tid=11, **args):
    e = {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "tid": tid, "pid": 1}
    if args:
        e["args"] = args
    return e


def write(tmp_path: Path, doc, name="t.json") -> Path:
    """``doc`` (a dict, a list of events, or text) written as ``name`` (.gz: compressed)."""
    if isinstance(doc, list):
        doc = {"schemaVersion": 1, "traceEvents": doc}
    data = doc if isinstance(doc, bytes) else (doc if isinstance(doc, str) else json.dumps(doc)).encode()
    p = tmp_path / name
    p.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return p


def limit_bytes(monkeypatch, n: int) -> None:
    """The size limit set to exactly ``n`` bytes."""
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", repr(n / 2**20))


def cols(t, table):
    return {k: v.tolist() for k, v in t.tables[table].items()}


def refused(fn, p, words: str):
    with pytest.raises(TraceFileError) as e:
        fn(p)
    assert str(e.value) == f"{p}: {words}"


# -- one trace, every table by hand -------------------------------------------------

EVENTS = [
    {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "python"}},     # metadata: dropped
    X("user_annotation", "ProfilerStep#4", 150.0, 50.0),                            # steps out of order
    X("user_annotation", "ProfilerStep#3", 100.0, 50.0),
    X("cpu_op", "aten::mm", 100.5, 10.0),                                           # inside "region"
    X("user_annotation", "region", 100.25, 20.0),
    {"ph": "X", "cat": "cpu_op", "name": "aten::add", "ts": 151.5, "dur": 0.25},    # no tid: -1
    X("python_function", "f", 100.0, 1.0),                                          # other category: dropped
    {"ph": "i", "cat": "kernel", "name": "instant", "ts": 1.0},                     # not complete: dropped
    X("cuda_runtime", "cudaLaunchKernel", 101.25, 2.5, correlation=1, cbid=211),
    X("kernel", "gemm", 110.125, 5.5, tid=7, correlation=1, grid=[4, 2, 1], block=[128, 1, 1],
      **{"registers per thread": 32, "shared memory": 1024, "stream": 7, "graph id": 0, "graph node id": 0}),
    X("cuda_driver", "cuLaunchKernel", 151.0, 1.0, tid=12, correlation=2, cbid=307),
    {"ph": "X", "cat": "kernel", "name": "relu", "ts": 160.5, "dur": 2.0},          # no args: every default
    X("gpu_memcpy", "Memcpy HtoD (Pinned -> Device)", 170.0, 1.5, tid=7, correlation=5, bytes=4096, stream=7),
    X("gpu_memset", "Memset (Device)", 175.0, 0.5, tid=7, correlation=4, bytes=64, stream=8),
    X("cuda_runtime", "cudaGraphLaunch", 152.0, 3.0, correlation=5, cbid=311),
    X("kernel", "graphk", 180.0, 1.0, tid=7, correlation=5, stream=9),
    X("kernel", "gemm", 185.001, 0.999, tid=7, correlation=2, stream=7, **{"graph id": 3, "graph node id": 12}),
]
DOC = {"schemaVersion": 1, "deviceProperties": [{"name": "NVIDIA H100 80GB HBM3"}], "cupti_version": 24,
       "traceEvents": EVENTS, "traceName": "x"}

STRINGS = ["gemm", "relu", "graphk", "cudaLaunchKernel", "cuLaunchKernel", "cudaGraphLaunch",
           "aten::mm", "region", "aten::add", "kineto"]
N4 = [-1] * 4
WANT = {
    "steps": {"index": [3, 4], "mode": [9, 9], "start_ns": [100_000, 150_000], "end_ns": [150_000, 200_000],
              **{c: [-1, -1] for c in ("sm_clock_mhz", "mem_clock_mhz", "power_mw", "energy_mj", "throttle_reasons",
                                       "temperature_c", "cupti_buffers_completed")}},
    "kernels": {"start_ns": [110_125, 160_500, 180_000, 185_001], "end_ns": [115_625, 162_500, 181_000, 186_000],
                "name": [0, 1, 2, 0], "grid_x": [4, -1, -1, -1], "grid_y": [2, -1, -1, -1], "grid_z": [1, -1, -1, -1],
                "block_x": [128, -1, -1, -1], "block_y": [1, -1, -1, -1], "block_z": [1, -1, -1, -1],
                "registers": [32, -1, -1, -1], "static_smem_bytes": [1024, -1, -1, -1], "dynamic_smem_bytes": N4,
                "stream": [7, -1, 9, 7], "correlation": [1, -1, 5, 2], "graph_id": [0, 0, 1, 3],
                "graph_node_id": [0, 0, 0, 12], "step": [3, 4, 4, 4]},
    "api": {"start_ns": [101_250, 151_000, 152_000], "end_ns": [103_750, 152_000, 155_000], "name": [3, 4, 5],
            "cbid": [211, 307, 311], "domain": [0, 1, 0], "thread_id": [11, 12, 11], "correlation": [1, 2, 5],
            "step": [3, 4, 4]},
    "memcpy": {"start_ns": [170_000], "end_ns": [171_500], "bytes": [4096], "copy_kind": [1], "stream": [7],
               "correlation": [5], "graph_id": [1], "step": [4]},
    "memset": {"start_ns": [175_000], "end_ns": [175_500], "bytes": [64], "stream": [8], "correlation": [4],
               "graph_id": [0], "step": [4]},
    "host_spans": {"start_ns": [100_500, 100_250, 151_500], "end_ns": [110_500, 120_250, 151_750], "name": [6, 7, 8],
                   "kind": [1, 2, 1], "depth": [1, 0, 0], "parent": [1, -1, -1], "thread_id": [11, 11, -1],
                   "step": [3, 3, 4]},
}
META = {"source": "torch.profiler (Kineto) trace", "source_file": None, "gpu": {"name": "NVIDIA H100 80GB HBM3",
                                                                              "peak_bytes_per_s": None},
        "capture": {"dram_status": "none: torch.profiler traces carry no DRAM counters", "dropped_records": None,
                    "apis": "torch.profiler (the runtime/driver calls it recorded)",
                    "host_spans": "torch.profiler cpu_op and user_annotation events",
                    "kernels_without_launch_call": 1, "kernels_assigned_by_time": 1, "kernels_outside_steps": 0,
                    "memcpy_without_launch_call": 0, "memcpy_assigned_by_time": 0, "memcpy_outside_steps": 0,
                    "memset_without_launch_call": 1, "memset_assigned_by_time": 1, "memset_outside_steps": 0},
        "step_detection": {"rule": "ProfilerStep markers", "anchor": "", "message": "", "decode_steps": 2,
                           "steady_steps": 2, "warmup_steps": 0, "prefill": 0, "left_out": [],
                           "launches_per_step": [0, 0, 0], "graph_launch_calls": 1, "graph_launch_call_ns_median": 3000},
        "kineto": {"schemaVersion": 1, "cupti_version": 24, "cuda_runtime_version": None, "cuda_driver_version": None}}


def general(p):
    return kineto._build(p, kineto._parse_streaming(p), exact=False)


def exact(p):
    return kineto._build(p, kineto._parse(p, exact=True), exact=True)


READERS = {"typed": kineto.load_kineto, "general": general, "exact": exact}


def check(t, p, want=WANT, strings=STRINGS, meta=META):
    assert t.strings == strings
    for table, c in want.items():
        assert cols(t, table) == c, table
    assert {k for k, v in t.tables.items() if len(v[next(iter(v))])} == set(want)
    assert t.meta == {**meta, "source_file": p.name}


@pytest.mark.parametrize("name", ["t.json", "t.json.gz"])
@pytest.mark.parametrize("reader", READERS)
def test_every_table_by_hand(tmp_path, reader, name):
    """Plain and gzip files, by each reader: exact ns times, names interned kernels then
    API then host spans then the mode, launch fields and their defaults (-1; graph ids 0),
    copy kinds, API domains (runtime 0, driver 1), host spans nested per thread (parent
    row, depth; a span without a thread gets -1), steps ordered by start, records assigned
    to steps, the graph replay's kernel and copy marked graph 1 (a Kineto graph id kept),
    and the metadata."""
    p = write(tmp_path, DOC, name)
    check(READERS[reader](p), p)


def test_the_general_reader_reads_what_the_typed_reader_refuses(tmp_path):
    """A float thread id on an event that is not kept sends the typed reader to the general
    one, which gives the same hand-made trace (and keeps the collector's state)."""
    p = write(tmp_path, {**DOC, "traceEvents": EVENTS + [X("cpu_op_odd", "z", 1.0, 1.0, tid=1.5)]})
    with pytest.raises(kineto_fast.Unexpected):
        kineto._read_fast(p)
    assert gc.isenabled()
    check(kineto.load_kineto(p), p)
    assert gc.isenabled()
    gc.disable()
    try:
        kineto.load_kineto(p)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_read_fast_path_gives_the_trace(tmp_path):
    """_read_fast itself (one process: a small file is not worth splitting) gives the trace."""
    p = write(tmp_path, DOC)
    assert not kineto._split_worth(p)
    check(kineto._read_fast(p), p)


def test_unsplittable_text_goes_to_the_general_reader(tmp_path):
    """Text the streaming reader cannot cut (the events list nested in another key before
    the document's own) is Unexpected to the typed reader; load_kineto reads it whole."""
    doc = {"meta": {"traceEvents": [1]}, **DOC}
    p = write(tmp_path, doc)
    with pytest.raises(kineto_fast.Unexpected):
        kineto._read_fast(p)
    t = kineto.load_kineto(p)
    assert t.strings == STRINGS and cols(t, "kernels") == WANT["kernels"]


def test_exact_decimals_beyond_doubles(tmp_path):
    """Microseconds past 2**43 (doubles coarser than 1 ns) are read from their decimal
    text: the typed reader hands the file over (None), the general reader too (None), and
    load_kineto's exact reader keeps every nanosecond; integers and exponents included."""
    big = 9_007_199_254_740
    text = ('{"traceEvents": [' + ", ".join([
        f'{{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#0", "ts": {big}.000, "dur": 100, "tid": 1}}',
        f'{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": {big}.001, "dur": 1.5e0, "tid": 1,'
        ' "args": {"correlation": 1}}',
        f'{{"ph": "X", "cat": "kernel", "name": "k", "ts": {big}.993, "dur": 2.007, "tid": 7, "args": {{"correlation": 1}}}}',
        f'{{"ph": "X", "cat": "kernel", "name": "k", "ts": {big + 1}.5, "tid": 7}}']) + "]}")
    p = write(tmp_path, text)
    assert kineto._read_fast(p) is None
    assert general(p) is None
    t = kineto.load_kineto(p)
    base = big * 1000
    assert cols(t, "kernels")["start_ns"] == [base + 993, base + 1500]
    assert cols(t, "kernels")["end_ns"] == [base + 3000, base + 1500]
    assert cols(t, "api")["start_ns"] == [base + 1] and cols(t, "api")["end_ns"] == [base + 1501]
    assert cols(t, "steps")["start_ns"] == [base] and cols(t, "steps")["end_ns"] == [base + 100_000]
    assert cols(t, "kernels")["step"] == [0, 0]


# -- pieces ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,ns", [("4470995119299.744", 4470995119299744), ("12", 12000), ("-1.5", -1500),
                                     ("-0.25", -250), (".5", 500), ("1.23456", 1234), ("1e3", 1_000_000),
                                     ("2.6E-3", 3), ("7.0", 7000), ("0.001", 1)])
def test_ns_of_decimal_text(text, ns):
    """Decimal microseconds to exact nanoseconds (extra decimals cut; exponents rounded)."""
    assert kineto._ns(text) == ns


def test_ns_of_numbers():
    assert kineto._ns(12) == 12000 and kineto._ns(-3) == -3000


def test_is_kineto():
    """Names ending .json or .json.gz are Kineto traces; others are not."""
    assert kineto.is_kineto("a.json") and kineto.is_kineto(Path("x/a.json.gz"))
    assert not kineto.is_kineto("a.stepscope") and not kineto.is_kineto("a.json.gzip") and not kineto.is_kineto("a.gz")


def test_read_bytes_plain_and_gzip(tmp_path, monkeypatch):
    """The text of a plain file, and of a .json.gz inflated chunk by chunk (all chunks kept)."""
    data = b'{"traceEvents": []}' * 7
    assert kineto._read_bytes(write(tmp_path, data)) == data
    monkeypatch.setattr(kineto, "_CHUNK", 5)
    assert bytes(kineto._read_bytes(write(tmp_path, data, "t.json.gz"))) == data


def test_read_bytes_limit_is_inclusive(tmp_path, monkeypatch):
    """A file exactly at the limit is read; one byte over is refused (plain: by its size;
    .json.gz: by what it inflates to)."""
    data = b"x" * 1000
    plain, gz = write(tmp_path, data), write(tmp_path, data, "t.json.gz")
    limit_bytes(monkeypatch, 1000)
    assert kineto._read_bytes(plain) == data and bytes(kineto._read_bytes(gz)) == data
    limit_bytes(monkeypatch, 999)
    refused(kineto._read_bytes, plain, f"the file is 0 MB, over the 0 MB limit {RAISE}).")
    refused(kineto._read_bytes, gz, f"inflates to more than the 0 MB limit {RAISE} if the file is trusted).")


def test_read_bytes_refusals_give_megabytes(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "2")
    data = b" " * (3 * 2**20 + 5)
    refused(kineto._read_bytes, write(tmp_path, data), f"the file is 3 MB, over the 2 MB limit {RAISE}).")
    refused(kineto._read_bytes, write(tmp_path, data, "t.json.gz"),
            f"inflates to more than the 2 MB limit {RAISE} if the file is trusted).")


def test_blocks(tmp_path, monkeypatch):
    """The text in blocks of the size asked, plain or inflated; at the limit read, over it
    refused (plain by its size, gzip by what it inflates to); unreadable gzip: NotSplittable."""
    data = b"0123456789abc"
    plain, gz = write(tmp_path, data), write(tmp_path, data, "t.json.gz")
    want = [b"01234", b"56789", b"abc"]
    assert list(kineto._blocks(plain, 5)) == want and list(kineto._blocks(gz, 5)) == want
    limit_bytes(monkeypatch, 13)
    assert list(kineto._blocks(gz, 5)) == want and list(kineto._blocks(plain, 5)) == want
    limit_bytes(monkeypatch, 12)
    refused(lambda p: list(kineto._blocks(p, 5)), plain, f"the file is 0 MB, over the 0 MB limit {RAISE}).")
    refused(lambda p: list(kineto._blocks(p, 5)), gz, f"inflates to more than the 0 MB limit {RAISE} if the file is trusted).")
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "1")
    big = write(tmp_path, b" " * (2 * 2**20 + 1), "big.json.gz")
    refused(lambda p: list(kineto._blocks(p, 2**20)), big,
            f"inflates to more than the 1 MB limit {RAISE} if the file is trusted).")
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(NotSplittable):
        list(kineto._blocks(bad, 5))


def test_blocks_of_a_broken_gzip_larger_than_the_limit(tmp_path, monkeypatch):
    """A cut-off .json.gz whose compressed size passes the limit while what it inflates to
    does not: NotSplittable (the whole-file parse then says why), not a traceback."""
    raw = random.Random(1).randbytes(4000)     # incompressible: 3000 bytes of it inflate to 2985
    p = tmp_path / "cut.json.gz"
    p.write_bytes(gzip.compress(raw)[:3000])
    limit_bytes(monkeypatch, 2990)
    with pytest.raises(NotSplittable):
        list(kineto._blocks(p, 1000))


def test_select():
    """Only complete events of the read categories are kept; a non-object: NotSplittable."""
    keep = [{"ph": "X", "cat": c} for c in ("kernel", "cuda_runtime", "cuda_driver", "gpu_memcpy", "gpu_memset",
                                            "user_annotation", "cpu_op")]
    drop = [{"ph": "i", "cat": "kernel"}, {"ph": "X", "cat": "python_function"}, {"ph": "X", "cat": ["kernel"]},
            {"ph": "X"}, {"cat": "kernel"}]
    assert kineto._select(drop[:2] + keep + drop[2:]) == keep
    with pytest.raises(NotSplittable):
        kineto._select(keep + [3])


def test_budgeted_counts_across_chunks(tmp_path, monkeypatch):
    """The events kept so far count against the limit, EVENT_BYTES each: at it read, past
    it refused, in a sentence giving the count and the megabytes."""
    p = tmp_path / "t.json"
    ev = {"ph": "X", "cat": "kernel"}
    limit_bytes(monkeypatch, 3 * kineto.EVENT_BYTES)
    sel = kineto._budgeted(p)
    assert sel([ev, {"ph": "i"}, ev]) == [ev, ev]
    assert sel([ev]) == [ev]
    with pytest.raises(TraceFileError) as e:
        sel([ev])
    assert str(e.value) == (f"{p}: holds more than 4 events to import, about 0 MB in memory, over the 0 MB limit "
                            f"{RAISE} if the machine has the memory).")


def test_over_budget_sentence():
    e = kineto._over_budget(Path("x.json"), 3000, 2 * 2**20, 1000)
    assert str(e) == ("x.json: holds more than 3000 events to import, about 3 MB in memory, over the 2 MB limit "
                      f"{RAISE} if the machine has the memory).")


SMALL = [X("cuda_runtime", "cudaLaunchKernel", 1.0, 1.0, correlation=1),
         X("kernel", "k", 2.0, 1.0, tid=7, correlation=1), X("python_function", "f", 1.0, 1.0),
         X("kernel", "k2", 4.0, 1.0, tid=7, correlation=2)]


def test_typed_columns_and_their_budget(tmp_path, monkeypatch):
    """The document's other keys and the typed columns of its events; the kept events count
    against the limit at kineto_fast.EVENT_BYTES each (at it read, past it refused)."""
    text = json.dumps({"schemaVersion": 1, "traceEvents": SMALL, "traceName": "n"}).encode()
    p = tmp_path / "t.json"
    limit_bytes(monkeypatch, 3 * kineto_fast.EVENT_BYTES)
    head, c = kineto._typed_columns(p, [text[:10], text[10:]])
    assert head == {"schemaVersion": 1, "traceName": "n"} and c.n == 3
    assert c.joined("kernels")["ts"].tolist() == [2.0, 4.0]
    limit_bytes(monkeypatch, 3 * kineto_fast.EVENT_BYTES - 1)
    refused(lambda q: kineto._typed_columns(q, [text]), p,
            f"holds more than 3 events to import, about 0 MB in memory, over the 0 MB limit {RAISE} if the machine "
            "has the memory).")


def test_split_worth(tmp_path, monkeypatch):
    """Two halves only for a plain file between SPLIT_BYTES and the lesser of SPLIT_MAX_BYTES
    and the size limit (both ends included), two CPUs or more, fork, one thread, and
    STEPSCOPE_READ_PROCESSES not 1."""
    p = write(tmp_path, b"x" * 1000)
    monkeypatch.delenv("STEPSCOPE_READ_PROCESSES", raising=False)
    monkeypatch.setattr(kineto, "SPLIT_BYTES", 1000)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert kineto._split_worth(p)
    monkeypatch.setattr(kineto, "SPLIT_BYTES", 1001)
    assert not kineto._split_worth(p)
    monkeypatch.setattr(kineto, "SPLIT_BYTES", 0)
    limit_bytes(monkeypatch, 1000)
    assert kineto._split_worth(p)
    limit_bytes(monkeypatch, 999)
    assert not kineto._split_worth(p)
    monkeypatch.delenv("STEPSCOPE_MAX_TRACE_MB")
    monkeypatch.setenv("STEPSCOPE_READ_PROCESSES", " 1 ")
    assert not kineto._split_worth(p)
    monkeypatch.setenv("STEPSCOPE_READ_PROCESSES", "3")
    assert kineto._split_worth(p)
    monkeypatch.delenv("STEPSCOPE_READ_PROCESSES")
    for n, want in ((1, False), (None, False), (3, True)):
        monkeypatch.setattr(os, "cpu_count", lambda n=n: n)
        assert kineto._split_worth(p) is want
    monkeypatch.delattr(os, "fork")
    assert not kineto._split_worth(p)


def test_range_blocks(tmp_path, monkeypatch):
    """Bytes [start, stop) in pieces of _PIECE; a stop past the end stops at the end."""
    p = write(tmp_path, b"0123456789")
    monkeypatch.setattr(kineto, "_PIECE", 3)
    assert list(kineto._range_blocks(p, 2, 9)) == [b"234", b"567", b"8"]
    assert list(kineto._range_blocks(p, 8, 20)) == [b"89"]
    assert list(kineto._range_blocks(p, 4, 4)) == []


class Conn:
    def __init__(self):
        self.sent, self.closed = [], False

    def send(self, x):
        self.sent.append(x)

    def close(self):
        self.closed = True


def test_tail_child(tmp_path):
    """The forked half: the columns of the events from an event's "{" to the end, with the
    document's keys after the list; any failure sent as None. The pipe is closed after."""
    text = json.dumps({"schemaVersion": 1, "traceEvents": SMALL, "traceName": "n"})
    p = write(tmp_path, text)
    conn = Conn()
    kineto._tail_child(conn, str(p), text.index('{"ph": "X", "cat": "kernel", "name": "k"'))
    (got,) = conn.sent
    head, c = got
    assert conn.closed and head == {"traceName": "n"} and c.n == 2
    assert c.joined("kernels")["ts"].tolist() == [2.0, 4.0]
    conn = Conn()
    kineto._tail_child(conn, str(p), text.index('"cat": "kernel"'))    # not an event's start
    assert conn.sent == [None] and conn.closed


def halves_doc(n=40):
    ev = []
    for i in range(n):
        ev.append(X("cuda_runtime", "cudaLaunchKernel", 10.0 * i, 1.0, correlation=i))
        ev.append(X("kernel", f"k{i % 3}", 10.0 * i + 2.5, 1.25, tid=7, correlation=i, stream=7))
        ev.append(X("python_function", "f", 1.0, 1.0))
    return {"schemaVersion": 1, "traceEvents": ev, "traceName": "n"}


def test_read_halves(tmp_path, monkeypatch):
    """A small plain file read as two halves: the document's keys from before and after
    the events list, and the columns of every kept event in file order (names coded in
    order of first appearance)."""
    p = write(tmp_path, halves_doc())
    head, c = kineto._read_halves(p)
    assert head == {"schemaVersion": 1, "traceName": "n"} and c.n == 80
    k = c.joined("kernels")
    assert k["ts"].tolist() == [10.0 * i + 2.5 for i in range(40)] and k["correlation"].tolist() == list(range(40))
    assert list(c.names["kernels"]) == ["k0", "k1", "k2"] and k["name"].tolist() == [i % 3 for i in range(40)]
    assert c.joined("api")["correlation"].tolist() == list(range(40))


def test_read_halves_budget_counts_both(tmp_path, monkeypatch):
    """Both halves' events count: at the limit read, one byte under refused by name."""
    p = write(tmp_path, halves_doc())
    limit_bytes(monkeypatch, 80 * kineto_fast.EVENT_BYTES)
    assert kineto._read_halves(p)[1].n == 80
    limit_bytes(monkeypatch, 80 * kineto_fast.EVENT_BYTES - 1)
    refused(kineto._read_halves, p, f"holds more than 80 events to import, about 0 MB in memory, over the 0 MB "
            f"limit {RAISE} if the machine has the memory).")
    limit_bytes(monkeypatch, 20 * kineto_fast.EVENT_BYTES)     # the first half alone is over: one process says why
    assert kineto._read_halves(p) is None


def test_read_halves_without_a_cut_or_with_a_broken_half(tmp_path):
    """No "},{" after the middle: None; a second half that cannot be read: None."""
    p = write(tmp_path, {"traceEvents": [X("kernel", "k", 1.0, 1.0, tid=7, args_pad="y" * 500)]})
    assert kineto._read_halves(p) is None
    doc = halves_doc()
    doc["traceEvents"].append(X("kernel", "k", 1.0, 1.0, tid=1.5))
    assert kineto._read_halves(write(tmp_path, doc, "u.json")) is None


def test_read_fast_takes_the_halves_when_worth_it(tmp_path, monkeypatch):
    """A file worth splitting is read by halves, to the same hand-made trace."""
    monkeypatch.setattr(kineto, "SPLIT_BYTES", 0)
    monkeypatch.delenv("STEPSCOPE_READ_PROCESSES", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    p = write(tmp_path, DOC)
    seen = []
    real = kineto._read_halves
    monkeypatch.setattr(kineto, "_read_halves", lambda q: seen.append(q) or real(q))
    check(kineto._read_fast(p), p)
    assert seen == [p]


# -- whole-document parsing -----------------------------------------------------------

def test_parse_streaming_keeps_the_read_events_and_the_other_keys(tmp_path):
    p = write(tmp_path, {"schemaVersion": 1, "traceEvents": SMALL, "traceName": "n"})
    assert kineto._parse_streaming(p) == {"schemaVersion": 1, "traceName": "n",
                                          "traceEvents": [SMALL[0], SMALL[1], SMALL[3]]}


def test_parse_streaming_falls_back_to_the_whole_parse(tmp_path):
    """Text that cannot be cut (no events list) is parsed whole, every key kept."""
    p = write(tmp_path, b'{"traceEvents": {"a": 1}, "x": 2}')
    assert kineto._parse_streaming(p) == {"traceEvents": {"a": 1}, "x": 2}


def test_parse_streaming_too_long_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(json_stream, "MAX_HEAD_BYTES", 2**20)
    p = write(tmp_path, b"{" + b" " * (2**20 + 10) + b"}")
    refused(kineto._parse_streaming, p,
            "not a readable torch.profiler trace (no traceEvents list in its first 1 MB).")


def test_parse_whole(tmp_path):
    """Parsed whole: numbers as floats, or (exact) decimals as their text; plain or gzip."""
    text = b'{"traceEvents": [{"ts": 100.125, "dur": 3}], "a": [1]}'
    for p in (write(tmp_path, text), write(tmp_path, text, "t.json.gz")):
        assert kineto._parse(p) == {"traceEvents": [{"ts": 100.125, "dur": 3}], "a": [1]}
        assert kineto._parse(p, exact=True) == {"traceEvents": [{"ts": "100.125", "dur": 3}], "a": [1]}
        assert kineto._parse(p, True) == kineto._parse(p, exact=True)


def test_parse_whole_memory_limit(tmp_path, monkeypatch):
    """Parsing whole takes WHOLE_PARSE_FACTOR bytes per byte of text: at the limit read,
    past it refused, giving the megabytes."""
    p = write(tmp_path, b"[" + b" " * 998 + b"]")
    limit_bytes(monkeypatch, 8000)
    assert kineto._parse(p) == []
    limit_bytes(monkeypatch, 7999)
    refused(kineto._parse, p, "cannot be read event by event, and parsing its 0 MB whole would take more than the "
            f"0 MB limit {RAISE} if the file is trusted).")
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "20")
    p = write(tmp_path, b"[" + b" " * (3 * 2**20) + b"]")
    refused(kineto._parse, p, "cannot be read event by event, and parsing its 3 MB whole would take more than the "
            f"20 MB limit {RAISE} if the file is trusted).")


def test_parse_errors_are_one_sentence(tmp_path, monkeypatch):
    """Not JSON, not gzip, not UTF-8: the error's type and the first line of its message
    (at most 120 characters); an error without a message: its type alone."""
    p = write(tmp_path, b"{nope")
    refused(kineto._parse, p, "not a readable torch.profiler trace (JSONDecodeError: "
            "unexpected character, expected a string key: line 1 column 2 (char 1)).")
    refused(lambda q: kineto._parse(q, exact=True), p, "not a readable torch.profiler trace (JSONDecodeError: "
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)).")
    p = tmp_path / "n.json.gz"
    p.write_bytes(b"{not gzip}")
    refused(kineto._parse, p, "not a readable torch.profiler trace (BadGzipFile: Not a gzipped file (b'{n')).")
    p = write(tmp_path, b'["\xff"]', "u.json")
    refused(lambda q: kineto._parse(q, exact=True), p, "not a readable torch.profiler trace (UnicodeDecodeError: "
            "'utf-8' codec can't decode byte 0xff in position 2: invalid start byte).")
    d = tmp_path / ("d" * 150 + ".json")
    d.mkdir()
    refused(kineto._parse, d, "not a readable torch.profiler trace (IsADirectoryError: "
            + f"[Errno 21] Is a directory: '{d}'"[:120] + ").")
    p = write(tmp_path, b"[]", "e.json")
    for exc, words in ((EOFError(), "EOFError"), (ValueError("first line\nsecond line"), "ValueError: first line"),
                       (RecursionError("deep"), "RecursionError: deep"), (zlib_error(), "error: bad")):
        def boom(path, exc=exc):
            raise exc
        monkeypatch.setattr(kineto, "_read_bytes", boom)
        refused(kineto._parse, p, f"not a readable torch.profiler trace ({words}).")


def zlib_error():
    import zlib
    return zlib.error("bad")


# -- field checks -------------------------------------------------------------------

def test_ints():
    p = Path("x.json")
    assert kineto._ints(p, "w", [1, 2]).tolist() == [1, 2] and kineto._ints(p, "w", [1]).dtype == np.int64
    assert kineto._ints(p, "w", []).shape == (0,)
    e = kineto._ints(p, "w", [], (3,))
    assert e.shape == (0, 3) and e.dtype == np.int64
    assert kineto._ints(p, "w", [[1, 2, 3]], (3,)).tolist() == [[1, 2, 3]]
    for bad, shape in ((["a"], None), ([None], None), ([2**70], None), ([[1, 2]], (3,)), ([[1, 2, 3], [4, 5]], (3,)),
                       ([7], (3,))):
        refused(lambda q, bad=bad, shape=shape: kineto._ints(q, "the things", bad, shape), p,
                "the the things of some events are not integers.")


def test_times_float_path():
    """Floats to exact ns (start, end); refusals name the events' kind; too large or with
    more decimals than ns: None (the exact path)."""
    p = Path("x.json")
    s, e = kineto._times(p, [1.5, 2.001], [0.25, 0.0], False, "kernels")
    assert s.tolist() == [1500, 2001] and e.tolist() == [1750, 2001]
    s, e = kineto._times(p, [], [], False, "kernels")
    assert s.tolist() == [] and e.tolist() == []
    big = 2.0**43
    assert kineto._times(p, [big - 1], [1.0], False, "k")[0].tolist() == [(2**43 - 1) * 1000]
    assert kineto._times(p, [big], [1.0], False, "k") is None
    assert kineto._times(p, [-big], [1.0], False, "k") is None
    assert kineto._times(p, [1.0001], [1.0], False, "k") is None
    assert kineto._times(p, [1.0], [1.0001], False, "k") is None
    for ts, dur, words in ((["soon"], [1.0], "some api events have a non-numeric ts or dur."),
                           ([1.0], [None], "some api events have a ts or dur that is not a finite number."),
                           ([[1.0, 2.0]], [1.0], "some api events have a non-numeric ts or dur."),
                           ([1.0], [[1.0, 2.0]], "some api events have a non-numeric ts or dur."),
                           ([1.0, 2.0], [1.0], "some api events have a non-numeric ts or dur."),
                           ([float("inf")], [1.0], "some api events have a ts or dur that is not a finite number."),
                           ([1.0], [float("nan")], "some api events have a ts or dur that is not a finite number."),
                           ([1.0, 2.0, 3.0], [-1.0, 2.0, -0.5], "2 api events have a negative duration.")):
        refused(lambda q, ts=ts, dur=dur: kineto._times(q, ts, dur, False, "api"), p, words)


def test_times_exact_path():
    p = Path("x.json")
    s, e = kineto._times(p, ["8796093022208.001", 5], ["0.5", "0"], True, "k")
    assert s.tolist() == [8796093022208001, 5000] and e.tolist() == [8796093022208501, 5000]
    for ts, dur, words in ((["soon"], ["1"], "some memset events have a non-numeric ts or dur."),
                           (["1"], [None], "some memset events have a non-numeric ts or dur."),
                           (["1", "2"], ["-1", "-0.001"], "2 memset events have a negative duration.")):
        refused(lambda q, ts=ts, dur=dur: kineto._times(q, ts, dur, True, "memset"), p, words)
    assert kineto._times(p, ["1", "2"], ["1", "-0.0"], True, "memset")[1].tolist() == [2000, 2000]


def test_collect_routes_events():
    """Complete events by table: ProfilerStep markers (annotation or cpu_op) are steps,
    other annotations and cpu_ops host spans; a missing dur is 0; others dropped."""
    ev = [X("kernel", "k", 1.0, 2.0), {"ph": "X", "cat": "cpu_op", "name": "ProfilerStep#1", "ts": 3.0},
          X("user_annotation", "ProfilerStep#2", 4.0, 1.0), X("user_annotation", "ProfilerStepX", 5.0, 1.0),
          X("cpu_op", "op", 6.0, 1.0), X("kernel", "ProfilerStep#9", 7.0, 1.0), X("gpu_memset", "s", 8.0, 1.0),
          X("gpu_memcpy", "c", 9.0, 1.0), X("cuda_driver", "d", 10.0, 1.0), X("cuda_runtime", "r", 11.0, 1.0),
          {"ph": "B", "cat": "kernel", "ts": 1.0}, X(["kernel"], "l", 1.0, 1.0), X("python_function", "f", 1.0, 1.0),
          {"ph": "X", "cat": "kernel", "ts": 12.0, "dur": 1.0}]
    got = kineto._collect(Path("x"), ev)
    assert set(got) == {"kernels", "api", "memcpy", "memset", "steps", "host"}
    assert {t: (g["ts"], g["dur"]) for t, g in got.items()} == {
        "kernels": ([1.0, 7.0, 12.0], [2.0, 1.0, 1.0]), "api": ([10.0, 11.0], [1.0, 1.0]), "memcpy": ([9.0], [1.0]),
        "memset": ([8.0], [1.0]), "steps": ([3.0, 4.0], [0, 1.0]), "host": ([5.0, 6.0], [1.0, 1.0])}
    assert got["kernels"]["ev"] == [ev[0], ev[5], ev[13]] and got["steps"]["ev"] == [ev[1], ev[2]]


def test_collect_refusals():
    p = Path("x.json")
    refused(lambda q: kineto._collect(q, [X("kernel", "k", 1.0, 1.0), 7]), p, "traceEvents[1] is not an object.")
    refused(lambda q: kineto._collect(q, [{"ph": "X", "cat": "gpu_memcpy", "dur": 1.0}]), p,
            "traceEvents[0] (gpu_memcpy) has no ts.")
    refused(lambda q: kineto._collect(q, [X("python_function", "f", 1.0, 1.0), X("kernel", 5, 1.0, 1.0)]), p,
            "traceEvents[1] (kernel) has a name that is not a string.")
    refused(lambda q: kineto._collect(q, [X("user_annotation", 5, 1.0, 1.0)]), p,
            "traceEvents[0] (user_annotation) has a name that is not a string.")
    refused(lambda q: kineto._collect(q, [X("cpu_op", None, 1.0, 1.0)]), p,
            "traceEvents[0] (cpu_op) has a name that is not a string.")


def test_arg_dicts_and_args():
    assert kineto._arg_dicts([{"args": {"a": 1}}, {"args": [1]}, {}, {"args": None}]) == [{"a": 1}, {}, {}, {}]
    assert kineto._args([{"k": None}, {"k": 0}, {}, {"k": 5}], "k", -1) == [-1, 0, -1, 5]


# -- whole-file refusals ---------------------------------------------------------------

def mini():
    return [X("user_annotation", "ProfilerStep#0", 0.5, 100.0),
            X("cuda_runtime", "cudaLaunchKernel", 1.0, 1.0, correlation=1, cbid=211),
            X("kernel", "k", 5.0, 1.0, tid=7, correlation=1, stream=7, grid=[1, 1, 1], block=[32, 1, 1]),
            X("gpu_memcpy", "Memcpy DtoD (Device -> Device)", 10.0, 1.0, tid=7, correlation=2, bytes=8, stream=7),
            X("gpu_memset", "Memset (Device)", 12.0, 1.0, tid=7, correlation=3, bytes=8, stream=7),
            X("cpu_op", "aten::mm", 2.0, 1.0)]


def edited(i, fn):
    ev = mini()
    fn(ev[i])
    return ev


def set_arg(key, value):
    return lambda e: e["args"].update({key: value})


FIELDS = [
    (2, set_arg("correlation", "x"), "kernels correlation ids"), (1, set_arg("correlation", "x"), "api correlation ids"),
    (3, set_arg("correlation", "x"), "memcpy correlation ids"), (4, set_arg("correlation", "x"), "memset correlation ids"),
    (2, set_arg("grid", 7), "kernel grids"), (2, set_arg("block", [1, 2]), "kernel blocks"),
    (2, set_arg("registers per thread", "a"), "kernel registers per thread fields"),
    (2, set_arg("shared memory", "a"), "kernel shared memory fields"), (2, set_arg("stream", "a"), "kernel stream fields"),
    (2, set_arg("graph id", "a"), "kernel graph id fields"), (2, set_arg("graph node id", "a"), "kernel graph node id fields"),
    (1, set_arg("cbid", "a"), "api cbid fields"), (1, lambda e: e.update(tid="t"), "api thread ids"),
    (3, set_arg("bytes", "a"), "memcpy byte counts"), (4, set_arg("bytes", "a"), "memset byte counts"),
    (3, set_arg("stream", "a"), "memcpy streams"), (4, set_arg("stream", "a"), "memset streams"),
    (5, lambda e: e.update(tid="t"), "cpu_op thread ids")]


@pytest.mark.parametrize("i,fn,what", FIELDS, ids=[f[2] for f in FIELDS])
def test_fields_that_are_not_integers(tmp_path, i, fn, what):
    """Each integer field that is not an integer is refused naming the field."""
    p = write(tmp_path, edited(i, fn))
    refused(kineto.load_kineto, p, f"the {what} of some events are not integers.")


TIMES = [(0, "step annotation"), (1, "api"), (2, "kernels"), (3, "memcpy"), (4, "memset"), (5, "cpu_op")]


@pytest.mark.parametrize("i,what", TIMES)
def test_times_that_are_not_numbers(tmp_path, i, what):
    """A ts that is not a number, or a negative dur, is refused naming the kind of event,
    by the general reader and the exact one."""
    p = write(tmp_path, edited(i, lambda e: e.update(ts="soon")))
    refused(kineto.load_kineto, p, f"some {what} events have a non-numeric ts or dur.")
    refused(exact, p, f"some {what} events have a non-numeric ts or dur.")
    p = write(tmp_path, edited(i, lambda e: e.update(dur=-1.5)), "n.json")
    refused(general, p, f"1 {what} events have a negative duration.")
    refused(exact, p, f"1 {what} events have a negative duration.")


@pytest.mark.parametrize("i,table", [(1, "api"), (2, "kernels"), (3, "memcpy"), (4, "memset")])
def test_negative_timestamps(tmp_path, i, table):
    ev = mini()
    ev.append({**ev[i], "ts": -3.0})
    ev.append({**ev[i], "ts": -0.001})
    for reader in (kineto.load_kineto, general):
        refused(reader, write(tmp_path, ev), f"2 {table} events have a negative ts (before the profiler started).")


def test_document_refusals(tmp_path):
    for text in (b"[1, 2]", b'{"traceEvents": {"a": 1}}', b'{"events": []}'):
        p = write(tmp_path, text)
        refused(kineto.load_kineto, p, "not a torch.profiler trace (no traceEvents list).")
    p = write(tmp_path, b'{"traceEvents": [1, 2]}')
    refused(kineto.load_kineto, p, "traceEvents[0] is not an object.")
    p = write(tmp_path, [e for e in mini() if e["cat"] != "kernel"])
    for reader in (kineto.load_kineto, general):
        refused(reader, p, "the torch.profiler trace holds no GPU kernels (was CUDA activity recorded?).")
    d = tmp_path / "folder.json"
    d.mkdir()
    refused(kineto.load_kineto, d, "is a folder, not a trace file.")


@pytest.mark.parametrize("names,words", [
    (["ProfilerStep#x"], "a ProfilerStep annotation has no step number."),
    (["ProfilerStep#"], "a ProfilerStep annotation has no step number."),
    (["ProfilerStep#1#2"], "a ProfilerStep annotation has no step number."),
    (["ProfilerStep#-1"], "a ProfilerStep annotation's step number is outside 0..2**62."),
    ([f"ProfilerStep#{2**62}"], "a ProfilerStep annotation's step number is outside 0..2**62."),
    (["ProfilerStep#3", "ProfilerStep#3"], "the trace is invalid: two steps share a step index."),
])
def test_step_marker_refusals(tmp_path, names, words):
    ev = mini()[1:] + [X("user_annotation", n, 0.5 + 200.0 * i, 100.0) for i, n in enumerate(names)]
    for reader in (kineto.load_kineto, general):
        refused(reader, write(tmp_path, ev), words)


def test_step_numbers_at_the_ends(tmp_path):
    """Step numbers 0 and 2**62 - 1 are taken; a marker's number follows the first '#'."""
    ev = mini()[1:] + [X("user_annotation", "ProfilerStep#0", 0.5, 100.0),
                       X("cpu_op", f"ProfilerStep#{2**62 - 1}", 200.0, 100.0)]
    for reader in (kineto.load_kineto, general):
        t = reader(write(tmp_path, ev))
        assert cols(t, "steps")["index"] == [0, 2**62 - 1] and cols(t, "steps")["start_ns"] == [500, 200_000]
        assert t.n("host_spans") == 1


def test_overlapping_steps_are_invalid(tmp_path):
    ev = mini()[1:] + [X("user_annotation", "ProfilerStep#1", 0.5, 100.0),
                       X("user_annotation", "ProfilerStep#2", 50.0, 100.0)]
    refused(kineto.load_kineto, write(tmp_path, ev), "the trace is invalid: steps 1 and 2 overlap.")


# -- metadata and graph replays -----------------------------------------------------------

@pytest.mark.parametrize("props,name", [([{"name": "G1"}, {"name": "G2"}], "G1"), ([], "unknown"), ({"name": "G"}, "unknown"),
                                        (["G"], "unknown"), ([{"name": 5}], "unknown"), ([{}], "unknown")])
def test_gpu_name(tmp_path, props, name):
    """The first device's name, when it is a string in an object in a list; else unknown."""
    p = write(tmp_path, {"deviceProperties": props, "traceEvents": mini()})
    assert kineto.load_kineto(p).meta["gpu"] == {"name": name, "peak_bytes_per_s": None}


def test_metadata_without_host_spans_or_markers(tmp_path):
    """No cpu_op/annotation spans: host spans "off". No ProfilerStep markers: the steps are
    detected from the records (here the whole trace is one step), named after the mode
    "decode"; the Kineto version keys are copied."""
    ev = [e for e in mini() if e["cat"] not in ("user_annotation", "cpu_op")]
    doc = {"schemaVersion": 2, "cuda_runtime_version": 12040, "cuda_driver_version": 12050, "traceEvents": ev}
    for reader in (kineto.load_kineto, general, exact):
        p = write(tmp_path, doc)
        t = reader(p)
        assert t.strings == ["k", "cudaLaunchKernel", "kineto", "decode"]
        assert cols(t, "steps")["index"] == [0] and cols(t, "steps")["mode"] == [3]
        assert cols(t, "steps")["start_ns"] == [1000] and cols(t, "steps")["end_ns"] == [13_000]
        assert cols(t, "kernels")["step"] == [0] and cols(t, "memcpy")["copy_kind"] == [8]
        m = t.meta
        assert m["capture"]["host_spans"] == "off" and m["capture"]["kernels_without_launch_call"] == 0
        assert m["capture"]["memcpy_without_launch_call"] == 1 and m["capture"]["dram_status"].startswith("none")
        assert m["step_detection"]["rule"] == "one forward (the whole trace)"
        assert m["step_detection"]["graph_launch_calls"] == 0
        assert m["kineto"] == {"schemaVersion": 2, "cupti_version": None, "cuda_runtime_version": 12040,
                               "cuda_driver_version": 12050}
        assert m["gpu"]["name"] == "unknown" and m["source_file"] == "t.json"


def test_no_steps_found(tmp_path, monkeypatch):
    """Step detection that finds no steps is refused with its message (detection always
    finds one for a trace with kernels, so its answer is replaced here)."""
    from stepscope.analysis.trace import detect
    monkeypatch.setattr(detect, "detect", lambda t: detect.Detection("none", {}, message="nothing repeats"))
    ev = [e for e in mini() if e["cat"] not in ("user_annotation", "cpu_op")]
    for reader in (kineto.load_kineto, general):
        refused(reader, write(tmp_path, ev), "no decode steps found: nothing repeats.")


def test_graph_replays(tmp_path):
    """Records with the correlation id of a cudaGraphLaunch / cuGraphLaunch call (any
    suffix) get graph id 1 unless Kineto gave one; other launches, and calls whose name only
    contains the words, mark nothing."""
    ev = [X("user_annotation", "ProfilerStep#0", 0.5, 100.0),
          X("cuda_runtime", "cudaGraphLaunch_v10000", 1.0, 1.0, correlation=1),
          X("cuda_driver", "cuGraphLaunch", 2.0, 1.0, correlation=2),
          X("cuda_runtime", "xcudaGraphLaunch", 3.0, 1.0, correlation=3),
          X("cuda_runtime", "cudaLaunchKernel", 4.0, 1.0, correlation=4),
          X("kernel", "a", 10.0, 1.0, correlation=1), X("kernel", "b", 11.0, 1.0, correlation=2, **{"graph id": 7}),
          X("kernel", "c", 12.0, 1.0, correlation=3), X("kernel", "d", 13.0, 1.0, correlation=4),
          X("kernel", "e", 14.0, 1.0, correlation=2, **{"graph id": -1}),
          X("gpu_memset", "s", 15.0, 1.0, correlation=2), X("gpu_memcpy", "m", 16.0, 1.0, correlation=1),
          X("gpu_memcpy", "m", 17.0, 1.0, correlation=4)]
    for reader in (kineto.load_kineto, general):
        t = reader(write(tmp_path, ev))
        assert cols(t, "kernels")["graph_id"] == [1, 7, 0, 0, 1]
        assert cols(t, "memset")["graph_id"] == [1] and cols(t, "memcpy")["graph_id"] == [1, 0]
        assert t.meta["step_detection"]["graph_launch_calls"] == 2


def test_no_graph_launch_marks_nothing(tmp_path):
    ev = mini() + [X("kernel", "g", 20.0, 1.0, correlation=1, **{"graph id": -1})]
    t = kineto.load_kineto(write(tmp_path, ev))
    assert cols(t, "kernels")["graph_id"] == [0, -1]


def corrupt_gzip(tmp_path) -> Path:
    """A .json.gz whose deflate data is damaged (zlib.error while inflating)."""
    data = bytearray(gzip.compress(b'{"traceEvents": [' + b'{"ph": "X"},' * 2000 + b"{}]}"))
    data[20] ^= 0xFF
    p = tmp_path / "z.json.gz"
    p.write_bytes(bytes(data))
    return p


def test_damaged_deflate_data(tmp_path):
    """Damaged compressed data: NotSplittable while streaming, one sentence from the whole
    parse, and from load_kineto."""
    p = corrupt_gzip(tmp_path)
    with pytest.raises(NotSplittable):
        list(kineto._blocks(p, 1000))
    words = "not a readable torch.profiler trace (error: Error -3 while decompressing data: invalid bit length repeat)."
    refused(kineto._parse, p, words)
    refused(kineto.load_kineto, p, words)


def test_the_collector_is_off_while_reading(tmp_path, monkeypatch):
    """load_kineto reads with the cyclic garbage collector off (millions of small dicts
    would set it off again and again) and turns it back on after, also after a refusal."""
    seen = []
    real = kineto._read_fast
    monkeypatch.setattr(kineto, "_read_fast", lambda q: seen.append(gc.isenabled()) or real(q))
    assert gc.isenabled()
    kineto.load_kineto(write(tmp_path, mini()))
    refused(kineto.load_kineto, write(tmp_path, [], "e.json"),
            "the torch.profiler trace holds no GPU kernels (was CUDA activity recorded?).")
    assert seen == [False, False] and gc.isenabled()


def test_exact_times_beyond_int64_are_refused():
    """Decimal times whose nanoseconds do not fit int64 are refused, not carried as objects."""
    p = Path("x.json")
    refused(lambda q: kineto._times(q, ["1e20"], ["0"], True, "kernels"), p,
            "some kernels events have a non-numeric ts or dur.")
    refused(lambda q: kineto._times(q, ["1"], ["1e20"], True, "kernels"), p,
            "some kernels events have a non-numeric ts or dur.")


def test_defaults_of_missing_fields_in_the_general_reader(tmp_path):
    """Events without a name, cbid, tid or args: names "", cbid/tid/bytes/stream -1, copy
    kind 0 (general reader, sent there by a float thread id on a dropped event); a record at
    ts 0 (the profiler's start) is taken; spans starting together nest longest first."""
    ev = [X("user_annotation", "ProfilerStep#0", 0.0, 100.0),
          {"ph": "X", "cat": "cuda_runtime", "ts": 1.0, "dur": 1.0, "args": {"correlation": 1}},
          {"ph": "X", "cat": "kernel", "ts": 0.0, "dur": 1.0, "args": {"correlation": 1}},
          {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy XtoY", "ts": 3.0, "dur": 1.0},
          {"ph": "X", "cat": "gpu_memset", "ts": 4.0, "dur": 1.0},
          X("cpu_op", "inner", 2.0, 5.0), X("cpu_op", "outer", 2.0, 10.0), {"ph": "X", "cat": "cpu_op", "ts": 30.0},
          X("dropped", "z", 1.0, 1.0, tid=1.5)]
    for reader in (kineto.load_kineto, general):
        t = reader(write(tmp_path, ev))
        assert t.strings == ["", "inner", "outer", "kineto"]
        assert cols(t, "kernels")["start_ns"] == [0] and cols(t, "kernels")["name"] == [0]
        api = cols(t, "api")
        assert api["name"] == [0] and api["cbid"] == [-1] and api["thread_id"] == [-1] and api["domain"] == [0]
        assert cols(t, "memcpy")["copy_kind"] == [0] and cols(t, "memcpy")["bytes"] == [-1]
        assert cols(t, "memcpy")["stream"] == [-1] and cols(t, "memcpy")["correlation"] == [-1]
        assert cols(t, "memset")["bytes"] == [-1] and cols(t, "memset")["stream"] == [-1]
        hs = cols(t, "host_spans")
        assert hs["name"] == [1, 2, 0] and hs["depth"] == [1, 0, 0] and hs["parent"] == [1, -1, -1]
        assert hs["start_ns"] == [2000, 2000, 30_000] and hs["end_ns"] == [7000, 12_000, 30_000]


def test_a_null_ts_is_not_a_finite_number(tmp_path):
    """A kept event with ts null goes to the general reader, which refuses it as not a finite
    number (not as non-numeric, the exact reader's words)."""
    ev = mini()
    ev[2]["ts"] = None
    refused(kineto.load_kineto, write(tmp_path, ev), "some kernels events have a ts or dur that is not a finite number.")


def test_the_general_reader_budget_names_the_file(tmp_path, monkeypatch):
    p = write(tmp_path, mini())
    limit_bytes(monkeypatch, 5 * kineto.EVENT_BYTES)
    refused(general, p, f"holds more than 6 events to import, about 0 MB in memory, over the 0 MB limit {RAISE} "
            "if the machine has the memory).")


class Reads:
    """gzip.open whose reads are recorded (bytes returned per read)."""

    def __init__(self, monkeypatch):
        self.sizes = []
        real = gzip.open

        def opened(*a, **k):
            f = real(*a, **k)
            read = f.read

            class F:
                def __enter__(s):
                    return s

                def __exit__(s, *x):
                    f.close()

                def close(s):
                    f.close()

                def read(s, n=-1):
                    b = read(n)
                    self.sizes.append(len(b))
                    return b
            return F()
        monkeypatch.setattr(gzip, "open", opened)


def test_a_gzip_bomb_is_inflated_a_bounded_read_at_a_time(tmp_path, monkeypatch):
    """A .json.gz is inflated in bounded reads and stopped at the limit, never inflated whole
    (whole-text read and streamed read alike)."""
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "1")
    monkeypatch.setattr(kineto, "_CHUNK", 1 << 20)    # the whole-text read's chunk, below the bomb's size
    p = write(tmp_path, b'{"traceEvents": [' + b" " * (8 << 20) + b"]}", "bomb.json.gz")
    words = f"inflates to more than the 1 MB limit {RAISE} if the file is trusted)."
    for fn in (kineto._read_bytes, kineto._parse_streaming, kineto.load_kineto):
        reads = Reads(monkeypatch)
        refused(fn, p, words)
        assert 0 < max(reads.sizes) <= 2 << 20 and sum(reads.sizes) <= 3 << 20, fn


def test_compact_json_is_read_as_two_halves(tmp_path):
    """Events written without spaces ("},{"): the second half starts at the "{"."""
    p = write(tmp_path, json.dumps(halves_doc(), separators=(",", ":")))
    head, c = kineto._read_halves(p)
    assert head == {"schemaVersion": 1, "traceName": "n"} and c.n == 80


def test_a_second_half_that_sends_nothing(tmp_path, monkeypatch):
    """The forked half ends without sending: one process reads the file (None)."""
    monkeypatch.setattr(kineto, "_tail_child", lambda conn, path, start: os._exit(0))
    assert kineto._read_halves(write(tmp_path, halves_doc())) is None
