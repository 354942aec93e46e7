"""The charts and suggested progress scores of many projects, read in a fixed number of
statements whatever the size of the portfolio (none per project, measure or point)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qiflow.measurement.picture import Picture, picture
from qiflow.measurement.progress import Suggestion, suggest
from qiflow.measurement.sustain import DEFAULT_SUSTAIN_POINTS
from qiflow.snapshots import ConfirmedScore, Project
from qiflow.store import ProjectFilter, Tx

#: A project's workflow's ``[measurement]`` table.
MeasurementConfig = Callable[[Project], Mapping[str, Any]]


@dataclass(frozen=True)
class Progress:
    """A project's charts, suggested progress score and confirmed score."""

    project: Project
    charts: tuple[Picture, ...]
    suggestion: Suggestion
    confirmed: ConfirmedScore | None


def progress(
    tx: Tx, config: MeasurementConfig, projects: Sequence[Project] | None = None
) -> list[Progress]:
    """Progress of ``projects`` (None: the whole portfolio), in reference order."""
    ids = None if projects is None else [p.id for p in projects]
    if projects is None:
        projects = tx.projects.find(ProjectFilter())
    series = tx.measurement.series(ids)
    studied = tx.measurement.studied_cycles(ids)
    teams = tx.charters.team_sizes(ids)
    confirmed = tx.measurement.confirmed_scores(ids)
    found = []
    for project in projects:
        charts = tuple(picture(s) for s in series.get(project.id, []))
        points = int(config(project).get("sustain_points", DEFAULT_SUSTAIN_POINTS))
        suggestion = suggest(
            project,
            team_size=teams.get(project.id, 0),
            cycles_studied=studied.get(project.id, 0),
            charts=charts,
            sustain_points=points,
        )
        found.append(Progress(project, charts, suggestion, confirmed.get(project.id)))
    return found
