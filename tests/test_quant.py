"""Quantised arms recorded on the H100 and the H200; the table and the path rule; the
driver's resume and invalid-arm handling (arm processes stubbed)."""
import json

import pytest

from conftest import RESULTS
from stepscope.analysis.render.tables import quant_markdown
from stepscope.analysis.results.quant import path, table
from stepscope.profiler.experiments import quant as pq
from stepscope.profiler.workloads.quantize import KERNELS


def load(gpu):
    return pq.load_arms(RESULTS / f"quant-{gpu}", "qwen2.5-7b", 2048)


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_recorded_arms(gpu):
    arms = {a["arm"]: a for a in load(gpu)}
    # the four arms recorded so far; gptq-exllamav2 and awq-marlin need their extensions built
    assert set(arms) == set(pq.ARMS) - set(KERNELS) and all(a["valid"] for a in arms.values())
    rows = {(r["arm"], r["mode"]): r for r in table(list(arms.values()))}
    assert all(r["valid"] for r in rows.values()) and len(rows) == 8
    # Bytes: 4-bit weights are about a third of bf16's (the bf16 embedding stays).
    assert 3.0 < rows[("bnb-nf4", "graph")]["expected_speedup"] < 3.2
    assert 3.2 < rows[("torchao-int4wo", "graph")]["expected_speedup"] < 3.4
    # Time: the saving is realised only in part, and only with the graph.
    for arm in ("bnb-nf4", "torchao-int4wo"):
        assert 1.0 < rows[(arm, "graph")]["realised_speedup"] < 1.5
        assert rows[(arm, "eager-static")]["realised_speedup"] < 1.0
        assert rows[(arm, "graph")]["path"].startswith("fused low-bit GEMV")
    # int8 weight-only dequantises to bf16 first: it moves more bytes than bf16 itself.
    i8 = rows[("torchao-int8wo", "graph")]
    assert i8["path"] == "dequantise + bf16 GEMM"
    assert i8["dram_gb"] > 2 * rows[("bf16", "graph")]["dram_gb"] and i8["realised_speedup"] < 0.5
    # Fused paths move their weights once: at least the modelled bytes, and no more beyond
    # them (activations, KV, copies) than bf16 moves (~1 GB a step); int8 moves 26 GB more.
    base = rows[("bf16", "graph")]
    for arm in ("bnb-nf4", "torchao-int4wo"):
        r = rows[(arm, "graph")]
        assert 0 < r["dram_gb"] - r["model_gb"] < (base["dram_gb"] - base["model_gb"]) + 0.3
    assert i8["dram_gb"] - i8["model_gb"] > 20
    assert "| torchao-int8wo | graph |" in quant_markdown(table(list(arms.values())), gpu)


def test_path_rule():
    assert path("bf16", []) == "bf16 GEMV (cuBLAS)"
    assert path("x", [{"name": "nvjet_sm90_tst_256x8", "per_step": 56}]) == "dequantise + bf16 GEMM"
    assert path("x", [{"name": "at::native::tinygemm_m16n8k16_chunk_kernel", "per_step": 197},
                      {"name": "nvjet_sm90", "per_step": 1}]) == "fused low-bit GEMV (tinygemm_m16n8k16_chunk_kernel)"


def test_invalid_arm_is_recorded_and_finished_arms_are_kept(tmp_path, fake_children):
    def behave(target, kw, out):
        assert target == "quant:run_arm_result"
        if kw["arm"] != "bnb-nf4":   # bnb's process dies without writing a result
            out.write_text(json.dumps({"model": "m", "ctx": 8, "arm": kw["arm"], "valid": True, "modes": {}}))
        return 0 if kw["arm"] != "bnb-nf4" else -11
    calls = fake_children(behave)
    res = pq.run_quant("m", 8, list(pq.ARMS), tmp_path, progress=lambda m: None)
    bad = [r for r in res if not r["valid"]]
    assert [r["arm"] for r in bad] == ["bnb-nf4"] and "exit -11" in bad[0]["reason"]
    calls.clear()
    pq.run_quant("m", 8, list(pq.ARMS), tmp_path, progress=lambda m: None)
    assert calls == []
    rows = table(res)
    assert any(not r["valid"] and r["arm"] == "bnb-nf4" for r in rows)


def test_trace_dir_reaches_each_arm(tmp_path, fake_children):
    def behave(target, kw, out):
        out.write_text(json.dumps({"model": "m", "ctx": 8, "arm": kw["arm"], "valid": True, "modes": {}}))
        return 0
    calls = fake_children(behave)
    pq.run_quant("m", 8, ["bf16", "awq-marlin"], tmp_path / "o", progress=lambda m: None, trace_dir=tmp_path / "t")
    assert [c[1]["trace_dir"] for c in calls] == [str(tmp_path / "t")] * 2 and (tmp_path / "t").is_dir()
    calls.clear()
    pq.run_quant("m", 8, ["torchao-int4wo"], tmp_path / "o", progress=lambda m: None)
    assert "trace_dir" not in calls[0][1]


@pytest.mark.parametrize("gpu", ["h100", "h200"])
@pytest.mark.parametrize("arm, kernel", [("gptq-exllamav2", "gemm_half_q_half_gptq_kernel"),
                                         ("awq-marlin", "marlin::Marlin<__nv_bfloat16")])
@pytest.mark.parametrize("mode", ["eager-static", "graph"])
def test_shipped_library_arm_traces_run_the_library_kernel(gpu, arm, kernel, mode):
    """Issue 19: the traced kernel names prove the path: the library's kernel once per
    quantised Linear (7 x 28) in every traced step, and the report's top kernel is it."""
    from pathlib import Path

    import numpy as np

    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.render.console import ConsoleRenderer
    from stepscope.analysis.trace import load
    t = load(Path(__file__).resolve().parents[1] / "traces" / f"quant-qwen2.5-7b-ctx2048-{arm}-{mode}-{gpu}.stepscope")
    k = t["kernels"]
    hit = np.array([kernel in t.strings[n] for n in k["name"]])
    for s in t["steps"]["index"]:
        assert int((hit & (k["step"] == s)).sum()) == 196
    top = ConsoleRenderer().top_kernels(TraceAnalysis(t))
    assert kernel.split("<")[0].split("::")[-1] in top[1]


def test_over_sessions_pairs_each_arm_with_its_own_sessions_baseline():
    from stepscope.analysis.results.quant import over_sessions

    def arm(name, ms):
        return {"arm": name, "valid": True, "modes": {"graph": {"valid": True, "median_ms": ms}}}
    sessions = [[arm("bf16", 10.0), arm("q", 8.0)], [arm("bf16", 12.0), arm("q", 8.0)],
                [arm("bf16", 9.0), arm("q", 9.0)]]
    rows = {r["arm"]: r for r in over_sessions(sessions)}
    q = rows["q"]
    assert q["sessions"] == 3 and q["session_ms"] == [8.0, 8.0, 9.0] and q["median_ms"] == 8.0
    assert q["session_speedups"] == [1.25, 1.5, 1.0] and q["realised_speedup"] == 1.25   # not 10.0 / 8.0 pooled
    assert q["speedup_range"] == (1.0, 1.5) and q["realised_speedup_ci"] is None     # 3 sessions: no bootstrap
    many = over_sessions(sessions * 4, min_for_ci=10)
    lo, hi = next(r for r in many if r["arm"] == "q")["realised_speedup_ci"]
    assert 1.0 <= lo <= 1.25 <= hi <= 1.5
    assert rows["bf16"]["realised_speedup"] is None and rows["bf16"]["median_ms"] == 10.0


def test_table_title_names_the_workload_and_gpu():
    """The table is titled by what it compares and the trace's workload, not by a model
    family ("Qwen-style table", issue 29)."""
    title = quant_markdown([], "NVIDIA H100 80GB HBM3", "qwen2.5-7b", 2048).splitlines()[0]
    assert title == ("Quantised weight paths vs bf16: qwen2.5-7b ctx 2048 on NVIDIA H100 80GB HBM3 "
                     "(ms per decode step, median of 30 untraced steps)")
    assert quant_markdown([], "L4").splitlines()[0].startswith("Quantised weight paths vs bf16: on L4 (")
