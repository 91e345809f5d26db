"""The per-kernel DRAM estimate against kernels of known bytes, recorded on the GPUs
(traces/dram-recovery-*.stepscope: calibration read/copy kernels of 16 MiB to 6 GiB in a
fixed random order, phase-jittered steps; benchmarks/dram_validation.py). What is pinned is
what was measured, misses included (benchmarks/results/dram-recovery-*/): reads of every op
of 96 MiB and more within 4% (worst: -3.4%, H200); writes of the 256 MiB and 1 GiB copies within 5%; writes of the
16 and 64 MiB copies short by 14-33%, and the missing bytes land on the following kernels
(L2 write-back: a buffer smaller than the 50-60 MB L2 is written to DRAM after its kernel
ends), so the totals still close."""
from pathlib import Path

import numpy as np
import pytest

from stepscope.analysis.facade import TraceAnalysis

TRACES = Path(__file__).resolve().parents[1] / "traces"


def per_op(gpu):
    a = TraceAnalysis(TRACES / f"dram-recovery-{gpu}.stepscope")
    a.get_dram_kernels()
    est = a._dram_estimate
    ops = a.trace.meta["workload"]["ops"]
    g = est["group_of_identity"]
    assert len(g) == len(ops), "one kernel per op"
    read = np.array([est["read_bytes"][g[i]] / o["read_bytes"] - 1 for i, o in enumerate(ops)])
    write = np.array([est["write_bytes"][g[i]] / o["write_bytes"] - 1 if o["write_bytes"] else np.nan
                      for i, o in enumerate(ops)])
    mib = np.array([o["mib"] for o in ops])
    totals = (np.nansum(est["read_bytes"]) / sum(o["read_bytes"] for o in ops) - 1,
              np.nansum(est["write_bytes"]) / sum(o["write_bytes"] for o in ops) - 1)
    return mib, read, write, totals


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_large_reads_recovered(gpu):
    mib, read, _, _ = per_op(gpu)
    assert np.abs(read[mib >= 96]).max() <= 0.04


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_totals_close(gpu):
    *_, (r, w) = per_op(gpu)
    assert abs(r) <= 0.002 and abs(w) <= 0.002


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_writes_large_copies_recovered_small_ones_lag(gpu):
    mib, _, write, _ = per_op(gpu)
    copies = ~np.isnan(write)
    assert np.abs(write[copies & (mib >= 256)]).max() <= 0.05
    small = write[copies & (mib <= 64)]
    assert (small < -0.10).all(), "small copies' writes reach DRAM late (L2 write-back)"


def test_serial_kernel_records_hold_no_graph_kernels():
    """Why `Tracer(kernel_records="serial")` is only a probe: on a CUDA-graph replay it
    records no kernels (the H200 run), against 1541 a step with concurrent records."""
    from stepscope.analysis.trace import load
    serial = load(TRACES / "qwen2.5-7b-ctx2048-graph-serial-r10-h200.stepscope")
    full = load(TRACES / "qwen2.5-7b-ctx2048-graph-r10-h200.stepscope")
    assert serial.meta["capture"]["kernel_records"] == "serial" and serial.n("kernels") == 0
    steps = full["kernels"]["step"]
    assert (np.bincount(steps[steps >= 0]) == 1541).all()
