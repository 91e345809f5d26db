"""Progress bars on a machine without a GPU: the plumbing of the command line
(stepscope/progress.py), the callbacks of the GPU code run with the GPU calls replaced,
and the export's record count against the file it writes. A terminal is faked by
making stderr's ``isatty`` say True."""
import contextlib
import json
import sys

import pytest

from conftest import TRACES, trace_path
from stepscope import cli
from stepscope.progress import Progress


@pytest.fixture
def tty(monkeypatch, capsys):
    """stderr (pytest's capture) claims to be a terminal; call it in the test body, where
    capsys's stream is sys.stderr."""
    def fake():
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
        return capsys
    return fake


def test_stages_on_a_terminal_draw_a_bar_that_ends_full(tty):
    tty = tty()
    p = Progress().start(3)
    for name in ("build", "prefill", "warm-up"):
        p.stage(name)
    assert p.done == 2 and not p._bar.disable
    p.close()
    assert p.done == 3
    err = tty.readouterr().err
    assert "\r" in err and "warm-up" in err and "stages" in err


def test_stages_without_a_terminal_are_messages_with_time_left(capsys):
    p = Progress().start(3)
    for name in ("build", "prefill", "warm-up"):
        p.stage(name)
    p.close()
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "stepscope: [1/3] build"
    assert "stepscope: [2/3] prefill, about" in err and "stepscope: [3/3] warm-up, about" in err
    assert "\r" not in err and p.done == 3


def test_quiet_says_nothing_even_on_a_terminal(tty):
    tty = tty()
    p = Progress(quiet=True).start(2)
    p.stage("a")
    p("a message")
    p.stage("b")
    p.close()
    p = Progress(quiet=True).start(10, unit="record", staged=False)
    p.advance(10, "writing")
    p.close()
    assert tty.readouterr().err == ""


def test_counted_units_without_a_terminal_say_where_they_are_at_most_every_few_seconds(capsys, monkeypatch):
    from stepscope import progress
    p = Progress().start(100, unit="record", staged=False)
    p.advance(40, "writing kernels")          # within MESSAGE_EVERY_S of the start: silent
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "MESSAGE_EVERY_S", 0.0)
    p.advance(10, "writing kernels")
    p.close()
    assert capsys.readouterr().err.startswith("stepscope: writing kernels (50/100 records, about")


def test_messages_go_through_the_bar_on_a_terminal(tty):
    tty = tty()
    p = Progress().start(2)
    p.stage("one")
    p("hello")
    p.close()
    assert "stepscope: hello\n" in tty.readouterr().err


# -- export -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["qwen2.5-7b-ctx2048-eager-host-h100.stepscope", "synthetic-h100.stepscope",
                                  "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz"])
def test_export_progress_counts_every_record_it_writes(tmp_path, name):
    from stepscope.analysis.render.perfetto import record_count, write_chrome
    t = cli.load_trace(TRACES / name)
    seen = []
    write_chrome(t, tmp_path / "x.json", batch=1000, progress=lambda n, part: seen.append((n, part)))
    events = json.loads((tmp_path / "x.json").read_text())["traceEvents"]
    written = sum(e["ph"] in ("X", "C") for e in events)
    assert sum(n for n, _ in seen) == record_count(t) == written
    assert len(seen) > 2 and {"GPU records", "launch calls"} <= {part for _, part in seen}


def test_export_on_a_terminal_shows_a_bar_and_quiet_or_a_pipe_none(tmp_path, tty):
    tty = tty()
    path = trace_path("qwen2.5-7b-ctx2048-eager-h100")
    assert cli.main(["export", str(path), "-o", str(tmp_path / "a.json")]) == 0
    out = tty.readouterr()
    assert "\r" in out.err and "records" in out.err and "writing" in out.err
    assert out.out == f"wrote {tmp_path / 'a.json'} (open it in ui.perfetto.dev)\n"
    assert cli.main(["export", str(path), "-o", str(tmp_path / "b.json"), "--quiet"]) == 0
    assert tty.readouterr().err == ""
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_export_through_a_pipe_has_no_bar(tmp_path, capsys):
    assert cli.main(["export", str(trace_path("synthetic-h100")), "-o", str(tmp_path / "a.json")]) == 0
    assert "\r" not in capsys.readouterr().err


# -- the main job ---------------------------------------------------------------------
def test_main_job_on_a_terminal_shows_a_bar_over_its_stages(tmp_path, tty):
    tty = tty()
    assert cli.main(["--shipped", "-o", str(tmp_path)]) == 0
    err = tty.readouterr().err
    assert "\r" in err and "comparing the arms" in err and "drawing the timeline" in err


def test_main_job_without_a_terminal_says_each_stage(tmp_path, capsys):
    assert cli.main(["--shipped", "-o", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "stepscope: [1/2] comparing the arms" in err and "stepscope: [2/2] drawing the timeline" in err
    assert "\r" not in err


# -- the GPU code's callbacks, with the GPU calls replaced ------------------------------
class FakeTracer:
    """Stands in for the CUPTI tracer: each capture returns a shipped trace with its own
    step indices."""
    captures = 0

    def __init__(self, **kw):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        from stepscope.analysis.trace import Trace
        t = Trace.load(trace_path("synthetic-h100"))
        t.tables["steps"]["index"] = t.tables["steps"]["index"] + 1000 * FakeTracer.captures
        FakeTracer.captures += 1
        self.trace = t

    @contextlib.contextmanager
    def step(self, i, mode):
        yield


@pytest.fixture
def no_gpu_calls(monkeypatch):
    torch = pytest.importorskip("torch")
    from stepscope.profiler.experiments import protocol
    monkeypatch.setattr(protocol, "Tracer", FakeTracer)
    monkeypatch.setattr(protocol, "require_gpu", lambda: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    return protocol


@pytest.mark.parametrize("steps, rounds", [(6, 3), (2, 5), (4, 1)])
def test_measure_announces_the_stages_it_counts(no_gpu_calls, steps, rounds):
    stages = []
    no_gpu_calls.measure(lambda: None, "eager", 2, steps, 2, rounds=rounds, stage=stages.append)
    assert len(stages) == no_gpu_calls.measure_stage_count(steps, rounds)
    assert stages[0] == "warm-up" and stages[-1].startswith(f"round {min(rounds, steps)}/{min(rounds, steps)}")


def test_run_decode_announces_the_stages_it_counts(no_gpu_calls):
    from stepscope.profiler.workloads.decode import build_model, resolve_model
    spec = resolve_model("tiny-qwen2")
    net = build_model(spec, device="cpu", dtype="float32")
    stages = []
    no_gpu_calls.run_decode(spec.name, 16, "eager", 1, 4, 2, built=(spec, net), rounds=2, stage=stages.append)
    assert len(stages) == no_gpu_calls.decode_stage_count(4, 2, build=False)
    assert stages[0] == "eager: prefill 16 tokens" and stages[1] == "eager: warm-up"


def test_calibrate_announces_the_stages_it_counts(monkeypatch, tmp_path):
    """``calibrate.run`` with the real ``launch_costs`` and ``bandwidth`` loops and their
    CUDA calls replaced (events, graphs, device buffers, kernels)."""
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from stepscope.profiler.capture import nvml
    from stepscope.profiler.experiments import calibrate
    from stepscope.profiler.workloads import calibration as wcal
    noop = lambda *a, **k: None  # noqa: E731
    cal = object.__new__(wcal.Calibration)
    small = lambda *a, **k: torch.zeros(4096, dtype=torch.uint8)  # noqa: E731 - not 4 GiB
    cal.torch = SimpleNamespace(cuda=SimpleNamespace(synchronize=noop), equal=torch.equal, uint8=torch.uint8,
                                randint=small, empty=small)
    cal.mod, cal.sms, cal.l2_bytes = SimpleNamespace(launch=noop), 1, 0
    cal.traced_gaps = lambda: {"graph_gap_ns_median": 1.0}
    cal.chain = lambda: SimpleNamespace(meta={}, save=noop)
    monkeypatch.setattr(wcal, "Calibration", lambda device: cal)
    monkeypatch.setattr(wcal, "_events_ms", lambda fn, reps: [1.0])
    monkeypatch.setattr(wcal, "_graph_of", lambda fn: SimpleNamespace(replay=noop))
    monkeypatch.setattr(nvml, "Nvml", lambda device: SimpleNamespace(describe=lambda: {}, sample=dict, close=noop))
    for chain in (None, tmp_path / "chain.stepscope"):
        stages = []
        res = calibrate.run(chain_out=chain, stage=stages.append)
        assert len(stages) == calibrate.stage_count(chain=chain is not None)
        assert stages[0] == "launch costs: 10 null kernels" and "bandwidth: read kernel" in stages
        assert set(res["launch"]) == {str(n) for n in wcal.LAUNCH_SIZES}


def test_measure_with_a_graph_level_block_traces_it_each_round_against_the_same_untraced_steps(no_gpu_calls):
    """Issue 28: ``graph_level`` adds one traced block per round (a second tracer), in
    alternating order, and its trace carries a perturbation against the same untraced
    blocks as the per-kernel trace's."""
    made = []

    class Recording(FakeTracer):
        def __init__(self, **kw):
            made.append(kw.get("kernel_records", "concurrent"))

    no_gpu_calls.Tracer = Recording
    gl = []
    untraced, trace = no_gpu_calls.measure(lambda: None, "graph", 1, 6, 1, rounds=3, graph_level=gl,
                                           kernel_records="concurrent")
    assert made == ["concurrent", "graph", "graph", "concurrent", "concurrent", "graph"]
    assert len(gl) == 1 and len(untraced) == 6
    for t in (trace, gl[0]):
        p = t.meta["perturbation"]
        assert p["rounds"] == 3 and p["untraced_median_ns"] == trace.meta["perturbation"]["untraced_median_ns"]
