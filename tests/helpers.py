"""Shared steps for tests: drive a project to a given point of the default lifecycle."""

from __future__ import annotations

from datetime import date, timedelta

from qiflow import Engine, Project
from qiflow.builtin.qeia import DOMAINS as QEIA_DOMAINS

OWNER, SPONSOR = "olivia", "sam"
LOW_RISK = {"scores": {d: {"impact": 2, "likelihood": 2} for d in QEIA_DOMAINS}}


def pass_qeia(engine: Engine, project: Project, form: dict | None = None) -> Project:
    """A low-risk QEIA screening, requested by the owner and signed off by the sponsor."""
    engine.request_signoff(project.ref, "qeia", form or LOW_RISK, actor=OWNER)
    return engine.decide_signoff(project.ref, "qeia", actor=SPONSOR, approve=True)


def new_project(engine: Engine, title: str = "Reduce missed doses") -> Project:
    return engine.create_project(title, actor=OWNER, owner=OWNER, sponsor=SPONSOR)


def add_change_idea(engine: Engine, project: Project) -> str:
    """A primary driver with one change idea under it; returns the idea's id."""
    engine.add_driver(project.ref, "Reliable prescribing", kind="primary", actor=OWNER)
    change = engine.add_driver(project.ref, "Reminders", kind="idea", under="P1", actor=OWNER)
    return change.nodes[0]


def to_measurement_plan(engine: Engine, project: Project) -> Project:
    engine.fire(project.ref, "diagnose", actor=OWNER)
    engine.update_project(
        project.ref, actor=OWNER, aim="Fewer missed doses", quality_objectives=["Safer medicines"]
    )
    idea = add_change_idea(engine, project)  # workflow version 2: a plan needs a change idea
    engine.fire(project.ref, "plan_measurement", actor=OWNER)
    return engine.record_pdsa(project.ref, actor=OWNER, tests=idea)  # what cycle 1 tests


def to_pdsa_testing(engine: Engine, project: Project) -> Project:
    to_measurement_plan(engine, project)
    engine.add_measure(
        project.ref, "Missed doses", kind="outcome", unit="%", direction="decrease", actor=OWNER
    )
    engine.add_measure(
        project.ref,
        "Clinic time",
        kind="balancing",
        unit="minutes",
        direction="decrease",
        actor=OWNER,
    )
    pass_qeia(engine, project)
    engine.declare_no_significant_risks(project.ref, actor=OWNER)  # risks_assessed
    return engine.fire(project.ref, "start_testing", actor=OWNER)


def study_cycle(engine: Engine, project: Project) -> Project:
    engine.record_pdsa(
        project.ref, actor=OWNER, plan="Reminders", prediction="Missed doses halve", tests="C1"
    )
    return engine.record_pdsa(project.ref, actor=OWNER, study="They fell by a third")


def drive_to(engine: Engine, state: str) -> Project:
    """A new project brought to ``state`` of the default workflow by legal steps."""
    project = new_project(engine)
    if state == "idea":
        return project
    if state == "on_hold":
        return engine.fire(project.ref, "pause", actor=OWNER)
    if state == "diagnosis":
        return engine.fire(project.ref, "diagnose", actor=OWNER)
    if state == "measurement_plan":
        return to_measurement_plan(engine, project)
    project = to_pdsa_testing(engine, project)
    if state == "pdsa_testing":
        return project
    study_cycle(engine, project)
    if state == "abandoned":
        return engine.fire(project.ref, "abandon", actor=OWNER, data={"learning": "x"})
    project = engine.fire(project.ref, "adopt", actor=OWNER)
    if state == "adopted":
        return project
    pass_qeia(engine, project)  # spreading needs a screening made after adoption
    project = engine.fire(project.ref, "spread", actor=OWNER)
    if state == "spreading":
        return project
    assert state == "sustained", state
    show_sustained_improvement(engine, project)
    return engine.fire(project.ref, "sustain", actor=SPONSOR)


#: Missed doses (%, lower is better): 12 baseline weeks around 20, then 14 around 11.
BASELINE = [20, 21, 19, 22, 20, 18, 21, 20, 19, 22, 21, 20]
IMPROVED = [12, 11, 13, 12, 10, 11, 12, 13, 11, 12, 10, 11, 12, 11]


def weekly_csv(values: list[float], start: str = "2026-01-05") -> str:
    first = date.fromisoformat(start)
    return "date,value\n" + "".join(
        f"{first + timedelta(weeks=i)},{v}\n" for i, v in enumerate(values)
    )


def show_sustained_improvement(engine: Engine, project: Project) -> Project:
    """The evidence workflow version 2 needs to sustain: the primary outcome measure
    (Missed doses) improved after its 12-point baseline and held for 14 points."""
    engine.configure_measure(project.ref, "Missed doses", actor=OWNER, primary=True)
    return engine.import_data_points(
        project.ref, "Missed doses", weekly_csv(BASELINE + IMPROVED), actor=OWNER
    )
