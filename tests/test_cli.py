"""The command line on a machine without a GPU: reports, figures, exports, and the
one-sentence errors."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, trace_path


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "stepscope", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


def test_report_on_a_shipped_trace():
    r = run("report", trace_path("qwen2.5-7b-ctx2048-graph-h100"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for needle in ("mode graph", "memory floor", "kernel inefficiency", "launch overhead",
                   "closure: parts sum to the step within 0 ns", "% of floor", "all parameters",
                   "DRAM measured", "kernel classes", "top kernels", "idle gaps by cause",
                   "HTA's host-wait rule", "throttle: none"):
        assert needle in out, needle


def test_report_json_is_valid_and_closes():
    r = run("report", trace_path("llama-3.1-8b-ctx2048-eager-h100"), "--json")
    d = json.loads(r.stdout)
    assert set(d["steps"]["closure_ns"]) == {0}
    assert d["summary"]["modes"]["eager"]["kernels"] == 1495


def test_main_job_without_gpu_reports_on_a_shipped_trace():
    import os
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    r = run(env=env)
    assert r.returncode == 0, r.stderr
    assert "no CUDA GPU here; reporting on the recorded trace traces/" in r.stderr
    assert "stepscope report: qwen2.5-7b  ctx 2048" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["report", "nope.stepscope"], "nope.stepscope: no such file."),
    (["report", ROOT / "pyproject.toml"], "not a stepscope trace"),
    (["trace", "--ctx", "0"], "--ctx must be at least 1."),
    (["trace", "-o", "/nonexistent-dir/x.stepscope"], "folder /nonexistent-dir does not exist."),
    (["timeline", trace_path("synthetic-h100"), "-o", "/tmp/x.png", "--window", "5:1"], "END must be after START"),
    (["timeline", trace_path("synthetic-h100"), "-o", "/tmp/x.png", "--step", "42"], "has no step 42"),
    (["report", trace_path("synthetic-h100"), "--model", "qwen2.5-7b", "--ctx", "2"], "torch.profiler traces only"),
    (["ab", "--arms", "graph", "--report-only", "-o", "/tmp"], "--arms takes two or more"),
])
def test_bad_input_is_one_sentence_and_exit_2(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_trace_without_gpu_fails_before_anything_runs(tmp_path):
    import os
    r = run("trace", "-o", tmp_path / "x.stepscope", env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 2 and "no CUDA GPU is visible" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_ab_and_sweep_report_only_on_recorded_results(tmp_path):
    import shutil
    shutil.copytree(ROOT / "benchmarks" / "results" / "ab-h100", tmp_path / "ab")
    args = ("ab", "--report-only", "-o", tmp_path / "ab", "--arms", "eager-static,graph,eager",
            "--calibration", ROOT / "benchmarks" / "results" / "calibration-h100.json")
    before = (tmp_path / "ab" / "summary.json").read_bytes()
    r = run(*args)   # committed results are never re-rendered in place unless asked
    assert r.returncode == 2 and "pass --force" in r.stderr
    assert (tmp_path / "ab" / "summary.json").read_bytes() == before
    r = run(*args, "--force")
    assert r.returncode == 0, r.stderr
    assert "median of per-session speedups 2.388x, 95% CI 2.159-2.818" in r.stdout
    assert "rule: explained by launch overhead when" in r.stdout and "sensitivity: " in r.stdout
    assert (tmp_path / "ab" / "ab.png").stat().st_size > 10_000
    r = run("compare", ROOT / "benchmarks/results/sweep-h100", ROOT / "benchmarks/results/sweep-h200")
    assert r.returncode == 0 and "NVIDIA H200" in r.stdout


def test_compare_prints_a_gpu_row_without_graph_cells(tmp_path):
    # A sweep with eager cells only has no graph speedup: its row must still be printed.
    import shutil
    d = tmp_path / "eager-only"
    (d / "cells").mkdir(parents=True)
    for p in (ROOT / "benchmarks/results/sweep-h200/cells").glob("*-eager.json"):
        shutil.copy(p, d / "cells")
    r = run("compare", ROOT / "benchmarks/results/sweep-h100", d)
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("| NVIDIA H200"))
    assert row.endswith("| n/a |") and "| 12/12 |" in row
