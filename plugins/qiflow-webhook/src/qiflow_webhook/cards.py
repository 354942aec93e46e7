"""What a Teams channel posts: an Adaptive Card for Workflows, or a legacy MessageCard.

Teams' Workflows app ("When a Teams webhook request is received") takes a message
envelope with Adaptive Card attachments; Teams renders card schema up to 1.5. Text
from projects (titles, subjects, bodies) goes into ``TextRun`` elements, which Teams
shows as written, never as Markdown, so a title cannot make a link. A message body
stays under :data:`MAX_BYTES`: a digest too large for one card lists the projects that
fit and says how many items it left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from qiflow import Item, Notification

#: Teams refuses a message over about 28 KB; every body is kept under this many bytes.
MAX_BYTES = 28_000
CARD_VERSION = "1.5"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
#: The longest text of one kind kept on a card (characters); longer text is cut.
MAX_TITLE, MAX_SUBJECT, MAX_BODY = 200, 300, 1_000


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes posted (and signed): compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def project_url(base_url: str | None, ref: str | None) -> str | None:
    """The project's web page, ``{base_url}/projects/{ref}``, when both are known."""
    if not base_url or not ref:
        return None
    return f"{base_url.rstrip('/')}/projects/{quote(ref, safe='')}"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def when(due: datetime, zone: ZoneInfo) -> str:
    """``Mon 1 Mar 2027, 12:00 GMT``: the instant in the trust's time zone."""
    local = due.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def by_project(items: Sequence[Item]) -> list[tuple[str | None, list[Item]]]:
    """Items grouped by project, in the order each project first appears."""
    groups: dict[str | None, list[Item]] = {}
    for item in items:
        groups.setdefault(item.project_ref, []).append(item)
    return list(groups.items())


def _text(text: str, **style: Any) -> dict[str, Any]:
    """A paragraph shown as written (a TextRun is never read as Markdown)."""
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": text, **style}]}


def _open(url: str, title: str = "Open") -> dict[str, Any]:
    return {
        "type": "ActionSet",
        "actions": [{"type": "Action.OpenUrl", "title": title, "url": url}],
    }


def _section(
    ref: str | None, items: Sequence[Item], base_url: str | None, zone: ZoneInfo
) -> dict[str, Any]:
    title = items[0].project_title
    heading = f"{ref}: {cut(title, MAX_TITLE)}" if ref and title else (ref or "Other items")
    elements: list[dict[str, Any]] = [_text(heading, weight="Bolder")]
    for item in items:
        elements.append(_text(cut(item.subject, MAX_SUBJECT)))
        if item.body.strip():
            elements.append(_text(cut(item.body.strip(), MAX_BODY), isSubtle=True))
        facts = []
        if item.due is not None:
            facts.append({"title": "Due", "value": when(item.due, zone)})
        if item.rule:
            facts.append({"title": "Why you", "value": cut(item.rule, MAX_SUBJECT)})
        if facts:
            elements.append({"type": "FactSet", "facts": facts})
    url = project_url(base_url, ref)
    if url:
        elements.append(_open(url))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": elements}


def _envelope(body: list[dict[str, Any]]) -> dict[str, Any]:
    card = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }


def _left_out(items: int, projects: int, base_url: str | None) -> list[dict[str, Any]]:
    note = _text(
        f"…and {items} more item{'s' * (items != 1)} of {projects} "
        f"project{'s' * (projects != 1)}, left out to keep this message within Teams' size "
        "limit.",
        weight="Bolder",
    )
    return [note, _open(f"{base_url.rstrip('/')}/projects", "Open qiflow")] if base_url else [note]


def adaptive_card(n: Notification, *, base_url: str | None, zone: ZoneInfo) -> dict[str, Any]:
    """The Workflows envelope for ``n``: one card, one section per project.

    Items are added in order while the body stays under :data:`MAX_BYTES` with room for
    a closing note; the note then says how many items (of how many projects) are left out.
    """
    items = list(n.items) or [Item("notification", None, n.subject, n.body)]
    head = [_text(cut(n.subject, MAX_SUBJECT), weight="Bolder", size="Medium")]
    if n.name:
        head.append(_text(f"For {cut(n.name, MAX_TITLE)}", isSubtle=True))
    groups = by_project(items)
    note = _left_out(len(items), len(groups), base_url)
    budget = MAX_BYTES - len(encode(_envelope(head + note)))
    sections: list[dict[str, Any]] = []
    shown: list[list[Item]] = []
    for ref, group in groups:
        fitted: list[Item] = []
        section: dict[str, Any] | None = None
        for item in group:
            trial = _section(ref, [*fitted, item], base_url, zone)
            if len(encode(trial)) + 1 > budget:  # and its comma
                break
            fitted.append(item)
            section = trial
        if section is not None:
            sections.append(section)
            shown.append(fitted)
            budget -= len(encode(section)) + 1
        if len(fitted) < len(group):
            break
    body = head + sections
    left = len(items) - sum(len(s) for s in shown)
    if left:
        partial = int(bool(shown) and len(shown[-1]) < len(groups[len(shown) - 1][1]))
        body += _left_out(left, len(groups) - len(shown) + partial, base_url)
    return _envelope(body)


def message_card(n: Notification, *, base_url: str | None) -> dict[str, Any]:
    """The legacy connector MessageCard (``format = "teams-connector"``)."""
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": cut(n.subject, MAX_SUBJECT),
        "title": cut(n.subject, MAX_SUBJECT),
        # Teams needs a blank line for a line break; the text is cut to stay in the limit.
        "text": cut(n.body, MAX_BYTES // 8).replace("\n", "\n\n"),
    }
    refs = {item.project_ref for item in n.items}
    url = project_url(base_url, refs.pop()) if len(refs) == 1 else None
    if url:
        card["potentialAction"] = [
            {"@type": "OpenUri", "name": "Open", "targets": [{"os": "default", "uri": url}]}
        ]
    return card
