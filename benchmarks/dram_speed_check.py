"""The per-kernel DRAM estimate (``get_dram_kernels``) of another checkout against this one,
in one run: time, and how far the results move, on every shipped trace with PM samples and
on the 100-step tiled trace of ``analysis_speed.py``. Beside it, the other checkout's own
floating-point noise: the same estimate with every normal-equation matrix perturbed by
one ulp (relative 2^-52, symmetric, seeded), so "changed beyond numerical noise" has a
measured meaning (issue 15's speed item: the fit is ill-conditioned, and one ulp already
moves some groups' bytes).

    git archive <before> | tar -x -C /tmp/before
    python3 benchmarks/dram_speed_check.py --before /tmp/before --label <before> [-o benchmarks/results/dram_speed_check.json]

Each estimate runs in a fresh process per checkout (``--worker``); old and new alternate
trace by trace, so machine load hits both alike. Deviations (``compare``): offsets and
grouping equal or not; per-group bytes and interval ends as |new - old| / the largest
group's bytes (when the grouping is equal); class bytes per step, fitted bytes per step
(relative); r2 (absolute); per-record model rate / the largest rate; check verdicts equal.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TILED = "tiled-100"


def worker(out: Path, traces: list[str], noise: bool) -> None:
    """In a process whose PYTHONPATH is the checkout under test: estimate every trace."""
    import time

    from stepscope.analysis import dram_fit
    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.trace import load
    if noise:
        solve, rng = dram_fit.nnls_normal, np.random.default_rng(12345)

        def noisy(AtA, Atb, *args, **kw):
            if hasattr(AtA, "data") and not isinstance(AtA, np.ndarray):      # sparse
                AtA = AtA.copy()
                AtA.data = AtA.data * (1 + rng.standard_normal(len(AtA.data)) * 2.0 ** -52)
            else:
                e = rng.standard_normal(AtA.shape) * 2.0 ** -52
                AtA = AtA * (1 + (e + e.T) / 2)
            return solve(AtA, Atb, *args, **kw)
        dram_fit.nnls_normal = noisy
    res = {}
    for p in traces:
        a = TraceAnalysis(load(p))
        a.get_steps()                   # the attribution, outside the timing
        t0, c0 = time.perf_counter(), time.process_time()
        rep = a.get_dram_kernels()
        res[p] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "est": a._dram_estimate, "report": rep}
    out.write_bytes(pickle.dumps(res))


def run(code: Path, traces: list[str], noise: bool = False) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".pkl") as f:
        args = [sys.executable, __file__, "--worker", f.name, *(["--noise"] if noise else []), *traces]
        subprocess.run(args, env={**os.environ, "PYTHONPATH": str(code)}, cwd=code, check=True)
        return pickle.loads(Path(f.name).read_bytes())


def _of_max(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = ~(np.isnan(x) | np.isnan(y))
    return float(np.abs(x[m] - y[m]).max() / max(np.abs(x[m]).max(), 1e-300)) if m.any() else 0.0


def _rel(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = ~(np.isnan(x) | np.isnan(y))
    if not m.any():
        return 0.0
    scale = np.maximum(np.abs(x[m]), np.abs(y[m]))
    return float((np.abs(x[m] - y[m]) / np.maximum(scale, max(1e-9 * scale.max(), 1e-300))).max())


def compare(a: dict, b: dict) -> dict:
    """How far estimate ``b`` is from ``a`` (see the module doc)."""
    ea, eb, ra, rb = a["est"], b["est"], a["report"], b["report"]
    out = {"offsets_equal": bool(ea["read_offset_ns"] == eb["read_offset_ns"]
                                 and ea["write_offset_ns"] == eb["write_offset_ns"]),
           "groups": [len(ea["read_bytes"]), len(eb["read_bytes"])],
           "grouping_equal": bool(np.array_equal(ea["group_of_identity"], eb["group_of_identity"])),
           "identities_regrouped": int((ea["group_of_identity"] != eb["group_of_identity"]).sum())
           if len(ea["group_of_identity"]) == len(eb["group_of_identity"]) else None}
    if out["grouping_equal"]:
        out["group_bytes_of_max"] = max(_of_max(ea[k], eb[k]) for k in ("read_bytes", "write_bytes"))
        out["interval_of_max"] = max(_of_max(ea[f"{c}_{e}_bytes"], eb[f"{c}_{e}_bytes"])
                                     for c in ("read", "write") for e in ("lo", "hi"))
    ca, cb = ra["classes"], rb["classes"]
    if list(zip(ca["mode"], ca["class"])) == list(zip(cb["mode"], cb["class"])):
        out["class_bytes_rel"] = max(_rel(ca[k], cb[k]) for k in ("read_bytes_per_step", "write_bytes_per_step"))
    out["fitted_per_step_rel"] = max(_rel(ea[f"{c}_fitted_bytes_per_step"], eb[f"{c}_fitted_bytes_per_step"])
                                     for c in ("read", "write"))
    out["r2_abs"] = max(abs(ea[f"{c}_r2"] - eb[f"{c}_r2"]) for c in ("read", "write"))
    out["record_rate_of_max"] = _of_max(ea["record_bytes_per_ns"], eb["record_bytes_per_ns"])
    out["checks_equal"] = [c["ok"] for c in ra["checks"]] == [c["ok"] for c in rb["checks"]]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="the other checkout (e.g. git archive of the commit before)")
    ap.add_argument("--label", help="what --before is, for the record (e.g. its commit)")
    ap.add_argument("-o", "--output")
    ap.add_argument("--worker")
    ap.add_argument("--noise", action="store_true")
    ap.add_argument("traces", nargs="*")
    a = ap.parse_args(argv)
    if a.worker:
        return worker(Path(a.worker), a.traces, a.noise)
    if not a.before:
        ap.error("--before DIR is required")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    from analysis_speed import SOURCE, tile

    from stepscope.analysis.trace import Trace
    before = Path(a.before).resolve()
    with tempfile.TemporaryDirectory() as d:
        tiled = tile(Trace.load(SOURCE), 100).save(Path(d) / f"{TILED}.stepscope")
        traces = [str(p) for p in sorted((ROOT / "traces").glob("*.stepscope")) if Trace.load(p).n("pm")]
        traces.append(str(tiled))
        load0 = os.getloadavg()
        old, new, noise = {}, {}, {}
        for p in traces:            # alternate, trace by trace
            old.update(run(before, [p]))
            new.update(run(ROOT, [p]))
            noise.update(run(before, [p], noise=True))
        load1 = os.getloadavg()
    rows = {}
    for p in traces:
        name = Path(p).name.removesuffix(".stepscope")
        rows[name] = {"before_wall_s": round(old[p]["wall_s"], 3), "after_wall_s": round(new[p]["wall_s"], 3),
                      "before_cpu_s": round(old[p]["cpu_s"], 3), "after_cpu_s": round(new[p]["cpu_s"], 3),
                      "after_vs_before": compare(old[p], new[p]),
                      "one_ulp_noise_of_before": compare(old[p], noise[p])}
    keys = ("group_bytes_of_max", "interval_of_max", "class_bytes_rel", "fitted_per_step_rel", "r2_abs",
            "record_rate_of_max")

    def worst(which):
        w = {k: max((r[which].get(k, 0.0) for r in rows.values()), default=0.0) for k in keys}
        w["grouping_changed"] = [n for n, r in rows.items() if not r[which]["grouping_equal"]]
        w["offsets_changed"] = [n for n, r in rows.items() if not r[which]["offsets_equal"]]
        w["checks_changed"] = [n for n, r in rows.items() if not r[which]["checks_equal"]]
        return w
    res = {"before": a.label or str(before), "machine": {"cpus": os.cpu_count(), "processor": platform.processor()
                                              or platform.machine(), "python": platform.python_version(),
                                              "numpy": np.__version__},
           "load_average_start_end": [round(load0[0], 2), round(load1[0], 2)],
           "tiled_before_wall_s": rows[TILED]["before_wall_s"], "tiled_after_wall_s": rows[TILED]["after_wall_s"],
           "worst_after_vs_before": worst("after_vs_before"), "worst_one_ulp_noise_of_before": worst("one_ulp_noise_of_before"),
           "traces": rows}
    import scipy
    res["machine"]["scipy"] = scipy.__version__
    text = json.dumps(res, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "traces"}, indent=1))
    if a.output:
        Path(a.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
