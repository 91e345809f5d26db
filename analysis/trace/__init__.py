"""The trace: the one contract between capture and analysis (the bottom floor).

``Trace`` and its schema (``model``), step assignment (``steps``), atomic file writes
(``atomic``), the workload metadata builder (``workload``), and importers that produce
the same model (``kineto``). Imports numpy only, and nothing else of stepscope.
"""
from __future__ import annotations

from pathlib import Path

from .kineto import is_kineto, load_kineto
from .model import SCHEMA_VERSION, TABLES, Trace, TraceFileError, table_from_rows


def load(path: str | Path) -> Trace:
    """A stepscope trace, or a torch.profiler trace by its .json/.json.gz name."""
    return load_kineto(path) if is_kineto(path) else Trace.load(path)


__all__ = ["Trace", "TraceFileError", "TABLES", "SCHEMA_VERSION", "table_from_rows", "load",
           "load_kineto", "is_kineto"]
