"""The finance sign-off gate, loaded through its entry point and named by a workflow file.

Nothing here registers the plugin by hand: these tests need the package installed
(``pip install -e plugins/qiflow-finance``), and fail, not skip, without it. The engine,
its clock and daemon passes come from qiflow's pytest plugin (``qiflow_engine``,
``qiflow_clock``, ``qiflow_daemon_pass``), which installing qiflow registers.
"""

from __future__ import annotations

import importlib.metadata
import json
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from qiflow import (
    Engine,
    GuardFailed,
    ManualClock,
    PermissionDenied,
    Person,
    Project,
    TriggerOption,
    ValidationError,
    get_plugin_manager,
)
from qiflow.builtin.qeia import DOMAINS as QEIA_DOMAINS
from qiflow.cli import main
from qiflow.lifecycle.vocabulary import vocabulary
from qiflow.testing import temporary_engine
from qiflow.workflow import load_file
from qiflow.workflow.catalog import default_workflows_dir

from qiflow_finance.plugin import FinanceSignoff

OWNER, SPONSOR, FINANCE, QI_LEAD = "olivia", "sam", "f.patel", "quinn"
ROLE = "finance_business_partner"
SAVING = 45_000
FORM = {
    "saving_basis": "Agency shifts fall from 40 to 25 a month at £250 a shift, over 12 months",
    "amount": SAVING,
}
LOW_RISK_QEIA = {"scores": {d: {"impact": 2, "likelihood": 2} for d in QEIA_DOMAINS}}
START_TESTING_GATES = 'gates = ["qeia"]\neffects = ["start_pdsa_cycle"]'
NOT_REQUESTED = "Finance sign-off: not requested yet (qiflow signoff request {ref} finance)"

WriteWorkflow = Callable[..., Path]


# fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def write_workflow(tmp_path: Path) -> WriteWorkflow:
    """Copy qiflow's default workflow, add the finance gate to start_testing, and
    ``config`` as its ``[gates.finance]`` table; return the directory."""

    def write(config: str = "", name: str = "workflows") -> Path:
        text = (default_workflows_dir() / "qi_project.toml").read_text(encoding="utf-8")
        assert text.count(START_TESTING_GATES) == 1, "the default start_testing has changed"
        text = text.replace(
            START_TESTING_GATES, 'gates = ["qeia", "finance"]\neffects = ["start_pdsa_cycle"]'
        )
        if config:
            text += f"\n[gates.finance]\n{config}\n"
        directory = tmp_path / name
        directory.mkdir()
        (directory / "qi_project.toml").write_text(text, encoding="utf-8")
        return directory

    return write


@pytest.fixture
def qiflow_clock() -> ManualClock:
    """The pytest plugin's clock, from Monday 5 January 2026 (the dates below count on it)."""
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def clock(qiflow_clock: ManualClock) -> ManualClock:
    return qiflow_clock


@pytest.fixture
def qiflow_workflows_dir(write_workflow: WriteWorkflow) -> Path:
    """The pytest plugin's engine loads the default workflow with the finance gate added."""
    return write_workflow()


def with_people(engine: Engine) -> Engine:
    engine.import_people(
        [
            Person(id=FINANCE, name="Farah Patel", roles=(ROLE,)),
            Person(id=QI_LEAD, name="Quinn Lee", roles=("qi_lead",)),
        ],
        actor="admin",
    )
    return engine


@pytest.fixture
def engine(qiflow_engine: Engine) -> Engine:
    return with_people(qiflow_engine)


# helpers ----------------------------------------------------------------------------------


def at_measurement_plan(engine: Engine, *, expected_saving: int | None = SAVING) -> Project:
    """A project in measurement_plan with its measures and a passed QEIA screening."""
    extra: dict[str, Any] = {} if expected_saving is None else {"expected_saving": expected_saving}
    project = engine.create_project(
        "Reduce agency nurse spend", actor=OWNER, owner=OWNER, sponsor=SPONSOR, **extra
    )
    ref = project.ref
    engine.fire(ref, "diagnose", actor=OWNER)
    engine.update_project(
        ref,
        actor=OWNER,
        aim="Fewer unfilled shifts",
        quality_objectives=["Safer staffing on every shift"],
    )
    engine.fire(ref, "plan_measurement", actor=OWNER)
    engine.add_measure(
        ref, "Unfilled shifts", kind="outcome", unit="%", direction="decrease", actor=OWNER
    )
    engine.add_measure(
        ref, "Staff overtime", kind="balancing", unit="hours", direction="decrease", actor=OWNER
    )
    engine.request_signoff(ref, "qeia", LOW_RISK_QEIA, actor=OWNER)
    return engine.decide_signoff(ref, "qeia", actor=SPONSOR, approve=True)


def start_testing(engine: Engine, ref: str) -> TriggerOption:
    options = engine.available_triggers(ref, actor=OWNER)
    return next(o for o in options if o.trigger == "start_testing")


def approved(engine: Engine, *, form: dict[str, Any] | None = None) -> Project:
    project = at_measurement_plan(engine)
    engine.request_signoff(project.ref, "finance", form or FORM, actor=OWNER)
    return engine.decide_signoff(project.ref, "finance", actor=FINANCE, approve=True)


def event_types(engine: Engine, ref: str) -> list[str]:
    return [e.type for e in engine.history(ref)]


# installation and workflow files -----------------------------------------------------------


def test_the_plugin_is_installed_through_its_entry_point() -> None:
    pm = get_plugin_manager()
    assert pm.has_plugin("finance"), "install it first: pip install -e plugins/qiflow-finance"
    (entry,) = importlib.metadata.entry_points(group="qiflow", name="finance")
    assert entry.value == "qiflow_finance.plugin"
    vocab = vocabulary(pm)
    assert "finance" in vocab.gates
    assert ROLE in vocab.roles


def test_a_workflow_may_name_the_gate_only_when_the_plugin_is_loaded(
    write_workflow: WriteWorkflow,
) -> None:
    path = write_workflow('valid_for = "P6M"') / "qi_project.toml"
    workflow, problems = load_file(path, vocabulary(get_plugin_manager()))
    assert problems == []
    assert workflow is not None
    assert workflow.gate_config["finance"] == {"valid_for": "P6M"}
    assert "finance" in next(t for t in workflow.transitions if t.trigger == "start_testing").gates
    without, problems = load_file(path, vocabulary(get_plugin_manager(allow=[])))
    assert without is None
    assert {p.key for p in problems} == {"gates.finance", "transitions[2].gates"}


def validate(workflows: Path) -> Result:
    return CliRunner().invoke(
        main, ["--workflows", str(workflows), "workflow", "validate"], catch_exceptions=False
    )


def test_workflow_validate_accepts_the_finance_gate(write_workflow: WriteWorkflow) -> None:
    workflows = write_workflow('valid_for = "P6M"\nrescreen_on = ["spread"]')
    result = validate(workflows)
    assert result.exit_code == 0, result.output
    assert f"ok: {workflows / 'qi_project.toml'}: qi_project version 1" in result.output
    assert '"finance"' in (workflows / "qi_project.toml").read_text()


def test_workflow_validate_reports_a_bad_finance_table(write_workflow: WriteWorkflow) -> None:
    result = validate(write_workflow('valid_for = "a year"\napprovers = ["cfo"]'))
    assert result.exit_code == 1
    assert "gates.finance: unknown key 'approvers'" in result.output
    assert "gates.finance: valid_for: 'a year' is not an ISO-8601 duration" in result.output


@pytest.mark.parametrize(
    ("config", "problems"),
    [
        ({}, []),
        ({"valid_for": "P6M"}, []),
        ({"valid_for": "P6M", "rescreen_on": ["spread"]}, []),
        ({"valid_for": "six months"}, ["valid_for: 'six months' is not an ISO-8601 duration"]),
        ({"valid_for": 12}, ["valid_for must be an ISO-8601 duration"]),
        ({"valid_for": "P0D"}, ["valid_for: 'P0D' is a zero duration"]),
        ({"rescreen_on": "spread"}, ["rescreen_on must be a list of triggers"]),
        ({"roles": ["cfo"]}, ["unknown key 'roles'; expected one of valid_for, rescreen_on"]),
    ],
)
def test_check_config(config: dict[str, Any], problems: list[str]) -> None:
    found = FinanceSignoff().check_config(config)
    assert len(found) == len(problems)
    for got, expected in zip(found, problems, strict=True):
        assert got.startswith(expected)


# whether the gate applies -------------------------------------------------------------------


def test_without_a_financial_objective_the_gate_does_not_apply(engine: Engine) -> None:
    project = at_measurement_plan(engine, expected_saving=None)
    assert engine.gate_status(project.ref) == {"finance": [], "qeia": []}
    assert start_testing(engine, project.ref).allowed
    with pytest.raises(ValidationError, match="Finance sign-off does not apply"):
        engine.request_signoff(project.ref, "finance", FORM, actor=OWNER)
    assert engine.fire(project.ref, "start_testing", actor=OWNER).state == "pdsa_testing"


def test_with_a_financial_objective_start_testing_waits_for_the_gate(engine: Engine) -> None:
    project = at_measurement_plan(engine)
    option = start_testing(engine, project.ref)
    assert not option.allowed
    assert option.reasons == (NOT_REQUESTED.format(ref=project.ref),)
    with pytest.raises(GuardFailed, match="Finance sign-off: not requested yet"):
        engine.fire(project.ref, "start_testing", actor=OWNER)

    engine.request_signoff(project.ref, "finance", FORM, actor=OWNER)
    assert start_testing(engine, project.ref).reasons == (
        "Finance sign-off: awaiting finance_business_partner",
    )


# the form --------------------------------------------------------------------------------------


def test_a_project_without_a_quality_objective_is_refused(engine: Engine) -> None:
    project = engine.create_project(
        "Cut agency spend", actor=OWNER, owner=OWNER, sponsor=SPONSOR, expected_saving=SAVING
    )
    with pytest.raises(
        ValidationError,
        match=r"never replaces the quality objective \(strategy section 5\.1\)",
    ):
        engine.request_signoff(project.ref, "finance", FORM, actor=OWNER)
    assert engine.signoffs(project.ref, "finance") == []
    assert "signoff.requested" not in event_types(engine, project.ref)


@pytest.mark.parametrize(
    ("form", "problems"),
    [
        ({}, ["saving_basis: say how", "amount: the saving signed off"]),
        ({"saving_basis": "  ", "amount": SAVING}, ["saving_basis: say how"]),
        ({**FORM, "amount": 0}, ["amount: the saving signed off"]),
        ({**FORM, "amount": "45000"}, ["amount: the saving signed off"]),
        ({**FORM, "amount": 45000.0}, ["amount: the saving signed off"]),
        ({**FORM, "amount": True}, ["amount: the saving signed off"]),
        (
            {**FORM, "amount": 40_000},
            ["amount £40,000 differs from the project's expected saving £45,000"],
        ),
        ({**FORM, "variance_reason": 5}, ["variance_reason must be text"]),
        ({**FORM, "savings_basis": "typo"}, ["unknown field 'savings_basis'"]),
    ],
)
def test_form_problems_are_all_reported(
    engine: Engine, form: dict[str, Any], problems: list[str]
) -> None:
    project = at_measurement_plan(engine)
    with pytest.raises(ValidationError, match="finance sign-off form") as raised:
        engine.request_signoff(project.ref, "finance", form, actor=OWNER)
    for problem in problems:
        assert problem in str(raised.value)
    assert engine.signoffs(project.ref, "finance") == []


def test_a_different_amount_needs_a_reason(engine: Engine, clock: ManualClock) -> None:
    form = {**FORM, "amount": 40_000, "variance_reason": "Finance counts 10 months this year"}
    project = approved(engine, form=form)
    (signoff,) = engine.signoffs(project.ref, "finance")
    assert signoff.summary == {
        "amount": 40_000,
        "expected_saving": SAVING,
        "saving_basis": FORM["saving_basis"],
        "variance_reason": "Finance counts 10 months this year",
    }
    # The sign-off covers the project's expected saving, so it still passes.
    assert start_testing(engine, project.ref).allowed


# deciding ----------------------------------------------------------------------------------------


def test_a_finance_business_partner_approves(engine: Engine, clock: ManualClock) -> None:
    project = approved(engine)
    (signoff,) = engine.signoffs(project.ref, "finance")
    assert (signoff.stage, signoff.status, signoff.roles, signoff.mode) == (
        "Finance sign-off",
        "passed",
        (ROLE,),
        "any",
    )
    assert signoff.valid_for == "P12M"
    assert signoff.valid_until == clock.now().replace(year=clock.now().year + 1)
    assert [(d.role, d.approver, d.decision) for d in signoff.decisions] == [
        (ROLE, FINANCE, "approve")
    ]
    assert engine.gate_status(project.ref) == {"finance": [], "qeia": []}
    assert start_testing(engine, project.ref).allowed
    assert engine.fire(project.ref, "start_testing", actor=OWNER).state == "pdsa_testing"
    passed = [e for e in engine.history(project.ref) if e.type == "gate.passed"]
    assert [e.payload["gate"] for e in passed] == ["qeia", "finance"]


@pytest.mark.parametrize(
    ("actor", "role", "message"),
    [
        (QI_LEAD, None, "holds none of the roles this Finance sign-off awaits"),
        (SPONSOR, None, "holds none of the roles this Finance sign-off awaits"),
        (SPONSOR, "sponsor", "is not decided by 'sponsor'"),
        (QI_LEAD, ROLE, "does not hold the role 'finance_business_partner'"),
    ],
)
def test_other_roles_cannot_approve(
    engine: Engine, actor: str, role: str | None, message: str
) -> None:
    project = at_measurement_plan(engine)
    engine.request_signoff(project.ref, "finance", FORM, actor=OWNER)
    with pytest.raises(PermissionDenied, match=message):
        engine.decide_signoff(project.ref, "finance", actor=actor, role=role, approve=True)
    refused = [e for e in engine.history(project.ref) if e.type == "signoff.refused"]
    assert [(e.actor, e.payload["gate"]) for e in refused] == [(actor, "finance")]
    assert engine.signoffs(project.ref, "finance")[-1].status == "pending"
    assert not start_testing(engine, project.ref).allowed


def test_the_owner_and_the_requester_cannot_approve_even_with_the_role(
    engine: Engine,
) -> None:
    engine.import_people(
        [
            Person(id=OWNER, name="Olivia Owen", roles=(ROLE,)),
            Person(id=QI_LEAD, name="Quinn Lee", roles=("qi_lead", ROLE)),
        ],
        actor="admin",
    )
    project = at_measurement_plan(engine)
    engine.request_signoff(project.ref, "finance", FORM, actor=QI_LEAD)
    with pytest.raises(PermissionDenied, match="owns the project"):
        engine.decide_signoff(project.ref, "finance", actor=OWNER, approve=True)
    with pytest.raises(PermissionDenied, match="requested this Finance sign-off"):
        engine.decide_signoff(project.ref, "finance", actor=QI_LEAD, approve=True)


def test_only_people_with_a_part_in_the_project_may_request(engine: Engine) -> None:
    project = at_measurement_plan(engine)
    with pytest.raises(PermissionDenied, match="no part in the project"):
        engine.request_signoff(project.ref, "finance", FORM, actor=FINANCE)
    with pytest.raises(PermissionDenied, match="no part in the project"):
        engine.request_signoff(project.ref, "finance", FORM, actor="mallory")
    assert engine.signoffs(project.ref, "finance") == []
    assert not start_testing(engine, project.ref).allowed


def test_a_rejection_blocks_until_resubmitted(engine: Engine) -> None:
    project = at_measurement_plan(engine)
    ref = project.ref
    engine.request_signoff(ref, "finance", FORM, actor=OWNER)
    with pytest.raises(ValidationError, match="a rejection needs a comment"):
        engine.decide_signoff(ref, "finance", actor=FINANCE, approve=False)
    engine.decide_signoff(
        ref, "finance", actor=FINANCE, approve=False, comment="bank shifts are counted twice"
    )
    reason = (
        "Finance sign-off: rejected (bank shifts are counted twice); "
        "resubmit it with qiflow signoff request"
    )
    assert start_testing(engine, ref).reasons == (reason,)
    with pytest.raises(GuardFailed, match="rejected"):
        engine.fire(ref, "start_testing", actor=OWNER)
    with pytest.raises(ValidationError, match="no pending Finance sign-off"):
        engine.decide_signoff(ref, "finance", actor=FINANCE, approve=True)

    engine.request_signoff(
        ref, "finance", {**FORM, "saving_basis": "Agency shifts only"}, actor=OWNER
    )
    engine.decide_signoff(ref, "finance", actor=FINANCE, approve=True)
    assert [(s.round, s.status) for s in engine.signoffs(ref, "finance")] == [
        (1, "rejected"),
        (2, "passed"),
    ]
    assert engine.fire(ref, "start_testing", actor=OWNER).state == "pdsa_testing"


def test_a_changed_expected_saving_needs_a_new_signoff(engine: Engine) -> None:
    project = approved(engine)
    ref = project.ref
    engine.update_project(ref, actor=OWNER, expected_saving=60_000)
    reason = (
        "Finance sign-off: the expected saving changed from £45,000 to £60,000 after it "
        f"was signed off; request a new one (qiflow signoff request {ref} finance)"
    )
    assert engine.gate_status(ref)["finance"] == [reason]
    assert start_testing(engine, ref).reasons == (reason,)
    with pytest.raises(GuardFailed, match="expected saving changed"):
        engine.fire(ref, "start_testing", actor=OWNER)

    engine.request_signoff(ref, "finance", {**FORM, "amount": 60_000}, actor=OWNER)
    engine.decide_signoff(ref, "finance", actor=FINANCE, approve=True)
    assert start_testing(engine, ref).allowed


def test_dropping_the_financial_objective_lifts_the_gate(engine: Engine) -> None:
    project = at_measurement_plan(engine)
    assert not start_testing(engine, project.ref).allowed
    engine.update_project(project.ref, actor=OWNER, expected_saving=0)
    assert start_testing(engine, project.ref).allowed


# expiry ------------------------------------------------------------------------------------------


def test_an_approval_expires_after_twelve_months(engine: Engine, clock: ManualClock) -> None:
    project = approved(engine)
    ref = project.ref
    clock.advance(days=365, minutes=-1)  # 2026 is not a leap year: a minute before expiry
    assert engine.gate_status(ref)["finance"] == []
    clock.advance(minutes=2)
    assert engine.gate_status(ref)["finance"] == [
        "Finance sign-off: expired on 2027-01-05; request a new review"
    ]
    assert not start_testing(engine, ref).allowed
    assert ref in {p.ref for p in engine.expire_signoffs()}
    expired = [e.payload["gate"] for e in engine.history(ref) if e.type == "gate.expired"]
    assert "finance" in expired
    assert engine.signoffs(ref, "finance")[-1].status == "expired"


def test_the_workflow_file_sets_how_long_an_approval_stands(
    write_workflow: WriteWorkflow, clock: ManualClock
) -> None:
    workflows = write_workflow('valid_for = "P3M"', name="three_months")
    with temporary_engine(clock=clock, workflows_dir=workflows) as (built, _):
        engine = with_people(built)
        project = approved(engine)
        (signoff,) = engine.signoffs(project.ref, "finance")
        assert signoff.valid_for == "P3M"
        clock.advance(days=89)
        assert start_testing(engine, project.ref).allowed
        clock.advance(days=1)  # 2026-01-05 + 3 months = 2026-04-05, 90 days on
        assert start_testing(engine, project.ref).reasons == (
            "Finance sign-off: expired on 2026-04-05; request a new review",
        )


# reminders, through one daemon pass ----------------------------------------------------------


def test_a_pending_finance_signoff_reminds_the_business_partner(
    engine: Engine, clock: ManualClock, qiflow_daemon_pass: Any
) -> None:
    project = at_measurement_plan(engine)
    qiflow_daemon_pass()  # the daemon runs: event notices start from its first pass
    engine.request_signoff(project.ref, "finance", FORM, actor=OWNER)
    first = qiflow_daemon_pass()  # the request itself is told at once
    assert FINANCE in {n.recipient for n in first.received["console"]}
    clock.advance(days=8)  # a week pending: the approvers are reminded
    later = qiflow_daemon_pass()
    reminded = [n for n in later.received["console"] if n.recipient == FINANCE]
    assert reminded, later.received
    assert any(
        item.project_ref == project.ref and "awaits your decision" in item.subject
        for n in reminded
        for item in n.items
    )
    assert OWNER not in {n.recipient for n in reminded}


# the command line, as in the README ------------------------------------------------------------


def test_the_readme_walk_through(
    tmp_path: Path, write_workflow: WriteWorkflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflows = write_workflow('valid_for = "P12M"')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QIFLOW_DATABASE_URL", "sqlite:///qi.db")
    monkeypatch.setenv("QIFLOW_WORKFLOWS_DIR", str(workflows))

    def run(command: str, ok: bool = True) -> str:
        args = shlex.split(command)
        assert args[0] == "qiflow"
        result = CliRunner().invoke(main, args[1:], catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    Path("people.toml").write_text(
        f'[[people]]\nid = "{FINANCE}"\nname = "Farah Patel"\nroles = ["{ROLE}"]\n'
    )
    Path("qeia.toml").write_text(
        "".join(f"[scores.{d}]\nimpact = 2\nlikelihood = 2\n" for d in QEIA_DOMAINS)
    )
    Path("finance.toml").write_text(f'saving_basis = "{FORM["saving_basis"]}"\namount = {SAVING}\n')

    run("qiflow init")
    assert "1 added" in run("qiflow people import people.toml --actor admin")
    created = run(
        "qiflow project create 'Reduce agency nurse spend' --owner olivia --sponsor sam "
        "--expected-saving 45000 --actor olivia --json"
    )
    ref = json.loads(created)["ref"]
    run(f"qiflow project fire {ref} diagnose --actor olivia")
    run(
        f"qiflow project update {ref} --aim 'Fewer unfilled shifts' "
        "--quality-objective 'Safer staffing on every shift' --actor olivia"
    )
    run(f"qiflow project fire {ref} plan_measurement --actor olivia")
    run(
        f"qiflow measure add {ref} 'Unfilled shifts' --kind outcome --unit % "
        "--direction decrease --actor olivia"
    )
    run(
        f"qiflow measure add {ref} 'Staff overtime' --kind balancing --unit hours "
        "--direction decrease --actor olivia"
    )
    run(f"qiflow qeia screen {ref} --from qeia.toml --actor olivia")
    run(f"qiflow signoff decide {ref} qeia --approve --actor sam")

    blocked = run(f"qiflow project fire {ref} start_testing --actor olivia", ok=False)
    assert NOT_REQUESTED.format(ref=ref) in blocked
    requested = run(f"qiflow signoff request {ref} finance --from finance.toml --actor olivia")
    assert "awaiting any of finance_business_partner" in requested
    refused = run(f"qiflow signoff decide {ref} finance --approve --actor olivia", ok=False)
    assert "owns the project" in refused
    decided = run(f"qiflow signoff decide {ref} finance --approve --actor f.patel")
    assert f"{ref}: Finance sign-off is passed" in decided
    assert "finance: passed" in run(f"qiflow signoff status {ref}")
    assert "pdsa_testing" in run(f"qiflow project fire {ref} start_testing --actor olivia")
