"""A driver diagram as text, as a Mermaid flowchart (left to right, as teams draw it)
and as JSON-ready data."""

from __future__ import annotations

from typing import Any

from qiflow.charter.diagram import IDEA, PRIMARY, SECONDARY, STATUSES, DriverDiagram, DriverNode
from qiflow.charter.results import Charter

#: How a node is drawn: fill, stroke and text colours, and a dash pattern (or None).
Style = tuple[str, str, str, str | None]
#: Node colours by status (NHS identity colours): fill, stroke, text, and a dash for ended ideas.
STATUS_STYLE: dict[str, Style] = {
    "idea": ("#ffffff", "#768692", "#212b32", None),
    "testing": ("#005eb8", "#003087", "#ffffff", None),
    "adopted": ("#007f3b", "#00401e", "#ffffff", None),
    "adapted": ("#ffb81c", "#ed8b00", "#212b32", None),
    "abandoned": ("#d8dde0", "#768692", "#4c6272", "5 3"),
}
AIM_STYLE: Style = ("#003087", "#003087", "#ffffff", None)


def ordered(diagram: DriverDiagram) -> list[list[DriverNode]]:
    """The nodes in columns (primary, secondary, idea), each in outline order."""
    primaries = list(diagram.of_kind(PRIMARY))
    secondaries = [s for p in primaries for s in diagram.children(p.id) if s.kind == SECONDARY]
    ideas: dict[str, DriverNode] = {}
    for p in primaries:
        for driver in (p, *(s for s in secondaries if p.id in s.parents)):
            ideas.update((c.id, c) for c in diagram.children(driver.id) if c.kind == IDEA)
    return [primaries, secondaries, list(ideas.values())]


def edges(diagram: DriverDiagram) -> list[tuple[str, str]]:
    """(parent, child) pairs, the aim (``"aim"``) to each primary driver first."""
    pairs = [("aim", p.id) for p in diagram.of_kind(PRIMARY)]
    for column in ordered(diagram)[1:]:
        pairs += [(parent, node.id) for node in column for parent in node.parents]
    return pairs


def to_text(diagram: DriverDiagram, aim: str | None = None) -> str:
    lines = [f"Aim: {aim or '(no aim set)'}"]
    if not diagram.nodes:
        lines.append("  (no drivers yet: add one with `qiflow driver add REF --primary TITLE`)")

    def show(node: DriverNode, depth: int, parent: str) -> None:
        line = f"{'  ' * depth}{node.id} {node.title} [{node.status}]"
        others = [p for p in node.parents if p != parent]
        if others:
            line += f" (also under {', '.join(others)})"
        if node.measures:
            line += f" measures: {'; '.join(node.measures)}"
        lines.append(line)
        for child in diagram.children(node.id):
            show(child, depth + (1 if child.kind == SECONDARY else 3 - depth), node.id)

    for primary in diagram.of_kind(PRIMARY):
        show(primary, 1, "aim")
    return "\n".join(lines) + "\n"


def to_mermaid(diagram: DriverDiagram, aim: str | None = None) -> str:
    """A ``flowchart LR``: aim, primary and secondary drivers, change ideas; colour by status."""
    lines = ["flowchart LR", f'    aim(["Aim: {_mermaid_text(aim or "(no aim set)")}"])']
    for column in ordered(diagram):
        for node in column:
            label = _mermaid_text(f"{node.id}: {node.title}")
            if node.kind == IDEA:
                lines.append(f'    {node.id}("{label} ({node.status})")')
            else:
                lines.append(f'    {node.id}["{label}"]')
    lines += [f"    {parent} --> {child}" for parent, child in edges(diagram)]
    for name, style in [("aim", AIM_STYLE), *STATUS_STYLE.items()]:
        fill, stroke, color, dash = style
        extra = f",stroke-dasharray:{dash}" if dash else ""
        lines.append(f"    classDef {name} fill:{fill},stroke:{stroke},color:{color}{extra}")
    lines.append("    class aim aim")
    for status in STATUSES:
        ids = [n.id for n in diagram.nodes if n.status == status]
        if ids:
            lines.append(f"    class {','.join(ids)} {status}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label (entity codes for its special characters)."""
    text = " ".join(text.split()).replace("#", "#35;")
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;")):
        text = text.replace(char, code)
    return text


def to_data(diagram: DriverDiagram, aim: str | None = None) -> dict[str, Any]:
    """JSON-ready: the aim, the nodes (with their statuses), edges and removed ids."""
    return {
        "aim": aim,
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "title": n.title,
                "status": n.status,
                "parents": list(n.parents),
                "measures": list(n.measures),
            }
            for n in diagram.nodes
        ],
        "edges": [list(pair) for pair in edges(diagram)],
        "retired": list(diagram.retired),
    }


def charter_text(charter: Charter) -> str:
    """The charter in one place: aim, scope, quality objectives, measures, team, diagram."""
    p = charter.project
    scope = [
        f"{label} {value}"
        for label, value in (("directorate", p.directorate), ("scale", p.scale), ("team", p.team))
        if value
    ]
    measures = ", ".join(f"{m.name} ({m.kind})" for m in charter.measures)
    team = ", ".join(f"{m.person} ({m.role})" for m in charter.team)
    lines = [
        "charter:",
        f"  aim: {p.aim or '-'}",
        f"  scope: {'; '.join(scope) or '-'}",
        f"  quality objectives: {'; '.join(p.quality_objectives) or '-'}",
        f"  measures: {measures or '-'}",
        f"  team: {team or '-'}",
        "  driver diagram:",
    ]
    lines += [f"  {line}" for line in to_text(charter.diagram, p.aim).splitlines()[1:]]
    return "\n".join(lines) + "\n"
