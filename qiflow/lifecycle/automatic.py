"""Automatic transitions: a transition whose ``on`` event a command produced fires by itself.

:meth:`qiflow.lifecycle.steps.Lifecycle.settle` asks, round by round, which transition is
due for the events produced since the last round (the workflow's ``transitions`` machine
chooses, :meth:`qiflow.workflow.machine.LifecycleMachine.due`), and fires it as the system.
"""

from __future__ import annotations

from collections.abc import Iterable

from qiflow.store import NewEvent

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
