"""`stepscope report` as JSON: every table of the facade, numbers as JSON numbers
(NaN and infinities as null)."""
from __future__ import annotations

import json

import numpy as np

from ..facade import TraceAnalysis


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


class JsonRenderer:
    def render(self, a: TraceAnalysis) -> str:
        steps = {k: v for k, v in a.get_steps().items() if k != "mode"}
        steps["mode"] = [a.trace.strings[m] for m in a.get_steps()["mode"]]
        return json.dumps(_jsonable({
            "summary": a.get_summary(), "steps": steps,
            "kernel_classes": a.get_kernel_classes(), "top_kernels": a.get_top_kernels(10),
            "gap_histogram": a.get_gap_histogram(), "hta_comparison": a.get_hta_comparison(),
            "unmodelled_bytes": a.get_unmodelled_bytes(), "host": a.get_host(),
            "dram": a.get_dram(), "dram_kernels": a.get_dram_kernels(),
            **({"stacks": a.get_stacks()} if a.trace.n("stack_samples") else {})}), indent=1)
