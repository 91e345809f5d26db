"""Shared by the GPU batch scripts: a stage runs, logs its traceback on failure and lets the
next stage run; ROWS collects one line per stage (and the stages' own lines) for the table
printed last."""
from __future__ import annotations

import time
import traceback

ROWS: list[str] = []


def stage(fn):
    def run(*a, **k):
        t0 = time.time()
        try:
            fn(*a, **k)
            ROWS.append(f"{fn.__name__:<12} ok    {time.time() - t0:6.1f}s")
        except BaseException as e:  # noqa: BLE001 - log and go on
            traceback.print_exc()
            ROWS.append(f"{fn.__name__:<12} FAIL  {time.time() - t0:6.1f}s {type(e).__name__}: {str(e)[:160]}")
    return run
