"""A step cut out of a trace (analysis/window.py, what long timelines draw) is attributed
exactly as that step's row of the whole trace, field by field, on every shipped trace."""
import numpy as np
import pytest

from conftest import TRACES
from stepscope.analysis.attribution import attribute
from stepscope.analysis.trace import load
from stepscope.analysis.window import step_spans_ns, step_trace

SHIPPED = sorted(p for p in TRACES.iterdir() if p.name.endswith((".stepscope", ".json.gz")))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_cut_step_is_attributed_like_its_row(path):
    t = load(path)
    whole = attribute(t)["steps"]
    assert np.array_equal(step_spans_ns(t), whole["step_ns"])
    for pos in range(len(t["steps"]["index"])):
        one = attribute(step_trace(t, pos))["steps"]
        for k, v in whole.items():
            a, b = np.asarray(one[k])[:1], np.asarray(v)[pos:pos + 1]
            if a.dtype.kind == "f":   # DRAM rates: the same samples, summed from another origin
                assert np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True), (path.name, pos, k)
            else:
                assert np.array_equal(a, b), (path.name, pos, k)
