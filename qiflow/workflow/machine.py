"""One ``transitions`` machine per workflow version, shared by every project on it.

transitions holds the graph and takes each step: it works out the destination
(``@previous`` is one conditional edge per state a project may return to) and runs
the transition's effects as its own ``after`` callbacks, in the order the workflow
lists them. It never holds projects: a project is bound to the machine only for one
step, through a throwaway binding, so engine memory does not grow with the number
of projects and ``Machine.add_model`` (a list scan) is never called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from transitions import EventData, Machine, MachineError

from qiflow.workflow.definition import PREVIOUS, Workflow

#: An effect as the machine runs it: on the context given to :meth:`LifecycleMachine.take`,
#: with the trigger. (transitions itself stays behind this module.)
Callback = Callable[[Any, str], None]


@dataclass
class _Binding:
    """The minimal model transitions needs: a ``state`` attribute, plus context."""

    state: str
    previous: str | None
    #: What the effects work on; None when only the destination is asked for.
    context: Any = None


def _returns_to(target: str) -> Any:
    def condition(event: EventData) -> bool:
        return cast(_Binding, event.model).previous == target

    condition.__name__ = f"returns_to_{target}"
    return condition


def _only_when_taken(callback: Callback) -> Callable[[EventData], None]:
    """Run an effect when a step is taken, not when its destination is only looked up."""

    def run(event: EventData) -> None:
        context = cast(_Binding, event.model).context
        if context is not None:
            callback(context, event.event.name)

    return run


class LifecycleMachine:
    """Steps projects of one workflow version through its graph."""

    def __init__(self, workflow: Workflow, effects: Mapping[str, Callback] | None = None) -> None:
        """``effects`` by name; without them (drawing, checking) no effect is ever run."""
        self.workflow = workflow
        names = [s.name for s in workflow.states]
        transitions: list[dict[str, Any]] = []
        for t in workflow.transitions:
            after = (
                [_only_when_taken(effects[name]) for name in t.effects]
                if effects is not None
                else []
            )
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
                                    "after": after,
                                }
                            )
                else:
                    transitions.append(
                        {"trigger": t.trigger, "source": source, "dest": t.dest, "after": after}
                    )
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
        """The state ``trigger`` leads to from ``state``, or None if it cannot fire.

        Nothing else happens: no effect runs.
        """
        return self.take(state, trigger, previous, None)

    def take(self, state: str, trigger: str, previous: str | None, context: Any) -> str | None:
        """Take the step: the destination, after the transition's effects ran on ``context``.

        None (and no effect) if ``trigger`` cannot fire from ``state``.
        """
        event = self._machine.events.get(trigger)
        if event is None:
            return None
        binding = _Binding(state=state, previous=previous, context=context)
        try:
            moved = event.trigger(binding)
        except MachineError:
            return None
        return binding.state if moved else None
