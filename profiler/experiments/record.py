"""`stepscope record -- python app.py [args]`: the user's own, unmodified program under the
Tracer, in this process, the way ``nsys profile`` and ``py-spy record`` run one.

The program runs as ``__main__`` (``runpy``) with its own ``sys.argv``; its stdout, stderr
and exit code pass through (stepscope speaks on stderr only). CUDA is initialised and the
Tracer started before the program's first line, and stopped after its last (or when it
raises, exits, or is interrupted: the trace of what ran is still written, atomically). The
decode steps are then found in the records (``analysis/trace/detect.py``: markers first,
then the period of the launch sequence) and written as the trace's steps.

Windows: ``start_after_s``/``duration_s`` keep the steps that start inside that window of
the program's run; a program that calls ``torch.cuda.profiler.start()``/``stop()`` has its
steps kept inside those ranges. The Tracer runs throughout in both cases (its cost applies
to the whole run): a window chooses what is reported, not what is traced.

A second CUPTI client in the program (``torch.profiler``) cannot run beside the Tracer: its
start raises :class:`RecordError` in the program, and the command says so in one sentence.
"""
from __future__ import annotations

import os
import runpy
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CaptureError


class RecordError(CaptureError):
    """The recorded program cannot be run or traced; one sentence for the user."""


@dataclass
class Target:
    """What to run: a script path or a module name, and its arguments."""
    script: str | None
    module: str | None
    args: list[str]

    @property
    def argv0(self) -> str:
        return self.script or self.module or ""

    def describe(self) -> list[str]:
        return ["python", *(["-m", self.module] if self.module else [self.script]), *self.args]


def parse_command(cmd: list[str]) -> Target:
    """``python app.py a b``, ``python -m pkg a``, ``app.py a`` or ``-m pkg a``."""
    cmd = list(cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if cmd and (Path(cmd[0]).name.startswith("python") or cmd[0] == sys.executable):
        cmd = cmd[1:]
    if not cmd:
        raise RecordError("nothing to run: give the program after --, e.g. stepscope record -- python app.py.")
    if cmd[0] == "-m":
        if len(cmd) < 2:
            raise RecordError("-m needs a module name, e.g. stepscope record -- python -m mypkg.serve.")
        return Target(None, cmd[1], cmd[2:])
    if cmd[0].startswith("-"):
        raise RecordError(f"python option {cmd[0]} is not supported by record: give a script or -m module.")
    if not Path(cmd[0]).is_file():
        raise RecordError(f"no such script: {cmd[0]}.")
    return Target(cmd[0], None, cmd[1:])


@dataclass
class Outcome:
    """How the program ended: ``exit_code`` as Python would give it, and why."""
    exit_code: int = 0
    how: str = "finished"
    windows_ns: list = field(default_factory=list)
    start_ns: int = 0
    end_ns: int = 0


def _block_other_profilers(torch) -> list:
    """Make torch.profiler's start raise RecordError (one CUPTI client per process), and note
    torch.cuda.profiler.start/stop ranges. Returns (undo, ranges)."""
    ranges: list[list[int]] = []
    undo = []

    def refuse(*_a, **_k):
        raise RecordError("the program starts torch.profiler, a second CUPTI client, which cannot run beside "
                          "stepscope's tracer: record it without stepscope, or run it under stepscope without "
                          "torch.profiler.")
    try:
        from torch.autograd import profiler as ap
        for cls, meth in ((ap.profile, "__enter__"), (torch.profiler.profile, "start")):
            undo.append((cls, meth, getattr(cls, meth)))
            setattr(cls, meth, refuse)
    except (ImportError, AttributeError):
        pass
    cp = getattr(getattr(torch, "cuda", None), "profiler", None)
    if cp is not None:
        orig_start, orig_stop = cp.start, cp.stop

        def start():
            ranges.append([time.time_ns(), -1])
            return orig_start()

        def stop():
            r = orig_stop()
            if ranges and ranges[-1][1] < 0:
                ranges[-1][1] = time.time_ns()
            return r
        undo += [(cp, "start", orig_start), (cp, "stop", orig_stop)]
        cp.start, cp.stop = start, stop
    return undo, ranges


def run_program(target: Target) -> Outcome:
    """Run ``target`` as ``__main__`` in this process; never raises for the program's own
    errors (they are printed as Python prints them and give exit code 1)."""
    out = Outcome(start_ns=time.time_ns())
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    try:
        if target.script:
            sys.argv = [target.script, *target.args]
            sys.path[0] = str(Path(target.script).resolve().parent)
            runpy.run_path(target.script, run_name="__main__")
        else:
            sys.argv = [target.module, *target.args]
            sys.path[0] = os.getcwd()
            runpy.run_module(target.module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code
        out.exit_code = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
        out.how = f"exited with code {out.exit_code}" if out.exit_code else "finished"
    except KeyboardInterrupt:
        out.exit_code, out.how = 130, "was interrupted (Ctrl-C)"
    except RecordError:
        raise
    except BaseException as e:  # noqa: BLE001 - the program's own error: shown as Python shows it
        tb = e.__traceback__
        while tb is not None and (tb.tb_frame.f_code.co_filename in (__file__, runpy.__file__)
                                  or "runpy" in tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next       # the program's frames only, as `python app.py` prints them
        traceback.print_exception(type(e), e, tb)
        out.exit_code, out.how = 1, f"raised {sys.exc_info()[0].__name__}"
    finally:
        sys.argv = saved_argv
        if saved_path0 is not None:
            sys.path[0] = saved_path0
        out.end_ns = time.time_ns()
    return out


#: The timing-only tracer of `record --repeat`'s runs (analysis/record_cost.py): memory
#: copies only, no kernel, API, DRAM, NVML, host-span or stack records.
TIMING_ONLY = {"dram": False, "nvml": False, "apis": "none", "kernel_records": "none", "host_spans": False,
               "stack_period_ns": 0}


def record(target: Target, tracer_kwargs: dict, start_after_s: float | None = None,
           duration_s: float | None = None, step_marker: str | None = None, step_module: str | None = None,
           warn=None, timing_only: bool = False):
    """Run ``target`` under a Tracer; return (trace or None, Outcome, detection message).
    ``timing_only``: the tracer of a `--repeat` run (``TIMING_ONLY``), and the trace is
    returned without finding steps (its copies are compared with the traced run's)."""
    if timing_only:
        tracer_kwargs = {**tracer_kwargs, **TIMING_ONLY}
    try:
        import torch
    except ImportError:
        raise RecordError("record needs torch (pip install 'stepscope[gpu]' or torch itself).") from None
    if not torch.cuda.is_available():
        raise RecordError("record needs a CUDA GPU, and torch sees none.")
    torch.cuda.init()
    torch.zeros(1, device="cuda").add_(1)   # the context exists before CUPTI and PM sampling start
    torch.cuda.synchronize()
    from stepscope.analysis.trace import detect
    from stepscope.profiler.capture import Tracer
    undo, ranges = _block_other_profilers(torch)
    tracer = Tracer(warn=warn, **tracer_kwargs)
    tracer.start()
    failure = None
    try:
        outcome = run_program(target)
    except RecordError as e:
        failure, outcome = e, Outcome(exit_code=2, how="started a second CUPTI client")
    finally:
        for obj, name, orig in undo:
            setattr(obj, name, orig)
        try:
            torch.cuda.synchronize()
        except Exception:  # noqa: BLE001 - a program that broke CUDA: the trace still closes
            pass
        trace = tracer.stop()
    outcome.windows_ns = _windows(outcome, ranges, start_after_s, duration_s)
    trace.meta["record"] = {"argv": target.describe(), "exit_code": outcome.exit_code, "how": outcome.how,
                            "start_ns": outcome.start_ns, "end_ns": outcome.end_ns,
                            "windows_ns": outcome.windows_ns, "cwd": os.getcwd()}
    if failure is None and timing_only:
        # one step, the program's run: a trace holds steps; the copies are what is compared
        from stepscope.analysis.trace.model import TABLES, table_from_rows
        row = {"index": 0, "mode": trace.intern("program"), "start_ns": outcome.start_ns, "end_ns": outcome.end_ns}
        trace.tables["steps"] = table_from_rows("steps", {c: [row.get(c, -1)] for c in TABLES["steps"]})
        return trace, outcome, ""
    found = detect.detect(trace, marker=step_marker, module=step_module)
    if found.steps and outcome.windows_ns:
        found = _keep_in_windows(found, outcome.windows_ns)
    if failure is not None:
        raise RecordError(f"{failure}") from None
    if not len(found.steps.get("index", [])):
        return None, outcome, found.message or "no decode steps found"
    detect.apply(trace, found)
    return trace, outcome, ""


def repeat_runs(target: Target, paths: list, say=None) -> list:
    """Run ``target`` once more per path, each in a fresh process under the timing-only
    tracer (`stepscope record --timing-only`) writing that path, the program's output
    discarded; returns their traces (a run that wrote none is said and left out)."""
    import subprocess

    from stepscope.analysis.trace import load
    say = say or (lambda m: None)
    out = []
    n = len(paths)
    for i, path in enumerate(paths):
        path = Path(path)
        path.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "stepscope", "record", "--timing-only", "--quiet", "--force",
               "-o", str(path), "--", *target.describe()]
        say(f"repeat run {i + 1} of {n} (timing only, the program's output not shown)")
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        if not path.is_file():
            tail = (r.stderr or "").strip().splitlines()[-1:] or ["no message"]
            say(f"repeat run {i + 1} wrote no trace (exit code {r.returncode}: {tail[0]})")
            continue
        out.append(load(path))
    return out


def _windows(outcome: Outcome, ranges: list, start_after_s, duration_s) -> list:
    """[start, end] windows of the program run whose steps are kept (none: all)."""
    if ranges:
        return [[s, e if e >= 0 else outcome.end_ns] for s, e in ranges]
    if start_after_s is None and duration_s is None:
        return []
    s = outcome.start_ns + int((start_after_s or 0) * 1e9)
    e = s + int(duration_s * 1e9) if duration_s is not None else outcome.end_ns
    return [[s, e]]


def _keep_in_windows(found, windows):
    import numpy as np
    st = found.steps
    start = np.asarray(st["start_ns"])
    keep = np.zeros(len(start), bool)
    for s, e in windows:
        keep |= (start >= s) & (start < e)
    found.steps = {k: np.asarray(v)[keep] for k, v in st.items()}
    kept = iter(keep.tolist())   # segments of steps, in step order: the summary counts the kept ones
    found.segments = [s for s in found.segments if s[0] not in ("decode", "warm-up") or next(kept)]
    found.steps["index"] = np.arange(int(keep.sum()))
    if not keep.any():
        found.message = "no decode step starts inside the recording window"
    return found


__all__ = ["RecordError", "Target", "parse_command", "run_program", "record", "repeat_runs", "TIMING_ONLY"]
