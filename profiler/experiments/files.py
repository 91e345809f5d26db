"""Reading result files back (sweep cells, A/B sessions, quantised arms, calibrations):
each is a regular file of bounded size holding a JSON object with the fields its
summary reads, of the right types. Anything else raises ``ResultFileError`` (a
ValueError, and a user error the CLI prints as one sentence naming the file): a
half-written folder, a hand-edited result, a FIFO named like a result.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import stat
from pathlib import Path

from ..errors import ResultFileError

MAX_RESULT_BYTES = 64 * 2**20
_NUM = "a number"
_POS = "a positive number"


def read_json(path) -> dict:
    """A result file's JSON object."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise ResultFileError(f"{path}: cannot be read ({e.strerror}).") from None
    if not stat.S_ISREG(st.st_mode):
        raise ResultFileError(f"{path}: is not a regular file.")
    if st.st_size > MAX_RESULT_BYTES:
        raise ResultFileError(f"{path}: is {st.st_size / 2**20:.0f} MB, too big for a result file.")
    try:
        d = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise ResultFileError(f"{path}: is not valid JSON ({type(e).__name__}; half-written or edited?).") from None
    if not isinstance(d, dict):
        raise ResultFileError(f"{path}: holds a JSON {type(d).__name__}, not an object.")
    return d


def _ok(v, kind: str) -> bool:
    if kind == "a string":
        return isinstance(v, str)
    if kind == "a list":
        return isinstance(v, list)
    if kind == "an object":
        return isinstance(v, dict)
    if kind == "a list of numbers":
        return isinstance(v, list) and bool(v) and all(_ok(x, _POS) for x in v)
    good = isinstance(v, numbers.Real) and not isinstance(v, bool) and _finite(v)
    if kind == "an integer":
        return good and float(v).is_integer()
    return good and (v > 0 if kind == _POS else True)


def _finite(v) -> bool:
    """A finite number a float can hold (a 400-digit integer cannot: it is refused, not an
    OverflowError)."""
    try:
        return math.isfinite(v) and abs(v) < 1e300
    except OverflowError:
        return False


def _shown(v) -> str:
    """A value for a message: long ones (a 400-digit integer) cut."""
    r = repr(v)
    return r if len(r) <= 40 else f"{r[:20]}... ({len(r)} characters)"


def require(path, d: dict, fields: dict, where: str = "") -> None:
    """Each field of ``fields`` (name -> kind) present in ``d`` with that kind."""
    for k, kind in fields.items():
        if k not in d:
            raise ResultFileError(f"{path}: {where}{k} is missing (not a complete result file).")
        if not _ok(d[k], kind):
            raise ResultFileError(f"{path}: {where}{k} is {_shown(d[k])}, not {kind}.")


CELL = {"model": "a string", "ctx": "an integer", "mode": "a string"}
RUN_CELL = {"gpu": "a string", "peak_bytes_per_s": _POS, "median_ms": _POS}
VALID_CELL = {**RUN_CELL, "p10_ms": _POS, "p90_ms": _POS, "floor_ms": _NUM, "floor_all_ms": _NUM, "pct_floor": _NUM,
              "pct_floor_all": _NUM, "kernels": _NUM, "launch_share": _NUM, "dram_gb": _NUM,
              "dram_gb_per_s_busy": _NUM}


def read_cell(path, complete: bool = True) -> dict:
    """A sweep cell; ``complete``: with every field the tables and figures print (else the
    fields the run itself reads back)."""
    d = read_json(path)
    require(path, d, CELL)
    if d.get("valid"):
        require(path, d, VALID_CELL if complete else RUN_CELL)
    return d


def read_session(path) -> dict:
    d = read_json(path)
    require(path, d, {"model": "a string", "ctx": "an integer", "gpu": "a string", "arms": "an object"})
    for arm, r in d["arms"].items():
        if not isinstance(r, dict):
            raise ResultFileError(f"{path}: arms.{arm} is not an object.")
        require(path, r, {"median_ms": _POS, "traced": "an object"}, f"arms.{arm}.")
        require(path, r["traced"], {k: _NUM for k in ("busy_ns", "other_idle_ns", "kernels")},
                f"arms.{arm}.traced.")
    return d


def read_arm(path, complete: bool = True) -> dict:
    """A quantised arm; ``complete``: with every field its table prints."""
    d = read_json(path)
    require(path, d, {"arm": "a string"})
    if d.get("valid") and complete:
        require(path, d, {"weight_bytes": _POS, "modes": "an object"})
        for mode, m in d["modes"].items():
            if isinstance(m, dict) and m.get("valid"):
                require(path, m, {"median_ms": _POS, "model_gb": _POS, "dram_gb": _NUM, "floor_ms": _NUM,
                                  "launch_overhead_ms": _NUM, "traced_ms": _POS, "kernels": _NUM,
                                  "classes": "an object", "matmul_kernels": "a list"}, f"modes.{mode}.")
                for c, v in m["classes"].items():
                    if not isinstance(v, dict):
                        raise ResultFileError(f"{path}: modes.{mode}.classes.{c} is {_shown(v)}, not an object.")
                    require(path, v, {"ms": _NUM}, f"modes.{mode}.classes.{c}.")
    return d


def read_calibration(path, need: str) -> dict:
    """A `stepscope calibrate` result; ``need`` the field the caller reads."""
    d = read_json(path)
    if need == "achievable_bytes_per_s":
        require(path, d, {"achievable_bytes_per_s": _POS, "gpu": "an object"})
        require(path, d["gpu"], {"name": "a string"}, "gpu.")
    else:   # the A/B prediction's node gap: the untraced graph cost per node of 1000 null kernels
        require(path, d, {"launch": "an object"})
        require(path, d["launch"], {"1000": "an object"}, "launch.")
        require(path, d["launch"]["1000"], {"graph_ns_per_node": _NUM}, "launch.1000.")
        if d["launch"]["1000"]["graph_ns_per_node"] < 0:
            raise ResultFileError(f"{path}: launch.1000.graph_ns_per_node is negative.")
    return d


def require_one_workload(records: list[tuple[Path, dict]], keys=("model", "ctx", "gpu")) -> None:
    """Results summarised together hold one workload on one GPU: the first record that
    differs from the first in any of ``keys`` is refused, naming both."""
    if not records:
        return
    p0, d0 = records[0]
    for p, d in records[1:]:
        diff = [k for k in keys if d.get(k) != d0.get(k)]
        if diff:
            what = ", ".join(f"{k} {_shown(d.get(k))}" for k in diff)
            was = ", ".join(f"{k} {_shown(d0.get(k))}" for k in diff)
            raise ResultFileError(f"{p}: is of {what}, but {p0.name} is of {was}; one summary takes one workload "
                                  "on one GPU (move the other results to their own folder).")
