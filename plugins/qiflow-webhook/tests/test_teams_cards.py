"""The Teams channel posts Adaptive Cards in the Workflows envelope, checked by the
Adaptive Cards JavaScript library (see conftest.py) as well as read here."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from qiflow import Engine, Item, ManualClock, Notification, get_plugin_manager
from qiflow.config import load_settings
from qiflow.daemon import Daemon
from webhook_receiver import HookServer

from qiflow_webhook.cards import MAX_BYTES
from qiflow_webhook.plugin import WebhookChannel

CheckCards = Callable[[Sequence[dict[str, Any]]], None]
BASE = "https://qi.example.nhs.uk"
KEY = "qiflow-0123456789abcdef0123456789abcdef"
ENV = "QIFLOW_TEST_TEAMS_HOOK"


def teams(url: str, **options: Any) -> WebhookChannel:
    return WebhookChannel(
        "teams", url, format="teams", connect_timeout=2.0, read_timeout=2.0, **options
    )


def notification(
    *items: Item, subject: str = "QI project items need your attention"
) -> Notification:
    return Notification(
        key=KEY,
        channel="teams",
        recipient="sam",
        name="Sam Sponsor",
        address=None,
        subject=subject,
        body="",
        items=items,
    )


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] in ("1.4", "1.5")  # Teams renders up to 1.5
    return card


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def texts(card: dict[str, Any]) -> list[str]:
    return [e["text"] for e in walk(card) if e.get("type") == "TextRun"]


def facts(card: dict[str, Any]) -> list[dict[str, str]]:
    return [fact for e in walk(card) if e.get("type") == "FactSet" for fact in e["facts"]]


def opened(card: dict[str, Any]) -> list[str]:
    return [e["url"] for e in walk(card) if e.get("type") == "Action.OpenUrl"]


def sections(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in card["body"] if e["type"] == "Container"]


def test_an_escalation_is_an_adaptive_card_with_due_date_rule_and_open_button(
    server: HookServer, check_cards: CheckCards
) -> None:
    due = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 June in London (BST)
    rule = "sponsor escalation: you sponsor this project and its review is overdue"
    item = Item(
        "escalation",
        "QI-0007",
        "QI-0007 review overdue since 01 Jun 2026 (escalated to the sponsor): Falls",
        "The review of QI-0007 (Falls), owned by olivia, has been overdue since 01 Jun 2026.",
        rule=rule,
        due=due,
        project_title="Falls on ward 7",
    )
    n = notification(item, subject=item.subject)
    teams(server.url, base_url=BASE).send(n)

    [request] = server.requests
    assert request.headers["idempotency-key"] == KEY
    assert len(request.raw) < MAX_BYTES
    card = card_of(request.body)
    check_cards([card])
    shown = texts(card)
    assert shown[:2] == [item.subject, "For Sam Sponsor"]
    assert "QI-0007: Falls on ward 7" in shown
    assert item.body in shown
    assert facts(card) == [
        {"title": "Due", "value": "Tue 2 Jun 2026, 00:30 BST"},
        {"title": "Why you", "value": rule},
    ]
    assert opened(card) == [f"{BASE}/projects/QI-0007"]
    # every text is a TextRun: Teams shows it as written, never as Markdown
    assert not [e for e in walk(card) if e.get("type") == "TextBlock"]


def test_the_due_date_is_in_the_configured_time_zone(
    server: HookServer, check_cards: CheckCards
) -> None:
    due = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    item = Item("reminder", "QI-0001", "QI-0001 review due", "", due=due)
    teams(server.url, timezone="America/New_York").send(notification(item))

    card = card_of(server.requests[0].body)
    check_cards([card])
    assert facts(card) == [{"title": "Due", "value": "Mon 5 Jan 2026, 04:00 EST"}]
    assert opened(card) == []  # no base URL, no button


def test_markdown_in_a_title_is_shown_as_written(
    server: HookServer, check_cards: CheckCards
) -> None:
    title = "[Click here](https://evil.example) **now** <b>x</b>"
    item = Item("reminder", "QI-0003", f"QI-0003 review due: {title}", "", project_title=title)
    teams(server.url).send(notification(item))

    card = card_of(server.requests[0].body)
    check_cards([card])
    assert f"QI-0003: {title}" in texts(card)
    assert opened(card) == []


def test_a_digest_is_one_card_with_a_section_per_project(
    server: HookServer, check_cards: CheckCards
) -> None:
    items = (
        Item("reminder", "QI-0001", "QI-0001 review due", "Due.", project_title="Falls"),
        Item("escalation", "QI-0002", "QI-0002 review overdue", "", project_title="Sepsis"),
        Item("reminder", "QI-0001", "QI-0001 QEIA runs out", "", project_title="Falls"),
        Item("event", None, "A notice about no project", ""),
    )
    teams(server.url, base_url=BASE + "/").send(notification(*items))

    [request] = server.requests
    card = card_of(request.body)
    check_cards([card])
    found = sections(card)
    assert [texts(s)[0] for s in found] == ["QI-0001: Falls", "QI-0002: Sepsis", "Other items"]
    assert texts(found[0])[1:] == ["QI-0001 review due", "Due.", "QI-0001 QEIA runs out"]
    assert [opened(s) for s in found] == [
        [f"{BASE}/projects/QI-0001"],
        [f"{BASE}/projects/QI-0002"],
        [],
    ]


LEFT_OUT = re.compile(r"…and (\d+) more items? of (\d+) projects?, left out")


def big_digest(projects: int, per_project: int) -> tuple[Item, ...]:
    due = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return tuple(
        Item(
            "escalation",
            f"QI-{p:04d}",
            f"QI-{p:04d} review overdue since 02 Mar 2026 (escalated to the sponsor): "
            + "Réduire les chutes ☕ " * 20,
            "The review has been overdue since 02 Mar 2026 (30 days). " * 30,
            rule="sponsor escalation: you sponsor this project and its review is overdue",
            due=due,
            project_title="Améliorer la sécurité 🏥 " * 20,
        )
        for p in range(1, projects + 1)
        for _ in range(per_project)
    )


@pytest.mark.parametrize(("projects", "per_project"), [(200, 1), (1, 200), (20, 10)])
def test_a_digest_of_200_items_stays_under_the_teams_limit(
    server: HookServer, check_cards: CheckCards, projects: int, per_project: int
) -> None:
    items = big_digest(projects, per_project)
    teams(server.url, base_url=BASE).send(notification(*items))

    [request] = server.requests
    assert len(request.raw) < MAX_BYTES
    assert int(request.headers["content-length"]) == len(request.raw)
    card = card_of(request.body)
    check_cards([card])
    shown = sum(1 for fact in facts(card) if fact["title"] == "Why you")
    [note] = [m for text in texts(card) if (m := LEFT_OUT.match(text))]
    left, left_projects = int(note[1]), int(note[2])
    assert shown >= 10  # a summary, not an empty card
    assert shown + left == 200
    assert 1 <= left_projects <= projects
    assert opened(card)[-1] == f"{BASE}/projects"  # the note opens the list of projects


def test_a_digest_that_fits_has_no_note(server: HookServer, check_cards: CheckCards) -> None:
    items = tuple(Item("reminder", f"QI-{p:04d}", f"QI-{p:04d} review due", "") for p in range(9))
    teams(server.url).send(notification(*items))

    card = card_of(server.requests[0].body)
    check_cards([card])
    assert len(sections(card)) == 9
    assert not [t for t in texts(card) if LEFT_OUT.match(t)]


def test_the_daemon_posts_cards_that_link_to_each_project(
    tmp_path: Path, server: HookServer, check_cards: CheckCards
) -> None:
    """qiflow.toml's [web] base_url and the outbox's items, end to end through the daemon."""
    config = tmp_path / "qiflow.toml"
    config.write_text(
        f"""
[web]
base_url = "{BASE}"

[sending]
days = "mon-sun"
hours = "00:00-23:59"
digest = false

[routing]
reminder = ["teams"]
escalation = ["teams"]

[channels.teams]
url_env = "{ENV}"
""",
        encoding="utf-8",
    )
    settings = load_settings(config, {ENV: server.url})
    clock = ManualClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    with Engine(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        clock=clock,
        plugins=get_plugin_manager(allow=["webhook"]),
        migrate=True,
    ) as engine:
        project = engine.create_project(
            "Reduce missed doses", actor="olivia", owner="olivia", sponsor="sam"
        )
        clock.advance(days=40)  # the review (due after 30 days) is 10 days overdue
        worker = Daemon(engine, settings, name="test-daemon")
        enqueued, report = worker.once()
    assert (enqueued, report.sent) == (2, 2)

    cards = [card_of(r.body) for r in server.requests]
    check_cards(cards)
    for card in cards:
        assert opened(card) == [f"{BASE}/projects/{project.ref}"]
        assert f"{project.ref}: Reduce missed doses" in texts(card)
        assert {"title": "Due", "value": "Wed 4 Feb 2026, 12:00 GMT"} in facts(card)
    why = sorted(
        f["value"].split(":")[0] for c in cards for f in facts(c) if f["title"] == "Why you"
    )
    assert why == ["owner reminder", "sponsor escalation"]


@pytest.mark.parametrize(
    "broken",
    [
        {
            "type": "RichTextBlock",
            "inlines": [{"type": "TextRun", "text": "x", "wieght": "Bolder"}],
        },
        {"type": "Bogus"},
        {"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": "Open"}]},
        {"type": "Container", "spacing": "Huge", "items": []},
    ],
)
def test_the_card_check_refuses_what_teams_would_not_render(
    check_cards: CheckCards, broken: dict[str, Any]
) -> None:
    """The check itself: a misspelt property, an unknown element, a button without a URL
    and a bad value are each refused."""
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [broken]}
    with pytest.raises(AssertionError):
        check_cards([card])
