"""The notification outbox: enqueue exactly once, claim with a lease, finish or reschedule.

Several daemons may share one database. Enqueueing is ``INSERT ... ON CONFLICT DO
NOTHING`` on a unique key, so a reminder is enqueued once however many sweep at
once. Claims use ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite
serialises writers with ``BEGIN IMMEDIATE``) and a lease: the claims of a daemon
that died are taken again once the lease has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from qiflow.clock import ensure_utc
from qiflow.snapshots import NOTIFICATION_STATUSES, DaemonStatus, OutboxStatus, Queued
from qiflow.store.tables import DAEMON, NOTIFICATION, PROJECT

PENDING, SENDING, SENT, DEAD = NOTIFICATION_STATUSES


#: Notifications with their project's reference and title (None for rows of no project).
_WITH_PROJECT = select(
    NOTIFICATION,
    PROJECT.c.ref.label("project_ref"),
    PROJECT.c.title.label("project_title"),
).outerjoin(PROJECT, PROJECT.c.id == NOTIFICATION.c.project_id)


class Outbox:
    def __init__(self, conn: Connection, *, postgres: bool) -> None:
        self._conn = conn
        self._postgres = postgres
        #: How many rows the last :meth:`claim` took from a daemon whose lease ran out.
        self.taken_over = 0

    def enqueue(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert notifications whose key is new; return how many were new."""
        if not rows:
            return 0
        dialect = postgresql if self._postgres else sqlite
        total = 0
        for start in range(0, len(rows), 500):
            chunk = [{**r, "status": PENDING, "attempts": 0} for r in rows[start : start + 500]]
            stmt = (
                dialect.insert(NOTIFICATION)
                .values(chunk)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(NOTIFICATION.c.id)
            )
            total += len(self._conn.execute(stmt).all())
        return total

    def claim(self, *, now: datetime, daemon: str, lease: timedelta, limit: int) -> list[Queued]:
        """Take due notifications (or ones whose lease ran out) for ``daemon``: those of the
        first ``limit`` found, and every other due one of the same people."""
        now = ensure_utc(now)
        due = or_(
            and_(NOTIFICATION.c.status == PENDING, NOTIFICATION.c.not_before <= now),
            and_(NOTIFICATION.c.status == SENDING, NOTIFICATION.c.lease_until < now),
        )
        pick = (
            select(NOTIFICATION.c.id)
            .where(due)
            .order_by(NOTIFICATION.c.recipient, NOTIFICATION.c.not_before, NOTIFICATION.c.id)
            .limit(limit)
        )
        if self._postgres:
            pick = pick.with_for_update(skip_locked=True)
        ids = list(self._conn.execute(pick).scalars())
        if not ids:
            return []
        # Take the rest of the due rows of the people reached, so a digest is never split.
        recipients = select(NOTIFICATION.c.recipient).where(NOTIFICATION.c.id.in_(ids)).distinct()
        rest = select(NOTIFICATION.c.id).where(
            due, NOTIFICATION.c.recipient.in_(recipients), NOTIFICATION.c.id.not_in(ids)
        )
        if self._postgres:
            rest = rest.with_for_update(skip_locked=True)
        ids += list(self._conn.execute(rest).scalars())
        self.taken_over = self._conn.execute(
            select(func.count()).where(NOTIFICATION.c.id.in_(ids), NOTIFICATION.c.status == SENDING)
        ).scalar_one()
        self._conn.execute(
            update(NOTIFICATION)
            .where(NOTIFICATION.c.id.in_(ids))
            .values(status=SENDING, claimed_by=daemon, lease_until=now + lease)
        )
        stmt = _WITH_PROJECT.where(NOTIFICATION.c.id.in_(ids)).order_by(NOTIFICATION.c.id)
        return [Queued.from_row(row) for row in self._conn.execute(stmt).mappings()]

    def assign_key(self, ids: Sequence[int], key: str) -> None:
        """Fix the idempotency key of a message before it is first sent, so every retry
        of it (even by another daemon after a crash) carries the same key."""
        self._conn.execute(
            update(NOTIFICATION)
            .where(NOTIFICATION.c.id.in_(ids), NOTIFICATION.c.message_key.is_(None))
            .values(message_key=key)
        )

    def mark_sent(self, ids: Sequence[int], *, daemon: str, now: datetime) -> int:
        result = self._conn.execute(
            update(NOTIFICATION)
            .where(_mine(ids, daemon))
            .values(
                status=SENT,
                sent_at=ensure_utc(now),
                lease_until=None,
                attempts=NOTIFICATION.c.attempts + 1,  # the attempt that succeeded counts
            )
        )
        return result.rowcount or 0

    def attempts(self, ids: Sequence[int], *, daemon: str) -> int:
        """The most attempts any of ``daemon``'s claimed ``ids`` has had so far."""
        found = self._conn.execute(select(NOTIFICATION.c.attempts).where(_mine(ids, daemon)))
        return int(max(list(found.scalars()) or [0]))

    def reschedule(
        self,
        ids: Sequence[int],
        *,
        daemon: str,
        dead: bool,
        attempts: int,
        error: str,
        not_before: datetime,
    ) -> None:
        """Record a failed attempt on ``daemon``'s claims: try again later, or dead-letter."""
        self._conn.execute(
            update(NOTIFICATION)
            .where(_mine(ids, daemon))
            .values(
                status=DEAD if dead else PENDING,
                attempts=attempts,
                last_error=error[:2000],
                lease_until=None,
                claimed_by=None,
                not_before=ensure_utc(not_before),
            )
        )

    def renew(self, ids: Sequence[int], *, daemon: str, until: datetime) -> set[int]:
        """Extend ``daemon``'s lease on ``ids`` to ``until``; return the ids it still holds
        (a claim whose lease ran out may have been taken by another daemon)."""
        if not ids:
            return set()
        self._conn.execute(
            update(NOTIFICATION).where(_mine(ids, daemon)).values(lease_until=ensure_utc(until))
        )
        held = select(NOTIFICATION.c.id).where(_mine(ids, daemon))
        return set(self._conn.execute(held).scalars())

    def release(self, daemon: str, *, keep: Sequence[int] = ()) -> int:
        """Give back everything ``daemon`` holds but has not finished (on shutdown), except
        ``keep``: messages still in flight, left to finish or to expire with their lease."""
        where = and_(NOTIFICATION.c.claimed_by == daemon, NOTIFICATION.c.status == SENDING)
        if keep:
            where = and_(where, NOTIFICATION.c.id.not_in(list(keep)))
        result = self._conn.execute(
            update(NOTIFICATION)
            .where(where)
            .values(status=PENDING, claimed_by=None, lease_until=None)
        )
        return result.rowcount or 0

    def recent(self, *, status: str | None = None, limit: int = 100) -> list[Queued]:
        """Notifications, newest first."""
        stmt = _WITH_PROJECT.order_by(NOTIFICATION.c.id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(NOTIFICATION.c.status == status)
        return [Queued.from_row(row) for row in self._conn.execute(stmt).mappings()]

    def retry(self, ids: Sequence[int] | None, now: datetime) -> int:
        """Put dead letters (all, or the ids given) back in the queue."""
        where = NOTIFICATION.c.status == DEAD
        if ids:
            where = and_(where, NOTIFICATION.c.id.in_(ids))
        result = self._conn.execute(
            update(NOTIFICATION)
            .where(where)
            .values(status=PENDING, attempts=0, not_before=ensure_utc(now), last_error=None)
        )
        return result.rowcount or 0

    def purge(self, *, status: str, before: datetime) -> int:
        """Delete sent or dead notifications created before ``before``."""
        if status not in (SENT, DEAD):
            raise ValueError("only sent or dead notifications can be purged")
        result = self._conn.execute(
            delete(NOTIFICATION).where(
                NOTIFICATION.c.status == status, NOTIFICATION.c.created_at < ensure_utc(before)
            )
        )
        return result.rowcount or 0

    def status(self) -> OutboxStatus:
        counts = self._conn.execute(
            select(NOTIFICATION.c.status, func.count()).group_by(NOTIFICATION.c.status)
        ).all()
        oldest = self._conn.execute(
            select(func.min(NOTIFICATION.c.not_before)).where(
                NOTIFICATION.c.status.in_([PENDING, SENDING])
            )
        ).scalar()
        daemons = self._conn.execute(select(DAEMON).order_by(DAEMON.c.name)).mappings()
        return OutboxStatus(
            counts={status: int(n) for status, n in counts},
            oldest_pending=ensure_utc(oldest) if oldest else None,
            daemons=tuple(
                DaemonStatus(
                    name=d["name"],
                    last_sweep_at=ensure_utc(d["last_sweep_at"]) if d["last_sweep_at"] else None,
                    last_delivery_at=(
                        ensure_utc(d["last_delivery_at"]) if d["last_delivery_at"] else None
                    ),
                    updated_at=ensure_utc(d["updated_at"]),
                )
                for d in daemons
            ),
        )

    def heartbeat(
        self, daemon: str, now: datetime, *, sweep: bool = False, delivery: bool = False
    ) -> None:
        values: dict[str, Any] = {"updated_at": ensure_utc(now)}
        if sweep:
            values["last_sweep_at"] = ensure_utc(now)
        if delivery:
            values["last_delivery_at"] = ensure_utc(now)
        dialect = postgresql if self._postgres else sqlite
        stmt = dialect.insert(DAEMON).values(name=daemon, **values)
        self._conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


def _mine(ids: Sequence[int], daemon: str) -> Any:
    return and_(
        NOTIFICATION.c.id.in_(ids),
        NOTIFICATION.c.claimed_by == daemon,
        NOTIFICATION.c.status == SENDING,
    )
