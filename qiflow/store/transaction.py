"""The store: transactions, each with one repository per aggregate, over SQLAlchemy Core.

SQLite and PostgreSQL run the same statements. On PostgreSQL the project row is
locked with ``SELECT ... FOR UPDATE`` for the length of a command; on SQLite a
write transaction starts with ``BEGIN IMMEDIATE`` (see :mod:`qiflow.store._sql`).
Repositories hand out frozen values (:mod:`qiflow.snapshots`), never rows; the one
exception is the project row, which the runner copies and changes as a dict.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from qiflow.clock import ensure_utc
from qiflow.exceptions import DatabaseError
from qiflow.store import migrate
from qiflow.store._sql import WRITE, create_sql_engine, missing_sqlite_file, normalise_url
from qiflow.store.access import Requests, Tokens
from qiflow.store.charters import Charters
from qiflow.store.counters import Counters
from qiflow.store.events import Events, Idempotency
from qiflow.store.measures import Measurement
from qiflow.store.migrate import check_known
from qiflow.store.operations import Operations
from qiflow.store.outbox import Outbox
from qiflow.store.people import People
from qiflow.store.privacy import Privacy
from qiflow.store.projects import Projects, Records
from qiflow.store.risks import Risks
from qiflow.store.signoffs import Signoffs
from qiflow.store.subscribers import Subscribers
from qiflow.store.workflows import Workflows


class Tx:
    """One database transaction, and the repositories that work inside it."""

    def __init__(self, conn: Connection) -> None:
        postgres = conn.dialect.name == "postgresql"
        self.projects = Projects(conn, postgres=postgres)
        self.records = Records(conn)
        self.events = Events(conn)
        self.idempotency = Idempotency(conn)
        self.workflows = Workflows(conn)
        self.people = People(conn)
        self.signoffs = Signoffs(conn)
        self.outbox = Outbox(conn, postgres=postgres)
        self.counters = Counters(conn)
        self.charters = Charters(conn)
        self.tokens = Tokens(conn)
        self.requests = Requests(conn, postgres=postgres)
        self.risks = Risks(conn)
        self.measurement = Measurement(conn)
        self.operations = Operations(conn)
        self.privacy = Privacy(conn)
        self.subscribers = Subscribers(conn, postgres=postgres)


class Store:
    """Owns the SQLAlchemy engine; hands out transactions."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self._engine = create_sql_engine(self.url)

    @property
    def backend(self) -> str:
        return self._engine.dialect.name

    @property
    def display_url(self) -> str:
        """The database URL with its password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed if the block returns, rolled back if it raises."""
        with self._connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield Tx(conn)

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Tx]:
        """A read transaction. With ``snapshot`` every statement sees the same committed
        state, whatever commits meanwhile: REPEATABLE READ, read only, on PostgreSQL; on
        SQLite every read transaction already is one (WAL keeps its snapshot)."""
        with self._connect() as conn:
            if snapshot and conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                yield Tx(conn)

    def now(self) -> datetime:
        """The database server's clock (so every daemon judges "due" by the same time)."""
        with self._connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                return ensure_utc(conn.execute(text("SELECT now()")).scalar_one())
            raw = conn.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(str(raw)).replace(tzinfo=UTC)

    def revision(self) -> str | None:
        """The database's schema revision (None for an empty database)."""
        with self._connect() as conn:
            return migrate.current_revision(conn)

    def head_revision(self) -> str:
        """The newest schema revision this qiflow knows."""
        return migrate.head_revision()

    def knows(self, revision: str) -> bool:
        """Whether ``revision`` is one of this qiflow's migrations (not a newer qiflow's)."""
        return migrate.is_known(revision)

    def backup_to(self, target: Path) -> None:
        """Copy a SQLite database to ``target`` with SQLite's online backup API.

        The copy is consistent while other processes keep writing (it is taken in steps
        and restarts if the source changes underneath).
        """
        if self.backend != "sqlite":
            raise DatabaseError(
                f"{self.display_url} is PostgreSQL: back it up with pg_dump (see the README's "
                "Operations section), then check the copy with `qiflow restore --check`"
            )
        raw = self._engine.raw_connection()
        try:
            source = raw.driver_connection
            assert isinstance(source, sqlite3.Connection)
            copy = sqlite3.connect(target)
            try:
                source.backup(copy, pages=1024)
            finally:
                copy.close()
        finally:
            raw.close()

    def integrity_problems(self) -> list[str]:
        """What SQLite's ``PRAGMA integrity_check`` finds (nothing on PostgreSQL)."""
        if self.backend != "sqlite":
            return []
        with self._connect() as conn:
            rows = [str(r) for r in conn.exec_driver_sql("PRAGMA integrity_check").scalars()]
        return [] if rows == ["ok"] else rows

    def readiness(self) -> str | None:
        """None if the database answers and is at this qiflow's schema; else why not,
        without its address (for load balancers)."""
        try:
            current = self.revision()
        except (DatabaseError, SQLAlchemyError):
            return "the database is unreachable"
        head = _head_revision()
        if current != head:
            return f"the database is at schema {current or 'none'}, not {head}: run `qiflow init`"
        return None

    def upgrade(self) -> None:
        """Create the tables, or upgrade them to this qiflow's schema."""
        self._check_directory()
        migrate.upgrade(self._engine)

    def _check_directory(self) -> None:
        """A SQLite file whose directory is missing: name the directory and what to do."""
        missing = missing_sqlite_file(self.url)
        if missing is not None and not missing.parent.is_dir():
            raise DatabaseError(
                f"{self.display_url}: cannot create {missing}: the directory "
                f"{missing.parent} does not exist; create it (mkdir -p {missing.parent}) "
                "or check the URL (--db or QIFLOW_DATABASE_URL)"
            )

    def ensure_schema(self, *, migrate: bool = False) -> None:
        """Check the database is at this qiflow's schema; upgrade it if ``migrate``."""
        missing = missing_sqlite_file(self.url)
        if missing is not None and not migrate:
            raise DatabaseError(
                f"{self.display_url}: there is no database file {missing}; run `qiflow init` "
                "to create it, or check the URL (--db or QIFLOW_DATABASE_URL)"
            )
        current, head = self.revision(), _head_revision()
        if current == head:
            return
        check_known(current, self.display_url)
        if migrate:
            self.upgrade()
        elif current is None:
            raise DatabaseError(
                f"{self.display_url} has no qiflow tables yet: run `qiflow init` (or pass "
                "migrate=True to Engine)"
            )
        else:
            raise DatabaseError(
                f"{self.display_url} is at schema revision {current}, this qiflow expects "
                f"{head}: run `qiflow init` to upgrade it"
            )

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self._engine.connect()
        except OperationalError as exc:
            self._check_directory()
            raise DatabaseError(
                f"cannot connect to {self.display_url}: {exc.orig}; check the URL "
                "(--db or QIFLOW_DATABASE_URL) and that the server is running"
            ) from exc
        with conn:
            yield conn

    def dispose(self) -> None:
        self._engine.dispose()


def _head_revision() -> str:
    return migrate.head_revision()
