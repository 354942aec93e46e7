"""Named counters: project reference numbers and the event-notice cursor."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from qiflow.store.tables import COUNTER


class Counters:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def next(self, name: str) -> int:
        """Increment a named counter under its row lock and return the new value."""
        stmt = (
            update(COUNTER)
            .where(COUNTER.c.name == name)
            .values(value=COUNTER.c.value + 1)
            .returning(COUNTER.c.value)
        )
        value = self._conn.execute(stmt).scalar()
        if value is None:
            self._conn.execute(insert(COUNTER).values(name=name, value=1))
            return 1
        return int(value)

    def value(self, name: str) -> int | None:
        """The counter's value, or None if it was never incremented."""
        found = self._conn.execute(select(COUNTER.c.value).where(COUNTER.c.name == name)).scalar()
        return None if found is None else int(found)

    def advance(self, name: str, to: int) -> None:
        """Raise the counter to ``to`` (never lower it: a slower sweep may commit later)."""
        self._conn.execute(
            update(COUNTER).where(COUNTER.c.name == name, COUNTER.c.value < to).values(value=to)
        )
