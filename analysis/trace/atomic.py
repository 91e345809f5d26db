"""Atomic file writes: a temporary file in the destination folder, fsync, rename. A
reader never sees a half-written file, and an interrupted writer leaves none.

Temporaries are named ``.<name>.<pid>.<random>.part`` (a name over 180 bytes is cut and
given a hash, so the temporary stays under the 255-byte limit); ``<random>`` has no dot,
so the temporaries of ``x.json`` are never confused with those of ``x.json.1.json``. A
writer killed outright (SIGKILL, power loss) cannot remove its temporary; the next write
of the same file removes those whose process is gone. Readers never look at ``.part``
files.

A write that fails (a full disk, a quota, a permission) raises ``WriteError``, one
sentence naming the output; the temporary is removed and the old file, if any, is kept.
"""
from __future__ import annotations

import errno
import hashlib
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


class WriteError(OSError):
    """An output could not be written; the message is one sentence naming it."""

    def __str__(self) -> str:
        return self.strerror


#: Longest output name kept whole in a temporary's name.
_NAME_BYTES = 180


def _stem(path: Path) -> str:
    """``.<name>.`` for temporaries of ``path``, short enough for any file system."""
    name = path.name
    if len(name.encode()) > _NAME_BYTES:
        name = name.encode()[:100].decode(errors="ignore") + "~" + hashlib.sha1(path.name.encode()).hexdigest()[:12]
    return f".{name}."


def remove_stale(path) -> list[Path]:
    """Remove the temporaries of ``path`` left by writers that no longer run."""
    path = Path(path)
    stem = _stem(path)
    gone = []
    try:
        candidates = [path.parent / n for n in os.listdir(path.parent or ".")
                      if n.startswith(stem) and n.endswith(".part")]
    except OSError:
        return gone
    for p in candidates:
        parts = p.name[len(stem):-len(".part")].split(".")
        if len(parts) != 2:     # another file's temporary (x.json.1.json for x.json)
            continue
        pid = parts[0]
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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_stem(path)}{os.getpid()}.", suffix=".part", dir=path.parent)
    except OSError as e:
        raise _failed(path, e) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; results are shared artefacts
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, WriteError) or e.errno not in _WRITE_ERRNOS:
            raise
        raise _failed(path, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO, errno.EFBIG,
                 errno.ENAMETOOLONG, errno.ENOENT, errno.EISDIR, errno.ENOTDIR}


def _failed(path: Path, e: OSError) -> WriteError:
    why = e.strerror[0].lower() + e.strerror[1:] if e.strerror else type(e).__name__
    return WriteError(e.errno, f"cannot write {path}: {why}; nothing was written "
                      "(an older file of that name is kept).")


def write_json(path, obj, indent: int | None = 1) -> Path:
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent)
    return Path(path)


def write_text(path, text: str) -> Path:
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)
