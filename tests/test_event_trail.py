"""Every reader of the event trail (notices, subscribers, the HTTP feed) is gap-safe, and a
new reader starts from now, never from the first event by accident (issue 8, bugs 1 and 4)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import pytest

from qiflow import Engine, ManualClock
from qiflow.config import Settings
from qiflow.daemon import Daemon
from qiflow.notify.civil_time import parse_window
from qiflow.notify.reminders import ReminderPolicy
from qiflow.store import NewEvent, Store
from tests.helpers import LOW_RISK, OWNER, SPONSOR, new_project

#: Also run through PgBouncer in transaction mode when QIFLOW_TEST_PGBOUNCER_URL is set.
THROUGH_PGBOUNCER = True

MONDAY_NOON = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
POLICY = ReminderPolicy(window=parse_window(), routing={"event": ("console",)})


def sweeper(engine: Engine) -> Daemon:
    return Daemon(engine, Settings(policy=POLICY), name="d1")


def noticed(engine: Engine) -> set[int]:
    """The event sequence numbers the outbox holds a notice of."""
    return {int(r.key.split(":")[1]) for r in engine.outbox(limit=1000) if r.kind == "event"}


@contextmanager
def rejected_in_open_transaction(store: Store, ref: str, at: datetime) -> Iterator[int]:
    """Append a ``gate.rejected`` event to ``ref``'s trail as a command does, and hold the
    transaction open until the block ends (then commit). Yields the event's seq."""
    with store.write() as tx:
        found = tx.projects.get(ref, lock=True)
        assert found is not None
        row = found.columns()
        [event], head = tx.events.append(
            row["id"],
            event_count=row["event_count"],
            head_hash=row["head_hash"],
            version=row["version"] + 1,
            actor=SPONSOR,
            at=at,
            events=[NewEvent("gate.rejected", {"stage": "QEIA stage 1", "by": SPONSOR})],
        )
        assert tx.projects.update(
            row["id"],
            row["version"],
            {
                "version": row["version"] + 1,
                "event_count": row["event_count"] + 1,
                "head_hash": head,
            },
        )
        yield event.seq


def test_an_event_that_commits_after_a_later_one_is_still_noticed(pg_url: str) -> None:
    """Bug 1: seq N commits after N+1 was swept; a reader of ``seq > cursor`` lost it."""
    clock = ManualClock(MONDAY_NOON)
    with Engine(pg_url, clock=clock) as engine:
        first, second = new_project(engine, "First"), new_project(engine, "Second")
        worker = sweeper(engine)
        worker.sweep_once()  # the notices start here
        store = Store(pg_url)
        try:
            with ExitStack() as held:
                late = held.enter_context(
                    rejected_in_open_transaction(store, first.ref, clock.now())
                )
                with rejected_in_open_transaction(store, second.ref, clock.now()) as early:
                    pass  # commits now, with the higher number
                assert early > late
                swept = threading.Thread(target=worker.sweep_once)
                swept.start()
                time.sleep(1.0)  # the sweep is waiting for the open transaction ...
                assert swept.is_alive()
            # ... which commits when the ExitStack closes
            swept.join(timeout=30)
            assert not swept.is_alive()
            worker.sweep_once()
            assert noticed(engine) == {late, early}
            feed = [e.seq for e in engine.events_after(0, limit=1000)]
            assert late in feed
            assert early in feed
            assert feed == sorted(feed)
        finally:
            store.dispose()


def test_a_writer_left_open_delays_readers_by_the_lock_wait_only(pg_url: str) -> None:
    """A session idle in a transaction that wrote events holds readers for the bounded
    wait; they read nothing that round (never past the gap), then carry on."""
    clock = ManualClock(MONDAY_NOON)
    with Engine(pg_url, clock=clock) as engine:
        project = new_project(engine)
        worker = sweeper(engine)
        worker.sweep_once()
        [before] = engine.subscribers()
        store = Store(pg_url)
        try:
            with rejected_in_open_transaction(store, project.ref, clock.now()) as seq:
                started = time.monotonic()
                assert worker.sweep_once() == 0
                assert engine.events_after(0) == []
                assert time.monotonic() - started < 20  # two bounded waits of 5 s
                assert engine.subscribers()[0].position == before.position
            assert worker.sweep_once() == 1
            assert noticed(engine) == {seq}
        finally:
            store.dispose()


def test_the_first_sweep_of_an_old_database_tells_nothing_old(db_url: str) -> None:
    """Bug 4: a first daemon run sent "awaits your decision" for year-old requests."""
    clock = ManualClock(MONDAY_NOON)
    with Engine(db_url, clock=clock) as engine:
        project = new_project(engine)
        engine.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)
        engine.decide_signoff(project.ref, "qeia", actor=SPONSOR, approve=False, comment="No")
        clock.advance(days=365)
        worker = sweeper(engine)
        worker.sweep_once()
        assert noticed(engine) == set()  # (the overdue review is reminded, as it should)
        [notices] = engine.subscribers()
        assert notices.name == "qiflow.notices"
        assert notices.position == engine.history(project.ref)[-1].seq
        engine.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)  # new: told
        worker.sweep_once()
        [row] = [r for r in engine.outbox() if r.kind == "event"]
        assert row.recipient == SPONSOR
        assert "awaits your decision" in row.subject


def test_notices_can_start_from_a_point_given_explicitly(db_url: str) -> None:
    clock = ManualClock(MONDAY_NOON)
    with Engine(db_url, clock=clock) as engine:
        project = new_project(engine)
        engine.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)
        requested = engine.history(project.ref)[-1].seq
        worker = sweeper(engine)
        assert worker.sweep_once() == 0  # started at now
        engine.replay_events("qiflow.notices", from_seq=requested - 1)
        assert worker.sweep_once() == 1
        assert noticed(engine) == {requested}
        with pytest.raises(Exception, match="no subscriber 'nobody'"):
            engine.replay_events("nobody", from_seq=0)
    with Engine(db_url, clock=clock) as engine:
        assert engine.subscribe("qiflow.notices", from_seq=0).position == requested
