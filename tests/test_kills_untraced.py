"""The untraced-equivalent attribution (analysis/untraced.py) at its edges, on small
hand-computed cases: the launch/other split of the idle, a step with no idle, a 0-ns step,
the protocol's round sizes, and the default seed of the bootstrap."""
import numpy as np

from stepscope.analysis.untraced import METHOD_BUSY, METHOD_IDLE, _parts, _rounds, equivalent


def test_idle_is_split_by_the_launch_and_other_medians():
    """untraced 1000, busy 900 (floor 400): 100 ns of idle split 1:3 by launch 1 / other 3
    (25 / 75); launch 1 and other 0 (their sum exactly 1) give the launch all 100."""
    assert _parts(900, 400, 1, 3, 1000) == (400, 500, 25, 75)
    assert _parts(900, 400, 1, 0, 1000) == (400, 500, 100, 0)
    assert _parts(900, 400, 0, 0, 1000) == (400, 500, 0, 100)
    assert _parts(1100, 400, 5, 5, 1000) == (400, 600, 0, 0)


def test_rounds_split_as_the_protocol_does():
    """7 steps over 3 rounds: 3, 2, 2 (the first n % rounds rounds one more)."""
    assert _rounds(7, 3).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert _rounds(6, 3).tolist() == [0, 0, 1, 1, 2, 2]


def test_busy_equal_to_the_untraced_step_is_the_idle_method_with_no_idle():
    """Traced busy median exactly the untraced median: nothing scaled, no idle left, and
    the method is the idle one (busy is not above the untraced step)."""
    e = equivalent([900, 900, 900], [400] * 3, [50] * 3, [50] * 3, [900, 900, 900])
    assert (e["floor_ms"], e["kernel_inefficiency_ms"], e["launch_overhead_ms"], e["other_idle_ms"]) == \
        (400e-6, 500e-6, 0.0, 0.0)
    assert e["method"] == METHOD_IDLE
    e = equivalent([901, 901, 901], [400] * 3, [50] * 3, [50] * 3, [900, 900, 900])
    assert e["method"] == METHOD_BUSY


def test_a_zero_ns_step_has_a_zero_launch_share():
    e = equivalent([0, 0], [0, 0], [0, 0], [0, 0], [0, 0])
    assert e["launch_share"] == 0.0 and e["launch_share_ci95"] == [0.0, 0.0]


def test_the_bootstrap_seed_defaults_to_0():
    """The interval is reproducible: the default seed is 0 (seed 1 draws another one)."""
    rng = np.random.default_rng(7)
    busy = rng.integers(8_000_000, 9_000_000, 12)
    args = (busy, busy // 2, rng.integers(100_000, 900_000, 12), rng.integers(10_000, 90_000, 12),
            rng.integers(9_500_000, 10_500_000, 30))
    assert equivalent(*args) == equivalent(*args, seed=0)
    assert equivalent(*args)["launch_overhead_ci95_ms"] != equivalent(*args, seed=1)["launch_overhead_ci95_ms"]
