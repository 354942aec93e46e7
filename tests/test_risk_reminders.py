"""The daemon reminds risk owners and action owners, and tells the sponsor of a rise in band.

The clock is moved by hand; notifications go out through the webhook plugin to a real
HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import qiflow_webhook.plugin

from qiflow import Engine, ManualClock, get_plugin_manager
from qiflow.config import DaemonSettings, Settings
from qiflow.daemon import Daemon
from qiflow.notify.civil_time import parse_window
from qiflow.notify.delivery import DeliverySettings
from qiflow.notify.reminders import ReminderPolicy
from tests.daemon_support import Receiver, receiving
from tests.helpers import OWNER, SPONSOR, new_project

MONDAY_NOON = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def setup(db_url: str) -> Iterator[tuple[Engine, ManualClock, Daemon, Receiver]]:
    clock = ManualClock(MONDAY_NOON)
    pm = get_plugin_manager([qiflow_webhook.plugin], entry_points=False)
    with receiving() as receiver, Engine(db_url, clock=clock, plugins=pm) as engine:
        settings = Settings(
            policy=ReminderPolicy(
                window=parse_window("mon-sun", "00:00-23:59"),
                digest=False,
                routing={
                    "reminder": ("webhook",),
                    "escalation": ("webhook",),
                    "event": ("webhook",),
                },
            ),
            daemon=DaemonSettings(delivery=DeliverySettings(digest=False)),
            channels={"webhook": {"url": receiver.url}},
        )
        daemon = Daemon(engine, settings, name="d1", clock=clock)
        try:
            yield engine, clock, daemon, receiver
        finally:
            for channel in daemon.channels.values():
                getattr(channel, "close", lambda: None)()


def delivered(daemon: Daemon, receiver: Receiver) -> list[tuple[str, str]]:
    """Deliver what is due; (recipient, subject up to its colon) of each new arrival."""
    before = len(receiver.snapshot())
    daemon.deliver_once()
    return sorted(
        (a.payload["recipient"], a.payload["subject"].split(": ")[0])
        for a in receiver.snapshot()[before:]
    )


def test_owners_are_reminded_of_due_reviews_and_overdue_actions(
    setup: tuple[Engine, ManualClock, Daemon, Receiver],
) -> None:
    engine, clock, daemon, receiver = setup
    ref = new_project(engine).ref  # its own review falls due in 30 days
    engine.add_risk(
        ref, "Agency staff unfamiliar with the ward", category="workforce", owner="h.ali",
        consequence=3, likelihood=3, actor=OWNER,
    )  # fmt: skip  # high: reviewed in three months, on 1 June
    engine.add_risk_action(
        ref, "R1", "Induction pack", owner="bob", due=date(2027, 3, 5), actor=OWNER
    )
    assert daemon.sweep_once() == 0
    clock.set(datetime(2027, 3, 5, 23, 0, tzinfo=UTC))  # due today: not yet overdue
    assert daemon.sweep_once() == 0
    clock.set(datetime(2027, 3, 6, 9, 0, tzinfo=UTC))
    assert daemon.sweep_once() == 1
    assert daemon.sweep_once() == 0  # once, however often the daemon sweeps
    assert delivered(daemon, receiver) == [
        ("bob", f"{ref} risk R1 action A1 overdue since 05 Mar 2027")
    ]
    [item] = receiver.snapshot()[-1].payload["items"]
    assert (item["rule"], item["due"], item["project_ref"]) == (
        "risk action reminder: you own this action on a risk and it is overdue",
        "2027-03-05T00:00:00+00:00",
        ref,
    )
    engine.complete_risk_action(ref, "R1", "A1", actor="bob")

    clock.set(datetime(2027, 6, 1, 0, 30, tzinfo=UTC))  # the risk's review day
    assert daemon.sweep_once() == 3  # the risk owner; the overdue project: owner and sponsor
    assert (
        "h.ali",
        f"{ref} risk R1 review due 01 Jun 2027",
    ) in delivered(daemon, receiver)
    assert daemon.sweep_once() == 0
    engine.record_review(ref, actor=OWNER)
    engine.review_risk(ref, "R1", consequence=3, likelihood=2, actor="h.ali")  # moderate now
    clock.set(datetime(2027, 11, 30, 12, 0, tzinfo=UTC))  # before the next review (1 December)
    assert [a for a in delivered(daemon, receiver) if a[0] == "h.ali"] == []
    before = {r.key for r in engine.outbox(limit=1000)}
    daemon.sweep_once()
    assert not [k for k in {r.key for r in engine.outbox(limit=1000)} - before if "risk" in k]
    clock.set(datetime(2027, 12, 1, 8, 0, tzinfo=UTC))
    daemon.sweep_once()
    assert ("h.ali", f"{ref} risk R1 review due 01 Dec 2027") in delivered(daemon, receiver)


def test_the_sponsor_is_told_when_a_risk_rises_a_band_or_is_extreme(
    setup: tuple[Engine, ManualClock, Daemon, Receiver],
) -> None:
    engine, _clock, daemon, receiver = setup
    ref = new_project(engine).ref
    engine.add_risk(
        ref, "Falls at night", category="patient_safety", owner=OWNER, consequence=2,
        likelihood=2, actor=OWNER,
    )  # fmt: skip  # moderate: nothing to tell
    assert daemon.sweep_once() == 0
    engine.review_risk(ref, "R1", consequence=3, likelihood=3, actor=OWNER)  # to high
    engine.review_risk(ref, "R1", consequence=3, likelihood=4, actor=OWNER)  # still high
    engine.add_risk(
        ref, "Ligature points", category="patient_safety", owner=OWNER, consequence=5,
        likelihood=3, actor=OWNER,
    )  # fmt: skip  # extreme from the start: the project becomes a programme candidate too
    assert daemon.sweep_once() == 2 + 2  # the rises; the candidacy (owner and sponsor)
    told = delivered(daemon, receiver)
    assert [t for t in told if "risk" in t[1]] == [
        (SPONSOR, f"{ref} risk R1 rose from moderate to high (score 9)"),
        (SPONSOR, f"{ref} risk R2 is extreme (score 15)"),
    ]
    engine.review_risk(ref, "R1", consequence=1, likelihood=1, actor=OWNER)  # a fall: no notice
    assert daemon.sweep_once() == 0
