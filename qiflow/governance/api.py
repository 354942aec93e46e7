"""The governance commands of the engine: sign-offs, programme status and people.

:class:`~qiflow.engine.Engine` delegates to :class:`GovernanceCommands`, which is
given what it needs (the store, the runner, the lifecycle, the gate types, the clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qiflow import limits
from qiflow.clock import Clock
from qiflow.exceptions import ValidationError
from qiflow.fields import check_json
from qiflow.governance import commands
from qiflow.governance.gates import GateType, awaiting
from qiflow.governance.people import unknown_deputies
from qiflow.lifecycle.roles import SYSTEM
from qiflow.lifecycle.runner import Request, Runner
from qiflow.lifecycle.steps import Lifecycle
from qiflow.logs import get_logger
from qiflow.snapshots import Person, Project, Signoff
from qiflow.store import Store

log = get_logger("qiflow")


class GovernanceCommands:
    """Sign-off gates, escalation to programme status, and the staff directory."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        lifecycle: Lifecycle,
        gate_types: Mapping[str, GateType],
        clock: Clock,
    ) -> None:
        self._store = store
        self._runner = runner
        self._lifecycle = lifecycle
        self._gate_types = gate_types
        self._clock = clock

    def request_signoff(
        self, project: str, gate: str, form: Mapping[str, Any], request: Request
    ) -> Project:
        form = dict(form)
        check_json(form, "the form")
        change = commands.request_signoff(
            self._lifecycle, self._gate_types, gate, form, request.actor
        )
        return self._runner.run(project, f"signoff.request:{gate}", change, request)

    def decide_signoff(
        self,
        project: str,
        gate: str,
        request: Request,
        *,
        approve: bool,
        role: str | None,
        on_behalf_of: str | None,
        comment: str | None,
    ) -> Project:
        limits.check_optional(comment, "comment", limit=limits.LONG, multiline=True)
        for name, value in (("role", role), ("on_behalf_of", on_behalf_of)):
            limits.check_optional(value, name)
        if not approve and not (comment and comment.strip()):
            raise ValidationError("a rejection needs a comment saying what to change")
        change = commands.decide_signoff(
            self._lifecycle,
            self._gate_types,
            gate,
            actor=request.actor,
            approve=approve,
            role=role,
            on_behalf_of=on_behalf_of,
            comment=comment,
        )
        return self._runner.run(project, f"signoff.decide:{gate}", change, request)

    def expire_signoffs(self, *, actor: str = SYSTEM) -> list[Project]:
        with self._store.read() as tx:
            due = tx.signoffs.expired(self._clock.now())
        return [
            self._runner.run(
                project_id,
                f"signoff.expire:{gate}",
                commands.expire_signoff(gate, signoff_id),
                Request(actor),
            )
            for project_id, gate, signoff_id in due
        ]

    def escalate(self, project: str, request: Request) -> Project:
        change = commands.escalate(self._lifecycle, request.actor)
        return self._runner.run(project, "escalate", change, request)

    def deescalate(self, project: str, request: Request, reason: str) -> Project:
        if not reason or not reason.strip():
            raise ValidationError("de-escalation needs a reason")
        limits.check_text(reason, "reason", limit=limits.LONG, multiline=True)
        change = commands.deescalate(self._lifecycle, request.actor, reason.strip())
        return self._runner.run(project, "deescalate", change, request)

    def import_people(
        self, people: Sequence[Person], *, actor: str, replace: bool
    ) -> tuple[int, int, int]:
        with self._store.read() as tx:
            known = [person.id for person in tx.people.all()]
        problems = unknown_deputies(people, known)
        if problems:
            raise ValidationError("; ".join(problems))
        rows = [
            {
                "id": p.id,
                "name": p.name,
                "email": p.email,
                "directorate": p.directorate,
                "roles": list(p.roles),
                "deputy_for": list(p.deputy_for),
                "channels": list(p.channels),
                "active": p.active,
            }
            for p in people
        ]
        with self._store.write() as tx:
            counts = tx.people.save(rows, replace=replace, at=self._clock.now())
        log.info(
            "people imported",
            actor=actor,
            added=counts[0],
            updated=counts[1],
            deactivated=counts[2],
        )
        return counts

    def people(self, *, role: str | None = None) -> list[Person]:
        with self._store.read() as tx:
            return tx.people.all(role=role)

    def person(self, person_id: str) -> Person | None:
        with self._store.read() as tx:
            return self._lifecycle.directory(tx).person(person_id)

    def signoffs(self, project: str, gate: str | None = None) -> list[Signoff]:
        with self._store.read() as tx:
            return tx.signoffs.of_project(self._runner.project(tx, project).id, gate)

    def gate_status(self, project: str) -> dict[str, list[str]]:
        with self._store.read() as tx:
            snapshot = self._runner.project(tx, project)
            ctx = self._lifecycle.context(snapshot, tx, None, self._clock.now())
            names = sorted({g for t in ctx.workflow.transitions for g in t.gates})
            return {name: awaiting(self._gate_types[name], ctx) for name in names}
