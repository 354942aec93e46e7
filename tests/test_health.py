"""The daemon's metrics and health, scraped from a running ``qiflow daemon`` process.

* /metrics: counters move after a sweep and a delivery; labels name channels, statuses and
  kinds, never a person or a project title.
* /readyz turns false when the database goes away (a local TCP proxy in front of
  PostgreSQL is cut, not the shared server) and true again when it is back; /livez stays
  true meanwhile; ``qiflow daemon status --check`` agrees, by its exit status.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from qiflow import Engine, ManualClock
from qiflow.cli import main
from qiflow.config import Settings, load_settings
from qiflow.daemon import Daemon
from qiflow.exceptions import ConfigError
from qiflow.notify.civil_time import parse_window
from qiflow.notify.reminders import ReminderPolicy
from qiflow.store import Store
from tests.daemon_support import daemon_config, daemons, receiving, wait_until, write_config
from tests.test_daemon import seed_overdue


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()
    except OSError as exc:  # not listening yet
        return 0, str(exc)


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    status, text = get(port, "/metrics")
    assert status == 200, text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def metrics_config(port: int, **daemon: Any) -> str:
    return daemon_config(**daemon) + f'\n[metrics]\naddress = "127.0.0.1:{port}"\n'


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "daemon", "status", "--check"])
    return result.exit_code, result.output


def test_metrics_move_after_a_sweep_and_a_delivery(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "qiflow.toml", metrics_config(port, sweep_interval=0.5))
    with receiving() as receiver, daemons(db_url, config, receiver.url, tmp_path) as group:
        daemon = group.start("d1")
        wait_until(lambda: get(port, "/livez")[0] == 200, 30, "/livez to answer 200")
        wait_until(
            lambda: value(samples(port), "qiflow_sweep_duration_seconds_count") >= 1,
            30,
            "a first sweep",
        )
        before = samples(port)
        assert value(before, "qiflow_messages_sent_total", channel="webhook") == 0
        assert get(port, "/readyz") == (200, "ready\n")

        owners = seed_overdue(db_url, 3)  # three reviews overdue: three reminders

        def delivered() -> bool:
            assert daemon.process.poll() is None, group.logs()
            found = samples(port)
            return (
                value(found, "qiflow_outbox_notifications", status="sent", channel="webhook") == 3
            )

        wait_until(delivered, 60, "three reminders sent")
        after = samples(port)
        scrape = get(port, "/metrics")[1]
        assert get(port, "/nothing")[0] == 404
    assert sorted(a.payload["recipient"] for a in receiver.snapshot()) == owners

    assert value(after, "qiflow_sweep_duration_seconds_count") > value(
        before, "qiflow_sweep_duration_seconds_count"
    )
    assert value(after, "qiflow_sweep_items_found_total", kind="reminder") == 3
    assert value(after, "qiflow_messages_sent_total", channel="webhook") == 3
    assert value(after, "qiflow_send_duration_seconds_count", channel="webhook") == 3
    assert value(after, "qiflow_send_failures_total", channel="webhook", permanent="false") == 0
    assert value(after, "qiflow_outbox_notifications", status="pending", channel="webhook") == 0
    assert value(after, "qiflow_commands_total", command="expire_signoffs", outcome="ok") >= 2
    assert value(after, "qiflow_daemon_last_tick_timestamp_seconds") > 0
    # no personal data or project titles in labels (nor anywhere in the scrape)
    assert not any(owner in scrape for owner in owners)
    assert "Overdue project" not in scrape
    label_names = {name for (_, labels) in after for name, _ in labels}
    assert label_names <= {
        "channel",
        "status",
        "kind",
        "permanent",
        "command",
        "outcome",
        "le",
        "subscriber",
    }


def test_failed_sends_are_counted_by_channel(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path / "qiflow.toml", metrics_config(port, sweep_interval=0.5, max_attempts=1)
    )
    seed_overdue(db_url, 2)
    with (
        receiving(status=400) as receiver,
        daemons(db_url, config, receiver.url, tmp_path) as group,
    ):
        group.start("d1")
        wait_until(lambda: get(port, "/livez")[0] == 200, 30, "/livez to answer 200")
        wait_until(
            lambda: value(samples(port), "qiflow_dead_letters_total") == 2, 60, "two dead letters"
        )
        found = samples(port)
    failures = sum(
        value(found, "qiflow_send_failures_total", channel="webhook", permanent=p)
        for p in ("true", "false")
    )
    assert failures == 2, found
    assert value(found, "qiflow_messages_sent_total", channel="webhook") == 0
    assert value(found, "qiflow_outbox_notifications", status="dead", channel="webhook") == 2


class Proxy:
    """A TCP proxy on 127.0.0.1 to ``target``: ``cut()`` drops every connection and stops
    listening (connections are refused); ``restore()`` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        assert self._listener is not None
        with suppress(OSError):  # wakes the thread blocked in accept() (close alone does not)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None
        with self._lock:
            for s in self._sockets:
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()

    def close(self) -> None:
        if self._listener is not None:
            self.cut()


@contextmanager
def proxied(url: str) -> Iterator[tuple[Proxy, str]]:
    parsed = make_url(url)
    proxy = Proxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    try:
        yield (
            proxy,
            parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        proxy.close()


@pytest.mark.postgres
def test_readiness_follows_the_database_through_a_cut_and_back(pg_url: str, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "qiflow.toml", metrics_config(port, sweep_interval=0.5))
    with (
        proxied(pg_url) as (proxy, via_proxy),
        receiving() as receiver,
        daemons(via_proxy, config, receiver.url, tmp_path) as group,
    ):
        daemon = group.start("d1")
        wait_until(lambda: get(port, "/readyz")[0] == 200, 30, "/readyz to answer 200")
        wait_until(lambda: check("--db", via_proxy)[0] == 0, 30, "status --check to pass")

        proxy.cut()
        wait_until(lambda: get(port, "/readyz")[0] == 503, 30, "/readyz to answer 503")
        assert get(port, "/readyz")[1] == "not ready: the database is unreachable\n"
        assert "qiflow_daemon_ready 0.0" in get(port, "/metrics")[1]
        code, output = check("--db", via_proxy)
        assert code == 1
        assert "not ready: cannot connect to" in output, output
        assert get(port, "/livez")[0] == 200  # the process still ticks: do not restart it

        proxy.restore()
        wait_until(lambda: get(port, "/readyz")[0] == 200, 30, "/readyz to answer 200 again")
        wait_until(lambda: check("--db", via_proxy)[0] == 0, 30, "status --check to pass again")
        assert daemon.process.poll() is None, group.logs()


def test_status_check_fails_until_a_daemon_sweeps(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = check("--db", db_url)
    assert code == 1
    assert "not ready: no daemon has swept this database yet: start `qiflow daemon`" in output

    once = CliRunner().invoke(main, ["--db", db_url, "daemon", "--once"])
    assert once.exit_code == 0, once.output
    code, output = check("--db", db_url)
    assert code == 0, output
    assert output.endswith("ok: the database answers at this qiflow's schema and a daemon sweeps\n")

    found = json.loads(
        CliRunner().invoke(main, ["--db", db_url, "daemon", "status", "--check", "--json"]).output
    )
    assert found["ok"] is True
    assert found["problems"] == []
    time.sleep(1.2)
    result = CliRunner().invoke(
        main, ["--db", db_url, "daemon", "status", "--check", "--max-age", "1"]
    )
    assert result.exit_code == 1
    assert "not ready: no daemon has swept for " in result.output
    assert "s (limit 1s): check that `qiflow daemon` runs and its log" in result.output


def test_status_check_names_a_channel_no_plugin_provides(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "qiflow.toml", '[channels.pager]\nnumber = "1"\n')
    result = CliRunner().invoke(
        main, ["--db", db_url, "daemon", "status", "--check", "--config", str(config), "--json"]
    )
    assert result.exit_code == 1
    found = json.loads(result.output)
    assert found["problems"] == ["channels configured but provided by no installed plugin: pager"]


def test_status_check_of_an_unreachable_database_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = check("--db", f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    assert code == 1
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("not ready: cannot connect to"), output


def test_a_bad_metrics_address_is_refused_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "qiflow.toml"
    path.write_text('[metrics]\naddress = "9464"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"metrics\.address: '9464' is not HOST:PORT"):
        load_settings(path, env={})
    path.write_text('[metrics]\naddress = "[::1]:9464"\n', encoding="utf-8")
    assert load_settings(path, env={}).metrics_address == ("::1", 9464)


def test_a_claim_whose_lease_ran_out_is_counted_as_a_takeover(db_url: str) -> None:
    seed_overdue(db_url, 3)
    now = datetime.now(UTC)
    with Engine(db_url, clock=ManualClock(now)) as engine:
        settings = Settings(policy=ReminderPolicy(window=parse_window("mon-sun", "00:00-24:00")))
        daemon = Daemon(engine, settings, name="taker")
        assert daemon.sweep_once() == 3
        later = now + timedelta(days=2)  # every reminder is due by then, whatever its hour
        store = Store(db_url)
        try:  # a daemon that claimed everything, then died: its lease runs out in 1 s
            with store.write() as tx:
                held = tx.outbox.claim(
                    now=later, daemon="dead", lease=timedelta(seconds=1), limit=9
                )
        finally:
            store.dispose()
        assert len(held) == 3
        clock = engine.clock
        assert isinstance(clock, ManualClock)
        clock.set(later)
        assert daemon.deliver_once().taken_over == 0  # the lease still holds
        clock.advance(timedelta(seconds=2))
        report = daemon.deliver_once()
    assert (report.taken_over, report.sent) == (3, 3)
    scrape = generate_latest(daemon.metrics.registry).decode()
    assert "qiflow_lease_takeovers_total 3.0" in scrape
    assert "qiflow_leases_lost_total 0.0" in scrape
