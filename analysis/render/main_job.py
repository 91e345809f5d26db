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
    """The answer, in three short lines (at most 100 characters each): is the baseline
    launch-bound (the share that decides it), what the other arm buys, measured and
    predicted, and what is left. The same text whichever order the arms were given in."""
    b, g = c["arms"]
    share = f"{100 * c['base_launch_share']:.0f}%"
    of = (f"of the untraced {b['mode']} step" if c.get("share_source") == "untraced-equivalent"
          else f"of the traced {b['mode']} step")
    what = (f"launch-bound: the GPU waits for the CPU {share} {of}" if c["launch_bound"] else
            f"not launch-bound: the GPU waits for the CPU {share} {of}")
    if c["predicted_speedup"] is None:
        buys = (f"{g['mode']} is {c['measured_speedup']:.2f}x faster (measured; nothing predicted: "
                f"neither arm is a graph replay)")
    else:
        buys = (f"CUDA graphs make it {c['measured_speedup']:.2f}x faster, predicted {c['predicted_speedup']:.2f}x: "
                f"{c['verdict']}")
    left = (f"what is left is mostly {SHORT[c['graph_largest_part']]} "
            f"({100 * c['graph_largest_share']:.0f}% of the {g['mode']} step)")
    return f"verdict: {what};\n  {buys};\n  {left}."


def _node_gap(c: dict) -> str:
    """Where the node gap came from, and what its interval draws on."""
    est = c["node_gap_estimates_ns"]
    if est is None:
        return (f"{c['node_gap_source']}, over {c['node_gap_steps']} traced graph steps; no calibration given "
                f"(--calibration takes `stepscope calibrate` results, the A/B's node gap)")
    if len(est) == 1:
        return f"{c['node_gap_source']}; one value: no node-gap uncertainty in the interval"
    return f"{c['node_gap_source']}: {', '.join(f'{x:.0f}' for x in est)} ns, median used"


def _short_node_gap(c: dict) -> str:
    est = c["node_gap_estimates_ns"]
    if est is None:
        return f"{c['node_gap_ns']:.0f} ns, the median GPU gap inside the graph trace's {c['node_gap_steps']} steps"
    if len(est) == 1:
        return f"{c['node_gap_ns']:.0f} ns, given (fixed: adds no uncertainty)"
    runs = ", ".join(f"{x:.0f}" for x in est)
    return f"{c['node_gap_ns']:.0f} ns, the median of {len(est)} `stepscope calibrate` runs ({runs})"


def _table(c: dict, cols: list[dict]) -> list[str]:
    floor = all(a["floor_known"] for a in cols)
    col = 20
    w = [f"{'':<44}" + "".join(f"{a['mode']:>{col}}" for a in cols)]

    def row(label, *v):
        w.append(f"  {label:<42}" + "".join(f"{x:>{col}}" for x in v))

    row("step, untraced median", *(f"{a['untraced_step_ms']:.3f} ms" if a["untraced_step_ms"] else "n/a"
                                   for a in cols))
    row("step, traced median (per-kernel records)", *(f"{a['step_ms_per_kernel']:.3f} ms" for a in cols))
    gl = [a for a in cols if a["attribution_source"] == "graph-level block"]
    if gl:
        row("step, traced median (graph-level block)",
            *(f"{a['step_ms']:.3f} ms" if a in gl else "-" for a in cols))
    row("kernels / launch calls per step", *(f"{a['kernels']:.0f} / {a['launch_calls']:.0f}" for a in cols))
    keys = ["floor_ms", "kernel_inefficiency_ms"] if floor else ["busy_ms"]
    eqs = [a for a in cols if a.get("untraced_equivalent")]
    if eqs:
        w.append("  attribution scaled to the untraced step (busy as traced, idle scaled)")
        for k in keys + ["launch_overhead_ms", "other_idle_ms"]:
            row("  " + PART_LABELS[k], *(_eq_cell(a, k) for a in cols))
    src = "; graph-level block for " + ", ".join(a["mode"] for a in gl) if gl else ""
    w.append(f"  attribution of the traced step (median; per-kernel records{src})")
    for k in keys + ["launch_overhead_ms", "other_idle_ms"]:
        row("  " + PART_LABELS[k], *(f"{a[k]:.3f} ms {100 * a[k] / a['step_ms']:5.1f}%" for a in cols))
    if floor:
        row("% of floor (bytes read), traced", *(f"{a['pct_floor']:.1f}%" for a in cols))
    else:
        w.append("  floor unknown: pass --model and --ctx")
    return w


def _eq_cell(a: dict, k: str) -> str:
    """One untraced-equivalent cell: ms and share of the untraced median."""
    eq = a.get("untraced_equivalent")
    if not eq:
        return "n/a"
    v = eq["floor_ms"] + eq["kernel_inefficiency_ms"] if k == "busy_ms" else eq[k]
    return f"{v:.3f} ms {100 * v / eq['untraced_step_ms']:5.1f}%"


def _explain(c: dict) -> list[str]:
    """The long form of the lines under the table (`stepscope --explain`)."""
    b, g = c["arms"]
    what = "graph speedup" if g["mode"] == "graph" else f"{g['mode']} speedup"
    lo, hi = c["measured_ci95"]
    nb, ng = c["measured_steps"]
    w = [f"{what}, measured: {c['measured_speedup']:.3f}x, 95% CI {lo:.3f}-{hi:.3f} ({b['mode']} / {g['mode']} "
         f"median step, {c['speedup_source']}; bootstrap over {nb} and {ng} steps of one session per arm: "
         f"no session-to-session variation, which `stepscope ab` measures)"]
    if c["predicted_speedup"] is None:
        return w + [f"{what}, predicted: none (the prediction models a CUDA-graph replay; {g['mode']} is not one)"]
    lo, hi = c["prediction_ci95"]
    w.append(f"graph speedup, predicted: {c['predicted_speedup']:.3f}x, 95% interval {lo:.3f}-{hi:.3f} "
             f"(predicted graph step {c['predicted_graph_step_ms']:.3f} ms = {b['mode']} busy + non-launch idle + "
             f"kernels x node gap {c['node_gap_ns']:.0f} ns; bootstrap over the same {nb} timed and "
             f"{c['base_traced_steps']} traced {b['mode']} steps"
             + ("" if len(c["node_gap_estimates_ns"] or [0, 0]) == 1 else " and the node-gap estimate") + ")")
    w.append(f"node gap: {_node_gap(c)}")
    w.append(f"rule: {c['rule']}")
    return w


def render(c: dict, source: str, explain: bool = False) -> str:
    """The answer first (header, verdict), then the table in the order the arms were
    given, then the speedups, rule and sensitivity in lines of at most 100 characters;
    ``explain`` adds each of those in full."""
    b, g = c["arms"]
    order = c.get("given_order", [0, 1])
    w = [f"stepscope: {c['model']}  ctx {c['ctx']}  on {c['gpu']}", f"  ({source})", "", verdict(c), ""]
    w += _table(c, [c["arms"][i] for i in order])
    w.append("")
    what = "graph speedup" if g["mode"] == "graph" else f"{g['mode']} speedup"
    lo, hi = c["measured_ci95"]
    nb, ng = c["measured_steps"]
    src = "untraced" if c["speedup_source"] == "untraced / untraced" else c["speedup_source"]
    w.append(f"{what}, measured:  {c['measured_speedup']:.3f}x (95% CI {lo:.3f}-{hi:.3f}), {src} median "
             f"{b['mode']} / {g['mode']}")
    if c["predicted_speedup"] is not None:
        lo, hi = c["prediction_ci95"]
        w.append(f"{what}, predicted: {c['predicted_speedup']:.3f}x (95% CI {lo:.3f}-{hi:.3f}), predicted graph step "
                 f"{c['predicted_graph_step_ms']:.3f} ms")
        w.append(f"  = {b['mode']} busy + non-launch idle + kernels x node gap")
        w.append(f"node gap: {_short_node_gap(c)}")
        w.append("rule: 'explained by launch overhead' when the two 95% intervals overlap (closed)")
        drawn = f"{nb} + {ng} timed, {c['base_traced_steps']} traced" + \
            ("" if len(c["node_gap_estimates_ns"] or [0, 0]) == 1 else ", the node gap")
    else:
        drawn = f"{nb} + {ng} timed"
    w.append(f"intervals: bootstraps over the steps of one session per arm ({drawn})")
    w.append("  no session-to-session variation: `stepscope ab` measures it")
    if c["sensitivity"]:
        w.append(sensitivity_line(c["sensitivity"]))
    if c.get("host_verdict"):
        w += [f"host side of the {b['mode']} step:"] + [f"  {line}" for line in c["host_verdict"].split("\n")]
    if explain:
        w += ["", "in full (--explain):"] + _explain(c)
    else:
        w.append("(--explain prints each line above in full)")
    return "\n".join(w)


def render_json(c: dict, **extra) -> str:
    """The comparison as JSON (NaN as null), with ``extra`` fields (paths written)."""
    return json.dumps(_jsonable({**c, **extra}), indent=1)
