"""The measurement protocol of every experiment: warm up, time untraced steps, then trace
a few; and ``run_decode``, a decode workload end to end (build, prefill, protocol) that
returns the trace with its workload metadata and the timings."""
from __future__ import annotations

import random
import statistics
import time

import numpy as np

from stepscope.analysis.trace import workload

from ..capture import Tracer
from ..errors import CaptureError, WorkloadError
from ..workloads.decode import Decoder, build_model, check_fits, param_bytes, resolve_model
from ..workloads.host_spin import spin_ns


def require_gpu() -> None:
    """One sentence and a CaptureError when no CUDA GPU or driver is usable."""
    try:
        import torch
    except ImportError:
        raise CaptureError("capture needs the gpu extra (PyTorch, transformers, CUPTI, NVML): "
                           "python3 -m pip install 'stepscope[gpu]'.") from None
    if not torch.cuda.is_available():
        raise CaptureError("no CUDA GPU is visible (no device, or no NVIDIA driver); "
                           "`stepscope report` reads traces without one.")


def timed_steps(fn, n: int, sync) -> list[int]:
    """Wall time of n steps, each from launch to device idle, in ns."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        sync()
        out.append(time.perf_counter_ns() - t0)
    return out


def _traced_block(step, mode, trace_steps, r, position, rng, phase_jitter_ns, **tracer_kw):
    """One traced block: a fresh tracer, one untimed step, then ``trace_steps`` traced
    steps. Returns (trace, positions, phase delays, per-step call times in ns)."""
    import torch
    positions, delays, outside = [], [], []
    with Tracer(**tracer_kw) as tracer:
        step()
        torch.cuda.synchronize()
        for i in range(trace_steps):
            if position is not None:
                positions.append(int(position()))
            if phase_jitter_ns:
                delays.append(spin_ns(rng.randrange(phase_jitter_ns + 1)))
            t0 = time.perf_counter_ns()
            with tracer.step(r * trace_steps + i, mode=mode):
                step()
            outside.append(time.perf_counter_ns() - t0)
    return tracer.trace, positions, delays, outside


def _finish(traces, blocks, positions, delays, outside, trace_steps, position, phase_jitter_ns):
    """Concatenate one kind of traced block and attach what the protocol measured."""
    from stepscope.analysis.trace.merge import concat
    trace = concat(traces)
    if position is not None:
        trace.meta["traced_positions"] = positions
    if phase_jitter_ns:
        trace.meta.setdefault("capture", {})["phase_delays_ns"] = delays
    st = trace["steps"]
    windows = (st["end_ns"] - st["start_ns"]).tolist()
    trace.meta["perturbation"] = perturbation(blocks, windows, trace_steps)
    trace.meta["perturbation"]["step_call_outside_window_ns"] = int(statistics.median(
        [w - (e - s) for w, s, e in zip(outside, st["start_ns"].tolist(), st["end_ns"].tolist())]))
    return trace


def measure(step, mode: str, warmup: int, steps: int, trace_steps: int, rounds: int = 1,
            position=None, phase_jitter_ns: int = 0, seed: int = 0, stage=None, dram_counters: int = 0,
            counter_steps=None, graph_level: list | None = None, **tracer_kw):
    """The protocol: ``warmup`` steps, then ``rounds`` rounds of [one untimed step and a
    block of untraced timed steps, then under a fresh tracer one untimed step (CUPTI's
    first-launch costs per kernel, ~2x the first eager step on an H100, stay out of the
    trace) and ``trace_steps`` traced steps]. Both blocks start with the same untimed
    step because the first step after the GPU idled (a tracer's start or stop) is slower:
    on an H200, graph replay, 9.05 ms vs 8.83 ms for the second
    (benchmarks/results/perturbation-ab-h200, arms ``untraced-cold`` and ``untraced``);
    timing it in one arm only biased the perturbation negative. The untraced steps
    (``steps`` in all) and the traced steps interleave, so drift hits both alike, and the
    trace carries its own perturbation (``meta["perturbation"]``, from ``perturbation``).
    ``position``: a callable giving the decoder's KV position before a step; the traced
    steps' positions go to ``meta["traced_positions"]`` (the floor needs them: the rounds
    leave gaps).
    ``phase_jitter_ns``: before each traced step (outside its window) the host spins a
    uniform random 0..phase_jitter_ns, so the steps meet the PM sampling grid at different
    phases (what lets ``analysis/dram_fit.py`` separate kernels shorter than a sample);
    the spins are recorded in ``meta.capture.phase_delays_ns``. ``stage(name)`` is
    called as the warm-up and as each round begins (``measure_stage_count`` calls).
    ``dram_counters``: after the rounds, that many untimed steps under CUPTI's range
    profiler fill the ``kernel_dram`` table (exact DRAM bytes per kernel,
    ``capture.counters.collect``); ``counter_steps``: ``(label, fn)`` candidates for those
    steps (default: ``step`` itself).
    ``graph_level``: a list, for a CUDA-graph replay whose graph was instantiated under
    ``capture.activity.graph_trace_instantiation``: each round then also runs a second
    traced block with graph-level records (``kernel_records="graph"``: one record per
    replay, no per-node cost), the two traced blocks in alternating order, and that
    block's trace (with its own perturbation against the same untraced blocks) is
    appended to the list.
    Returns (untraced step times in ns, trace)."""

    import torch

    rng = random.Random(seed)
    begin = stage or (lambda name: None)
    begin("warm-up")
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    rounds = max(1, min(rounds, steps))
    untraced, blocks = [], []
    kinds = {"kernel": {"traces": [], "positions": [], "delays": [], "outside": []}}
    if graph_level is not None:
        kinds["graph"] = {"traces": [], "positions": [], "delays": [], "outside": []}
    for r in range(rounds):
        begin(f"round {r + 1}/{rounds}: untraced then traced steps")
        step()                                  # untimed, as the traced block's first step
        torch.cuda.synchronize()
        block = timed_steps(step, steps // rounds + (r < steps % rounds), torch.cuda.synchronize)
        untraced += block
        blocks.append(block)
        order = list(kinds) if r % 2 == 0 else list(kinds)[::-1]
        for kind in order:
            kw = tracer_kw if kind == "kernel" else {**tracer_kw, "kernel_records": "graph"}
            tr, pos, dl, out = _traced_block(step, mode, trace_steps, r, position, rng, phase_jitter_ns, **kw)
            k = kinds[kind]
            k["traces"].append(tr)
            k["positions"] += pos
            k["delays"] += dl
            k["outside"] += out
    trace = _finish(kinds["kernel"]["traces"], blocks, kinds["kernel"]["positions"], kinds["kernel"]["delays"],
                    kinds["kernel"]["outside"], trace_steps, position, phase_jitter_ns)
    if graph_level is not None:
        g = kinds["graph"]
        graph_level.append(_finish(g["traces"], blocks, g["positions"], g["delays"], g["outside"], trace_steps,
                                   position, phase_jitter_ns))
    if dram_counters:
        from stepscope.profiler.capture.counters import collect
        begin("exact DRAM counter passes")
        collect(trace, counter_steps or [("step", step)], torch.cuda.synchronize, passes=dram_counters)
    return untraced, trace


def measure_stage_count(steps: int, rounds: int = 1, dram_counters: int = 0) -> int:
    """Stages ``measure`` announces: the warm-up, each round, and the counter passes."""
    return 1 + max(1, min(rounds, steps)) + int(bool(dram_counters))


def decode_stage_count(steps: int, rounds: int = 1, build: bool = True, dram_counters: int = 0) -> int:
    """Stages ``run_decode`` announces: the build (unless given a built model), the
    prefill, then ``measure``'s."""
    return int(build) + 1 + measure_stage_count(steps, rounds, dram_counters)


def perturbation(untraced_blocks: list[list[int]], traced_windows: list[int], per_round: int) -> dict:
    """Traced vs untraced step time of one process: median traced window / median untraced
    step - 1, with a 95% bootstrap interval over rounds (the rounds' ratios resampled)."""
    import numpy as np

    traced = [traced_windows[i * per_round:(i + 1) * per_round] for i in range(len(untraced_blocks))]
    ratios = np.array([statistics.median(t) / statistics.median(u)
                       for t, u in zip(traced, untraced_blocks) if t and u])
    out = {"method": "median traced step window / median untraced step - 1, interleaved rounds",
           "rounds": len(untraced_blocks), "traced_median_ns": int(statistics.median(traced_windows)),
           "untraced_median_ns": int(statistics.median([x for b in untraced_blocks for x in b])),
           "round_ratios": ratios.tolist()}
    out["pct"] = 100 * (statistics.median(traced_windows) / statistics.median([x for b in untraced_blocks for x in b]) - 1)
    if len(ratios) >= 3:   # scipy's percentile bootstrap of the median ratio, as the A/B uses
        from stepscope.analysis.results.ab import bootstrap_ci
        lo, hi = bootstrap_ci(ratios)
        out["ci95_pct"] = [100 * (lo - 1), 100 * (hi - 1)]
    else:
        out["ci95_pct"] = None
    return out


def decode_workload(spec, dec: Decoder, traced_steps: int, sizes: dict, mode: str | None = None,
                    positions: list[int] | None = None, **extra) -> dict:
    """``meta["workload"]`` of a decode traced with this protocol (one builder:
    ``stepscope.analysis.trace.workload.decode``); ``mode`` defaults to the decoder's;
    ``positions``: each traced step's KV position, when the protocol recorded them."""
    return workload.decode(spec.name, spec.config, dec.ctx, mode=mode or dec.mode, next_position=dec.position,
                           traced_steps=traced_steps, sizes=sizes, positions=positions, **extra)


def run_decode(model: str = "qwen2.5-7b", ctx: int = 2048, mode: str = "eager",
               warmup: int = 5, steps: int = 30, trace_steps: int = 5,
               dram_interval_ns: int = 20_000, attn: str = "sdpa", dtype: str = "bfloat16",
               built=None, progress=None, rounds: int = 1, sdpa_backend: str = "default",
               host_ops: bool = False, apis: str = "host", phase_jitter_ns: int = 0,
               host_spans: bool = False, kernel_records: str = "concurrent", stack_period_ns: int = 0,
               stage=None, dram_counters: int = 0, graph_level: bool = False):
    """Returns (trace, info). ``built`` reuses a (spec, model) pair across modes.
    ``graph_level`` (graph mode with per-kernel records): each round also traces a block
    with graph-level records (``measure``), whose trace is ``info["graph_level_trace"]``
    and whose per-step attribution is ``trace.meta["graph_level_block"]``
    (``graph_level_block``).
    ``progress(msg)`` gets messages; ``stage(name)`` is called as each stage begins
    (``decode_stage_count`` of them), each name led by the mode. ``dram_counters``: counter
    passes after the traced steps (``measure``); in graph mode on the eager static step
    (the same kernels)."""
    import torch
    require_gpu()
    say = progress or (lambda msg: None)
    begin = (lambda name: stage(f"{mode}: {name}")) if stage else None
    if built is None:
        spec = resolve_model(model)
        if begin:
            begin("building the model")
        say(f"building {spec.name} ({'checkpoint' if spec.checkpoint else 'random weights'})")
        meta_model = build_model(spec, device="meta", dtype=dtype, attn=attn) \
            if spec.checkpoint is None else None
        count = param_bytes(meta_model)["param_count"] if meta_model is not None else 0
        free, _ = torch.cuda.mem_get_info()
        check_fits(spec.config, count, ctx, warmup + steps + trace_steps + 4, free)
        t0 = time.perf_counter()
        net = build_model(spec, device="cuda", dtype=dtype, attn=attn)
        build_s = time.perf_counter() - t0
    else:
        (spec, net), build_s = built, 0.0
    rounds = max(1, rounds)
    graph_level = graph_level and mode == "graph" and kernel_records != "graph"
    dec = Decoder(net, ctx, mode, warmup + steps + rounds * (1 + (1 + graph_level) * (trace_steps + 1)) + 4
                  + dram_counters, sdpa_backend=sdpa_backend)
    if begin:
        begin(f"prefill {ctx} tokens")
    say(f"prefill {ctx} tokens, mode {mode}")
    dec.prefill()
    if (kernel_records == "graph" or graph_level) and mode == "graph":
        from stepscope.profiler.capture.activity import graph_trace_instantiation
        with graph_trace_instantiation():   # CUPTI's graph-level records need it at instantiation
            dec.capture()
    else:
        dec.capture()
    # CUPTI's range profiler rejected a CUDA-graph replay (cuptiRangeProfilerStop:
    # INVALID_PARAMETER on an H100, and the context could not be profiled again): graph mode
    # profiles the eager static step, the graph's kernels launched one by one.
    counter_steps = [("eager static step" if mode == "graph" else mode, dec.eager_static_step)]
    gl = [] if graph_level else None
    untraced, trace = measure(dec.step, mode, warmup, steps, trace_steps, rounds=rounds,
                              dram_counters=dram_counters, counter_steps=counter_steps,
                              position=lambda: dec.position, phase_jitter_ns=phase_jitter_ns, stage=begin,
                              dram_interval_ns=dram_interval_ns, modules=net, host_spans=host_spans or host_ops,
                              host_ops=host_ops, apis=apis, kernel_records=kernel_records,
                              stack_period_ns=stack_period_ns, graph_level=gl)
    gl = gl or []
    sizes = param_bytes(net)
    for t in [trace] + gl:
        t.meta["workload"] = decode_workload(
            spec, dec, trace_steps, sizes, positions=t.meta.pop("traced_positions"),
            sdpa_backend=sdpa_backend,
            weights="checkpoint" if spec.checkpoint else "random", dtype=dtype, attn=attn, batch=1,
            warmup_steps=warmup, static_cache_len=dec.max_cache_len if mode != "eager" else None,
            untraced_step_ns=untraced, build_s=round(build_s, 2))
    info = {"untraced_median_ms": statistics.median(untraced) / 1e6, "trace": trace,
            "spec": spec, "model": net, "graph_level_trace": gl[0] if gl else None}
    if gl:
        trace.meta["graph_level_block"] = graph_level_block(gl[0])
    return trace, info


#: Per-step columns of a graph-level block kept in the per-kernel trace's meta.
GRAPH_LEVEL_COLUMNS = ("step_ns", "busy_ns", "idle_ns", "floor_ns", "launch_overhead_ns", "other_idle_ns",
                       "kernels", "launch_calls")


def graph_level_block(glt) -> dict:
    """What the per-kernel trace of a graph arm keeps of its graph-level block: the
    block's per-step attribution (``GRAPH_LEVEL_COLUMNS``, capture order) and its
    perturbation against the same untraced blocks; `stepscope report` and the main job
    take the graph arm's launch and idle figures from it."""
    from stepscope.analysis.facade import TraceAnalysis
    st = TraceAnalysis(glt).get_steps()
    order = np.argsort(st["start_ns"], kind="stable")
    return {"kernel_records": "graph", "steps": {c: [int(x) for x in st[c][order]] for c in GRAPH_LEVEL_COLUMNS},
            "perturbation": glt.meta["perturbation"],
            "capture": {k: glt.meta.get("capture", {}).get(k) for k in ("dropped_records", "untimed_graph_records")}}


__all__ = ["run_decode", "require_gpu", "timed_steps", "measure", "spin_ns", "decode_workload",
           "measure_stage_count", "decode_stage_count",
           "CaptureError", "WorkloadError"]
