"""What each governance command does to a project: sign-offs and programme status.

``Change`` functions for the :class:`~qiflow.lifecycle.runner.Runner`, like the
project commands in :mod:`qiflow.lifecycle.commands`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qiflow.exceptions import GuardFailed, PermissionDenied, ValidationError
from qiflow.governance import escalation, gates
from qiflow.governance.gates import GateType
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.runner import Change
from qiflow.lifecycle.steps import Lifecycle
from qiflow.snapshots import EXPIRED, PASSED
from qiflow.store import Tx


def request_signoff(
    lifecycle: Lifecycle,
    gate_types: Mapping[str, GateType],
    gate: str,
    form: Mapping[str, Any],
    actor: str,
) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        gate_type = _gate(gate_types, gate)
        ctx = lifecycle.context(draft.project, tx, actor, draft.now)
        if not any(gate in t.gates for t in ctx.workflow.transitions):
            raise ValidationError(
                f"{draft.values['ref']}'s workflow ({ctx.workflow.name} "
                f"version {ctx.workflow.version}) has no {gate!r} gate"
            )
        values, approval = gates.request(
            tx, ctx, gate_type, form, actor=actor, version=draft.version
        )
        if isinstance(approval, gates.NotNeeded):
            until = values["valid_until"]
            draft.emit(
                "gate.not_needed",
                {
                    "gate": gate,
                    "round": values["round"],
                    "stage": values["stage"],
                    "by": actor,
                    "reason": values["reason"],
                    "valid_until": until.isoformat() if until else None,
                    "summary": dict(approval.summary),
                },
            )
            return
        draft.emit(
            "signoff.requested",
            {
                "gate": gate,
                "round": values["round"],
                "stage": approval.stage,
                "roles": list(approval.roles),
                "mode": approval.mode,
                "valid_for": values["valid_for"],
                "summary": dict(approval.summary),
            },
        )

    return change


def decide_signoff(
    lifecycle: Lifecycle,
    gate_types: Mapping[str, GateType],
    gate: str,
    *,
    actor: str,
    approve: bool,
    role: str | None,
    on_behalf_of: str | None,
    comment: str | None,
) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        gate_type = _gate(gate_types, gate)
        ctx = lifecycle.context(draft.project, tx, actor, draft.now)
        verdict = gates.decide(
            tx,
            ctx,
            gate_type,
            actor=actor,
            approve=approve,
            role=role,
            on_behalf_of=on_behalf_of,
            comment=comment,
        )
        for type_, payload in verdict.events:
            draft.emit(type_, payload)
        draft.refusal = verdict.refusal

    return change


def expire_signoff(gate: str, signoff_id: int) -> Change:
    """Mark one passed round whose approval has run out as expired (``gate.expired``)."""

    def change(draft: Draft, tx: Tx) -> None:
        found = [s for s in tx.signoffs.of_project(draft.values["id"], gate) if s.id == signoff_id]
        if not found or found[0].status != PASSED or not found[0].expired(draft.now):
            return
        signoff = found[0]
        tx.signoffs.update(signoff.id, {"status": EXPIRED})
        draft.emit(
            "gate.expired",
            {
                "gate": gate,
                "round": signoff.round,
                "stage": signoff.stage,
                "valid_until": signoff.valid_until.isoformat() if signoff.valid_until else None,
            },
        )

    return change


def escalate(lifecycle: Lifecycle, actor: str) -> Change:
    """Nomination by the transformation team; grants programme status when every condition holds."""

    def change(draft: Draft, tx: Tx) -> None:
        project = draft.project
        _require_role(lifecycle, draft, tx, actor, "transformation_team", "nominate projects")
        if project.programme_status == "programme":
            raise ValidationError(f"{project.ref} already has programme status")
        if project.programme_status == "none":
            draft.set(programme_status="candidate")
            draft.emit(
                "programme.candidate",
                {
                    "status": "candidate",
                    "rules": [escalation.NOMINATED],
                    "reasons": [f"nominated by {actor}"],
                },
            )
            return
        missing = escalation.grant_if_due(
            lifecycle, draft, escalation.latest_qeia(lifecycle, project, tx)
        )
        if missing:
            raise GuardFailed(
                project.ref, "escalate", [f"programme status is withheld: {m}" for m in missing]
            )

    return change


def deescalate(lifecycle: Lifecycle, actor: str, reason: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        project = draft.project
        _require_role(lifecycle, draft, tx, actor, "transformation_team", "de-escalate projects")
        if project.programme_status == "none":
            raise ValidationError(f"{project.ref} is neither a candidate nor a programme project")
        meets = escalation.rules_met(
            lifecycle, project, escalation.latest_qeia(lifecycle, project, tx), tx
        )
        draft.set(programme_status="none", escalation_dismissed=sorted(meets))
        draft.emit(
            "programme.deescalated",
            {"status": "none", "reason": reason, "from": project.programme_status},
        )

    return change


def _gate(gate_types: Mapping[str, GateType], name: str) -> GateType:
    try:
        return gate_types[name]
    except KeyError:
        raise ValidationError(
            f"no gate {name!r}; registered: {', '.join(sorted(gate_types)) or 'none'}"
        ) from None


def _require_role(
    lifecycle: Lifecycle, draft: Draft, tx: Tx, actor: str, role: str, what: str
) -> None:
    ctx = lifecycle.context(draft.project, tx, actor, draft.now)
    if role not in ctx.roles_of(actor):
        raise PermissionDenied(
            f"{draft.values['ref']}: only the {role} may {what}; {actor!r} is not in it"
        )
