"""Reading projects: snapshots, their history and records, what may fire, and audits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from qiflow import audit
from qiflow.charter.diagram import DriverDiagram
from qiflow.charter.diagram import replay as replay_diagram
from qiflow.charter.events import CharterEvent
from qiflow.clock import Clock
from qiflow.exceptions import ValidationError
from qiflow.lifecycle.runner import Runner
from qiflow.lifecycle.steps import Lifecycle
from qiflow.replay import differences
from qiflow.snapshots import DataPoint, Event, Measure, PdsaCycle, Project, TriggerOption
from qiflow.store import ProjectFilter, Store
from qiflow.store.events import StoredEvent
from qiflow.store.projects import AuditHead, StoredProject


class ProjectQueries:
    """Read-only views of projects, each in one read transaction."""

    def __init__(self, store: Store, runner: Runner, lifecycle: Lifecycle, clock: Clock) -> None:
        self._store = store
        self._runner = runner
        self._lifecycle = lifecycle
        self._clock = clock

    def get(self, project: str) -> Project:
        with self._store.read() as tx:
            return self._runner.project(tx, project)

    def find(self, where: ProjectFilter) -> list[Project]:
        with self._store.read() as tx:
            return tx.projects.find(where)

    def available_triggers(self, project: str, actor: str | None) -> list[TriggerOption]:
        with self._store.read() as tx:
            snapshot = self._runner.project(tx, project)
            return self._lifecycle.options(snapshot, tx, actor, self._clock.now())

    def history(self, project: str) -> list[Event]:
        with self._store.read() as tx:
            return tx.events.of_project(self._runner.project(tx, project).id)

    def cycles(self, project: str) -> list[PdsaCycle]:
        with self._store.read() as tx:
            return tx.records.cycles(self._runner.project(tx, project).id)

    def measures(self, project: str) -> list[Measure]:
        with self._store.read() as tx:
            return tx.records.measures(self._runner.project(tx, project).id)

    def data_points(self, project: str, measure: str) -> list[DataPoint]:
        with self._store.read() as tx:
            project_id = self._runner.project(tx, project).id
            found = [m for m in tx.records.measures(project_id) if m.name == measure]
            if not found:
                raise ValidationError(f"{project} has no measure {measure!r}")
            return tx.records.data_points(found[0].id)

    def audit(self) -> Iterator[tuple[str, audit.Break | None]]:
        """Each project's first break of its hash chain or of its replay, in reference order.

        Everything is read in one consistent snapshot (a command committing meanwhile
        must not look like tampering: a head read before it, events after), in one query
        per table: every event in chain order, every project row, every driver diagram.
        """
        with self._store.read(snapshot=True) as tx:
            heads = tx.projects.audit_heads()
            rows = tx.projects.all_rows()
            diagrams = tx.charters.diagrams()
            found: dict[str, audit.Break | None] = {}
            by_id = {head.project_id: head for head in heads}
            for project_id, stored in tx.events.trails():
                head = by_id.get(project_id)
                if head is not None:
                    found[project_id] = _check(head, stored, rows[project_id], diagrams)
        for head in heads:
            if head.project_id not in found:  # a project with no events at all
                found[head.project_id] = _check(head, [], rows[head.project_id], diagrams)
            yield head.ref, found[head.project_id]


def _check(
    head: AuditHead,
    stored: list[StoredEvent],
    now_stored: StoredProject,
    diagrams: dict[str, DriverDiagram],
) -> audit.Break | None:
    """One project's first break: of its chain, of its row's replay, of its diagram."""
    found = audit.verify_project(head.ref, head.head_hash, head.event_count, stored)
    if found is not None:
        return found
    events = [e.event for e in stored]
    diff = differences(now_stored.project, events)
    if diff:
        return audit.Break(
            head.ref, None, None, f"the project row does not match its events: {'; '.join(diff)}"
        )
    diagram = diagrams.get(head.project_id) or DriverDiagram.build((), [])
    if diagram != diagram_of(events):
        return audit.Break(head.ref, None, None, "the driver diagram does not match its events")
    return None


def diagram_of(events: Iterable[Event]) -> DriverDiagram:
    """The driver diagram a project's events imply."""
    return replay_diagram(CharterEvent(e.type, e.payload) for e in events)
