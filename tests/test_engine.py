"""The Python API's rules and guarantees, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from qiflow import (
    ConcurrencyConflict,
    Engine,
    GuardFailed,
    InvalidTransition,
    ManualClock,
    PermissionDenied,
    QiflowError,
    UnknownProject,
    ValidationError,
    WorkflowDefinitionError,
    hookimpl,
)
from qiflow.snapshots import Event, Project
from tests.helpers import (
    OWNER,
    SPONSOR,
    add_change_idea,
    new_project,
    pass_qeia,
    show_sustained_improvement,
    study_cycle,
    to_pdsa_testing,
)

ROOT = Path(__file__).resolve().parents[1]


def test_create_gives_reference_snapshot_and_one_event(engine: Engine) -> None:
    first = new_project(engine)
    second = new_project(engine, "Second")
    assert (first.ref, second.ref) == ("QI-0001", "QI-0002")
    assert first.state == "idea"
    assert first.version == 1
    assert engine.get(first.id) == engine.get("qi-0001") == first
    [event] = engine.history(first.ref)
    assert event.type == "project.created"
    assert event.actor == OWNER
    assert event.pos == 1
    with pytest.raises(AttributeError):
        first.state = "diagnosis"  # type: ignore[misc]


def test_unknown_project_is_a_qiflow_error(engine: Engine) -> None:
    with pytest.raises(UnknownProject, match="QI-9999") as caught:
        engine.get("QI-9999")
    assert isinstance(caught.value, QiflowError)


def test_guard_failed_lists_every_unmet_requirement(engine: Engine) -> None:
    project = engine.create_project("No sponsor yet", actor="x", owner="x")
    with pytest.raises(GuardFailed, match="no sponsor"):
        engine.fire(project.ref, "diagnose", actor="x")
    engine.update_project(project.ref, actor="x", sponsor="s")
    diagnosed = engine.fire(project.ref, "diagnose", actor="x")
    with pytest.raises(GuardFailed) as caught:
        engine.fire(project.ref, "plan_measurement", actor="x")
    assert len(caught.value.reasons) == 3
    assert "no aim" in caught.value.reasons[0]
    assert "no quality objective" in caught.value.reasons[1]
    assert "no change idea" in caught.value.reasons[2]
    assert engine.get(project.ref) == diagnosed


def test_invalid_transition_names_the_allowed_triggers(engine: Engine) -> None:
    project = new_project(engine)
    with pytest.raises(InvalidTransition) as caught:
        engine.fire(project.ref, "adopt", actor=OWNER)
    assert set(caught.value.allowed) == {"diagnose", "pause"}
    assert "diagnose" in str(caught.value)


def test_roles_are_checked(engine: Engine) -> None:
    project = new_project(engine)
    with pytest.raises(PermissionDenied, match="owner, sponsor, qi_lead"):
        engine.fire(project.ref, "diagnose", actor="mallory")
    assert engine.get(project.ref).version == 1
    assert engine.fire(project.ref, "diagnose", actor=SPONSOR).state == "diagnosis"


def test_improvement_plan_without_quality_objective_is_refused(engine: Engine) -> None:
    project = new_project(engine)
    engine.fire(project.ref, "diagnose", actor=OWNER)
    engine.update_project(project.ref, actor=OWNER, aim="Save money", expected_saving=50_000)
    with pytest.raises(GuardFailed, match=r"financial objective.*5\.1"):
        engine.fire(project.ref, "plan_measurement", actor=OWNER)
    engine.update_project(project.ref, actor=OWNER, quality_objectives=["Safer care"])
    add_change_idea(engine, project)
    planned = engine.fire(project.ref, "plan_measurement", actor=OWNER)
    with pytest.raises(ValidationError, match="without a quality objective"):
        engine.update_project(project.ref, actor=OWNER, quality_objectives=[])
    assert engine.get(project.ref) == planned


def test_full_pdsa_flow_adapt_increments_cycle_and_records_decisions(engine: Engine) -> None:
    project = to_pdsa_testing(engine, new_project(engine))
    assert project.current_cycle == 1
    with pytest.raises(GuardFailed) as caught:
        engine.fire(project.ref, "adopt", actor=OWNER)
    assert [r for r in caught.value.reasons if "prediction" in r or "study" in r]
    study_cycle(engine, project)
    adapted = engine.fire(project.ref, "adapt", actor=OWNER)
    assert (adapted.state, adapted.current_cycle) == ("pdsa_testing", 2)
    with pytest.raises(ValidationError, match="closed"):
        engine.record_pdsa(project.ref, actor=OWNER, cycle=1, study="late")
    study_cycle(engine, project)
    adopted = engine.fire(project.ref, "adopt", actor=OWNER)
    assert adopted.state == "adopted"
    assert [(c.number, c.act) for c in engine.cycles(project.ref)] == [(1, "adapt"), (2, "adopt")]
    pass_qeia(engine, project)  # spreading needs a screening made after adoption
    assert engine.fire(project.ref, "spread", actor=OWNER).state == "spreading"
    show_sustained_improvement(engine, project)  # version 2 sustains on evidence
    assert engine.fire(project.ref, "sustain", actor=SPONSOR).state == "sustained"
    assert engine.available_triggers(project.ref) == []


def test_abandon_needs_learning_and_is_final(engine: Engine) -> None:
    project = study_cycle(engine, to_pdsa_testing(engine, new_project(engine)))
    with pytest.raises(GuardFailed, match="learning"):
        engine.fire(project.ref, "abandon", actor=OWNER)
    done = engine.fire(
        project.ref,
        "abandon",
        actor=OWNER,
        data={"learning": "Quiet space mattered more", "note": "board agreed"},
    )
    assert done.state == "abandoned"
    assert done.learning == "Quiet space mattered more"
    last = engine.history(project.ref)[-1]
    assert last.type == "project.transitioned"
    assert last.payload["data"] == {"note": "board agreed"}
    with pytest.raises(ValidationError, match="no review cadence"):
        engine.record_review(project.ref, actor=OWNER)


def test_pause_resume_returns_to_previous_state(engine: Engine) -> None:
    project = to_pdsa_testing(engine, new_project(engine))
    paused = engine.fire(project.ref, "pause", actor=SPONSOR)
    assert paused.state == "on_hold"
    assert {o.trigger for o in engine.available_triggers(project.ref)} == {"resume"}
    resumed = engine.fire(project.ref, "resume", actor=OWNER)
    assert (resumed.state, resumed.current_cycle) == ("pdsa_testing", 1)


def test_available_triggers_gives_every_reason(engine: Engine) -> None:
    project = engine.create_project("Bare", actor="x", owner="x")
    options = {o.trigger: o for o in engine.available_triggers(project.ref, actor="y")}
    diagnose = options["diagnose"]
    assert not diagnose.allowed
    assert diagnose.dest == "diagnosis"
    assert any("roles" in r for r in diagnose.reasons)
    assert any("no sponsor" in r for r in diagnose.reasons)
    assert [o.allowed for o in engine.available_triggers(project.ref, actor="x")] == [False, True]


def test_stale_expected_version_conflicts_and_writes_nothing(engine: Engine) -> None:
    project = new_project(engine)
    engine.fire(project.ref, "pause", actor=OWNER, expected_version=1)
    with pytest.raises(ConcurrencyConflict) as caught:
        engine.fire(project.ref, "resume", actor=OWNER, expected_version=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert len(engine.history(project.ref)) == 2
    assert engine.get(project.ref).version == 2


def test_repeated_idempotency_key_returns_first_result_and_writes_nothing(
    engine: Engine, clock: ManualClock
) -> None:
    project = new_project(engine)
    first = engine.fire(project.ref, "pause", actor=OWNER, idempotency_key="req-1")
    clock.advance(hours=1)
    again = engine.fire(project.ref, "pause", actor=OWNER, idempotency_key="req-1")
    assert again == first
    assert len(engine.history(project.ref)) == 2
    with pytest.raises(ValidationError, match="different command"):
        engine.fire(project.ref, "resume", actor=OWNER, idempotency_key="req-1")
    created = engine.create_project("Once", actor=OWNER, idempotency_key="create-1")
    assert engine.create_project("Once", actor=OWNER, idempotency_key="create-1") == created
    assert len(engine.projects()) == 2


def test_bad_input_is_refused_with_every_problem_and_leaves_no_trace(engine: Engine) -> None:
    project = new_project(engine)
    with pytest.raises(ValidationError) as caught:
        engine.update_project(project.ref, actor=OWNER, scale="galactic", expected_saving=-5)  # type: ignore[arg-type]
    assert "scale" in str(caught.value)
    assert "expected_saving" in str(caught.value)
    with pytest.raises(ValidationError, match="kind"):
        engine.add_measure(
            project.ref, "x", kind="vibes", unit="%", direction="increase", actor=OWNER
        )
    with pytest.raises(ValidationError, match="no measure"):
        engine.record_data_point(project.ref, "missing", 1.0, actor=OWNER)
    with pytest.raises(ValidationError, match="actor"):
        engine.fire(project.ref, "pause", actor=" ")
    with pytest.raises(ValidationError, match="title"):
        engine.create_project(" ", actor=OWNER)
    assert engine.get(project.ref) == project
    assert len(engine.history(project.ref)) == 1
    assert len(engine.projects()) == 1


def test_review_sets_next_review_from_state_cadence(engine: Engine, clock: ManualClock) -> None:
    project = to_pdsa_testing(engine, new_project(engine))
    assert project.next_review_at == clock.now() + timedelta(days=14)
    clock.advance(days=20)
    assert [p.ref for p in engine.projects(overdue=True)] == [project.ref]
    reviewed = engine.record_review(project.ref, actor=OWNER, notes="on track", progress_score=2.5)
    assert reviewed.next_review_at == clock.now() + timedelta(days=14)
    assert engine.projects(overdue=True) == []
    with pytest.raises(ValidationError, match="IHI"):
        engine.record_review(project.ref, actor=OWNER, progress_score=2.7)


def test_queries_filter(engine: Engine) -> None:
    a = engine.create_project("A", actor="x", owner="ann", sponsor="s", directorate="Acute")
    engine.create_project("B", actor="x", owner="bob", sponsor="s", directorate="Older")
    engine.fire(a.ref, "diagnose", actor="ann")
    assert [p.title for p in engine.projects(state="diagnosis")] == ["A"]
    assert [p.title for p in engine.projects(owner="bob")] == ["B"]
    assert [p.title for p in engine.projects(directorate="Acute")] == ["A"]
    assert [p.title for p in engine.projects(limit=1, offset=1)] == ["B"]


def test_measures_and_data_points(engine: Engine, clock: ManualClock) -> None:
    project = new_project(engine)
    engine.add_measure(
        project.ref, "Falls", kind="outcome", unit="count", direction="decrease", actor=OWNER
    )
    with pytest.raises(ValidationError, match="already has"):
        engine.add_measure(
            project.ref, "Falls", kind="outcome", unit="count", direction="decrease", actor=OWNER
        )
    engine.record_data_point(project.ref, "Falls", 7, actor=OWNER)
    engine.record_data_point(
        project.ref, "Falls", 4, actor=OWNER, observed_at=clock.now() - timedelta(days=7)
    )
    points = engine.data_points(project.ref, "Falls")
    assert [p.value for p in points] == [4.0, 7.0]
    [measure] = engine.measures(project.ref)
    assert (measure.kind, measure.direction) == ("outcome", "decrease")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    @hookimpl
    def qiflow_event_committed(self, event: Event, project: Project) -> None:
        self.seen.append((event.type, project.ref, event.seq))


class Broken:
    @hookimpl
    def qiflow_event_committed(self, event: Event) -> None:
        raise RuntimeError("plugin bug")


def test_plugins_hear_committed_events_and_a_failing_plugin_undoes_nothing(
    db_url: str, clock: ManualClock
) -> None:
    recorder = Recorder()
    with Engine(db_url, clock=clock, plugins=[Broken(), recorder]) as engine:
        project = new_project(engine)
        moved = engine.fire(project.ref, "diagnose", actor=OWNER)
        assert moved.state == "diagnosis"
        assert engine.get(project.ref).state == "diagnosis"
        assert [t for t, _, _ in recorder.seen] == ["project.created", "project.transitioned"]
        assert [s for _, _, s in recorder.seen] == [e.seq for e in engine.history(project.ref)]


def _write_workflow(
    directory: Path, version: int, extra_state: bool = False, auto: bool = False
) -> None:
    directory.mkdir(exist_ok=True)
    text = (ROOT / "workflows" / "qi_project.toml").read_text()
    text = text.replace("version = 1", f"version = {version}")
    if extra_state:
        text = text.replace(
            '[[states]]\nname = "idea"',
            '[[states]]\nname = "triage"\n'
            'initial = true\nreview = "P7D"\n\n[[states]]\nname = "idea"',
        )
        text = text.replace('name = "idea"\ninitial = true', 'name = "idea"')
        text += '\n[[transitions]]\ntrigger = "accept"\nsource = "triage"\ndest = "idea"\n'
    if auto:
        text += (
            '\n[[transitions]]\ntrigger = "auto_diagnose"\nsource = "idea"\n'
            'dest = "diagnosis"\nrequires = ["owner_and_sponsor_set"]\n'
            'on = "project.updated"\n'
        )
    (directory / f"qi_project_v{version}.toml").write_text(text)


def test_running_projects_keep_their_version_and_migrate_explicitly(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    v1 = tmp_path / "v1"
    _write_workflow(v1, 1)
    with Engine(db_url, clock=clock, workflows_dir=v1) as engine:
        old = new_project(engine)
    both = tmp_path / "both"
    _write_workflow(both, 1)
    _write_workflow(both, 2, extra_state=True)
    with Engine(db_url, clock=clock, workflows_dir=both) as engine:
        assert engine.get(old.ref).workflow_version == 1
        new = new_project(engine, "New")
        assert (new.workflow_version, new.state) == (2, "triage")
        assert engine.fire(old.ref, "diagnose", actor=OWNER).state == "diagnosis"
        with pytest.raises(ValidationError, match="'triage' does not exist"):
            engine.migrate_project(new.ref, 1, actor=OWNER)
        moved = engine.migrate_project(old.ref, 2, actor=OWNER)
        assert moved.workflow_version == 2
        assert engine.history(old.ref)[-1].payload == {"from_version": 1, "to_version": 2}
    only_v2 = tmp_path / "only_v2"
    _write_workflow(only_v2, 2, extra_state=True)
    with Engine(db_url, clock=clock, workflows_dir=only_v2) as engine:
        # version 1 lives on in the database after its file is gone
        assert engine.workflow("qi_project", 1).version == 1
        assert engine.verify_audit() == []


def test_changing_a_stored_version_in_place_is_refused(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    _write_workflow(tmp_path / "a", 1)
    with Engine(db_url, clock=clock, workflows_dir=tmp_path / "a") as engine:
        new_project(engine)
    changed = tmp_path / "b"
    _write_workflow(changed, 1, extra_state=True)
    with pytest.raises(WorkflowDefinitionError, match=r"new version \(version = 2\)"):
        Engine(db_url, clock=clock, workflows_dir=changed)


def test_on_event_fires_a_transition_automatically(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    _write_workflow(tmp_path / "auto", 1, auto=True)
    with Engine(db_url, clock=clock, workflows_dir=tmp_path / "auto") as engine:
        project = engine.create_project("Auto", actor=OWNER, owner=OWNER)
        assert engine.get(project.ref).state == "idea"
        moved = engine.update_project(project.ref, actor=OWNER, sponsor=SPONSOR)
        assert moved.state == "diagnosis"
        assert moved.version == 2
        last = engine.history(project.ref)[-1]
        assert (last.type, last.payload["automatic"], last.payload["trigger"]) == (
            "project.transitioned",
            True,
            "auto_diagnose",
        )
        assert engine.verify_audit() == []


def test_uninitialised_database_says_what_to_do(tmp_path: Path) -> None:
    from qiflow import DatabaseError

    with pytest.raises(DatabaseError, match="qiflow init"):
        Engine(f"sqlite:///{tmp_path / 'empty.db'}")


def test_unreachable_postgres_is_a_clear_error() -> None:
    from qiflow import DatabaseError

    with pytest.raises(DatabaseError, match="cannot connect"):
        Engine("postgresql://postgres@127.0.0.1:1/none")
