"""qiflow's pytest plugin, used as a plugin author would: its fixtures, no imports of them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qiflow import DeliveryError, Engine, ManualClock, Notification, hookimpl
from qiflow.pytest_plugin import DaemonPassRunner, run_daemon_pass
from tests.helpers import OWNER, SPONSOR, new_project


class Recorder:
    """A channel configured by a ``[channels.record]`` table, failing when told."""

    name = "record"

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.refuse: set[str] = set()

    def send(self, notification: Notification) -> None:
        if notification.recipient in self.refuse:
            raise DeliveryError("mailbox full")
        self.sent.append(notification)

    @hookimpl
    def qiflow_channels(self, config: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        return {"record": self} if "record" in config else {}


RECORDER = Recorder()


@pytest.fixture
def qiflow_plugins() -> list[object]:
    RECORDER.sent.clear()
    RECORDER.refuse.clear()
    return [RECORDER]


def test_the_plugin_is_installed_through_its_entry_point(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.has_plugin("qiflow")


def test_the_clock_starts_on_a_working_monday_and_moves_by_hand(
    qiflow_engine: Engine, qiflow_clock: ManualClock
) -> None:
    assert qiflow_clock.now() == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert qiflow_engine.clock is qiflow_clock
    project = new_project(qiflow_engine)
    assert project.created_at == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    qiflow_clock.advance(days=31)
    assert [p.ref for p in qiflow_engine.projects(overdue=True)] == [project.ref]


def test_a_pass_at_christmas_at_3am_delivers_and_captures_each_channel(
    qiflow_engine: Engine, qiflow_daemon_pass: DaemonPassRunner
) -> None:
    project = new_project(qiflow_engine)
    christmas = datetime(2027, 12, 25, 3, 0, tzinfo=UTC)  # a bank holiday, before dawn
    done = qiflow_daemon_pass(at=christmas, channels={"record": {}})
    assert qiflow_engine.clock.now() == christmas
    assert done.enqueued == 2  # the owner's reminder and the sponsor's escalation
    assert (done.report.sent, done.report.retried) == (2, 0)
    received = done.received["record"]
    assert sorted(n.recipient for n in received) == [OWNER, SPONSOR]
    assert {item.project_ref for n in received for item in n.items} == {project.ref}
    assert received == RECORDER.sent  # the real channel got the same notifications
    assert done.failed == {}


def test_failures_are_captured_and_send_false_keeps_channels_untouched(
    qiflow_engine: Engine, qiflow_clock: ManualClock
) -> None:
    new_project(qiflow_engine)
    RECORDER.refuse.add(SPONSOR)
    later = qiflow_clock.now() + timedelta(days=38)
    done = run_daemon_pass(qiflow_engine, at=later, channels={"record": {}})
    assert [n.recipient for n in done.received["record"]] == [OWNER]
    [(notification, error)] = done.failed["record"]
    assert (notification.recipient, str(error)) == (SPONSOR, "mailbox full")
    assert done.report.retried == 1
    new_project(qiflow_engine, "Second")
    RECORDER.sent.clear()
    quiet = run_daemon_pass(
        qiflow_engine, at=later + timedelta(days=38), channels={"record": {}}, send=False
    )
    assert quiet.received["record"]
    assert RECORDER.sent == []
