"""Tracer overhead: median step time with and without the tracer, interleaved.

Blocks of ``block`` steps alternate untraced / traced for ``rounds`` rounds, so that
drift (clocks, temperature) hits both arms alike. ``--torch-profiler`` measures
torch.profiler the same way; it must run in its own process (one CUPTI client).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys


def interleaved(step, sync, arms: dict, rounds: int = 5, block: int = 10) -> dict:
    """arms: name -> context-manager factory wrapping one block (None: untraced)."""
    from stepscope.profiler.experiments.protocol import timed_steps
    times = {name: [] for name in arms}
    for _ in range(rounds):
        for name, make in arms.items():
            if make is None:
                times[name] += timed_steps(step, block, sync)
            else:
                with make() as ctx:
                    for _ in range(block):
                        times[name] += ctx(step, sync)
    return times


def tracer_arm(windows: list, **tracer_kw):
    """Wall time per step (the tracer's work between steps included); the trace's own
    step windows (launch to device idle, what stepscope reports) go to ``windows``."""
    from contextlib import contextmanager

    from stepscope.profiler.capture import Tracer

    @contextmanager
    def make():
        import time
        tr = Tracer(warn=lambda m: None, **tracer_kw)
        with tr:
            i = [0]

            def one(step, sync):
                t0 = time.perf_counter_ns()
                with tr.step(i[0]):
                    step()
                i[0] += 1
                return [time.perf_counter_ns() - t0]
            yield one
        st = tr.trace["steps"]
        windows.extend((st["end_ns"] - st["start_ns"]).tolist())
    return make


def torch_profiler_arm(cpu: bool):
    from contextlib import contextmanager

    import torch
    acts = [torch.profiler.ProfilerActivity.CUDA]
    if cpu:
        acts.insert(0, torch.profiler.ProfilerActivity.CPU)

    @contextmanager
    def make():
        import time
        with torch.profiler.profile(activities=acts):
            def one(step, sync):
                t0 = time.perf_counter_ns()
                step()
                sync()
                return [time.perf_counter_ns() - t0]
            yield one
    return make


def summarize(times: dict, base: str = "untraced") -> dict:
    med = {k: statistics.median(v) for k, v in times.items()}
    return {k: {"median_ms": med[k] / 1e6, "n": len(times[k]),
                "overhead_pct": 100 * (med[k] / med[base] - 1)} for k in times}


def decode_workloads(model="qwen2.5-7b", ctx=2048, modes=("eager", "eager-static", "graph"),
                     built=None):
    """(mode, step) pairs on one built model; decoders sized for the benchmark's steps."""
    from stepscope.profiler.workloads.decode import Decoder
    spec, net = built
    for mode in modes:
        dec = Decoder(net, ctx, mode, 400)
        dec.prefill()
        dec.capture()
        for _ in range(5):
            dec.step()
        yield mode, dec.step


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-7b")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--torch-profiler", action="store_true")
    ap.add_argument("--kineto-out", help="also export one torch.profiler trace of 3 steps here")
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args(argv)
    import torch

    from stepscope.profiler.workloads.decode import build_model, resolve_model
    spec = resolve_model(a.model)
    net = build_model(spec)
    sync = torch.cuda.synchronize
    result = {"model": spec.name, "ctx": a.ctx, "rounds": a.rounds, "block": a.block,
              "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "modes": {}}
    for mode, step in decode_workloads(a.model, a.ctx, built=(spec, net)):
        if a.torch_profiler:
            arms = {"untraced": None, "torch_profiler_cuda": torch_profiler_arm(False),
                    "torch_profiler_cpu_cuda": torch_profiler_arm(True)}
        else:
            windows: list = []
            arms = {"untraced": None, "stepscope_wall": tracer_arm(windows)}
        times = interleaved(step, sync, arms, a.rounds, a.block)
        if not a.torch_profiler:
            times["stepscope_window"] = windows
        result["modes"][mode] = {"summary": summarize(times), "step_ns": times}
        print(mode, json.dumps(result["modes"][mode]["summary"]), flush=True)
        if a.kineto_out and mode == "eager":
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                    torch.profiler.ProfilerActivity.CUDA]) as prof:
                for i in range(3):
                    with torch.profiler.record_function(f"ProfilerStep#{i}"):
                        step()
                        sync()
            prof.export_chrome_trace(a.kineto_out)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
