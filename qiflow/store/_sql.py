"""Opening a database: the SQLAlchemy engine, with SQLite made safe for several writers.

On SQLite every connection gets WAL, foreign keys and a busy timeout, and write
transactions start with ``BEGIN IMMEDIATE`` (a deferred transaction that later
upgrades to a write fails with SQLITE_BUSY without waiting).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError

from qiflow.exceptions import DatabaseError

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
#: The execution option that makes a SQLite transaction ``BEGIN IMMEDIATE``.
WRITE = "qiflow_write"


SUPPORTED_URLS = (
    "sqlite:///PATH (a file), sqlite:// (in memory) or "
    "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
)
_DRIVERS = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


def _masked(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def normalise_url(url: str) -> str:
    """Check the URL is one qiflow supports; use psycopg 3 for ``postgresql://``.

    Raises DatabaseError naming what is supported for anything else (a malformed URL,
    another database, another driver).
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise DatabaseError(
            f"{_masked(str(url))!r} is not a database URL; use {SUPPORTED_URLS}"
        ) from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseError(
            f"{parsed.render_as_string(hide_password=True)}: {parsed.drivername} is not "
            f"supported; use {SUPPORTED_URLS}"
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL when it does not exist (None for anything else)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None
    path = Path(database)
    return None if path.exists() else path


#: The URL option that sets psycopg's ``prepare_threshold``: ``none`` turns server-side
#: prepared statements off, as PgBouncer in transaction mode needs (before 1.21).
PREPARE_THRESHOLD = "prepare_threshold"


def _postgres_options(url: str) -> tuple[str, dict[str, Any]]:
    """The URL without qiflow's own options, and the psycopg connect arguments they set."""
    parsed = make_url(url)
    raw = parsed.query.get(PREPARE_THRESHOLD)
    if raw is None:
        return url, {}
    word = raw if isinstance(raw, str) else raw[-1]
    if word.lower() == "none":
        threshold: int | None = None
    elif word.isdigit():
        threshold = int(word)
    else:
        raise DatabaseError(
            f"{parsed.render_as_string(hide_password=True)}: {PREPARE_THRESHOLD}={word!r} "
            "must be none (behind PgBouncer in transaction mode) or a whole number"
        )
    rest = parsed.difference_update_query([PREPARE_THRESHOLD])
    return rest.render_as_string(hide_password=False), {PREPARE_THRESHOLD: threshold}


def create_sql_engine(url: str) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        url, connect_args = _postgres_options(url)
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
        for pragma in SQLITE_PRAGMAS:
            dbapi_connection.execute(pragma)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
