"""analysis/trace/model.py (issue 31): what Trace.validate refuses and its sentences, the
string table's entry limit at its edge with its one-sentence refusal, the metadata written
with sorted keys, a version-2 file without a later column read as -1, non-dict metadata
named by type, names() of an empty column, and table_from_rows' filling and flattening."""
import io
import json
import zipfile

import numpy as np
import pytest

from stepscope.analysis.trace import model as Mo
from stepscope.analysis.trace.errors import TraceFileError
from stepscope.analysis.trace.model import Trace, table_from_rows


def small():
    t = Trace()
    t.tables["steps"] = table_from_rows("steps", {"index": [0], "mode": [t.intern("decode")], "start_ns": [0],
                                                  "end_ns": [100]})
    t.tables["kernels"] = table_from_rows("kernels", {"start_ns": [10], "end_ns": [20], "name": [t.intern("k")],
                                                      "step": [0]})
    return t


def _set(table, column, value):
    def breaks(t):
        t.tables[table][column] = value
    return breaks


def _name_index(v):
    def breaks(t):
        t.tables["kernels"]["name"][:] = v
    return breaks


BROKEN = [
    (lambda t: t.tables.pop("pm"), r"^table 'pm' is missing$"),
    (lambda t: t.tables["kernels"].pop("grid_x"), r"^column kernels\.grid_x is missing$"),
    (_set("kernels", "grid_x", np.zeros(1, np.int32)), r"^column kernels\.grid_x is int32/1d, not 1-d int64$"),
    (_set("kernels", "grid_x", np.zeros((1, 1), np.int64)), r"^column kernels\.grid_x is int64/2d, not 1-d int64$"),
    (_set("kernels", "grid_x", np.zeros(2, np.int64)),
     r"^table 'kernels' has columns of different lengths \[1, 2\]$"),
    (_name_index(2), r"^kernels\.name points outside the string table$"),   # 2 strings: one past the end
    (_name_index(-1), r"^kernels\.name points outside the string table$"),
]


def test_validate_accepts_the_small_trace_and_the_last_string():
    small().validate()
    ok = small()
    ok.tables["kernels"]["name"][:] = 1
    ok.validate()


@pytest.mark.parametrize("breaks, sentence", BROKEN)
def test_validate_sentences(breaks, sentence):
    bad = small()
    breaks(bad)
    with pytest.raises(ValueError, match=sentence):
        bad.validate()


def test_names_of_an_empty_column_and_of_rows():
    t = small()
    assert t.names("kernels").tolist() == ["k"] and t.names("steps", "mode").tolist() == ["decode"]
    e = t.names("api")
    assert e.dtype == object and e.shape == (0,)


def test_table_from_rows_fills_and_flattens():
    assert {k: v.tolist() for k, v in table_from_rows("pm", {}).items()} == {c: [] for c in Mo.TABLES["pm"]}
    got = table_from_rows("pm", {"start_ns": [1, 2], "end_ns": np.array([[3], [4]])})     # a column flattened
    assert got["start_ns"].tolist() == [1, 2] and got["end_ns"].tolist() == [3, 4]
    assert got["dram_read_bytes"].tolist() == [-1, -1] and got["dram_read_bytes"].dtype == np.int64


def test_metadata_is_written_with_sorted_keys(tmp_path):
    t = small()
    t.meta = {"zeta": 1, "alpha": {"b": 2, "a": 1}}
    p = t.save(tmp_path / "t.stepscope")
    with zipfile.ZipFile(p) as z:
        raw = np.load(io.BytesIO(z.read("meta.json.npy"))).tobytes().decode()
    assert raw == json.dumps({"alpha": {"a": 1, "b": 2}, "schema": "stepscope-trace", "schema_version": 2,
                              "zeta": 1})
    assert Trace.load(p).meta == {"zeta": 1, "alpha": {"b": 2, "a": 1}}


def _rewrite(src, dst, drop=(), replace=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for n in zin.namelist():
            if n in drop:
                continue
            data = zin.read(n)
            if replace and n in replace:
                buf = io.BytesIO()
                np.save(buf, replace[n])
                data = buf.getvalue()
            zout.writestr(n, data)


def test_a_later_column_missing_from_a_version_2_file_reads_as_minus_one(tmp_path):
    t = small()
    t.tables["kernel_dram"] = table_from_rows("kernel_dram", {"kernel": [0], "dram_read_bytes": [5],
                                                              "dram_write_bytes": [6], "l2_write_bytes": [7]})
    p = t.save(tmp_path / "a.stepscope")
    _rewrite(p, tmp_path / "b.stepscope", drop={"kernel_dram.l2_write_bytes.npy"})
    got = Trace.load(tmp_path / "b.stepscope")["kernel_dram"]
    assert got["l2_write_bytes"].tolist() == [-1] and got["dram_write_bytes"].tolist() == [6]
    _rewrite(p, tmp_path / "c.stepscope", drop={"kernel_dram.dram_write_bytes.npy"})
    with pytest.raises(TraceFileError, match=r"c\.stepscope: column kernel_dram\.dram_write_bytes is missing\.$"):
        Trace.load(tmp_path / "c.stepscope")


def test_metadata_that_is_not_an_object_is_named_by_its_type(tmp_path):
    p = small().save(tmp_path / "a.stepscope")
    meta = np.frombuffer(json.dumps([1, 2]).encode(), np.uint8)
    _rewrite(p, tmp_path / "b.stepscope", replace={"meta.json.npy": meta})
    with pytest.raises(TraceFileError) as e:
        Trace.load(tmp_path / "b.stepscope")
    assert str(e.value) == f"{tmp_path / 'b.stepscope'}: not a stepscope trace (schema 'list')."


def test_the_string_table_entry_limit_at_its_edge(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "1")     # 1 MB / 4096 B per entry: at most 256 entries
    t = small()
    for i in range(254):
        t.intern(f"s{i}")
    assert len(t.strings) == 256
    Trace.load(t.save(tmp_path / "ok.stepscope"))
    t.intern("one more")
    p = t.save(tmp_path / "over.stepscope")
    with pytest.raises(TraceFileError) as e:
        Trace.load(p)
    assert str(e.value) == (f"{p}: its string table holds about 257 entries, more than the 256 the 1 MB limit allows "
                            "(one per 4096 bytes; raise it with --max-trace-mb or STEPSCOPE_MAX_TRACE_MB if the file "
                            "is trusted).")
