"""Measurement: measures' chart settings, rebases, confirmed progress scores, and the
portfolio's series read in a fixed number of statements (none per project or point)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from qiflow.clock import ensure_utc
from qiflow.snapshots import ConfirmedScore, DataPoint, Measure, MeasureSeries, Rebase, Row
from qiflow.store.tables import CYCLE, DATA_POINT, MEASURE, MEASURE_REBASE, PROGRESS_SCORE


class Measurement:
    """Chart settings, rebases and progress scores; portfolio-wide reads."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def configure(self, measure_id: int, values: Mapping[str, Any]) -> None:
        """Set a measure's ``target``, ``is_primary`` or ``baseline_points``."""
        self._conn.execute(update(MEASURE).where(MEASURE.c.id == measure_id).values(**values))

    def chart_states(self, project_id: str) -> dict[int, dict[str, Any] | None]:
        """Measure id -> the chart state last saved (:meth:`save_chart_state`)."""
        stmt = select(MEASURE.c.id, MEASURE.c.chart_state).where(MEASURE.c.project_id == project_id)
        return {measure_id: state for measure_id, state in self._conn.execute(stmt)}

    def save_chart_state(self, measure_id: int, state: dict[str, Any] | None) -> None:
        self._conn.execute(
            update(MEASURE).where(MEASURE.c.id == measure_id).values(chart_state=state)
        )

    def clear_primary(self, project_id: str) -> None:
        self._conn.execute(
            update(MEASURE)
            .where(MEASURE.c.project_id == project_id, MEASURE.c.is_primary.is_(True))
            .values(is_primary=False)
        )

    def add_rebase(
        self, measure_id: int, at: datetime, reason: str, actor: str, now: datetime
    ) -> None:
        self._conn.execute(
            insert(MEASURE_REBASE).values(
                measure_id=measure_id,
                at=ensure_utc(at),
                reason=reason,
                actor=actor,
                created_at=ensure_utc(now),
            )
        )

    def rebases(self, measure_id: int) -> list[Rebase]:
        stmt = (
            select(MEASURE_REBASE)
            .where(MEASURE_REBASE.c.measure_id == measure_id)
            .order_by(MEASURE_REBASE.c.at, MEASURE_REBASE.c.id)
        )
        return [Rebase.from_row(row) for row in self._conn.execute(stmt).mappings()]

    def confirmed_score(self, project_id: str) -> ConfirmedScore | None:
        stmt = select(PROGRESS_SCORE).where(PROGRESS_SCORE.c.project_id == project_id)
        row = self._conn.execute(stmt).mappings().first()
        return None if row is None else _score(row)

    def confirm_score(self, project_id: str, score: float, at: datetime) -> None:
        self._conn.execute(delete(PROGRESS_SCORE).where(PROGRESS_SCORE.c.project_id == project_id))
        self._conn.execute(
            insert(PROGRESS_SCORE).values(
                project_id=project_id, score=score, confirmed_at=ensure_utc(at)
            )
        )

    def confirmed_scores(
        self, project_ids: Collection[str] | None = None
    ) -> dict[str, ConfirmedScore]:
        """Every confirmed score (of ``project_ids`` if given), in one statement."""
        stmt = select(PROGRESS_SCORE)
        if project_ids is not None:
            stmt = stmt.where(PROGRESS_SCORE.c.project_id.in_(list(project_ids)))
        return {row["project_id"]: _score(row) for row in self._conn.execute(stmt).mappings()}

    def studied_cycles(self, project_ids: Collection[str] | None = None) -> dict[str, int]:
        """How many PDSA cycles each project has studied, in one statement."""
        stmt = (
            select(CYCLE.c.project_id, func.count())
            .where(CYCLE.c.study.is_not(None))
            .group_by(CYCLE.c.project_id)
        )
        if project_ids is not None:
            stmt = stmt.where(CYCLE.c.project_id.in_(list(project_ids)))
        return {project_id: int(count) for project_id, count in self._conn.execute(stmt)}

    def series(self, project_ids: Collection[str] | None = None) -> dict[str, list[MeasureSeries]]:
        """Each project's measures with their points and rebases, as corrected (voided
        measures and points left out): three statements for any number of projects,
        measures and points (``project_ids`` None: the portfolio)."""
        counted = MEASURE.c.voided_at.is_(None)
        measures_stmt = select(MEASURE).where(counted).order_by(MEASURE.c.project_id, MEASURE.c.id)
        points_stmt = (
            select(DATA_POINT)
            .join(MEASURE, MEASURE.c.id == DATA_POINT.c.measure_id)
            .where(counted, DATA_POINT.c.voided_at.is_(None))
            .order_by(DATA_POINT.c.measure_id, DATA_POINT.c.observed_at, DATA_POINT.c.id)
        )
        rebases_stmt = (
            select(MEASURE_REBASE)
            .join(MEASURE, MEASURE.c.id == MEASURE_REBASE.c.measure_id)
            .where(counted)
            .order_by(MEASURE_REBASE.c.measure_id, MEASURE_REBASE.c.at, MEASURE_REBASE.c.id)
        )
        if project_ids is not None:
            wanted = MEASURE.c.project_id.in_(list(project_ids))
            measures_stmt = measures_stmt.where(wanted)
            points_stmt = points_stmt.where(wanted)
            rebases_stmt = rebases_stmt.where(wanted)
        measures = [Measure.from_row(row) for row in self._conn.execute(measures_stmt).mappings()]
        points: dict[int, list[DataPoint]] = defaultdict(list)
        for row in self._conn.execute(points_stmt).mappings():
            points[row["measure_id"]].append(DataPoint.from_row(row))
        rebases: dict[int, list[Rebase]] = defaultdict(list)
        for row in self._conn.execute(rebases_stmt).mappings():
            rebases[row["measure_id"]].append(Rebase.from_row(row))
        found: dict[str, list[MeasureSeries]] = defaultdict(list)
        for measure in measures:
            found[measure.project_id].append(
                MeasureSeries(measure, tuple(points[measure.id]), tuple(rebases[measure.id]))
            )
        return dict(found)


def _score(row: Row) -> ConfirmedScore:
    return ConfirmedScore(score=row["score"], confirmed_at=ensure_utc(row["confirmed_at"]))
