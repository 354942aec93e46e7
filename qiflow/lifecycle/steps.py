"""Taking one step of a project's workflow inside a command.

:class:`Lifecycle` checks a transition's roles, requirements and gates, has the
workflow's ``transitions`` machine take the step (the destination, and the
transition's effects as the machine's callbacks) and records
``project.transitioned``. After a command's own change it settles the project:
automatic transitions, then the after-change rules other modules registered
(escalation to programme status is one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

import pluggy

from qiflow import hookcall
from qiflow.exceptions import (
    GuardFailed,
    InvalidTransition,
    PermissionDenied,
    WorkflowDefinitionError,
)
from qiflow.lifecycle import automatic
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.effects import Step
from qiflow.lifecycle.requirements import GuardContext, Requirement
from qiflow.lifecycle.roles import SYSTEM, Directory, Roles
from qiflow.snapshots import Project, TriggerOption
from qiflow.store import Tx
from qiflow.workflow import TransitionDef, Workflow, WorkflowRegistry

#: What a gate still awaits before ``trigger`` may fire (empty: passed).
GateCheck = Callable[[GuardContext, str | None], list[str]]
#: A rule run after every command's own change, inside its transaction.
AfterChange = Callable[["Lifecycle", Draft, Tx], None]


class Lifecycle:
    """The registered requirements and gate checks, and the steps they allow."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        registry: WorkflowRegistry,
        *,
        gates: Mapping[str, GateCheck],
        gate_types: Mapping[str, object] | None = None,
        after_change: Sequence[AfterChange] = (),
        watchers: Sequence[AfterChange] = (),
        zone: tzinfo = UTC,
    ) -> None:
        self.registry = registry
        #: The trust's time zone: review cadences count its calendar days and months.
        self.zone = zone
        self.requirements: dict[str, Requirement] = {}
        for found in hookcall.call(pm, "qiflow_requirements"):
            self.requirements.update(found)
        self.gates = dict(gates)
        #: The registered gate types by name (governance asks them what their sign-offs mean).
        self.gate_types: dict[str, object] = dict(gate_types or {})
        self.roles = Roles(pm)
        self._after_change = tuple(after_change)
        #: Run first when a command settles: they may add events automatic transitions read.
        self._watchers = tuple(watchers)

    def workflow(self, project: Project) -> Workflow:
        return self.registry.get(project.workflow, project.workflow_version)

    def directory(self, tx: Tx) -> Directory:
        """A plugin's staff directory if one is installed, else the database's."""
        return self.roles.directory(tx)

    def context(self, project: Project, tx: Tx, actor: str | None, now: datetime) -> GuardContext:
        directory = self.directory(tx)
        return GuardContext(
            project,
            tx,
            actor,
            now=now,
            zone=self.zone,
            workflow=self.workflow(project),
            roles_of=lambda person: self.roles.of(project, person, directory),
            person=directory.person,
        )

    def unmet(
        self, transition: TransitionDef, ctx: GuardContext, actor: str | None
    ) -> tuple[list[str], list[str]]:
        """(permission reasons, requirement and gate reasons) for firing ``transition``."""
        denied: list[str] = []
        if actor is not None and actor != SYSTEM and transition.roles:
            # The project's own roles usually decide it; the directory is asked only if not.
            quick = self.roles.from_plugins(ctx.project, actor)
            if not quick.intersection(transition.roles) and not ctx.roles_of(actor).intersection(
                transition.roles
            ):
                denied.append(
                    f"{actor!r} holds none of the roles allowed to "
                    f"{transition.trigger}: {', '.join(transition.roles)}"
                )
        reasons: list[str] = []
        for name in transition.requires:
            requirement = self.requirements[name]
            where = f"requirement {name!r} (check)"
            reasons.extend(
                hookcall.guarded(hookcall.provider(requirement), where, requirement.check, ctx)
            )
        for name in transition.gates:
            reasons.extend(self.gates[name](ctx, transition.trigger))
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
        draft: Draft,
        tx: Tx,
        trigger: str,
        *,
        actor: str,
        data: Mapping[str, Any] | None = None,
        automatic: bool = False,
    ) -> None:
        """Apply ``trigger`` to the draft, or raise why it cannot fire."""
        now = draft.now
        project = draft.project
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
        step = Step(draft, tx)
        machine = self.registry.machine(workflow.name, workflow.version)
        dest = machine.take(project.state, trigger, project.previous_state, step)
        if dest is None:
            raise GuardFailed(project.ref, trigger, ["there is no previous state to return to"])
        payload: dict[str, Any] = {"trigger": trigger, "from": project.state, "to": dest}
        payload.update(step.said)
        review = workflow.state(dest).review
        next_review = review.after(now, self.zone) if review else None
        draft.set(
            state=dest,
            previous_state=project.state,
            next_review_at=next_review,
            state_entered_at=now,
            state_entered_version=draft.version,
        )
        payload["cycle"] = draft.values["current_cycle"]
        payload["next_review_at"] = next_review.isoformat() if next_review else None
        if automatic:
            payload["automatic"] = True
        if data:
            payload["data"] = dict(data)
        draft.emit("project.transitioned", payload)

    def settle(self, draft: Draft, tx: Tx) -> None:
        """After a command's own change: the watchers, automatic transitions, then the
        after-change rules."""
        for watcher in self._watchers:
            watcher(self, draft, tx)
        read = 0
        for _ in range(automatic.MAX_AUTOMATIC_STEPS):
            if read >= len(draft.events):
                break
            keys = automatic.keys_of(draft.events[read:])
            read = len(draft.events)
            project = draft.project

            def allowed(transition: TransitionDef, project: Project = project) -> bool:
                ctx = self.context(project, tx, SYSTEM, draft.now)
                denied, reasons = self.unmet(transition, ctx, SYSTEM)
                return not denied and not reasons

            workflow = self.workflow(project)
            machine = self.registry.machine(workflow.name, workflow.version)
            due = machine.due(project.state, project.previous_state, keys, allowed)
            if due is not None:
                data = {"on": due.on}
                self.fire(draft, tx, due.trigger, actor=SYSTEM, data=data, automatic=True)
        else:
            if read < len(draft.events):  # the last step set off yet another one
                workflow = self.workflow(draft.project)
                raise WorkflowDefinitionError(
                    f"workflow {workflow.name} v{workflow.version}: automatic transitions "
                    f"fired {automatic.MAX_AUTOMATIC_STEPS} times in one command and would "
                    "go on (their `on` events set each other off); nothing was saved. Fix "
                    "the workflow's `on` keys so the chain ends"
                )
        for rule in self._after_change:
            rule(self, draft, tx)
