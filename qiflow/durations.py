"""ISO-8601 durations (``P14D``, ``P3M``, ``PT12H``) for review cadences."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

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

    def after(self, when: datetime, zone: tzinfo | None = None) -> datetime:
        """The instant this duration after ``when`` (month ends are clamped).

        With ``zone`` (the trust's time zone), months, weeks and days are counted on
        that zone's calendar and wall clock: ``P1M`` from 09:00 on 15 March is 09:00 on
        15 April in London, though the clocks changed in between. Hours, minutes and
        seconds are always elapsed time.
        """
        wall = when.astimezone(zone).replace(tzinfo=None) if zone is not None else when
        if self.months:
            month_index = wall.month - 1 + self.months
            year = wall.year + month_index // 12
            month = month_index % 12 + 1
            day = min(wall.day, calendar.monthrange(year, month)[1])
            wall = wall.replace(year=year, month=month, day=day)
        days = timedelta(days=self.delta.days)
        wall += days
        if zone is not None:
            wall = wall.replace(tzinfo=zone).astimezone(when.tzinfo)
        return wall + (self.delta - days)

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
