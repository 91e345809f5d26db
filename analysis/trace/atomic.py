"""Atomic file writes: a temporary file in the destination folder, fsync, rename. A
reader never sees a half-written file, and an interrupted writer leaves none."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_open(path, mode: str = "wb"):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; results are shared artefacts
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, obj, indent: int | None = 1) -> Path:
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent)
    return Path(path)


def write_text(path, text: str) -> Path:
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)
