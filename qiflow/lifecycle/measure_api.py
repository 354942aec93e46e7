"""The measurement commands of the engine: chart settings, rebases, CSV imports, charts,
and suggested and confirmed progress scores.

:class:`~qiflow.engine.Engine` delegates here; each change is one
:class:`~qiflow.lifecycle.runner.Runner` call, each read one read transaction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from qiflow.clock import ensure_utc
from qiflow.exceptions import UnknownProject, ValidationError
from qiflow.lifecycle import measures
from qiflow.lifecycle.runner import Request, Runner
from qiflow.measurement import Picture, Progress, parse_points, picture, progress
from qiflow.snapshots import Event, Project
from qiflow.store import Store
from qiflow.workflow import WorkflowRegistry

#: The chart settings of a measure a caller may set.
SETTINGS = ("target", "primary", "baseline_points")


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The chart settings, checked: ``target`` a number (or None), ``primary`` true or
    false, ``baseline_points`` at least 12 (or None)."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValidationError(f"unknown measure setting(s) {', '.join(unknown)}")
    problems = []
    target = settings.get("target")
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target)
    ):
        problems.append(f"target must be a number, not {target!r}")
    if "primary" in settings and not isinstance(settings["primary"], bool):
        problems.append(f"primary must be true or false, not {settings['primary']!r}")
    baseline = settings.get("baseline_points")
    if baseline is not None and (
        isinstance(baseline, bool)
        or not isinstance(baseline, int)
        or baseline < measures.MIN_BASELINE
    ):
        problems.append(
            f"baseline_points must be a whole number of at least {measures.MIN_BASELINE} "
            f"(the limits are fixed on that many points), not {baseline!r}"
        )
    if problems:
        raise ValidationError("; ".join(problems))
    return {k: float(v) if k == "target" and v is not None else v for k, v in settings.items()}


class MeasureCommands:
    """Measures as evidence: settings, rebases, imports, charts and progress scores."""

    def __init__(self, store: Store, runner: Runner, registry: WorkflowRegistry) -> None:
        self._store = store
        self._runner = runner
        self._registry = registry

    def configure(
        self, project: str, measure: str, settings: Mapping[str, Any], request: Request
    ) -> Project:
        checked = check_settings(settings)
        if not checked:
            raise ValidationError("nothing to set: give target, primary or baseline_points")
        return self._runner.run(project, "measure", measures.configure(measure, checked), request)

    def rebase(
        self, project: str, measure: str, *, at: datetime, reason: str, request: Request
    ) -> Project:
        reason = reason.strip()
        if not reason:
            raise ValidationError("a rebase needs a reason (what changed in the process)")
        change = measures.rebase(measure, ensure_utc(at), reason, request.actor)
        return self._runner.run(project, "measure", change, request)

    def import_points(
        self, project: str, measure: str, text: str, *, source: str, request: Request
    ) -> Project:
        rows = parse_points(text, source)
        change = measures.import_points(measure, rows, source)
        return self._runner.run(project, "datapoint", change, request)

    def chart(self, project: str, measure: str, *, use_xmr: bool | None = None) -> Picture:
        """Measure ``measure``'s chart: XmR from 12 points (or if ``use_xmr``), else a run
        chart."""
        with self._store.read() as tx:
            project_id = self._runner.project(tx, project).id
            for series in tx.measurement.series([project_id]).get(project_id, []):
                if series.measure.name == measure:
                    return picture(series, use_xmr=use_xmr)
        raise ValidationError(f"{project} has no measure {measure!r}")

    def cycle_starts(self, project: str) -> dict[int, datetime]:
        """When each PDSA cycle was first recorded (for marking cycles on a chart)."""
        with self._store.read() as tx:
            events: Sequence[Event] = tx.events.of_project(self._runner.project(tx, project).id)
        starts: dict[int, datetime] = {}
        for event in events:
            cycle = event.payload.get("cycle")
            if event.type == "pdsa.recorded" and isinstance(cycle, int):
                starts.setdefault(cycle, event.created_at)
        return starts

    def progress(self, projects: Sequence[str] | None = None) -> list[Progress]:
        """Charts and suggested and confirmed progress scores of ``projects`` (references
        or ids; None: every project), read in a fixed number of statements."""
        with self._store.read() as tx:
            if projects is None:
                return progress(tx, self._config)
            found = tx.projects.many(projects)
            known = {p.ref for p in found} | {p.id for p in found}
            unknown = [key for key in projects if key.upper() not in known and key not in known]
            if unknown:
                raise UnknownProject(unknown[0])
            return progress(tx, self._config, found)

    def _config(self, project: Project) -> Mapping[str, Any]:
        try:
            return self._registry.get(project.workflow, project.workflow_version).measurement
        except Exception:  # a workflow version no longer loadable: the defaults
            return {}
