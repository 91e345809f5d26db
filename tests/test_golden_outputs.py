"""Golden outputs: every shipped trace's `stepscope report --json`, and every committed
benchmark summary re-rendered from its raw results, must not change unless a change
means to change them (then regenerate with `python3 tests/golden/regenerate.py`)."""
import gzip
import json
import shutil
import subprocess
import sys

import pytest

from conftest import RESULTS, ROOT, TRACES, same_json

GOLDEN = ROOT / "tests" / "golden" / "report"
SHIPPED = sorted(p for p in TRACES.iterdir() if p.name.endswith((".stepscope", ".json.gz")))


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "stepscope", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_every_shipped_trace_has_a_golden():
    assert SHIPPED
    assert {p.name for p in SHIPPED} == {g.name[:-len(".json.gz")] for g in GOLDEN.glob("*.json.gz")}


@pytest.mark.parametrize("trace", SHIPPED, ids=lambda p: p.name)
def test_report_json_matches_golden(trace):
    r = cli("report", trace, "--json")
    assert r.returncode == 0, r.stderr
    golden = gzip.decompress((GOLDEN / f"{trace.name}.json.gz").read_bytes()).decode()
    assert same_json(r.stdout, golden) is None, same_json(r.stdout, golden)


def _copy(tmp_path, *names):
    for n in names:
        src = RESULTS / n
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / n)


# the documented commands (README, "A/B verdict"): the node gap is every calibration run of the GPU
AB_CALIBRATIONS = {"ab-h100": ["calibration-h100.json", "calibration-h100-b.json"],
                   "ab-h200": ["calibration-h200.json"],
                   "ab-compile-h100": ["calibration-h100.json", "calibration-h100-b.json"],
                   # N=10, shuffled arm order: the calibration run on the same machine just before
                   "ab-h100-n10": ["calibration-h100-n10.json"],
                   "ab-h200-n10": ["calibration-h200-n10.json"],
                   "ab-compile-h100-n10": ["calibration-h100-n10b.json"]}


@pytest.mark.parametrize("folder", sorted(AB_CALIBRATIONS))
def test_ab_summary_rerenders_unchanged(tmp_path, folder):
    _copy(tmp_path, folder, *AB_CALIBRATIONS[folder])
    arms = ",".join(json.loads((RESULTS / folder / "ab.json").read_text())["arms"])
    extra = [x for c in AB_CALIBRATIONS[folder] for x in ("--calibration", tmp_path / c)]
    r = cli("ab", "--report-only", "--force", "--arms", arms, "-o", tmp_path / folder, *extra)
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / folder / "summary.json").read_text())
    assert summary == json.loads((RESULTS / folder / "summary.json").read_text())
    assert (tmp_path / folder / "report.txt").read_text() == (RESULTS / folder / "report.txt").read_text()
    for r in summary.values():      # every graph-like arm carries the rule, interval and sensitivity
        if r["arm"] in ("graph", "compile"):
            assert r["rule"] and r["prediction_ci95"] and r["sensitivity"]["explained_for_node_gap_ns"] is not None


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_sweep_and_quant_tables_rerender_unchanged(tmp_path, gpu):
    _copy(tmp_path, f"sweep-{gpu}", f"quant-{gpu}")
    assert cli("sweep", "--report-only", "--force", "-o", tmp_path / f"sweep-{gpu}").returncode == 0
    assert cli("quant", "--report-only", "--force", "-o", tmp_path / f"quant-{gpu}").returncode == 0
    for rel in (f"sweep-{gpu}/table.md", f"sweep-{gpu}/cells.csv", f"quant-{gpu}/table.md"):
        assert (tmp_path / rel).read_text() == (RESULTS / rel).read_text(), rel


def test_compare_rerenders_unchanged(tmp_path):
    _copy(tmp_path, "sweep-h100", "sweep-h200")
    r = cli("compare", tmp_path / "sweep-h100", tmp_path / "sweep-h200", "-o", tmp_path / "cmp")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "cmp.json").read_text()) == \
        json.loads((RESULTS / "compare-h100-h200.json").read_text())
