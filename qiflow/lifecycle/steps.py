"""Moving a project through its workflow inside one command.

A command works on a :class:`Work`: a copy of the project row that collects
field changes and events. Transitions check roles, requirements and gates,
let the workflow's ``transitions`` machine take the step, apply the
transition's effects, and then fire any transition whose ``on`` event the
command produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pluggy

from qiflow import escalation
from qiflow.exceptions import GuardFailed, InvalidTransition, PermissionDenied
from qiflow.gates import GateType, awaiting
from qiflow.people import DatabaseDirectory, Directory
from qiflow.requirements import GuardContext, Requirement
from qiflow.snapshots import Event, Project, TriggerOption
from qiflow.store import NewEvent, Tx
from qiflow.workflow import PREVIOUS, TransitionDef, Workflow, WorkflowRegistry

SYSTEM = "system"
MAX_AUTOMATIC_STEPS = 16


@dataclass
class Work:
    """A project row being changed by one command."""

    values: dict[str, Any]
    now: datetime
    #: The version the project will have once this command commits.
    version: int
    changes: dict[str, Any] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    committed: list[Event] = field(default_factory=list)
    #: A refusal to raise once the command's events (which record it) are committed.
    refusal: Exception | None = None

    @property
    def project(self) -> Project:
        return Project.from_row(self.values)

    def set(self, **values: Any) -> None:
        self.values.update(values)
        self.changes.update(values)

    def emit(self, type: str, payload: Mapping[str, Any]) -> None:
        self.events.append(NewEvent(type, payload))


def start_pdsa_cycle(work: Work, tx: Tx) -> dict[str, Any]:
    number = work.values["current_cycle"] + 1
    tx.save_cycle(work.values["id"], number, {})
    work.set(current_cycle=number)
    return {"cycle": number}


def record_act_decision(work: Work, tx: Tx, trigger: str) -> dict[str, Any]:
    number = work.values["current_cycle"]
    tx.save_cycle(work.values["id"], number, {"act": trigger})
    return {"decision": trigger, "decided_cycle": number}


#: Effects a workflow transition may name, applied in the order it lists them.
EFFECTS: dict[str, Callable[..., dict[str, Any]]] = {
    "record_act_decision": record_act_decision,
    "start_pdsa_cycle": start_pdsa_cycle,
}


class Rules:
    """The registered requirements, gates and role lookup, from the plugin manager."""

    def __init__(self, pm: pluggy.PluginManager, registry: WorkflowRegistry) -> None:
        self.pm = pm
        self.registry = registry
        self.requirements: dict[str, Requirement] = {}
        for found in pm.hook.qiflow_requirements():
            self.requirements.update(found)
        self.gates: dict[str, GateType] = {}
        for found in pm.hook.qiflow_gates():
            self.gates.update(found)
        self.plugin_directory: Directory | None = pm.hook.qiflow_directory()

    def workflow(self, project: Project) -> Workflow:
        return self.registry.get(project.workflow, project.workflow_version)

    def directory(self, tx: Tx) -> Directory:
        """A plugin's staff directory if one is installed, else the database's."""
        return self.plugin_directory or DatabaseDirectory(tx)

    def plugin_roles(self, project: Project, person: str) -> set[str]:
        """Roles plugins give ``person`` on ``project`` (owner and sponsor, built in)."""
        roles: set[str] = set()
        for found in self.pm.hook.qiflow_actor_roles(project=project, actor=person):
            roles.update(found)
        return roles

    def roles_of(self, project: Project, person: str, directory: Directory) -> set[str]:
        """Roles from plugins and from the directory."""
        roles = self.plugin_roles(project, person)
        record = directory.person(person)
        if record is not None and record.active:
            roles.update(record.roles)
        return roles

    def context(self, project: Project, tx: Tx, actor: str | None, now: datetime) -> GuardContext:
        directory = self.directory(tx)
        return GuardContext(
            project,
            tx,
            actor,
            now=now,
            workflow=self.workflow(project),
            roles_of=lambda person: self.roles_of(project, person, directory),
            person=directory.person,
        )

    def unmet(
        self, transition: TransitionDef, ctx: GuardContext, actor: str | None
    ) -> tuple[list[str], list[str]]:
        """(permission reasons, requirement and gate reasons) for firing ``transition``."""
        denied: list[str] = []
        if actor is not None and actor != SYSTEM and transition.roles:
            # The project's own roles usually decide it; the directory is asked only if not.
            quick = self.plugin_roles(ctx.project, actor)
            if not quick.intersection(transition.roles) and not ctx.roles_of(actor).intersection(
                transition.roles
            ):
                denied.append(
                    f"{actor!r} holds none of the roles allowed to "
                    f"{transition.trigger}: {', '.join(transition.roles)}"
                )
        reasons: list[str] = []
        for name in transition.requires:
            reasons.extend(self.requirements[name].check(ctx))
        for name in transition.gates:
            reasons.extend(awaiting(self.gates[name], ctx, transition.trigger))
        return denied, reasons

    def destination(self, workflow: Workflow, project: Project, trigger: str) -> str | None:
        machine = self.registry.machine(workflow.name, workflow.version)
        return machine.step(project.state, trigger, project.previous_state)

    def options(
        self, project: Project, tx: Tx, actor: str | None, now: datetime
    ) -> list[TriggerOption]:
        workflow = self.workflow(project)
        ctx = self.context(project, tx, actor, now)
        result = []
        for trigger in workflow.triggers_from(project.state):
            transition = workflow.transition(project.state, trigger)
            assert transition is not None
            dest = self.destination(workflow, project, trigger)
            denied, reasons = self.unmet(transition, ctx, actor)
            if dest is None:
                reasons.append("there is no previous state to return to")
            result.append(
                TriggerOption(
                    trigger=trigger,
                    dest=dest or transition.dest,
                    allowed=not denied and not reasons,
                    reasons=tuple(denied + reasons),
                )
            )
        return result

    def fire(
        self,
        work: Work,
        tx: Tx,
        trigger: str,
        *,
        actor: str,
        data: Mapping[str, Any] | None = None,
        automatic: bool = False,
    ) -> None:
        """Apply ``trigger`` to the working project, or raise why it cannot fire."""
        now = work.now
        project = work.project
        workflow = self.workflow(project)
        transition = workflow.transition(project.state, trigger)
        if transition is None:
            raise InvalidTransition(
                project.ref, project.state, trigger, workflow.triggers_from(project.state)
            )
        denied, reasons = self.unmet(transition, self.context(project, tx, actor, now), actor)
        if denied:
            raise PermissionDenied(f"{project.ref}: {'; '.join(denied)}")
        if reasons:
            raise GuardFailed(project.ref, trigger, reasons)
        dest = self.destination(workflow, project, trigger)
        if dest is None:
            raise GuardFailed(project.ref, trigger, ["there is no previous state to return to"])
        payload: dict[str, Any] = {"trigger": trigger, "from": project.state, "to": dest}
        for effect in transition.effects:
            function = EFFECTS[effect]
            extra = (
                function(work, tx, trigger)
                if effect == "record_act_decision"
                else function(work, tx)
            )
            payload.update(extra)
        review = workflow.state(dest).review
        next_review = review.after(now) if review else None
        work.set(
            state=dest,
            previous_state=project.state,
            next_review_at=next_review,
            state_entered_at=now,
            state_entered_version=work.version,
        )
        payload["cycle"] = work.values["current_cycle"]
        payload["next_review_at"] = next_review.isoformat() if next_review else None
        if automatic:
            payload["automatic"] = True
        if data:
            payload["data"] = dict(data)
        work.emit("project.transitioned", payload)

    def settle(self, work: Work, tx: Tx) -> None:
        """After a command's own change: automatic transitions, then escalation rules."""
        self.fire_automatic(work, tx)
        escalation.evaluate(self, work, tx)

    def fire_automatic(self, work: Work, tx: Tx) -> None:
        """Fire transitions whose ``on`` event was produced, until none applies."""
        index = 0
        for _ in range(MAX_AUTOMATIC_STEPS):
            if index >= len(work.events):
                return
            keys = set().union(*(_event_keys(e) for e in work.events[index:]))
            index = len(work.events)
            project = work.project
            workflow = self.workflow(project)
            for transition in workflow.transitions_from(project.state):
                if transition.on in keys and self._may_fire(transition, work, tx):
                    self.fire(
                        work,
                        tx,
                        transition.trigger,
                        actor=SYSTEM,
                        data={"on": transition.on},
                        automatic=True,
                    )
                    break

    def _may_fire(self, transition: TransitionDef, work: Work, tx: Tx) -> bool:
        project = work.project
        ctx = self.context(project, tx, SYSTEM, work.now)
        denied, reasons = self.unmet(transition, ctx, SYSTEM)
        if denied or reasons:
            return False
        return transition.dest != PREVIOUS or project.previous_state is not None


def _event_keys(event: NewEvent) -> Iterable[str]:
    keys = {event.type}
    gate = event.payload.get("gate")
    if isinstance(gate, str):
        keys.add(f"{event.type}:{gate}")
    return keys
