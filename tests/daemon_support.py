"""Helpers for tests/test_daemon.py: a webhook receiver, daemon processes, England's calendar.

Everything here is independent of qiflow's own code: the receiver is a plain
``ThreadingHTTPServer`` on 127.0.0.1, the daemons are ``python -m qiflow daemon``
subprocesses, and the sending window is checked with :mod:`zoneinfo` and a list of
bank holidays copied from gov.uk (cross-checked against the ``holidays`` package).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

#: England and Wales bank holidays, from https://www.gov.uk/bank-holidays
BANK_HOLIDAYS = frozenset(
    {
        date(2026, 1, 1),
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 4),
        date(2026, 5, 25),
        date(2026, 8, 31),
        date(2026, 12, 25),
        date(2026, 12, 28),  # Boxing Day (substitute day)
        date(2027, 1, 1),
        date(2027, 3, 26),  # Good Friday
        date(2027, 3, 29),  # Easter Monday
        date(2027, 5, 3),
        date(2027, 5, 31),
        date(2027, 8, 30),
        date(2027, 12, 27),  # Christmas Day (substitute day)
        date(2027, 12, 28),  # Boxing Day (substitute day)
        date(2028, 1, 3),  # New Year's Day (substitute day)
    }
)
OPENS, CLOSES = clock_time(9, 0), clock_time(17, 0)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, fold: int = 0
) -> datetime:
    """A wall-clock time in London as a UTC instant (``fold=1``: the second 01:xx in October)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=LONDON, fold=fold).astimezone(
        UTC
    )


def working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in BANK_HOLIDAYS


def in_window(instant: datetime) -> bool:
    """Monday to Friday, 09:00 to 17:00 London time, not a bank holiday."""
    wall = instant.astimezone(LONDON)
    return working_day(wall.date()) and OPENS <= wall.time() < CLOSES


def opening(instant: datetime) -> datetime:
    """The first 09:00 (London) of a working day at or after ``instant``."""
    day = instant.astimezone(LONDON).date()
    while True:
        if working_day(day):
            opens = datetime.combine(day, OPENS, tzinfo=LONDON).astimezone(UTC)
            if opens >= instant:
                return opens
        day += timedelta(days=1)


def as_utc(value: Any) -> datetime:
    """A datetime read from either backend (SQLite hands back naive UTC)."""
    assert isinstance(value, datetime), value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# a webhook receiver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    key: str | None
    payload: Any
    at: float


@dataclass
class Receiver:
    """A local webhook endpoint: records every POST's Idempotency-Key and JSON body.

    ``status`` and ``headers`` are the answer; ``delay`` seconds pass before it is
    sent (the request is recorded on arrival, so a slow answer is a send in flight).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    arrivals: list[Arrival] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrival = Arrival(
                    self.headers.get("Idempotency-Key"),
                    json.loads(raw) if raw else None,
                    time.monotonic(),
                )
                with receiver._lock:
                    receiver.arrivals.append(arrival)
                    status, headers, delay = receiver.status, dict(receiver.headers), receiver.delay
                if delay:
                    receiver._closing.wait(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender went away (killed) while we slept
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a killed sender's broken connection is expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/s3cret-T0KEN"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.status, self.headers = status, dict(headers or {})

    def snapshot(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)

    def keys(self) -> list[str | None]:
        return [a.key for a in self.snapshot()]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def receiving(**kwargs: Any) -> Iterator[Receiver]:
    receiver = Receiver(**kwargs)
    try:
        yield receiver
    finally:
        receiver.close()


# daemon processes -----------------------------------------------------------------------------


def write_config(path: Path, text: str) -> Path:
    """Write a qiflow.toml readable only by its owner (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)
    return path


def daemon_config(
    *,
    routing: str = '["webhook"]',
    sweep_interval: float = 1,
    delivery_interval: float = 0.2,
    shutdown_timeout: float = 10,
    lease: float = 60,
    batch: int = 20,
    max_attempts: int = 8,
    connect_timeout: float = 1,
    read_timeout: float = 5,
) -> str:
    """A qiflow.toml: the webhook URL from $QIFLOW_TEST_HOOK, sending open all week."""
    return f"""
[sending]
timezone = "Europe/London"
days = "mon-sun"
hours = "00:00-23:59"
digest = false

[daemon]
sweep_interval = {sweep_interval}
delivery_interval = {delivery_interval}
shutdown_timeout = {shutdown_timeout}
lease = {lease}
batch = {batch}
max_attempts = {max_attempts}

[routing]
reminder = {routing}
escalation = {routing}

[channels.webhook]
url_env = "QIFLOW_TEST_HOOK"
connect_timeout = {connect_timeout}
read_timeout = {read_timeout}

[plugins]
allow = ["webhook"]
"""


def child_env(hook_url: str) -> dict[str, str]:
    """The environment for a daemon: ours without QIFLOW_* settings, plus the hook URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIFLOW_")}
    env["QIFLOW_TEST_HOOK"] = hook_url
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class DaemonProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    _out: IO[bytes]

    def send(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        """Kill the process if it still runs, and reap it (every test calls this in finally)."""
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        finally:
            self._out.close()


class Daemons:
    """``python -m qiflow daemon`` subprocesses, all killed when the block ends."""

    def __init__(self, db_url: str, config: Path, hook_url: str, workdir: Path) -> None:
        self.db_url, self.config, self.workdir = db_url, config, workdir
        self.env = child_env(hook_url)
        self.started: list[DaemonProcess] = []

    def start(self, name: str, *extra: str) -> DaemonProcess:
        log = self.workdir / f"{name}-{len(self.started)}.log"
        out = log.open("wb")
        command = [sys.executable, "-m", "qiflow", "--db", self.db_url, "daemon"]
        command += ["--config", str(self.config), "--name", name, *extra]
        process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        started = DaemonProcess(name, process, log, out)
        self.started.append(started)
        return started

    def stop_all(self) -> None:
        for daemon in self.started:
            daemon.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {d.name} (rc {d.process.poll()}):\n{d.output()}" for d in self.started
        )


@contextmanager
def daemons(db_url: str, config: Path, hook_url: str, workdir: Path) -> Iterator[Daemons]:
    group = Daemons(db_url, config, hook_url, workdir)
    try:
        yield group
    finally:
        group.stop_all()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, step: float = 0.05
) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def sigterm_and_wait(group: Daemons, timeout: float) -> list[tuple[str, int | None, float]]:
    """SIGTERM every running daemon; return each one's name, exit code (None: still running
    after ``timeout``) and the seconds it took to exit."""
    began = time.monotonic()
    running = [d for d in group.started if d.process.poll() is None]
    for daemon in running:
        daemon.send(signal.SIGTERM)
    result: list[tuple[str, int | None, float]] = []
    for daemon in running:
        left = max(0.1, began + timeout - time.monotonic())
        try:
            code: int | None = daemon.wait(left)
        except subprocess.TimeoutExpired:
            code = None
        result.append((daemon.name, code, time.monotonic() - began))
    return result
