"""stepscope analysis: pure functions over trace arrays. Imports numpy only."""
from .trace import Trace, TraceFileError

__all__ = ["Trace", "TraceFileError"]
