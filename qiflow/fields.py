"""The editable project fields: their types and how input is checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from qiflow.audit import dumps
from qiflow.exceptions import ValidationError
from qiflow.snapshots import EDITABLE_FIELDS, LIST_FIELDS, SCALES


class ProjectFields(TypedDict, total=False):
    """Optional fields accepted by ``create_project`` and ``update_project``."""

    owner: str | None
    sponsor: str | None
    directorate: str | None
    team: str | None
    aim: str | None
    quality_objectives: list[str]
    primary_outcome: str | None
    secondary_outcomes: list[str]
    expected_saving: int | None
    scale: str | None
    learning: str | None
    lead_executive_sponsor: str | None
    qi_sponsor: str | None


def clean_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise field input; raise ValidationError naming every bad field."""
    problems: list[str] = []
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            problems.append(f"unknown field {name!r} (editable: {', '.join(EDITABLE_FIELDS)})")
            continue
        if name in LIST_FIELDS:
            if isinstance(value, str):
                value = [value]
            if value is None:
                value = []
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                problems.append(f"{name} must be a list of strings")
                continue
            cleaned[name] = [v.strip() for v in value if v.strip()]
        elif name == "expected_saving":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                problems.append("expected_saving must be a whole number of pounds, 0 or more")
                continue
            cleaned[name] = value
        else:
            if value is not None and not isinstance(value, str):
                problems.append(f"{name} must be text")
                continue
            value = value.strip() if isinstance(value, str) else None
            cleaned[name] = value or None
    if "title" in cleaned and not cleaned["title"]:
        problems.append("title must not be empty")
    scale = cleaned.get("scale")
    if scale is not None and scale not in SCALES:
        problems.append(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    if problems:
        raise ValidationError("; ".join(problems))
    return cleaned


def check_json(value: Mapping[str, Any], what: str) -> None:
    """Refuse ``value`` unless it can be stored in an event (JSON)."""
    try:
        dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} must be JSON-serialisable: {exc}") from exc
