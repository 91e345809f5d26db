"""Whole lines of `stepscope report` (analysis/render/console.py) that the golden texts of
tests/test_report_text.py do not reach: warnings and notes that appear only on traces
with a given defect or capture setting, and header wording. Each test states what it pins;
the traces are shipped ones with one field of their metadata changed, so every other
figure is the recorded one."""
import copy

import pytest

from conftest import TRACES
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.console import ConsoleRenderer
from stepscope.cli import load_trace

SYNTHETIC = "synthetic-h100.stepscope"


@pytest.fixture
def trace():
    """A fresh copy of the synthetic trace per test (tests change its metadata)."""
    def load(name=SYNTHETIC):
        t = load_trace(TRACES / name)
        t.meta = copy.deepcopy(t.meta)
        return t
    return load


def text_of(t) -> list[str]:
    return ConsoleRenderer().render(TraceAnalysis(t)).splitlines()


def test_header_names_the_workload_kind_once(trace):
    """A trace whose workload has no kind reads "a trace", not "a trace trace"; a kind
    other than decode is named ("a synthetic trace")."""
    t = trace()
    assert text_of(t)[0] == "stepscope report: a synthetic trace  on NVIDIA H100 80GB HBM3"
    t = trace()
    t.meta["workload"] = {k: v for k, v in t.meta["workload"].items() if k != "kind"}
    assert text_of(t)[0] == "stepscope report: a trace  on NVIDIA H100 80GB HBM3"
