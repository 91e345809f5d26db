"""The bad-input corpus: broken files made from the real shipped traces and results, one
builder per class of bad input (docs/bad-input.md lists them and what the tool does).

``native(d)``, ``kineto(d)`` and ``results(d)`` write their files under ``d`` and return
``{case name: path}``; ``tests/test_bad_input.py`` runs every reading subcommand on them.
"""
from __future__ import annotations

import gzip
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "traces" / "synthetic-h100.stepscope"
DECODE = ROOT / "traces" / "qwen2.5-7b-ctx2048-graph-h100.stepscope"
KINETO = ROOT / "traces" / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"
RESULTS = ROOT / "benchmarks" / "results"


def members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_members(path: Path, m: dict) -> Path:
    with open(path, "wb") as f:
        np.savez_compressed(f, **m)
    return path


def _json(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), np.uint8)


def _meta(m) -> dict:
    return json.loads(m["meta.json"].tobytes())


def _with(src: Path, out: Path, **changes) -> Path:
    """A copy of ``src`` with members replaced (None: removed)."""
    m = members(src)
    for k, v in changes.items():
        k = k.replace("__", ".")
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return write_members(out, m)


def _npy_huge() -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": (2**40,)})
    return f.getvalue() + b"\0" * 64


def native(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    raw = NATIVE.read_bytes()
    m = members(NATIVE)
    meta = _meta(m)
    cases: dict[str, Path] = {}

    def put(name, data: bytes):
        cases[name] = d / f"{name}.stepscope"
        cases[name].write_bytes(data)

    for frac in (0.0, 0.1, 0.5, 0.99):
        put(f"truncated-{int(frac * 100)}pct", raw[:int(len(raw) * frac)])
    put("text-file", b"hello, not a trace\n")
    for off in (200, len(raw) // 3, len(raw) // 2):
        b = bytearray(raw)
        b[off] ^= 0x10
        put(f"bit-flip-at-{off}", bytes(b))
    # A corrupt member: garbage in the middle of one member's compressed data (zlib error).
    b = bytearray(raw)
    with zipfile.ZipFile(NATIVE) as z:
        info = z.getinfo("kernels.start_ns.npy")
    data_at = info.header_offset + 30 + len(info.filename) + len(info.extra)
    b[data_at + 8:data_at + 40] = b"\xff" * 32
    put("corrupt-member", bytes(b))
    cases["folder"] = d / "folder.stepscope"
    cases["folder"].mkdir(exist_ok=True)
    cases["meta-is-a-list"] = _with(NATIVE, d / "meta-list.stepscope", meta__json=_json([1, 2, 3]))
    cases["meta-not-json"] = _with(NATIVE, d / "meta-notjson.stepscope", meta__json=np.frombuffer(b"{oops", np.uint8))
    cases["no-meta"] = _with(NATIVE, d / "no-meta.stepscope", meta__json=None)
    cases["schema-version-99"] = _with(NATIVE, d / "v99.stepscope", meta__json=_json({**meta, "schema_version": 99}))
    cases["peak-is-a-string"] = _with(NATIVE, d / "peak-str.stepscope", meta__json=_json(
        {**meta, "gpu": {**meta["gpu"], "peak_bytes_per_s": "3.35e12"}}))
    cases["bytes-per-step-a-string"] = _with(NATIVE, d / "bps-str.stepscope", meta__json=_json(
        {**meta, "workload": {**meta["workload"], "bytes_per_step": "many"}}))
    dm = members(DECODE)
    dmeta = _meta(dm)
    cases["empty-config"] = _with(DECODE, d / "empty-config.stepscope", meta__json=_json(
        {**dmeta, "workload": {**dmeta["workload"], "config": {}}}))
    cases["ctx-a-string"] = _with(DECODE, d / "ctx-str.stepscope", meta__json=_json(
        {**dmeta, "workload": {**dmeta["workload"], "ctx": "2048"}}))
    cases["strings-not-a-list"] = _with(NATIVE, d / "strings-dict.stepscope", strings__json=_json({"a": 1}))
    n_str = len(json.loads(m["strings.json"].tobytes()))
    cases["mode-index-out-of-range"] = _with(NATIVE, d / "mode-oob.stepscope",
                                             steps__mode=np.full_like(m["steps.mode"], n_str + 5))
    cases["mode-index-negative"] = _with(NATIVE, d / "mode-neg.stepscope", steps__mode=np.full_like(m["steps.mode"], -1))
    name = m["kernels.name"].copy()
    name[0] = 10**9
    cases["kernel-name-out-of-range"] = _with(NATIVE, d / "kname-oob.stepscope", kernels__name=name)
    s, e = m["kernels.start_ns"], m["kernels.end_ns"].copy()
    e[3] = s[3] - 5000
    cases["negative-kernel-duration"] = _with(NATIVE, d / "kneg.stepscope", kernels__end_ns=e)
    se = m["steps.end_ns"].copy()
    se[1] = m["steps.start_ns"][1] - 1
    cases["step-ends-before-start"] = _with(NATIVE, d / "step-back.stepscope", steps__end_ns=se)
    idx = m["steps.index"].copy()
    idx[1] = idx[0]
    cases["duplicate-step-index"] = _with(NATIVE, d / "step-dup.stepscope", steps__index=idx)
    ss = m["steps.start_ns"].copy()
    ss[1] = m["steps.start_ns"][0] + 10
    cases["overlapping-steps"] = _with(NATIVE, d / "step-overlap.stepscope", steps__start_ns=ss)
    cases["negative-step-index"] = _with(NATIVE, d / "step-neg.stepscope", steps__index=m["steps.index"] - 100)
    big = m["kernels.end_ns"].copy()
    big[0] = 2**62 + 1
    cases["timestamp-beyond-2-62"] = _with(NATIVE, d / "ts-huge.stepscope", kernels__end_ns=big)
    cases["missing-column"] = _with(NATIVE, d / "no-col.stepscope", kernels__stream=None)
    cases["float-column"] = _with(NATIVE, d / "float-col.stepscope", kernels__stream=m["kernels.stream"].astype(float))
    cases["2d-column"] = _with(NATIVE, d / "2d-col.stepscope", kernels__stream=np.stack([m["kernels.stream"]] * 2))
    cases["ragged-table"] = _with(NATIVE, d / "ragged.stepscope", kernels__stream=m["kernels.stream"][:-3])
    cases["object-column"] = _with(NATIVE, d / "obj.stepscope", kernels__stream=np.array(["a"] * 3))
    # A member whose .npy header declares 2**40 int64 values (8 TB) in a few bytes.
    out = d / "huge-header.stepscope"
    with zipfile.ZipFile(NATIVE) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, _npy_huge() if info.filename == "pm.start_ns.npy" else src.read(info))
    cases["npy-header-declares-8TB"] = out
    # A zip whose directory declares a member of 5 GB (size fields forged).
    cases["zip-declares-5GB"] = _forge_size(NATIVE, d / "forged.stepscope", "kernels.name.npy", 5 * 2**30)
    return cases


def _forge_size(src: Path, out: Path, member: str, size: int) -> Path:
    """Rewrite the uncompressed size of ``member`` in the central directory."""
    b = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(member)
    needle = b"PK\x01\x02"
    pos = 0
    while True:
        pos = b.index(needle, pos)
        n = int.from_bytes(b[pos + 28:pos + 30], "little")
        if bytes(b[pos + 46:pos + 46 + n]).decode() == info.filename:
            break
        pos += 4
    extra_len = int.from_bytes(b[pos + 30:pos + 32], "little")
    if int.from_bytes(b[pos + 24:pos + 28], "little") == 0xFFFFFFFF or extra_len:
        # zip64 sizes live in the extra field: forge there (uncompressed size first)
        ex = pos + 46 + n
        b[ex + 4:ex + 12] = size.to_bytes(8, "little")
    else:
        b[pos + 24:pos + 28] = min(size, 0xFFFFFFFE).to_bytes(4, "little")
    out.write_bytes(bytes(b))
    return out


def _kineto_doc() -> dict:
    return json.loads(gzip.decompress(KINETO.read_bytes()))


def kineto(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    raw = KINETO.read_bytes()
    text = gzip.decompress(raw)
    cases: dict[str, Path] = {}

    def put(name, data: bytes, suffix=".json"):
        cases[name] = d / f"{name}{suffix}"
        cases[name].write_bytes(data)

    def doc_with(name, fn):
        doc = _kineto_doc()
        fn(doc)
        put(name, json.dumps(doc).encode())

    put("gz-truncated", raw[: len(raw) // 2], ".json.gz")
    put("gz-not-gzip", text[:1000], ".json.gz")
    put("json-truncated", text[: len(text) // 2])
    put("json-empty", b"")
    put("json-a-list", b"[1, 2, 3]")
    put("events-not-a-list", b'{"traceEvents": {"a": 1}}')
    put("event-not-an-object", b'{"traceEvents": [1, 2]}')
    kernels = lambda doc: [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]  # noqa: E731

    def drop_kernels(doc):
        doc["traceEvents"] = [e for e in doc["traceEvents"] if e.get("cat") != "kernel"]
    doc_with("no-kernels", drop_kernels)
    doc_with("kernel-without-ts", lambda doc: kernels(doc)[5].pop("ts"))
    doc_with("nan-duration", lambda doc: kernels(doc)[5].update(dur=float("nan")))
    doc_with("infinite-ts", lambda doc: kernels(doc)[5].update(ts=float("inf")))
    doc_with("negative-duration", lambda doc: kernels(doc)[5].update(dur=-3.5))
    doc_with("ts-a-word", lambda doc: kernels(doc)[5].update(ts="soon"))
    doc_with("correlation-a-word", lambda doc: kernels(doc)[5]["args"].update(correlation="x"))
    doc_with("grid-a-number", lambda doc: kernels(doc)[5]["args"].update(grid=7))
    doc_with("name-a-number", lambda doc: kernels(doc)[5].update(name=12))

    def bad_step(doc):
        for e in doc["traceEvents"]:
            if str(e.get("name", "")).startswith("ProfilerStep#"):
                e["name"] = "ProfilerStep#x"
    doc_with("step-without-number", bad_step)

    def dup_step(doc):
        for e in doc["traceEvents"]:
            if str(e.get("name", "")).startswith("ProfilerStep#"):
                e["name"] = "ProfilerStep#0"
    doc_with("duplicate-steps", dup_step)
    # Decompression bomb: 64 MB of spaces in a ~64 kB .json.gz (run with a 16 MB limit).
    bomb = gzip.compress(b'{"traceEvents": [' + b" " * (64 * 2**20) + b"]}", 9)
    put("gzip-bomb", bomb, ".json.gz")
    return cases


def results(d: Path) -> dict[str, list]:
    """Broken result folders: {case: argv after `stepscope`} (paths inside ``d``)."""
    d.mkdir(parents=True, exist_ok=True)
    cases: dict[str, list] = {}

    def sweep_copy(name, gpu="h100"):
        dst = d / name
        shutil.copytree(RESULTS / f"sweep-{gpu}", dst)
        return dst

    def edit_cell(folder, fn):
        p = sorted((folder / "cells").glob("*.json"))[0]
        c = json.loads(p.read_text())
        fn(c)
        p.write_text(json.dumps(c))

    s = sweep_copy("cell-missing-keys")
    edit_cell(s, lambda c: [c.pop(k) for k in ("gpu", "median_ms")])
    cases["compare-cell-missing-keys"] = ["compare", s, RESULTS / "sweep-h200"]
    s = sweep_copy("cell-strings")
    edit_cell(s, lambda c: c.update(median_ms="fast", peak_bytes_per_s="3e12"))
    cases["compare-cell-strings"] = ["compare", s, RESULTS / "sweep-h200"]
    s = sweep_copy("cell-half-written")
    p = sorted((s / "cells").glob("*.json"))[0]
    p.write_text(p.read_text()[:40])
    cases["sweep-report-only-half-written-cell"] = ["sweep", "--report-only", "--force", "-o", s]
    cases["compare-half-written-cell"] = ["compare", s, RESULTS / "sweep-h200"]
    s = sweep_copy("cell-a-list")
    sorted((s / "cells").glob("*.json"))[0].write_text("[1, 2]")
    cases["compare-cell-a-list"] = ["compare", s, RESULTS / "sweep-h200"]
    cases["compare-dir-with-itself"] = ["compare", RESULTS / "sweep-h100", RESULTS / "sweep-h100"]
    cases["compare-copy-of-same-gpu"] = ["compare", RESULTS / "sweep-h100", sweep_copy("same-gpu")]
    cases["compare-not-a-folder"] = ["compare", RESULTS / "sweep-h100", RESULTS / "calibration-h100.json"]
    ab = d / "ab-half"
    shutil.copytree(RESULTS / "ab-h100", ab)
    (ab / "session-03.json").write_text((ab / "session-03.json").read_text()[:100])
    cases["ab-report-only-half-written-session"] = ["ab", "--report-only", "--force", "-o", ab,
                                                    "--arms", "eager-static,graph,eager"]
    ab2 = d / "ab-strings"
    shutil.copytree(RESULTS / "ab-h100", ab2)
    ss = json.loads((ab2 / "session-01.json").read_text())
    ss["arms"]["graph"]["median_ms"] = "quick"
    (ab2 / "session-01.json").write_text(json.dumps(ss))
    cases["ab-report-only-session-strings"] = ["ab", "--report-only", "--force", "-o", ab2,
                                               "--arms", "eager-static,graph,eager"]
    q = d / "quant-half"
    shutil.copytree(RESULTS / "quant-h100", q)
    qa = sorted(q.glob("*-bnb-nf4.json"))[0]
    qa.write_text(qa.read_text()[:200])
    cases["quant-report-only-half-written-arm"] = ["quant", "--report-only", "--force", "-o", q]
    cal = json.loads((RESULTS / "calibration-h100.json").read_text())
    for name, change in (("zero", {"achievable_bytes_per_s": 0}), ("string", {"achievable_bytes_per_s": "fast"}),
                         ("no-gpu", {"gpu": None})):
        p = d / f"calibration-{name}.json"
        p.write_text(json.dumps({**cal, **change}))
        cases[f"report-calibration-{name}"] = ["report", DECODE, "--calibration", p]
    p = d / "calibration-gap-string.json"
    p.write_text(json.dumps({**cal, "launch": {**cal["launch"], "1000": {"graph_ns_per_node": "x"}}}))
    ab3 = d / "ab-cal"
    shutil.copytree(RESULTS / "ab-h100", ab3)
    cases["ab-calibration-string"] = ["ab", "--report-only", "--force", "-o", ab3, "--arms",
                                      "eager-static,graph,eager", "--calibration", p]
    return cases
