"""`stepscope ab`: eager vs CUDA-graph (and torch.compile) over fresh sessions.

Each session is a fresh process (``python -m profiler.ab --session``) that builds the
model anew and runs every arm with the paper's protocol (warm-up, then untimed-by-
tracer measured steps), plus one traced step per arm for its attribution. Sessions
are written to ``DIR/session-NN.json`` atomically as they finish; a rerun skips the
sessions already there (resume).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from analysis.atomic import write_json

from .session import ROOT

ARMS = ("eager-static", "graph", "eager", "compile")


def run_session(model: str, ctx: int, arms: list[str], warmup: int, steps: int) -> dict:
    import torch

    from analysis.facade import TraceAnalysis

    from .session import measure, require_gpu
    from .workloads import Decoder, build_model, param_bytes, resolve_model
    require_gpu()
    spec = resolve_model(model)
    t0 = time.perf_counter()
    net = build_model(spec)
    out = {"model": spec.name, "ctx": ctx, "gpu": torch.cuda.get_device_name(),
           "build_s": time.perf_counter() - t0, "arms": {}, "pid": os.getpid()}
    for arm in arms:
        dec = Decoder(net, ctx, "eager-static" if arm == "compile" else arm, warmup + steps + 12)
        dec.prefill()
        if arm == "compile":
            step = _compiled_step(dec)
        else:
            dec.capture()
            step = dec.step
        ns, trace = measure(step, arm, warmup, steps, 1, warn=lambda m: None)
        trace.meta["workload"] = {"kind": "decode", "model": spec.name, "config": spec.config,
                                  "ctx": ctx, "mode": arm,
                                  "first_traced_position": ctx + dec.steps_done - 1,
                                  **param_bytes(net)}
        s = TraceAnalysis(trace).get_steps()
        out["arms"][arm] = {"step_ns": ns, "median_ms": statistics.median(ns) / 1e6,
                            "traced": {k: int(s[k][0]) for k in (
                                "step_ns", "busy_ns", "floor_ns", "launch_overhead_ns",
                                "other_idle_ns", "kernels", "launch_calls")}}
        del dec
    return out


def _compiled_step(dec):
    """The eager-static step under torch.compile(mode='reduce-overhead'): fused kernels,
    replayed through CUDA graphs by inductor."""
    import torch
    model = dec.model
    fwd = torch.compile(model.forward, mode="reduce-overhead", fullgraph=False)

    def step():
        with torch.inference_mode():
            out = fwd(input_ids=dec.tok, past_key_values=dec.cache, cache_position=dec.pos,
                      position_ids=dec.pos.unsqueeze(0), use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            dec.tok.copy_(nxt)
            dec.pos.add_(1)
        dec.steps_done += 1
    return step


def run_ab(model: str, ctx: int, sessions: int, arms: list[str], out_dir: Path,
           warmup: int = 5, steps: int = 30, progress=print) -> list[dict]:
    """Run the missing sessions, each in a fresh process; return all session results."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = {"model": model, "ctx": ctx, "arms": arms, "warmup": warmup, "steps": steps}
    spec_path = out_dir / "ab.json"
    if spec_path.exists():
        old = json.loads(spec_path.read_text())
        if any(old.get(k) != v for k, v in spec.items()):
            raise ValueError(f"{out_dir} holds an A/B with other settings ({old}); use another folder.")
    else:
        write_json(spec_path, spec)
    t_start, done_now = time.time(), 0
    for i in range(sessions):
        path = out_dir / f"session-{i:02d}.json"
        if path.exists():
            continue
        eta = ""
        if done_now:
            left = sum(not (out_dir / f"session-{j:02d}.json").exists() for j in range(i, sessions))
            eta = f", about {(time.time() - t_start) / done_now * left:.0f} s left"
        progress(f"session {i + 1}/{sessions}{eta}")
        cmd = [sys.executable, "-m", "profiler.ab", "--session", "--model", model, "--ctx", str(ctx),
               "--arms", ",".join(arms), "--warmup", str(warmup), "--steps", str(steps),
               "-o", str(path)]
        r = subprocess.run(cmd, cwd=ROOT)
        if r.returncode != 0:
            raise RuntimeError(f"session {i} failed (exit {r.returncode}); finished sessions are kept.")
        done_now += 1
    return load_sessions(out_dir)


def load_sessions(out_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out_dir.glob("session-*.json"))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--session", action="store_true")
    ap.add_argument("--model", default="qwen2.5-7b")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--arms", default="eager-static,graph")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    res = run_session(a.model, a.ctx, a.arms.split(","), a.warmup, a.steps)
    write_json(Path(a.output), res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
