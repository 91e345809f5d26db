"""Atomic file writes: a temporary file in the destination folder, fsync, rename. A
reader never sees a half-written file, and an interrupted writer leaves none.

Temporaries are named ``.<name>.<pid>.<random>.part``. A writer killed outright
(SIGKILL, power loss) cannot remove its temporary; the next write of the same file
removes those whose process is gone. Readers never look at ``.part`` files.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # exists, owned by someone else
        return True
    return True


def remove_stale(path) -> list[Path]:
    """Remove the temporaries of ``path`` left by writers that no longer run."""
    path = Path(path)
    gone = []
    try:
        candidates = list(path.parent.glob(f".{path.name}.*.part"))
    except OSError:
        return gone
    for p in candidates:
        pid = p.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                p.unlink()
                gone.append(p)
            except OSError:
                pass
    return gone


@contextmanager
def atomic_open(path, mode: str = "wb"):
    path = Path(path)
    remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent)
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
