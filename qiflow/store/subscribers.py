"""Durable subscribers of the event trail: a cursor per name, kept in the database.

A subscriber's ``position`` is the last ``seq`` it handled; it moves forward only
after its handler returned. Failures are counted with the error and a time before
which it is not retried; a daemon holds a subscriber under a lease, judged by the
database's clock, so several daemons share plugin subscribers without running one
twice at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from qiflow.clock import ensure_utc
from qiflow.store.tables import SUBSCRIBER


@dataclass(frozen=True)
class Subscriber:
    """A subscriber's cursor and health."""

    name: str
    #: The last ``seq`` it handled.
    position: int
    failures: int
    last_error: str | None
    retry_at: datetime | None
    claimed_by: str | None
    lease_until: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Subscriber:
        def utc(value: datetime | None) -> datetime | None:
            return ensure_utc(value) if value is not None else None

        return cls(
            name=row["name"],
            position=int(row["position"]),
            failures=int(row["failures"]),
            last_error=row["last_error"],
            retry_at=utc(row["retry_at"]),
            claimed_by=row["claimed_by"],
            lease_until=utc(row["lease_until"]),
            updated_at=ensure_utc(row["updated_at"]),
        )


class Subscribers:
    def __init__(self, conn: Connection, *, postgres: bool) -> None:
        self._conn = conn
        self._postgres = postgres

    def get(self, name: str, *, lock: bool = False) -> Subscriber | None:
        """The subscriber ``name`` (None if it never started); ``lock`` holds its row for
        the rest of the transaction (PostgreSQL), so two sweeps take turns."""
        stmt = select(SUBSCRIBER).where(SUBSCRIBER.c.name == name)
        if lock and self._postgres:
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).mappings().first()
        return None if row is None else Subscriber.from_row(row)

    def all(self) -> list[Subscriber]:
        stmt = select(SUBSCRIBER).order_by(SUBSCRIBER.c.name)
        return [Subscriber.from_row(r) for r in self._conn.execute(stmt).mappings()]

    def start(self, name: str, position: int, now: datetime) -> bool:
        """Create the subscriber at ``position`` unless it exists; whether it was new."""
        dialect = postgresql if self._postgres else sqlite
        at = ensure_utc(now)
        stmt = (
            dialect.insert(SUBSCRIBER)
            .values(name=name, position=position, created_at=at, updated_at=at, failures=0)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(SUBSCRIBER.c.name)
        )
        return self._conn.execute(stmt).first() is not None

    def advance(self, name: str, to: int, now: datetime) -> None:
        """Move the cursor forward to ``to`` (never back) and clear the failures."""
        self._conn.execute(
            update(SUBSCRIBER)
            .where(SUBSCRIBER.c.name == name, SUBSCRIBER.c.position <= to)
            .values(
                position=to, failures=0, last_error=None, retry_at=None, updated_at=ensure_utc(now)
            )
        )

    def move(self, name: str, to: int, now: datetime) -> bool:
        """Set the cursor to ``to``, back or forward (a replay); whether it exists."""
        result = self._conn.execute(
            update(SUBSCRIBER)
            .where(SUBSCRIBER.c.name == name)
            .values(
                position=to, failures=0, last_error=None, retry_at=None, updated_at=ensure_utc(now)
            )
        )
        return bool(result.rowcount)

    def failed(self, name: str, *, error: str, retry_at: datetime, now: datetime) -> int:
        """Count a failure of ``name``'s handler; return how many in a row."""
        self._conn.execute(
            update(SUBSCRIBER)
            .where(SUBSCRIBER.c.name == name)
            .values(
                failures=SUBSCRIBER.c.failures + 1,
                last_error=error[:2000],
                retry_at=ensure_utc(retry_at),
                updated_at=ensure_utc(now),
            )
        )
        found = self._conn.execute(
            select(SUBSCRIBER.c.failures).where(SUBSCRIBER.c.name == name)
        ).scalar()
        return int(found or 0)

    def claim(self, name: str, *, holder: str, now: datetime, lease: timedelta) -> bool:
        """Take (or renew) the lease on ``name`` for ``holder`` if it is free, expired or
        already ``holder``'s, and the subscriber is not waiting to be retried."""
        at = ensure_utc(now)
        result = self._conn.execute(
            update(SUBSCRIBER)
            .where(
                SUBSCRIBER.c.name == name,
                or_(
                    SUBSCRIBER.c.claimed_by.is_(None),
                    SUBSCRIBER.c.claimed_by == holder,
                    SUBSCRIBER.c.lease_until < at,
                ),
                or_(SUBSCRIBER.c.retry_at.is_(None), SUBSCRIBER.c.retry_at <= at),
            )
            .values(claimed_by=holder, lease_until=at + lease)
        )
        return bool(result.rowcount)

    def release(self, name: str, holder: str) -> None:
        self._conn.execute(
            update(SUBSCRIBER)
            .where(and_(SUBSCRIBER.c.name == name, SUBSCRIBER.c.claimed_by == holder))
            .values(claimed_by=None, lease_until=None)
        )
