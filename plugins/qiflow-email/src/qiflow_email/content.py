"""What an email says: a plain-text part and an HTML part in the NHS style.

Both parts carry the same things: each item (grouped by project in a digest), the due
date in the trust's time zone, a link to the project's page when a base URL is
configured (``{base_url}/projects/{ref}``), and a footer naming the rule that made the
person get the message. The HTML part escapes every text it shows, holds its styles
inline, and has no image, stylesheet or script from anywhere: nothing is fetched when
it is opened. Colours are those of the NHS.UK design system (NHS blue ``#005eb8``, text
``#212b32``, secondary text ``#4c6272``, grey background ``#f0f4f5``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from qiflow import Item, Notification

BLUE, TEXT, SECONDARY, GREY, WHITE = "#005eb8", "#212b32", "#4c6272", "#f0f4f5", "#ffffff"
FONT = "Arial, Helvetica, sans-serif"
#: Said when an item does not name its rule (a plugin's own notification, say).
UNNAMED_RULE = "qiflow's notification routing sends you this kind of message"


@dataclass(frozen=True)
class Entry:
    """One item as shown: its text, when it was due, where its project's page is."""

    item: Item
    due: str | None
    url: str | None


def project_url(base_url: str | None, ref: str | None) -> str | None:
    """The project's web page, ``{base_url}/projects/{ref}``, when both are known."""
    if not base_url or not ref:
        return None
    return f"{base_url.rstrip('/')}/projects/{quote(ref, safe='')}"


def when(due: datetime, zone: ZoneInfo) -> str:
    """``Mon 1 Mar 2027, 12:00 GMT``: the instant in the trust's time zone."""
    local = due.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def entries(n: Notification, base_url: str | None, zone: ZoneInfo) -> list[Entry]:
    items = list(n.items) or [Item("notification", None, n.subject, n.body)]
    return [
        Entry(
            item,
            when(item.due, zone) if item.due is not None else None,
            project_url(base_url, item.project_ref),
        )
        for item in items
    ]


def rules(shown: Sequence[Entry]) -> list[str]:
    """The distinct rules behind the items, in order."""
    return list(dict.fromkeys(e.item.rule or UNNAMED_RULE for e in shown))


# plain text ------------------------------------------------------------------------------
def text(n: Notification, shown: Sequence[Entry]) -> str:
    """The plain-text part: the body (or, for a digest, every item), links, the footer."""
    lines: list[str] = []
    if len(shown) == 1:
        entry = shown[0]
        lines.append(n.body.rstrip("\n"))
        if entry.due:
            lines += ["", f"Due: {entry.due}"]
        if entry.url:
            lines += ["", f"Open {entry.item.project_ref}: {entry.url}"]
    else:
        lines += [f"{len(shown)} items need your attention:", ""]
        for number, entry in enumerate(shown, 1):
            lines.append(f"{number}. {' '.join(entry.item.subject.split())}")
            lines.extend(f"   {line}".rstrip() for line in entry.item.body.splitlines())
            if entry.due:
                lines.append(f"   Due: {entry.due}")
            if entry.url:
                lines.append(f"   Open: {entry.url}")
            lines.append("")
    found = rules(shown)
    if lines[-1]:
        lines.append("")
    lines.append("-- ")
    if len(found) == 1:
        lines.append(f"Why you got this: {found[0]}.")
    else:
        lines.append("Why you got this:")
        lines += [f"- {rule}" for rule in found]
    lines.append("Sent by qiflow, the trust's quality improvement project system.")
    return "\n".join(lines).strip("\n") + "\n"


# HTML ------------------------------------------------------------------------------------
def _paragraphs(body: str, style: str) -> str:
    return "".join(
        f'<p style="{style}">{"<br>".join(escape(line) for line in block.splitlines())}</p>'
        for block in body.strip().split("\n\n")
        if block.strip()
    )


def _entry(entry: Entry) -> str:
    item = entry.item
    parts = [
        f'<p style="margin:0 0 8px;font-weight:bold;font-size:17px">{escape(item.subject)}</p>',
        _paragraphs(item.body, "margin:0 0 8px"),
    ]
    if entry.due:
        parts.append(f'<p style="margin:0 0 8px">Due: {escape(entry.due)}</p>')
    if entry.url and item.project_ref:
        parts.append(
            f'<p style="margin:0"><a href="{escape(entry.url)}" style="color:{BLUE};'
            f'text-decoration:underline">Open {escape(item.project_ref)}</a></p>'
        )
    return (
        f'<div style="border-left:8px solid {BLUE};padding:8px 16px;margin:0 0 24px">'
        + "".join(parts)
        + "</div>"
    )


def html(n: Notification, shown: Sequence[Entry]) -> str:
    """The HTML part: escaped text, inline styles, no remote anything."""
    found = rules(shown)
    why = (
        f"Why you got this: {escape(found[0])}."
        if len(found) == 1
        else "Why you got this:<br>" + "<br>".join(f"&ndash; {escape(r)}" for r in found)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(n.subject)}</title>\n</head>\n"
        f'<body style="margin:0;padding:0;background:{GREY};color:{TEXT};font-family:{FONT};'
        'font-size:16px;line-height:1.5">\n'
        f'<div style="background:{BLUE};color:{WHITE};padding:16px 24px;font-weight:bold;'
        'font-size:19px">Quality improvement projects</div>\n'
        f'<div style="max-width:640px;margin:0 auto;padding:24px;background:{WHITE}">\n'
        f'<h1 style="font-size:24px;line-height:1.25;margin:0 0 16px">{escape(n.subject)}</h1>\n'
        + "\n".join(_entry(entry) for entry in shown)
        + f'\n<hr style="border:0;border-top:1px solid {SECONDARY};margin:24px 0 16px">\n'
        f'<p style="margin:0 0 8px;font-size:14px;color:{SECONDARY}">{why}</p>\n'
        f'<p style="margin:0;font-size:14px;color:{SECONDARY}">Sent by qiflow, the trust\'s '
        "quality improvement project system.</p>\n</div>\n</body>\n</html>\n"
    )
