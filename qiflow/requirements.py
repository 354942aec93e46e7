"""Requirements (guards) and gates: what must hold before a transition may fire."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from qiflow.snapshots import Measure, PdsaCycle, Project

if TYPE_CHECKING:
    from qiflow.store import Tx


class GuardContext:
    """What a requirement or gate may look at: the project and its records, read lazily."""

    def __init__(self, project: Project, tx: Tx, actor: str | None) -> None:
        self.project = project
        self.actor = actor
        self._tx = tx

    def measures(self) -> list[Measure]:
        return [Measure.from_row(row) for row in self._tx.measures(self.project.id)]

    def cycle(self, number: int | None = None) -> PdsaCycle | None:
        row = self._tx.cycle(self.project.id, number or self.project.current_cycle)
        return None if row is None else PdsaCycle.from_row(row)


@dataclass(frozen=True)
class Requirement:
    """A named check: ``check`` returns every unmet reason, or nothing when met."""

    name: str
    description: str
    check: Callable[[GuardContext], Sequence[str]]


class Gate(Protocol):
    """An approval step. ``awaiting`` lists what the gate still waits for (empty: passed)."""

    name: str

    def awaiting(self, context: GuardContext) -> Sequence[str]: ...
