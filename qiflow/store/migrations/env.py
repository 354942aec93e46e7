"""Alembic environment: run with the connection qiflow hands over (see qiflow.store.migrate)."""

from __future__ import annotations

from alembic import context

from qiflow.store.migrate import VERSION_TABLE
from qiflow.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # a test builds a database as qiflow made it before it had its own version table
    version_table=context.config.attributes.get("version_table", VERSION_TABLE),
)
with context.begin_transaction():
    context.run_migrations()
