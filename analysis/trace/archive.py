"""Read the ``.npy`` members of a trace zip with bounded memory.

Every member's ``.npy`` header is read first, and its declared shape, dtype and the
zip's declared inflated size are checked against the limit before anything is
allocated; inflation itself is capped by the zip's declared size (``zipfile`` stops
there and checks the CRC). A file that breaks a limit, or is corrupt, raises
``TraceFileError`` with one sentence naming it.

Limits (documented in docs/bad-input.md): ``max_bytes()`` bytes of arrays in one trace,
default 4 GiB, set by ``STEPSCOPE_MAX_TRACE_MB`` or the CLI's ``--max-trace-mb``.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import TraceFileError

DEFAULT_MAX_MB = 4096
#: The largest limit accepted (1 TB): above it the byte counts stop meaning anything.
MAX_LIMIT_MB = 1 << 20
#: dtypes a trace member may have: int64 columns, uint8 JSON blobs.
_DTYPES = (np.dtype(np.int64), np.dtype(np.uint8))


def max_bytes() -> int:
    """Most bytes of arrays (or of inflated JSON) one trace may declare."""
    raw = os.environ.get("STEPSCOPE_MAX_TRACE_MB", "")
    if not raw:
        return DEFAULT_MAX_MB * 2**20
    mb = parse_limit_mb(raw)
    if mb is None:
        raise TraceFileError(f"STEPSCOPE_MAX_TRACE_MB={raw} is not a number of megabytes in 0..{MAX_LIMIT_MB} "
                             "(unset it for the default, 4096).")
    return int(mb * 2**20)


def parse_limit_mb(text) -> float | None:
    """A size limit in MB: a finite number above 0 and at most ``MAX_LIMIT_MB``, else None."""
    try:
        mb = float(text)
    except (TypeError, ValueError):
        return None
    return mb if 0 < mb <= MAX_LIMIT_MB else None


def _too_big(path, what: str, n: int) -> TraceFileError:
    return TraceFileError(
        f"{path}: {what} declares {n / 2**20:.0f} MB, over the {max_bytes() / 2**20:.0f} MB limit "
        "(raise it with --max-trace-mb or STEPSCOPE_MAX_TRACE_MB if the file is trusted).")


def _header(f, path, name):
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy version {version}")
    except Exception as e:  # noqa: BLE001 - numpy parses the header text with ast: any error means corrupt
        raise TraceFileError(f"{path}: member {name} has a corrupt array header ({type(e).__name__}).") from None
    if dtype not in _DTYPES or len(shape) != 1 or fortran and len(shape) > 1:
        raise TraceFileError(f"{path}: member {name} is a {dtype} array of shape {shape}, "
                             "not a 1-d integer column.")
    return shape[0], dtype


def read_members(path: Path, wanted=None) -> dict[str, np.ndarray]:
    """The members (``name`` without ``.npy``) of a trace zip, each checked before it is
    read. ``wanted``: a predicate on names; others are skipped."""
    limit = max_bytes()
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as z:
            seen: set[str] = set()
            dup = next((i.filename for i in z.infolist() if i.filename in seen or seen.add(i.filename)), None)
            if dup is not None:
                raise TraceFileError(f"{path}: holds member {dup} twice (which one is the trace is ambiguous).")
            enc = [i.filename for i in z.infolist() if i.flag_bits & 0x1]
            if enc:
                raise TraceFileError(f"{path}: member {enc[0]} is encrypted; stepscope traces are not.")
            infos = [i for i in z.infolist() if i.filename.endswith(".npy")]
            declared = sum(i.file_size for i in infos)
            if declared > limit:
                raise _too_big(path, "its zip directory", declared)
            total = 0
            for info in infos:
                name = info.filename[:-4]
                if wanted is not None and not wanted(name):
                    continue
                with z.open(info) as f:
                    n, dtype = _header(f, path, name)
                    nbytes = n * dtype.itemsize
                    total += nbytes
                    if total > limit:
                        raise _too_big(path, f"member {name}", nbytes)
                    if nbytes > info.file_size:
                        raise TraceFileError(f"{path}: member {name} declares {n} values but holds "
                                             f"{info.file_size} bytes (the file is corrupt).")
                    arr = np.empty(n, dtype=dtype)
                    view, got = memoryview(arr).cast("B"), 0
                    while got < nbytes:
                        k = f.readinto(view[got:])
                        if not k:
                            raise TraceFileError(f"{path}: member {name} is truncated.")
                        got += k
                    out[name] = arr
    except TraceFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise TraceFileError(f"{path}: the file is corrupt or truncated ({type(e).__name__}: {e}).") from None
    except (OSError, ValueError, RuntimeError, NotImplementedError, zipfile.LargeZipFile) as e:
        raise TraceFileError(f"{path}: the file cannot be read ({type(e).__name__}: {e}).") from None
    return out
