"""stepscope analysis: the CPU side. Imports numpy only (scipy for the bootstrap of
result sets, matplotlib for figures, both at call time), never torch, cupti or pynvml.

    trace/     the data model, step assignment, atomic writes, workload metadata, importers
    *.py       pure functions of one trace (intervals, gaps, attribution, dram, floor,
               kernel classes and tables, summary) and the ``TraceAnalysis`` facade
    results/   statistics of result sets (A/B sessions, sweep cells, quantised arms)
    render/    console, JSON, Perfetto, figures, markdown/CSV tables
"""
from .trace import Trace, TraceFileError, load

__all__ = ["Trace", "TraceFileError", "load"]
