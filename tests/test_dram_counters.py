"""The exact per-kernel DRAM path (issue 15): CUPTI range-profiler counter passes recorded on
an H100 and an H200 (``benchmarks/dram_counters.py``), checked against Nsight Compute's
per-kernel CSVs and the constructed workloads, and the CPU side that pairs ranges with
kernels (``analysis.trace.kernel_dram``)."""
from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stepscope.analysis import dram_ncu
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.trace import load
from stepscope.analysis.trace.kernel_dram import align, attach
from stepscope.analysis.trace.model import Trace

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "traces"
GPUS = ("h100", "h200")


def ncu(tag: str, control: str = "cache-none") -> dict:
    f = ROOT / "benchmarks" / "results" / f"dram-validation-{tag}" / \
        f"ncu-qwen2.5-7b-ctx2048-eager-static-{control}-{tag}.csv.gz"
    return dram_ncu.parse_csv(gzip.decompress(f.read_bytes()).decode())


def checks(an: TraceAnalysis) -> dict:
    return {c["check"]: c for c in an.get_dram_kernels()["checks"]}


@pytest.mark.parametrize("tag", GPUS)
@pytest.mark.parametrize("mode", ("eager-static", "graph"))
def test_counter_pass_meets_the_ncu_targets(tag, mode):
    """Issue 15's must-show on re-recorded Qwen2.5-7B ctx 2048 traces: GEMM/GEMV within 3%
    of ncu (cache control none) and never below the weights; every class over 0.1 GB
    within 15%; the kernels' bytes within 1% of the PM-measured step total."""
    an = TraceAnalysis(TRACES / f"qwen2.5-7b-ctx2048-{mode}-counters-{tag}.stepscope")
    d = an.get_dram_kernels()
    assert d["source"] == "counter pass (kernel_dram)"
    cmp = dram_ncu.compare(an._dram_estimate, an.trace.strings.index(mode), ncu(tag))
    assert cmp["matched"], cmp.get("reason")
    c = cmp["classes"]
    for name, est, ref in zip(c["class"], c["estimate_read_bytes"], c["ncu_read_bytes"]):
        if name == "gemm":
            assert abs(est - ref) <= 0.03 * ref, (name, est, ref)
        elif ref > 0.1e9:
            assert abs(est - ref) <= 0.15 * ref, (name, est, ref)
    ck = checks(an)
    assert ck[f"{mode}: GEMM/GEMV reads >= weight bytes"]["ok"]
    total = ck["counter-pass kernels = PM-measured bytes (per step, read + write)"]
    assert total["ok"] and total["value"] <= 0.01
    assert ck["every kernel has counter-pass bytes"]["ok"]
    kd = an.trace.meta["capture"]["kernel_dram"]
    assert kd["status"] == "ok" and kd["unmatched_kernels"] == 0 and set(kd["dropped_ranges"]) == {0}


@pytest.mark.parametrize("tag", GPUS)
def test_ncu_default_flushes_change_the_small_kernels_not_the_gemms(tag):
    """Why the comparison uses ncu's --cache-control none: with its default flush before
    every kernel, the GEMM reads stay within 0.1% but attention and the small kernels read
    far more than in the running step (the counter pass keeps the L2 as the step left it)."""
    an = TraceAnalysis(TRACES / f"qwen2.5-7b-ctx2048-eager-static-counters-{tag}.stepscope")
    cmp = dram_ncu.compare(an._dram_estimate, an.trace.strings.index("eager-static"), ncu(tag, "default"))
    c = dict(zip(cmp["classes"]["class"], zip(cmp["classes"]["estimate_read_bytes"],
                                              cmp["classes"]["ncu_read_bytes"])))
    est, ref = c["gemm"]
    assert abs(est - ref) <= 0.001 * ref
    est, ref = c["attention"]
    assert ref > 1.5 * est


@pytest.mark.parametrize("tag", GPUS)
def test_chain_counters(tag):
    """Each 256 MiB read stage within 5% of its construction; null kernels under 1% of it."""
    ck = checks(TraceAnalysis(TRACES / f"chain-counters-{tag}.stepscope"))
    assert ck["chain: each read stage within 5% of its construction"]["ok"]
    assert ck["chain: each read stage within 5% of its construction"]["value"] <= 0.001
    assert ck["chain: null kernels under 1% of a read stage"]["ok"]


@pytest.mark.parametrize("tag", GPUS)
def test_recovery_counters(tag):
    """Known bytes, 16 MiB to 6 GiB, one random order: every read and every kernel's L2
    writes within 5% (in fact 0.1%); DRAM writes within 5% over the step, but not per
    kernel: a small copy's writes reach DRAM partly during the kernels after it."""
    an = TraceAnalysis(TRACES / f"dram-recovery-counters-{tag}.stepscope")
    ck = checks(an)
    for name in ("eager: every DRAM read group within 5% of its known bytes",
                 "eager: every L2-write (bytes written, counter pass) group within 5% of its known bytes",
                 "eager: DRAM writes of the step within 5% of the known total"):
        assert ck[name]["ok"] and ck[name]["value"] <= 0.001, ck[name]
    t = an.trace
    ops = t.meta["workload"]["ops"]
    k0 = np.nonzero(t["kernels"]["step"] == 0)[0]
    k0 = k0[np.argsort(t["kernels"]["start_ns"][k0])]
    kd = t["kernel_dram"]
    dram_w = dict(zip(kd["kernel"].tolist(), kd["dram_write_bytes"].tolist()))
    small = [dram_w[int(k)] / o["write_bytes"] for k, o in zip(k0, ops) if 0 < o["write_bytes"] <= 64 << 20]
    assert small and max(small) < 0.95        # write-back lag: the per-kernel DRAM check cannot pass


def steps_trace(names_per_step: list[list[str]]) -> Trace:
    """Kernels of the given names, one step each (the builder of tests/test_kills_dram.py)."""
    from test_kills_dram import steps_trace as build
    return build(names_per_step)


def a_pass(names, reads):
    return {"names": names, "dram_read_bytes": np.asarray(reads), "dram_write_bytes": np.zeros(len(reads), int)}


def test_index_named_ranges_pair_by_order_and_only_on_equal_counts():
    t = steps_trace([["a", "b", "c"], ["a", "b"]])
    s = attach(t, [a_pass(["0", "1", "2"], [10, 20, 30])])
    assert s["matched"] == [3, 0] and s["unmatched_kernels"] == 2
    kd = t["kernel_dram"]
    assert kd["kernel"].tolist() == [0, 1, 2] and kd["dram_read_bytes"].tolist() == [10, 20, 30]
    assert kd["l2_write_bytes"].tolist() == [-1, -1, -1]
    t.validate()


def test_passes_alternate_over_steps():
    t = steps_trace([["a"], ["a"], ["a"]])
    attach(t, [a_pass(["0"], [1]), a_pass(["0"], [2])])
    assert t["kernel_dram"]["dram_read_bytes"].tolist() == [1, 2, 1]


def test_named_ranges_are_aligned_by_name():
    assert align(["a", "b", "c", "d"], ["a", "c", "d"]) == [(0, 0), (2, 1), (3, 2)]
    t = steps_trace([["a", "b", "c"]])
    s = attach(t, [a_pass(["a", "c"], [5, 7])])
    assert s["matched"] == [2]
    assert dict(zip(t["kernel_dram"]["kernel"].tolist(), t["kernel_dram"]["dram_read_bytes"].tolist())) == {0: 5, 2: 7}


def test_no_passes_is_an_error():
    with pytest.raises(ValueError):
        attach(steps_trace([["a"]]), [])


def test_a_kernel_dram_table_without_l2_writes_reads_as_minus_one(tmp_path):
    """Traces written before the L2-write column load with -1 (not counted) in it."""
    src = TRACES / "chain-counters-h100.stepscope"
    old = tmp_path / "old.stepscope"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(old, "w") as zout:
        for item in zin.infolist():
            if item.filename != "kernel_dram.l2_write_bytes.npy":
                zout.writestr(item, zin.read(item.filename))
    t = load(old)
    assert t.n("kernel_dram") == load(src).n("kernel_dram") > 0
    assert (t["kernel_dram"]["l2_write_bytes"] == -1).all()


def test_param_structs_match_the_header_layout():
    """``STRUCT_SIZE`` = end of the last field, as CUPTI_PROFILER_STRUCT_SIZE computes it for
    CUDA 13's cupti_range_profiler.h on x86-64 (offsets worked out from the header by hand)."""
    from stepscope.profiler.capture import counters as c
    assert c._SetConfig.STRUCT_SIZE == 90 and c._SetConfig.targetNestingLevel.offset == 88
    assert c._Enable.STRUCT_SIZE == 36
    assert c._Stop.STRUCT_SIZE == 41
    assert c._DataSize.STRUCT_SIZE == 64 and c._DataSize.counterDataSize.offset == 56
    assert c._RangeInfo.STRUCT_SIZE == 56
    assert c._Object.STRUCT_SIZE == 24 and c._Decode.STRUCT_SIZE == 32


def test_demangle():
    from stepscope.profiler.capture.counters import demangle
    assert demangle("_Z5sleepIfEvPT_i") == "void sleep<float>(float*, int)"
    assert demangle("ampere_sgemm_128x64") == "ampere_sgemm_128x64"
