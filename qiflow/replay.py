"""Rebuild a project's fields from its events alone.

The event table is the source of truth: folding a project's events must give
back the project row. ``qiflow audit verify`` uses this to catch a project row
changed behind the engine's back, and the tests use it on random histories.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from qiflow.snapshots import EDITABLE_FIELDS, LIST_FIELDS, Event, Project

#: The project fields that replaying its events reproduces.
REPLAYED_FIELDS: tuple[str, ...] = (
    *EDITABLE_FIELDS,
    "ref",
    "workflow",
    "workflow_version",
    "state",
    "previous_state",
    "version",
    "current_cycle",
    "next_review_at",
    "created_at",
    "updated_at",
    "programme_status",
    "state_entered_at",
    "state_entered_version",
    "fields",
    "withdrawn_at",
)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def replay(events: Iterable[Event]) -> dict[str, Any]:
    """Fold events (in position order) into the project fields they imply."""
    state: dict[str, Any] = {}
    for event in events:
        p = event.payload
        match event.type:
            case "project.created":
                state.update({name: p[name] for name in EDITABLE_FIELDS})
                state.update(
                    ref=p["ref"],
                    workflow=p["workflow"],
                    workflow_version=p["workflow_version"],
                    state=p["state"],
                    previous_state=None,
                    current_cycle=0,
                    next_review_at=_when(p["next_review_at"]),
                    created_at=event.created_at,
                    state_entered_at=event.created_at,
                    state_entered_version=1,
                    programme_status="none",
                    fields=dict(p.get("fields") or {}),
                    withdrawn_at=None,
                )
            case "project.updated":
                changes = dict(p["changes"])
                merged = {**state.get("fields", {}), **changes.pop("fields", {})}
                state.update(changes, fields={k: v for k, v in merged.items() if v is not None})
            case "project.transitioned":
                state.update(
                    state=p["to"],
                    previous_state=p["from"],
                    current_cycle=p["cycle"],
                    next_review_at=_when(p["next_review_at"]),
                    state_entered_at=event.created_at,
                    state_entered_version=event.version,
                )
            case "review.recorded":
                state["next_review_at"] = _when(p["next_review_at"])
            case "project.migrated":
                state["workflow_version"] = p["to_version"]
            case "programme.candidate" | "programme.granted" | "programme.deescalated":
                state["programme_status"] = p["status"]
            case "project.withdrawn":
                state.update(
                    withdrawn_at=event.created_at, next_review_at=None, programme_status="none"
                )
        state["version"] = event.version
        state["updated_at"] = event.created_at
    for name in LIST_FIELDS:
        if name in state:
            state[name] = tuple(state[name] or ())
    return state


def differences(project: Project, events: Iterable[Event]) -> list[str]:
    """The fields where the project row and its replayed events disagree."""
    replayed = replay(events)
    return [
        f"{name}: row has {getattr(project, name)!r}, events give {replayed.get(name)!r}"
        for name in REPLAYED_FIELDS
        if getattr(project, name) != replayed.get(name)
    ]
