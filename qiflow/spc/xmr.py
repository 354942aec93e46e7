"""XmR charts as NHS England's Making Data Count reads them (NHSRplotthedots 0.2.2).

:func:`xmr` splits the series into limit periods at the rebase positions, computes each
period's limits (:mod:`qiflow.spc.limits`), applies the special-cause rules within each
period (:mod:`qiflow.spc.rules`), and reads the variation icon from the last point and the
assurance icon from the target against the last point's limits
(``R/ptd_calculate_assurance_type.R``, ``ptd_get_icons`` in ``R/geom_ptd_icon.R``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Literal, TypeAlias, get_args

from qiflow.exceptions import ValidationError
from qiflow.spc.inputs import (
    DIRECTION_SIGN,
    Improvement,
    check_count,
    check_improvement,
    check_positions,
    check_target,
    check_values,
)
from qiflow.spc.limits import Limits, period_limits
from qiflow.spc.rules import Rule, classify

PointType: TypeAlias = Literal[
    "common_cause",
    "special_cause_improvement",
    "special_cause_concern",
    "special_cause_neutral_high",
    "special_cause_neutral_low",
]
VariationIcon: TypeAlias = Literal[
    "common_cause",
    "improvement_high",
    "improvement_low",
    "concern_high",
    "concern_low",
    "neutral_high",
    "neutral_low",
]
AssuranceIcon: TypeAlias = Literal["pass", "fail", "inconsistent"]

POINT_TYPES: tuple[PointType, ...] = get_args(PointType)
VARIATION_ICONS: tuple[VariationIcon, ...] = get_args(VariationIcon)
ASSURANCE_ICONS: tuple[AssuranceIcon, ...] = get_args(AssuranceIcon)

#: The reference warns while a period has fewer points than this (its trial limits).
SHORT_PERIOD = 13
#: ``fix_after`` below this is refused, as ``ptd_spc_options`` refuses it.
MIN_FIX_AFTER = 12


@dataclass(frozen=True, slots=True)
class XmrPoint:
    """One point of an XmR chart with its period's lines and its reading."""

    index: int
    period: int
    value: float
    mean: float
    lpl: float
    upl: float
    lower_two_sigma: float
    upper_two_sigma: float
    special_cause: bool
    point_type: PointType
    rule: Rule | None


@dataclass(frozen=True, slots=True)
class XmrPeriod(Limits):
    """One limit period, points ``start`` to ``end`` (inclusive, 0-based), and its lines.

    ``baseline_points`` is how many of its points the limits were computed from (all, or
    the first ``fix_after``).
    """

    start: int
    end: int
    baseline_points: int

    @property
    def points(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class XmrResult:
    """An XmR chart: its points, periods, icons and warnings."""

    points: tuple[XmrPoint, ...]
    periods: tuple[XmrPeriod, ...]
    improvement: Improvement
    target: float | None
    variation_icon: VariationIcon
    assurance_icon: AssuranceIcon | None
    warnings: list[str] = field(default_factory=list, hash=False)
    screen_outliers: bool = True
    fix_after: int | None = None

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(point.value for point in self.points)

    @property
    def last_period(self) -> XmrPeriod:
        return self.periods[-1]


def point_type(side: int, improvement: Improvement) -> PointType:
    """``ptd_point_type``: a special cause's side oriented by the improvement direction."""
    if side == 0:
        return "common_cause"
    if improvement == "neutral":
        return "special_cause_neutral_high" if side > 0 else "special_cause_neutral_low"
    if side * DIRECTION_SIGN[improvement] > 0:
        return "special_cause_improvement"
    return "special_cause_concern"


def variation_icon(last: PointType, improvement: Improvement) -> VariationIcon:
    """The Making Data Count variation icon for the last point's type."""
    increasing = improvement == "increase"
    icons: dict[PointType, VariationIcon] = {
        "common_cause": "common_cause",
        "special_cause_neutral_high": "neutral_high",
        "special_cause_neutral_low": "neutral_low",
        "special_cause_improvement": "improvement_high" if increasing else "improvement_low",
        "special_cause_concern": "concern_low" if increasing else "concern_high",
    }
    return icons[last]


def assurance_icon(
    target: float | None, improvement: Improvement, lpl: float, upl: float
) -> AssuranceIcon | None:
    """Whether the process as it now runs will meet the target (NaN limits: inconsistent)."""
    if target is None or improvement == "neutral":
        return None
    increasing = improvement == "increase"
    if target > upl:
        return "fail" if increasing else "pass"
    if target < lpl:
        return "pass" if increasing else "fail"
    return "inconsistent"


def _period_bounds(length: int, rebase: tuple[int, ...]) -> list[tuple[int, int]]:
    starts = sorted({0, *rebase})
    ends = [start - 1 for start in starts[1:]] + [length - 1]
    return list(zip(starts, ends, strict=True))


def _warnings(periods: Iterable[XmrPeriod]) -> list[str]:
    notes: list[str] = []
    for number, period in enumerate(periods, start=1):
        span = f"period {number} (points {period.start}-{period.end})"
        if period.points < SHORT_PERIOD:
            notes.append(
                f"{span} has {period.points} points, fewer than {SHORT_PERIOD}: its limits "
                "are trial limits and will be revised with each new point"
            )
        if period.amr != period.amr:  # NaN: no moving range left to measure variation
            notes.append(
                f"{span} has no usable moving range (a single point, or every moving range "
                "is zero), so its limits are undefined and no point is outside them"
            )
    return notes


def xmr(
    values: Iterable[float],
    *,
    improvement: str = "increase",
    target: float | None = None,
    rebase: Iterable[int] = (),
    fix_after: int | None = None,
    screen_outliers: bool = True,
) -> XmrResult:
    """An XmR chart of ``values`` (in time order) computed as NHSRplotthedots 0.2.2 does.

    ``improvement`` is ``"increase"``, ``"decrease"`` or ``"neutral"``; ``target`` gives the
    assurance icon; ``rebase`` holds 0-based positions where a new limit period starts;
    ``fix_after`` (>= 12) fixes each period's limits on its first points; outlier
    screening of moving ranges is on unless ``screen_outliers`` is false. Raises
    :class:`~qiflow.exceptions.ValidationError` on bad input.
    """
    series = check_values(values)
    direction = check_improvement(improvement)
    goal = check_target(target)
    fix = check_count("fix_after", fix_after, minimum=MIN_FIX_AFTER)
    starts = check_positions(rebase, len(series))
    if not isinstance(screen_outliers, bool):
        raise ValidationError(f"screen_outliers must be True or False, not {screen_outliers!r}")

    points: list[XmrPoint] = []
    periods: list[XmrPeriod] = []
    for number, (start, end) in enumerate(_period_bounds(len(series), starts)):
        chunk = series[start : end + 1]
        limits = period_limits(chunk, fix_after=fix, screen=screen_outliers)
        periods.append(_period(start, end, limits, fix))
        types = {side: point_type(side, direction) for side in (-1, 0, 1)}
        lines = (limits.mean, limits.lpl, limits.upl)
        two_sigma = (limits.lower_two_sigma, limits.upper_two_sigma)
        for offset, (rule, side) in enumerate(classify(chunk, limits)):
            points.append(
                XmrPoint(
                    start + offset,
                    number,
                    chunk[offset],
                    *lines,
                    *two_sigma,
                    rule is not None,
                    types[side],
                    rule,
                )
            )
    last = points[-1]
    return XmrResult(
        points=tuple(points),
        periods=tuple(periods),
        improvement=direction,
        target=goal,
        variation_icon=variation_icon(last.point_type, direction),
        assurance_icon=assurance_icon(goal, direction, last.lpl, last.upl),
        warnings=_warnings(periods),
        screen_outliers=screen_outliers,
        fix_after=fix,
    )


def _period(start: int, end: int, limits: Limits, fix: int | None) -> XmrPeriod:
    size = end - start + 1
    return XmrPeriod(
        **{field.name: getattr(limits, field.name) for field in fields(Limits)},
        start=start,
        end=end,
        baseline_points=size if fix is None else min(size, fix),
    )
