"""A driver diagram drawn as SVG without a browser.

Columns from left to right: the aim, primary drivers, secondary drivers, change
ideas; each node coloured by its status (the same colours as the Mermaid
flowchart), each link a curve from parent to child, and a key of the statuses.
For Mermaid's own rendering, pipe ``--format mermaid`` to mermaid-cli (``mmdc``).
"""

from __future__ import annotations

import textwrap
from xml.sax.saxutils import escape, quoteattr

from qiflow.charter.diagram import STATUSES, DriverDiagram
from qiflow.charter.render import AIM_STYLE, STATUS_STYLE, Style, edges, ordered

BOX_W, BOX_H, GAP_X, ROW_H, MARGIN = 210, 58, 60, 74, 20
CHARS_PER_LINE, MAX_LINES = 30, 3
FONT = "Arial, Helvetica, sans-serif"


def to_svg(diagram: DriverDiagram, aim: str | None = None) -> str:
    columns: list[list[tuple[str, str, Style]]] = [
        [("aim", f"Aim: {aim or '(no aim set)'}", AIM_STYLE)]
    ]
    for nodes in ordered(diagram):
        columns.append([(n.id, f"{n.id}: {n.title}", STATUS_STYLE[n.status]) for n in nodes])
    rows = max(len(c) for c in columns)
    height = rows * ROW_H + 2 * MARGIN + 40
    width = len(columns) * (BOX_W + GAP_X) - GAP_X + 2 * MARGIN
    where: dict[str, tuple[float, float]] = {}
    boxes: list[str] = []
    for col, column in enumerate(columns):
        x = MARGIN + col * (BOX_W + GAP_X)
        top = MARGIN + (rows - len(column)) * ROW_H / 2
        for row, (node_id, label, style) in enumerate(column):
            y = top + row * ROW_H
            where[node_id] = (x, y)
            boxes.append(_box(node_id, label, style, x, y))
    links = []
    for parent, child in edges(diagram):
        (px, py), (cx, cy) = where[parent], where[child]
        x1, y1, x2, y2 = px + BOX_W, py + BOX_H / 2, cx, cy + BOX_H / 2
        mid = (x1 + x2) / 2
        links.append(
            f'<path class="edge" data-from="{parent}" data-to="{child}" '
            f'd="M{x1:g},{y1:g} C{mid:g},{y1:g} {mid:g},{y2:g} {x2:g},{y2:g}" '
            'fill="none" stroke="#4c6272" stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    key = _key(MARGIN, height - MARGIN - 14)
    return (
        "\n".join(
            [
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="12">',
                "<title>Driver diagram</title>",
                '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
                'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#4c6272"/>'
                "</marker></defs>",
                f'<rect width="{width}" height="{height}" fill="#f0f4f5"/>',
                *links,
                *boxes,
                key,
                "</svg>",
            ]
        )
        + "\n"
    )


def _box(node_id: str, label: str, style: Style, x: float, y: float) -> str:
    fill, stroke, color, dash = style
    lines = textwrap.wrap(label, CHARS_PER_LINE) or [""]
    if len(lines) > MAX_LINES:
        lines = [
            *lines[: MAX_LINES - 1],
            textwrap.shorten(" ".join(lines[MAX_LINES - 1 :]), CHARS_PER_LINE),
        ]
    first = y + BOX_H / 2 - (len(lines) - 1) * 7.5 + 4
    spans = "".join(
        f'<tspan x="{x + BOX_W / 2:g}" y="{first + i * 15:g}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<g class="node" id={quoteattr(node_id)}><title>{escape(label)}</title>'
        f'<rect x="{x:g}" y="{y:g}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="1.5"{dashed}/>'
        f'<text fill="{color}" text-anchor="middle">{spans}</text></g>'
    )


def _key(x: float, y: float) -> str:
    parts = ['<g class="key">']
    for i, status in enumerate(STATUSES):
        fill, stroke, _color, dash = STATUS_STYLE[status]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        left = x + i * 110
        parts.append(
            f'<rect x="{left:g}" y="{y - 10:g}" width="14" height="14" fill="{fill}" '
            f'stroke="{stroke}"{dashed}/><text x="{left + 20:g}" y="{y + 1:g}" '
            f'fill="#212b32">{status}</text>'
        )
    parts.append("</g>")
    return "".join(parts)
