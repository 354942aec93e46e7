"""The built-in staff directory: people, their roles, deputies and channel choices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from qiflow.clock import ensure_utc
from qiflow.snapshots import Person
from qiflow.store.tables import PERSON

PERSON_DEFAULTS: dict[str, Any] = {
    "email": None,
    "directorate": None,
    "roles": [],
    "deputy_for": [],
    "channels": [],
    "active": True,
}


class People:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, person_id: str) -> Person | None:
        row = self._conn.execute(select(PERSON).where(PERSON.c.id == person_id)).mappings().first()
        return None if row is None else Person.from_row(row)

    def all(self, *, role: str | None = None) -> list[Person]:
        rows = self._conn.execute(select(PERSON).order_by(PERSON.c.id)).mappings()
        return [Person.from_row(r) for r in rows if role is None or role in r["roles"]]

    def save(
        self, people: Sequence[Mapping[str, Any]], *, replace: bool, at: datetime
    ) -> tuple[int, int, int]:
        """Insert or update people; with ``replace``, deactivate everyone not listed.

        Returns (added, updated, deactivated).
        """
        existing = set(self._conn.execute(select(PERSON.c.id)).scalars())
        added = updated = 0
        for person in people:
            values = {**PERSON_DEFAULTS, **person, "updated_at": ensure_utc(at)}
            if person["id"] in existing:
                self._conn.execute(
                    update(PERSON).where(PERSON.c.id == person["id"]).values(**values)
                )
                updated += 1
            else:
                self._conn.execute(insert(PERSON).values(**values))
                added += 1
        deactivated = 0
        if replace:
            listed = [p["id"] for p in people]
            deactivated = self._conn.execute(
                update(PERSON)
                .where(PERSON.c.id.not_in(listed), PERSON.c.active.is_(True))
                .values(active=False, updated_at=ensure_utc(at))
            ).rowcount
        return added, updated, deactivated
