"""A/B statistics on the recorded sessions, resume after an interruption, and the
sweep's resume, invalid cells and cross-GPU comparison. The session and cell
processes (which need a GPU) are replaced by stubs that write their result files."""
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import RESULTS
from stepscope.analysis.render.tables import sweep_csv, sweep_markdown
from stepscope.analysis.results import ab as AB
from stepscope.analysis.results import sweep as SW
from stepscope.profiler.experiments import ab as pab
from stepscope.profiler.experiments import sweep as psw


@pytest.fixture(scope="module")
def sessions_h100():
    return pab.load_sessions(RESULTS / "ab-h100")


def test_recorded_ab_statistics(sessions_h100):
    assert len(sessions_h100) == 10
    r = AB.summarize(sessions_h100, "eager-static", "graph", node_gaps_ns=[788.1, 792.9])
    sp = np.array(r["speedup"])
    assert r["speedup_median"] == pytest.approx(float(np.median(sp)))
    lo, hi = r["ci95"]
    assert lo <= r["speedup_median"] <= hi and hi - lo < 1.0
    assert min(sp) <= lo and hi <= max(sp)
    assert r == AB.summarize(sessions_h100, "eager-static", "graph", node_gaps_ns=[788.1, 792.9])   # seeded
    assert r["verdict"] == "explained by launch overhead"
    assert r["prediction_ci95"][0] < r["predicted_speedup_median"] < r["prediction_ci95"][1]
    r2 = AB.summarize(sessions_h100, "eager-static", "eager")
    assert r2["predicted_speedup_median"] is None and "no prediction" in r2["verdict"]


def test_bootstrap_ci_shrinks_with_more_sessions():
    rng = np.random.default_rng(1)
    small = AB.bootstrap_ci(1.25 + 0.02 * rng.standard_normal(5))
    large = AB.bootstrap_ci(1.25 + 0.02 * rng.standard_normal(200))
    assert large[1] - large[0] < small[1] - small[0]
    assert large[0] < 1.25 < large[1]


def _fake_session(ms):
    def sess(i):
        return {"model": "qwen2.5-7b", "ctx": 2048, "gpu": "fake", "arms": {
            arm: {"median_ms": v + 0.01 * i, "step_ns": [], "traced": {
                "step_ns": 30_000_000, "busy_ns": 9_000_000, "floor_ns": 4_000_000,
                "launch_overhead_ns": 20_000_000, "other_idle_ns": 1_000_000, "kernels": 1500,
                "launch_calls": 1500}} for arm, v in ms.items()}}
    return sess


def test_ab_resumes_after_interruption(tmp_path, fake_children):
    make = _fake_session({"eager-static": 25.0, "graph": 10.0})
    order = []

    def behave(target, kwargs, out):
        assert target == "ab:run_session" and kwargs["arms"] == ["eager-static", "graph"]
        i = int(out.stem.split("-")[1])
        order.append(i)
        if i == 4 and len(order) == 5:      # the fifth session dies: interrupted
            return 1
        out.write_text(json.dumps(make(i)))
        return 0
    fake_children(behave)
    with pytest.raises(RuntimeError, match="session 4 process ended without a result"):
        pab.run_ab("qwen2.5-7b", 2048, 8, ["eager-static", "graph"], tmp_path, progress=lambda m: None)
    assert sorted(p.name for p in tmp_path.glob("session-*.json")) == [f"session-{i:02d}.json" for i in range(4)]
    res = pab.run_ab("qwen2.5-7b", 2048, 8, ["eager-static", "graph"], tmp_path, progress=lambda m: None)
    assert order == [0, 1, 2, 3, 4, 4, 5, 6, 7] and len(res) == 8
    with pytest.raises(ValueError, match="other settings"):
        pab.run_ab("qwen2.5-7b", 4096, 8, ["eager-static", "graph"], tmp_path, progress=lambda m: None)


def test_sweep_resumes_and_records_invalid_cells(tmp_path, fake_children):
    def behave(target, kw, out):
        assert target == "sweep:run_cell"
        if kw["ctx"] == 16384:
            return -9   # crashed: no result written
        model, mode, ctx = kw["model"], kw["mode"], kw["ctx"]
        out.write_text(json.dumps({"model": model, "ctx": ctx, "mode": mode, "valid": False,
                                   "reason": "needs about 99 GB"} if ctx == 8192 else
                                  {"model": model, "ctx": ctx, "mode": mode, "valid": True, "gpu": "G",
                                   "peak_bytes_per_s": 1e12, "median_ms": 10.0 if mode == "graph" else 20.0}))
        return 0
    calls = fake_children(behave)
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "m-ctx2048-eager.json").write_text(json.dumps(
        {"model": "m", "ctx": 2048, "mode": "eager", "valid": True, "gpu": "G", "peak_bytes_per_s": 1e12,
         "median_ms": 20.0}))
    cells = psw.run_sweep(["m"], [2048, 8192, 16384], ["eager", "graph"], tmp_path, progress=lambda m: None)
    stems = [out.stem for _, _, out in calls]
    assert "m-ctx2048-eager" not in stems and len(stems) == 5 and len(cells) == 6
    bad = {c["ctx"]: c["reason"] for c in cells if not c["valid"]}
    assert bad[8192] == "needs about 99 GB"
    assert bad[16384] == "cell process ended without a result (exit -9)"
    calls.clear()
    psw.run_sweep(["m"], [2048, 8192, 16384], ["eager", "graph"], tmp_path, progress=lambda m: None)
    assert calls == []   # nothing is recomputed


def test_recorded_sweeps_and_compare():
    h100, h200 = psw.load_cells(RESULTS / "sweep-h100"), psw.load_cells(RESULTS / "sweep-h200")
    assert len(h100) == len(h200) == 24 and all(c["valid"] for c in h100 + h200)
    res = SW.compare([h200, h100])
    assert [r["gpu"] for r in res["gpus"]] == ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]
    assert res["answer"]["pct_floor_falls_as_peak_rises"] == {"eager": True, "graph": True}
    md = sweep_markdown(h100)
    assert md.count("\n") == 25 and "qwen2.5-7b | 2048 | graph" in md
    assert sweep_csv(h100).count("\n") == 25
    with pytest.raises(ValueError, match="no sweep cells"):
        psw.load_cells(RESULTS)


def test_floor_table_for_gpus_we_cannot_run():
    cfg = json.loads((Path(psw.__file__).parents[1] / "workloads" / "models" / "qwen2.5-7b.json").read_text())
    row = SW.floor_table({"qwen2.5-7b": cfg})[0]
    # (15.231 GB weights + 2048 x 57,344 B KV) / 300 GB/s on an L4
    assert row["L4"] == pytest.approx((15_231_233_024 + 2048 * 57_344) / 300e9 * 1e3, rel=1e-9)
