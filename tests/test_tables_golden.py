"""The result tables, each against the text the GPU run committed beside its data (issue 31):
what `stepscope ab` wrote to report.txt from its summary.json, `stepscope sweep`'s table.md
and cells.csv from its cells, `stepscope quant`'s table.md from its arms, `stepscope
calibrate`'s printed lines (its log) from its JSON, and `stepscope compare`'s text; rendered
again in-process by today's code, so a renderer change that moves a number or a word fails.
Plus the sensitivity line's two forms."""
import json

import pytest

from conftest import RESULTS, ROOT
from stepscope.analysis.render import tables as T
from stepscope.analysis.results.quant import table
from stepscope.analysis.results.sweep import compare, floor_table
from stepscope.profiler.experiments import quant, sweep
from stepscope.profiler.workloads.decode import registry

AB = sorted(d.name for d in RESULTS.iterdir() if (d / "summary.json").exists() and (d / "report.txt").exists())


def test_every_committed_ab_result_is_found():
    assert AB == ["ab-compile-h100", "ab-compile-h100-n10", "ab-h100", "ab-h100-n10", "ab-h200", "ab-h200-n10"]


@pytest.mark.parametrize("name", AB)
def test_ab_text_is_the_committed_report(name):
    summaries = json.loads((RESULTS / name / "summary.json").read_text())
    title, body = (RESULTS / name / "report.txt").read_text().split("\n", 1)
    assert T.ab_text(summaries) + "\n" == body


@pytest.mark.parametrize("name", ["sweep-h100", "sweep-h200"])
def test_sweep_tables_are_the_committed_ones(name):
    cells = sweep.load_cells(RESULTS / name)
    assert T.sweep_markdown(cells) + "\n" == (RESULTS / name / "table.md").read_text()
    assert T.sweep_csv(cells) == (RESULTS / name / "cells.csv").read_text()


@pytest.mark.parametrize("name", ["quant-h100", "quant-h200", "quant-lib-h100", "quant-lib-h200"])
def test_quant_table_is_the_committed_one(name):
    arms = quant.load_arms(RESULTS / name, "qwen2.5-7b", 2048)
    gpu = next(r["gpu"] for r in arms if r.get("gpu"))
    assert T.quant_markdown(table(arms), gpu, "qwen2.5-7b", 2048) + "\n" == (RESULTS / name / "table.md").read_text()


@pytest.mark.parametrize("name", ["h100-n10", "h100-n10b", "h200-n10"])
def test_calibration_text_is_what_calibrate_printed(name):
    text = T.calibration_text(json.loads((RESULTS / f"calibration-{name}.json").read_text()))
    printed = (RESULTS / f"calibrate-{name}.log").read_text().splitlines()
    assert text.splitlines() == printed[:len(text.splitlines())]
    assert printed[len(text.splitlines())].startswith("wrote ")


def test_calibration_text_without_a_peak_says_nan():
    res = {"gpu": {"name": "G", "uuid": "U"}, "launch": {},
           "bandwidth": {"read_bytes_per_s": 2e12, "copy_bytes_per_s": 1e12, "torch_copy_bytes_per_s": 1.5e12}}
    assert T.calibration_text(res) == ("G (U)\n  read kernel     2000 GB/s = nan% of peak nan\n"
                                       "  copy kernel     1000 GB/s; torch copy_ 1500 GB/s")


def test_compare_text_is_the_golden():
    sets = [sweep.load_cells(RESULTS / d) for d in ("sweep-h100", "sweep-h200")]
    models = sorted({c["model"] for cs in sets for c in cs if c.get("valid")})
    floors = floor_table({m: json.loads(registry()[m].read_text()) for m in models})
    want = (ROOT / "tests" / "golden" / "compare" / "sweep-h100-h200.txt").read_text()
    assert T.compare_text(compare(sets), floors) + "\n\n" == want     # the CLI prints an empty line before "wrote"


def test_sensitivity_line_in_both_forms():
    assert T.sensitivity_line({"explained_for_node_gap_ns": None}) == "sensitivity: no node gap gives 'explained'"
    assert T.sensitivity_line({"explained_for_node_gap_ns": [36.7, 934.5]}) == (
        "sensitivity: 'explained' for node gaps 37-934 ns; outside that range the verdict flips")
