"""Which CUPTI activity kinds give graph-level records (CUPTI_ACTIVITY_KIND_GRAPH_TRACE) for a
CUDA graph replay, and with which per-kernel records beside them? One process, a graph of 50
tiny kernels, five replays per variant; prints and writes the record counts per kind.

    python3 benchmarks/graph_trace_probe.py OUT.json
"""
import collections
import json
import sys

import torch
from cupti import cupti

RECS = []


def _req():
    return 8 << 20, 0


def _done(records):
    RECS.extend(records)


def make_graph():
    x = torch.zeros(1024, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            x.add_(1)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(50):
            x.add_(1)
    torch.cuda.synchronize()
    return g


def run(kinds, graph_before=True, capture_kinds=()):
    """``capture_kinds``: enabled while the graph is captured and instantiated, then disabled,
    before ``kinds`` are enabled for the replays."""
    K = cupti.ActivityKind
    RECS.clear()
    if capture_kinds:
        for k in capture_kinds:
            cupti.activity_enable(getattr(K, k))
        g = make_graph()
        cupti.activity_flush_all(1)
        for k in capture_kinds:
            cupti.activity_disable(getattr(K, k))
        RECS.clear()
    else:
        g = make_graph() if graph_before else None
    enabled, errors = [], {}
    for k in kinds:
        try:
            cupti.activity_enable(getattr(K, k))
            enabled.append(k)
        except cupti.cuptiError as e:
            errors[k] = str(e)
    if g is None:
        g = make_graph()
    torch.cuda.synchronize()
    for _ in range(5):
        g.replay()
    torch.cuda.synchronize()
    cupti.activity_flush_all(1)
    for k in enabled:
        cupti.activity_disable(getattr(K, k))
    names = {int(v): v.name for v in K}
    counts = collections.Counter()
    spans = []
    for r in RECS:
        name = names.get(int(r.kind), str(r.kind))
        if name in ("CONCURRENT_KERNEL", "KERNEL"):
            name += " (graph node)" if r.graph_id else " (outside graphs)"
        if name == "GRAPH_TRACE":
            spans.append((r.end - r.start, r.device_id))
        counts[name] += 1
    return {"kinds": kinds, "graph_before_enable": graph_before, "capture_kinds": list(capture_kinds),
            "enable_errors": errors,
            "counts": dict(counts), "graph_record_ns_and_device": spans[:5]}


def main():
    cupti.activity_register_callbacks(_req, _done)
    variants = [(["GRAPH_TRACE"], True), (["GRAPH_TRACE"], False),
                (["CONCURRENT_KERNEL", "GRAPH_TRACE"], True), (["GRAPH_TRACE", "CONCURRENT_KERNEL"], True),
                (["CONCURRENT_KERNEL", "GRAPH_TRACE"], False), (["CONCURRENT_KERNEL"], True)]
    out = [run(k, b) for k, b in variants]
    # instantiated while GRAPH_TRACE was on, then replayed under a later session (the tracer's
    # way), and replayed with nothing enabled (an untraced step must record nothing)
    out.append(run(["CONCURRENT_KERNEL", "GRAPH_TRACE"], True, capture_kinds=["GRAPH_TRACE"]))
    out.append(run([], True, capture_kinds=["GRAPH_TRACE"]))
    for o in out:
        print(o, flush=True)
    try:
        version = cupti.get_version()
    except Exception as e:  # noqa: BLE001 - the counts matter, not the version call
        version = f"unknown ({e})"
    with open(sys.argv[1], "w") as f:
        json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                   "cupti_version": version, "variants": out}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
