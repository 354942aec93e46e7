"""The governance half of the engine's API: sign-offs, escalation and people.

:class:`~qiflow.engine.Engine` inherits these methods; they are kept here so that
each module holds one part of the domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy
import structlog

from qiflow import changes
from qiflow.clock import Clock
from qiflow.exceptions import ValidationError
from qiflow.fields import check_json
from qiflow.gates import Signoff, awaiting, load_signoffs
from qiflow.lifecycle import SYSTEM
from qiflow.people import Person, unknown_deputies
from qiflow.snapshots import Project
from qiflow.workflow.catalog import vocabulary

if TYPE_CHECKING:
    from qiflow.commands import CommandRunner
    from qiflow.lifecycle import Rules
    from qiflow.store import Store

log = structlog.get_logger("qiflow")


class GovernanceCommands:
    """Sign-off gates, escalation to programme status, and the staff directory."""

    clock: Clock
    pm: pluggy.PluginManager
    _store: Store
    _rules: Rules
    _runner: CommandRunner

    def request_signoff(
        self,
        project: str,
        gate: str,
        form: Mapping[str, Any] | None = None,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Submit ``form`` for ``gate`` (a new round; a pending one is superseded)."""
        form = dict(form or {})
        check_json(form, "the form")
        return self._runner.run(
            project,
            f"signoff.request:{gate}",
            changes.request_signoff(self._rules, gate, form, actor),
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def decide_signoff(
        self,
        project: str,
        gate: str,
        *,
        actor: str,
        approve: bool,
        role: str | None = None,
        on_behalf_of: str | None = None,
        comment: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Approve or reject the pending sign-off of ``gate`` as ``actor``.

        ``role`` picks which awaited role the decision fills (default: the first the
        actor holds). A deputy decides ``on_behalf_of`` the person they stand in for.
        A refused decision raises :class:`PermissionDenied` and is recorded in the audit
        trail as ``signoff.refused``.
        """
        if not approve and not (comment and comment.strip()):
            raise ValidationError("a rejection needs a comment saying what to change")
        change = changes.decide_signoff(
            self._rules,
            gate,
            actor=actor,
            approve=approve,
            role=role,
            on_behalf_of=on_behalf_of,
            comment=comment,
        )
        return self._runner.run(
            project,
            f"signoff.decide:{gate}",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def expire_signoffs(self, *, actor: str = SYSTEM) -> list[Project]:
        """Mark every passed sign-off whose approval has run out as expired (``gate.expired``)."""
        with self._store.read() as tx:
            due = tx.expired_signoffs(self.clock.now())
        return [
            self._runner.run(
                project_id,
                f"signoff.expire:{gate}",
                changes.expire_signoff(gate, signoff_id),
                actor=actor,
                expected_version=None,
                idempotency_key=None,
            )
            for project_id, gate, signoff_id in due
        ]

    def escalate(self, project: str, *, actor: str) -> Project:
        """Nominate a project for programme status (transformation team only).

        A candidate is granted programme status as soon as every condition holds;
        escalating a candidate that still lacks one raises :class:`GuardFailed` listing them.
        """
        return self._runner.run(
            project,
            "escalate",
            changes.escalate(self._rules, actor),
            actor=actor,
            expected_version=None,
            idempotency_key=None,
        )

    def deescalate(self, project: str, *, actor: str, reason: str) -> Project:
        """Remove candidate or programme status, with a reason (transformation team only)."""
        if not reason or not reason.strip():
            raise ValidationError("de-escalation needs a reason")
        return self._runner.run(
            project,
            "deescalate",
            changes.deescalate(self._rules, actor, reason.strip()),
            actor=actor,
            expected_version=None,
            idempotency_key=None,
        )

    def import_people(
        self, people: Sequence[Person], *, actor: str, replace: bool = False
    ) -> tuple[int, int, int]:
        """Load people into the built-in directory, all or nothing.

        With ``replace``, people not in ``people`` are deactivated (never deleted: the
        audit trail refers to them). Returns (added, updated, deactivated).
        """
        with self._store.read() as tx:
            known = [row["id"] for row in tx.people()]
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
            counts = tx.save_people(rows, replace=replace, at=self.clock.now())
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
            return [Person.from_row(row) for row in tx.people(role=role)]

    def person(self, person_id: str) -> Person | None:
        """A person from the staff directory (a plugin's, if installed, else qiflow's)."""
        with self._store.read() as tx:
            return self._rules.directory(tx).person(person_id)

    def known_roles(self) -> list[str]:
        """Every role name plugins declare (for checking a people file)."""
        return sorted(vocabulary(self.pm).roles)

    def signoffs(self, project: str, gate: str | None = None) -> list[Signoff]:
        """Every sign-off round of the project (of one gate, if given), oldest first."""
        with self._store.read() as tx:
            return load_signoffs(tx, self._runner.row(tx, project)["id"], gate)

    def gate_status(self, project: str) -> dict[str, list[str]]:
        """For each gate the project's workflow names: what it awaits (empty: passed)."""
        with self._store.read() as tx:
            snapshot = Project.from_row(self._runner.row(tx, project))
            ctx = self._rules.context(snapshot, tx, None, self.clock.now())
            names = sorted({g for t in ctx.workflow.transitions for g in t.gates})
            return {name: awaiting(self._rules.gates[name], ctx) for name in names}
