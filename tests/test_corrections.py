"""Correcting mistakes without rewriting history: each correction is an event with a
reason, the original stays in the audit trail, and everything computed follows the
corrected record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from qiflow import Engine, GuardFailed, ManualClock, ValidationError
from qiflow.cli import main
from qiflow.notify.reminders import ReminderPolicy
from qiflow.spc import xmr
from tests.helpers import OWNER, drive_to, new_project, to_measurement_plan

WEEK = timedelta(days=7)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _series(engine: Engine, values: list[float]) -> str:
    project = to_measurement_plan(engine, new_project(engine))
    engine.add_measure(
        project.ref, "Missed doses", kind="outcome", unit="%", direction="decrease", actor=OWNER
    )
    for week, value in enumerate(values):
        engine.record_data_point(
            project.ref, "Missed doses", value, actor=OWNER, observed_at=START + week * WEEK
        )
    return project.ref


def _types(engine: Engine, ref: str) -> list[str]:
    return [e.type for e in engine.history(ref)]


def test_a_corrected_data_point_is_what_every_query_and_spc_read(engine: Engine) -> None:
    ref = _series(engine, [12, 11, 13, 120, 12, 10, 11])  # 120: a typo for 12
    wrong = engine.data_points(ref, "Missed doses")[3]
    engine.correct_data_point(ref, wrong.id, actor=OWNER, value=12, reason="typed 120 for 12")
    points = engine.data_points(ref, "Missed doses")
    assert [p.value for p in points] == [12, 11, 13, 12, 12, 10, 11]
    chart = xmr([p.value for p in points], improvement="decrease")
    assert chart.values == (12, 11, 13, 12, 12, 10, 11)
    assert chart.periods[0].mean == pytest.approx(81 / 7)
    history = engine.history(ref)
    recorded = [
        e for e in history if e.type == "datapoint.recorded" and e.payload["id"] == wrong.id
    ]
    assert recorded[0].payload["value"] == 120  # the original stays in the trail
    (corrected,) = [e for e in history if e.type == "datapoint.corrected"]
    assert corrected.payload == {
        "id": wrong.id,
        "measure": "Missed doses",
        "value": 12,
        "reason": "typed 120 for 12",
    }
    assert engine.verify_audit() == []


def test_a_voided_data_point_is_left_out(engine: Engine) -> None:
    ref = _series(engine, [12, 11, 13])
    points = engine.data_points(ref, "Missed doses")
    engine.void_data_point(ref, points[1].id, actor=OWNER, reason="recorded twice")
    assert [p.value for p in engine.data_points(ref, "Missed doses")] == [12, 13]
    assert "datapoint.voided" in _types(engine, ref)
    with pytest.raises(ValidationError, match="already voided"):
        engine.void_data_point(ref, points[1].id, actor=OWNER, reason="again")
    with pytest.raises(ValidationError, match="was voided"):
        engine.correct_data_point(ref, points[1].id, actor=OWNER, value=1, reason="x")


def test_a_voided_measure_no_longer_meets_the_measures_requirement(engine: Engine) -> None:
    project = drive_to(engine, "measurement_plan")
    for name, kind in (("Missed doses", "outcome"), ("Clinic time", "balancing")):
        engine.add_measure(
            project.ref, name, kind=kind, unit="%", direction="decrease", actor=OWNER
        )
    engine.void_measure(project.ref, "Clinic time", actor=OWNER, reason="not a balancing measure")
    assert [m.name for m in engine.measures(project.ref)] == ["Missed doses"]
    options = {o.trigger: o for o in engine.available_triggers(project.ref, OWNER)}
    assert any("balancing" in reason for reason in options["start_testing"].reasons)


def test_a_voided_measure_frees_its_name(engine: Engine) -> None:
    ref = _series(engine, [12, 11, 13])
    engine.void_measure(ref, "Missed doses", actor=OWNER, reason="wrong definition")
    engine.add_measure(
        ref, "Missed doses", kind="outcome", unit="count", direction="decrease", actor=OWNER
    )
    engine.record_data_point(ref, "Missed doses", 4, actor=OWNER, observed_at=START)
    (measure,) = engine.measures(ref)
    assert measure.unit == "count"
    assert [p.value for p in engine.data_points(ref, "Missed doses")] == [4]
    with pytest.raises(ValidationError, match="already has a measure 'Missed doses'"):
        engine.add_measure(
            ref, "Missed doses", kind="outcome", unit="%", direction="decrease", actor=OWNER
        )
    assert engine.verify_audit() == []


def test_a_measure_can_be_corrected(engine: Engine) -> None:
    ref = _series(engine, [1, 2])
    engine.correct_measure(
        ref,
        "Missed doses",
        actor=OWNER,
        name="Missed depot doses",
        unit="count",
        reason="the unit is a count",
    )
    (measure,) = engine.measures(ref)
    assert (measure.name, measure.unit) == ("Missed depot doses", "count")
    assert [p.value for p in engine.data_points(ref, "Missed depot doses")] == [1, 2]
    with pytest.raises(ValidationError, match="kind"):
        engine.correct_measure(ref, "Missed depot doses", actor=OWNER, kind="x", reason="y")


def test_a_voided_study_reopens_the_cycle(engine: Engine) -> None:
    project = drive_to(engine, "pdsa_testing")
    engine.record_pdsa(project.ref, actor=OWNER, plan="Reminders", prediction="Halve misses")
    engine.record_pdsa(project.ref, actor=OWNER, study="They fell", observation="Week 1: 4")
    engine.correct_pdsa(
        project.ref, 1, "prediction", actor=OWNER, text="Fall by a third", reason="misquoted"
    )
    engine.correct_pdsa(project.ref, 1, "observation1", actor=OWNER, text="Week 1: 5", reason="x")
    engine.correct_pdsa(project.ref, 1, "study", actor=OWNER, text=None, reason="premature")
    (cycle,) = engine.cycles(project.ref)
    assert (cycle.prediction, cycle.study, cycle.observations) == (
        "Fall by a third",
        None,
        ("Week 1: 5",),
    )
    with pytest.raises(GuardFailed, match="study"):
        engine.fire(project.ref, "adopt", actor=OWNER)
    assert _types(engine, project.ref)[-3:] == ["pdsa.corrected", "pdsa.corrected", "pdsa.voided"]
    assert engine.verify_audit() == []


def test_a_withdrawn_project_counts_nowhere(engine: Engine, clock: ManualClock) -> None:
    mistake = new_project(engine, "Created twice by mistake")
    kept = new_project(engine, "The real one")
    engine.withdraw_project(mistake.ref, actor=OWNER, reason="a duplicate of QI-0002")
    assert [p.ref for p in engine.projects()] == [kept.ref]
    assert [p.ref for p in engine.projects(withdrawn=True)] == [mistake.ref, kept.ref]
    withdrawn = engine.get(mistake.ref)
    assert withdrawn.withdrawn_at is not None
    assert withdrawn.next_review_at is None
    with pytest.raises(ValidationError, match="withdrawn"):
        engine.fire(mistake.ref, "diagnose", actor=OWNER)
    clock.advance(days=400)
    reminders, _ = engine.sweep_notifications(ReminderPolicy(), daemon="d1")
    queued = {n.project_id for n in engine.outbox()}
    assert reminders >= 1
    assert mistake.id not in queued
    assert kept.id in queued
    assert engine.history(mistake.ref)[-1].payload == {
        "reason": "a duplicate of QI-0002",
        "state": "idea",
    }
    assert engine.verify_audit() == []


@pytest.mark.parametrize("reason", ["", "   ", "a\x00b"])
def test_a_correction_needs_a_reason(engine: Engine, reason: str) -> None:
    ref = _series(engine, [1])
    (point,) = engine.data_points(ref, "Missed doses")
    with pytest.raises(ValidationError, match="reason"):
        engine.correct_data_point(ref, point.id, actor=OWNER, value=2, reason=reason)
    assert engine.data_points(ref, "Missed doses")[0].value == 1


def test_a_point_of_another_project_cannot_be_corrected(engine: Engine) -> None:
    ref = _series(engine, [1])
    other = _series(engine, [2])
    (point,) = engine.data_points(other, "Missed doses")
    with pytest.raises(ValidationError, match="no data point"):
        engine.correct_data_point(ref, point.id, actor=OWNER, value=3, reason="x")


def test_corrections_from_the_command_line(engine: Engine, db_url: str) -> None:
    ref = _series(engine, [12, 120])
    wrong = engine.data_points(ref, "Missed doses")[1]

    def cli(*args: str) -> str:
        result = CliRunner().invoke(main, ["--db", db_url, *args], env={"QIFLOW_ACTOR": OWNER})
        assert result.exit_code == 0, result.output + result.stderr
        return result.output

    assert f"{wrong.id}=120" in cli("measure", "list", ref)
    cli("measure", "correct-point", ref, str(wrong.id), "--value", "12", "--reason", "typo")
    assert [p.value for p in engine.data_points(ref, "Missed doses")] == [12, 12]
    cli("pdsa", "record", ref, "--plan", "Reminders")
    cli("pdsa", "correct", ref, "1", "plan", "--text", "Texts", "--reason", "misnamed")
    assert engine.cycles(ref)[0].plan == "Texts"
    cli("project", "withdraw", ref, "--reason", "created in error")
    assert ref not in cli("project", "list")
    assert ref in cli("project", "list", "--withdrawn")
    refused = CliRunner().invoke(main, ["--db", db_url, "project", "fire", ref, "pause"])
    assert refused.exit_code == 1
    assert "withdrawn" in refused.stderr


def _status(engine: Engine, ref: str, idea: str) -> str:
    return engine.driver_diagram(ref).node(idea).status


def test_an_act_decision_recorded_by_mistake_can_be_corrected(engine: Engine) -> None:
    """adopt/adapt/abandon is a PDSA entry too: corrected to another decision, the change
    ideas the cycle tested take the corrected status; the original stays in the trail."""
    project = drive_to(engine, "adopted")
    assert _status(engine, project.ref, "C1") == "adopted"
    engine.correct_pdsa(
        project.ref, 1, "act", actor=OWNER, text="adapt", reason="the team adapted it"
    )
    (cycle,) = engine.cycles(project.ref)
    assert cycle.act == "adapt"
    assert _status(engine, project.ref, "C1") == "adapted"
    history = engine.history(project.ref)
    corrected = [e for e in history if e.type == "pdsa.corrected"]
    assert corrected[-1].payload == {
        "cycle": 1,
        "entry": "act",
        "text": "adapt",
        "reason": "the team adapted it",
    }
    assert any(e.payload.get("decision") == "adopt" for e in history)  # the original
    with pytest.raises(ValidationError, match="'adoptt' is not one of adopt, adapt, abandon"):
        engine.correct_pdsa(project.ref, 1, "act", actor=OWNER, text="adoptt", reason="x")
    assert engine.verify_audit() == []


def test_a_voided_act_decision_reopens_the_cycle(engine: Engine) -> None:
    project = drive_to(engine, "adopted")
    engine.correct_pdsa(project.ref, 1, "act", actor=OWNER, text=None, reason="not decided yet")
    (cycle,) = engine.cycles(project.ref)
    assert cycle.act is None
    assert _status(engine, project.ref, "C1") == "testing"
    assert _types(engine, project.ref)[-2:] == ["driver.status_changed", "pdsa.voided"]
    with pytest.raises(ValidationError, match="has no act to correct"):
        engine.correct_pdsa(project.ref, 1, "act", actor=OWNER, text=None, reason="again")
    assert engine.verify_audit() == []
