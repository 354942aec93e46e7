"""Time is injected: every rule that reads "now" asks the engine's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from qiflow.exceptions import ValidationError


class Clock(Protocol):
    """Anything with a ``now()`` that returns an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: for tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._now = require_aware(start, "start")

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = require_aware(when, "when")

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


def require_aware(when: datetime, field: str) -> datetime:
    """``when`` in UTC; a naive datetime (no time zone) is refused, never guessed."""
    if not isinstance(when, datetime):
        raise ValidationError(f"{field} must be a datetime, not {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError(
            f"{field} {when.isoformat()} has no time zone: give an aware datetime "
            "(e.g. datetime(..., tzinfo=UTC) or ZoneInfo('Europe/London'))"
        )
    return when.astimezone(UTC)


def ensure_utc(when: datetime) -> datetime:
    """A stored datetime as aware UTC (SQLite hands back naive values, stored as UTC).

    Only for values read back from the database; input goes through :func:`require_aware`.
    """
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
