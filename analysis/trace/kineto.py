"""Import a torch.profiler (Kineto) Chrome trace (.json or .json.gz) as a stepscope Trace.

Kernels, memcpy/memset, and the CUDA runtime/driver calls come from the events of
category ``kernel``, ``gpu_memcpy``, ``gpu_memset``, ``cuda_runtime`` and
``cuda_driver``. Kineto writes microseconds with three decimals; they become integer
nanoseconds exactly: parsed by orjson as doubles, then the integer N of nanoseconds whose
decimal N/1000 parses to that double is recovered (unique while |ts| < 2**43 us, about
101 days); otherwise the file is re-parsed with its numbers as decimal strings. Steps are the
``ProfilerStep#N`` annotations when present, else the whole trace is one step. A Kineto
trace has no DRAM counters and no NVML readings: those parts of a report stay empty.

Bad input is refused with one sentence naming the file: not a regular file, over the
size limit (``archive.max_bytes``; a .json.gz is inflated in bounded chunks and stopped
at the limit), not JSON, events without a numeric ``ts``, negative or non-finite
``dur``, non-integer fields, no kernels.
"""
from __future__ import annotations

import gc
import gzip
import json
import re
import zlib
from pathlib import Path

import numpy as np

from . import detect, validate
from .archive import max_bytes
from .errors import TraceFileError, require_regular_file
from .json_stream import NotSplittable, TooLong, parse_events
from .model import DOMAIN_DRIVER, DOMAIN_RUNTIME, HostSpanKind, Trace, table_from_rows
from .steps import assign_steps

#: Below this |ts| in us a double is finer than 1 ns, so each three-decimal value has
#: its own double and the nanoseconds can be recovered exactly (``_us_to_ns``).
_EXACT_US = 2.0**43
_CHUNK = 1 << 24
_PIECE = 1 << 20
#: Memory an imported event takes while the trace is built (its dict, args and columns),
#: counted against the size limit as the events are kept; and memory per byte of text
#: when a document has to be parsed whole.
EVENT_BYTES = 1500
WHOLE_PARSE_FACTOR = 8


def _ns(v) -> int:
    """'4470995119299.744' (us) -> 4470995119299744 (ns), exactly."""
    s = str(v)
    if "e" in s or "E" in s:
        return int(round(float(s) * 1000))
    whole, _, frac = s.partition(".")
    neg = whole.startswith("-")
    ns = abs(int(whole or "0")) * 1000 + int((frac + "000")[:3])
    return -ns if neg else ns


def _us_to_ns(us: np.ndarray) -> np.ndarray | None:
    """Exact nanoseconds of doubles parsed from three-decimal microseconds: the N (next
    to round(us * 1000)) with N / 1000 == us. None if some value has no such N (more
    decimals, or too large)."""
    out = np.rint(us * 1000).astype(np.int64)
    miss = np.flatnonzero(out / 1000.0 != us)     # almost always none: the neighbours only for these
    if len(miss):
        r, u = out[miss], us[miss]
        fixed = np.full(len(miss), np.iinfo(np.int64).min, np.int64)
        for d in (-1, 1, -2, 2):
            hit = (fixed == np.iinfo(np.int64).min) & ((r + d) / 1000.0 == u)
            fixed[hit] = r[hit] + d
        if (fixed == np.iinfo(np.int64).min).any():
            return None
        out[miss] = fixed
    return out


def is_kineto(path: str | Path) -> bool:
    p = str(path)
    return p.endswith(".json") or p.endswith(".json.gz")


def _read_bytes(path: Path) -> bytes | bytearray:
    """The JSON text, inflated in chunks and refused past the size limit."""
    limit = max_bytes()
    if path.suffix != ".gz":
        size = path.stat().st_size
        if size > limit:
            raise TraceFileError(f"{path}: the file is {size / 2**20:.0f} MB, over the {limit / 2**20:.0f} MB "
                                 "limit (raise it with --max-trace-mb or STEPSCOPE_MAX_TRACE_MB).")
        return path.read_bytes()
    buf = bytearray()
    with gzip.open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            buf += chunk
            if len(buf) > limit:
                raise TraceFileError(f"{path}: inflates to more than the {limit / 2**20:.0f} MB limit "
                                     "(raise it with --max-trace-mb or STEPSCOPE_MAX_TRACE_MB if the file is trusted).")
    return buf


def _blocks(path: Path, block_bytes: int = _CHUNK):
    """The JSON text in blocks of ``_CHUNK`` bytes, inflated as it is read; over the size
    limit: TraceFileError; unreadable: NotSplittable (the whole-file parse then says why)."""
    limit = max_bytes()
    if path.suffix != ".gz" and path.stat().st_size > limit:
        _read_bytes(path)   # raises the size sentence
    total = 0
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            while block := f.read(block_bytes):
                total += len(block)
                if total > limit:
                    raise TraceFileError(f"{path}: inflates to more than the {limit / 2**20:.0f} MB limit "
                                         "(raise it with --max-trace-mb or STEPSCOPE_MAX_TRACE_MB if the file is trusted).")
                yield block
    except (OSError, EOFError, zlib.error):
        raise NotSplittable from None


def _select(events: list) -> list:
    """The events the importer reads, of one chunk (the rest are dropped at once)."""
    out = [e for e in events if type(e) is not dict or e.get("ph") == "X" and (
        (c := e.get("cat")) in _TABLE_CATS or c in _STEP_CATS)]
    if any(type(e) is not dict for e in out):
        raise NotSplittable   # the whole-file parse reports it with its index
    return out


def _budgeted(path: Path):
    """``_select`` that refuses once the events kept would take more memory than the limit."""
    limit, kept = max_bytes(), [0]

    def select(events: list) -> list:
        out = _select(events)
        kept[0] += len(out)
        if kept[0] * EVENT_BYTES > limit:
            raise _over_budget(path, kept[0], limit, EVENT_BYTES)
        return out
    return select


def _over_budget(path: Path, n: int, limit: int, per_event: int) -> TraceFileError:
    return TraceFileError(
        f"{path}: holds more than {n} events to import, about {n * per_event / 2**20:.0f} MB "
        f"in memory, over the {limit / 2**20:.0f} MB limit (raise it with --max-trace-mb or "
        "STEPSCOPE_MAX_TRACE_MB if the machine has the memory).")


def _typed_columns(path: Path, blocks):
    """(the document without its events, kineto_fast.Columns of its events) of the text
    in ``blocks``, refused once the events kept pass the size limit."""
    from . import kineto_fast as fast
    limit, cols = max_bytes(), fast.Columns()

    def select(events: list) -> list:
        cols.add(events)
        if cols.n * fast.EVENT_BYTES > limit:
            raise _over_budget(path, cols.n, limit, fast.EVENT_BYTES)
        return []
    head, _ = parse_events(blocks, select, _PIECE, loads=fast.loads)
    return head, cols


def _read_fast(path: Path) -> Trace | None:
    """The trace by the typed reader (kineto_fast.py); None when its times need the exact
    path. Raises kineto_fast.Unexpected when the file needs the general reader."""
    from . import kineto_fast as fast
    got = _read_halves(path) if _split_worth(path) else None
    if got is None:
        try:
            got = _typed_columns(path, _blocks(path, _PIECE))
        except (TooLong, NotSplittable):
            raise fast.Unexpected from None
    head, cols = got
    return fast.build(path, cols, head, _times, _COPY_KINDS)


#: A plain .json trace at least SPLIT_BYTES and at most SPLIT_MAX_BYTES large is read as two
#: halves at once, the second in a forked process, where the machine has two CPUs or more
#: and this process runs one thread (fork is safe then). STEPSCOPE_READ_PROCESSES=1 reads
#: it in this process only. Above SPLIT_MAX_BYTES memory counts more than speed: the two
#: processes' peaks add up to 1.55x the one-process peak (3.45 against 2.23 GiB on the
#: 2.0 GB, 1000-step trace) for 13% less time (17.7 against 20.3 s; measured before this
#: cap: benchmarks/results/kineto_scale-big-two-process.log).
SPLIT_BYTES = 64 << 20
SPLIT_MAX_BYTES = 1 << 30


def _split_worth(path: Path) -> bool:
    import os
    import threading
    return (path.suffix != ".gz" and hasattr(os, "fork") and (os.cpu_count() or 1) >= 2
            and os.environ.get("STEPSCOPE_READ_PROCESSES", "2").strip() != "1"
            and threading.active_count() == 1
            and SPLIT_BYTES <= path.stat().st_size <= min(SPLIT_MAX_BYTES, max_bytes()))


def _range_blocks(path: Path, start: int, stop: int):
    """The file's bytes [start, stop) in pieces."""
    with open(path, "rb") as f:
        f.seek(start)
        left = stop - start
        while left > 0 and (block := f.read(min(_PIECE, left))):
            left -= len(block)
            yield block


def _tail_child(conn, path: str, start: int) -> None:
    """In the forked process: the columns of the events from byte ``start`` (an event's
    "{") to the end of the file, sent back whole; any failure sent back as None."""
    p = Path(path)
    try:
        got = _typed_columns(p, [b'{"traceEvents":[', *_range_blocks(p, start, p.stat().st_size)])
    except Exception:    # noqa: BLE001 - the parent reads the file in one process instead, which says why
        got = None
    conn.send(got)
    conn.close()


def _read_halves(path: Path):
    """(head, columns) of the file read as two halves at once: cut between two events
    near the middle ("}" then "," then "{"), the first half closed with "]}" and read
    here, the second opened with '{"traceEvents":[' and read by a forked process. A cut
    inside a string or a nested list leaves a half that cannot parse (an unclosed string
    or bracket), so a wrong cut is never silent. None (read the file in one process) when
    no cut is found or either half fails, whatever the reason: the one-process read then
    reads it, or says why it cannot."""
    import multiprocessing

    from . import kineto_fast as fast
    from .json_stream import _SEP
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(size // 2)
        window = f.read(_PIECE)
    m = _SEP.search(window)
    if m is None:
        return None
    close, open_ = size // 2 + m.start() + 1, size // 2 + m.end() - 1
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_tail_child, args=(send, str(path), open_), daemon=True)
    child.start()
    send.close()
    try:
        try:
            head, cols = _typed_columns(path, [*_range_blocks(path, 0, close), b"]}"])
        except (TooLong, NotSplittable, TraceFileError, fast.Unexpected):
            return None
        try:
            tail = recv.recv()
        except EOFError:
            tail = None
        if tail is None:
            return None
        cols.extend(tail[1])
        if cols.n * fast.EVENT_BYTES > max_bytes():
            raise _over_budget(path, cols.n, max_bytes(), fast.EVENT_BYTES)
        return {**head, **tail[0]}, cols
    finally:
        recv.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _parse_streaming(path: Path):
    """The document with only the events the importer reads; parsed a chunk at a time
    when the text can be cut between events, else whole."""
    try:
        # 1 MB pieces: each piece's parse stays in the CPU caches (16 MB pieces take 2x longer)
        head, kept = parse_events(_blocks(path, _PIECE), _budgeted(path), _PIECE)
    except TooLong as e:
        raise TraceFileError(f"{path}: not a readable torch.profiler trace ({e}).") from None
    except NotSplittable:
        return _parse(path)
    return {**head, "traceEvents": kept}


def _parse(path: Path, exact: bool = False):
    try:
        raw = _read_bytes(path)
        if len(raw) * WHOLE_PARSE_FACTOR > max_bytes():
            raise TraceFileError(
                f"{path}: cannot be read event by event, and parsing its {len(raw) / 2**20:.0f} MB whole would take "
                f"more than the {max_bytes() / 2**20:.0f} MB limit (raise it with --max-trace-mb or "
                "STEPSCOPE_MAX_TRACE_MB if the file is trusted).")
        if exact:
            return json.loads(bytes(raw), parse_float=str)
        import orjson
        return orjson.loads(raw)
    except TraceFileError:
        raise
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError, RecursionError) as e:
        msg = str(e).splitlines()[0][:120] if str(e) else ""
        raise TraceFileError(f"{path}: not a readable torch.profiler trace ({type(e).__name__}"
                             f"{': ' + msg if msg else ''}).") from None


def _ints(path, what: str, values, shape=None) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.int64) if len(values) else np.zeros((0, *(shape or ())), np.int64)
    except (TypeError, ValueError, OverflowError):
        a = None
    if a is None or (shape is not None and a.shape[1:] != shape):
        raise TraceFileError(f"{path}: the {what} of some events are not integers.")
    return a


def _times(path, ts: list, dur: list, exact: bool, what: str):
    """(start_ns, end_ns) arrays from us values; None if the fast path is not exact."""
    if exact:
        try:
            s = np.array([_ns(v) for v in ts], np.int64)
            d = np.array([_ns(v) for v in dur], np.int64)
        except (TypeError, ValueError, OverflowError):
            raise TraceFileError(f"{path}: some {what} events have a non-numeric ts or dur.") from None
        if (d < 0).any():
            raise TraceFileError(f"{path}: {int((d < 0).sum())} {what} events have a negative duration.")
        return s, s + d
    try:
        t = np.asarray(ts, np.float64)
        d = np.asarray(dur, np.float64)
    except (TypeError, ValueError):
        t = d = None
    if t is None or t.shape != (len(ts),) or d.shape != (len(ts),):
        raise TraceFileError(f"{path}: some {what} events have a non-numeric ts or dur.")
    if len(t) and not (np.isfinite(t).all() and np.isfinite(d).all()):
        raise TraceFileError(f"{path}: some {what} events have a ts or dur that is not a finite number.")
    if (d < 0).any():
        raise TraceFileError(f"{path}: {int((d < 0).sum())} {what} events have a negative duration.")
    if len(t) and np.abs(t).max() >= _EXACT_US:
        return None
    s, dn = _us_to_ns(t), _us_to_ns(d)
    return None if s is None or dn is None else (s, s + dn)


_CATS = {"kernel": "kernels", "cuda_runtime": "api", "cuda_driver": "api",
         "gpu_memcpy": "memcpy", "gpu_memset": "memset"}
_TABLE_CATS = tuple(_CATS)   # a tuple: ``in`` compares, never hashes (a category may be a list)
_STEP_CATS = ("user_annotation", "cpu_op")


def _collect(path, events):
    """Events by table: ts, dur, names, and the raw events (for their args)."""
    got = {t: {"ts": [], "dur": [], "ev": []} for t in ("kernels", "api", "memcpy", "memset", "steps", "host")}
    cats = _CATS
    for i, e in enumerate(events):
        try:
            if e.get("ph") != "X":
                continue
        except AttributeError:
            raise TraceFileError(f"{path}: traceEvents[{i}] is not an object.") from None
        cat = e.get("cat")
        table = cats.get(cat) if isinstance(cat, str) else None
        if table is None:
            name = e.get("name")
            if cat in ("user_annotation", "cpu_op") and isinstance(name, str) and name.startswith("ProfilerStep#"):
                table = "steps"
            elif cat in _STEP_CATS:
                table = "host"     # operator spans (cpu_op) and annotations: the host model
            else:
                continue
        if "ts" not in e:
            raise TraceFileError(f"{path}: traceEvents[{i}] ({cat}) has no ts.")
        if not isinstance(e.get("name", ""), str):
            raise TraceFileError(f"{path}: traceEvents[{i}] ({cat}) has a name that is not a string.")
        g = got[table]
        g["ts"].append(e["ts"])
        g["dur"].append(e.get("dur", 0))
        g["ev"].append(e)
    return got


def _arg_dicts(ev: list) -> list[dict]:
    empty: dict = {}
    return [a if isinstance(a := e.get("args"), dict) else empty for e in ev]


def _args(args: list[dict], key: str, default):
    return [default if (v := a.get(key)) is None else v for a in args]


def _host_spans(path, t: Trace, ev: list, start: np.ndarray, end: np.ndarray) -> dict:
    """cpu_op and user_annotation events (dicts) as host spans."""
    tid = _ints(path, "cpu_op thread ids", [x.get("tid", -1) for x in ev])
    kind = np.array([HostSpanKind.OPERATOR if x.get("cat") == "cpu_op" else HostSpanKind.USER for x in ev], np.int64)
    return host_table(start, end, np.array([t.intern(x.get("name", "")) for x in ev], np.int64), kind, tid)


def host_table(start: np.ndarray, end: np.ndarray, name: np.ndarray, kind: np.ndarray, tid: np.ndarray) -> dict:
    """Host spans (operators and annotations), nested per thread by containment: depth and
    parent computed here (Kineto records neither)."""
    order = np.lexsort((-end, start, tid))
    depth, parent = _nest(start, end, tid, order)
    return table_from_rows("host_spans", {
        "start_ns": start, "end_ns": end, "name": name, "kind": kind, "depth": depth, "parent": parent,
        "thread_id": tid})


def _nest_stack(start: np.ndarray, end: np.ndarray, tid: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(depth, parent) of each span: spans taken in ``order`` (thread, start, longest
    first); a span's parent is the innermost span of its thread still open at its start
    (a stack, popped while its top is of another thread or ended by then)."""
    n = len(start)
    depth, parent = np.zeros(n, np.int64), np.full(n, -1, np.int64)
    stack: list[int] = []
    tl = tid.tolist()
    el = end.tolist()
    sl = start.tolist()
    for r in order.tolist():
        while stack and (tl[stack[-1]] != tl[r] or el[stack[-1]] <= sl[r]):
            stack.pop()
        if stack:
            parent[r], depth[r] = stack[-1], len(stack)
        stack.append(r)
    return depth, parent


def _nest(start: np.ndarray, end: np.ndarray, tid: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_nest_stack``'s answer without a Python loop over the spans, when each thread's
    spans nest (no two overlap without one containing the other: what torch.profiler
    writes). Then the spans open at span k's start (earlier in ``order``, ending after it)
    are exactly its ancestors, so its depth is their count, and its parent is the last span
    before it one level up. A result in which some span does not lie inside its parent
    proves the spans do not nest (the first span that breaks nesting gets a parent that
    ends before it), and the stack gives the answer instead."""
    n = len(order)
    if n == 0 or np.any(end < start):
        return _nest_stack(start, end, tid, order)
    s, e, t = start[order], end[order], tid[order]
    depth_o = np.empty(n, np.int64)
    cuts = np.concatenate([[0], np.flatnonzero(t[1:] != t[:-1]) + 1, [n]]).tolist()
    for g0, g1 in zip(cuts[:-1], cuts[1:]):
        ss, ee = s[g0:g1], e[g0:g1]
        k = np.arange(g1 - g0)
        # spans ended by s_k, of all the thread's spans; those at or after k among them are
        # the empty spans that start at s_k (a later span starts at or after s_k)
        ended = np.searchsorted(np.sort(ee), ss, side="right")
        empty = np.concatenate([[0], np.cumsum(ee == ss)])
        run_end = np.searchsorted(ss, ss, side="right")
        depth_o[g0:g1] = k - (ended - (empty[run_end] - empty[k]))
    # The last span before k at depth_k - 1, by a search of (depth, position) keys. One
    # exists in k's own thread: depth rises by at most 1 from a span to the next (a span
    # open at the next one's start is open at this one's, or is this one), from 0 at the
    # thread's first span.
    pos = np.arange(n, dtype=np.int64)
    srt = np.sort(depth_o * n + pos)
    inner = np.flatnonzero(depth_o > 0)
    cand = srt[np.searchsorted(srt, (depth_o[inner] - 1) * n + pos[inner]) - 1] % n
    parent_o = np.full(n, -1, np.int64)
    parent_o[inner] = cand
    if not np.all(e[inner] <= e[cand]):
        return _nest_stack(start, end, tid, order)
    depth, parent = np.empty(n, np.int64), np.full(n, -1, np.int64)
    depth[order] = depth_o
    has = parent_o >= 0
    parent[order[has]] = order[parent_o[has]]
    return depth, parent


def _build(path, doc, exact: bool) -> Trace | None:
    events = doc.get("traceEvents") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise TraceFileError(f"{path}: not a torch.profiler trace (no traceEvents list).")
    got = _collect(path, events)
    t = Trace()
    times = {}
    for table, g in got.items():
        times[table] = _times(path, g["ts"], g["dur"], exact, {"steps": "step annotation", "host": "cpu_op"}.get(table, table))
        if times[table] is None:
            return None
    if not got["kernels"]["ev"]:
        raise TraceFileError(f"{path}: the torch.profiler trace holds no GPU kernels (was CUDA activity recorded?).")
    for table in ("kernels", "api", "memcpy", "memset"):
        ev = got[table]["ev"]
        if not ev:
            continue
        s, e = times[table]
        names = [x.get("name", "") for x in ev]
        args = _arg_dicts(ev)
        cols = {"start_ns": s, "end_ns": e, "correlation": _ints(path, f"{table} correlation ids",
                                                                 _args(args, "correlation", -1))}
        if table in ("kernels", "api"):
            cols["name"] = np.array([t.intern(n) for n in names], np.int64)
        if table == "kernels":
            grid = _ints(path, "kernel grids", _args(args, "grid", [-1] * 3), (3,))
            block = _ints(path, "kernel blocks", _args(args, "block", [-1] * 3), (3,))
            for j, ax in enumerate("xyz"):
                cols[f"grid_{ax}"], cols[f"block_{ax}"] = grid[:, j], block[:, j]
            for col, key, dflt in (("registers", "registers per thread", -1), ("static_smem_bytes", "shared memory", -1),
                                   ("stream", "stream", -1), ("graph_id", "graph id", 0),
                                   ("graph_node_id", "graph node id", 0)):
                cols[col] = _ints(path, f"kernel {key} fields", _args(args, key, dflt))
        elif table == "api":
            cols["cbid"] = _ints(path, "api cbid fields", _args(args, "cbid", -1))
            cols["domain"] = np.array([DOMAIN_RUNTIME if x.get("cat") == "cuda_runtime" else DOMAIN_DRIVER
                                       for x in ev], np.int64)
            cols["thread_id"] = _ints(path, "api thread ids", [x.get("tid", -1) for x in ev])
        else:
            cols["bytes"] = _ints(path, f"{table} byte counts", _args(args, "bytes", -1))
            cols["stream"] = _ints(path, f"{table} streams", _args(args, "stream", -1))
            cols["graph_id"] = np.zeros(len(ev), np.int64)
            if table == "memcpy":
                cols["copy_kind"] = np.array([_COPY_KINDS.get(n, 0) for n in names], np.int64)
        t.tables[table] = table_from_rows(table, cols)
    if got["host"]["ev"]:
        t.tables["host_spans"] = _host_spans(path, t, got["host"]["ev"], *times["host"])
    return finish(path, t, [x["name"] for x in got["steps"]["ev"]], times["steps"], doc)


def finish(path, t: Trace, step_names: list[str], step_times, doc: dict) -> Trace:
    """The trace from its record tables (strings interned in the order kernels, api, host
    spans): steps, graph replays, checks and metadata. ``step_names``: the ProfilerStep
    annotations' names, ``step_times`` their (start_ns, end_ns)."""
    for table in ("kernels", "api", "memcpy", "memset"):   # torch.profiler times are after its start
        neg = int((t.tables[table]["start_ns"] < 0).sum())
        if neg:
            raise TraceFileError(f"{path}: {neg} {table} events have a negative ts (before the profiler started).")
    mode = t.intern("kineto")
    if step_names:
        try:
            idx = [int(x.split("#", 1)[1]) for x in step_names]
        except ValueError:
            raise TraceFileError(f"{path}: a ProfilerStep annotation has no step number.") from None
        if any(not 0 <= i < 2**62 for i in idx):
            raise TraceFileError(f"{path}: a ProfilerStep annotation's step number is outside 0..2**62.")
        s, e = step_times
        o = np.argsort(s, kind="stable")
        steps = {"index": np.asarray(idx, np.int64)[o], "start_ns": s[o], "end_ns": e[o]}
    else:
        steps = {"index": [], "start_ns": [], "end_ns": []}
    steps["mode"] = np.full(len(steps["index"]), mode, np.int64)
    t.tables["steps"] = table_from_rows("steps", steps)
    _mark_graph_replays(t)
    problem = validate.check_tables(t, need_steps=bool(step_names))
    if problem:
        raise TraceFileError(f"{path}: the trace is invalid: {problem}.")
    if step_names:
        counts = assign_steps(t)
        found = detect.Detection(detect.RULE_PROFILER_STEP, steps, [("decode", 0, 0, 0)] * len(steps["index"]))
    else:   # no ProfilerStep markers: the steps are found from the records (trace/detect.py)
        found = detect.detect(t)
        if not found.steps:
            raise TraceFileError(f"{path}: no decode steps found: {found.message}.")
        detect.apply(t, found)
        counts = t.meta.pop("capture", {})
    props = doc.get("deviceProperties")
    dev = props[0] if isinstance(props, list) and props and isinstance(props[0], dict) else {}
    name = dev.get("name") if isinstance(dev.get("name"), str) else "unknown"
    t.meta = {"source": "torch.profiler (Kineto) trace", "source_file": path.name,
              "gpu": {"name": name, "peak_bytes_per_s": None},
              "capture": {"dram_status": "none: torch.profiler traces carry no DRAM counters",
                          "dropped_records": None, "apis": "torch.profiler (the runtime/driver calls it recorded)",
                          "host_spans": "torch.profiler cpu_op and user_annotation events"
                          if t.n("host_spans") else "off", **counts},
              "step_detection": {**found.summary(), **detect.graph_launch_calls(t)},
              "kineto": {k: doc.get(k) for k in ("schemaVersion", "cupti_version",
                                                 "cuda_runtime_version", "cuda_driver_version")}}
    t.validate()
    return t


_GRAPH_LAUNCH = re.compile(r"^cu(da)?GraphLaunch")


def _mark_graph_replays(t: Trace) -> None:
    """Kernels launched by a CUDA-graph launch call (same correlation id) are graph nodes,
    as in a native trace: gaps inside a replay are graph-internal, never launch overhead.
    Kineto gives them no graph id, so they get graph id 1 (0: not a graph node)."""
    api = t["api"]
    ids = [i for i, name in enumerate(t.strings) if _GRAPH_LAUNCH.match(name)]
    if not ids:
        return
    launch_corr = api["correlation"][np.isin(api["name"], ids)]
    for table in ("kernels", "memcpy", "memset"):   # copies and sets can be graph nodes too
        tab = t[table]
        hit = np.isin(tab["correlation"], launch_corr) & (tab["graph_id"] <= 0)
        tab["graph_id"] = np.where(hit, 1, tab["graph_id"])


def load_kineto(path: str | Path) -> Trace:
    path = Path(path)
    require_regular_file(path)
    # A parsed trace is millions of small dicts with no cycles: the cyclic garbage
    # collector, run again and again while they are made, would take most of the time.
    was = gc.isenabled()
    gc.disable()
    try:
        from .kineto_fast import Unexpected
        try:
            t = _read_fast(path)
        except Unexpected:   # types the typed reader does not take: the general reader
            t = _build(path, _parse_streaming(path), exact=False)
        if t is None:   # timestamps too large for doubles to keep nanoseconds: the exact path
            t = _build(path, _parse(path, exact=True), exact=True)
    finally:
        if was:
            gc.enable()
    return t


#: Kineto memcpy event names -> CUPTI memcpy kinds.
_COPY_KINDS = {"Memcpy HtoD (Pageable -> Device)": 1, "Memcpy HtoD (Pinned -> Device)": 1,
               "Memcpy DtoH (Device -> Pageable)": 2, "Memcpy DtoH (Device -> Pinned)": 2,
               "Memcpy DtoD (Device -> Device)": 8, "Memcpy HtoH (Pinned -> Pinned)": 9}


__all__ = ["load_kineto", "is_kineto"]
