"""`stepscope predict` output: text (one block per source trace and mode, a column per
target GPU beside the source's measured figures) and JSON."""
from __future__ import annotations

import json

from .json_report import _jsonable


def _ms(ns) -> str:
    return f"{ns / 1e6:.3f}"


class PredictText:
    def render(self, res: dict) -> str:
        out = []
        for s in res["sources"]:
            m = s["measured"]
            preds = s["predictions"]
            w = 22
            head = f"{'':44s}{'measured on ' + s['gpu']:>{w}s}" + "".join(f"{'predicted ' + p['gpu']:>{w}s}" for p in preds)
            out.append(f"{s['model']}  ctx {s['ctx']}  mode {s['mode']}  from {s['gpu']} ({s['trace'] or 'trace'})")
            out.append(f"  DRAM bytes per kernel: {s['bytes_source']}; host: {s['host_sigma_note']} "
                       f"(x{s['host_sigma']:.3f}), host scale {res['host_scale']:g}: the host is assumed unchanged")
            out.append(head)
            unt = m["untraced_step_ms"]

            def row(label, meas, vals, w=w):
                return f"  {label:42s}{meas:>{w}s}" + "".join(f"{v:>{w}s}" for v in vals)
            out.append(row("step ms (untraced median | predicted)", f"{unt:.3f}" if unt else "-",
                           [_ms(p["step_ns"]) for p in preds]))
            out.append(row("  range ms (steps, bandwidth, node cost)", "",
                           [f"{_ms(p['step_lo_ns'])}-{_ms(p['step_hi_ns'])}" for p in preds]))
            out.append(row("memory floor ms (bytes read / peak)", f"{m['floor_ms']:.3f}", [_ms(p["floor_ns"]) for p in preds]))
            out.append(row("kernel inefficiency ms (busy - floor)", f"{m['kernel_inefficiency_ms']:.3f}",
                           [_ms(p["kernel_inefficiency_ns"]) for p in preds]))
            out.append(row("launch overhead ms (GPU waited for host)", f"{m['launch_overhead_ms']:.3f}",
                           [_ms(p["launch_overhead_ns"]) for p in preds]))
            out.append(row("other idle ms", f"{m['other_idle_ms']:.3f}", [_ms(p["other_idle_ns"]) for p in preds]))
            out.append(row("% of floor (bytes read / all parameters)", f"{m['pct_floor']:.1f} / {m['pct_floor_all']:.1f}",
                           [f"{p['pct_floor']:.1f} / {p['pct_floor_all']:.1f}" for p in preds]))
            out.append("  (measured attribution: the traced median step; predicted: the untraced-equivalent step)")
            for p in preds:
                out.append(f"  {p['gpu']}: achievable bandwidth {p['achievable_bytes_per_s'] / 1e12:.3f} TB/s "
                           f"({p['achievable_source']}); node gaps x{p['node_gap_ratio']:.3f} ({p['node_gap_source']})"
                           f"{'; same GPU as the source' if p['same_gpu'] else ''}")
            out.append("")
        for sp in res["speedups"]:
            if sp["measured_source"]:
                on = sp["graph_gpu"] if sp["base_gpu"] == sp["graph_gpu"] else f"{sp['base_gpu']} / {sp['graph_gpu']}"
                meas = f"measured {sp['measured_source']:.3f}x on {on} (untraced medians of the source traces)"
            else:
                meas = "not measured (a source trace has no untraced step times)"
            out.append(f"graph speedup ({sp['base']} / graph), {sp['model']} ctx {sp['ctx']}: {meas}")
            for t in sp["targets"]:
                out.append(f"  predicted on {t['gpu']}: {t['speedup']:.3f}x ({t['lo']:.3f}-{t['hi']:.3f})")
        return "\n".join(out).rstrip() + "\n"


class PredictJson:
    def render(self, res: dict) -> str:
        return json.dumps(_jsonable(res), indent=1)


class PredictSweepText:
    """`stepscope predict --sweep`: per source trace and mode, a row per ctx, a column per GPU
    (predicted ms per step and % of floor, all parameters + KV)."""

    def render(self, res: dict) -> str:
        out = []
        w = 18
        for s in res["sources"]:
            out.append(f"{s['model']}  mode {s['mode']}  from {s['gpu']} at ctx {s['ctx0']} ({s['trace'] or 'trace'})")
            out.append(f"  {s['kv_records_per_step']} KV-proportional kernels a step ({s['kv_ms_per_step']:.3f} ms at "
                       f"ctx {s['ctx0']}) scale with ctx; DRAM bytes per kernel: {s['bytes_source']}; "
                       f"host scale {res['host_scale']:g}: the host is assumed unchanged")
            out.append(f"  {'ctx':>6s}" + "".join(f"{g:>{w}s}" for g in res["targets"]))
            for ctx in res["ctxs"]:
                cells = [c for c in s["cells"] if c["ctx"] == ctx]
                out.append(f"  {ctx:6d}" + "".join(f"{_ms(c['step_ns']) + ' ms ' + format(c['pct_floor_all'], '.0f') + '%':>{w}s}"
                                                   for c in cells))
            out.append("")
        out.append("ms per step (predicted, median step) and % of floor (all parameters + KV at ctx, over peak bandwidth).")
        return "\n".join(out) + "\n"
