"""qiflow.spc.run_chart: the IHI run-chart rules on series worked by hand."""

from __future__ import annotations

import itertools

import pytest

from qiflow.exceptions import ValidationError
from qiflow.spc import run_chart, runs_limits


def test_a_point_on_the_median_neither_adds_to_nor_breaks_a_shift() -> None:
    values = [3, 4, 2, 3, 6, 7, 5, 8, 6, 9, 7, 1, 2]
    # sorted: 1 2 2 3 3 4 [5] 6 6 7 7 8 9 -> median 5 (the 7th of 13)
    # sides:  - - - - + + 0 + + + + - -  -> six above once the 5 on the median is skipped
    result = run_chart(values)
    assert result.median == 5
    assert [p.shift for p in result.points] == [
        False, False, False, False, True, True, False, True, True, True, True, False, False,
    ]  # fmt: skip
    assert result.points[6].rule is None
    assert {result.points[i].point_type for i in (4, 5, 7, 8, 9, 10)} == {
        "special_cause_improvement"
    }
    # runs: ----, ++++++ (skipping the 5), -- -> 3 runs in 12 useful observations
    assert (result.useful_observations, result.runs) == (12, 3)


def test_six_in_a_row_is_a_shift_and_five_is_not() -> None:
    # sorted 1 1 2 2 3 3 [4] 5 6 6 7 8 9 -> median 4
    # sides  - 0 - - + + + + + + - - -  -> six above
    result = run_chart([3, 4, 2, 3, 6, 7, 5, 8, 6, 9, 1, 2, 1])
    assert result.median == 4
    assert [p.shift for p in result.points] == [False] * 4 + [True] * 6 + [False] * 3
    # sorted 0 1 1 2 2 3 [3] 4 6 6 7 8 9 -> median 3
    # sides  0 + - 0 + + + + + - - - -  -> five above after the 2, then four below
    shorter = run_chart([3, 4, 2, 3, 6, 7, 8, 6, 9, 1, 2, 1, 0])
    assert shorter.median == 3
    assert not any(p.shift for p in shorter.points)


def test_a_repeated_value_neither_adds_to_nor_breaks_a_trend() -> None:
    # 10 11 11 12 13 14: five different rising values with a tie -> a trend of five
    result = run_chart([10, 11, 11, 12, 13, 14, 9, 12, 10, 11, 13])
    assert [p.trend for p in result.points] == [True] * 6 + [False] * 5
    assert result.points[2].rule == "trend"
    # 10 11 12 12 13: only four different values -> no trend
    assert not any(p.trend for p in run_chart([10, 11, 12, 12, 13, 9, 12, 10]).points)


def test_a_falling_trend_is_an_improvement_when_lower_is_better() -> None:
    result = run_chart([20, 18, 17, 15, 14, 16, 15, 17], improvement="decrease")
    assert [p.trend for p in result.points] == [True] * 5 + [False] * 3
    assert result.points[0].point_type == "special_cause_improvement"
    up = run_chart([20, 18, 17, 15, 14, 16, 15, 17], improvement="increase")
    assert up.points[0].point_type == "special_cause_concern"
    neutral = run_chart([20, 18, 17, 15, 14, 16, 15, 17], improvement="neutral")
    assert neutral.points[0].point_type == "special_cause_neutral_low"


def test_an_astronomical_point() -> None:
    values = [10, 11, 9, 10, 12, 10, 11, 9, 10, 40]
    # sorted 9 9 10 10 10 10 11 11 12 40; quartiles at (n-1)p: 2.25 -> 10, 6.75 -> 11
    # IQR 1; far-out fences 10 - 3 = 7 and 11 + 3 = 14: only 40 is beyond them
    result = run_chart(values)
    assert [p.astronomical for p in result.points] == [False] * 9 + [True]
    assert result.points[9].rule == "astronomical"
    assert "astronomical" in result.signals
    # no spread between the quartiles: nothing is called astronomical
    assert not any(p.astronomical for p in run_chart([5, 5, 5, 5, 5, 9]).points)


def test_too_many_runs() -> None:
    result = run_chart([1, 9] * 7)
    # median 5; every point is its own run: 14 runs in 14 useful observations
    assert (result.runs, result.useful_observations) == (14, 14)
    assert result.runs_limits is not None
    assert result.too_many_runs
    assert not result.too_few_runs
    assert result.signals == ("too_many_runs",)


def test_too_few_runs_and_the_short_series_warning() -> None:
    result = run_chart([1, 2, 1, 2, 1, 2, 8, 9, 8, 9, 8, 9])
    assert (result.runs, result.useful_observations) == (2, 12)
    assert result.too_few_runs
    short = run_chart([1, 2, 3, 2, 1])  # median 2: only 1, 3 and 1 are off it
    assert short.runs_limits is None
    assert not short.too_few_runs
    assert not short.too_many_runs
    assert short.warnings == [
        "3 points off the median, fewer than 10: too few to test the number of runs"
    ]


def test_a_baseline_fixes_the_median() -> None:
    result = run_chart([4, 6, 5, 4, 6, 9, 9, 9, 9, 9, 9], baseline=5)
    assert result.median == 5  # median of 4 6 5 4 6
    assert result.baseline_points == 5
    assert [p.shift for p in result.points][5:] == [True] * 6


def brute_force_limits(useful: int) -> tuple[int, int]:
    """Limits from every arrangement of the useful observations (no formula involved)."""
    above = useful // 2
    counts: dict[int, int] = {}
    arrangements = 0
    for chosen in itertools.combinations(range(useful), above):
        sides = [1 if i in chosen else -1 for i in range(useful)]
        runs = 1 + sum(1 for a, b in itertools.pairwise(sides) if a != b)
        counts[runs] = counts.get(runs, 0) + 1
        arrangements += 1
    lower, tail = 0, 0
    while (tail + counts.get(lower, 0)) / arrangements <= 0.025:
        tail += counts.get(lower, 0)
        lower += 1
    upper, tail = useful, 0
    while (tail + counts.get(upper, 0)) / arrangements <= 0.025:
        tail += counts.get(upper, 0)
        upper -= 1
    return lower, upper


@pytest.mark.parametrize("useful", range(10, 19))
def test_runs_limits_match_counting_every_arrangement(useful: int) -> None:
    assert runs_limits(useful) == brute_force_limits(useful)


def test_runs_limits_need_ten_useful_observations() -> None:
    assert runs_limits(9) is None
    assert runs_limits(10) == (3, 9)  # 5 above and 5 below: P(R <= 2) = 2/252 < 2.5%


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": [1]}, "at least 2 points"),
        ({"values": [1, float("nan")]}, "must be finite"),
        ({"values": [1, 2], "improvement": "sideways"}, "improvement direction"),
        ({"values": [1, 2, 3], "baseline": 1}, "baseline is 1: it must be at least 2"),
        ({"values": [1, 2, 3], "baseline": 4}, "baseline is 4: the series has only 3 points"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        run_chart(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
