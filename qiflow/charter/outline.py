"""Import a driver diagram from an outline teams draft in a spreadsheet or a text file.

CSV: a header row naming the columns ``primary``, ``secondary``, ``idea`` and
(optionally) ``measures``; each row is a path from the aim outwards::

    primary,secondary,idea,measures
    Reliable prescribing,Clear drug charts,Pre-printed depot chart,Missed doses
    Reliable prescribing,Clear drug charts,Pharmacist check,
    Engaged patients,,Text reminders,Missed doses;Clinic time

A row may stop after the primary or secondary driver; an idea with no secondary
driver sits under the primary. The same idea on several rows serves each of
their drivers. ``measures`` (names separated by ``;``) belong to the row's last
node. TOML nests the same outline::

    [[primary]]
    title = "Reliable prescribing"
    [[primary.secondary]]
    title = "Clear drug charts"
    ideas = ["Pre-printed depot chart", { title = "Pharmacist check", measures = ["Missed doses"] }]

Titles already in the diagram name those nodes, so an outline can add ideas under
existing drivers; an import only adds. It is all or nothing: every bad row is
named, and nothing is imported while one is bad.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from qiflow.charter.diagram import (
    ADDED,
    ID_PREFIX,
    IDEA,
    KIND_NAMES,
    PRIMARY,
    SECONDARY,
    DriverDiagram,
    clean_title,
    title_key,
)
from qiflow.charter.events import CharterEvent
from qiflow.exceptions import OutlineError, ValidationError

FORMATS = ("csv", "toml")
CSV_COLUMNS = ("primary", "secondary", "idea", "measures")


@dataclass(frozen=True)
class OutlineRow:
    """One path of an outline: where it is in the file, its titles and its measures."""

    where: str
    primary: str
    secondary: str | None = None
    idea: str | None = None
    measures: tuple[str, ...] = ()


#: An outline read in file order: each entry a row, or a problem with one (a string).
Entries = list[OutlineRow | str]


def parse(text: str, format: str) -> Entries:
    """The rows of an outline, in file order, with a problem (a string) for each bad one."""
    if format == "csv":
        return _parse_csv(text)
    if format == "toml":
        return _parse_toml(text)
    raise ValidationError(f"outline format {format!r} is not one of {', '.join(FORMATS)}")


def plan(
    text: str,
    format: str,
    diagram: DriverDiagram,
    *,
    known_measures: Collection[str] | None = None,
    source: str = "outline",
) -> list[CharterEvent]:
    """The ``driver.added`` events that import the outline into ``diagram``.

    Raises :class:`~qiflow.exceptions.OutlineError` naming every bad row, in file order.
    """
    entries = parse(text, format)
    planner = _Planner(diagram, known_measures)
    problems: list[str] = []
    rows = 0
    for entry in entries:
        if isinstance(entry, str):
            problems.append(entry)
        else:
            rows += 1
            problems.extend(planner.row(entry))
    if not rows and not problems:
        problems.append("the outline has no rows")
    elif not planner.new and not problems:
        problems.append("nothing to import: every node in it is already in the diagram")
    if problems:
        raise OutlineError(source, problems)
    return [
        CharterEvent(
            ADDED,
            {
                "id": node.id,
                "kind": node.kind,
                "title": node.title,
                "parents": node.parents,
                "measures": node.measures,
            },
        )
        for node in planner.new
    ]


# reading the file ------------------------------------------------------------------
def _parse_csv(text: str) -> Entries:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = [(h or "").strip().lower() for h in reader.fieldnames or ()]
    if "primary" not in headers:
        return [
            "the first row must name the columns: primary, secondary, idea and optionally measures"
        ]
    unknown = [h for h in headers if h not in CSV_COLUMNS]
    if unknown:
        return [
            f"line 1: unknown column(s) {', '.join(repr(h) for h in unknown)}; "
            f"columns: {', '.join(CSV_COLUMNS)}"
        ]
    reader.fieldnames = headers
    out: Entries = []
    for raw in reader:
        where = f"line {reader.line_num}"
        if None in raw:
            out.append(f"{where}: more cells than columns")
            continue
        cells = {k: (v or "").strip() for k, v in raw.items()}
        if not any(cells.values()):
            continue
        if not cells.get("primary"):
            out.append(f"{where}: no primary driver (every row starts from one)")
            continue
        measures = tuple(m.strip() for m in cells.get("measures", "").split(";") if m.strip())
        out.append(
            OutlineRow(
                where,
                cells["primary"],
                cells.get("secondary") or None,
                cells.get("idea") or None,
                measures,
            )
        )
    return out


def _parse_toml(text: str) -> Entries:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [f"malformed TOML: {exc}"]
    out: Entries = [
        f"unknown key {k!r} (expected [[primary]] tables)" for k in doc if k != "primary"
    ]
    primaries = doc.get("primary")
    if not isinstance(primaries, list) or not primaries:
        return [*out, "expected [[primary]] tables"]
    for i, entry in enumerate(primaries, 1):
        where = f"primary[{i}]"
        title, measures = _entry(entry, where, ("secondary", "ideas"), out)
        if title is None:
            continue
        out.append(OutlineRow(where, title, measures=measures))
        for j, sub in enumerate(_list(entry, "secondary", where, out), 1):
            sub_where = f"{where}.secondary[{j}]"
            sub_title, sub_measures = _entry(sub, sub_where, ("ideas",), out)
            if sub_title is None:
                continue
            out.append(OutlineRow(sub_where, title, sub_title, measures=sub_measures))
            _ideas(sub, sub_where, title, sub_title, out)
        _ideas(entry, where, title, None, out)
    return out


def _ideas(
    table: Mapping[str, Any],
    where: str,
    primary: str,
    secondary: str | None,
    out: Entries,
) -> None:
    for k, idea in enumerate(_list(table, "ideas", where, out), 1):
        idea_where = f"{where}.ideas[{k}]"
        if isinstance(idea, str):
            idea = {"title": idea}
        title, measures = _entry(idea, idea_where, (), out)
        if title is not None:
            out.append(OutlineRow(idea_where, primary, secondary, title, measures))


def _list(table: Mapping[str, Any], key: str, where: str, out: Entries) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        out.append(f"{where}: {key} must be a list")
        return []
    return value


def _entry(
    entry: Any, where: str, nested: tuple[str, ...], out: Entries
) -> tuple[str | None, tuple[str, ...]]:
    if not isinstance(entry, dict):
        out.append(f"{where}: expected a table with a title")
        return None, ()
    allowed = ("title", "measures", *nested)
    for key in entry:
        if key not in allowed:
            out.append(f"{where}: unknown key {key!r} (expected {', '.join(allowed)})")
    title = entry.get("title")
    if not isinstance(title, str) or not title.strip():
        out.append(f"{where}: no title")
        return None, ()
    measures = entry.get("measures", [])
    if not isinstance(measures, list) or not all(isinstance(m, str) for m in measures):
        out.append(f"{where}: measures must be a list of measure names")
        measures = []
    return title, tuple(m.strip() for m in measures if m.strip())


# planning the import ---------------------------------------------------------------
@dataclass
class _Planned:
    id: str
    kind: str
    title: str
    parents: list[str]
    measures: list[str] = field(default_factory=list)
    where: str = ""


class _Planner:
    """Resolves each row's titles to existing or new nodes, collecting problems."""

    def __init__(self, diagram: DriverDiagram, known_measures: Collection[str] | None) -> None:
        self.known = known_measures
        self.by_title: dict[str, _Planned] = {
            title_key(n.title): _Planned(n.id, n.kind, n.title, list(n.parents), list(n.measures))
            for n in diagram.nodes
        }
        self.existing = set(self.by_title)
        self.new: list[_Planned] = []
        self.numbers = {
            kind: int(diagram.next_id(kind)[len(prefix) :]) for kind, prefix in ID_PREFIX.items()
        }

    def row(self, row: OutlineRow) -> list[str]:
        problems: list[str] = []
        try:
            path = [(PRIMARY, clean_title(row.primary, "the primary driver"))]
            if row.secondary:
                path.append((SECONDARY, clean_title(row.secondary, "the secondary driver")))
            if row.idea:
                path.append((IDEA, clean_title(row.idea, "the change idea")))
        except ValidationError as exc:
            return [f"{row.where}: {exc}"]
        unknown = [m for m in row.measures if self.known is not None and m not in self.known]
        if unknown:
            listed = ", ".join(sorted(self.known or ())) or "none yet"
            problems.append(
                f"{row.where}: no measure {', '.join(repr(m) for m in unknown)} on the "
                f"project (measures: {listed})"
            )
        parent: _Planned | None = None
        for depth, (kind, title) in enumerate(path):
            last = depth == len(path) - 1
            node = self._resolve(row, kind, title, parent, problems)
            if node is None:
                return problems
            if last and row.measures:
                if title_key(node.title) in self.existing:
                    problems.append(
                        f"{row.where}: {node.id} {node.title!r} is already in the diagram; "
                        "an import does not change its measures"
                    )
                else:
                    node.measures += [m for m in row.measures if m not in node.measures]
            parent = node
        return problems

    def _resolve(
        self,
        row: OutlineRow,
        kind: str,
        title: str,
        parent: _Planned | None,
        problems: list[str],
    ) -> _Planned | None:
        key = title_key(title)
        node = self.by_title.get(key)
        if node is None:
            prefix = ID_PREFIX[kind]
            node = _Planned(
                f"{prefix}{self.numbers[kind]}",
                kind,
                title,
                [parent.id] if parent else [],
                where=row.where,
            )
            self.numbers[kind] += 1
            self.by_title[key] = node
            self.new.append(node)
            return node
        seen = f" ({node.where})" if node.where else f" ({node.id})"
        if node.kind != kind:
            problems.append(
                f"{row.where}: {title!r} is a {KIND_NAMES[node.kind]}{seen}, "
                f"not a {KIND_NAMES[kind]}"
            )
            return None
        if parent is None or parent.id in node.parents:
            return node
        if kind == SECONDARY or key in self.existing:
            under = ", ".join(self.by_title_id(p) for p in node.parents)
            fix = (
                "a secondary driver sits under one primary driver"
                if kind == SECONDARY
                else "use `driver move` to put an existing idea under more drivers"
            )
            problems.append(
                f"{row.where}: {title!r}{seen} is under {under}, not {parent.title!r}; {fix}"
            )
            return None
        node.parents.append(parent.id)
        return node

    def by_title_id(self, node_id: str) -> str:
        found = next((n for n in self.by_title.values() if n.id == node_id), None)
        return f"{node_id} {found.title!r}" if found else node_id
