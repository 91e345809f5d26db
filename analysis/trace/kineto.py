"""Import a torch.profiler (Kineto) Chrome trace (.json or .json.gz) as a stepscope Trace.

Kernels, memcpy/memset, and the CUDA runtime/driver calls come from the events of
category ``kernel``, ``gpu_memcpy``, ``gpu_memset``, ``cuda_runtime`` and
``cuda_driver``. Kineto writes microseconds with three decimals; they are parsed as
decimal strings into integer nanoseconds, exactly. Steps are the ``ProfilerStep#N``
annotations when present, else the whole trace is one step. A Kineto trace has no
DRAM counters and no NVML readings: those parts of a report stay empty.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from .model import DOMAIN_DRIVER, DOMAIN_RUNTIME, Trace, TraceFileError, table_from_rows
from .steps import assign_steps


def _ns(v) -> int:
    """'4470995119299.744' (us) -> 4470995119299744 (ns), exactly."""
    s = str(v)
    if "e" in s or "E" in s:
        return int(round(float(s) * 1000))
    whole, _, frac = s.partition(".")
    neg = whole.startswith("-")
    ns = abs(int(whole or "0")) * 1000 + int((frac + "000")[:3])
    return -ns if neg else ns


def is_kineto(path: str | Path) -> bool:
    p = str(path)
    return p.endswith(".json") or p.endswith(".json.gz")


def load_kineto(path: str | Path) -> Trace:
    path = Path(path)
    if not path.exists():
        raise TraceFileError(f"{path}: no such file.")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            doc = json.load(f, parse_float=str)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TraceFileError(f"{path}: not a readable torch.profiler trace ({type(e).__name__}).") from None
    events = doc.get("traceEvents") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise TraceFileError(f"{path}: not a torch.profiler trace (no traceEvents list).")
    t = Trace()
    cols = {k: {} for k in ("kernels", "api", "memcpy", "memset")}

    def add(table, **kv):
        for k, v in kv.items():
            cols[table].setdefault(k, []).append(v)
    steps = []
    for e in events:
        cat, ph = e.get("cat"), e.get("ph")
        if ph != "X":
            continue
        a = e.get("args") or {}
        start = _ns(e["ts"])
        end = start + _ns(e.get("dur", 0))
        if cat == "kernel":
            grid, block = a.get("grid", [-1] * 3), a.get("block", [-1] * 3)
            add("kernels", start_ns=start, end_ns=end, name=t.intern(e["name"]),
                grid_x=grid[0], grid_y=grid[1], grid_z=grid[2], block_x=block[0],
                block_y=block[1], block_z=block[2], registers=a.get("registers per thread", -1),
                static_smem_bytes=a.get("shared memory", -1), dynamic_smem_bytes=-1,
                stream=a.get("stream", -1), correlation=a.get("correlation", -1),
                graph_id=a.get("graph id", 0) or 0, graph_node_id=a.get("graph node id", 0) or 0)
        elif cat in ("cuda_runtime", "cuda_driver"):
            add("api", start_ns=start, end_ns=end, name=t.intern(e["name"]), cbid=a.get("cbid", -1),
                domain=DOMAIN_RUNTIME if cat == "cuda_runtime" else DOMAIN_DRIVER,
                thread_id=e.get("tid", -1), correlation=a.get("correlation", -1))
        elif cat in ("gpu_memcpy", "gpu_memset"):
            table = "memcpy" if cat == "gpu_memcpy" else "memset"
            row = dict(start_ns=start, end_ns=end, bytes=a.get("bytes", -1), stream=a.get("stream", -1),
                       correlation=a.get("correlation", -1), graph_id=0)
            if table == "memcpy":
                row["copy_kind"] = _COPY_KINDS.get(e.get("name", ""), 0)
            add(table, **row)
        elif cat in ("user_annotation", "cpu_op") and str(e.get("name", "")).startswith("ProfilerStep#"):
            steps.append((int(e["name"].split("#")[1]), start, end))
    for table, c in cols.items():
        t.tables[table] = table_from_rows(table, c) if c else t.tables[table]
    mode = t.intern("kineto")
    if not steps:
        starts = [t[x]["start_ns"] for x in ("kernels", "api") if len(t[x]["start_ns"])]
        ends = [t[x]["end_ns"] for x in ("kernels", "api") if len(t[x]["end_ns"])]
        if not starts:
            raise TraceFileError(f"{path}: the torch.profiler trace holds no CUDA activity.")
        steps = [(0, int(min(s.min() for s in starts)), int(max(e.max() for e in ends)))]
    steps.sort(key=lambda s: s[1])
    t.tables["steps"] = table_from_rows("steps", {
        "index": [s[0] for s in steps], "mode": [mode] * len(steps),
        "start_ns": [s[1] for s in steps], "end_ns": [s[2] for s in steps]})
    counts = assign_steps(t)
    dev = (doc.get("deviceProperties") or [{}])[0]
    t.meta = {"source": "torch.profiler (Kineto) trace", "source_file": path.name,
              "gpu": {"name": dev.get("name", "unknown"), "peak_bytes_per_s": None},
              "capture": {"dram_status": "none: torch.profiler traces carry no DRAM counters",
                          "dropped_records": None, **counts},
              "kineto": {k: doc.get(k) for k in ("schemaVersion", "cupti_version",
                                                 "cuda_runtime_version", "cuda_driver_version")}}
    t.validate()
    return t


#: Kineto memcpy event names -> CUPTI memcpy kinds.
_COPY_KINDS = {"Memcpy HtoD (Pageable -> Device)": 1, "Memcpy HtoD (Pinned -> Device)": 1,
               "Memcpy DtoH (Device -> Pageable)": 2, "Memcpy DtoH (Device -> Pinned)": 2,
               "Memcpy DtoD (Device -> Device)": 8, "Memcpy HtoH (Pinned -> Pinned)": 9}


__all__ = ["load_kineto", "is_kineto"]
