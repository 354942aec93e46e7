"""Invariants of qiflow.spc.xmr over generated series (hypothesis)."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qiflow.spc import XmrResult, xmr
from qiflow.spc.limits import r_mean

SWAP = {
    "special_cause_improvement": "special_cause_concern",
    "special_cause_concern": "special_cause_improvement",
    "common_cause": "common_cause",
}
ICON_SWAP = {
    "common_cause": "common_cause",
    "improvement_high": "concern_high",
    "improvement_low": "concern_low",
    "concern_high": "improvement_high",
    "concern_low": "improvement_low",
}

# Small integers give ties, points on the mean and repeated values; floats give the rest.
integers = st.lists(st.integers(-20, 20), min_size=2, max_size=40)
floats = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=2, max_size=40
)
series = st.one_of(integers, floats)
directions = st.sampled_from(["increase", "decrease"])


def rebases(values: list[float]) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(values) - 1), max_size=3)


def clear_of_the_lines(result: XmrResult, tolerance: float = 1e-7) -> bool:
    """No point within ``tolerance`` (relative) of a line, where rounding could decide."""
    for p in result.points:
        scale = max(1.0, abs(p.value), abs(p.mean))
        for line in (p.mean, p.lpl, p.upl, p.lower_two_sigma, p.upper_two_sigma):
            if not math.isnan(line) and abs(p.value - line) <= tolerance * scale:
                return False
    return True


@given(series, st.booleans(), st.data())
def test_limits_are_symmetric_about_the_mean(
    values: list[float], screen: bool, data: st.DataObject
) -> None:
    result = xmr(values, screen_outliers=screen, rebase=data.draw(rebases(values)))
    for p in result.points:
        if math.isnan(p.upl):
            assert math.isnan(p.lpl)
            continue
        width = max(1.0, abs(p.mean)) * 1e-12
        assert math.isclose(p.upl - p.mean, p.mean - p.lpl, rel_tol=1e-9, abs_tol=width)
        assert math.isclose(
            p.upper_two_sigma - p.mean, p.mean - p.lower_two_sigma, rel_tol=1e-9, abs_tol=width
        )
        assert p.lpl <= p.lower_two_sigma <= p.mean <= p.upper_two_sigma <= p.upl
        assert math.isclose(
            (p.upper_two_sigma - p.mean) * 3, (p.upl - p.mean) * 2, rel_tol=1e-9, abs_tol=width
        )


@given(series, st.one_of(st.none(), st.floats(-1e6, 1e6)), st.data())
def test_reversing_the_direction_swaps_improvement_and_concern(
    values: list[float], target: float | None, data: st.DataObject
) -> None:
    rebase = data.draw(rebases(values))
    up = xmr(values, improvement="increase", target=target, rebase=rebase)
    down = xmr(values, improvement="decrease", target=target, rebase=rebase)
    assert [p.rule for p in up.points] == [p.rule for p in down.points]
    assert [SWAP[p.point_type] for p in up.points] == [p.point_type for p in down.points]
    assert ICON_SWAP[up.variation_icon] == down.variation_icon
    swapped = {"pass": "fail", "fail": "pass", "inconsistent": "inconsistent", None: None}
    assert swapped[up.assurance_icon] == down.assurance_icon
    neutral = xmr(values, improvement="neutral", target=target, rebase=rebase)
    assert [p.special_cause for p in neutral.points] == [p.special_cause for p in up.points]
    assert neutral.assurance_icon is None


@given(series, directions, st.data())
def test_negating_the_values_and_the_direction_changes_nothing(
    values: list[float], direction: str, data: st.DataObject
) -> None:
    rebase = data.draw(rebases(values))
    other = "decrease" if direction == "increase" else "increase"
    plain = xmr(values, improvement=direction, rebase=rebase)
    mirrored = xmr([-v for v in values], improvement=other, rebase=rebase)
    assert [p.rule for p in plain.points] == [p.rule for p in mirrored.points]
    assert [p.point_type for p in plain.points] == [p.point_type for p in mirrored.points]
    for p, q in zip(plain.points, mirrored.points, strict=True):
        assert q.mean == -p.mean
        assert (math.isnan(p.upl) and math.isnan(q.lpl)) or q.lpl == -p.upl


@given(
    integers,
    st.integers(-6, 6),
    st.integers(-1000, 1000),
    directions,
    st.booleans(),
)
@settings(max_examples=200)
def test_scaling_and_shifting_keep_the_reading(
    values: list[int], power: int, shift: int, direction: str, screen: bool
) -> None:
    plain = xmr(values, improvement=direction, screen_outliers=screen)
    assume(clear_of_the_lines(plain))
    scale = 2.0**power
    moved = xmr([v * scale + shift for v in values], improvement=direction, screen_outliers=screen)
    assert [p.rule for p in moved.points] == [p.rule for p in plain.points]
    assert [p.point_type for p in moved.points] == [p.point_type for p in plain.points]
    assert moved.variation_icon == plain.variation_icon
    for p, q in zip(plain.points, moved.points, strict=True):
        assert math.isclose(q.mean, p.mean * scale + shift, rel_tol=1e-9, abs_tol=1e-9)
        if not math.isnan(p.upl):
            assert math.isclose(q.upl, p.upl * scale + shift, rel_tol=1e-9, abs_tol=1e-9)


@given(series, st.data())
def test_each_period_is_read_on_its_own(values: list[float], data: st.DataObject) -> None:
    start = data.draw(st.integers(1, len(values) - 1))
    whole = xmr(values, rebase=[start])
    if len(values) - start >= 2:
        tail = xmr(values[start:])
        for p, q in zip(whole.points[start:], tail.points, strict=True):
            assert (p.mean, p.rule, p.point_type) == (q.mean, q.rule, q.point_type)
            assert p.upl == q.upl or (math.isnan(p.upl) and math.isnan(q.upl))
    assert {p.period for p in whole.points[start:]} == {1}


@given(series)
def test_screening_never_widens_the_limits(values: list[float]) -> None:
    screened = xmr(values).periods[0].amr
    unscreened = xmr(values, screen_outliers=False).periods[0].amr
    assert math.isnan(screened) or screened <= unscreened


@given(series, st.booleans())
def test_a_point_beyond_a_limit_is_a_special_cause(values: list[float], screen: bool) -> None:
    for p in xmr(values, screen_outliers=screen).points:
        outside = p.value > p.upl or p.value < p.lpl
        assert (p.rule == "outside_limits") == outside
        assert p.special_cause == (p.rule is not None)
        assert (p.point_type == "common_cause") == (not p.special_cause)


@given(series, st.integers(12, 60))
def test_fixing_on_more_points_than_there_are_changes_nothing(
    values: list[float], fix_after: int
) -> None:
    assume(fix_after >= len(values))
    # repr, because NaN limits (a flat series) are never == themselves
    assert repr(xmr(values, fix_after=fix_after).points) == repr(xmr(values).points)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
@settings(max_examples=500)
def test_the_mean_is_the_exact_mean_correctly_rounded(values: list[float]) -> None:
    """R's mean() lands on the double nearest the exact mean; so must ours (any magnitude)."""
    exact = sum(map(Fraction, values)) / len(values)
    assert r_mean(values) == float(exact)
