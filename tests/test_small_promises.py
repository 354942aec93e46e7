"""Issue 8, bug 7: the first projects created at once, a loop of automatic transitions, and
escalation asking the configured gate."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qiflow import Engine, ManualClock, WorkflowDefinitionError
from qiflow.builtin.qeia import Qeia
from qiflow.governance.escalation import FULL_QEIA_ROLES, full_qeia
from qiflow.snapshots import Decision, Signoff

LOOP = """\
name = "loop"
version = 1

[[states]]
name = "a"
initial = true

[[states]]
name = "b"

[[transitions]]
trigger = "go"
source = "a"
dest = "b"

[[transitions]]
trigger = "back"
source = "b"
dest = "a"
on = "project.transitioned"

[[transitions]]
trigger = "forth"
source = "a"
dest = "b"
on = "project.transitioned"
"""


def test_the_first_projects_created_at_once_all_get_a_reference(db_url: str) -> None:
    """The reference counter was created by the first project: two first creations at
    once both inserted it, and one failed."""
    threads, made, errors = 6, [], []
    start = threading.Barrier(threads)
    with Engine(db_url) as engine:

        def create(i: int) -> None:
            start.wait()
            try:
                made.append(engine.create_project(f"Project {i}", actor="olivia").ref)
            except Exception as exc:  # surfaced below
                errors.append(exc)

        workers = [threading.Thread(target=create, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert errors == []
    assert sorted(made) == [f"QI-{n:04d}" for n in range(1, threads + 1)]


def test_automatic_transitions_past_the_step_limit_raise_and_save_nothing(
    db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "loop.toml").write_text(LOOP)
    with Engine(db_url, workflows_dir=folder, clock=ManualClock()) as engine:
        project = engine.create_project("Loop", actor="olivia", workflow="loop")
        with pytest.raises(WorkflowDefinitionError, match="automatic transitions fired 16 times"):
            engine.fire(project.ref, "go", actor="olivia")
        after = engine.get(project.ref)
        assert (after.state, after.version) == ("a", project.version)
        assert [e.type for e in engine.history(project.ref)] == ["project.created"]


class FullReview:
    """A full-assessment gate of another name than the QEIA's."""

    def full_assessment(self, signoff: Signoff, config: Mapping[str, Any]) -> bool:
        return signoff.stage == "Full review"


def _signoff(stage: str) -> Signoff:
    at = datetime(2027, 1, 4, tzinfo=UTC)
    return Signoff(
        id=1,
        project_id="p",
        gate="full_review",
        round=1,
        stage=stage,
        status="passed",
        form={},
        summary={},
        roles=FULL_QEIA_ROLES,
        mode="all",
        valid_for=None,
        requested_by="olivia",
        requested_at=at,
        requested_version=1,
        decided_at=at,
        valid_until=None,
        reason=None,
        decisions=tuple(
            Decision(role, role, None, "approve", None, at) for role in FULL_QEIA_ROLES
        ),
    )


def test_escalation_asks_the_configured_gate_what_a_full_assessment_is() -> None:
    """Escalation compared stages with the literal "QEIA stage 2": a workflow naming
    another full-assessment gate could never grant programme status."""
    now = datetime(2027, 1, 5, tzinfo=UTC)
    assert full_qeia(_signoff("Full review"), now, FullReview(), {})
    assert not full_qeia(_signoff("Screening"), now, FullReview(), {})
    assert full_qeia(_signoff("QEIA stage 2"), now)  # the QEIA, when no gate says


def test_the_qeia_gate_says_where_its_extreme_band_starts() -> None:
    assert Qeia().extreme_score({"bands": {"extreme": 20, "high": 9}}) == 20
    assert Qeia().extreme_score({}) == 15
