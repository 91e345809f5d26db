"""Export a trace as Chrome trace-event JSON that Perfetto UI (ui.perfetto.dev) opens.

Tracks: one per CPU thread (launch calls), one per GPU stream (kernels, copies, sets),
a "steps" track, flow arrows from each launch call to its GPU records (same
correlation id), and a DRAM counter track (GB/s, read and write) from the PM samples.
Timestamps are microseconds from the trace's first event, written with three decimals,
so nanoseconds survive; ``displayTimeUnit`` is "ns".
"""
from __future__ import annotations

import json

import numpy as np

from ..dram import valid
from ..kernel_classes import KernelClass, classify_names
from ..trace.atomic import atomic_open

CPU_PID, GPU_PID = 1, 2
STEPS_TID = 0


def _us(ns: np.ndarray | int, t0: int) -> float:
    return round((int(ns) - t0) / 1000.0, 3)


def to_chrome(trace) -> dict:
    t = trace
    k, a, st = t["kernels"], t["api"], t["steps"]
    firsts = [x["start_ns"].min() for x in (k, a, st, t["memcpy"], t["memset"]) if len(x["start_ns"])]
    t0 = int(min(firsts)) if firsts else 0
    ev: list[dict] = [
        {"ph": "M", "name": "process_name", "pid": CPU_PID, "tid": 0, "args": {"name": "CPU"}},
        {"ph": "M", "name": "process_name", "pid": GPU_PID, "tid": 0,
         "args": {"name": f"GPU {t.meta.get('gpu', {}).get('name', '')}".strip()}},
        {"ph": "M", "name": "thread_name", "pid": CPU_PID, "tid": STEPS_TID, "args": {"name": "steps"}},
    ]
    for tid in np.unique(a["thread_id"]):
        ev.append({"ph": "M", "name": "thread_name", "pid": CPU_PID, "tid": int(tid) + 1,
                   "args": {"name": f"thread {int(tid)} (launch calls)"}})
    streams = np.unique(np.concatenate([k["stream"], t["memcpy"]["stream"], t["memset"]["stream"]]))
    for s in streams:
        ev.append({"ph": "M", "name": "thread_name", "pid": GPU_PID, "tid": int(s),
                   "args": {"name": f"stream {int(s)}"}})
    modes = t.strings
    for i in range(len(st["index"])):
        ev.append({"ph": "X", "cat": "step", "name": f"step {int(st['index'][i])} ({modes[st['mode'][i]]})",
                   "pid": CPU_PID, "tid": STEPS_TID, "ts": _us(st["start_ns"][i], t0),
                   "dur": round((int(st["end_ns"][i]) - int(st["start_ns"][i])) / 1000.0, 3)})
    api_corr = {}
    for i in range(len(a["start_ns"])):
        tid = int(a["thread_id"][i]) + 1
        ts = _us(a["start_ns"][i], t0)
        ev.append({"ph": "X", "cat": "launch", "name": t.strings[a["name"][i]], "pid": CPU_PID,
                   "tid": tid, "ts": ts, "dur": round((int(a["end_ns"][i]) - int(a["start_ns"][i])) / 1000.0, 3),
                   "args": {"correlation": int(a["correlation"][i]), "step": int(a["step"][i])}})
        api_corr.setdefault(int(a["correlation"][i]), (tid, ts))
    classes = classify_names(t.strings, k["name"])
    flows = set()

    def gpu_event(cat, name, i, table, args):
        ts = _us(table["start_ns"][i], t0)
        ev.append({"ph": "X", "cat": cat, "name": name, "pid": GPU_PID, "tid": int(table["stream"][i]),
                   "ts": ts, "dur": round((int(table["end_ns"][i]) - int(table["start_ns"][i])) / 1000.0, 3),
                   "args": args})
        c = int(table["correlation"][i])
        if c in api_corr and c not in flows:
            flows.add(c)
            tid, ats = api_corr[c]
            ev.append({"ph": "s", "cat": "flow", "name": "launch", "id": c, "pid": CPU_PID, "tid": tid, "ts": ats})
            ev.append({"ph": "f", "bp": "e", "cat": "flow", "name": "launch", "id": c, "pid": GPU_PID,
                       "tid": int(table["stream"][i]), "ts": ts})
    for i in range(len(k["start_ns"])):
        gpu_event(KernelClass(classes[i]).name.lower(), t.strings[k["name"][i]], i, k, {
            "grid": [int(k["grid_x"][i]), int(k["grid_y"][i]), int(k["grid_z"][i])],
            "block": [int(k["block_x"][i]), int(k["block_y"][i]), int(k["block_z"][i])],
            "registers": int(k["registers"][i]), "correlation": int(k["correlation"][i]),
            "graph_id": int(k["graph_id"][i]), "step": int(k["step"][i])})
    for table, name in (("memcpy", "memcpy"), ("memset", "memset")):
        tab = t[table]
        for i in range(len(tab["start_ns"])):
            gpu_event(table, name, i, tab, {"bytes": int(tab["bytes"][i]), "step": int(tab["step"][i])})
    ok = valid(t["pm"])
    pm = {c: v[ok] for c, v in t["pm"].items()}
    order = np.argsort(pm["start_ns"], kind="stable")
    for i in order:
        dt = max(int(pm["end_ns"][i]) - int(pm["start_ns"][i]), 1)
        ev.append({"ph": "C", "name": "DRAM GB/s", "pid": GPU_PID, "tid": 0, "ts": _us(pm["start_ns"][i], t0),
                   "args": {"read": round(float(pm["dram_read_bytes"][i]) / dt, 3),
                            "write": round(float(pm["dram_write_bytes"][i]) / dt, 3)}})
    if len(order):
        ev.append({"ph": "C", "name": "DRAM GB/s", "pid": GPU_PID, "tid": 0,
                   "ts": _us(pm["end_ns"][order[-1]], t0), "args": {"read": 0, "write": 0}})
    return {"traceEvents": ev, "displayTimeUnit": "ns",
            "otherData": {"stepscope": "trace exported by stepscope", "origin_ns": t0,
                          "gpu": t.meta.get("gpu", {}).get("name")}}


def write_chrome(trace, path) -> None:
    with atomic_open(path, "w") as f:
        json.dump(to_chrome(trace), f, separators=(",", ":"))
