"""The project aggregate: project rows and their PDSA cycles, measures and data points."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Select, Update, bindparam, insert, select, update

from qiflow.clock import ensure_utc
from qiflow.snapshots import DataPoint, Measure, PdsaCycle, Project
from qiflow.store.tables import CYCLE, DATA_POINT, MEASURE, PROJECT

# The statements on every command's path are built once: building a statement and its
# cache key costs more than running it on SQLite.
_BY_KEY = {False: PROJECT.c.id, True: PROJECT.c.ref}
_PROJECT_BY = {
    (by_ref, False): select(PROJECT).where(_BY_KEY[by_ref] == bindparam("key"))
    for by_ref in (False, True)
} | {
    (by_ref, True): select(PROJECT).where(_BY_KEY[by_ref] == bindparam("key")).with_for_update()
    for by_ref in (False, True)
}


@functools.lru_cache(maxsize=128)
def _project_listing(filters: tuple[str, ...], withdrawn: bool) -> Select[Any]:
    """The listing for one combination of filters, built once: a bound parameter for
    each filter, limit and offset (an equality filter per column named after it)."""
    stmt = select(PROJECT).order_by(PROJECT.c.number)
    for name in filters:
        if name == "overdue_at":
            stmt = stmt.where(PROJECT.c.next_review_at < bindparam(name))
        elif name not in ("limit", "offset"):
            stmt = stmt.where(PROJECT.c[name] == bindparam(name))
    if not withdrawn:
        stmt = stmt.where(PROJECT.c.withdrawn_at.is_(None))
    if "limit" in filters:
        stmt = stmt.limit(bindparam("limit", type_=Integer))
    if "offset" in filters:
        stmt = stmt.offset(bindparam("offset", type_=Integer))
    return stmt


@functools.lru_cache(maxsize=64)
def _project_update(columns: tuple[str, ...]) -> Update:
    """``UPDATE project SET <columns> WHERE id = :_id AND version = :_expected``."""
    return (
        update(PROJECT)
        .where(PROJECT.c.id == bindparam("_id"), PROJECT.c.version == bindparam("_expected"))
        .values({name: bindparam(name) for name in columns})
    )


@dataclass(frozen=True)
class ProjectFilter:
    """Which projects a listing returns, in reference order."""

    state: str | None = None
    owner: str | None = None
    directorate: str | None = None
    workflow: str | None = None
    programme: str | None = None
    #: Only projects whose review was due before this instant.
    overdue_at: datetime | None = None
    #: Include projects withdrawn as created in error (they count nowhere otherwise).
    withdrawn: bool = False
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class AuditHead:
    """Where a project's hash chain should end, for an audit."""

    project_id: str
    ref: str
    event_count: int
    head_hash: str


@dataclass(frozen=True)
class DueReview:
    """A project whose review date has passed, as the reminder sweep needs it."""

    id: str
    ref: str
    title: str
    owner: str | None
    sponsor: str | None
    workflow: str
    workflow_version: int
    next_review_at: datetime


@dataclass(frozen=True)
class Reminded:
    """A project's review reminders enqueued up to now: its next stage falls due at
    ``next_at`` (None: every stage is enqueued) unless the review date changed meanwhile."""

    project_id: str
    next_review_at: datetime
    next_at: datetime | None


_REMINDED = (
    update(PROJECT)
    .where(PROJECT.c.id == bindparam("_id"), PROJECT.c.next_review_at == bindparam("_due"))
    .values(next_reminder_at=bindparam("_next"))
)


@dataclass(frozen=True)
class StoredProject:
    """A project as stored: the value readers see and the bookkeeping only commands use.

    The store hands out this frozen value, never its rows; a command that changes the
    project takes a fresh copy of the stored columns (``columns()``) to work on."""

    project: Project
    #: The project's place in the reference sequence (``QI-0007`` is number 7).
    number: int
    #: How many events the project's hash chain holds, and the hash of the last one.
    event_count: int
    head_hash: str
    #: The escalation rules a person dismissed for this project (None: none dismissed).
    escalation_dismissed: tuple[str, ...] | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> StoredProject:
        dismissed = row["escalation_dismissed"]
        return cls(
            project=Project.from_row(row),
            number=row["number"],
            event_count=row["event_count"],
            head_hash=row["head_hash"],
            escalation_dismissed=None if dismissed is None else tuple(dismissed),
        )

    def columns(self) -> dict[str, Any]:
        """A fresh copy of the stored columns, keyed by column name, for a command to change."""
        p = self.project
        return {
            "id": p.id,
            "number": self.number,
            "ref": p.ref,
            "title": p.title,
            "workflow": p.workflow,
            "workflow_version": p.workflow_version,
            "state": p.state,
            "previous_state": p.previous_state,
            "version": p.version,
            "owner": p.owner,
            "sponsor": p.sponsor,
            "directorate": p.directorate,
            "team": p.team,
            "aim": p.aim,
            "quality_objectives": list(p.quality_objectives),
            "primary_outcome": p.primary_outcome,
            "secondary_outcomes": list(p.secondary_outcomes),
            "expected_saving": p.expected_saving,
            "scale": p.scale,
            "learning": p.learning,
            "current_cycle": p.current_cycle,
            "lead_executive_sponsor": p.lead_executive_sponsor,
            "qi_sponsor": p.qi_sponsor,
            "programme_status": p.programme_status,
            "escalation_dismissed": (
                None if self.escalation_dismissed is None else list(self.escalation_dismissed)
            ),
            "plugin_fields": dict(p.fields) or None,
            "state_entered_at": p.state_entered_at,
            "state_entered_version": p.state_entered_version,
            "next_review_at": p.next_review_at,
            "event_count": self.event_count,
            "head_hash": self.head_hash,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
            "withdrawn_at": p.withdrawn_at,
        }


class Projects:
    """The project rows, handed out as frozen ``StoredProject`` values."""

    def __init__(self, conn: Connection, *, postgres: bool) -> None:
        self._conn = conn
        self._postgres = postgres

    def get(self, key: str, *, lock: bool = False) -> StoredProject | None:
        """The project by id or reference (``QI-0001``); locked for the transaction if asked."""
        by_ref = key.upper().startswith("QI-")
        stmt = _PROJECT_BY[by_ref, lock and self._postgres]
        row = self._conn.execute(stmt, {"key": key.upper() if by_ref else key}).mappings().first()
        return None if row is None else StoredProject.from_row(row)

    def all_rows(self) -> dict[str, StoredProject]:
        """Every project, by id, in one statement (for the audit)."""
        return {
            row["id"]: StoredProject.from_row(row)
            for row in self._conn.execute(select(PROJECT)).mappings()
        }

    def insert(self, values: Mapping[str, Any]) -> None:
        self._conn.execute(insert(PROJECT).values(**values))

    def update(self, project_id: str, expected_version: int, values: Mapping[str, Any]) -> bool:
        """The optimistic version check: update only if the version is still the one read."""
        params = {**values, "_id": project_id, "_expected": expected_version}
        return self._conn.execute(_project_update(tuple(sorted(values))), params).rowcount == 1

    def find(self, where: ProjectFilter) -> list[Project]:
        params: dict[str, Any] = {
            name: value
            for name, value in (
                ("state", where.state),
                ("owner", where.owner),
                ("directorate", where.directorate),
                ("workflow", where.workflow),
                ("programme_status", where.programme),
            )
            if value is not None
        }
        if where.overdue_at is not None:
            params["overdue_at"] = ensure_utc(where.overdue_at)
        if where.limit is not None:
            params["limit"] = where.limit
        if where.offset:
            params["offset"] = where.offset
        stmt = _project_listing(tuple(sorted(params)), where.withdrawn)
        return [Project.from_row(row) for row in self._conn.execute(stmt, params).mappings()]

    def audit_heads(self) -> list[AuditHead]:
        """Every project's chain length and head hash, in reference order."""
        stmt = select(
            PROJECT.c.id, PROJECT.c.ref, PROJECT.c.event_count, PROJECT.c.head_hash
        ).order_by(PROJECT.c.number)
        return [AuditHead(*row) for row in self._conn.execute(stmt)]

    def many(self, keys: Sequence[str]) -> list[Project]:
        """The projects with these ids or references (``QI-0001``), in one statement, in
        the order given; an unknown key is left out."""
        refs = [key.upper() for key in keys if key.upper().startswith("QI-")]
        ids = [key for key in keys if not key.upper().startswith("QI-")]
        stmt = select(PROJECT).where(PROJECT.c.ref.in_(refs) | PROJECT.c.id.in_(ids))
        found = [Project.from_row(row) for row in self._conn.execute(stmt).mappings()]
        place = {
            key.upper() if key.upper().startswith("QI-") else key: n for n, key in enumerate(keys)
        }
        return sorted(found, key=lambda p: place.get(p.ref, place.get(p.id, 0)))

    def due_for_review(self, now: datetime, limit: int | None = None) -> list[DueReview]:
        """Projects with a review reminder stage due by ``now``, the longest waiting first
        (indexed: projects already reminded of every stage due are not read)."""
        stmt = (
            select(
                PROJECT.c.id,
                PROJECT.c.ref,
                PROJECT.c.title,
                PROJECT.c.owner,
                PROJECT.c.sponsor,
                PROJECT.c.workflow,
                PROJECT.c.workflow_version,
                PROJECT.c.next_review_at,
            )
            .where(PROJECT.c.next_reminder_at <= ensure_utc(now))
            .where(PROJECT.c.next_review_at.is_not(None))
            .order_by(PROJECT.c.next_reminder_at)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        return [
            DueReview(*row[:-1], next_review_at=ensure_utc(row[-1]))
            for row in self._conn.execute(stmt)
        ]

    def reminded(self, done: Sequence[Reminded]) -> None:
        """Move each project's next reminder stage on, unless a command set a new review
        date since the sweep read it (then the new date's reminders stand)."""
        if done:
            self._conn.execute(
                _REMINDED,
                [
                    {
                        "_id": r.project_id,
                        "_due": ensure_utc(r.next_review_at),
                        "_next": None if r.next_at is None else ensure_utc(r.next_at),
                    }
                    for r in done
                ],
            )


class Records:
    """A project's PDSA cycles, measures and data points."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def cycles(self, project_id: str) -> list[PdsaCycle]:
        stmt = select(CYCLE).where(CYCLE.c.project_id == project_id).order_by(CYCLE.c.number)
        return [PdsaCycle.from_row(row) for row in self._conn.execute(stmt).mappings()]

    def cycle(self, project_id: str, number: int) -> PdsaCycle | None:
        stmt = select(CYCLE).where(CYCLE.c.project_id == project_id, CYCLE.c.number == number)
        row = self._conn.execute(stmt).mappings().first()
        return None if row is None else PdsaCycle.from_row(row)

    def save_cycle(self, project_id: str, number: int, values: Mapping[str, Any]) -> None:
        if self.cycle(project_id, number) is None:
            self._conn.execute(
                insert(CYCLE).values(
                    project_id=project_id, number=number, **{"observations": [], **values}
                )
            )
        elif values:
            self._conn.execute(
                update(CYCLE)
                .where(CYCLE.c.project_id == project_id, CYCLE.c.number == number)
                .values(**values)
            )

    def measures(self, project_id: str, *, voided: bool = False) -> list[Measure]:
        """The project's measures; voided ones only with ``voided=True``."""
        stmt = select(MEASURE).where(MEASURE.c.project_id == project_id).order_by(MEASURE.c.id)
        if not voided:
            stmt = stmt.where(MEASURE.c.voided_at.is_(None))
        return [Measure.from_row(row) for row in self._conn.execute(stmt).mappings()]

    def update_measure(self, measure_id: int, values: Mapping[str, Any]) -> None:
        self._conn.execute(update(MEASURE).where(MEASURE.c.id == measure_id).values(**values))

    def data_point(self, project_id: str, point_id: int) -> tuple[Measure, DataPoint] | None:
        """A data point of the project (voided or not), with its measure."""
        stmt = (
            select(DATA_POINT, MEASURE.c.name.label("measure_name"))
            .join(MEASURE, MEASURE.c.id == DATA_POINT.c.measure_id)
            .where(DATA_POINT.c.id == point_id, MEASURE.c.project_id == project_id)
        )
        row = self._conn.execute(stmt).mappings().first()
        if row is None:
            return None
        measure = [m for m in self.measures(project_id, voided=True) if m.id == row["measure_id"]]
        return measure[0], DataPoint.from_row(row)

    def update_data_point(self, point_id: int, values: Mapping[str, Any]) -> None:
        if "observed_at" in values:
            values = {**values, "observed_at": ensure_utc(values["observed_at"])}
        self._conn.execute(update(DATA_POINT).where(DATA_POINT.c.id == point_id).values(**values))

    def add_measure(self, values: Mapping[str, Any]) -> int:
        result = self._conn.execute(insert(MEASURE).values(**values).returning(MEASURE.c.id))
        return int(result.scalar_one())

    def add_data_point(self, values: Mapping[str, Any]) -> int:
        values = {**values, "observed_at": ensure_utc(values["observed_at"])}
        stmt = insert(DATA_POINT).values(**values).returning(DATA_POINT.c.id)
        return int(self._conn.execute(stmt).scalar_one())

    def data_points(self, measure_id: int, *, voided: bool = False) -> list[DataPoint]:
        """A measure's data points as corrected, in time order; voided ones only if asked."""
        stmt = (
            select(DATA_POINT)
            .where(DATA_POINT.c.measure_id == measure_id)
            .order_by(DATA_POINT.c.observed_at, DATA_POINT.c.id)
        )
        if not voided:
            stmt = stmt.where(DATA_POINT.c.voided_at.is_(None))
        return [DataPoint.from_row(row) for row in self._conn.execute(stmt).mappings()]
