"""Requirements (guards) and the context they, and gates, read from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from qiflow.charter.diagram import DriverDiagram
from qiflow.risks.register import Risk
from qiflow.snapshots import Measure, MeasureSeries, PdsaCycle, Person, Project, Signoff
from qiflow.store import Tx
from qiflow.workflow import Workflow


class GuardContext:
    """What a requirement or gate may look at: the project and its records, read lazily."""

    def __init__(
        self,
        project: Project,
        tx: Tx,
        actor: str | None,
        *,
        now: datetime,
        zone: tzinfo = UTC,
        workflow: Workflow,
        roles_of: Callable[[str], set[str]],
        person: Callable[[str], Person | None],
    ) -> None:
        self.project = project
        self.actor = actor
        self.now = now
        #: The trust's time zone (for calendar arithmetic such as approval periods).
        self.zone = zone
        self.workflow = workflow
        self._tx = tx
        self._roles_of = roles_of
        self._person = person

    def measures(self) -> list[Measure]:
        return self._tx.records.measures(self.project.id)

    def measure_series(self) -> list[MeasureSeries]:
        """The project's measures with their data points and rebases."""
        return self._tx.measurement.series([self.project.id]).get(self.project.id, [])

    def cycle(self, number: int | None = None) -> PdsaCycle | None:
        return self._tx.records.cycle(self.project.id, number or self.project.current_cycle)

    def driver_diagram(self) -> DriverDiagram:
        """The project's driver diagram as it stands in this transaction."""
        return self._tx.charters.diagram(self.project.id)

    def risks(self) -> list[Risk]:
        """The project's risk register, closed risks included, in the order raised."""
        return self._tx.risks.of_project(self.project.id)

    def declared_no_risks(self) -> bool:
        """Whether the owner declared that the project carries no significant risks."""
        return self._tx.risks.declared_none(self.project.id)

    def signoffs(self, gate: str) -> list[Signoff]:
        """Every round of ``gate`` on this project, oldest first, with their decisions."""
        return self._tx.signoffs.of_project(self.project.id, gate)

    def gate_config(self, gate: str) -> Mapping[str, Any]:
        """The workflow file's ``[gates.<gate>]`` table (empty if it has none)."""
        return self.workflow.gate_config.get(gate, {})

    def roles_of(self, person: str) -> set[str]:
        """The roles ``person`` holds on this project (relational and from the directory)."""
        return self._roles_of(person)

    def person(self, person_id: str) -> Person | None:
        """The directory's record of a person (None if unknown)."""
        return self._person(person_id)

    def deputy_for(self, person_id: str) -> tuple[str, ...]:
        """Whom ``person_id`` may decide for, as their recorded deputy."""
        found = self._person(person_id)
        return found.deputy_for if found is not None and found.active else ()


@dataclass(frozen=True)
class Requirement:
    """A named check: ``check`` returns every unmet reason, or nothing when met."""

    name: str
    description: str
    check: Callable[[GuardContext], Sequence[str]]
