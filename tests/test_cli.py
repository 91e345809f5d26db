"""The command line on a machine without a GPU: reports, figures, exports, and the
one-sentence errors."""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, TRACES, trace_path

TRACES_KINETO = TRACES / "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"


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


def test_main_job_without_gpu_compares_the_shipped_traces(tmp_path):
    import os
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    r = run("-o", tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "no CUDA GPU here; comparing the shipped traces traces/qwen2.5-7b-ctx2048-eager-static-h100" in r.stderr
    out = r.stdout
    assert "shipped traces recorded on an H100, not this machine" in out
    for needle in ("eager-static", "graph", "launch overhead", "graph speedup, measured:  2.255x (95% CI ",
                   "steps of one session per arm", "graph speedup, predicted: 2.189x (95% CI ",
                   "node gap: 96 ns, the median GPU gap inside the graph trace", "rule: 'explained by launch overhead'",
                   "verdict: launch-bound", "sensitivity: 'explained' for node gaps"):
        assert needle in out, needle
    assert "within 5%" not in out
    # the answer within the first 12 lines of an 80-column terminal (long lines wrap)
    rows = [row for line in out.splitlines() for row in (textwrap.wrap(line, 80) or [""])]
    assert any(row.startswith("verdict: launch-bound") for row in rows[:12]), rows[:12]
    png = tmp_path / "timeline-qwen2.5-7b-ctx2048-eager-static-vs-graph.png"
    assert png.stat().st_size > 10_000 and f"wrote {png}" in out
    # No progress bar when stderr is not a terminal: no carriage returns.
    assert "\r" not in r.stderr


def test_main_job_takes_the_ab_node_gap_from_calibration_runs(tmp_path):
    cal = [ROOT / "benchmarks/results/calibration-h100.json", ROOT / "benchmarks/results/calibration-h100-b.json"]
    r = run("--shipped", "-o", tmp_path, "--quiet", "--calibration", cal[0], "--calibration", cal[1])
    assert r.returncode == 0, r.stderr
    assert "node gap: 791 ns, the median of 2 `stepscope calibrate` runs (788, 793)" in r.stdout
    r = run("--shipped", "-o", tmp_path, "--quiet", "--calibration", cal[0], "--calibration", cal[1], "--explain")
    assert 'node gap: stepscope calibrate: launch["1000"]["graph_ns_per_node"], untraced, one per calibration run: ' \
           "788, 793 ns, median used" in r.stdout
    assert "kernels x node gap 791 ns" in r.stdout and "no calibration given" not in r.stdout
    r = run("--shipped", "-o", tmp_path, "--quiet", "--calibration", ROOT / "benchmarks/results/calibration-h200.json")
    assert r.returncode == 2 and "the calibration is of NVIDIA H200" in r.stderr and r.stderr.count("\n") == 1
    r = run("--shipped", "-o", tmp_path, "--calibration", cal[0], "--node-gap-ns", "256")
    assert r.returncode == 2 and r.stderr == "stepscope: give --node-gap-ns or --calibration, not both.\n"
    r = run("--shipped", "-o", tmp_path, "--calibration", ROOT / "README.md")
    assert r.returncode == 2 and "is not a `stepscope calibrate` result" in r.stderr and r.stderr.count("\n") == 1


def test_main_job_bad_modes_and_missing_shipped_trace(tmp_path):
    r = run("--shipped", "--modes", "graph", "-o", tmp_path)
    assert r.returncode == 2 and "--modes takes two different modes" in r.stderr
    (tmp_path / "afile").write_text("")
    r = run("--shipped", "-o", tmp_path / "afile")
    assert r.returncode == 2 and "is a file" in r.stderr and "Traceback" not in r.stderr
    r = run("--shipped", "--ctx", "4096", "-o", tmp_path)
    assert r.returncode == 2 and r.stderr == (
        "stepscope: no GPU here, and the shipped traces do not cover qwen2.5-7b at ctx 4096 in eager-static, graph; "
        "the nearest shipped: --model qwen2.5-7b --ctx 2048.\n")
    r = run("--shipped", "--model", "mistral-7b-v0.3", "--ctx", "8192", "--modes", "eager,graph", "-o", tmp_path)
    assert r.returncode == 2 and r.stderr.endswith("the nearest shipped: --model mistral-7b-v0.3 --ctx 2048.\n")
    # a hub id is matched to its registry name, not to the first shipped model
    r = run("--shipped", "--model", "Qwen/Qwen2.5-7B", "-o", tmp_path)
    assert r.returncode == 2 and r.stderr.endswith("the nearest shipped: --model qwen2.5-7b --ctx 2048.\n")


def test_shipped_traces_are_found_in_the_clone_run_from_without_an_editable_install(tmp_path, monkeypatch):
    """A clone installed with `pip install .` runs from its root: the package sits in
    site-packages, the traces in ./traces."""
    from stepscope import cli
    monkeypatch.setattr(cli, "ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(ROOT)
    assert cli._traces_dir() == ROOT / "traces"
    assert cli._shipped_traces("qwen2.5-7b", 2048, ["eager-static", "graph"])[0].parent == ROOT / "traces"


def test_main_job_runs_from_a_clone_without_an_editable_install(tmp_path, monkeypatch, capsys):
    """The whole main job there (the audit of issue 29 found it failing on the line that
    names the shipped traces, relative to the package's folder): rc 0, the traces named
    from the clone's root."""
    from stepscope import cli
    monkeypatch.setattr(cli, "ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(ROOT)
    assert cli.main(["--shipped", "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "comparing the shipped traces traces/qwen2.5-7b-ctx2048-eager-static-h100.stepscope and " \
           "traces/qwen2.5-7b-ctx2048-graph-h100.stepscope" in err
    monkeypatch.chdir(tmp_path)
    assert cli._shown(ROOT / "traces" / "x.stepscope") == str(ROOT / "traces" / "x.stepscope")


def test_a_hub_id_without_the_hub_fails_in_one_sentence_at_once(tmp_path, monkeypatch, capsys):
    """No network (the hub does not answer) and nothing cached: one sentence within about
    a second, not the download's retries (24 s of them were seen)."""
    import os
    import socket
    import time

    from stepscope import cli
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    def black_hole(*a, **k):
        time.sleep(3)
        raise OSError("timed out")
    monkeypatch.setattr(socket, "create_connection", black_hole)
    t0 = time.perf_counter()
    with pytest.raises(cli.UsageError, match=r"^cannot fetch config.json of 'Qwen/Qwen2.5-7B': .* does not answer"):
        cli._check_hub_reachable("Qwen/Qwen2.5-7B")
    assert time.perf_counter() - t0 < 1.5
    # the whole command, with a hub address that refuses: one line, no retries
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    t0 = time.perf_counter()
    r = run("report", TRACES_KINETO, "--model", "Qwen/Qwen2.5-7B", "--ctx", "2048", env=env)
    assert time.perf_counter() - t0 < 10     # start-up (imports) plus the probe
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Retry" not in r.stderr
    assert r.stderr.startswith("stepscope: cannot fetch config.json of 'Qwen/Qwen2.5-7B': 127.0.0.1 does not answer")


def test_version():
    from stepscope import __version__
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"stepscope {__version__}"


def test_every_option_of_every_subcommand_has_help_and_every_subcommand_an_example():
    import argparse

    from stepscope.cli import build_parser
    ap = build_parser()
    subs = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    parsers = {"stepscope": ap, **{f"stepscope {k}": v for k, v in subs.choices.items()}}
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, p in parsers.items()
               for a in p._actions if not isinstance(a, argparse._SubParsersAction)
               and (not a.help or a.help == argparse.SUPPRESS)]
    assert missing == []
    assert [k for k, p in subs.choices.items() if "example" not in (p.epilog or "")] == []
    for name in subs.choices:   # and --help itself renders
        r = run(name, "--help")
        assert r.returncode == 0 and "example:" in r.stdout, name


def test_figure_output_without_suffix_gets_png_and_says_so(tmp_path):
    r = run("bars", trace_path("synthetic-h100"), "-o", tmp_path / "noext")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "noext.png").is_file() and not (tmp_path / "noext").exists()
    assert r.stdout.strip() == f"wrote {tmp_path / 'noext.png'}"
    r = run("timeline", trace_path("synthetic-h100"), "-o", tmp_path / "x.docx")
    assert r.returncode == 2 and "give a figure file name ending in .png, .svg, .pdf" in r.stderr


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


def test_report_without_model_says_floor_unknown_and_leaves_floor_rows_out():
    r = run("report", TRACES_KINETO)
    assert r.returncode == 0, r.stderr
    assert "floor unknown: pass --model and --ctx" in r.stdout
    assert "ctx None" not in r.stdout
    for absent in ("memory floor", "kernel inefficiency", "% of floor"):
        assert absent not in r.stdout, absent
    assert "busy (kernels, copies, sets)" in r.stdout and "launch overhead" in r.stdout
    r = run("report", TRACES_KINETO, "--model", "qwen2.5-7b", "--ctx", "2048")
    assert "memory floor" in r.stdout and "floor unknown" not in r.stdout


def test_report_with_a_hub_id_offline_downloads_nothing(tmp_path):
    import os
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    r = run("report", TRACES_KINETO, "--model", "someorg/somemodel", "--ctx", "2048", env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "cannot fetch config.json of 'someorg/somemodel' (the hub is offline" in r.stderr
    assert not any((tmp_path / "hf").rglob("*.safetensors"))


def test_a_hub_id_fetches_config_json_only(monkeypatch, tmp_path):
    import huggingface_hub

    from stepscope.profiler.workloads import decode
    calls = []
    cfg = tmp_path / "config.json"
    good = json.loads((ROOT / "profiler" / "workloads" / "models" / "tiny-llama.json").read_text())
    cfg.write_text(json.dumps(good))   # a usable config: issue 33 refuses one without layers

    def fake(repo_id, filename, **kw):
        calls.append((repo_id, filename))
        return str(cfg)

    def no_snapshot(*a, **kw):
        raise AssertionError("snapshot_download called: that would fetch the checkpoint")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_snapshot)
    spec = decode.resolve_config("org/name")
    assert calls == [("org/name", "config.json")]
    assert spec.config == good and spec.checkpoint is None


def test_main_job_gpu_branch_runs_the_arms_once_and_compares_their_traces(tmp_path, monkeypatch, capsys):
    """The GPU half cannot run here: ``run_arms`` is replaced by one that copies the
    shipped traces where it would write its own, so the rest of the GPU branch runs."""
    import shutil

    from stepscope import cli
    from stepscope.profiler.experiments import main_job
    calls = []

    def fake_run_arms(model, ctx, modes, out_dir, warmup, steps, trace_steps, progress=None, stage=None):
        calls.append((model, ctx, list(modes), warmup, steps, trace_steps))
        stage("building the model")
        paths = []
        for m in modes:
            stage(f"{m}: tracing")
            p = out_dir / main_job.trace_name(model, ctx, m)
            shutil.copy(trace_path(f"{model}-ctx{ctx}-{m}-h100"), p)
            paths.append(p)
        return paths
    monkeypatch.setattr(cli, "_gpu_here", lambda: True)
    monkeypatch.setattr(main_job, "run_arms", fake_run_arms)
    rc = cli.main(["--model", "llama-3.1-8b", "-o", str(tmp_path), "--steps", "7", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert calls == [("llama-3.1-8b", 2048, ["eager-static", "graph"], 5, 7, 5)]
    assert "(traced now)" in out and "llama-3.1-8b  ctx 2048" in out and "verdict:" in out
    assert (tmp_path / "timeline-llama-3.1-8b-ctx2048-eager-static-vs-graph.png").is_file()
    assert f"the traces {tmp_path / 'llama-3.1-8b-ctx2048-eager-static.stepscope'}" in out


def test_progress_without_a_terminal_is_messages_and_quiet_is_silent(capsys):
    from stepscope.profiler.experiments.runner import each
    from stepscope.progress import Progress, bar
    assert list(each([1, 2], Progress(False), lambda i: f"session {i}/2")) == [1, 2]
    err = capsys.readouterr().err   # pytest's stderr is not a terminal: no bar, no \r
    assert "stepscope: [1/2] session 1/2" in err and "[2/2] session 2/2, about" in err and "\r" not in err
    assert list(each([1, 2], Progress(True))) == [1, 2]
    assert capsys.readouterr().err == ""
    assert bar(3, quiet=False).disable and bar(3, quiet=True).disable


def test_readme_shows_the_main_job_output_as_printed(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("stepscope: qwen2.5-7b  ctx 2048"):]
    block = block[:block.index("\n```")]
    r = run("--shipped", "-o", tmp_path, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == block.replace("wrote stepscope-run/", f"wrote {tmp_path}/").strip()


def test_reading_traces_needs_no_gpu_stack_and_capture_names_the_extra(monkeypatch):
    """The light install: the core dependencies are numpy, scipy, matplotlib and small
    libraries; torch, transformers, CUPTI and NVML come with the `gpu` extra (which the
    README's main-job command installs) and with `test`; without torch a capture command
    says in one sentence which extra to install."""
    tomllib = pytest.importorskip("tomllib")
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda req: req.split(">")[0].split("=")[0].split("[")[0].strip()  # noqa: E731
    gpu = {"torch", "transformers", "nvidia-ml-py", "cupti-python", "nvidia-cuda-nvrtc"}
    assert not gpu & {name(r) for r in proj["dependencies"]}
    assert {name(r) for r in proj["optional-dependencies"]["gpu"]} == gpu
    assert gpu <= {name(r) for r in proj["optional-dependencies"]["test"]}
    readme = (ROOT / "README.md").read_text()
    assert "python3 -m pip install -e '.[gpu]' && stepscope" in readme
    test_cmd = "python3 -m pip install -e '.[test]' && python3 -m ruff check . && python3 -m pytest"
    assert test_cmd in readme and f"\n{test_cmd}\n" in (ROOT / ".ci" / "run").read_text()
    from stepscope.profiler.errors import CaptureError
    from stepscope.profiler.experiments.protocol import require_gpu
    monkeypatch.setitem(sys.modules, "torch", None)      # import torch -> ImportError
    with pytest.raises(CaptureError, match=r"^capture needs the gpu extra .*pip install 'stepscope\[gpu\]'\.$"):
        require_gpu()
