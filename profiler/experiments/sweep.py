"""`stepscope sweep`: the paper's grid, one fresh process per cell, resumable.

Run: each cell (model, ctx, mode) runs in a fresh process (``runner``) and writes
``DIR/cells/<model>-ctx<N>-<mode>.json`` atomically; a rerun skips finished cells. A cell
that cannot run (does not fit, too long for the model, crashed) is recorded as invalid
with its reason, and the sweep goes on. Load: ``load_cells``. Summarise:
``stepscope.analysis.results.sweep``.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from .files import read_cell
from .runner import each, run_fresh


def cell_name(model: str, ctx: int, mode: str) -> str:
    return f"{model}-ctx{ctx}-{mode}"


def run_cell(model: str, ctx: int, mode: str, warmup: int, steps: int, trace_steps: int) -> dict:
    import torch

    from stepscope.analysis.facade import TraceAnalysis

    from ..errors import CaptureError, WorkloadError
    from .protocol import run_decode
    cell = {"model": model, "ctx": ctx, "mode": mode}
    try:
        trace, info = run_decode(model, ctx, mode, warmup, steps, trace_steps)
    except (WorkloadError, CaptureError) as e:
        return {**cell, "valid": False, "reason": str(e)}
    except torch.OutOfMemoryError:
        return {**cell, "valid": False, "reason": "out of GPU memory"}
    a = TraceAnalysis(trace)
    m = next(iter(a.get_summary()["modes"].values()))
    ns = trace.meta["workload"]["untraced_step_ns"]
    q = sorted(ns)
    return {**cell, "valid": True, "gpu": trace.meta["gpu"]["name"],
            "peak_bytes_per_s": trace.meta["gpu"]["peak_bytes_per_s"],
            "median_ms": statistics.median(ns) / 1e6, "p10_ms": q[len(q) // 10] / 1e6,
            "p90_ms": q[(9 * len(q)) // 10] / 1e6, "steps": len(ns),
            "traced_median_ms": m["step_ms"], "floor_ms": m["floor_ms"], "floor_all_ms": m["floor_all_ms"],
            "pct_floor": 100 * m["floor_ms"] / (statistics.median(ns) / 1e6),
            "pct_floor_all": 100 * m["floor_all_ms"] / (statistics.median(ns) / 1e6),
            "kernels": m["kernels"], "launch_share": m["launch_overhead_ms"] / m["step_ms"],
            "kernel_inefficiency_share": m["kernel_inefficiency_ms"] / m["step_ms"],
            "dram_gb": m["dram_gb"], "dram_gb_per_s_busy": m["dram_gb"] / (m["busy_ms"] / 1e3),
            "sm_clock_mhz": m["sm_clock_mhz"], "mem_clock_mhz": m["mem_clock_mhz"],
            "throttle_reasons": m["throttle_reasons"]}


def run_sweep(models, ctxs, modes, out_dir: Path, warmup=5, steps=30, trace_steps=2,
              progress=print, timeout_s: int = 900) -> list[dict]:
    cells_dir = out_dir / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    grid = [(m, c, mo) for m in models for c in ctxs for mo in modes]
    todo = [g for g in grid if not (cells_dir / f"{cell_name(*g)}.json").exists()]
    progress(f"{len(grid)} cells, {len(grid) - len(todo)} already done")
    for model, ctx, mode in each(todo, progress, lambda g: cell_name(*g)):
        run_fresh("sweep:run_cell", {"model": model, "ctx": ctx, "mode": mode, "warmup": warmup,
                                     "steps": steps, "trace_steps": trace_steps},
                  cells_dir / f"{cell_name(model, ctx, mode)}.json",
                  {"model": model, "ctx": ctx, "mode": mode}, "cell", timeout_s)
    return load_cells(out_dir, complete=False)


def load_cells(folder, complete: bool = True) -> list[dict]:
    """The cell results of a sweep folder; ValueError if it holds none or one is broken."""
    if not Path(folder).is_dir():
        raise ValueError(f"{folder} is not a folder (a sweep's output folder holds cells/*.json).")
    cells = [read_cell(p, complete) for p in sorted(Path(folder, "cells").glob("*.json"))]
    if not cells:
        raise ValueError(f"{folder} holds no sweep cells (expected {folder}/cells/*.json).")
    return cells
