"""analysis/render/predict.py on constructed prediction results with hand-written text
(issue 31), the parts the golden of tests/test_predict_golden.py does not reach: several
sources, each a block of a 44-character label column, its measured column and a 22-character
column per target GPU, ended by a blank line; a source without an untraced median
(measured step "-"), a trace of no path ("(trace)"), a target on the source's own GPU,
negative and rounding-edge figures, the host scale as written (``:g``); the graph speedups,
measured or not; an empty result; the JSON (numpy scalars and arrays as plain values,
non-finite as null, indent 1); and the ``--sweep`` text (a row per ctx, a cell per target,
the closing note)."""
from __future__ import annotations

import json

import numpy as np

from stepscope.analysis.render.predict import PredictJson, PredictSweepText, PredictText, _ms


def _pred(gpu, step, lo, hi, floor, ineff, launch, other, pct, pct_all, ach, ach_src, ratio, ratio_src, same):
    return {"gpu": gpu, "step_ns": step, "step_lo_ns": lo, "step_hi_ns": hi, "floor_ns": floor,
            "kernel_inefficiency_ns": ineff, "launch_overhead_ns": launch, "other_idle_ns": other, "pct_floor": pct,
            "pct_floor_all": pct_all, "achievable_bytes_per_s": ach, "achievable_source": ach_src,
            "node_gap_ratio": ratio, "node_gap_source": ratio_src, "same_gpu": same}


def _source(trace, mode, untraced, sigma, note, measured, preds):
    return {"trace": trace, "model": "m-7b", "ctx": 1024, "mode": mode, "gpu": "H100 SXM",
            "bytes_source": "PM fit (estimate)", "host_sigma": sigma, "host_sigma_note": note,
            "measured": {"untraced_step_ms": untraced, **measured}, "predictions": preds}


MEASURED_A = {"floor_ms": 1.0, "kernel_inefficiency_ms": 2.5, "launch_overhead_ms": 8.0004, "other_idle_ms": 0.0,
              "pct_floor": 8.14, "pct_floor_all": 9.06}
MEASURED_B = {"floor_ms": 0.9996, "kernel_inefficiency_ms": -0.25, "launch_overhead_ms": 0.0, "other_idle_ms": 12.0,
              "pct_floor": 0.04, "pct_floor_all": 100.0}


def _result():
    a = _source("/runs/a.stepscope", "eager", 12.3456, 1.23456, "fitted", MEASURED_A, [
        _pred("H200", 10_123_456, 9_000_400, 11_999_999, 700_000, 2_345_678, 6_000_001, 1_077_777, 6.96, 7.74,
              4.41328e12, "measured: calibrate", 0.6351, "calibrated node costs, target / source", False),
        _pred("H100 SXM", 12_345_000, 12_000_000, 13_000_000, 1_000_000, 2_500_000, 8_000_400, 0, 8.1, 8.96,
              3.0e12, "measured: calibrate", 1.0, "calibrated node costs, target / source", True)])
    b = _source("", "graph", None, 1.0, "no untraced steps of this mode", MEASURED_B, [
        _pred("H200", 3_000_000, 2_999_600, 3_000_400, 600_000, -250_000, 0, -1_600, 20.0, 99.96,
              4.41328e12, "measured: calibrate", 0.6351, "calibrated node costs, target / source", False),
        _pred("L4", 40_000_000, 39_000_000, 41_000_000, 30_000_000, 9_000_000, 500_000, 500_000, 75.0, 80.0,
              2.73e11, "assumed: peak x 0.911", 1.0, "assumed equal to the source's", False)])
    speedups = [{"model": "m-7b", "ctx": 1024, "base": "eager", "base_gpu": "H100 SXM", "graph_gpu": "H100 SXM",
                 "measured_source": 3.14159, "targets": [{"gpu": "H200", "speedup": 1.2345, "lo": 1.0004, "hi": 1.5},
                                                         {"gpu": "H100 SXM", "speedup": 2.0, "lo": 1.9996, "hi": 2.25}]},
                {"model": "m-7b", "ctx": 4096, "base": "eager-static", "base_gpu": "H200", "graph_gpu": "H100 SXM",
                 "measured_source": None, "targets": [{"gpu": "L4", "speedup": 0.5, "lo": 0.25, "hi": 0.75}]}]
    return {"host_scale": 0.5, "sources": [a, b], "speedups": speedups}


def _row(label, *cells):
    """A table row: two spaces, the label in 42 characters, each cell right-aligned in 22."""
    return "  " + label.ljust(42) + "".join(c.rjust(22) for c in cells)


TEXT = [
    "m-7b  ctx 1024  mode eager  from H100 SXM (/runs/a.stepscope)",
    "  DRAM bytes per kernel: PM fit (estimate); host: fitted (x1.235), host scale 0.5: the host is assumed unchanged",
    " " * 44 + "  measured on H100 SXM" + "        predicted H200" + "    predicted H100 SXM",
    _row("step ms (untraced median | predicted)", "12.346", "10.123", "12.345"),
    _row("  range ms (steps, bandwidth, node cost)", "", "9.000-12.000", "12.000-13.000"),
    _row("memory floor ms (bytes read / peak)", "1.000", "0.700", "1.000"),
    _row("kernel inefficiency ms (busy - floor)", "2.500", "2.346", "2.500"),
    _row("launch overhead ms (GPU waited for host)", "8.000", "6.000", "8.000"),
    _row("other idle ms", "0.000", "1.078", "0.000"),
    _row("% of floor (bytes read / all parameters)", "8.1 / 9.1", "7.0 / 7.7", "8.1 / 9.0"),
    "  (measured attribution: the traced median step; predicted: the untraced-equivalent step)",
    "  H200: achievable bandwidth 4.413 TB/s (measured: calibrate); node gaps x0.635 (calibrated node costs, "
    "target / source)",
    "  H100 SXM: achievable bandwidth 3.000 TB/s (measured: calibrate); node gaps x1.000 (calibrated node costs, "
    "target / source); same GPU as the source",
    "",
    "m-7b  ctx 1024  mode graph  from H100 SXM (trace)",
    "  DRAM bytes per kernel: PM fit (estimate); host: no untraced steps of this mode (x1.000), host scale 0.5: "
    "the host is assumed unchanged",
    " " * 44 + "  measured on H100 SXM" + "        predicted H200" + "          predicted L4",
    _row("step ms (untraced median | predicted)", "-", "3.000", "40.000"),
    _row("  range ms (steps, bandwidth, node cost)", "", "3.000-3.000", "39.000-41.000"),
    _row("memory floor ms (bytes read / peak)", "1.000", "0.600", "30.000"),
    _row("kernel inefficiency ms (busy - floor)", "-0.250", "-0.250", "9.000"),
    _row("launch overhead ms (GPU waited for host)", "0.000", "0.000", "0.500"),
    _row("other idle ms", "12.000", "-0.002", "0.500"),
    _row("% of floor (bytes read / all parameters)", "0.0 / 100.0", "20.0 / 100.0", "75.0 / 80.0"),
    "  (measured attribution: the traced median step; predicted: the untraced-equivalent step)",
    "  H200: achievable bandwidth 4.413 TB/s (measured: calibrate); node gaps x0.635 (calibrated node costs, "
    "target / source)",
    "  L4: achievable bandwidth 0.273 TB/s (assumed: peak x 0.911); node gaps x1.000 (assumed equal to the source's)",
    "",
    "graph speedup (eager / graph), m-7b ctx 1024: measured 3.142x on H100 SXM (untraced medians of the source traces)",
    "  predicted on H200: 1.234x (1.000-1.500)",
    "  predicted on H100 SXM: 2.000x (2.000-2.250)",
    "graph speedup (eager-static / graph), m-7b ctx 4096: not measured (a source trace has no untraced step times)",
    "  predicted on L4: 0.500x (0.250-0.750)"]


def test_a_speedup_measured_across_two_gpus_names_both():
    res = _result()
    res["speedups"][1]["measured_source"] = 2.5         # base on the H200, graph on the H100
    line = next(x for x in PredictText().render(res).splitlines() if "ctx 4096:" in x)
    assert line == ("graph speedup (eager-static / graph), m-7b ctx 4096: measured 2.500x on H200 / H100 SXM "
                    "(untraced medians of the source traces)")


def test_the_text_has_a_block_per_source_and_a_line_per_graph_speedup():
    assert PredictText().render(_result()) == "\n".join(TEXT) + "\n"


def test_the_columns_are_44_then_22_characters_wide():
    lines = PredictText().render(_result()).splitlines()
    for i in (2, 3, 9, 16, 23):
        assert len(lines[i]) == 44 + 3 * 22, lines[i]
    assert lines[3][:44].rstrip() == "  step ms (untraced median | predicted)"
    assert lines[3][44:66] == "                12.346" and lines[17][44:66] == " " * 21 + "-"


def test_a_result_that_ends_in_a_source_block_ends_in_one_newline():
    res = _result()
    res["speedups"] = []
    text = PredictText().render(res)
    assert text == "\n".join(TEXT[:27]) + "\n" and not text.endswith("\n\n")
    assert PredictText().render({"host_scale": 1.0, "sources": [], "speedups": []}) == "\n"


def test_a_source_of_no_untraced_median_prints_a_dash_and_zero_prints_a_dash_too():
    res = _result()
    res["sources"] = res["sources"][:1]
    res["speedups"] = []
    res["sources"][0]["measured"]["untraced_step_ms"] = 0.0
    assert PredictText().render(res).splitlines()[3] == _row("step ms (untraced median | predicted)", "-", "10.123",
                                                             "12.345")


def test_the_host_scale_is_written_as_given():
    res = _result()
    for scale, words in ((2.0, "host scale 2:"), (1.25, "host scale 1.25:"), (1e-07, "host scale 1e-07:")):
        res["host_scale"] = scale
        assert words in PredictText().render(res).splitlines()[1]


def test_the_json_is_plain_values_with_non_finite_as_null_indented_by_one():
    res = {"host_scale": np.float64(2.0), "targets": ["H200"], "n": np.int64(3), "ok": np.bool_(True),
           "sources": [{"step_ns": np.array([1, 2]), "pct": float("nan"), "lo": np.float64(np.inf), "t": (1, 2.5)}],
           "speedups": []}
    got = PredictJson().render(res)
    assert got == ('{\n "host_scale": 2.0,\n "targets": [\n  "H200"\n ],\n "n": 3,\n "ok": true,\n "sources": [\n  {\n'
                   '   "step_ns": [\n    1,\n    2\n   ],\n   "pct": null,\n   "lo": null,\n   "t": [\n    1,\n    2.5\n'
                   '   ]\n  }\n ],\n "speedups": []\n}')
    assert json.loads(got)["sources"][0]["pct"] is None


def test_ms_is_milliseconds_to_three_decimals():
    assert (_ms(1_234_567), _ms(0), _ms(-1_500), _ms(999_999_999)) == ("1.235", "0.000", "-0.002", "1000.000")


def _sweep():
    cells = [{"ctx": 2048, "gpu": "L4", "step_ns": 61_599_000, "pct_floor_all": 83.4},
             {"ctx": 2048, "gpu": "H200", "step_ns": 7_898_600, "pct_floor_all": 40.5},
             {"ctx": 16384, "gpu": "L4", "step_ns": 123_456_789, "pct_floor_all": 99.6},
             {"ctx": 16384, "gpu": "H200", "step_ns": 9_000_000, "pct_floor_all": 5.0}]
    src = {"model": "m-7b", "mode": "graph", "gpu": "H100 SXM", "ctx0": 2048, "trace": "", "kv_records_per_step": 28,
           "kv_ms_per_step": 0.12345, "bytes_source": "counter pass", "cells": cells}
    other = dict(src, mode="eager", trace="/runs/b.stepscope", kv_records_per_step=0, kv_ms_per_step=0.0,
                 cells=[dict(c, step_ns=c["step_ns"] * 2) for c in cells])
    return {"host_scale": 1.5, "targets": ["L4", "H200"], "ctxs": [2048, 16384], "sources": [src, other]}


def test_the_sweep_text_has_a_row_per_ctx_and_a_cell_per_target_then_its_note():
    assert PredictSweepText().render(_sweep()) == "\n".join([
        "m-7b  mode graph  from H100 SXM at ctx 2048 (trace)",
        "  28 KV-proportional kernels a step (0.123 ms at ctx 2048) scale with ctx; DRAM bytes per kernel: counter "
        "pass; host scale 1.5: the host is assumed unchanged",
        "     ctx                L4              H200",
        "    2048     61.599 ms 83%      7.899 ms 40%",     # 40.5 rounds to even
        "   16384   123.457 ms 100%       9.000 ms 5%",
        "",
        "m-7b  mode eager  from H100 SXM at ctx 2048 (/runs/b.stepscope)",
        "  0 KV-proportional kernels a step (0.000 ms at ctx 2048) scale with ctx; DRAM bytes per kernel: counter "
        "pass; host scale 1.5: the host is assumed unchanged",
        "     ctx                L4              H200",
        "    2048    123.198 ms 83%     15.797 ms 40%",
        "   16384   246.914 ms 100%      18.000 ms 5%",
        "",
        "ms per step (predicted, median step) and % of floor (all parameters + KV at ctx, over peak bandwidth).",
        ""])
