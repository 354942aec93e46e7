"""ISO-8601 durations (``P14D``, ``P3M``, ``PT12H``) for review cadences."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$",
    re.ASCII,
)


MAX_MONTHS = 1200


@dataclass(frozen=True)
class Duration:
    """A calendar-aware duration: months and years add calendar months."""

    text: str
    months: int
    delta: timedelta

    def after(self, when: datetime) -> datetime:
        """The instant this duration after ``when`` (month ends are clamped)."""
        if self.months:
            month_index = when.month - 1 + self.months
            year = when.year + month_index // 12
            month = month_index % 12 + 1
            day = min(when.day, calendar.monthrange(year, month)[1])
            when = when.replace(year=year, month=month, day=day)
        return when + self.delta

    def __str__(self) -> str:
        return self.text


def parse_duration(text: str) -> Duration:
    """Parse an ISO-8601 duration; raise ``ValueError`` with a hint if it is not one."""
    match = _PATTERN.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not an ISO-8601 duration; write e.g. 'P14D' (14 days), "
            "'P3M' (3 months), 'P1W' or 'PT12H'"
        )
    parts = {key: int(value) for key, value in match.groupdict().items() if value}
    months = parts.get("years", 0) * 12 + parts.get("months", 0)
    try:
        delta = timedelta(
            weeks=parts.get("weeks", 0),
            days=parts.get("days", 0),
            hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0),
            seconds=parts.get("seconds", 0),
        )
    except OverflowError:
        raise ValueError(f"{text!r} is too long for a review cadence") from None
    if months > MAX_MONTHS or delta > timedelta(days=MAX_MONTHS * 31):
        raise ValueError(f"{text!r} is too long for a review cadence (at most 100 years)")
    if months == 0 and delta == timedelta(0):
        raise ValueError(f"{text!r} is a zero duration; a review cadence must be positive")
    return Duration(text=text.strip().upper(), months=months, delta=delta)
