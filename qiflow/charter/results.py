"""What the engine's charter commands and queries hand back: frozen values."""

from __future__ import annotations

from dataclasses import dataclass

from qiflow.charter.diagram import DriverDiagram, DriverNode
from qiflow.charter.team import TeamMember
from qiflow.snapshots import Event, Measure, PdsaCycle, Project


@dataclass(frozen=True)
class DiagramChange:
    """An edit of a driver diagram: the project after it (its version is the ETag), the
    diagram as read just after it, and the ids of the nodes the edit added or changed."""

    project: Project
    diagram: DriverDiagram
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class IdeaHistory:
    """A change idea, the PDSA cycles that tested it (with their predictions, studies and
    Act decisions) and every event about it (added, moved, renamed, status changes)."""

    idea: DriverNode
    removed: bool
    cycles: tuple[PdsaCycle, ...]
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Charter:
    """A project's charter: the project (aim, scope, objectives), its measures, team and
    driver diagram, read in one transaction."""

    project: Project
    measures: tuple[Measure, ...]
    team: tuple[TeamMember, ...]
    diagram: DriverDiagram
