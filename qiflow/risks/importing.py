"""Reading a risk log kept in a spreadsheet (CSV), all or nothing, every bad row named.

The first row names the columns (in any order, any case)::

    description,category,owner,consequence,likelihood,target,controls,review_by

``description``, ``category``, ``owner``, ``consequence`` and ``likelihood`` are
required; ``target`` (a score), ``controls`` and ``review_by`` (YYYY-MM-DD) are
optional. Categories may be written as people write them ("Patient safety").
Rows are numbered as a spreadsheet numbers them: the header is row 1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from qiflow.exceptions import ValidationError
from qiflow.risks.policy import RiskPolicy
from qiflow.risks.register import NewRisk, check_fields

REQUIRED = ("description", "category", "owner", "consequence", "likelihood")
OPTIONAL = ("target", "controls", "review_by")
COLUMNS: tuple[str, ...] = REQUIRED + OPTIONAL


class RiskImportError(ValidationError):
    """The risk log has problems; nothing was imported."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        super().__init__(
            f"{source}: {len(problems)} problem(s), nothing imported:\n  " + "\n  ".join(problems)
        )
        self.problems = tuple(problems)


def parse_csv(
    text: str, policy: RiskPolicy, *, today: date, source: str = "risk log"
) -> list[NewRisk]:
    """The risks of a CSV risk log; raises :class:`RiskImportError` naming every bad row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = [(h or "").strip().lower() for h in reader.fieldnames or ()]
    missing = [c for c in REQUIRED if c not in headers]
    unknown = [h for h in headers if h not in COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"row 1: missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(
                f"row 1: unknown column(s) {', '.join(repr(h) for h in unknown)}; "
                f"columns: {', '.join(COLUMNS)}"
            )
        raise RiskImportError(source, problems)
    reader.fieldnames = headers
    risks: list[NewRisk] = []
    problems = []
    for raw in reader:
        where = f"row {reader.line_num}"
        if None in raw:
            problems.append(f"{where}: more cells than columns")
            continue
        cells = {k: (v or "").strip() for k, v in raw.items()}
        if not any(cells.values()):
            continue
        empty = [c for c in REQUIRED if not cells.get(c)]
        if empty:
            problems.append(f"{where}: no {', '.join(empty)}")
            continue
        try:
            risks.append(check_fields(cells, policy, today))
        except ValidationError as exc:
            problems.extend(f"{where}: {problem}" for problem in exc.problems)
    if not risks and not problems:
        problems.append("the risk log has no rows")
    if problems:
        raise RiskImportError(source, problems)
    return risks
