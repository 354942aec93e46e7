"""The Caldicott plugin, loaded only through its installed entry point, tested with
qiflow's pytest plugin (``qiflow_engine``, ``qiflow_clock``, ``qiflow_daemon_pass``).

These tests need ``pip install -e plugins/qiflow-caldicott`` and fail, not skip, without it.
"""

from __future__ import annotations

import importlib.metadata
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner
from qiflow import Engine, GuardFailed, ManualClock, PermissionDenied, Person, ValidationError
from qiflow.builtin.qeia import DOMAINS
from qiflow.cli import main
from qiflow.workflow.catalog import default_workflows_dir

OWNER, SPONSOR, GUARDIAN, LEAD = "olivia", "sam", "cara", "quinn"
FIELD = "uses_patient_identifiable_data"
LOW_RISK = {"scores": {d: {"impact": 1, "likelihood": 1} for d in DOMAINS}}
USES_PID = {FIELD: True, "purpose": "Audit of discharge letters", "legal_basis": "Direct care"}


def plugin() -> ModuleType:
    """The plugin module, found through its entry point (as qiflow finds it)."""
    [entry] = [e for e in importlib.metadata.entry_points(group="qiflow") if e.name == "caldicott"]
    module: ModuleType = entry.load()
    return module


@pytest.fixture
def qiflow_workflows_dir() -> Sequence[Path]:
    return [plugin().WORKFLOWS_DIR]


@pytest.fixture
def engine(qiflow_engine: Engine) -> Engine:
    qiflow_engine.import_people(
        [
            Person(id=GUARDIAN, name="Cara Guardian", roles=("caldicott_guardian",)),
            Person(id=LEAD, name="Quinn Lead", roles=("qi_lead",)),
            Person(id=OWNER, name="Olivia Owner", roles=("caldicott_guardian",)),
        ],
        actor="admin",
    )  # fmt: skip
    return qiflow_engine


def ready_to_test(engine: Engine) -> str:
    """A caldicott_project with everything start_testing needs but the Caldicott gate."""
    ref = engine.create_project(
        "Discharge letters", actor=OWNER, owner=OWNER, sponsor=SPONSOR,
        workflow="caldicott_project",
    ).ref  # fmt: skip
    engine.fire(ref, "diagnose", actor=OWNER)
    engine.update_project(ref, actor=OWNER, aim="Letters in 24h", quality_objectives=["Safer"])
    engine.add_driver(ref, "Timely letters", kind="primary", actor=OWNER)
    engine.add_driver(ref, "Template", kind="idea", under="P1", actor=OWNER)
    engine.fire(ref, "plan_measurement", actor=OWNER)
    engine.record_pdsa(ref, actor=OWNER, tests="C1")
    for name, kind in (("Letters in 24h", "outcome"), ("Clinic time", "balancing")):
        engine.add_measure(ref, name, kind=kind, unit="%", direction="increase", actor=OWNER)
    engine.request_signoff(ref, "qeia", LOW_RISK, actor=OWNER)
    engine.decide_signoff(ref, "qeia", actor=SPONSOR, approve=True)
    return ref


def test_the_workflow_extends_the_shipped_one_with_the_gate(engine: Engine) -> None:
    workflow = engine.workflow("caldicott_project")
    resolved = tomllib.loads(workflow.source)
    assert "extends" not in resolved
    shipped = tomllib.loads((default_workflows_dir() / "qi_project_v2.toml").read_text())
    assert [s.name for s in workflow.states] == [s["name"] for s in shipped["states"]]
    assert len(workflow.transitions) == len(shipped["transitions"])
    gates = {t.trigger: t.gates for t in workflow.transitions}
    assert gates["start_testing"] == ("qeia", "caldicott")
    assert resolved["gates"]["caldicott"] == {"valid_for": "P12M", "exempt_directorates": []}


def test_the_guardian_approves_and_the_approval_lasts_twelve_months(
    engine: Engine, qiflow_clock: ManualClock
) -> None:
    ref = ready_to_test(engine)
    engine.update_project(ref, actor=OWNER, fields={FIELD: True})
    with pytest.raises(GuardFailed, match="Caldicott guardian approval: not requested yet"):
        engine.fire(ref, "start_testing", actor=OWNER)
    engine.request_signoff(ref, "caldicott", USES_PID, actor=OWNER)
    with pytest.raises(PermissionDenied, match="owns the project"):
        engine.decide_signoff(ref, "caldicott", actor=OWNER, approve=True)
    with pytest.raises(PermissionDenied, match="holds none of the roles"):
        engine.decide_signoff(ref, "caldicott", actor=LEAD, approve=True)
    engine.decide_signoff(ref, "caldicott", actor=GUARDIAN, approve=True)
    [passed] = [
        e
        for e in engine.history(ref)
        if e.type == "gate.passed" and e.payload["gate"] == "caldicott"
    ]
    assert passed.payload["valid_until"] == "2028-03-01T12:00:00+00:00"  # from 2027-03-01
    assert engine.fire(ref, "start_testing", actor=OWNER).state == "pdsa_testing"


def test_a_form_without_patient_data_makes_the_gate_not_needed(engine: Engine) -> None:
    ref = ready_to_test(engine)
    engine.request_signoff(ref, "caldicott", {FIELD: False}, actor=SPONSOR)
    [declared] = [e for e in engine.history(ref) if e.type == "gate.not_needed"]
    assert (declared.payload["by"], declared.payload["reason"]) == (
        SPONSOR, "no patient-identifiable data is used",
    )  # fmt: skip
    assert engine.gate_status(ref)["caldicott"] == []
    # the project then says it does use such data: the declaration no longer covers it
    engine.update_project(ref, actor=OWNER, fields={FIELD: True})
    [waiting] = engine.gate_status(ref)["caldicott"]
    assert "now uses patient-identifiable data" in waiting


def test_every_problem_of_a_form_is_reported(engine: Engine) -> None:
    ref = ready_to_test(engine)
    with pytest.raises(ValidationError) as caught:
        engine.request_signoff(ref, "caldicott", {FIELD: True}, actor=OWNER)
    assert caught.value.problems == (
        "state the purpose for using the data (purpose = ...)",
        "state the legal basis for using the data (legal_basis = ...)",
    )
    engine.update_project(ref, actor=OWNER, fields={FIELD: False})
    with pytest.raises(
        ValidationError, match=r"the form says .* = true but the project says false"
    ):
        engine.request_signoff(ref, "caldicott", USES_PID, actor=OWNER)
    assert engine.signoffs(ref, "caldicott") == []


def test_its_configuration_keys_are_checked(tmp_path: Path) -> None:
    text = (plugin().WORKFLOWS_DIR / "caldicott_project.toml").read_text()
    (tmp_path / "bad.toml").write_text(
        text.replace('valid_for = "P12M"', 'valid_for = "a year"\ncolour = "red"')
    )
    result = CliRunner().invoke(main, ["workflow", "validate", str(tmp_path / "bad.toml")])
    assert result.exit_code == 1
    assert (
        "unknown key 'colour'; expected one of exempt_directorates, rescreen_on, valid_for"
        in result.output
    )
    assert "valid_for:" in result.output


def test_the_field_through_the_command_line(engine: Engine, tmp_path: Path) -> None:
    ref = ready_to_test(engine)
    url = engine.database_url
    folder = str(plugin().WORKFLOWS_DIR)

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(main, ["--db", url, "--workflows", folder, *args])
        assert result.exit_code == 0, result.output
        return result.output

    out = json.loads(
        cli("project", "update", ref, "--field", f"{FIELD}=no", "--json", "--actor", OWNER)
    )
    assert out["fields"] == {FIELD: False}
    assert "Uses patient-identifiable data" in cli("project", "show", ref)
    form = tmp_path / "form.toml"
    form.write_text(f"{FIELD} = false\n")
    said = cli("signoff", "request", ref, "caldicott", "--from", str(form), "--actor", OWNER)
    reason = "(no patient-identifiable data is used)"
    assert said.strip() == f"{ref}: Caldicott guardian approval not needed {reason}; passed"
    bad = CliRunner().invoke(
        main, ["--db", url, "project", "update", ref, "--field", f"{FIELD}=maybe"]
    )
    assert bad.exit_code == 1
    assert "true or false" in bad.output


def test_the_guardian_hears_of_a_request_through_the_jsonl_channel(
    engine: Engine, qiflow_clock: ManualClock, qiflow_daemon_pass: Any, tmp_path: Path
) -> None:
    ref = ready_to_test(engine)
    qiflow_daemon_pass()  # the daemon runs: event notices start from its first pass
    engine.request_signoff(ref, "caldicott", USES_PID, actor=OWNER)
    out = tmp_path / "notices.jsonl"
    done = qiflow_daemon_pass(channels={"jsonl": {"path": str(out)}})
    told = {n.recipient for n in done.received["jsonl"]}
    assert GUARDIAN in told
    assert OWNER not in told or all(
        "decision" not in n.subject for n in done.received["jsonl"] if n.recipient == OWNER
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["recipient"] for line in lines] == [n.recipient for n in done.received["jsonl"]]
    assert any(i["project_ref"] == ref for line in lines for i in line["items"])
