"""Tests that pin step detection (``analysis.trace.detect``, issue 27) on constructed launch
sequences whose steps are known by construction (tests/detect_build.py: every launch call,
GPU record and host wait is placed by hand), so each expected step, label and count below
is the construction's, not the code's. Each test names the behaviour it pins; together they
were checked against the surviving mutants of ``benchmarks/mutation.py``."""
from __future__ import annotations

import numpy as np
import pytest
from detect_build import CALL_NS, QUEUE_NS, T0, build, decode_step, prefill

from stepscope.analysis.trace import Trace, detect, table_from_rows
from stepscope.analysis.trace.model import HostSpanKind

L_DEC = 8       # launches of decode_step(): fill, rmsnorm, 4 gemv, attn_decode, DTOH
L_PRE = 11      # launches of prefill(): embed, 8 gemm_mm, flash_prefill, DTOH


def starts(out, idx):
    return [out[i][0] for i in idx]


def steps_of(det):
    return {k: [int(x) for x in v] for k, v in det.steps.items() if k != "mode"}


# -- the launch sequence ------------------------------------------------------------
def test_launches_groups_records_by_call_with_tokens_and_times():
    """One row per launch call in call order: a kernel (its name id), a device-to-host copy
    (-1 - kind), a host-to-device copy, a memset (-100), a CUDA-graph launch of 3 nodes (one
    launch: -1000 - graph id, 3 records, busy summed, first/last GPU times of its nodes), and
    two kernels whose calls were not recorded (each its own launch, at its GPU start)."""
    seq = [("k0", 1_000, 0), ("DTOH", 2_000, 100), ("HTOD", 3_000, 100), ("SET", 500, 100),
           (("GRAPH", 5, 3), 700, 100), (("ORPHAN", "lost"), 900, 100), (("ORPHAN", "lost"), 900, 100)]
    t, out = build(seq)
    la = detect.launches(t)
    k0, lost = t.strings.index("k0"), t.strings.index("lost")
    assert la.token.tolist() == [k0, -3, -2, -100, -1005, lost, lost]
    assert la.start_ns.tolist() == [o[0] for o in out]
    assert la.records.tolist() == [1, 1, 1, 1, 3, 1, 1]
    assert la.busy_ns.tolist() == [1_000, 2_000, 3_000, 500, 2_100, 900, 900]
    assert la.first_gpu_ns.tolist() == [o[1] for o in out]
    assert la.last_gpu_ns.tolist() == [o[2] for o in out]
    assert la.first_gpu_ns[4] + 3 * 700 + 2 * 300 == la.last_gpu_ns[4]
    assert la.names == {k0: "k0", -3: "memcpy (kind 2)", -2: "memcpy (kind 1)", -100: "memset",
                        -1005: "CUDA-graph replay (graph 5)", lost: "lost"}
    # the first launch call starts at T0; its kernel 200 ns after the call's 500 ns
    assert out[0][:2] == (T0, T0 + CALL_NS + QUEUE_NS)


def test_launches_without_copies_still_reads_memsets():
    t, out = build([("k0", 1_000, 0), ("SET", 500, 100), ("k0", 1_000, 100)])
    la = detect.launches(t)
    assert la.token.tolist() == [t.strings.index("k0"), -100, t.strings.index("k0")]
    assert la.start_ns.tolist() == [o[0] for o in out]


def test_launches_of_no_gpu_work_are_empty_int_arrays():
    la = detect.launches(Trace())
    for f in ("token", "start_ns", "records", "busy_ns", "first_gpu_ns", "last_gpu_ns"):
        v = getattr(la, f)
        assert v.dtype == np.int64 and len(v) == 0
    assert la.names == {}


def test_token_names():
    t = Trace()
    k = t.intern("gemv")
    assert detect._token_name(t, k) == "gemv"
    assert detect._token_name(t, 0) == t.strings[0]
    assert detect._token_name(t, len(t.strings)) == f"kernel {len(t.strings)}"
    assert detect._token_name(t, -1000) == "CUDA-graph replay (graph 0)"
    assert detect._token_name(t, -1001) == "CUDA-graph replay (graph 1)"
    assert detect._token_name(t, -100) == "memset"
    assert detect._token_name(t, -1) == "memcpy (kind 0)"
    assert detect._token_name(t, -3) == "memcpy (kind 2)"
    assert detect._token_name(t, -101) == "memcpy (kind 100)"


# -- rule 2 on constructed sequences ---------------------------------------------------
def test_prefill_then_decode_steps_each_from_its_first_launch_call():
    """A prefill (long matrix-matrix GEMMs, 11 launches) and 6 decode steps of 8 launches,
    each ending with its token copied home: 6 steps, each from its first launch call to
    1 ns before the next step's; the last to its last GPU record."""
    t, out = build(prefill() + decode_step() * 6)
    det = detect.detect(t)
    assert (det.rule, det.anchor) == (detect.RULE_PERIOD, "memcpy (kind 2)")
    first = [L_PRE + i * L_DEC for i in range(6)]
    assert steps_of(det) == {"index": list(range(6)), "start_ns": starts(out, first),
                             "end_ns": [s - 1 for s in starts(out, first[1:])] + [out[-1][2]]}
    assert [t.strings[m] for m in det.steps["mode"]] == ["decode"] * 6
    dec_busy = 1_000 + 2_000 + 4 * 10_000 + 3_000 + 1_000
    assert det.segments == [("prefill", 0, L_PRE, 2_000 + 9 * 1_000_000 + 1_000)] + [
        ("decode", f, L_DEC, dec_busy) for f in first]
    assert det.summary() == {
        "rule": detect.RULE_PERIOD, "anchor": "memcpy (kind 2)", "message": "", "decode_steps": 6,
        "steady_steps": 6, "warmup_steps": 0, "prefill": 1,
        "left_out": [{"label": "prefill", "launches": L_PRE, "busy_ns": 9_003_000}], "launches_per_step": [8, 8, 8]}


def test_a_prefill_before_the_first_cut_then_an_irregular_step_is_prefill_and_warm_up():
    """The bug of issue 27's review: the anchor (``fill``) first occurs after the prefill, so
    the prefill is the head before the first cut; the first step after it launches 3 more
    kernels (torch.compile's first call). Prefill, then warm-up (a decode step), never 'head'."""
    seq = (prefill(dtoh=False) + decode_step(dtoh=False) + [("compile_a", 1_000, 100)] * 3
           + decode_step(dtoh=False) * 6)
    t, out = build(seq)
    det = detect.detect(t)
    assert det.anchor == "fill"
    assert [s[:3] for s in det.segments] == [("prefill", 0, 10), ("warm-up", 10, 10)] + [
        ("decode", 20 + 7 * i, 7) for i in range(6)]
    s = det.summary()
    assert (s["decode_steps"], s["steady_steps"], s["warmup_steps"], s["prefill"]) == (7, 6, 1, 1)
    assert [x["label"] for x in s["left_out"]] == ["prefill", "warm-up"]
    assert [t.strings[m] for m in det.steps["mode"]] == ["warm-up"] + ["decode"] * 6
    assert steps_of(det)["start_ns"] == starts(out, [10] + [20 + 7 * i for i in range(6)])


def test_a_second_request_keeps_its_last_step_and_its_prefill_apart():
    """Two requests (5 decode steps, a prefill, 5 decode steps): 10 steps and one prefill of
    exactly its own 11 launches; before the fix the prefill swallowed the step before it."""
    t, out = build(decode_step() * 5 + prefill() + decode_step() * 5)
    det = detect.detect(t)
    first = [i * L_DEC for i in range(5)] + [5 * L_DEC + L_PRE + i * L_DEC for i in range(5)]
    assert [s[:3] for s in det.segments] == [("decode", f, L_DEC) for f in first[:5]] + [
        ("prefill", 5 * L_DEC, L_PRE)] + [("decode", f, L_DEC) for f in first[5:]]
    assert steps_of(det)["start_ns"] == starts(out, first)
    assert det.steps["end_ns"][4] == out[5 * L_DEC][0] - 1     # the step before the prefill ends at its call


def test_tail_after_the_steps_is_left_out():
    """6 steps, then 3 launches of one-off work (saving, two kernels seen once and one seen
    in every step): a tail, not a step, and not 'one forward' (nothing once before the steps)."""
    tail = [("save_a", 5_000, 50_000), ("save_b", 5_000, 100), ("rmsnorm", 2_000, 100)]
    t, out = build(decode_step() * 6 + tail)
    det = detect.detect(t)
    assert det.rule == detect.RULE_PERIOD
    assert det.segments[-1] == ("tail", 6 * L_DEC, 3, 12_000)
    assert det.summary()["left_out"] == [{"label": "tail", "launches": 3, "busy_ns": 12_000}]
    assert len(det.steps["index"]) == 6 and det.steps["end_ns"][-1] == out[6 * L_DEC][0] - 1


@pytest.mark.parametrize("before, after, whole", [(1, 2, True), (0, 2, False), (1, 1, False), (2, 3, True)])
def test_one_forward_needs_work_seen_once_before_and_at_least_twice_after(before, after, whole):
    """Layers repeating inside one forward: once-only work before them (an embedding) and at
    least two once-only launches after (the output projection, sampling) make the whole trace
    one step; with less, the repeats are steps."""
    head = [(f"embed{i}", 3_000, 50_000 if i == 0 else 100) for i in range(before)]
    tail = [(f"out{i}", 3_000, 100) for i in range(after)]
    t, out = build(head + decode_step() * 6 + tail)
    det = detect.detect(t)
    if whole:
        assert det.rule == detect.RULE_WHOLE
        assert steps_of(det) == {"index": [0], "start_ns": [T0 + (50_000 if before else 0)],
                                 "end_ns": [max(o[2] for o in out)]}
        assert det.message == "no repetition across forwards: the whole trace is one step"
        assert det.segments == [("decode", 0, len(out), sum(b for _, b, _ in head + decode_step() * 6 + tail))]
    else:
        assert det.rule == detect.RULE_PERIOD and len(det.steps["index"]) == 6


def test_nothing_repeating_is_one_step_from_the_first_call():
    t, out = build([(f"k{i}", 1_000, 100) for i in range(5)])
    det = detect.detect(t)
    assert det.rule == detect.RULE_WHOLE and steps_of(det) == {
        "index": [0], "start_ns": [out[0][0]], "end_ns": [out[-1][2]]}


def test_graph_replays_are_steps_and_apply_records_the_launch_calls():
    """A prefill, then 6 CUDA-graph replays of 20 nodes each with the token copied home: the
    graph rule, a step per replay; apply() writes the steps, assigns the records and says how
    many graph launches ran inside steps and how long their calls took (500 ns each)."""
    step = [(("GRAPH", 3, 20), 2_000, 50_000), ("DTOH", 1_000, 100)]
    t, out = build(prefill() + step * 6)
    det = detect.detect(t)
    assert det.rule == detect.RULE_GRAPH
    assert [s[:3] for s in det.segments] == [("prefill", 0, L_PRE)] + [("decode", L_PRE + 2 * i, 2) for i in range(6)]
    assert det.segments[1][3] == 20 * 2_000 + 1_000
    assert steps_of(det)["start_ns"] == starts(out, [L_PRE + 2 * i for i in range(6)])
    detect.apply(t, det)
    st = t["steps"]
    assert st["index"].tolist() == list(range(6)) and st["sm_clock_mhz"].tolist() == [-1] * 6
    k = t["kernels"]
    graph_step = k["step"][k["graph_id"] == 3]
    assert np.bincount(graph_step).tolist() == [20] * 6
    assert (k["step"][k["graph_id"] == 0] == -1).all()          # the prefill is outside every step
    sd = t.meta["step_detection"]
    assert sd["graph_launch_calls"] == 6 and sd["graph_launch_call_ns_median"] == CALL_NS
    assert {k: sd[k] for k in ("rule", "decode_steps", "prefill")} == {"rule": detect.RULE_GRAPH, "decode_steps": 6,
                                                                     "prefill": 1}
    assert "kernels_without_step" in t.meta["capture"] or t.meta["capture"]


def test_graph_launch_calls_outside_steps_do_not_count():
    t, out = build([(("GRAPH", 3, 4), 2_000, 0), ("k", 1_000, 100)])
    det = detect.Detection("x", {"index": [0], "start_ns": [out[1][0]], "end_ns": [out[1][2]],
                                 "mode": [t.intern("decode")]}, [("decode", 1, 1, 1_000)])
    detect.apply(t, det)
    assert detect.graph_launch_calls(t) == {"graph_launch_calls": 0, "graph_launch_call_ns_median": None}


def test_no_gpu_work_says_so():
    det = detect.detect(Trace())
    assert (det.rule, det.steps, det.message) == ("none", {}, "the trace holds no GPU work, so it has no steps")
    s = det.summary()
    assert (s["decode_steps"], s["launches_per_step"], s["left_out"]) == (0, [], [])


# -- rule 1: markers --------------------------------------------------------------------
def _with_spans(spans):
    t, out = build(decode_step() * 3)
    t.tables["host_spans"] = table_from_rows("host_spans", {
        "start_ns": [s[0] for s in spans], "end_ns": [s[1] for s in spans], "name": [t.intern(s[2]) for s in spans],
        "kind": [s[3] for s in spans], "depth": [0] * len(spans), "parent": [-1] * len(spans),
        "thread_id": [1] * len(spans)})
    return t, out


def test_marker_spans_are_the_steps_in_time_order():
    """Every span named NAME (or 'domain: NAME', as NVTX ranges import) is one step, sorted
    by start, of any kind; spans of other names do not count."""
    spans = [(3_000_000, 3_500_000, "decode", HostSpanKind.USER), (1_000_000, 1_400_000, "nvtx: decode", HostSpanKind.USER),
             (2_000_000, 2_600_000, "decode", HostSpanKind.OPERATOR), (1_500_000, 1_600_000, "prefill", HostSpanKind.USER),
             (1_700_000, 1_800_000, "decoder", HostSpanKind.USER)]
    t, _ = _with_spans(spans)
    det = detect.detect(t, marker="decode")
    assert det.rule == f"{detect.RULE_MARKER} 'decode'"
    assert steps_of(det) == {"index": [0, 1, 2], "start_ns": [1_000_000, 2_000_000, 3_000_000],
                             "end_ns": [1_400_000, 2_600_000, 3_500_000]}
    assert [t.strings[m] for m in det.steps["mode"]] == ["decode"] * 3
    assert det.summary()["decode_steps"] == 3 and det.summary()["left_out"] == []


def test_module_forwards_end_the_steps():
    """--step-module: each forward of the module (module spans only) ends a step; the first
    step starts at the first launch call, each next one where the previous ended."""
    spans = [(1_300_000, 1_310_000, "lm_head", HostSpanKind.MODULE), (1_100_000, 1_110_000, "lm_head", HostSpanKind.MODULE),
             (1_200_000, 1_210_000, "lm_head", HostSpanKind.OPERATOR)]
    t, out = _with_spans(spans)
    det = detect.detect(t, module="lm_head")
    assert det.rule == f"{detect.RULE_MODULE} 'lm_head'"
    assert steps_of(det) == {"index": [0, 1], "start_ns": [out[0][0], 1_110_000], "end_ns": [1_110_000, 1_310_000]}


@pytest.mark.parametrize("kw, msg", [({"marker": "step"}, "no span named 'step' in the trace"),
                                     ({"module": "lm_head"}, "no forward of module 'lm_head' in the trace")])
def test_missing_marker_or_module_is_one_sentence(kw, msg):
    t, _ = _with_spans([(1_000, 2_000, "lm_head", HostSpanKind.USER)])
    det = detect.detect(t, **kw)
    assert det.steps == {} and det.message == msg


def test_first_launch_ns():
    t, out = build([("a", 1_000, 0), ("b", 1_000, 100)])
    assert detect._first_launch_ns(t) == out[0][0] == T0
    assert detect._first_launch_ns(Trace()) == 0


# -- the summary --------------------------------------------------------------------
def test_summary_counts_labels_and_launches_per_step():
    det = detect.Detection("r", {}, [("prefill", 0, 30, 900), ("warm-up", 30, 12, 50), ("decode", 42, 9, 40),
                                     ("decode", 51, 11, 41), ("decode", 62, 10, 42), ("decode", 72, 12, 43),
                                     ("tail", 84, 3, 7)], anchor="a", message="m")
    assert det.summary() == {
        "rule": "r", "anchor": "a", "message": "m", "decode_steps": 5, "steady_steps": 4, "warmup_steps": 1,
        "prefill": 1, "left_out": [{"label": "prefill", "launches": 30, "busy_ns": 900},
                                   {"label": "warm-up", "launches": 12, "busy_ns": 50},
                                   {"label": "tail", "launches": 3, "busy_ns": 7}],
        "launches_per_step": [9, 10, 12]}


# -- the proposals --------------------------------------------------------------------
def _prop(length, pos, regular=None, token=1, coverage=1.0):
    pos = np.asarray(pos)
    reg = np.ones(len(pos) - 1, bool) if regular is None else np.asarray(regular)
    return detect._Proposal(token, pos, float(length), reg, coverage)


def test_crossings_regular():
    fine = _prop(4, range(0, 84, 4))                            # 21 positions, 20 regular segments
    assert detect._crossings_regular(fine, _prop(8, range(1, 80, 8)))          # ratio 2, straddling
    assert not detect._crossings_regular(fine, _prop(8, range(0, 80, 8)))      # cuts on fine's cuts
    assert not detect._crossings_regular(fine, _prop(5.6, [1, 7]))             # ratio 1.4
    assert not detect._crossings_regular(fine, _prop(10.4, [1, 11]))           # ratio 2.6: not whole
    assert detect._crossings_regular(_prop(25, range(0, 500, 25)), _prop(52, [1, 53]))   # 2.08: within 5%
    assert detect._crossings_regular(_prop(4, [0, 4, 8]), _prop(8, [1]))       # the first fine segment counts
    assert not detect._crossings_regular(_prop(4, [4, 8, 12]), _prop(8, [1, 100]))   # outside fine's span
    reg = np.ones(20, bool)
    reg[2] = False                                              # 1 of the 10 straddled segments irregular
    assert detect._crossings_regular(_prop(4, range(0, 84, 4), reg), _prop(8, range(1, 80, 8)))
    reg[4] = False                                              # 2 of 10: below 90%
    assert not detect._crossings_regular(_prop(4, range(0, 84, 4), reg), _prop(8, range(1, 80, 8)))


def test_choose_prefers_the_token_copy_then_the_coarsest_then_the_most_frequent():
    a = _prop(8, range(0, 80, 8), token=5, coverage=1.0)
    b = _prop(16, range(0, 80, 16), token=6, coverage=0.85)
    dtoh = _prop(8, range(7, 80, 8), token=detect.DTOH_TOKEN, coverage=0.8)
    assert detect._choose([]) is None
    assert detect._choose([a, b, dtoh]) is dtoh                 # at 80% of the best: eligible, and wins
    assert detect._choose([a, _prop(8, range(7, 80, 8), token=detect.DTOH_TOKEN, coverage=0.79)]) is a
    assert detect._choose([a, b]) is b                          # the coarsest eligible
    assert detect._choose([a, _prop(16, range(0, 80, 16), token=6, coverage=0.79)]) is a
    c = _prop(15.8, range(0, 90, 16), token=7, coverage=0.9)    # within 2% of the coarsest: as coarse, more frequent
    assert detect._choose([b, c]) is c
    d = _prop(15.6, range(0, 90, 16), token=7, coverage=0.9)    # 2.5% finer: not as coarse
    assert detect._choose([b, d]) is b


def test_choose_takes_a_finer_period_that_splits_the_coarse_one_evenly():
    coarse = _prop(16, range(1, 160, 16), token=6)
    fine = _prop(8, range(0, 168, 8), token=5)
    assert detect._choose([coarse, fine]) is fine
    near = _prop(15.7, range(0, 168, 16), token=5)              # 1.9% finer: as coarse (and more frequent)
    assert detect._choose([coarse, near]) is near


def test_propose_regular_segments_and_coverage():
    tok = np.array([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 9, 9, 1])
    w = np.ones(len(tok))
    props = {p.token: p for p in detect._propose(tok, w)}
    assert set(props) == {1, 2, 3}                               # 9 is seen twice only
    p = props[1]
    assert p.pos.tolist() == [0, 3, 6, 9, 12] and p.length == 3.0 and p.regular.tolist() == [True] * 4
    assert p.coverage == 1.0
    q = props[2]
    assert q.pos.tolist() == [1, 4, 7] and q.coverage == pytest.approx(9 / 13)
    w2 = np.r_[np.ones(9), [10.0, 1, 1, 1]]                      # a heavy record outside 2's segments
    assert {p.token: p for p in detect._propose(tok, w2)}[2].coverage == pytest.approx(9 / 22)
    pos = np.cumsum([0, 100, 102, 100, 100, 103])               # 2% of the median 100 is 2
    tok3 = np.zeros(pos[-1] + 1, int)
    tok3[pos] = 1
    tol = [p for p in detect._propose(tok3, np.ones(len(tok3))) if p.token == 1]
    assert tol[0].length == 100 and tol[0].regular.tolist() == [True, True, True, True, False]


def test_cuts_go_where_the_host_waited_longest():
    chosen = _prop(4, [3, 7, 11, 15])
    gap = np.array([0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 9, 0], float)   # the host waits before 2, 6, 10, 14
    assert detect._cuts(chosen, gap).tolist() == [2, 6, 10, 14]
    gap0 = np.array([9, 0, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0], float)
    assert detect._cuts(_prop(4, [0, 4, 8, 12]), gap0).tolist() == [0, 4, 8, 12]


# -- labels: head, other, tail -----------------------------------------------------------
def _nd(extra=(), wait=50_000):
    """A decode step without a token copy (the anchor is its first kernel, ``fill``)."""
    return decode_step(dtoh=False, extra=extra, wait=wait)


def test_a_head_that_is_not_a_prefill_is_head_and_takes_the_irregular_steps_before_the_first():
    """One set-up launch before the first step is the head; an irregular first step (3 more
    kernels) with no prefill before it is head too (merged), never warm-up."""
    setup = [("setup", 1_000, 0)]
    t, out = build(setup + _nd() * 6)
    det = detect.detect(t)
    assert det.segments[0] == ("head", 0, 1, 1_000) and [s[0] for s in det.segments[1:]] == ["decode"] * 6
    t, out = build(setup + _nd() + [("compile_a", 1_000, 100)] * 3 + _nd() * 6)
    det = detect.detect(t)
    assert det.segments[0] == ("head", 0, 11, 1_000 + 1_000 + 2_000 + 40_000 + 3_000 + 3_000)
    assert [s[0] for s in det.segments[1:]] == ["decode"] * 6 and det.summary()["warmup_steps"] == 0


def test_an_irregular_step_between_steps_is_other_and_one_after_them_is_tail():
    odd = _nd(extra=[("compile_a", 1_000, 100)] * 3)             # 10 launches, not a step's kinds
    t, out = build(_nd() * 3 + odd + _nd() * 3)
    det = detect.detect(t)
    assert [s[:3] for s in det.segments] == [("decode", 0, 7), ("decode", 7, 7), ("decode", 14, 7), ("other", 21, 10),
                                             ("decode", 31, 7), ("decode", 38, 7), ("decode", 45, 7)]
    assert len(det.steps["index"]) == 6 and det.summary()["left_out"][0]["label"] == "other"
    tail = [("fill", 1_000, 50_000), ("c", 1_000, 100), ("c", 1_000, 100), ("fill", 1_000, 50_000), ("c", 1_000, 100),
            ("c", 1_000, 100), ("attn_decode", 3_000, 100)]
    t, out = build(_nd() * 6 + tail)
    det = detect.detect(t)
    assert det.segments[-1] == ("tail", 42, 7, 9_000) and [s[0] for s in det.segments[:-1]] == ["decode"] * 6


@pytest.mark.parametrize("where", ["last", "first"])
def test_once_only_work_inside_the_steps_does_not_make_one_forward(where):
    """A kernel seen once inside the last (first) step is inside the steps: with one
    once-only launch after them (before them: none), the trace is still steps."""
    special = [("rmsnorm", 2_000, 100)] + [("gemv", 10_000, 100)] * 3 + [("special", 10_000, 100)]
    odd = [("fill", 1_000, 50_000)] + special + [("attn_decode", 3_000, 100)]
    if where == "last":
        seq = [("embed", 3_000, 0)] + _nd() * 5 + odd + [("out0", 3_000, 100)]
    else:
        seq = odd + _nd() * 5 + [("out0", 3_000, 100), ("out1", 3_000, 100)]
    det = detect.detect(build(seq)[0])
    assert det.rule == detect.RULE_PERIOD and len(det.steps["index"]) == 6


def test_cuts_start_where_the_host_waited_at_the_first_anchor():
    gap = np.zeros(16)
    gap[[0, 3, 7, 11]] = 10.0          # waits before 0 (the trace's start) and 3, 7, 11: offset 0 only
    assert detect._cuts(_prop(4, [0, 4, 8, 12]), gap).tolist() == [0, 4, 8, 12]


def _gap_at(pos, offset, n):
    gap = np.zeros(n)
    gap[np.asarray(pos) + offset] = 9.0
    return gap


def test_cuts_tie_to_the_anchor_before_a_long_irregular_stretch_only_past_half_a_step():
    pos = [10, 18, 26, 45, 53, 61]                               # a 19-launch stretch after 2 steps
    half = detect._cuts(_prop(8, pos, [True, True, False, True, True]), _gap_at(pos, -4, 70))
    assert half.tolist() == [6, 14, 22, 41, 49, 57]              # offset -4 is half a step: not tied
    late = detect._cuts(_prop(8, pos, [True, True, False, True, True]), _gap_at(pos, -6, 70))
    assert late.tolist() == [4, 12, 20, 28, 47, 55]              # tied: 26 + 8 - 6
    first = [0, 20, 28, 36]                                      # the stretch first: nothing to tie to
    assert detect._cuts(_prop(8, first, [False, True, True]), _gap_at(first, -6, 40)).tolist() == [0, 14, 22, 30]
    nine = [8, 16, 25, 33, 41]                                   # a regular 9 among 8s is not tied
    assert detect._cuts(_prop(8, nine), _gap_at(nine, -6, 45)).tolist() == [2, 10, 19, 27, 35]


def test_crossings_regular_at_the_last_fine_segment():
    assert detect._crossings_regular(_prop(4, [0, 4, 8]), _prop(8, [5]))


def test_module_rule_counts_only_that_module():
    spans = [(1_100_000, 1_110_000, "lm_head", HostSpanKind.MODULE), (1_150_000, 1_160_000, "mlp", HostSpanKind.MODULE),
             (1_300_000, 1_310_000, "lm_head", HostSpanKind.MODULE)]
    t, out = _with_spans(spans)
    assert steps_of(detect.detect(t, module="lm_head"))["end_ns"] == [1_110_000, 1_310_000]


def test_driver_api_graph_launches_count():
    t, out = build([(("GRAPH", 3, 4), 2_000, 0)])
    t["api"]["name"][:] = t.intern("cuGraphLaunch")
    det = detect.Detection("x", {"index": [0], "start_ns": [out[0][0]], "end_ns": [out[0][2]],
                                 "mode": [t.intern("decode")]}, [("decode", 0, 1, 8_000)])
    detect.apply(t, det)
    assert t.meta["step_detection"]["graph_launch_calls"] == 1
