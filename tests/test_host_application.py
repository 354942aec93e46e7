"""qiflow as a guest: a host with its own SQLModel ``project`` table and its own Alembic
migrations, in the same process and the same database, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session, SQLModel, select

from qiflow import DatabaseError, Engine, ManualClock
from qiflow.audit import GENESIS, canonical, chain, dumps
from qiflow.snapshots import EDITABLE_FIELDS
from qiflow.store import normalise_url
from qiflow.store.migrate import VERSION_TABLE, alembic_config, head_revision
from qiflow.store.tables import metadata as qiflow_metadata
from tests.conftest import PostgresTemplate
from tests.host_app.models import HostProject

HOST_MIGRATIONS = Path(__file__).parent / "host_app" / "migrations"
HOST_HEAD = "a1b2c3d4e5f6"
PREFIX = "qiflow_"


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_template: PostgresTemplate | None
) -> Iterator[str]:
    """An empty database (no tables at all) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'host.db'}"
        return
    if pg_template is None:
        pytest.skip("PostgreSQL tests need QIFLOW_TEST_POSTGRES_URL")
    name = f"qiflow_host_{uuid.uuid4().hex[:12]}"
    pg_template._admin(f'CREATE DATABASE "{name}"')
    yield pg_template.url(name)
    pg_template.drop(name)


def host_upgrade(url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(HOST_MIGRATIONS))
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def versions(url: str) -> dict[str, list[str]]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            return {
                table: list(conn.execute(text(f"SELECT version_num FROM {table}")).scalars())
                for table in ("alembic_version", VERSION_TABLE)
                if table in tables
            }
    finally:
        engine.dispose()


def test_each_metadata_holds_only_its_own_tables() -> None:
    assert SQLModel.metadata.tables["project"].c.keys() == ["id", "name", "budget"]
    assert not [t for t in SQLModel.metadata.tables if t.startswith("qiflow_")]
    assert qiflow_metadata.tables
    assert all(name.startswith("qiflow_") for name in qiflow_metadata.tables)


@pytest.mark.parametrize("host_first", [True, False], ids=["host-first", "qiflow-first"])
def test_host_and_qiflow_share_one_database(empty_url: str, host_first: bool) -> None:
    if host_first:
        host_upgrade(empty_url)
    with Engine(empty_url, migrate=True, clock=ManualClock()) as engine:
        if not host_first:
            host_upgrade(empty_url)
        created = engine.create_project("Safer nights", actor="olivia", owner="olivia")
        sql = create_engine(normalise_url(empty_url))
        try:
            with Session(sql) as session:
                session.add(HostProject(name="Intranet refresh", budget=5))
                session.commit()
                hosts = session.exec(select(HostProject)).all()
            with sql.connect() as conn:
                context = MigrationContext.configure(
                    conn,
                    opts={"include_name": lambda n, t, _p: not (n or "").startswith("qiflow_")},
                )
                host_diff = compare_metadata(context, SQLModel.metadata)
                tables = set(inspect(conn).get_table_names())
        finally:
            sql.dispose()
        assert [h.name for h in hosts] == ["Intranet refresh"]
        assert [p.ref for p in engine.projects()] == [created.ref]
        assert engine.verify_audit() == []
    assert host_diff == []
    assert {"project", "event", "qiflow_project", "qiflow_event"} <= tables
    assert versions(empty_url) == {"alembic_version": [HOST_HEAD], VERSION_TABLE: [head_revision()]}
    # both again: nothing to do for either
    host_upgrade(empty_url)
    Engine(empty_url, migrate=True).close()
    assert versions(empty_url) == {"alembic_version": [HOST_HEAD], VERSION_TABLE: [head_revision()]}


def test_host_create_all_makes_only_the_hosts_tables(empty_url: str) -> None:
    engine = create_engine(normalise_url(empty_url))
    try:
        SQLModel.metadata.create_all(engine)
        assert set(inspect(engine).get_table_names()) == {"project", "event"}
    finally:
        engine.dispose()


def _legacy_database(url: str, host_revision: bool) -> tuple[str, str]:
    """A database made before the prefix: qiflow at 0003 in ``alembic_version``, one project."""
    config = alembic_config()
    config.attributes["version_table"] = "alembic_version"
    engine = create_engine(normalise_url(url))
    now = ManualClock().now()
    fields: dict[str, object] = {name: None for name in EDITABLE_FIELDS}
    fields.update(title="Old project", quality_objectives=[], secondary_outcomes=[])
    payload = dumps(
        {
            **fields,
            "ref": "QI-0001",
            "workflow": "qi_project",
            "workflow_version": 1,
            "state": "idea",
            "next_review_at": None,
        }
    )
    digest = chain(
        GENESIS,
        canonical(
            project_id="p1",
            pos=1,
            version=1,
            type="project.created",
            actor="olivia",
            payload=payload,
            created_at=now,
        ),
    )
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            conn.execute(
                text(
                    "INSERT INTO project (id, number, ref, title, workflow, workflow_version, "
                    "state, version, quality_objectives, secondary_outcomes, current_cycle, "
                    "programme_status, event_count, head_hash, created_at, updated_at, "
                    "state_entered_at, state_entered_version) VALUES "
                    "('p1', 1, 'QI-0001', 'Old project', 'qi_project', 1, 'idea', 1, '[]', "
                    "'[]', 0, 'none', 1, :h, :now, :now, :now, 1)"
                ),
                {"h": digest, "now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO event (project_id, pos, version, type, actor, payload, "
                    "created_at, prev_hash, hash) VALUES ('p1', 1, 1, 'project.created', "
                    "'olivia', :p, :now, :g, :h)"
                ),
                {"p": payload, "now": now, "g": GENESIS, "h": digest},
            )
            conn.execute(text("INSERT INTO counter (name, value) VALUES ('project', 1)"))
            if host_revision:
                conn.execute(text("INSERT INTO alembic_version VALUES ('hostrev01')"))
    finally:
        engine.dispose()
    return digest, payload


@pytest.mark.parametrize("host_revision", [False, True], ids=["alone", "beside-host-revision"])
def test_a_database_made_before_the_prefix_is_renamed_with_its_data(
    empty_url: str, host_revision: bool
) -> None:
    digest, _payload = _legacy_database(empty_url, host_revision)
    with pytest.raises(DatabaseError, match="run `qiflow init`"):
        Engine(empty_url)
    with Engine(empty_url, migrate=True) as engine:
        (project,) = engine.projects()
        assert (project.ref, project.title) == ("QI-0001", "Old project")
        (event,) = engine.history("QI-0001")
        assert event.hash == digest
        assert engine.verify_audit() == []
        assert engine.create_project("New one", actor="olivia").ref == "QI-0002"
    expected = {VERSION_TABLE: [head_revision()]}
    if host_revision:
        expected["alembic_version"] = ["hostrev01"]
    assert versions(empty_url) == expected
    sql = create_engine(normalise_url(empty_url))
    try:
        tables = set(inspect(sql).get_table_names())
    finally:
        sql.dispose()
    assert not {"project", "event", "counter"} & tables
