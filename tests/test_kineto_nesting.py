"""Host spans of a Kineto trace nest per thread by containment (kineto.host_table). The
vectorised nesting (``_nest``) must give the stack walk's answer (``_nest_stack``) on any
spans: on spans that nest it answers without the stack, on spans that overlap without
nesting it hands over to the stack. And microseconds written with three decimals convert
to the exact integer nanoseconds they were written from (``_us_to_ns``)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepscope.analysis.trace import kineto


def _order(s, e, t):
    return np.lexsort((-e, s, t))


def _nested(draw, lo: int, hi: int, depth: int, out: list, tid: int):
    """Spans inside [lo, hi) that nest: siblings side by side (touching allowed), each
    with children inside it; empty and repeated spans included."""
    x = lo
    for _ in range(draw(st.integers(0, 3 if depth < 4 else 0))):
        if x > hi:
            break
        a = draw(st.integers(x, hi))
        b = draw(st.integers(a, hi))
        for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):     # the same span twice: one holds the other
            out.append((a, b, tid))
        _nested(draw, a, b, depth + 1, out, tid)
        x = b


@st.composite
def nested_spans(draw):
    out: list = []
    for tid in draw(st.lists(st.sampled_from([7, 8, 2**40 + 7]), min_size=1, max_size=3, unique=True)):
        _nested(draw, 0, draw(st.integers(0, 60)), 0, out, tid)
    draw(st.randoms()).shuffle(out)
    a = np.array(out, np.int64).reshape(-1, 3)
    return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy()


@settings(max_examples=300, deadline=None)
@given(nested_spans())
def test_nesting_spans_are_nested_without_the_stack(spans):
    s, e, t = spans
    o = _order(s, e, t)
    want = kineto._nest_stack(s, e, t, o)
    real = kineto._nest_stack
    kineto._nest_stack = None     # the fast path must not need it
    try:
        got = kineto._nest(s, e, t, o) if len(s) else want
    finally:
        kineto._nest_stack = real
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(-3, 10), st.integers(0, 1)), max_size=40))
def test_any_spans_get_the_stacks_answer(rows):
    # negative durations included: the importer refuses them, the nesting must not rely on that
    a = np.array(rows, np.int64).reshape(-1, 3)
    s, e, t = a[:, 0], a[:, 0] + a[:, 1], a[:, 2]
    o = _order(s, e, t)
    want, got = kineto._nest_stack(s, e, t, o), kineto._nest(s, e, t, o)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_overlapping_spans_hand_over_to_the_stack():
    # [0,10) and [5,15) overlap without nesting; the stack makes the second a child of the first
    s, e, t = np.array([0, 5, 12]), np.array([10, 15, 13]), np.zeros(3, np.int64)
    depth, parent = kineto._nest(s, e, t, _order(s, e, t))
    assert depth.tolist() == [0, 1, 2] and parent.tolist() == [-1, 0, 1]


def test_spans_nest_by_hand():
    # thread 1: A [0,10) holds B [2,5) and C [5,9) (touching), C holds the empty D [6,6);
    # thread 2: E [3,4) alone although it lies inside A's time
    s = np.array([0, 2, 5, 6, 3])
    e = np.array([10, 5, 9, 6, 4])
    t = np.array([1, 1, 1, 1, 2])
    depth, parent = kineto._nest(s, e, t, _order(s, e, t))
    assert depth.tolist() == [0, 1, 1, 2, 0] and parent.tolist() == [-1, 0, 0, 2, -1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(2**53) // 1000 + 1, 2**53 // 1000 - 1), min_size=1, max_size=50))
def test_three_decimal_microseconds_are_exact_nanoseconds(ns):
    us = np.array([float(f"{'-' if n < 0 else ''}{abs(n) // 1000}.{abs(n) % 1000:03d}") for n in ns])
    assert kineto._us_to_ns(us).tolist() == ns


def test_more_decimals_than_nanoseconds_are_refused():
    assert kineto._us_to_ns(np.array([1.5, 2.0001])) is None
    assert kineto._us_to_ns(np.array([0.001, 1.999])).tolist() == [1, 1999]


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single(n):
    s = np.arange(n, dtype=np.int64)
    depth, parent = kineto._nest(s, s + 1, s, _order(s, s + 1, s))
    assert depth.tolist() == [0] * n and parent.tolist() == [-1] * n
