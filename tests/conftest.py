import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRACES = ROOT / "traces"
RESULTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="session")
def traces_dir():
    return TRACES


def trace_path(name: str) -> Path:
    return TRACES / f"{name}.stepscope"
