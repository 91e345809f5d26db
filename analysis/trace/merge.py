"""Several captures of one process as one trace: tables concatenated (string tables
merged), metadata of the first capture with the others' capture blocks counted in.
Correlation ids are unique within a process, so step assignment stays valid."""
from __future__ import annotations

import numpy as np

from .model import TABLES, Trace

#: Columns holding string-table indices, per table.
STRING_COLUMNS = {"kernels": ("name",), "api": ("name",), "steps": ("mode",), "host_spans": ("name",),
                  "stack_samples": ("stack",)}
#: Columns holding row indices of a table (-1: none): (table, column) -> the table pointed at.
ROW_COLUMNS = {("host_spans", "parent"): "host_spans", ("kernel_dram", "kernel"): "kernels"}


def concat(traces: list[Trace]) -> Trace:
    """One trace of several captures; their step indices must be distinct."""
    if len(traces) == 1:
        return traces[0]
    idx = np.concatenate([t["steps"]["index"] for t in traces])
    if len(np.unique(idx)) != len(idx):
        raise ValueError("the captures share step indices; give each traced step its own index.")
    out = Trace()
    for t in traces:
        remap = np.array([out.intern(s) for s in t.strings], np.int64)
        offset = {name: out.n(name) for name in TABLES}
        for name in TABLES:
            cols = {c: v.copy() for c, v in t.tables[name].items()}
            for c in STRING_COLUMNS.get(name, ()):
                if len(cols[c]):
                    cols[c] = np.where(cols[c] >= 0, remap[np.clip(cols[c], 0, None)], cols[c])
            for (tab, c), target in ROW_COLUMNS.items():
                if tab == name:
                    cols[c] = np.where(cols[c] >= 0, cols[c] + offset[target], cols[c])
            for c in TABLES[name]:
                out.tables[name][c] = np.concatenate([out.tables[name][c], cols[c]])
    out.meta = dict(traces[0].meta)
    caps = [t.meta.get("capture", {}) for t in traces]
    cap = dict(caps[0])
    cap["sessions"] = len(traces)
    cap["end_ns"] = caps[-1].get("end_ns")
    for k, v in caps[0].items():
        if isinstance(v, int) and not isinstance(v, bool) and k not in ("start_ns", "end_ns", "device",
                                                                         "dram_interval_ns", "nvml_period_ns"):
            vals = [c.get(k, 0) for c in caps]
            cap[k] = -1 if any(x is None or x < 0 for x in vals) else sum(vals)
    stacks = [c.get("stack_sampler") for c in caps]
    if all(stacks):   # one sampler per capture: the samples add up
        cap["stack_sampler"] = dict(stacks[0], samples=sum(int(s.get("samples", 0)) for s in stacks))
    out.meta["capture"] = cap
    out.__dict__.pop("_index", None)
    return out
