"""Small analysis modules pinned with hand-computed answers (issue 31): NVML throttle bit
names, per-step NVML values from piecewise-constant samples (median of the samples holding
in the window, OR of throttle bits, energy as the integral of power, mean power), the JSON
report's conversion of numpy values, the trace reader's refusal of what is not a regular
file, and the workload builder's keys."""
import os

import numpy as np
import pytest

from stepscope.analysis.render.json_report import _jsonable
from stepscope.analysis.throttle import THROTTLE_BITS, throttle_names
from stepscope.analysis.trace import workload
from stepscope.analysis.trace.errors import TraceFileError, require_regular_file
from stepscope.analysis.trace.nvml_steps import per_step, power_integral_mj


def test_throttle_names():
    assert throttle_names(0) == []
    assert throttle_names(0x1) == [] and throttle_names(0x1, ignore_idle=False) == ["gpu_idle"]
    assert throttle_names(0x4 | 0x20 | 0x1) == ["sw_power_cap", "sw_thermal_slowdown"]
    assert throttle_names(0x1FF, ignore_idle=False) == list(THROTTLE_BITS.values())
    assert throttle_names(0x200) == []
    assert throttle_names(-1) == ["unknown"] and throttle_names(None) == ["unknown"]


MS = 1_000_000
NVML = {"t_ns": np.array([100, 200, 400]) * MS, "power_mw": np.array([1000, 2000, 3000]),
        "sm_clock_mhz": np.array([1000, 1500, 2000]), "mem_clock_mhz": np.array([2619, 2619, 2600]),
        "temperature_c": np.array([40, 41, 44]), "throttle_reasons": np.array([0x4, -1, 0x20])}


def test_per_step_values_of_the_samples_holding_in_each_window():
    start = np.array([150, 50, 300, 50, 250]) * MS
    end = np.array([250, 90, 500, 150, 250]) * MS
    got = per_step(NVML, start, end)
    # [150, 250] ms: samples 0 and 1 hold -> clocks median 1250; bits 0x4 | (unknown -1 read as 0);
    #   energy 1000 mW x 50 ms + 2000 mW x 50 ms = 150 mJ over 100 ms: 1500 mW
    # [50, 90] ms: before the first sample: -1 throughout
    # [300, 500] ms: samples 1 and 2: 1750 MHz; 0x20; 2000 x 100 + 3000 x 100 = 500 mJ: 2500 mW
    # [50, 150] ms: from before the first sample into it: sample 0 only, its 50 ms: 50 mJ over 100 ms
    # [250, 250]: an empty window holds sample 1: its values, 0 mJ; its throttle query failed
    #   (-1): unknown, not "no throttling"
    assert {k: v.tolist() for k, v in got.items()} == {
        "sm_clock_mhz": [1250, -1, 1750, 1000, 1500], "mem_clock_mhz": [2619, -1, 2609, 2619, 2619],
        "temperature_c": [40, -1, 42, 40, 41], "throttle_reasons": [4, -1, 32, 4, -1],
        "power_mw": [1500, -1, 2500, 500, 0], "energy_mj": [150, -1, 500, 50, 0]}
    assert all(v.dtype == np.int64 for v in got.values())


def test_windows_starting_or_ending_on_a_sample_and_a_1_ns_window():
    # [200, 250] ms: the sample at 200 holds at the start (not the one before it): 1500 MHz
    # [150, 200] ms: the sample at 200 is inside: median(1000, 1500) = 1250
    # [250 ms, +1 ns]: 2000 mW for 1 ns: 2e-6 mJ (rounds to 0), mean power 2000 mW
    got = per_step(NVML, [200 * MS, 150 * MS, 250 * MS], [250 * MS, 200 * MS, 250 * MS + 1])
    assert got["sm_clock_mhz"].tolist() == [1500, 1250, 1500]
    assert got["power_mw"].tolist() == [2000, 1000, 2000] and got["energy_mj"].tolist() == [100, 50, 0]


def test_per_step_without_samples_and_the_integral_alone():
    empty = {k: np.zeros(0, np.int64) for k in NVML}
    assert {k: v.tolist() for k, v in per_step(empty, [0, 5], [10, 20]).items()} == {
        k: [-1, -1] for k in ("sm_clock_mhz", "mem_clock_mhz", "temperature_c", "power_mw", "energy_mj",
                              "throttle_reasons")}
    assert power_integral_mj(empty, [0, 1], [2, 3]).tolist() == [-1.0, -1.0]
    # past the last sample, its power holds: 3000 mW x 100 ms after 400 ms
    assert power_integral_mj(NVML, [400 * MS, 0], [500 * MS, 200 * MS]).tolist() == [300.0, 100.0]
    one = {**NVML, "t_ns": NVML["t_ns"][:1], "power_mw": NVML["power_mw"][:1]}
    assert power_integral_mj(one, [0, 100 * MS], [150 * MS, 300 * MS]).tolist() == [50.0, 200.0]


def test_json_values():
    x = {1: (np.int64(3), np.float32(0.5)), "a": np.array([1.5, np.nan, np.inf]), "b": [np.bool_(True), -np.inf],
         "c": float("nan"), "d": 2.5, "e": "s", "f": None, "g": True, "h": 7}
    got = _jsonable(x)
    assert got == {"1": [3, 0.5], "a": [1.5, None, None], "b": [True, None], "c": None, "d": 2.5, "e": "s",
                   "f": None, "g": True, "h": 7}
    assert type(got["1"][0]) is int and type(got["1"][1]) is float and type(got["b"][0]) is bool
    assert type(got["g"]) is bool and type(got["h"]) is int


def test_only_regular_files_are_read(tmp_path):
    f = tmp_path / "t.stepscope"
    f.write_bytes(b"x")
    require_regular_file(f)
    cases = [(tmp_path / "none", f"{tmp_path / 'none'}: no such file."),
             (tmp_path, f"{tmp_path}: is a folder, not a trace file."),
             ("/dev/null", "/dev/null: is not a regular file (a FIFO, socket or device); give a trace file."),
             (str(f) + "/x", f"{f}/x: cannot be read (Not a directory).")]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases.append((fifo, f"{fifo}: is not a regular file (a FIFO, socket or device); give a trace file."))
    for path, message in cases:
        with pytest.raises(TraceFileError) as e:
            require_regular_file(path)
        assert str(e.value) == message


def test_decode_workload_keys():
    cfg = {"hidden_size": 8}
    assert workload.decode("m", cfg, 2048) == {"kind": "decode", "model": "m", "config": cfg, "ctx": 2048,
                                               "first_traced_position": 2048}
    wl = workload.decode("m", cfg, 2048, mode="graph", next_position=2058, traced_steps=4,
                         sizes={"param_bytes": 10, "input_embedding_bytes": 2, "other": 1}, note="x")
    assert wl == {"kind": "decode", "model": "m", "config": cfg, "ctx": 2048, "first_traced_position": 2054,
                  "mode": "graph", "param_bytes": 10, "input_embedding_bytes": 2, "note": "x"}
    wl = workload.decode("m", cfg, 2048, next_position="2050", positions=[2049.0, 2051, 2053])
    assert wl["first_traced_position"] == 2049 and wl["traced_positions"] == [2049, 2051, 2053]
    assert all(type(p) is int for p in wl["traced_positions"])
    assert workload.decode("m", cfg, 16, next_position="20")["first_traced_position"] == 20
    assert workload.decode("m", cfg, 16, positions=[])["first_traced_position"] == 16


def test_constructed_workload_keys():
    assert workload.constructed("chain", 1024.0, "a chain", stages=3) == {
        "kind": "chain", "bytes_per_step": 1024, "description": "a chain", "stages": 3}
    assert type(workload.constructed("k", 2.9, "d")["bytes_per_step"]) is int
