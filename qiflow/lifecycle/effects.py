"""Effects a workflow transition may name (``effects = [...]``).

The workflow's ``transitions`` machine runs them, as its ``after`` callbacks, in the order
the transition lists them, when :meth:`~qiflow.lifecycle.steps.Lifecycle.fire` takes the
step (:meth:`~qiflow.workflow.machine.LifecycleMachine.take`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qiflow.lifecycle import ideas
from qiflow.lifecycle.draft import Draft
from qiflow.store import Tx
from qiflow.workflow.machine import Callback

#: An effect changes the draft (and its records) and returns what the event should say.
Effect = Callable[[Draft, Tx, str], dict[str, Any]]


def start_pdsa_cycle(draft: Draft, tx: Tx, trigger: str) -> dict[str, Any]:
    number = draft.values["current_cycle"] + 1
    tx.records.save_cycle(draft.values["id"], number, {})
    draft.set(current_cycle=number)
    return {"cycle": number}


def record_act_decision(draft: Draft, tx: Tx, trigger: str) -> dict[str, Any]:
    """Close the current cycle with ``trigger``; the change ideas it tested take its status."""
    number = draft.values["current_cycle"]
    tx.records.save_cycle(draft.values["id"], number, {"act": trigger})
    ideas.decide(draft, tx, number, trigger)
    return {"decision": trigger, "decided_cycle": number}


EFFECTS: dict[str, Effect] = {
    "record_act_decision": record_act_decision,
    "start_pdsa_cycle": start_pdsa_cycle,
}


@dataclass
class Step:
    """One step being taken: what its effects work on, and what they report."""

    draft: Draft
    tx: Tx
    #: What the effects add to the step's ``project.transitioned`` event.
    said: dict[str, Any] = field(default_factory=dict)


def callbacks() -> dict[str, Callback]:
    """Every effect as the workflow machines run it (on a :class:`Step`)."""

    def as_callback(effect: Effect) -> Callback:
        def run(step: Step, trigger: str) -> None:
            step.said.update(effect(step.draft, step.tx, trigger))

        return run

    return {name: as_callback(effect) for name, effect in EFFECTS.items()}
