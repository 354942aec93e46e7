"""qiflow's pytest plugin: fixtures and a daemon pass for testing plugins and hosts.

Installed with qiflow (entry point ``pytest11``), so its fixtures are there in every test
run with no import:

- ``qiflow_clock``: a :class:`qiflow.ManualClock` at :data:`START` (a working Monday
  noon, UTC); move it with ``set`` and ``advance``.
- ``qiflow_engine``: an :class:`qiflow.Engine` on a fresh, migrated SQLite file deleted
  after the test, on ``qiflow_clock``, with every installed plugin loaded through its
  entry point, plus the objects of the ``qiflow_plugins`` fixture (empty unless a test
  module overrides it) and the workflow files of ``qiflow_workflows_dir`` (None: the
  shipped ones).
- ``qiflow_daemon_pass``: :func:`run_daemon_pass` bound to ``qiflow_engine``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest

from qiflow.clock import ManualClock
from qiflow.config import DaemonSettings, Settings
from qiflow.daemon import Daemon
from qiflow.engine import Engine
from qiflow.exceptions import ConfigError
from qiflow.notify.channels import Channel, Notification
from qiflow.notify.civil_time import SendingWindow
from qiflow.notify.delivery import DeliveryReport, DeliverySettings
from qiflow.notify.reminders import ReminderPolicy
from qiflow.testing import temporary_engine

#: Where ``qiflow_clock`` starts: Monday 1 March 2027, 12:00 UTC (a working day, GMT).
START = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
#: The kinds of notification a pass routes: reminders, escalations, event notices.
KINDS = ("reminder", "escalation", "event")


class AlwaysOpen(SendingWindow):
    """A sending window that is never closed: no working hours, no bank holidays."""

    def is_open(self, instant: datetime) -> bool:
        return True

    def next_open(self, instant: datetime) -> datetime:
        return instant

    def next_start(self, instant: datetime) -> datetime:
        return instant


@dataclass(frozen=True)
class DaemonPass:
    """What one daemon pass did: how many notifications the sweep enqueued, the delivery
    report, and per channel name the notifications it was given (``received``, in order)
    and those it refused (``failed``: the notification and the exception raised)."""

    enqueued: int
    report: DeliveryReport
    received: dict[str, list[Notification]] = field(default_factory=dict)
    failed: dict[str, list[tuple[Notification, Exception]]] = field(default_factory=dict)


class _Capture:
    """Wraps a channel: sends through it (unless told not to) and keeps what it got."""

    def __init__(self, channel: Channel, result: DaemonPass, *, send: bool) -> None:
        self.name = channel.name
        self._channel = channel
        self._result = result
        self._send = send

    def send(self, notification: Notification) -> None:
        try:
            if self._send:
                self._channel.send(notification)
        except Exception as exc:
            self._result.failed.setdefault(self.name, []).append((notification, exc))
            raise
        self._result.received.setdefault(self.name, []).append(notification)


def run_daemon_pass(
    engine: Engine,
    *,
    at: datetime | None = None,
    channels: Mapping[str, Mapping[str, Any]] | None = None,
    routing: Mapping[str, Sequence[str]] | None = None,
    digest: bool = False,
    send: bool = True,
) -> DaemonPass:
    """Run one sweep and one delivery pass at ``at`` with a window that is always open.

    ``at`` moves the engine's :class:`ManualClock` there first (an engine on another
    clock raises :class:`qiflow.ConfigError`). ``channels`` are the ``[channels.<name>]``
    tables the channels are built from (as in ``qiflow.toml``); ``routing`` maps a kind
    (``reminder``, ``escalation``, ``event``, ``event:<type>``) to channel names, by
    default every kind to every configured channel (the console when none is).
    ``send=False`` keeps the notifications without calling the channels.
    """
    if at is not None:
        if not isinstance(engine.clock, ManualClock):
            raise ConfigError("run_daemon_pass(at=...) needs an engine on a ManualClock")
        engine.clock.set(at)
    tables = dict(channels or {})
    if routing is None:
        names = tuple(sorted(tables)) or ("console",)
        routing = {kind: names for kind in KINDS}
    window = AlwaysOpen(days=tuple(range(7)))
    settings = Settings(
        policy=ReminderPolicy(window=window, digest=digest, routing=routing),
        daemon=DaemonSettings(delivery=DeliverySettings(digest=digest)),
        channels=tables,
    )
    daemon = Daemon(engine, settings, name="pytest")
    result = DaemonPass(enqueued=daemon.sweep_once(), report=DeliveryReport())
    daemon.channels = {
        name: _Capture(channel, result, send=send) for name, channel in daemon.channels.items()
    }
    report = daemon.deliver_once()
    return DaemonPass(result.enqueued, report, result.received, result.failed)


class DaemonPassRunner(Protocol):
    """The ``qiflow_daemon_pass`` fixture: :func:`run_daemon_pass` on ``qiflow_engine``."""

    def __call__(
        self,
        *,
        at: datetime | None = None,
        channels: Mapping[str, Mapping[str, Any]] | None = None,
        routing: Mapping[str, Sequence[str]] | None = None,
        digest: bool = False,
        send: bool = True,
    ) -> DaemonPass: ...


@pytest.fixture
def qiflow_clock() -> ManualClock:
    """A clock at :data:`START` that moves only when the test moves it."""
    return ManualClock(START)


@pytest.fixture
def qiflow_plugins() -> Sequence[object]:
    """Plugin objects registered besides the installed ones; override to add some."""
    return ()


@pytest.fixture
def qiflow_workflows_dir() -> str | Path | Sequence[str | Path] | None:
    """The workflow folders to load (None: the shipped ones); override to set them."""
    return None


@pytest.fixture
def qiflow_engine(
    qiflow_clock: ManualClock,
    qiflow_plugins: Sequence[object],
    qiflow_workflows_dir: str | Path | Sequence[str | Path] | None,
) -> Iterator[Engine]:
    """An engine on a throwaway SQLite database, on ``qiflow_clock``."""
    with temporary_engine(
        clock=qiflow_clock, workflows_dir=qiflow_workflows_dir, plugins=qiflow_plugins
    ) as (engine, _):
        yield engine


@pytest.fixture
def qiflow_daemon_pass(qiflow_engine: Engine) -> DaemonPassRunner:
    """Run one daemon pass on ``qiflow_engine``: see :func:`run_daemon_pass`."""

    def run(**options: Any) -> DaemonPass:
        return run_daemon_pass(qiflow_engine, **options)

    return run
