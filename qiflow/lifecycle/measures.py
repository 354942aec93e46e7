"""Measures in the lifecycle: chart settings, rebases and CSV imports as commands, and
the watch that turns a change in a measure's chart into a ``measure.signal`` event.

:func:`watch` runs first when a command settles (before automatic transitions, so a
workflow can react with ``on = "measure.signal:concern"``): if the command touched a
measure or a data point, it charts the project's measures, compares each chart (XmR, or
the run chart a measure shows before 12 points) with the state saved last time, appends
a ``measure.signal`` for each that changed, and saves the new state. It also keeps the
confirmed progress score of ``review.recorded``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qiflow.exceptions import ValidationError
from qiflow.lifecycle import commands
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.runner import Change
from qiflow.measurement import PointRow, chart_state, picture, signal
from qiflow.snapshots import Measure
from qiflow.store import Tx

if TYPE_CHECKING:
    from qiflow.lifecycle.steps import Lifecycle

SIGNAL = "measure.signal"
#: A fixed baseline needs at least this many points (NHSRplotthedots' ``fix_after``).
MIN_BASELINE = 12


def find(draft: Draft, tx: Tx, name: str) -> Measure:
    for measure in tx.records.measures(draft.values["id"]):
        if measure.name == name:
            return measure
    raise ValidationError(f"{draft.values['ref']} has no measure {name!r}")


def configure(name: str, settings: Mapping[str, Any]) -> Change:
    """Set ``target``, ``primary`` or ``baseline_points`` of measure ``name``."""

    def change(draft: Draft, tx: Tx) -> None:
        measure = find(draft, tx, name)
        if settings.get("primary") and measure.kind != "outcome":
            raise ValidationError(
                f"{name!r} is a {measure.kind} measure; only an outcome measure can be primary"
            )
        values = {("is_primary" if k == "primary" else k): v for k, v in settings.items()}
        if settings.get("primary"):
            tx.measurement.clear_primary(draft.values["id"])
        tx.measurement.configure(measure.id, values)
        draft.emit("measure.configured", {"measure": name, **settings})

    return change


def add(name: str, kind: str, unit: str, direction: str, settings: Mapping[str, Any]) -> Change:
    """Add a measure, with its chart settings if any, in one command."""
    added = commands.add_measure(name, kind, unit, direction)
    configured = configure(name, settings) if settings else None

    def change(draft: Draft, tx: Tx) -> None:
        added(draft, tx)
        if configured is not None:
            configured(draft, tx)

    return change


def rebase(name: str, at: datetime, reason: str, actor: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        measure = find(draft, tx, name)
        tx.measurement.add_rebase(measure.id, at, reason, actor, draft.now)
        draft.emit("measure.rebased", {"measure": name, "at": at.isoformat(), "reason": reason})

    return change


def import_points(name: str, rows: Sequence[PointRow], source: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        measure = find(draft, tx, name)
        current = max(draft.values["current_cycle"], 1)
        wrong = [
            f"line {row.line}: cycle {row.cycle} (the current cycle is {current})"
            for row in rows
            if row.cycle is not None and row.cycle > current
        ]
        if wrong:
            raise ValidationError(
                f"{source}: {len(wrong)} bad row(s), nothing imported: {'; '.join(wrong)}"
            )
        for row in rows:
            point = tx.records.add_data_point(
                {
                    "measure_id": measure.id,
                    "observed_at": row.observed_at,
                    "value": row.value,
                    "note": row.note,
                    "cycle": row.cycle,
                }
            )
            draft.emit(
                "datapoint.recorded",
                {
                    "id": point,
                    "measure": name,
                    "value": row.value,
                    "observed_at": row.observed_at.isoformat(),
                    "note": row.note,
                    "cycle": row.cycle,
                    "source": source,
                },
            )

    return change


def _touches_measures(event_type: str) -> bool:
    return event_type != SIGNAL and event_type.startswith(("datapoint.", "measure."))


def watch(lifecycle: Lifecycle, draft: Draft, tx: Tx) -> None:
    """Signal what changed in the project's charts; keep a confirmed progress score."""
    project_id = draft.values["id"]
    for event in draft.events:
        score = event.payload.get("progress_score")
        if event.type == "review.recorded" and score is not None:
            tx.measurement.confirm_score(project_id, float(score), draft.now)
    if not any(_touches_measures(event.type) for event in draft.events):
        return
    states = tx.measurement.chart_states(project_id)
    for series in tx.measurement.series([project_id]).get(project_id, []):
        chart = picture(series)
        before = states.get(series.measure.id)
        found = signal(before, chart)
        if found is not None:
            draft.emit(SIGNAL, found.payload())
        after = chart_state(chart)
        if after != before:
            tx.measurement.save_chart_state(series.measure.id, after)
