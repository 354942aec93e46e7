"""Data points from CSV: ``date,value`` and optional ``note`` and ``cycle`` columns.

All or nothing: every bad row is named in one error, and nothing is read from a file
that has one.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

from qiflow.exceptions import ValidationError

COLUMNS = ("date", "value", "note", "cycle")
REQUIRED = ("date", "value")


@dataclass(frozen=True)
class PointRow:
    """One row of an import: when, the value, and optionally a note and PDSA cycle."""

    line: int
    observed_at: datetime
    value: float
    note: str | None = None
    cycle: int | None = None


def _when(text: str) -> datetime:
    text = text.strip()
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        found = datetime.combine(date.fromisoformat(text), datetime.min.time())
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def parse_points(text: str, source: str = "the file") -> list[PointRow]:
    """The rows of a CSV import, or :class:`ValidationError` naming every bad row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"no {' or '.join(missing)} column")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
        raise ValidationError(
            f"{source}: {'; '.join(parts)}; the header is date,value[,note,cycle]"
        )
    reader.fieldnames = header
    rows: list[PointRow] = []
    problems: list[str] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(f"line {line}: more fields than the header names")
            continue
        cells = {k: (v or "").strip() for k, v in row.items()}
        if not any(cells.values()):
            continue
        wrong = []
        try:
            when = _when(cells["date"])
        except ValueError:
            wrong.append(f"date {cells['date']!r} is not an ISO date (2026-01-31)")
        try:
            value = float(cells["value"])
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            wrong.append(f"value {cells['value']!r} is not a number")
        cycle: int | None = None
        if cells.get("cycle"):
            try:
                cycle = int(cells["cycle"])
                if cycle < 1:
                    raise ValueError
            except ValueError:
                wrong.append(f"cycle {cells['cycle']!r} is not a cycle number (1, 2, ...)")
        if wrong:
            problems.append(f"line {line}: {'; '.join(wrong)}")
            continue
        rows.append(PointRow(line, when, value, cells.get("note") or None, cycle))
    if problems:
        raise ValidationError(
            f"{source}: {len(problems)} bad row(s), nothing imported: " + "; ".join(problems)
        )
    if not rows:
        raise ValidationError(f"{source}: no data rows, nothing imported")
    return rows
