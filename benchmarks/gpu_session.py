"""One GPU session's captures, batched (device time is scarce): run on the GPU machine as

    python3 benchmarks/gpu_session.py --out $OUT [--stages synthetic,decode,modes,overhead]

Writes traces (*.stepscope), JSON results and a log under --out; prints a table last.
Every stage is independent: a failure is logged with its traceback and the next runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stages import ROWS, stage  # noqa: E402 - benchmarks/ is the script's folder


@stage
def env(out):
    import torch
    import transformers
    info = {"torch": torch.__version__, "transformers": transformers.__version__,
            "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(),
            "python": sys.version.split()[0]}
    from stepscope.profiler.capture.nvml import Nvml
    nv = Nvml(0)
    info["nvml"] = nv.describe()
    info["nvml_sample"] = nv.sample()
    print(json.dumps(info, indent=1))
    (out / "env.json").write_text(json.dumps(info, indent=1))


@stage
def synthetic(out, tag):
    import torch

    from stepscope.analysis.trace import workload
    from stepscope.profiler.capture import Tracer
    from stepscope.profiler.workloads.synthetic import SyntheticStep
    w = SyntheticStep()
    w.eager()
    w.capture()
    torch.cuda.synchronize()
    with Tracer() as tr:
        for i in range(3):
            with tr.step(i, mode="eager"):
                w.eager()
        for i in range(3, 6):
            with tr.step(i, mode="graph"):
                w.replay()
    t = tr.trace
    b = w.bytes_by_construction
    t.meta["workload"] = workload.constructed(
        "synthetic", b["copy_read_bytes"] + b["copy_write_bytes"] + b["gemv_read_bytes"],
        "copy 256 MiB bf16, GEMV 8192x8192 bf16, 200 x (mul_, add_) on 1024 floats", **b)
    t.save(out / f"synthetic-{tag}.stepscope")
    k = t["kernels"]
    print("synthetic kernels per step:", [int((k["step"] == s).sum()) for s in range(6)],
          "api:", [int((t["api"]["step"] == s).sum()) for s in range(6)],
          "pm samples:", t.n("pm"), "meta.capture:", json.dumps(t.meta["capture"]))


@stage
def decode(out, tag, models, ctx, trace_steps):
    import gc

    import torch

    from stepscope.profiler.experiments.protocol import run_decode
    from stepscope.profiler.workloads.decode import build_model, resolve_model
    summary = {}
    for name in models:
        spec = resolve_model(name)
        t0 = time.time()
        net = build_model(spec)
        torch.cuda.synchronize()
        print(f"built {name} in {time.time() - t0:.1f}s", flush=True)
        for mode in ("eager", "eager-static", "graph"):
            try:
                trace, info = run_decode(name, ctx, mode, trace_steps=trace_steps, built=(spec, net))
                p = trace.save(out / f"{name}-ctx{ctx}-{mode}-{tag}.stepscope")
                k = trace["kernels"]
                steps = trace["steps"]
                per = [int((k["step"] == s).sum()) for s in steps["index"]]
                tr_ms = [(e - s) / 1e6 for s, e in zip(steps["start_ns"], steps["end_ns"])]
                summary[f"{name}/{mode}"] = {"untraced_median_ms": info["untraced_median_ms"],
                                             "traced_ms": tr_ms, "kernels_per_step": per,
                                             "size_bytes": p.stat().st_size,
                                             "capture": trace.meta["capture"]}
                ROWS.append(f"  {name:<16} {mode:<13} {info['untraced_median_ms']:7.2f} ms  "
                            f"traced {min(tr_ms):7.2f}  kernels {per[0]}")
            except Exception:  # noqa: BLE001
                traceback.print_exc()
                ROWS.append(f"  {name:<16} {mode:<13} FAILED")
        if name == models[0]:
            try:
                summary[f"{name}/mode_check"] = mode_check(spec, net, ctx)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        del net
        gc.collect()
        torch.cuda.empty_cache()
    (out / f"decode-{tag}.json").write_text(json.dumps(summary, indent=1))


def mode_check(spec, net, ctx):
    """Logits agreement: eager vs eager-static (prefill, first step); graph vs eager-static."""
    import torch

    from stepscope.profiler.workloads.decode import Decoder

    def rel(a, b):
        return float((a - b).norm() / b.norm())
    runs = {}
    for mode in ("eager", "eager-static"):
        d = Decoder(net, ctx, mode, 8)
        pre = d.prefill()
        logits = []
        for _ in range(3):
            d.step()
            logits.append(d.last_logits.cpu())
        runs[mode] = (pre, logits)
    g = Decoder(net, ctx, "graph", 8)
    g.prefill()
    g.capture()
    g.step()
    torch.cuda.synchronize()
    graph_logits = g.last_logits.cpu()
    res = {"prefill_rel_err_static_vs_eager": rel(runs["eager-static"][0], runs["eager"][0]),
           "step1_rel_err_static_vs_eager": rel(runs["eager-static"][1][0], runs["eager"][1][0]),
           "step3_rel_err_graph_vs_static": rel(graph_logits, runs["eager-static"][1][2]),
           "step1_argmax_equal": bool(runs["eager-static"][1][0].argmax() == runs["eager"][1][0].argmax())}
    print("mode check:", res)
    ROWS.append(f"  mode check {json.dumps(res)}")
    return res


@stage
def overhead(out, tag, rounds):
    env_ = dict(os.environ)
    for flag, name in (([], "stepscope"), (["--torch-profiler", "--kineto-out",
                                            str(out / f"kineto-qwen-eager-{tag}.json")], "torch_profiler")):
        cmd = [sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--rounds", str(rounds),
               "-o", str(out / f"overhead-{name}-{tag}.json"), *flag]
        r = subprocess.run(cmd, env=env_, cwd=ROOT)
        ROWS.append(f"  overhead {name}: exit {r.returncode}")


@stage
def calibrate(out, tag):
    r = subprocess.run([sys.executable, "-m", "stepscope", "calibrate", "-o", str(out / f"calibration-{tag}.json"),
                        "--chain", str(out / f"chain-{tag}.stepscope")], cwd=ROOT)
    ROWS.append(f"  calibrate: exit {r.returncode}")
    if r.returncode:
        raise RuntimeError("calibrate failed")


@stage
def ab(out, tag, sessions, arms):
    cal = out / f"calibration-{tag}.json"
    cmd = [sys.executable, "-m", "stepscope", "ab", "--sessions", str(sessions), "--arms", arms,
           "-o", str(out / f"ab-{tag}")] + (["--calibration", str(cal)] if cal.exists() else [])
    r = subprocess.run(cmd, cwd=ROOT)
    ROWS.append(f"  ab: exit {r.returncode}")
    if r.returncode:
        raise RuntimeError("ab failed")


@stage
def sweep(out, tag, models, ctxs, modes):
    r = subprocess.run([sys.executable, "-m", "stepscope", "sweep", "--models", models, "--ctx", ctxs,
                        "--modes", modes, "-o", str(out / f"sweep-{tag}")], cwd=ROOT)
    ROWS.append(f"  sweep: exit {r.returncode}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tag", default="h100")
    ap.add_argument("--stages", default="env,synthetic,decode,overhead")
    ap.add_argument("--models", default="qwen2.5-7b,llama-3.1-8b,mistral-7b-v0.3")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--trace-steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--arms", default="eager-static,graph,eager")
    ap.add_argument("--sweep-models", default="qwen2.5-7b,llama-3.1-8b,mistral-7b-v0.3")
    ap.add_argument("--sweep-ctx", default="2048,4096,8192,16384")
    ap.add_argument("--sweep-modes", default="eager,graph")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    st = a.stages.split(",")
    if "env" in st:
        env(out)
    if "synthetic" in st:
        synthetic(out, a.tag)
    if "decode" in st:
        decode(out, a.tag, a.models.split(","), a.ctx, a.trace_steps)
    if "overhead" in st:
        overhead(out, a.tag, a.rounds)
    if "calibrate" in st:
        calibrate(out, a.tag)
    if "ab" in st:
        ab(out, a.tag, a.sessions, a.arms)
    if "sweep" in st:
        sweep(out, a.tag, a.sweep_models, a.sweep_ctx, a.sweep_modes)
    print("\n".join(ROWS))


if __name__ == "__main__":
    main()
