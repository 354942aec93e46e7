"""Issue 10: gates that say they are not needed, gate-owned configuration keys, and a
ValidationError that carries every problem."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from qiflow import (
    Approval,
    BaseGate,
    Engine,
    GuardContext,
    ManualClock,
    NotNeeded,
    Person,
    ValidationError,
    WorkflowDefinitionError,
    hookimpl,
)
from qiflow.durations import parse_duration
from qiflow.governance.gates import ConfigSchema
from tests.helpers import OWNER, SPONSOR


class DataGate(BaseGate):
    """Approved by an information governance lead unless the form says no data is used."""

    name = "data_use"
    title = "Data use review"
    config_schema: ClassVar[ConfigSchema] = {"valid_for": str, "reviewers": list, "limit": int}

    def check_config(self, config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(config)
        if isinstance(config.get("limit"), int) and config["limit"] < 1:
            problems.append("limit must be 1 or more")
        return problems

    def assess(self, ctx: GuardContext, form: Mapping[str, Any]) -> Approval | NotNeeded:
        problems = []
        if "uses_data" not in form:
            problems.append("say whether the project uses data (uses_data = true|false)")
        if not str(form.get("purpose") or "").strip():
            problems.append("state the purpose (purpose = ...)")
        if problems:
            raise ValidationError(problems)
        if form["uses_data"] is False:
            return NotNeeded(f"no data used: {form['purpose']}", valid_for=parse_duration("P6M"))
        valid_for = parse_duration(str(ctx.gate_config(self.name).get("valid_for", "P12M")))
        return Approval("Data use review", ("ig_lead",), "any", valid_for)


class DataPlugin:
    @hookimpl
    def qiflow_gates(self) -> Mapping[str, BaseGate]:
        return {DataGate.name: DataGate()}

    @hookimpl
    def qiflow_roles(self) -> list[str]:
        return ["ig_lead"]


def workflow(gate_table: str = 'valid_for = "P3M"\nreviewers = ["ig"]\nlimit = 2\n') -> str:
    return f"""
name = "data_project"
version = 1
states = [
  {{ name = "draft", initial = true }}, {{ name = "running" }}, {{ name = "done", final = true }},
]
transitions = [
  {{ trigger = "start", source = "draft", dest = "running", gates = ["data_use"] }},
  {{ trigger = "finish", source = "running", dest = "done" }},
]
[gates.data_use]
{gate_table}"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "data.toml").write_text(workflow())
    return tmp_path / "wf"


@pytest.fixture
def gov(db_url: str, clock: ManualClock, folder: Path) -> Iterator[Engine]:
    with Engine(db_url, clock=clock, workflows_dir=folder, plugins=[DataPlugin()]) as engine:
        engine.import_people([Person(id="ig", name="Ivy Gov", roles=("ig_lead",))], actor="admin")
        yield engine


def new(engine: Engine) -> str:
    return engine.create_project(
        "Data", actor=OWNER, owner=OWNER, sponsor=SPONSOR, workflow="data_project"
    ).ref


def test_a_gate_the_form_shows_is_not_needed_passes_with_who_said_so(
    gov: Engine, clock: ManualClock
) -> None:
    ref = new(gov)
    gov.request_signoff(ref, "data_use", {"uses_data": False, "purpose": "Audit"}, actor=SPONSOR)
    [declared] = [e for e in gov.history(ref) if e.type.startswith(("gate.", "signoff."))]
    assert declared.type == "gate.not_needed"
    assert declared.actor == SPONSOR
    assert declared.payload["by"] == SPONSOR
    assert declared.payload["reason"] == "no data used: Audit"
    assert clock.now().isoformat() == "2026-01-05T09:00:00+00:00"
    assert declared.payload["valid_until"] == "2026-07-05T09:00:00+00:00"  # six months on
    assert gov.gate_status(ref) == {"data_use": []}
    [round_] = gov.signoffs(ref, "data_use")
    assert (round_.status, round_.roles, round_.requested_by) == ("passed", (), SPONSOR)
    assert gov.fire(ref, "start", actor=OWNER).state == "running"


def test_a_not_needed_declaration_runs_out_like_an_approval(
    gov: Engine, clock: ManualClock
) -> None:
    ref = new(gov)
    gov.request_signoff(ref, "data_use", {"uses_data": False, "purpose": "Audit"}, actor=OWNER)
    clock.advance(timedelta(days=200))
    [waiting] = gov.gate_status(ref)["data_use"]
    assert "expired on" in waiting


def test_a_needed_gate_still_waits_for_its_approver(gov: Engine) -> None:
    ref = new(gov)
    gov.request_signoff(ref, "data_use", {"uses_data": True, "purpose": "Audit"}, actor=OWNER)
    assert gov.gate_status(ref) == {"data_use": ["Data use review: awaiting ig_lead"]}


def test_every_problem_of_a_form_is_reported_at_once(gov: Engine) -> None:
    ref = new(gov)
    with pytest.raises(ValidationError) as caught:
        gov.request_signoff(ref, "data_use", {}, actor=OWNER)
    assert caught.value.problems == (
        "say whether the project uses data (uses_data = true|false)",
        "state the purpose (purpose = ...)",
    )
    assert str(caught.value) == "; ".join(caught.value.problems)
    assert gov.signoffs(ref, "data_use") == []


def test_a_single_message_is_one_problem() -> None:
    assert ValidationError("bad").problems == ("bad",)
    assert str(ValidationError(["a", "b"])) == "a; b"


@pytest.mark.parametrize(
    ("table", "problems"),
    [
        ('valid_for = "P3M"\n', []),
        (
            'colour = "red"\n',
            ["unknown key 'colour'; expected one of limit, rescreen_on, reviewers, valid_for"],
        ),
        ("valid_for = 3\nlimit = true\n", ["valid_for must be text", "limit must be a whole num"]),
        ("limit = 0\n", ["limit must be 1 or more"]),
        ('rescreen_on = "start"\n', ["rescreen_on must be a list of triggers"]),
    ],
)  # fmt: skip
def test_a_gate_declares_its_own_keys_and_gets_every_problem(
    db_url: str, tmp_path: Path, table: str, problems: list[str]
) -> None:
    (tmp_path / "data.toml").write_text(workflow(table))
    if not problems:
        Engine(db_url, workflows_dir=tmp_path, plugins=[DataPlugin()]).close()
        return
    with pytest.raises(WorkflowDefinitionError) as caught:
        Engine(db_url, workflows_dir=tmp_path, plugins=[DataPlugin()])
    for problem in problems:
        assert problem in str(caught.value)
