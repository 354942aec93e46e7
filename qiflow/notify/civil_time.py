"""When it is civil to send: the trust's time zone, a sending window and bank holidays.

Everything is stored in UTC; only here is local time used. Local wall-clock
times are turned into instants through :mod:`zoneinfo`, so both daylight-saving
changes are handled by the time-zone database rather than by arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

from qiflow.clock import ensure_utc

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class SendingWindow:
    """Working days and hours in a time zone, less the bank holidays of a region."""

    timezone: str = "Europe/London"
    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    start: time = time(9, 0)
    #: None: the window closes at midnight (``24:00``).
    end: time | None = time(17, 0)
    #: None: no bank holidays close the window.
    country: str | None = "GB"
    subdivision: str | None = "ENG"
    _cache: dict[int, set[date]] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        if day.weekday() not in self.days:
            return False
        if self.country is None:
            return True
        year = self._cache.get(day.year)
        if year is None:
            year = self._cache[day.year] = set(
                holidays.country_holidays(self.country, subdiv=self.subdivision, years=day.year)
            )
        return day not in year

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def is_open(self, instant: datetime) -> bool:
        local = ensure_utc(instant).astimezone(self.zone)
        return (
            self.is_working_day(local.date())
            and self.start <= local.time().replace(tzinfo=None)
            and (self.end is None or local.time().replace(tzinfo=None) < self.end)
        )

    def next_open(self, instant: datetime) -> datetime:
        """The earliest instant at or after ``instant`` inside the window."""
        instant = ensure_utc(instant)
        if self.is_open(instant):
            return instant
        return self.next_start(instant)

    def next_start(self, instant: datetime) -> datetime:
        """The first opening of the window (09:00 on a working day) at or after ``instant``."""
        instant = ensure_utc(instant)
        day = instant.astimezone(self.zone).date()
        for _ in range(366):
            if self.is_working_day(day):
                opening = self._at(day, self.start)
                if opening >= instant:
                    return opening
            day += timedelta(days=1)
        raise ValueError("no working day in the next year: check the sending window's days")


#: A window that never closes: every day, all day, no holidays (24/7 services, tests).
ALWAYS_OPEN = SendingWindow(days=tuple(range(7)), start=time(0, 0), end=None, country=None)


def parse_window(
    days: str = "mon-fri",
    hours: str = "09:00-17:00",
    *,
    holidays: bool = True,
    **kwargs: str,
) -> SendingWindow:
    """Build a window from ``"mon-fri"`` and ``"09:00-17:00"`` style settings.

    ``"00:00-24:00"`` is all day; ``holidays=False`` lets bank holidays send.
    """

    def day_index(name: str) -> int:
        try:
            return DAY_NAMES.index(name.strip().lower()[:3])
        except ValueError:
            raise ValueError(f"{name!r} is not a day; use mon, tue, ... sun") from None

    chosen: list[int] = []
    for part in days.split(","):
        first, _, last = part.partition("-")
        a, b = day_index(first), day_index(last or first)
        chosen.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    start_text, sep, end_text = hours.partition("-")
    try:
        start = time.fromisoformat(start_text.strip())
        end = None if end_text.strip() == "24:00" else time.fromisoformat(end_text.strip())
    except ValueError:
        raise ValueError(f"{hours!r} is not an HH:MM-HH:MM range") from None
    if not sep or (end is not None and start >= end):
        raise ValueError(f"{hours!r}: the window must open before it closes")
    subdivision = kwargs.get("subdivision", "ENG")
    return SendingWindow(
        timezone=kwargs.get("timezone", "Europe/London"),
        days=tuple(sorted(set(chosen))),
        start=start,
        end=end,
        country=kwargs.get("country", "GB") if holidays else None,
        subdivision=(subdivision or None) if holidays else None,
    )
