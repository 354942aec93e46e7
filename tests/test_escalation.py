"""Escalation to programme status: each rule makes a candidate; status waits for every condition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qiflow import Engine, GuardFailed, PermissionDenied, Person, ValidationError
from qiflow.cli import main
from tests.helpers import LOW_RISK, OWNER, SPONSOR, pass_qeia

PEOPLE = [
    Person(id="md", name="Medical Director", roles=("medical_director",)),
    Person(id="don", name="Director of Nursing", roles=("director_of_nursing",)),
    Person(id="tt", name="Transformation lead", roles=("transformation_team",)),
    Person(id="exec", name="Executive", roles=("lead_executive_sponsor",)),
]


def stage2_form(impact: int = 4, likelihood: int = 4) -> dict:
    form = json.loads(json.dumps(LOW_RISK))
    form["scores"]["patient_safety"] = {"impact": impact, "likelihood": likelihood}
    form["full_assessment"] = "Risks reviewed with the safety team; mitigations agreed"
    return form


@pytest.fixture
def gov(engine: Engine) -> Engine:
    engine.import_people(PEOPLE, actor="admin")
    return engine


def statuses(engine: Engine, ref: str) -> list[str]:
    return [e.payload["status"] for e in engine.history(ref) if e.type.startswith("programme.")]


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"expected_saving": 250_000}, "financial"),
        ({"expected_saving": 1_000_000}, "financial"),
        ({"scale": "trust_wide"}, "scale"),
        ({"scale": "multi_directorate"}, "scale"),
        ({"scale": "system"}, "scale"),
    ],
)
def test_each_rule_makes_a_candidate_at_creation(gov: Engine, fields: dict, rule: str) -> None:
    project = gov.create_project("Big", actor=OWNER, owner=OWNER, sponsor=SPONSOR, **fields)
    assert project.programme_status == "candidate"
    [event] = [e for e in gov.history(project.ref) if e.type == "programme.candidate"]
    assert event.payload["rules"] == [rule]


def test_below_every_rule_stays_local(gov: Engine) -> None:
    project = gov.create_project(
        "Small",
        actor=OWNER,
        owner=OWNER,
        sponsor=SPONSOR,
        expected_saving=249_999,
        scale="directorate",
    )
    assert project.programme_status == "none"
    assert gov.projects(programme="candidate") == []


def test_rule_met_by_a_later_change(gov: Engine) -> None:
    project = gov.create_project("Grows", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    grown = gov.update_project(project.ref, actor=OWNER, scale="trust_wide")
    assert grown.programme_status == "candidate"
    assert statuses(gov, project.ref) == ["candidate"]


def test_extreme_qeia_score_makes_a_candidate(gov: Engine) -> None:
    project = gov.create_project("Risky", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    high = gov.request_signoff(project.ref, "qeia", stage2_form(3, 4), actor=OWNER)
    assert high.programme_status == "none"  # 12 is high, not extreme
    extreme = gov.request_signoff(project.ref, "qeia", stage2_form(4, 4), actor=OWNER)
    assert extreme.programme_status == "candidate"


def test_nomination_by_the_transformation_team(gov: Engine) -> None:
    project = gov.create_project("Nominee", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    with pytest.raises(PermissionDenied, match="transformation_team"):
        gov.escalate(project.ref, actor=SPONSOR)
    nominated = gov.escalate(project.ref, actor="tt")
    assert nominated.programme_status == "candidate"
    [event] = [e for e in gov.history(project.ref) if e.type == "programme.candidate"]
    assert event.payload["rules"] == ["nominated"]


def test_status_is_withheld_until_every_condition_holds(gov: Engine) -> None:
    project = gov.create_project(
        "Trust-wide", actor=OWNER, owner=OWNER, sponsor=SPONSOR, scale="trust_wide"
    )
    with pytest.raises(GuardFailed) as caught:
        gov.escalate(project.ref, actor="tt")
    assert len(caught.value.reasons) == 3
    gov.update_project(project.ref, actor=OWNER, lead_executive_sponsor="exec")
    with pytest.raises(GuardFailed) as caught:
        gov.escalate(project.ref, actor="tt")
    assert len(caught.value.reasons) == 2
    gov.update_project(project.ref, actor=OWNER, qi_sponsor=SPONSOR)
    # a stage 1 QEIA is not a full assessment
    pass_qeia(gov, gov.get(project.ref))
    assert gov.get(project.ref).programme_status == "candidate"
    gov.request_signoff(project.ref, "qeia", stage2_form(), actor=OWNER)
    after_md = gov.decide_signoff(project.ref, "qeia", actor="md", approve=True)
    assert after_md.programme_status == "candidate"
    granted = gov.decide_signoff(project.ref, "qeia", actor="don", approve=True)
    assert granted.programme_status == "programme"
    assert statuses(gov, project.ref) == ["candidate", "programme"]
    assert [p.ref for p in gov.projects(programme="programme")] == [project.ref]
    assert gov.verify_audit() == []


def test_programme_projects_need_a_stage_2_qeia(gov: Engine) -> None:
    project = gov.create_project(
        "Programme",
        actor=OWNER,
        owner=OWNER,
        sponsor=SPONSOR,
        scale="system",
        lead_executive_sponsor="exec",
        qi_sponsor=SPONSOR,
    )
    gov.request_signoff(project.ref, "qeia", stage2_form(), actor=OWNER)
    gov.decide_signoff(project.ref, "qeia", actor="md", approve=True)
    assert (
        gov.decide_signoff(project.ref, "qeia", actor="don", approve=True).programme_status
        == "programme"
    )
    with pytest.raises(ValidationError, match="programme status"):
        gov.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)


def test_deescalation_needs_a_reason_and_quietens_the_rules(gov: Engine) -> None:
    project = gov.create_project(
        "Big", actor=OWNER, owner=OWNER, sponsor=SPONSOR, scale="trust_wide"
    )
    with pytest.raises(ValidationError, match="reason"):
        gov.deescalate(project.ref, actor="tt", reason=" ")
    with pytest.raises(PermissionDenied):
        gov.deescalate(project.ref, actor=SPONSOR, reason="small after all")
    down = gov.deescalate(project.ref, actor="tt", reason="Scope cut to one ward")
    assert down.programme_status == "none"
    assert gov.update_project(project.ref, actor=OWNER, team="Ward 1").programme_status == "none"
    again = gov.update_project(project.ref, actor=OWNER, expected_saving=300_000)
    assert again.programme_status == "candidate"  # a new rule applies
    last = [e for e in gov.history(project.ref) if e.type == "programme.deescalated"][-1]
    assert last.payload["reason"] == "Scope cut to one ward"
    assert gov.verify_audit() == []


def test_cli_lists_programme_projects(gov: Engine, db_url: str) -> None:
    gov.create_project("Local", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    big = gov.create_project("Big", actor=OWNER, owner=OWNER, sponsor=SPONSOR, scale="system")
    runner = CliRunner()
    listed = runner.invoke(main, ["--db", db_url, "project", "list", "--candidates", "--json"])
    assert [p["ref"] for p in json.loads(listed.output)] == [big.ref]
    board = runner.invoke(main, ["--db", db_url, "project", "list", "--programme"])
    assert board.exit_code == 0
    assert "no projects match" in board.output
    down = runner.invoke(
        main,
        [
            "--db",
            db_url,
            "project",
            "deescalate",
            big.ref,
            "--reason",
            "Pilot only",
            "--actor",
            "tt",
            "--json",
        ],
    )
    assert json.loads(down.output)["programme_status"] == "none"


def test_people_import_from_csv_and_toml(db_url: str, engine: Engine, tmp_path: Path) -> None:
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "id,name,email,roles,directorate,deputy_for\n"
        "md,Dr M,md@example.nhs.uk,medical_director,,\n"
        "dep,Deputy,,medical_director,,md\n"
    )
    runner = CliRunner()
    done = runner.invoke(main, ["--db", db_url, "people", "import", str(csv_file), "--json"])
    assert json.loads(done.output) == {"added": 2, "updated": 0, "deactivated": 0}
    toml_file = tmp_path / "people.toml"
    toml_file.write_text(
        '[[people]]\nid = "md"\nname = "Dr M"\nroles = ["medical_director", "qi_lead"]\n'
    )
    replaced = runner.invoke(
        main, ["--db", db_url, "people", "import", str(toml_file), "--replace", "--json"]
    )
    assert json.loads(replaced.output) == {"added": 0, "updated": 1, "deactivated": 1}
    people = {p.id: p for p in engine.people()}
    assert people["md"].roles == ("medical_director", "qi_lead")
    assert people["dep"].active is False
    listed = runner.invoke(main, ["--db", db_url, "people", "list", "--role", "qi_lead"])
    assert "Dr M" in listed.output


def test_a_bad_people_file_imports_nothing(db_url: str, engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "people.csv"
    bad.write_text(
        "id,name,roles\nok,Fine,qi_lead\n,No id,qi_lead\nx,Bad role,wizard\nok,Twice,qi_lead\n"
    )
    result = CliRunner().invoke(main, ["--db", db_url, "people", "import", str(bad)])
    assert result.exit_code == 1
    for expected in (
        "line 3: id",
        "line 4: unknown role 'wizard'",
        "line 5: id 'ok' appears twice",
        "nothing imported",
    ):
        assert expected in result.output
    assert engine.people() == []
