"""How an edit of a project's charter (its diagram or its team) is recorded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CharterEvent:
    """An edit as it is recorded in the project's audit trail: a type and its data."""

    type: str
    payload: Mapping[str, Any]
