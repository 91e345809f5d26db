"""Constructed launch sequences for the step-detection tests (tests/test_kills_detect.py):
every launch call, GPU record and gap is known, so the expected steps are computed by hand."""
from __future__ import annotations

from stepscope.analysis.trace import Trace, table_from_rows

CALL_NS = 500          # each launch call takes 500 ns
QUEUE_NS = 200         # a record starts 200 ns after its call ends, or after the record before
T0 = 1_000_000


def build(seq, t0=T0):
    """``seq``: launches in order, each ``(token, busy_ns, host_gap_ns)``; token a kernel name,
    ``"DTOH"`` (memcpy kind 2), ``"HTOD"`` (kind 1), ``"SET"`` (memset), ``("GRAPH", g, nodes)``
    (a cudaGraphLaunch of ``nodes`` kernels of ``busy_ns`` each, 300 ns apart), or
    ``("ORPHAN", name)`` (a kernel whose launch call was not recorded). Returns the trace and
    per launch (call start, first GPU start, last GPU end)."""
    t = Trace()
    k = {c: [] for c in ("start_ns", "end_ns", "name", "correlation", "graph_id", "stream")}
    m = {c: [] for c in ("start_ns", "end_ns", "bytes", "copy_kind", "stream", "correlation", "graph_id")}
    s = {c: [] for c in ("start_ns", "end_ns", "bytes", "stream", "correlation", "graph_id")}
    a = {c: [] for c in ("start_ns", "end_ns", "name", "correlation", "thread_id")}
    call, gpu_end, out = t0, t0, []
    for i, (tok, busy, gap) in enumerate(seq):
        call += gap
        if out and seq[i - 1][0] == "DTOH":
            call = max(call, out[-1][2])          # the host read the copy: it waited for the GPU
        corr = i
        orphan = isinstance(tok, tuple) and tok[0] == "ORPHAN"
        if not orphan:
            api_name = "cudaGraphLaunch" if isinstance(tok, tuple) else "cudaMemcpyAsync" if tok in ("DTOH", "HTOD") \
                else "cudaMemsetAsync" if tok == "SET" else "cudaLaunchKernel"
            a["start_ns"].append(call)
            a["end_ns"].append(call + CALL_NS)
            a["name"].append(t.intern(api_name))
            a["correlation"].append(corr)
            a["thread_id"].append(1)
        start = max(call + CALL_NS, gpu_end) + QUEUE_NS
        first = start
        if isinstance(tok, tuple) and tok[0] == "GRAPH":
            for _ in range(tok[2]):
                for c, v in zip(("start_ns", "end_ns", "name", "correlation", "graph_id", "stream"),
                                (start, start + busy, t.intern("graph_node"), corr, tok[1], 7)):
                    k[c].append(v)
                gpu_end = start + busy
                start = gpu_end + 300
        elif tok in ("DTOH", "HTOD"):
            for c, v in zip(m, (start, start + busy, 4, 2 if tok == "DTOH" else 1, 7, corr, 0)):
                m[c].append(v)
            gpu_end = start + busy
        elif tok == "SET":
            for c, v in zip(s, (start, start + busy, 4, 7, corr, 0)):
                s[c].append(v)
            gpu_end = start + busy
        else:
            name = tok[1] if orphan else tok
            for c, v in zip(("start_ns", "end_ns", "name", "correlation", "graph_id", "stream"),
                            (start, start + busy, t.intern(name), 10_000 + i if orphan else corr, 0, 7)):
                k[c].append(v)
            gpu_end = start + busy
        out.append((first if orphan else call, first, gpu_end))
        call += CALL_NS
    t.tables["kernels"] = table_from_rows("kernels", k)
    if m["start_ns"]:
        t.tables["memcpy"] = table_from_rows("memcpy", m)
    if s["start_ns"]:
        t.tables["memset"] = table_from_rows("memset", s)
    t.tables["api"] = table_from_rows("api", a)
    return t, out


def decode_step(n_gemv=4, busy=10_000, wait=50_000, extra=(), dtoh=True):
    """One decode step of 3 + n_gemv (+ extra) launches, and the token home (``dtoh``): the
    host waited ``wait`` before it."""
    return ([("fill", 1_000, wait), ("rmsnorm", 2_000, 100)] + [("gemv", busy, 100)] * n_gemv
            + list(extra) + [("attn_decode", 3_000, 100)] + ([("DTOH", 1_000, 100)] if dtoh else []))


def prefill(n=8, busy=1_000_000, wait=50_000, dtoh=True):
    """Matrix-matrix GEMMs that decode steps do not launch, then the first token home."""
    return ([("embed", 2_000, wait)] + [("gemm_mm", busy, 100)] * n + [("flash_prefill", busy, 100)]
            + ([("DTOH", 1_000, 100)] if dtoh else []))
