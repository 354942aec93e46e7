"""A project's team: people, by id, each with a role in the team."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qiflow.charter.events import CharterEvent
from qiflow.exceptions import ValidationError

#: Roles a person can hold in a project team (one person may hold several).
TEAM_ROLES: tuple[str, ...] = ("lead", "member", "clinical_lead", "data_lead", "patient_partner")
ADDED, REMOVED = "team.added", "team.removed"
EVENT_TYPES: tuple[str, ...] = (ADDED, REMOVED)
_PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")


@dataclass(frozen=True)
class TeamMember:
    """One person's role in a project team (people are referenced by id, never by name)."""

    person: str
    role: str


def add(team: Sequence[TeamMember], person: str, role: str) -> CharterEvent:
    person = person.strip()
    if not _PERSON_ID.match(person):
        raise ValidationError(f"{person!r} is not a person's id (letters, digits, . _ @ -)")
    if role not in TEAM_ROLES:
        raise ValidationError(f"team role {role!r} is not one of {', '.join(TEAM_ROLES)}")
    if TeamMember(person, role) in team:
        raise ValidationError(f"{person} is already in the team as {role}")
    return CharterEvent(ADDED, {"person": person, "role": role})


def remove(team: Sequence[TeamMember], person: str, role: str | None = None) -> CharterEvent:
    """Take ``person`` out of the team: one role, or every role they hold when none is given."""
    person = person.strip()
    held = [m.role for m in team if m.person == person]
    if not held:
        raise ValidationError(f"{person!r} is not in the team")
    if role is not None and role not in held:
        raise ValidationError(f"{person} is in the team as {', '.join(held)}, not {role}")
    return CharterEvent(REMOVED, {"person": person, "roles": [role] if role else held})


def apply(team: Iterable[TeamMember], event: CharterEvent) -> tuple[TeamMember, ...]:
    members = list(team)
    p = event.payload
    if event.type == ADDED:
        members.append(TeamMember(p["person"], p["role"]))
    elif event.type == REMOVED:
        members = [m for m in members if not (m.person == p["person"] and m.role in p["roles"])]
    else:
        raise ValueError(f"not a team event: {event.type}")
    return tuple(members)
