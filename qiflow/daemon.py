"""``qiflow daemon``: sweeps for due reviews and delivers the outbox, for months on end.

APScheduler (3.x) only drives this process's ticks; it cannot share a job store
between processes, so the database coordinates several daemons (unique keys for
enqueueing, leased claims for delivery). One stop event ends the loop: the first
SIGTERM or SIGINT stops new claims, lets the message in flight finish within the
shutdown timeout and gives back what is unfinished; a second signal exits at once
and leaves the claims to expire.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from qiflow.clock import Clock
from qiflow.config import Settings
from qiflow.engine import Engine
from qiflow.exceptions import ConfigError
from qiflow.logs import get_logger
from qiflow.metrics import DaemonMetrics, Health, HealthServer, readiness_problems
from qiflow.notify.channels import Channel
from qiflow.notify.delivery import LEASE_MARGIN, DeliveryReport

log = get_logger("qiflow.daemon")


class Daemon:
    """One daemon process's work: sweeps and delivery passes, and a clean stop."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        name: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock or engine.clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.metrics = DaemonMetrics()
        built = engine.channels(settings.channels)
        check_lease(settings.daemon.delivery.lease, built)
        self.channels = self.metrics.measured(built)
        intervals = (settings.daemon.sweep_interval, settings.daemon.delivery_interval)
        self.health = Health(
            lambda: readiness_problems(engine, settings.channels, self.channels),
            stale_after=2 * max(intervals) + 60,
            metrics=self.metrics,
        )
        missing = sorted(set(settings.channels) - set(self.channels))
        if missing:
            log.warning("configured channels that no plugin provides", channels=missing)
        routed = {name for names in settings.policy.routing.values() for name in names}
        unknown = sorted(routed - set(self.channels))
        if unknown:
            raise ConfigError(
                f"[routing] names {', '.join(unknown)}, which no installed channel provides "
                f"(available: {', '.join(sorted(self.channels))}); fix the name, add its "
                "[channels.<name>] table, or install its plugin"
            )
        self.stopping = threading.Event()
        #: Notification ids being sent right now (kept on shutdown, never given back).
        self.in_flight: set[int] = set()
        self._busy = threading.Lock()
        self._signals = 0

    # one pass of each kind ------------------------------------------------------------
    def sweep_once(self) -> int:
        """Expire run-out approvals, enqueue due reminders and event notices, then run the
        plugin subscribers once."""
        began = time.perf_counter()
        with self.metrics.command("expire_signoffs"):
            expired = self.engine.expire_signoffs(actor=f"daemon:{self.name}")
        due, told = self.engine.sweep_notifications(
            self.settings.policy, daemon=self.name, now=self.clock.now(), channels=self.channels
        )
        self.metrics.sweep_seconds.observe(time.perf_counter() - began)
        for kind, found in (("reminder", due), ("notice", told), ("signoff_expired", len(expired))):
            self.metrics.sweep_items.labels(kind).inc(found)
        purged = {
            status: self.engine.purge_notifications(status, older_than=age)
            for status, age in self.settings.retention.items()
        }
        for status, count in purged.items():
            self.metrics.purged.labels(status).inc(count)
        self.metrics.observe_outbox(self.engine)
        log.info(
            "sweep",
            daemon=self.name,
            reminders=due,
            notices=told,
            signoffs_expired=len(expired),
            purged=sum(purged.values()) or None,
        )
        self.run_subscribers()
        return due + told

    def run_subscribers(self) -> None:
        """One pass of each plugin subscriber, under a lease shared with other daemons."""
        for name, done in self.engine.run_subscribers(self.name).items():
            if done.handled or done.failed:
                log.info(
                    "subscriber",
                    daemon=self.name,
                    subscriber=name,
                    handled=done.handled,
                    failed=done.failed,
                )

    def deliver_once(self) -> DeliveryReport:
        with self._busy:
            report = self.engine.deliver_notifications(
                self.channels,
                self.settings.daemon.delivery,
                daemon=self.name,
                now=self.clock.now(),
                window=self.settings.policy.window,
                stopping=self.stopping.is_set,
                clock=self.clock.now,
                in_flight=self.in_flight,
            )
        self.metrics.dead_letters.inc(report.dead)
        self.metrics.takeovers.inc(report.taken_over)
        self.metrics.leases_lost.inc(report.lost)
        if report.claimed:
            self.metrics.observe_outbox(self.engine)
            log.info(
                "delivery",
                daemon=self.name,
                claimed=report.claimed,
                sent=report.sent,
                retried=report.retried,
                dead=report.dead,
                released=report.released,
            )
        return report

    def once(self) -> tuple[int, DeliveryReport]:
        """One sweep and one delivery pass (``qiflow daemon --once``)."""
        return self.sweep_once(), self.deliver_once()

    # the long-running loop -------------------------------------------------------------
    def run(self, *, handle_signals: bool = True) -> None:
        """Run until :meth:`stop` (or a signal); then stop cleanly."""
        address = self.settings.metrics_address
        server = HealthServer(address, self.health, self.metrics) if address else None
        previous = self._install_signals() if handle_signals else {}
        if server is not None:
            server.start()
        scheduler = BackgroundScheduler(timezone=UTC)
        first = datetime.now(UTC)
        scheduler.add_job(
            self._safely(self.sweep_once),
            "interval",
            id="sweep",
            seconds=self.settings.daemon.sweep_interval,
            next_run_time=first,
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self._safely(self.deliver_once),
            "interval",
            id="deliver",
            seconds=self.settings.daemon.delivery_interval,
            next_run_time=first,
            max_instances=1,
            coalesce=True,
        )
        log.info(
            "daemon started",
            daemon=self.name,
            channels=sorted(self.channels),
            database=self.engine.database_url,
        )
        scheduler.start()
        try:
            self.stopping.wait()
        finally:
            scheduler.shutdown(wait=False)
            finished = self._busy.acquire(timeout=self.settings.daemon.shutdown_timeout)
            # a send still in flight after the timeout is not given back: it may yet
            # succeed, and another daemon would send it again; its lease runs out instead
            released = self.engine.release_notifications(self.name, keep=set(self.in_flight))
            if finished:
                self._busy.release()
            if server is not None:
                server.stop()
            log.info(
                "daemon stopped", daemon=self.name, released=released, in_flight_finished=finished
            )
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop(self) -> None:
        self.stopping.set()

    def _safely(self, job: Any) -> Any:
        def run() -> None:
            if self.stopping.is_set():
                return
            self.health.tick()
            try:
                job()
            except Exception:
                log.exception(
                    "daemon job failed; it runs again at its next tick",
                    daemon=self.name,
                    job=job.__name__,
                )
            finally:
                self.health.tick()

        run.__name__ = job.__name__
        return run

    def _install_signals(self) -> dict[int, Any]:
        def handle(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals > 1:
                log.warning(
                    "second signal: exiting now; claims expire with their lease", daemon=self.name
                )
                os._exit(128 + signum)
            log.info(
                "stopping: finishing the message in flight",
                daemon=self.name,
                signal=signal.Signals(signum).name,
            )
            self.stopping.set()

        return {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}


def check_lease(lease: timedelta, channels: Mapping[str, Channel]) -> None:
    """Refuse a lease shorter than one send's worst case (a channel's ``send_timeout``:
    connect plus read timeout) plus :data:`LEASE_MARGIN`: such a claim would run out while
    its message is still being sent, and another daemon would send it again."""
    for name, channel in sorted(channels.items()):
        worst = getattr(channel, "send_timeout", None)
        if worst is None:
            continue
        needed = timedelta(seconds=float(worst)) + LEASE_MARGIN
        if lease < needed:
            raise ConfigError(
                f"[daemon] lease = {lease.total_seconds():g} s is shorter than one send "
                f"through channel {name!r} can take ({float(worst):g} s, its connect plus "
                f"read timeout) plus a {LEASE_MARGIN.total_seconds():g} s margin: set lease "
                f"to at least {needed.total_seconds():g}, or lower the channel's timeouts"
            )
