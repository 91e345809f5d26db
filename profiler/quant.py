"""`stepscope quant`: do quantised weight paths turn their byte savings into time?

Arms (random bf16 weights quantised at load, no downloads):
- ``bf16``: the baseline;
- ``bnb-nf4``: bitsandbytes 4-bit NF4, every Linear but lm_head (transformers'
  BitsAndBytesConfig default), bf16 compute: the paper's bnb-nf4;
- ``torchao-int8wo``: torchao int8 weight-only, per-row scales, every Linear;
- ``torchao-int4wo``: torchao int4 weight-only, group size 128, tinygemm layout
  (``tile_packed_to_4d``, torch's own ``_weight_int4pack_mm``), every Linear.
AutoAWQ+Marlin and GPTQ+ExLlamaV2 are not reproduced yet; the README says what the
registry offers for them and what adding them would take.

Each arm runs in a fresh process (``python -m profiler.quant --arm``) and writes one
JSON; a failing arm is recorded as invalid with its reason. Weight bytes are measured
(device memory held by the quantised model: weights, scales and zero points).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from pathlib import Path

from analysis.atomic import write_json
from analysis.quant import ARM_ORDER as ARMS
from analysis.quant import load_arms

from .session import run_fresh


def quantize(model, arm: str) -> str:
    """Quantise ``model`` in place; returns the library and version used."""
    import torch
    if arm == "bf16":
        return f"torch {torch.__version__}"
    if arm == "bnb-nf4":
        import bitsandbytes as bnb
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Linear) and name != "lm_head":
                    new = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                            compute_dtype=torch.bfloat16, quant_type="nf4", device="meta")
                    new.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False,
                                                   quant_type="nf4").to(child.weight.device)
                    if child.bias is not None:
                        new.bias = child.bias
                    setattr(parent, name, new)
        return f"bitsandbytes {bnb.__version__}"
    import torchao
    from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig, quantize_
    if arm == "torchao-int8wo":
        quantize_(model, Int8WeightOnlyConfig())
    elif arm == "torchao-int4wo":
        quantize_(model, Int4WeightOnlyConfig(group_size=128, int4_packing_format="tile_packed_to_4d"))
    else:
        raise ValueError(f"unknown arm {arm!r}")
    return f"torchao {torchao.__version__}"


def run_arm(model_name: str, ctx: int, arm: str, warmup: int, steps: int, trace_steps: int,
            trace_dir: Path | None = None) -> dict:
    import numpy as np
    import torch

    from analysis.facade import TraceAnalysis
    from analysis.kernels import KernelClass, classify_names, short_name

    from .session import measure, require_gpu
    from .workloads import Decoder, build_model, param_bytes, resolve_model
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
    workload = {"kind": "decode", "model": spec.name, "config": spec.config, "ctx": ctx,
                "quant": arm, "param_bytes": out["weight_bytes"],
                "input_embedding_bytes": pb["input_embedding_bytes"],
                "embedding_row_bytes": pb["embedding_row_bytes"], "tied_embeddings": pb["tied_embeddings"]}
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
        trace.meta["workload"] = {**workload, "mode": mode,
                                  "first_traced_position": ctx + dec.steps_done - trace_steps,
                                  "untraced_step_ns": ns}
        if trace_dir:
            trace.save(trace_dir / f"{spec.name}-ctx{ctx}-{arm}-{mode}.stepscope")
        a = TraceAnalysis(trace)
        m = next(iter(a.get_summary()["modes"].values()))
        kc = a.get_kernel_classes()
        k = trace["kernels"]
        cls = classify_names(trace.strings, k["name"])
        mat = np.isin(cls, [KernelClass.GEMM, KernelClass.DEQUANT]) & (k["step"] >= 0)
        names, counts = np.unique(k["name"][mat], return_counts=True)
        top = sorted(zip(counts.tolist(), names.tolist()), reverse=True)[:4]
        out["modes"][mode] = {
            "valid": True, "median_ms": statistics.median(ns) / 1e6, "step_ns": ns,
            "traced_ms": m["step_ms"], "floor_ms": m["floor_ms"], "model_gb": m["model_gb"],
            "dram_gb": m["dram_gb"], "busy_ms": m["busy_ms"], "launch_overhead_ms": m["launch_overhead_ms"],
            "kernels": m["kernels"],
            "classes": {c: {"count": float(n), "ms": float(t) / 1e6} for c, n, t in
                        zip(kc["class"], kc["count_per_step"], kc["time_ns_per_step"])},
            "matmul_kernels": [{"name": short_name(trace.strings[n], 90),
                                "per_step": c / len(trace["steps"]["index"])} for c, n in top]}
    return out


def run_quant(model: str, ctx: int, arms: list[str], out_dir: Path, warmup=5, steps=30, trace_steps=2,
              progress=print, timeout_s: int = 900) -> list[dict]:
    """Each missing arm in a fresh process; a crash is recorded as an invalid arm."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, arm in enumerate(arms):
        path = out_dir / f"{model}-ctx{ctx}-{arm}.json"
        if path.exists():
            continue
        progress(f"[{i + 1}/{len(arms)}] {arm}")
        run_fresh("profiler.quant", ["--arm", arm, "--model", model, "--ctx", str(ctx), "--warmup", str(warmup),
                                     "--steps", str(steps), "--trace-steps", str(trace_steps)],
                  path, {"model": model, "ctx": ctx, "arm": arm}, "arm", timeout_s)
    return load_arms(out_dir, model, ctx)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arm", required=True, choices=ARMS)
    ap.add_argument("--model", default="qwen2.5-7b")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--trace-steps", type=int, default=2)
    ap.add_argument("--trace-dir")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    try:
        res = run_arm(a.model, a.ctx, a.arm, a.warmup, a.steps, a.trace_steps,
                      Path(a.trace_dir) if a.trace_dir else None)
        res["valid"] = any(m.get("valid") for m in res["modes"].values())
        if not res["valid"]:
            res["reason"] = "; ".join(f"{k}: {v['reason']}" for k, v in res["modes"].items())
    except Exception as e:  # noqa: BLE001 - recorded, not raised: the sweep goes on
        traceback.print_exc()
        res = {"model": a.model, "ctx": a.ctx, "arm": a.arm, "valid": False,
               "reason": f"{type(e).__name__}: {str(e)[:300]}"}
    write_json(Path(a.output), res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
