"""One ``transitions`` machine per workflow version, shared by every project on it.

transitions defines and checks the graph; it never holds projects. A project is
bound to the machine only for the duration of one step, through a throwaway
binding object, so engine memory does not grow with the number of projects and
``Machine.add_model`` (a list scan) is never called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transitions import Machine, MachineError

from qiflow.workflow.definition import PREVIOUS, Workflow


@dataclass
class _Binding:
    """The minimal model transitions needs: a ``state`` attribute, plus context."""

    state: str
    previous: str | None


def _returns_to(target: str) -> Any:
    def condition(event: Any) -> bool:
        return bool(event.model.previous == target)

    condition.__name__ = f"returns_to_{target}"
    return condition


class LifecycleMachine:
    """Steps projects of one workflow version through its graph."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        names = [s.name for s in workflow.states]
        transitions: list[dict[str, Any]] = []
        for t in workflow.transitions:
            for source in t.sources:
                if t.dest == PREVIOUS:
                    for target in names:
                        if target != source and not workflow.state(target).final:
                            transitions.append(
                                {
                                    "trigger": t.trigger,
                                    "source": source,
                                    "dest": target,
                                    "conditions": [_returns_to(target)],
                                }
                            )
                else:
                    transitions.append({"trigger": t.trigger, "source": source, "dest": t.dest})
        self._machine = Machine(
            model=None,
            states=[{"name": s.name, "final": s.final} for s in workflow.states],
            transitions=transitions,
            initial=workflow.initial.name,
            auto_transitions=False,
            send_event=True,
        )

    def triggers_from(self, state: str) -> list[str]:
        return list(self._machine.get_triggers(state))

    def step(self, state: str, trigger: str, previous: str | None) -> str | None:
        """Return the state ``trigger`` leads to from ``state``, or None if it cannot fire."""
        event = self._machine.events.get(trigger)
        if event is None:
            return None
        binding = _Binding(state=state, previous=previous)
        try:
            moved = event.trigger(binding)
        except MachineError:
            return None
        return binding.state if moved else None
