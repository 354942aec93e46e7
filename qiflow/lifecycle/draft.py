"""A project being changed by one command: its row, the field changes, the events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from qiflow.snapshots import Event, Project
from qiflow.store import NewEvent, StoredProject


@dataclass
class Draft:
    """A copy of the stored project that one command changes, and the events it produces.

    ``values`` is a read-only view of the working copy, keyed by column; ``set`` changes it.
    """

    stored: StoredProject
    now: datetime
    #: The version the project will have once this command commits.
    version: int
    changes: dict[str, Any] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    committed: list[Event] = field(default_factory=list)
    #: A refusal to raise once the command's events (which record it) are committed.
    refusal: Exception | None = None

    _columns: dict[str, Any] = field(init=False, repr=False)
    #: The project as the working copy stands; None once a change makes it stale.
    _project: Project | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._columns = self.stored.columns()
        self._project = self.stored.project

    @property
    def values(self) -> Mapping[str, Any]:
        return MappingProxyType(self._columns)

    @property
    def project(self) -> Project:
        if self._project is None:
            self._project = Project.from_row(self._columns)
        return self._project

    def set(self, **values: Any) -> None:
        """Change the working copy; the change is written when the command commits.

        A new review date starts its reminders afresh (``next_reminder_at``)."""
        if "next_review_at" in values:
            values["next_reminder_at"] = values["next_review_at"]
        self._columns.update(values)
        self.changes.update(values)
        self._project = None

    def record(self, **values: Any) -> None:
        """Note columns the commit itself wrote (version, chain head), not a change."""
        self._columns.update(values)
        self._project = None

    def emit(self, type: str, payload: Mapping[str, Any]) -> None:
        self.events.append(NewEvent(type, payload))
