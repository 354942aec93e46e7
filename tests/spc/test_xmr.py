"""qiflow.spc.xmr: arithmetic worked by hand, the package's snapshots, its rule helpers'
test vectors, and the errors bad input gets."""

from __future__ import annotations

import dataclasses
import math

import pytest

from qiflow.exceptions import ValidationError
from qiflow.spc import xmr
from qiflow.spc.rules import shift_ends, trend_ends, two_in_three
from tests.spc.xmr_reference_data import CASES

RNORM_123 = next(case["values"] for case in CASES if case["name"] == "pkg_rnorm")


def test_five_points_by_hand() -> None:
    # mean = (1+3+2+6+4)/5 = 16/5 = 3.2; moving ranges 2, 1, 4, 2: AMR = 9/4 = 2.25
    # screening keeps all (each < 3.267 x 2.25 = 7.35075)
    # limits 3.2 +/- 2.66 x 2.25 = 3.2 +/- 5.985; 2-sigma 3.2 +/- (2 x 2.66/3) x 2.25 = +/- 3.99
    result = xmr([1, 3, 2, 6, 4])
    point = result.points[0]
    assert point.mean == pytest.approx(3.2, abs=1e-12)
    assert point.upl == pytest.approx(9.185, abs=1e-12)
    assert point.lpl == pytest.approx(-2.785, abs=1e-12)
    assert point.upper_two_sigma == pytest.approx(7.19, abs=1e-12)
    assert point.lower_two_sigma == pytest.approx(-0.79, abs=1e-12)
    assert result.periods[0].amr == pytest.approx(2.25, abs=1e-12)
    assert [p.rule for p in result.points] == [None] * 5
    assert result.variation_icon == "common_cause"
    assert result.assurance_icon is None
    assert len(result.warnings) == 1
    assert "5 points, fewer than 13" in result.warnings[0]


def test_outlier_screening_by_hand() -> None:
    values = [10, 12, 10, 12, 10, 40, 10, 12, 10, 12]
    # mean = 138/10 = 13.8; moving ranges 2,2,2,2,30,30,2,2,2: AMR = 74/9 = 8.2222...
    # screened: 30 >= 3.267 x 74/9 = 26.862 leaves; the seven 2s remain: AMR = 2
    screened = xmr(values)
    assert screened.periods[0].amr == 2
    assert screened.points[0].upl == pytest.approx(13.8 + 5.32, abs=1e-12)
    assert screened.points[0].lpl == pytest.approx(13.8 - 5.32, abs=1e-12)
    # unscreened (the MDC Excel tool): AMR = 74/9, limits 13.8 +/- 2.66 x 74/9
    unscreened = xmr(values, screen_outliers=False)
    assert unscreened.periods[0].amr == pytest.approx(74 / 9, abs=1e-12)
    assert unscreened.points[0].upl == pytest.approx(13.8 + 2.66 * 74 / 9, abs=1e-12)
    # 40 is outside both sets of limits: an improvement when higher is better
    for result in (screened, unscreened):
        assert result.points[5].rule == "outside_limits"
        assert result.points[5].point_type == "special_cause_improvement"


def test_the_packages_snapshot_values() -> None:
    """tests/testthat/_snaps/ptd_spc_standard.md (7 significant figures, as glimpse prints)."""
    r1 = xmr(RNORM_123)
    assert r1.points[0].mean == pytest.approx(0.1416238, abs=5e-8)
    assert r1.points[0].lpl == pytest.approx(-3.01138, abs=5e-6)
    assert r1.points[0].upl == pytest.approx(3.294627, abs=5e-7)
    relative_to_mean = [-1, -1, 1, -1, -1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1]
    assert [math.copysign(1, p.value - p.mean) for p in r1.points[:15]] == relative_to_mean
    assert not any(p.value > p.upl or p.value < p.lpl for p in r1.points)

    spiked = list(RNORM_123)
    spiked[14] = 10
    r2 = xmr(spiked)
    assert r2.points[0].mean == pytest.approx(0.6694159, abs=5e-8)
    assert r2.points[0].lpl == pytest.approx(-2.383666, abs=5e-7)
    assert r2.points[0].upl == pytest.approx(3.722497, abs=5e-7)
    relative_to_mean = [-1, -1, 1, -1, -1, 1, -1, -1, -1, -1, 1, -1, -1, -1]
    assert [math.copysign(1, p.value - p.mean) for p in r2.points[:14]] == relative_to_mean
    r3 = xmr(spiked, screen_outliers=False)
    assert r3.points[0].lpl == pytest.approx(-4.596625, abs=5e-7)
    assert r3.points[0].upl == pytest.approx(5.935457, abs=5e-7)
    # test-ptd_spc_standard.R: unscreened limits are wider than screened ones
    assert r3.points[0].upl - r3.points[0].lpl > r2.points[0].upl - r2.points[0].lpl


def test_the_packages_rebased_and_target_snapshots() -> None:
    """tests/testthat/_snaps/ptd_spc.md: two groups of ten (mean_col, lpl, upl to 3 s.f.)."""
    result = xmr(RNORM_123, rebase=[10], target=0.5)
    first, second = result.periods
    assert (round(first.mean, 4), round(first.lpl, 2), round(first.upl, 2)) == (
        0.0746,
        -2.60,
        2.75,
    )
    assert (round(second.mean, 3), round(second.lpl, 2), round(second.upl, 2)) == (
        0.209,
        -3.28,
        3.70,
    )
    assert [p.period for p in result.points] == [0] * 10 + [1] * 10
    assert not any(p.special_cause for p in result.points)
    assert result.assurance_icon == "inconsistent"
    assert len(result.warnings) == 2  # two periods of 10 points: both trial limits


def test_the_packages_two_in_three_opposite_sides() -> None:
    """test-ptd_spc_standard.R: 2 of 3 close to the limits on opposite sides is no signal."""
    values = [1.0, -1.0] * 8
    values[14], values[15] = 5.5, -5.5
    result = xmr(values)
    assert [p.point_type for p in result.points[-2:]] == ["common_cause", "common_cause"]


def test_rule_helpers_on_the_packages_vectors() -> None:
    """The vectors of tests/testthat/test-ptd_calculate_point_type.R."""
    assert trend_ends([]) == []
    assert trend_ends([1, 2, 3, 4, 5, 6]) == [0] * 6
    assert trend_ends([1, 2, 3, 3, 4, 5, 6]) == [0] * 7
    assert trend_ends([1, 2, 3, 4, 5, 6, 7]) == [0] * 6 + [1]
    assert trend_ends([2, 1, 2, 3, 4, 5, 6, 7, 3]) == [0] * 7 + [1, 0]
    assert trend_ends([7, 6, 5, 4, 3, 2, 1]) == [0] * 6 + [-1]
    assert trend_ends([2, 7, 6, 5, 4, 3, 2, 1, 3]) == [0] * 7 + [-1, 0]

    assert shift_ends([1] * 6) == [0] * 6
    assert shift_ends([1] * 6 + [-1]) == [0] * 7
    assert [abs(x) for x in shift_ends([1] * 8 + [-1])] == [0] * 6 + [1, 1, 0]
    assert [abs(x) for x in shift_ends([-1] * 8 + [1])] == [0] * 6 + [1, 1, 0]

    def part(near: list[int], sides: list[int]) -> list[int]:
        return [int(x) for x in two_in_three([bool(n) for n in near], sides)]

    assert part([1, 0, 1], [1, 1, 1]) == [1, 0, 1]
    assert part([0, 1, 1], [1, 1, 1]) == [0, 1, 1]
    assert part([1, 1, 0], [1, 1, 1]) == [1, 1, 0]
    assert part([0, 0, 1, 0, 1, 0, 0], [1] * 7) == [0, 0, 1, 0, 1, 0, 0]
    assert part([1, 0, 0, 1], [1] * 4) == [0, 0, 0, 0]
    assert part([1, 0, 0, 1, 1], [1] * 5) == [0, 0, 0, 1, 1]
    assert part([1, 0, 1], [1, -1, 1]) == [0, 0, 0]
    assert part([0, 0, 1, 1, 0, 0, 0], [-1, 1, -1, 1, -1, 1, -1]) == [0] * 7


def test_rules_priority_outside_then_trend_then_two_in_three_then_shift() -> None:
    # a rise of seven whose top point is above the upper limit: outside wins over trend
    values = [5, 9, 4, 8, 5, 9, 4, 5, 6, 7, 8, 9, 10, 30]
    result = xmr(values, fix_after=12)
    assert result.points[13].rule == "outside_limits"
    assert {p.rule for p in result.points[7:13]} == {"trend"}


def test_result_is_frozen() -> None:
    result = xmr([1, 2, 3])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.variation_icon = "concern_low"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.points[0].mean = 0  # type: ignore[misc]
    assert isinstance(result.points, tuple)
    assert isinstance(result.warnings, list)


def test_accepts_any_real_numbers_and_iterables() -> None:
    from fractions import Fraction

    result = xmr(iter([1, 2.5, Fraction(3, 2)]), rebase=iter([1]))
    assert [p.value for p in result.points] == [1.0, 2.5, 1.5]
    assert [p.period for p in result.points] == [0, 1, 1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: xmr([]), "at least 2 points"),
        (lambda: xmr([1]), "at least 2 points"),
        (lambda: xmr([1, math.nan]), "position 1 is nan"),
        (lambda: xmr([1, 2, math.inf]), "position 2 is inf"),
        (lambda: xmr([1, True]), "must be a number"),
        (lambda: xmr([1, "2"]), "must be a number"),  # type: ignore[list-item]
        (lambda: xmr("12"), "not a string"),
        (lambda: xmr([1, 2], improvement="up"), "improvement direction 'up' is unknown"),
        (lambda: xmr([1, 2], target=math.nan), "target nan"),
        (lambda: xmr([1, 2], target="5"), "target '5'"),  # type: ignore[arg-type]
        (lambda: xmr([1, 2, 3], rebase=[3]), "rebase position 3 is outside"),
        (lambda: xmr([1, 2, 3], rebase=[-1]), "rebase position -1 is outside"),
        (lambda: xmr([1, 2, 3], rebase=[1.5]), "must be a whole number"),  # type: ignore[list-item]
        (lambda: xmr([1, 2, 3], rebase=[True]), "must be a whole number"),
        (lambda: xmr([1, 2, 3], fix_after=11), "fix_after is 11: it must be at least 12"),
        (lambda: xmr([1, 2, 3], fix_after=12.0), "fix_after must be a whole number"),  # type: ignore[arg-type]
        (lambda: xmr([1, 2], screen_outliers=1), "screen_outliers must be True or False"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call: object, message: str) -> None:
    with pytest.raises(ValidationError, match=None) as caught:
        call()  # type: ignore[operator]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_fix_after_longer_than_the_series_uses_every_point() -> None:
    values = [3, 5, 4, 6, 5, 4, 6, 5]
    assert xmr(values, fix_after=20).points == xmr(values).points


def test_a_period_without_moving_ranges_has_undefined_limits_and_says_so() -> None:
    # every moving range is 0, and screening keeps only ranges below 3.267 x 0: none left
    flat = xmr([4.0] * 14, target=5)
    assert math.isnan(flat.points[0].upl)
    assert flat.assurance_icon == "inconsistent"  # R: target > NA is not TRUE
    assert flat.warnings == [
        "period 1 (points 0-13) has no usable moving range (a single point, or every moving "
        "range is zero), so its limits are undefined and no point is outside them"
    ]
    # unscreened, the same series has limits of zero width on the mean
    assert xmr([4.0] * 14, screen_outliers=False).points[0].upl == 4.0
    # a rebase at the last point leaves a period of one point
    single = xmr([10, 12, 11, 13, 12, 10, 11, 12, 13, 11, 12, 11, 10, 12, 30], rebase=[14])
    assert math.isnan(single.points[-1].lpl)
    assert single.points[-1].mean == 30
    assert len(single.warnings) == 2  # a period of one point is short as well
