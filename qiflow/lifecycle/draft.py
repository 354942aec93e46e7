"""A project being changed by one command: its row, the field changes, the events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qiflow.snapshots import Event, Project
from qiflow.store import NewEvent


@dataclass
class Draft:
    """A copy of the project row that one command changes, and the events it produces."""

    values: dict[str, Any]
    now: datetime
    #: The version the project will have once this command commits.
    version: int
    changes: dict[str, Any] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    committed: list[Event] = field(default_factory=list)
    #: A refusal to raise once the command's events (which record it) are committed.
    refusal: Exception | None = None

    @property
    def project(self) -> Project:
        return Project.from_row(self.values)

    def set(self, **values: Any) -> None:
        self.values.update(values)
        self.changes.update(values)

    def emit(self, type: str, payload: Mapping[str, Any]) -> None:
        self.events.append(NewEvent(type, payload))
