"""The workflow's transitions machine takes each step: destination and effects."""

from __future__ import annotations

from typing import Any

import pytest

from qiflow.lifecycle.vocabulary import vocabulary
from qiflow.plugins import get_plugin_manager
from qiflow.workflow import Workflow, load_file
from qiflow.workflow.catalog import default_workflows_dir
from qiflow.workflow.machine import LifecycleMachine


@pytest.fixture(scope="module")
def workflow() -> Workflow:
    found, problems = load_file(
        default_workflows_dir() / "qi_project.toml", vocabulary(get_plugin_manager())
    )
    assert found is not None, problems
    return found


def recorder(calls: list[tuple[str, Any, str]]) -> dict[str, Any]:
    def effect(name: str) -> Any:
        return lambda context, trigger: calls.append((name, context, trigger))

    return {name: effect(name) for name in ("record_act_decision", "start_pdsa_cycle")}


def test_taking_a_step_runs_its_effects_in_the_listed_order(workflow: Workflow) -> None:
    calls: list[tuple[str, Any, str]] = []
    machine = LifecycleMachine(workflow, recorder(calls))
    context = object()
    assert machine.take("pdsa_testing", "adapt", "measurement_plan", context) == "pdsa_testing"
    assert calls == [
        ("record_act_decision", context, "adapt"),
        ("start_pdsa_cycle", context, "adapt"),
    ]


def test_looking_up_a_destination_runs_no_effect(workflow: Workflow) -> None:
    calls: list[tuple[str, Any, str]] = []
    machine = LifecycleMachine(workflow, recorder(calls))
    assert machine.step("pdsa_testing", "adopt", "measurement_plan") == "adopted"
    assert calls == []


def test_a_step_that_cannot_be_taken_runs_no_effect(workflow: Workflow) -> None:
    calls: list[tuple[str, Any, str]] = []
    machine = LifecycleMachine(workflow, recorder(calls))
    assert machine.take("idea", "adopt", None, object()) is None
    assert machine.take("idea", "no_such_trigger", None, object()) is None
    assert calls == []


@pytest.mark.parametrize("previous", ["diagnosis", "pdsa_testing"])
def test_resume_returns_to_the_state_the_project_left(workflow: Workflow, previous: str) -> None:
    machine = LifecycleMachine(workflow, recorder([]))
    assert machine.take("on_hold", "resume", previous, object()) == previous


def test_resume_without_a_previous_state_cannot_be_taken(workflow: Workflow) -> None:
    assert LifecycleMachine(workflow).take("on_hold", "resume", None, object()) is None


def automatic_workflow() -> Workflow:
    """Two automatic transitions set off by the same event from ``waiting``, in this order,
    and one back to wherever the project was."""
    from qiflow.workflow import PREVIOUS, StateDef, TransitionDef

    return Workflow(
        name="auto",
        version=1,
        title="Automatic",
        states=(
            StateDef("waiting", initial=True),
            StateDef("first"),
            StateDef("second"),
            StateDef("done", final=True),
        ),
        transitions=(
            TransitionDef("go_first", ("waiting",), "first", on="signal"),
            TransitionDef("go_second", ("waiting",), "second", on="signal"),
            TransitionDef("back", ("first", "second"), PREVIOUS, on="undo"),
            TransitionDef("finish", ("first",), "done"),
        ),
    )


def test_the_machine_chooses_the_first_due_automatic_transition_in_file_order() -> None:
    machine = LifecycleMachine(automatic_workflow(), {})
    asked: list[str] = []

    def allow_all(transition: Any) -> bool:
        asked.append(transition.trigger)
        return True

    due = machine.due("waiting", None, {"signal"}, allow_all)
    assert due is not None
    assert due.trigger == "go_first"
    assert asked == ["go_first"]  # the second candidate is never asked about


def test_a_refused_automatic_transition_gives_way_to_the_next() -> None:
    machine = LifecycleMachine(automatic_workflow(), {})
    due = machine.due("waiting", None, {"signal"}, lambda t: t.trigger != "go_first")
    assert due is not None
    assert due.trigger == "go_second"
    assert machine.due("waiting", None, {"signal"}, lambda t: False) is None


def test_no_automatic_transition_without_its_event_or_a_place_to_return_to() -> None:
    machine = LifecycleMachine(automatic_workflow(), {})
    assert machine.due("waiting", None, {"other"}, lambda t: True) is None
    assert machine.due("first", None, {"undo"}, lambda t: True) is None
    back = machine.due("first", "waiting", {"undo"}, lambda t: True)
    assert back is not None
    assert back.trigger == "back"


def test_the_hidden_automatic_trigger_is_not_offered() -> None:
    machine = LifecycleMachine(automatic_workflow(), {})
    assert machine.triggers_from("waiting") == ["go_first", "go_second"]
    assert machine.triggers_from("first") == ["back", "finish"]
