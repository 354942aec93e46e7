"""The daemon's Prometheus metrics and its health answers, on their own address.

``[metrics] address`` (``HOST:PORT``) makes ``qiflow daemon`` serve, from a thread:

- ``/metrics``: the Prometheus text format (prometheus-client);
- ``/livez``: 200 while the daemon's scheduler keeps ticking, 503 once it has not started
  or finished a job for :attr:`Health.stale_after` seconds;
- ``/readyz``: 200 when the database answers at this qiflow's schema and every configured
  channel is provided, else 503 with the reasons, one a line.

Names follow Prometheus's conventions: a ``qiflow_`` prefix, the unit in the name
(``_seconds``), ``_total`` on counters. Labels carry only channel names, statuses, kinds,
commands and outcomes: never a person, an address or a project title.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from qiflow.engine import Engine
from qiflow.exceptions import QiflowError
from qiflow.logs import get_logger
from qiflow.notify.channels import Channel, DeliveryError, Notification
from qiflow.snapshots import NOTIFICATION_STATUSES

log = get_logger("qiflow.metrics")

#: Send latencies from a local log to a slow mail relay.
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
SWEEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class DaemonMetrics:
    """Every metric the daemon keeps, in a registry of its own (not the global one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.sweep_seconds = Histogram(
            "qiflow_sweep_duration_seconds",
            "Time one sweep (expiry, reminders, notices) took.",
            buckets=SWEEP_BUCKETS,
            registry=r,
        )
        self.sweep_items = Counter(
            "qiflow_sweep_items_found",
            "Items sweeps found: new reminders, new event notices, sign-offs expired.",
            ["kind"],
            registry=r,
        )
        self.send_seconds = Histogram(
            "qiflow_send_duration_seconds",
            "Time one message took to send, by channel (failures included).",
            ["channel"],
            buckets=SEND_BUCKETS,
            registry=r,
        )
        self.sent = Counter(
            "qiflow_messages_sent", "Messages a channel accepted.", ["channel"], registry=r
        )
        self.send_failures = Counter(
            "qiflow_send_failures",
            "Messages a channel refused; permanent failures are not retried.",
            ["channel", "permanent"],
            registry=r,
        )
        self.dead_letters = Counter(
            "qiflow_dead_letters",
            "Notifications that became dead letters (after their last attempt).",
            registry=r,
        )
        self.purged = Counter(
            "qiflow_notifications_purged",
            "Old notifications deleted under [retention], by status.",
            ["status"],
            registry=r,
        )
        self.takeovers = Counter(
            "qiflow_lease_takeovers",
            "Notifications this daemon claimed after another daemon's lease ran out.",
            registry=r,
        )
        self.leases_lost = Counter(
            "qiflow_leases_lost",
            "Claims this daemon found taken by another daemon when renewing its lease.",
            registry=r,
        )
        self.commands = Counter(
            "qiflow_commands",
            "Commands the daemon ran, by command and outcome (ok or error).",
            ["command", "outcome"],
            registry=r,
        )
        self.outbox = Gauge(
            "qiflow_outbox_notifications",
            "Notifications in the outbox by status and channel, as of the last pass.",
            ["status", "channel"],
            registry=r,
        )
        self.lag = Gauge(
            "qiflow_subscriber_lag_events",
            "Events committed that an event reader has not read yet.",
            ["subscriber"],
            registry=r,
        )
        self.last_tick = Gauge(
            "qiflow_daemon_last_tick_timestamp_seconds",
            "When the daemon last started or finished a job (Unix time).",
            registry=r,
        )
        self.ready = Gauge(
            "qiflow_daemon_ready", "1 when the last readiness check passed, else 0.", registry=r
        )

    @contextmanager
    def command(self, name: str) -> Iterator[None]:
        """Count one run of command ``name`` with its outcome."""
        try:
            yield
        except Exception:
            self.commands.labels(name, "error").inc()
            raise
        self.commands.labels(name, "ok").inc()

    def observe_outbox(self, engine: Engine) -> None:
        """Refresh the outbox and lag gauges from the database."""
        seen: set[tuple[str, str]] = set()
        for depth in engine.outbox_depth():
            self.outbox.labels(depth.status, depth.channel).set(depth.count)
            seen.add((depth.status, depth.channel))
        for status, channel in self._outbox_labels():
            if (status, channel) not in seen:  # emptied since: say 0, not the old count
                self.outbox.labels(status, channel).set(0)
        for name, lag in engine.subscriber_lag().items():
            self.lag.labels(name).set(lag)

    def _outbox_labels(self) -> list[tuple[str, str]]:
        found = []
        for metric in self.outbox.collect():
            for sample in metric.samples:
                status, channel = sample.labels["status"], sample.labels["channel"]
                if status in NOTIFICATION_STATUSES:
                    found.append((status, channel))
        return found

    def tick(self) -> None:
        self.last_tick.set(time.time())

    def measured(self, channels: Mapping[str, Channel]) -> dict[str, Channel]:
        """The channels, each timed and counted as it sends."""
        return {name: MeasuredChannel(channel, self) for name, channel in channels.items()}


class MeasuredChannel:
    """A channel whose sends are timed and counted (by channel name only)."""

    def __init__(self, channel: Channel, metrics: DaemonMetrics) -> None:
        self.inner = channel
        self.name = channel.name
        self._metrics = metrics

    def send(self, notification: Notification) -> None:
        began = time.perf_counter()
        try:
            self.inner.send(notification)
        except Exception as exc:
            permanent = isinstance(exc, DeliveryError) and exc.permanent
            self._metrics.send_failures.labels(self.name, str(permanent).lower()).inc()
            raise
        finally:
            self._metrics.send_seconds.labels(self.name).observe(time.perf_counter() - began)
        self._metrics.sent.labels(self.name).inc()


@dataclass
class Health:
    """Liveness (the scheduler ticks) and readiness (``check`` finds no problem)."""

    check: Callable[[], list[str]]
    stale_after: float
    metrics: DaemonMetrics | None = None
    _last: float = field(default_factory=time.monotonic)

    def tick(self) -> None:
        self._last = time.monotonic()
        if self.metrics is not None:
            self.metrics.tick()

    def live(self) -> str | None:
        """None while ticking; else since when not."""
        quiet = time.monotonic() - self._last
        if quiet > self.stale_after:
            return f"no job started or finished for {quiet:.0f}s (limit {self.stale_after:.0f}s)"
        return None

    def ready(self) -> list[str]:
        try:
            problems = self.check()
        except QiflowError as exc:
            problems = [str(exc)]
        if self.metrics is not None:
            self.metrics.ready.set(0 if problems else 1)
        return problems


def readiness_problems(
    engine: Engine, configured: Mapping[str, Any], channels: Mapping[str, Channel]
) -> list[str]:
    """Why a daemon is not ready: the database unreachable or at another schema, or a
    configured channel no installed plugin provides. Empty when ready."""
    problems = []
    database = engine.readiness()
    if database is not None:
        problems.append(database)
    missing = sorted(set(configured) - set(channels))
    if missing:
        problems.append(
            f"channels configured but provided by no installed plugin: {', '.join(missing)}"
        )
    return problems


class HealthServer:
    """/metrics, /livez and /readyz over HTTP, served from a daemon thread."""

    def __init__(self, address: tuple[str, int], health: Health, metrics: DaemonMetrics) -> None:
        self.health, self.metrics = health, metrics
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, content_type, body = server.answer(self.path.split("?")[0])
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds would drown the daemon's own log

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            address_family = _family(address[0])

        try:
            self._server = Server(address, Handler)
        except OSError as exc:
            raise QiflowError(
                f"[metrics] address {address[0]}:{address[1]}: cannot listen ({exc.strerror}); "
                "choose a free port or stop what uses it"
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="qiflow-metrics", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def answer(self, path: str) -> tuple[int, str, bytes]:
        text = "text/plain; charset=utf-8"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry)
        if path == "/livez":
            why = self.health.live()
            return (503, text, f"not live: {why}\n".encode()) if why else (200, text, b"ok\n")
        if path == "/readyz":
            problems = self.health.ready()
            if problems:
                return 503, text, "".join(f"not ready: {p}\n" for p in problems).encode()
            return 200, text, b"ready\n"
        return 404, text, b"not found: try /metrics, /livez or /readyz\n"

    def start(self) -> None:
        self._thread.start()
        host, port = self.address
        log.info(
            "metrics and health", address=f"http://{host}:{port}", paths="/metrics /livez /readyz"
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


__all__ = [
    "DaemonMetrics",
    "Health",
    "HealthServer",
    "MeasuredChannel",
    "readiness_problems",
]
