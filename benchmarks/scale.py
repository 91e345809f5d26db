"""Big traces on a small CPU: time and peak memory of the commands on synthetic long traces.

Each big trace is built from a shipped one by tiling its steps with shifted timestamps
and renumbered correlation ids (``analysis_speed.tile`` for native traces; ``tile_kineto``
for torch.profiler JSON). Every command runs in a fresh process (``python -m stepscope``)
and is measured from outside: wall time, and peak resident memory of the child
(``ru_maxrss``). Issue 17's targets: a 100-step eager native trace analysed in < 0.5 s;
`timeline` of 2000 steps < 5 s and < 1 GB; a Kineto trace parsed >= 10x faster than
Holistic Trace Analysis 0.5; memory about twice the trace's own arrays.

    python3 benchmarks/scale.py [--hta-python /path/to/venv/bin/python] [-o benchmarks/results/scale.json]

``--code DIR`` measures another checkout (e.g. ``git archive`` of the commit before a
change, for the "before" column).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from analysis_speed import tile  # noqa: E402

from _common import shift_event  # noqa: E402
from stepscope.analysis.trace import Trace  # noqa: E402

NATIVE = ROOT / "traces" / "qwen2.5-7b-ctx2048-eager-static-h100.stepscope"
KINETO = ROOT / "traces" / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"

HTA_PARSE = """
import sys, time
from hta.trace_analysis import TraceAnalysis
t0 = time.perf_counter()
TraceAnalysis(trace_dir=sys.argv[1])
print(time.perf_counter() - t0)
"""


def tile_kineto(src: Path, copies: int, out: Path) -> int:
    """``copies`` copies of every event of a Kineto trace, back to back in time; ids
    renumbered so each copy's launches and kernels pair up; step annotations renumbered.
    Returns the number of steps."""
    import orjson
    doc = orjson.loads(gzip.decompress(src.read_bytes()))
    ev = [e for e in doc["traceEvents"] if e.get("ph") in ("X", "M", "i", "s", "f")]
    ts = [float(e["ts"]) for e in ev if "ts" in e]
    t0, t1 = min(ts), max(float(e["ts"]) + float(e.get("dur", 0)) for e in ev if "ts" in e)
    period = round(t1 - t0 + 100.0, 3)
    n_steps = sum(1 for e in ev if str(e.get("name", "")).startswith("ProfilerStep#")
                  and e.get("cat") in ("user_annotation", "cpu_op"))
    corr = max(int((e.get("args") or {}).get("correlation", 0)) for e in ev) + 1
    eid = max(int((e.get("args") or {}).get("External id", 0)) for e in ev) + 1
    with open(out, "wb") as f:
        head = {k: v for k, v in doc.items() if k != "traceEvents"}
        f.write(orjson.dumps(head)[:-1] + b',"traceEvents":[')
        first = True
        for k in range(copies):
            for e in ev:
                if e.get("ph") == "M" and k:
                    continue
                e2 = shift_event(e, k, period, corr, eid)
                name = str(e2.get("name", ""))
                if name.startswith("ProfilerStep#"):
                    e2["name"] = f"ProfilerStep#{int(name.split('#')[1]) + k * n_steps}"
                f.write((b"" if first else b",") + orjson.dumps(e2))
                first = False
        f.write(b"]}")
    return copies * n_steps


def run_cli(code: Path, *args, module: str = "stepscope") -> dict:
    """Wall time and peak RSS of one fresh ``python -m stepscope ...``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env, cwd=code,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all children so far: run the biggest last, or
    # read it from /usr/bin/time when available.
    out = {"wall_s": round(wall, 2), "rc": r.returncode}
    if rss > before:
        out["peak_rss_mb"] = round(rss / 1024, 1)
    if r.returncode:
        out["stderr"] = r.stderr.strip().splitlines()[-1:] if r.stderr else []
    return out


def timed(code: Path, *args) -> dict:
    """Like run_cli, with peak RSS from GNU time when present (exact per process)."""
    gnu = Path("/usr/bin/time")
    if not gnu.exists():
        return run_cli(code, *args)
    env = {**os.environ, "PYTHONPATH": str(code)}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        r = subprocess.run([str(gnu), "-f", "%M", "-o", tf.name, sys.executable, "-m", "stepscope",
                            *map(str, args)], env=env, cwd=code, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        kb = int(Path(tf.name).read_text().strip().splitlines()[-1])
    out = {"wall_s": round(wall, 2), "peak_rss_mb": round(kb / 1024, 1), "rc": r.returncode}
    if r.returncode:
        out["stderr"] = r.stderr.strip().splitlines()[-1:] if r.stderr else []
    return out


def in_process(code: Path, stmt: str, path: Path) -> dict:
    """Time of one statement over ``path`` in a fresh interpreter (import time excluded)."""
    prog = (f"import sys, time, resource; sys.path.insert(0, {str(code)!r})\n"
            "from stepscope.analysis.facade import TraceAnalysis\n"
            "from stepscope.analysis.trace import load\n"
            "p = sys.argv[1]; ts = []\n"
            f"for _ in range(3):\n    t0 = time.perf_counter(); {stmt}; ts.append(time.perf_counter() - t0)\n"
            "print(min(ts), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    r = subprocess.run([sys.executable, "-c", prog, str(path)], capture_output=True, text=True, cwd=code)
    if r.returncode:
        return {"error": r.stderr.strip().splitlines()[-1]}
    s, kb = r.stdout.split()
    return {"best_of_3_s": round(float(s), 3), "peak_rss_mb": round(int(kb) / 1024, 1)}


def trace_array_mb(t: Trace) -> float:
    return round(sum(a.nbytes for cols in t.tables.values() for a in cols.values()) / 2**20, 1)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", default=str(ROOT), help="checkout whose stepscope is measured")
    ap.add_argument("--long-steps", type=int, default=2000)
    ap.add_argument("--kineto-copies", type=int, default=40,
                    help="copies of the 3-step Kineto trace (40: 120 steps, 150k kernels, like the issue's)")
    ap.add_argument("--hta-python", help="a python with HolisticTraceAnalysis 0.5 installed")
    ap.add_argument("--skip", default="", help="comma list of measurements to skip")
    ap.add_argument("-o", "--output")
    a = ap.parse_args(argv)
    code, skip = Path(a.code).resolve(), set(filter(None, a.skip.split(",")))
    res = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "processor": platform.processor() or platform.machine(),
                       "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
           "code": str(code)}
    src = Trace.load(NATIVE)
    with tempfile.TemporaryDirectory(prefix="stepscope-scale-") as d:
        d = Path(d)
        t100 = tile(src, 100)
        p100 = t100.save(d / "eager-100.stepscope")
        res["native_100_steps"] = {"kernels": t100.n("kernels"), "file_mb": round(p100.stat().st_size / 2**20, 1),
                                   "arrays_mb": trace_array_mb(t100),
                                   "load_and_analyse": in_process(code, "TraceAnalysis(load(p)).get_summary()", p100)}
        if "export" not in skip:
            r = timed(code, "export", p100, "--perfetto", d / "out.json")
            r["output_mb"] = round((d / "out.json").stat().st_size / 2**20, 1) if (d / "out.json").exists() else None
            res["native_100_steps"]["export"] = r
        del t100
        big = tile(src, a.long_steps)
        pbig = big.save(d / "long.stepscope")
        res["native_long"] = {"steps": a.long_steps, "kernels": big.n("kernels"),
                              "file_mb": round(pbig.stat().st_size / 2**20, 1), "arrays_mb": trace_array_mb(big)}
        del big
        if "report" not in skip:
            res["native_long"]["report"] = timed(code, "report", pbig)
        if "timeline" not in skip:
            res["native_long"]["timeline"] = timed(code, "timeline", pbig, "-o", d / "tl.png")
        if "kineto" not in skip:
            kj = d / "kineto" / "big.json"
            kj.parent.mkdir()
            n = tile_kineto(KINETO, a.kineto_copies, kj)
            k = {"steps": n, "file_mb": round(kj.stat().st_size / 2**20, 1),
                 "parse": in_process(code, "load(p)", kj), "report": timed(code, "report", kj)}
            if a.hta_python:
                r = subprocess.run([a.hta_python, "-c", HTA_PARSE, str(kj.parent)], capture_output=True, text=True)
                k["hta_0_5_parse_s"] = round(float(r.stdout.split()[-1]), 2) if r.returncode == 0 else \
                    {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
            res["kineto"] = k
    res["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(res, indent=1)
    print(text)
    if a.output:
        Path(a.output).write_text(text + "\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
