"""`stepscope predict` (issue 30): the GPU table, the stream recurrence on arrays with known
answers, same-GPU reproduction, and golden cross-GPU predictions on committed traces."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import RESULTS, ROOT, trace_path
from stepscope.analysis import gpu_table
from stepscope.analysis import predict_model as pm
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.gaps import GapCause
from stepscope.analysis.predict import predict

LOO = json.loads((RESULTS / "predict" / "loo.json").read_text())


@pytest.fixture(scope="module")
def counters():
    return {(m, g): TraceAnalysis(trace_path(f"qwen2.5-7b-ctx2048-{m}-counters-{g}"))
            for m in ("eager-static", "graph") for g in ("h100", "h200")}


# -- the table ------------------------------------------------------------------
def test_table_parses_with_a_source_for_every_figure():
    entries = gpu_table.load_table()
    names = {e["name"] for e in entries}
    assert {"L4", "L40S", "A100-80GB SXM", "A100-40GB", "H100 SXM", "H100 PCIe", "H200"} <= names
    for e in entries:
        for f in gpu_table.FIGURES:
            assert e[f]["source"].strip() and e[f]["value"]
    assert gpu_table.find(entries, "NVIDIA H100 80GB HBM3")["name"] == "H100 SXM"
    assert gpu_table.find(entries, "NVIDIA H100 PCIe")["name"] == "H100 PCIe"
    assert gpu_table.find(entries, "l4")["name"] == "L4"
    with pytest.raises(ValueError, match="no GPU called"):
        gpu_table.find(entries, "B200")


def test_measured_figures_are_the_calibration_files():
    """value / lo / hi of each measured figure are the median / min / max of its files."""
    n = 0
    for e in gpu_table.load_table():
        for f, fig in (e.get("measured") or {}).items():
            vals = []
            for p in fig["files"]:
                d = json.loads((ROOT / p).read_text())
                vals.append(d["achievable_bytes_per_s"] if f == "achievable_bytes_per_s"
                            else d["launch"]["1000"]["graph_ns_per_node"])
                assert d["gpu"]["peak_bytes_per_s"] == e["peak_bytes_per_s"]["value"]
            assert fig["value"] == pytest.approx(float(np.median(vals)), rel=1e-5)
            assert (fig["lo"], fig["hi"]) == pytest.approx((min(vals), max(vals)), rel=1e-5)
            n += 1
    assert n == 4


def test_table_refuses_a_figure_without_source(tmp_path):
    e = gpu_table.find(gpu_table.load_table(), "L4")
    bad = json.loads(json.dumps(e))
    bad["sms"]["source"] = " "
    p = tmp_path / "g.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="sms with a source"):
        gpu_table.load_table(p)
    bad["sms"] = {"value": -3, "source": "x"}
    p.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="positive"):
        gpu_table.load_table(p)


def test_unmeasured_gpu_gets_the_calibrated_fraction_flagged():
    t = gpu_table.load_table()
    frac = gpu_table.achievable_fraction(t)
    h100 = gpu_table.find(t, "H100 SXM")["measured"]["achievable_bytes_per_s"]["value"] / 3352320000000
    h200 = gpu_table.find(t, "H200")["measured"]["achievable_bytes_per_s"]["value"] / 4814304000000
    assert frac[0] == pytest.approx((h100 + h200) / 2)
    s = gpu_table.spec(gpu_table.find(t, "L4"), frac)
    assert s["achievable_bytes_per_s"] == pytest.approx(300e9 * frac[0])
    assert s["achievable_source"].startswith("assumed") and s["graph_node_ns"] is None


# -- the recurrence on arrays with known answers ----------------------------------
def _src(dur, gap, cause, start_rel, steps=None):
    n = len(dur)
    steps = np.zeros(n, np.int64) if steps is None else np.asarray(steps)
    first = np.r_[True, steps[1:] != steps[:-1]]
    cause = np.asarray(cause)
    return {"step_pos": steps, "first": first, "dur_ns": np.asarray(dur, float), "gap_ns": np.asarray(gap, float),
            "cause": cause, "host_bound": np.isin(cause, pm.HOST_CAUSES) | first,
            "start_rel_ns": np.asarray(start_rel, float)}


def test_simulate_host_bound_and_gpu_bound():
    L, Q, G = GapCause.LAUNCH, GapCause.QUEUED, GapCause.GRAPH
    # three kernels of 10 ns; the host released them at 100, 150, 300 ns after the step start
    s = _src([10, 10, 10], [100, 40, 140], [L, L, L], [100, 150, 300])
    r = pm.simulate(s, s["dur_ns"], 1.0, 1.0, 5.0)
    assert r["end_ns"].tolist() == [310.0] and r["busy_ns"].tolist() == [30.0]
    assert r["launch_ns"].tolist() == [280.0] and r["gpu_gap_ns"].tolist() == [0.0]
    # kernels 100x longer: the GPU is the bottleneck, back to back with the 5 ns queued gap
    r = pm.simulate(s, s["dur_ns"] * 100, 1.0, 1.0, 5.0)
    assert r["end_ns"].tolist() == [100 + 1000 + 5 + 1000 + 5 + 1000]
    assert r["launch_ns"].tolist() == [100.0] and r["gpu_gap_ns"].tolist() == [10.0]
    # the host twice as fast
    assert pm.simulate(s, s["dur_ns"], 0.5, 1.0, 5.0)["end_ns"].tolist() == [160.0]
    # graph nodes: internal gaps scale with the node ratio, no host wait after the first
    g = _src([10, 10, 10, 10], [50, 8, 8, 8], [L, G, G, G], [50, 60, 70, 80])
    assert pm.simulate(g, g["dur_ns"], 1.0, 0.5, 0.0)["end_ns"].tolist() == [50 + 40 + 12]
    # queued gaps are GPU-side and kept
    q = _src([10, 10], [20, 7], [L, Q], [20, 0])
    assert pm.simulate(q, q["dur_ns"], 1.0, 1.0, 99.0)["end_ns"].tolist() == [47.0]
    # two steps: each restarts at its own start
    two = _src([10, 10, 10, 10], [100, 40, 100, 40], [L, L, L, L], [100, 150, 100, 150], [0, 0, 1, 1])
    assert pm.simulate(two, two["dur_ns"], 1.0, 1.0, 5.0)["end_ns"].tolist() == [160.0, 160.0]


def test_kernel_times_bandwidth_and_sm_terms():
    src = {"bytes": np.array([3e6, 0.0, 3e6]), "class": np.array([0, 6, 0])}
    split = {"r_ns": np.array([500.0, 2000.0, 500.0]), "beta_ns_per_byte": np.zeros(12)}
    s = {"boost_clock_mhz": 2000, "sms": 100}
    t = {"boost_clock_mhz": 1000, "sms": 50, "bf16_dense_flops_per_s": 1e15}
    phi = np.zeros(12)
    k = pm.kernel_times(src, split, s, t, 1e12, phi)
    # 3 MB at 1 TB/s = 3000 ns; inefficiency at half the clock doubles
    assert k["t_ns"].tolist() == [3000 + 1000, 4000, 3000 + 1000]
    split["beta_ns_per_byte"][0] = 1e-4           # 300 ns of the GEMMs' 500 is per byte: x4 (clock x SMs)
    k = pm.kernel_times(src, split, s, t, 1e12, phi)
    assert k["t_ns"][0] == pytest.approx(3000 + 200 * 2 + 300 * 4)
    phi[0] = 2e3                                   # 6e9 FLOP at 1e15 FLOP/s = 6000 ns > 3000 ns of memory
    assert pm.kernel_times(src, split, s, t, 1e12, phi)["compute_bound"].tolist() == [True, False, True]


# -- the model on committed traces ------------------------------------------------
@pytest.mark.parametrize("mode", ["eager-static", "graph"])
@pytest.mark.parametrize("gpu,name", [("h100", "H100 SXM"), ("h200", "H200")])
def test_same_gpu_prediction_within_3pct(counters, mode, gpu, name):
    """On its own GPU the model gives back the untraced step. This holds by construction
    (t'_k = d_k, node ratio 1, sigma fitted to the untraced median): it checks that the
    pieces close, not the cross-GPU terms."""
    r = predict([counters[(mode, gpu)]], [name])
    s = r["sources"][0]
    assert s["predictions"][0]["step_ns"] / 1e6 == pytest.approx(s["measured"]["untraced_step_ms"], rel=0.03)
    assert s["predictions"][0]["same_gpu"]
    assert s["bytes_source"].startswith("counter pass")


def test_golden_cross_gpu_predictions(counters):
    """The committed leave-one-GPU-out figures (counter-pass traces: exact bytes, so no BLAS
    dependence), recomputed."""
    rows = {(r["family"], r["mode"], r["source"]): r for r in LOO["qwen"]["rows"]}
    for (mode, gpu), a in counters.items():
        other = "H200" if gpu == "h100" else "H100 SXM"
        got = predict([a], [other])["sources"][0]["predictions"][0]
        want = rows[("counters", mode, "H100 SXM" if gpu == "h100" else "H200")]
        assert got["step_ns"] / 1e6 == pytest.approx(want["predicted_ms"], rel=1e-6)
        assert got["busy_ns"] / 1e6 == pytest.approx(want["predicted_busy_ms"], rel=1e-6)
    # the graph step across H100 <-> H200 within 10% of every committed measurement of the target
    for r in LOO["qwen"]["rows"]:
        if r["mode"] == "graph":
            for k in ("err_vs_trace_pct", "err_vs_ab_pct", "err_vs_sweep_pct"):
                assert abs(r[k]) < 10.0, (r["family"], r["source"], k)


def test_cross_gpu_busy_time_is_measured_not_copied(counters):
    """The kernel model alone (busy time) against the target's traced busy time, per direction:
    within 3%, while the source's own busy differs by 17-20%."""
    for src, tgt, name in (("h100", "h200", "H200"), ("h200", "h100", "H100 SXM")):
        p = predict([counters[("graph", src)]], [name])["sources"][0]["predictions"][0]
        measured = counters[("graph", tgt)].get_summary()["modes"]["graph"]["busy_ms"]
        source = counters[("graph", src)].get_summary()["modes"]["graph"]["busy_ms"]
        assert p["busy_ns"] / 1e6 == pytest.approx(measured, rel=0.03)
        assert abs(source / measured - 1) > 0.15


def test_paper_l4_cells(counters):
    """L4 from the graph and eager-static counter traces: within 5% of the paper's 62.32 ms
    and 81% of floor (all parameters) within 3 points; the graph speedup 1.00-1.10x."""
    r = predict([counters[("eager-static", "h100")], counters[("graph", "h100")]], ["L4"])
    for s in r["sources"]:
        p = s["predictions"][0]
        assert p["step_ns"] / 1e6 == pytest.approx(62.32, rel=0.05)
        assert p["pct_floor_all"] == pytest.approx(81.0, abs=3.0)
        assert p["compute_bound_kernels"] == 0
    assert 1.0 < r["speedups"][0]["targets"][0]["speedup"] < 1.10


def test_host_scale_moves_only_the_host():
    a = TraceAnalysis(trace_path("qwen2.5-7b-ctx2048-eager-static-h100"))
    one, half = (predict([a], ["H100 SXM"], host_scale=h)["sources"][0]["predictions"][0] for h in (1.0, 0.5))
    assert one["busy_ns"] == half["busy_ns"]
    assert half["step_ns"] < 0.75 * one["step_ns"]
    with pytest.raises(ValueError, match="host-scale"):
        predict([a], ["L4"], host_scale=0)


# -- the command -------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "stepscope", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_predict_text_json_and_errors(tmp_path):
    t = trace_path("qwen2.5-7b-ctx2048-graph-counters-h100")
    r = _cli("predict", t, "--gpu", "L4,H200")
    assert r.returncode == 0, r.stderr
    assert "predicted L4" in r.stdout and "predicted H200" in r.stdout and "host is assumed unchanged" in r.stdout
    r = _cli("predict", t, "--gpu", "H200", "--json")
    assert json.loads(r.stdout)["sources"][0]["predictions"][0]["gpu"] == "H200"
    r = _cli("predict", t, "--gpu", "B200")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no GPU called 'B200'" in r.stderr
    spec = gpu_table.find(gpu_table.load_table(), "L4") | {"name": "L4-half", "aliases": []}
    spec["peak_bytes_per_s"] = {"value": 150e9, "source": "a what-if"}
    (tmp_path / "g.json").write_text(json.dumps(spec))
    r = _cli("predict", t, "--gpu", "L4", "--gpu-spec", tmp_path / "g.json", "--json")
    preds = json.loads(r.stdout)["sources"][0]["predictions"]
    assert [p["gpu"] for p in preds] == ["L4", "L4-half"] and preds[1]["step_ns"] > 1.8 * preds[0]["step_ns"]
    (tmp_path / "bad.json").write_text("{")
    r = _cli("predict", t, "--gpu-spec", tmp_path / "bad.json")
    assert r.returncode == 2 and "not a readable JSON GPU table" in r.stderr
