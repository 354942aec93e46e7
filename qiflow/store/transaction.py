"""The narrow store interface: named queries over SQLAlchemy Core, rows out as mappings.

SQLite and PostgreSQL run the same statements. On SQLite every connection gets
WAL, foreign keys and a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` (a deferred transaction that later upgrades to a write fails
with SQLITE_BUSY without waiting). On PostgreSQL the project row is locked with
``SELECT ... FOR UPDATE`` for the length of a command.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Update,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from qiflow.audit import canonical, chain, dumps
from qiflow.clock import ensure_utc
from qiflow.exceptions import DatabaseError
from qiflow.schema import metadata
from qiflow.snapshots import Event

PROJECT = metadata.tables["project"]
EVENT = metadata.tables["event"]
COUNTER = metadata.tables["counter"]
IDEMPOTENCY = metadata.tables["idempotency"]
WORKFLOW = metadata.tables["workflow_definition"]
CYCLE = metadata.tables["pdsa_cycle"]
MEASURE = metadata.tables["measure"]
DATA_POINT = metadata.tables["data_point"]
PERSON = metadata.tables["person"]
SIGNOFF = metadata.tables["signoff"]
DECISION = metadata.tables["signoff_decision"]

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
_WRITE = "qiflow_write"
PERSON_DEFAULTS: dict[str, Any] = {
    "email": None,
    "directorate": None,
    "roles": [],
    "deputy_for": [],
    "channels": [],
    "active": True,
}

# The statements on every command's path are built once: building a statement and its
# cache key costs more than running it on SQLite.
_BY_KEY = {False: PROJECT.c.id, True: PROJECT.c.ref}
_PROJECT_BY = {
    (by_ref, False): select(PROJECT).where(_BY_KEY[by_ref] == bindparam("key"))
    for by_ref in (False, True)
} | {
    (by_ref, True): select(PROJECT).where(_BY_KEY[by_ref] == bindparam("key")).with_for_update()
    for by_ref in (False, True)
}
_INSERT_EVENT = insert(EVENT).returning(EVENT.c.seq)
_INSERT_EVENTS = insert(EVENT).returning(EVENT.c.seq, sort_by_parameter_order=True)


@functools.lru_cache(maxsize=64)
def _project_update(columns: tuple[str, ...]) -> Update:
    """``UPDATE project SET <columns> WHERE id = :_id AND version = :_expected``."""
    return (
        update(PROJECT)
        .where(PROJECT.c.id == bindparam("_id"), PROJECT.c.version == bindparam("_expected"))
        .values({name: bindparam(name) for name in columns})
    )


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_sql_engine(url: str) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
        for pragma in SQLITE_PRAGMAS:
            dbapi_connection.execute(pragma)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@dataclass(frozen=True)
class NewEvent:
    type: str
    payload: Mapping[str, Any]


class Tx:
    """One database transaction, with the queries the engine needs."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    # projects -----------------------------------------------------------------
    def project(self, key: str, *, lock: bool = False) -> RowMapping | None:
        by_ref = key.upper().startswith("QI-")
        stmt = _PROJECT_BY[by_ref, lock and self.postgres]
        return self.conn.execute(stmt, {"key": key.upper() if by_ref else key}).mappings().first()

    def next_number(self, name: str) -> int:
        """Increment a named counter under its row lock and return the new value."""
        stmt = (
            update(COUNTER)
            .where(COUNTER.c.name == name)
            .values(value=COUNTER.c.value + 1)
            .returning(COUNTER.c.value)
        )
        value = self.conn.execute(stmt).scalar()
        if value is None:
            self.conn.execute(insert(COUNTER).values(name=name, value=1))
            return 1
        return int(value)

    def insert_project(self, values: Mapping[str, Any]) -> None:
        self.conn.execute(insert(PROJECT).values(**values))

    def update_project(
        self, project_id: str, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        """The optimistic version check: update only if the version is still the one read."""
        params = {**values, "_id": project_id, "_expected": expected_version}
        return self.conn.execute(_project_update(tuple(sorted(values))), params).rowcount == 1

    def projects(
        self,
        *,
        state: str | None = None,
        owner: str | None = None,
        directorate: str | None = None,
        workflow: str | None = None,
        programme: str | None = None,
        overdue_at: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RowMapping]:
        stmt = select(PROJECT).order_by(PROJECT.c.number)
        if state is not None:
            stmt = stmt.where(PROJECT.c.state == state)
        if owner is not None:
            stmt = stmt.where(PROJECT.c.owner == owner)
        if directorate is not None:
            stmt = stmt.where(PROJECT.c.directorate == directorate)
        if workflow is not None:
            stmt = stmt.where(PROJECT.c.workflow == workflow)
        if programme is not None:
            stmt = stmt.where(PROJECT.c.programme_status == programme)
        if overdue_at is not None:
            stmt = stmt.where(PROJECT.c.next_review_at < ensure_utc(overdue_at))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        return list(self.conn.execute(stmt).mappings())

    def project_ids(self) -> list[tuple[str, str, int, str]]:
        """(id, ref, event_count, head_hash) for every project, for audits."""
        stmt = select(
            PROJECT.c.id, PROJECT.c.ref, PROJECT.c.event_count, PROJECT.c.head_hash
        ).order_by(PROJECT.c.number)
        return [(r.id, r.ref, r.event_count, r.head_hash) for r in self.conn.execute(stmt)]

    # events -------------------------------------------------------------------
    def append_events(
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
            content = canonical(
                project_id=project_id,
                pos=pos,
                version=version,
                type=new.type,
                actor=actor,
                payload=payload,
                created_at=at,
            )
            digest = chain(head_hash, content)
            rows.append(
                {
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
            seqs = [self.conn.execute(_INSERT_EVENT, rows[0]).scalar_one()]
        else:
            seqs = list(self.conn.execute(_INSERT_EVENTS, rows).scalars().all())
        return [
            Event.from_row({**row, "seq": seq}) for row, seq in zip(rows, seqs, strict=True)
        ], head_hash

    def events(self, project_id: str, *, after_pos: int = 0) -> list[RowMapping]:
        stmt = (
            select(EVENT)
            .where(EVENT.c.project_id == project_id, EVENT.c.pos > after_pos)
            .order_by(EVENT.c.pos)
        )
        return list(self.conn.execute(stmt).mappings())

    # idempotency --------------------------------------------------------------
    def idempotent(self, key: str) -> RowMapping | None:
        stmt = select(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key)
        return self.conn.execute(stmt).mappings().first()

    def remember(self, key: str, project_id: str, command: str, result: str, at: datetime) -> None:
        self.conn.execute(
            insert(IDEMPOTENCY).values(
                key=key,
                project_id=project_id,
                command=command,
                result=result,
                created_at=ensure_utc(at),
            )
        )

    # workflows ----------------------------------------------------------------
    def stored_workflows(self) -> list[RowMapping]:
        return list(
            self.conn.execute(
                select(WORKFLOW).order_by(WORKFLOW.c.name, WORKFLOW.c.version)
            ).mappings()
        )

    def has_workflow(self, name: str, version: int) -> bool:
        stmt = select(WORKFLOW.c.version).where(
            WORKFLOW.c.name == name, WORKFLOW.c.version == version
        )
        return self.conn.execute(stmt).first() is not None

    def store_workflow(
        self, name: str, version: int, sha256: str, source: str, at: datetime
    ) -> None:
        self.conn.execute(
            insert(WORKFLOW).values(
                name=name, version=version, sha256=sha256, source=source, loaded_at=ensure_utc(at)
            )
        )

    # PDSA cycles, measures, data points ---------------------------------------
    def cycles(self, project_id: str) -> list[RowMapping]:
        stmt = select(CYCLE).where(CYCLE.c.project_id == project_id).order_by(CYCLE.c.number)
        return list(self.conn.execute(stmt).mappings())

    def cycle(self, project_id: str, number: int) -> RowMapping | None:
        stmt = select(CYCLE).where(CYCLE.c.project_id == project_id, CYCLE.c.number == number)
        return self.conn.execute(stmt).mappings().first()

    def save_cycle(self, project_id: str, number: int, values: Mapping[str, Any]) -> None:
        if self.cycle(project_id, number) is None:
            self.conn.execute(
                insert(CYCLE).values(
                    project_id=project_id, number=number, **{"observations": [], **values}
                )
            )
        elif values:
            self.conn.execute(
                update(CYCLE)
                .where(CYCLE.c.project_id == project_id, CYCLE.c.number == number)
                .values(**values)
            )

    def measures(self, project_id: str) -> list[RowMapping]:
        stmt = select(MEASURE).where(MEASURE.c.project_id == project_id).order_by(MEASURE.c.id)
        return list(self.conn.execute(stmt).mappings())

    def insert_measure(self, values: Mapping[str, Any]) -> int:
        result = self.conn.execute(insert(MEASURE).values(**values).returning(MEASURE.c.id))
        return int(result.scalar_one())

    def insert_data_point(self, values: Mapping[str, Any]) -> int:
        values = {**values, "observed_at": ensure_utc(values["observed_at"])}
        stmt = insert(DATA_POINT).values(**values).returning(DATA_POINT.c.id)
        return int(self.conn.execute(stmt).scalar_one())

    def data_points(self, measure_id: int) -> list[RowMapping]:
        stmt = (
            select(DATA_POINT)
            .where(DATA_POINT.c.measure_id == measure_id)
            .order_by(DATA_POINT.c.observed_at, DATA_POINT.c.id)
        )
        return list(self.conn.execute(stmt).mappings())

    # people --------------------------------------------------------------------------
    def person(self, person_id: str) -> RowMapping | None:
        return self.conn.execute(select(PERSON).where(PERSON.c.id == person_id)).mappings().first()

    def people(self, *, role: str | None = None) -> list[RowMapping]:
        rows = self.conn.execute(select(PERSON).order_by(PERSON.c.id)).mappings()
        return [r for r in rows if role is None or role in r["roles"]]

    def save_people(
        self, people: Sequence[Mapping[str, Any]], *, replace: bool, at: datetime
    ) -> tuple[int, int, int]:
        """Insert or update people; with ``replace``, deactivate everyone not listed.

        Returns (added, updated, deactivated).
        """
        existing = set(self.conn.execute(select(PERSON.c.id)).scalars())
        added = updated = 0
        for person in people:
            values = {**PERSON_DEFAULTS, **person, "updated_at": ensure_utc(at)}
            if person["id"] in existing:
                self.conn.execute(
                    update(PERSON).where(PERSON.c.id == person["id"]).values(**values)
                )
                updated += 1
            else:
                self.conn.execute(insert(PERSON).values(**values))
                added += 1
        deactivated = 0
        if replace:
            listed = [p["id"] for p in people]
            deactivated = self.conn.execute(
                update(PERSON)
                .where(PERSON.c.id.not_in(listed), PERSON.c.active.is_(True))
                .values(active=False, updated_at=ensure_utc(at))
            ).rowcount
        return added, updated, deactivated

    # sign-offs -------------------------------------------------------------------------
    def signoffs(self, project_id: str, gate: str | None = None) -> list[RowMapping]:
        stmt = select(SIGNOFF).where(SIGNOFF.c.project_id == project_id)
        if gate is not None:
            stmt = stmt.where(SIGNOFF.c.gate == gate)
        return list(self.conn.execute(stmt.order_by(SIGNOFF.c.gate, SIGNOFF.c.round)).mappings())

    def insert_signoff(self, values: Mapping[str, Any]) -> int:
        stmt = insert(SIGNOFF).values(**values).returning(SIGNOFF.c.id)
        return int(self.conn.execute(stmt).scalar_one())

    def update_signoff(self, signoff_id: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(update(SIGNOFF).where(SIGNOFF.c.id == signoff_id).values(**values))

    def decisions(self, signoff_ids: Sequence[int]) -> list[RowMapping]:
        if not signoff_ids:
            return []
        stmt = (
            select(DECISION).where(DECISION.c.signoff_id.in_(signoff_ids)).order_by(DECISION.c.id)
        )
        return list(self.conn.execute(stmt).mappings())

    def insert_decision(self, values: Mapping[str, Any]) -> None:
        self.conn.execute(insert(DECISION).values(**values))

    def expired_signoffs(self, now: datetime) -> list[tuple[str, str, int]]:
        """(project id, gate, sign-off id) of passed sign-offs whose approval has run out."""
        stmt = (
            select(SIGNOFF.c.project_id, SIGNOFF.c.gate, SIGNOFF.c.id)
            .where(SIGNOFF.c.status == "passed", SIGNOFF.c.valid_until <= ensure_utc(now))
            .order_by(SIGNOFF.c.id)
        )
        return [(r.project_id, r.gate, r.id) for r in self.conn.execute(stmt)]


class Store:
    """Owns the SQLAlchemy engine; hands out transactions."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = create_sql_engine(self.url)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed if the block returns, rolled back if it raises."""
        with self._connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield Tx(conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._connect() as conn, conn.begin():
            yield Tx(conn)

    def revision(self) -> str | None:
        """The database's schema revision (None for an empty database)."""
        from qiflow.db import current_revision

        with self._connect() as conn:
            return current_revision(conn)

    def ensure_schema(self, *, migrate: bool = False) -> None:
        """Check the database is at this qiflow's schema; upgrade it if ``migrate``."""
        from qiflow import db

        current, head = self.revision(), db.head_revision()
        if current == head:
            return
        url = self.engine.url.render_as_string(hide_password=True)
        if migrate:
            db.upgrade(self.engine)
        elif current is None:
            raise DatabaseError(
                f"{url} has no qiflow tables yet: run `qiflow init` (or pass "
                "migrate=True to Engine)"
            )
        else:
            raise DatabaseError(
                f"{url} is at schema revision {current}, this qiflow expects "
                f"{head}: run `qiflow init` to upgrade it"
            )

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise DatabaseError(
                f"cannot connect to {self.engine.url.render_as_string(hide_password=True)}: "
                f"{exc.orig}; check the URL (--db or QIFLOW_DATABASE_URL) and that the "
                "server is running"
            ) from exc
        with conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["IntegrityError", "NewEvent", "Store", "Tx", "normalise_url"]
