"""The workflow versions projects were created on, kept so they stay loadable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from qiflow.clock import ensure_utc
from qiflow.store.tables import WORKFLOW


@dataclass(frozen=True)
class StoredWorkflow:
    name: str
    version: int
    sha256: str
    source: str


class Workflows:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def stored(self) -> list[StoredWorkflow]:
        stmt = select(WORKFLOW.c.name, WORKFLOW.c.version, WORKFLOW.c.sha256, WORKFLOW.c.source)
        return [
            StoredWorkflow(*row)
            for row in self._conn.execute(stmt.order_by(WORKFLOW.c.name, WORKFLOW.c.version))
        ]

    def has(self, name: str, version: int) -> bool:
        stmt = select(WORKFLOW.c.version).where(
            WORKFLOW.c.name == name, WORKFLOW.c.version == version
        )
        return self._conn.execute(stmt).first() is not None

    def add(self, name: str, version: int, sha256: str, source: str, at: datetime) -> None:
        """Keep a workflow version, once: a concurrent first use that stored it already wins."""
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        self._conn.execute(
            dialect.insert(WORKFLOW)
            .values(
                name=name, version=version, sha256=sha256, source=source, loaded_at=ensure_utc(at)
            )
            .on_conflict_do_nothing(index_elements=["name", "version"])
        )
