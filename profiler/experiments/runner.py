"""The one fresh-process runner of every experiment: A/B sessions, sweep cells and
quantised arms each run in a new Python process (a fresh CUDA context, allocator and
caches) through ONE child entry point:

    python -m stepscope.profiler.experiments.runner SPEC.json OUT.json

SPEC names the experiment function (``module:function`` under
``stepscope.profiler.experiments``), its keyword arguments and, optionally, the stub of
an invalid result. OUT is written atomically when the child finishes. Results already
on disk are skipped (resume); ``each`` prints progress with a time-left estimate.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from stepscope.analysis.trace.atomic import write_json

ROOT = Path(__file__).resolve().parents[2]


def run_fresh(target: str, kwargs: dict, out: Path, invalid: dict | None = None,
              what: str = "experiment", timeout_s: int = 900) -> bool:
    """Run ``target(**kwargs)`` in a fresh process and write its result to ``out``.

    If the child leaves no result (crash, kill, timeout): with ``invalid``, write that
    stub there, marked invalid with the exit status, and return False (the experiment
    goes on, the failure is recorded); without it, raise RuntimeError (finished results
    are kept either way)."""
    spec = {"target": target, "kwargs": kwargs, "invalid": invalid}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="stepscope-spec-", delete=False) as f:
        json.dump(spec, f)
    cmd = [sys.executable, "-m", "stepscope.profiler.experiments.runner", f.name, str(out)]
    try:
        code = subprocess.run(cmd, cwd=ROOT, timeout=timeout_s).returncode
    except subprocess.TimeoutExpired:
        code = f"timeout after {timeout_s} s"
    finally:
        Path(f.name).unlink(missing_ok=True)
    if Path(out).exists():
        return True
    reason = f"{what} process ended without a result (exit {code})"
    if invalid is None:
        raise RuntimeError(f"{reason}; finished results are kept.")
    write_json(out, {**invalid, "valid": False, "reason": reason})
    return False


def each(items: list, say, label=str):
    """Yield the items, saying ``[i/n] label`` with a time-left estimate from those done;
    a ``say`` with an ``iterate`` method (the command line's progress bar) shows them itself."""
    if hasattr(say, "iterate"):
        yield from say.iterate(items, label)
        return
    t0 = time.time()
    for i, item in enumerate(items):
        eta = f", about {(time.time() - t0) / i * (len(items) - i):.0f} s left" if i else ""
        say(f"[{i + 1}/{len(items)}] {label(item)}{eta}")
        yield item


def child(argv: list[str]) -> int:
    """The child entry point: run the spec's target, write its result atomically. An
    exception is recorded as an invalid result when the spec has a stub, else re-raised."""
    spec_path, out = argv
    spec = json.loads(Path(spec_path).read_text())
    module, fn = spec["target"].split(":")
    target = getattr(importlib.import_module(f"stepscope.profiler.experiments.{module}"), fn)
    try:
        res = target(**spec["kwargs"])
    except Exception as e:  # noqa: BLE001 - recorded, not raised: the experiment goes on
        if spec.get("invalid") is None:
            raise
        traceback.print_exc()
        res = {**spec["invalid"], "valid": False, "reason": f"{type(e).__name__}: {str(e)[:300]}"}
    write_json(Path(out), res)
    return 0


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]))
