"""Fixtures: every database test runs on SQLite and on PostgreSQL, each on a fresh database.

PostgreSQL tests run when QIFLOW_TEST_POSTGRES_URL is set (``.ci/run`` sets it), and then
fail, never skip, if the server cannot be reached. Fresh databases are cheap copies of a
template migrated once per session (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE``
on PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from qiflow import Engine, ManualClock
from qiflow.store import normalise_url
from qiflow.store.migrate import upgrade

PG_ENV = "QIFLOW_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgres")
#: A PgBouncer in transaction mode in front of that server (``.ci/pgbouncer/start``). When
#: set, modules with ``THROUGH_PGBOUNCER = True`` (the concurrency and daemon tests) also
#: run through it, as backend ``pgbouncer``; they fail, never skip, if it cannot be reached.
PGBOUNCER_ENV = "QIFLOW_TEST_PGBOUNCER_URL"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each database test once per backend; opted-in modules through PgBouncer too."""
    through = bool(os.environ.get(PGBOUNCER_ENV)) and getattr(
        metafunc.module, "THROUGH_PGBOUNCER", False
    )
    if "fresh_database" in metafunc.fixturenames:
        backends = [*BACKENDS, "pgbouncer"] if through else list(BACKENDS)
        metafunc.parametrize("fresh_database", backends, indirect=True)
    elif "pg_url" in metafunc.fixturenames and through:
        metafunc.parametrize("pg_url", ["postgres", "pgbouncer"], indirect=True)


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


class PostgresTemplate:
    """A migrated template database; ``fresh()`` clones it for one test."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(normalise_url(admin_url))
        self.template = f"qiflow_tpl_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{self.template}"')
        engine = create_engine(self.url(self.template))
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    def url(self, database: str) -> str:
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def _admin(self, sql: str) -> None:
        conninfo = self.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def fresh(self) -> str:
        name = f"qiflow_t_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_template() -> Iterator[PostgresTemplate | None]:
    url = _pg_admin_url()
    if url is None:
        yield None
        return
    template = PostgresTemplate(url)  # fails loudly if the server is unreachable
    yield template
    template.drop(template.template)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture(scope="session")
def pgbouncer_url() -> str | None:
    """The PgBouncer's URL, checked once: unreachable fails the tests that use it."""
    url = os.environ.get(PGBOUNCER_ENV)
    if not url:
        return None
    if _pg_admin_url() is None:
        pytest.fail(f"{PGBOUNCER_ENV} needs {PG_ENV} too: test databases are made on the server")
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, connect_timeout=10, prepare_threshold=None) as conn:
        conn.execute("SELECT 1")  # fails loudly if PgBouncer is not there
    return url


def _through(pgbouncer: str, database: str) -> str:
    """A database's URL through PgBouncer, with psycopg's prepared statements off."""
    url = make_url(normalise_url(pgbouncer)).set(database=database)
    url = url.update_query_dict({"prepare_threshold": "none"})
    return url.render_as_string(hide_password=False)


def _backend_url(
    backend: str, pg_template: PostgresTemplate | None, pgbouncer: str | None, name: str
) -> str:
    assert pg_template is not None
    if backend == "pgbouncer":
        assert pgbouncer is not None
        return _through(pgbouncer, name)
    return pg_template.url(name)


@pytest.fixture
def fresh_database(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    pg_template: PostgresTemplate | None,
) -> Iterator[Callable[[], str]]:
    """A factory of fresh, migrated databases on one backend, all dropped after the test."""
    backend = request.param
    if backend != "sqlite" and pg_template is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")
    pgbouncer = request.getfixturevalue("pgbouncer_url") if backend == "pgbouncer" else None
    made: list[str] = []

    def make() -> str:
        if pg_template is None or backend == "sqlite":
            path = tmp_path / f"qiflow-{len(made)}.db"
            shutil.copy(sqlite_template, path)
            made.append(str(path))
            return f"sqlite:///{path}"
        name = pg_template.fresh()
        made.append(name)
        return _backend_url(backend, pg_template, pgbouncer, name)

    yield make
    if backend != "sqlite" and pg_template is not None:
        for name in made:
            pg_template.drop(name)


@pytest.fixture
def db_url(fresh_database: Callable[[], str]) -> str:
    """The URL of a fresh, migrated database on each backend."""
    return fresh_database()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(db_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(db_url, clock=clock) as built:
        yield built


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "only-sqlite.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, pg_template: PostgresTemplate | None) -> Iterator[str]:
    """A fresh PostgreSQL database, for a test about several processes or connections
    sharing one (skipped without QIFLOW_TEST_POSTGRES_URL, like every PostgreSQL test);
    through PgBouncer too in modules that opt in."""
    if pg_template is None:
        pytest.skip(f"this test needs PostgreSQL: set {PG_ENV}")
    backend = getattr(request, "param", "postgres")
    pgbouncer = request.getfixturevalue("pgbouncer_url") if backend == "pgbouncer" else None
    name = pg_template.fresh()
    try:
        yield _backend_url(backend, pg_template, pgbouncer, name)
    finally:
        pg_template.drop(name)
