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


# -- round two (issue 33): work bombs, output races, values out of range ----------------
def _encrypt_flag(src: Path, out: Path, member: str) -> Path:
    """Set the "encrypted" flag of ``member`` in its local and central headers."""
    b = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(member)
    b[info.header_offset + 6] |= 1
    name = member.encode()
    pos = 0
    while (pos := b.find(b"PK\x01\x02", pos)) >= 0:
        n = int.from_bytes(b[pos + 28:pos + 30], "little")
        if bytes(b[pos + 46:pos + 46 + n]) == name:
            b[pos + 8] |= 1
            break
        pos += 4
    out.write_bytes(bytes(b))
    return out


def _duplicate_member(src: Path, out: Path, member: str, data: bytes) -> Path:
    """A copy of ``src`` holding a second ``member`` (the last one wins in zipfile)."""
    import warnings
    shutil.copy(src, out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # zipfile warns about the duplicate name
        with zipfile.ZipFile(out, "a") as z:
            z.writestr(member, data)
    return out


def _npy(a: np.ndarray) -> bytes:
    f = io.BytesIO()
    np.save(f, a)
    return f.getvalue()


def overlapping_kernels(d: Path, kernel_ms: float = 20.0) -> Path:
    """D2: the synthetic trace with every kernel lasting ``kernel_ms`` (they overlap each
    other and thousands of PM samples): the DRAM fit's pairs of kernels per sample grow
    with the square of the overlap."""
    m = members(NATIVE)
    s = m["kernels.start_ns"]
    m["kernels.end_ns"] = s + int(kernel_ms * 1e6)
    st = m["steps.start_ns"]
    m["steps.end_ns"] = np.maximum(m["steps.end_ns"], s.max() + int(kernel_ms * 1e6) + 1)
    # steps must not overlap: keep one step spanning everything
    keep = slice(0, 1)
    for c in [k for k in m if k.startswith("steps.")]:
        m[c] = m[c][keep]
    m["steps.start_ns"], m["steps.end_ns"] = st[:1], np.array([s.max() + int(kernel_ms * 1e6) + 1])
    return write_members(d / "overlapping-kernels.stepscope", m)


def round2_native(d: Path) -> dict[str, Path]:
    """Trace files of round two, each refused with one sentence by every reader."""
    d.mkdir(parents=True, exist_ok=True)
    m = members(NATIVE)
    meta = _meta(m)
    dm = members(DECODE)
    dmeta = _meta(dm)
    strings = json.loads(m["strings.json"].tobytes())
    cases: dict[str, Path] = {}

    def meta_case(name, src, mm, **blocks):
        new = dict(mm)
        for blk, change in blocks.items():
            new[blk] = {k: v for k, v in {**(mm.get(blk) or {}), **change}.items() if v is not ...}
        cases[name] = _with(src, d / f"{name}.stepscope", meta__json=_json(new))

    # D4: a string table of 2M two-character entries (10 MB of JSON, a few kB zipped).
    many = np.frombuffer(b'["k0","k1",' + b'"ab",' * (2 << 20) + b'"z"]', np.uint8)
    cases["strings-2M-entries"] = _with(NATIVE, d / "strings-2M.stepscope", strings__json=many)
    # D8: numbers out of range in the metadata.
    meta_case("bytes-per-step-10e400", NATIVE, meta, workload={"bytes_per_step": 10**400})
    meta_case("peak-1e-320", NATIVE, meta, gpu={"peak_bytes_per_s": 1e-320})
    meta_case("param-bytes-10e400", DECODE, dmeta, workload={"param_bytes": 10**400})
    meta_case("input-embedding-bytes-missing", DECODE, dmeta, workload={"input_embedding_bytes": ...})
    cfg = dmeta["workload"]["config"]
    meta_case("hidden-size-10e30", DECODE, dmeta, workload={"config": {**cfg, "hidden_size": 10**30}})
    meta_case("layers-10e12", DECODE, dmeta, workload={"config": {**cfg, "num_hidden_layers": 10**12}})
    # D10: a member with the encryption flag; D20: a member twice (the last would win).
    cases["encrypted-member"] = _encrypt_flag(NATIVE, d / "encrypted.stepscope", "kernels.start_ns.npy")
    cases["duplicate-member"] = _duplicate_member(NATIVE, d / "dup-member.stepscope", "kernels.end_ns.npy",
                                                  _npy(m["kernels.end_ns"] + 10**9))
    # D11: host_spans.parent out of range.
    hs = {f"host_spans.{c}": np.array(v, np.int64) for c, v in (
        ("start_ns", [m["steps.start_ns"][0] + 10] * 2), ("end_ns", [m["steps.start_ns"][0] + 20] * 2),
        ("name", [0, 0]), ("kind", [0, 0]), ("depth", [0, 1]), ("parent", [-1, 7]), ("thread_id", [1, 1]),
        ("step", [0, 0]))}
    v2 = {f"{t}__{c}": np.zeros(0, np.int64) for t, cols in (
        ("nvml", ("t_ns", "sm_clock_mhz", "mem_clock_mhz", "power_mw", "temperature_c", "throttle_reasons")),
        ("stack_samples", ("t_ns", "thread_id", "stack", "step")),
        ("kernel_dram", ("kernel", "dram_read_bytes", "dram_write_bytes", "l2_write_bytes"))) for c in cols}
    cases["host-span-parent-out-of-range"] = _with(NATIVE, d / "hs-parent.stepscope", **v2,
                                                   **{k.replace(".", "__"): v for k, v in hs.items()},
                                                   meta__json=_json({**meta, "schema_version": 2}))
    # D19: lone surrogates in a kernel name and in the GPU name.
    bad = strings.copy()
    bad[int(m["kernels.name"][0])] = "gemv\ud800kernel"
    cases["surrogate-in-kernel-name"] = _with(NATIVE, d / "surrogate-kernel.stepscope", strings__json=_json(bad))
    meta_case("surrogate-in-gpu-name", NATIVE, meta, gpu={"name": "H100\udc00"})
    # D20: PM byte counts whose sum wraps int64.
    pr = m["pm.dram_read_bytes"].copy()
    pr[:4] = 2**62
    cases["pm-bytes-2-62"] = _with(NATIVE, d / "pm-huge.stepscope", pm__dram_read_bytes=pr)
    return cases


def long_name(d: Path, mb: int = 4) -> Path:
    """D3: one kernel name of ``mb`` MB (every record of that kernel repeats it in an export)."""
    m = members(NATIVE)
    strings = json.loads(m["strings.json"].tobytes())
    strings[int(m["kernels.name"][0])] = "k" * (mb << 20)
    return _with(NATIVE, d / f"name-{mb}MB.stepscope", strings__json=_json(strings))


def round2_kineto(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Path] = {}
    # D1: 256 MB of whitespace and no traceEvents, in concatenated gzip members (~256 kB).
    part = gzip.compress(b" " * (16 << 20), 6)
    p = d / "whitespace-no-events.json.gz"
    p.write_bytes(gzip.compress(b"{", 6) + part * 16 + gzip.compress(b"}", 6))
    cases["whitespace-no-events"] = p
    p = d / "whitespace-between-events.json.gz"
    p.write_bytes(gzip.compress(b'{"traceEvents": [{"ph": "X"},', 6) + part * 16 + gzip.compress(b'{"ph": "X"}]}', 6))
    cases["whitespace-between-events"] = p
    # D9: a step number of 30 digits; D20: kernels with negative timestamps.

    def doc_with(name, fn):
        doc = _kineto_doc()
        fn(doc)
        cases[name] = d / f"{name}.json"
        cases[name].write_bytes(json.dumps(doc).encode())

    def huge_step(doc):
        for e in doc["traceEvents"]:
            if str(e.get("name", "")).startswith("ProfilerStep#"):
                e["name"] = "ProfilerStep#" + "9" * 30
                break
    doc_with("step-number-30-digits", huge_step)

    def negative_ts(doc):
        ks = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
        for e in ks[: len(ks) // 2]:
            e["ts"] = -abs(e["ts"])
    doc_with("kernel-negative-ts", negative_ts)
    return cases


def many_events(d: Path, n: int = 25_000) -> Path:
    """D4 (Kineto): ``n`` small kernel events (about 6 MB of JSON)."""
    ev = [{"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 1000.0 + i, "dur": 0.5,
           "args": {"correlation": i, "stream": 7, "grid": [1, 1, 1], "block": [32, 1, 1]}} for i in range(n)]
    p = d / f"events-{n}.json"
    p.write_bytes(json.dumps({"traceEvents": ev}).encode())
    return p


def round2_results(d: Path) -> dict[str, list]:
    """Result folders and options of round two: {case: argv after `stepscope`}."""
    d.mkdir(parents=True, exist_ok=True)
    cases: dict[str, list] = {}
    # D7: a 400-digit integer in a sweep cell.
    s = d / "cell-400-digits"
    shutil.copytree(RESULTS / "sweep-h100", s)
    p = sorted((s / "cells").glob("*.json"))[0]
    c = json.loads(p.read_text())
    c["median_ms"] = 10**400
    p.write_text(json.dumps(c))
    cases["compare-cell-400-digits"] = ["compare", s, RESULTS / "sweep-h200"]
    cases["sweep-report-only-cell-400-digits"] = ["sweep", "--report-only", "--force", "-o", s]
    # D6: compare writing into an input sweep's cells/.
    s = d / "sweep-written-into"     # a copy: a reader that fails the case writes into it
    shutil.copytree(RESULTS / "sweep-h100", s)
    cases["compare-output-inside-input"] = ["compare", s, RESULTS / "sweep-h200", "-o", s / "cells" / "merged"]
    # D13: compare -o . (no file name).
    cases["compare-output-dot"] = ["compare", RESULTS / "sweep-h100", RESULTS / "sweep-h200", "-o", "."]
    # D17: report.txt a folder: nothing may be written.
    ab = d / "ab-report-folder"
    shutil.copytree(RESULTS / "ab-h100", ab)
    for f in ("summary.json", "ab.png", "report.txt"):
        (ab / f).unlink(missing_ok=True)
    (ab / "report.txt").mkdir()
    cases["ab-report-txt-a-folder"] = ["ab", "--report-only", "--force", "-o", ab, "--arms", "eager-static,graph"]
    # D20: a session of another GPU and context in an A/B folder.
    ab2 = d / "ab-mixed"
    shutil.copytree(RESULTS / "ab-h100", ab2)
    for f in ("summary.json", "ab.png", "report.txt"):
        (ab2 / f).unlink(missing_ok=True)
    ss = json.loads((ab2 / "session-01.json").read_text())
    ss.update(gpu="NVIDIA H200", ctx=4096)
    (ab2 / "session-01.json").write_text(json.dumps(ss))
    cases["ab-mixed-gpu-and-ctx"] = ["ab", "--report-only", "--force", "-o", ab2, "--arms", "eager-static,graph"]
    # D18: quantised arm with strings for class figures.
    q = d / "quant-classes"
    shutil.copytree(RESULTS / "quant-h100", q)
    qa = sorted(q.glob("*-bf16.json"))[0]
    a = json.loads(qa.read_text())
    for m in a["modes"].values():
        if isinstance(m, dict) and isinstance(m.get("classes"), dict):
            m["classes"] = {k: "slow" for k in m["classes"]}
    qa.write_text(json.dumps(a))
    cases["quant-report-only-class-strings"] = ["quant", "--report-only", "--force", "-o", q]
    # D16: --model configs that are not configs.
    qwen = json.loads((ROOT / "profiler" / "workloads" / "models" / "qwen2.5-7b.json").read_text())
    for name, text in (("not-json", "{oops"), ("a-list", "[1, 2]"), ("empty", "{}"),
                       ("deep", "[" * 100_000 + "]" * 100_000),
                       ("hidden-10e30", json.dumps({**qwen, "hidden_size": 10**30}))):
        p = d / f"config-{name}.json"
        p.write_text(text)
        cases[f"report-model-config-{name}"] = ["report", KINETO, "--model", p, "--ctx", "2048"]
    # D14: limits that are not numbers of megabytes; D20: node gaps that are not gaps.
    for v in ("inf", "1e308", "nan", "-5"):
        cases[f"max-trace-mb-{v}"] = ["--max-trace-mb", v, "report", DECODE]
    cases["main-job-max-trace-mb-negative"] = ["--max-trace-mb", "-5", "--shipped", "-o", d / "mj"]
    for v in ("nan", "-5", "inf"):
        cases[f"main-job-node-gap-{v}"] = ["--shipped", "--node-gap-ns", v, "-o", d / "mj"]
    return cases
