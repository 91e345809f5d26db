"""The bad-input corpus (tests/badinput_corpus.py, made from the shipped traces and results)
against every subcommand that reads files: no traceback, exit status 2, one sentence on
stderr, and every input byte for byte unchanged. Commands run in-process (fast) except
where a bug would hang the test (FIFOs, devices, signals): those run in a subprocess
with a timeout."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import badinput_corpus as corpus
import pytest

from conftest import ROOT, trace_path
from stepscope.cli import main

READERS = ("report", "report-json", "timeline", "bars", "export")


def _argv(cmd: str, path: Path, out: Path) -> list[str]:
    return {"report": ["report", path], "report-json": ["report", path, "--json"],
            "timeline": ["timeline", path, "-o", out / "t.png"], "bars": ["bars", path, "-o", out / "b.png"],
            "export": ["export", path, "--perfetto", out / "e.json"]}[cmd]


def _digest(paths) -> dict:
    out = {}
    for p in paths:
        p = Path(p)
        if p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out.update(_digest(sorted(p.rglob("*"))))
    return out


def refuse(capsys, argv, inputs=(), contains: str | None = None) -> str:
    """Run the CLI in-process; assert one sentence, exit 2, inputs unchanged, no output file."""
    before = _digest(inputs)
    rc = main([str(x) for x in argv])
    err = capsys.readouterr().err
    assert rc == 2, (argv, rc, err)
    assert err.startswith("stepscope: ") and err.count("\n") == 1 and err.rstrip().endswith("."), err
    assert "Traceback" not in err
    if contains:
        assert contains in err, err
    assert _digest(inputs) == before, "an input changed"
    return err


@pytest.fixture(scope="module")
def native_cases(tmp_path_factory):
    return corpus.native(tmp_path_factory.mktemp("native"))


@pytest.fixture(scope="module")
def kineto_cases(tmp_path_factory):
    return corpus.kineto(tmp_path_factory.mktemp("kineto"))


@pytest.fixture(scope="module")
def result_cases(tmp_path_factory):
    return corpus.results(tmp_path_factory.mktemp("results"))


NATIVE_CASES = [
    "truncated-0pct", "truncated-10pct", "truncated-50pct", "truncated-99pct", "text-file", "corrupt-member",
    "folder", "meta-is-a-list", "meta-not-json", "no-meta", "schema-version-99", "peak-is-a-string",
    "bytes-per-step-a-string", "empty-config", "ctx-a-string", "strings-not-a-list", "mode-index-out-of-range",
    "mode-index-negative", "kernel-name-out-of-range", "negative-kernel-duration", "step-ends-before-start",
    "duplicate-step-index", "overlapping-steps", "negative-step-index", "timestamp-beyond-2-62", "missing-column",
    "float-column", "2d-column", "ragged-table", "object-column", "npy-header-declares-8TB", "zip-declares-5GB"]
KINETO_CASES = ["gz-truncated", "gz-not-gzip", "json-truncated", "json-empty", "json-a-list", "events-not-a-list",
                "event-not-an-object", "no-kernels", "kernel-without-ts", "nan-duration", "infinite-ts",
                "negative-duration", "ts-a-word", "correlation-a-word", "grid-a-number", "name-a-number",
                "step-without-number", "duplicate-steps"]


def test_the_corpus_lists_every_case(native_cases, kineto_cases):
    assert set(NATIVE_CASES) <= set(native_cases) and set(KINETO_CASES) <= set(kineto_cases)
    assert {k for k in native_cases if not k.startswith("bit-flip")} == set(NATIVE_CASES)


@pytest.mark.parametrize("cmd", READERS)
@pytest.mark.parametrize("case", NATIVE_CASES)
def test_native_corpus(capsys, tmp_path, native_cases, case, cmd):
    p = native_cases[case]
    err = refuse(capsys, _argv(cmd, p, tmp_path), [p])
    assert str(p) in err   # the sentence names the file
    assert list(tmp_path.iterdir()) == []


def test_bit_flips_load_or_are_refused(capsys, tmp_path, native_cases):
    """A flipped bit in zip bookkeeping the reader does not check (a date) may load; one in
    the data fails its CRC. Either way: exit 0 with a report, or 2 with one sentence."""
    flips = [k for k in native_cases if k.startswith("bit-flip")]
    assert flips
    refused = 0
    for k in flips:
        before = _digest([native_cases[k]])
        rc = main(["report", str(native_cases[k])])
        err = capsys.readouterr().err
        assert rc in (0, 2) and "Traceback" not in err
        refused += rc == 2
        if rc == 2:
            assert err.count("\n") == 1 and str(native_cases[k]) in err
        assert _digest([native_cases[k]]) == before
    assert refused >= 1


@pytest.mark.parametrize("cmd", ("report", "export"))
@pytest.mark.parametrize("case", KINETO_CASES)
def test_kineto_corpus(capsys, tmp_path, kineto_cases, case, cmd):
    p = kineto_cases[case]
    err = refuse(capsys, _argv(cmd, p, tmp_path), [p])
    assert str(p) in err


def test_decompression_bombs_stop_at_the_limit(capsys, monkeypatch, tmp_path, kineto_cases):
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "4096")
    refuse(capsys, ["--max-trace-mb", "16", "report", kineto_cases["gzip-bomb"]], [kineto_cases["gzip-bomb"]],
           "inflates to more than the 16 MB limit")
    # A real trace over a (small) limit: refused before its arrays are read; the flag overrides.
    refuse(capsys, ["--max-trace-mb", "0.05", "report", trace_path("synthetic-h100")], [], "over the 0 MB limit")
    assert main(["--max-trace-mb", "64", "report", str(trace_path("synthetic-h100"))]) == 0
    refuse(capsys, ["--max-trace-mb", "-1", "report", trace_path("synthetic-h100")], [], "above 0")


@pytest.mark.parametrize("case", ["compare-cell-missing-keys", "compare-cell-strings", "compare-half-written-cell",
                                  "compare-cell-a-list", "compare-dir-with-itself", "compare-copy-of-same-gpu",
                                  "compare-not-a-folder", "sweep-report-only-half-written-cell",
                                  "ab-report-only-half-written-session", "ab-report-only-session-strings",
                                  "quant-report-only-half-written-arm", "report-calibration-zero",
                                  "report-calibration-string", "report-calibration-no-gpu", "ab-calibration-string"])
def test_result_corpus(capsys, result_cases, case):
    argv = result_cases[case]
    refuse(capsys, argv, [a for a in argv[1:] if isinstance(a, Path)])


# -- outputs: the same file as an input, unwritable, not a file --------------------
def _links(tmp_path, src: Path):
    """A copy of a trace, a symlink to it and a hard link to it."""
    real = tmp_path / src.name
    shutil.copy(src, real)
    sym = tmp_path / f"sym-{src.name}"
    sym.symlink_to(real)
    hard = tmp_path / f"hard-{src.name}"
    os.link(real, hard)
    return real, sym, hard


@pytest.mark.parametrize("src", [trace_path("synthetic-h100"), corpus.KINETO], ids=["native", "kineto"])
def test_outputs_that_are_inputs_are_refused(capsys, tmp_path, src):
    real, sym, hard = _links(tmp_path, src)
    for out in (real, sym, hard):
        refuse(capsys, ["export", real, "--perfetto", out], [real], "is the input")
        refuse(capsys, ["export", out, "--perfetto", real], [real], "is the input")
    if src.suffix == ".stepscope":
        png = tmp_path / "trace.png"
        os.link(real, png)
        refuse(capsys, ["timeline", real, "-o", png], [real], "is the input")
        refuse(capsys, ["bars", real, trace_path("synthetic-h200"), "-o", png], [real], "is the input")


def test_result_outputs_that_are_inputs_are_refused(capsys, tmp_path):
    shutil.copytree(corpus.RESULTS / "sweep-h100", tmp_path / "a")
    shutil.copytree(corpus.RESULTS / "sweep-h200", tmp_path / "b")
    cell = sorted((tmp_path / "a" / "cells").glob("*.json"))[0]
    refuse(capsys, ["compare", tmp_path / "a", tmp_path / "b", "-o", cell], [tmp_path],
           "is inside the input folder")   # issue 33 D6: refused before its 'is the input' check
    shutil.copytree(corpus.RESULTS / "ab-h100", tmp_path / "ab")
    (tmp_path / "ab" / "summary.json").unlink()
    (tmp_path / "ab" / "summary.json").symlink_to(tmp_path / "ab" / "session-00.json")
    refuse(capsys, ["ab", "--report-only", "--force", "-o", tmp_path / "ab", "--arms", "eager-static,graph"],
           [tmp_path / "ab" / "session-00.json"], "is the input")


def test_unwritable_and_odd_outputs_are_refused(capsys, tmp_path):
    t = trace_path("synthetic-h100")
    refuse(capsys, ["bars", t, "-o", tmp_path / "missing" / "b.png"], [t], "does not exist")
    refuse(capsys, ["bars", t, "-o", tmp_path], [t], "is a folder")
    refuse(capsys, ["bars", t, "-o", tmp_path / "b.txt"], [t], "figure file name")
    refuse(capsys, ["timeline", t, "-o", tmp_path / "t.docx"], [t], "figure file name")
    refuse(capsys, ["export", t, "--perfetto", tmp_path], [t], "is a folder")
    refuse(capsys, ["export", t, "--perfetto", "/dev/null"], [t], "not a regular file")
    refuse(capsys, ["compare", corpus.RESULTS / "sweep-h100", corpus.RESULTS / "sweep-h200", "-o",
                    tmp_path / "missing" / "cmp"], [], "does not exist")
    assert list(tmp_path.iterdir()) == []


# -- options that would print something wrong ----------------------------------------
def test_silently_wrong_options_are_refused(capsys, tmp_path):
    t, k = trace_path("synthetic-h100"), corpus.KINETO
    refuse(capsys, ["report", k, "--ctx", "2048"], [k], "--ctx needs --model")
    refuse(capsys, ["report", k, "--model", "qwen2.5-7b", "--ctx", str(10**12)], [k], "outside 1..")
    refuse(capsys, ["sweep", "--report-only", "-o", tmp_path, "--ctx", "2048,1e12"], [], "whole numbers")
    refuse(capsys, ["sweep", "--report-only", "-o", tmp_path, "--ctx", "2048,0"], [], "at least 1")
    refuse(capsys, ["timeline", t, "-o", tmp_path / "t.png", "--window", "500:900"], [t], "outside the step")
    refuse(capsys, ["timeline", t, "-o", tmp_path / "t.png", "--window=-9:-1"], [t], "outside the step")
    refuse(capsys, ["timeline", t, "-o", tmp_path / "t.png", "--step", "-1"], [t], "has no step -1")
    refuse(capsys, ["timeline", t, "-o", tmp_path / "t.png", "--width", "10000000"], [t], "--width")
    with pytest.raises(SystemExit) as e:   # argparse: not a whole number
        main(["report", str(k), "--model", "qwen2.5-7b", "--ctx", "1e12"])
    assert e.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_gb_per_s_is_n_a_without_dram_counters(capsys):
    assert main(["report", str(corpus.KINETO)]) == 0
    out = capsys.readouterr().out
    rows = out[out.index("kernel classes"):out.index("idle gaps")].splitlines()
    assert all(r.rstrip().endswith("n/a") for r in rows[1:] if r.strip() and not r.startswith("top kernels"))
    assert main(["report", str(trace_path("synthetic-h100"))]) == 0
    assert "n/a" not in capsys.readouterr().out.split("kernel classes")[1].split("idle gaps")[0]


# -- things that would hang or must be tested from outside ---------------------------
def run(*args, timeout=60, **kw):
    return subprocess.run([sys.executable, "-m", "stepscope", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, **kw)


def test_fifo_and_devices_are_refused_without_hanging(tmp_path):
    fifo = tmp_path / "trace.stepscope"
    os.mkfifo(fifo)
    kfifo = tmp_path / "trace.json"
    os.mkfifo(kfifo)
    cal = tmp_path / "cal.json"
    os.mkfifo(cal)
    for args in (["report", fifo], ["report", kfifo], ["export", fifo, "--perfetto", tmp_path / "x.json"],
                 ["report", "/dev/zero"], ["report", "/dev/urandom"],
                 ["report", trace_path("synthetic-h100"), "--calibration", cal]):
        r = run(*args, timeout=30)
        assert r.returncode == 2 and "not a regular file" in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)


def test_sigterm_leaves_no_temporary_and_stale_ones_are_removed(tmp_path):
    from stepscope.analysis.trace.atomic import atomic_open
    out = tmp_path / "x.json"
    stale = tmp_path / ".x.json.999999999.abcd.part"   # a writer that no longer runs
    stale.write_text("half")
    mine = tmp_path / f".x.json.{os.getpid()}.live.part"   # one of a live writer: kept
    mine.write_text("busy")
    with atomic_open(out, "w") as f:
        f.write("{}")
    assert not stale.exists() and mine.exists() and out.read_text() == "{}"
    mine.unlink()
    # A writer stopped by SIGTERM mid-write removes its temporary and writes nothing.
    code = ("import sys, time; sys.path.insert(0, sys.argv[2]); from stepscope import inputs; inputs.on_signals()\n"
            "from stepscope.analysis.trace.atomic import atomic_open\n"
            "with atomic_open(sys.argv[1], 'w') as f:\n    f.write('x'); f.flush(); print('ready', flush=True); "
            "time.sleep(30)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(out.with_name("y.json")), str(ROOT)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    assert list(tmp_path.glob(".y.json.*.part"))
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)
    time.sleep(0.1)
    assert list(tmp_path.glob(".y.json.*")) == [] and not (tmp_path / "y.json").exists()


def test_interrupted_commands_say_how_to_resume():
    from stepscope.cli import build_parser
    from stepscope.inputs import interrupted
    a = build_parser().parse_args(["sweep", "-o", "mysweep"])
    assert "finished cells in mysweep are kept" in interrupted(a) and "resume" in interrupted(a)
    assert "no file was written" in interrupted(build_parser().parse_args(["report", "x"]))


# -- round two (issue 33): bombs, races, values out of range --------------------------
@pytest.fixture(scope="module")
def round2(tmp_path_factory):
    d = tmp_path_factory.mktemp("round2")
    return {**corpus.round2_native(d / "native"), **corpus.round2_kineto(d / "kineto")}


@pytest.fixture(scope="module")
def round2_results(tmp_path_factory):
    return corpus.round2_results(tmp_path_factory.mktemp("round2-results"))


ROUND2_NATIVE = {   # case: words of the sentence
    "strings-2M-entries": "string table holds about", "bytes-per-step-10e400": "beyond 2**62",
    "peak-1e-320": "outside 1e+06", "param-bytes-10e400": "beyond 2**62",
    "input-embedding-bytes-missing": "without input_embedding_bytes", "hidden-size-10e30": "beyond any model",
    "layers-10e12": "beyond any model", "encrypted-member": "is encrypted", "duplicate-member": "twice",
    "host-span-parent-out-of-range": "host_spans.parent", "surrogate-in-kernel-name": "lone surrogate",
    "surrogate-in-gpu-name": "lone surrogate", "pm-bytes-2-62": "sums beyond 2**62"}
ROUND2_KINETO = {
    "whitespace-no-events": "no traceEvents list in its first 64 MB",
    "whitespace-between-events": "more than 128 MB of text between two events",
    "step-number-30-digits": "step number is outside", "kernel-negative-ts": "negative ts"}


@pytest.fixture(autouse=True)
def _default_limit(monkeypatch):
    """Every test starts and ends with the default size limit (--max-trace-mb sets the
    variable in-process). setenv first, so the variable's absence is restored afterwards
    (delenv of an absent variable records nothing to restore)."""
    monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", "4096")
    monkeypatch.delenv("STEPSCOPE_MAX_TRACE_MB")


@pytest.mark.parametrize("cmd", READERS)
@pytest.mark.parametrize("case", sorted(ROUND2_NATIVE))
def test_round2_native(capsys, tmp_path, round2, case, cmd):
    p = round2[case]
    err = refuse(capsys, _argv(cmd, p, tmp_path), [p], ROUND2_NATIVE[case])
    assert str(p) in err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cmd", ("report", "export"))
@pytest.mark.parametrize("case", sorted(ROUND2_KINETO))
def test_round2_kineto(capsys, tmp_path, round2, case, cmd):
    p = round2[case]
    err = refuse(capsys, _argv(cmd, p, tmp_path), [p], ROUND2_KINETO[case])
    assert str(p) in err and list(tmp_path.iterdir()) == []


ROUND2_RESULTS = {
    "compare-cell-400-digits": "characters), not a positive number", "sweep-report-only-cell-400-digits": "characters)",
    "compare-output-inside-input": "inside the input folder", "compare-output-dot": "takes a file name",
    "ab-report-txt-a-folder": "report.txt: it is a folder", "ab-mixed-gpu-and-ctx": "one workload on one GPU",
    "quant-report-only-class-strings": "classes.gemm is 'slow', not an object",
    "report-model-config-not-json": "not valid JSON", "report-model-config-a-list": "config is a list",
    "report-model-config-empty": "hidden_size is None", "report-model-config-deep": "RecursionError",
    "report-model-config-hidden-10e30": "beyond any model", "max-trace-mb-inf": "not inf",
    "max-trace-mb-1e308": "not 1e+308", "max-trace-mb-nan": "not nan", "max-trace-mb--5": "not -5",
    "main-job-max-trace-mb-negative": "--max-trace-mb", "main-job-node-gap-nan": "not nan",
    "main-job-node-gap--5": "not -5", "main-job-node-gap-inf": "not inf"}


@pytest.mark.parametrize("case", sorted(ROUND2_RESULTS))
def test_round2_results(capsys, round2_results, case):
    argv = round2_results[case]
    folders = [a for a in argv if isinstance(a, Path) and a.is_dir()]
    refuse(capsys, argv, [a for a in argv if isinstance(a, Path)], ROUND2_RESULTS[case])
    if case.startswith("ab-"):    # the whole output set is checked before any is written
        assert not any((f / n).is_file() for f in folders for n in ("summary.json", "ab.png", "report.txt"))
    if case.startswith("main-job"):
        assert not argv[-1].exists()


def test_round2_lists_every_case(round2, round2_results):
    assert set(round2) == set(ROUND2_NATIVE) | set(ROUND2_KINETO)
    assert set(round2_results) == set(ROUND2_RESULTS)


def test_env_limit_that_is_not_a_number(capsys, monkeypatch):
    for v in ("nan", "inf", "-3", "lots"):
        monkeypatch.setenv("STEPSCOPE_MAX_TRACE_MB", v)
        refuse(capsys, ["report", trace_path("synthetic-h100")], [], f"STEPSCOPE_MAX_TRACE_MB={v}")


def test_many_kineto_events_count_against_the_limit(capsys, tmp_path):
    """D4: the events kept while importing are counted against the limit as they are
    parsed (kineto_fast.EVENT_BYTES each: 40,000 events are about 15 MB); the same file
    loads under a larger one."""
    p = corpus.many_events(tmp_path, 40_000)
    refuse(capsys, ["--max-trace-mb", "8", "report", p], [p], "events to import")
    assert main(["--max-trace-mb", "64", "report", str(p)]) == 0


def test_json_scanner_reads_a_bounded_head(tmp_path):
    """D1: text with no traceEvents is refused after MAX_HEAD_BYTES, not read to its end
    (the key search looked through the whole growing buffer for every block)."""
    from stepscope.analysis.trace.json_stream import MAX_HEAD_BYTES, TooLong, parse_events
    read = []

    def blocks():
        yield b"{"
        for _ in range(4 * MAX_HEAD_BYTES >> 20):
            read.append(1)
            yield b" " * (1 << 20)
    with pytest.raises(TooLong):
        parse_events(blocks(), list)
    assert len(read) <= (MAX_HEAD_BYTES >> 20) + 1
    # whitespace inside the list is dropped as it comes, so a long run of it is fine
    h, kept = parse_events(iter([b'{"traceEvents": [', *([b" " * (1 << 20)] * 200), b'{"a": 1}]}']), list)
    assert kept == [{"a": 1}] and h == {}


def test_overlapping_kernels_skip_the_dram_fit(tmp_path):
    """D2: kernels of 20 ms overlapping thousands of PM samples; the fit counts the pairs
    first and skips itself with a reason; report and timeline run in bounded memory (the
    child's address space is capped at 3 GB: building every pair took 13.8 GB)."""
    p = corpus.overlapping_kernels(tmp_path)
    cap = "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); " \
          "sys.argv = ['stepscope'] + sys.argv[1:]; runpy.run_module('stepscope', run_name='__main__')"
    for args in (["report", p], ["timeline", p, "-o", tmp_path / "t.png"]):
        r = subprocess.run([sys.executable, "-c", cap, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
    assert "DRAM per kernel: not estimated (records overlap too much" in r.stdout or args[0] == "timeline"
    from stepscope.analysis.facade import TraceAnalysis
    d = TraceAnalysis(p).get_dram_kernels()
    assert d["source"] == "none" and "overlap too much" in d["reason"]
    # the shipped traces stay well under the budget: their estimate is made
    assert TraceAnalysis(trace_path("synthetic-h100")).get_dram_kernels()["source"] == "pm deconvolution"


def test_long_names_are_cut_in_exports(tmp_path):
    """D3: a 4 MB kernel name is written whole once (otherData.long_names), cut in events."""
    import json
    p = corpus.long_name(tmp_path, 4)
    out = tmp_path / "e.json"
    assert main(["export", str(p), "-o", str(out), "--quiet"]) == 0
    assert out.stat().st_size < 3 * p.stat().st_size + (8 << 20)
    doc = json.loads(out.read_bytes())
    full = [v for v in doc["otherData"]["long_names"].values()]
    assert len(full) == 1 and len(full[0]) == 4 << 20
    assert max(len(e.get("name", "")) for e in doc["traceEvents"]) <= 1024


def test_writers_of_similar_names_keep_each_others_temporaries(tmp_path):
    """D5: the temporary of x.json.20240101.json, owned by a live writer, is not taken
    for a stale temporary of x.json (its pid field read as 20240101)."""
    from stepscope.analysis.trace.atomic import atomic_open
    live = tmp_path / f".x.json.20240101.json.{os.getpid()}.abcd.part"
    live.write_text("busy")
    with atomic_open(tmp_path / "x.json", "w") as f:
        f.write("{}")
    assert live.exists() and (tmp_path / "x.json").read_text() == "{}"


def test_long_and_odd_output_names(capsys, tmp_path):
    """D13: a 240-byte output name (its temporary was over 255 bytes) and ** in a name."""
    t = trace_path("synthetic-h100")
    for name in ("n" * 235 + ".json", "a**b.json"):
        assert main(["export", str(t), "-o", str(tmp_path / name), "--quiet"]) == 0
        assert (tmp_path / name).is_file()
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["n" * 235 + ".json", "a**b.json"])
    refuse(capsys, ["quant", "--report-only", "--model", "**", "-o", tmp_path], [], "")


def test_full_disk_is_one_sentence_and_keeps_the_old_file(capsys, monkeypatch, tmp_path):
    """D12: ENOSPC while writing an output: one sentence, no temporary left, the old file
    kept; and the standard output on a full disk (report > /dev/full)."""
    import errno

    from stepscope.analysis.trace import atomic
    t = trace_path("synthetic-h100")
    out = tmp_path / "e.json"
    out.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(atomic.os, "fsync", full)
    for argv in (["export", t, "-o", out, "--quiet"], ["bars", t, "-o", tmp_path / "b.png"],
                 ["timeline", t, "-o", tmp_path / "t.png"]):
        refuse(capsys, argv, [t], "no space left on device; nothing was written")
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["e.json"]
    with open("/dev/full", "w") as devfull:
        r = subprocess.run([sys.executable, "-m", "stepscope", "report", str(t)], cwd=ROOT, stdout=devfull,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr == "stepscope: cannot write the standard output (No space left on device).\n"


def test_unreadable_trace(capsys, monkeypatch, tmp_path):
    """D15: opening the trace fails with a permission error (as a mode-000 file does for
    any user but root): one sentence."""
    from stepscope.analysis.trace import model

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")
    p = trace_path("synthetic-h100")
    monkeypatch.setattr(model, "open", denied, raising=False)
    refuse(capsys, ["report", p], [p], "cannot be read (Permission denied)")


def test_unreadable_trace_as_another_user(tmp_path):
    """D15 for real: a mode-000 trace read by nobody (the child drops root when it can)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch user")
    try:
        probe = subprocess.run([sys.executable, "-c", "import stepscope"], cwd=ROOT, capture_output=True,
                               preexec_fn=lambda: os.setuid(65534))
    except OSError:     # nobody may not enter the virtual environment's folder
        probe = None
    if probe is None or probe.returncode:
        pytest.skip("nobody cannot run this checkout's Python")
    p = tmp_path / "t.stepscope"
    shutil.copy(trace_path("synthetic-h100"), p)
    p.chmod(0)
    tmp_path.chmod(0o755)
    r = subprocess.run([sys.executable, "-m", "stepscope", "report", str(p)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, preexec_fn=lambda: os.setuid(65534))
    assert r.returncode == 2 and r.stderr == f"stepscope: {p}: cannot be read (Permission denied).\n", r.stderr


def test_compare_refuses_node_gaps_that_are_not_gaps():
    """D20 from Python: the comparison itself refuses nan, negative and infinite node gaps
    (nan made 'predicted nanx' and flipped the verdict)."""
    from stepscope.analysis.compare_modes import compare
    from stepscope.analysis.facade import TraceAnalysis
    base, graph = (TraceAnalysis(trace_path(f"qwen2.5-7b-ctx2048-{m}-h100")) for m in ("eager-static", "graph"))
    for gap in (float("nan"), -5.0, float("inf")):
        with pytest.raises(ValueError, match="node gap must be"):
            compare(base, graph, [gap], "given")
    assert compare(base, graph, [96.0], "given")["predicted_speedup"] > 1
