"""The gate matrix: each gate type x approve, reject, resubmit, expire, wrong role, missing
role, self-approval, one person in two roles, delegation and simultaneous decisions.

Gate types: the QEIA at stage 1 (any of sponsor, qi_lead), the QEIA at stage 2 (all of
medical_director, director_of_nursing), and a plugin gate defined here (all of two roles).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from qiflow import (
    Approval,
    BaseGate,
    Engine,
    Event,
    GuardContext,
    GuardFailed,
    ManualClock,
    PermissionDenied,
    Person,
    Project,
    QiflowError,
    Signoff,
    TriggerOption,
    ValidationError,
    hookimpl,
)
from qiflow.durations import parse_duration
from tests import helpers
from tests.helpers import LOW_RISK, OWNER, SPONSOR

ROOT = Path(__file__).resolve().parents[1]
REQUESTER = "rita"
EVERY_ROLE = ("qi_lead", "medical_director", "director_of_nursing", "ethics_chair", "caldicott")
PEOPLE = [
    Person(id=OWNER, name="Olivia Owner", roles=EVERY_ROLE),
    Person(id=REQUESTER, name="Rita Requester", roles=EVERY_ROLE),
    Person(id="qil", name="Quinn Lead", roles=("qi_lead",)),
    Person(id="qil2", name="Quentin Lead", roles=("qi_lead",)),
    Person(id="md", name="Dr Mona Day", roles=("medical_director",)),
    Person(id="md2", name="Dr Max Dale", roles=("medical_director",)),
    Person(id="don", name="Dana Nurse", roles=("director_of_nursing",)),
    Person(id="chair", name="Chris Chair", roles=("ethics_chair",)),
    Person(id="chair2", name="Cleo Chair", roles=("ethics_chair",)),
    Person(id="cg", name="Cal Guardian", roles=("caldicott",)),
    Person(id="both", name="Bo Both", roles=EVERY_ROLE[1:]),
    Person(id="dep", name="Dee Deputy", deputy_for=("qil", "md", "don", "chair", "cg")),
]


def stage2_form(impact: int = 3, likelihood: int = 4, full: bool = True) -> dict[str, Any]:
    form: dict[str, Any] = copy.deepcopy(LOW_RISK)
    form["scores"]["patient_safety"] = {"impact": impact, "likelihood": likelihood}
    if full:
        form["full_assessment"] = "Falls risk reviewed with the safety team; mitigations agreed"
    return form


class EthicsGate(BaseGate):
    """A plugin gate: an ethics review signed off by the chair and the Caldicott guardian."""

    name = "ethics"
    title = "Ethics review"

    def check_config(self, config: Mapping[str, Any]) -> list[str]:
        return [f"unknown key {key!r}" for key in config if key != "valid_for"]

    def assess(self, ctx: GuardContext, form: Mapping[str, Any]) -> Approval:
        if not str(form.get("protocol") or "").strip():
            raise ValidationError("an ethics review needs a protocol")
        valid_for = parse_duration(str(ctx.gate_config(self.name).get("valid_for", "P1M")))
        return Approval("Ethics review", ("ethics_chair", "caldicott"), "all", valid_for)


class EthicsPlugin:
    @hookimpl
    def qiflow_gates(self) -> Mapping[str, BaseGate]:
        return {EthicsGate.name: EthicsGate()}

    @hookimpl
    def qiflow_roles(self) -> list[str]:
        return ["ethics_chair", "caldicott"]


ETHICS_WORKFLOW = """
name = "ethics_project"
version = 1
gates.ethics.valid_for = "P2M"
states = [{ name = "draft", initial = true }, { name = "running" }, { name = "done", final = true }]
transitions = [
  { trigger = "start", source = "draft", dest = "running", roles = ["owner"], gates = ["ethics"] },
  { trigger = "finish", source = "running", dest = "done" },
]
"""


@dataclass(frozen=True)
class Case:
    name: str
    gate: str
    trigger: str
    form: Mapping[str, Any]
    stage: str
    roles: tuple[str, ...]  # what a round awaits, in order
    approvers: tuple[tuple[str, str], ...]  # (person, role): enough to pass it
    rival: str  # another holder of the first approver's role
    outsider: str  # holds none of the roles
    months: int  # how long an approval lasts


STAGE1 = Case(
    "stage1", "qeia", "start_testing", LOW_RISK, "QEIA stage 1", ("sponsor", "qi_lead"),
    (("qil", "qi_lead"),), "qil2", "don", 12,
)  # fmt: skip
STAGE2 = Case(
    "stage2", "qeia", "start_testing", stage2_form(), "QEIA stage 2",
    ("medical_director", "director_of_nursing"),
    (("md", "medical_director"), ("don", "director_of_nursing")), "md2", "qil", 6,
)  # fmt: skip
PLUGIN = Case(
    "plugin", "ethics", "start", {"protocol": "Observe ward rounds"}, "Ethics review",
    ("ethics_chair", "caldicott"), (("chair", "ethics_chair"), ("cg", "caldicott")),
    "chair2", "md", 2,
)  # fmt: skip
BY_SPONSOR = replace(STAGE1, name="stage1-sponsor", approvers=((SPONSOR, "sponsor"),))
CASES = pytest.mark.parametrize("case", [STAGE1, STAGE2, PLUGIN], ids=lambda c: c.name)
ALL_OF = pytest.mark.parametrize("case", [STAGE2, PLUGIN], ids=lambda c: c.name)


@pytest.fixture
def gov(db_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[Engine]:
    """The default and the ethics workflow, the plugin gate, and the people above."""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "ethics.toml").write_text(ETHICS_WORKFLOW)
    dirs = [ROOT / "workflows", tmp_path / "workflows"]
    with Engine(db_url, clock=clock, workflows_dir=dirs, plugins=[EthicsPlugin()]) as engine:
        engine.import_people(PEOPLE, actor="admin")
        yield engine


def at_gate(engine: Engine, case: Case) -> str:
    """A project whose next transition waits for nothing but ``case``'s gate."""
    if case.gate == "ethics":
        return engine.create_project(
            "Ethics", actor=OWNER, owner=OWNER, sponsor=SPONSOR, workflow="ethics_project"
        ).ref
    ref = helpers.to_measurement_plan(engine, helpers.new_project(engine)).ref
    for name, kind in (("Missed doses", "outcome"), ("Clinic time", "balancing")):
        engine.add_measure(ref, name, kind=kind, unit="%", direction="decrease", actor=OWNER)
    engine.declare_no_significant_risks(ref, actor=OWNER)  # risks_assessed
    return ref


def requested(engine: Engine, case: Case, actor: str = OWNER) -> str:
    ref = at_gate(engine, case)
    engine.request_signoff(ref, case.gate, case.form, actor=actor)
    return ref


def approve_all(engine: Engine, ref: str, case: Case) -> None:
    for person, _role in case.approvers:
        engine.decide_signoff(ref, case.gate, actor=person, approve=True)


def option(engine: Engine, ref: str, trigger: str) -> TriggerOption:
    return next(o for o in engine.available_triggers(ref) if o.trigger == trigger)


def events(engine: Engine, ref: str, type_: str) -> list[Event]:
    return [e for e in engine.history(ref) if e.type == type_]


def latest(engine: Engine, ref: str, case: Case) -> Signoff:
    return engine.signoffs(ref, case.gate)[-1]


LONDON = ZoneInfo("Europe/London")


def months_after(when: datetime, months: int) -> datetime:
    """The same wall-clock time ``months`` calendar months later in London, the trust's
    time zone (an approval given in winter runs out at the same local hour in summer)."""
    local = when.astimezone(LONDON).replace(tzinfo=None)
    index = local.month - 1 + months
    later = local.replace(year=local.year + index // 12, month=index % 12 + 1)
    return later.replace(tzinfo=LONDON).astimezone(UTC)


def assert_refused(engine: Engine, ref: str, case: Case, actor: str, match: str, **kw: Any) -> None:
    """The decision raises PermissionDenied, is recorded, and leaves the round as it was."""
    before = latest(engine, ref, case)
    with pytest.raises(PermissionDenied, match=match) as caught:
        engine.decide_signoff(ref, case.gate, actor=actor, approve=True, **kw)
    refused = events(engine, ref, "signoff.refused")[-1]
    assert (refused.actor, refused.payload["reason"]) == (actor, str(caught.value))
    assert latest(engine, ref, case) == before


def race(*calls: Callable[[], Project]) -> list[Project | QiflowError]:
    """Run ``calls`` in threads released at the same moment: each one's result or qiflow error.

    Anything but a QiflowError (a crash) propagates and fails the test.
    """
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Project]) -> Project | QiflowError:
        barrier.wait(timeout=30)
        try:
            return call()
        except QiflowError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# approve, reject, resubmit, expire -------------------------------------------------------


@pytest.mark.parametrize("case", [STAGE1, BY_SPONSOR, STAGE2, PLUGIN], ids=lambda c: c.name)
def test_approval_passes_the_gate_and_allows_the_transition(gov: Engine, case: Case) -> None:
    ref = at_gate(gov, case)
    title = {"qeia": "QEIA", "ethics": "Ethics review"}[case.gate]
    not_yet = f"{title}: not requested yet (qiflow signoff request {ref} {case.gate})"
    assert option(gov, ref, case.trigger).reasons == (not_yet,)
    gov.request_signoff(ref, case.gate, case.form, actor=OWNER)
    [asked] = events(gov, ref, "signoff.requested")
    assert (asked.payload["stage"], tuple(asked.payload["roles"])) == (case.stage, case.roles)
    for person, role in case.approvers:
        assert not option(gov, ref, case.trigger).allowed
        with pytest.raises(GuardFailed, match="awaiting"):
            gov.fire(ref, case.trigger, actor=OWNER)
        assert events(gov, ref, "gate.passed") == []
        gov.decide_signoff(ref, case.gate, actor=person, approve=True)
        assert events(gov, ref, "signoff.decided")[-1].payload["role"] == role
    [passed] = events(gov, ref, "gate.passed")
    assert (passed.payload["gate"], passed.payload["round"]) == (case.gate, 1)
    signoff = latest(gov, ref, case)
    assert (signoff.status, signoff.awaiting) == ("passed", ())
    assert [(d.approver, d.role) for d in signoff.decisions] == list(case.approvers)
    assert option(gov, ref, case.trigger).allowed
    assert gov.fire(ref, case.trigger, actor=OWNER).state in ("pdsa_testing", "running")
    assert gov.verify_audit() == []


@CASES
def test_rejection_blocks_with_its_reason_until_resubmitted(gov: Engine, case: Case) -> None:
    ref = requested(gov, case)
    person = case.approvers[-1][0]
    for comment in (None, "  "):
        with pytest.raises(ValidationError, match="needs a comment"):
            gov.decide_signoff(ref, case.gate, actor=person, approve=False, comment=comment)
    reason = "No mitigation for the falls risk"
    gov.decide_signoff(ref, case.gate, actor=person, approve=False, comment=reason)
    [rejected] = events(gov, ref, "gate.rejected")
    assert (rejected.payload["by"], rejected.payload["reason"]) == (person, reason)
    assert (latest(gov, ref, case).status, latest(gov, ref, case).reason) == ("rejected", reason)
    assert option(gov, ref, case.trigger).reasons == (
        f"{case.stage}: rejected ({reason}); resubmit it with qiflow signoff request",
    )
    with pytest.raises(GuardFailed, match=reason):
        gov.fire(ref, case.trigger, actor=OWNER)
    with pytest.raises(ValidationError, match="the latest is rejected"):
        gov.decide_signoff(ref, case.gate, actor=case.approvers[0][0], approve=True)
    gov.request_signoff(ref, case.gate, case.form, actor=OWNER)  # resubmitted: a new round
    rounds = gov.signoffs(ref, case.gate)
    assert [(s.round, s.status) for s in rounds] == [(1, "rejected"), (2, "pending")]
    assert not option(gov, ref, case.trigger).allowed
    approve_all(gov, ref, case)
    [passed] = events(gov, ref, "gate.passed")
    assert passed.payload["round"] == 2
    assert gov.fire(ref, case.trigger, actor=OWNER).state in ("pdsa_testing", "running")


@CASES
def test_expiry_blocks_until_reviewed_again(gov: Engine, clock: ManualClock, case: Case) -> None:
    ref = requested(gov, case)
    clock.advance(days=10)
    approve_all(gov, ref, case)
    valid_until = latest(gov, ref, case).valid_until
    assert valid_until is not None
    assert valid_until == months_after(clock.now(), case.months)
    clock.set(valid_until - timedelta(seconds=1))
    assert option(gov, ref, case.trigger).allowed
    assert gov.expire_signoffs() == []
    clock.set(valid_until + timedelta(days=1))
    expired = f"{case.stage}: expired on {valid_until:%Y-%m-%d}; request a new review"
    assert option(gov, ref, case.trigger).reasons == (expired,)
    with pytest.raises(GuardFailed, match="expired"):
        gov.fire(ref, case.trigger, actor=OWNER)
    assert [p.ref for p in gov.expire_signoffs()] == [ref]
    assert gov.expire_signoffs() == []
    [event] = events(gov, ref, "gate.expired")
    assert event.payload["valid_until"] == valid_until.isoformat()
    assert latest(gov, ref, case).status == "expired"
    assert option(gov, ref, case.trigger).reasons == (expired,)
    gov.request_signoff(ref, case.gate, case.form, actor=OWNER)
    approve_all(gov, ref, case)
    assert option(gov, ref, case.trigger).allowed


# Regression: the expiry sweep and the gate once disagreed at the exact instant.
def test_expiry_is_consistent_at_the_exact_instant(gov: Engine, clock: ManualClock) -> None:
    ref = requested(gov, STAGE1)
    approve_all(gov, ref, STAGE1)
    clock.set(latest(gov, ref, STAGE1).valid_until or clock.now())
    assert not option(gov, ref, "start_testing").allowed
    assert [p.ref for p in gov.expire_signoffs()] == [ref]


# Regression: an expired round behind a pending one was once swept forever.
def test_expiry_behind_a_pending_round_is_swept_once(gov: Engine, clock: ManualClock) -> None:
    ref = requested(gov, STAGE1)
    approve_all(gov, ref, STAGE1)
    clock.advance(days=300)
    gov.request_signoff(ref, "qeia", LOW_RISK, actor=OWNER)  # a re-screening, pending
    clock.advance(days=100)  # the first approval has run out
    gov.expire_signoffs()
    assert gov.expire_signoffs() == []
    assert gov.signoffs(ref)[0].status != "passed"


# QEIA scoring --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("impact", "likelihood", "risk", "months"),
    [(2, 4, "low", 12), (3, 3, "high", 6), (3, 4, "high", 6), (3, 5, "extreme", 3),
     (5, 5, "extreme", 3)],
)  # fmt: skip
def test_risk_level_sets_the_review_date_from_the_approval(
    gov: Engine, clock: ManualClock, impact: int, likelihood: int, risk: str, months: int
) -> None:
    case = STAGE2 if impact * likelihood > 8 else STAGE1
    ref = at_gate(gov, case)
    gov.request_signoff(ref, "qeia", stage2_form(impact, likelihood, case is STAGE2), actor=OWNER)
    signoff = latest(gov, ref, case)
    assert (signoff.stage, signoff.summary["risk"]) == (case.stage, risk)
    assert signoff.summary["max_score"] == impact * likelihood
    for person, _role in case.approvers:
        clock.advance(days=3)
        gov.decide_signoff(ref, "qeia", actor=person, approve=True)
    assert latest(gov, ref, case).valid_until == months_after(clock.now(), months)


def scores(domain: str, entry: dict[str, Any] | None) -> dict[str, Any]:
    form: dict[str, Any] = copy.deepcopy(LOW_RISK)
    if entry is None:
        del form["scores"][domain]
    else:
        form["scores"][domain] = entry
    return form


@pytest.mark.parametrize(
    ("form", "match"),
    [
        (stage2_form(3, 3, full=False), "patient_safety score above 8: a stage 2 full assess"),
        (scores("parking", {"impact": 1, "likelihood": 1}), "unknown domain 'parking'"),
        (scores("finance", None), "finance: give impact and likelihood"),
        (scores("equality", {"impact": 0, "likelihood": 2}), "equality: impact and likelihood"),
        (scores("equality", {"impact": 2, "likelihood": 6}), "must each be 1 to 5"),
        (scores("equality", {"impact": True, "likelihood": 2}), "must each be 1 to 5"),
        (scores("equality", {"impact": "3", "likelihood": 2}), "must each be 1 to 5"),
        ({}, r"needs a \[scores\] table"),
    ],
    ids=["needs-stage2", "unknown", "missing", "zero", "six", "bool", "text", "no-scores"],
)
def test_an_invalid_qeia_form_writes_nothing(gov: Engine, form: dict[str, Any], match: str) -> None:
    ref = at_gate(gov, STAGE1)
    before, history = gov.get(ref), gov.history(ref)
    with pytest.raises(ValidationError, match=match):
        gov.request_signoff(ref, "qeia", form, actor=OWNER)
    assert (gov.signoffs(ref), gov.get(ref), gov.history(ref)) == ([], before, history)


def test_available_triggers_says_exactly_what_is_awaited(gov: Engine) -> None:
    ref = requested(gov, STAGE2)
    awaited = "QEIA stage 2: awaiting medical_director, director_of_nursing"
    assert option(gov, ref, "start_testing").reasons == (awaited,)
    assert gov.gate_status(ref) == {"qeia": [awaited]}
    gov.decide_signoff(ref, "qeia", actor="md", approve=True)
    after_md = ("QEIA stage 2: awaiting director_of_nursing",)
    assert option(gov, ref, "start_testing").reasons == after_md


def test_spread_needs_a_screening_made_after_adoption(gov: Engine, clock: ManualClock) -> None:
    project = helpers.study_cycle(gov, helpers.to_pdsa_testing(gov, helpers.new_project(gov)))
    clock.advance(days=1)
    gov.fire(project.ref, "adopt", actor=OWNER)
    blocked = option(gov, project.ref, "spread")
    assert not blocked.allowed
    assert blocked.reasons[0].startswith("QEIA: must be screened again before spread")
    with pytest.raises(GuardFailed, match="must be screened again"):
        gov.fire(project.ref, "spread", actor=OWNER)
    clock.advance(hours=1)
    helpers.pass_qeia(gov, project)
    assert gov.fire(project.ref, "spread", actor=OWNER).state == "spreading"


# Regression: "screened since adoption" was once decided by timestamp, so a tie counted.
def test_spread_is_blocked_by_a_screening_from_before_adoption(gov: Engine) -> None:
    project = helpers.drive_to(gov, "adopted")  # its only QEIA was for start_testing, before adopt
    assert not option(gov, project.ref, "spread").allowed


# wrong role, missing role, self-approval, two roles, delegation --------------------------


@CASES
def test_a_wrong_role_is_refused_and_recorded(gov: Engine, case: Case) -> None:
    ref = requested(gov, case)
    first, role = case.approvers[0]
    name = next(p.name for p in PEOPLE if p.id == first)
    assert_refused(gov, ref, case, case.outsider, "holds none of the roles")
    assert_refused(gov, ref, case, name, "holds none of the roles")  # bound by id, not name
    assert_refused(gov, ref, case, first, "is not decided by", role="owner")
    assert_refused(gov, ref, case, case.outsider, "does not hold the role", role=role)
    assert latest(gov, ref, case).decisions == ()
    assert len(events(gov, ref, "signoff.refused")) == 4
    approve_all(gov, ref, case)
    assert option(gov, ref, case.trigger).allowed


@CASES
def test_a_missing_role_keeps_the_gate_pending(gov: Engine, case: Case) -> None:
    ref = at_gate(gov, case)
    gov.import_people([Person(id="x", name="X")], actor="admin", replace=True)  # nobody left
    gov.request_signoff(ref, case.gate, case.form, actor=OWNER)
    for person, _role in case.approvers:
        assert_refused(gov, ref, case, person, "holds none of the roles")
    awaited = f"{case.stage}: awaiting {', '.join(case.roles)}"
    assert option(gov, ref, case.trigger).reasons == (awaited,)
    assert latest(gov, ref, case).status == "pending"


@CASES
@pytest.mark.parametrize("who", [OWNER, REQUESTER])
def test_self_approval_is_refused_and_recorded(gov: Engine, case: Case, who: str) -> None:
    ref = requested(gov, case, actor=REQUESTER)
    match = "owns the project" if who == OWNER else "requested this"
    assert_refused(gov, ref, case, who, match)
    assert_refused(gov, ref, case, who, match, role=case.approvers[0][1])
    with pytest.raises(PermissionDenied, match=match):
        gov.decide_signoff(ref, case.gate, actor=who, approve=False, comment="No")
    assert latest(gov, ref, case).decisions == ()
    assert len(events(gov, ref, "signoff.refused")) == 3


@ALL_OF
@pytest.mark.parametrize("who", ["both", "dep"])  # holds both roles; deputy for both holders
def test_one_person_cannot_fill_two_roles(gov: Engine, case: Case, who: str) -> None:
    ref = requested(gov, case)
    (first, first_role), (second, second_role) = case.approvers

    def on_behalf(person: str) -> dict[str, Any]:
        return {"on_behalf_of": person} if who == "dep" else {}

    gov.decide_signoff(ref, case.gate, actor=who, approve=True, **on_behalf(first))
    assert latest(gov, ref, case).awaiting == (second_role,)
    assert_refused(gov, ref, case, who, "cannot fill two required roles", **on_behalf(second))
    assert_refused(gov, ref, case, who, "cannot fill two", role=second_role, **on_behalf(second))
    assert events(gov, ref, "gate.passed") == []
    gov.decide_signoff(ref, case.gate, actor=second, approve=True)
    assert [d.role for d in latest(gov, ref, case).decisions] == [first_role, second_role]
    assert len(events(gov, ref, "gate.passed")) == 1


@CASES
def test_a_deputy_decision_records_who_delegated(gov: Engine, case: Case) -> None:
    ref = requested(gov, case)
    principal, role = case.approvers[0]
    assert_refused(gov, ref, case, case.rival, "not a recorded deputy", on_behalf_of=principal)
    assert events(gov, ref, "signoff.refused")[-1].payload["delegated_by"] == principal
    gov.decide_signoff(ref, case.gate, actor="dep", on_behalf_of=principal, approve=True)
    [decision] = latest(gov, ref, case).decisions
    assert (decision.approver, decision.delegated_by, decision.role) == ("dep", principal, role)
    [event] = events(gov, ref, "signoff.decided")
    assert event.actor == "dep"
    assert (event.payload["approver"], event.payload["delegated_by"]) == ("dep", principal)
    for person, _role in case.approvers[1:]:
        gov.decide_signoff(ref, case.gate, actor=person, approve=True)
    assert option(gov, ref, case.trigger).allowed


# two approvers at the same moment -------------------------------------------------------


@ALL_OF
def test_two_roles_decided_at_the_same_moment_pass_the_gate_once(gov: Engine, case: Case) -> None:
    for _ in range(3):
        ref = requested(gov, case)
        decide = partial(gov.decide_signoff, ref, case.gate, approve=True)
        results = race(*(partial(decide, actor=person) for person, _role in case.approvers))
        assert all(isinstance(r, Project) for r in results), results
        assert len(events(gov, ref, "gate.passed")) == 1
        signoff = latest(gov, ref, case)
        assert signoff.status == "passed"
        assert sorted(d.role for d in signoff.decisions) == sorted(case.roles)
        assert option(gov, ref, case.trigger).allowed
    assert gov.verify_audit() == []


@CASES
def test_one_role_decided_twice_at_the_same_moment_has_one_winner(gov: Engine, case: Case) -> None:
    for _ in range(3):
        ref = requested(gov, case)
        role = case.approvers[0][1]
        decide = partial(gov.decide_signoff, ref, case.gate, role=role, approve=True)
        results = race(*(partial(decide, actor=p) for p in (case.approvers[0][0], case.rival)))
        [lost] = [r for r in results if not isinstance(r, Project)]
        assert isinstance(lost, PermissionDenied | ValidationError), results
        refusals = len(events(gov, ref, "signoff.refused"))
        assert refusals == (1 if isinstance(lost, PermissionDenied) else 0)
        assert [d.role for d in latest(gov, ref, case).decisions] == [role]
        assert [e.payload["role"] for e in events(gov, ref, "signoff.decided")] == [role]
        assert len(events(gov, ref, "gate.passed")) == (1 if case is STAGE1 else 0)
    assert gov.verify_audit() == []
