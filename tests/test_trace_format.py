"""The trace file: round trip, atomic write, and one clear sentence per corrupt file."""
import json
import shutil
import zipfile

import numpy as np
import pytest

from conftest import trace_path
from stepscope.analysis.trace import TABLES, Trace, TraceFileError, table_from_rows


def small_trace():
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {"index": [0, 1], "mode": [t.intern("eager")] * 2,
                                                  "start_ns": [10, 100], "end_ns": [50, 180]})
    t.tables["kernels"] = table_from_rows("kernels", {"start_ns": [12, 110], "end_ns": [20, 150],
                                                      "name": [t.intern("k"), t.intern("k")],
                                                      "step": [0, 1], "correlation": [1, 2]})
    t.meta = {"note": "unit"}
    return t


def test_round_trip_keeps_every_column_and_integer_ns(tmp_path):
    t = small_trace()
    p = t.save(tmp_path / "a.stepscope")
    u = Trace.load(p)
    assert u.strings == t.strings and u.meta == t.meta
    for table, cols in TABLES.items():
        for c in cols:
            assert u[table][c].dtype == np.int64
            np.testing.assert_array_equal(u[table][c], t[table][c])


def test_real_trace_round_trip(tmp_path):
    t = Trace.load(trace_path("qwen2.5-7b-ctx2048-graph-h100"))
    u = Trace.load(t.save(tmp_path / "b.stepscope"))
    np.testing.assert_array_equal(u["kernels"]["start_ns"], t["kernels"]["start_ns"])
    assert u.meta == t.meta


def test_atomic_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    p = small_trace().save(tmp_path / "c.stepscope")
    before = p.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(KeyboardInterrupt):
        small_trace().save(p)
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["c.stepscope"]


def test_saved_file_is_readable_by_others(tmp_path):
    p = small_trace().save(tmp_path / "m.stepscope")
    assert p.stat().st_mode & 0o044  # not the 0600 of a temporary file


def _rewrite(src, dst, edit):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = edit(info.filename, zi.read(info.filename))
            if data is not None:
                zo.writestr(info, data)


def _meta_member(version):
    import io
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps({"schema": "stepscope-trace", "schema_version": version}).encode(), np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such file"),
    ("text", "not a stepscope trace (not a zip archive)"),
    ("truncated", "truncated"),
    ("version", "schema version 99 is not supported (this stepscope reads versions 1, 2)"),
    ("column", "column kernels.start_ns is missing"),
    ("ragged", "different lengths"),
    ("foreign", "not a stepscope trace (no meta.json member)"),
])
def test_corrupt_files_give_one_sentence_naming_the_file(tmp_path, case, expected):
    src = small_trace().save(tmp_path / "ok.stepscope")
    bad = tmp_path / f"{case}.stepscope"
    if case == "text":
        bad.write_text("hello")
    elif case == "truncated":
        bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    elif case == "version":
        _rewrite(src, bad, lambda n, d: _meta_member(99) if n == "meta.json.npy" else d)
    elif case == "column":
        _rewrite(src, bad, lambda n, d: None if n == "kernels.start_ns.npy" else d)
    elif case == "ragged":
        import io
        buf = io.BytesIO()
        np.save(buf, np.arange(5, dtype=np.int64))
        _rewrite(src, bad, lambda n, d: buf.getvalue() if n == "kernels.end_ns.npy" else d)
    elif case == "foreign":
        np.savez(bad.with_suffix(".npz"), x=np.arange(3))
        shutil.move(bad.with_suffix(".npz"), bad)
    with pytest.raises(TraceFileError) as e:
        Trace.load(bad)
    msg = str(e.value)
    assert expected in msg and str(bad) in msg and "\n" not in msg
