"""A workflow can fire a transition by itself when a gate passes."""

from __future__ import annotations

from pathlib import Path

from qiflow import Engine, ManualClock
from tests.helpers import LOW_RISK, OWNER, SPONSOR, new_project, to_measurement_plan

ROOT = Path(__file__).resolve().parents[1]
AUTO = """
[[transitions]]
trigger = "begin_when_cleared"
source = "measurement_plan"
dest = "pdsa_testing"
requires = ["aim_and_quality_objective_set", "outcome_and_balancing_measures"]
gates = ["qeia"]
effects = ["start_pdsa_cycle"]
on = "gate.passed:qeia"
"""


def test_gate_passed_fires_the_transition_that_waits_for_it(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    (tmp_path / "auto.toml").write_text((ROOT / "workflows" / "qi_project.toml").read_text() + AUTO)
    with Engine(db_url, clock=clock, workflows_dir=tmp_path) as engine:
        project = to_measurement_plan(engine, new_project(engine))
        engine.add_measure(
            project.ref, "Falls", kind="outcome", unit="n", direction="decrease", actor=OWNER
        )
        engine.add_measure(
            project.ref, "Staff time", kind="balancing", unit="h", direction="decrease", actor=OWNER
        )
        requested = engine.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)
        assert requested.state == "measurement_plan"  # requested is not passed
        cleared = engine.decide_signoff(project.ref, "qeia", actor=SPONSOR, approve=True)
        assert (cleared.state, cleared.current_cycle) == ("pdsa_testing", 1)
        events = engine.history(project.ref)[-3:]
        assert [e.type for e in events] == [
            "signoff.decided",
            "gate.passed",
            "project.transitioned",
        ]
        assert events[-1].payload["automatic"] is True
        assert events[-1].payload["trigger"] == "begin_when_cleared"
        assert {e.version for e in events} == {cleared.version}  # one command, one version
        assert engine.verify_audit() == []
