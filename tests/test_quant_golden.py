"""The quantised arms' table and their over-sessions statistics pinned whole (issue 31): the
rows `stepscope quant` prints from the arms recorded on the H100 and the H200 (each field,
intervals included), the statistics over the four fresh H100 sessions of the library arms,
and constructed arms for each case the recorded ones do not reach (an invalid arm or mode,
an invalid or absent baseline, too few steps for an interval, no DRAM bytes). Regenerate the
goldens with `python tests/test_quant_golden.py` after a change that means to move them."""
import json
import sys

import pytest

from conftest import RESULTS, ROOT, same_json
from stepscope.analysis.results.quant import over_sessions, path, step_cis, table
from stepscope.profiler.experiments import quant as pq

GOLDEN = ROOT / "tests" / "golden" / "quant"
FOLDERS = ["quant-h100", "quant-h200", "quant-lib-h100", "quant-lib-h200"]
SESSIONS = RESULTS / "quant-lib-h100-sessions"


def _json(x) -> str:
    return json.dumps(x, indent=1, default=float) + "\n"


def _table(folder):
    return _json(table(pq.load_arms(RESULTS / folder, "qwen2.5-7b", 2048)))


def _sessions():
    runs = json.loads((SESSIONS / "sessions.json").read_text())["sessions"]     # the four, in README's order
    return _json(over_sessions([pq.load_arms(ROOT / d, "qwen2.5-7b", 2048) for d in runs]))


@pytest.mark.parametrize("folder", FOLDERS)
def test_table_of_recorded_arms_is_the_golden(folder):
    assert (d := same_json(_table(folder), (GOLDEN / f"table-{folder}.json").read_text())) is None, d


def test_over_sessions_of_recorded_sessions_is_the_golden():
    assert (d := same_json(_sessions(), (GOLDEN / "sessions-quant-lib-h100.json").read_text())) is None, d


def mode(ms, model_gb, dram_gb, steps=(), valid=True, kernels=None):
    return {"valid": valid, "median_ms": ms, "model_gb": model_gb, "dram_gb": dram_gb, "floor_ms": ms / 4,
            "step_ns": list(steps), "launch_overhead_ms": ms / 10, "traced_ms": ms * 2, "kernels": 100,
            "classes": {"gemm": {"ms": 1.0}, "dequant": {"ms": 0.5}, "norm": {"ms": 0.25}, "attention": {"ms": 2.0}},
            "matmul_kernels": kernels if kernels is not None else
            [{"name": "nvjet_a", "per_step": 56.4}, {"name": "b", "per_step": 2}, {"name": "c", "per_step": 1}]}


def arm(name, modes, valid=True, reason=None, library="lib"):
    a = {"arm": name, "valid": valid, "modes": modes, "weight_bytes": 5e9, "library": library}
    return a if reason is None else {**a, "reason": reason}


def test_table_rows_of_constructed_arms():
    bf16 = arm("bf16", {"graph": mode(10.0, 15.0, 16.0, steps=[10e6, 10.2e6, 9.9e6]),
                        "eager": mode(20.0, 15.0, 16.0, valid=False) | {"reason": "crashed"}})
    q = arm("q", {"graph": mode(8.0, 5.0, 0.0, steps=[8e6]), "eager": mode(16.0, 5.0, 6.0)})
    bad = arm("bad", {}, valid=False, reason="no kernel")
    rows = table([bf16, q, bad])
    assert rows[1] == {"arm": "bf16", "mode": "eager", "valid": False, "reason": "crashed"}
    assert rows[4] == {"arm": "bad", "mode": "-", "valid": False, "reason": "no kernel"}
    assert table([arm("x", {}, valid=False)])[0]["reason"] == ""
    assert table([arm("x", {"graph": {"valid": False}})])[0] == {"arm": "x", "mode": "graph", "valid": False,
                                                                 "reason": ""}
    b, g, e = rows[0], rows[2], rows[3]
    assert b["expected_speedup"] == 1.0 and b["realised_speedup"] == 1.0 and b["realised_speedup_ci"] is None
    assert b["median_ms_ci"] is not None and b["median_ms_ci"][0] <= 10.0 <= b["median_ms_ci"][1]
    assert g == {"arm": "q", "mode": "graph", "valid": True, "library": "lib", "weight_gb": 5.0, "median_ms": 8.0,
                 "model_gb": 5.0, "dram_gb": 0.0, "floor_ms": 2.0, "pct_floor": 25.0, "expected_speedup": 3.0,
                 "realised_speedup": 1.25, "median_ms_ci": None, "realised_speedup_ci": None, "dram_speedup": None,
                 "launch_share": 0.05, "kernels": 100, "matmul_ms": 1.5, "other_kernels_ms": 2.25,
                 "path": "dequantise + bf16 GEMM", "matmul_kernels": "nvjet_a x56, b x2"}
    # the baseline's eager mode is invalid: nothing to compare with
    assert (e["expected_speedup"], e["realised_speedup"], e["dram_speedup"]) == (None, None, None)
    # no valid baseline arm, or none named: no comparison at all
    for arms, base in (([arm("bf16", bf16["modes"], valid=False), q], "bf16"), ([bf16, q], "other")):
        r = next(x for x in table(arms, base=base) if x["arm"] == "q" and x["mode"] == "graph")
        assert (r["expected_speedup"], r["realised_speedup"], r["dram_speedup"]) == (None, None, None)
    assert table([bf16, arm("q", {"graph": mode(8.0, 5.0, 4.0)})])[2]["dram_speedup"] == 4.0


def test_an_invalid_mode_does_not_hide_the_modes_after_it():
    bf16 = arm("bf16", {"eager": mode(20.0, 15.0, 16.0), "graph": mode(10.0, 15.0, 16.0)})
    q = arm("q", {"eager": {"valid": False, "reason": "oom"}, "graph": mode(8.0, 5.0, 4.0),
                  "eager-static": mode(12.0, 5.0, 4.0)})
    rows = [(r["arm"], r["mode"], r["valid"]) for r in table([bf16, q])]
    assert rows == [("bf16", "eager", True), ("bf16", "graph", True), ("q", "eager", False), ("q", "graph", True),
                    ("q", "eager-static", True)]
    # eager-static has no baseline mode: nothing to compare with
    last = table([bf16, q])[-1]
    assert (last["expected_speedup"], last["realised_speedup"], last["dram_speedup"]) == (None, None, None)
    s = over_sessions([[bf16, q]])
    assert [(r["arm"], r["mode"]) for r in s] == [("bf16", "eager"), ("bf16", "graph"), ("q", "graph"),
                                                  ("q", "eager-static")]


def test_path_of_an_arm_without_matmul_kernels():
    assert path("q", []) == "fused low-bit GEMV ()"


def test_ten_sessions_get_a_bootstrap_interval_by_default():
    def a(name, ms):
        return {"arm": name, "valid": True, "modes": {"graph": {"valid": True, "median_ms": ms}}}
    ten = [[a("bf16", 10.0), a("q", 8.0 + i / 10)] for i in range(10)]
    q = next(r for r in over_sessions(ten) if r["arm"] == "q")
    assert q["median_ms_ci"] is not None and q["realised_speedup_ci"] is not None
    q = next(r for r in over_sessions(ten[:9]) if r["arm"] == "q")
    assert q["median_ms_ci"] is None and q["realised_speedup_ci"] is None


def test_step_intervals_need_two_steps_on_each_side():
    one, two = {"step_ns": [1e6]}, {"step_ns": [1e6, 3e6]}
    assert step_cis(one, {"valid": True, "step_ns": [1e6, 2e6]}) == (None, None)
    assert step_cis({}, {}) == (None, None)
    ms, sp = step_cis(two, {"valid": True, "step_ns": [2e6]})
    assert sp is None and ms is not None and 1.0 <= ms[0] <= ms[1] <= 3.0
    assert step_cis(two, {"valid": False, "step_ns": [2e6, 4e6]})[1] is None
    ms, sp = step_cis(two, {"valid": True, "step_ns": [4e6, 4e6]})
    assert 4 / 3 <= sp[0] <= sp[1] <= 4.0 and all(isinstance(x, float) for x in ms + sp)


def test_over_sessions_of_an_invalid_mode_and_without_a_baseline():
    def a(name, ms, valid=True):
        return {"arm": name, "valid": True, "modes": {"graph": {"valid": valid, "median_ms": ms}}}
    rows = over_sessions([[a("q", 8.0), a("r", 4.0, valid=False)], [a("q", 6.0)]], base="bf16")
    assert rows == [{"arm": "q", "mode": "graph", "sessions": 2, "session_ms": [8.0, 6.0], "median_ms": 7.0,
                     "ms_range": (6.0, 8.0), "median_ms_ci": None, "session_speedups": [], "realised_speedup": None,
                     "speedup_range": None, "realised_speedup_ci": None}]
    rows = over_sessions([[a("q", 8.0), a("bf16", 10.0)]] * 2, min_for_ci=2)
    q = next(r for r in rows if r["arm"] == "q")
    assert q["median_ms_ci"] == pytest.approx((8.0, 8.0)) and q["realised_speedup_ci"] == pytest.approx((1.25, 1.25))
    assert over_sessions([[{"arm": "q", "valid": False, "modes": {"graph": {"valid": True, "median_ms": 1.0}}}]]) == []


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for f in FOLDERS:
        (GOLDEN / f"table-{f}.json").write_text(_table(f))
    (GOLDEN / "sessions-quant-lib-h100.json").write_text(_sessions())
    print("wrote", GOLDEN)
