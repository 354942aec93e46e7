"""Escalation to programme status (strategy sections 5 and 8).

Projects of sufficient scale, risk or value become *candidates* for the
transformation programme by the rules in their workflow file's ``[escalation]``
table, evaluated after every change, or by nomination by the transformation
team. Programme status itself is granted only when a lead executive sponsor and
a QI sponsor are named and a stage 2 QEIA has been signed off by the Medical
Director and the Director of Nursing & Quality. De-escalation needs a reason,
and the rules that made the project a candidate then stay quiet until a new
one applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from qiflow.governance.gates import current, passed
from qiflow.hookmarkers import hookimpl
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.steps import Lifecycle
from qiflow.risks.policy import EXTREME
from qiflow.risks.register import OPEN
from qiflow.snapshots import SCALES, Project, Signoff
from qiflow.store import Tx
from qiflow.workflow.loader import TableCheck

CONFIG_KEYS = {"financial_threshold", "scales", "qeia_extreme", "qeia_gate", "risk_extreme"}
NOMINATED = "nominated"
#: The events that can change what the rules read (fields, QEIA scores, sign-offs).
INPUTS = frozenset(
    {
        "project.created",
        "project.updated",
        "signoff.requested",
        "signoff.decided",
        "gate.passed",
        "gate.not_needed",
        "gate.expired",
        "project.migrated",
        "risk.added",
        "risk.reviewed",
        "risk.status_changed",
    }
)
FULL_QEIA_ROLES = ("medical_director", "director_of_nursing")


@hookimpl
def qiflow_workflow_tables() -> Mapping[str, TableCheck]:
    """The ``[escalation]`` table of a workflow file is read, and checked, here."""
    return {"escalation": check_escalation_config}


def check_escalation_config(config: Mapping[str, Any]) -> list[str]:
    problems = [
        f"unknown key {key!r}; expected one of {', '.join(sorted(CONFIG_KEYS))}"
        for key in config
        if key not in CONFIG_KEYS
    ]
    threshold = config.get("financial_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0
    ):
        problems.append("financial_threshold must be a whole number of pounds")
    scales = config.get("scales", [])
    if not isinstance(scales, list) or any(s not in SCALES for s in scales):
        problems.append(f"scales must be a list drawn from {', '.join(SCALES)}")
    for flag in ("qeia_extreme", "risk_extreme"):
        if not isinstance(config.get(flag, False), bool):
            problems.append(f"{flag} must be true or false")
    return problems


def rule_reasons(
    project: Project,
    config: Mapping[str, Any],
    qeia_max_score: int | None,
    extreme_from: int,
    extreme_risks: Sequence[str] = (),
) -> dict[str, str]:
    """The escalation rules ``project`` meets, by key, with a reason for people."""
    reasons: dict[str, str] = {}
    threshold = config.get("financial_threshold")
    if threshold is not None and (project.expected_saving or 0) >= threshold:
        reasons["financial"] = (
            f"expected saving £{project.expected_saving:,} is at or above £{threshold:,}"
        )
    if project.scale is not None and project.scale in config.get("scales", []):
        reasons["scale"] = f"scale is {project.scale}"
    if config.get("qeia_extreme") and qeia_max_score is not None and qeia_max_score >= extreme_from:
        reasons["qeia_extreme"] = f"a QEIA domain scores {qeia_max_score} (extreme)"
    if config.get("risk_extreme") and extreme_risks:
        listed = ", ".join(extreme_risks)
        reasons["risk_extreme"] = f"open extreme risk(s) on its register: {listed}"
    return reasons


def missing_for_programme(project: Project, full_qeia: bool) -> list[str]:
    """What programme status still needs (empty: it can be granted)."""
    missing = []
    if not project.lead_executive_sponsor:
        missing.append("no lead executive sponsor named (set lead_executive_sponsor)")
    if not project.qi_sponsor:
        missing.append("no QI sponsor named (set qi_sponsor)")
    if not full_qeia:
        missing.append(
            "no stage 2 QEIA signed off by the medical_director and the director_of_nursing"
        )
    return missing


def full_qeia(
    signoff: Signoff | None, now: datetime, gate: object = None, config: Mapping[str, Any] = {}
) -> bool:
    """A valid full assessment approved by both the MD and the DoN. The gate says what a
    full assessment is (``full_assessment(signoff, config)``); a gate that cannot say
    is taken to be the QEIA, whose full assessment is its stage 2."""
    if not passed(signoff, now) or signoff is None:
        return False
    ask = getattr(gate, "full_assessment", None)
    full = ask(signoff, config) if callable(ask) else signoff.stage == "QEIA stage 2"
    if not full:
        return False
    approved = {d.role for d in signoff.decisions if d.decision == "approve"}
    return set(FULL_QEIA_ROLES) <= approved


def qeia_gate(lifecycle: Lifecycle, project: Project) -> tuple[str, object, Mapping[str, Any]]:
    """The gate the project's workflow's escalation reads: its name, type and settings."""
    workflow = lifecycle.workflow(project)
    name = workflow.escalation.get("qeia_gate", "qeia")
    return name, lifecycle.gate_types.get(name), workflow.gate_config.get(name, {})


def latest_qeia(lifecycle: Lifecycle, project: Project, tx: Tx) -> Signoff | None:
    """The project's current round of the QEIA gate its workflow's escalation reads."""
    gate = lifecycle.workflow(project).escalation.get("qeia_gate", "qeia")
    return current(tx.signoffs.of_project(project.id, gate))


def rules_met(
    lifecycle: Lifecycle, project: Project, qeia: Signoff | None, tx: Tx
) -> dict[str, str]:
    """The escalation rules of the project's workflow that it meets now."""
    workflow = lifecycle.workflow(project)
    config = workflow.escalation
    extreme_risks = (
        [r.id for r in tx.risks.of_project(project.id) if r.status == OPEN and r.band == EXTREME]
        if config.get("risk_extreme")
        else []
    )
    _name, gate, settings = qeia_gate(lifecycle, project)
    top = qeia.summary.get("max_score") if qeia is not None else None
    ask = getattr(gate, "extreme_score", None)
    extreme = ask(settings) if callable(ask) else settings.get("bands", {}).get("extreme", 15)
    return rule_reasons(project, config, top, extreme, extreme_risks)


def evaluate(lifecycle: Lifecycle, draft: Draft, tx: Tx) -> None:
    """Make the project a candidate if a rule applies, and grant programme status when due."""
    if not any(event.type in INPUTS for event in draft.events):
        return  # nothing the rules read has changed
    project = draft.project
    if not lifecycle.workflow(project).escalation and project.programme_status == "none":
        return
    latest = latest_qeia(lifecycle, project, tx)
    reasons = rules_met(lifecycle, project, latest, tx)
    dismissed = set(project_dismissed(draft))
    fresh = {key: text for key, text in reasons.items() if key not in dismissed}
    if project.programme_status == "none" and fresh:
        draft.set(programme_status="candidate")
        draft.emit(
            "programme.candidate",
            {
                "status": "candidate",
                "rules": sorted(fresh),
                "reasons": [fresh[k] for k in sorted(fresh)],
            },
        )
    grant_if_due(lifecycle, draft, latest)


def grant_if_due(lifecycle: Lifecycle, draft: Draft, qeia: Signoff | None) -> list[str]:
    """Grant programme status to a candidate that meets every condition; else what is missing."""
    project = draft.project
    if project.programme_status != "candidate":
        return []
    _name, gate, settings = qeia_gate(lifecycle, project)
    missing = missing_for_programme(project, full_qeia(qeia, draft.now, gate, settings))
    if not missing:
        draft.set(programme_status="programme")
        draft.emit("programme.granted", {"status": "programme"})
    return missing


def project_dismissed(draft: Draft) -> list[str]:
    return list(draft.values.get("escalation_dismissed") or [])
