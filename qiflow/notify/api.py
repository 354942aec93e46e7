"""The notification half of the engine's API: sweeps, delivery and the outbox.

:class:`~qiflow.engine.Engine` delegates to :class:`NotificationCommands`; the
daemon and the CLI reach the outbox only through the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo

from qiflow.notify import notices, reminders, risk_reminders
from qiflow.notify.channels import Channel
from qiflow.notify.civil_time import SendingWindow
from qiflow.notify.delivery import DeliveryReport, DeliverySettings, deliver_once
from qiflow.notify.reminders import ReminderPolicy, RoleLookup
from qiflow.snapshots import OutboxStatus, Person, Queued
from qiflow.store import Store
from qiflow.workflow import WorkflowRegistry


class NotificationCommands:
    """Reminders and notices into the outbox, and the outbox out through channels."""

    def __init__(
        self,
        store: Store,
        registry: WorkflowRegistry,
        person: Callable[[str], Person | None],
        zone: tzinfo | None = None,
        lookup: RoleLookup | None = None,
    ) -> None:
        #: Who holds a role in a plugin's directory (``qiflow_role_holders``).
        self._lookup = lookup
        self._store = store
        #: The trust's time zone (None: the sending window's).
        self._zone = zone
        self._registry = registry
        self._person = person

    def sweep(
        self,
        *,
        now: datetime,
        policy: ReminderPolicy,
        daemon: str,
        available: Iterable[str] | None = None,
    ) -> tuple[int, int]:
        """Enqueue due reminders and event notices: (new reminders, new notices)."""
        available = list(available) if available is not None else None
        with self._store.write() as tx:
            due = reminders.sweep(
                tx,
                now=now,
                policy=policy,
                registry=self._registry,
                available=available,
                zone=self._zone,
                lookup=self._lookup,
            )
            due += risk_reminders.sweep(tx, now=now, policy=policy, available=available)
            told = notices.sweep(
                tx, now=now, policy=policy, available=available, lookup=self._lookup
            )
            tx.outbox.heartbeat(daemon, now, sweep=True)
        return due, told

    def deliver(
        self,
        channels: Mapping[str, Channel],
        *,
        now: datetime,
        daemon: str,
        settings: DeliverySettings,
        window: SendingWindow | None = None,
        stopping: Callable[[], bool] = lambda: False,
        clock: Callable[[], datetime] | None = None,
        in_flight: set[int] | None = None,
    ) -> DeliveryReport:
        """Claim one batch of due notifications and send it."""
        report = deliver_once(
            self._store,
            channels,
            now=now,
            daemon=daemon,
            settings=settings,
            person=self._person,
            window=window,
            stopping=stopping,
            clock=clock,
            in_flight=in_flight,
        )
        with self._store.write() as tx:
            tx.outbox.heartbeat(daemon, now, delivery=True)
        return report

    def release(self, daemon: str, keep: Iterable[int] = ()) -> int:
        """Give back the claims ``daemon`` holds but has not finished, except ``keep``."""
        with self._store.write() as tx:
            return tx.outbox.release(daemon, keep=list(keep))

    def recent(self, *, status: str | None = None, limit: int = 100) -> list[Queued]:
        with self._store.read() as tx:
            return tx.outbox.recent(status=status, limit=limit)

    def status(self) -> OutboxStatus:
        with self._store.read() as tx:
            return tx.outbox.status()

    def retry(self, ids: Sequence[int] | None, now: datetime) -> int:
        with self._store.write() as tx:
            return tx.outbox.retry(list(ids) if ids else None, now)

    def purge(self, *, status: str, before: datetime) -> int:
        with self._store.write() as tx:
            return tx.outbox.purge(status=status, before=before)
