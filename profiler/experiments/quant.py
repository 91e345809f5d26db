"""`stepscope quant`: do quantised weight paths turn their byte savings into time?

Run: each arm (profiler/workloads/quantize.py) runs in a fresh process (``runner``) and
writes one JSON; a failing arm is recorded as invalid with its reason. Weight bytes are
measured (device memory held by the quantised model: weights, scales and zero points).
Load: ``load_arms``. Summarise: ``stepscope.analysis.results.quant``.
"""
from __future__ import annotations

import glob
import statistics
import time
import traceback
from pathlib import Path

from ..workloads.quantize import ARMS, KERNELS
from .files import read_arm
from .runner import each, run_fresh


def run_arm(model_name: str, ctx: int, arm: str, warmup: int, steps: int, trace_steps: int,
            trace_dir: str | Path | None = None) -> dict:
    import numpy as np
    import torch

    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.kernel_classes import KernelClass, classify_names, short_name

    from ..workloads.decode import Decoder, build_model, param_bytes, resolve_model
    from ..workloads.quantize import quantize
    from .protocol import decode_workload, measure, require_gpu
    require_gpu()
    spec = resolve_model(model_name)
    out = {"model": spec.name, "ctx": ctx, "arm": arm, "gpu": torch.cuda.get_device_name(), "modes": {}}
    base = torch.cuda.memory_allocated()
    net = build_model(spec)
    pb = param_bytes(net)
    t0 = time.perf_counter()
    out["library"] = quantize(net, arm)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    out["quantize_s"] = time.perf_counter() - t0
    out["weight_bytes"] = torch.cuda.memory_allocated() - base
    sizes = {**pb, "param_bytes": out["weight_bytes"]}
    for mode in ("eager-static", "graph"):
        try:
            dec = Decoder(net, ctx, mode, warmup + steps + trace_steps + 8)
            dec.prefill()
            dec.capture()
            ns, trace = measure(dec.step, mode, warmup, steps, trace_steps, warn=lambda m: None)
        except Exception as e:  # noqa: BLE001 - an arm that cannot run is recorded as invalid
            out["modes"][mode] = {"valid": False, "reason": f"{type(e).__name__}: {str(e)[:300]}"}
            traceback.print_exc()
            continue
        trace.meta["workload"] = decode_workload(spec, dec, trace_steps, sizes, quant=arm,
                                                 untraced_step_ns=ns)
        if trace_dir:
            trace.save(Path(trace_dir) / f"{spec.name}-ctx{ctx}-{arm}-{mode}.stepscope")
        a = TraceAnalysis(trace)
        m = next(iter(a.get_summary()["modes"].values()))
        kc = a.get_kernel_classes()
        k = trace["kernels"]
        cls = classify_names(trace.strings, k["name"])
        mat = np.isin(cls, [KernelClass.GEMM, KernelClass.DEQUANT]) & (k["step"] >= 0)
        names, counts = np.unique(k["name"][mat], return_counts=True)
        top = sorted(zip(counts.tolist(), names.tolist()), reverse=True)[:4]
        n_steps = len(trace["steps"]["index"])
        out["modes"][mode] = {
            "valid": True, "median_ms": statistics.median(ns) / 1e6, "step_ns": ns,
            "traced_ms": m["step_ms"], "floor_ms": m["floor_ms"], "model_gb": m["model_gb"],
            "dram_gb": m["dram_gb"], "busy_ms": m["busy_ms"], "launch_overhead_ms": m["launch_overhead_ms"],
            "kernels": m["kernels"],
            "classes": {c: {"count": float(n), "ms": float(t) / 1e6} for c, n, t in
                        zip(kc["class"], kc["count_per_step"], kc["time_ns_per_step"])},
            "matmul_kernels": [{"name": short_name(trace.strings[n], 90), "per_step": c / n_steps}
                               for c, n in top]}
        if arm in KERNELS:   # the library kernel this arm exists to run, counted in the traced steps
            every, every_n = np.unique(k["name"][k["step"] >= 0], return_counts=True)
            hits = sum(c for n, c in zip(every.tolist(), every_n.tolist())
                       if KERNELS[arm] in short_name(trace.strings[n], 200))
            out["modes"][mode]["expected_kernel"] = {"name": KERNELS[arm], "per_step": hits / n_steps}
    return out


def run_quant(model: str, ctx: int, arms: list[str], out_dir: Path, warmup=5, steps=30, trace_steps=2,
              progress=print, timeout_s: int = 900, trace_dir: Path | None = None) -> list[dict]:
    """Each missing arm in a fresh process (progress through ``runner.each``: a bar on a
    terminal); a crash is recorded as an invalid arm. ``trace_dir``: also keep each arm's
    traced steps there, one .stepscope file per mode."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if trace_dir is not None:
        Path(trace_dir).mkdir(parents=True, exist_ok=True)
    todo = [arm for arm in arms if not (out_dir / f"{model}-ctx{ctx}-{arm}.json").exists()]
    for arm in each(todo, progress):
        path = out_dir / f"{model}-ctx{ctx}-{arm}.json"
        kw = {"model_name": model, "ctx": ctx, "arm": arm, "warmup": warmup, "steps": steps,
              "trace_steps": trace_steps, **({"trace_dir": str(trace_dir)} if trace_dir is not None else {})}
        run_fresh("quant:run_arm_result", kw, path, {"model": model, "ctx": ctx, "arm": arm}, "arm", timeout_s)
    return load_arms(out_dir, model, ctx, complete=False)


def run_arm_result(**kw) -> dict:
    """``run_arm``, marked valid when at least one mode ran (the child's target)."""
    res = run_arm(**kw)
    res["valid"] = any(m.get("valid") for m in res["modes"].values())
    if not res["valid"]:
        res["reason"] = "; ".join(f"{k}: {v['reason']}" for k, v in res["modes"].items())
    return res


def load_arms(folder, model: str, ctx: int, complete: bool = True) -> list[dict]:
    """The arm results of ``model`` at ``ctx`` in ``folder``, baseline first."""
    arms = [read_arm(p, complete) for p in sorted(Path(folder).glob(f"{glob.escape(model)}-ctx{ctx}-*.json"))]
    order = {a: i for i, a in enumerate(ARMS)}
    return sorted(arms, key=lambda a: order.get(a["arm"], len(order)))
