"""Every (state, trigger) pair the default workflow does not allow is refused, changing nothing."""

from __future__ import annotations

import pytest

from qiflow import Engine, InvalidTransition
from qiflow.lifecycle.vocabulary import vocabulary
from qiflow.plugins import get_plugin_manager
from qiflow.workflow.catalog import default_workflows_dir
from qiflow.workflow.loader import load_file
from tests.helpers import OWNER, drive_to

WORKFLOW, _ = load_file(
    default_workflows_dir() / "qi_project.toml", vocabulary(get_plugin_manager())
)
assert WORKFLOW is not None
STATES = [state.name for state in WORKFLOW.states]
TRIGGERS = sorted({t.trigger for t in WORKFLOW.transitions} | {"no_such_trigger"})


@pytest.mark.parametrize("state", STATES)
def test_disallowed_triggers_are_refused_and_change_nothing(engine: Engine, state: str) -> None:
    project = drive_to(engine, state)
    assert project.state == state
    history = engine.history(project.ref)
    allowed = set(WORKFLOW.triggers_from(state))
    refused = [t for t in TRIGGERS if t not in allowed]
    assert refused, "every state refuses something"
    for trigger in refused:
        with pytest.raises(InvalidTransition) as caught:
            engine.fire(project.ref, trigger, actor=OWNER)
        assert set(caught.value.allowed) == allowed
        assert engine.get(project.ref) == project
    assert engine.history(project.ref) == history
    assert {o.trigger for o in engine.available_triggers(project.ref)} == allowed


def test_matrix_covers_every_state() -> None:
    assert set(STATES) == {
        "idea",
        "diagnosis",
        "measurement_plan",
        "pdsa_testing",
        "adopted",
        "spreading",
        "sustained",
        "abandoned",
        "on_hold",
    }
