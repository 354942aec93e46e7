"""The charter commands of the engine: the driver diagram and the team, and their queries.

Each edit is planned by :mod:`qiflow.charter` against the diagram (or team) read
inside the command's transaction, recorded as events and stored, all in one
:class:`~qiflow.lifecycle.runner.Runner` call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qiflow.charter import diagram as dd
from qiflow.charter import outline
from qiflow.charter import team as teams
from qiflow.charter.events import CharterEvent
from qiflow.charter.results import Charter, DiagramChange, IdeaHistory
from qiflow.exceptions import ValidationError
from qiflow.lifecycle import ideas
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.runner import Request, Runner
from qiflow.snapshots import Project
from qiflow.store import Store, Tx

#: Plans a diagram edit: (diagram, the project's measure names, the transaction) -> events.
DiagramPlan = Callable[[dd.DriverDiagram, list[str], Tx, str], Sequence[CharterEvent]]


class CharterCommands:
    """Edits of a project's driver diagram and team, and what they read."""

    def __init__(self, store: Store, runner: Runner) -> None:
        self._store = store
        self._runner = runner

    # the driver diagram ----------------------------------------------------------
    def add_driver(
        self,
        project: str,
        request: Request,
        *,
        title: str,
        kind: str,
        under: str | Sequence[str],
        measures: Sequence[str],
    ) -> DiagramChange:
        def plan(
            diagram: dd.DriverDiagram, known: list[str], tx: Tx, pid: str
        ) -> list[CharterEvent]:
            return [
                dd.add(diagram, kind, title, under=under, measures=measures, known_measures=known)
            ]

        return self._edit(project, "driver:add", plan, request)

    def move_driver(
        self, project: str, request: Request, *, node: str, under: str | Sequence[str]
    ) -> DiagramChange:
        return self._edit(
            project, "driver:move", lambda d, _m, _t, _p: [dd.move(d, node, under)], request
        )

    def rename_driver(
        self, project: str, request: Request, *, node: str, title: str
    ) -> DiagramChange:
        return self._edit(
            project, "driver:rename", lambda d, _m, _t, _p: [dd.rename(d, node, title)], request
        )

    def remove_driver(self, project: str, request: Request, *, node: str) -> DiagramChange:
        def plan(
            diagram: dd.DriverDiagram, known: list[str], tx: Tx, pid: str
        ) -> list[CharterEvent]:
            return [dd.remove(diagram, node, in_test=ideas.in_test(tx, pid))]

        return self._edit(project, "driver:remove", plan, request)

    def import_drivers(
        self, project: str, request: Request, *, text: str, format: str, source: str
    ) -> DiagramChange:
        def plan(
            diagram: dd.DriverDiagram, known: list[str], tx: Tx, pid: str
        ) -> list[CharterEvent]:
            return outline.plan(text, format, diagram, known_measures=known, source=source)

        return self._edit(project, "driver:import", plan, request)

    def _edit(
        self, project: str, command: str, plan: DiagramPlan, request: Request
    ) -> DiagramChange:
        def change(draft: Draft, tx: Tx) -> None:
            pid = draft.values["id"]
            before = tx.charters.diagram(pid)
            known = [m.name for m in tx.records.measures(pid)]
            after = before
            for event in plan(before, known, tx, pid):
                after = dd.apply(after, event)
                draft.emit(event.type, event.payload)
            tx.charters.save_diagram(pid, before, after)

        result = self._runner.run(project, command, change, request)
        with self._store.read() as tx:
            touched = tuple(
                e.payload["id"]
                for e in tx.events.of_project(result.id)
                if e.version == result.version
                and e.type in dd.EVENT_TYPES
                and e.type != dd.STATUS_CHANGED
            )
            return DiagramChange(result, tx.charters.diagram(result.id), touched)

    # the team ----------------------------------------------------------------------
    def add_team_member(self, project: str, request: Request, *, person: str, role: str) -> Project:
        return self._team(project, "team:add", lambda team: teams.add(team, person, role), request)

    def remove_team_member(
        self, project: str, request: Request, *, person: str, role: str | None
    ) -> Project:
        return self._team(
            project, "team:remove", lambda team: teams.remove(team, person, role), request
        )

    def _team(
        self,
        project: str,
        command: str,
        plan: Callable[[tuple[teams.TeamMember, ...]], CharterEvent],
        request: Request,
    ) -> Project:
        def change(draft: Draft, tx: Tx) -> None:
            pid = draft.values["id"]
            before = tx.charters.team(pid)
            event = plan(before)
            after = teams.apply(before, event)
            for member in set(after) - set(before):
                tx.charters.add_member(pid, member)
            for member in set(before) - set(after):
                tx.charters.remove_member(pid, member)
            draft.emit(event.type, event.payload)

        return self._runner.run(project, command, change, request)

    # queries -------------------------------------------------------------------------
    def driver_diagram(self, project: str) -> dd.DriverDiagram:
        with self._store.read() as tx:
            return tx.charters.diagram(self._runner.project(tx, project).id)

    def team(self, project: str) -> tuple[teams.TeamMember, ...]:
        with self._store.read() as tx:
            return tx.charters.team(self._runner.project(tx, project).id)

    def idea_history(self, project: str, idea: str) -> IdeaHistory:
        """A change idea (even a removed one): the cycles that tested it and its events."""
        key = idea.strip().upper()
        with self._store.read() as tx:
            pid = self._runner.project(tx, project).id
            trail = [e for e in tx.events.of_project(pid) if e.type in dd.EVENT_TYPES]
            cycles = tuple(c for c in tx.records.cycles(pid) if key in c.tests)
        kept = [
            CharterEvent(e.type, e.payload)
            for e in trail
            if not (e.type == dd.REMOVED and e.payload["id"] == key)
        ]
        node = dd.replay(kept).get(key)
        if node is None:
            raise ValidationError(f"{project} has no change idea {key!r}")
        if node.kind != dd.IDEA:
            raise ValidationError(f"{node.id} is a {dd.KIND_NAMES[node.kind]}, not a change idea")
        own = tuple(e for e in trail if e.payload.get("id") == key)
        removed = any(e.type == dd.REMOVED for e in own)
        return IdeaHistory(node, removed, cycles, own)

    def charter(self, project: str) -> Charter:
        """The project with its measures, team and driver diagram, read together."""
        with self._store.read() as tx:
            found = self._runner.project(tx, project)
            return Charter(
                found,
                tuple(tx.records.measures(found.id)),
                tx.charters.team(found.id),
                tx.charters.diagram(found.id),
            )
