"""Effects a workflow transition may name (``effects = [...]``), applied in the order listed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qiflow.lifecycle import ideas
from qiflow.lifecycle.draft import Draft
from qiflow.store import Tx

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
