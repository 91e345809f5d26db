"""Load-and-analyse time of a 100-step eager 7B trace (~150k kernels), built by
repeating the steps of a real recorded trace with shifted timestamps.

    python3 benchmarks/analysis_speed.py [-o benchmarks/results/analysis_speed.json]

Target (issue 4): at most 0.5 s to load and analyse on the 2-core CI machine.
Target (issue 15): at most 0.5 s for the per-kernel DRAM estimate (``get_dram_kernels``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stepscope.analysis.facade import TraceAnalysis  # noqa: E402
from stepscope.analysis.trace import Trace  # noqa: E402

SOURCE = ROOT / "traces" / "qwen2.5-7b-ctx2048-eager-static-h100.stepscope"
#: The same workload with a counter pass (``kernel_dram``): the exact path's cost.
COUNTERS = ROOT / "traces" / "qwen2.5-7b-ctx2048-eager-static-counters-h100.stepscope"


def tile(src: Trace, n_steps: int) -> Trace:
    """n_steps copies of the source's first step, back to back, correlation ids renumbered."""
    st = src["steps"]
    s0, s1 = int(st["start_ns"][0]), int(st["end_ns"][0])
    period = s1 - s0 + 50_000
    corr_span = int(max(src[t]["correlation"].max() for t in ("api", "kernels")) + 1)
    out = Trace(strings=list(src.strings), meta=src.meta)
    for table in ("kernels", "api", "memcpy", "memset"):
        tab = src[table]
        m = tab["step"] == st["index"][0]
        cols = {c: [] for c in tab}
        for i in range(n_steps):
            for c, v in tab.items():
                v = v[m]
                if c in ("start_ns", "end_ns"):
                    v = v + i * period
                elif c == "correlation":
                    v = v + i * corr_span
                elif c == "step":
                    v = np.full(len(v), i)
                cols[c].append(v)
        out.tables[table] = {c: np.concatenate(v).astype(np.int64) for c, v in cols.items()}
    kd = src["kernel_dram"]
    if len(kd["kernel"]):              # a counter pass: step 0's rows, re-pointed at each copy's kernels
        k0 = np.nonzero(src["kernels"]["step"] == st["index"][0])[0]
        local = np.searchsorted(k0, kd["kernel"])
        m = (local < len(k0)) & (k0[np.minimum(local, len(k0) - 1)] == kd["kernel"])
        out.tables["kernel_dram"] = {
            c: np.concatenate([(local[m] + i * len(k0)) if c == "kernel" else v[m] for i in range(n_steps)])
            .astype(np.int64) for c, v in kd.items()}
    pm = src["pm"]
    m = (pm["start_ns"] >= s0) & (pm["end_ns"] <= s1 + 50_000)
    out.tables["pm"] = {c: np.concatenate([v[m] + (i * period if c.endswith("_ns") else 0)
                                           for i in range(n_steps)]).astype(np.int64) for c, v in pm.items()}
    rows = {c: np.repeat(st[c][:1], n_steps) for c in st}
    rows["index"] = np.arange(n_steps, dtype=np.int64)
    rows["start_ns"] = s0 + np.arange(n_steps, dtype=np.int64) * period
    rows["end_ns"] = rows["start_ns"] + (s1 - s0)
    out.tables["steps"] = rows
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("-o", "--output")
    a = ap.parse_args(argv)
    big = tile(Trace.load(SOURCE), a.steps)
    with tempfile.TemporaryDirectory() as d:
        path = big.save(Path(d) / "big.stepscope")
        size = path.stat().st_size
        load_s, analyse_s, report_s, dram_s = [], [], [], []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            t = Trace.load(path)
            t1 = time.perf_counter()
            an = TraceAnalysis(t)
            an.get_summary()
            t2 = time.perf_counter()
            an.get_kernel_classes()
            an.get_top_kernels()
            an.get_gap_histogram()
            an.get_hta_comparison()
            t3 = time.perf_counter()
            dk = an.get_dram_kernels()
            dram_s.append(time.perf_counter() - t3)
            load_s.append(t1 - t0)
            analyse_s.append(t2 - t1)
            report_s.append(t3 - t2)
    res = {"steps": a.steps, "kernels": big.n("kernels"), "api_calls": big.n("api"),
           "pm_samples": big.n("pm"), "file_bytes": size,
           "load_s_median": float(statistics.median(load_s)),
           "attribution_s_median": float(statistics.median(analyse_s)),
           "load_plus_attribution_s_median": float(statistics.median(np.add(load_s, analyse_s))),
           "report_tables_s_median": float(statistics.median(report_s)),
           "total_s_median": float(statistics.median(np.add(np.add(load_s, analyse_s), report_s))),
           "dram_kernels_s_median": float(statistics.median(dram_s)), "dram_kernels_groups": dk.get("groups"),
           "dram_kernels_target_s": 0.5, "target_s": 0.5, "cpu": platform.processor() or platform.machine(),
           "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
           "source_trace": SOURCE.name}
    exact = tile(Trace.load(COUNTERS), a.steps)
    with tempfile.TemporaryDirectory() as d:
        path = exact.save(Path(d) / "exact.stepscope")
        exact_s = []
        for _ in range(a.repeats):
            an = TraceAnalysis(Trace.load(path))
            _ = an.attribution          # attribution outside the timed part, as above
            t0 = time.perf_counter()
            de = an.get_dram_kernels()
            exact_s.append(time.perf_counter() - t0)
    res.update({"dram_kernels_counter_pass_s_median": float(statistics.median(exact_s)),
                "dram_kernels_counter_pass_source": de.get("source"), "counter_pass_trace": COUNTERS.name})
    res["meets_target"] = bool(res["load_plus_attribution_s_median"] <= res["target_s"])
    res["dram_kernels_meets_target"] = bool(res["dram_kernels_s_median"] <= res["dram_kernels_target_s"])
    print(json.dumps(res, indent=1))
    if a.output:
        Path(a.output).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
