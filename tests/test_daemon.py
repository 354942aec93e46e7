"""The reminder daemon with real components: two simulated years, processes, crashes, signals.

* Two years of review cadences on a manual clock, across all four Europe/London
  daylight-saving changes, bank holidays and weekends: every overdue review is
  reminded once, escalated on time, sent inside the window, one digest a day.
* Three ``qiflow daemon`` processes on one PostgreSQL database deliver 2,000
  reminders to a local webhook receiver: all arrive, none twice.
* ``kill -9`` mid-delivery, SIGTERM mid-delivery, and a receiver answering 503.

The sending window is checked independently of qiflow (zoneinfo and gov.uk's bank
holidays, in tests/daemon_support.py). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import bisect
import json
import logging
import random
import re
import signal
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import holidays
import pytest
import qiflow_webhook.plugin
import structlog
from click.testing import CliRunner

from qiflow import ConfigError, Engine, ManualClock, Person, Queued, get_plugin_manager, hookimpl
from qiflow.cli import main
from qiflow.config import DaemonSettings, Settings, load_settings
from qiflow.daemon import Daemon
from qiflow.notify.channels import Notification
from qiflow.notify.civil_time import parse_window
from qiflow.notify.delivery import DeliverySettings
from qiflow.notify.reminders import ReminderPolicy
from tests.daemon_support import (
    BANK_HOLIDAYS,
    LONDON,
    as_utc,
    daemon_config,
    daemons,
    in_window,
    local,
    opening,
    receiving,
    sigterm_and_wait,
    wait_until,
    write_config,
)

#: Also run through PgBouncer in transaction mode when QIFLOW_TEST_PGBOUNCER_URL is set.
THROUGH_PGBOUNCER = True

DAY = timedelta(days=1)
CADENCE = timedelta(days=30)  # the default workflow's "idea" state: review = "P30D"
SPONSOR_AFTER, TEAM_AFTER = timedelta(days=7), timedelta(days=21)


def notification_rows(url: str) -> list[Queued]:
    """Every notification in the outbox, oldest first."""
    with Engine(url) as engine:
        return engine.outbox(limit=1_000_000)[::-1]


def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Info logs from ~20,000 daemon passes would dominate the simulation's runtime."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**saved)


@pytest.fixture
def isolated_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ./qiflow.toml and no QIFLOW_* settings reach the command line under test."""
    monkeypatch.chdir(tmp_path)
    for name in ("QIFLOW_CONFIG", "QIFLOW_DATABASE_URL", "QIFLOW_PLUGINS", "QIFLOW_DIGEST"):
        monkeypatch.delenv(name, raising=False)


class Recorder:
    """A channel that records each message with the (manual) time it was sent."""

    name = "record"

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, Notification]] = []

    def send(self, notification: Notification) -> None:
        self.sent.append((self.clock.now(), notification))

    @hookimpl
    def qiflow_channels(self, config: Any) -> dict[str, Any]:
        return {"record": self}


def test_the_bank_holiday_list_matches_the_holidays_package() -> None:
    """The simulation's calendar is typed in from gov.uk; check it against `holidays`."""
    found = holidays.country_holidays("GB", subdiv="ENG", years=[2026, 2027, 2028])
    weekdays = {d for d in found if d.weekday() < 5 and d <= date(2028, 1, 31)}
    assert weekdays == BANK_HOLIDAYS


# two simulated years ----------------------------------------------------------------------------

SIM_START = datetime(2026, 1, 1, tzinfo=UTC)
SIM_END = datetime(2028, 1, 8, tzinfo=UTC)
DST_CHANGES = (
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2027, 3, 28, 1, tzinfo=UTC),
    datetime(2027, 10, 31, 1, tzinfo=UTC),
)
TEAM = ("tt1", "tt2")  # active transformation team; tt3 has left and must hear nothing
#: Awkward wall-clock times for the randomly placed due dates.
AWKWARD_TIMES = ((8, 59, 59), (9, 0, 0), (16, 59, 59), (17, 0, 0), (0, 15, 0), (23, 45, 0))
#: How long after one due date the next falls (the owner records a review at next - 30 days):
#: before it (no reminder), promptly, late (sponsor told), very late (team told).
BEHAVIOURS = {
    "early": (timedelta(days=5), timedelta(days=28)),
    "prompt": (CADENCE + timedelta(hours=2), CADENCE + timedelta(days=6)),
    "late": (CADENCE + timedelta(days=8), CADENCE + timedelta(days=19)),
    "very late": (CADENCE + timedelta(days=23), CADENCE + timedelta(days=40)),
}


@dataclass
class Plan:
    """One project: the review due dates its owner's recordings produce."""

    title: str
    owner: str
    sponsor: str | None
    musts: list[datetime]  # awkward due dates it must meet
    left_overdue: bool = False  # the last due date is never reviewed


PLANS = [
    Plan(
        "Weekend and Easter",
        "olivia",
        "sam",
        [
            local(2026, 1, 10, 11),  # a Saturday
            local(2026, 4, 3, 8, 59, 59),  # Good Friday
            local(2026, 10, 25, 1, 30),  # 01:30 BST, just before the clocks go back
            local(2027, 3, 26, 9),  # Good Friday, the weekend the clocks go forward
            local(2027, 12, 24, 16, 59, 59),  # Christmas Eve: then four days off
        ],
    ),
    Plan(
        "Fridays at the close",
        "olivia",
        "sam",
        [
            local(2026, 1, 11, 15),  # Sunday: with the Saturday one, a two-item digest
            local(2026, 3, 27, 16, 59, 59),  # the Friday before the clocks go forward
            local(2026, 8, 28, 17),  # Friday close, then the August bank holiday
            local(2026, 12, 24, 17),  # Christmas Eve close: back on Tuesday 29th
            local(2027, 10, 29, 8, 59),  # the Friday before the clocks go back
        ],
    ),
    Plan(
        "Night of the change",
        "omar",
        "sara",
        [
            local(2026, 3, 29, 0, 30),  # 00:30 GMT, half an hour before the change
            local(2026, 5, 4, 17),  # Early May bank holiday
            local(2026, 10, 25, 1, 30, fold=1),  # 01:30 GMT, the repeated hour
            local(2027, 3, 28, 0, 59),
            local(2027, 10, 31, 1, 59),  # 01:59 BST, a minute before the change
        ],
    ),
    Plan(
        "After the change",
        "omar",
        "sara",
        [
            local(2026, 3, 29, 3, 30),  # 03:30 BST, just after the change
            local(2026, 6, 3, 9),  # a Wednesday, exactly at the opening
            local(2026, 10, 23, 17),  # Friday close, before the clocks go back
            local(2027, 1, 1, 9),  # New Year's Day
            local(2027, 10, 31, 1, 0, fold=1),  # 01:00 GMT, just after the change
        ],
    ),
    Plan(
        "No sponsor",
        "ola",
        None,
        [local(2026, 4, 6, 9), local(2026, 6, 9, 8, 59, 59), local(2027, 5, 31, 12)],
    ),
    Plan(
        "Forgotten",
        "ola",
        "sam",
        [local(2026, 2, 2, 8, 59, 59), local(2027, 10, 22, 17)],  # then never reviewed again
        left_overdue=True,
    ),
    Plan(
        "Escalated across the spring change",
        "olivia",
        "sara",
        [local(2026, 3, 20, 16, 59, 59), local(2026, 5, 20, 10, 15)],  # 31 days late
    ),
]


def snap(instant: datetime, rng: random.Random) -> datetime:
    """The same London date at an awkward wall-clock time."""
    day = instant.astimezone(LONDON).date()
    return local(day.year, day.month, day.day, *rng.choice(AWKWARD_TIMES))


def plan_dues(plan: Plan, rng: random.Random) -> list[datetime]:
    """The must-meet due dates with randomly behaved reviews between them."""
    targets = list(plan.musts[1:])
    if not plan.left_overdue:  # the last review pushes the next due date past the end
        targets.append(max(SIM_END + 10 * DAY, plan.musts[-1] + CADENCE + 2 * DAY))
    dues = [plan.musts[0]]
    for target in targets:
        while target - dues[-1] > timedelta(days=80):
            after_a_must = dues[-1] in plan.musts
            names = [n for n in BEHAVIOURS if not (after_a_must and n == "early")]
            low, high = BEHAVIOURS[rng.choice(names)]
            candidate = snap(dues[-1] + rng.uniform(0, 1) * (high - low) + low, rng)
            if dues[-1] + DAY < candidate < target - 40 * DAY:
                dues.append(candidate)
        dues.append(target)
    assert dues == sorted(dues)
    return dues


def simulation_steps() -> list[datetime]:
    """When the simulated daemon sweeps and delivers: around both edges of the window on
    every day (weekends and holidays too, to catch a send there), and every 4 hours."""
    steps: set[datetime] = set()
    day = SIM_START.date()
    while day <= SIM_END.date():
        for hour, minute in ((8, 0), (8, 59), (9, 0), (16, 59), (17, 0)):
            steps.add(local(day.year, day.month, day.day, hour, minute))
        for hour in range(0, 24, 4):
            steps.add(datetime(day.year, day.month, day.day, hour, tzinfo=UTC))
        day += DAY
    return sorted(t for t in steps if SIM_START <= t < SIM_END)


@dataclass(frozen=True)
class Expected:
    stage: str
    at: datetime  # when the stage falls due
    recipient: str


KEY = re.compile(r"review:(?P<pid>[^:]+):(?P<due>.+):(?P<stage>[a-z_]+):(?P<to>[^:]+):record")


def test_two_years_of_reminders_across_daylight_saving(db_url: str, quiet_logs: None) -> None:
    rng = random.Random(20260101)
    planned = [plan_dues(plan, rng) for plan in PLANS]
    steps = simulation_steps()
    clock = ManualClock(SIM_START - timedelta(days=60))
    recorder = Recorder(clock)
    pm = get_plugin_manager([recorder], entry_points=False)
    # the plan's due dates are exact UTC cadences; this test is about sending across
    # daylight saving (tests/test_trust_time.py covers cadences on the trust's calendar)
    engine = Engine(db_url, clock=clock, plugins=pm, migrate=False, timezone="UTC")
    try:
        engine.import_people(
            [
                Person(id="olivia", name="Olivia"),
                Person(id="omar", name="Omar"),
                Person(id="ola", name="Ola"),
                Person(id="sam", name="Sam"),
                Person(id="sara", name="Sara"),
                *(Person(id=p, name=p, roles=("transformation_team",)) for p in TEAM),
                Person(id="tt3", name="Gone", roles=("transformation_team",), active=False),
            ],
            actor="admin",
        )
        policy = ReminderPolicy(
            window=parse_window("mon-fri", "09:00-17:00"),
            digest=True,
            routing={"reminder": ("record",), "escalation": ("record",), "event": ("record",)},
        )
        settings = Settings(policy=policy)
        daemon = Daemon(engine, settings, name="simulated", clock=clock)

        # the owners' actions: create at (first due - 30 days), record at (next due - 30 days)
        actions = sorted(
            (due - CADENCE, i, k) for i, dues in enumerate(planned) for k, due in enumerate(dues)
        )
        refs: dict[int, str] = {}
        ids: dict[int, str] = {}
        done = 0

        def act(until: datetime) -> None:
            nonlocal done
            while done < len(actions) and actions[done][0] <= until:
                when, i, k = actions[done]
                plan = PLANS[i]
                clock.set(when)
                if k == 0:
                    project = engine.create_project(
                        plan.title, actor=plan.owner, owner=plan.owner, sponsor=plan.sponsor
                    )
                    refs[i], ids[i] = project.ref, project.id
                else:
                    project = engine.record_review(refs[i], actor=plan.owner)
                assert project.next_review_at is not None
                assert as_utc(project.next_review_at) == planned[i][k]
                done += 1

        for step in steps:
            act(step)
            clock.set(step)
            daemon.sweep_once()
            daemon.deliver_once()
        last = steps[-1]

        rows = notification_rows(db_url)
        people = {p.id: p for p in engine.people()}
    finally:
        engine.close()

    # what should have happened, from the plan alone ------------------------------------------
    expected: dict[tuple[str, datetime, str, str], datetime | None] = {}
    for i, (plan, dues) in enumerate(zip(PLANS, planned, strict=True)):
        for k, due in enumerate(dues):
            if due >= SIM_END:
                continue
            reviewed = dues[k + 1] - CADENCE if k + 1 < len(dues) else SIM_END + 365 * DAY
            stages = [Expected("owner", due, plan.owner)]
            if plan.sponsor:
                stages.append(Expected("sponsor", due + SPONSOR_AFTER, plan.sponsor))
            stages += [Expected("transformation_team", due + TEAM_AFTER, p) for p in TEAM]
            for stage in stages:
                # enqueued if a sweep ran once it was due and before the review was recorded
                first = bisect.bisect_left(steps, stage.at)
                if first < len(steps) and steps[first] < reviewed:
                    send = opening(stage.at)
                    expected[(ids[i], due, stage.stage, stage.recipient)] = (
                        send if send <= last else None
                    )

    # what did happen -------------------------------------------------------------------------
    found: dict[tuple[str, datetime, str, str], dict[str, Any]] = {}
    for row in rows:
        match = KEY.fullmatch(row.key)
        assert match, row.key
        due = datetime.fromisoformat(match["due"])
        found[(match["pid"], due, match["stage"], match["to"])] = row
    assert len(found) == len(rows)

    missing = sorted(set(expected) - set(found), key=lambda k: k[1])
    extra = sorted(set(found) - set(expected), key=lambda k: k[1])
    assert missing == [], f"reminders never enqueued: {missing[:5]}"
    assert extra == [], f"reminders enqueued that were not due: {extra[:5]}"
    wrong_time = []
    for key, send in expected.items():
        row = found[key]
        if send is None:
            assert row.status == "pending", (key, row.status)
        elif row.status != "sent" or as_utc(row.sent_at) != send:
            wrong_time.append((key, row.status, row.sent_at, send))
    assert wrong_time == [], f"sent late, early or never: {wrong_time[:5]}"

    # every send inside the window, each message once, one message a person a day
    sends = recorder.sent
    outside = [(at, n.recipient) for at, n in sends if not in_window(at)]
    assert outside == [], f"sent outside Mon-Fri 09:00-17:00 London: {outside[:5]}"
    assert len({n.key for _, n in sends}) == len(sends), "a message key was delivered twice"
    per_day = Counter((n.recipient, at.astimezone(LONDON).date()) for at, n in sends)
    assert max(per_day.values()) == 1, [k for k, v in per_day.items() if v > 1][:5]
    by_key = defaultdict(list)
    for row in rows:
        if row.status == "sent":
            by_key[row.message_key].append(row)
    assert len(by_key) == len(sends)
    for at, n in sends:
        group = by_key[n.key]
        assert {r.recipient for r in group} == {n.recipient}
        assert {as_utc(r.sent_at) for r in group} == {at}
        assert sorted(i.subject for i in n.items) == sorted(r.subject for r in group)
        assert n.name == people[n.recipient].name
    assert "tt3" not in {n.recipient for _, n in sends}

    # the scenario really exercised what it is for
    owner_sends = {(k[0], k[1]): v for k, v in expected.items() if k[2] == "owner"}
    stages = Counter(k[2] for k, v in expected.items() if v is not None)
    assert stages["owner"] >= 40
    assert stages["sponsor"] >= 8
    assert stages["transformation_team"] >= 8
    assert any(len(n.items) >= 2 for _, n in sends), "no digest ever had two items"
    for change in DST_CHANGES:
        near = [d for (_, d) in owner_sends if abs(d - change) < 2 * DAY]
        assert len(near) >= 2, f"too few reviews due around the change at {change}"
    assert any(d.astimezone(LONDON).date() in BANK_HOLIDAYS for (_, d) in owner_sends)
    # a few worked by hand: (plan, due) -> the owner's reminder
    by_hand = {
        (0, local(2026, 4, 3, 8, 59, 59)): datetime(2026, 4, 7, 8, tzinfo=UTC),  # Tue, BST
        (1, local(2026, 12, 24, 17)): datetime(2026, 12, 29, 9, tzinfo=UTC),
        (2, local(2026, 10, 25, 1, 30, fold=1)): datetime(2026, 10, 26, 9, tzinfo=UTC),
        (3, local(2027, 1, 1, 9)): datetime(2027, 1, 4, 9, tzinfo=UTC),
        (0, local(2027, 3, 26, 9)): datetime(2027, 3, 30, 8, tzinfo=UTC),
        (1, local(2027, 10, 29, 8, 59)): datetime(2027, 10, 29, 8, tzinfo=UTC),
        (0, local(2027, 12, 24, 16, 59, 59)): datetime(2027, 12, 29, 9, tzinfo=UTC),
    }
    for (i, due), send in by_hand.items():
        assert as_utc(found[(ids[i], due, "owner", PLANS[i].owner)].sent_at) == send
    forgotten, spring = ids[5], ids[6]
    late, team = local(2027, 10, 22, 17), "transformation_team"
    early = local(2026, 3, 20, 16, 59, 59)
    for pid, due, stage, who, send in (
        (forgotten, late, "sponsor", "sam", datetime(2027, 11, 1, 9, tzinfo=UTC)),  # GMT again
        (forgotten, late, team, "tt1", datetime(2027, 11, 15, 9, tzinfo=UTC)),
        (spring, early, "sponsor", "sara", datetime(2026, 3, 30, 8, tzinfo=UTC)),  # BST now
        (spring, early, team, "tt2", datetime(2026, 4, 13, 8, tzinfo=UTC)),
    ):
        assert as_utc(found[(pid, due, stage, who)].sent_at) == send


# daemon processes and a webhook receiver --------------------------------------------------------


def seed_overdue(url: str, count: int) -> list[str]:
    """``count`` projects, each with its own owner, whose reviews fell due 5.5 to 7 days ago
    (past any run of bank holidays, short of the sponsor's 7 days). Returns the owners."""
    now = datetime.now(UTC)
    clock = ManualClock(now - CADENCE - timedelta(days=6.9))
    spread = timedelta(days=1.4) / count
    owners = [f"owner{i:04d}" for i in range(count)]
    with Engine(url, clock=clock, plugins=get_plugin_manager(entry_points=False)) as engine:
        for i, owner in enumerate(owners):
            engine.create_project(f"Overdue project {i}", actor="seed", owner=owner)
            clock.advance(spread)
    return owners


def config_dir(tmp_path: Path) -> Path:
    """Not the working directory: `daemon status` there must not pick the file up."""
    path = tmp_path / "etc"
    path.mkdir(exist_ok=True)
    return path


def count_sent(engine: Engine) -> int:
    return engine.outbox_status().counts.get("sent", 0)


def wait_all_sent(db_url: str, count: int, timeout: float = 60) -> None:
    with Engine(db_url) as engine:
        wait_until(lambda: count_sent(engine) == count, timeout, "every row to be sent")


@pytest.mark.postgres
def test_three_daemon_processes_deliver_2000_reminders_once_each(
    pg_url: str, tmp_path: Path, quiet_logs: None, isolated_cli: None
) -> None:
    owners = seed_overdue(pg_url, 2000)
    shutdown = 10
    config = write_config(
        config_dir(tmp_path) / "qiflow.toml",
        # the first sweep enqueues everything; later ones would only add load
        daemon_config(batch=25, lease=60, shutdown_timeout=shutdown, sweep_interval=30),
    )
    engine = Engine(pg_url)
    try:
        with (
            receiving() as receiver,
            daemons(pg_url, config, receiver.url, tmp_path) as group,
        ):
            for name in ("d1", "d2", "d3"):
                group.start(name)

            def delivered() -> bool:
                died = [d.name for d in group.started if d.process.poll() is not None]
                assert died == [], f"daemons {died} exited early:\n{group.logs()}"
                arrived = len(set(receiver.keys()))
                return arrived >= len(owners) and count_sent(engine) == len(owners)

            wait_until(delivered, 120, "2,000 reminders to arrive", step=0.25)
            exits = sigterm_and_wait(group, shutdown + 10)
            logs = group.logs()
    finally:
        engine.close()

    assert [(name, code) for name, code, _ in exits] == [("d1", 0), ("d2", 0), ("d3", 0)], logs
    assert max(took for _, _, took in exits) <= shutdown + 5
    rows = notification_rows(pg_url)
    assert len(rows) == len(owners)
    assert {r.status for r in rows} == {"sent"}
    assert sorted(r.recipient for r in rows) == owners
    arrivals = receiver.snapshot()
    keys = Counter(a.key for a in arrivals)
    assert None not in keys
    assert [k for k, n in keys.items() if n > 1] == [], "a reminder arrived twice"
    assert len(keys) == len(rows)
    assert set(keys) == {r.message_key for r in rows}
    assert sorted(a.payload["recipient"] for a in arrivals) == owners
    assert all(a.payload["key"] == a.key for a in arrivals)
    assert {r.claimed_by for r in rows} == {"d1", "d2", "d3"}, "not every daemon took part"
    status = cli("--db", pg_url, "daemon", "status", "--json")
    assert status["counts"] == {"sent": len(owners)}
    assert {"d1", "d2", "d3"} <= {d["name"] for d in status["daemons"]}


def test_kill_9_during_delivery_then_restart_loses_nothing(
    db_url: str, tmp_path: Path, quiet_logs: None
) -> None:
    owners = seed_overdue(db_url, 6)
    config = write_config(
        config_dir(tmp_path) / "qiflow.toml",
        daemon_config(batch=3, lease=5, read_timeout=2, shutdown_timeout=10),
    )
    with (
        receiving(delay=1.0) as receiver,
        daemons(db_url, config, receiver.url, tmp_path) as group,
    ):
        first = group.start("d1")
        wait_until(
            lambda: bool(receiver.snapshot()) or first.process.poll() is not None,
            30,
            "the first webhook request",
        )
        assert first.process.poll() is None, group.logs()
        first.send(signal.SIGKILL)  # the receiver is still sleeping on that request
        assert first.wait(10) == -signal.SIGKILL
        in_flight = receiver.snapshot()[0].key
        held = [r for r in notification_rows(db_url) if r.status == "sending"]
        assert held, "the killed daemon held no claims"
        assert {r.claimed_by for r in held} == {"d1"}
        assert in_flight in {r.message_key for r in held}

        group.start("d1")  # the same daemon, restarted: it must wait for the lease
        wait_all_sent(db_url, len(owners))
        exits = sigterm_and_wait(group, 20)
        logs = group.logs()

    assert [code for _, code, _ in exits] == [0], logs
    rows = notification_rows(db_url)
    assert {r.status for r in rows} == {"sent"}
    arrivals = receiver.snapshot()
    assert sorted({a.payload["recipient"] for a in arrivals}) == owners  # nothing lost
    per_recipient = defaultdict(set)
    for arrival in arrivals:
        per_recipient[arrival.payload["recipient"]].add(arrival.key)
    assert all(len(k) == 1 for k in per_recipient.values()), "a repeat had a new key"
    keys = Counter(a.key for a in arrivals)
    assert set(keys) == {r.message_key for r in rows}
    # the message in flight when the daemon died went again (at least once), with its key
    assert {k: n for k, n in keys.items() if n > 1} == {in_flight: 2}


def test_a_slow_receiver_does_not_make_two_daemons_send_a_batch_twice(
    db_url: str, tmp_path: Path, quiet_logs: None
) -> None:
    """Issue 8, bug 2: a lease set once for a whole batch ran out while the first daemon
    was still sending it; the second took the unsent rows and both sent them."""
    owners = seed_overdue(db_url, 10)
    config = write_config(
        config_dir(tmp_path) / "qiflow.toml",
        daemon_config(batch=200, lease=5, read_timeout=2, connect_timeout=1, sweep_interval=30),
    )
    with (
        receiving(delay=1.0) as receiver,
        daemons(db_url, config, receiver.url, tmp_path) as group,
    ):
        group.start("d1")
        wait_until(lambda: bool(receiver.snapshot()), 30, "the first webhook request")
        group.start("d2")
        wait_all_sent(db_url, len(owners))
        exits = sigterm_and_wait(group, 20)
        logs = group.logs()
    assert [code for _, code, _ in exits] == [0, 0], logs
    keys = Counter(a.key for a in receiver.snapshot())
    assert len(keys) == len(owners)
    assert [k for k, n in keys.items() if n > 1] == [], "a message was sent twice, with no crash"


def test_a_lease_shorter_than_one_send_is_refused(db_url: str, tmp_path: Path) -> None:
    env = {"QIFLOW_TEST_HOOK": "http://127.0.0.1:9/hook"}

    def settings(lease: float) -> Settings:
        text = daemon_config(lease=lease, connect_timeout=1, read_timeout=10)
        return load_settings(write_config(tmp_path / f"{lease}.toml", text), env=env)

    with Engine(db_url) as engine:
        with pytest.raises(ConfigError, match=r"lease = 12 s is shorter .* at least 13"):
            Daemon(engine, settings(12))
        assert Daemon(engine, settings(13)).settings.daemon.delivery.lease.total_seconds() == 13


def test_sigterm_with_a_send_in_flight_exits_cleanly_and_loses_nothing(
    db_url: str, tmp_path: Path, quiet_logs: None
) -> None:
    owners = seed_overdue(db_url, 5)
    shutdown = 5
    config = write_config(
        config_dir(tmp_path) / "qiflow.toml",
        daemon_config(batch=10, lease=300, shutdown_timeout=shutdown),
    )
    with (
        receiving(delay=1.0) as receiver,
        daemons(db_url, config, receiver.url, tmp_path) as group,
    ):
        first = group.start("d1")
        wait_until(
            lambda: bool(receiver.snapshot()) or first.process.poll() is not None,
            30,
            "the first webhook request",
        )
        assert first.process.poll() is None, group.logs()
        exits = sigterm_and_wait(group, shutdown + 10)
        logs = group.logs()
        assert [code for _, code, _ in exits] == [0], logs
        assert exits[0][2] <= shutdown + 3, logs
        in_flight = receiver.snapshot()[0].key
        assert len(receiver.snapshot()) == 1, "a new send started after SIGTERM"
        rows = notification_rows(db_url)
        assert [r.message_key for r in rows if r.status == "sent"] == [in_flight]
        rest = [r for r in rows if r.status != "sent"]
        assert len(rest) == len(owners) - 1
        for row in rest:  # given back, not left to a 5-minute lease
            assert (row.status, row.claimed_by, row.lease_until) == (
                "pending",
                None,
                None,
            )

        second = group.start("d2", "--once")
        assert second.wait(30) == 0, group.logs()

    rows = notification_rows(db_url)
    assert {r.status for r in rows} == {"sent"}
    keys = Counter(a.key for a in receiver.snapshot())
    assert len(keys) == len(owners)
    assert set(keys.values()) == {1}
    assert sorted(a.payload["recipient"] for a in receiver.snapshot()) == owners


def test_a_503_receiver_is_retried_a_bounded_number_of_times_then_dead_lettered(
    db_url: str,
    isolated_cli: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = ManualClock(datetime.now(UTC))
    pm = get_plugin_manager([qiflow_webhook.plugin], entry_points=False)
    with receiving() as receiver:
        receiver.answer(503, {"Retry-After": "0"})
        engine = Engine(db_url, clock=clock, plugins=pm, migrate=False)
        try:
            now = clock.now()
            clock.set(now - CADENCE - 3 * DAY)
            for i in range(3):
                engine.create_project(f"Project {i}", actor="seed", owner=f"owner{i}")
            clock.set(now)
            settings = Settings(
                policy=ReminderPolicy(
                    window=parse_window("mon-sun", "00:00-23:59"),
                    digest=False,
                    routing={
                        "reminder": ("webhook", "console"),
                        "escalation": ("webhook", "console"),
                        "event": ("console",),
                    },
                ),
                daemon=DaemonSettings(delivery=DeliverySettings(max_attempts=3, digest=False)),
                channels={"webhook": {"url": receiver.url}},
            )
            daemon = Daemon(engine, settings, name="d1", clock=clock)
            try:
                assert daemon.sweep_once() == 6
                first = daemon.deliver_once()
                assert (first.sent, first.retried, first.dead) == (3, 3, 0)  # console goes out
                reports = [first]
                for _ in range(8):
                    clock.advance(seconds=1)
                    reports.append(daemon.deliver_once())
                rows = notification_rows(db_url)
                webhook = [r for r in rows if r.channel == "webhook"]
                console = [r for r in rows if r.channel == "console"]
                assert sum(r.dead for r in reports) == 3
                assert sum(r.claimed for r in reports[3:]) == 0, "attempts were not bounded"
                for row in webhook:
                    assert (row.status, row.attempts) == ("dead", 3)
                    assert "503" in row.last_error
                    for secret in (receiver.url, "127.0.0.1", "s3cret"):
                        assert secret not in row.last_error
                assert {(r.status, r.attempts) for r in console} == {("sent", 1)}
                keys = Counter(receiver.keys())
                assert len(keys) == 3
                assert set(keys.values()) == {3}  # every attempt at a message: the same key
                assert set(keys) == {r.message_key for r in webhook}

                status = cli("--db", db_url, "daemon", "status", "--json")
                assert status["counts"] == {"dead": 3, "sent": 3}
                assert "d1" in {d["name"] for d in status["daemons"]}
                dead = cli("--db", db_url, "outbox", "list", "--status", "dead", "--json")
                assert sorted(r["recipient"] for r in dead) == ["owner0", "owner1", "owner2"]
                assert cli("--db", db_url, "outbox", "retry", "--json") == {"requeued": 3}
                requeued = [r for r in notification_rows(db_url) if r.channel == "webhook"]
                assert {(r.status, r.attempts) for r in requeued} == {("pending", 0)}

                receiver.answer(200)
                clock.set(datetime.now(UTC) + timedelta(seconds=1))
                assert daemon.deliver_once().sent == 3
            finally:
                for channel in daemon.channels.values():
                    close = getattr(channel, "close", None)
                    if close is not None:
                        close()
        finally:
            engine.close()
    rows = notification_rows(db_url)
    assert {r.status for r in rows} == {"sent"}
    keys = Counter(receiver.keys())
    assert set(keys.values()) == {4}, "a retried dead letter must keep its idempotency key"
    captured = capsys.readouterr()
    assert captured.out.count("to owner") == 3
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (captured.out, captured.err, logged):
        assert "s3cret" not in text


# the window and the digest under a real daemon's timing -------------------------------------


def window_daemon(
    db_url: str, clock: ManualClock, *, digest: bool = True, batch: int = 200
) -> tuple[Engine, Daemon, Recorder]:
    recorder = Recorder(clock)
    engine = Engine(db_url, clock=clock, plugins=get_plugin_manager([recorder], entry_points=False))
    settings = Settings(
        policy=ReminderPolicy(
            window=parse_window("mon-fri", "09:00-17:00"),
            digest=digest,
            routing={"reminder": ("record",), "escalation": ("record",), "event": ("record",)},
        ),
        daemon=DaemonSettings(delivery=DeliverySettings(digest=digest, batch=batch)),
    )
    return engine, Daemon(engine, settings, name="d1", clock=clock), recorder


def due_at(engine: Engine, clock: ManualClock, due: datetime, owner: str = "olivia") -> None:
    """A project of ``owner`` whose review falls due at ``due``."""
    now = clock.now()
    clock.set(due - CADENCE)
    engine.create_project(f"Due {due:%d %b %H:%M:%S}", actor=owner, owner=owner, sponsor="sam")
    clock.set(now)


# Regression: (qiflow/delivery.py deliver_once, qiflow/outbox.py claim) once got this wrong:
# the sending window. A row's not_before is fixed at sweep time from the moment the item
# fell due, and claim() takes every row whose not_before has passed, whenever the pass
# runs. So (a) a daemon that was down during Friday's window sends Friday's backlog on
# Saturday morning, and (b) with the digest off, a review due at 16:59:30 and swept at
# 17:00:30 (a sweep only runs once a minute) goes out at 17:00:30, after the window closed.
@pytest.mark.parametrize("case", ["back after an outage", "swept after the close"])
def test_nothing_is_sent_outside_the_window_whenever_the_daemon_runs(
    db_url: str, case: str
) -> None:
    clock = ManualClock(local(2027, 3, 4, 12))  # Thursday
    digest = case == "back after an outage"
    engine, daemon, recorder = window_daemon(db_url, clock, digest=digest)
    try:
        if digest:
            due_at(engine, clock, local(2027, 3, 4, 20))  # Thursday evening: sent Fri 09:00
            clock.set(local(2027, 3, 4, 20, 30))
            daemon.sweep_once()
            clock.set(local(2027, 3, 6, 10))  # the daemon was down until Saturday 10:00
        else:
            due_at(engine, clock, local(2027, 3, 5, 16, 59, 30))  # Friday, 30 s before close
            clock.set(local(2027, 3, 5, 17, 0, 30))
            daemon.sweep_once()
            clock.advance(seconds=10)
        daemon.deliver_once()
        clock.set(local(2027, 3, 8, 9))  # Monday 09:00
        daemon.sweep_once()
        daemon.deliver_once()
    finally:
        engine.close()
    assert [at for at, _ in recorder.sent] == [local(2027, 3, 8, 9)]


# Regression: (qiflow/reminders.py sweep) once got this wrong:
# policy.send_at(max(due, now)) as _signoff_rows already does. The daemon's sweep (every
# 60 s) and delivery (every 10 s) run independently, so at 09:00:05 the owner's digest goes
# out, then the sweep at 09:00:30 finds a review that fell due at 08:59:50, gives it
# not_before 09:00 (already past) and the next pass sends the owner a second message the
# same morning: the digest's "one message a day" is broken whenever a sweep lags a delivery.
def test_a_sweep_after_the_mornings_delivery_does_not_send_a_second_digest(
    db_url: str,
) -> None:
    clock = ManualClock(local(2027, 3, 7, 12))  # Sunday
    engine, daemon, recorder = window_daemon(db_url, clock)
    try:
        due_at(engine, clock, local(2027, 3, 7, 12))  # due Sunday: Monday's digest
        due_at(engine, clock, local(2027, 3, 8, 8, 59, 50))  # due just before Monday opens
        clock.set(local(2027, 3, 8, 8, 0))
        daemon.sweep_once()
        clock.set(local(2027, 3, 8, 9, 0, 5))
        daemon.deliver_once()  # the delivery tick comes first ...
        clock.set(local(2027, 3, 8, 9, 0, 30))
        daemon.sweep_once()  # ... then the sweep tick
        clock.set(local(2027, 3, 8, 9, 0, 40))
        daemon.deliver_once()
        clock.set(local(2027, 3, 9, 9))
        daemon.deliver_once()
    finally:
        engine.close()
    days = Counter(at.astimezone(LONDON).date() for at, _ in recorder.sent)
    assert days == {date(2027, 3, 8): 1, date(2027, 3, 9): 1}


# Regression: (qiflow/outbox.py claim) once got this wrong:
# through the middle of a person's rows, so one person's due items are split over two
# passes, and two messages. With 2,000 overdue projects and the default batch of 200, a
# transformation-team member gets ten or more "digests" on one morning. A claim should take
# whole recipients (all of a person's due rows on a channel), or delivery should hold back
# the rest of a person's items once they have had today's message.
def test_a_persons_digest_is_not_split_across_claim_batches(db_url: str) -> None:
    clock = ManualClock(local(2027, 3, 7, 12))  # Sunday
    engine, daemon, recorder = window_daemon(db_url, clock, batch=2)
    try:
        for hour in (10, 11, 12):
            due_at(engine, clock, local(2027, 3, 6, hour))  # three reviews due on Saturday
        daemon.sweep_once()
        clock.set(local(2027, 3, 8, 9))
        for _ in range(3):
            daemon.deliver_once()
    finally:
        engine.close()
    assert [len(n.items) for _, n in recorder.sent] == [3]


# the command line's view of the configuration -------------------------------------------------


def enqueue_one(url: str) -> str:
    """One pending notification in the outbox (an owner's overdue review); returns its key."""
    clock = ManualClock(datetime.now(UTC) - timedelta(days=40))
    with Engine(url, clock=clock) as engine:
        engine.create_project("A", actor="olivia", owner="olivia")
        clock.advance(days=40)
        assert engine.sweep_notifications(ReminderPolicy(), daemon="test") == (1, 0)
        [queued] = engine.outbox()
    return queued.key


# Regression: (qiflow/cli/daemon.py list_, retry, purge) once got this wrong:
# --db / $QIFLOW_DATABASE_URL only and never read qiflow.toml, while `qiflow daemon` and
# `qiflow daemon status` use the file's database_url. Next to a qiflow.toml that points at
# the shared database, `qiflow outbox list` (or retry, or purge) looks at ./qiflow.db instead:
# it creates that empty file and fails with "has no qiflow tables yet". Fix: give the outbox
# commands the --config option and resolve the URL with _database_url(ctx, state, settings).
def test_outbox_commands_use_the_database_of_the_configuration_file(
    db_url: str, tmp_path: Path, isolated_cli: None
) -> None:
    key = enqueue_one(db_url)
    (tmp_path / "qiflow.toml").write_text(f'database_url = "{db_url}"\n', encoding="utf-8")
    assert cli("daemon", "status", "--json")["counts"] == {"pending": 1}  # reads the file
    assert [r["key"] for r in cli("outbox", "list", "--json")] == [key]


# Regression: (qiflow/cli/daemon.py status) once got this wrong:
# resolving every channel secret, so it fails ("environment variable ... is not set") in
# any shell that lacks the daemon's secrets, e.g. an operator checking on the service. It
# needs only the database URL: resolve the channels lazily, or skip them for status.
def test_daemon_status_does_not_need_the_channels_secrets(
    db_url: str, tmp_path: Path, isolated_cli: None
) -> None:
    enqueue_one(db_url)
    config = write_config(
        config_dir(tmp_path) / "qiflow.toml",
        '[channels.webhook]\nurl_env = "QIFLOW_TEST_UNSET_HOOK"\n',
    )
    status = cli("--db", db_url, "daemon", "status", "--config", str(config), "--json")
    assert status["counts"] == {"pending": 1}
