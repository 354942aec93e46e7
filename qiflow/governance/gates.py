"""Sign-off gates: approval steps that block transitions until the right people approve.

A gate *type* (built in, like QEIA, or from a plugin) says what form it collects,
whether it applies to a project, and who must approve what is submitted (all of
some roles, or any one of them) and for how long. Everything else is shared and
lives here: requesting a sign-off (a new round), deciding it with separation of
duties, rejection until resubmitted, expiry, and what a blocked transition is
awaiting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Protocol

import pluggy

from qiflow import hookcall
from qiflow.audit import dumps
from qiflow.durations import Duration, parse_duration
from qiflow.exceptions import PermissionDenied, ValidationError
from qiflow.lifecycle.requirements import GuardContext
from qiflow.lifecycle.steps import GateCheck
from qiflow.snapshots import (
    PASSED,
    PENDING,
    REJECTED,
    SUPERSEDED,
    Signoff,
)
from qiflow.store import Tx

#: Who may open a sign-off round: anyone with a part in the project.
REQUESTER_ROLES = (
    "owner",
    "sponsor",
    "qi_lead",
    "lead_executive_sponsor",
    "qi_sponsor",
    "transformation_team",
)


@dataclass(frozen=True)
class Approval:
    """What a submitted form needs: who approves it, and how long an approval lasts."""

    stage: str
    roles: tuple[str, ...]
    mode: str = "all"  # "all" of the roles, or "any" one of them
    valid_for: Duration | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NotNeeded:
    """What ``assess`` returns when the submitted form shows the gate does not apply:
    the gate passes with no approvers, recorded as ``gate.not_needed`` naming who said so.
    ``valid_for`` bounds how long that declaration stands (None: until the form changes)."""

    reason: str
    valid_for: Duration | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)


#: The types a gate's own configuration key may take, as ``BaseGate.config_schema`` names them.
ConfigSchema = Mapping[str, type | tuple[type, ...]]


class GateType(Protocol):
    """A kind of approval step; subclass :class:`BaseGate` to write one."""

    name: str
    title: str

    def check_config(self, config: Mapping[str, Any]) -> list[str]: ...

    def applies(self, ctx: GuardContext) -> bool: ...

    def assess(self, ctx: GuardContext, form: Mapping[str, Any]) -> Approval | NotNeeded: ...

    def still_valid(self, ctx: GuardContext, signoff: Signoff) -> str | None: ...


class BaseGate:
    """Defaults for a gate type: no configuration, always applies, never outgrown."""

    name = "gate"
    title = "Sign-off"
    #: The gate's own keys in ``[gates.<name>]`` and the type (or types) each takes, e.g.
    #: ``{"valid_for": str, "exempt": list}``; ``rescreen_on`` is every gate's.
    config_schema: ClassVar[ConfigSchema] = {}

    def check_config(self, config: Mapping[str, Any]) -> list[str]:
        """Every problem in ``[gates.<name>]``: keys not in :attr:`config_schema` (nor
        ``rescreen_on``, the triggers that need a sign-off requested since the project
        entered its current state) and values of the wrong type. Override it to check
        more, and extend the list ``super().check_config(config)`` returns."""
        schema: dict[str, type | tuple[type, ...]] = {**self.config_schema, "rescreen_on": list}
        problems = [
            f"unknown key {key!r}; expected one of {', '.join(sorted(schema))}"
            for key in config
            if key not in schema
        ]
        for key, expected in schema.items():
            if key not in config or key == "rescreen_on":
                continue
            kinds = expected if isinstance(expected, tuple) else (expected,)
            value = config[key]
            if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
                names = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
                problems.append(f"{key} must be {names}")
        rescreen = config.get("rescreen_on", [])
        if not isinstance(rescreen, list) or not all(isinstance(t, str) for t in rescreen):
            problems.append("rescreen_on must be a list of triggers")
        return problems

    def applies(self, ctx: GuardContext) -> bool:
        return True

    def assess(self, ctx: GuardContext, form: Mapping[str, Any]) -> Approval | NotNeeded:
        """Check ``form`` (raise :class:`qiflow.ValidationError` with every problem) and say
        who must approve it, or that the gate is :class:`NotNeeded`."""
        raise NotImplementedError

    def still_valid(self, ctx: GuardContext, signoff: Signoff) -> str | None:
        """A reason the passed sign-off no longer covers the project, or None."""
        return None


_TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def registered_gates(pm: pluggy.PluginManager) -> dict[str, GateType]:
    """The gate types plugins registered (QEIA among them), by name."""
    found: dict[str, GateType] = {}
    for provided in hookcall.call(pm, "qiflow_gates"):
        found.update(provided)
    return found


def gate_checks(gate_types: Mapping[str, GateType]) -> dict[str, GateCheck]:
    """For the lifecycle: what each gate still awaits before a trigger may fire."""
    return {name: partial(awaiting, gate) for name, gate in gate_types.items()}


def current(signoffs: Sequence[Signoff]) -> Signoff | None:
    """The latest round, if any."""
    return signoffs[-1] if signoffs else None


def awaiting(gate: GateType, ctx: GuardContext, trigger: str | None = None) -> list[str]:
    """What ``gate`` still waits for before ``trigger`` may fire (empty: passed)."""
    if not _guard(gate, "applies", ctx):
        return []
    latest = current(ctx.signoffs(gate.name))
    ref = ctx.project.ref
    if latest is None:
        return [f"{gate.title}: not requested yet (qiflow signoff request {ref} {gate.name})"]
    if latest.status == PENDING:
        return [f"{latest.stage}: awaiting {', '.join(latest.awaiting)}"]
    if latest.status == REJECTED:
        return [
            f"{latest.stage}: rejected ({latest.reason or 'no reason given'}); "
            "resubmit it with qiflow signoff request"
        ]
    if latest.expired(ctx.now):
        until = latest.valid_until.strftime("%Y-%m-%d") if latest.valid_until else "?"
        return [f"{latest.stage}: expired on {until}; request a new review"]
    rescreen = ctx.gate_config(gate.name).get("rescreen_on", [])
    if trigger in rescreen and latest.requested_version <= ctx.project.state_entered_version:
        return [
            f"{gate.title}: must be screened again before {trigger} (the last one predates "
            f"the project's move to {ctx.project.state})"
        ]
    outgrown = _guard(gate, "still_valid", ctx, latest)
    return [outgrown] if outgrown else []


def passed(signoff: Signoff | None, now: datetime) -> bool:
    return signoff is not None and signoff.status == PASSED and not signoff.expired(now)


# commands ------------------------------------------------------------------------------


def request(
    tx: Tx,
    ctx: GuardContext,
    gate: GateType,
    form: Mapping[str, Any],
    *,
    actor: str,
    version: int,
) -> tuple[dict[str, Any], Approval | NotNeeded]:
    """Open a new round of ``gate`` with ``form``; supersede a pending or rejected one.

    When the gate's ``assess`` says the gate is :class:`NotNeeded`, the round passes at
    once with no approvers (``reason`` says why; the caller records who declared it).

    A new round is the project's current assessment, so only people with a part in
    the project may open one (see :data:`REQUESTER_ROLES`).
    """
    if not ctx.roles_of(actor) & set(REQUESTER_ROLES):
        raise PermissionDenied(
            f"{ctx.project.ref}: {actor!r} has no part in the project "
            f"(needs one of {', '.join(REQUESTER_ROLES)}) and cannot "
            f"request its {gate.title}"
        )
    if not _guard(gate, "applies", ctx):
        raise ValidationError(f"{gate.title} does not apply to {ctx.project.ref}")
    approval = _guard(gate, "assess", ctx, form)
    if isinstance(approval, NotNeeded):
        if not approval.reason.strip():
            raise ValidationError(f"gate {gate.name!r} said it is not needed without a reason")
    elif approval.mode not in ("all", "any") or not approval.roles:
        raise ValidationError(f"gate {gate.name!r} returned an invalid approval rule")
    rounds = ctx.signoffs(gate.name)
    latest = current(rounds)
    if latest is not None and latest.status == PENDING:
        tx.signoffs.update(latest.id, {"status": SUPERSEDED})
    values = {
        "project_id": ctx.project.id,
        "gate": gate.name,
        "round": latest.round + 1 if latest else 1,
        "stage": approval.stage if isinstance(approval, Approval) else gate.title,
        "status": PENDING,
        "form": dumps(dict(form)),
        "summary": dumps(dict(approval.summary)),
        "roles": list(approval.roles) if isinstance(approval, Approval) else [],
        "mode": approval.mode if isinstance(approval, Approval) else "any",
        "valid_for": str(approval.valid_for) if approval.valid_for else None,
        "requested_by": actor,
        "requested_at": ctx.now,
        "requested_version": version,
    }
    if isinstance(approval, NotNeeded):
        until = approval.valid_for.after(ctx.now) if approval.valid_for else None
        values.update(
            status=PASSED, decided_at=ctx.now, valid_until=until, reason=approval.reason.strip()
        )
    tx.signoffs.insert(values)
    return values, approval


@dataclass(frozen=True)
class Verdict:
    """The outcome of a decision attempt: events to record, and a refusal to raise."""

    events: tuple[tuple[str, dict[str, Any]], ...]
    refusal: PermissionDenied | None = None


def decide(
    tx: Tx,
    ctx: GuardContext,
    gate: GateType,
    *,
    actor: str,
    approve: bool,
    role: str | None,
    on_behalf_of: str | None,
    comment: str | None,
) -> Verdict:
    """Record one approver's decision, with separation of duties.

    A refused decision is not an error the caller made with the data: it is a fact
    for the audit trail, so it comes back as a ``signoff.refused`` event plus the
    ``PermissionDenied`` to raise once that event is committed.
    """
    if not _guard(gate, "applies", ctx):
        raise ValidationError(
            f"{gate.title} no longer applies to {ctx.project.ref}; there is nothing to decide"
        )
    latest = current(ctx.signoffs(gate.name))
    if latest is None or latest.status != PENDING:
        state = "none has been requested" if latest is None else f"the latest is {latest.status}"
        raise ValidationError(
            f"{ctx.project.ref} has no pending {gate.title} sign-off ({state}); request one first"
        )
    person = on_behalf_of or actor
    base = {
        "gate": gate.name,
        "round": latest.round,
        "stage": latest.stage,
        "decision": "approve" if approve else "reject",
    }
    if on_behalf_of:
        base["delegated_by"] = on_behalf_of
    reason = _refusal(ctx, latest, actor=actor, person=person, on_behalf_of=on_behalf_of, role=role)
    if isinstance(reason, PermissionDenied):
        return Verdict(
            events=(("signoff.refused", {**base, "reason": str(reason)}),), refusal=reason
        )
    chosen = reason
    # A deputy decides with the principal's role; both are recorded.
    tx.signoffs.add_decision(
        {
            "signoff_id": latest.id,
            "role": chosen,
            "approver": actor,
            "delegated_by": on_behalf_of,
            "decision": base["decision"],
            "comment": comment,
            "decided_at": ctx.now,
        }
    )
    decided = {**base, "role": chosen, "approver": actor, "comment": comment}
    events: list[tuple[str, dict[str, Any]]] = [("signoff.decided", decided)]
    if not approve:
        tx.signoffs.update(
            latest.id,
            {
                "status": REJECTED,
                "decided_at": ctx.now,
                "reason": comment or f"rejected by {actor}",
            },
        )
        events.append(
            (
                "gate.rejected",
                {
                    "gate": gate.name,
                    "round": latest.round,
                    "stage": latest.stage,
                    "by": actor,
                    "reason": comment,
                },
            )
        )
        return Verdict(tuple(events))
    remaining = [r for r in latest.awaiting if r != chosen] if latest.mode == "all" else []
    if not remaining:
        until = (
            parse_duration(latest.valid_for).after(ctx.now, ctx.zone) if latest.valid_for else None
        )
        tx.signoffs.update(
            latest.id, {"status": PASSED, "decided_at": ctx.now, "valid_until": until}
        )
        events.append(
            (
                "gate.passed",
                {
                    "gate": gate.name,
                    "round": latest.round,
                    "stage": latest.stage,
                    "valid_until": until.isoformat() if until else None,
                },
            )
        )
    return Verdict(tuple(events))


def _refusal(
    ctx: GuardContext,
    signoff: Signoff,
    *,
    actor: str,
    person: str,
    on_behalf_of: str | None,
    role: str | None,
) -> str | PermissionDenied:
    """The role the decision fills, or why the decision is refused."""
    ref = ctx.project.ref
    if on_behalf_of and on_behalf_of not in ctx.deputy_for(actor):
        return PermissionDenied(
            f"{ref}: {actor!r} is not a recorded deputy of "
            f"{on_behalf_of!r}, so cannot decide on their behalf"
        )
    for who in {actor, person}:
        if who == ctx.project.owner:
            return PermissionDenied(
                f"{ref}: {who!r} owns the project and cannot approve its own {signoff.stage}"
            )
        if who == signoff.requested_by:
            return PermissionDenied(
                f"{ref}: {who!r} requested this {signoff.stage} and cannot also decide it"
            )
    people = {actor, person}
    if any(d.approver in people or d.delegated_by in people for d in signoff.decisions):
        return PermissionDenied(
            f"{ref}: {person!r} has already decided this {signoff.stage}; "
            "one person cannot fill two required roles on the same gate"
        )
    held = ctx.roles_of(person)
    open_roles = list(signoff.awaiting)
    if role is not None:
        if role not in signoff.roles:
            return PermissionDenied(
                f"{ref}: {signoff.stage} is not decided by {role!r}; it "
                f"needs {', '.join(signoff.roles)}"
            )
        if role not in open_roles:
            return PermissionDenied(f"{ref}: {role} has already approved this {signoff.stage}")
        if role not in held:
            return PermissionDenied(f"{ref}: {person!r} does not hold the role {role!r}")
        return role
    for candidate in open_roles:
        if candidate in held:
            return candidate
    return PermissionDenied(
        f"{ref}: {person!r} holds none of the roles this {signoff.stage} "
        f"awaits ({', '.join(open_roles)})"
    )


def _guard(gate: GateType, method: str, *args: Any) -> Any:
    """Call a gate's ``method``: a plugin's failure is a PluginError naming the gate."""
    where = f"gate {gate.name!r} ({method})"
    return hookcall.guarded(hookcall.provider(gate), where, getattr(gate, method), *args)
