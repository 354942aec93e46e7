"""What each command does to a project, as ``Change`` functions for the runner.

Input that can be checked without the database is checked by the caller
(:class:`~qiflow.engine.Engine`) before a transaction starts; what needs the
project's current state is checked here, inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from qiflow import escalation, gates
from qiflow.commands import Change, store_definition
from qiflow.exceptions import GuardFailed, PermissionDenied, ValidationError
from qiflow.lifecycle import Rules, Work
from qiflow.store import Tx
from qiflow.workflow import WorkflowRegistry


def apply_fields(rules: Rules, work: Work, values: Mapping[str, Any]) -> None:
    """Set the fields that really change and record them in one ``project.updated``."""
    changed = {k: v for k, v in values.items() if work.values.get(k) != v}
    if not changed:
        return
    removes_quality = "quality_objectives" in changed and not changed["quality_objectives"]
    if removes_quality and work.values["state"] != rules.workflow(work.project).initial.name:
        raise ValidationError(
            f"{work.values['ref']}: an improvement plan without a quality objective is "
            "refused, even with a financial objective (strategy section 5.1); replace "
            "the quality objective rather than removing it"
        )
    work.set(**changed)
    work.emit("project.updated", {"changes": changed})


def update(rules: Rules, values: Mapping[str, Any]) -> Change:
    def change(work: Work, tx: Tx) -> None:
        apply_fields(rules, work, values)

    return change


def fire(
    rules: Rules,
    trigger: str,
    *,
    actor: str,
    values: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> Change:
    def change(work: Work, tx: Tx) -> None:
        if values:
            apply_fields(rules, work, values)
        rules.fire(work, tx, trigger, actor=actor, data=extra)

    return change


def record_pdsa(cycle: int | None, given: Mapping[str, str], note: str | None) -> Change:
    def change(work: Work, tx: Tx) -> None:
        current = work.values["current_cycle"]
        number = cycle if cycle is not None else max(current, 1)
        if number < 1 or number > max(current, 1):
            raise ValidationError(
                f"{work.values['ref']} has no PDSA cycle {number}; "
                f"the current cycle is {max(current, 1)}"
            )
        existing = tx.cycle(work.values["id"], number)
        if existing is not None and existing["act"]:
            raise ValidationError(
                f"PDSA cycle {number} is closed (decision: "
                f"{existing['act']}); record on cycle {current}"
            )
        values: dict[str, Any] = dict(given)
        if note:
            observations = list(existing["observations"]) if existing else []
            values["observations"] = [*observations, note]
        tx.save_cycle(work.values["id"], number, values)
        payload: dict[str, Any] = {"cycle": number, **given}
        if note:
            payload["observation"] = note
        work.emit("pdsa.recorded", payload)

    return change


def add_measure(name: str, kind: str, unit: str, direction: str) -> Change:
    def change(work: Work, tx: Tx) -> None:
        if any(m["name"] == name for m in tx.measures(work.values["id"])):
            raise ValidationError(f"{work.values['ref']} already has a measure {name!r}")
        tx.insert_measure(
            {
                "project_id": work.values["id"],
                "name": name,
                "kind": kind,
                "unit": unit,
                "direction": direction,
            }
        )
        work.emit(
            "measure.added", {"name": name, "kind": kind, "unit": unit, "direction": direction}
        )

    return change


def record_data_point(measure: str, value: float, when: datetime, note: str | None) -> Change:
    def change(work: Work, tx: Tx) -> None:
        found = [m for m in tx.measures(work.values["id"]) if m["name"] == measure]
        if not found:
            raise ValidationError(f"{work.values['ref']} has no measure {measure!r}")
        tx.insert_data_point(
            {"measure_id": found[0]["id"], "observed_at": when, "value": value, "note": note}
        )
        work.emit(
            "datapoint.recorded",
            {"measure": measure, "value": value, "observed_at": when.isoformat(), "note": note},
        )

    return change


def record_review(rules: Rules, notes: str | None, progress_score: float | None) -> Change:
    def change(work: Work, tx: Tx) -> None:
        state = rules.workflow(work.project).state(work.values["state"])
        if state.review is None:
            raise ValidationError(
                f"{work.values['ref']} is {state.name}, a state with no review cadence"
            )
        due = state.review.after(work.now)
        work.set(next_review_at=due)
        work.emit(
            "review.recorded",
            {"notes": notes, "progress_score": progress_score, "next_review_at": due.isoformat()},
        )

    return change


def migrate(registry: WorkflowRegistry, to_version: int) -> Change:
    def change(work: Work, tx: Tx) -> None:
        current = work.project
        target = registry.get(current.workflow, to_version)
        if to_version == current.workflow_version:
            raise ValidationError(
                f"{current.ref} is already on {current.workflow} version {to_version}"
            )
        missing = [
            s
            for s in (current.state, current.previous_state)
            if s is not None and not target.has_state(s)
        ]
        if missing:
            raise ValidationError(
                f"{current.ref} cannot move to {current.workflow} version {to_version}: "
                f"state {missing[0]!r} does not exist there; fire a transition to a state "
                "both versions share first"
            )
        store_definition(tx, target, work.now)
        work.set(workflow_version=to_version)
        work.emit(
            "project.migrated", {"from_version": current.workflow_version, "to_version": to_version}
        )

    return change


def request_signoff(rules: Rules, gate: str, form: Mapping[str, Any], actor: str) -> Change:
    def change(work: Work, tx: Tx) -> None:
        gate_type = _gate(rules, gate)
        ctx = rules.context(work.project, tx, actor, work.now)
        if not any(gate in t.gates for t in ctx.workflow.transitions):
            raise ValidationError(
                f"{work.values['ref']}'s workflow ({ctx.workflow.name} "
                f"version {ctx.workflow.version}) has no {gate!r} gate"
            )
        values, approval = gates.request(
            tx, ctx, gate_type, form, actor=actor, version=work.version
        )
        work.emit(
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
    rules: Rules,
    gate: str,
    *,
    actor: str,
    approve: bool,
    role: str | None,
    on_behalf_of: str | None,
    comment: str | None,
) -> Change:
    def change(work: Work, tx: Tx) -> None:
        gate_type = _gate(rules, gate)
        ctx = rules.context(work.project, tx, actor, work.now)
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
            work.emit(type_, payload)
        work.refusal = verdict.refusal

    return change


def expire_signoff(gate: str, signoff_id: int) -> Change:
    """Mark one passed round whose approval has run out as expired (``gate.expired``)."""

    def change(work: Work, tx: Tx) -> None:
        found = [s for s in gates.load_signoffs(tx, work.values["id"], gate) if s.id == signoff_id]
        if not found or found[0].status != gates.PASSED or not found[0].expired(work.now):
            return
        signoff = found[0]
        tx.update_signoff(signoff.id, {"status": gates.EXPIRED})
        work.emit(
            "gate.expired",
            {
                "gate": gate,
                "round": signoff.round,
                "stage": signoff.stage,
                "valid_until": signoff.valid_until.isoformat() if signoff.valid_until else None,
            },
        )

    return change


def escalate(rules: Rules, actor: str) -> Change:
    """Nomination by the transformation team; grants programme status when every condition holds."""

    def change(work: Work, tx: Tx) -> None:
        project = work.project
        _require_role(rules, work, tx, actor, "transformation_team", "nominate projects")
        if project.programme_status == "programme":
            raise ValidationError(f"{project.ref} already has programme status")
        if project.programme_status == "none":
            work.set(programme_status="candidate")
            work.emit(
                "programme.candidate",
                {
                    "status": "candidate",
                    "rules": [escalation.NOMINATED],
                    "reasons": [f"nominated by {actor}"],
                },
            )
            return
        missing = escalation.grant_if_due(work, escalation.latest_qeia(rules, project, tx))
        if missing:
            raise GuardFailed(
                project.ref, "escalate", [f"programme status is withheld: {m}" for m in missing]
            )

    return change


def deescalate(rules: Rules, actor: str, reason: str) -> Change:
    def change(work: Work, tx: Tx) -> None:
        project = work.project
        _require_role(rules, work, tx, actor, "transformation_team", "de-escalate projects")
        if project.programme_status == "none":
            raise ValidationError(f"{project.ref} is neither a candidate nor a programme project")
        meets = escalation.rules_met(rules, project, escalation.latest_qeia(rules, project, tx))
        work.set(programme_status="none", escalation_dismissed=sorted(meets))
        work.emit(
            "programme.deescalated",
            {"status": "none", "reason": reason, "from": project.programme_status},
        )

    return change


def _gate(rules: Rules, name: str) -> gates.GateType:
    try:
        return rules.gates[name]
    except KeyError:
        raise ValidationError(
            f"no gate {name!r}; registered: {', '.join(sorted(rules.gates)) or 'none'}"
        ) from None


def _require_role(rules: Rules, work: Work, tx: Tx, actor: str, role: str, what: str) -> None:
    ctx = rules.context(work.project, tx, actor, work.now)
    if role not in ctx.roles_of(actor):
        raise PermissionDenied(
            f"{work.values['ref']}: only the {role} may {what}; {actor!r} is not in it"
        )
