"""Risk registers through the engine's API, on both backends: scoring, rules, import, views."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from qiflow import (
    ConcurrencyConflict,
    Engine,
    GuardFailed,
    ManualClock,
    PermissionDenied,
    Person,
    RiskImportError,
    ValidationError,
)
from qiflow.workflow.catalog import default_workflows_dir
from tests import helpers
from tests.helpers import OWNER, SPONSOR, new_project

START = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def at_start(engine: Engine, clock: ManualClock) -> Engine:
    clock.set(START)
    engine.import_people(
        [Person(id="tt", name="Transformation", roles=("transformation_team",))], actor="admin"
    )
    return engine


def add(engine: Engine, ref: str, c: int, lk: int, **extra: object) -> str:
    risk = engine.add_risk(
        ref,
        extra.pop("description", f"Risk {c} x {lk}"),  # type: ignore[arg-type]
        category=extra.pop("category", "patient_safety"),  # type: ignore[arg-type]
        owner=extra.pop("owner", OWNER),  # type: ignore[arg-type]
        consequence=c,
        likelihood=lk,
        actor=extra.pop("actor", OWNER),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )
    return risk.id


def types(engine: Engine, ref: str) -> list[str]:
    return [e.type for e in engine.history(ref) if e.type.startswith("risk.")]


def test_scores_bands_and_first_reviews(at_start: Engine) -> None:
    ref = new_project(at_start).ref
    for c, lk in ((1, 3), (2, 3), (4, 2), (3, 5)):
        add(at_start, ref, c, lk)
    found = [(r.id, r.score, r.band, r.review_by) for r in at_start.risks(ref)]
    assert found == [
        ("R1", 3, "low", date(2028, 1, 15)),
        ("R2", 6, "moderate", date(2027, 7, 15)),
        ("R3", 8, "high", date(2027, 4, 15)),
        ("R4", 15, "extreme", date(2027, 2, 15)),
    ]
    given = at_start.add_risk(
        ref,
        "Dated by hand",
        category="Finance",
        owner="h.ali",
        consequence=2,
        likelihood=2,
        target=2,
        controls="Budget holder signs off",
        review_by=date(2027, 2, 1),
        actor=OWNER,
    )
    assert (given.category, given.review_by, given.target) == ("finance", date(2027, 2, 1), 2)


def test_every_change_is_an_event_and_the_audit_trail_verifies(at_start: Engine) -> None:
    ref = new_project(at_start).ref
    rid = add(at_start, ref, 2, 2)
    at_start.update_risk(ref, rid, owner="h.ali", controls="Checklist", actor=OWNER)
    at_start.review_risk(ref, rid, consequence=3, likelihood=3, note="Worse", actor="h.ali")
    at_start.add_risk_action(ref, rid, "Audit", owner="bob", due=date(2027, 2, 1), actor=OWNER)
    at_start.complete_risk_action(ref, rid, "A1", actor="bob")
    at_start.tolerate_risk(ref, rid, reason="Accepted by the board", actor=SPONSOR)
    risk = at_start.close_risk(ref, rid, reason="Service redesigned", actor=OWNER)
    assert types(at_start, ref) == [
        "risk.added",
        "risk.updated",
        "risk.reviewed",
        "risk.band_rose",
        "risk.action_added",
        "risk.action_done",
        "risk.status_changed",
        "risk.status_changed",
    ]
    assert (risk.status, risk.reason, risk.owner, risk.score) == (
        "closed",
        "Service redesigned",
        "h.ali",
        9,
    )
    assert risk.actions[0].done_at == START
    assert at_start.verify_audit() == []


def test_a_review_rescores_and_sets_the_next_review_by_the_new_band(
    at_start: Engine, clock: ManualClock
) -> None:
    ref = new_project(at_start).ref
    rid = add(at_start, ref, 2, 3)  # moderate, reviewed in 6 months
    clock.advance(days=10)
    risk = at_start.review_risk(ref, rid, consequence=4, likelihood=3, actor=OWNER)
    assert (risk.band, risk.review_by, risk.reviewed_by) == ("high", date(2027, 4, 25), OWNER)
    rose = [e.payload for e in at_start.history(ref) if e.type == "risk.band_rose"]
    assert rose == [{"risk": "R1", "from": "moderate", "to": "high", "score": 12}]
    risk = at_start.review_risk(ref, rid, consequence=1, likelihood=2, actor=OWNER)
    assert (risk.band, risk.review_by) == ("low", date(2028, 1, 25))
    assert len([t for t in types(at_start, ref) if t == "risk.band_rose"]) == 1  # falls: none


def test_risks_assessed_gates_pdsa_testing(at_start: Engine) -> None:
    project = helpers.to_measurement_plan(at_start, new_project(at_start))
    assert (project.workflow, project.workflow_version) == ("qi_project", 2)
    for name, kind in (("Missed doses", "outcome"), ("Clinic time", "balancing")):
        at_start.add_measure(
            project.ref, name, kind=kind, unit="%", direction="decrease", actor=OWNER
        )
    helpers.pass_qeia(at_start, project)
    with pytest.raises(GuardFailed) as caught:
        at_start.fire(project.ref, "start_testing", actor=OWNER)
    assert caught.value.reasons == (
        f"no risk assessment: record the project's risks (qiflow risk add {project.ref} ...) "
        f"or, if it carries none, the owner declares so (qiflow risk none {project.ref})",
    )
    with pytest.raises(PermissionDenied, match="only the project's owner \\(olivia\\) may declare"):
        at_start.declare_no_significant_risks(project.ref, actor=SPONSOR)
    assert at_start.declare_no_significant_risks(project.ref, actor=OWNER, note="Paper exercise")
    assert at_start.fire(project.ref, "start_testing", actor=OWNER).state == "pdsa_testing"


def test_a_recorded_risk_meets_risks_assessed_too(at_start: Engine) -> None:
    project = helpers.to_measurement_plan(at_start, new_project(at_start))
    for name, kind in (("Missed doses", "outcome"), ("Clinic time", "balancing")):
        at_start.add_measure(
            project.ref, name, kind=kind, unit="%", direction="decrease", actor=OWNER
        )
    helpers.pass_qeia(at_start, project)
    rid = add(at_start, project.ref, 1, 1)
    at_start.close_risk(project.ref, rid, reason="Not a risk after all", actor=OWNER)
    # a closed assessment is still an assessment
    assert at_start.fire(project.ref, "start_testing", actor=OWNER).state == "pdsa_testing"


def test_projects_on_version_1_keep_their_rules(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    only_v1 = tmp_path / "v1"
    only_v1.mkdir()
    shutil.copy(default_workflows_dir() / "qi_project.toml", only_v1)
    with Engine(db_url, clock=clock, workflows_dir=only_v1) as old:
        project = helpers.to_measurement_plan(old, new_project(old))
    with Engine(db_url, clock=clock) as engine:  # the shipped files: versions 1 and 2
        assert engine.get(project.ref).workflow_version == 1
        for name, kind in (("Missed doses", "outcome"), ("Clinic time", "balancing")):
            engine.add_measure(
                project.ref, name, kind=kind, unit="%", direction="decrease", actor=OWNER
            )
        helpers.pass_qeia(engine, project)
        add(engine, project.ref, 5, 5)  # extreme, on a version 1 project: no escalation rule
        assert engine.fire(project.ref, "start_testing", actor=OWNER).state == "pdsa_testing"
        assert engine.get(project.ref).programme_status == "none"
        assert new_project(engine).workflow_version == 2


def test_an_open_extreme_risk_blocks_spread_until_the_sponsor_reviews_it(
    at_start: Engine, clock: ManualClock
) -> None:
    project = helpers.drive_to(at_start, "adopted")
    helpers.pass_qeia(at_start, project)  # spreading needs a screening made after adoption
    rid = add(at_start, project.ref, 5, 3)
    at_start.deescalate(project.ref, actor="tt", reason="Local project; risk managed by ward")
    with pytest.raises(GuardFailed) as caught:
        at_start.fire(project.ref, "spread", actor=OWNER)
    assert caught.value.reasons == (
        f"risk R1 is extreme (score 15) and awaits review by the sponsor "
        f"({SPONSOR}: qiflow risk review {project.ref} R1 ...)",
    )
    clock.advance(hours=1)
    at_start.review_risk(project.ref, rid, consequence=5, likelihood=3, actor=OWNER)
    assert not next(
        o for o in at_start.available_triggers(project.ref, OWNER) if o.trigger == "spread"
    ).allowed  # the owner's review is not the sponsor's
    clock.advance(hours=1)
    at_start.review_risk(project.ref, rid, consequence=5, likelihood=4, actor=SPONSOR)
    assert at_start.fire(project.ref, "spread", actor=OWNER).state == "spreading"


def test_a_tolerated_or_closed_extreme_risk_does_not_block_spread(at_start: Engine) -> None:
    project = helpers.drive_to(at_start, "adopted")
    helpers.pass_qeia(at_start, project)
    first, second = add(at_start, project.ref, 5, 5), add(at_start, project.ref, 4, 4)
    at_start.tolerate_risk(project.ref, first, reason="Board accepts it", actor=SPONSOR)
    at_start.close_risk(project.ref, second, reason="Mitigated", actor=OWNER)
    assert at_start.fire(project.ref, "spread", actor=OWNER).state == "spreading"


def test_an_open_extreme_risk_makes_a_programme_candidate(at_start: Engine) -> None:
    ref = new_project(at_start).ref
    add(at_start, ref, 4, 3)  # high: no rule applies
    assert at_start.get(ref).programme_status == "none"
    add(at_start, ref, 4, 4)
    assert at_start.get(ref).programme_status == "candidate"
    [event] = [e for e in at_start.history(ref) if e.type == "programme.candidate"]
    assert event.payload["rules"] == ["risk_extreme"]
    assert event.payload["reasons"] == ["open extreme risk(s) on its register: R2"]
    at_start.deescalate(ref, actor="tt", reason="Managed locally")
    add(at_start, ref, 5, 5)  # the rule that applied stays quiet after de-escalation
    assert at_start.get(ref).programme_status == "none"


def test_a_review_into_extreme_makes_a_candidate(at_start: Engine) -> None:
    ref = new_project(at_start).ref
    rid = add(at_start, ref, 3, 3)
    at_start.review_risk(ref, rid, consequence=3, likelihood=5, actor=OWNER)
    assert at_start.get(ref).programme_status == "candidate"


def test_import_is_all_or_nothing(at_start: Engine) -> None:
    project = new_project(at_start)
    bad = (
        "description,category,owner,consequence,likelihood\n"
        "Falls,patient safety,l.evans,4,3\n"
        "Costs,money,h.ali,2,2\n"
        "Staffing,workforce,h.ali,2,0\n"
    )
    with pytest.raises(RiskImportError) as caught:
        at_start.import_risks(project.ref, bad, actor=OWNER, source="log.csv")
    assert [p.split(":")[0] for p in caught.value.problems] == ["row 3", "row 4"]
    assert at_start.risks(project.ref) == []
    assert at_start.get(project.ref).version == project.version
    good = bad.replace("money", "finance").replace(",2,0", ",2,1")
    imported = at_start.import_risks(project.ref, good, actor=OWNER)
    assert [(r.id, r.category, r.score) for r in imported] == [
        ("R1", "patient_safety", 12),
        ("R2", "finance", 4),
        ("R3", "workforce", 2),
    ]
    assert at_start.get(project.ref).version == project.version + 1  # one command


def test_who_may_change_the_register(at_start: Engine) -> None:
    ref = new_project(at_start).ref
    with pytest.raises(PermissionDenied, match="'mallory' may not change the risk register"):
        add(at_start, ref, 2, 2, actor="mallory")
    rid = add(at_start, ref, 2, 2, owner="h.ali")
    version = at_start.get(ref).version
    with pytest.raises(PermissionDenied):
        at_start.review_risk(ref, rid, consequence=1, likelihood=1, actor="mallory")
    assert at_start.get(ref).version == version  # a refusal writes nothing
    at_start.review_risk(ref, rid, consequence=1, likelihood=2, actor="h.ali")  # its owner
    at_start.add_risk_action(ref, rid, "Rota", owner="bob", due=date(2027, 2, 1), actor="h.ali")
    with pytest.raises(PermissionDenied):
        at_start.close_risk(ref, rid, reason="Mine now", actor="bob")
    assert at_start.complete_risk_action(ref, rid, "A1", actor="bob").actions[0].done_at
    at_start.tolerate_risk(ref, rid, reason="Fine", actor="tt")  # the transformation team


def test_bad_requests_are_refused_and_write_nothing(at_start: Engine) -> None:
    ref = new_project(at_start).ref
    version = at_start.get(ref).version
    with pytest.raises(ValidationError, match="consequence must be a whole number from 1 to 5"):
        add(at_start, ref, 6, 1)
    with pytest.raises(ValidationError, match="no risk 'R9' on this project \\(its risks: none"):
        at_start.review_risk(ref, "R9", consequence=1, likelihood=1, actor=OWNER)
    assert at_start.get(ref).version == version


def test_idempotency_and_expected_versions(at_start: Engine) -> None:
    ref = new_project(at_start).ref
    first = at_start.add_risk(
        ref, "Once", category="quality", owner=OWNER, consequence=2, likelihood=2,
        actor=OWNER, idempotency_key="k1",
    )  # fmt: skip
    again = at_start.add_risk(
        ref, "Once", category="quality", owner=OWNER, consequence=2, likelihood=2,
        actor=OWNER, idempotency_key="k1",
    )  # fmt: skip
    assert again == first
    assert len(at_start.risks(ref)) == 1
    with pytest.raises(ConcurrencyConflict):
        at_start.review_risk(
            ref, "R1", consequence=1, likelihood=1, actor=OWNER, expected_version=1
        )


def test_the_portfolio_register_and_its_filters(at_start: Engine, clock: ManualClock) -> None:
    north = at_start.create_project(
        "North", actor=OWNER, owner=OWNER, sponsor=SPONSOR, directorate="Adult Community"
    ).ref
    ward = at_start.create_project(
        "Ward", actor=OWNER, owner=OWNER, sponsor=SPONSOR, directorate="Acute Inpatient"
    ).ref
    add(at_start, north, 2, 2, owner="h.ali")  # moderate, review in 6 months
    add(at_start, north, 5, 4)  # extreme, review in 1 month
    add(at_start, ward, 3, 3, owner="h.ali")  # high, review in 3 months
    closed = add(at_start, ward, 1, 1)
    at_start.close_risk(ward, closed, reason="Gone", actor=OWNER)

    def listed(**filters: object) -> list[tuple[str, str]]:
        return [(r.project, r.id) for r in at_start.risk_register(**filters)]  # type: ignore[arg-type]

    assert listed() == [(north, "R2"), (ward, "R1"), (north, "R1")]  # highest score first
    assert listed(band="high") == [(ward, "R1")]
    assert listed(owner="h.ali") == [(ward, "R1"), (north, "R1")]
    assert listed(directorate="Adult Community") == [(north, "R2"), (north, "R1")]
    assert listed(project=ward) == [(ward, "R1")]
    assert listed(statuses=["closed"]) == [(ward, "R2")]
    assert listed(overdue=True) == []
    clock.advance(timedelta(days=32))  # the extreme risk's review (15 February) has passed
    assert listed(overdue=True) == [(north, "R2")]
    clock.advance(timedelta(days=60))
    assert listed(overdue=True) == [(north, "R2"), (ward, "R1")]
    heat = at_start.risk_heat_map(at_start.risk_register())
    assert heat.counts == {(5, 4): 1, (3, 3): 1, (2, 2): 1}
