"""What a trace must satisfy beyond its column types, checked when it is read: the metadata
fields the analyses read have the right types, every string index points into the string
table, and the times make sense (no record or step ends before it starts, steps neither
repeat nor overlap). ``check`` returns the first problem as one clause, or None; the
loaders turn it into a ``TraceFileError`` naming the file.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

#: Timestamps beyond this (about 146 years of ns) are corrupt, and would overflow sums.
MAX_ABS_NS = 1 << 62
#: A step longer than this cannot be analysed (intervals.py keeps steps apart by 2**42 ns).
MAX_STEP_NS = 1 << 42
#: Counts and byte totals in the metadata stay below this (int64 sums of them must not wrap).
MAX_COUNT = 1 << 62
#: A bandwidth in bytes/s: between 1 MB/s and 1 PB/s (else a division makes inf or 0).
PEAK_RANGE = (1e6, 1e15)
#: The largest value of a model-config integer (hidden size, layers, heads, vocabulary):
#: 2**20, far beyond any model (2**18 vocabularies, 2**14 hidden sizes), small enough that
#: products of three stay exact in int64.
MAX_CONFIG_INT = 1 << 20
#: Integers of a decode model's config the floor arithmetic reads.
CONFIG_INTS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
_INT_OR_NONE = {"gpu": ("peak_bytes_per_s", "memory_bus_width_bits", "max_memory_clock_mhz"),
                "workload": ("ctx", "first_traced_position", "param_count", "param_bytes",
                             "input_embedding_bytes", "embedding_row_bytes", "bytes_per_step"),
                "capture": ("dropped_records", "dram_interval_ns", "pm_overflows")}


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v) -> bool:
    """A finite real number; an integer of any size counts (the range checks then refuse
    it: np.isfinite raised TypeError on integers of 2**64 and more)."""
    if not isinstance(v, numbers.Real) or isinstance(v, bool):
        return False
    return isinstance(v, numbers.Integral) or math.isfinite(v)


def json_name(v) -> str:
    return "null" if v is None else f"a {type(v).__name__}"


def check_meta(meta) -> str | None:
    if not isinstance(meta, dict):
        return f"its metadata is a {type(meta).__name__}, not an object"
    for block, keys in _INT_OR_NONE.items():
        if block not in meta:
            continue
        b = meta[block]
        if not isinstance(b, dict):
            return f"meta.{block} is {json_name(b)}, not an object"
        for k in keys:
            v = b.get(k)
            if v is not None and not (_is_num(v) if k == "peak_bytes_per_s" else _is_int(v)):
                return f"meta.{block}.{k} is {v!r}, not a number"
            if v is not None and v < 0 and k not in ("dropped_records",):
                return f"meta.{block}.{k} is negative ({v})"
            if v is not None and k == "peak_bytes_per_s" and not PEAK_RANGE[0] <= v <= PEAK_RANGE[1]:
                return f"meta.{block}.{k} is {v!r}, outside {PEAK_RANGE[0]:g}..{PEAK_RANGE[1]:g} bytes/s"
            if v is not None and abs(v) >= MAX_COUNT:
                return f"meta.{block}.{k} is beyond 2**62"
        for k in ("name", "model", "kind", "dram_status", "mode"):
            if b.get(k) is not None and not isinstance(b[k], str):
                return f"meta.{block}.{k} is {b[k]!r}, not a string"
    wl = meta.get("workload") or {}
    if wl.get("ctx") is not None and wl["ctx"] > 1 << 24:
        return f"meta.workload.ctx is {wl['ctx']}, beyond any model's context"
    uns = wl.get("untraced_step_ns")
    if uns is not None and (not isinstance(uns, list) or not all(_is_int(x) and x > 0 for x in uns)):
        return "meta.workload.untraced_step_ns is not a list of positive integers"
    if wl.get("kind") == "decode" and "config" in wl:
        problem = check_config(wl["config"])
        if problem:
            return f"meta.workload.{problem}"
    if wl.get("kind") == "decode" and wl.get("param_bytes") is not None and wl.get("input_embedding_bytes") is None:
        return "meta.workload.param_bytes is given without input_embedding_bytes"
    return None


def check_config(cfg) -> str | None:
    """A decode model's config (config.json): the integers the floor reads, positive and
    at most ``MAX_CONFIG_INT``; the first problem as a clause naming ``config.KEY``."""
    if not isinstance(cfg, dict):
        return f"config is {json_name(cfg)}, not an object"
    for k in (*CONFIG_INTS, "num_key_value_heads", "head_dim"):
        v = cfg.get(k)
        if v is None and k not in CONFIG_INTS:
            continue
        if not _is_int(v) or v <= 0:
            return f"config.{k} is {v!r}, not a positive integer"
        if v > MAX_CONFIG_INT:
            return f"config.{k} is {v}, beyond any model (at most {MAX_CONFIG_INT})"
    return None


def check_strings(strings) -> str | None:
    if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
        return "its string table is not a list of strings"
    if not _utf8(strings):
        i = next(i for i, s in enumerate(strings) if not _utf8([s]))
        return f"string {i} of its string table is not valid Unicode (a lone surrogate)"
    return None


def _utf8(strings) -> bool:
    try:
        "".join(strings).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(meta) -> str | None:
    """Every string in the metadata encodes as UTF-8 (a JSON escape can make a lone
    surrogate, which no output can write)."""
    import json
    try:
        json.dumps(meta, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "its metadata holds a string that is not valid Unicode (a lone surrogate)"
    except (ValueError, RecursionError):
        return "its metadata cannot be written back as JSON"
    return None


def _bad_index(col: np.ndarray, n: int) -> bool:
    return bool(len(col)) and (int(col.min()) < 0 or int(col.max()) >= n)


def check_tables(trace, need_steps: bool = True) -> str | None:
    """Semantics of the tables (their types and lengths are ``Trace.validate``'s)."""
    t, ns = trace.tables, len(trace.strings)
    for tab, col in (("steps", "mode"), ("kernels", "name"), ("api", "name"), ("host_spans", "name"),
                     ("stack_samples", "stack")):
        if _bad_index(t[tab][col], ns):
            return f"{tab}.{col} points outside the string table"
    if _bad_index(t["kernel_dram"]["kernel"], len(t["kernels"]["start_ns"])):
        return "kernel_dram.kernel points outside the kernels table"
    par = t["host_spans"]["parent"]
    if len(par) and (int(par.min()) < -1 or int(par.max()) >= len(par)):
        return "host_spans.parent points outside the host_spans table (-1: no parent)"
    for c in ("dram_read_bytes", "dram_write_bytes"):
        b = t["pm"][c]
        if len(b) and float(np.abs(b.astype(np.float64)).sum()) >= MAX_COUNT:
            return f"pm.{c} sums beyond 2**62 bytes"
    for tab in ("steps", "kernels", "api", "memcpy", "memset", "host_spans", "pm"):
        s, e = t[tab]["start_ns"], t[tab]["end_ns"]
        if not len(s):
            continue
        # min and max as Python ints: np.abs(-2**63) wraps to -2**63 and passed the check
        if max(int(s.max()), int(e.max())) >= MAX_ABS_NS or min(int(s.min()), int(e.min())) <= -MAX_ABS_NS:
            return f"{tab} holds timestamps beyond 2**62 ns"
        bad = (e < s) & (s > 0) if tab == "pm" else (e <= s) if tab == "steps" else e < s
        if bad.any():
            i = int(np.argmax(bad))
            return (f"{int(bad.sum())} {tab} rows end before they start{' (or when)' if tab == 'steps' else ''} (row {i}: "
                    f"{int(s[i])} -> {int(e[i])} ns)")
    st = t["steps"]
    if not len(st["index"]):
        return "it holds no steps" if need_steps else None
    if (st["end_ns"] - st["start_ns"]).max() >= MAX_STEP_NS:
        return "a step lasts more than 2**42 ns (73 minutes)"
    if st["index"].min() < 0:
        return "a step index is negative (-1 marks records outside every step)"
    if len(np.unique(st["index"])) != len(st["index"]):
        return "two steps share a step index"
    o = np.argsort(st["start_ns"], kind="stable")
    s, e = st["start_ns"][o], st["end_ns"][o]
    if len(s) > 1 and (s[1:] < e[:-1]).any():
        i = int(np.argmax(s[1:] < e[:-1]))
        return f"steps {int(st['index'][o][i])} and {int(st['index'][o][i + 1])} overlap"
    return None


def check(trace) -> str | None:
    return check_meta(trace.meta) or check_text(trace.meta) or check_strings(trace.strings) or check_tables(trace)
