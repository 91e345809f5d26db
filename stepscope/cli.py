"""`stepscope` command line. Errors a user can cause: one sentence, exit status 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = ROOT / "traces" / "qwen2.5-7b-ctx2048-eager-h100.stepscope"


class UsageError(Exception):
    """Bad input; the message is one sentence."""


def _say(quiet: bool):
    return (lambda msg: None) if quiet else (lambda msg: print(f"stepscope: {msg}", file=sys.stderr))


def check_writable(path: str | os.PathLike) -> Path:
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {parent} does not exist.")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".stepscope-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}.") from None
    return path


def cmd_trace(a) -> int:
    out = check_writable(a.output)
    from profiler.session import require_gpu, run_decode
    require_gpu()
    say = _say(a.quiet)
    trace, info = run_decode(a.model, a.ctx, a.mode, a.warmup, a.steps, a.trace_steps,
                             dram_interval_ns=int(a.dram_interval_us * 1000), attn=a.attn,
                             dtype=a.dtype, progress=say)
    trace.save(out)
    say(f"wrote {out}")
    return _print_report(out, a.json)


def _print_report(path, as_json: bool) -> int:
    from analysis.facade import TraceAnalysis
    from analysis.report import ConsoleRenderer, JsonRenderer
    a = TraceAnalysis(path)
    print((JsonRenderer() if as_json else ConsoleRenderer()).render(a))
    return 0


def cmd_report(a) -> int:
    return _print_report(a.trace, a.json)


def cmd_default(a) -> int:
    """The main job: trace a default decode step on a GPU; without one, report on a
    trace shipped in traces/."""
    try:
        import torch
        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    if gpu:
        ns = argparse.Namespace(model="qwen2.5-7b", ctx=2048, mode="eager", warmup=5, steps=30,
                                trace_steps=5, dram_interval_us=20.0, attn="sdpa",
                                dtype="bfloat16", output="stepscope-default.stepscope",
                                quiet=False, json=False)
        return cmd_trace(ns)
    print(f"stepscope: no CUDA GPU here; reporting on the recorded trace {DEFAULT_TRACE.relative_to(ROOT)}",
          file=sys.stderr)
    return _print_report(DEFAULT_TRACE, False)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="stepscope", description="Where does a batch-1 decode step's time go?")
    sub = ap.add_subparsers(dest="cmd")
    t = sub.add_parser("trace", help="run a decode workload on the GPU and trace it")
    t.add_argument("--model", default="qwen2.5-7b",
                   help="registry name (qwen2.5-7b, llama-3.1-8b, mistral-7b-v0.3, mistral-7b-v0.1), "
                        "a checkpoint folder, or a config .json")
    t.add_argument("--ctx", type=int, default=2048, help="prompt tokens before decoding")
    t.add_argument("--mode", default="eager", choices=("eager", "eager-static", "graph"))
    t.add_argument("--warmup", type=int, default=5)
    t.add_argument("--steps", type=int, default=30, help="untraced, timed steps (the headline)")
    t.add_argument("--trace-steps", type=int, default=5, help="traced steps written to the file")
    t.add_argument("--dram-interval-us", type=float, default=20.0)
    t.add_argument("--attn", default="sdpa")
    t.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16"))
    t.add_argument("-o", "--output", default="trace.stepscope")
    t.add_argument("--quiet", action="store_true")
    t.add_argument("--json", action="store_true")
    t.set_defaults(fn=cmd_trace)
    r = sub.add_parser("report", help="attribute a recorded trace (no GPU needed)")
    r.add_argument("trace")
    r.add_argument("--json", action="store_true")
    r.set_defaults(fn=cmd_report)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    from analysis.trace import TraceFileError
    from profiler.errors import USER_ERRORS
    try:
        if a.cmd is None:
            return cmd_default(a)
        for name in ("ctx", "steps", "trace_steps"):
            if getattr(a, name, 1) is not None and getattr(a, name, 1) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1.")
        return a.fn(a)
    except (UsageError, TraceFileError, *USER_ERRORS) as e:
        print(f"stepscope: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stepscope: interrupted; no file was written.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
