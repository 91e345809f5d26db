"""The fast Kineto reader: the JSON text, inflated in a stream and cut into ~1 MB pieces
between events (json_stream.py), is decoded by msgspec into typed structs that hold only
the fields the trace model reads (every other key, and the contents of events of other
kinds, are skipped without being made into Python objects), and each piece becomes numpy
columns at once. Memory: the columns, the names (once each), and one piece of text with
its structs; never the JSON document or its dicts.

The types are strict (``ts`` a number, ``name`` a string, ``args.grid`` three integers,
...). A file that does not fit them (or whose pieces cannot be cut) is not refused here:
``Unexpected`` is raised and kineto.py reads it with the general reader, which gives the
same trace or the same one-sentence refusal as before.
"""
from __future__ import annotations

from operator import attrgetter

import msgspec
import numpy as np

from .errors import TraceFileError
from .json_stream import NotSplittable
from .model import DOMAIN_DRIVER, DOMAIN_RUNTIME, HostSpanKind, Trace, table_from_rows

#: Memory per imported event, counted against the size limit as events are kept: the
#: columns of the trace model (up to 15 int64 per kernel, 120 bytes), their per-piece
#: copies before they are joined, the float64 times, and the arrays a report derives.
#: Measured peak of a whole `stepscope report` per event kept (benchmarks/kineto_scale.py,
#: one process): 349 bytes at 6.7M kept events (1000 steps, 2,230 MiB), 344 at 9.4M (1400
#: steps, 3,080 MiB), 339 at 0.67M after ~45 MiB of interpreter and imports (100 steps);
#: 384 is 10% over the largest.
EVENT_BYTES = 384


class Unexpected(Exception):
    """The file does not fit the typed reader; read it with the general one."""


# gc=False: the structs hold only numbers, strings and tuples of ints, so they cannot form
# cycles. load_kineto turns the cyclic collector off while it reads; a caller that reads
# pieces with it on (tests, kineto_scale's timing of the parts) would otherwise see a
# million tracked structs set it off again and again (0.4 s of 1.9 s, 100-step trace).
class _Args(msgspec.Struct, gc=False):
    correlation: int = -1
    grid: tuple[int, int, int] = (-1, -1, -1)
    block: tuple[int, int, int] = (-1, -1, -1)
    registers: int = msgspec.field(default=-1, name="registers per thread")
    smem: int = msgspec.field(default=-1, name="shared memory")
    stream: int = -1
    graph_id: int = msgspec.field(default=0, name="graph id")
    graph_node_id: int = msgspec.field(default=0, name="graph node id")
    cbid: int = -1
    bytes: int = -1


_NO_ARGS = _Args()


class _Event(msgspec.Struct, gc=False):
    ph: str = ""
    cat: str = ""
    name: str = ""
    ts: float = float("nan")    # JSON has no NaN: NaN here is a missing ts
    dur: float = 0.0
    tid: int | str = -1    # a string in some traces' GPU rows (then only a kept event's tid must be a number)
    args: _Args | None = None


_DECODER = msgspec.json.Decoder(list[_Event])
_TABLES = {"kernel": "kernels", "cuda_runtime": "api", "cuda_driver": "api",
           "gpu_memcpy": "memcpy", "gpu_memset": "memset"}
_ROUTE = {**_TABLES, "user_annotation": "host", "cpu_op": "host"}
_ROUTES = ("kernels", "api", "memcpy", "memset", "host")
_NAME, _TS, _DUR, _TID = attrgetter("name"), attrgetter("ts"), attrgetter("dur"), attrgetter("tid")
_CORR, _GRID, _BLOCK = attrgetter("correlation"), attrgetter("grid"), attrgetter("block")


def loads(piece: bytes) -> list:
    """One piece ``[event, ...]`` as structs; NotSplittable if it is not JSON (a cut in
    the wrong place), Unexpected if it is JSON of other types."""
    try:
        return _DECODER.decode(piece)
    except msgspec.ValidationError:
        raise Unexpected from None
    except msgspec.DecodeError:
        raise NotSplittable from None


class Columns:
    """Per table, the columns of the events seen so far, a piece at a time."""

    def __init__(self):
        self.parts: dict[str, list[dict]] = {t: [] for t in ("kernels", "api", "memcpy", "memset", "host", "steps")}
        self.names: dict[str, dict[str, int]] = {t: {} for t in self.parts}
        self.n = 0

    def add(self, events: list) -> int:
        """Sorts one piece's events into columns; returns how many were kept."""
        by: dict[str, list] = {t: [] for t in _ROUTES}
        route = _ROUTE.get
        for e in events:
            if e.ph == "X" and (table := route(e.cat)) is not None:
                by[table].append(e)
        kept = 0
        for table, ev in by.items():
            if ev:
                kept += len(ev)
                if table == "host":
                    steps = [e for e in ev if e.name.startswith("ProfilerStep#")]
                    if steps:
                        self.parts["steps"].append(self._columns("steps", steps))
                        ev = [e for e in ev if not e.name.startswith("ProfilerStep#")]
                        if not ev:
                            continue
                self.parts[table].append(self._columns(table, ev))
        self.n += kept
        return kept

    def _columns(self, table: str, ev: list) -> dict:
        n = len(ev)
        names = self.names[table]
        code = [names.setdefault(x, len(names)) for x in map(_NAME, ev)]
        cols = {"ts": np.fromiter(map(_TS, ev), np.float64, n), "dur": np.fromiter(map(_DUR, ev), np.float64, n),
                "name": np.array(code, np.int64)}
        if np.isnan(cols["ts"]).any():
            raise Unexpected   # an event without ts: the general reader names it
        try:
            if table in ("host", "steps", "api"):
                cols["tid"] = np.fromiter(map(_TID, ev), np.int64, n)
        except (TypeError, ValueError):
            raise Unexpected from None   # a thread id that is not a number
        if table in ("host", "steps"):
            cols["cpu_op"] = np.fromiter((e.cat == "cpu_op" for e in ev), np.bool_, n)
            return cols
        args = [e.args or _NO_ARGS for e in ev]
        cols["correlation"] = np.fromiter(map(_CORR, args), np.int64, n)
        if table == "kernels":
            cols["grid"] = np.array(list(map(_GRID, args)), np.int64).reshape(n, 3)
            cols["block"] = np.array(list(map(_BLOCK, args)), np.int64).reshape(n, 3)
            for k in ("registers", "smem", "stream", "graph_id", "graph_node_id"):
                cols[k] = np.fromiter(map(attrgetter(k), args), np.int64, n)
        elif table == "api":
            cols["cbid"] = np.fromiter(map(attrgetter("cbid"), args), np.int64, n)
            cols["runtime"] = np.fromiter((e.cat == "cuda_runtime" for e in ev), np.bool_, n)
        else:
            cols["bytes"] = np.fromiter(map(attrgetter("bytes"), args), np.int64, n)
            cols["stream"] = np.fromiter(map(attrgetter("stream"), args), np.int64, n)
        return cols

    def extend(self, other: Columns) -> None:
        """Appends ``other``'s columns (events read after these): its names get this
        reader's codes, new ones in ``other``'s order of first appearance, as if one reader
        had read both."""
        for table, parts in other.parts.items():
            names = self.names[table]
            remap = np.array([names.setdefault(x, len(names)) for x in other.names[table]], np.int64)
            for part in parts:
                self.parts[table].append({**part, "name": remap[part["name"]]})
        self.n += other.n

    def joined(self, table: str) -> dict[str, np.ndarray]:
        parts = self.parts.pop(table)
        if not parts:
            return {}
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        parts.clear()
        return out


def build(path, cols: Columns, doc: dict, times, copy_kinds: dict) -> Trace | None:
    """The trace from the columns (as kineto._build makes it from dicts: same string
    order, same checks); None when the times need the exact path. ``times``:
    kineto._times; ``copy_kinds``: memcpy names -> CUPTI kinds."""
    from .kineto import finish, host_table
    t = Trace()
    tabs = {}
    for table in ("kernels", "api", "memcpy", "memset", "steps", "host"):
        c = cols.joined(table)
        what = {"steps": "step annotation", "host": "cpu_op"}.get(table, table)
        se = times(path, c.get("ts", []), c.get("dur", []), False, what)
        if se is None:
            return None
        tabs[table] = (c, se)
    if not len(tabs["kernels"][0]):
        raise TraceFileError(f"{path}: the torch.profiler trace holds no GPU kernels (was CUDA activity recorded?).")

    def interned(table: str) -> np.ndarray:
        ids = np.array([t.intern(s) for s in cols.names[table]], np.int64)
        return ids[tabs[table][0]["name"]]

    for table in ("kernels", "api", "memcpy", "memset"):
        c, (s, e) = tabs[table]
        if not c:
            continue
        out = {"start_ns": s, "end_ns": e, "correlation": c["correlation"]}
        if table in ("kernels", "api"):
            out["name"] = interned(table)
        if table == "kernels":
            for j, ax in enumerate("xyz"):
                out[f"grid_{ax}"], out[f"block_{ax}"] = c["grid"][:, j], c["block"][:, j]
            out.update(registers=c["registers"], static_smem_bytes=c["smem"], stream=c["stream"],
                       graph_id=c["graph_id"], graph_node_id=c["graph_node_id"])
        elif table == "api":
            out.update(cbid=c["cbid"], domain=np.where(c["runtime"], DOMAIN_RUNTIME, DOMAIN_DRIVER).astype(np.int64),
                       thread_id=c["tid"])
        else:
            out.update(bytes=c["bytes"], stream=c["stream"], graph_id=np.zeros(len(s), np.int64))
            if table == "memcpy":
                kinds = np.array([copy_kinds.get(n, 0) for n in cols.names[table]], np.int64)
                out["copy_kind"] = kinds[c["name"]]
        t.tables[table] = table_from_rows(table, out)
    c, (s, e) = tabs["host"]
    if c:
        kind = np.where(c["cpu_op"], HostSpanKind.OPERATOR, HostSpanKind.USER).astype(np.int64)
        t.tables["host_spans"] = host_table(s, e, interned("host"), kind, c["tid"])
    c, step_times = tabs["steps"]
    step_names = []
    if c:
        by_code = list(cols.names["steps"])
        step_names = [by_code[i] for i in c["name"].tolist()]
    return finish(path, t, step_names, step_times, doc)
