"""Peak RSS and wall time of every command on every bad-input corpus input (issue 33).

The corpus is the one the tests use (``tests/badinput_corpus.py``: the classes of
docs/bad-input.md, round two included, plus the work bombs at full size: overlapping
20 ms kernels, 4 and 64 MB kernel names, 25k Kineto events). Each trace input runs
through report, report --json, timeline, bars and export; each result case runs its own
command line. Every run is a fresh process; its peak RSS is the kernel's ru_maxrss of
that child: VmHWM of /proc/self/status read as it exits (the high-water mark of its own
address space; ``ru_maxrss`` from ``wait4`` would include the parent's RSS at the fork,
which Linux carries across exec), its wall time from start to exit.

Promise checked per run: peak RSS <= max(1 GB, 4 x the input's declared array bytes) and
wall <= 30 s. Declared bytes: a native trace's .npy headers (what it asks to allocate;
its file size when the headers cannot be read); a Kineto or result file's size on disk.

    python3 benchmarks/badinput_bench.py --out benchmarks/results/badinput-bench.json [--jobs 2]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import badinput_corpus as corpus  # noqa: E402

WALL_S = 30.0
RSS_FLOOR = 1 << 30
COMMANDS = ("report", "report-json", "timeline", "bars", "export")


def declared_bytes(path: Path) -> int:
    if path.is_dir() or not path.exists():
        return 0
    if path.suffix != ".stepscope":
        return path.stat().st_size
    total = 0
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                with z.open(info) as f:
                    head = f.read(4096)
                b = io.BytesIO(head)
                version = np.lib.format.read_magic(b)
                shape, _, dtype = np.lib.format._read_array_header(b, version)
                total += int(np.prod(shape, dtype=object)) * dtype.itemsize
    except Exception:  # noqa: BLE001 - a corrupt input: its size on disk
        return path.stat().st_size
    return total


def argv(cmd: str, path: Path, out: Path) -> list[str]:
    return {"report": ["report", path], "report-json": ["report", path, "--json"],
            "timeline": ["timeline", path, "-o", out / "t.png"], "bars": ["bars", path, "-o", out / "b.png"],
            "export": ["export", path, "-o", out / "e.json", "--quiet"]}[cmd]


#: Runs ``python -m stepscope ARGS`` and, as it exits, writes its VmHWM (kB) to $HWM_FILE.
CHILD = ("import atexit, os, runpy, sys\n"
         "def hwm():\n"
         "    line = next(x for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
         "    open(os.environ['HWM_FILE'], 'w').write(line.split()[1])\n"
         "atexit.register(hwm)\n"
         "sys.argv = ['stepscope'] + sys.argv[1:]\n"
         "runpy.run_module('stepscope', run_name='__main__', alter_sys=True)\n")


def measure(args: list, declared: int) -> dict:
    env = {**os.environ}
    env.pop("STEPSCOPE_MAX_TRACE_MB", None)
    with tempfile.TemporaryDirectory() as out:
        args = [str(a).replace("{OUT}", out) for a in args]
        env["HWM_FILE"] = hwm = os.path.join(out, ".hwm")
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=600)
        wall = time.perf_counter() - t0
        err = r.stderr.decode(errors="replace")
        rss = int(Path(hwm).read_text()) * 1024 if os.path.exists(hwm) else 1 << 62    # none: killed
        status = r.returncode
    bound = max(RSS_FLOOR, 4 * declared)
    rc = status
    return {"rc": rc, "wall_s": round(wall, 3), "peak_rss_mb": round(rss / 2**20, 1),
            "declared_mb": round(declared / 2**20, 3), "rss_bound_mb": round(bound / 2**20, 1),
            "traceback": "Traceback" in err, "ok": rss <= bound and wall <= WALL_S and rc in (0, 2)
            and "Traceback" not in err, "stderr": err.strip().splitlines()[-1][:200] if err.strip() else ""}


def runs(d: Path) -> list[tuple[str, str, list, int]]:
    traces = {**corpus.native(d / "native"), **corpus.kineto(d / "kineto"),
              **corpus.round2_native(d / "r2native"), **corpus.round2_kineto(d / "r2kineto")}
    big = d / "big"
    big.mkdir()
    traces["overlapping-kernels-20ms"] = corpus.overlapping_kernels(big)
    traces["kernel-name-4MB"] = corpus.long_name(big, 4)
    traces["kernel-name-64MB"] = corpus.long_name(big, 64)
    traces["kineto-25k-events"] = corpus.many_events(big)
    out = []
    for case, p in sorted(traces.items()):
        dec = declared_bytes(p)
        for cmd in COMMANDS:
            out.append((case, cmd, argv(cmd, p, Path("{OUT}")), dec))
    res = {**corpus.results(d / "results"), **corpus.round2_results(d / "r2results")}
    for case, a in sorted(res.items()):
        a = ["{OUT}/mj" if isinstance(x, Path) and x.name == "mj" else x for x in a]
        dec = sum(declared_bytes(Path(x)) for x in a if isinstance(x, Path) and Path(x).is_file())
        out.append((case, a[0] if a[0] != "--max-trace-mb" and not str(a[0]).startswith("--") else "main/options",
                    a, dec))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "badinput-bench.json"))
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        todo = runs(Path(d))
        t0 = time.perf_counter()
        with ThreadPoolExecutor(a.jobs) as ex:
            results = list(ex.map(lambda r: {"input": r[0], "command": r[1], **measure(r[2], r[3])}, todo))
    worst_rss = max(results, key=lambda r: r["peak_rss_mb"])
    worst_wall = max(results, key=lambda r: r["wall_s"])
    summary = {"runs": len(results), "all_ok": all(r["ok"] for r in results),
               "failed": [f"{r['input']} {r['command']}" for r in results if not r["ok"]],
               "max_peak_rss_mb": worst_rss["peak_rss_mb"], "max_peak_rss_run": f"{worst_rss['input']} {worst_rss['command']}",
               "max_wall_s": worst_wall["wall_s"], "max_wall_run": f"{worst_wall['input']} {worst_wall['command']}",
               "exit_codes": {str(k): sum(r["rc"] == k for r in results) for k in sorted({r["rc"] for r in results})},
               "total_s": round(time.perf_counter() - t0, 1), "jobs": a.jobs,
               "promise": "peak RSS <= max(1 GB, 4 x declared array bytes), wall <= 30 s, exit 0 or 2, no traceback",
               "machine": f"{platform.machine()} {os.cpu_count()} CPUs (shared), Python {platform.python_version()}"}
    Path(a.out).write_text(json.dumps({"summary": summary, "runs": results}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0 if summary["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
