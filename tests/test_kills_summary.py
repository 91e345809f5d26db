"""analysis/summary.py on constructed inputs with hand-computed answers (issue 31), and on
shipped traces recomputed from their own tables: the per-mode medians (each over its own
mode's steps only, the DRAM bytes as the median of read + write per step, the largest
closure by absolute value, the steps below the floor counted), the untraced step time and
the untraced-equivalent attribution only for the workload's own mode (with the capture's
rounds), the throttle reasons OR-ed over steps (an unread step, -1, hides nothing), the
floor at a calibrated achievable bandwidth (refused for another GPU's calibration), the
tracer's perturbation against its target (3% for graph, else 2%, strictly above is over),
the capture block (kernel_records `concurrent` unless said), the `record --repeat` cost,
and the graph-level block of a graph arm (its medians, kernel inefficiency as the median of
busy - floor per step, its perturbation and its untraced-equivalent attribution)."""
import json

import numpy as np
import pytest

from conftest import RESULTS, trace_path
from stepscope.analysis import floor as F
from stepscope.analysis import summary as S
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.trace import load
from stepscope.analysis.trace.model import Trace, table_from_rows
from stepscope.analysis.untraced import METHOD_IDLE, equivalent

H100 = "NVIDIA H100 80GB HBM3"

# -- a constructed two-mode trace ------------------------------------------------------
# Per-step columns of the attribution, eager steps (rows 0, 2, 4) and graph steps (rows 1,
# 3, 5) interleaved; the middle value of each mode is its median (not its mean, not the
# median of all six rows).
E = {"step_ns": [10_000_000, 14_000_000, 12_000_000],          # median 12 ms, min 10, max 14
     "kernels": [300, 302, 301], "launch_calls": [310, 330, 320],
     "busy_ns": [8_000_000, 9_000_000, 8_500_000],
     "idle_ns": [2_000_000, 5_000_000, 3_500_000],             # step - busy
     "floor_ns": [5_000_000, 5_000_100, 5_000_050],
     "floor_all_ns": [5_001_000, 5_001_100, 5_001_050],
     "kernel_inefficiency_ns": [3_000_000, 3_999_900, 3_499_950],   # busy - floor
     "launch_overhead_ns": [1_500_000, 3_000_000, 2_000_000],
     "other_idle_ns": [500_000, 2_000_000, 1_500_000],         # idle - launch
     "closure_ns": [0, -7, 3],
     # read + write per step: 15.1, 16.05, 16.4 GB -> median 16.05 (the medians' sum is 15.6)
     "dram_read_bytes": [15_000_000_000, 16_000_000_000, 15_500_000_000],
     "dram_write_bytes": [100_000_000, 50_000_000, 900_000_000],
     "dram_bytes_per_s": [1.51e12, 1.15e12, 1.37e12],
     "model_read_bytes": [14_999_942_656, 15_000_000_000, 15_000_057_344],
     "model_all_bytes": [15_999_942_656, 16_000_000_000, 16_000_057_344],
     "busy_below_floor": [False, True, True],
     "sm_clock_mhz": [1980, 1755, 1980], "mem_clock_mhz": [2619, 2600, 2619],
     "throttle_reasons": [0, -1, 4]}                           # -1: not read
G = {"step_ns": [5_000_000, 9_000_000, 6_000_000],             # median 6 ms, min 5, max 9
     "kernels": [2, 4, 3], "launch_calls": [1, 1, 2],
     "busy_ns": [4_000_000, 4_400_000, 4_200_000],
     "idle_ns": [1_000_000, 4_600_000, 1_800_000],
     "floor_ns": [3_000_000, 3_000_200, 3_000_100],
     "floor_all_ns": [3_002_000, 3_002_200, 3_002_100],
     "kernel_inefficiency_ns": [1_000_000, 1_399_800, 1_199_900],
     "launch_overhead_ns": [600_000, 4_000_000, 1_000_000],
     "other_idle_ns": [400_000, 600_000, 800_000],
     "closure_ns": [0, 0, 5],
     # 14.01, 14.23, 14.12 GB -> median 14.12
     "dram_read_bytes": [14_000_000_000, 14_200_000_000, 14_100_000_000],
     "dram_write_bytes": [10_000_000, 30_000_000, 20_000_000],
     "dram_bytes_per_s": [2.8e12, 1.58e12, 2.35e12],
     "model_read_bytes": [13_999_999_000, 14_000_001_000, 14_000_000_000],
     "model_all_bytes": [14_999_999_000, 15_000_001_000, 15_000_000_000],
     "busy_below_floor": [False, False, True],
     "sm_clock_mhz": [1755, 1980, 1755], "mem_clock_mhz": [2600, 2600, 2619],
     "throttle_reasons": [1, 0x20, 0]}
for _c in (E, G):   # % of the floor per step, as attribution.py computes it
    _c["pct_floor"] = [100.0 * f / s for f, s in zip(_c["floor_ns"], _c["step_ns"])]
    _c["pct_floor_all"] = [100.0 * f / s for f, s in zip(_c["floor_all_ns"], _c["step_ns"])]
# graph's untraced steps: sorted 5.0, 5.5, 5.6, 5.8, 5.9 ms -> median 5.6 ms
UNTRACED = [5_500_000, 5_900_000, 5_000_000, 5_800_000, 5_600_000]


def two_mode(meta=None, modes=("eager", "graph")):
    t = Trace()
    t.intern("a kernel")                        # mode ids are not 0 and 1
    ids = [t.intern(m) for m in modes]
    mode = [ids[i % 2] for i in range(6)]
    t.tables["steps"] = table_from_rows("steps", {"index": list(range(6)), "mode": mode,
                                                  "start_ns": [0] * 6, "end_ns": [1] * 6})
    t.meta = meta if meta is not None else {}
    steps = {k: np.array([x for pair in zip(E[k], G[k]) for x in pair]) for k in E}
    steps["mode"] = np.array(mode, np.int64)
    attr = {"steps": steps, "peak_bytes_per_s": 3.35e12, "peak_source": "datasheet (H100 SXM5)",
            "floor_source": "model"}
    return t, attr


def decode_meta(untraced=UNTRACED, **extra):
    """``untraced=None``: no untraced steps (and no bootstrap to wait for)."""
    return {"gpu": {"name": H100}, "workload": {"model": "qwen2.5-7b", "ctx": 2048, "mode": "graph",
                                               "untraced_step_ns": untraced}, **extra}


EAGER = {"steps": 3, "step_ms": 12_000_000 / 1e6, "step_ms_min": 10_000_000 / 1e6, "step_ms_max": 14_000_000 / 1e6,
         "untraced_step_ms": None, "untraced_steps": 0, "kernels": 301.0, "launch_calls": 320.0,
         "busy_ms": 8_500_000 / 1e6, "idle_ms": 3_500_000 / 1e6, "floor_ms": 5_000_050 / 1e6,
         "floor_all_ms": 5_001_050 / 1e6, "kernel_inefficiency_ms": 3_499_950 / 1e6,
         "launch_overhead_ms": 2_000_000 / 1e6, "other_idle_ms": 1_500_000 / 1e6,
         "pct_floor": 100.0 * 5_000_050 / 12_000_000, "pct_floor_all": 100.0 * 5_001_050 / 12_000_000,
         "dram_gb": 16_050_000_000 / 1e9, "dram_gb_per_s": 1.37e12 / 1e9,
         "model_gb": 15_000_000_000 / 1e9, "model_all_gb": 16_000_000_000 / 1e9,
         "closure_max_abs_ns": 7, "achievable_floor_ms": None, "pct_achievable_floor": None,
         "busy_below_floor_steps": 2, "sm_clock_mhz": 1980.0, "mem_clock_mhz": 2619.0,
         "throttle_reasons": ["sw_power_cap"],          # 0 | 4, the unread -1 left out
         "untraced_equivalent": None, "graph_level": None}
GRAPH = {"steps": 3, "step_ms": 6_000_000 / 1e6, "step_ms_min": 5_000_000 / 1e6, "step_ms_max": 9_000_000 / 1e6,
         "untraced_step_ms": 5_600_000 / 1e6, "untraced_steps": 5, "kernels": 3.0, "launch_calls": 1.0,
         "busy_ms": 4_200_000 / 1e6, "idle_ms": 1_800_000 / 1e6, "floor_ms": 3_000_100 / 1e6,
         "floor_all_ms": 3_002_100 / 1e6, "kernel_inefficiency_ms": 1_199_900 / 1e6,
         "launch_overhead_ms": 1_000_000 / 1e6, "other_idle_ms": 600_000 / 1e6,
         "pct_floor": 100.0 * 3_000_100 / 6_000_000, "pct_floor_all": 100.0 * 3_002_100 / 6_000_000,
         "dram_gb": 14_120_000_000 / 1e9, "dram_gb_per_s": 2.35e12 / 1e9,
         "model_gb": 14_000_000_000 / 1e9, "model_all_gb": 15_000_000_000 / 1e9,
         "closure_max_abs_ns": 5, "achievable_floor_ms": None, "pct_achievable_floor": None,
         "busy_below_floor_steps": 1, "sm_clock_mhz": 1755.0, "mem_clock_mhz": 2600.0,
         "throttle_reasons": ["sw_thermal_slowdown"],   # 1 | 0x20 | 0, gpu_idle (0x1) dropped
         "graph_level": None}


def test_each_mode_takes_the_medians_of_its_own_steps():
    t, attr = two_mode(decode_meta())
    modes = S.summarize(t, attr)["modes"]
    assert sorted(modes) == ["eager", "graph"]
    assert modes["eager"] == EAGER
    got = dict(modes["graph"])
    ue = got.pop("untraced_equivalent")
    assert got == GRAPH
    # untraced equivalent of graph: busy 4.2 ms, untraced 5.6 ms: idle 1.4 ms split by the
    # traced launch 1.0 : other 0.6 -> launch 1.4 * 1/1.6 = 0.875 ms, other 0.525 ms;
    # floor 3.0001 ms, kernel inefficiency 4.2 - 3.0001 = 1.1999 ms; sum 5.6 ms
    assert (ue["floor_ms"], ue["kernel_inefficiency_ms"], ue["launch_overhead_ms"], ue["other_idle_ms"]) == \
        (3_000_100 / 1e6, 1_199_900 / 1e6, 875_000 / 1e6, 525_000 / 1e6)
    assert ue["sum_ns"] == ue["untraced_median_ns"] == 5_600_000 and ue["method"] == METHOD_IDLE
    assert ue["launch_share"] == 875_000 / 5_600_000
    # no perturbation block: one round, so the steps are resampled, not rounds
    assert ue["interval"] == "bootstrap over 3 traced and 5 untraced steps"
    assert ue == equivalent(G["busy_ns"], G["floor_ns"], G["launch_overhead_ns"], G["other_idle_ns"], UNTRACED)


def test_untraced_steps_belong_to_the_workloads_mode_only():
    meta = decode_meta()
    meta["workload"]["mode"] = "eager"
    t, attr = two_mode(meta)
    modes = S.summarize(t, attr)["modes"]
    assert (modes["eager"]["untraced_step_ms"], modes["eager"]["untraced_steps"]) == (5.6, 5)
    assert modes["eager"]["untraced_equivalent"]["sum_ns"] == 5_600_000
    assert (modes["graph"]["untraced_step_ms"], modes["graph"]["untraced_steps"]) == (None, 0)
    assert modes["graph"]["untraced_equivalent"] is None


def test_the_untraced_equivalent_resamples_the_captures_rounds():
    # rounds 3, 3 traced and 5 untraced steps: enough to resample whole rounds
    t, attr = two_mode(decode_meta(perturbation={"pct": 1.0, "ci95_pct": [0.5, 1.5], "rounds": 3}))
    ue = S.summarize(t, attr)["modes"]["graph"]["untraced_equivalent"]
    assert ue["interval"] == "bootstrap over 3 interleaved rounds"
    assert ue == equivalent(G["busy_ns"], G["floor_ns"], G["launch_overhead_ns"], G["other_idle_ns"], UNTRACED,
                            rounds=3)


def test_modes_of_one_and_two_steps():
    t, attr = two_mode(decode_meta(None))
    two = np.array([True, True, True, True, True, False])    # graph keeps rows 1 and 3
    attr["steps"] = {k: v[two] for k, v in attr["steps"].items()}
    g = S.summarize(t, attr)["modes"]["graph"]
    assert (g["steps"], g["step_ms"], g["kernels"]) == (2, 7.0, 3.0)      # (5 + 9) / 2 ms, (2 + 4) / 2
    t, attr = two_mode(decode_meta(None))
    one = np.array([True, False, False, False, False, False])  # eager row 0 only
    attr["steps"] = {k: v[one] for k, v in attr["steps"].items()}
    e = S.summarize(t, attr)["modes"]
    assert list(e) == ["eager"]
    assert (e["eager"]["steps"], e["eager"]["step_ms"], e["eager"]["step_ms_min"], e["eager"]["step_ms_max"]) == \
        (1, 10.0, 10.0, 10.0)
    assert e["eager"]["throttle_reasons"] == []


def test_a_mode_whose_throttle_reasons_were_never_read_is_unknown_not_unthrottled():
    t, attr = two_mode(decode_meta(None))
    attr["steps"]["throttle_reasons"] = np.array([-1, 0x20, -1, -1, -1, 0], np.int64)   # eager rows 0, 2, 4
    m = S.summarize(t, attr)["modes"]
    assert m["eager"]["throttle_reasons"] == ["unknown"]            # no NVML: not "no throttling"
    assert m["graph"]["throttle_reasons"] == ["sw_thermal_slowdown"]     # 0x20 | (unread -1) | 0


def test_the_header_fields_and_the_capture_block():
    cap = {"dropped_records": 3, "dram_status": "ok", "pm_overflows": 2, "kernels_without_launch_call": 5,
           "kernels_assigned_by_time": 1, "cupti_buffers": 40}
    t, attr = two_mode(decode_meta(None, capture=cap))
    s = S.summarize(t, attr)
    assert {k: v for k, v in s.items() if k != "modes"} == {
        "gpu": H100, "model": "qwen2.5-7b", "ctx": 2048, "peak_bytes_per_s": 3.35e12,
        "peak_source": "datasheet (H100 SXM5)", "floor_source": "model",
        "capture": {"dropped_records": 3, "dram_status": "ok", "pm_overflows": 2, "kernels_without_launch_call": 5,
                    "kernels_assigned_by_time": 1, "kernel_records": "concurrent"},
        "perturbation": None}
    t, attr = two_mode(decode_meta(None, capture={"kernel_records": "graph"}))
    assert S.summarize(t, attr)["capture"] == {"dropped_records": None, "dram_status": None, "pm_overflows": None,
                                               "kernels_without_launch_call": None, "kernels_assigned_by_time": None,
                                               "kernel_records": "graph"}


def test_a_trace_without_metadata():
    t, attr = two_mode({})
    s = S.summarize(t, attr)
    assert (s["gpu"], s["model"], s["ctx"], s["perturbation"]) == (None, None, None, None)
    assert s["capture"]["kernel_records"] == "concurrent" and s["capture"]["dropped_records"] is None
    assert "record_cost" not in s
    got = dict(s["modes"]["graph"])
    assert got.pop("untraced_equivalent") is None
    assert got == {**GRAPH, "untraced_step_ms": None, "untraced_steps": 0}
    assert s["modes"]["eager"] == EAGER


def test_the_record_cost_only_when_recorded():
    cost = {"per_step": {"pct": 1.5}, "repeat_runs": 3}
    t, attr = two_mode(decode_meta(None, record={"tracer_cost": cost, "command": ["python", "x.py"]}))
    assert S.summarize(t, attr)["record_cost"] == cost
    t, attr = two_mode(decode_meta(None, record={"tracer_cost": None}))
    assert "record_cost" not in S.summarize(t, attr)


def test_the_achievable_floor_of_each_mode_from_a_calibration():
    cal = {"gpu": {"name": H100}, "achievable_bytes_per_s": 2.5e12}
    t, attr = two_mode(decode_meta(None))
    modes = S.summarize(t, attr, cal)["modes"]
    # eager: 15 GB / 2.5 TB/s = 6 ms, of a 12 ms step: 50%; graph: 14 GB -> 5.6 ms of 6 ms
    assert modes["eager"]["achievable_floor_ms"] == pytest.approx(6.0, rel=1e-12)
    assert modes["eager"]["pct_achievable_floor"] == pytest.approx(50.0, rel=1e-12)
    assert modes["graph"]["achievable_floor_ms"] == pytest.approx(5.6, rel=1e-12)
    assert modes["graph"]["pct_achievable_floor"] == pytest.approx(100 * 5.6 / 6, rel=1e-12)
    assert modes["graph"]["achievable_bytes_per_s"] == 2.5e12
    assert "achievable_bytes_per_s" not in S.summarize(t, attr)["modes"]["graph"]


# -- achievable ----------------------------------------------------------------------------
def test_achievable_is_none_without_a_calibration_or_bytes():
    none = {"achievable_floor_ms": None, "pct_achievable_floor": None}
    meta = {"gpu": {"name": H100}}
    assert S.achievable(None, meta, 15e9, 12e6) == none
    assert S.achievable({}, meta, 15e9, 12e6) == none
    # no bytes: nothing to compare, not even another GPU's calibration
    assert S.achievable({"gpu": {"name": "NVIDIA H200"}, "achievable_bytes_per_s": 4e12}, meta, 0, 12e6) == none


def test_achievable_floor_and_its_share_of_the_step():
    cal = {"gpu": {"name": H100}, "achievable_bytes_per_s": 3e12}
    got = S.achievable(cal, {"gpu": {"name": H100}}, 6e9, 4e6)
    # 6 GB / 3 TB/s = 2 ms; of a 4 ms step: 50%
    assert got == {"achievable_floor_ms": pytest.approx(2.0, rel=1e-12),
                   "pct_achievable_floor": pytest.approx(50.0, rel=1e-12), "achievable_bytes_per_s": 3e12}


def test_achievable_refuses_another_gpus_calibration():
    cal = {"gpu": {"name": "NVIDIA H200"}, "achievable_bytes_per_s": 4.5e12}
    with pytest.raises(ValueError) as e:
        S.achievable(cal, {"gpu": {"name": H100}}, 6e9, 4e6)
    assert str(e.value) == f"the calibration is of a NVIDIA H200, the trace of a {H100}."
    with pytest.raises(ValueError) as e:        # a calibration naming no GPU
        S.achievable({"achievable_bytes_per_s": 3e12}, {"gpu": {"name": H100}}, 6e9, 4e6)
    assert str(e.value) == f"the calibration is of a None, the trace of a {H100}."
    with pytest.raises(ValueError) as e:        # a trace naming no GPU
        S.achievable(cal, {}, 6e9, 4e6)
    assert str(e.value) == "the calibration is of a NVIDIA H200, the trace of a None."


# -- perturbation --------------------------------------------------------------------------
def test_no_perturbation_measured():
    assert S.perturbation({}) is None
    assert S.perturbation({"perturbation": None}) is None
    assert S.perturbation({"perturbation": {}}) is None


@pytest.mark.parametrize("mode, pct, target, over", [
    ("graph", 3.0, 3.0, False), ("graph", 3.01, 3.0, True), ("graph", 2.5, 3.0, False),
    ("eager-static", 2.0, 2.0, False), ("eager-static", 2.01, 2.0, True), ("eager", 2.5, 2.0, True),
    ("eager", -4.0, 2.0, False)])
def test_perturbation_against_the_target_of_its_mode(mode, pct, target, over):
    p = {"pct": pct, "ci95_pct": [pct - 1, pct + 1], "rounds": 5}
    assert S.perturbation({"perturbation": p, "workload": {"mode": mode}}) == \
        {**p, "target_pct": target, "over_target": over}


def test_perturbation_without_a_workload_mode_has_the_default_target():
    p = {"pct": 2.5}
    want = {"pct": 2.5, "target_pct": 2.0, "over_target": True}
    assert S.perturbation({"perturbation": p}) == want
    assert S.perturbation({"perturbation": p, "workload": None}) == want
    assert S.perturbation({"perturbation": p, "workload": {"kind": "chain"}}) == want
    t, attr = two_mode(decode_meta(None, perturbation={"pct": 2.5, "rounds": 3}))
    assert S.summarize(t, attr)["perturbation"] == {"pct": 2.5, "rounds": 3, "target_pct": 3.0, "over_target": False}


# -- the graph-level block -----------------------------------------------------------------
# Five steps in capture order. Sorted: step 5.0 5.2 5.4 6.0 7.0 ms -> 5.4; busy 4.0 4.05 4.1
# 4.2 4.3 -> 4.1; floor 3.0 3.0 3.05 3.1 3.2 -> 3.05; idle (step - busy) 0.9 1.1 1.15 2.0 2.8
# -> 1.15; launch 0.09 0.1 0.11 0.12 0.3 -> 0.11; other (idle - launch) 0.78 1.01 1.04 1.9 2.5
# -> 1.04; busy - floor per step 1.0 0.9 1.3 1.1 1.0 -> 1.0 (median busy - median floor: 1.05).
BLOCK_STEPS = {"step_ns": [6_000_000, 5_000_000, 5_400_000, 7_000_000, 5_200_000],
               "busy_ns": [4_000_000, 4_100_000, 4_300_000, 4_200_000, 4_050_000],
               "idle_ns": [2_000_000, 900_000, 1_100_000, 2_800_000, 1_150_000],
               "floor_ns": [3_000_000, 3_200_000, 3_000_000, 3_100_000, 3_050_000],
               "launch_overhead_ns": [100_000, 120_000, 90_000, 300_000, 110_000],
               "other_idle_ns": [1_900_000, 780_000, 1_010_000, 2_500_000, 1_040_000],
               "kernels": [1] * 5, "launch_calls": [1] * 5}
# two per round; sorted 5.25 5.30 5.32 5.35 5.38 | 5.40 5.42 5.45 5.50 5.60 -> 5.39 ms
BLOCK_UNTRACED = [5_300_000, 5_500_000, 5_350_000, 5_600_000, 5_250_000, 5_450_000, 5_400_000, 5_320_000,
                  5_380_000, 5_420_000]


def block(perturbation=True):
    b = {"kernel_records": "graph", "steps": BLOCK_STEPS,
         "capture": {"dropped_records": 0, "untimed_graph_records": 0}}
    if perturbation:
        b["perturbation"] = {"pct": 0.4, "ci95_pct": [-0.2, 1.1], "rounds": 5}
    return b


def test_graph_level_medians_of_the_block():
    got = S.graph_level(block(), BLOCK_UNTRACED)
    ue = got.pop("untraced_equivalent")
    assert got == {"steps": 5, "step_ms": 5_400_000 / 1e6, "busy_ms": 4_100_000 / 1e6, "idle_ms": 1_150_000 / 1e6,
                   "floor_ms": 3_050_000 / 1e6, "kernel_inefficiency_ms": 1_000_000 / 1e6,
                   "launch_overhead_ms": 110_000 / 1e6, "other_idle_ms": 1_040_000 / 1e6,
                   "perturbation_pct": 0.4, "perturbation_ci95_pct": [-0.2, 1.1]}
    # untraced 5.39 ms - busy 4.1 = 1.29 ms idle, split 0.11 : 1.04 -> launch round(1.29e6 * 0.11 /
    # 1.15) = 123,391 ns, other 1,166,609; floor 3.05 ms, kernel inefficiency 4.1 - 3.05 = 1.05
    assert (ue["floor_ms"], ue["kernel_inefficiency_ms"], ue["launch_overhead_ms"], ue["other_idle_ms"]) == \
        (3_050_000 / 1e6, 1_050_000 / 1e6, 123_391 / 1e6, 1_166_609 / 1e6)
    assert ue["sum_ns"] == 5_390_000
    assert ue["interval"] == "bootstrap over 5 interleaved rounds"     # the block's rounds
    s = BLOCK_STEPS
    assert ue == equivalent(s["busy_ns"], s["floor_ns"], s["launch_overhead_ns"], s["other_idle_ns"], BLOCK_UNTRACED,
                            rounds=5)


def test_graph_level_without_perturbation_or_untraced_steps():
    got = S.graph_level(block(perturbation=False), BLOCK_UNTRACED)
    assert (got["perturbation_pct"], got["perturbation_ci95_pct"]) == (None, None)
    assert got["untraced_equivalent"]["interval"] == "bootstrap over 5 traced and 10 untraced steps"
    assert got["untraced_equivalent"]["sum_ns"] == 5_390_000
    got = S.graph_level(block(), None)
    assert got["untraced_equivalent"] is None and got["step_ms"] == 5.4


def test_no_graph_level_block():
    assert S.graph_level(None, BLOCK_UNTRACED) is None
    assert S.graph_level({}, BLOCK_UNTRACED) is None
    empty = {"steps": {k: [] for k in BLOCK_STEPS}, "perturbation": {"pct": 0.4, "rounds": 5}}
    assert S.graph_level(empty, BLOCK_UNTRACED) is None


def test_only_the_graph_mode_reads_the_block():
    t, attr = two_mode(decode_meta(graph_level_block=block()))
    modes = S.summarize(t, attr)["modes"]
    assert modes["eager"]["graph_level"] is None
    # the graph mode's own untraced steps (the workload's mode is graph), not the block's
    assert modes["graph"]["graph_level"] == S.graph_level(block(), UNTRACED)
    assert modes["graph"]["graph_level"]["untraced_equivalent"]["sum_ns"] == 5_600_000
    # modes named otherwise: no block read, even with one in the metadata
    t, attr = two_mode(decode_meta(graph_level_block=block()), modes=("eager", "eager-static"))
    assert all(m["graph_level"] is None for m in S.summarize(t, attr)["modes"].values())


# -- shipped traces ----------------------------------------------------------------------------
def _spans(t):
    """Each step's host start to the later of its host end and its last GPU record's end."""
    st = t["steps"]
    end = st["end_ns"].copy()
    for table in ("kernels", "memcpy", "memset"):
        r = t[table]
        for i, idx in enumerate(st["index"]):
            mine = r["end_ns"][r["step"] == idx]
            if len(mine):
                end[i] = max(end[i], mine.max())
    return end - st["start_ns"]


@pytest.mark.parametrize("name", ["synthetic-h100", "chain-h200"])
def test_shipped_two_mode_trace_recomputed_from_its_tables(name):
    t = load(trace_path(name))
    s = TraceAnalysis(t).get_summary()
    st = t["steps"]
    span = _spans(t)
    names = np.array([t.strings[m] for m in st["mode"]])
    assert sorted(s["modes"]) == sorted(set(names)) == ["eager", "graph"]
    for mode, m in s["modes"].items():
        mine = names == mode
        per_step_kernels = [int((t["kernels"]["step"] == i).sum()) for i in st["index"][mine]]
        assert m["steps"] == int(mine.sum())
        assert m["step_ms"] == float(np.median(span[mine])) / 1e6
        assert (m["step_ms_min"], m["step_ms_max"]) == (span[mine].min() / 1e6, span[mine].max() / 1e6)
        assert m["kernels"] == float(np.median(per_step_kernels))
        assert m["sm_clock_mhz"] == float(np.median(st["sm_clock_mhz"][mine]))
        assert m["closure_max_abs_ns"] == 0 and m["untraced_equivalent"] is None and m["graph_level"] is None


def test_shipped_graph_arm_graph_level_block_is_its_graph_level_trace():
    """The main job's graph arm keeps its graph-level block in meta and writes it whole beside
    the trace (`-graphlevel`): the summary's graph_level block is that trace's own medians."""
    a = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-graph-mainjob-h200"))
    gl_trace = load(trace_path("qwen2.5-7b-ctx2048-graph-mainjob-graphlevel-h200"))
    gst = TraceAnalysis(gl_trace).get_steps()
    g = a.get_summary()["modes"]["graph"]["graph_level"]
    assert g["steps"] == len(gst["step_ns"]) == 5
    for k in ("step", "busy", "idle", "floor", "launch_overhead", "other_idle"):
        assert g[f"{k}_ms"] == float(np.median(gst[f"{k}_ns"])) / 1e6, k
    assert g["kernel_inefficiency_ms"] == float(np.median(gst["kernel_inefficiency_ns"])) / 1e6
    assert g["perturbation_pct"] == gl_trace.meta["perturbation"]["pct"]
    assert g["perturbation_ci95_pct"] == gl_trace.meta["perturbation"]["ci95_pct"]
    un = a.trace.meta["workload"]["untraced_step_ns"]
    ue = g["untraced_equivalent"]
    assert ue["sum_ns"] == int(round(np.median(un)))
    assert ue["interval"] == "bootstrap over 5 interleaved rounds"
    # the per-kernel block's own figures stay beside it
    m = a.get_summary()["modes"]["graph"]
    assert m["step_ms"] == float(np.median(a.get_steps()["step_ns"])) / 1e6 != g["step_ms"]
    assert (m["untraced_step_ms"], m["untraced_steps"]) == (float(np.median(un)) / 1e6, len(un))


def test_shipped_decode_trace_untraced_and_perturbation():
    t = load(trace_path("qwen2.5-7b-ctx2048-eager-static-r10-h100"))
    s = TraceAnalysis(t).get_summary()
    m = s["modes"]["eager-static"]
    un = t.meta["workload"]["untraced_step_ns"]
    assert (m["untraced_step_ms"], m["untraced_steps"]) == (float(np.median(un)) / 1e6, 50)
    assert m["untraced_equivalent"]["sum_ns"] == int(round(np.median(un)))
    assert m["untraced_equivalent"]["interval"] == "bootstrap over 10 interleaved rounds"
    p = t.meta["perturbation"]
    assert s["perturbation"] == {**p, "target_pct": 2.0, "over_target": p["pct"] > 2.0}
    assert s["perturbation"]["over_target"]               # 15.7% over a 2% target
    assert s["capture"]["kernel_records"] == "concurrent" and s["gpu"] == t.meta["gpu"]["name"] == H100
    assert (s["model"], s["ctx"]) == ("qwen2.5-7b", 2048)


def test_shipped_record_repeat_trace_carries_its_tracer_cost():
    t = load(trace_path("record-repeat-qwen2.5-7b-ctx2048-loop-eager-static-h200"))
    assert TraceAnalysis(t).get_summary()["record_cost"] == t.meta["record"]["tracer_cost"]
    assert "record_cost" not in TraceAnalysis(trace_path("record-qwen2.5-7b-ctx2048-loop-eager-static-h200")) \
        .get_summary()


def test_shipped_trace_achievable_floor_from_its_gpus_calibration():
    t = load(trace_path("qwen2.5-7b-ctx2048-eager-static-h100"))
    cal = json.loads((RESULTS / "calibration-h100.json").read_text())
    m = TraceAnalysis(t, cal).get_summary()["modes"]["eager-static"]
    # the bytes read at the median step's KV position (the read bytes grow with the position)
    wl = t.meta["workload"]
    first = int(wl.get("first_traced_position", wl["ctx"]))
    positions = wl.get("traced_positions") or [first + i for i in range(len(t["steps"]["index"]))]
    read = float(np.median([F.step_bytes(wl, int(p))["read_bytes"] for p in positions]))
    f_ms = read / cal["achievable_bytes_per_s"] * 1e3
    assert m["achievable_floor_ms"] == pytest.approx(f_ms, rel=1e-12)
    assert m["pct_achievable_floor"] == pytest.approx(100 * f_ms / m["step_ms"], rel=1e-12)
    assert m["achievable_bytes_per_s"] == cal["achievable_bytes_per_s"]
    h200 = json.loads((RESULTS / "calibration-h200.json").read_text())
    with pytest.raises(ValueError, match="the calibration is of a NVIDIA H200, the trace of a NVIDIA H100"):
        TraceAnalysis(t, h200).get_summary()
