"""The one error a trace reader raises."""
from __future__ import annotations


class TraceFileError(Exception):
    """A trace file cannot be read; the message is one sentence naming the file."""


def require_regular_file(path) -> None:
    """Refuse, before opening it, anything that is not a regular file: a folder, a FIFO
    (reading would hang), a device."""
    import os
    import stat
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise TraceFileError(f"{path}: no such file.") from None
    except OSError as e:
        raise TraceFileError(f"{path}: cannot be read ({e.strerror}).") from None
    if stat.S_ISDIR(mode):
        raise TraceFileError(f"{path}: is a folder, not a trace file.")
    if not stat.S_ISREG(mode):
        raise TraceFileError(f"{path}: is not a regular file (a FIFO, socket or device); give a trace file.")
