"""The notification outbox: enqueue exactly once, claim with a lease, finish or retry.

Several daemons may share one database. Enqueueing is ``INSERT ... ON CONFLICT DO
NOTHING`` on a unique key, so a reminder is enqueued once however many sweep at
once. Delivery claims rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL (SQLite serialises writers with ``BEGIN IMMEDIATE``) and a lease: the
claims of a daemon that died are taken again once the lease has passed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from qiflow.clock import ensure_utc
from qiflow.schema import metadata
from qiflow.store import Tx

NOTIFICATION = metadata.tables["notification"]
DAEMON = metadata.tables["daemon"]
PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"
MAX_RETRY_AFTER = 86_400.0  # a receiver's Retry-After is honoured up to a day


def enqueue(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert notifications whose key is new; return how many were new."""
    if not rows:
        return 0
    dialect = postgresql if tx.postgres else sqlite
    total = 0
    for start in range(0, len(rows), 500):
        chunk = [{**r, "status": PENDING, "attempts": 0} for r in rows[start : start + 500]]
        stmt = (
            dialect.insert(NOTIFICATION)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(NOTIFICATION.c.id)
        )
        total += len(tx.conn.execute(stmt).all())
    return total


def claim(tx: Tx, *, now: datetime, daemon: str, lease: timedelta, limit: int) -> list[RowMapping]:
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
    if tx.postgres:
        pick = pick.with_for_update(skip_locked=True)
    ids = list(tx.conn.execute(pick).scalars())
    if not ids:
        return []
    # Take the rest of the due rows of the people reached, so a digest is never split.
    recipients = select(NOTIFICATION.c.recipient).where(NOTIFICATION.c.id.in_(ids)).distinct()
    rest = select(NOTIFICATION.c.id).where(
        due, NOTIFICATION.c.recipient.in_(recipients), NOTIFICATION.c.id.not_in(ids)
    )
    if tx.postgres:
        rest = rest.with_for_update(skip_locked=True)
    ids += list(tx.conn.execute(rest).scalars())
    tx.conn.execute(
        update(NOTIFICATION)
        .where(NOTIFICATION.c.id.in_(ids))
        .values(status=SENDING, claimed_by=daemon, lease_until=now + lease)
    )
    stmt = select(NOTIFICATION).where(NOTIFICATION.c.id.in_(ids)).order_by(NOTIFICATION.c.id)
    return list(tx.conn.execute(stmt).mappings())


def assign_key(tx: Tx, ids: Sequence[int], key: str) -> None:
    """Fix the idempotency key of a message before it is first sent, so every retry
    of it (even by another daemon after a crash) carries the same key."""
    tx.conn.execute(
        update(NOTIFICATION)
        .where(NOTIFICATION.c.id.in_(ids), NOTIFICATION.c.message_key.is_(None))
        .values(message_key=key)
    )


def _mine(ids: Sequence[int], daemon: str) -> Any:
    return and_(
        NOTIFICATION.c.id.in_(ids),
        NOTIFICATION.c.claimed_by == daemon,
        NOTIFICATION.c.status == SENDING,
    )


def mark_sent(tx: Tx, ids: Sequence[int], *, daemon: str, now: datetime) -> int:
    result = tx.conn.execute(
        update(NOTIFICATION)
        .where(_mine(ids, daemon))
        .values(status=SENT, sent_at=ensure_utc(now), lease_until=None)
    )
    return result.rowcount or 0


def mark_failed(
    tx: Tx,
    ids: Sequence[int],
    *,
    daemon: str,
    now: datetime,
    error: str,
    retry_after: float | None,
    permanent: bool,
    max_attempts: int,
) -> str:
    """Count a failed attempt: back off and retry, or dead-letter. Returns the new status."""
    rows = tx.conn.execute(select(NOTIFICATION.c.attempts).where(_mine(ids, daemon))).scalars()
    attempts = max(list(rows) or [0]) + 1
    dead = permanent or attempts >= max_attempts
    delay = backoff(attempts)
    if retry_after is not None and retry_after == retry_after:  # not NaN
        delay = min(max(0.0, retry_after), MAX_RETRY_AFTER)
    tx.conn.execute(
        update(NOTIFICATION)
        .where(_mine(ids, daemon))
        .values(
            status=DEAD if dead else PENDING,
            attempts=attempts,
            last_error=error[:2000],
            lease_until=None,
            claimed_by=None,
            not_before=ensure_utc(now) + timedelta(seconds=delay),
        )
    )
    return DEAD if dead else PENDING


def backoff(attempts: int, base: float = 30.0, cap: float = 3600.0) -> float:
    """Exponential backoff with full jitter: up to base * 2^(attempts-1), at most ``cap``."""
    return float(random.uniform(0.5, 1.0) * min(cap, base * 2.0 ** (attempts - 1)))


def release(tx: Tx, daemon: str) -> int:
    """Give back everything ``daemon`` holds but has not finished (on shutdown)."""
    result = tx.conn.execute(
        update(NOTIFICATION)
        .where(NOTIFICATION.c.claimed_by == daemon, NOTIFICATION.c.status == SENDING)
        .values(status=PENDING, claimed_by=None, lease_until=None)
    )
    return result.rowcount or 0


def rows(tx: Tx, *, status: str | None = None, limit: int = 100) -> list[RowMapping]:
    stmt = select(NOTIFICATION).order_by(NOTIFICATION.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(NOTIFICATION.c.status == status)
    return list(tx.conn.execute(stmt).mappings())


def retry(tx: Tx, ids: Sequence[int] | None, now: datetime) -> int:
    """Put dead letters (all, or the ids given) back in the queue."""
    where = NOTIFICATION.c.status == DEAD
    if ids:
        where = and_(where, NOTIFICATION.c.id.in_(ids))
    result = tx.conn.execute(
        update(NOTIFICATION)
        .where(where)
        .values(status=PENDING, attempts=0, not_before=ensure_utc(now), last_error=None)
    )
    return result.rowcount or 0


def purge(tx: Tx, *, status: str, before: datetime) -> int:
    """Delete sent or dead notifications created before ``before``."""
    if status not in (SENT, DEAD):
        raise ValueError("only sent or dead notifications can be purged")
    result = tx.conn.execute(
        delete(NOTIFICATION).where(
            NOTIFICATION.c.status == status, NOTIFICATION.c.created_at < ensure_utc(before)
        )
    )
    return result.rowcount or 0


def stats(tx: Tx) -> dict[str, Any]:
    counts: dict[str, int] = dict(
        tx.conn.execute(
            select(NOTIFICATION.c.status, func.count()).group_by(NOTIFICATION.c.status)
        ).all()
    )
    oldest = tx.conn.execute(
        select(func.min(NOTIFICATION.c.not_before)).where(
            NOTIFICATION.c.status.in_([PENDING, SENDING])
        )
    ).scalar()
    daemons = list(tx.conn.execute(select(DAEMON).order_by(DAEMON.c.name)).mappings())
    return {
        "counts": {k: int(v) for k, v in counts.items()},
        "oldest_pending": ensure_utc(oldest) if oldest else None,
        "daemons": [dict(d) for d in daemons],
    }


def heartbeat(
    tx: Tx, daemon: str, now: datetime, *, sweep: bool = False, delivery: bool = False
) -> None:
    values: dict[str, Any] = {"updated_at": ensure_utc(now)}
    if sweep:
        values["last_sweep_at"] = ensure_utc(now)
    if delivery:
        values["last_delivery_at"] = ensure_utc(now)
    dialect = postgresql if tx.postgres else sqlite
    stmt = dialect.insert(DAEMON).values(name=daemon, **values)
    tx.conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))
