"""The schema the migrations build is the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from qiflow.store import Store, create_sql_engine, normalise_url
from qiflow.store.migrate import downgrade, head_revision, upgrade
from qiflow.store.tables import metadata


def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = create_engine(normalise_url(db_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
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
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert "event" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
