"""Reading TOML that people write: workflow files, qiflow.toml, forms and people files.

``tomllib`` alone lets through what TOML itself forbids or what qiflow cannot hold:
integers beyond 64 bits (TOML's own range), nesting deep enough to exhaust Python's
stack, a UTF-8 byte-order mark (refused as malformed). Everything here raises
:class:`TomlProblem`, naming the key, which each caller turns into its own error.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final

#: TOML integers are 64-bit signed (TOML 1.0, "Integer").
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1
#: How deeply tables and arrays may nest in a file people write.
MAX_DEPTH: Final = 20
BOM: Final = "\ufeff"


class TomlProblem(ValueError):
    """What is wrong with a TOML document, and at which key ("" for the whole file)."""

    def __init__(self, key: str, message: str) -> None:
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}" if key else message)


def decode(data: bytes) -> str:
    """UTF-8 text (a leading byte-order mark is dropped), or TomlProblem saying where not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TomlProblem(
            "",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8",
        ) from None


def read_text(path: Path) -> str:
    """The file's text as UTF-8; OSError for an unreadable file, TomlProblem for bad bytes."""
    return decode(path.read_bytes())


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text; integers beyond 64 bits and deep nesting are refused."""
    try:
        doc = tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as exc:
        raise TomlProblem("", f"malformed TOML: {exc}") from None
    except RecursionError:
        raise TomlProblem("", f"tables or arrays nested too deeply (limit {MAX_DEPTH})") from None
    _check(doc)
    return doc


def _check(doc: Mapping[str, Any]) -> None:
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, key, depth = stack.pop()
        if isinstance(value, Mapping | list) and depth > MAX_DEPTH:
            raise TomlProblem(key, f"tables or arrays nested too deeply (limit {MAX_DEPTH})")
        if isinstance(value, Mapping):
            stack.extend(
                (sub, f"{key}.{name}" if key else str(name), depth + 1)
                for name, sub in value.items()
            )
        elif isinstance(value, list):
            stack.extend((sub, f"{key}[{i}]", depth + 1) for i, sub in enumerate(value))
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not INT_MIN <= value <= INT_MAX
        ):
            shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:20]}..."
            raise TomlProblem(key, f"integer {shown} is out of range (TOML integers are 64-bit)")


def jsonable(value: Any) -> Any:
    """A parsed TOML value as JSON data: dates and times become ISO 8601 text."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value
