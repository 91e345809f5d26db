"""The typed Kineto reader (analysis/trace/kineto_fast.py) gives the trace the general
dict reader gives, column for column; a file whose fields are of other types is read by
the general reader instead (same trace, or the same refusal)."""
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from stepscope.analysis.trace import kineto, kineto_fast
from stepscope.analysis.trace.errors import TraceFileError

TRACES = Path(__file__).resolve().parents[1] / "traces"
SHIPPED = ["kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz", "kineto-qwen2.5-7b-ctx2048-loop-graph-1step-h200.json.gz",
           "kineto-qwen2.5-7b-ctx2048-loop-eager-static-last4-h200.json.gz"]


def _general(p: Path):
    return kineto._build(p, kineto._parse_streaming(p), exact=False)


def _same(a, b):
    assert a.strings == b.strings and a.meta == b.meta
    assert set(a.tables) == set(b.tables)
    for name, tab in a.tables.items():
        assert set(tab) == set(b.tables[name]), name
        for col, v in tab.items():
            assert v.dtype == b.tables[name][col].dtype and np.array_equal(v, b.tables[name][col]), (name, col)


@pytest.mark.parametrize("name", SHIPPED)
def test_typed_reader_equals_general_reader(name):
    p = TRACES / name
    fast = kineto._read_fast(p)
    assert fast is not None and fast.n("kernels") > 0 and fast.n("host_spans") > 0
    _same(fast, _general(p))


def _doc(tmp_path: Path, events: list, folder="a") -> Path:
    src = json.loads(gzip.decompress((TRACES / SHIPPED[0]).read_bytes()))
    src["traceEvents"] = src["traceEvents"] + events
    (tmp_path / folder).mkdir()
    p = tmp_path / folder / "t.json"
    p.write_text(json.dumps(src))
    return p


def test_an_unexpected_type_falls_back_to_the_general_reader(tmp_path):
    """A flow event with a string ``tid`` is fine (not read); a float ``tid`` is a type
    the typed reader refuses: the general reader reads the file, to the same trace."""
    ok = _doc(tmp_path, [{"ph": "f", "cat": "ac2g", "name": "x", "tid": "stream 7", "ts": 1.0, "id": 1}], "ok")
    assert kineto._read_fast(ok) is not None
    odd = _doc(tmp_path, [{"ph": "i", "cat": ["a", "list"], "name": "x", "tid": 1.5, "ts": 1.0}], "odd")
    with pytest.raises(kineto_fast.Unexpected):
        kineto._read_fast(odd)
    _same(kineto.load_kineto(odd), kineto.load_kineto(ok))


def test_a_kept_event_without_ts_is_named_by_the_general_reader(tmp_path):
    p = _doc(tmp_path, [{"ph": "X", "cat": "kernel", "name": "k", "tid": 7, "dur": 1.0}])
    with pytest.raises(kineto_fast.Unexpected):
        kineto._read_fast(p)
    with pytest.raises(TraceFileError, match=r"traceEvents\[\d+\] \(kernel\) has no ts"):
        kineto.load_kineto(p)


def test_profiler_steps_as_cpu_ops_and_kinds(tmp_path):
    """ProfilerStep annotations recorded as cpu_op are steps, not host spans; memcpy names
    map to copy kinds; the API domain follows the category."""
    src = json.loads(gzip.decompress((TRACES / SHIPPED[0]).read_bytes()))
    for e in src["traceEvents"]:
        if str(e.get("name", "")).startswith("ProfilerStep#") and e.get("cat") == "user_annotation":
            e["cat"] = "cpu_op"
    k = next(e for e in src["traceEvents"] if e.get("cat") == "kernel")
    src["traceEvents"].append({**k, "cat": "gpu_memcpy", "name": "Memcpy DtoH (Device -> Pinned)",
                               "args": {"correlation": 5, "bytes": 4096, "stream": 7}})
    p = tmp_path / "cpu-op-steps.json"
    p.write_text(json.dumps(src))
    fast = kineto._read_fast(p)
    _same(fast, _general(p))
    assert fast.n("steps") == 3 and list(fast["memcpy"]["copy_kind"]) == [2] and list(fast["memcpy"]["bytes"]) == [4096]
    assert not any(s.startswith("ProfilerStep#") for s in fast.names("host_spans"))
    assert set(fast["api"]["domain"].tolist()) == {0, 1}   # runtime and driver calls


def test_events_count_against_the_limit_by_their_columns(tmp_path, monkeypatch):
    """EVENT_BYTES per event kept: refused over the limit, read under it. The shipped
    trace's text is ~390 bytes per kept event, about EVENT_BYTES (384), so its text
    check could bind first; a larger per-event count makes the events check the one that binds."""
    monkeypatch.setattr(kineto_fast, "EVENT_BYTES", 1024)
    p = TRACES / SHIPPED[0]
    n = kineto._read_fast(p)
    kept = sum(n.n(t) for t in ("kernels", "api", "memcpy", "memset", "host_spans")) + n.n("steps")
    mb = kept * kineto_fast.EVENT_BYTES / 2**20
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", f"{mb * 0.9:.3f}")
    with pytest.raises(TraceFileError, match="events to import"):
        kineto._read_fast(p)
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", f"{mb * 1.1 + 1:.3f}")
    assert kineto._read_fast(p) is not None


def _plain(tmp_path: Path, events_middle: list | None = None) -> Path:
    """The first shipped Kineto trace as plain JSON, ``events_middle`` put in the middle of
    its events."""
    src = json.loads(gzip.decompress((TRACES / SHIPPED[0]).read_bytes()))
    ev = src["traceEvents"]
    if events_middle:
        ev[len(ev) // 2:len(ev) // 2] = events_middle
    p = tmp_path / "plain.json"
    p.write_text(json.dumps(src))
    return p


def _halves_spy(monkeypatch) -> list:
    got: list = []
    real = kineto._read_halves

    def spy(path):
        r = real(path)
        got.append(r is not None)
        return r
    monkeypatch.setattr(kineto, "_read_halves", spy)
    monkeypatch.setattr(kineto, "SPLIT_BYTES", 0)
    return got


def _one_process(p: Path, monkeypatch):
    monkeypatch.setenv("STEPSCOPE_READ_PROCESSES", "1")
    t = kineto.load_kineto(p)
    monkeypatch.delenv("STEPSCOPE_READ_PROCESSES")
    return t


def test_two_halves_read_at_once_give_the_one_process_trace(tmp_path, monkeypatch):
    """A big plain file is read as two halves, the second in a forked process: the same
    trace as one process reads (names in the same order, columns equal)."""
    p = _plain(tmp_path)
    want = _one_process(p, monkeypatch)
    took = _halves_spy(monkeypatch)
    _same(kineto.load_kineto(p), want)
    assert took == [True]


def test_a_cut_inside_a_string_is_not_taken(tmp_path, monkeypatch):
    """The middle of the file inside a long string full of '},{': neither half parses,
    and the file is read in one process, to the same trace."""
    pad = {"ph": "M", "name": "pad", "pid": 0, "args": {"note": '},{"a": 1},{' * 300_000}}
    p = _plain(tmp_path, [pad])
    want = _one_process(p, monkeypatch)
    took = _halves_spy(monkeypatch)
    _same(kineto.load_kineto(p), want)
    assert took == [False]


def test_a_second_half_the_typed_reader_refuses_falls_back(tmp_path, monkeypatch):
    """A kept event of an unexpected type after the middle: the forked half fails, and the
    one-process path (then the general reader) reads the file."""
    src = json.loads(gzip.decompress((TRACES / SHIPPED[0]).read_bytes()))
    k = next(e for e in src["traceEvents"] if e.get("cat") == "kernel")
    p = _plain(tmp_path)
    doc = json.loads(p.read_text())
    doc["traceEvents"].append({**k, "tid": 1.5})     # a float thread id on a kept event
    p.write_text(json.dumps(doc))
    want = _one_process(p, monkeypatch)
    took = _halves_spy(monkeypatch)
    _same(kineto.load_kineto(p), want)
    assert took == [False]


def test_no_fork_with_other_threads_or_when_asked_not_to(tmp_path, monkeypatch):
    import threading
    p = _plain(tmp_path)
    monkeypatch.setattr(kineto, "SPLIT_BYTES", 0)
    assert kineto._split_worth(p)
    monkeypatch.setenv("STEPSCOPE_READ_PROCESSES", "1")
    assert not kineto._split_worth(p)
    monkeypatch.delenv("STEPSCOPE_READ_PROCESSES")
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not kineto._split_worth(p)
    finally:
        stop.set()
        t.join()
    gz = tmp_path / "t.json.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert not kineto._split_worth(gz)      # a .json.gz inflates in order: one process
    monkeypatch.setattr(kineto, "SPLIT_BYTES", p.stat().st_size + 1)
    assert not kineto._split_worth(p)
    monkeypatch.setattr(kineto, "SPLIT_BYTES", 0)
    monkeypatch.setattr(kineto, "SPLIT_MAX_BYTES", p.stat().st_size)
    assert kineto._split_worth(p)           # at the cap: still two halves
    monkeypatch.setattr(kineto, "SPLIT_MAX_BYTES", p.stat().st_size - 1)
    assert not kineto._split_worth(p)       # above it: one process (memory over speed)


def test_the_size_limit_counts_both_halves(tmp_path, monkeypatch):
    """Each half under the events limit, both together over it: refused, as one process
    refuses the file (EVENT_BYTES raised so that the events check, not the text check, binds)."""
    monkeypatch.setattr(kineto_fast, "EVENT_BYTES", 1024)
    p = _plain(tmp_path)
    n = _one_process(p, monkeypatch)
    kept = sum(n.n(t) for t in ("kernels", "api", "memcpy", "memset", "host_spans")) + n.n("steps")
    limit_mb = 0.75 * kept * kineto_fast.EVENT_BYTES / 2**20
    assert p.stat().st_size / 2**20 < limit_mb      # the text itself is under the limit
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", f"{limit_mb:.3f}")
    with pytest.raises(TraceFileError, match="events to import"):
        kineto._read_halves(p)
    with pytest.raises(TraceFileError, match="events to import"):
        kineto.load_kineto(p)
