"""`stepscope report --json` rendered in-process (analysis/render/json_report.py) against
its committed golden (tests/golden/report, made by the CLI): every table of the report,
NaN as null, the stacks table only where the trace sampled stacks. The subprocess goldens of
tests/test_golden_outputs.py pin the same texts for every shipped trace; these few run in
the test's own process, where a mutation tool sees them."""
import gzip
import json

import pytest

from conftest import ROOT, same_json, trace_path
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.json_report import JsonRenderer

#: with stacks; graph-level records; a constructed chain; a counter pass; a recorded program
NAMES = ["qwen2.5-7b-ctx2048-eager-static-stacks-h100", "qwen2.5-7b-ctx2048-graph-graphlevel-r10-h100", "chain-h100",
         "qwen2.5-7b-ctx2048-eager-static-counters-h100", "record-qwen2.5-7b-ctx2048-hf-eager-h200"]


@pytest.mark.parametrize("name", NAMES)
def test_json_report_in_process_is_the_golden(name):
    want = gzip.decompress((ROOT / "tests" / "golden" / "report" / f"{name}.stepscope.json.gz").read_bytes()).decode()
    got = JsonRenderer().render(TraceAnalysis(trace_path(name)))
    assert (d := same_json(got, want)) is None, d
    assert ("stacks" in json.loads(got)) == name.endswith("stacks-h100")
    assert got.startswith('{\n "summary": {\n  "') and got == json.dumps(json.loads(got), indent=1)   # indent 1
