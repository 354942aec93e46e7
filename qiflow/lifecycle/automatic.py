"""Automatic transitions: a transition whose ``on`` event a command produced fires by itself.

:meth:`qiflow.lifecycle.steps.Lifecycle.settle` asks, round by round, which transition is
due for the events produced since the last round, and fires it as the system.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from qiflow.snapshots import Project
from qiflow.store import NewEvent
from qiflow.workflow import PREVIOUS, TransitionDef, Workflow

#: A guard against workflows whose automatic transitions would trigger each other forever.
MAX_AUTOMATIC_STEPS = 16


def keys_of(events: Iterable[NewEvent]) -> set[str]:
    """What ``on`` may name: each event's type, ``type:gate`` for a gate's events, and
    ``measure.signal:kind`` (improvement, concern, neutral) for a measure's signal."""
    keys: set[str] = set()
    for event in events:
        keys.add(event.type)
        gate = event.payload.get("gate")
        if isinstance(gate, str):
            keys.add(f"{event.type}:{gate}")
        kind = event.payload.get("kind")
        if event.type == "measure.signal" and isinstance(kind, str):
            keys.add(f"{event.type}:{kind}")
    return keys


def first_due(
    workflow: Workflow,
    project: Project,
    keys: set[str],
    allowed: Callable[[TransitionDef], bool],
) -> TransitionDef | None:
    """The first transition from the project's state that ``keys`` set off and may fire."""
    for transition in workflow.transitions_from(project.state):
        if transition.on not in keys:
            continue
        if transition.dest == PREVIOUS and project.previous_state is None:
            continue
        if allowed(transition):
            return transition
    return None
