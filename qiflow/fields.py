"""The editable project fields: their types and how input is checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from qiflow import limits
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


#: Fields that hold paragraphs of free text (the rest are one line).
LONG_TEXT = frozenset({"aim", "primary_outcome", "learning"})
#: How many entries a list field may hold.
MAX_LIST = 50


def _text_problem(name: str, value: str) -> str | None:
    if name in LONG_TEXT or name in LIST_FIELDS:
        return limits.text_problem(value, name, limit=limits.LONG, multiline=True)
    limit = limits.TITLE if name == "title" else limits.SHORT
    return limits.text_problem(value, name, limit=limit)


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
            if len(value) > MAX_LIST:
                problems.append(f"{name} has {len(value)} entries; the limit is {MAX_LIST}")
                continue
            found = [p for p in (_text_problem(name, v) for v in value) if p]
            if found:
                problems.append(found[0])
                continue
            cleaned[name] = [v.strip() for v in value if v.strip()]
        elif name == "expected_saving":
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= limits.MAX_SAVING
            ):
                problems.append(
                    "expected_saving must be a whole number of pounds, "
                    f"from 0 to {limits.MAX_SAVING:,}"
                )
                continue
            cleaned[name] = value
        else:
            if value is not None and not isinstance(value, str):
                problems.append(f"{name} must be text")
                continue
            problem = _text_problem(name, value) if value is not None else None
            if problem:
                problems.append(problem)
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
    """Refuse ``value`` unless it can be stored in an event (JSON, see :mod:`qiflow.limits`)."""
    limits.check_json(value, what)


#: The value types a plugin's project field may have.
FIELD_TYPES: dict[str, type] = {"text": str, "bool": bool, "int": int}
_TRUE, _FALSE = ("true", "yes", "y", "1"), ("false", "no", "n", "0")


@dataclass(frozen=True)
class ProjectField:
    """A project field a plugin declares (``qiflow_project_fields``).

    ``type`` is ``"text"``, ``"bool"`` or ``"int"``; ``choices`` limits the values;
    ``validate`` returns a problem (or None) for a value of the right type. ``label``
    and ``help`` are what people read in ``project show`` and ``--help``.
    """

    name: str
    type: str = "text"
    choices: tuple[Any, ...] = ()
    validate: Callable[[Any], str | None] | None = None
    label: str = ""
    help: str = ""

    def parse(self, text: str) -> Any:
        """A value from command-line text (``true``/``false`` for bool; empty clears)."""
        text = text.strip()
        if not text:
            return None
        if self.type == "bool":
            if text.lower() in _TRUE + _FALSE:
                return text.lower() in _TRUE
            raise ValidationError(f"field {self.name} is true or false, not {text!r}")
        if self.type == "int":
            try:
                return int(text)
            except ValueError:
                raise ValidationError(
                    f"field {self.name} is a whole number, not {text!r}"
                ) from None
        return text

    def problem(self, value: Any) -> str | None:
        """Why ``value`` cannot be stored in this field (None clears it), or None."""
        if value is None:
            return None
        kind = FIELD_TYPES[self.type]
        if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
            return f"field {self.name} must be {self.type}, not {value!r}"
        if self.choices and value not in self.choices:
            return f"field {self.name}: {value!r} is not one of {', '.join(map(str, self.choices))}"
        return self.validate(value) if self.validate is not None else None


def check_field_declarations(declared: Iterable[ProjectField]) -> dict[str, ProjectField]:
    """The declared fields by name; refuse clashes with built-in fields or each other."""
    found: dict[str, ProjectField] = {}
    problems: list[str] = []
    for spec in declared:
        if spec.name in EDITABLE_FIELDS or not spec.name.isidentifier():
            problems.append(
                f"project field {spec.name!r} clashes with a built-in field or is not a name"
            )
        elif spec.name in found:
            problems.append(f"project field {spec.name!r} is declared twice")
        elif spec.type not in FIELD_TYPES:
            problems.append(
                f"project field {spec.name!r}: type {spec.type!r} is not one of "
                + ", ".join(FIELD_TYPES)
            )
        else:
            found[spec.name] = spec
    if problems:
        raise ValidationError(problems)
    return found


def clean_plugin_fields(
    declared: Mapping[str, ProjectField], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Check values for plugin-declared fields; raise ValidationError naming every problem."""
    problems: list[str] = []
    for name, value in values.items():
        spec = declared.get(name)
        if spec is None:
            known = ", ".join(sorted(declared)) or "none are declared"
            problems.append(f"unknown project field {name!r} (plugin fields: {known})")
            continue
        value = value.strip() or None if isinstance(value, str) else value
        problem = spec.problem(value)
        if problem:
            problems.append(problem)
    if problems:
        raise ValidationError(problems)
    return {n: (v.strip() or None if isinstance(v, str) else v) for n, v in values.items()}
