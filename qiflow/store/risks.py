"""Projects' risk registers: the risks and their actions, handed out as :class:`Risk` values.

A risk's history is its project's events (``risk.*``); these rows hold where each
risk stands, so the portfolio's register and the reminder sweep read an index,
not the event trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, insert, select

from qiflow.clock import ensure_utc
from qiflow.risks.register import LIVE, Risk, RiskAction
from qiflow.snapshots import Row
from qiflow.store.tables import EVENT, PROJECT, RISK, RISK_ACTION


@dataclass(frozen=True)
class RiskFilter:
    """Which risks a portfolio listing returns: highest score first, then by project."""

    project_id: str | None = None
    band: str | None = None
    owner: str | None = None
    directorate: str | None = None
    #: Only risks whose review date is before this day.
    overdue_on: date | None = None
    #: Statuses to include (default: the live ones, open and tolerated).
    statuses: tuple[str, ...] = LIVE


@dataclass(frozen=True)
class RiskDue:
    """A live risk whose review is due, or one of its actions overdue, for the sweep."""

    risk: Risk
    project_id: str
    title: str
    sponsor: str | None
    #: The overdue action, or None when it is the review that is due.
    action: RiskAction | None = None


def _value(row: Row, actions: Sequence[RiskAction]) -> Risk:
    def utc(name: str) -> Any:
        return ensure_utc(row[name]) if row[name] is not None else None

    return Risk(
        id=row["risk"],
        description=row["description"],
        category=row["category"],
        owner=row["owner"],
        consequence=row["consequence"],
        likelihood=row["likelihood"],
        band=row["band"],
        review_by=row["review_by"],
        raised_at=ensure_utc(row["raised_at"]),
        raised_by=row["raised_by"],
        target=row["target"],
        controls=row["controls"],
        actions=tuple(actions),
        status=row["status"],
        reason=row["reason"],
        reviewed_at=utc("reviewed_at"),
        reviewed_by=row["reviewed_by"],
        extreme_since=utc("extreme_since"),
        sponsor_reviewed_at=utc("sponsor_reviewed_at"),
        project=row["ref"],
    )


def _action(row: Row) -> RiskAction:
    done = ensure_utc(row["done_at"]) if row["done_at"] is not None else None
    return RiskAction(row["action"], row["text"], row["owner"], row["due"], done)


_COLUMNS = (RISK, PROJECT.c.ref)
_ORDER = (RISK.c.score.desc(), PROJECT.c.number, RISK.c.risk)


class Risks:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def of_project(self, project_id: str) -> list[Risk]:
        """The project's risks, in the order they were raised (closed ones included)."""
        return self.find(RiskFilter(project_id=project_id, statuses=()), by_id=True)

    def find(self, where: RiskFilter, *, by_id: bool = False) -> list[Risk]:
        """Risks across the portfolio, highest score first (or by id within one project)."""
        stmt = select(*_COLUMNS).join(PROJECT, PROJECT.c.id == RISK.c.project_id)
        if where.project_id is not None:
            stmt = stmt.where(RISK.c.project_id == where.project_id)
        if where.statuses:
            stmt = stmt.where(RISK.c.status.in_(where.statuses))
        if where.band is not None:
            stmt = stmt.where(RISK.c.band == where.band)
        if where.owner is not None:
            stmt = stmt.where(RISK.c.owner == where.owner)
        if where.directorate is not None:
            stmt = stmt.where(PROJECT.c.directorate == where.directorate)
        if where.overdue_on is not None:
            stmt = stmt.where(RISK.c.review_by < where.overdue_on)
        rows = list(self._conn.execute(stmt.order_by(*_ORDER)).mappings())
        if by_id:
            rows.sort(key=lambda r: int(r["risk"][1:]))
        return self._with_actions(rows)

    def _with_actions(self, rows: Sequence[Row]) -> list[Risk]:
        if not rows:
            return []
        projects = {r["project_id"] for r in rows}
        stmt = (
            select(RISK_ACTION)
            .where(RISK_ACTION.c.project_id.in_(projects))
            .order_by(RISK_ACTION.c.project_id, RISK_ACTION.c.risk, RISK_ACTION.c.action)
        )
        actions: dict[tuple[str, str], list[RiskAction]] = {}
        for row in self._conn.execute(stmt).mappings():
            actions.setdefault((row["project_id"], row["risk"]), []).append(_action(row))
        for found in actions.values():
            found.sort(key=lambda a: int(a.id[1:]))
        return [_value(r, actions.get((r["project_id"], r["risk"]), [])) for r in rows]

    def save(self, project_id: str, risks: Sequence[Risk]) -> None:
        """Store ``risks`` as they now stand (each replaces its previous row and actions)."""
        for risk in risks:
            key = and_(RISK_ACTION.c.project_id == project_id, RISK_ACTION.c.risk == risk.id)
            self._conn.execute(delete(RISK_ACTION).where(key))
            self._conn.execute(
                delete(RISK).where(RISK.c.project_id == project_id, RISK.c.risk == risk.id)
            )
            self._conn.execute(
                insert(RISK).values(
                    project_id=project_id,
                    risk=risk.id,
                    description=risk.description,
                    category=risk.category,
                    owner=risk.owner,
                    consequence=risk.consequence,
                    likelihood=risk.likelihood,
                    score=risk.score,
                    band=risk.band,
                    target=risk.target,
                    controls=risk.controls,
                    status=risk.status,
                    reason=risk.reason,
                    review_by=risk.review_by,
                    raised_at=risk.raised_at,
                    raised_by=risk.raised_by,
                    reviewed_at=risk.reviewed_at,
                    reviewed_by=risk.reviewed_by,
                    extreme_since=risk.extreme_since,
                    sponsor_reviewed_at=risk.sponsor_reviewed_at,
                )
            )
            if risk.actions:
                self._conn.execute(
                    insert(RISK_ACTION),
                    [
                        {
                            "project_id": project_id,
                            "risk": risk.id,
                            "action": a.id,
                            "text": a.text,
                            "owner": a.owner,
                            "due": a.due,
                            "done_at": a.done_at,
                        }
                        for a in risk.actions
                    ],
                )

    def declared_none(self, project_id: str) -> bool:
        """Whether the project's owner declared that it carries no significant risks."""
        stmt = select(
            exists().where(EVENT.c.project_id == project_id, EVENT.c.type == "risk.none_declared")
        )
        return bool(self._conn.execute(stmt).scalar())

    def due(self, today: date) -> list[RiskDue]:
        """Live risks due for review by ``today``, and live risks' actions due before it."""
        people = (PROJECT.c.ref, PROJECT.c.title, PROJECT.c.sponsor)
        reviews = (
            select(RISK, *people)
            .join(PROJECT, PROJECT.c.id == RISK.c.project_id)
            .where(RISK.c.status.in_(LIVE), RISK.c.review_by <= today)
            .order_by(PROJECT.c.number, RISK.c.risk)
        )
        found = [
            RiskDue(_value(row, ()), row["project_id"], row["title"], row["sponsor"])
            for row in self._conn.execute(reviews).mappings()
        ]
        overdue = (
            select(
                RISK,
                *people,
                RISK_ACTION.c.action,
                RISK_ACTION.c.text,
                RISK_ACTION.c.owner.label("action_owner"),
                RISK_ACTION.c.due,
            )
            .join(PROJECT, PROJECT.c.id == RISK.c.project_id)
            .join(
                RISK_ACTION,
                and_(
                    RISK_ACTION.c.project_id == RISK.c.project_id,
                    RISK_ACTION.c.risk == RISK.c.risk,
                ),
            )
            .where(
                RISK.c.status.in_(LIVE),
                RISK_ACTION.c.done_at.is_(None),
                RISK_ACTION.c.due < today,
            )
            .order_by(PROJECT.c.number, RISK.c.risk, RISK_ACTION.c.action)
        )
        for row in self._conn.execute(overdue).mappings():
            action = RiskAction(row["action"], row["text"], row["action_owner"], row["due"])
            found.append(
                RiskDue(_value(row, ()), row["project_id"], row["title"], row["sponsor"], action)
            )
        return found
