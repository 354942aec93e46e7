"""The event trail (each project's hash chain), and the results remembered per idempotency key."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select
from sqlalchemy.exc import OperationalError

from qiflow import canonical
from qiflow.audit import dumps
from qiflow.clock import ensure_utc
from qiflow.snapshots import Event
from qiflow.store.tables import EVENT, IDEMPOTENCY, PROJECT

#: How long a reader waits for transactions still inserting events (seconds).
LOCK_WAIT = 5.0
#: PostgreSQL's SQLSTATE for a lock not granted within ``lock_timeout``.
LOCK_NOT_AVAILABLE = "55P03"

#: The columns of a :class:`StoredEvent`, in its field order (``scheme`` last).
_STORED = (
    EVENT.c.seq,
    EVENT.c.project_id,
    EVENT.c.pos,
    EVENT.c.version,
    EVENT.c.type,
    EVENT.c.actor,
    EVENT.c.payload,
    EVENT.c.created_at,
    EVENT.c.prev_hash,
    EVENT.c.hash,
    EVENT.c.scheme,
)

_INSERT_EVENT = insert(EVENT).returning(EVENT.c.seq)
#: A project's events, in the order of ``Event``'s fields (its history: built once).
_HISTORY = (
    select(*_STORED[:-1]).where(EVENT.c.project_id == bindparam("project_id")).order_by(EVENT.c.pos)
)
_INSERT_EVENTS = insert(EVENT).returning(EVENT.c.seq, sort_by_parameter_order=True)


@dataclass(frozen=True)
class NewEvent:
    """An event a command produced, not yet appended to the trail."""

    type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class StoredEvent:
    """An event exactly as stored (its payload as the hashed JSON text), for audits."""

    seq: int
    project_id: str
    pos: int
    version: int
    type: str
    actor: str
    payload: str
    created_at: datetime
    prev_hash: str
    hash: str
    #: How ``hash`` was computed (see qiflow.audit).
    scheme: int = 1

    @cached_property
    def parsed(self) -> Any:
        """The payload, parsed once (for hashing and for :attr:`event`)."""
        return json.loads(self.payload)

    @property
    def event(self) -> Event:
        return Event(
            seq=self.seq,
            project_id=self.project_id,
            pos=self.pos,
            version=self.version,
            type=self.type,
            actor=self.actor,
            payload=canonical.shown(self.parsed) if '"redacted"' in self.payload else self.parsed,
            created_at=self.created_at,
            prev_hash=self.prev_hash,
            hash=self.hash,
        )


@dataclass(frozen=True)
class TrailEntry:
    """An event with the project fields a notice about it needs."""

    seq: int
    type: str
    actor: str
    payload: str
    project_id: str
    ref: str
    title: str
    owner: str | None
    sponsor: str | None


@dataclass(frozen=True)
class Remembered:
    """What a command with an idempotency key returned the first time."""

    command: str
    project_id: str
    #: The project snapshot it returned, as JSON.
    result: str
    created_at: datetime
    #: The request's fingerprint (None for keys remembered before fingerprints).
    fingerprint: str | None = None
    #: The refusal it ended with, as JSON (None: it succeeded).
    refusal: str | None = None


class Events:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(
        self,
        project_id: str,
        *,
        event_count: int,
        head_hash: str,
        version: int,
        actor: str,
        at: datetime,
        events: Sequence[NewEvent],
    ) -> tuple[list[Event], str]:
        """Insert events after the project's head; return them and the new head hash."""
        rows = []
        for offset, new in enumerate(events, start=1):
            pos = event_count + offset
            payload = dumps(new.payload)
            body = canonical.content(
                project_id=project_id,
                pos=pos,
                version=version,
                type=new.type,
                actor=actor,
                payload=new.payload,
                created_at=at,
            )
            digest = canonical.chain(head_hash, body)
            rows.append(
                {
                    "scheme": canonical.SCHEME,
                    "project_id": project_id,
                    "pos": pos,
                    "version": version,
                    "type": new.type,
                    "actor": actor,
                    "payload": payload,
                    "created_at": ensure_utc(at),
                    "prev_hash": head_hash,
                    "hash": digest,
                }
            )
            head_hash = digest
        if not rows:
            return [], head_hash
        if len(rows) == 1:
            seqs = [self._conn.execute(_INSERT_EVENT, rows[0]).scalar_one()]
        else:
            seqs = list(self._conn.execute(_INSERT_EVENTS, rows).scalars().all())
        return [
            Event.from_row({**row, "seq": seq}) for row, seq in zip(rows, seqs, strict=True)
        ], head_hash

    def of_project(self, project_id: str) -> list[Event]:
        """The project's events in position order (its history), read as plain tuples."""
        loads = canonical.loads_shown
        rows = self._conn.execute(_HISTORY, {"project_id": project_id})
        return [
            Event(seq, pid, pos, version, kind, actor, loads(payload), ensure_utc(at), prev, digest)
            for seq, pid, pos, version, kind, actor, payload, at, prev, digest in rows
        ]

    def stored(self, project_id: str) -> list[StoredEvent]:
        """The project's events as stored, in position order."""
        stmt = select(EVENT).where(EVENT.c.project_id == project_id).order_by(EVENT.c.pos)
        return [
            StoredEvent(**{**row, "created_at": ensure_utc(row["created_at"])})
            for row in self._conn.execute(stmt).mappings()
        ]

    def horizon(self, wait: float = LOCK_WAIT) -> int | None:
        """The highest ``seq`` at or below which every event is committed: the one bound
        every reader of the trail stays within, so a late commit is never skipped.

        SQLite has one writer at a time, so events commit in ``seq`` order and the
        highest ``seq`` will do. On PostgreSQL a sequence number is taken at insert, so a
        transaction holding a lower one may commit after a higher one is visible: a SHARE
        lock on the event table waits for every transaction that inserted events to end,
        the highest ``seq`` is read under it, and the lock is given back at once (rolled
        back to a savepoint) -- later inserts get higher numbers and are left for the
        next read. The wait is bounded by ``wait`` seconds (``lock_timeout``), so a
        session left idle in a transaction that wrote events cannot stall readers for
        ever: then this returns None, and the caller reads nothing this round.
        """
        top = select(func.max(EVENT.c.seq))
        if self._conn.dialect.name != "postgresql":
            return int(self._conn.execute(top).scalar() or 0)
        savepoint = self._conn.begin_nested()
        try:
            self._conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(wait * 1000))}")
            self._conn.exec_driver_sql(f"LOCK TABLE {EVENT.name} IN SHARE MODE")
            found = self._conn.execute(top).scalar()
        except OperationalError as exc:
            savepoint.rollback()
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                return None
            raise
        savepoint.rollback()  # gives the lock back; everything at or below ``found`` is done
        return int(found or 0)

    def trails(self) -> Iterator[tuple[str, list[StoredEvent]]]:
        """Every project's events as stored, a project at a time (by id), in one query."""
        stmt = select(*_STORED).order_by(EVENT.c.project_id, EVENT.c.pos)
        current: str | None = None
        chain: list[StoredEvent] = []
        for row in self._conn.execute(stmt.execution_options(yield_per=2_000)):
            stored = StoredEvent(*row[:7], ensure_utc(row[7]), *row[8:10], scheme=row[10])
            if stored.project_id != current:
                if current is not None:
                    yield current, chain
                current, chain = stored.project_id, []
            chain.append(stored)
        if current is not None:
            yield current, chain

    def after(self, seq: int, limit: int, *, wait: float = LOCK_WAIT) -> list[TrailEntry]:
        """Committed events after ``seq`` (gap-safe, see :meth:`horizon`), oldest first,
        with their project's people (for notices)."""
        bound = self.horizon(wait)
        if bound is None or bound <= seq:
            return []
        stmt = (
            select(
                EVENT.c.seq,
                EVENT.c.type,
                EVENT.c.actor,
                EVENT.c.payload,
                EVENT.c.project_id,
                PROJECT.c.ref,
                PROJECT.c.title,
                PROJECT.c.owner,
                PROJECT.c.sponsor,
            )
            .join(PROJECT, PROJECT.c.id == EVENT.c.project_id)
            .where(EVENT.c.seq > seq, EVENT.c.seq <= bound)
            .order_by(EVENT.c.seq)
            .limit(limit)
        )
        return [TrailEntry(*row) for row in self._conn.execute(stmt)]

    def committed_after(self, seq: int, limit: int, *, wait: float = LOCK_WAIT) -> list[Event]:
        """Every project's committed events after ``seq``, in order, with no gaps (see
        :meth:`horizon`); nothing this round if a writer held the trail past ``wait``."""
        bound = self.horizon(wait)
        if bound is None or bound <= seq:
            return []
        stmt = (
            select(EVENT)
            .where(EVENT.c.seq > seq, EVENT.c.seq <= bound)
            .order_by(EVENT.c.seq)
            .limit(limit)
        )
        return [
            StoredEvent(**{**row, "created_at": ensure_utc(row["created_at"])}).event
            for row in self._conn.execute(stmt).mappings()
        ]


class Idempotency:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def recall(self, key: str) -> Remembered | None:
        stmt = select(
            IDEMPOTENCY.c.command,
            IDEMPOTENCY.c.project_id,
            IDEMPOTENCY.c.result,
            IDEMPOTENCY.c.created_at,
            IDEMPOTENCY.c.fingerprint,
            IDEMPOTENCY.c.refusal,
        ).where(IDEMPOTENCY.c.key == key)
        row = self._conn.execute(stmt).first()
        if row is None:
            return None
        command, project_id, result, created_at, fingerprint, refusal = row
        return Remembered(command, project_id, result, ensure_utc(created_at), fingerprint, refusal)

    def remember(
        self,
        key: str,
        project_id: str,
        command: str,
        result: str,
        at: datetime,
        *,
        fingerprint: str | None = None,
        refusal: str | None = None,
    ) -> None:
        self._conn.execute(
            insert(IDEMPOTENCY).values(
                key=key,
                project_id=project_id,
                command=command,
                result=result,
                created_at=ensure_utc(at),
                fingerprint=fingerprint,
                refusal=refusal,
            )
        )

    def forget(self, key: str) -> None:
        """Drop a key whose period ran out, so it can be used again."""
        self._conn.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key))

    def purge(self, before: datetime) -> int:
        """Drop every key remembered before ``before``; how many."""
        result = self._conn.execute(
            delete(IDEMPOTENCY).where(IDEMPOTENCY.c.created_at < ensure_utc(before))
        )
        return result.rowcount or 0
