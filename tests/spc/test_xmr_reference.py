"""qiflow.spc.xmr against NHSRplotthedots 0.2.2 run on the same series.

The expected values in ``xmr_reference_data.py`` were written by the package's own R source
(``reference/nhsr_reference.R``, R 4.2 on Debian), not by qiflow: the package's test
fixtures, 30 series made by hand to sit on each edge the reference defines, and 30 random
series. Means and limits must agree to 1e-9 (they agree to the last bit: R's ``mean`` is
correctly rounded and so is ours); flags, rules, point types and icons exactly.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from qiflow.spc import XmrResult, xmr
from tests.spc.xmr_reference_data import CASES

#: R's special_cause_type strings (ptd_special_cause_type) and the rule each names.
R_RULES = {
    "Above UCL": "outside_limits",
    "Below LCL": "outside_limits",
    "7 Point Trend (Increasing)": "trend",
    "7 Point Trend (Decreasing)": "trend",
    "2 in 3 Above CL": "two_in_three",
    "2 in 3 Below CL": "two_in_three",
    "7 Points Above CL": "shift",
    "7 Points Below CL": "shift",
    "Common Cause": None,
}


def run(case: dict[str, Any]) -> XmrResult:
    return xmr(
        case["values"],
        improvement=case["improvement"],
        target=case["target"],
        rebase=case["rebase"],
        fix_after=case["fix_after"],
        screen_outliers=case["screen_outliers"],
    )


def same(expected: float, actual: float) -> bool:
    if math.isnan(expected):
        return math.isnan(actual)
    return math.isclose(actual, expected, rel_tol=0, abs_tol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=[str(case["name"]) for case in CASES])
def test_matches_the_reference(case: dict[str, Any]) -> None:
    result = run(case)
    assert len(result.points) == len(case["values"])
    for field in ("mean", "lpl", "upl"):
        expected = case[field]
        actual = [getattr(point, field) for point in result.points]
        pairs = enumerate(zip(expected, actual, strict=True))
        wrong = [i for i, (e, a) in pairs if not same(e, a)]
        assert not wrong, (field, [(i, expected[i], actual[i]) for i in wrong])
    assert [p.special_cause for p in result.points] == case["special_cause"]
    assert [p.point_type for p in result.points] == case["point_type"]
    assert [p.rule for p in result.points] == [R_RULES[t] for t in case["special_cause_type"]]
    assert result.variation_icon == case["variation_icon"]
    assert result.assurance_icon == case["assurance_icon"]
    short = any("fewer than 13" in warning for warning in result.warnings)
    assert short == case["short_period_warning"]


def test_the_reference_set_covers_every_outcome() -> None:
    """The reference series exercise every rule, point type and icon at least once."""
    results = [run(case) for case in CASES]
    rules = {p.rule for r in results for p in r.points}
    types = {p.point_type for r in results for p in r.points}
    assert rules == {None, "outside_limits", "trend", "two_in_three", "shift"}
    assert types == {
        "common_cause",
        "special_cause_improvement",
        "special_cause_concern",
        "special_cause_neutral_high",
        "special_cause_neutral_low",
    }
    assert {r.variation_icon for r in results} == {
        "common_cause",
        "improvement_high",
        "improvement_low",
        "concern_high",
        "concern_low",
        "neutral_high",
        "neutral_low",
    }
    assert {r.assurance_icon for r in results} == {None, "pass", "fail", "inconsistent"}


def by_name(name: str) -> dict[str, Any]:
    [case] = [case for case in CASES if case["name"] == name]
    return case


def test_edges_sit_where_they_were_placed() -> None:
    """The hand-made edge series really put points on the lines (in R's own doubles)."""
    lines = by_name("on_the_lines")
    values, upl, lpl = lines["values"], lines["upl"], lines["lpl"]
    assert values[12] == upl[12]
    assert values[14] == lpl[14]
    assert values[22] > upl[22]
    assert values[24] < lpl[24]
    assert lines["target"] == upl[0]
    shift = by_name("mean_breaks_shift")
    assert shift["values"][6] == shift["mean"][6] == 10
    assert by_name("tie_breaks_trend")["values"][9:11] == [14, 14]
