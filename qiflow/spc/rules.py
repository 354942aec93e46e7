"""The special-cause rules, in NHSRplotthedots 0.2.2's order and with its comparisons.

Ported from ``R/ptd_calculate_point_type.R`` and the columns ``ptd_spc_standard`` derives.
Within one limit period, each point takes the first rule that holds:

1. ``outside_limits``: above the upper or below the lower process limit (strictly: a point
   on a limit is inside);
2. ``trend``: part of seven points each strictly higher (or lower) than the one before (a
   tie breaks a trend);
3. ``two_in_three``: a point strictly beyond a 2-sigma line (and not outside the limits)
   in a window of three consecutive points, all three strictly on the same side of the
   mean, of which at least two are beyond that 2-sigma line;
4. ``shift``: part of seven consecutive points strictly on the same side of the mean (a
   point on the mean breaks a shift).

Each special cause has a side: +1 (above the mean, or an increasing trend) or -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

from qiflow.spc.limits import Limits

Rule: TypeAlias = Literal["outside_limits", "trend", "two_in_three", "shift"]

RULES: tuple[Rule, ...] = ("outside_limits", "trend", "two_in_three", "shift")
RUN_LENGTH = 7


def _sign(number: float) -> int:
    return (number > 0) - (number < 0)


def _spread_back(ends: Sequence[int], length: int) -> list[bool]:
    """Mark every point of each run of seven whose last point is flagged in ``ends``."""
    marked = [False] * length
    for end, flag in enumerate(ends):
        if flag:
            for position in range(end - RUN_LENGTH + 1, end + 1):
                marked[position] = True
    return marked


def trend_ends(values: Sequence[float]) -> list[int]:
    """+1 / -1 where a point ends seven strictly rising / falling points, else 0."""
    length = len(values)
    ends = [0] * length
    rising = falling = 1
    for position in range(1, length):
        step = _sign(values[position] - values[position - 1])
        rising = rising + 1 if step > 0 else 1
        falling = falling + 1 if step < 0 else 1
        if rising >= RUN_LENGTH:
            ends[position] = 1
        elif falling >= RUN_LENGTH:
            ends[position] = -1
    return ends


def shift_ends(sides: Sequence[int]) -> list[int]:
    """The side where a point ends seven consecutive points on that side of the mean."""
    ends = [0] * len(sides)
    run = 0
    for position, side in enumerate(sides):
        run = run + 1 if side != 0 and position and side == sides[position - 1] else 1
        if side != 0 and run >= RUN_LENGTH:
            ends[position] = side
    return ends


def two_in_three(near: Sequence[bool], sides: Sequence[int]) -> list[bool]:
    """Points near a limit in a window of three on one side with two or more near it."""
    length = len(near)
    # holds[start]: the window start .. start + 2 is all on one side, two or more near
    holds = [False] * (length + 2)
    for start in range(length - 2):
        if (
            near[start] + near[start + 1] + near[start + 2] >= 2
            and abs(sides[start] + sides[start + 1] + sides[start + 2]) == 3
        ):
            holds[start] = True
    # holds[-1] and holds[-2] stay False for the windows that would start before 0
    return [
        near[position] and (holds[position] or holds[position - 1] or holds[position - 2])
        for position in range(length)
    ]


def classify(values: Sequence[float], limits: Limits) -> list[tuple[Rule | None, int]]:
    """Each point's rule (None for common cause) and the side of its special cause."""
    length = len(values)
    mean, lpl, upl = limits.mean, limits.lpl, limits.upl
    low, high = limits.lower_two_sigma, limits.upper_two_sigma
    # NaN limits make every comparison false, as R's NA conditions are in case_when.
    outside = [value > upl or value < lpl for value in values]
    sides = [(value > mean) - (value < mean) for value in values]
    near = [
        not out and (value < low or value > high)
        for value, out in zip(values, outside, strict=True)
    ]
    trend = _spread_back([end != 0 for end in trend_ends(values)], length)
    pairs = two_in_three(near, sides)
    shift = _spread_back([end != 0 for end in shift_ends(sides)], length)

    result: list[tuple[Rule | None, int]] = []
    for position, value in enumerate(values):
        if outside[position]:
            result.append(("outside_limits", 1 if sides[position] == 1 else -1))
        elif trend[position]:
            # R takes the step to the next point while that point is in the trend too,
            # otherwise the step from the previous point; anything but a rise is "De".
            if position + 1 < length and trend[position + 1]:
                step = _sign(values[position + 1] - value)
            else:
                step = _sign(value - values[position - 1]) if position else 0
            result.append(("trend", 1 if step == 1 else -1))
        elif pairs[position]:
            result.append(("two_in_three", 1 if sides[position] > 0 else -1))
        elif shift[position]:
            result.append(("shift", 1 if sides[position] > 0 else -1))
        else:
            result.append((None, 0))
    return result
