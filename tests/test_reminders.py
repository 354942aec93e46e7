"""The sweep enqueues each reminder once; delivery groups, retries and dead-letters."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from qiflow import (
    ConfigError,
    DeliveryError,
    Engine,
    ManualClock,
    Notification,
    PermissionDenied,
    Person,
    hookimpl,
)
from qiflow.config import DaemonSettings, Settings
from qiflow.daemon import Daemon
from qiflow.notify.civil_time import parse_window
from qiflow.notify.delivery import DeliverySettings
from qiflow.notify.reminders import ReminderPolicy
from tests.helpers import LOW_RISK, OWNER, SPONSOR, new_project

MONDAY_NOON = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # GMT, a working day


class Recorder:
    """A channel that keeps what it is given, and can be told to fail."""

    name = "record"

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.failures: list[DeliveryError] = []
        self.crash = False

    def send(self, notification: Notification) -> None:
        if self.crash:
            raise SystemExit("killed")
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(notification)

    @hookimpl
    def qiflow_channels(self, config: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        return {"record": self}


def settings(*, digest: bool = True, max_attempts: int = 3) -> Settings:
    policy = ReminderPolicy(
        window=parse_window(),
        digest=digest,
        routing={"reminder": ("record",), "escalation": ("record",)},
    )
    return Settings(
        policy=policy,
        daemon=DaemonSettings(
            delivery=DeliverySettings(
                digest=digest, max_attempts=max_attempts, lease=timedelta(minutes=5)
            )
        ),
    )


@pytest.fixture
def setup(db_url: str) -> Iterator[tuple[Engine, ManualClock, Recorder]]:
    clock = ManualClock(MONDAY_NOON)
    recorder = Recorder()
    engine = Engine(db_url, clock=clock, plugins=[recorder])
    engine.import_people(
        [
            Person(id="tt", name="Transformation", roles=("transformation_team",)),
            Person(id="md", name="Medical Director", roles=("medical_director",)),
            Person(id="don", name="Director of Nursing", roles=("director_of_nursing",)),
        ],
        actor="admin",
    )
    engine.subscribe("qiflow.notices", from_seq=0)  # notices of every event, from the first
    yield engine, clock, recorder
    engine.close()


def keys(engine: Engine) -> list[str]:
    # keys end with ":<stage>:<recipient>:<channel>"
    found = engine.outbox(limit=1000)
    return sorted(r.key.split(":")[-3] + ":" + r.recipient for r in found)


def test_reminders_and_escalations_are_enqueued_once_each(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, clock, _recorder = setup
    project = new_project(engine)  # idea: review due in 30 days
    worker = Daemon(engine, settings(), name="d1")
    assert worker.sweep_once() == 0
    clock.advance(days=31)
    assert worker.sweep_once() == 1
    assert worker.sweep_once() == 0  # a second sweep, or a second daemon, adds nothing
    assert Daemon(engine, settings(), name="d2").sweep_once() == 0
    clock.advance(days=7)
    assert worker.sweep_once() == 1
    clock.advance(days=14)
    assert worker.sweep_once() == 1
    assert keys(engine) == [f"owner:{OWNER}", f"sponsor:{SPONSOR}", "transformation_team:tt"]
    engine.record_review(project.ref, actor=OWNER)
    clock.advance(days=1)
    assert worker.sweep_once() == 0  # reviewed: nothing new is due


def test_messages_wait_for_the_window_and_come_as_one_digest(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, clock, recorder = setup
    clock.set(datetime(2027, 3, 3, 20, 0, tzinfo=UTC))
    for title in ("A", "B", "C"):  # reviews due in 30 days: Friday 2 April, 21:00 BST
        engine.create_project(title, actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    clock.set(datetime(2027, 4, 2, 20, 30, tzinfo=UTC))
    worker = Daemon(engine, settings(), name="d1")
    assert worker.sweep_once() == 3
    assert worker.deliver_once().claimed == 0  # not before the window opens
    clock.set(datetime(2027, 4, 5, 8, 0, tzinfo=UTC))  # Monday 09:00 BST
    report = worker.deliver_once()
    assert (report.claimed, report.sent) == (3, 3)
    [digest] = recorder.sent
    assert digest.recipient == OWNER
    assert len(digest.items) == 3
    assert digest.subject == "3 QI project items need your attention"


def test_failures_back_off_then_dead_letter_and_can_be_retried(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, clock, recorder = setup
    engine.create_project("A", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    clock.advance(days=31)
    worker = Daemon(engine, settings(max_attempts=3, digest=False), name="d1")
    worker.sweep_once()
    recorder.failures = [
        DeliveryError("busy", retry_after=60),
        DeliveryError("busy again"),
        DeliveryError("still busy"),
    ]
    assert worker.deliver_once().retried == 1
    assert worker.deliver_once().claimed == 0  # waiting for Retry-After
    clock.advance(seconds=61)
    assert worker.deliver_once().retried == 1
    clock.advance(hours=2)
    assert worker.deliver_once().dead == 1
    [row] = engine.outbox(status="dead")
    assert (row.attempts, row.last_error) == (3, "still busy")
    assert engine.retry_notifications() == 1
    assert worker.deliver_once().sent == 1
    assert len(recorder.sent) == 1


def test_permanent_failures_dead_letter_at_once(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, clock, recorder = setup
    engine.create_project("A", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    clock.advance(days=31)
    worker = Daemon(engine, settings(digest=False), name="d1")
    worker.sweep_once()
    recorder.failures = [DeliveryError("no address", permanent=True)]
    assert worker.deliver_once().dead == 1


def test_a_lease_that_runs_out_is_taken_by_another_daemon(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, clock, recorder = setup
    engine.create_project("A", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    clock.advance(days=31)
    first = Daemon(engine, settings(digest=False), name="crashed")
    first.sweep_once()
    recorder.crash = True  # the daemon dies while sending, before it records anything
    with pytest.raises(SystemExit):
        first.deliver_once()
    recorder.crash = False
    assert [r.status for r in engine.outbox()] == ["sending"]
    second = Daemon(engine, settings(digest=False), name="d2")
    assert second.deliver_once().claimed == 0  # the lease still holds
    clock.advance(minutes=6)
    assert second.deliver_once().sent == 1
    assert [n.recipient for n in recorder.sent] == [OWNER]


def test_pending_signoffs_remind_approvers_and_expiring_ones_warn_the_owner(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, clock, _recorder = setup
    project = new_project(engine)
    form = {**LOW_RISK, "full_assessment": "reviewed"}
    engine.request_signoff(project.ref, "qeia", form, actor=OWNER)
    worker = Daemon(engine, settings(), name="d1")
    clock.advance(days=8)
    worker.sweep_once()
    assert [k for k in keys(engine) if k.startswith("approvers")] == [
        "approvers:don",
        "approvers:md",
    ]
    engine.decide_signoff(project.ref, "qeia", actor="md", approve=True)
    engine.decide_signoff(project.ref, "qeia", actor="don", approve=True)
    clock.advance(days=365 - 20)  # low risk: valid 12 months; 20 days or so left
    worker.sweep_once()
    assert f"expiring:{OWNER}" in keys(engine)


def test_a_retried_message_keeps_its_key_when_more_items_fall_due(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, clock, recorder = setup
    clock.set(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))
    engine.create_project("A", actor=OWNER, owner=OWNER, sponsor=SPONSOR)  # due 31 Mar 12:00
    clock.set(datetime(2027, 3, 1, 18, 0, tzinfo=UTC))
    engine.create_project("B", actor=OWNER, owner=OWNER, sponsor=SPONSOR)  # due 31 Mar 18:00
    worker = Daemon(engine, settings(), name="d1")
    clock.set(datetime(2027, 3, 31, 12, 30, tzinfo=UTC))
    assert worker.sweep_once() == 1  # A, for the next morning's digest
    clock.set(datetime(2027, 4, 1, 8, 0, tzinfo=UTC))  # 09:00 BST
    recorder.failures = [DeliveryError("timed out after the receiver took it", retry_after=86_400)]
    assert worker.deliver_once().retried == 1
    [tried] = [r.message_key for r in engine.outbox()]
    clock.set(datetime(2027, 4, 1, 8, 30, tzinfo=UTC))
    assert worker.sweep_once() == 1  # B: tomorrow's digest, when A is retried too
    clock.set(datetime(2027, 4, 2, 8, 0, tzinfo=UTC))
    assert worker.deliver_once().sent == 2
    retried, fresh = sorted(recorder.sent, key=lambda n: n.key != tried)
    assert retried.key == tried  # the receiver can drop it if the first try did arrive
    assert [i.subject[:7] for i in retried.items] == ["QI-0001"]
    assert [i.subject[:7] for i in fresh.items] == ["QI-0002"]


def test_a_routing_typo_is_refused_at_start(setup: tuple[Engine, ManualClock, Recorder]) -> None:
    engine, _, _ = setup
    policy = ReminderPolicy(routing={"reminder": ("recrod",), "escalation": ("record",)})
    with pytest.raises(ConfigError, match="recrod"):
        Daemon(engine, Settings(policy=policy))


def test_events_worth_telling_are_noticed_once(setup: tuple[Engine, ManualClock, Recorder]) -> None:
    engine, _, recorder = setup
    project = new_project(engine)
    engine.request_signoff(project.ref, "qeia", {**LOW_RISK, "full_assessment": "x"}, actor=OWNER)
    engine.decide_signoff(project.ref, "qeia", actor="md", approve=False, comment="Add equality")
    engine.update_project(project.ref, actor=OWNER, scale="trust_wide")  # a candidate now
    policy = ReminderPolicy(
        window=parse_window(),
        digest=False,
        routing={"reminder": ("record",), "escalation": ("record",), "event": ("record",)},
    )
    no_digest = DaemonSettings(delivery=DeliverySettings(digest=False))
    worker = Daemon(engine, Settings(policy=policy, daemon=no_digest), name="d1")
    assert worker.sweep_once() == 2 + 1 + 3  # approvers; the owner; owner, sponsor, team
    assert Daemon(engine, Settings(policy=policy), name="d2").sweep_once() == 0
    worker.deliver_once()
    told = sorted((n.recipient, n.subject.split(": ")[0]) for n in recorder.sent)
    assert told == [
        ("don", f"{project.ref} QEIA stage 2 awaits your decision"),
        ("md", f"{project.ref} QEIA stage 2 awaits your decision"),
        (OWNER, f"{project.ref} QEIA stage 2 was rejected"),
        (OWNER, f"{project.ref} is a candidate for programme status"),
        (SPONSOR, f"{project.ref} is a candidate for programme status"),
        ("tt", f"{project.ref} is a candidate for programme status"),
    ]
    engine.record_review(project.ref, actor=OWNER)
    assert worker.sweep_once() == 0  # nothing new worth telling


def test_a_persons_own_channels_override_the_routing(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, clock, _ = setup
    engine.import_people(
        [
            Person(id=OWNER, name="Olivia", channels=("console",)),
            Person(id=SPONSOR, name="Sam", channels=("pager",)),
        ],
        actor="admin",
    )
    engine.create_project("A", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    clock.advance(days=38)  # the owner is reminded and the sponsor escalated to
    worker = Daemon(engine, settings(), name="d1")
    worker.sweep_once()
    chosen = sorted((r.recipient, r.channel) for r in engine.outbox())
    # Olivia chose the console; Sam chose a channel that is not installed, so the routing
    assert chosen == [(OWNER, "console"), (SPONSOR, "record")]


def test_one_kind_of_event_can_be_routed_on_its_own(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    engine, _, _ = setup
    project = new_project(engine)
    engine.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)
    engine.decide_signoff(project.ref, "qeia", actor=SPONSOR, approve=False, comment="More")
    policy = ReminderPolicy(
        window=parse_window(),
        routing={
            "reminder": ("record",),
            "escalation": ("record",),
            "event": ("console",),
            "event:gate.rejected": ("record",),
        },
    )
    Daemon(engine, Settings(policy=policy), name="d1").sweep_once()
    routed = sorted((r.recipient, r.channel, r.subject) for r in engine.outbox())
    assert [(who, channel) for who, channel, _ in routed] == [
        (OWNER, "record"),
        (SPONSOR, "console"),
    ]
    assert routed[0][2].endswith("QEIA stage 1 was rejected: Reduce missed doses")
    assert "awaits your decision" in routed[1][2]


def test_each_item_names_its_project_rule_and_due_instant(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    """Channels link to the project and say why the person is told (issue 15)."""
    engine, clock, recorder = setup
    project = new_project(engine)  # idea: review due in 30 days
    # 30 days on the trust's calendar: noon in London, and the clocks change on 28 March
    due = (MONDAY_NOON.astimezone(ZoneInfo("Europe/London")) + timedelta(days=30)).astimezone(UTC)
    clock.advance(days=38)  # 8 days overdue: the owner and the sponsor are told
    worker = Daemon(engine, settings(digest=False), name="d1")
    assert worker.sweep_once() == 2
    assert worker.deliver_once().sent == 2
    by_recipient = {n.recipient: n.items for n in recorder.sent}
    [owner_item] = by_recipient[OWNER]
    [sponsor_item] = by_recipient[SPONSOR]
    for item in (owner_item, sponsor_item):
        assert item.project_ref == project.ref
        assert item.project_title == project.title
        assert item.due == due
    assert owner_item.rule is not None
    assert owner_item.rule.startswith("owner reminder: you own this project")
    assert sponsor_item.rule is not None
    assert sponsor_item.rule.startswith("sponsor escalation: you sponsor this project")
    assert "7 days" in sponsor_item.rule


def test_outbox_rows_name_their_project_and_count_the_sending_attempt(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    """Bugs from issue 10: review-reminder rows listed with ``project_ref = null``, and a
    row sent at the first try showed ``attempts: 0``."""
    engine, clock, recorder = setup
    project = new_project(engine)
    clock.advance(days=38)
    worker = Daemon(engine, settings(digest=False), name="d1")
    assert worker.sweep_once() == 2
    listed = engine.outbox()
    assert {(r.kind, r.project_ref, r.project_title) for r in listed} == {
        ("reminder", project.ref, project.title),
        ("escalation", project.ref, project.title),
    }
    assert {(r.status, r.attempts) for r in listed} == {("pending", 0)}
    recorder.failures.append(DeliveryError("busy"))  # the first message fails once
    first = worker.deliver_once()
    assert (first.sent, first.retried) == (1, 1)
    clock.advance(hours=2)
    assert worker.deliver_once().sent == 1
    assert sorted((r.status, r.attempts) for r in engine.outbox()) == [("sent", 1), ("sent", 2)]


class TrustDirectory:
    """A trust's staff directory answering "who holds role X" (``qiflow_role_holders``)."""

    @hookimpl
    def qiflow_role_holders(self, role: str) -> list[str] | None:
        holders = {"medical_director": ["dr.mehta"], "transformation_team": ["tina", "tom"]}
        return holders.get(role)  # None: qiflow's person table answers


def test_a_directory_plugin_says_who_holds_a_role(db_url: str) -> None:
    """Reminders, escalations, notices and the gate's decider check all ask the plugin
    first; a role it does not answer comes from the person table."""
    clock = ManualClock(MONDAY_NOON)
    with Engine(db_url, clock=clock, plugins=[Recorder(), TrustDirectory()]) as engine:
        engine.import_people(
            [
                Person(id="md", name="Medical Director", roles=("medical_director",)),
                Person(id="don", name="Director of Nursing", roles=("director_of_nursing",)),
                Person(id="tt", name="Transformation", roles=("transformation_team",)),
            ],
            actor="admin",
        )
        project = new_project(engine)
        form = {**LOW_RISK, "full_assessment": "reviewed"}
        engine.request_signoff(project.ref, "qeia", form, actor=OWNER)
        worker = Daemon(engine, settings(), name="d1")
        clock.advance(days=8)
        worker.sweep_once()
        assert [k for k in keys(engine) if k.startswith("approvers")] == [
            "approvers:don",  # the plugin does not answer for director_of_nursing
            "approvers:dr.mehta",  # the plugin's medical director, not the table's md
        ]
        with pytest.raises(PermissionDenied, match="holds none of the roles"):
            engine.decide_signoff(project.ref, "qeia", actor="md", approve=True)
        engine.decide_signoff(project.ref, "qeia", actor="dr.mehta", approve=True)
        clock.advance(days=31 + 14)  # the review is overdue: the team hears
        worker.sweep_once()
        team = sorted(k for k in keys(engine) if k.startswith("transformation_team"))
        assert team == ["transformation_team:tina", "transformation_team:tom"]


def test_shutdown_gives_back_only_what_is_not_in_flight(
    setup: tuple[Engine, ManualClock, Recorder],
) -> None:
    """A message still being sent when the shutdown timeout ends is not given back (it may
    yet succeed, and another daemon would send it again); the rest is (issue 8, bug 2)."""
    engine, clock, recorder = setup
    for title in ("A", "B"):
        engine.create_project(title, actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    clock.advance(days=38)
    worker = Daemon(engine, settings(digest=False), name="d1")
    worker.sweep_once()
    sending, release = threading.Event(), threading.Event()

    def slow(notification: Notification) -> None:
        sending.set()
        release.wait(30)
        recorder.sent.append(notification)

    recorder.send = slow  # type: ignore[method-assign]
    delivering = threading.Thread(target=worker.deliver_once)
    delivering.start()
    assert sending.wait(30)
    in_flight = set(worker.in_flight)
    assert len(in_flight) == 1
    released = engine.release_notifications("d1", keep=in_flight)
    assert released == 3  # four claimed: one in flight, three given back
    still = {r.id: r.status for r in engine.outbox()}
    assert [still[i] for i in in_flight] == ["sending"]
    release.set()
    delivering.join(30)


def next_reminder(db_url: str, ref: str) -> datetime | None:
    """The stored instant the project's next review reminder stage falls due."""
    from sqlalchemy import create_engine, text

    from qiflow.clock import ensure_utc
    from qiflow.store import normalise_url

    raw = create_engine(normalise_url(db_url))
    try:
        with raw.connect() as conn:
            found = conn.execute(
                text("SELECT next_reminder_at FROM qiflow_project WHERE ref = :ref"), {"ref": ref}
            ).scalar_one()
    finally:
        raw.dispose()
    if isinstance(found, str):  # SQLite keeps naive UTC text
        found = datetime.fromisoformat(found)
    return None if found is None else ensure_utc(found)


def test_a_sweep_moves_each_project_on_to_its_next_stage_and_then_leaves_it_alone(
    setup: tuple[Engine, ManualClock, Recorder], db_url: str
) -> None:
    """The idle sweep reads only projects with a stage due: once every stage is enqueued,
    a project overdue for ever costs the sweep nothing (issue 16)."""
    engine, clock, _recorder = setup
    project = new_project(engine)
    due = engine.get(project.ref).next_review_at
    assert due is not None
    assert next_reminder(db_url, project.ref) == due
    worker = Daemon(engine, settings(), name="d1")
    clock.advance(days=31)
    assert worker.sweep_once() == 1
    assert next_reminder(db_url, project.ref) == due + timedelta(days=7)  # the sponsor's
    clock.advance(days=7)
    assert worker.sweep_once() == 1
    assert next_reminder(db_url, project.ref) == due + timedelta(days=21)  # the team's
    clock.advance(days=14)
    assert worker.sweep_once() == 1
    assert next_reminder(db_url, project.ref) is None  # every stage enqueued
    engine.record_review(project.ref, actor=OWNER)
    new_due = engine.get(project.ref).next_review_at
    assert new_due is not None
    assert next_reminder(db_url, project.ref) == new_due  # a new review date starts afresh


def test_a_review_recorded_during_a_sweep_keeps_its_own_reminders(
    setup: tuple[Engine, ManualClock, Recorder], db_url: str
) -> None:
    """The sweep moves a project on only if its review date is still the one it read."""
    from qiflow.store import Store
    from qiflow.store.projects import Reminded

    engine, clock, _recorder = setup
    project = new_project(engine)
    old_due = engine.get(project.ref).next_review_at
    assert old_due is not None
    clock.advance(days=31)
    engine.record_review(project.ref, actor=OWNER)  # the review lands first ...
    new_due = engine.get(project.ref).next_review_at
    store = Store(db_url)
    try:
        with store.write() as tx:  # ... then a sweep that read the old date finishes
            tx.projects.reminded([Reminded(project.id, old_due, None)])
    finally:
        store.dispose()
    assert next_reminder(db_url, project.ref) == new_due
