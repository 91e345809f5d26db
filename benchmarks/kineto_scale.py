"""Big torch.profiler (Kineto) traces read by stepscope and by HTA, side by side (issue 32).

Builds N-step traces from the shipped eager Kineto trace: the events of one decode step
(``ProfilerStep#1``: the host events inside its annotation, the GPU events whose
correlation ids belong to its runtime/driver calls, their flow events) replicated N times
back to back, with timestamps, correlation ids, External ids and flow ids shifted per copy.
Two kinds: ``markers`` keeps the ``ProfilerStep#k`` annotations, ``nomarkers`` drops them
(stepscope then finds the steps from the records, trace/detect.py).

Measured per run, each in a fresh process: wall time and the child's own peak RSS
(VmHWM, read by a wrapper just before it exits), and the machine's 1-minute load average
before and after the run. Compared: ``json.load`` of the file, ``stepscope report``,
``stepscope report`` of the one-step shipped trace, and HTA 0.5.0's load + idle-time
breakdown + temporal breakdown (HTA in its own venv, given by --hta-python; a benchmark
dependency only).

    python benchmarks/kineto_scale.py --out benchmarks/results/kineto_scale \
        [--hta-python /tmp/hta-venv/bin/python] [--runs 5] [--big]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import shift_event  # noqa: E402

SRC = ROOT / "traces" / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"
GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset", "gpu_user_annotation")


def one_step(src: Path = SRC, step: int = 1) -> tuple[dict, list]:
    """(the document's head, the events of ``ProfilerStep#<step>``)."""
    import orjson
    doc = orjson.loads(gzip.decompress(src.read_bytes()))
    ev = doc.pop("traceEvents")
    mark = next(e for e in ev if e.get("cat") == "user_annotation" and e.get("name") == f"ProfilerStep#{step}")
    s, e_ = float(mark["ts"]), float(mark["ts"]) + float(mark["dur"])
    host = [e for e in ev if e.get("ph") == "X" and e.get("cat") not in GPU_CATS
            and s <= float(e.get("ts", -1)) <= e_]
    corr = {(e.get("args") or {}).get("correlation") for e in host} - {None}
    gpu = [e for e in ev if e.get("ph") == "X" and e.get("cat") in GPU_CATS
           and (e.get("args") or {}).get("correlation") in corr]
    flows = [e for e in ev if e.get("ph") in ("s", "f") and e.get("id") in corr]
    meta = [e for e in ev if e.get("ph") == "M"]
    return doc, meta + host + gpu + flows


def build(out: Path, steps: int, markers: bool, src: Path = SRC) -> dict:
    """Writes the ``steps``-step trace (plain JSON); returns its size and counts. A trace
    built before (its ``.info.json`` beside it) is reused."""
    import orjson
    info_path = out.with_suffix(".info.json")
    if out.exists() and info_path.exists():
        return json.loads(info_path.read_text())
    head, ev = one_step(src)
    body = [e for e in ev if e.get("ph") != "M"]
    meta = [e for e in ev if e.get("ph") == "M"]
    if not markers:
        body = [e for e in body if not str(e.get("name", "")).startswith("ProfilerStep#")]
    ts = [float(e["ts"]) for e in body]
    period = round(max(float(e["ts"]) + float(e.get("dur", 0)) for e in body) - min(ts) + 100.0, 3)
    corr = max(int((e.get("args") or {}).get("correlation", 0)) for e in body) + 1
    eid = max(int((e.get("args") or {}).get("External id", 0)) for e in body) + 1
    n = 0
    with open(out, "wb") as f:
        f.write(orjson.dumps(head)[:-1] + b',"traceEvents":[')
        f.write(b",".join(orjson.dumps(e) for e in meta))
        for k in range(steps):
            parts = []
            for e in body:
                e2 = shift_event(e, k, period, corr, eid)     # every body event has a ts
                if str(e2.get("name", "")).startswith("ProfilerStep#"):
                    e2["name"] = f"ProfilerStep#{k}"
                parts.append(orjson.dumps(e2))
            f.write(b"," + b",".join(parts))
            n += len(parts)
        f.write(b"]}")
    info = {"steps": steps, "markers": markers, "events": n + len(meta), "file_mb": round(out.stat().st_size / 2**20, 1)}
    info_path.write_text(json.dumps(info))
    return info


HTA_SCRIPT = """
import os, sys
os.environ["HTA_DISABLE_NS_ROUNDING"] = "1"
from hta.trace_analysis import TraceAnalysis
a = TraceAnalysis(trace_dir=sys.argv[1])
a.get_idle_time_breakdown(visualize=False)
a.get_temporal_breakdown(visualize=False)
"""
JSON_LOAD = "import json, sys\nwith open(sys.argv[1], 'rb') as f:\n    json.load(f)\n"
#: `stepscope report` in this interpreter, then the peak RSS of this process and of its
#: waited-for children (the reader's forked helper) on stderr: their sum bounds the memory
#: both held at once (GNU time alone reports the larger of the two).
REPORT = ("import resource, sys\nfrom stepscope.cli import main\ntry:\n    rc = main(sys.argv[1:])\nfinally:\n"
          "    print('RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,\n"
          "          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\nsys.exit(rc)\n")


def timed(argv: list[str], env: dict | None = None, timeout_s: float = 900) -> dict:
    """One fresh process under GNU time: wall s, its peak RSS (MiB; GNU time's wait4 sees
    only that child, and time itself is a few MB), exit status, load averages around it."""
    before = os.getloadavg()
    r = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M %U %S", *argv], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=timeout_s)
    after = os.getloadavg()
    line = [x for x in r.stderr.splitlines() if x.startswith("TIME ")][-1].split()
    out = {"wall_s": float(line[1]), "peak_rss_mib": round(int(line[2]) / 1024, 1),
           "cpu_s": round(float(line[3]) + float(line[4]), 2), "rc": r.returncode,
           "load_1min_before": round(before[0], 2), "load_1min_after": round(after[0], 2)}
    rss = [x.split() for x in r.stderr.splitlines() if x.startswith("RSS_KB ")]
    if rss:     # this process + its forked reader: the sum bounds what both held at once
        own, child = int(rss[-1][1]), int(rss[-1][2])
        out.update(peak_rss_mib=round((own + child) / 1024, 1), own_rss_mib=round(own / 1024, 1),
                   helper_rss_mib=round(child / 1024, 1))
    if r.returncode:
        out["error"] = r.stderr.strip().splitlines()[-2:] if r.stderr.strip() else []
    return out


def best(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["rc"] == 0]
    if not ok:
        return {"runs": runs}
    return {"min_wall_s": min(r["wall_s"] for r in ok), "min_cpu_s": min(r["cpu_s"] for r in ok),
            "min_peak_rss_mib": min(r["peak_rss_mib"] for r in ok),
            "max_peak_rss_mib": max(r["peak_rss_mib"] for r in ok), "runs": runs}


def stepscope(path: Path) -> list[str]:
    return [sys.executable, "-c", REPORT, "report", str(path)]


#: The reader in one process (kineto.py reads a plain file of 64 MB or more as two halves
#: at once, the second in a forked process, where there are two CPUs).
ONE_PROCESS = {"STEPSCOPE_READ_PROCESSES": "1"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="results path without suffix (.json and .md are written)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/kineto_scale"), help="folder for the built traces")
    ap.add_argument("--hta-python", default=None, help="python of a venv with HolisticTraceAnalysis==0.5.0")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--big", action="store_true", help="also the 1000-step traces (about 2 GB each)")
    ap.add_argument("--big-hta", action="store_true", help="also HTA on the 1000-step trace with markers")
    ap.add_argument("--only-big", action="store_true", help="only the 1000-step traces, added to the --out results")
    ap.add_argument("--big-steps", type=int, default=1000,
                    help="steps of the big traces (1400 makes the ~2.8 GB of issue 32: 2.0 MB per step here)")
    ap.add_argument("--kinds", nargs="+", default=["markers", "nomarkers"], choices=["markers", "nomarkers"])
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    res: dict = {"what": __doc__.split("\n\n")[0].replace("\n", " "), "machine": machine,
                 "source": SRC.name, "traces": {}}
    if a.only_big:
        res = json.loads(a.out.with_suffix(".json").read_text())
        res[f"machine_{a.big_steps}_steps"] = machine
    else:
        one = a.work / "one-step.json"
        res["traces"]["1-step"] = {**build(one, 1, True), "stepscope_report": best([timed(stepscope(one))
                                                                                      for _ in range(a.runs)])}
        print("1-step", res["traces"]["1-step"]["stepscope_report"]["runs"], flush=True)
    big = ((a.big_steps, 1),)
    plan = big if a.only_big else ((100, a.runs),) + (big if a.big else ())
    for steps, runs in plan:
        for markers in [k == "markers" for k in a.kinds]:
            p = a.work / f"{steps}-{'markers' if markers else 'nomarkers'}.json"
            key = p.stem
            info = build(p, steps, markers)
            print(key, info, flush=True)
            # Interleaved: run k of every measure before run k + 1 of any, so each ratio
            # compares runs made under the same load.
            measures = {"stepscope_report": (stepscope(p), None, 900),
                        "stepscope_report_one_process": (stepscope(p), ONE_PROCESS, 900)}
            if steps == 100:
                measures["json_load"] = ([sys.executable, "-c", JSON_LOAD, str(p)], None, 900)
            if a.hta_python and (steps == 100 or (a.big_hta and markers)):
                d = a.work / f"hta-{key}"
                d.mkdir(exist_ok=True)
                link = d / "rank-0.json"
                if not link.exists():
                    link.symlink_to(p)
                measures["hta_load_and_breakdowns"] = ([a.hta_python, "-c", HTA_SCRIPT, str(d)], None, 1800)
            got: dict[str, list] = {m: [] for m in measures}
            for _ in range(runs):
                for m, (argv, env, limit_s) in measures.items():
                    got[m].append(timed(argv, env, limit_s))
                    print(f" {m}", got[m][-1], flush=True)
            r = {**info, **{m: best(v) for m, v in got.items()}}
            res["traces"][key] = r
            if steps != 100:
                p.unlink()
                p.with_suffix(".info.json").unlink()
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    a.out.with_suffix(".md").write_text(markdown(res))
    return 0


def markdown(res: dict) -> str:
    rows = ["| trace | file MB | reader | stepscope report s (min) | CPU s | RSS MiB | json.load s | RSS MiB "
            "| HTA s | RSS MiB | HTA / stepscope | stepscope / json.load | RSS stepscope / HTA | load 1-min (min-max) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in res["traces"].items():
        j, h = r.get("json_load", {}), r.get("hta_load_and_breakdowns", {})
        for reader, s in (("default", r["stepscope_report"]), ("one process", r.get("stepscope_report_one_process"))):
            if not s:
                continue
            loads = [x[k] for part in (s, j, h) for x in part.get("runs", [])
                     for k in ("load_1min_before", "load_1min_after")]

            def cell(d, k):
                return f"{d[k]:.2f}" if k in d else "-"
            ratio = (lambda x, y: f"{x / y:.2f}" if x is not None and y else "-")
            rows.append(f"| {key} | {r['file_mb']} | {reader} | {cell(s, 'min_wall_s')} | {cell(s, 'min_cpu_s')} | "
                        f"{cell(s, 'max_peak_rss_mib')} | {cell(j, 'min_wall_s')} | {cell(j, 'max_peak_rss_mib')} | "
                        f"{cell(h, 'min_wall_s')} | {cell(h, 'max_peak_rss_mib')} | "
                        f"{ratio(h.get('min_wall_s'), s.get('min_wall_s'))} | "
                        f"{ratio(s.get('min_wall_s'), j.get('min_wall_s'))} | "
                        f"{ratio(s.get('max_peak_rss_mib'), h.get('max_peak_rss_mib'))} | "
                        f"{min(loads):.1f}-{max(loads):.1f} |")
    return ("# Kineto traces at scale: stepscope vs HTA 0.5.0 (benchmarks/kineto_scale.py)\n\n"
            f"{res['what']}\n\nMachine: {res['machine']}\n\n" + "\n".join(rows) + "\n\n"
            "Times are the minimum over the runs, the measures interleaved run by run (same load); CPU s: user + "
            "system time of that process and its forked reader (min over runs); RSS: the largest peak over the "
            "runs, for stepscope the sum of the process's and its forked reader's peaks (what both could hold at "
            "once). The default reader reads a plain .json of 64 MB to 1 GiB as two halves at once, the second "
            "in a forked process (the 1-step and the 1000- and 1400-step traces are read in one process either "
            "way); 'one process' sets STEPSCOPE_READ_PROCESSES=1. Every run's figures and load averages are in "
            "kineto_scale.json. See docs/performance.md.\n")


if __name__ == "__main__":
    sys.exit(main())
