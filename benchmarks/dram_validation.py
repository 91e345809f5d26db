"""Validation of the per-kernel DRAM estimate (issue 15), on one GPU, in one script
(about 4 minutes on an H100):

  a) phase-randomised traces of Qwen2.5-7B ctx 2048, eager-static and graph (a random
     0..--jitter-us host spin before each traced step, recorded in meta.capture);
  b) Nsight Compute on one eager-static decode step (between torch.cuda.profiler.start
     and stop), per kernel dram__bytes_read/write.sum and gpu__time_duration.sum, with
     ncu's default cache control (flush before each kernel) and with --cache-control none;
     CSVs gzip-compressed;
  c) a recovery workload: torch sums (reads) and copies (read + write) of known sizes,
     5 us .. 2 ms each, in one fixed random order, traced with phase jitter;
  d) the estimate of each trace, its checks, and the comparison with ncu, as a table last
     (and dram_validation.json).

    python3 benchmarks/dram_validation.py --out /tmp/dv

Each part is in its own try/except: a failure is logged and the rest still runs.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = "dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum"
#: Recovery ops: (kind, MiB). A sum reads the buffer; a copy reads and writes it.
RECOVERY_OPS = [("read", m) for m in (16, 24, 48, 96, 192, 384, 768, 1536, 3072, 6144)] + \
               [("copy", m) for m in (16, 64, 256, 1024)]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def part(name: str, results: dict):
    """Decorator-free try/except around one part: returns a context manager."""
    class _Part:
        def __enter__(self):
            log(f"--- {name}")
            self.t0 = time.perf_counter()

        def __exit__(self, et, ev, tb):
            results.setdefault("parts", {})[name] = {
                "ok": et is None, "s": round(time.perf_counter() - self.t0, 1),
                "error": None if et is None else "".join(traceback.format_exception(et, ev, tb))[-2000:]}
            if et is not None:
                log(f"{name} FAILED: {ev!r} (continuing)")
            return True
    return _Part()


def gpu_tag() -> str:
    import torch
    n = torch.cuda.get_device_name(0)
    return "h200" if "H200" in n else "h100" if "H100" in n else n.split()[-1].lower()


def find_ncu(given: str | None) -> str | None:
    cands = [given] if given else []
    cands += [shutil.which("ncu")] + sorted(glob.glob("/usr/local/cuda*/bin/ncu"), reverse=True) + \
        sorted(glob.glob("/opt/nvidia/nsight-compute/*/ncu"), reverse=True)
    return next((c for c in cands if c and os.path.exists(c)), None)


def decode_traces(a, out: Path, tag: str, results: dict) -> list[Path]:
    import torch

    from stepscope.profiler.experiments.protocol import run_decode
    paths, built = [], None
    for mode in ("eager-static", "graph"):
        with part(f"trace {mode}", results):
            trace, info = run_decode(a.model, a.ctx, mode, warmup=3, steps=5, trace_steps=a.steps,
                                     built=built, progress=log, phase_jitter_ns=a.jitter_us * 1000)
            built = (info["spec"], info["model"])
            p = out / f"{a.model}-ctx{a.ctx}-{mode}-jitter-{tag}.stepscope"
            trace.save(p)
            paths.append(p)
            log(f"saved {p} ({p.stat().st_size / 1e6:.1f} MB), untraced median {info['untraced_median_ms']:.2f} ms")
    del built
    torch.cuda.empty_cache()
    return paths


def ncu_child(a) -> None:
    """Run under ncu: build, prefill, warm up, then profile exactly one eager-static step."""
    import torch

    from stepscope.profiler.workloads.decode import Decoder, build_model, resolve_model
    spec = resolve_model(a.model)
    net = build_model(spec, device="cuda", dtype="bfloat16", attn="sdpa")
    dec = Decoder(net, a.ctx, "eager-static", 12)
    dec.prefill()
    dec.capture()
    for _ in range(3):
        dec.step()
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    dec.step()
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()


def run_ncu(a, out: Path, tag: str, results: dict) -> dict:
    ncu = find_ncu(a.ncu)
    if ncu is None:
        raise RuntimeError("ncu not found (PATH, /usr/local/cuda*/bin, /opt/nvidia/nsight-compute)")
    files = {}
    for label, extra in (("default", []), ("cache-none", ["--cache-control", "none"])):
        with part(f"ncu {label}", results):
            csv_path = out / f"ncu-{a.model}-ctx{a.ctx}-eager-static-{label}-{tag}.csv"
            cmd = [ncu, "--profile-from-start", "off", "--metrics", METRICS, "--csv", "--print-units", "base",
                   *extra, "--log-file", str(csv_path), sys.executable, str(Path(__file__).resolve()),
                   "--ncu-child", "--model", a.model, "--ctx", str(a.ctx)]
            log(" ".join(cmd))
            env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}
            # Own process group: on a timeout ncu *and* the profiled python (which holds
            # ~16 GB of GPU memory) are killed, not left running beside the next part.
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                 start_new_session=True)
            try:
                text, _ = p.communicate(timeout=a.ncu_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                text, _ = p.communicate()
                text = (text or "") + f"\n(killed after {a.ncu_timeout} s)"
            (out / f"ncu-{label}-{tag}.log").write_text((text or "")[-40000:])
            if p.returncode != 0 or not csv_path.exists():
                raise RuntimeError(f"ncu exited {p.returncode}; see ncu-{label}-{tag}.log")
            gz = csv_path.with_suffix(".csv.gz")
            gz.write_bytes(gzip.compress(csv_path.read_bytes(), 9, mtime=0))
            csv_path.unlink()
            files[label] = gz
            log(f"saved {gz} ({gz.stat().st_size / 1e3:.0f} kB)")
    return files


class Recovery:
    """Kernels of known DRAM bytes, one kernel per op: the calibration's ``read_reduce``
    (reads the buffer) or ``copy16`` (reads and writes it), each on its own buffer, in one
    fixed random order per step. (torch.sum splits large reductions into several kernels and
    torch's copy_ is a cudaMemcpy, not a kernel: the first H100 run had 14 kernels and 4
    copies for 14 ops.) Every buffer is used once per step and each step moves GBs, so no
    buffer is still in L2 when it is used again."""

    def __init__(self, seed: int = 0):
        import torch

        from stepscope.profiler.workloads.calibration import Calibration
        self.cal = Calibration()
        ops = list(RECOVERY_OPS)
        random.Random(seed).shuffle(ops)
        self.ops, self.bufs = ops, []
        for kind, mib in ops:
            src = torch.empty(mib << 20, dtype=torch.uint8, device="cuda").random_(0, 256)
            self.bufs.append((src, torch.empty_like(src) if kind == "copy" else None))

    def step(self):
        for (kind, _), (src, dst) in zip(self.ops, self.bufs):
            if kind == "read":
                self.cal.read(src)
            else:
                self.cal.copy(src, dst)

    def workload(self, how: str) -> dict:
        """``meta["workload"]`` of a trace of this workload; ``how`` says how it was traced."""
        from stepscope.analysis.trace import workload
        known = self.known()
        return workload.constructed(
            "dram-recovery", sum(k["read_bytes"] + k["write_bytes"] for k in known),
            "calibration read_reduce (read) and copy16 (read + write) kernels of known sizes, one fixed random "
            f"order, {how}", ops=known)

    def known(self) -> list[dict]:
        b = [mib * (1 << 20) for _, mib in self.ops]
        return [{"op": k, "mib": m, "read_bytes": x, "write_bytes": x if k == "copy" else 0}
                for (k, m), x in zip(self.ops, b)]


def recovery_trace(a, out: Path, tag: str, results: dict) -> Path | None:
    import torch

    from stepscope.profiler.experiments.protocol import measure
    with part("recovery trace", results):
        w = Recovery()
        _, trace = measure(w.step, "eager", warmup=3, steps=3, trace_steps=a.steps,
                           phase_jitter_ns=a.jitter_us * 1000, dram_interval_ns=20_000)
        trace.meta["workload"] = w.workload("phase-jittered steps (benchmarks/dram_validation.py)")
        p = out / f"dram-recovery-{tag}.stepscope"
        trace.save(p)
        log(f"saved {p} ({p.stat().st_size / 1e6:.1f} MB)")
        del w
        torch.cuda.empty_cache()
        return p
    return None


def summarise(paths: list[Path], ncu_files: dict, out: Path, results: dict) -> None:
    from stepscope.analysis import dram_ncu
    from stepscope.analysis.facade import TraceAnalysis
    cal = ROOT / "benchmarks" / "results" / f"calibration-{results.get('gpu', 'h100')}.json"
    calibration = json.loads(cal.read_text()) if cal.exists() else None
    rows = []
    for p in paths:
        with part(f"estimate {p.name}", results):
            an = TraceAnalysis(p, calibration=calibration)
            t0 = time.perf_counter()
            d = an.get_dram_kernels()
            res = {"analysis_s": round(time.perf_counter() - t0, 2), "checks": d["checks"],
                   "classes": d["classes"], "read_offset_ns": d.get("read_offset_ns"),
                   "write_offset_ns": d.get("write_offset_ns"), "groups": d.get("groups")}
            for c in d["checks"]:
                rows.append((p.name[:44], ("ok " if c["ok"] else "BAD ") + c["check"][:58], c["detail"][:70]))
            if "eager-static" in p.name and ncu_files:
                est = an._dram_estimate
                mode_id = an.trace.strings.index("eager-static")
                for label, f in ncu_files.items():
                    cmp = dram_ncu.compare(est, mode_id, dram_ncu.parse_csv(gzip.decompress(f.read_bytes()).decode()))
                    res[f"ncu_{label}"] = cmp
                    if not cmp["matched"]:
                        rows.append((p.name[:44], f"ncu {label}: not matched", cmp["reason"][:70]))
                        continue
                    c = cmp["classes"]
                    for i, name in enumerate(c["class"]):
                        e, n = c["estimate_read_bytes"][i], c["ncu_read_bytes"][i]
                        # issue 15's targets: GEMM/GEMV within 3%, any class over 0.1 GB within 15%
                        tol = 0.03 if name == "gemm" else 0.15 if n > 0.1e9 else None
                        verdict = "" if tol is None else (" PASS" if abs(e - n) <= tol * n else " MISS") + \
                            f" (target {100 * tol:.0f}%)"
                        rows.append((p.name[:44], f"ncu {label}: {name} read GB est/ncu",
                                     f"{e / 1e9:.3f} / {n / 1e9:.3f} ({100 * (e - n) / max(n, 1):+.1f}%){verdict}"))
            results.setdefault("traces", {})[p.name] = res
    (out / "dram_validation.json").write_text(json.dumps(results, indent=1, default=_json))
    print("\n=== DRAM validation summary " + "=" * 60)
    for name, r in results.get("parts", {}).items():
        print(f"part {name:<44} {'ok' if r['ok'] else 'FAILED'} {r['s']:7.1f} s")
    for r in rows:
        print(f"{r[0]:<45} {r[1]:<64} {r[2]}")


def _json(x):
    import numpy as np
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer, np.floating, np.bool_)):
        return x.item()
    return str(x)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=False, default="dram-validation")
    ap.add_argument("--model", default="qwen2.5-7b")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=7, help="traced steps per trace")
    ap.add_argument("--jitter-us", type=int, default=40)
    ap.add_argument("--ncu", help="path of ncu (default: PATH, /usr/local/cuda*/bin)")
    ap.add_argument("--ncu-timeout", type=int, default=170)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: traces,ncu,recovery")
    ap.add_argument("--analyse-only", action="store_true",
                    help="no GPU: re-run part d on the traces and ncu CSVs already in --out")
    ap.add_argument("--ncu-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.ncu_child:
        ncu_child(a)
        return 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, a.skip.split(",")))
    if a.analyse_only:
        results = {"args": vars(a), "gpu": "h200" if glob.glob(str(out / "*-h200.stepscope")) else "h100"}
        ncu_files = {lab: Path(f) for lab in ("default", "cache-none")
                     for f in glob.glob(str(out / f"ncu-*-{lab}-*.csv.gz"))}
        summarise(sorted(out.glob("*.stepscope")), ncu_files, out, results)
        return 0
    results: dict = {"args": vars(a), "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tag = "gpu"
    with part("setup", results):
        tag = gpu_tag()
        results["gpu"] = tag
    paths, ncu_files = [], {}
    if "traces" not in skip:
        with part("traces", results):
            paths += decode_traces(a, out, tag, results)
    if "ncu" not in skip:
        with part("ncu", results):
            ncu_files = run_ncu(a, out, tag, results)
    if "recovery" not in skip:
        p = recovery_trace(a, out, tag, results)
        if p is not None:
            paths.append(p)
    summarise(paths, ncu_files, out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
