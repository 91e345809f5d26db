"""Checks of a command's inputs and outputs before it runs, and its behaviour on signals.

- An output that is one of the command's inputs (the same file, also through a symlink
  or a hard link: ``os.path.samefile``) is refused: nothing a user gave is overwritten.
- An output that exists and is not a regular file (a folder, a FIFO, a device) is
  refused; figure outputs need a format matplotlib writes.
- Options that would be silently wrong are refused: ``--ctx`` out of range or without
  ``--model``, a ``--width`` no figure can have, ``compare`` of a sweep with itself.
- SIGTERM and SIGHUP become KeyboardInterrupt, so atomic writes remove their temporary
  files on the way out; ``interrupted`` says what was kept and how to resume.

Every refusal is a ``UsageError`` (one sentence, exit status 2) raised by the CLI.
"""
from __future__ import annotations

import os
import signal
import stat
import tempfile
from pathlib import Path

#: Longest prompt any check accepts (2**24 tokens); real models stop far below.
MAX_CTX = 1 << 24
FIGURE_FORMATS = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


class InputError(Exception):
    """Bad input found before the command runs; the message is one sentence."""


def add_options(ap) -> None:
    """Options of every command (before the command name)."""
    ap.add_argument("--max-trace-mb", type=float, default=None,
                    help="refuse traces declaring more array (or inflated JSON) data than this "
                         "(default 4096, or STEPSCOPE_MAX_TRACE_MB): a guard against decompression bombs")


def _files(a) -> list[Path]:
    """The input files a command reads (results in its folder included)."""
    c = a.cmd
    out = []
    for name in ("trace", "calibration"):
        if isinstance(getattr(a, name, None), str):
            out.append(Path(getattr(a, name)))
    out += [Path(p) for p in getattr(a, "traces", None) or []]
    if c == "compare":
        out += [p for d in a.dirs for p in Path(d, "cells").glob("*.json")]
    elif c == "ab":
        out += list(Path(a.output).glob("session-*.json")) + [Path(a.output, "ab.json")]
    elif c == "quant":
        import glob
        out += list(Path(a.output).glob(f"{glob.escape(a.model)}-ctx{a.ctx}-*.json"))
    elif c == "sweep":
        out += list(Path(a.output, "cells").glob("*.json"))
    return out


def _outputs(a) -> list[Path]:
    c = a.cmd
    if c in ("trace", "calibrate", "timeline", "bars"):
        return [Path(p) for p in (a.output, getattr(a, "chain", None)) if p]
    if c == "export":
        return [Path(a.perfetto)]
    if c == "compare":
        return [Path(a.output).with_suffix(s) for s in (".json", ".png")] if a.output else []
    if c == "ab":
        d = Path(a.output)
        return [d / "summary.json", d / "ab.png", d / "report.txt"]
    if c not in ("ab", "sweep", "quant"):
        return []
    d = Path(a.output)
    return {"sweep": [d / "cells.csv", d / "table.md", d / "pct_floor_vs_ctx.png", d / "launch_share.png"],
            "quant": [d / "table.md"]}.get(c, [])


def _same(p: Path, q: Path) -> bool:
    try:
        return os.path.samefile(p, q)
    except OSError:
        return os.path.realpath(p) == os.path.realpath(q)


def _check_output(out: Path, inputs: list[Path]) -> None:
    for i in inputs:
        if _same(out, i):
            raise InputError(f"the output {out} is the input {i} (the same file); choose another output path.")
    try:
        mode = os.stat(out).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise InputError(f"cannot write {out}: {e.strerror}.") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise InputError(f"cannot write {out}: it is a folder; give a file name.")
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError(f"cannot write {out}: it exists and is not a regular file (a FIFO or device).")


def check_writable(out) -> Path:
    """``out`` can be created: its folder exists and takes a file; one sentence if not."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {out}: folder {parent} does not exist.")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".stepscope-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise InputError(f"cannot write {out}: {e.strerror}.") from None
    return out


def _check_options(a) -> None:
    ctx = getattr(a, "ctx", None)
    if a.cmd == "report" and ctx is not None and not a.model:
        raise InputError("--ctx needs --model (both describe the workload of a torch.profiler trace).")
    if a.cmd == "sweep":
        try:
            ctxs = [int(x) for x in str(ctx).split(",")]
        except ValueError:
            raise InputError(f"--ctx takes comma-separated whole numbers of tokens, not {ctx!r}.") from None
        if min(ctxs) < 1:
            raise InputError("--ctx must be at least 1.")
        ctx = max(ctxs)
    if isinstance(ctx, int) and ctx > MAX_CTX:
        raise InputError(f"--ctx {ctx} is outside 1..{MAX_CTX} tokens.")
    width = getattr(a, "width", None)
    if width is not None and not 200 <= width <= 20000:
        raise InputError(f"--width {width} is outside 200..20000 pixels.")
    stack_us = getattr(a, "stack_sample_us", 0)
    if stack_us and not 50 <= stack_us <= 1e6:
        raise InputError(f"--stack-sample-us {stack_us} is outside 50..1000000 microseconds (0 turns sampling off).")
    if getattr(a, "kernel_records", "concurrent") == "graph" and a.mode != "graph":
        raise InputError("--kernel-records graph records CUDA-graph replays only; use it with --mode graph "
                         f"(--mode {a.mode} launches its kernels one by one, which it would not record).")
    counters = getattr(a, "dram_counters", 0)
    if not 0 <= counters <= 10:
        raise InputError(f"--dram-counters {counters} is outside 0..10 counter passes.")
    if counters and getattr(a, "kernel_records", "concurrent") == "graph":
        raise InputError("--dram-counters pairs its ranges with per-kernel records; --kernel-records graph "
                         "has one record per replay.")


def _check_limits(a) -> None:
    """--max-trace-mb (every command, the main job too) and STEPSCOPE_MAX_TRACE_MB: a finite
    number of megabytes above 0 and at most 1 TB."""
    from stepscope.analysis.trace.archive import MAX_LIMIT_MB, max_bytes, parse_limit_mb
    from stepscope.analysis.trace.errors import TraceFileError
    mb = getattr(a, "max_trace_mb", None)
    if mb is not None:
        if parse_limit_mb(mb) is None:
            raise InputError(f"--max-trace-mb takes a number of megabytes above 0 and at most {MAX_LIMIT_MB}, "
                             f"not {mb:g}.")
        os.environ["STEPSCOPE_MAX_TRACE_MB"] = repr(mb)
    try:
        max_bytes()
    except TraceFileError as e:
        raise InputError(str(e)) from None


def _check_output_name(a) -> None:
    """compare -o: a file name (OUTPUT.json, OUTPUT.png) outside the sweeps it reads."""
    out = Path(a.output)
    if out.name in ("", ".", "..") or str(a.output).endswith(os.sep):
        raise InputError(f"-o {a.output} is a folder; compare -o takes a file name, e.g. {out / 'compare'}.")
    real = Path(os.path.realpath(out))
    for d in a.dirs:
        if real.is_relative_to(os.path.realpath(d)):
            raise InputError(f"the output {a.output} is inside the input folder {d}; choose a path outside it.")


def _check_compare(a) -> None:
    from stepscope.profiler.experiments.files import read_cell
    seen: dict[str, str] = {}
    for i, d in enumerate(a.dirs):
        for j in range(i):
            if _same(Path(d), Path(a.dirs[j])):
                raise InputError(f"{a.dirs[j]} and {d} are the same folder; compare needs the sweeps of different GPUs.")
        for p in sorted(Path(d, "cells").glob("*.json")):
            gpu = read_cell(p).get("gpu")
            if gpu and seen.setdefault(gpu, d) != d:
                raise InputError(f"{seen[gpu]} and {d} both hold sweeps of the {gpu}; compare needs one sweep per GPU.")


def figure_path(path) -> Path:
    """The path a figure is written to: ``.png`` added when the name has no suffix; a
    suffix matplotlib cannot write is refused."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a figure file name (e.g. {path / 'timeline.png'}).")
    if not path.suffix:
        return path.with_name(path.name + ".png")
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise InputError(f"cannot write {path}: give a figure file name ending in "
                         f"{', '.join(FIGURE_FORMATS[:3])} (or another matplotlib format).")
    return path


def check_args(a) -> None:
    """Everything that can be refused before the command runs."""
    _check_limits(a)
    if getattr(a, "cmd", None) is None:
        return
    if a.cmd == "compare" and a.output:
        _check_output_name(a)
    if a.cmd in ("timeline", "bars"):
        a.output = str(figure_path(a.output))
    _check_options(a)
    inputs = _files(a)
    for out in _outputs(a):
        _check_output(out, inputs)
    if a.cmd == "compare":
        if a.output:
            check_writable(Path(a.output).with_suffix(".json"))
        _check_compare(a)
    cal = getattr(a, "calibration", None)
    if cal:
        from stepscope.profiler.experiments.files import read_calibration
        for c in cal if isinstance(cal, list) else [cal]:
            read_calibration(c, "achievable_bytes_per_s" if a.cmd == "report" else "launch")


#: errno values of a stream that cannot take more output (a full disk behind a redirect).
_STREAM_FULL = {28, 122, 27, 5}   # ENOSPC, EDQUOT, EFBIG, EIO


def is_stdout_error(e: OSError) -> bool:
    """Whether ``e`` is the standard output refusing text (``report > /dev/full``): no file
    name and a "no room" errno. If so, the output is pointed at /dev/null, so the exit's
    flush of what is still buffered does not fail a second time."""
    import sys
    if e.filename is not None or e.errno not in _STREAM_FULL:
        return False
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):   # not a real file (a test's capture)
        pass
    return True


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def on_signals() -> None:
    """SIGTERM and SIGHUP end the command like Ctrl-C: temporaries are removed."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(s, _raise_interrupt)
        except (ValueError, OSError):   # not the main thread
            pass


def interrupted(a) -> str:
    """What an interrupted command kept, and how to go on."""
    c = getattr(a, "cmd", None)
    if c in ("ab", "sweep", "quant") and not a.report_only:
        what = {"ab": "sessions", "sweep": "cells", "quant": "arms"}[c]
        return (f"interrupted; the finished {what} in {a.output} are kept and the GPU is released: "
                "run the same command again to resume.")
    if c in ("trace", "calibrate"):
        return "interrupted; no file was written and the GPU is released: run the command again."
    return "interrupted; no file was written."
