import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "traces"
RESULTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="session")
def traces_dir():
    return TRACES


def trace_path(name: str) -> Path:
    return TRACES / f"{name}.stepscope"


@pytest.fixture
def fake_children(monkeypatch):
    """Replace the fresh-process runner's child with ``behave(target, kwargs, out) ->
    exit code``, which may write ``out`` (the result) or not (a crash). Returns the calls."""
    from stepscope.profiler.experiments import runner
    calls = []

    def install(behave):
        def fake_run(cmd, cwd=None, timeout=None):
            spec = json.loads(Path(cmd[-2]).read_text())
            out = Path(cmd[-1])
            calls.append((spec["target"], spec["kwargs"], out))
            return subprocess.CompletedProcess(cmd, behave(spec["target"], spec["kwargs"], out))
        monkeypatch.setattr(runner.subprocess, "run", fake_run)
        return calls
    return install
