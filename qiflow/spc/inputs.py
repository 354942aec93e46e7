"""Checking what callers hand to the SPC functions: values, directions, positions."""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Literal, TypeAlias

from qiflow.exceptions import ValidationError

Improvement: TypeAlias = Literal["increase", "decrease", "neutral"]

IMPROVEMENT_DIRECTIONS: tuple[Improvement, ...] = ("increase", "decrease", "neutral")

#: The sign each direction gives a movement: +1 when higher is better, -1 when lower is.
DIRECTION_SIGN: dict[Improvement, int] = {"increase": 1, "decrease": -1, "neutral": 0}


def check_values(values: Iterable[object], *, minimum: int = 2) -> tuple[float, ...]:
    """The values as floats, or ValidationError naming the first bad one."""
    if isinstance(values, str | bytes):
        raise ValidationError("values must be a sequence of numbers, not a string")
    checked: list[float] = []
    for position, value in enumerate(values):
        if type(value) is float and value - value == 0:  # the common case, finite
            checked.append(value)
            continue
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ValidationError(
                f"value at position {position} is {value!r}: every value must be a number"
            )
        number = float(value)
        if not math.isfinite(number):
            raise ValidationError(
                f"value at position {position} is {number}: every value must be finite"
            )
        checked.append(number)
    if len(checked) < minimum:
        raise ValidationError(
            f"{len(checked)} value(s) given: a chart needs at least {minimum} points"
        )
    return tuple(checked)


def check_improvement(improvement: object) -> Improvement:
    for direction in IMPROVEMENT_DIRECTIONS:
        if improvement == direction:
            return direction
    raise ValidationError(
        f"improvement direction {improvement!r} is unknown: use one of "
        + ", ".join(IMPROVEMENT_DIRECTIONS)
    )


def check_target(target: object) -> float | None:
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, Real) or not math.isfinite(target):
        raise ValidationError(f"target {target!r} must be a finite number or None")
    return float(target)


def check_count(name: str, count: object, *, minimum: int, limit: int | None = None) -> int | None:
    """An optional whole number of points no smaller than ``minimum``."""
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, Integral):
        raise ValidationError(f"{name} must be a whole number of points, not {count!r}")
    count = int(count)
    if count < minimum:
        raise ValidationError(f"{name} is {count}: it must be at least {minimum}")
    if limit is not None and count > limit:
        raise ValidationError(f"{name} is {count}: the series has only {limit} points")
    return count


def check_positions(positions: Iterable[object], length: int) -> tuple[int, ...]:
    """Sorted distinct 0-based positions inside a series of ``length`` points."""
    if isinstance(positions, str | bytes):
        raise ValidationError("rebase must be a sequence of 0-based positions, not a string")
    checked: set[int] = set()
    for position in positions:
        if isinstance(position, bool) or not isinstance(position, Integral):
            raise ValidationError(
                f"rebase position {position!r} must be a whole number (a 0-based point index)"
            )
        position = int(position)
        if not 0 <= position < length:
            raise ValidationError(
                f"rebase position {position} is outside the series: use 0 to {length - 1}"
            )
        checked.add(position)
    return tuple(sorted(checked))
