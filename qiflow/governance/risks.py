"""The risk commands of the engine: each change to a project's register is one command.

:class:`~qiflow.engine.Engine` delegates to :class:`RiskCommands`. What an edit
means is decided by :mod:`qiflow.risks.register`; here it runs inside the project's
transaction: who may make it is checked, the events go into the project's audit
trail, and the risks as they now stand into the store, so the escalation rules
that run after every command read them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from qiflow.clock import Clock
from qiflow.exceptions import PermissionDenied
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.runner import Request, Runner
from qiflow.lifecycle.steps import Lifecycle
from qiflow.risks import register
from qiflow.risks.heatmap import HeatMap, heat_map
from qiflow.risks.importing import parse_csv
from qiflow.risks.policy import RiskPolicy, risk_policy
from qiflow.risks.register import NewRisk, Risk, RiskEvent
from qiflow.snapshots import Project
from qiflow.store import RiskFilter, Store, Tx
from qiflow.workflow import Workflow

#: Project roles that may keep any risk of the project; a risk's own owner may keep it too.
KEEPERS = ("owner", "sponsor", "qi_lead", "transformation_team")
#: What plans an edit, given the register as it stands and the project being changed.
Plan = Callable[[Sequence[Risk], RiskPolicy, Draft], list[RiskEvent]]


def policy_of(workflow: Workflow) -> RiskPolicy:
    """The risk matrix of a workflow (its ``[risks]`` table, or the NPSA defaults)."""
    return risk_policy(workflow.risks)


class RiskCommands:
    """A project's risk register: edits (each one command) and the portfolio's view."""

    def __init__(self, store: Store, runner: Runner, lifecycle: Lifecycle, clock: Clock) -> None:
        self._store = store
        self._runner = runner
        self._lifecycle = lifecycle
        self._clock = clock

    # commands ---------------------------------------------------------------------------
    def add(self, project: str, new: Sequence[NewRisk], request: Request) -> list[Risk]:
        """Add risks (one, or a whole imported log) in one command; returns them."""

        def plan(risks: Sequence[Risk], policy: RiskPolicy, draft: Draft) -> list[RiskEvent]:
            return register.add_many(risks, new, policy, now=draft.now, actor=request.actor)

        done = self._run(project, "risk.add", plan, request, keeper_of=None)
        return self._added(done)

    def import_csv(self, project: str, text: str, request: Request, *, source: str) -> list[Risk]:
        """Add every risk of a CSV risk log, or none (every bad row named)."""
        with self._store.read() as tx:
            found = self._runner.project(tx, project)
        policy = policy_of(self._lifecycle.workflow(found))
        new = parse_csv(text, policy, today=self._clock.now().date(), source=source)
        return self.add(project, new, request)

    def update(self, project: str, risk: str, changes: dict[str, Any], request: Request) -> Risk:
        def plan(risks: Sequence[Risk], policy: RiskPolicy, draft: Draft) -> list[RiskEvent]:
            return [register.update(risks, risk, policy, today=draft.now.date(), **changes)]

        return self._one(self._run(project, "risk.update", plan, request, keeper_of=risk), risk)

    def review(
        self,
        project: str,
        risk: str,
        request: Request,
        *,
        consequence: int,
        likelihood: int,
        note: str | None,
    ) -> Risk:
        def plan(risks: Sequence[Risk], policy: RiskPolicy, draft: Draft) -> list[RiskEvent]:
            return register.review(
                risks,
                risk,
                policy,
                consequence=consequence,
                likelihood=likelihood,
                note=note,
                now=draft.now,
                actor=request.actor,
                by_sponsor=request.actor == draft.project.sponsor,
            )

        return self._one(self._run(project, "risk.review", plan, request, keeper_of=risk), risk)

    def add_action(
        self, project: str, risk: str, text: str, request: Request, *, owner: str, due: date
    ) -> Risk:
        def plan(risks: Sequence[Risk], policy: RiskPolicy, draft: Draft) -> list[RiskEvent]:
            return [
                register.add_action(risks, risk, text, owner=owner, due=due, today=draft.now.date())
            ]

        return self._one(self._run(project, "risk.action", plan, request, keeper_of=risk), risk)

    def complete_action(self, project: str, risk: str, action: str, request: Request) -> Risk:
        def plan(risks: Sequence[Risk], policy: RiskPolicy, draft: Draft) -> list[RiskEvent]:
            return [register.complete_action(risks, risk, action, now=draft.now)]

        done = self._run(project, "risk.action_done", plan, request, keeper_of=risk, action=action)
        return self._one(done, risk)

    def change_status(
        self, project: str, risk: str, status: str, request: Request, *, reason: str
    ) -> Risk:
        def plan(risks: Sequence[Risk], policy: RiskPolicy, draft: Draft) -> list[RiskEvent]:
            return [register.change_status(risks, risk, status, reason=reason)]

        return self._one(self._run(project, f"risk.{status}", plan, request, keeper_of=risk), risk)

    def declare_none(self, project: str, request: Request, *, note: str | None) -> Project:
        """The owner's declaration that the project carries no significant risks."""

        def plan(risks: Sequence[Risk], policy: RiskPolicy, draft: Draft) -> list[RiskEvent]:
            if request.actor != draft.project.owner:
                raise PermissionDenied(
                    f"{draft.project.ref}: only the project's owner "
                    f"({draft.project.owner or 'none named'}) may declare that it carries no "
                    "significant risks"
                )
            return [register.declare_none(risks, note=note)]

        return self._run(project, "risk.none", plan, request, keeper_of=None)

    # queries ----------------------------------------------------------------------------
    def of_project(self, project: str) -> list[Risk]:
        with self._store.read() as tx:
            return tx.risks.of_project(self._runner.project(tx, project).id)

    def find(self, where: RiskFilter) -> list[Risk]:
        with self._store.read() as tx:
            return tx.risks.find(where)

    def policy(self, project: str) -> RiskPolicy:
        with self._store.read() as tx:
            found = self._runner.project(tx, project)
        return policy_of(self._lifecycle.workflow(found))

    def heat_map(self, risks: Sequence[Risk], policy: RiskPolicy) -> HeatMap:
        return heat_map(risks, policy)

    # running ----------------------------------------------------------------------------
    def _run(
        self,
        project: str,
        command: str,
        plan: Plan,
        request: Request,
        *,
        keeper_of: str | None,
        action: str | None = None,
    ) -> Project:
        def change(draft: Draft, tx: Tx) -> None:
            risks = tx.risks.of_project(draft.values["id"])
            self._check_keeper(draft, tx, request.actor, risks, keeper_of, action)
            policy = policy_of(self._lifecycle.workflow(draft.project))
            self._record(draft, tx, risks, plan(risks, policy, draft))

        return self._runner.run(project, command, change, request)

    def _check_keeper(
        self,
        draft: Draft,
        tx: Tx,
        actor: str,
        risks: Sequence[Risk],
        risk_id: str | None,
        action_id: str | None,
    ) -> None:
        """Only the project's keepers, the risk's owner (or the action's) may change it."""
        if risk_id is not None:
            risk = register.find(risks, risk_id)
            if actor == risk.owner or (
                action_id is not None
                and any(
                    a.owner == actor and a.id == action_id.strip().upper() for a in risk.actions
                )
            ):
                return
        ctx = self._lifecycle.context(draft.project, tx, actor, draft.now)
        if not ctx.roles_of(actor).intersection(KEEPERS):
            whose = f" or risk {risk_id.upper()}'s owner" if risk_id else ""
            raise PermissionDenied(
                f"{draft.project.ref}: {actor!r} may not change the risk register; it is kept by "
                f"the project's {', '.join(KEEPERS)}{whose}"
            )

    @staticmethod
    def _record(draft: Draft, tx: Tx, risks: Sequence[Risk], events: Sequence[RiskEvent]) -> None:
        changed: set[str] = set()
        for event in events:
            risks = register.apply(risks, event)
            if event.type in register.EVENT_TYPES:
                changed.add(event.payload["risk"])
            draft.emit(event.type, event.payload)
        tx.risks.save(draft.values["id"], [r for r in risks if r.id in changed])

    def _added(self, project: Project) -> list[Risk]:
        """The risks the command that left ``project`` at its version added."""
        with self._store.read() as tx:
            ids = {
                e.payload["risk"]
                for e in tx.events.of_project(project.id)
                if e.version == project.version and e.type == register.ADDED
            }
            return [r for r in tx.risks.of_project(project.id) if r.id in ids]

    def _one(self, project: Project, risk_id: str) -> Risk:
        with self._store.read() as tx:
            return register.find(tx.risks.of_project(project.id), risk_id)
