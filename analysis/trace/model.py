"""The stepscope trace file: the one contract between capture and analysis.

A trace is plain data: named tables of equal-length numpy columns (integer
nanoseconds for every timestamp), a string table, and a JSON metadata dict.
On disk it is a zip of ``.npy`` members (numpy's ``savez_compressed``) plus
``meta.json`` and ``strings.json``; ``traces/FORMAT.md`` documents every field.

This module imports numpy only: traces load on any machine, GPU or not.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import validate as _validate
from .archive import max_bytes, read_members
from .atomic import atomic_open
from .errors import TraceFileError, require_regular_file

SCHEMA = "stepscope-trace"
SCHEMA_VERSION = 2
#: Versions this reader accepts; a version-1 file has none of ``V2_TABLES`` (read as empty).
READABLE_VERSIONS = (1, 2)

#: Every table and its columns, in file order. All columns are int64.
#: ``name``/``mode`` columns are indices into ``Trace.strings``; ``step`` is the
#: step index a record belongs to (-1: outside every step).
TABLES: dict[str, tuple[str, ...]] = {
    "steps": ("index", "mode", "start_ns", "end_ns", "sm_clock_mhz", "mem_clock_mhz",
              "power_mw", "energy_mj", "throttle_reasons", "temperature_c",
              "cupti_buffers_completed"),
    "kernels": ("start_ns", "end_ns", "name", "grid_x", "grid_y", "grid_z", "block_x",
                "block_y", "block_z", "registers", "static_smem_bytes", "dynamic_smem_bytes",
                "stream", "correlation", "graph_id", "graph_node_id", "step"),
    "api": ("start_ns", "end_ns", "name", "cbid", "domain", "thread_id", "correlation", "step"),
    "memcpy": ("start_ns", "end_ns", "bytes", "copy_kind", "stream", "correlation",
               "graph_id", "step"),
    "memset": ("start_ns", "end_ns", "bytes", "stream", "correlation", "graph_id", "step"),
    "pm": ("start_ns", "end_ns", "dram_read_bytes", "dram_write_bytes"),
    # -- schema version 2 --
    # Host spans of the framework (nn.Module forwards, operators, user annotations):
    # ``kind`` a HostSpanKind, ``parent`` the row of the enclosing span (-1: none).
    "host_spans": ("start_ns", "end_ns", "name", "kind", "depth", "parent", "thread_id", "step"),
    # NVML read by a background sampler at a fixed rate, off the step path.
    "nvml": ("t_ns", "sm_clock_mhz", "mem_clock_mhz", "power_mw", "temperature_c", "throttle_reasons"),
    # Sampled host stacks (optional deep dive): ``stack`` a string "outer;...;inner".
    "stack_samples": ("t_ns", "thread_id", "stack", "step"),
    # Exact per-kernel DRAM bytes from a counter pass: ``kernel`` the row in ``kernels``;
    # ``l2_write_bytes``: bytes the kernel's SMs wrote into L2 (-1: not counted).
    "kernel_dram": ("kernel", "dram_read_bytes", "dram_write_bytes", "l2_write_bytes"),
}
#: Columns added to a version-2 table later: a file without one reads it as -1 throughout.
LATER_COLUMNS = {"kernel_dram.l2_write_bytes"}
V2_TABLES = ("host_spans", "nvml", "stack_samples", "kernel_dram")

#: ``api.domain`` values.
DOMAIN_RUNTIME, DOMAIN_DRIVER = 0, 1


class HostSpanKind:
    """``host_spans.kind`` values."""
    MODULE = 0      # an nn.Module forward
    OPERATOR = 1    # a torch operator (aten op)
    USER = 2        # a span the caller annotated


def empty_table(name: str) -> dict[str, np.ndarray]:
    return {c: np.zeros(0, np.int64) for c in TABLES[name]}


@dataclass
class Trace:
    """Columns by table, a string table, and metadata. Pure data."""

    tables: dict[str, dict[str, np.ndarray]] = field(
        default_factory=lambda: {t: empty_table(t) for t in TABLES})
    strings: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    # -- access -------------------------------------------------------------
    def __getitem__(self, table: str) -> dict[str, np.ndarray]:
        return self.tables[table]

    def names(self, table: str, column: str = "name") -> np.ndarray:
        """The strings of a name column, as an object array."""
        return np.asarray(self.strings, dtype=object)[self.tables[table][column]] \
            if len(self.tables[table][column]) else np.zeros(0, dtype=object)

    def intern(self, s: str) -> int:
        try:
            return self._index[s]
        except AttributeError:
            self._index = {v: i for i, v in enumerate(self.strings)}
            return self.intern(s)
        except KeyError:
            self.strings.append(s)
            self._index[s] = len(self.strings) - 1
            return self._index[s]

    def n(self, table: str) -> int:
        return len(self.tables[table][TABLES[table][0]])

    def validate(self) -> None:
        """Raise ValueError if a table is ragged, missing a column, or not int64."""
        for t, cols in TABLES.items():
            if t not in self.tables:
                raise ValueError(f"table {t!r} is missing")
            lens = set()
            for c in cols:
                a = self.tables[t].get(c)
                if a is None:
                    raise ValueError(f"column {t}.{c} is missing")
                if a.dtype != np.int64 or a.ndim != 1:
                    raise ValueError(f"column {t}.{c} is {a.dtype}/{a.ndim}d, not 1-d int64")
                lens.add(len(a))
            if len(lens) > 1:
                raise ValueError(f"table {t!r} has columns of different lengths {sorted(lens)}")
        for t in ("kernels", "api", "memcpy", "memset", "host_spans"):
            names = self.tables[t].get("name")
            if names is not None and len(names) and (names.min() < 0 or names.max() >= len(self.strings)):
                raise ValueError(f"{t}.name points outside the string table")

    # -- files --------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a temporary file in the same folder, fsync, rename."""
        self.validate()
        path = Path(path)
        members = {f"{t}.{c}": a for t, cols in self.tables.items() for c, a in cols.items()}
        header = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
        members["meta.json"] = _json_bytes({**header, **self.meta})
        members["strings.json"] = _json_bytes(self.strings)
        with atomic_open(path) as f:
            np.savez_compressed(f, **members)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        """Read a trace file; any problem raises ``TraceFileError`` naming the file.
        Array sizes are checked before anything is allocated (``archive``) and the
        contents after (``validate``)."""
        path = Path(path)
        require_regular_file(path)
        try:
            with open(path, "rb") as f:
                magic = f.read(4)
        except OSError as e:
            raise TraceFileError(f"{path}: cannot be read ({e.strerror}).") from None
        if magic != b"PK\x03\x04":
            raise TraceFileError(f"{path}: not a stepscope trace (not a zip archive).")
        members = read_members(path, lambda name: name in ("meta.json", "strings.json"))
        if "meta.json" not in members:
            raise TraceFileError(f"{path}: not a stepscope trace (no meta.json member).")
        meta = _json_member(path, members, "meta.json")
        if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
            got = meta.get("schema") if isinstance(meta, dict) else type(meta).__name__
            raise TraceFileError(f"{path}: not a stepscope trace (schema {got!r}).")
        version = meta.get("schema_version")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise TraceFileError(
                f"{path}: trace schema version {version} is not supported "
                f"(this stepscope reads versions {', '.join(map(str, READABLE_VERSIONS))}).")
        _check_string_count(path, members.get("strings.json"))
        strings = _json_member(path, members, "strings.json")
        keys = {f"{t}.{c}" for t, cols in TABLES.items() for c in cols
                if not (version == 1 and t in V2_TABLES)}
        members.update(read_members(path, keys.__contains__))
        tables = {}
        for t, cols in TABLES.items():
            if version == 1 and t in V2_TABLES:
                tables[t] = empty_table(t)
                continue
            tables[t] = {}
            for c in cols:
                key = f"{t}.{c}"
                if key not in members and key in LATER_COLUMNS and tables[t]:
                    tables[t][c] = np.full(len(next(iter(tables[t].values()))), -1, np.int64)
                    continue
                if key not in members:
                    raise TraceFileError(f"{path}: column {key} is missing.")
                tables[t][c] = members[key]
        for k in ("schema", "schema_version"):
            meta.pop(k, None)
        trace = cls(tables=tables, strings=strings, meta=meta)
        try:
            trace.validate()
        except ValueError as e:
            raise TraceFileError(f"{path}: the file is corrupt ({e}).") from None
        problem = _validate.check(trace)
        if problem:
            raise TraceFileError(f"{path}: the trace is invalid: {problem}.")
        return trace


#: Bytes of the limit (``--max-trace-mb``) one string-table entry costs: a Python string
#: takes ~60 bytes however short, so a table of tiny strings takes 20x its file bytes.
STRING_ENTRY_BYTES = 4096


def _check_string_count(path, blob) -> None:
    """Refuse, before parsing it, a string table with more entries than the limit allows
    (counted as quote pairs, which is at least the number of strings)."""
    if blob is None:
        return
    n = int(np.count_nonzero(blob == ord('"'))) // 2
    most = max_bytes() // STRING_ENTRY_BYTES
    if n > most:
        raise TraceFileError(
            f"{path}: its string table holds about {n} entries, more than the {most} the "
            f"{max_bytes() / 2**20:.0f} MB limit allows (one per {STRING_ENTRY_BYTES} bytes; raise it with "
            "--max-trace-mb or STEPSCOPE_MAX_TRACE_MB if the file is trusted).")


def _json_member(path, members: dict, name: str):
    if name not in members:
        raise TraceFileError(f"{path}: member {name} is missing.")
    try:
        return json.loads(members[name].tobytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise TraceFileError(f"{path}: member {name} is not valid JSON ({type(e).__name__}).") from None


def _json_bytes(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, sort_keys=True).encode(), dtype=np.uint8)


def table_from_rows(name: str, rows: dict[str, list | np.ndarray]) -> dict[str, np.ndarray]:
    """Build a table from column lists; columns not given are filled with -1."""
    n = len(next(iter(rows.values()))) if rows else 0
    out = {}
    for c in TABLES[name]:
        v = rows.get(c)
        out[c] = np.full(n, -1, np.int64) if v is None else np.asarray(v, dtype=np.int64).reshape(-1)
    return out
