"""Sign-off rounds of gates and the decisions on them, handed out as :class:`Signoff` values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from qiflow.clock import ensure_utc
from qiflow.snapshots import PASSED, PENDING, Decision, Row, Signoff
from qiflow.store.tables import DECISION, PROJECT, SIGNOFF


@dataclass(frozen=True)
class SignoffReminder:
    """A sign-off that needs a reminder, with the project fields the message names."""

    signoff: Signoff
    ref: str
    title: str
    owner: str | None
    sponsor: str | None


class Signoffs:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def of_project(self, project_id: str, gate: str | None = None) -> list[Signoff]:
        """Every round of the project's gates (of ``gate``, if given), by gate and round."""
        stmt = select(SIGNOFF).where(SIGNOFF.c.project_id == project_id)
        if gate is not None:
            stmt = stmt.where(SIGNOFF.c.gate == gate)
        rows = list(self._conn.execute(stmt.order_by(SIGNOFF.c.gate, SIGNOFF.c.round)).mappings())
        return self._with_decisions(rows)

    def insert(self, values: Mapping[str, Any]) -> int:
        stmt = insert(SIGNOFF).values(**values).returning(SIGNOFF.c.id)
        return int(self._conn.execute(stmt).scalar_one())

    def update(self, signoff_id: int, values: Mapping[str, Any]) -> None:
        self._conn.execute(update(SIGNOFF).where(SIGNOFF.c.id == signoff_id).values(**values))

    def add_decision(self, values: Mapping[str, Any]) -> None:
        self._conn.execute(insert(DECISION).values(**values))

    def expired(self, now: datetime) -> list[tuple[str, str, int]]:
        """(project id, gate, sign-off id) of passed sign-offs whose approval has run out."""
        stmt = (
            select(SIGNOFF.c.project_id, SIGNOFF.c.gate, SIGNOFF.c.id)
            .where(SIGNOFF.c.status == PASSED, SIGNOFF.c.valid_until <= ensure_utc(now))
            .order_by(SIGNOFF.c.id)
        )
        return [(r.project_id, r.gate, r.id) for r in self._conn.execute(stmt)]

    def to_remind(
        self, *, pending_since: datetime, expiring_between: tuple[datetime, datetime]
    ) -> list[SignoffReminder]:
        """Sign-offs pending since before ``pending_since``, and passed ones whose approval
        runs out within ``expiring_between`` (after its start, up to its end)."""
        start, end = (ensure_utc(t) for t in expiring_between)
        stmt = (
            select(SIGNOFF, PROJECT.c.ref, PROJECT.c.title, PROJECT.c.owner, PROJECT.c.sponsor)
            .join(PROJECT, PROJECT.c.id == SIGNOFF.c.project_id)
            .where(PROJECT.c.withdrawn_at.is_(None))
            .where(
                or_(
                    and_(
                        SIGNOFF.c.status == PENDING,
                        SIGNOFF.c.requested_at <= ensure_utc(pending_since),
                    ),
                    and_(
                        SIGNOFF.c.status == PASSED,
                        SIGNOFF.c.valid_until > start,
                        SIGNOFF.c.valid_until <= end,
                    ),
                )
            )
        )
        rows = list(self._conn.execute(stmt).mappings())
        signoffs = self._with_decisions(rows)
        return [
            SignoffReminder(s, r["ref"], r["title"], r["owner"], r["sponsor"])
            for s, r in zip(signoffs, rows, strict=True)
        ]

    def _with_decisions(self, rows: Sequence[Row]) -> list[Signoff]:
        if not rows:
            return []
        decisions: dict[int, list[Decision]] = {}
        stmt = (
            select(DECISION)
            .where(DECISION.c.signoff_id.in_([r["id"] for r in rows]))
            .order_by(DECISION.c.id)
        )
        for d in self._conn.execute(stmt).mappings():
            decisions.setdefault(d["signoff_id"], []).append(
                Decision(
                    role=d["role"],
                    approver=d["approver"],
                    delegated_by=d["delegated_by"],
                    decision=d["decision"],
                    comment=d["comment"],
                    decided_at=ensure_utc(d["decided_at"]),
                )
            )
        return [_signoff(r, tuple(decisions.get(r["id"], ()))) for r in rows]


def _signoff(row: Row, decisions: tuple[Decision, ...]) -> Signoff:
    return Signoff(
        id=row["id"],
        project_id=row["project_id"],
        gate=row["gate"],
        round=row["round"],
        stage=row["stage"],
        status=row["status"],
        form=json.loads(row["form"]),
        summary=json.loads(row["summary"]),
        roles=tuple(row["roles"]),
        mode=row["mode"],
        valid_for=row["valid_for"],
        requested_by=row["requested_by"],
        requested_at=ensure_utc(row["requested_at"]),
        requested_version=row["requested_version"],
        decided_at=ensure_utc(row["decided_at"]) if row["decided_at"] else None,
        valid_until=ensure_utc(row["valid_until"]) if row["valid_until"] else None,
        reason=row["reason"],
        decisions=decisions,
    )
