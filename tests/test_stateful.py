"""Random command sequences against a simple model of the default lifecycle.

After every step the engine agrees with the model; at the end every project's
events replay to its row and every hash chain verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from qiflow import (
    Engine,
    GuardFailed,
    InvalidTransition,
    ManualClock,
    PermissionDenied,
    ValidationError,
)
from qiflow.durations import parse_duration
from qiflow.replay import replay
from tests.helpers import BASELINE, IMPROVED, LOW_RISK, weekly_csv

# The simple model: trigger -> (sources, destination); None means "back to previous".
ACTIVE = ["idea", "diagnosis", "measurement_plan", "pdsa_testing", "adopted", "spreading"]
GRAPH: dict[str, tuple[list[str], str | None]] = {
    "diagnose": (["idea"], "diagnosis"),
    "plan_measurement": (["diagnosis"], "measurement_plan"),
    "start_testing": (["measurement_plan"], "pdsa_testing"),
    "adopt": (["pdsa_testing"], "adopted"),
    "adapt": (["pdsa_testing"], "pdsa_testing"),
    "abandon": (["pdsa_testing"], "abandoned"),
    "spread": (["adopted"], "spreading"),
    "sustain": (["spreading"], "sustained"),
    "pause": (ACTIVE, "on_hold"),
    "resume": (["on_hold"], None),
}
# Who may fire each trigger (owner / sponsor; nobody holds qi_lead in these runs).
ALLOWED: dict[str, set[str]] = {t: {"owner", "sponsor"} for t in GRAPH}
ALLOWED.update({t: {"owner"} for t in ("plan_measurement", "start_testing", "adapt")})
ALLOWED["sustain"] = {"sponsor"}
OWNER, SPONSOR, STRANGER = "olivia", "sam", "mallory"


@dataclass
class Model:
    state: str = "idea"
    previous: str | None = None
    version: int = 1
    cycle: int = 0
    sponsor: bool = False
    aim: bool = False
    quality: bool = False
    learning: bool = False
    outcome: bool = False
    balancing: bool = False
    closed: bool = False
    idea: bool = False  # the driver diagram has a change idea (C1)
    risks_assessed: bool = False
    improved: bool = False  # the primary outcome measure shows a sustained improvement
    cycles: dict[int, set[str]] = field(default_factory=dict)
    entered_version: int = 1  # the version at which the project entered its state
    qeia_at: datetime | None = None  # when the last QEIA passed (requested and approved)
    qeia_requested_version: int = 0
    qeia_until: datetime | None = None

    def qeia_valid(self, now: datetime, fresh: bool) -> bool:
        """A passed, unexpired QEIA; ``fresh``: screened since entering the state."""
        if self.qeia_at is None or self.qeia_until is None or now >= self.qeia_until:
            return False
        return not fresh or self.qeia_requested_version > self.entered_version

    @property
    def recorded(self) -> set[str]:
        """What the cycle now being recorded has (cycle 1 is planned before testing)."""
        return self.cycles.setdefault(max(self.cycle, 1), set())

    def unmet(self, trigger: str, now: datetime) -> bool:
        if trigger == "diagnose":
            return not self.sponsor
        if trigger == "plan_measurement":
            return not (self.sponsor and self.aim and self.quality and self.idea)
        if trigger == "start_testing":
            return not (
                self.aim
                and self.quality
                and self.outcome
                and self.balancing
                and self.risks_assessed
                and self.qeia_valid(now, fresh=False)
                and "tests" in self.recorded
            )
        if trigger == "spread":
            return not self.qeia_valid(now, fresh=True)
        if trigger == "sustain":
            return not self.improved
        studied = self.cycle >= 1 and {"prediction", "study"} <= self.recorded
        if trigger == "adopt":
            return not (studied and "tests" in self.recorded)
        if trigger == "adapt":
            return not studied
        if trigger == "abandon":
            return not (studied and self.learning)
        return False


class LifecycleMachine(RuleBasedStateMachine):
    make_database: Callable[[], str]

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.engine = Engine(self.make_database(), clock=self.clock)
        self.models: dict[str, Model] = {}

    projects = Bundle("projects")

    @rule(target=projects, with_sponsor=st.booleans())
    def create(self, with_sponsor: bool) -> str:
        extra = {"sponsor": SPONSOR} if with_sponsor else {}
        project = self.engine.create_project("P", actor=OWNER, owner=OWNER, **extra)
        self.models[project.ref] = Model(sponsor=with_sponsor)
        return project.ref

    @rule(
        ref=projects,
        trigger=st.sampled_from(sorted(GRAPH)),
        actor=st.sampled_from([OWNER, SPONSOR, STRANGER]),
    )
    def fire(self, ref: str, trigger: str, actor: str) -> None:
        model = self.models[ref]
        sources, dest = GRAPH[trigger]
        if model.state not in sources:
            with pytest.raises(InvalidTransition):
                self.engine.fire(ref, trigger, actor=actor)
            return
        roles = {OWNER: {"owner"}, SPONSOR: {"sponsor"} if model.sponsor else set()}.get(
            actor, set()
        )
        if not roles & ALLOWED[trigger]:
            with pytest.raises(PermissionDenied):
                self.engine.fire(ref, trigger, actor=actor)
            return
        if model.unmet(trigger, self.clock.now()):
            with pytest.raises(GuardFailed):
                self.engine.fire(ref, trigger, actor=actor)
            return
        self.engine.fire(ref, trigger, actor=actor)
        target = model.previous if dest is None else dest
        assert target is not None
        if trigger in ("adopt", "abandon"):
            model.closed = True
        if trigger in ("start_testing", "adapt"):
            model.cycle += 1
        model.previous, model.state = model.state, target
        model.version += 1
        model.entered_version = model.version
        event(f"reached {target}")

    @rule(ref=projects)
    def pass_qeia(self, ref: str) -> None:
        """Owner requests a low-risk screening; the sponsor (if any) approves it."""
        model = self.models[ref]
        self.engine.request_signoff(ref, "qeia", LOW_RISK, actor=OWNER)
        model.version += 1
        # the new round is now the project's assessment: nothing passed until it is approved
        model.qeia_at = model.qeia_until = None
        requested_version = model.version
        if not model.sponsor:
            with pytest.raises(PermissionDenied, match="holds none of the roles"):
                self.engine.decide_signoff(ref, "qeia", actor=SPONSOR, approve=True)
            model.version += 1  # the refusal is recorded in the audit trail
            return
        self.engine.decide_signoff(ref, "qeia", actor=SPONSOR, approve=True)
        model.version += 1
        model.qeia_at = self.clock.now()
        model.qeia_until = parse_duration("P12M").after(model.qeia_at)
        model.qeia_requested_version = requested_version

    @rule(ref=projects, name=st.sampled_from(["sponsor", "aim", "quality", "learning"]))
    def update(self, ref: str, name: str) -> None:
        model = self.models[ref]
        values = {
            "sponsor": {"sponsor": SPONSOR},
            "aim": {"aim": "An aim"},
            "quality": {"quality_objectives": ["Safer care"]},
            "learning": {"learning": "Learned"},
        }[name]
        before = getattr(model, name)
        self.engine.update_project(ref, actor=OWNER, **values)  # type: ignore[arg-type]
        if not before:
            setattr(model, name, True)
            model.version += 1

    @rule(ref=projects, kind=st.sampled_from(["outcome", "balancing", "process"]))
    def add_measure(self, ref: str, kind: str) -> None:
        model = self.models[ref]
        name = f"{kind} measure"
        exists = kind != "process" and getattr(model, kind)
        if exists:
            with pytest.raises(ValidationError, match="already has"):
                self.engine.add_measure(
                    ref, name, kind=kind, unit="n", direction="increase", actor=OWNER
                )
            return
        try:
            self.engine.add_measure(
                ref, name, kind=kind, unit="n", direction="increase", actor=OWNER
            )
        except ValidationError:
            assert kind == "process"  # the second process measure of the same name
            return
        if kind != "process":
            setattr(model, kind, True)
        model.version += 1

    @rule(ref=projects)
    def show_improvement(self, ref: str) -> None:
        """The outcome measure becomes primary and shows an improvement that holds."""
        model = self.models[ref]
        if not model.outcome:
            with pytest.raises(ValidationError, match="has no measure"):
                self.engine.configure_measure(ref, "outcome measure", actor=OWNER, primary=True)
            return
        if model.improved:
            return
        self.engine.configure_measure(ref, "outcome measure", actor=OWNER, primary=True)
        rising = BASELINE + [40 - value for value in IMPROVED]  # higher is better here
        self.engine.import_data_points(ref, "outcome measure", weekly_csv(rising), actor=OWNER)
        model.improved = True
        model.version += 2

    @rule(ref=projects)
    def add_idea(self, ref: str) -> None:
        """A primary driver and change idea C1 under it (once)."""
        model = self.models[ref]
        if model.idea:
            return
        self.engine.add_driver(ref, "Driver", kind="primary", actor=OWNER)
        self.engine.add_driver(ref, "Idea", kind="idea", under="P1", actor=OWNER)
        model.idea = True
        model.version += 2

    @rule(ref=projects, part=st.sampled_from(["prediction", "study", "tests"]))
    def record_pdsa(self, ref: str, part: str) -> None:
        model = self.models[ref]
        given = {"tests": "C1"} if part == "tests" else {part: "text"}
        if model.closed:
            with pytest.raises(ValidationError, match="closed"):
                self.engine.record_pdsa(ref, actor=OWNER, **given)  # type: ignore[arg-type]
            return
        if part == "tests" and not model.idea:
            with pytest.raises(ValidationError, match="no node 'C1'"):
                self.engine.record_pdsa(ref, actor=OWNER, **given)  # type: ignore[arg-type]
            return
        self.engine.record_pdsa(ref, actor=OWNER, **given)  # type: ignore[arg-type]
        model.recorded.add(part)
        model.version += 1

    @rule(
        ref=projects,
        steps=st.integers(min_value=1, max_value=12),
        decision=st.sampled_from(["adopt", "adapt", "abandon"]),
    )
    def advance(self, ref: str, steps: int, decision: str) -> None:
        """Take steps along the happy path, so random runs reach the deep states."""
        for _ in range(steps):
            self._next_step(ref, decision)

    def _next_step(self, ref: str, decision: str) -> None:
        model = self.models[ref]
        for missing, step in (
            (not model.sponsor, lambda: self.update(ref, "sponsor")),
            (not model.aim, lambda: self.update(ref, "aim")),
            (not model.quality, lambda: self.update(ref, "quality")),
            (not model.outcome, lambda: self.add_measure(ref, "outcome")),
            (not model.balancing, lambda: self.add_measure(ref, "balancing")),
            (not model.idea, lambda: self.add_idea(ref)),
            (not model.risks_assessed, lambda: self.declare_no_risks(ref)),
            (decision == "abandon" and not model.learning, lambda: self.update(ref, "learning")),
        ):
            if missing:
                step()
                return
        now = self.clock.now()
        if (model.state == "measurement_plan" and not model.qeia_valid(now, fresh=False)) or (
            model.state == "adopted" and not model.qeia_valid(now, fresh=True)
        ):
            self.pass_qeia(ref)
            return
        if model.state in ("measurement_plan", "pdsa_testing") and "tests" not in model.recorded:
            self.record_pdsa(ref, "tests")
            return
        if model.state == "pdsa_testing":
            for part in ("prediction", "study"):
                if part not in model.recorded:
                    self.record_pdsa(ref, part)
                    return
        following = {
            "idea": "diagnose",
            "diagnosis": "plan_measurement",
            "on_hold": "resume",
            "measurement_plan": "start_testing",
            "pdsa_testing": decision,
            "adopted": "spread",
            "spreading": "sustain",
        }.get(model.state)
        if following is not None:
            self.fire(ref, following, SPONSOR if following == "sustain" else OWNER)

    @rule(ref=projects)
    def declare_no_risks(self, ref: str) -> None:
        """The owner's "no significant risks" (any number of times; each is an event)."""
        self.engine.declare_no_significant_risks(ref, actor=OWNER)
        model = self.models[ref]
        model.risks_assessed = True
        model.version += 1

    @rule(days=st.integers(min_value=0, max_value=40))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)

    @invariant()
    def engine_agrees_with_model(self) -> None:
        for ref, model in self.models.items():
            project = self.engine.get(ref)
            assert (project.state, project.version, project.current_cycle) == (
                model.state,
                model.version,
                model.cycle,
            )

    def teardown(self) -> None:
        try:
            for ref in self.models:
                project = self.engine.get(ref)
                replayed = replay(self.engine.history(ref))
                assert replayed["state"] == project.state
                assert replayed["version"] == project.version
                assert replayed["next_review_at"] == project.next_review_at
            assert self.engine.verify_audit() == []
        finally:
            self.engine.close()


def test_random_command_sequences(fresh_database: Callable[[], str]) -> None:
    LifecycleMachine.make_database = staticmethod(fresh_database)  # type: ignore[assignment]
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
