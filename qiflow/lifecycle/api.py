"""The project commands of the engine: create, update, fire, and the records of a project.

:class:`~qiflow.engine.Engine` checks what it can without the database and
delegates here; each method is one :class:`~qiflow.lifecycle.runner.Runner` call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from qiflow import limits
from qiflow.clock import Clock, require_aware
from qiflow.exceptions import ValidationError
from qiflow.fields import ProjectField, check_json, clean_fields, clean_plugin_fields
from qiflow.lifecycle import commands, measures
from qiflow.lifecycle.runner import Request, Runner
from qiflow.lifecycle.steps import Lifecycle
from qiflow.snapshots import DIRECTIONS, EDITABLE_FIELDS, MEASURE_KINDS, Project
from qiflow.workflow import Workflow, WorkflowRegistry


class ProjectCommands:
    """Commands that change one project, each in one transaction."""

    def __init__(
        self,
        runner: Runner,
        lifecycle: Lifecycle,
        registry: WorkflowRegistry,
        clock: Clock,
        declared: Mapping[str, ProjectField] | None = None,
    ) -> None:
        self._declared = dict(declared or {})
        self._runner = runner
        self._lifecycle = lifecycle
        self._registry = registry
        self._clock = clock

    def create(
        self,
        definition: Workflow,
        fields: Mapping[str, Any],
        request: Request,
        plugin_fields: Mapping[str, Any] | None = None,
    ) -> Project:
        """``fields`` are already cleaned (:func:`qiflow.fields.clean_fields`);
        ``plugin_fields``: values of the fields plugins declare, checked here."""
        values = dict(fields)
        extra = clean_plugin_fields(self._declared, plugin_fields or {})
        given = {k: v for k, v in extra.items() if v is not None}
        if given:
            values["plugin_fields"] = given
        return self._runner.create(
            definition, values, actor=request.actor, idempotency_key=request.idempotency_key
        )

    def update(
        self,
        project: str,
        fields: Mapping[str, Any],
        request: Request,
        plugin_fields: Mapping[str, Any] | None = None,
    ) -> Project:
        """``plugin_fields``: values of the fields plugins declare (None clears one)."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        try:
            values = clean_fields(dict(fields))
        except ValidationError as exc:
            problems.extend(exc.problems)
        try:
            extra = clean_plugin_fields(self._declared, plugin_fields or {})
        except ValidationError as exc:
            problems.extend(exc.problems)
        if problems:
            raise ValidationError(problems)
        if not values and not extra:
            raise ValidationError("nothing to update: give at least one field")
        change = commands.update(self._lifecycle, values, extra)
        return self._runner.run(project, "update", change, request)

    def fire(
        self, project: str, trigger: str, data: Mapping[str, Any], request: Request
    ) -> Project:
        values = clean_fields({k: v for k, v in data.items() if k in EDITABLE_FIELDS})
        extra = {k: v for k, v in data.items() if k not in EDITABLE_FIELDS}
        check_json(extra, "data")
        change = commands.fire(
            self._lifecycle, trigger, actor=request.actor, values=values, extra=extra
        )
        return self._runner.run(project, f"fire:{trigger}", change, request, trigger=trigger)

    def record_pdsa(
        self,
        project: str,
        request: Request,
        *,
        cycle: int | None,
        given: Mapping[str, str | None],
        observation: str | None,
        tests: str | Sequence[str] | None = None,
    ) -> Project:
        for name, text in {**given, "observation": observation}.items():
            limits.check_optional(text, name, limit=limits.LONG, multiline=True)
        parts = {k: v.strip() for k, v in given.items() if v is not None and v.strip()}
        note = observation.strip() if observation else None
        if not parts and not note and tests is None:
            raise ValidationError(
                "nothing to record: give plan, prediction, observation, study or tests"
            )
        change = commands.record_pdsa(cycle, parts, note, tests)
        return self._runner.run(project, "pdsa", change, request)

    def add_measure(
        self,
        project: str,
        request: Request,
        *,
        name: str,
        kind: str,
        unit: str,
        direction: str,
        settings: Mapping[str, Any] | None = None,
    ) -> Project:
        """``settings`` (target, primary, baseline_points) are checked by the caller
        (:func:`qiflow.lifecycle.measure_api.check_settings`)."""
        name = limits.check_text(name, "name").strip()
        unit = limits.check_text(unit, "unit", limit=50).strip()
        problems = []
        if not name:
            problems.append("a measure needs a name")
        if kind not in MEASURE_KINDS:
            problems.append(f"kind {kind!r} is not one of {', '.join(MEASURE_KINDS)}")
        if direction not in DIRECTIONS:
            problems.append(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
        if not unit:
            problems.append("a measure needs a unit (e.g. '%', 'days', 'count')")
        if problems:
            raise ValidationError("; ".join(problems))
        change = measures.add(name, kind, unit, direction, settings or {})
        return self._runner.run(project, "measure", change, request)

    def record_data_point(
        self,
        project: str,
        request: Request,
        *,
        measure: str,
        value: float,
        observed_at: datetime | None,
        note: str | None,
    ) -> Project:
        number = limits.check_value(value)
        limits.check_optional(note, "note", limit=limits.LONG, multiline=True)
        when = require_aware(observed_at, "observed_at") if observed_at else self._clock.now()
        change = commands.record_data_point(measure, number, when, note)
        return self._runner.run(project, "datapoint", change, request)

    def record_review(
        self,
        project: str,
        request: Request,
        *,
        notes: str | None,
        progress_score: float | None,
    ) -> Project:
        limits.check_optional(notes, "notes", limit=limits.LONG, multiline=True)
        if progress_score is not None and (
            not 0.5 <= progress_score <= 5.0 or (progress_score * 2) % 1
        ):
            raise ValidationError("progress_score is the IHI scale: 0.5 to 5.0 in steps of 0.5")
        change = commands.record_review(self._lifecycle, notes, progress_score)
        return self._runner.run(project, "review", change, request)

    def migrate(self, project: str, to_version: int, request: Request) -> Project:
        change = commands.migrate(self._registry, to_version)
        return self._runner.run(project, "migrate", change, request)
