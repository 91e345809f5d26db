"""A `sync=False`-style trace derived from a real one, for tests of step segmentation.

Every shipped trace was captured with ``sync=True``: each step's window closes after a
device synchronise, so no GPU record runs after its step's window and assigning records
by time would give the same answer as assigning them by correlation id. This builds, from
``traces/qwen2.5-7b-ctx2048-eager-static-h100.stepscope``, what an asynchronous decode
records: no synchronise call, each step's window ending when the host has issued its last
launch, and the GPU records of step N running late, partly inside step N+1's window.

Edits, all deterministic:
- the ``cudaDeviceSynchronize`` calls of the steps are dropped;
- step window = [start of its first API call, start of its last API call]: a call starts
  exactly at each window's start and at each window's end, and the last call ends after
  its window closes;
- the GPU records (kernels, copies, sets) of step i are shifted later by
  ``SHIFT_NS[i]`` = (gap to the next window) + 5 ms, so step i's last 5 ms of GPU work run
  inside step i+1's window (the last step: 5 ms after its window);
- one extra kernel whose launch call was not recorded (correlation -7) runs for 2 us from
  exactly the start of step 1's window: it falls back to assignment by time.
"""
from __future__ import annotations

import numpy as np

from conftest import TRACES
from stepscope.analysis.trace import load

SOURCE = TRACES / "qwen2.5-7b-ctx2048-eager-static-h100.stepscope"
LATE_NS = 5_000_000
EXTRA_KERNEL_NS = 2_000
EXTRA_STEP = 1


def build():
    """(the async trace, facts about it computed from the source trace alone)."""
    t = load(SOURCE)
    st, api = t["steps"], t["api"]
    idx = st["index"]
    n = len(idx)
    sync = t.names("api") == "cudaDeviceSynchronize"
    keep = ~(sync & (api["step"] >= 0))
    for c in list(api):
        api[c] = api[c][keep]
    starts, ends, shift = [], [], []
    for s in idx:
        m = api["step"] == s
        starts.append(int(api["start_ns"][m].min()))
        ends.append(int(api["start_ns"][m].max()))
    orig_start = st["start_ns"].copy()
    orig_end = st["end_ns"].copy()
    for i in range(n):
        gap = int(orig_start[i + 1] - orig_end[i]) if i + 1 < n else 0
        shift.append(gap + LATE_NS)
    facts = {"step": idx.copy(), "start_ns": np.array(starts), "end_ns": np.array(ends),
             "shift_ns": np.array(shift), "records_end_ns": np.zeros(n, np.int64),
             "kernels": np.zeros(n, np.int64), "launch_calls": np.zeros(n, np.int64)}
    for tab in ("kernels", "memcpy", "memset"):
        r = t[tab]
        for i, s in enumerate(idx):
            m = r["step"] == s
            r["start_ns"][m] += shift[i]
            r["end_ns"][m] += shift[i]
            if m.any():
                facts["records_end_ns"][i] = max(facts["records_end_ns"][i], int(r["end_ns"][m].max()))
            if tab == "kernels":
                facts["kernels"][i] = int(m.sum())
        r["step"][:] = -1                                  # assign_steps must find them again
    import re
    launch = np.array([bool(re.search("Launch|Memcpy|Memset", x)) for x in t.names("api")])
    for i, s in enumerate(idx):
        facts["launch_calls"][i] = int((launch & (api["step"] == s)).sum())
    api["step"][:] = -1
    k = t["kernels"]
    row = {c: k[c][:1].copy() for c in k}
    row["start_ns"][:] = starts[EXTRA_STEP]
    row["end_ns"][:] = starts[EXTRA_STEP] + EXTRA_KERNEL_NS
    row["correlation"][:] = -7
    for c in k:
        k[c] = np.concatenate([k[c], row[c]])
    facts["kernels"][EXTRA_STEP] += 1
    st["start_ns"][:] = starts
    st["end_ns"][:] = ends
    t.meta.setdefault("capture", {})["sync"] = False
    from stepscope.analysis.trace.steps import assign_steps
    t.meta["capture"].update(assign_steps(t))
    return t, facts
