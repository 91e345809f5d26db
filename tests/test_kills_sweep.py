"""analysis/results/sweep.py on constructed cells with hand-computed answers (issue 31): the
graph speedup of each graph cell over its eager and eager-static cells of the same GPU,
model and ctx (invalid cells left out), the per-GPU rows (median % of floor per mode,
median speedup over eager, rows in peak order, a GPU without a valid cell left out), the
paper's two questions (does % of floor fall as peak rises, per mode; does the speedup grow)
and the datasheet floor table."""
import json
from pathlib import Path

import pytest

import stepscope.profiler
from stepscope.analysis.results.sweep import compare, floor_table, graph_speedups


def cell(gpu, peak, mode, median_ms, pct, ctx=2048, model="m", valid=True):
    return {"gpu": gpu, "peak_bytes_per_s": peak, "mode": mode, "median_ms": median_ms, "pct_floor_all": pct,
            "ctx": ctx, "model": model, "valid": valid}


A = [cell("A", 2e12, "eager", 30.0, 20.0), cell("A", 2e12, "graph", 10.0, 50.0),
     cell("A", 2e12, "eager-static", 20.0, 30.0), cell("A", 2e12, "eager", 1.0, 99.0, valid=False),
     cell("A", 2e12, "eager", 40.0, 10.0, ctx=4096), cell("A", 2e12, "graph", 8.0, 60.0, ctx=4096)]
B = [cell("B", 3e12, "eager", 24.0, 15.0), cell("B", 3e12, "graph", 6.0, 50.0), cell("B", 3e12, "prefill", 1.0, 5.0)]
C = [cell("C", 9e12, "graph", 1.0, 1.0, valid=False)]


def test_graph_speedups_pair_each_graph_cell_with_its_bases():
    assert graph_speedups(A) == [
        {"gpu": "A", "model": "m", "ctx": 2048, "base": "eager", "speedup": 3.0, "peak_bytes_per_s": 2e12},
        {"gpu": "A", "model": "m", "ctx": 2048, "base": "eager-static", "speedup": 2.0, "peak_bytes_per_s": 2e12},
        {"gpu": "A", "model": "m", "ctx": 4096, "base": "eager", "speedup": 5.0, "peak_bytes_per_s": 2e12}]
    assert graph_speedups([c for c in A if c["mode"] != "graph"]) == []


def test_rows_per_gpu_in_peak_order_and_the_answer():
    got = compare([C, B, A])
    assert got["gpus"] == [
        # A: eager 20 and 10 -> 15; graph 50 and 60 -> 55; speedups over eager 3 and 5 -> 4
        {"gpu": "A", "peak_bytes_per_s": 2e12, "cells": 6, "valid": 5, "pct_floor_all_eager": 15.0,
         "pct_floor_all_eager-static": 30.0, "pct_floor_all_graph": 55.0, "graph_speedup_median": 4.0},
        {"gpu": "B", "peak_bytes_per_s": 3e12, "cells": 3, "valid": 3, "pct_floor_all_eager": 15.0,
         "pct_floor_all_graph": 50.0, "pct_floor_all_prefill": 5.0, "graph_speedup_median": 4.0}]
    # eager: 15 -> 15 (equal counts as not rising); eager-static: B has none (not shown to fall);
    # graph 55 -> 50; prefill is not a mode of the slowest GPU: not asked. Speedup 4 -> 4: grows.
    assert got["answer"] == {"pct_floor_falls_as_peak_rises": {"eager": True, "eager-static": False, "graph": True},
                             "graph_speedup_grows_with_peak": True}


def test_the_answer_looks_at_every_neighbouring_pair():
    D = [cell("D", 4e12, "eager", 12.0, 16.0), cell("D", 4e12, "graph", 4.0, 10.0)]    # eager rises 15 -> 16
    got = compare([A, D, B])
    assert [r["gpu"] for r in got["gpus"]] == ["A", "B", "D"]
    assert got["answer"] == {"pct_floor_falls_as_peak_rises": {"eager": False, "eager-static": False, "graph": True},
                             "graph_speedup_grows_with_peak": False}       # 4, 4, then 3
    E = [cell("E", 4e12, "eager", 40.0, 5.0), cell("E", 4e12, "graph", 8.0, 10.0)]     # speedup 5
    assert compare([A, B, E])["answer"]["graph_speedup_grows_with_peak"] is True
    G = [cell("G", 2.5e12, "eager", 9.0, 5.0), cell("G", 2.5e12, "graph", 3.0, 10.0)]    # speedup 3
    assert compare([E, G, A])["answer"]["graph_speedup_grows_with_peak"] is False      # 4, 3, 5


def test_a_gpu_without_an_eager_and_graph_pair_has_no_speedup_and_no_growth():
    F = [cell("F", 1e12, "graph", 5.0, 70.0)]         # one valid cell, no base
    got = compare([A, F])
    assert got["gpus"][0] == {"gpu": "F", "peak_bytes_per_s": 1e12, "cells": 1, "valid": 1,
                              "pct_floor_all_graph": 70.0, "graph_speedup_median": None}
    assert got["answer"] == {"pct_floor_falls_as_peak_rises": {"graph": True}, "graph_speedup_grows_with_peak": False}
    assert compare([[*F, cell("F", 1e12, "eager-static", 10.0, 60.0)], A])["gpus"][0]["graph_speedup_median"] is None


def test_one_gpu_asks_no_question():
    assert compare([A])["answer"] is None
    assert compare([C]) == {"gpus": [], "answer": None}


def test_floor_table_is_the_all_parameter_floor_on_each_datasheet_peak():
    cfg = json.loads((Path(next(iter(stepscope.profiler.__path__))) / "workloads" / "models" / "qwen2.5-7b.json")
                     .read_text())
    got = floor_table({"qwen2.5-7b": cfg})
    b = 7_615_616_512 * 2 + 57_344 * 2048      # 15,348,673,536 bytes
    assert list(got[0]) == ["model", "ctx", "H100 PCIe", "H100 SXM5", "H200", "A100-80GB SXM4", "L40S", "L4"]
    assert got[0]["model"] == "qwen2.5-7b" and got[0]["ctx"] == 2048
    assert got[0]["H100 SXM5"] == pytest.approx(b / 3.35e12 * 1e3, rel=1e-12)       # 4.5817 ms
    assert got[0]["L4"] == pytest.approx(b / 300e9 * 1e3, rel=1e-12)
    one = floor_table({"q": cfg}, ctx=10, dtype_bytes=1)[0]
    assert one["ctx"] == 10 and one["H200"] == pytest.approx((7_615_616_512 + 28_672 * 10) / 4.8e12 * 1e3, rel=1e-12)
