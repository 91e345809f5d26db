"""The main job's text (`stepscope` with no subcommand): two arms side by side, the
predicted and measured graph speedup with their intervals, the node gap's source, the
decision rule, a one-line verdict and the sensitivity line (as `stepscope ab` prints
them), from ``analysis.compare_modes.compare``."""
from __future__ import annotations

import json

from .json_report import _jsonable
from .tables import sensitivity_line

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
    return (f"verdict: {what}; CUDA graphs make it {c['measured_speedup']:.2f}x faster (predicted "
            f"{c['predicted_speedup']:.2f}x from its attribution: {c['verdict']}); "
            f"what is left is mostly {SHORT[c['graph_largest_part']]} "
            f"({100 * c['graph_largest_share']:.0f}% of the graph step).")


def _node_gap(c: dict) -> str:
    """Where the node gap came from, and what its interval draws on."""
    est = c["node_gap_estimates_ns"]
    if est is None:
        return (f"{c['node_gap_source']}, over {c['node_gap_steps']} traced graph steps; no calibration given "
                f"(--calibration takes `stepscope calibrate` results, the A/B's node gap)")
    if len(est) == 1:
        return f"{c['node_gap_source']}; one value: no node-gap uncertainty in the interval"
    return f"{c['node_gap_source']}: {', '.join(f'{x:.0f}' for x in est)} ns, median used"


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
    lo, hi = c["measured_ci95"]
    nb, ng = c["measured_steps"]
    w.append(f"{what}, measured: {c['measured_speedup']:.3f}x, 95% CI {lo:.3f}-{hi:.3f} ({b['mode']} / {g['mode']} "
             f"median step, {c['speedup_source']}; bootstrap over {nb} and {ng} steps of one session per arm: "
             f"no session-to-session variation, which `stepscope ab` measures)")
    if c["predicted_speedup"] is None:
        w.append(f"{what}, predicted: none (the prediction models a CUDA-graph replay; {g['mode']} is not one)")
        w.append(verdict(c))
        return "\n".join(w)
    lo, hi = c["prediction_ci95"]
    w.append(f"graph speedup, predicted: {c['predicted_speedup']:.3f}x, 95% interval {lo:.3f}-{hi:.3f} "
             f"(predicted graph step {c['predicted_graph_step_ms']:.3f} ms = {b['mode']} busy + non-launch idle + "
             f"kernels x node gap {c['node_gap_ns']:.0f} ns; bootstrap over the same {nb} timed and "
             f"{c['base_traced_steps']} traced {b['mode']} steps"
             + ("" if len(c["node_gap_estimates_ns"] or [0, 0]) == 1 else " and the node-gap estimate") + ")")
    w.append(f"node gap: {_node_gap(c)}")
    w.append(f"rule: {c['rule']}")
    w.append(verdict(c))
    w.append(sensitivity_line(c["sensitivity"]))
    if c.get("host_verdict"):
        w.append(f"host side of the {b['mode']} step: {c['host_verdict']}")
    return "\n".join(w)


def render_json(c: dict, **extra) -> str:
    """The comparison as JSON (NaN as null), with ``extra`` fields (paths written)."""
    return json.dumps(_jsonable({**c, **extra}), indent=1)
