"""analysis/dram_ncu.py on constructed Nsight Compute CSVs (the format ``ncu --csv
--print-units base`` writes: log lines, then a quoted header row and one row per kernel and
metric, values with thousands separators) with hand-computed answers, and on a committed
real CSV: what parse_csv reads (launch order by ID, rows of other metrics skipped, a metric
ncu was not asked for as NaN, the one-sentence error for text without a header), and what
compare returns (the refusal and its reason when the counts differ, ncu's bytes per group
ranked by reads with ties in group order and the row limit, per class, per class of ncu's
own kernel names, the output's keys)."""
import gzip
from pathlib import Path

import numpy as np
import pytest

from stepscope.analysis import dram_ncu
from stepscope.analysis.dram_kernels import MIXED
from stepscope.analysis.kernel_classes import KernelClass, classify_name

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "benchmarks" / "results" / "dram-validation-h100" / \
    "ncu-qwen2.5-7b-ctx2048-eager-static-cache-none-h100.csv.gz"

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size",'
          '"Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"')
PROLOGUE = ["==WARNING== Note: Running with uncontrolled GPU caches. Profiling results may be inconsistent.",
            "==PROF== Connected to process 2381 (/usr/bin/python3.12)",
            "==PROF== Disconnected from process 2381"]
READ, WRITE, TIME = "dram__bytes_read.sum", "dram__bytes_write.sum", "gpu__time_duration.sum"
UNIT = {READ: "byte", WRITE: "byte", TIME: "ns"}
NO_HEADER = 'no ncu CSV header (a line starting with "ID") in the text'

GEMV = "void gemv2T_kernel_val<int, int, __nv_bfloat16, float, float, 128, 16, 4, 4, false, false>(params)"
FLASH = "void flash_fwd_splitkv_kernel<Flash_fwd_kernel_traits<128, 64, 128, 4, false>, true>(Flash_fwd_params)"
ADD = "void at::vectorized_elementwise_kernel<2, at::CUDAFunctorOnSelf_add<long>, std::array<char *, 2>>(int, T2, T3)"
NORM = "void at::native::rms_norm_kernel<c10::BFloat16, float>(c10::BFloat16 *, const c10::BFloat16 *, int)"


def row(i, name, metric, value):
    v = f"{value:,}" if isinstance(value, int) else value
    return (f'"{i}","2381","python3.12","127.0.0.1","{name}","1","7","(128, 1, 1)","(28, 1, 1)","0","9.0",'
            f'"Command line profiler metrics","{metric}","{UNIT.get(metric, "%")}","{v}"')


def csv_text(kernels, metrics=(READ, WRITE, TIME)):
    """``kernels``: (name, read, write, ns) in launch order (IDs 0, 1, ...)."""
    lines = list(PROLOGUE) + [HEADER]
    for i, (name, *vals) in enumerate(kernels):
        lines += [row(i, name, m, v) for m, v in zip((READ, WRITE, TIME), vals) if m in metrics]
    return "\n".join(lines) + "\n"


def est_with(groups, klass, mode=None, table=None, read=None, write=None):
    """A ``dram_fit.estimate``-shaped dict: ``groups``: group of each identity; ``klass``:
    class of each group; groups named g0, g1, ... Estimated bytes: 1000 * (group + 1) read,
    10 * (group + 1) written, unless given."""
    ng = len(klass)
    n = len(groups)
    return {"group_of_identity": np.array(groups, np.int64),
            "identity_mode": np.array(mode if mode is not None else [0] * n, np.int64),
            "identity_table": np.array(table if table is not None else [0] * n, np.int64),
            "klass": np.array(klass, np.int64), "name": [f"g{i}" for i in range(ng)],
            "read_bytes": np.array(read if read is not None else [1000.0 * (i + 1) for i in range(ng)]),
            "write_bytes": np.array(write if write is not None else [10.0 * (i + 1) for i in range(ng)])}


# ---------------------------------------------------------------- parse_csv

def test_parse_reads_bytes_and_time_per_kernel_with_thousands_separators():
    ncu = dram_ncu.parse_csv(csv_text([(GEMV, 1_048_576, 0, 4_256), (FLASH, 12_288, 2_816, 960),
                                       (ADD, 0, 512, 2_400)]))
    assert ncu["name"] == [GEMV, FLASH, ADD]            # quoted names with commas stay whole
    assert ncu["read_bytes"].tolist() == [1048576.0, 12288.0, 0.0]
    assert ncu["write_bytes"].tolist() == [0.0, 2816.0, 512.0]
    assert ncu["duration_ns"].tolist() == [4256.0, 960.0, 2400.0]
    assert set(ncu) == {"name", "read_bytes", "write_bytes", "duration_ns"}


def test_launch_order_is_the_numeric_id_not_the_row_order():
    """Kernel 10 written before kernel 9: launch order is by ID, compared as numbers."""
    lines = [HEADER] + [row(10, ADD, READ, 10), row(10, ADD, WRITE, 1), row(10, ADD, TIME, 100),
                        row(9, GEMV, READ, 9), row(9, GEMV, WRITE, 0), row(9, GEMV, TIME, 90)]
    ncu = dram_ncu.parse_csv("\n".join(lines))
    assert ncu["name"] == [GEMV, ADD]
    assert ncu["read_bytes"].tolist() == [9.0, 10.0] and ncu["duration_ns"].tolist() == [90.0, 100.0]


def test_rows_of_other_metrics_are_skipped_and_the_rows_after_them_read():
    """An extra metric (ncu sorts metric names: it falls between the write bytes and the
    time) is left out; the kernel's time and the next kernel are still read."""
    extra = "dram__throughput.avg.pct_of_peak_sustained_elapsed"
    lines = PROLOGUE + [HEADER, row(0, GEMV, READ, 4_096), row(0, GEMV, WRITE, 64), row(0, GEMV, extra, "93.51"),
                        row(0, GEMV, TIME, 5_000), row(1, ADD, READ, 128), row(1, ADD, extra, "1.02"),
                        row(1, ADD, WRITE, 256), row(1, ADD, TIME, 1_500)]
    ncu = dram_ncu.parse_csv("\n".join(lines))
    assert ncu["name"] == [GEMV, ADD]
    assert ncu["read_bytes"].tolist() == [4096.0, 128.0]
    assert ncu["write_bytes"].tolist() == [64.0, 256.0]
    assert ncu["duration_ns"].tolist() == [5000.0, 1500.0]


def test_a_metric_ncu_was_not_asked_for_is_nan():
    """``--metrics dram__bytes_read.sum`` alone: write bytes and times are NaN (floats)."""
    ncu = dram_ncu.parse_csv(csv_text([(GEMV, 2_048, 0, 0), (ADD, 64, 0, 0)], metrics=(READ,)))
    assert ncu["read_bytes"].tolist() == [2048.0, 64.0]
    for col in ("write_bytes", "duration_ns"):
        assert ncu[col].dtype == np.float64 and np.isnan(ncu[col]).all()


def test_a_kernel_without_one_metric_row_is_nan_there_only():
    lines = [HEADER, row(0, GEMV, READ, 100), row(0, GEMV, WRITE, 1), row(0, GEMV, TIME, 50),
             row(1, ADD, READ, 200), row(1, ADD, TIME, 70)]
    ncu = dram_ncu.parse_csv("\n".join(lines))
    assert ncu["write_bytes"].dtype == np.float64
    assert ncu["write_bytes"][0] == 1.0 and np.isnan(ncu["write_bytes"][1])
    assert ncu["duration_ns"].tolist() == [50.0, 70.0]


@pytest.mark.parametrize("text", [
    "", "==PROF== Connected to process 1 (/usr/bin/python3)\n==ERROR== The application returned an error code (1).\n",
    HEADER.replace('"', "") + "\n0,1,p,h,k,1,7,a,b,0,9.0,s,dram__bytes_read.sum,byte,5\n",     # header not quoted
    "  " + HEADER + "\n"])                                                                      # not at line start
def test_text_without_a_header_is_refused_with_one_sentence(text):
    with pytest.raises(ValueError) as e:
        dram_ncu.parse_csv(text)
    assert str(e.value) == NO_HEADER


def test_real_ncu_csv_reads_every_kernel():
    """The committed H100 CSV (cache control none): 1485 kernels, three metrics each; the
    first, second and largest kernels and the totals, read off the file by hand."""
    ncu = dram_ncu.parse_csv(gzip.decompress(REAL.read_bytes()).decode())
    assert len(ncu["name"]) == 1485
    assert ncu["name"][0].startswith("void at::<unnamed>::indexSelectSmallIndex<c10::BFloat16, long,")
    assert [ncu[c][0] for c in ("read_bytes", "write_bytes", "duration_ns")] == [12032.0, 0.0, 4256.0]
    assert [ncu[c][1] for c in ("read_bytes", "write_bytes", "duration_ns")] == [2816.0, 0.0, 2368.0]
    assert int(np.argmax(ncu["read_bytes"])) == 1481 and ncu["read_bytes"][1481] == 1_090_077_952
    assert ncu["name"][1481] == "nvjet_sm90_tst_384x8_64x4_2x1_v_bz_TNT"
    assert ncu["read_bytes"].sum() == 14_394_729_472
    assert ncu["write_bytes"].sum() == 913_899_264
    assert ncu["duration_ns"].sum() == 12_042_496


# ---------------------------------------------------------------- compare

KEYS = {"matched", "top", "classes", "ncu_by_name_class", "mixed_label"}
TOP_KEYS = ["name", "class", "estimate_read_bytes", "ncu_read_bytes", "estimate_write_bytes", "ncu_write_bytes"]


def test_counts_differ_the_comparison_is_refused_with_its_reason():
    """Mode 0 has three kernels (a copy, a set and mode 1's kernel do not count); ncu two."""
    est = est_with([0, 1, 1, 2, 2, 0], [0, 6], mode=[0, 0, 0, 0, 0, 1], table=[0, 1, 0, 2, 0, 0])
    ncu = dram_ncu.parse_csv(csv_text([(GEMV, 1, 0, 1), (ADD, 1, 0, 1)]))
    assert dram_ncu.compare(est, 0, ncu) == {"matched": False, "reason": "ncu profiled 2 kernels, the trace's step has 3"}
    assert dram_ncu.compare(est, 1, ncu) == {"matched": False, "reason": "ncu profiled 2 kernels, the trace's step has 1"}


# Mode 0: kernels k0..k4 in groups 0, 1, 1, 2, 0; a copy (table 1) in group 3; mode 1's kernel
# in group 4. Group classes: gemm, elementwise, attention, memcpy, gemm.
EST = est_with([0, 1, 3, 1, 2, 0, 4], [KernelClass.GEMM, KernelClass.ELEMENTWISE, KernelClass.ATTENTION,
                                       KernelClass.MEMCPY, KernelClass.GEMM],
               mode=[0, 0, 0, 0, 0, 0, 1], table=[0, 0, 1, 0, 0, 0, 0])
# ncu, per kernel (read, write): (100, 10), (30, 0), (50, 5), (500, 0), (1, 2)
KERNELS = [(GEMV, 100, 10, 1_000), (ADD, 30, 0, 200), (ADD, 50, 5, 300), (FLASH, 500, 0, 4_000), (GEMV, 1, 2, 90)]


def test_ncu_bytes_are_summed_per_group_and_ranked_by_reads():
    """Per group: g0 = k0 + k4 = 101 read, 12 written; g1 = k1 + k2 = 80, 5; g2 = k3 = 500, 0.
    Ranked by ncu's reads: g2, g0, g1; groups without a kernel of the mode are left out."""
    cmp = dram_ncu.compare(EST, 0, dram_ncu.parse_csv(csv_text(KERNELS)))
    assert set(cmp) == KEYS and cmp["matched"] is True
    top = cmp["top"]
    assert list(top) == TOP_KEYS
    assert top["name"] == ["g2", "g0", "g1"]
    assert top["class"] == ["attention", "gemm", "elementwise"]
    assert top["ncu_read_bytes"].tolist() == [500.0, 101.0, 80.0]
    assert top["ncu_write_bytes"].tolist() == [0.0, 12.0, 5.0]
    assert top["estimate_read_bytes"].tolist() == [3000.0, 1000.0, 2000.0]
    assert top["estimate_write_bytes"].tolist() == [30.0, 10.0, 20.0]


def test_top_is_cut_at_twenty_groups_by_default():
    """25 groups of one kernel each, ncu reading 100 * (i + 1): the 20 largest, largest first."""
    est = est_with(list(range(25)), [KernelClass.GEMM] * 25)
    ncu = dram_ncu.parse_csv(csv_text([(GEMV, 100 * (i + 1), 0, 10) for i in range(25)]))
    top = dram_ncu.compare(est, 0, ncu)["top"]
    assert top["name"] == [f"g{i}" for i in range(24, 4, -1)]
    assert all(len(v) == 20 for v in top.values())
    assert dram_ncu.compare(est, 0, ncu, top=3)["top"]["name"] == ["g24", "g23", "g22"]


def test_groups_with_equal_ncu_reads_stay_in_group_order():
    """Ties are common (the real CSV: 130 of 1485 kernels read 0 bytes): 20 groups reading
    1000 and 0 in turn are ranked 1000s first, each tie in group order."""
    est = est_with(list(range(20)), [KernelClass.COPY] * 20)
    ncu = dram_ncu.parse_csv(csv_text([(ADD, 1000 if i % 2 == 0 else 0, 0, 10) for i in range(20)]))
    top = dram_ncu.compare(est, 0, ncu)["top"]
    assert top["name"] == [f"g{i}" for i in range(0, 20, 2)] + [f"g{i}" for i in range(1, 20, 2)]


def test_classes_sum_the_groups_of_each_estimated_class():
    """Classes of the mode's groups (sorted by class id, mixed first): mixed g2 (ncu 500, 0),
    gemm g0 (101, 12) and g1 (80, 5); the estimate's NaN read of g1 counts as 0."""
    est = est_with([0, 1, 1, 2, 2], [KernelClass.GEMM, KernelClass.GEMM, MIXED],
                   read=[1000.0, np.nan, 3000.0], write=[1.0, 2.0, 3.0])
    ncu = dram_ncu.parse_csv(csv_text([(GEMV, 101, 12, 1), (GEMV, 30, 0, 1), (GEMV, 50, 5, 1),
                                       (FLASH, 400, 0, 1), (ADD, 100, 0, 1)]))
    cmp = dram_ncu.compare(est, 0, ncu)
    assert cmp["classes"] == {"class": ["mixed", "gemm"], "estimate_read_bytes": [3000.0, 1000.0],
                              "ncu_read_bytes": [500.0, 181.0], "estimate_write_bytes": [3.0, 3.0],
                              "ncu_write_bytes": [0.0, 17.0]}
    assert cmp["mixed_label"] == "mixed"
    assert cmp["top"]["class"] == ["mixed", "gemm", "gemm"]


def test_ncu_by_name_class_sums_reads_by_ncu_kernel_names_alone():
    """ncu's names, classed on their own (the estimate's groups play no part): gemm 100 + 1,
    elementwise 30 + 50, attention 500; a missing read counts as 0."""
    cmp = dram_ncu.compare(EST, 0, dram_ncu.parse_csv(csv_text(KERNELS)))
    assert cmp["ncu_by_name_class"] == {"gemm": 101.0, "attention": 500.0, "elementwise": 80.0}
    assert list(cmp["ncu_by_name_class"]) == ["gemm", "attention", "elementwise"]    # class id order
    lines = [HEADER, row(0, GEMV, READ, 7), row(1, NORM, WRITE, 3), row(2, NORM, READ, 9)]
    est = est_with([0, 0, 0], [KernelClass.GEMM])
    assert dram_ncu.compare(est, 0, dram_ncu.parse_csv("\n".join(lines)))["ncu_by_name_class"] == \
        {"gemm": 7.0, "norm": 9.0}


def test_a_metric_missing_from_ncu_counts_as_zero_bytes():
    """Only the read metric profiled: every group's ncu write bytes are 0, not NaN."""
    cmp = dram_ncu.compare(EST, 0, dram_ncu.parse_csv(csv_text(KERNELS, metrics=(READ,))))
    assert cmp["top"]["ncu_write_bytes"].tolist() == [0.0, 0.0, 0.0]
    assert cmp["top"]["ncu_read_bytes"].tolist() == [500.0, 101.0, 80.0]
    assert cmp["classes"]["ncu_write_bytes"] == [0.0, 0.0, 0.0]


def test_real_ncu_csv_compared_one_group_per_kernel():
    """The real CSV against an estimate of one group per kernel, classed by name: each class's
    ncu reads are the file's sums (read off it by hand), and the top 20 is ranked by reads with
    equal reads in launch order."""
    ncu = dram_ncu.parse_csv(gzip.decompress(REAL.read_bytes()).decode())
    n = len(ncu["name"])
    est = est_with(list(range(n)), [classify_name(x) for x in ncu["name"]])
    cmp = dram_ncu.compare(est, 0, ncu)
    want = {"gemm": 14_146_506_240, "copy": 122_293_760, "attention": 114_390_272, "elementwise": 6_298_368,
            "norm": 4_038_400, "rotary": 724_224, "reduction": 478_208}   # cuDNN's lean_reduction_kernel included
    assert cmp["ncu_by_name_class"] == {k: float(v) for k, v in want.items()}
    assert dict(zip(cmp["classes"]["class"], cmp["classes"]["ncu_read_bytes"])) == cmp["ncu_by_name_class"]
    top = cmp["top"]
    assert top["name"][0] == "g1481" and top["ncu_read_bytes"][0] == 1_090_077_952
    idx = [int(x[1:]) for x in top["name"]]
    r = top["ncu_read_bytes"]
    assert len(idx) == 20 and (np.diff(r) <= 0).all()
    assert all(idx[i] < idx[i + 1] for i in range(19) if r[i] == r[i + 1])
    assert (r == np.sort(ncu["read_bytes"])[::-1][:20]).all()


def test_a_scaled_unit_is_refused_not_read_as_bytes():
    """ncu's default export scales units ("Mbyte", "usecond"): 12.29 Mbyte read as 12.29
    bytes would be silently wrong by a million."""
    text = "\n".join([HEADER, row(0, GEMV, READ, 100).replace('"byte"', '"Mbyte"')])
    with pytest.raises(ValueError) as e:
        dram_ncu.parse_csv(text)
    assert str(e.value) == "dram__bytes_read.sum is in 'Mbyte', not 'byte' (export with --print-units base)"
    text = "\n".join([HEADER, row(0, GEMV, TIME, 5).replace('"ns"', '"usecond"')])
    with pytest.raises(ValueError) as e:
        dram_ncu.parse_csv(text)
    assert str(e.value) == "gpu__time_duration.sum is in 'usecond', not 'ns' (export with --print-units base)"
    # older ncu releases name the base unit of time "nsecond"; a CSV without units is read as base
    assert dram_ncu.parse_csv("\n".join([HEADER, row(0, GEMV, TIME, 5).replace('"ns"', '"nsecond"')]))[
        "duration_ns"].tolist() == [5.0]
    bare = '"ID","Kernel Name","Metric Name","Metric Value"\n"0","k","dram__bytes_read.sum","1,024"'
    assert dram_ncu.parse_csv(bare)["read_bytes"].tolist() == [1024.0]


def test_a_value_that_is_not_a_number_is_refused_naming_the_kernel_and_metric():
    with pytest.raises(ValueError) as e:
        dram_ncu.parse_csv("\n".join([HEADER, row(0, GEMV, READ, 1), row(3, GEMV, WRITE, "n/a")]))
    assert str(e.value) == "kernel ID 3: dram__bytes_write.sum is 'n/a', not a number"
    with pytest.raises(ValueError) as e:
        dram_ncu.parse_csv("\n".join([HEADER, row("x", GEMV, READ, 1)]))
    assert str(e.value) == "a kernel ID is 'x', not a whole number"
    with pytest.raises(ValueError) as e:      # a row cut short: DictReader gives None
        dram_ncu.parse_csv('"ID","Kernel Name","Metric Name","Metric Value"\n"0","k","dram__bytes_read.sum"')
    assert str(e.value) == "kernel ID 0: dram__bytes_read.sum is None, not a number"


def test_an_export_without_a_column_read_is_refused():
    """``--page raw`` writes one column per metric: no "Metric Name" (it used to read as zero
    kernels, and the comparison then said only "ncu profiled 0 kernels")."""
    raw = '"ID","Kernel Name","dram__bytes_read.sum"\n"0","k","5"'
    with pytest.raises(ValueError) as e:
        dram_ncu.parse_csv(raw)
    assert str(e.value) == ("the ncu CSV has no 'Metric Name', 'Metric Value' column (one row per kernel and metric "
                            "is read: ncu --csv --print-units base, not --page raw)")
    with pytest.raises(ValueError, match="^the ncu CSV has no 'Kernel Name' column "):
        dram_ncu.parse_csv('"ID","Metric Name","Metric Value"\n"0","dram__bytes_read.sum","5"')
