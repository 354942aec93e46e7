"""Durable event subscriptions: a cursor per name in the database, at least once, retries
with backoff, one failing subscriber never blocking another (issue 8)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from click.testing import CliRunner

from qiflow import Engine, Event, ManualClock, hookimpl
from qiflow.cli import main
from qiflow.config import Settings
from qiflow.daemon import Daemon
from tests.helpers import OWNER, new_project


class Ledger:
    """A plugin with two subscribers: one records, one fails until told otherwise."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.broken = True

    def record(self, event: Event) -> None:
        self.seen.append(event.seq)

    def flaky(self, event: Event) -> None:
        if self.broken:
            raise RuntimeError("the ledger is down")

    @hookimpl
    def qiflow_subscribers(self) -> Mapping[str, Any]:
        return {"test.ledger": self.record, "test.flaky": self.flaky}


def test_a_subscriber_gets_every_event_after_its_start_once_its_handler_returns(
    db_url: str,
) -> None:
    clock = ManualClock()
    with Engine(db_url, clock=clock) as engine:
        new_project(engine, "Before")  # committed before the subscriber existed: not its
        engine.subscribe("svc")
        project = new_project(engine, "After")
        engine.record_review(project.ref, actor=OWNER)
        got: list[str] = []
        assert engine.consume_once("svc", lambda e: got.append(e.type)).handled == 2
        assert got == ["project.created", "review.recorded"]
        assert engine.consume_once("svc", got.append).handled == 0  # nothing twice
        [svc] = engine.subscribers()
        assert svc.position == engine.history(project.ref)[-1].seq


def test_a_failing_handler_keeps_its_event_and_is_retried_with_backoff(db_url: str) -> None:
    clock = ManualClock()
    with Engine(db_url, clock=clock) as engine:
        engine.subscribe("svc", from_seq=0)
        new_project(engine)
        calls: list[int] = []

        def fails(event: Event) -> None:
            calls.append(event.seq)
            raise ValueError("receiver down")

        assert engine.consume_once("svc", fails).failed
        [svc] = engine.subscribers()
        assert (svc.position, svc.failures) == (0, 1)
        assert svc.last_error == "ValueError: receiver down"
        assert engine.consume_once("svc", fails).skipped  # waits for its retry time
        clock.advance(timedelta(seconds=2))
        assert engine.consume_once("svc", lambda e: None).handled == 1
        [svc] = engine.subscribers()
        assert (svc.failures, svc.last_error) == (0, None)
        assert calls == [calls[0]]


def test_the_daemon_runs_plugin_subscribers_and_one_failing_blocks_no_other(
    db_url: str,
) -> None:
    clock = ManualClock()
    ledger = Ledger()
    with Engine(db_url, clock=clock, plugins=[ledger]) as engine:
        worker = Daemon(engine, Settings(), name="d1")
        worker.sweep_once()  # both start from now
        project = new_project(engine)
        worker.sweep_once()
        created = engine.history(project.ref)[0].seq
        assert ledger.seen == [created]
        flaky = {s.name: s for s in engine.subscribers()}["test.flaky"]
        assert flaky.failures == 1
        assert flaky.position < created
        ledger.broken = False
        clock.advance(timedelta(minutes=10))
        worker.sweep_once()
        assert {s.name: s.position for s in engine.subscribers()}["test.flaky"] >= created
        assert ledger.seen == [created]  # the ledger did not see it twice


def test_consume_runs_a_handler_in_this_process_until_stopped(db_url: str) -> None:
    with Engine(db_url) as engine:
        engine.subscribe("svc")
        new_project(engine)
        got: list[str] = []
        done = threading.Event()

        def handle(event: Event) -> None:
            got.append(event.type)
            done.set()

        runner = threading.Thread(
            target=engine.consume, args=("svc", handle), kwargs={"stop": done.is_set, "poll": 0.1}
        )
        runner.start()
        runner.join(30)
        assert got == ["project.created"]


def test_the_events_commands(db_url: str) -> None:
    with Engine(db_url) as engine:
        engine.subscribe("svc")
        project = new_project(engine)
    cli = CliRunner()
    tail = cli.invoke(main, ["--db", db_url, "events", "tail", "--after", "0", "--json"])
    assert tail.exit_code == 0, tail.output
    [line] = tail.output.splitlines()
    assert json.loads(line)["type"] == "project.created"
    listed = cli.invoke(main, ["--db", db_url, "events", "subscribers", "--json"])
    assert listed.exit_code == 0, listed.output
    [svc] = json.loads(listed.output)["subscribers"]
    assert (svc["name"], svc["lag"]) == ("svc", 1)
    moved = cli.invoke(main, ["--db", db_url, "events", "replay", "svc", "--from", "0", "--json"])
    assert json.loads(moved.output) == {"name": "svc", "cursor": 0}
    unknown = cli.invoke(main, ["--db", db_url, "events", "replay", "nope", "--from", "0"])
    assert unknown.exit_code != 0
    assert "no subscriber 'nope'" in unknown.output
    assert project.ref
