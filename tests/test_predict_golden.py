"""`stepscope predict` pinned whole (issue 31): the JSON of two counter-pass traces (an
eager-static and a graph arm on an H100, bytes from the counters, so no CPU-dependent
estimate) predicted on an H200 and an L4, and the text the CLI prints from it; plus the
graph-speedup pairing on constructed sources with hand-computed ratios. Regenerate the
goldens with `python tests/test_predict_golden.py` after a change that means to move them."""
import sys
from pathlib import Path

import pytest

from conftest import ROOT, same_json, same_text, trace_path
from stepscope.analysis import predict as pr
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.predict import PredictJson, PredictText

GOLDEN = ROOT / "tests" / "golden" / "predict"
ARMS = ("qwen2.5-7b-ctx2048-eager-static-counters-h100", "qwen2.5-7b-ctx2048-graph-counters-h100")


def _result():
    res = pr.predict([TraceAnalysis(trace_path(n)) for n in ARMS], ["H200", "L4"])
    for s in res["sources"]:
        s["trace"] = Path(s["trace"]).name          # the checkout's folder is not part of the answer
    return res


def _texts():
    res = _result()
    return PredictJson().render(res), PredictText().render(res)


def test_predict_json_is_the_golden():
    got, _ = _texts()
    assert (d := same_json(got, (GOLDEN / "h100-to-h200-l4.json").read_text())) is None, d


def test_predict_text_is_the_golden():
    _, got = _texts()
    assert (d := same_text(got, (GOLDEN / "h100-to-h200-l4.txt").read_text())) is None, d


def _src(model, ctx, mode, gpu, untraced_ms, steps):
    """A source with one prediction per (gpu, step_ns, lo, hi) in ``steps``."""
    return {"model": model, "ctx": ctx, "mode": mode, "gpu": gpu, "measured": {"untraced_step_ms": untraced_ms},
            "predictions": [{"gpu": g, "step_ns": s, "step_lo_ns": lo, "step_hi_ns": hi} for g, s, lo, hi in steps]}


def test_speedups_pair_each_base_with_the_graph_of_its_model_and_ctx():
    graph = _src("m", 2048, "graph", "H100 SXM", 10.0, [("H200", 100, 90, 125), ("L4", 400, 380, 500)])
    eager = _src("m", 2048, "eager", "H200", 30.0, [("H200", 300, 270, 360), ("L4", 800, 760, 1000)])
    other_ctx = _src("m", 4096, "eager", "H200", 50.0, [("H200", 1, 1, 1), ("L4", 1, 1, 1)])
    other_model = _src("n", 2048, "eager", "H200", 50.0, [("H200", 1, 1, 1), ("L4", 1, 1, 1)])
    rows = pr._speedups([eager, other_ctx, graph, other_model])
    assert rows == [{"model": "m", "ctx": 2048, "base": "eager", "base_gpu": "H200", "graph_gpu": "H100 SXM",
                     "measured_source": 3.0, "targets": [
                         {"gpu": "H200", "speedup": 3.0, "lo": 270 / 125, "hi": 360 / 90},
                         {"gpu": "L4", "speedup": 2.0, "lo": 760 / 500, "hi": 1000 / 380}]}]
    eager["measured"]["untraced_step_ms"] = None
    assert pr._speedups([graph, eager])[0]["measured_source"] is None
    graph["measured"]["untraced_step_ms"] = 0.0
    eager["measured"]["untraced_step_ms"] = 30.0
    assert pr._speedups([graph, eager])[0]["measured_source"] is None
    assert pr._speedups([graph]) == [] and pr._speedups([eager]) == []


def test_predict_refuses_a_non_positive_host_scale():
    with pytest.raises(ValueError, match="--host-scale must be positive"):
        pr.predict([], ["H200"], host_scale=0)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    GOLDEN.mkdir(parents=True, exist_ok=True)
    j, t = _texts()
    (GOLDEN / "h100-to-h200-l4.json").write_text(j + "\n")
    (GOLDEN / "h100-to-h200-l4.txt").write_text(t)
    print("wrote", GOLDEN)
