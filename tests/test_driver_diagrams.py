"""Driver diagrams through the Python API, on SQLite and PostgreSQL: editing, PDSA cycles
that test change ideas, Act decisions that update them, the requirements that use them,
outline import, and the team and charter."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from qiflow import (
    Charter,
    ConcurrencyConflict,
    DiagramChange,
    DriverDiagram,
    DriverNode,
    Engine,
    GuardFailed,
    ManualClock,
    OutlineError,
    TeamMember,
    ValidationError,
)
from qiflow.store import normalise_url
from tests.helpers import OWNER, SPONSOR, new_project, pass_qeia

ROOT = Path(__file__).resolve().parents[1]
AIM = "Halve missed depot doses by March"


def planned(engine: Engine) -> str:
    """A project in diagnosis with an aim, a quality objective and both kinds of measure."""
    project = new_project(engine)
    engine.fire(project.ref, "diagnose", actor=OWNER)
    engine.update_project(project.ref, actor=OWNER, aim=AIM, quality_objectives=["Safer care"])
    for name, kind in (("Missed doses", "outcome"), ("Clinic time", "balancing")):
        engine.add_measure(
            project.ref, name, kind=kind, unit="%", direction="decrease", actor=OWNER
        )
    return project.ref


def small_diagram(engine: Engine, ref: str) -> None:
    """P1 > S1 > C1, C2; P2 > C3 (directly), C1 also under P2."""
    engine.add_driver(ref, "Reliable prescribing", kind="primary", actor=OWNER)
    engine.add_driver(ref, "Clear drug charts", kind="secondary", under="P1", actor=OWNER)
    engine.add_driver(ref, "Engaged patients", kind="primary", actor=OWNER)
    engine.add_driver(
        ref,
        "Pre-printed chart",
        kind="idea",
        under=["S1", "P2"],
        actor=OWNER,
        measures=["Missed doses"],
    )
    engine.add_driver(ref, "Pharmacist check", kind="idea", under="S1", actor=OWNER)
    engine.add_driver(ref, "Text reminders", kind="idea", under="P2", actor=OWNER)


def test_adding_nodes_gives_stable_ids_events_and_versions(engine: Engine) -> None:
    ref = planned(engine)
    before = engine.get(ref).version
    change = engine.add_driver(ref, "Reliable prescribing", kind="primary", actor=OWNER)
    assert isinstance(change, DiagramChange)
    assert change.nodes == ("P1",)
    assert change.project.version == before + 1
    assert change.diagram.node("P1") == DriverNode(
        id="P1", kind="primary", title="Reliable prescribing", status="idea"
    )
    small_rest = engine.add_driver(
        ref, "Clear drug charts", kind="secondary", under="p1", actor=OWNER
    )
    assert small_rest.nodes == ("S1",)
    idea = engine.add_driver(
        ref,
        "Pre-printed chart",
        kind="idea",
        under="S1,P1",
        measures=["Missed doses"],
        actor=OWNER,
    )
    node = idea.diagram.node("C1")
    assert (node.kind, node.parents, node.measures, node.status) == (
        "idea",
        ("S1", "P1"),
        ("Missed doses",),
        "idea",
    )
    diagram = engine.driver_diagram(ref)
    assert isinstance(diagram, DriverDiagram)
    assert [n.id for n in diagram.nodes] == ["P1", "S1", "C1"]
    events = [e for e in engine.history(ref) if e.type.startswith("driver.")]
    assert [e.type for e in events] == ["driver.added"] * 3
    assert events[2].payload == {
        "id": "C1",
        "kind": "idea",
        "title": "Pre-printed chart",
        "parents": ["S1", "P1"],
        "measures": ["Missed doses"],
    }
    assert all(e.actor == OWNER for e in events)
    with pytest.raises(AttributeError):
        node.title = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kind", "title", "under", "measures", "message"),
    [
        ("primary", "Other", "P1", (), "sits under the aim"),
        ("secondary", "Other", "", (), "goes under a primary driver"),
        ("secondary", "Other", "S1", (), "S1 is a secondary driver"),
        ("secondary", "Other", "P1,P2", (), "under one primary driver"),
        ("idea", "Other", "C1", (), "C1 is a change idea"),
        ("idea", "Other", "S9", (), "no node 'S9'"),
        ("idea", "  ", "S1", (), "needs a title"),
        ("idea", "clear   DRUG charts", "S1", (), "S1 is already titled"),
        ("idea", "Other", "S1", ("Waiting time",), "no measure 'Waiting time'"),
        ("driver", "Other", "", (), "kind 'driver' is not one of"),
    ],
)
def test_bad_additions_are_refused_and_write_nothing(
    engine: Engine, kind: str, title: str, under: str, measures: tuple[str, ...], message: str
) -> None:
    ref = planned(engine)
    small_diagram(engine, ref)
    before = engine.get(ref)
    with pytest.raises(ValidationError, match=message):
        engine.add_driver(ref, title, kind=kind, under=under, measures=measures, actor=OWNER)
    assert engine.get(ref) == before
    assert len(engine.driver_diagram(ref)) == 6


def test_move_rename_and_remove(engine: Engine) -> None:
    ref = planned(engine)
    small_diagram(engine, ref)
    moved = engine.move_driver(ref, "C2", under="P1,P2", actor=OWNER)
    assert moved.diagram.node("C2").parents == ("P1", "P2")
    renamed = engine.rename_driver(ref, "S1", "Clear, legible drug charts", actor=OWNER)
    assert renamed.diagram.node("S1").title == "Clear, legible drug charts"
    with pytest.raises(ValidationError, match="cannot move"):
        engine.move_driver(ref, "P1", under="P2", actor=OWNER)
    with pytest.raises(ValidationError, match="S1 is a secondary driver"):
        engine.move_driver(ref, "S1", under="S1", actor=OWNER)  # no cycles: kinds are layered
    with pytest.raises(ValidationError, match="C1 is a change idea"):
        engine.move_driver(ref, "S1", under="C1", actor=OWNER)
    with pytest.raises(ValidationError, match="the only driver of C3"):
        engine.remove_driver(ref, "P2", actor=OWNER)
    # C1 sits under S1 and P2, so S1 may go once C2 (now under P1 and P2) leaves it too
    removed = engine.remove_driver(ref, "S1", actor=OWNER)
    assert removed.nodes == ("S1",)
    assert removed.diagram.get("S1") is None
    assert removed.diagram.node("C1").parents == ("P2",)
    assert "S1" in removed.diagram.retired
    again = engine.add_driver(ref, "Timely charts", kind="secondary", under="P1", actor=OWNER)
    assert again.nodes == ("S2",), "a removed node's id is never given again"
    with pytest.raises(ValidationError, match="S1 was removed"):
        engine.rename_driver(ref, "S1", "Back", actor=OWNER)
    types = [e.type for e in engine.history(ref) if e.type.startswith("driver.")]
    assert types[-4:] == ["driver.moved", "driver.renamed", "driver.removed", "driver.added"]


def test_a_stale_version_writes_nothing(engine: Engine) -> None:
    ref = planned(engine)
    version = engine.get(ref).version
    engine.add_driver(ref, "Reliable prescribing", kind="primary", actor=OWNER)
    with pytest.raises(ConcurrencyConflict):
        engine.add_driver(
            ref, "Engaged patients", kind="primary", actor=OWNER, expected_version=version
        )
    assert [n.id for n in engine.driver_diagram(ref).nodes] == ["P1"]


def test_an_idempotent_repeat_returns_the_first_change(engine: Engine) -> None:
    ref = planned(engine)
    first = engine.add_driver(
        ref, "Reliable prescribing", kind="primary", actor=OWNER, idempotency_key="k1"
    )
    repeat = engine.add_driver(
        ref, "Reliable prescribing", kind="primary", actor=OWNER, idempotency_key="k1"
    )
    assert repeat.project == first.project
    assert repeat.nodes == ("P1",)
    assert len(engine.driver_diagram(ref)) == 1


def to_testing(engine: Engine, ref: str) -> None:
    """Cycle 1 tests C1, through the gate into PDSA testing."""
    engine.fire(ref, "plan_measurement", actor=OWNER)
    engine.record_pdsa(
        ref,
        actor=OWNER,
        plan="Pre-printed chart on ward 3",
        prediction="Halves misses",
        tests=["C1"],
    )
    pass_qeia(engine, engine.get(ref))
    engine.declare_no_significant_risks(ref, actor=OWNER)  # risks_assessed
    engine.fire(ref, "start_testing", actor=OWNER)


def test_cycles_test_ideas_and_act_decisions_set_their_status(engine: Engine) -> None:
    ref = planned(engine)
    small_diagram(engine, ref)
    to_testing(engine, ref)
    assert engine.driver_diagram(ref).node("C1").status == "testing"
    assert engine.cycles(ref)[0].tests == ("C1",)
    engine.record_pdsa(ref, actor=OWNER, study="Fell by a third")
    engine.fire(ref, "adapt", actor=OWNER)
    diagram = engine.driver_diagram(ref)
    assert diagram.node("C1").status == "adapted"
    assert diagram.node("S1").status == "adapted", "a driver shows its ideas' progress"
    engine.record_pdsa(
        ref, actor=OWNER, plan="Pharmacist and chart", prediction="Halves", tests="C1,C2"
    )
    assert {n.id: n.status for n in engine.driver_diagram(ref).ideas()} == {
        "C1": "testing",
        "C2": "testing",
        "C3": "idea",
    }
    engine.record_pdsa(ref, actor=OWNER, study="Halved")
    project = engine.fire(ref, "adopt", actor=OWNER)
    assert project.state == "adopted"
    diagram = engine.driver_diagram(ref)
    assert {n.id: n.status for n in diagram.ideas()} == {
        "C1": "adopted",
        "C2": "adopted",
        "C3": "idea",
    }
    assert (diagram.node("P1").status, diagram.node("P2").status) == ("adopted", "adopted")

    history = engine.idea_history(ref, "C1")
    assert history.idea.id == "C1"
    assert [(c.number, c.prediction, c.study, c.act) for c in history.cycles] == [
        (1, "Halves misses", "Fell by a third", "adapt"),
        (2, "Halves", "Halved", "adopt"),
    ]
    assert [
        (e.payload["from"], e.payload["to"], e.payload.get("cycle"))
        for e in history.events
        if e.type == "driver.status_changed"
    ] == [
        ("idea", "testing", 1),
        ("testing", "adapted", 1),
        ("adapted", "testing", 2),
        ("testing", "adopted", 2),
    ]
    assert engine.idea_history(ref, "C3").cycles == ()
    with pytest.raises(ValidationError, match="P1 is a primary driver"):
        engine.idea_history(ref, "P1")


def test_abandoning_marks_the_tested_idea_abandoned(engine: Engine) -> None:
    ref = planned(engine)
    small_diagram(engine, ref)
    to_testing(engine, ref)
    engine.record_pdsa(ref, actor=OWNER, study="No change")
    engine.fire(ref, "abandon", actor=OWNER, data={"learning": "Charts were not the problem"})
    diagram = engine.driver_diagram(ref)
    assert diagram.node("C1").status == "abandoned"
    assert diagram.node("C2").status == "idea"


def test_naming_what_is_not_a_live_idea_is_refused(engine: Engine) -> None:
    ref = planned(engine)
    small_diagram(engine, ref)
    before = engine.get(ref)
    for tests, message in (("S1", "not a change idea"), ("C9", "no node 'C9'"), ("", "at least")):
        with pytest.raises(ValidationError, match=message):
            engine.record_pdsa(ref, actor=OWNER, plan="x", tests=tests)
    assert engine.get(ref) == before


def test_an_idea_under_test_cannot_be_removed(engine: Engine) -> None:
    ref = planned(engine)
    small_diagram(engine, ref)
    to_testing(engine, ref)
    with pytest.raises(ValidationError, match="being tested by PDSA cycle 1"):
        engine.remove_driver(ref, "C1", actor=OWNER)
    engine.record_pdsa(ref, actor=OWNER, study="Fell")
    engine.fire(ref, "adapt", actor=OWNER)
    engine.remove_driver(ref, "C1", actor=OWNER)
    history = engine.idea_history(ref, "C1")  # a removed idea keeps its history
    assert [c.number for c in history.cycles] == [1]


def test_requirements_block_then_allow(engine: Engine) -> None:
    ref = planned(engine)
    with pytest.raises(GuardFailed) as caught:
        engine.fire(ref, "plan_measurement", actor=OWNER)
    assert any("no change idea" in r for r in caught.value.reasons)
    engine.add_driver(ref, "Reliable prescribing", kind="primary", actor=OWNER)
    with pytest.raises(GuardFailed, match="no change idea"):
        engine.fire(ref, "plan_measurement", actor=OWNER)
    engine.add_driver(ref, "Pre-printed chart", kind="idea", under="P1", actor=OWNER)
    engine.fire(ref, "plan_measurement", actor=OWNER)

    engine.record_pdsa(ref, actor=OWNER, plan="Chart on ward 3", prediction="Halves")
    pass_qeia(engine, engine.get(ref))
    option = {o.trigger: o for o in engine.available_triggers(ref, actor=OWNER)}["start_testing"]
    assert not option.allowed
    assert any("PDSA cycle 1 names no change idea" in r for r in option.reasons)
    engine.record_pdsa(ref, actor=OWNER, tests="C1")
    engine.declare_no_significant_risks(ref, actor=OWNER)  # risks_assessed
    engine.fire(ref, "start_testing", actor=OWNER)

    engine.record_pdsa(ref, actor=OWNER, study="Fell")
    engine.fire(ref, "adapt", actor=OWNER)
    engine.record_pdsa(ref, actor=OWNER, plan="Again", prediction="Halves", study="Halved")
    with pytest.raises(GuardFailed, match="PDSA cycle 2 names no change idea"):
        engine.fire(ref, "adopt", actor=OWNER)
    engine.record_pdsa(ref, actor=OWNER, tests="C1")
    assert engine.fire(ref, "adopt", actor=OWNER).state == "adopted"
    assert engine.driver_diagram(ref).node("C1").status == "adopted"


def test_projects_on_version_1_keep_their_rules(db_url: str, tmp_path: Path) -> None:
    only_v1 = tmp_path / "v1"
    only_v1.mkdir()
    shutil.copy(ROOT / "workflows" / "qi_project.toml", only_v1)
    with Engine(db_url, workflows_dir=only_v1, clock=ManualClock()) as old:
        ref = old.create_project("Old rules", actor=OWNER, owner=OWNER, sponsor=SPONSOR).ref
    with Engine(db_url, clock=ManualClock()) as engine:
        assert engine.get(ref).workflow_version == 1
        newer = new_project(engine, "New rules")
        assert newer.workflow_version == 2
        for key in (ref, newer.ref):
            engine.fire(key, "diagnose", actor=OWNER)
            engine.update_project(key, actor=OWNER, aim=AIM, quality_objectives=["Safer"])
        assert engine.fire(ref, "plan_measurement", actor=OWNER).state == "measurement_plan"
        with pytest.raises(GuardFailed, match="no change idea"):
            engine.fire(newer.ref, "plan_measurement", actor=OWNER)


CSV_OUTLINE = """primary,secondary,idea,measures
Reliable prescribing,Clear drug charts,Pre-printed depot chart,Missed doses
Reliable prescribing,Clear drug charts,Pharmacist check,
Engaged patients,,Text reminders,Missed doses;Clinic time
Engaged patients,Know their dates,Text reminders,
"""


def test_importing_a_csv_outline(engine: Engine) -> None:
    ref = planned(engine)
    change = engine.import_drivers(ref, CSV_OUTLINE, format="csv", actor=OWNER)
    assert change.nodes == ("P1", "S1", "C1", "C2", "P2", "C3", "S2")
    diagram = engine.driver_diagram(ref)
    assert [(n.id, n.kind, n.title, n.parents) for n in diagram.nodes] == [
        ("P1", "primary", "Reliable prescribing", ()),
        ("S1", "secondary", "Clear drug charts", ("P1",)),
        ("C1", "idea", "Pre-printed depot chart", ("S1",)),
        ("C2", "idea", "Pharmacist check", ("S1",)),
        ("P2", "primary", "Engaged patients", ()),
        ("C3", "idea", "Text reminders", ("P2", "S2")),
        ("S2", "secondary", "Know their dates", ("P2",)),
    ]
    assert diagram.node("C3").measures == ("Missed doses", "Clinic time")
    # a second outline adds under the existing drivers, by title
    more = "primary,idea\nreliable PRESCRIBING,Electronic prescribing\n"
    assert engine.import_drivers(ref, more, format="csv", actor=OWNER).nodes == ("C4",)
    assert engine.driver_diagram(ref).node("C4").parents == ("P1",)


def test_importing_a_toml_outline(engine: Engine) -> None:
    ref = planned(engine)
    outline = """
[[primary]]
title = "Reliable prescribing"
[[primary.secondary]]
title = "Clear drug charts"
ideas = ["Pre-printed depot chart", { title = "Pharmacist check", measures = ["Missed doses"] }]
[[primary]]
title = "Engaged patients"
ideas = ["Text reminders"]
"""
    engine.import_drivers(ref, outline, format="toml", actor=OWNER)
    diagram = engine.driver_diagram(ref)
    assert [(n.id, n.title, n.parents, n.measures) for n in diagram.nodes] == [
        ("P1", "Reliable prescribing", (), ()),
        ("S1", "Clear drug charts", ("P1",), ()),
        ("C1", "Pre-printed depot chart", ("S1",), ()),
        ("C2", "Pharmacist check", ("S1",), ("Missed doses",)),
        ("P2", "Engaged patients", (), ()),
        ("C3", "Text reminders", ("P2",), ()),
    ]


BAD_CSV = """primary,secondary,idea,measures
Reliable prescribing,Clear drug charts,Pre-printed depot chart,Missed doses
,Clear drug charts,Orphan idea,
Engaged patients,Clear drug charts,Text reminders,
Reliable prescribing,,Clear drug charts,
Engaged patients,,Letters,Waiting time
Fine primary,Too many,cells,here,extra
"""


def test_a_bad_outline_names_every_bad_row_and_imports_nothing(engine: Engine) -> None:
    ref = planned(engine)
    before = engine.get(ref)
    with pytest.raises(OutlineError) as caught:
        engine.import_drivers(ref, BAD_CSV, format="csv", actor=OWNER, source="drivers.csv")
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "no primary driver" in problems[0]
    assert "'Clear drug charts' (line 2) is under P1" in problems[1]
    assert "is a secondary driver (line 2), not a change idea" in problems[2]
    assert "no measure 'Waiting time'" in problems[3]
    assert "more cells than columns" in problems[4]
    assert str(caught.value).startswith("drivers.csv: 5 problem(s), nothing imported")
    assert engine.get(ref) == before
    assert len(engine.driver_diagram(ref)) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[primary]]\ntitle = 3\n", "primary[1]: no title"),
        ("[[primary]]\ntitle = 'A'\nsecondry = []\n", "primary[1]: unknown key 'secondry'"),
        ("[[primary]]\ntitle = 'A'\nideas = 'B'\n", "primary[1]: ideas must be a list"),
        (
            "[[primary]]\ntitle = 'A'\n[[primary.secondary]]\nideas = ['B']\n",
            "primary[1].secondary[1]: no title",
        ),
        ("title = 'A'\n", "expected [[primary]] tables"),
        ("[[primary]\n", "malformed TOML"),
    ],
)
def test_bad_toml_outlines_are_named(engine: Engine, text: str, message: str) -> None:
    ref = planned(engine)
    with pytest.raises(OutlineError, match=message.replace("[", r"\[").replace("]", r"\]")):
        engine.import_drivers(ref, text, format="toml", actor=OWNER)
    assert len(engine.driver_diagram(ref)) == 0


def test_team_and_charter(engine: Engine) -> None:
    ref = planned(engine)
    small_diagram(engine, ref)
    engine.add_team_member(ref, "olivia", role="lead", actor=OWNER)
    engine.add_team_member(ref, "dr.patel", role="clinical_lead", actor=OWNER)
    engine.add_team_member(ref, "dr.patel", role="member", actor=OWNER)
    engine.add_team_member(ref, "pp.jones", role="patient_partner", actor=OWNER)
    with pytest.raises(ValidationError, match="already in the team as lead"):
        engine.add_team_member(ref, "olivia", role="lead", actor=OWNER)
    with pytest.raises(ValidationError, match="'sponsor' is not one of"):
        engine.add_team_member(ref, "sam", role="sponsor", actor=OWNER)
    engine.remove_team_member(ref, "dr.patel", role="member", actor=OWNER)
    assert engine.team(ref) == (
        TeamMember("olivia", "lead"),
        TeamMember("dr.patel", "clinical_lead"),
        TeamMember("pp.jones", "patient_partner"),
    )
    engine.remove_team_member(ref, "pp.jones", actor=OWNER)
    with pytest.raises(ValidationError, match="not in the team"):
        engine.remove_team_member(ref, "pp.jones", actor=OWNER)
    types = [e.type for e in engine.history(ref) if e.type.startswith("team.")]
    assert types == ["team.added"] * 4 + ["team.removed"] * 2

    charter = engine.charter(ref)
    assert isinstance(charter, Charter)
    assert charter.project.aim == AIM
    assert [m.name for m in charter.measures] == ["Missed doses", "Clinic time"]
    assert [m.person for m in charter.team] == ["olivia", "dr.patel"]
    assert charter.diagram == engine.driver_diagram(ref)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE qiflow_driver_node SET title = 'Something else' WHERE node_id = 'C1'",
        "UPDATE qiflow_driver_node SET status = 'adopted' WHERE node_id = 'C2'",
        "UPDATE qiflow_driver_node SET removed = true WHERE node_id = 'C2'",
        "DELETE FROM qiflow_driver_node WHERE node_id = 'C3'",
    ],
)
def test_the_audit_finds_a_diagram_changed_behind_the_engines_back(
    engine: Engine, db_url: str, statement: str
) -> None:
    ref = planned(engine)
    small_diagram(engine, ref)
    to_testing(engine, ref)
    engine.add_team_member(ref, "olivia", role="lead", actor=OWNER)
    engine.remove_driver(ref, "C3", actor=OWNER)
    assert engine.verify_audit() == []
    raw = create_engine(normalise_url(db_url))
    try:
        with raw.begin() as conn:
            conn.execute(text(statement))
    finally:
        raw.dispose()
    [found] = engine.verify_audit()
    assert (found.project_ref, found.reason) == (
        ref,
        "the driver diagram does not match its events",
    )
