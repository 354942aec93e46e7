"""The built-in requirements of the default QI lifecycle, and the project roles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from qiflow.charter import diagram, team
from qiflow.lifecycle.corrections import EVENT_TYPES as CORRECTION_EVENTS
from qiflow.lifecycle.requirements import GuardContext, Requirement
from qiflow.plugins import hookimpl
from qiflow.risks import register
from qiflow.snapshots import Project

#: The event types qiflow itself produces (a transition's ``on`` may name them).
EVENT_TYPES = (
    "project.created",
    "project.updated",
    "project.transitioned",
    "project.migrated",
    "pdsa.recorded",
    "measure.added",
    "datapoint.recorded",
    "review.recorded",
    "signoff.requested",
    "signoff.decided",
    "signoff.refused",
    "gate.passed",
    "gate.rejected",
    "gate.expired",
    "programme.candidate",
    "programme.granted",
    "programme.deescalated",
    *CORRECTION_EVENTS,
    *diagram.EVENT_TYPES,
    *team.EVENT_TYPES,
    *register.EVENT_TYPES,
    register.BAND_ROSE,
    register.NONE_DECLARED,
    "measure.configured",
    "measure.rebased",
    "measure.signal",
)
ROLES = (
    "owner",
    "sponsor",
    "qi_lead",
    "transformation_team",
    "medical_director",
    "director_of_nursing",
    "lead_executive_sponsor",
    "qi_sponsor",
    "system",
)


def owner_and_sponsor(ctx: GuardContext) -> list[str]:
    reasons = []
    if not ctx.project.owner:
        reasons.append("no owner: every QI project needs an owner (set owner)")
    if not ctx.project.sponsor:
        reasons.append("no sponsor: every QI project needs a sponsor (set sponsor)")
    return reasons


def aim_and_quality_objective(ctx: GuardContext) -> list[str]:
    reasons = []
    if not ctx.project.aim:
        reasons.append("no aim: say what the project is trying to accomplish (set aim)")
    if not ctx.project.quality_objectives:
        reason = "no quality objective: every improvement plan needs one (set quality_objectives)"
        if ctx.project.expected_saving:
            reason += (
                "; a plan with only a financial objective is not managed by the QI "
                "system (strategy section 5.1)"
            )
        reasons.append(reason)
    return reasons


def outcome_and_balancing_measures(ctx: GuardContext) -> list[str]:
    kinds = {measure.kind for measure in ctx.measures()}
    return [
        f"no {kind} measure: add one (measure add --kind {kind})"
        for kind in ("outcome", "balancing")
        if kind not in kinds
    ]


def current_cycle_studied(ctx: GuardContext) -> list[str]:
    number = ctx.project.current_cycle
    cycle = ctx.cycle()
    if number == 0:
        return ["no PDSA cycle has started"]
    reasons = []
    if cycle is None or not cycle.prediction:
        reasons.append(f"PDSA cycle {number} has no prediction (record it with the plan)")
    if cycle is None or not cycle.study:
        reasons.append(f"PDSA cycle {number} has no study comparing results with the prediction")
    return reasons


def learning_recorded(ctx: GuardContext) -> list[str]:
    if ctx.project.learning:
        return []
    return [
        "no learning recorded: abandoning is a respected ending, but it must say what "
        "was learned (set learning)"
    ]


def change_ideas_defined(ctx: GuardContext) -> list[str]:
    if ctx.driver_diagram().ideas():
        return []
    return [
        "no change idea: the driver diagram needs at least one change idea under a driver "
        "(driver add REF --idea TITLE --under ID)"
    ]


def cycle_tests_change_idea(ctx: GuardContext) -> list[str]:
    number = max(ctx.project.current_cycle, 1)
    cycle = ctx.cycle(number)
    if cycle is not None and cycle.tests:
        return []
    return [
        f"PDSA cycle {number} names no change idea it tests "
        "(record it with the plan: pdsa record REF --tests ID)"
    ]


REQUIREMENTS = {
    r.name: r
    for r in (
        Requirement(
            "owner_and_sponsor_set", "the project has an owner and a sponsor", owner_and_sponsor
        ),
        Requirement(
            "aim_and_quality_objective_set",
            "the project has an aim and at least one quality objective",
            aim_and_quality_objective,
        ),
        Requirement(
            "outcome_and_balancing_measures",
            "at least one outcome measure and one balancing measure",
            outcome_and_balancing_measures,
        ),
        Requirement(
            "current_cycle_studied",
            "the current PDSA cycle has a prediction and a study",
            current_cycle_studied,
        ),
        Requirement("learning_recorded", "the project's learning is recorded", learning_recorded),
        Requirement(
            "change_ideas_defined",
            "the driver diagram has at least one change idea under a driver",
            change_ideas_defined,
        ),
        Requirement(
            "cycle_tests_change_idea",
            "the current PDSA cycle (cycle 1 before testing starts) names the change "
            "idea(s) it tests",
            cycle_tests_change_idea,
        ),
    )
}


@hookimpl
def qiflow_requirements() -> Mapping[str, Requirement]:
    return REQUIREMENTS


@hookimpl
def qiflow_roles() -> Iterable[str]:
    return ROLES


@hookimpl
def qiflow_event_types() -> Iterable[str]:
    return EVENT_TYPES


@hookimpl
def qiflow_actor_roles(project: Project, actor: str) -> Iterable[str]:
    fields = {
        "owner": project.owner,
        "sponsor": project.sponsor,
        "lead_executive_sponsor": project.lead_executive_sponsor,
        "qi_sponsor": project.qi_sponsor,
    }
    return [role for role, holder in fields.items() if holder and holder == actor]
