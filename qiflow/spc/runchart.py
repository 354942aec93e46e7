"""Run charts read with the IHI rules (Perla, Provost and Murray, BMJ Qual Saf 2011).

The centre line is the median (of every point, or of the first ``baseline`` points). Four
rules signal non-random variation:

- ``shift``: six or more consecutive points all above or all below the median; points on
  the median neither add to nor break a shift;
- ``trend``: five or more consecutive points all going up or all going down; a point equal
  to the one before neither adds to nor breaks a trend;
- too few or too many runs: a run is a series of points on one side of the median (points
  on it are skipped); the count is compared with limits for the number of useful
  observations (points not on the median), from 10 of them upwards;
- ``astronomical``: a point blatantly different from the rest. Perla et al. (and the
  IHI) define it by judgement, not by a number: a data point "obviously, even
  blatantly, different" that everyone studying the chart would agree is unusual, and
  not merely the highest or lowest point. A program cannot poll the readers, so qiflow
  stands in with a fixed, documented test that only calls the blatant: a point beyond
  Tukey's far-out fences (more than 3 interquartile ranges outside the quartiles), and
  none while the IQR is zero. The chart still shows every point for people to judge.

The runs limits follow Perla et al.'s Table 1, which reformats Swed and Eisenhart's
(1943) tables: the number of runs in a random arrangement of the useful observations,
split as evenly as they can be above and below the median, is too few below the lower
limit and too many above the upper one, each with about a 2.5% chance (5% in all). They
are computed here from that exact distribution rather than typed in: the published
table's values could not be found in a source we could cite during development (the
paper itself, qicharts2, which uses Anhoej's longest-run and crossings rules instead,
and NHS run-chart guides were searched), so no table is typed in that cannot be checked.
``tests/spc/test_runchart.py`` checks the computation against counting every
arrangement. Should the published table differ in a row, it is the one to follow.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from math import comb
from typing import Literal, TypeAlias

from qiflow.spc.inputs import Improvement, check_count, check_improvement, check_values
from qiflow.spc.xmr import PointType, point_type

RunRule: TypeAlias = Literal["astronomical", "trend", "shift"]

SHIFT_LENGTH = 6
TREND_LENGTH = 5
#: Fewer useful observations than this and the runs test says nothing.
MIN_USEFUL_FOR_RUNS = 10
#: Each tail of the runs distribution (Perla et al.: "about a 5% risk" in all).
RUNS_TAIL = 0.025
FAR_OUT = 3.0


@dataclass(frozen=True, slots=True)
class RunChartPoint:
    """One point of a run chart and the rules it is part of."""

    index: int
    value: float
    median: float
    shift: bool
    trend: bool
    astronomical: bool
    special_cause: bool
    point_type: PointType
    rule: RunRule | None


@dataclass(frozen=True, slots=True)
class RunChartResult:
    """A run chart: its points, median, runs and the signals found."""

    points: tuple[RunChartPoint, ...]
    median: float
    baseline_points: int
    improvement: Improvement
    useful_observations: int
    runs: int
    runs_limits: tuple[int, int] | None
    too_few_runs: bool
    too_many_runs: bool
    warnings: list[str] = field(default_factory=list, hash=False)

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(point.value for point in self.points)

    @property
    def signals(self) -> tuple[str, ...]:
        """The rules that fired anywhere on the chart."""
        fired = {
            "shift": any(point.shift for point in self.points),
            "trend": any(point.trend for point in self.points),
            "too_few_runs": self.too_few_runs,
            "too_many_runs": self.too_many_runs,
            "astronomical": any(point.astronomical for point in self.points),
        }
        return tuple(name for name, hit in fired.items() if hit)


def _runs_probabilities(above: int, below: int) -> list[float]:
    """P(R = r) for r = 0 .. above + below: runs in a random order of the two kinds."""
    total = comb(above + below, above)
    chances = [0.0] * (above + below + 1)
    for runs in range(2, above + below + 1):
        half = runs // 2
        if runs % 2 == 0:
            ways = 2 * comb(above - 1, half - 1) * comb(below - 1, half - 1)
        else:
            ways = comb(above - 1, half) * comb(below - 1, half - 1) + comb(
                above - 1, half - 1
            ) * comb(below - 1, half)
        chances[runs] = ways / total
    return chances


@lru_cache(maxsize=256)
def runs_limits(useful: int) -> tuple[int, int] | None:
    """(lower, upper): fewer runs than lower are too few, more than upper too many."""
    if useful < MIN_USEFUL_FOR_RUNS:
        return None
    chances = _runs_probabilities(useful // 2, useful - useful // 2)
    lower, tail = 0, 0.0
    while tail + chances[lower] <= RUNS_TAIL:
        tail += chances[lower]
        lower += 1
    upper, tail = useful, 0.0
    while tail + chances[upper] <= RUNS_TAIL:
        tail += chances[upper]
        upper -= 1
    return lower, upper


def _shift_flags(sides: list[int]) -> list[bool]:
    flags = [False] * len(sides)
    run: list[int] = []
    for position, side in enumerate([*sides, 2]):  # 2 closes the last run
        if side == 0:
            continue
        if run and side != sides[run[0]]:
            if len(run) >= SHIFT_LENGTH:
                for member in run:
                    flags[member] = True
            run = []
        if side != 2:
            run.append(position)
    return flags


def _trend_flags(values: tuple[float, ...]) -> list[tuple[bool, int]]:
    """(part of a trend, its direction) for each point; a repeated value is skipped."""
    kept = [0]
    for position in range(1, len(values)):
        if values[position] != values[kept[-1]]:
            kept.append(position)
    steps = [1 if values[b] > values[a] else -1 for a, b in itertools.pairwise(kept)]
    flags = [(False, 0)] * len(values)
    start = 0
    while start < len(steps):
        stop = start
        while stop + 1 < len(steps) and steps[stop + 1] == steps[start]:
            stop += 1
        if stop - start + 2 >= TREND_LENGTH:  # steps start..stop join stop - start + 2 points
            for position in range(kept[start], kept[stop + 1] + 1):
                flags[position] = (True, steps[start])
        start = stop + 1
    return flags


def _astronomical(values: tuple[float, ...]) -> list[bool]:
    if len(values) < 4:
        return [False] * len(values)
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    spread = q3 - q1
    if spread <= 0:
        return [False] * len(values)
    low, high = q1 - FAR_OUT * spread, q3 + FAR_OUT * spread
    return [value < low or value > high for value in values]


def _count_runs(sides: list[int]) -> int:
    useful = [side for side in sides if side != 0]
    return sum(1 for i, side in enumerate(useful) if i == 0 or side != useful[i - 1])


def run_chart(
    values: Iterable[float], *, improvement: str = "increase", baseline: int | None = None
) -> RunChartResult:
    """A run chart of ``values`` (in time order) read with the IHI run-chart rules.

    ``baseline`` takes the median from the first points only (the rest are judged against
    it). Raises :class:`~qiflow.exceptions.ValidationError` on bad input.
    """
    series = check_values(values)
    direction = check_improvement(improvement)
    base = check_count("baseline", baseline, minimum=2, limit=len(series)) or len(series)
    median = statistics.median(series[:base])
    sides = [(value > median) - (value < median) for value in series]
    shift = _shift_flags(sides)
    trend = _trend_flags(series)
    astronomical = _astronomical(series)

    points: list[RunChartPoint] = []
    for index, value in enumerate(series):
        rule: RunRule | None
        if astronomical[index]:
            rule, side = "astronomical", 1 if value > median else -1
        elif trend[index][0]:
            rule, side = "trend", trend[index][1]
        elif shift[index]:
            rule, side = "shift", sides[index]
        else:
            rule, side = None, 0
        points.append(
            RunChartPoint(
                index=index,
                value=value,
                median=median,
                shift=shift[index],
                trend=trend[index][0],
                astronomical=astronomical[index],
                special_cause=rule is not None,
                point_type=point_type(side, direction),
                rule=rule,
            )
        )
    useful = sum(1 for side in sides if side != 0)
    runs = _count_runs(sides)
    limits = runs_limits(useful)
    warnings = []
    if limits is None:
        warnings.append(
            f"{useful} points off the median, fewer than {MIN_USEFUL_FOR_RUNS}: "
            "too few to test the number of runs"
        )
    return RunChartResult(
        points=tuple(points),
        median=median,
        baseline_points=base,
        improvement=direction,
        useful_observations=useful,
        runs=runs,
        runs_limits=limits,
        too_few_runs=limits is not None and runs < limits[0],
        too_many_runs=limits is not None and runs > limits[1],
        warnings=warnings,
    )
