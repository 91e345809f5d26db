"""Tests that pin the A/B statistics (``analysis.results.ab``) where the mutation run found
them loose (issue 31): the arguments of the bootstrap reach it (seed, level, resample
count), small and one-sided-constant samples still get an interval, and the sensitivity
search treats touching intervals as overlapping (closed intervals, as the verdict does).
The expectations are properties or hand-built step functions, not a second call of the
same scipy routine."""
from __future__ import annotations

import numpy as np

from stepscope.analysis.results import ab as AB

RNG = np.random.default_rng(12345)
#: Continuous values, enough of them that the percentiles of resampled medians (each one
#: of the sample's values) move with the seed and the resample count.
V = RNG.normal(10.0, 1.0, 401)
B, A = RNG.normal(20.0, 2.0, 301), RNG.normal(9.0, 1.0, 301)


def test_bootstrap_is_reproducible_and_seeded_by_default_with_zero():
    """The same call twice gives the same interval (the resamples are seeded), the default
    seed is 0 (the A/B summary's), and another seed gives another interval."""
    for f, args in ((AB.bootstrap_ci, (V,)), (AB.ratio_of_means_ci, (B, A)), (AB.ratio_of_medians_ci, (B, A))):
        assert f(*args) == f(*args) == f(*args, seed=0), f.__name__
        assert f(*args, seed=1) != f(*args, seed=0), f.__name__


def test_the_level_and_the_resample_count_reach_the_bootstrap():
    """A 50% interval lies strictly inside the 95% one; another resample count, another
    interval."""
    for f, args in ((AB.bootstrap_ci, (V,)), (AB.ratio_of_means_ci, (B, A)), (AB.ratio_of_medians_ci, (B, A))):
        lo95, hi95 = f(*args)
        lo50, hi50 = f(*args, level=0.5)
        assert lo95 < lo50 < hi50 < hi95, f.__name__
        assert f(*args, n_resamples=500) != f(*args), f.__name__


def test_ratio_of_medians_intervals_for_small_and_one_sided_constant_samples():
    """Two steps per arm already have an interval (the medians of the resamples vary); a
    constant baseline with a varying arm, or a varying baseline whose values after the
    first agree, still has one; both arms constant, or an arm of one step, give the point
    ratio."""
    lo, hi = AB.ratio_of_medians_ci([1.0, 2.0], [1.0, 1.0])
    assert (lo, hi) == (1.0, 2.0)
    lo, hi = AB.ratio_of_medians_ci([1.0, 2.0, 3.0], [1.0, 2.0])
    assert lo < hi
    lo, hi = AB.ratio_of_medians_ci([6.0, 6.0, 6.0, 6.0], [1.0, 2.0, 3.0, 2.0])
    assert lo < 3.0 < hi
    lo, hi = AB.ratio_of_medians_ci([1.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0])
    assert lo < 2.0 and hi == 2.0
    lo, hi = AB.ratio_of_medians_ci([6.0, 6.0, 6.0, 6.0], [1.0, 2.0, 2.0, 2.0])
    assert lo == 3.0 and hi > 3.0
    assert AB.ratio_of_medians_ci([1.0, 2.0, 3.0], [2.0]) == (1.0, 1.0)      # one step: the point ratio
    assert AB.ratio_of_medians_ci([6.0, 6.0], [2.0, 2.0]) == (3.0, 3.0)


def _step(switch_ns, before, after):
    """A prediction interval that is ``before`` for gaps below ``switch_ns`` and ``after``
    from there on (the prediction falls as the gap grows)."""
    return lambda g: before if g < switch_ns else after


def test_sensitivity_counts_touching_intervals_as_overlapping():
    """Closed intervals: a prediction whose low end equals the measured high end already
    explains (from gap 0); one whose high end equals the measured low end still does (to
    the search limit)."""
    assert AB.explained_range(_step(500.0, (2.0, 2.5), (1.5, 1.8)), (1.0, 2.0)) == [0.0, 1e6]
    assert AB.explained_range(_step(500.0, (1.5, 1.8), (0.5, 1.0)), (1.0, 2.0)) == [0.0, 1e6]


def test_sensitivity_ends_at_the_switch_points():
    """Too high below 300 ns, inside from there, too low from 700 ns: explained for
    [300, 699.9] to the bisection's 0.1 ns."""
    def pred(g):
        return (3.0, 3.5) if g < 300 else (1.2, 1.5) if g < 700 else (0.2, 0.5)
    lo, hi = AB.explained_range(pred, (1.0, 2.0))
    assert abs(lo - 300.0) <= 0.1 and abs(hi - 699.9) <= 0.1 + 1e-9


def test_a_prediction_that_jumps_from_too_high_to_too_low_explains_no_gap():
    """At 500 ns the prediction goes from above the measured interval to below it: no gap
    gives an overlap, so there is no range (not an empty range [x, x - 0.1])."""
    assert AB.explained_range(_step(500.0, (3.0, 3.5), (0.5, 0.8)), (1.0, 2.0)) is None


def test_the_search_limit_is_one_ms_unless_given():
    inside = _step(5e6, (1.2, 1.5), (1.2, 1.5))
    assert AB.explained_range(inside, (1.0, 2.0)) == [0.0, 1e6]
    assert AB.explained_range(inside, (1.0, 2.0), max_gap_ns=2e3) == [0.0, 2e3]
    base, fixed, k = np.array([20.0, 22.0, 25.0, 21.0]), np.full(4, 9e6), np.full(4, 1000.0)
    assert AB.explained_gap_range(base, fixed, k, (1e-3, 100.0), max_gap_ns=5e3) == [0.0, 5e3]


def test_node_gap_draws_are_seeded_by_default():
    g = [300.0, 500.0, 900.0]
    np.testing.assert_array_equal(AB.gap_draws(g), AB.gap_draws(g, seed=0))
    assert not np.array_equal(AB.gap_draws(g, seed=0), AB.gap_draws(g, seed=1))
    base, fixed, k = np.array([20.0, 22.0, 25.0, 21.0]), np.full(4, 9e6), np.full(4, 1000.0)
    assert AB.prediction_ci(base, fixed, k, g) == AB.prediction_ci(base, fixed, k, g, seed=0)


def test_prediction_interval_honours_the_resample_count_and_its_default_seed():
    """The node-gap draws follow the session resamples in count (500 here, not the default
    10,000), and the default seed is 0; with continuous session data another seed moves
    the interval."""
    rng = np.random.default_rng(7)
    base, fixed, k = rng.normal(20.0, 2.0, 41), rng.normal(9e6, 3e5, 41), np.full(41, 1000.0)
    gaps = list(rng.uniform(300.0, 900.0, 20))
    lo, hi = AB.prediction_ci(base, fixed, k, gaps, n_resamples=500)
    assert lo < hi
    assert AB.prediction_ci(base, fixed, k, gaps) == AB.prediction_ci(base, fixed, k, gaps, seed=0)
    assert AB.prediction_ci(base, fixed, k, gaps, seed=1) != AB.prediction_ci(base, fixed, k, gaps, seed=0)
