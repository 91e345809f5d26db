"""`stepscope record` on the CPU side: the command line, and the program's own behaviour
passing through (raises, exits 3, Ctrl-C), torch.profiler refused in one sentence. The
GPU path is recorded in traces/record-*.stepscope (benchmarks/record_gpu.sh)."""
import subprocess
import sys

import pytest

from conftest import ROOT
from stepscope.profiler.experiments import record as R


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "stepscope", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, **kw)


@pytest.mark.parametrize("cmd, want", [
    (["python", "/no/such.py"], "no such script: /no/such.py."),
    (["python", "-c", "1"], "python option -c is not supported by record"),
    (["python", "-m"], "-m needs a module name"),
    ([], "nothing to run")])
def test_bad_commands_are_one_sentence(cmd, want):
    r = cli("record", "-o", "/tmp/never.stepscope", "--", *cmd)
    assert r.returncode == 2 and r.stderr.startswith(f"stepscope: {want}") and "Traceback" not in r.stderr


def test_parse_command_forms(tmp_path):
    app = tmp_path / "app.py"
    app.write_text("")
    assert R.parse_command(["python3", str(app), "a", "-b"]) == R.Target(str(app), None, ["a", "-b"])
    assert R.parse_command(["--", str(app)]) == R.Target(str(app), None, [])
    assert R.parse_command(["-m", "pkg.mod", "x"]) == R.Target(None, "pkg.mod", ["x"])


@pytest.mark.parametrize("body, code, how", [
    ("import sys\nprint('out', sys.argv[1:])\nsys.exit(3)\n", 3, "exited with code 3"),
    ("raise ValueError('boom')\n", 1, "raised ValueError"),
    ("raise KeyboardInterrupt\n", 130, "was interrupted (Ctrl-C)"),
    ("print('fine')\n", 0, "finished")])
def test_the_programs_ending_passes_through(tmp_path, capfd, body, code, how):
    app = tmp_path / "app.py"
    app.write_text(body)
    out = R.run_program(R.Target(str(app), None, ["x", "y"]))
    assert (out.exit_code, out.how) == (code, how)
    o, e = capfd.readouterr()
    if code == 3:
        assert o == "out ['x', 'y']\n"
    if code == 1:      # as `python app.py` prints it: the program's frames only
        assert "raise ValueError('boom')" in e and "record.py" not in e and "runpy" not in e
    assert sys.argv[0] != str(app)     # argv restored


def test_torch_profiler_in_the_program_is_refused_in_one_sentence():
    torch = pytest.importorskip("torch")
    undo, ranges = R._block_other_profilers(torch)
    try:
        with pytest.raises(R.RecordError, match="starts torch.profiler, a second CUPTI client"):
            with torch.profiler.profile():
                pass
        torch.cuda.profiler.start  # noqa: B018 - patched, still callable
    finally:
        for obj, name, orig in undo:
            setattr(obj, name, orig)
    assert ranges == []


def test_without_a_gpu_record_says_so():
    r = cli("record", "-o", "/tmp/never.stepscope", "--", "python", str(ROOT / "examples" / "hf_generate.py"))
    if r.returncode == 2 and "needs a CUDA GPU" in r.stderr:
        assert r.stderr.count("\n") == 2 and "Traceback" not in r.stderr
    else:
        pytest.skip("a GPU is here")


def test_windows_keep_the_steps_inside():
    import numpy as np

    from stepscope.analysis.trace.detect import Detection
    found = Detection("r", {"index": np.arange(4), "start_ns": np.array([10, 20, 30, 40]),
                            "end_ns": np.array([19, 29, 39, 49]), "mode": np.zeros(4, np.int64)})
    found.segments = [("prefill", 0, 9, 99), *[("decode", i, 1, 1) for i in range(1, 5)]]
    out = R._keep_in_windows(found, [[15, 35]])
    assert out.steps["start_ns"].tolist() == [20, 30] and out.steps["index"].tolist() == [0, 1]
    assert out.summary()["decode_steps"] == 2 and out.summary()["prefill"] == 1
    o = R.Outcome(start_ns=1_000_000_000, end_ns=9_000_000_000)
    assert R._windows(o, [], 2.0, 1.5) == [[3_000_000_000, 4_500_000_000]]
    assert R._windows(o, [[5, -1]], None, None) == [[5, 9_000_000_000]]


@pytest.mark.parametrize("argv", [["--mode", "eager"], ["--mode", "static"]])
def test_hf_generate_example_runs_on_the_cpu(argv):
    pytest.importorskip("transformers")
    r = subprocess.run([sys.executable, "examples/hf_generate.py", "--model", "tiny-qwen2", "--ctx", "16",
                        "--new-tokens", "4", "--device", "cpu", *argv], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("generated 4 tokens")


@pytest.mark.parametrize("mode", ["eager", "eager-static"])
def test_decode_loop_example_runs_on_the_cpu(mode, tmp_path):
    pytest.importorskip("transformers")
    r = subprocess.run([sys.executable, "examples/decode_loop.py", "--model", "tiny-qwen2", "--ctx", "16",
                        "--new-tokens", "4", "--device", "cpu", "--mode", mode], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"decoded 4 tokens ({mode}; 3 decode steps)\n"


def test_a_negative_repeat_is_one_sentence(tmp_path):
    r = cli("record", "--repeat", "-1", "-o", str(tmp_path / "x.stepscope"), "--", "python", "app.py")
    assert r.returncode == 2 and r.stderr == "stepscope: --repeat must be 0 or more, not -1.\n"


def test_repeat_refuses_to_overwrite_an_earlier_timing_run(tmp_path):
    (tmp_path / "x-repeat-2.stepscope").write_bytes(b"keep")
    r = cli("record", "--repeat", "2", "-o", str(tmp_path / "x.stepscope"), "--", "python", "app.py")
    assert r.returncode == 2 and "x-repeat-2.stepscope exists; pass --force to overwrite it." in r.stderr
    assert (tmp_path / "x-repeat-2.stepscope").read_bytes() == b"keep"


def test_a_timing_only_tracer_records_copies_only():
    from stepscope.profiler.capture.activity import KERNEL_RECORDS
    assert R.TIMING_ONLY == {"dram": False, "nvml": False, "apis": "none", "kernel_records": "none",
                             "host_spans": False, "stack_period_ns": 0}
    assert "none" in KERNEL_RECORDS
