"""In-process twins of the golden tests, and tests added to kill mutants that survived
benchmarks/mutation.py. mutmut only sees code run in the pytest process, and runs for each
mutant only the tests that reached the mutated function, so the subprocess-based goldens of
tests/test_golden_outputs.py are invisible to it; these are the same checks, in process.
benchmarks/results/mutation.md lists the survivors left standing and why."""
import gzip
import json

import numpy as np
import pytest

from conftest import RESULTS, ROOT, TRACES
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.json_report import JsonRenderer
from stepscope.analysis.results import ab as AB
from stepscope.analysis.trace import load
from stepscope.profiler.experiments import ab as pab

GOLDEN = ROOT / "tests" / "golden" / "report"
SHIPPED = sorted(p for p in TRACES.iterdir() if p.name.endswith((".stepscope", ".json.gz")))


@pytest.mark.parametrize("trace", SHIPPED, ids=lambda p: p.name)
def test_report_json_matches_golden_in_process(trace):
    got = JsonRenderer().render(TraceAnalysis(load(trace))) + "\n"
    assert got == gzip.decompress((GOLDEN / f"{trace.name}.json.gz").read_bytes()).decode()


@pytest.mark.parametrize("folder, cals", [
    ("ab-h100", ["calibration-h100.json", "calibration-h100-b.json"]),
    ("ab-h200", ["calibration-h200.json"]),
    ("ab-compile-h100", ["calibration-h100.json", "calibration-h100-b.json"])])
def test_ab_summary_matches_committed_in_process(folder, cals):
    arms = json.loads((RESULTS / folder / "ab.json").read_text())["arms"]
    res = pab.summarise(RESULTS / folder, arms, [json.loads((RESULTS / c).read_text()) for c in cals])
    assert json.loads(json.dumps(res["summaries"])) == json.loads((RESULTS / folder / "summary.json").read_text())


def test_bootstrap_of_two_sessions_is_scipys():
    from scipy.stats import bootstrap
    v = np.array([2.0, 3.0])
    want = bootstrap((v,), np.median, confidence_level=0.95, n_resamples=10_000, method="percentile",
                     random_state=np.random.default_rng(0)).confidence_interval
    assert AB.bootstrap_ci(v) == pytest.approx((want.low, want.high))
    b, a = np.array([4.0, 6.0, 5.0]), np.array([2.0, 2.5, 2.0])
    want = bootstrap((b, a), AB._ratio_of_means, paired=True, vectorized=True, confidence_level=0.95,
                     n_resamples=10_000, method="percentile", random_state=np.random.default_rng(0)).confidence_interval
    assert AB.ratio_of_means_ci(b, a) == pytest.approx((want.low, want.high))
