"""Limits on what qiflow accepts: text length and characters, numbers, JSON values.

Every command checks its input here before a transaction starts, so SQLite and
PostgreSQL refuse the same things with the same message (PostgreSQL cannot store
NUL in text; SQLite would). The limits are documented in the README ("Limits").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from qiflow.exceptions import ValidationError

#: Names, ids and other one-line values (people's ids, directorate, team, unit...).
SHORT: Final = 200
#: A project's title.
TITLE: Final = 300
#: Free text that may run to paragraphs (aim, learning, PDSA entries, notes, reasons).
LONG: Final = 10_000
#: Largest expected saving, in whole pounds (fits a 32-bit integer column everywhere).
MAX_SAVING: Final = 2_000_000_000
#: Largest magnitude of a data point's value.
MAX_VALUE: Final = 1e15
#: Largest magnitude of an integer in event data (exactly representable in JSON numbers).
MAX_JSON_INT: Final = 2**53 - 1
#: How deeply event data and forms may nest.
MAX_DEPTH: Final = 32

# C0 controls, DEL and C1 controls; multi-line text may hold tab, line feed and CR.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(value: str, field: str, *, limit: int, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable as ``field`` (None if it is)."""
    if len(value) > limit:
        return f"{field} is {len(value):,} characters long; the limit is {limit:,}"
    pattern = _CONTROL_MULTILINE if multiline else _CONTROL
    found = pattern.search(value) or _SURROGATE.search(value)
    if found:
        char = found.group()
        name = unicodedata.name(char, f"U+{ord(char):04X}")
        return f"{field} holds a control character ({name} at position {found.start() + 1}); " + (
            "only tab and line breaks are allowed" if multiline else "give one line of text"
        )
    return None


def check_text(value: str, field: str, *, limit: int = SHORT, multiline: bool = False) -> str:
    """Return ``value`` if acceptable, else raise ValidationError naming ``field``."""
    problem = text_problem(value, field, limit=limit, multiline=multiline)
    if problem:
        raise ValidationError(problem)
    return value


def check_optional(
    value: str | None, field: str, *, limit: int = SHORT, multiline: bool = False
) -> str | None:
    return None if value is None else check_text(value, field, limit=limit, multiline=multiline)


def check_value(value: object, field: str = "value") -> float:
    """A data point's value: a finite number within +/- MAX_VALUE."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{field} must be a number, not {value!r}")
    if isinstance(value, int) and abs(value) > MAX_VALUE:
        raise ValidationError(f"{field} is out of range: at most {MAX_VALUE:g} either side of 0")
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{field} must be a finite number, not {value!r}")
    if abs(number) > MAX_VALUE:
        raise ValidationError(
            f"{field} {value!r} is out of range: at most {MAX_VALUE:g} either side of 0"
        )
    return number


def json_problem(value: Any, where: str) -> str | None:
    """Why ``value`` cannot go into the audit trail as JSON (None if it can).

    Only JSON's own types; no NaN or infinity; integers that any JSON reader keeps
    exact; text without control characters other than tab and line breaks.
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"{path}: nested more than {MAX_DEPTH} levels deep"
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            problem = text_problem(item, path, limit=LONG, multiline=True)
            if problem:
                return problem
        elif isinstance(item, int):
            if abs(item) > MAX_JSON_INT:
                return f"{path}: integer out of range (at most 2**53 - 1 either side of 0)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{path}: {item!r} is not a finite number"
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                if not isinstance(key, str):
                    return f"{path}: key {key!r} is not text"
                problem = text_problem(key, f"{path} key", limit=SHORT)
                if problem:
                    return problem
                stack.append((sub, f"{path}.{key}", depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))
        else:
            return (
                f"{path}: {type(item).__name__} is not a JSON value "
                "(text, number, true/false, list or table)"
            )
    return None


def check_json(value: Any, where: str) -> None:
    """Raise ValidationError (naming the key) unless ``value`` can go into the audit trail."""
    problem = json_problem(value, where)
    if problem:
        raise ValidationError(problem)
