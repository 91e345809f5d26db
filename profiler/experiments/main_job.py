"""The main job's GPU half (`stepscope` with no subcommand): build one decode model and
trace it in each mode (default: eager with the static cache the graph replays, then the
CUDA-graph replay), each with the measurement protocol of ``protocol.run_decode``.
Comparing the traces is ``stepscope.analysis.compare_modes``; this module only runs arms.
"""
from __future__ import annotations

import time
from pathlib import Path

from .protocol import require_gpu, run_decode

DEFAULT_MODES = ("eager-static", "graph")


def trace_name(model: str, ctx: int, mode: str) -> str:
    """File name of one arm's trace: the shipped traces' pattern without the GPU suffix."""
    return f"{model}-ctx{ctx}-{mode}.stepscope"


def run_arms(model: str, ctx: int, modes, out_dir: Path, warmup: int = 5, steps: int = 30,
             trace_steps: int = 5, dram_interval_ns: int = 20_000, progress=None, stage=None) -> list[Path]:
    """Build the model once, run and trace each mode, save each trace in ``out_dir``;
    return their paths in ``modes`` order. ``progress(msg)`` gets messages;
    ``stage(next_label)`` is called as each stage (the build, then one per mode) ends,
    with the name of what comes next."""
    import torch
    require_gpu()
    from ..workloads.decode import build_model, check_fits, param_bytes, resolve_model
    say = progress or (lambda msg: None)
    done = stage or (lambda label: None)
    spec = resolve_model(model)
    n_new = warmup + steps + trace_steps + 4
    say(f"building {spec.name} ({'checkpoint' if spec.checkpoint else 'random weights'}) on the GPU")
    if spec.checkpoint is None:
        count = param_bytes(build_model(spec, device="meta"))["param_count"]
        free, _ = torch.cuda.mem_get_info()
        # One model, and one static cache per mode alive at a time.
        check_fits(spec.config, count, ctx, n_new, free)
    t0 = time.perf_counter()
    net = build_model(spec, device="cuda")
    build_s = time.perf_counter() - t0
    say(f"built {spec.name} in {build_s:.0f} s")
    paths = []
    for i, mode in enumerate(modes):
        if i == 0:
            done(f"tracing {mode}")
        trace, _ = run_decode(spec.name, ctx, mode, warmup, steps, trace_steps,
                              dram_interval_ns=dram_interval_ns, built=(spec, net), progress=say)
        trace.meta["workload"]["build_s"] = round(build_s, 2)
        path = Path(out_dir) / trace_name(spec.name, ctx, mode)
        trace.save(path)
        paths.append(path)
        del trace
        torch.cuda.empty_cache()
        done(f"tracing {modes[i + 1]}" if i + 1 < len(modes) else "comparing")
    return paths
