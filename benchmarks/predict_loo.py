"""`stepscope predict` checked against GPUs that were measured (issue 30), no GPU needed.

Leave-one-GPU-out: the H200 predicted from H100 traces and the H100 from H200 traces
(Qwen2.5-7B ctx 2048: the first traces and the counter-pass traces; Llama-3.1-8B and
Mistral-7B-v0.3: H100 traces only, against the H200 sweep cells), each against every
independent measurement of the target that is committed: the target trace's own untraced
median, the A/B's 10 sessions (median and range) and the sweep cell. Error per kernel
class on the counter-pass pair. The paper's L4 and H100 cells beside predictions.

    python3 benchmarks/predict_loo.py -o benchmarks/results/predict
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stepscope.analysis.facade import TraceAnalysis  # noqa: E402
from stepscope.analysis.predict import predict  # noqa: E402
from stepscope.analysis.render.json_report import _jsonable  # noqa: E402

TR = ROOT / "traces"
RES = ROOT / "benchmarks" / "results"
GPU = {"h100": "H100 SXM", "h200": "H200"}
#: The paper's cells (docs/REFERENCE: arXiv 2605.30571), Qwen2.5-7B ctx 2048 bf16.
PAPER = {"L4": {"step_ms": 62.32, "pct_floor_all": 81.0, "graph_speedup": 1.028},
         "H100 SXM": {"pct_floor_all": 27.0, "graph_speedup": 1.259, "graph_speedup_ci": (1.253, 1.267)}}


def _an(name: str) -> TraceAnalysis:
    a = TraceAnalysis(TR / name)
    a.trace.path = f"traces/{name}"
    return a


def _ab(gpu: str) -> dict:
    d = json.loads((RES / f"ab-{gpu}-n10" / "summary.json").read_text())["graph"]
    return {"graph_ms": d["arm_ms"], "eager-static_ms": d["base_ms"], "speedup": d["speedup_median"],
            "speedup_ci": d["ci95"]}


def _sweep(gpu: str, model: str, mode: str) -> float | None:
    p = RES / f"sweep-{gpu}" / "cells" / f"{model}-ctx2048-{mode}.json"
    return json.loads(p.read_text())["median_ms"] if p.exists() else None


def _err(pred_ms: float, meas_ms: float | None) -> float | None:
    return None if not meas_ms else 100.0 * (pred_ms / meas_ms - 1.0)


def qwen_loo() -> dict:
    rows, classes, speed = [], [], []
    fams = {"first": "qwen2.5-7b-ctx2048-{mode}-{gpu}.stepscope",
            "counters": "qwen2.5-7b-ctx2048-{mode}-counters-{gpu}.stepscope"}
    for fam, pat in fams.items():
        modes = ["eager-static", "graph"] + (["eager"] if fam == "first" else [])
        for src, tgt in (("h100", "h200"), ("h200", "h100")):
            an = [_an(pat.format(mode=m, gpu=src)) for m in modes]
            res = predict(an, [GPU[tgt], GPU[src]])
            own = {m: _an(pat.format(mode=m, gpu=tgt)) for m in modes}
            ab = _ab(tgt)
            for s in res["sources"]:
                p = s["predictions"][0]
                tgt_sum = own[s["mode"]].get_summary()["modes"][s["mode"]]
                pred = p["step_ns"] / 1e6
                abm = ab.get(f"{s['mode']}_ms")
                sw = _sweep(tgt, "qwen2.5-7b", s["mode"]) if s["mode"] in ("graph", "eager") else None
                rows.append({"family": fam, "mode": s["mode"], "source": GPU[src], "target": GPU[tgt],
                             "predicted_ms": pred, "range_ms": [p["step_lo_ns"] / 1e6, p["step_hi_ns"] / 1e6],
                             "target_trace_untraced_ms": tgt_sum["untraced_step_ms"],
                             "err_vs_trace_pct": _err(pred, tgt_sum["untraced_step_ms"]),
                             "ab_median_ms": float(np.median(abm)) if abm else None,
                             "ab_range_ms": [min(abm), max(abm)] if abm else None,
                             "err_vs_ab_pct": _err(pred, float(np.median(abm))) if abm else None,
                             "sweep_ms": sw, "err_vs_sweep_pct": _err(pred, sw),
                             "source_untraced_ms": s["measured"]["untraced_step_ms"],
                             "predicted_busy_ms": p["busy_ns"] / 1e6, "target_busy_ms": tgt_sum["busy_ms"],
                             "predicted_host_ms": (p["launch_overhead_ns"]) / 1e6,
                             "target_launch_ms": tgt_sum["launch_overhead_ms"],
                             "same_gpu_err_pct": _err(s["predictions"][1]["step_ns"] / 1e6,
                                                      s["measured"]["untraced_step_ms"])})
                if fam == "counters":
                    mc = _own_classes(own[s["mode"]], s["mode"])
                    for c, v in p["class_ms"].items():
                        classes.append({"mode": s["mode"], "source": GPU[src], "target": GPU[tgt], "class": c,
                                        "source_ms": s["measured"]["class_ms"].get(c), "predicted_ms": v,
                                        "measured_ms": mc.get(c), "err_ms": v - mc.get(c, 0.0),
                                        "err_pct": _err(v, mc.get(c))})
            for sp in res["speedups"]:
                if sp["base"] != "eager-static":
                    continue
                t = sp["targets"][0]
                speed.append({"family": fam, "source": GPU[src], "target": GPU[tgt], "predicted": t["speedup"],
                              "range": [t["lo"], t["hi"]], "ab_median": ab["speedup"], "ab_ci": ab["speedup_ci"],
                              "inside": bool(ab["speedup_ci"][0] <= t["speedup"] <= ab["speedup_ci"][1]),
                              "overlaps": bool(t["lo"] <= ab["speedup_ci"][1] and t["hi"] >= ab["speedup_ci"][0])})
    return {"rows": rows, "classes": classes, "speedups": speed}


def _own_classes(a: TraceAnalysis, mode: str) -> dict:
    from stepscope.analysis import predict_model as pm
    from stepscope.analysis.predict import _class_ms
    src = pm.source_records(a, mode)
    return _class_ms(src, src["dur_ns"])


def other_models() -> list[dict]:
    rows = []
    for model in ("llama-3.1-8b", "mistral-7b-v0.3"):
        an = [_an(f"{model}-ctx2048-{m}-h100.stepscope") for m in ("eager", "eager-static", "graph")]
        res = predict(an, ["H200"])
        for s in res["sources"]:
            p = s["predictions"][0]
            sw = _sweep("h200", model, s["mode"]) if s["mode"] in ("graph", "eager") else None
            rows.append({"model": model, "mode": s["mode"], "predicted_ms": p["step_ns"] / 1e6,
                         "range_ms": [p["step_lo_ns"] / 1e6, p["step_hi_ns"] / 1e6],
                         "source_untraced_ms": s["measured"]["untraced_step_ms"],
                         "sweep_h100_ms": _sweep("h100", model, s["mode"]) if sw else None,
                         "sweep_h200_ms": sw, "err_vs_sweep_pct": _err(p["step_ns"] / 1e6, sw),
                         "bytes_source": s["bytes_source"]})
    return rows


def _host_scale_for(an_base, an_graph, gpu: str, target: float) -> float:
    """The --host-scale at which the predicted base/graph speedup on ``gpu`` is ``target``."""
    def sp(h):
        r = predict([an_base, an_graph], [gpu], host_scale=h)
        return r["speedups"][0]["targets"][0]["speedup"]
    lo, hi = 0.01, 4.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sp(mid) < target else (lo, mid)
    return (lo + hi) / 2


def paper_cells() -> list[dict]:
    rows = []
    for src in ("h100", "h200"):
        for fam in ("qwen2.5-7b-ctx2048-{m}-{g}.stepscope", "qwen2.5-7b-ctx2048-{m}-counters-{g}.stepscope"):
            modes = ("eager", "eager-static", "graph") if "counters" not in fam else ("eager-static", "graph")
            an = {m: _an(fam.format(m=m, g=src)) for m in modes}
            res = predict(list(an.values()), ["L4", "H100 SXM"])
            by = {s["mode"]: s for s in res["sources"]}
            base = an["eager-static"]
            h = _host_scale_for(base, an["graph"], "H100 SXM", PAPER["H100 SXM"]["graph_speedup"])
            at_h = predict([base, an["graph"]], ["L4", "H100 SXM"], host_scale=h)
            for m, s in by.items():
                for p in s["predictions"]:
                    rows.append({"source": f"{fam.format(m=m, g=src)}", "mode": m, "target": p["gpu"],
                                 "predicted_ms": p["step_ns"] / 1e6, "range_ms": [p["step_lo_ns"] / 1e6,
                                                                                   p["step_hi_ns"] / 1e6],
                                 "pct_floor_all": p["pct_floor_all"], "pct_floor": p["pct_floor"],
                                 "memory_ms": p["memory_ms"], "carried_inefficiency_ms": p["carried_inefficiency_ms"],
                                 "launch_ms": p["launch_overhead_ns"] / 1e6,
                                 "paper": PAPER.get(p["gpu"], {})})
            for sp in res["speedups"]:
                for t in sp["targets"]:
                    rows.append({"source": fam.format(m=sp["base"] + "/graph", g=src), "mode": f"{sp['base']}/graph",
                                 "target": t["gpu"], "speedup": t["speedup"], "range": [t["lo"], t["hi"]],
                                 "paper": PAPER.get(t["gpu"], {})})
            for t in at_h["speedups"][0]["targets"]:
                rows.append({"source": fam.format(m="eager-static/graph", g=src), "mode": "eager-static/graph",
                             "target": t["gpu"], "host_scale": h, "speedup": t["speedup"], "range": [t["lo"], t["hi"]],
                             "paper": PAPER.get(t["gpu"], {})})
    return rows


def _f(x, nd=2, pct=False):
    if x is None:
        return "-"
    return f"{x:+.1f}%" if pct else f"{x:.{nd}f}"


def markdown(q: dict, other: list[dict], paper: list[dict]) -> str:
    L = ["# `stepscope predict` against measured GPUs (issue 30)", "",
         "Generated by `python3 benchmarks/predict_loo.py -o benchmarks/results/predict`; numbers in loo.json.", "",
         "## Leave-one-GPU-out, Qwen2.5-7B ctx 2048", "",
         "| traces | mode | source -> target | predicted ms (range) | target trace untraced ms | err "
         "| A/B 10 sessions median ms (range) | err | sweep ms | err | same-GPU err |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in q["rows"]:
        ab = f"{_f(r['ab_median_ms'])} ({_f(r['ab_range_ms'][0])}-{_f(r['ab_range_ms'][1])})" if r["ab_median_ms"] else "-"
        L.append(f"| {r['family']} | {r['mode']} | {r['source']} -> {r['target']} | {_f(r['predicted_ms'])} "
                 f"({_f(r['range_ms'][0])}-{_f(r['range_ms'][1])}) | {_f(r['target_trace_untraced_ms'])} | "
                 f"{_f(r['err_vs_trace_pct'], pct=True)} | {ab} | {_f(r['err_vs_ab_pct'], pct=True)} | {_f(r['sweep_ms'])} | "
                 f"{_f(r['err_vs_sweep_pct'], pct=True)} | {_f(r['same_gpu_err_pct'], pct=True)} |")
    L += ["", "Where the time goes in each miss (predicted vs the target trace, traced busy time and launch-bound idle):", "",
          "| traces | mode | source -> target | predicted busy ms | target busy ms | predicted launch-bound ms "
          "| source untraced ms | target untraced ms |",
          "|---|---|---|---|---|---|---|---|"]
    for r in q["rows"]:
        L.append(f"| {r['family']} | {r['mode']} | {r['source']} -> {r['target']} | {_f(r['predicted_busy_ms'])} | "
                 f"{_f(r['target_busy_ms'])} | {_f(r['predicted_host_ms'])} | {_f(r['source_untraced_ms'])} | "
                 f"{_f(r['target_trace_untraced_ms'])} |")
    L += ["", "## Kernel time per class (counter-pass traces), ms per step", "",
          "| mode | source -> target | class | source ms | predicted ms | measured ms | err ms | err |",
          "|---|---|---|---|---|---|---|---|"]
    for c in q["classes"]:
        L.append(f"| {c['mode']} | {c['source']} -> {c['target']} | {c['class']} | {_f(c['source_ms'], 3)} | "
                 f"{_f(c['predicted_ms'], 3)} | {_f(c['measured_ms'], 3)} | {c['err_ms']:+.3f} | {_f(c['err_pct'], pct=True)} |")
    L += ["", "## Graph speedup (eager-static / graph) against the target's A/B (10 sessions, 95% CI)", "",
          "| traces | source -> target | predicted (range) | A/B median (95% CI) | point inside CI | ranges overlap |",
          "|---|---|---|---|---|---|"]
    for s in q["speedups"]:
        L.append(f"| {s['family']} | {s['source']} -> {s['target']} | {s['predicted']:.3f}x ({s['range'][0]:.3f}-"
                 f"{s['range'][1]:.3f}) | {s['ab_median']:.3f}x ({s['ab_ci'][0]:.3f}-{s['ab_ci'][1]:.3f}) | "
                 f"{'yes' if s['inside'] else 'no'} | {'yes' if s['overlaps'] else 'no'} |")
    L += ["", "## Llama-3.1-8B and Mistral-7B-v0.3 ctx 2048: H200 predicted from H100 traces, against the H200 sweep", "",
          "| model | mode | predicted H200 ms (range) | H200 sweep ms | err | source untraced ms | H100 sweep ms | bytes |",
          "|---|---|---|---|---|---|---|---|"]
    for r in other:
        L.append(f"| {r['model']} | {r['mode']} | {_f(r['predicted_ms'])} ({_f(r['range_ms'][0])}-{_f(r['range_ms'][1])}) | "
                 f"{_f(r['sweep_h200_ms'])} | {_f(r['err_vs_sweep_pct'], pct=True)} | {_f(r['source_untraced_ms'])} | "
                 f"{_f(r['sweep_h100_ms'])} | {r['bytes_source']} |")
    L += ["", "## The paper's cells (Qwen2.5-7B ctx 2048 bf16)", "",
          "| source trace | mode | target | predicted | % of floor, all parameters (bytes read) | paper |",
          "|---|---|---|---|---|---|"]
    for r in paper:
        pap = ", ".join(f"{k} {v}" for k, v in r["paper"].items())
        if "speedup" in r:
            hs = f" at --host-scale {r['host_scale']:.3f}" if "host_scale" in r else ""
            L.append(f"| {r['source']} | {r['mode']}{hs} | {r['target']} | {r['speedup']:.3f}x ({r['range'][0]:.3f}-"
                     f"{r['range'][1]:.3f}) | | {pap} |")
        else:
            L.append(f"| {r['source']} | {r['mode']} | {r['target']} | {_f(r['predicted_ms'])} ms ({_f(r['range_ms'][0])}-"
                     f"{_f(r['range_ms'][1])}; memory {_f(r['memory_ms'])}, inefficiency {_f(r['carried_inefficiency_ms'])}, "
                     f"launch-bound {_f(r['launch_ms'])}) | {r['pct_floor_all']:.1f}% ({r['pct_floor']:.1f}%) | {pap} |")
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=str(RES / "predict"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    q, other, paper = qwen_loo(), other_models(), paper_cells()
    (out / "loo.json").write_text(json.dumps(_jsonable({"qwen": q, "other_models": other, "paper": paper}), indent=1) + "\n")
    md = markdown(q, other, paper)
    (out / "loo.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
