"""The host's Alembic environment: its own metadata and the default ``alembic_version``.

Like any host sharing a database with qiflow, it leaves qiflow's tables (``qiflow_*``)
out of autogenerate.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import tests.host_app.models  # noqa: F401 - registers the host's tables


def include_name(name: str | None, type_: str, _parent: Any) -> bool:
    return not (type_ == "table" and name is not None and name.startswith("qiflow_"))


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
