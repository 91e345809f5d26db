"""Property tests of the interval arithmetic against a brute-force nanosecond grid."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stepscope.analysis.intervals import LEADING, TRAILING, step_intervals

records = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 60), st.integers(0, 2)), max_size=40)


def brute(lo, hi, recs):
    busy = np.zeros(hi - lo, bool)
    for s, e in recs:
        busy[max(s, lo) - lo: max(e, lo) - lo] = True
    return busy


@settings(max_examples=300, deadline=None)
@given(records, st.integers(0, 400), st.integers(0, 2))
def test_busy_union_gaps_and_closure(recs, step_len, n_empty):
    steps = [(0, step_len), (1000, 1000 + step_len // 2)] + [(2000 + 500 * i, 2100 + 500 * i) for i in range(n_empty)]
    s0 = np.array([s for s, _ in steps], np.int64)
    s1 = np.array([e for _, e in steps], np.int64)
    rs, re_, rp = [], [], []
    for start, dur, which in recs:
        which = min(which, 1)
        base = s0[which]
        rs.append(base + start)
        re_.append(base + start + dur)
        rp.append(which)
    rs, re_, rp = (np.array(x, np.int64) for x in (rs, re_, rp))
    iv = step_intervals(s0, s1, rs, re_, rp)
    for i in range(len(steps)):
        mine = [(a, b) for a, b, p in zip(rs, re_, rp) if p == i]
        hi = max([s1[i]] + [b for _, b in mine])
        assert iv.hi_ns[i] == hi
        grid = brute(s0[i], hi, mine)
        # No double counting: overlapping records count once.
        assert iv.busy_ns[i] == grid.sum()
        g = iv.gap_step == i
        # Gaps are never negative or empty, never overlap busy time, and fill the rest.
        assert (iv.gap_ns[g] > 0).all()
        assert iv.gap_ns[g].sum() + iv.busy_ns[i] == hi - s0[i] == iv.step_ns[i]
        for a, b in zip(iv.gap_start_ns[g], iv.gap_end_ns[g]):
            assert not grid[a - s0[i]: b - s0[i]].any()
        if not mine:   # an empty step is one idle gap
            assert iv.busy_ns[i] == 0 and g.sum() == (1 if hi > s0[i] else 0)
        assert (iv.gap_position[g][1:-1] != LEADING).all()
        if g.sum() and mine and max(b for _, b in mine) == hi:
            assert (iv.gap_position[g] != TRAILING).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_back_to_back_records_leave_no_gap(durs):
    ends = np.cumsum(durs)
    starts = np.r_[0, ends[:-1]]
    iv = step_intervals([0], [int(ends[-1])], starts.astype(np.int64), ends.astype(np.int64),
                        np.zeros(len(durs), np.int64))
    assert iv.busy_ns[0] == ends[-1] and len(iv.gap_ns) == 0
