"""The schema the migrations build is the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from qiflow.store import Store, create_sql_engine, normalise_url
from qiflow.store.migrate import (
    VERSION_TABLE,
    downgrade,
    head_revision,
    run_migrations,
    upgrade,
)
from qiflow.store.tables import metadata


@pytest.mark.parametrize("how", ["create_all", "migrations"])
def test_migrated_schema_matches_models(db_url: str, how: str) -> None:
    """A new database (made from the models) and an old one (upgraded by every migration
    from the first) end with the same schema."""
    engine = create_engine(normalise_url(db_url))
    try:
        if how == "migrations":
            downgrade(engine, "base")
            run_migrations(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_database_is_at_head(db_url: str) -> None:
    store = Store(db_url)
    try:
        assert store.revision() == head_revision()
    finally:
        store.dispose()


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    engine = create_sql_engine(sqlite_url)  # how the store opens every connection
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    engine = create_engine(normalise_url(db_url))
    try:
        downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"qiflow_alembic_version"}
        upgrade(engine)
        assert "qiflow_event" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _triggers(engine: Engine) -> set[str]:
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        if engine.dialect.name == "sqlite"
        else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    )
    with engine.connect() as conn:
        return set(conn.execute(text(query)).scalars())


def test_both_ways_make_the_event_table_append_only(db_url: str) -> None:
    engine = create_engine(normalise_url(db_url))
    try:
        made = _triggers(engine)
        downgrade(engine, "base")
        run_migrations(engine)
        assert _triggers(engine) == made
        assert made
        assert all(name.startswith("qiflow_event_append_only") for name in made)
    finally:
        engine.dispose()
