"""The README's numbers, recomputed from the committed results (benchmarks/results/).

Each test parses one table row or phrase of README.md and recomputes it from the files
it cites, at the README's rounding. A README edit that changes a number without the
result behind it, or a result re-rendered without the README, fails here."""
import json
import re

import numpy as np
import pytest

from conftest import RESULTS, ROOT

README = (ROOT / "README.md").read_text()
FLAT = re.sub(r"\s+", " ", README)          # phrases may wrap across lines


def _json(rel):
    return json.loads((RESULTS / rel).read_text())


def _row(first_cell: str, cells: int) -> list[str]:
    """The README table row that starts with ``first_cell`` and has ``cells`` cells."""
    rows = [[c.strip().replace("*", "") for c in x.strip().strip("|").split("|")]
            for x in README.splitlines() if x.startswith(f"| {first_cell} |")]
    return next(r for r in rows if len(r) == cells)


def _has(phrase: str):
    assert re.sub(r"\s+", " ", phrase) in FLAT, phrase


def f(x, nd):
    return f"{x:.{nd}f}"


@pytest.mark.parametrize("label, folder", [("H100 SXM (N=10, shuffled)", "ab-h100-n10"),
                                           ("H200 (N=10, shuffled)", "ab-h200-n10"),
                                           ("H100 SXM (earlier, fixed order)", "ab-h100"),
                                           ("H200 (earlier, fixed order)", "ab-h200")])
def test_ab_table_rows(label, folder):
    r = _json(f"{folder}/summary.json")["graph"]
    rm = r["estimands"]["ratio_of_means"]
    lo_g, hi_g = r["sensitivity"]["explained_for_node_gap_ns"]
    want = [label, f(np.median(r["base_ms"]), 2), f(np.median(r["arm_ms"]), 2),
            f"{f(r['speedup_median'], 3)}x ({f(r['ci95'][0], 3)}-{f(r['ci95'][1], 3)})",
            f"{f(rm['value'], 3)}x ({f(rm['ci95'][0], 3)}-{f(rm['ci95'][1], 3)})",
            f"{f(r['predicted_speedup_median'], 3)}x ({f(r['prediction_ci95'][0], 3)}-{f(r['prediction_ci95'][1], 3)})",
            r["verdict"], f"{lo_g:.0f}-{hi_g:.0f} ns"]
    assert _row(label, 8) == want


def _median_ms(folder, arm):
    return float(np.median([json.loads(p.read_text())["arms"][arm]["median_ms"]
                            for p in sorted((RESULTS / folder).glob("session-*.json"))]))


def _median_traced(folder, arm, key):
    return float(np.median([json.loads(p.read_text())["arms"][arm]["traced"][key]
                            for p in sorted((RESULTS / folder).glob("session-*.json"))]))


def test_ab_prose():
    h100, h200 = _json("ab-h100-n10/summary.json"), _json("ab-h200-n10/summary.json")
    for r in (h100, h200):
        assert r["graph"]["arm_order"] is not None and r["graph"]["sessions"] == 10
    e1, e2 = h100["eager"]["speedup_median"], h200["eager"]["speedup_median"]
    _has(f"{1 / e1:.2f}x on the H100 and {1 / e2:.2f}x on the H200 (median per-session ratios "
         f"{e1:.3f}x and {e2:.3f}x)")
    for folder in ("ab-h100-n10", "ab-h200-n10"):     # "its traced busy time is lower than eager-static's"
        assert _median_traced(folder, "eager", "busy_ns") < _median_traced(folder, "eager-static", "busy_ns")
    g1, g2 = h100["graph"]["node_gap"]["ns"], h200["graph"]["node_gap"]["ns"]
    assert len(g1) == len(g2) == 1
    _has(f"(H100: {g1[0]:.0f} ns; H200: {g2[0]:.0f} ns)")
    p2, m2 = h200["graph"]["predicted_speedup_median"], h200["graph"]["speedup_median"]
    _has(f"within {100 * abs(p2 / m2 - 1):.1f}% of the measured median ({p2:.3f}x vs {m2:.3f}x)")
    s1 = h100["graph"]["sensitivity"]["explained_for_node_gap_ns"]
    s2 = h200["graph"]["sensitivity"]["explained_for_node_gap_ns"]
    assert s1[0] == s2[0] == 0
    _has(f"from 0 to {s2[1] / 1e3:.1f} us (H200) or {s1[1] / 1e3:.1f} us (H100)")
    old = _json("ab-h100/summary.json")["graph"]
    _has(f"({_median_ms('ab-h100-n10', 'graph'):.2f} ms in both runs)")
    assert f(_median_ms("ab-h100", "graph"), 2) == f(_median_ms("ab-h100-n10", "graph"), 2)
    _has(f"({_median_ms('ab-h100-n10', 'eager-static'):.2f} vs {_median_ms('ab-h100', 'eager-static'):.2f} ms)")
    _has(f"moved from {old['speedup_median']:.3f}x to {h100['graph']['speedup_median']:.3f}x")
    cals = [_json(p.name) for p in sorted(RESULTS.glob("calibration-*.json"))]
    host = [v["host_ns_per_launch"] / 1e3 for c in cals for v in c["launch"].values()]
    assert round(min(host)) == 10 and round(max(host)) == 20
    _has("10-20 us of host time per null-kernel launch")


def test_main_job_prose():
    """The main job's node-gap paragraph, recomputed from the shipped H100 traces, the
    H100 calibration runs and the A/B summary it cites."""
    from stepscope.analysis.compare_modes import compare
    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.results.ab import EXPLAINED, NOT_EXPLAINED
    from stepscope.profiler.experiments.ab import node_gaps_ns
    base, graph = (TraceAnalysis(ROOT / "traces" / f"qwen2.5-7b-ctx2048-{m}-h100.stepscope") for m in ("eager-static", "graph"))
    own = compare(base, graph)
    lo, hi = own["sensitivity"]["explained_for_node_gap_ns"]
    ab = _json("ab-h100-n10/summary.json")["graph"]
    alo, ahi = ab["sensitivity"]["explained_for_node_gap_ns"]
    _has(f"the verdict holds for node gaps {lo:.0f}-{hi:.0f} ns, where the A/B's ten shuffled sessions on an H100 "
         f"allow {alo:.0f}-{ahi:.0f} ns")
    assert ab["sessions"] == 10
    _has(f"rests on the graph trace's own {own['node_gap_ns']:.0f} ns gap")
    assert own["verdict"] == EXPLAINED
    cals = [_json("calibration-h100.json"), _json("calibration-h100-b.json")]
    gaps = node_gaps_ns(cals, own["gpu"])
    cal = compare(base, graph, node_gaps_ns=gaps)
    p = cal["prediction_ci95"]
    _has(f"{gaps[0]:.0f} and {gaps[1]:.0f} ns) the prediction is {cal['predicted_speedup']:.3f}x ({p[0]:.3f}-{p[1]:.3f})")
    traced = {c["traced_gaps"]["graph_gap_ns_median"] for c in cals}
    assert len(traced) == 1
    fixed = compare(base, graph, node_gaps_ns=list(traced))
    p = fixed["prediction_ci95"]
    _has(f"`stepscope --shipped --node-gap-ns {fixed['node_gap_ns']:.0f}`) {fixed['predicted_speedup']:.3f}x "
         f"({p[0]:.3f}-{p[1]:.3f})")
    m = own["measured_ci95"]
    _has(f"both **not explained by launch overhead alone** against the measured {m[0]:.3f}-{m[1]:.3f}")
    assert cal["verdict"] == fixed["verdict"] == NOT_EXPLAINED


def test_compile_prose():
    r = _json("ab-compile-h100-n10/summary.json")["compile"]
    assert r["sessions"] == 10 and r["arm_order"] is not None
    _has(f"{_median_ms('ab-compile-h100-n10', 'compile'):.2f} ms a step against "
         f"{_median_ms('ab-compile-h100-n10', 'eager-static'):.2f} ms eager-static (medians of sessions), "
         f"a **{r['speedup_median']:.3f}x** median speedup ({r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})")
    p = r["prediction_ci95"]
    _has(f"is {r['predicted_speedup_median']:.3f}x ({p[0]:.3f}-{p[1]:.3f}): the intervals overlap")
    assert r["verdict"] == "explained by launch overhead"
    _has(f"the point prediction is {100 * (1 - r['predicted_speedup_median'] / r['speedup_median']):.0f}% below")
    old = _json("ab-compile-h100/summary.json")["compile"]
    assert old["verdict"] == "not explained by launch overhead alone"
    _has(f"({old['speedup_median']:.3f}x vs {old['predicted_speedup_median']:.3f}x)")
    bc = _median_traced("ab-compile-h100-n10", "compile", "busy_ns") / 1e6
    be = _median_traced("ab-compile-h100-n10", "eager-static", "busy_ns") / 1e6
    _has(f"its traced GPU busy time is {bc:.2f} ms against eager-static's {be:.2f} ms")
    _has(f"({_median_traced('ab-compile-h100-n10', 'compile', 'kernels'):.0f} kernels instead of "
         f"{_median_traced('ab-compile-h100-n10', 'eager-static', 'kernels'):.0f})")
    _has(f"fusion removes {be - bc:.2f} ms of kernel time")


@pytest.mark.parametrize("label, file", [("H100 (machine 1)", "calibration-h100.json"),
                                         ("H100 (machine 2)", "calibration-h100-b.json"),
                                         ("H200", "calibration-h200.json")])
def test_calibration_table(label, file):
    c = _json(file)
    bw, peak = c["bandwidth"], c["gpu"]["peak_bytes_per_s"]
    assert _row(label, 6) == [label, f"{bw['read_bytes_per_s'] / 1e9:.0f} ({100 * bw['read_bytes_per_s'] / peak:.1f}%)",
                           f"{bw['copy_bytes_per_s'] / 1e9:.0f}", f"{bw['torch_copy_bytes_per_s'] / 1e9:.0f}",
                           f"{c['launch']['1000']['host_ns_per_launch'] / 1e3:.1f}",
                           f"{c['launch']['1000']['graph_ns_per_node'] / 1e3:.2f}"]


def test_chain_prose():
    from stepscope.analysis import dram
    from stepscope.analysis.attribution import attribute
    from stepscope.analysis.trace import load
    built = 16 * 256 * 2 ** 20
    shares = []
    for gpu in ("h100", "h200"):
        t = load(ROOT / "traces" / f"chain-{gpu}.stepscope")
        s = attribute(t)["steps"]
        assert np.abs(s["dram_read_bytes"] / built - 1).max() < 1e-4                     # "within 0.01%"
        rw = (s["dram_read_bytes"] + s["dram_write_bytes"]) / built - 1
        assert np.abs(rw).max() < 2.5e-3 and round(100 * rw.max(), 1) == 0.2             # "0.25%", "0.2% more"
        k, m = t["kernels"], (t.names("kernels") == "read_reduce") & (t["kernels"]["step"] >= 0)
        got = dram.bytes_between(t["pm"], k["start_ns"][m], k["end_ns"][m], "dram_read_bytes").sum()
        shares.append(100 * got / (len(s["step"]) * built))
    _has(f"gives the read kernels {shares[0]:.1f}% (H100) and {shares[1]:.1f}% (H200) of those bytes")


def test_no_unbacked_claims_left():
    for gone in ("23.9", "2.7x slower", "7-26%", "within 3.5%", "58%", "16-20 us", "twice as fast", "repeat_kv"):
        assert gone not in README, gone
    assert not re.search(r"Mistral-7B(?!-v0\.3)", README)
