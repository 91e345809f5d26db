"""A trace's analysis for the renderer tests, its ``get_*`` results optionally kept on disk.

Mutation testing of a renderer (analysis/render/console.py) runs the report goldens once per
mutant; nearly all of their time is the analysis (DRAM estimate, host attribution, ...),
which a renderer mutant does not change. With ``STEPSCOPE_TEST_ANALYSIS_CACHE`` set to a
folder (benchmarks/mutation.py sets it for renderer modules, in its staging folder), each
``get_*`` result is computed once by the unmutated analysis and pickled there, and every
later test process reads it back. Unset (any ordinary test run): everything is computed.
Each call returns a fresh copy, so a renderer that changed a result in place cannot leak it
into another call."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

from stepscope.analysis.facade import TraceAnalysis
from stepscope.cli import load_trace

ENV = "STEPSCOPE_TEST_ANALYSIS_CACHE"


class CachedAnalysis:
    def __init__(self, path: Path):
        self.trace = load_trace(path)
        self._a = TraceAnalysis(self.trace)
        folder = os.environ.get(ENV)
        self._file = Path(folder) / f"{path.name}.pickle" if folder else None
        self._memo: dict = {}
        if self._file and self._file.exists():
            self._memo = pickle.loads(self._file.read_bytes())

    def __getattr__(self, attr: str):
        if not attr.startswith("get_") or self._file is None:
            return getattr(self._a, attr)

        def call(*args, **kw):
            key = (attr, args, tuple(sorted(kw.items())))
            if key not in self._memo:
                self._memo[key] = pickle.dumps(getattr(self._a, attr)(*args, **kw))
                tmp = self._file.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(pickle.dumps(self._memo))
                tmp.replace(self._file)
            return pickle.loads(self._memo[key])
        return call
