"""Create or upgrade a qiflow database with its Alembic migrations.

qiflow keeps its schema revision in its own table, ``qiflow_alembic_version``, so a
host application that uses Alembic keeps ``alembic_version`` to itself. A database
made before that (qiflow's revision in ``alembic_version``) is adopted on upgrade:
the revision moves to qiflow's table, and ``alembic_version`` is dropped if nothing
else is left in it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, inspect, text

from qiflow.exceptions import DatabaseError
from qiflow.store.tables import metadata

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "qiflow_alembic_version"
LEGACY_VERSION_TABLE = "alembic_version"
#: The revisions qiflow recorded in ``alembic_version`` before it had its own table.
LEGACY_REVISIONS = frozenset({"0001", "0002", "0003"})


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None, "qiflow ships at least one migration"
    return head


def is_known(revision: str) -> bool:
    """Whether this qiflow has ``revision`` among its migrations."""
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _legacy_revision(conn: Connection) -> str | None:
    """qiflow's revision in the shared ``alembic_version`` table (databases made before 0004)."""
    found = inspect(conn)
    if not found.has_table(LEGACY_VERSION_TABLE) or not found.has_table("event"):
        return None
    if "prev_hash" not in {c["name"] for c in found.get_columns("event")}:
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {LEGACY_VERSION_TABLE}")).scalars()
    ours = [r for r in rows if r in LEGACY_REVISIONS]
    return ours[0] if ours else None


def current_revision(conn: Connection) -> str | None:
    """The database's qiflow schema revision (None: no qiflow tables yet)."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision() or _legacy_revision(conn)


def check_known(revision: str | None, where: str) -> None:
    """Refuse a database at a revision this qiflow does not know (a newer qiflow's)."""
    if revision is not None and not is_known(revision):
        raise DatabaseError(
            f"{where} is at schema revision {revision}, newer than this qiflow knows "
            f"(its newest is {head_revision()}): a newer qiflow upgraded it; upgrade "
            "qiflow to use this database"
        )


def _adopt_legacy(conn: Connection) -> None:
    """Move qiflow's revision from ``alembic_version`` to ``qiflow_alembic_version``."""
    if inspect(conn).has_table(VERSION_TABLE):
        return
    revision = _legacy_revision(conn)
    if revision is None:
        return
    table = Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), primary_key=True),
    )
    table.create(conn)
    conn.execute(table.insert().values(version_num=revision))
    conn.execute(
        text(f"DELETE FROM {LEGACY_VERSION_TABLE} WHERE version_num = :r"), {"r": revision}
    )
    if conn.execute(text(f"SELECT count(*) FROM {LEGACY_VERSION_TABLE}")).scalar_one() == 0:
        conn.execute(text(f"DROP TABLE {LEGACY_VERSION_TABLE}"))


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest), in one transaction.

    A database without qiflow's tables gets them straight from the models and is
    stamped with the newest revision (the migrations' history created tables under
    names a host may use); an existing one is upgraded by the migrations.
    """
    config = alembic_config()
    with engine.begin() as conn:
        current = current_revision(conn)
        check_known(current, engine.url.render_as_string(hide_password=True))
        config.attributes["connection"] = conn
        if current is None and revision == "head":
            metadata.create_all(conn)
            command.stamp(config, "head")
            return
        _adopt_legacy(conn)
        command.upgrade(config, revision)


def run_migrations(engine: Engine, revision: str = "head") -> None:
    """Upgrade by the migrations alone, even from an empty database (for tests of them)."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to ``revision`` ("base" removes every qiflow table)."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
