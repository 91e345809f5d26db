"""Export a trace as Chrome trace-event JSON that Perfetto UI (ui.perfetto.dev) opens.

Tracks: one per CPU thread (launch calls), one per GPU stream (kernels, copies, sets),
a "steps" track, flow arrows from each launch call to its GPU records (same
correlation id), a DRAM counter track (GB/s, read and write) from the PM samples, and a
"GPU idle (cause)" track: one slice per idle gap of the attribution, named by its cause in
the report's words (launch overhead, queued, host synchronisation, host copy, other idle,
graph-internal; ``analysis/gap_context.py``), its args saying what the GPU waited for (the
host span or API call that took most of a launch-bound gap, the synchronisation call, the
record that ended it and its launch call) and the gap in integer ns. Per cause the slices
add up to the report's per-step columns (``launch_overhead_ns``, ``queued_ns``, ...).
Timestamps are microseconds from the trace's first event, written with three decimals,
so nanoseconds survive; ``displayTimeUnit`` is "ns". The file is streamed: events are
serialised a batch at a time as they are made, never held as one document.

Names longer than ``MAX_NAME_CHARS`` are cut in the events (each record would repeat them:
one 64 MB kernel name made a 77 GB export) and written whole once, under
``otherData.long_names`` keyed by their index in the trace's string table.
"""
from __future__ import annotations

import json

import numpy as np

from ..attribution import attribute
from ..dram import valid
from ..gap_context import gap_context
from ..kernel_classes import KernelClass, classify_names
from ..trace.atomic import atomic_open

CPU_PID, GPU_PID = 1, 2
STEPS_TID = 0
#: The idle-cause track's thread id in the GPU process (CUDA stream ids are small).
IDLE_TID = 1 << 30
#: Longest name written into an event; longer ones are cut (the whole name is in otherData).
MAX_NAME_CHARS = 1024


def _cut(s: str, i: int | None = None) -> str:
    if len(s) <= MAX_NAME_CHARS:
        return s
    where = f"; whole in otherData.long_names[{i}]" if i is not None else ""
    return f"{s[:MAX_NAME_CHARS - 80]}... [{len(s)} characters{where}]"


def export_names(trace) -> list[str]:
    """The string table as events show it: long names cut (``_cut``)."""
    return [_cut(s, i) for i, s in enumerate(trace.strings)]


def _us(ns: np.ndarray, t0: int) -> list:
    """Microseconds from ``t0``: n / 1000 as a double, the nearest to three decimals."""
    return ((np.asarray(ns, np.int64) - t0) / 1000.0).tolist()


def origin_ns(trace) -> int:
    t = trace
    firsts = [t[x]["start_ns"].min() for x in ("kernels", "api", "steps", "memcpy", "memset") if len(t[x]["start_ns"])]
    return int(min(firsts)) if firsts else 0


def idle_events(trace, attr: dict, t0: int):
    """One slice per idle gap on the idle-cause track, named by cause (``gap_context``)."""
    g = attr["gaps"]
    ctx = gap_context(trace, attr)
    launch = {"launch_api_ns": "host_launch_call_ns", "other_api_ns": "host_other_api_calls_ns",
              "framework_ns": "host_framework_code_ns"}
    cols = [g["step"].tolist(), g["gap_ns"].tolist(), _us(g["start_ns"], t0), (g["gap_ns"] / 1000.0).tolist(),
            ctx["cause_name"].tolist(), ctx["position"].tolist(), ctx["waited_for"].tolist(),
            ctx["next_record"].tolist(), ctx["launch_call"].tolist(),
            *(ctx[k].tolist() for k in launch)]
    for step, ns, ts, dur, name, position, waited, record, call, *parts in zip(*cols):
        args = {"step": step, "gap_ns": ns, "position": position, "waited_for": _cut(waited)}
        if record:
            args["ended_by"] = _cut(record)
        if call:
            args["launch_call"] = call
        if name == "launch overhead":
            args.update(zip(launch.values(), parts))
        yield {"ph": "X", "cat": "idle", "name": name, "pid": GPU_PID, "tid": IDLE_TID, "ts": ts, "dur": dur,
               "args": args}


def iter_events(trace, attr: dict | None = None):
    """The trace events, one dict at a time (columns are turned into lists table by table,
    never into one big document). ``attr``: the trace's attribution (computed when not given)."""
    t = trace
    k, a, st = t["kernels"], t["api"], t["steps"]
    t0 = origin_ns(t)
    yield {"ph": "M", "name": "process_name", "pid": CPU_PID, "tid": 0, "args": {"name": "CPU"}}
    yield {"ph": "M", "name": "process_name", "pid": GPU_PID, "tid": 0,
           "args": {"name": _cut(f"GPU {(t.meta.get('gpu') or {}).get('name', '')}".strip())}}
    yield {"ph": "M", "name": "thread_name", "pid": CPU_PID, "tid": STEPS_TID, "args": {"name": "steps"}}
    for tid in np.unique(a["thread_id"]).tolist():
        yield {"ph": "M", "name": "thread_name", "pid": CPU_PID, "tid": tid + 1,
               "args": {"name": f"thread {tid} (launch calls)"}}
    streams = np.unique(np.concatenate([k["stream"], t["memcpy"]["stream"], t["memset"]["stream"]]))
    for s in streams.tolist():
        yield {"ph": "M", "name": "thread_name", "pid": GPU_PID, "tid": s, "args": {"name": f"stream {s}"}}
    yield {"ph": "M", "name": "thread_name", "pid": GPU_PID, "tid": IDLE_TID, "args": {"name": "GPU idle (cause)"}}
    yield {"ph": "M", "name": "thread_sort_index", "pid": GPU_PID, "tid": IDLE_TID, "args": {"sort_index": -1}}
    strings = export_names(t)
    for idx, mode, ts, dur in zip(st["index"].tolist(), st["mode"].tolist(), _us(st["start_ns"], t0),
                                  ((st["end_ns"] - st["start_ns"]) / 1000.0).tolist()):
        yield {"ph": "X", "cat": "step", "name": f"step {idx} ({strings[mode]})", "pid": CPU_PID,
               "tid": STEPS_TID, "ts": ts, "dur": dur}
    # Host spans (nn.Module forwards, operators) on the thread of their launch calls: Perfetto
    # nests the launch calls inside them. CUPTI's thread ids are pthread_self() cut to 32 bits.
    hs = t["host_spans"]
    kinds = {0: "module", 1: "operator", 2: "user"}
    for name, kind, tid, ts, dur, step in zip(hs["name"].tolist(), hs["kind"].tolist(),
                                              ((hs["thread_id"] & 0xFFFFFFFF) + 1).tolist(), _us(hs["start_ns"], t0),
                                              ((hs["end_ns"] - hs["start_ns"]) / 1000.0).tolist(), hs["step"].tolist()):
        yield {"ph": "X", "cat": f"host {kinds.get(kind, 'span')}", "name": strings[name], "pid": CPU_PID,
               "tid": tid, "ts": ts, "dur": dur, "args": {"step": step}}
    api_corr = {}
    for name, tid, ts, dur, corr, step in zip(a["name"].tolist(), (a["thread_id"] + 1).tolist(),
                                              _us(a["start_ns"], t0), ((a["end_ns"] - a["start_ns"]) / 1000.0).tolist(),
                                              a["correlation"].tolist(), a["step"].tolist()):
        yield {"ph": "X", "cat": "launch", "name": strings[name], "pid": CPU_PID, "tid": tid, "ts": ts,
               "dur": dur, "args": {"correlation": corr, "step": step}}
        api_corr.setdefault(corr, (tid, ts))
    flows = set()

    def gpu_events(table, cats, names, args):
        tab = t[table]
        for cat, name, stream, ts, dur, corr, arg in zip(cats, names, tab["stream"].tolist(), _us(tab["start_ns"], t0),
                                                         ((tab["end_ns"] - tab["start_ns"]) / 1000.0).tolist(),
                                                         tab["correlation"].tolist(), args):
            yield {"ph": "X", "cat": cat, "name": name, "pid": GPU_PID, "tid": stream, "ts": ts, "dur": dur,
                   "args": arg}
            if corr in api_corr and corr not in flows:
                flows.add(corr)
                tid, ats = api_corr[corr]
                yield {"ph": "s", "cat": "flow", "name": "launch", "id": corr, "pid": CPU_PID, "tid": tid, "ts": ats}
                yield {"ph": "f", "bp": "e", "cat": "flow", "name": "launch", "id": corr, "pid": GPU_PID,
                       "tid": stream, "ts": ts}
    class_names = {c.value: c.name.lower() for c in KernelClass}
    kargs = ({"grid": [gx, gy, gz], "block": [bx, by, bz], "registers": r, "correlation": c, "graph_id": g, "step": s}
             for gx, gy, gz, bx, by, bz, r, c, g, s in zip(*(k[x].tolist() for x in (
                 "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "registers", "correlation",
                 "graph_id", "step"))))
    yield from gpu_events("kernels", (class_names[int(c)] for c in classify_names(t.strings, k["name"])),
                          (strings[n] for n in k["name"].tolist()), kargs)
    for table in ("memcpy", "memset"):
        tab = t[table]
        yield from gpu_events(table, (table for _ in range(len(tab["start_ns"]))),
                              (table for _ in range(len(tab["start_ns"]))),
                              ({"bytes": b, "step": s} for b, s in zip(tab["bytes"].tolist(), tab["step"].tolist())))
    if len(st["start_ns"]):
        yield from idle_events(t, attr if attr is not None else attribute(t), t0)
    ok = valid(t["pm"])
    pm = {c: v[ok] for c, v in t["pm"].items()}
    order = np.argsort(pm["start_ns"], kind="stable")
    dt = np.maximum(pm["end_ns"] - pm["start_ns"], 1)[order]
    rd = np.round(pm["dram_read_bytes"][order] / dt, 3).tolist()
    wr = np.round(pm["dram_write_bytes"][order] / dt, 3).tolist()
    for ts, r, w in zip(_us(pm["start_ns"][order], t0), rd, wr):
        yield {"ph": "C", "name": "DRAM GB/s", "pid": GPU_PID, "tid": 0, "ts": ts, "args": {"read": r, "write": w}}
    if len(order):
        yield {"ph": "C", "name": "DRAM GB/s", "pid": GPU_PID, "tid": 0, "ts": _us(pm["end_ns"][order[-1:]], t0)[0],
               "args": {"read": 0, "write": 0}}


def _other(trace) -> dict:
    out = {"stepscope": "trace exported by stepscope", "origin_ns": origin_ns(trace),
           "gpu": (trace.meta.get("gpu") or {}).get("name")}
    long = {str(i): s for i, s in enumerate(trace.strings) if len(s) > MAX_NAME_CHARS}
    if long:
        out["long_names"] = long
    return out


def to_chrome(trace, attr: dict | None = None) -> dict:
    """The whole document in memory (small traces, tests); ``write_chrome`` streams."""
    return {"traceEvents": list(iter_events(trace, attr)), "displayTimeUnit": "ns", "otherData": _other(trace)}


def record_count(trace, attr: dict | None = None) -> int:
    """Records ``write_chrome`` writes (slices and counter samples; metadata and flow
    arrows not counted): the total of its ``progress`` callback. The idle gaps are counted
    from ``attr`` when given, else from the attribution computed here."""
    t = trace
    n_pm = int(valid(t["pm"]).sum())
    n_gaps = len((attr if attr is not None else attribute(t))["gaps"]["gap_ns"]) if len(t["steps"]["start_ns"]) else 0
    return (sum(len(t[x]["start_ns"]) for x in ("steps", "host_spans", "api", "kernels", "memcpy", "memset"))
            + n_gaps + n_pm + (1 if n_pm else 0))


def _part(e: dict) -> str:
    """The part of the trace an event comes from, for progress."""
    if e["ph"] == "M":
        return "track names"
    if e["ph"] == "C":
        return "DRAM samples"
    if e.get("cat") == "idle":
        return "idle gaps"
    if e["pid"] == GPU_PID:
        return "GPU records"
    return {"step": "steps", "launch": "launch calls"}.get(e.get("cat"), "host spans")


def write_chrome(trace, path, batch: int = 20_000, progress=None, attr: dict | None = None) -> None:
    """Write the events as they are made, a batch at a time, atomically. ``progress(n,
    part)`` is called after each batch with the records it held (``record_count`` in all)
    and the part of the trace being written."""
    try:
        import orjson
        dumps = orjson.dumps
    except ImportError:   # pragma: no cover - orjson is a dependency
        dumps = lambda o: json.dumps(o, separators=(",", ":")).encode()  # noqa: E731
    report = progress or (lambda n, part: None)
    with atomic_open(path, "wb") as f:
        f.write(b'{"displayTimeUnit":"ns","otherData":' + dumps(_other(trace)) + b',"traceEvents":[')
        buf, first, records, e = [], True, 0, None
        for e in iter_events(trace, attr):
            buf.append(dumps(e))
            records += e["ph"] in ("X", "C")
            if len(buf) >= batch:
                f.write((b"" if first else b",") + b",".join(buf))
                buf, first = [], False
                report(records, _part(e))
                records = 0
        if buf:
            f.write((b"" if first else b",") + b",".join(buf))
            report(records, _part(e))
        f.write(b"]}")
