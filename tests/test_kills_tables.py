"""analysis/render/tables.py on constructed results, for the cases the committed GPU results
(tests/test_tables_golden.py) do not reach (issue 31): invalid sweep cells and quantised
rows (their whole line, the rows after them), a missing figure printed as "-" or "n/a", an
A/B arm without a prediction followed by one with it, sessions without a recorded arm
order, a comparison whose answer is no, a GPU without an eager mode, no floors, a sweep
cell's list field in the CSV, and sorting cells without a GPU name."""
from stepscope.analysis.render import tables as T


def cell(gpu="G", model="m", ctx=2048, mode="eager", valid=True, **kw):
    c = {"gpu": gpu, "model": model, "ctx": ctx, "mode": mode, "valid": valid, "median_ms": 10.0, "p10_ms": 9.0,
         "p90_ms": 11.0, "floor_ms": 4.0, "floor_all_ms": 4.5, "pct_floor": 40.0, "pct_floor_all": 45.0,
         "kernels": 100.0, "launch_share": 0.25, "dram_gb": 15.5, "dram_gb_per_s_busy": 2000.0}
    return {**c, **kw}


def test_sweep_markdown_invalid_cells_and_order():
    bad = {"model": "m", "ctx": 4096, "mode": "graph", "valid": False, "reason": "oom"}     # no gpu recorded
    text = T.sweep_markdown([cell(mode="graph"), bad, cell(ctx=1024), {**bad, "mode": "eager"}, cell()])
    rows = text.splitlines()[2:]
    assert rows == [
        "|  | m | 4096 | eager | invalid: oom | | | | | | |",
        "|  | m | 4096 | graph | invalid: oom | | | | | | |",
        "| G | m | 1024 | eager | 10.00 (9.00-11.00) | 4.00 / 4.50 | 40.0 / 45.0 | 100 | 25% | 15.50 | 2000 |",
        "| G | m | 2048 | eager | 10.00 (9.00-11.00) | 4.00 / 4.50 | 40.0 / 45.0 | 100 | 25% | 15.50 | 2000 |",
        "| G | m | 2048 | graph | 10.00 (9.00-11.00) | 4.00 / 4.50 | 40.0 / 45.0 | 100 | 25% | 15.50 | 2000 |"]
    assert T.sweep_markdown([{"gpu": "G", "model": "m", "ctx": 1, "mode": "e", "valid": False}]).splitlines()[2] == \
        "| G | m | 1 | e | invalid:  | | | | | | |"


def test_sweep_csv_joins_list_fields_and_ignores_extra_keys():
    text = T.sweep_csv([cell(throttle_reasons=["power", "thermal"], extra="x")])
    header, row = text.splitlines()
    assert header == ",".join(T.COLUMNS)
    assert row.startswith("G,m,2048,eager,True,10.0,9.0,11.0,") and ",power;thermal," in row
    assert "x" not in row.split(",") and text.endswith("\n") and "\r" not in text


def quant_row(arm="q", mode="graph", **kw):
    r = {"arm": arm, "mode": mode, "valid": True, "weight_gb": 5.0, "median_ms": 8.0, "median_ms_ci": None,
         "model_gb": 5.0, "dram_gb": 6.0, "expected_speedup": None, "realised_speedup": None,
         "realised_speedup_ci": None, "pct_floor": 25.0, "launch_share": 0.05, "matmul_ms": 1.5,
         "other_kernels_ms": 2.25, "path": "p"}
    return {**r, **kw}


def test_quant_markdown_invalid_rows_and_missing_speedups():
    rows = [{"arm": "a", "mode": "eager", "valid": False, "reason": "crashed"}, quant_row(),
            quant_row(expected_speedup=3.0, realised_speedup=1.25, realised_speedup_ci=(1.2, 1.3),
                      median_ms_ci=(7.9, 8.1))]
    lines = T.quant_markdown(rows, "G").splitlines()
    assert lines[0] == "Quantised weight paths vs bf16: on G (ms per decode step, median of 30 untraced steps)"
    assert lines[6:] == [
        "| a | eager | invalid: crashed | | | | | | | | | | |",
        "| q | graph | 5.00 | 8.00 | 5.00 | 6.00 | -x | -x | 25.0 | 5% | 1.50 | 2.25 | p |",
        "| q | graph | 5.00 | 8.00 [7.90-8.10] | 5.00 | 6.00 | 3.00x | 1.25x [1.20-1.30] | 25.0 | 5% | 1.50 | 2.25 | p |"]
    assert all(x.count("|") == 14 for x in lines[4:])        # every row as wide as the header


def ab_arm(base="eager", prediction=True, order=None):
    r = {"base": base, "sessions": 3, "speedup_median": 2.0, "ci95": [1.5, 2.5],
         "estimands": {"ratio_of_means": {"value": 2.1, "ci95": [1.6, 2.6]}}, "prediction_ci95": None,
         "verdict": "no prediction"}
    if order is not None:
        r["arm_order"] = order
    if prediction:
        r.update(prediction_ci95=[1.8, 2.4], predicted_speedup_median=2.2, node_gap={"ns": [96.4, 101.0]},
                 rule="R", verdict="explained", sensitivity={"explained_for_node_gap_ns": None})
    return r


def test_ab_text_arms_without_a_prediction_or_an_order():
    text = T.ab_text({"compile": ab_arm(prediction=False), "graph": ab_arm(order=[["a", "b"], ["b", "a"], ["a", "b"], []])})
    assert text.splitlines() == [
        "eager / compile over 3 sessions",
        "  measured: median of per-session speedups 2.000x, 95% CI 1.500-2.500 (headline); ratio of means 2.100x, "
        "95% CI 1.600-2.600",
        "  arm order: fixed (not recorded: sessions before randomisation)",
        "  verdict: no prediction",
        "eager / graph over 3 sessions",
        "  measured: median of per-session speedups 2.000x, 95% CI 1.500-2.500 (headline); ratio of means 2.100x, "
        "95% CI 1.600-2.600",
        "  arm order: shuffled per session, 2 distinct orders",
        "  predicted (launch overhead only, node gap 96, 101 ns from 2 calibration run(s)): 2.200x, 95% interval "
        "1.800-2.400",
        "  rule: R",
        "  verdict: explained",
        "  sensitivity: no node gap gives 'explained'"]


def test_compare_text_a_no_answer_a_gpu_without_modes_and_no_floors():
    res = {"gpus": [{"gpu": "A", "peak_bytes_per_s": 2e12, "valid": 3, "cells": 4, "pct_floor_all_eager": 20.0,
                     "pct_floor_all_graph": 50.0, "graph_speedup_median": 2.5},
                    {"gpu": "B", "peak_bytes_per_s": 3.35e12, "valid": 1, "cells": 1, "graph_speedup_median": None}],
           "answer": {"pct_floor_falls_as_peak_rises": {"eager": False, "graph": True},
                      "graph_speedup_grows_with_peak": False}}
    assert T.compare_text(res, []).splitlines() == [
        "| GPU | peak TB/s | valid cells | % of floor, eager | % of floor, graph | graph speedup |",
        "|---|---|---|---|---|---|",
        "| A | 2.00 | 3/4 | 20.0 | 50.0 | 2.500 |",
        "| B | 3.35 | 1/1 | nan | nan | n/a |",
        "",
        "% of floor falls as peak bandwidth rises? eager: no, graph: yes.",
        "Graph speedup grows with peak bandwidth? no in these data, which are not evidence either way:",
        "  2.50x on A;",
        "  the speedup also depends on how fast each machine's host issues eager kernels, which the",
        "  sweep does not calibrate.",
        "",
        "Analytic floor at ctx 2048, ms (all parameters + KV over datasheet peak; not measurements):",
        "| model |  |",
        "|---|"]
    yes = {**res, "answer": {"pct_floor_falls_as_peak_rises": {}, "graph_speedup_grows_with_peak": True}}
    assert "Graph speedup grows with peak bandwidth? yes in these data" in T.compare_text(yes, [])
    assert "% of floor falls" not in T.compare_text({**res, "answer": None}, [])
    floors = [{"model": "m", "ctx": 2048, "X": 1.234, "Y": 5.0}, {"model": "n", "ctx": 2048, "X": 2.0, "Y": 3.0}]
    assert T.compare_text({"gpus": [], "answer": None}, floors).splitlines()[-4:] == [
        "| model | X | Y |", "|---|---|---|", "| m | 1.23 | 5.00 |", "| n | 2.00 | 3.00 |"]


def test_calibration_launch_lines_in_microseconds():
    res = {"gpu": {"name": "G", "uuid": "U", "peak_bytes_per_s": 4e12},
           "bandwidth": {"read_bytes_per_s": 3e12, "copy_bytes_per_s": 2e12, "torch_copy_bytes_per_s": 2.5e12},
           "launch": {"10": {"host_ns_per_launch": 17940.0, "eager_gpu_ns_per_kernel": 10000.0,
                             "graph_ns_per_node": 10000.0}}}
    assert T.calibration_text(res).splitlines() == [
        "G (U)", "  read kernel     3000 GB/s = 75.0% of peak 4000", "  copy kernel     2000 GB/s; torch copy_ 2500 GB/s",
        "     10 null kernels: host 17.94 us/launch, eager GPU 10.00 us/kernel, graph 10.00 us/node"]


def test_compare_text_with_one_floor_row():
    floors = [{"model": "m", "ctx": 2048, "X": 1.5}]
    assert T.compare_text({"gpus": [], "answer": None}, floors).splitlines()[-3:] == [
        "| model | X |", "|---|---|", "| m | 1.50 |"]
