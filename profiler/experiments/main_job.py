"""The main job's GPU half (`stepscope` with no subcommand): build one decode model and
trace it in each mode (default: eager with the static cache the graph replays, then the
CUDA-graph replay), each with the measurement protocol of ``protocol.run_decode``.
Comparing the traces is ``stepscope.analysis.compare_modes``; this module only runs arms.
"""
from __future__ import annotations

import time
from pathlib import Path

from .protocol import decode_stage_count, require_gpu, run_decode

DEFAULT_MODES = ("eager-static", "graph")


def trace_name(model: str, ctx: int, mode: str) -> str:
    """File name of one arm's trace: the shipped traces' pattern without the GPU suffix."""
    return f"{model}-ctx{ctx}-{mode}.stepscope"


def graph_level_path(path: Path) -> Path:
    """Where the graph-level block of a graph arm's trace ``path`` is saved."""
    return Path(path).with_name(Path(path).name.replace(".stepscope", "-graphlevel.stepscope"))


def arm_rounds(trace_steps: int) -> tuple[int, int]:
    """(rounds, traced steps per round) of one arm: up to 5 interleaved rounds of the
    ``trace_steps`` traced steps (issue 28: interleaving keeps drift out of the
    traced/untraced comparison and gives the untraced-equivalent interval its rounds)."""
    rounds = max(1, min(5, trace_steps))
    return rounds, max(1, trace_steps // rounds)


def stage_count(modes, steps: int, trace_steps: int = 5) -> int:
    """Stages ``run_arms`` announces: the build, then each mode's ``run_decode`` stages."""
    return 1 + len(modes) * decode_stage_count(steps, rounds=arm_rounds(trace_steps)[0], build=False)


def run_arms(model: str, ctx: int, modes, out_dir: Path, warmup: int = 5, steps: int = 30,
             trace_steps: int = 5, dram_interval_ns: int = 20_000, progress=None, stage=None) -> list[Path]:
    """Build the model once, run and trace each mode, save each trace in ``out_dir``;
    return their paths in ``modes`` order. ``progress(msg)`` gets messages;
    ``stage(name)`` is called as each stage begins (``stage_count`` of them: the build,
    then each mode's prefill, warm-up and measured rounds, ``arm_rounds``)."""
    import torch
    require_gpu()
    from ..workloads.decode import build_model, check_fits, param_bytes, resolve_model
    say = progress or (lambda msg: None)
    begin = stage or (lambda name: None)
    begin("building the model")
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
    for mode in modes:
        # The graph arm also traces a graph-level block per round (its launch and idle
        # figures: per-kernel records lengthen a replay, issue 28); its trace is saved beside.
        rounds, per_round = arm_rounds(trace_steps)
        trace, info = run_decode(spec.name, ctx, mode, warmup, steps, per_round,
                                 dram_interval_ns=dram_interval_ns, built=(spec, net), progress=say, stage=begin,
                                 rounds=rounds, graph_level=mode == "graph")
        trace.meta["workload"]["build_s"] = round(build_s, 2)
        path = Path(out_dir) / trace_name(spec.name, ctx, mode)
        trace.save(path)
        paths.append(path)
        if info.get("graph_level_trace") is not None:
            info["graph_level_trace"].save(graph_level_path(path))
        del trace, info
        torch.cuda.empty_cache()
    return paths
