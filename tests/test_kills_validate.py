"""analysis/trace/validate.py: what a trace must satisfy when it is read, each problem one
clause (the loader prefixes the file). Pinned here on small constructed traces and
metadata, each limit at its edge and one past it: the integer metadata fields (bools and
floats are not integers; negative only where -1 means unknown; below 2**62), the peak
bandwidth (a finite number in 1e6..1e15 bytes/s), string fields, the context (at most
2**24), the untraced step times, a decode model's config (positive integers up to 2**20,
the optional ones only when given), the string table (strings, no lone surrogate), JSON
that cannot be written back, every string index and row index against its table, PM
byte sums below 2**62, timestamps below 2**62 ns, records and steps that end before
they start, and steps (present, shorter than 2**42 ns, non-negative, unique, disjoint)."""
import math

import numpy as np
import pytest

from stepscope.analysis.trace import validate as V
from stepscope.analysis.trace.model import Trace, table_from_rows

#: The string-index column of each table that has one.
NAMED = {"steps": "mode", "kernels": "name", "api": "name", "host_spans": "name", "stack_samples": "stack"}
#: The integer metadata fields, by block.
INTS = {"gpu": ("memory_bus_width_bits", "max_memory_clock_mhz"),
        "workload": ("ctx", "first_traced_position", "param_count", "param_bytes", "input_embedding_bytes",
                     "embedding_row_bytes", "bytes_per_step"),
        "capture": ("dropped_records", "dram_interval_ns", "pm_overflows")}
ALL_INTS = [(b, k) for b, ks in INTS.items() for k in ks]
CONFIG = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
          "intermediate_size": 11008, "vocab_size": 32000}


def tr(meta=None, strings=("s0", "s1"), **tables) -> Trace:
    """A trace of the given rows; string columns default to 0, parents to -1, step indices
    to 0, 1, ...; other columns are -1."""
    t = Trace(meta={} if meta is None else meta, strings=list(strings))
    for tab, cols in tables.items():
        cols = dict(cols)
        n = len(next(iter(cols.values())))
        if tab in NAMED:
            cols.setdefault(NAMED[tab], [0] * n)
        if tab == "host_spans":
            cols.setdefault("parent", [-1] * n)
        if tab == "steps":
            cols.setdefault("index", list(range(n)))
        t.tables[tab] = table_from_rows(tab, cols)
    return t


def rows(*windows, **more) -> dict:
    return {"start_ns": [w[0] for w in windows], "end_ns": [w[1] for w in windows], **more}


ONE_STEP = rows((0, 100))


def meta_of(block, key, value) -> str | None:
    return V.check_meta({block: {key: value}})


# -- check_meta --------------------------------------------------------------------------

def test_metadata_that_is_not_an_object_is_named_by_its_type():
    assert V.check_meta([]) == "its metadata is a list, not an object"
    assert V.check_meta("x") == "its metadata is a str, not an object"
    assert V.check_meta({}) is None


@pytest.mark.parametrize("block", ["gpu", "workload", "capture"])
def test_a_block_that_is_not_an_object_is_refused(block):
    assert V.check_meta({block: None}) == f"meta.{block} is null, not an object"
    assert V.check_meta({block: [1]}) == f"meta.{block} is a list, not an object"
    assert V.check_meta({block: {}}) is None


def test_a_missing_block_does_not_stop_the_checks_of_the_next():
    assert V.check_meta({"capture": {"pm_overflows": "x"}}) == "meta.capture.pm_overflows is 'x', not a number"
    assert V.check_meta({"gpu": {}, "capture": {"pm_overflows": "x"}}) == \
        "meta.capture.pm_overflows is 'x', not a number"
    assert V.check_meta({"workload": {"ctx": 1.5}}) == "meta.workload.ctx is 1.5, not a number"


@pytest.mark.parametrize("block, key", ALL_INTS)
def test_each_integer_field_refuses_what_is_not_an_integer(block, key):
    for bad, shown in (("12", "'12'"), (1.5, "1.5"), (2.0, "2.0"), (True, "True"), (False, "False"),
                       (math.nan, "nan"), (math.inf, "inf"), ([1], "[1]")):
        assert meta_of(block, key, bad) == f"meta.{block}.{key} is {shown}, not a number", bad
    for good in (0, 1, 12, np.int64(7), None):
        assert meta_of(block, key, good) is None, good


@pytest.mark.parametrize("block, key", [x for x in ALL_INTS if x[1] != "dropped_records"])
def test_integer_fields_are_not_negative(block, key):
    assert meta_of(block, key, -1) == f"meta.{block}.{key} is negative (-1)"
    assert meta_of(block, key, -(2 ** 70)) == f"meta.{block}.{key} is negative ({-(2 ** 70)})"


def test_dropped_records_may_be_minus_one_for_unknown_but_stays_above_minus_2_62():
    assert meta_of("capture", "dropped_records", -1) is None
    assert meta_of("capture", "dropped_records", -(2 ** 62) + 1) is None
    assert meta_of("capture", "dropped_records", -(2 ** 62)) == "meta.capture.dropped_records is beyond 2**62"


@pytest.mark.parametrize("block, key", [x for x in ALL_INTS if x[1] != "ctx"])
def test_integer_fields_stay_below_2_62(block, key):
    assert meta_of(block, key, 2 ** 62 - 1) is None
    assert meta_of(block, key, 2 ** 62) == f"meta.{block}.{key} is beyond 2**62"
    assert meta_of(block, key, 2 ** 100) == f"meta.{block}.{key} is beyond 2**62"


def test_peak_bandwidth_is_a_finite_number_in_1e6_to_1e15_bytes_per_s():
    def peak(v):
        return meta_of("gpu", "peak_bytes_per_s", v)
    for good in (1e6, 1_000_000, 3.35e12, 10 ** 15, 1e15, np.float64(2e12), np.int64(10 ** 12), None):
        assert peak(good) is None, good
    for bad in ("3e12", True, math.nan, math.inf, -math.inf, [1e12]):
        assert peak(bad) == f"meta.gpu.peak_bytes_per_s is {bad!r}, not a number", bad
    below, above = np.nextafter(1e6, 0), np.nextafter(1e15, math.inf)
    assert peak(below) == f"meta.gpu.peak_bytes_per_s is {below!r}, outside 1e+06..1e+15 bytes/s"
    assert peak(999_999) == "meta.gpu.peak_bytes_per_s is 999999, outside 1e+06..1e+15 bytes/s"
    assert peak(0) == "meta.gpu.peak_bytes_per_s is 0, outside 1e+06..1e+15 bytes/s"
    assert peak(above) == f"meta.gpu.peak_bytes_per_s is {above!r}, outside 1e+06..1e+15 bytes/s"
    assert peak(10 ** 15 + 1) == f"meta.gpu.peak_bytes_per_s is {10 ** 15 + 1}, outside 1e+06..1e+15 bytes/s"
    assert peak(2 ** 63) == f"meta.gpu.peak_bytes_per_s is {2 ** 63}, outside 1e+06..1e+15 bytes/s"
    # integers past float64's exact range and past its range at all: refused by range, no traceback
    assert peak(2 ** 64) == f"meta.gpu.peak_bytes_per_s is {2 ** 64}, outside 1e+06..1e+15 bytes/s"
    assert peak(10 ** 400) == f"meta.gpu.peak_bytes_per_s is {10 ** 400}, outside 1e+06..1e+15 bytes/s"
    assert peak(-1e12) == "meta.gpu.peak_bytes_per_s is negative (-1000000000000.0)"
    assert peak(-1) == "meta.gpu.peak_bytes_per_s is negative (-1)"


def test_the_peak_check_is_only_the_gpu_peak():
    # other fields are integers of any size below 2**62, not bandwidths
    assert meta_of("gpu", "max_memory_clock_mhz", 5) is None
    assert meta_of("workload", "bytes_per_step", 10 ** 16) is None
    assert meta_of("gpu", "memory_bus_width_bits", 5120.0) == "meta.gpu.memory_bus_width_bits is 5120.0, not a number"


@pytest.mark.parametrize("block, key", [("gpu", "name"), ("workload", "model"), ("workload", "kind"),
                                        ("capture", "dram_status"), ("workload", "mode"), ("capture", "name")])
def test_text_fields_are_strings(block, key):
    assert meta_of(block, key, 3) == f"meta.{block}.{key} is 3, not a string"
    assert meta_of(block, key, ["a"]) == f"meta.{block}.{key} is ['a'], not a string"
    assert meta_of(block, key, "H100") is None
    assert meta_of(block, key, "") is None
    assert meta_of(block, key, None) is None


def test_other_fields_are_not_checked():
    assert V.check_meta({"gpu": {"uuid": 3, "driver": [1]}, "host": {"python": 3}, "other": None}) is None


def test_the_context_is_at_most_2_24():
    assert meta_of("workload", "ctx", 1 << 24) is None
    assert meta_of("workload", "ctx", 0) is None
    assert meta_of("workload", "ctx", (1 << 24) + 1) == "meta.workload.ctx is 16777217, beyond any model's context"
    assert meta_of("workload", "ctx", 2 ** 62) == "meta.workload.ctx is beyond 2**62"
    assert V.check_meta({"workload": None}) == "meta.workload is null, not an object"


def test_untraced_step_times_are_a_list_of_positive_integers():
    def uns(v):
        return meta_of("workload", "untraced_step_ns", v)
    for good in (None, [], [1], [5, 10 ** 9]):
        assert uns(good) is None, good
    for bad in ((1, 2), "1", 5, {"a": 1}, [0], [-1], [1, 0], [True], [1.0], [1, "2"], [None]):
        assert uns(bad) == "meta.workload.untraced_step_ns is not a list of positive integers", bad


def test_a_decode_workload_config_is_checked_and_named():
    def wl(**w):
        return V.check_meta({"workload": w})
    assert wl(kind="decode", config=CONFIG) is None
    assert wl(kind="decode") is None
    assert wl(kind="decode", config={}) == "meta.workload.config.hidden_size is None, not a positive integer"
    assert wl(kind="decode", config=None) == "meta.workload.config is null, not an object"
    assert wl(kind="decode", config={**CONFIG, "vocab_size": 0}) == \
        "meta.workload.config.vocab_size is 0, not a positive integer"
    # other workloads carry no decode config
    assert wl(kind="chain", config={}) is None
    assert wl(config={}) is None


def test_decode_param_bytes_need_the_input_embedding_bytes():
    def wl(**w):
        return V.check_meta({"workload": w})
    msg = "meta.workload.param_bytes is given without input_embedding_bytes"
    assert wl(kind="decode", param_bytes=10) == msg
    assert wl(kind="decode", param_bytes=10, input_embedding_bytes=None) == msg
    assert wl(kind="decode", param_bytes=10, input_embedding_bytes=4) is None
    assert wl(kind="decode", param_bytes=None) is None
    assert wl(kind="decode", input_embedding_bytes=4) is None
    assert wl(kind="chain", param_bytes=10) is None
    assert wl(param_bytes=10) is None


# -- check_config ------------------------------------------------------------------------

@pytest.mark.parametrize("key", list(CONFIG))
def test_each_config_integer_is_required_positive_and_at_most_2_20(key):
    assert V.check_config({k: v for k, v in CONFIG.items() if k != key}) == \
        f"config.{key} is None, not a positive integer"
    for bad, shown in ((0, "0"), (-1, "-1"), (True, "True"), (2.0, "2.0"), ("8", "'8'"), (None, "None")):
        assert V.check_config({**CONFIG, key: bad}) == f"config.{key} is {shown}, not a positive integer", bad
    assert V.check_config({**CONFIG, key: 1}) is None
    assert V.check_config({**CONFIG, key: 1 << 20}) is None
    assert V.check_config({**CONFIG, key: (1 << 20) + 1}) == \
        f"config.{key} is 1048577, beyond any model (at most 1048576)"


@pytest.mark.parametrize("key", ["num_key_value_heads", "head_dim"])
def test_optional_config_integers_are_checked_only_when_given(key):
    assert V.check_config({**CONFIG, key: None}) is None
    assert V.check_config({**CONFIG, key: 1}) is None
    assert V.check_config({**CONFIG, key: 1 << 20}) is None
    assert V.check_config({**CONFIG, key: 0}) == f"config.{key} is 0, not a positive integer"
    assert V.check_config({**CONFIG, key: False}) == f"config.{key} is False, not a positive integer"
    assert V.check_config({**CONFIG, key: (1 << 20) + 1}) == \
        f"config.{key} is 1048577, beyond any model (at most 1048576)"


def test_config_that_is_not_an_object():
    assert V.check_config([1]) == "config is a list, not an object"
    assert V.check_config(None) == "config is null, not an object"
    assert V.check_config(CONFIG) is None


def test_the_config_checks_its_keys_in_order():
    assert V.check_config({"hidden_size": 0, "vocab_size": 0}) == "config.hidden_size is 0, not a positive integer"
    assert V.check_config({**CONFIG, "num_key_value_heads": 0, "head_dim": 0}) == \
        "config.num_key_value_heads is 0, not a positive integer"


# -- strings and text --------------------------------------------------------------------

def test_the_string_table_is_a_list_of_strings():
    msg = "its string table is not a list of strings"
    for bad in ({"a": 1}, "ab", ("a",), ["a", 1], [None], None):
        assert V.check_strings(bad) == msg, bad
    assert V.check_strings([]) is None
    assert V.check_strings(["a", "", "é✓"]) is None


def test_a_lone_surrogate_in_the_string_table_is_named_by_its_index():
    assert V.check_strings(["ok", "x\ud800y", "\udc80"]) == \
        "string 1 of its string table is not valid Unicode (a lone surrogate)"
    assert V.check_strings(["\udc80"]) == "string 0 of its string table is not valid Unicode (a lone surrogate)"
    # two halves in separate strings do not make a pair
    assert V.check_strings(["a", "\ud83d", "\ude00"]) == \
        "string 1 of its string table is not valid Unicode (a lone surrogate)"


def test_metadata_must_be_writable_back_as_utf8_json():
    assert V.check_text({"a": "é✓", "b": [1, None, 2.5], "c": math.nan}) is None
    lone = "its metadata holds a string that is not valid Unicode (a lone surrogate)"
    assert V.check_text({"a": {"b": "x\udc80"}}) == lone
    assert V.check_text({"\ud800": 1}) == lone
    circular: dict = {}
    circular["self"] = circular
    assert V.check_text(circular) == "its metadata cannot be written back as JSON"
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert V.check_text({"a": deep}) == "its metadata cannot be written back as JSON"


# -- check_tables: indices ---------------------------------------------------------------

@pytest.mark.parametrize("tab, col", list(NAMED.items()))
def test_every_string_index_points_into_the_string_table(tab, col):
    table = {"stack_samples": {"t_ns": [1, 2]}}.get(tab, rows((0, 10), (20, 30)))
    for bad in (2, -1, 10 ** 12):
        t = tr(**{tab: {**table, col: [1, bad]}})
        assert V.check_tables(t, need_steps=False) == f"{tab}.{col} points outside the string table", bad
    assert V.check_tables(tr(**{tab: {**table, col: [0, 1]}}), need_steps=False) is None
    assert V.check_tables(tr(strings=("a", "b", "c"), **{tab: {**table, col: [2, 2]}}), need_steps=False) is None


def test_kernel_dram_rows_point_into_the_kernels_table():
    kernels = rows((0, 10), (20, 30))
    for good in ([0, 1], [1, 1], [0]):
        assert V.check_tables(tr(kernels=kernels, kernel_dram={"kernel": good}), need_steps=False) is None
    for bad in ([0, 2], [-1], [5]):
        assert V.check_tables(tr(kernels=kernels, kernel_dram={"kernel": bad}), need_steps=False) == \
            "kernel_dram.kernel points outside the kernels table", bad
    assert V.check_tables(tr(kernel_dram={"kernel": [0]}), need_steps=False) == \
        "kernel_dram.kernel points outside the kernels table"


def test_host_span_parents_point_into_the_host_spans_table_or_are_minus_one():
    spans = rows((0, 100), (10, 20), (30, 40))
    for good in ([-1, 0, 0], [-1, 2, 1], [-1, -1, -1]):
        assert V.check_tables(tr(host_spans={**spans, "parent": good}), need_steps=False) is None, good
    for bad in ([-1, 0, 3], [-2, 0, 0], [-1, 0, 10 ** 9]):
        assert V.check_tables(tr(host_spans={**spans, "parent": bad}), need_steps=False) == \
            "host_spans.parent points outside the host_spans table (-1: no parent)", bad


# -- check_tables: sizes and times ---------------------------------------------------------

@pytest.mark.parametrize("col", ["dram_read_bytes", "dram_write_bytes"])
def test_pm_byte_columns_sum_below_2_62(col):
    def pm(values):
        return V.check_tables(tr(pm=rows(*[(i, i + 1) for i in range(len(values))], **{col: values})),
                              need_steps=False)
    assert pm([2 ** 61, 2 ** 61 - 512]) is None
    assert pm([0, 5]) is None
    msg = f"pm.{col} sums beyond 2**62 bytes"
    assert pm([2 ** 61, 2 ** 61]) == msg
    assert pm([-(2 ** 61), -(2 ** 61)]) == msg
    assert pm([2 ** 61, -(2 ** 61)]) == msg         # magnitudes add up
    assert pm([2 ** 62]) == msg


TIMED = ["steps", "kernels", "api", "memcpy", "memset", "host_spans", "pm"]


@pytest.mark.parametrize("tab", TIMED)
def test_timestamps_stay_below_2_62_ns_in_magnitude(tab):
    edge = 2 ** 62
    msg = f"{tab} holds timestamps beyond 2**62 ns"

    def check(*w):
        return V.check_tables(tr(**{tab: rows(*w)}), need_steps=False)
    assert check((edge - 2, edge - 1)) is None
    assert check((-(edge - 1), -(edge - 1) + 5)) is None
    assert check((edge - 2, edge)) == msg               # the end alone
    assert check((-edge, 10)) == msg                    # the start alone, negative
    assert check((0, 10), (edge, edge + 10)) == msg     # a later row
    # int64's most negative value: np.abs wraps it to itself, so an |x| check let it through
    assert check((-(2 ** 63), 5)) == msg
    assert check((0, 5), (3, -(2 ** 63))) == msg


@pytest.mark.parametrize("tab", ["kernels", "api", "memcpy", "memset", "host_spans"])
def test_records_that_end_before_they_start_are_counted_with_the_first(tab):
    def check(*w):
        return V.check_tables(tr(**{tab: rows(*w)}), need_steps=False)
    assert check((0, 5), (7, 7), (8, 100)) is None                 # zero length is fine
    assert check((0, 5), (10, 9), (20, 19), (30, 31)) == \
        f"2 {tab} rows end before they start (row 1: 10 -> 9 ns)"
    assert check((0, -1)) == f"1 {tab} rows end before they start (row 0: 0 -> -1 ns)"
    assert check((-5, -6)) == f"1 {tab} rows end before they start (row 0: -5 -> -6 ns)"


def test_pm_samples_without_a_start_are_not_checked_for_order():
    def check(*w):
        return V.check_tables(tr(pm=rows(*w)), need_steps=False)
    assert check((0, -1), (-3, -10), (5, 5), (6, 7)) is None
    assert check((0, -1), (1, 0)) == "1 pm rows end before they start (row 1: 1 -> 0 ns)"
    assert check((5, 4), (0, -1), (9, 8)) == "2 pm rows end before they start (row 0: 5 -> 4 ns)"


def test_steps_must_end_after_they_start():
    def check(*w):
        return V.check_tables(tr(steps=rows(*w)))
    assert check((0, 1)) is None
    assert check((0, 10), (10, 10)) == "1 steps rows end before they start (or when) (row 1: 10 -> 10 ns)"
    assert check((0, 10), (20, 19), (30, 30)) == \
        "2 steps rows end before they start (or when) (row 1: 20 -> 19 ns)"
    assert check((0, -1)) == "1 steps rows end before they start (or when) (row 0: 0 -> -1 ns)"


def test_an_empty_table_does_not_stop_the_checks_of_the_next():
    # steps are empty (skipped); the kernels after them are still checked
    assert V.check_tables(tr(kernels=rows((10, 9))), need_steps=False) == \
        "1 kernels rows end before they start (row 0: 10 -> 9 ns)"
    assert V.check_tables(tr(pm=rows((2 ** 62, 2 ** 62))), need_steps=False) == \
        "pm holds timestamps beyond 2**62 ns"


# -- check_tables: steps ---------------------------------------------------------------------

def test_a_trace_needs_steps_unless_told_otherwise():
    assert V.check_tables(tr()) == "it holds no steps"
    assert V.check_tables(tr(), need_steps=True) == "it holds no steps"
    assert V.check_tables(tr(), need_steps=False) is None
    assert V.check(tr()) == "it holds no steps"
    assert V.check_tables(tr(steps=ONE_STEP)) is None


def test_a_step_lasts_less_than_2_42_ns():
    long = 1 << 42
    assert V.check_tables(tr(steps=rows((0, 10), (100, 100 + long - 1)))) is None
    assert V.check_tables(tr(steps=rows((0, 10), (100, 100 + long)))) == \
        "a step lasts more than 2**42 ns (73 minutes)"
    assert V.check_tables(tr(steps=rows((-(1 << 41), 1 << 41)))) == "a step lasts more than 2**42 ns (73 minutes)"


def test_step_indices_are_not_negative():
    assert V.check_tables(tr(steps=rows((0, 10), (20, 30), index=[0, 1]))) is None
    assert V.check_tables(tr(steps=rows((0, 10), (20, 30), index=[3, -1]))) == \
        "a step index is negative (-1 marks records outside every step)"
    assert V.check_tables(tr(steps=rows((0, 10), index=[-5]))) == \
        "a step index is negative (-1 marks records outside every step)"


def test_two_steps_may_not_share_an_index():
    assert V.check_tables(tr(steps=rows((0, 10), (20, 30), (40, 50), index=[4, 2, 4]))) == \
        "two steps share a step index"
    assert V.check_tables(tr(steps=rows((0, 10), (20, 30), (40, 50), index=[4, 2, 9]))) is None


def test_overlapping_steps_are_named_by_index_in_time_order():
    # in file order 5, 3, 1, 8; in time order 3 (0-100), 1 (100-250), 5 (200-300), 8 (290-400):
    # touching steps are fine; 1 and 5 overlap first, then 5 and 8
    st = rows((200, 300), (0, 100), (100, 250), (290, 400), index=[5, 3, 1, 8])
    assert V.check_tables(tr(steps=st)) == "steps 1 and 5 overlap"
    assert V.check_tables(tr(steps=rows((0, 100), (100, 200), (200, 201), index=[0, 1, 2]))) is None
    assert V.check_tables(tr(steps=rows((50, 100), (0, 51), index=[7, 2]))) == "steps 2 and 7 overlap"
    assert V.check_tables(tr(steps=rows((0, 100), (0, 60), index=[7, 2]))) == "steps 7 and 2 overlap"
    assert V.check_tables(tr(steps=rows((0, 100), (10, 20), index=[7, 2]))) == "steps 7 and 2 overlap"


def test_steps_starting_together_are_named_in_file_order():
    # 17 steps 100 ns apart, two starting at 500 ns (rows 8 and 13): a stable sort keeps
    # rows 8, 13; numpy's default sort of this array puts 13 first
    starts = [100, 1000, 1400, 1500, 700, 1200, 300, 400, 500, 800, 0, 900, 200, 500, 1300, 1100, 600]
    st = rows(*[(s, s + 50) for s in starts], index=[100 + i for i in range(17)])
    assert V.check_tables(tr(steps=st)) == "steps 108 and 113 overlap"


def test_the_checks_come_in_order():
    # an index problem before a time problem, the string table before kernel_dram
    t = tr(steps=rows((0, 10), (5, 4)), kernels={**rows((0, 1)), "name": [9]}, kernel_dram={"kernel": [3]})
    assert V.check_tables(t) == "kernels.name points outside the string table"
    t = tr(steps=rows((0, 10), (5, 4)), kernel_dram={"kernel": [3]})
    assert V.check_tables(t) == "kernel_dram.kernel points outside the kernels table"
    t = tr(steps=rows((0, 10), (5, 4)), host_spans={**rows((0, 1)), "parent": [4]})
    assert V.check_tables(t) == "host_spans.parent points outside the host_spans table (-1: no parent)"
    t = tr(steps=rows((0, 10), (5, 4)), pm={**rows((0, 1)), "dram_read_bytes": [2 ** 62]})
    assert V.check_tables(t) == "pm.dram_read_bytes sums beyond 2**62 bytes"


# -- check -----------------------------------------------------------------------------------

def test_check_returns_the_first_problem_of_meta_text_strings_tables():
    assert V.check(tr(steps=ONE_STEP)) is None
    assert V.check(tr(meta={"gpu": {"name": "H100 \u2713"}}, strings=("k", "é"), steps=ONE_STEP)) is None
    bad_meta, bad_text = {"gpu": {"name": 3}, "x": "\udc80"}, {"x": "\udc80"}
    assert V.check(tr(meta=bad_meta, strings=["\udc80"])) == "meta.gpu.name is 3, not a string"
    assert V.check(tr(meta=bad_text, strings=["\udc80"])) == \
        "its metadata holds a string that is not valid Unicode (a lone surrogate)"
    assert V.check(tr(strings=["a", "\udc80"], steps={**ONE_STEP, "mode": [5]})) == \
        "string 1 of its string table is not valid Unicode (a lone surrogate)"
    assert V.check(tr(steps={**ONE_STEP, "mode": [5]})) == "steps.mode points outside the string table"
    assert V.check(tr(meta=[])) == "its metadata is a list, not an object"


def test_json_name():
    assert V.json_name(None) == "null"
    assert V.json_name([]) == "a list" and V.json_name(3) == "a int" and V.json_name("") == "a str"
