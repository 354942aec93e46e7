"""One ``transitions`` machine per workflow version, shared by every project on it.

transitions holds the graph and takes each step: it works out the destination
(``@previous`` is one conditional edge per state a project may return to) and runs
the transition's effects as its own ``after`` callbacks, in the order the workflow
lists them. It never holds projects: a project is bound to the machine only for one
step, through a throwaway binding, so engine memory does not grow with the number
of projects and ``Machine.add_model`` (a list scan) is never called.

transitions also chooses which automatic transition fires (:meth:`LifecycleMachine.due`):
each transition with an ``on`` event is an internal transition of one hidden trigger,
added in file order, and transitions tries them in that order, taking the first whose
conditions (its event happened, it may return where it would go, its rules pass) hold.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from transitions import EventData, Machine, MachineError

from qiflow.workflow.definition import PREVIOUS, TransitionDef, Workflow

#: The hidden trigger under which automatic transitions are chosen (no workflow trigger
#: can be named so: workflow names and triggers are identifiers).
_AUTOMATIC = "qiflow:automatic"

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


@dataclass
class _Choice:
    """The context of choosing an automatic transition: what happened, what is allowed,
    and (once transitions has chosen) the transition."""

    keys: Collection[str]
    allowed: Callable[[TransitionDef], bool]
    chosen: TransitionDef | None = None


def _automatic(transition: TransitionDef) -> dict[str, Any]:
    """``transition`` as a candidate of the hidden automatic trigger."""

    def due(event: EventData) -> bool:
        binding = cast(_Binding, event.model)
        choice = cast(_Choice, binding.context)
        if transition.on not in choice.keys:
            return False
        if transition.dest == PREVIOUS and binding.previous is None:
            return False
        return choice.allowed(transition)

    def choose(event: EventData) -> None:
        cast(_Choice, cast(_Binding, event.model).context).chosen = transition

    due.__name__ = f"due_{transition.trigger}"
    return {"trigger": _AUTOMATIC, "dest": None, "conditions": [due], "after": [choose]}


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
        #: Per state, the ``on`` events that may set off an automatic transition from it.
        self._awaits: dict[str, frozenset[str]] = {}
        for t in workflow.transitions:
            if t.on is not None:
                transitions.extend({**_automatic(t), "source": source} for source in t.sources)
                for source in t.sources:
                    self._awaits[source] = self._awaits.get(source, frozenset()) | {t.on}
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
        return [t for t in self._machine.get_triggers(state) if t != _AUTOMATIC]

    def due(
        self,
        state: str,
        previous: str | None,
        keys: Collection[str],
        allowed: Callable[[TransitionDef], bool],
    ) -> TransitionDef | None:
        """The automatic transition that ``keys`` (the events just produced) set off from
        ``state``: the first in file order whose event happened and which ``allowed``."""
        if self._awaits.get(state, frozenset()).isdisjoint(keys):
            return None  # the common case, decided without asking the machine
        choice = _Choice(keys, allowed)
        self._machine.events[_AUTOMATIC].trigger(_Binding(state, previous, choice))
        return choice.chosen

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
