"""Text tables of result sets: sweep (markdown, CSV), quantised arms, the cross-GPU
comparison, a calibration and an A/B summary. Each function returns a string."""
from __future__ import annotations

import csv
import io

COLUMNS = ("gpu", "model", "ctx", "mode", "valid", "median_ms", "p10_ms", "p90_ms", "floor_ms",
           "floor_all_ms", "pct_floor", "pct_floor_all", "kernels", "launch_share", "dram_gb",
           "dram_gb_per_s_busy", "sm_clock_mhz", "mem_clock_mhz", "throttle_reasons", "reason")


def sweep_csv(cells) -> str:
    f = io.StringIO()
    w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")   # as the committed cells.csv
    w.writeheader()
    for c in cells:
        w.writerow({k: (";".join(v) if isinstance(v, list) else v) for k, v in c.items()})
    return f.getvalue()


def sweep_markdown(cells) -> str:
    rows = ["| GPU | model | ctx | mode | ms/step (p10-p90) | floor ms (read / all) | % of floor (read / all) "
            "| kernels | launch share | DRAM GB | GB/s busy |", "|" + "---|" * 11]
    for c in sorted(cells, key=lambda c: (c.get("gpu", ""), c["model"], c["ctx"], c["mode"])):
        if not c.get("valid"):
            rows.append(f"| {c.get('gpu', '')} | {c['model']} | {c['ctx']} | {c['mode']} | invalid: "
                        f"{c.get('reason', '')} | | | | | | |")
            continue
        rows.append(f"| {c['gpu']} | {c['model']} | {c['ctx']} | {c['mode']} | {c['median_ms']:.2f} "
                    f"({c['p10_ms']:.2f}-{c['p90_ms']:.2f}) | {c['floor_ms']:.2f} / {c['floor_all_ms']:.2f} | "
                    f"{c['pct_floor']:.1f} / {c['pct_floor_all']:.1f} | {c['kernels']:.0f} | "
                    f"{100 * c['launch_share']:.0f}% | {c['dram_gb']:.2f} | {c['dram_gb_per_s_busy']:.0f} |")
    return "\n".join(rows)


def quant_markdown(rows: list[dict], gpu: str, model: str = "", ctx: int | None = None) -> str:
    what = f"{model} ctx {ctx} " if model else ""
    out = [f"Quantised weight paths vs bf16: {what}on {gpu} (ms per decode step, median of 30 untraced steps)",
           "",
           "Brackets: 95% percentile bootstrap intervals over the untraced steps of each arm's one session "
           "(step-to-step spread, not fresh sessions).",
           "",
           "| arm | mode | weights GB | ms/step | bytes/step model GB | DRAM measured GB | expected speedup (bytes) "
           "| realised speedup | % of floor | launch share | matmul ms | other kernels ms | path |",
           "|" + "---|" * 13]
    for r in rows:
        if not r["valid"]:
            out.append(f"| {r['arm']} | {r['mode']} | invalid: {r['reason']} |" + " |" * 10)
            continue
        out.append(f"| {r['arm']} | {r['mode']} | {r['weight_gb']:.2f} | {r['median_ms']:.2f}{_ci(r.get('median_ms_ci'))} | "
                   f"{r['model_gb']:.2f} | {r['dram_gb']:.2f} | {_fmt(r['expected_speedup'], '.2f')}x | "
                   f"{_fmt(r['realised_speedup'], '.2f')}x{_ci(r.get('realised_speedup_ci'))} | "
                   f"{r['pct_floor']:.1f} | {100 * r['launch_share']:.0f}% | {r['matmul_ms']:.2f} | "
                   f"{r['other_kernels_ms']:.2f} | {r['path']} |")
    return "\n".join(out)


def _ci(ci) -> str:
    return f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else ""


def _fmt(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def compare_text(res: dict, floors: list[dict]) -> str:
    """The cross-GPU comparison, its answer to the paper's question, and the analytic floors."""
    out = ["| GPU | peak TB/s | valid cells | % of floor, eager | % of floor, graph | graph speedup |",
           "|---|---|---|---|---|---|"]
    for r in res["gpus"]:
        sp = r["graph_speedup_median"]
        out.append(f"| {r['gpu']} | {r['peak_bytes_per_s'] / 1e12:.2f} | {r['valid']}/{r['cells']} | "
                   f"{r.get('pct_floor_all_eager', float('nan')):.1f} | {r.get('pct_floor_all_graph', float('nan')):.1f} | "
                   + (f"{sp:.3f} |" if sp else "n/a |"))
    if res["answer"]:
        ans = res["answer"]
        falls = ", ".join(f"{m}: {'yes' if v else 'no'}" for m, v in ans["pct_floor_falls_as_peak_rises"].items())
        sps = ", ".join(f"{r['graph_speedup_median']:.2f}x on {r['gpu']}" for r in res["gpus"]
                        if r["graph_speedup_median"] is not None)
        out += ["", f"% of floor falls as peak bandwidth rises? {falls}.",
                f"Graph speedup grows with peak bandwidth? {'yes' if ans['graph_speedup_grows_with_peak'] else 'no'} "
                "in these data, which are not evidence either way:",
                f"  {sps};", "  the speedup also depends on how fast each machine's host issues eager kernels, which the",
                "  sweep does not calibrate."]
    out.append("\nAnalytic floor at ctx 2048, ms (all parameters + KV over datasheet peak; not measurements):")
    gpus = [k for k in floors[0] if k not in ("model", "ctx")] if floors else []
    out.append("| model | " + " | ".join(gpus) + " |")
    out.append("|---|" + "---|" * len(gpus))
    for f in floors:
        out.append(f"| {f['model']} | " + " | ".join(f"{f[g]:.2f}" for g in gpus) + " |")
    return "\n".join(out)


def calibration_text(res: dict) -> str:
    """A `stepscope calibrate` result: bandwidth against the peak, launch costs."""
    bw, peak = res["bandwidth"], res["gpu"].get("peak_bytes_per_s") or float("nan")
    out = [f"{res['gpu']['name']} ({res['gpu']['uuid']})",
           f"  read kernel  {bw['read_bytes_per_s'] / 1e9:7.0f} GB/s = {100 * bw['read_bytes_per_s'] / peak:.1f}% "
           f"of peak {peak / 1e9:.0f}",
           f"  copy kernel  {bw['copy_bytes_per_s'] / 1e9:7.0f} GB/s; torch copy_ {bw['torch_copy_bytes_per_s'] / 1e9:.0f} GB/s"]
    for n, v in res["launch"].items():
        out.append(f"  {n:>5} null kernels: host {v['host_ns_per_launch'] / 1e3:.2f} us/launch, eager GPU "
                   f"{v['eager_gpu_ns_per_kernel'] / 1e3:.2f} us/kernel, graph {v['graph_ns_per_node'] / 1e3:.2f} us/node")
    return "\n".join(out)


def ab_text(summaries: dict) -> str:
    """An A/B summary per arm: both estimands with their intervals, the prediction with its
    interval, the decision rule, the verdict and the sensitivity line."""
    out = []
    for arm, r in summaries.items():
        est = r["estimands"]
        rm = est["ratio_of_means"]
        out.append(f"{r['base']} / {arm} over {r['sessions']} sessions")
        out.append(f"  measured: median of per-session speedups {r['speedup_median']:.3f}x, 95% CI "
                   f"{r['ci95'][0]:.3f}-{r['ci95'][1]:.3f} (headline); ratio of means {rm['value']:.3f}x, "
                   f"95% CI {rm['ci95'][0]:.3f}-{rm['ci95'][1]:.3f}")
        orders = [tuple(o) for o in r.get("arm_order", []) if o]
        out.append("  arm order: " + (f"shuffled per session, {len(set(orders))} distinct orders" if orders
                                     else "fixed (not recorded: sessions before randomisation)"))
        if r["prediction_ci95"] is None:
            out.append(f"  verdict: {r['verdict']}")
            continue
        gaps = ", ".join(f"{g:.0f}" for g in r["node_gap"]["ns"])
        p = r["prediction_ci95"]
        out.append(f"  predicted (launch overhead only, node gap {gaps} ns from {len(r['node_gap']['ns'])} "
                   f"calibration run(s)): {r['predicted_speedup_median']:.3f}x, 95% interval {p[0]:.3f}-{p[1]:.3f}")
        out.append(f"  rule: {r['rule']}")
        out.append(f"  verdict: {r['verdict']}")
        out.append("  " + sensitivity_line(r["sensitivity"]))
    return "\n".join(out)


def sensitivity_line(sensitivity: dict) -> str:
    """Which node gaps keep the verdict "explained" (the A/B's and the main job's line)."""
    rng = sensitivity["explained_for_node_gap_ns"]
    return "sensitivity: " + ("no node gap gives 'explained'" if rng is None else
                              f"'explained' for node gaps {rng[0]:.0f}-{rng[1]:.0f} ns; outside that range the "
                              "verdict flips")
