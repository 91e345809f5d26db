"""The main job's text (`stepscope` with no subcommand): two arms side by side, the
predicted and measured graph speedup, and a one-line verdict, from
``analysis.compare_modes.compare``."""
from __future__ import annotations

import json

from .json_report import _jsonable

PART_LABELS = {"floor_ms": "memory floor (bytes read / peak)",
               "kernel_inefficiency_ms": "kernel inefficiency (busy - floor)",
               "launch_overhead_ms": "launch overhead (GPU waited for CPU)",
               "other_idle_ms": "other idle (queued, sync, copy, other)",
               "busy_ms": "busy (kernels, copies, sets)"}
SHORT = {"floor_ms": "the memory floor", "kernel_inefficiency_ms": "kernel inefficiency",
         "launch_overhead_ms": "launch overhead", "other_idle_ms": "other idle", "busy_ms": "GPU busy time"}


def verdict(c: dict) -> str:
    """One line: is the baseline launch-bound, what graphs buy, and what is left."""
    b, g = c["arms"]
    what = (f"launch-bound: the GPU waits for the CPU {100 * c['base_launch_share']:.0f}% of the {b['mode']} step"
            if c["launch_bound"] else
            f"not launch-bound: launch overhead is {100 * c['base_launch_share']:.0f}% of the {b['mode']} step")
    if c["predicted_speedup"] is None:
        return (f"verdict: {what}; {g['mode']} is {c['measured_speedup']:.2f}x as fast; what is left is mostly "
                f"{SHORT[c['graph_largest_part']]} ({100 * c['graph_largest_share']:.0f}% of the {g['mode']} step).")
    off = 100 * (c["predicted_speedup"] / c["measured_speedup"] - 1)
    pred = (f"predicted {c['predicted_speedup']:.2f}x from its attribution, "
            + (f"within {100 * c['tolerance']:.0f}%" if c["explained"] else f"{off:+.1f}%: not launch overhead alone"))
    return (f"verdict: {what}; CUDA graphs make it {c['measured_speedup']:.2f}x faster ({pred}); "
            f"what is left is mostly {SHORT[c['graph_largest_part']]} "
            f"({100 * c['graph_largest_share']:.0f}% of the graph step).")


def render(c: dict, source: str) -> str:
    b, g = c["arms"]
    floor = b["floor_known"] and g["floor_known"]
    w = [f"stepscope: {c['model']}  ctx {c['ctx']}  on {c['gpu']}  ({source})", ""]
    col = 20
    w.append(f"{'':<44}{b['mode']:>{col}}{g['mode']:>{col}}")

    def row(label, vb, vg):
        w.append(f"  {label:<42}{vb:>{col}}{vg:>{col}}")

    def ms(a, key):
        return f"{a[key]:.3f} ms"

    row("step, untraced median", *(f"{a['untraced_step_ms']:.3f} ms" if a["untraced_step_ms"] else "n/a"
                                   for a in (b, g)))
    row("step, traced median", ms(b, "step_ms"), ms(g, "step_ms"))
    row("kernels / launch calls per step", *(f"{a['kernels']:.0f} / {a['launch_calls']:.0f}" for a in (b, g)))
    w.append("  attribution of the traced step (median)")
    keys = ["floor_ms", "kernel_inefficiency_ms"] if floor else ["busy_ms"]
    for k in keys + ["launch_overhead_ms", "other_idle_ms"]:
        row("  " + PART_LABELS[k], *(f"{a[k]:.3f} ms {100 * a[k] / a['step_ms']:5.1f}%" for a in (b, g)))
    if floor:
        row("% of floor (bytes read)", *(f"{a['pct_floor']:.1f}%" for a in (b, g)))
    else:
        w.append("  floor unknown: pass --model and --ctx")
    w.append("")
    what = "graph speedup" if g["mode"] == "graph" else f"{g['mode']} speedup"
    w.append(f"{what}, measured: {c['measured_speedup']:.3f}x ({b['mode']} / {g['mode']} step, "
             f"{c['speedup_source']} medians)")
    if c["predicted_speedup"] is None:
        w.append(f"{what}, predicted: none (the prediction models a CUDA-graph replay; {g['mode']} is not one)")
        w.append(verdict(c))
        return "\n".join(w)
    w.append(f"graph speedup, predicted: {c['predicted_speedup']:.3f}x (predicted graph step "
             f"{c['predicted_graph_step_ms']:.3f} ms = {b['mode']} busy + non-launch idle + kernels x node gap "
             f"{c['node_gap_ns']:.0f} ns: {c['node_gap_source']})")
    w.append(verdict(c))
    if c.get("host_verdict"):
        w.append(f"host side of the {b['mode']} step: {c['host_verdict']}")
    return "\n".join(w)


def render_json(c: dict, **extra) -> str:
    """The comparison as JSON (NaN as null), with ``extra`` fields (paths written)."""
    return json.dumps(_jsonable({**c, **extra}), indent=1)
