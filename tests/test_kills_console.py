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


def header_lines(t) -> list[str]:
    """The report's lines before the first verdict line."""
    lines = text_of(t)
    return lines[:next(i for i, x in enumerate(lines) if x.startswith("verdict, "))]


PEAK = "peak bandwidth 3.352 TB/s (nvml: bus width x max memory clock x 2); floor from workload bytes by construction"


def test_dropped_records_are_warned_about_with_their_count(trace):
    """CUPTI's dropped-record count is printed as a warning under the header, only when
    records were dropped."""
    t = trace()
    assert header_lines(t)[1:] == [PEAK]
    t.meta["capture"]["dropped_records"] = 17
    assert header_lines(t)[1:] == [PEAK, "WARNING: CUPTI dropped 17 records: figures are incomplete"]


def test_kernel_record_kinds_each_get_their_own_line(trace, monkeypatch):
    """Graph-level records: a note on what the figures then mean, or, when the trace holds
    no kernel record at all, a warning that every figure is wrong; any other kind than
    'concurrent' is a cost probe, warned about with its name."""
    t = trace()
    t.meta["capture"]["kernel_records"] = "graph"
    assert header_lines(t)[2:] == [
        "note: graph-level kernel records: one record per CUDA-graph replay, none per node, so 'kernels/step' "
        "counts replays, busy time includes each replay's internal gaps (in kernel inefficiency), and there is "
        "no per-kernel breakdown"]
    a = TraceAnalysis(t)
    s = a.get_summary()
    n = type(t).n
    monkeypatch.setattr(type(t), "n", lambda self, table: 0 if table == "kernels" else n(self, table))
    assert ConsoleRenderer().header(a, s)[2:] == [
        "WARNING: graph-level kernel records were asked for but the trace holds none: CUPTI gives them only for "
        "graphs instantiated while they were enabled (capture the graph inside "
        "profiler.capture.activity.graph_trace_instantiation); every figure below is wrong"]
    monkeypatch.setattr(type(t), "n", n)
    t = trace()
    t.meta["capture"]["kernel_records"] = "none"
    assert header_lines(t)[2:] == [
        "WARNING: kernel records 'none' are a cost probe: kernels of CUDA-graph replays were not recorded, so this "
        "attribution is not meaningful"]
    t = trace()
    t.meta["capture"]["kernel_records"] = "concurrent"
    assert header_lines(t)[2:] == []


def test_dram_counter_status_other_than_ok_is_noted(trace):
    t = trace()
    t.meta["capture"]["dram_status"] = "PM sampling not supported on this GPU"
    assert header_lines(t)[2:] == ["note: DRAM counters: PM sampling not supported on this GPU"]
