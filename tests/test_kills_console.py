"""Whole lines of `stepscope report` (analysis/render/console.py) that the golden texts of
tests/test_report_text.py do not reach: warnings and notes that appear only on traces
with a given defect or capture setting, and header wording. Each test states what it pins;
the traces are shipped ones with one field of their metadata changed, so every other
figure is the recorded one."""
import copy

import pytest
from analysis_cache import CachedAnalysis

from conftest import TRACES
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.console import ConsoleRenderer
from stepscope.cli import load_trace

SYNTHETIC = "synthetic-h100.stepscope"


@pytest.fixture
def trace():
    """A fresh copy of the synthetic trace per test (tests change its metadata)."""
    def load(name=SYNTHETIC):
        t = load_trace(TRACES / name)
        t.meta = copy.deepcopy(t.meta)
        return t
    return load


def text_of(t) -> list[str]:
    return ConsoleRenderer().render(TraceAnalysis(t)).splitlines()


def test_header_names_the_workload_kind_once(trace):
    """A trace whose workload has no kind reads "a trace", not "a trace trace"; a kind
    other than decode is named ("a synthetic trace")."""
    t = trace()
    assert text_of(t)[0] == "stepscope report: a synthetic trace  on NVIDIA H100 80GB HBM3"
    t = trace()
    t.meta["workload"] = {k: v for k, v in t.meta["workload"].items() if k != "kind"}
    assert text_of(t)[0] == "stepscope report: a trace  on NVIDIA H100 80GB HBM3"


def header_lines(t) -> list[str]:
    """The report's lines before the first verdict line, each wrapped line (console.fit:
    continuation lines indented by two) joined back into one."""
    lines = text_of(t)
    out: list[str] = []
    for x in lines[:next(i for i, x in enumerate(lines) if x.startswith("verdict, "))]:
        if x.startswith("  ") and out:
            out[-1] += " " + x.strip()
        else:
            out.append(x)
    return out


PEAK = "peak bandwidth 3.352 TB/s (nvml: bus width x max memory clock x 2); floor from workload bytes by construction"


def test_dropped_records_are_warned_about_with_their_count(trace):
    """CUPTI's dropped-record count is printed as a warning under the header, only when
    records were dropped."""
    t = trace()
    assert header_lines(t)[1:] == [PEAK]
    t.meta["capture"]["dropped_records"] = 17
    assert header_lines(t)[1:] == [PEAK, "WARNING: CUPTI dropped 17 records: figures are incomplete"]


def test_kernel_record_kinds_each_get_their_own_line(trace, monkeypatch):
    """Graph-level records: a note on what the figures then mean, or, when the trace holds
    no kernel record at all, a warning that every figure is wrong; any other kind than
    'concurrent' is a cost probe, warned about with its name."""
    t = trace()
    t.meta["capture"]["kernel_records"] = "graph"
    assert header_lines(t)[2:] == [
        "note: graph-level kernel records: one record per CUDA-graph replay, none per node, so 'kernels/step' "
        "counts replays, busy time includes each replay's internal gaps (in kernel inefficiency), and there is "
        "no per-kernel breakdown"]
    a = TraceAnalysis(t)
    s = a.get_summary()
    n = type(t).n
    monkeypatch.setattr(type(t), "n", lambda self, table: 0 if table == "kernels" else n(self, table))
    assert ConsoleRenderer().header(a, s)[2:] == [
        "WARNING: graph-level kernel records were asked for but the trace holds none: CUPTI gives them only for "
        "graphs instantiated while they were enabled (capture the graph inside "
        "profiler.capture.activity.graph_trace_instantiation); every figure below is wrong"]
    monkeypatch.setattr(type(t), "n", n)
    t = trace()
    t.meta["capture"]["kernel_records"] = "serial"
    assert header_lines(t)[2:] == [
        "WARNING: kernel records 'serial' are a cost probe: kernels of CUDA-graph replays were not recorded, so this "
        "attribution is not meaningful"]
    t = trace()
    t.meta["capture"]["kernel_records"] = "none"     # record --repeat's timing-only runs
    assert header_lines(t)[2:] == [
        "note: a timing-only run of record --repeat: memory copies only, no kernels, so the attribution "
        "below is empty; the traced run's report gives the tracer's cost against it"]
    t = trace()
    t.meta["capture"]["kernel_records"] = "concurrent"
    assert header_lines(t)[2:] == []


def test_dram_counter_status_other_than_ok_is_noted(trace):
    t = trace()
    t.meta["capture"]["dram_status"] = "PM sampling not supported on this GPU"
    assert header_lines(t)[2:] == ["note: DRAM counters: PM sampling not supported on this GPU"]


def eager_mode_lines(trace, **changes) -> list[str]:
    """The 'mode eager' block of the synthetic trace, its summary changed by ``changes``."""
    s = TraceAnalysis(trace()).get_summary()
    return ConsoleRenderer().mode("eager", {**s["modes"]["eager"], "floor_known": True, **changes})


#: The synthetic trace's eager block as printed (tests/golden/text/synthetic-h100.stepscope.txt).
EAGER_HEAD = [
    "mode eager: 3 traced steps; traced median 6.425 ms (min 5.865, max 6.598)",
    "  kernels/step 401   launch calls/step 402   busy 0.660 ms   idle 5.763 ms",
    "  attribution of the step (median over steps)       ms      share",
    "    memory floor (bytes read / peak)               0.200     3.1%",
    "    kernel inefficiency (busy - floor)             0.460     7.2%",
    "    launch overhead (GPU waited for CPU)           5.641    87.8%",
    "    other idle (queued, sync, copy, other)         0.122     1.9%",
    "  closure: parts sum to the step within 0 ns (max over steps)"]
EAGER_TAIL = [
    "  % of floor: 3.1% (bytes read: 0.671 GB)   3.1% (all parameters, as the paper: 0.671 GB)",
    "  DRAM measured 0.672 GB/step, 106 GB/s over the step, 1018 GB/s over busy time"]


def test_mode_block_flags_busy_below_the_floor_and_prints_the_achievable_floor(trace):
    """Steps whose busy time is below the floor are flagged with their count; a calibrated
    achievable bandwidth adds the floor at that bandwidth (0.671 GB at 2,000 GB/s is
    0.336 ms, 5.2% of the 6.425 ms step); clocks without NVML readings read n/a."""
    assert eager_mode_lines(trace) == EAGER_HEAD + EAGER_TAIL + [
        "  clocks: SM 1980 MHz, memory 2619 MHz; throttle: none"]
    got = eager_mode_lines(trace, busy_below_floor_steps=2, achievable_floor_ms=0.671e9 / 2e12 * 1e3,
                           achievable_bytes_per_s=2e12, pct_achievable_floor=100 * 0.3355 / 6.425,
                           sm_clock_mhz=-1, throttle_reasons=["hw_slowdown", "sw_power_cap"])
    assert got == EAGER_HEAD + [
        "  FLAG: busy below the floor in 2 steps (wrong peak, or bytes served from cache)",
        EAGER_TAIL[0],
        "  achievable floor (bytes read / 2000 GB/s calibrated): 0.336 ms = 5.2% of the step",
        EAGER_TAIL[1],
        "  clocks: n/a (no NVML readings in this trace)"]
    got = eager_mode_lines(trace, sm_clock_mhz=0, mem_clock_mhz=1593, throttle_reasons=["hw_slowdown", "sw_power_cap"])
    assert got[-1] == "  clocks: SM 0 MHz, memory 1593 MHz; throttle: hw_slowdown, sw_power_cap"


def test_untraced_equivalent_block_without_a_floor_and_when_busy_exceeds_the_untraced_step():
    """Without a floor the untraced-equivalent block prints busy (floor + inefficiency of
    the summary: 4.254063 + 4.921007 = 9.175070 ms, 94.7% of the 9.688306 ms untraced step)
    in place of the two floor rows; the busy-scaled method adds its note."""
    from stepscope.analysis.untraced import METHOD_BUSY
    m = CachedAnalysis(TRACES / "qwen2.5-7b-ctx2048-graph-h100.stepscope").get_summary()["modes"]["graph"]
    r = ConsoleRenderer()
    head = ["  untraced-equivalent attribution (step = untraced median 9.688 ms)",
            "    from the traced medians: busy as traced, idle scaled to fill the untraced step"]
    rows = ["    launch overhead (GPU waited for CPU)           0.204     2.1%",
            "    other idle (queued, sync, copy, other)         0.309     3.2%",
            "    launch overhead 95% CI 0.190-0.227 ms (bootstrap over 3 traced and 30 untraced steps)"]
    assert r.untraced_equivalent({**m, "floor_known": True}) == head + [
        "    memory floor (bytes read / peak)               4.254    43.9%",
        "    kernel inefficiency (busy - floor)             4.921    50.8%"] + rows
    assert r.untraced_equivalent({**m, "floor_known": False}) == head + [
        "    busy (kernels, copies, sets)                   9.175    94.7%"] + rows
    eq = {**m["untraced_equivalent"], "method": METHOD_BUSY}
    assert r.untraced_equivalent({**m, "floor_known": False, "untraced_equivalent": eq})[-1] == \
        "    NOTE: the traced busy time exceeds the untraced step: the tracer lengthened the kernels"
    assert r.untraced_equivalent({**m, "floor_known": True, "untraced_equivalent": None}) == []


def test_step_detection_lines_of_each_rule():
    """How steps were found, one line per rule: the whole trace as one forward, marker
    rules, and the launch-sequence rules with their anchor, step counts, launches per
    step and the segments left out (at most four named, the rest counted; warm-up steps
    are counted, not listed); CUDA-graph launch calls with their median length."""
    from stepscope.analysis.render.console import step_detection_lines as lines
    assert lines(None) == []
    assert lines({"rule": "one forward (the whole trace)", "message": "no repeated launch sequence"}) == [
        "steps: one forward (the whole trace): from its first launch call to its last GPU record "
        "(no repeated launch sequence)"]
    assert lines({"rule": "ProfilerStep markers", "decode_steps": 3}) == ["steps: 3 found by ProfilerStep markers"]
    assert lines({"rule": "module forward spans", "decode_steps": 5}) == ["steps: 5 found by module forward spans"]
    assert lines({"rule": "marker 'decode'", "decode_steps": 4}) == ["steps: 4 found by marker 'decode'"]
    left = [{"label": "warm-up", "launches": 300, "busy_ns": 1_000_000},
            {"label": "prefill", "launches": 700, "busy_ns": 12_345_678}] + \
        [{"label": f"other {i}", "launches": i, "busy_ns": 1_500_000 * i} for i in range(1, 6)]
    det = {"rule": "kernel-sequence period", "anchor": "void gemv_kernel<float, 128>(float const*)",
           "decode_steps": 9, "steady_steps": 8, "warmup_steps": 1, "launches_per_step": [290, 301, 305],
           "left_out": left, "graph_launch_calls": 16, "graph_launch_call_ns_median": 1_234_567}
    assert lines(det) == [
        "steps: 9 decode steps found by kernel-sequence period (anchor: gemv_kernel): 8 steady, 1 warm-up; "
        "launches/step 290/301/305 (min/median/max)",
        "  left out: prefill (700 launches, 12.346 ms busy), other 1 (1 launches, 1.500 ms busy), "
        "other 2 (2 launches, 3.000 ms busy), other 3 (3 launches, 4.500 ms busy) and 2 more",
        "  CUDA-graph launch calls: 16 in steps, median 1.235 ms each; gaps inside a replay are graph-internal, "
        "never launch overhead"]
    det = {**det, "left_out": left[:5], "launches_per_step": [], "graph_launch_calls": 0}
    assert lines(det) == [
        "steps: 9 decode steps found by kernel-sequence period (anchor: gemv_kernel): 8 steady, 1 warm-up; "
        "launches/step 0/0/0 (min/median/max)",
        "  left out: prefill (700 launches, 12.346 ms busy), other 1 (1 launches, 1.500 ms busy), "
        "other 2 (2 launches, 3.000 ms busy), other 3 (3 launches, 4.500 ms busy)"]
    assert lines({**det, "left_out": left[:1]}) == lines(det)[:1]
    # five named: four and '1 more'; an anchor past 40 characters cut to 40
    assert lines({**det, "left_out": left[:6], "anchor": "void " + "g" * 50 + "(int)"}) == [
        "steps: 9 decode steps found by kernel-sequence period (anchor: …" + "g" * 39 + "): 8 steady, 1 warm-up; "
        "launches/step 0/0/0 (min/median/max)",
        "  left out: prefill (700 launches, 12.346 ms busy), other 1 (1 launches, 1.500 ms busy), "
        "other 2 (2 launches, 3.000 ms busy), other 3 (3 launches, 4.500 ms busy) and 1 more"]


def verdict(floor_known=True, mode="eager", **parts) -> str:
    """answer() on a hand-built mode summary: a 10 ms step, its parts in ms."""
    from stepscope.analysis.render.console import answer
    m = {"step_ms": 10.0, "floor_ms": 1.0, "kernel_inefficiency_ms": 1.0, "launch_overhead_ms": 1.0,
         "other_idle_ms": 1.0, "busy_ms": 2.0, "floor_known": floor_known, **parts}
    return answer(mode, m)


def test_verdict_threshold_largest_part_and_line_break():
    """Launch-bound from exactly LAUNCH_BOUND_SHARE (50%) of the step up; the largest part
    is named among busy / launch / other idle when there is no floor (never 'kernel
    inefficiency'); with launch overhead the largest, the floor share follows when known;
    the tail goes on a second line only when the joined line would pass 100 characters."""
    assert verdict(launch_overhead_ms=5.0, other_idle_ms=3.0, floor_ms=0.25, kernel_inefficiency_ms=1.75) == (
        "verdict, eager: launch-bound: the GPU waits for the CPU 50.0% of the step; the memory floor is 2.5%")
    assert verdict(launch_overhead_ms=4.99, other_idle_ms=3.01) == (
        "verdict, eager: not launch-bound: the GPU waits for the CPU 49.9% of the step;\n  the memory floor is 10.0%")
    # no floor: busy (6 ms, all of it 'kernel inefficiency' when the floor is 0) is the largest part
    assert verdict(False, floor_ms=0.0, kernel_inefficiency_ms=6.0, busy_ms=6.0, launch_overhead_ms=3.0,
                   other_idle_ms=1.0) == ("verdict, eager: not launch-bound: the GPU waits for the CPU 30.0% of the "
                                          "step;\n  the largest part is GPU busy time (60.0%)")
    assert verdict(False, launch_overhead_ms=8.0) == "verdict, eager: launch-bound: the GPU waits for the CPU 80.0% of the step"
    # a floor share whose 1% moves its rounding: 100 x 0.2049 / 10 = 2.049 -> 2.0 (x 101: 2.069 -> 2.1)
    assert verdict(launch_overhead_ms=8.0, floor_ms=0.2049).endswith("; the memory floor is 2.0%")
    # 74 + 2 + 24 = 100 characters: one line; a mode name one letter longer: two
    one = verdict(launch_overhead_ms=8.0, floor_ms=1.0)
    assert one == "verdict, eager: launch-bound: the GPU waits for the CPU 80.0% of the step; the memory floor is 10.0%"
    assert len(one) == 100
    two = verdict(launch_overhead_ms=8.0, floor_ms=1.0, mode="eagers")
    assert two == "verdict, eagers: launch-bound: the GPU waits for the CPU 80.0% of the step;\n  the memory floor is 10.0%"


def header_of(trace, meta=None, steps=None, **summary) -> list[str]:
    """header() of the synthetic trace, its metadata, steps table or summary changed."""
    import types
    t = trace()
    t.meta.update(meta or {})
    a = TraceAnalysis(t)
    s = {**a.get_summary(), **summary}
    st = {**a.get_steps(), **(steps or {})}
    return ConsoleRenderer().header(types.SimpleNamespace(trace=t, get_steps=lambda: st), s)


def test_header_names_a_constructed_workload_and_an_unknown_gpu(trace):
    """A workload other than a decode step is named by its name when it has one; a decode
    workload without a model reads 'a decode trace'; no GPU name reads 'an unknown GPU'."""
    assert header_of(trace, {"workload": {"kind": "calibration", "name": "copy 1 GiB"}})[0] == (
        "stepscope report: copy 1 GiB  on NVIDIA H100 80GB HBM3")
    assert header_of(trace, {"workload": {"kind": "decode", "name": "copy 1 GiB"}}, model=None)[0] == (
        "stepscope report: a decode trace  on NVIDIA H100 80GB HBM3")
    assert header_of(trace, gpu=None)[0] == "stepscope report: a synthetic trace  on an unknown GPU"


def test_header_peak_and_floor_lines_when_either_is_unknown(trace):
    """The peak in TB/s (3 decimals) with its source; without a floor, what to pass
    (--model and --ctx for a torch.profiler trace) or why there is none; without a peak,
    'peak bandwidth unknown' with the reason."""
    src = "nvml: bus width x max memory clock x 2"
    assert header_of(trace, floor_source="none")[1] == (
        f"peak bandwidth 3.352 TB/s ({src}); floor unknown: the trace records no model bytes and no DRAM counters")
    assert header_of(trace, {"source": "torch.profiler (Kineto) trace"}, floor_source="none")[1] == (
        f"peak bandwidth 3.352 TB/s ({src}); floor unknown: pass --model and --ctx")
    assert header_of(trace, floor_source="none", peak_bytes_per_s=None, peak_source="no GPU name")[1] == (
        "peak bandwidth unknown (no GPU name); floor unknown: the trace records no model bytes and no DRAM counters")
    assert header_of(trace, peak_bytes_per_s=None, peak_source="no GPU name")[1] == (
        "peak bandwidth unknown (no GPU name)")
    assert header_of(trace, peak_bytes_per_s=2.0005e12)[1] == (
        f"peak bandwidth 2.001 TB/s ({src}); floor from workload bytes by construction")


def test_header_warns_of_steps_the_dram_samples_do_not_cover(trace):
    """Steps whose DRAM coverage is below 99% are named with their coverage; 99% exactly
    is covered."""
    import numpy as np
    assert header_of(trace, steps={"dram_coverage": np.array([1.0, 0.99, 0.5, 1.0, 0.25, 1.0])})[2:] == [
        "WARNING: the DRAM samples do not cover every step (step 2 50%, step 4 25%): DRAM figures of those steps are incomplete"]
    assert header_of(trace, steps={"dram_coverage": np.array([1.0, 0.99, 1.0, 1.0, 0.99, 1.0])})[2:] == []


class _Host:
    """The eager-static host-span trace's analysis with its host tables replaced."""
    def __init__(self, **changes):
        self._a = CachedAnalysis(TRACES / "qwen2.5-7b-ctx2048-eager-static-host-h100.stepscope")
        self._changes = changes

    def __getattr__(self, attr):
        return getattr(self._a, attr)

    def get_host(self, n: int = 10) -> dict:
        h = self._a.get_host(n)
        for k, v in self._changes.items():
            h[k] = {**h[k], **v}
        return h


def test_host_hotspot_names_cut_to_56_characters_and_module_types_shown_from_two_spans():
    """A hotspot name longer than 56 characters is cut at the front to 56 (an ellipsis
    and its last 55); the 'each module type over all layers' table appears when a type
    covers two spans or more, and not when every type is a single span."""
    h = CachedAnalysis(TRACES / "qwen2.5-7b-ctx2048-eager-static-host-h100.stepscope").get_host()
    name = "A" * 40 + "B" * 30
    lines = ConsoleRenderer().host(_Host(hotspots={"name": [name] + h["hotspots"]["name"][1:]}))
    i = lines.index("  host hotspots in launch-bound idle (per step)                         ms   share of idle")
    assert lines[i + 1] == "    API call   …" + "A" * 25 + "B" * 30 + "   " + "   9.096   21.9%"
    n_types = len(h["by_type"]["spans"])
    two = ConsoleRenderer().host(_Host(by_type={"spans": [2] * n_types}))
    j = two.index("  the same, each module type over all layers (per step)                  ms   share of idle")
    assert two[j + 1] == "    module     model.layers.*.self_attn (2 spans)" + " " * 27 + "12.572   30.3%"
    one = ConsoleRenderer().host(_Host(by_type={"spans": [1] * n_types}))
    assert not any(x.startswith("  the same, each module type") for x in one)
    assert len(one) == len(two) - 1 - n_types


def test_module_type_rows_name_cut_and_unnamed():
    """Rows of the module-type table: a type over several spans is cut to 44 characters
    before its span count, a single span to 56, and time outside any span is named so."""
    from stepscope.analysis.host import NO_SPAN
    h = CachedAnalysis(TRACES / "qwen2.5-7b-ctx2048-eager-static-host-h100.stepscope").get_host()
    bt = h["by_type"]
    names = ["C" * 60, NO_SPAN, "D" * 60] + bt["name"][3:]
    spans = [2, 1, 1] + bt["spans"][3:]
    lines = ConsoleRenderer().host(_Host(by_type={"name": names, "spans": spans}))
    j = lines.index("  the same, each module type over all layers (per step)                  ms   share of idle")
    assert lines[j + 1:j + 4] == [
        "    module     …" + "C" * 43 + " (2 spans)" + " " * 5 + "  12.572   30.3%",
        "    API call   (outside any host span)" + " " * 36 + "   9.096   21.9%",
        "    module     …" + "D" * 55 + "   " + "   3.067    7.4%"]


def test_stack_sample_line_exact():
    """The stack-sample line in whole microseconds, exactly as printed (the golden
    comparison allows one unit of the last digit, so it cannot tell 627 from 626)."""
    a = CachedAnalysis(TRACES / "qwen2.5-7b-ctx2048-eager-static-stacks-h100.stepscope")
    assert ConsoleRenderer().stacks(a)[0] == (
        "  Python lines in the launch-bound idle: 338 of 923 stack samples (one every 627 us, asked every 500 us)")


def test_stack_sample_line_of_a_2_ms_period_without_samples_in_idle():
    """A 2 ms sampling period prints as 2000 us; with no sample in launch-bound idle the
    section is that one line; no samples at all: no section."""
    import types
    st = {"samples": 40, "samples_in_launch_idle": 0, "median_interval_ns": 2_004_000, "period_ns": 2_000_000}
    a = types.SimpleNamespace(get_stacks=lambda: st)
    assert ConsoleRenderer().stacks(a) == [
        "  Python lines in the launch-bound idle: 0 of 40 stack samples (one every 2004 us, asked every 2000 us)"]
    st = {**st, "samples": 0}
    assert ConsoleRenderer().stacks(a) == []


COUNTERS = "qwen2.5-7b-ctx2048-eager-static-counters-h100.stepscope"


def dram_lines(**changes) -> list[str]:
    """The 'DRAM per kernel' section of the counter-pass trace, its estimate changed."""
    import types
    d = {**CachedAnalysis(TRACES / COUNTERS).get_dram_kernels(), **changes}
    return ConsoleRenderer().dram_kernels(types.SimpleNamespace(get_dram_kernels=lambda: d))


def test_dram_section_not_estimated_only_when_the_fit_was_tried():
    """No estimate: one line with the reason when the fit was tried and stopped by its
    work limit, nothing when the trace lacked what the fit needs."""
    none = {"source": "none", "reason": "records overlap too much to deconvolve: 3e+09 pairs"}
    assert dram_lines(**none, work_limit=2e8) == [
        "DRAM per kernel: not estimated (records overlap too much to deconvolve: 3e+09 pairs)"]
    assert dram_lines(**none) == []


def test_dram_section_counter_pass_line_with_missing_capture_fields():
    """A counter-pass block missing its fields prints '?' for each (and 'counter pass' for
    its source), not 'None'."""
    assert dram_lines(counter_pass={})[1] == (
        "  counter pass, cache control ?, on ? untimed step(s) (?) after the traced ones; interval: min..max over "
        "steps (one pass each); writes count when they reach DRAM")


def test_dram_section_without_an_achievable_bandwidth():
    """No achievable bandwidth: the class table has no 'of ... GB/s' and no inefficiency
    columns (not blanks filled with anything)."""
    lines = dram_lines(achievable_bytes_per_s=None)
    assert lines[2] == "  per step, by class     read GB [over steps ]     write GB   time ms    GB/s"
    assert lines[3] == "  eager-st gemm           14.147 [ 14.147, 14.147]    0.518     5.888    2491  "


def test_dram_section_pm_deconvolution_fit_line():
    """The PM deconvolution's fit: clock offset and write lag in us (2 decimals, signed),
    the shortest group span in us, r2 of both fits and the bootstrap's resample count."""
    lines = dram_lines(source="pm deconvolution", read_offset_ns=-12_345, write_offset_ns=-3_345,
                       min_span_ns=100_000, read_r2=0.9876, write_r2=0.9, n_boot=200)
    assert lines[1] == ("  clock offset -12.35 us (PM - kernel), write lag +9.00 us more; groups span >= 100.0 us; "
                        "r2 0.988 (reads) 0.900 (writes); 200-resample step bootstrap, 95% intervals")


def test_top_kernel_names_cut_to_64_characters():
    """A kernel name past 64 characters is cut at the front to 64 in the top-kernels table."""
    class Top:
        def __init__(self):
            self._a = CachedAnalysis(TRACES / SYNTHETIC)

        def __getattr__(self, attr):
            return getattr(self._a, attr)

        def get_top_kernels(self, n):
            t = self._a.get_top_kernels(n)
            return {**t, "name": ["K" * 75] + list(t["name"][1:])}
    row = ConsoleRenderer().top_kernels(Top())[1]
    assert row.startswith("  …" + "K" * 63 + "   ")
