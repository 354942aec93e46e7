"""The webhook and Teams channels, against a real HTTP server on 127.0.0.1.

The server runs in a daemon thread, records every request (path, headers, JSON
body) and answers from a queue of replies (status, headers, delay). Nothing is
mocked: the channel speaks HTTP to it through httpx. These tests need the package
installed (``pip install -e plugins/qiflow-webhook``), and fail, not skip, without it.
"""

from __future__ import annotations

import base64
import logging
import socket
import sqlite3
import time
import traceback
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from qiflow import Engine, ManualClock, get_plugin_manager
from qiflow.cli import main
from qiflow.config import load_settings
from qiflow.daemon import Daemon
from qiflow.exceptions import ConfigError
from qiflow.notify.channels import DeliveryError, Item, Notification
from qiflow.notify.delivery import message_key
from webhook_receiver import HOOK_PATH, SECRET, HookServer, Reply

from qiflow_webhook.plugin import MAX_RETRY_AFTER, WebhookChannel, qiflow_channels, retry_after

ENV = "QIFLOW_TEST_HOOK"
OWNER, SPONSOR = "olivia", "sam"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record at every level, httpx's and httpcore's included."""
    caplog.set_level(logging.DEBUG)
    return caplog


def channel(url: str, **options: Any) -> WebhookChannel:
    options = {"connect_timeout": 2.0, "read_timeout": 2.0, **options}
    return WebhookChannel("webhook", url, **options)


def notification(**overrides: Any) -> Notification:
    values: dict[str, Any] = {
        "key": "qiflow-0123456789abcdef0123456789abcdef",
        "channel": "webhook",
        "recipient": OWNER,
        "name": "Olivia Owen",
        "address": "olivia@example.org",
        "subject": "QI-0001 review due 04 Feb 2026: Reduce missed doses",
        "body": "The review of QI-0001 was due.\nRecord it.",
        "items": (Item("reminder", None, "QI-0001 review due", "The review was due."),),
    }
    return Notification(**{**values, **overrides})


def failure(ch: WebhookChannel, n: Notification | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        ch.send(n or notification())
    return info.value


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert "/hook/" not in text


def assert_error_hides_url(exc: DeliveryError) -> None:
    assert exc.__cause__ is None
    assert_no_secret(str(exc), repr(exc), "".join(traceback.format_exception(exc)))


# what is sent --------------------------------------------------------------------------------


def test_generic_payload_and_idempotency_key(server: HookServer) -> None:
    n = notification(
        subject="2 QI project items need your attention",
        body="- QI-0001 review due\n- QI-0002 review overdue",
        items=(
            Item("reminder", None, "QI-0001 review due", "Due on 4 Feb."),
            Item("escalation", None, "QI-0002 review overdue", "Overdue since 1 Jan."),
        ),
    )
    channel(server.url).send(n)

    [request] = server.requests
    assert request.method == "POST"
    assert request.path == HOOK_PATH
    assert request.headers["idempotency-key"] == n.key
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "key": n.key,
        "recipient": OWNER,
        "name": "Olivia Owen",
        "subject": "2 QI project items need your attention",
        "body": "- QI-0001 review due\n- QI-0002 review overdue",
        "items": [
            {
                "kind": "reminder",
                "subject": "QI-0001 review due",
                "body": "Due on 4 Feb.",
                "project_ref": None,
                "project_title": None,
                "rule": None,
                "due": None,
                "url": None,
            },
            {
                "kind": "escalation",
                "subject": "QI-0002 review overdue",
                "body": "Overdue since 1 Jan.",
                "project_ref": None,
                "project_title": None,
                "rule": None,
                "due": None,
                "url": None,
            },
        ],
    }
    assert "webhook-signature" not in request.headers  # no secret configured


def test_generic_items_link_to_the_project_page(server: HookServer) -> None:
    due = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    item = Item(
        "escalation",
        "QI-0042",
        "QI-0042 review overdue since 01 Jun 2026 (escalated to the sponsor): Falls",
        "Overdue.",
        rule="sponsor escalation: you sponsor this project",
        due=due,
        project_title="Falls",
    )
    channel(server.url, base_url="https://qi.example.nhs.uk/").send(notification(items=(item,)))

    [request] = server.requests
    [sent] = request.body["items"]
    assert sent["url"] == "https://qi.example.nhs.uk/projects/QI-0042"
    assert sent["project_ref"] == "QI-0042"
    assert sent["project_title"] == "Falls"
    assert sent["rule"] == "sponsor escalation: you sponsor this project"
    assert sent["due"] == "2026-06-01T23:30:00+00:00"


def test_teams_connector_keeps_the_legacy_message_card(server: HookServer) -> None:
    n = notification(items=(Item("reminder", "QI-0001", "QI-0001 review due", "Due."),))
    channel(server.url, format="teams-connector", base_url="https://qi.example.nhs.uk").send(n)

    [request] = server.requests
    assert request.headers["idempotency-key"] == n.key
    assert request.body == {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": n.subject,
        "title": n.subject,
        "text": "The review of QI-0001 was due.\n\nRecord it.",  # Teams needs a blank line
        "potentialAction": [
            {
                "@type": "OpenUri",
                "name": "Open",
                "targets": [{"os": "default", "uri": "https://qi.example.nhs.uk/projects/QI-0001"}],
            }
        ],
    }


def test_every_attempt_at_one_message_carries_the_same_key(server: HookServer) -> None:
    server.reply(Reply(503))
    ch = channel(server.url)
    failure(ch)
    ch.send(notification())
    keys = [r.headers["idempotency-key"] for r in server.requests]
    assert keys == [notification().key] * 2


# how the receiver's answer is read ----------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(server: HookServer, status: int) -> None:
    server.reply(Reply(status))
    channel(server.url).send(notification())
    assert len(server.requests) == 1


def test_503_with_retry_after_seconds(server: HookServer) -> None:
    server.reply(Reply(503, {"Retry-After": "7"}))
    exc = failure(channel(server.url))
    assert not exc.permanent
    assert exc.retry_after == pytest.approx(7.0)
    assert str(exc) == "webhook: answered 503"
    assert_error_hides_url(exc)


def test_retry_after_as_an_http_date(server: HookServer) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    server.reply(Reply(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    exc = failure(channel(server.url))
    assert not exc.permanent
    assert exc.retry_after is not None
    assert 27.0 <= exc.retry_after <= 31.0


def test_429_is_retried(server: HookServer) -> None:
    server.reply(Reply(429))
    exc = failure(channel(server.url))
    assert not exc.permanent
    assert exc.retry_after is None  # qiflow then backs off exponentially, with jitter
    assert_error_hides_url(exc)


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, True),
        (403, True),
        (404, True),
        (410, True),
        (413, True),
        (408, False),
        (425, False),
        (429, False),
        (500, False),
        (501, True),
        (502, False),
        (504, False),
        (505, True),
        (520, False),
    ],
)
def test_statuses(server: HookServer, status: int, permanent: bool) -> None:
    server.reply(Reply(status))
    exc = failure(channel(server.url))
    assert exc.permanent is permanent
    assert str(exc) == f"webhook: answered {status}"


def test_404_is_permanent(server: HookServer) -> None:
    server.reply(Reply(404, {"Retry-After": "7"}))
    exc = failure(channel(server.url))
    assert exc.permanent
    assert exc.retry_after is None
    assert_error_hides_url(exc)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(server: HookServer, status: int) -> None:
    server.reply(Reply(status, {"Location": f"{server.base}/elsewhere/{SECRET}"}))
    exc = failure(channel(server.url))
    assert exc.permanent
    assert str(exc) == f"webhook: answered {status}; redirects are not followed"
    assert_error_hides_url(exc)
    assert [r.path for r in server.requests] == [HOOK_PATH]  # the target was never asked


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("2.5", 2.5),
        ("99999999999", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: retry now
        (None, None),
        ("", None),
        ("-5", None),
        ("inf", None),
        ("nan", None),
        ("1e9", None),
        ("soon", None),
    ],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    assert retry_after(header) == seconds


# when the receiver cannot be reached ---------------------------------------------------------


def test_connection_refused_is_retried(logs: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exc = failure(channel(f"http://127.0.0.1:{port}{HOOK_PATH}"))
    assert not exc.permanent
    assert str(exc) == "webhook: could not connect (ConnectError)"
    assert_error_hides_url(exc)
    assert_no_secret(logs.text)


def test_a_slow_receiver_times_out(server: HookServer, logs: pytest.LogCaptureFixture) -> None:
    server.reply(Reply(200, delay=5.0))
    ch = channel(server.url, read_timeout=0.3)
    started = time.monotonic()
    exc = failure(ch)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 2.0
    assert not exc.permanent
    assert str(exc) == "webhook: timed out (ReadTimeout)"
    assert_error_hides_url(exc)
    assert_no_secret(logs.text)


# the URL is a secret -------------------------------------------------------------------------


def test_the_url_is_never_shown(server: HookServer, logs: pytest.LogCaptureFixture) -> None:
    ch = channel(server.url)
    assert_no_secret(repr(ch), str(ch))
    ch.send(notification())
    moved = server.url.replace("http://", "https://")  # httpcore logs response headers
    server.reply(Reply(503, {"Retry-After": "1"}), Reply(308, {"Location": moved}))
    errors = [failure(ch), failure(ch)]
    for exc in errors:
        assert_error_hides_url(exc)
    # httpx logs each request's URL at INFO: the channel's name stands in for it
    assert "HTTP Request: POST <webhook webhook url>" in logs.text
    assert "/<webhook webhook path>" in logs.text
    assert_no_secret(logs.text, *(r.getMessage() for r in logs.records))


def test_a_bad_url_is_refused_without_quoting_it() -> None:
    for url in (f"ftp://example.org{HOOK_PATH}", f"example.org{HOOK_PATH}", f"http://{SECRET}:x/"):
        with pytest.raises(ConfigError, match="must be an http\\(s\\) URL") as info:
            WebhookChannel("webhook", url)
        assert_no_secret(str(info.value))


# configuration through the qiflow_channels hook ----------------------------------------------


def test_channels_only_for_tables_present() -> None:
    url = f"https://hooks.example.org{HOOK_PATH}"
    assert qiflow_channels(config={}) == {}
    assert qiflow_channels(config={"email": {"host": "smtp.example.org"}}) == {}
    found = qiflow_channels(config={"webhook": {"url": url}})
    assert list(found) == ["webhook"]
    both = qiflow_channels(
        config={
            "webhook": {"url": url},
            "teams": {"url": url, "connect_timeout": 0.5, "read_timeout": 3},
        }
    )
    webhook, teams = both["webhook"], both["teams"]
    assert isinstance(webhook, WebhookChannel)
    assert isinstance(teams, WebhookChannel)
    assert (webhook.name, webhook.format) == ("webhook", "generic")
    assert (teams.name, teams.format) == ("teams", "teams")
    timeout = teams._client.timeout
    assert (timeout.connect, timeout.read) == (0.5, 3.0)
    assert teams._client.follow_redirects is False


def test_the_entry_point_provides_the_channels() -> None:
    pm = get_plugin_manager(allow=["webhook"])  # not qiflow-email etc., if installed
    assert "webhook" in dict(pm.list_name_plugin())
    config = {"teams": {"url": f"https://hooks.example.org{HOOK_PATH}"}}
    provided: dict[str, Any] = {}
    for found in pm.hook.qiflow_channels(config=config):
        provided.update(found)
    assert sorted(provided) == ["console", "teams"]


def test_the_readme_configuration_works(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "qiflow.toml"
    path.write_text(example, encoding="utf-8")
    env = {"QIFLOW_WEBHOOK_URL": f"https://hooks.example.org{HOOK_PATH}"}
    env["QIFLOW_TEAMS_URL"] = env["QIFLOW_WEBHOOK_URL"]
    env["QIFLOW_WEBHOOK_SECRET"] = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    settings = load_settings(path, env, check_permissions=True)
    assert settings.policy.routing["escalation"] == ("teams", "webhook")
    found = qiflow_channels(config=settings.channels)
    assert {n: getattr(c, "format", None) for n, c in found.items()} == {
        "webhook": "generic",
        "teams": "teams",
    }
    webhook, teams = found["webhook"], found["teams"]
    assert isinstance(webhook, WebhookChannel)
    assert isinstance(teams, WebhookChannel)
    assert (webhook.signed, teams.signed) == (True, False)
    assert webhook.base_url == teams.base_url == "https://qi.example.nhs.uk"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "channels.webhook needs url_env"),
        ({"format": "teams"}, "channels.webhook needs url_env"),
        ({"url": ""}, "channels.webhook: the url is empty"),
        ({"url": "https://h.example.org/x", "format": "slack"}, "format must be one of"),
        (
            {"url": "https://h.example.org/x", "read_timout": 3},
            "unknown setting\\(s\\) read_timout",
        ),
        ({"url": "https://h.example.org/x", "read_timeout": 0}, "read_timeout must be a positive"),
        ({"url": "https://h.example.org/x", "connect_timeout": "x"}, "connect_timeout must be"),
        ({"url": "https://h.example.org/x", "connect_timeout": True}, "connect_timeout must be"),
    ],
)
def test_a_bad_table_is_a_clear_error(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        qiflow_channels(config={"webhook": table})


# end to end: the daemon, a qiflow database and qiflow.toml -------------------------------------


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "qiflow.toml"
    path.write_text(
        f"""
[sending]
days = "mon-sun"
hours = "00:00-23:59"
digest = false

[routing]
reminder = ["webhook"]
escalation = ["webhook"]

[channels.webhook]
url_env = "{ENV}"
connect_timeout = 2
read_timeout = 2
""",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def everything_stored(db: Path) -> str:
    """Every row of every table, and the database files' raw bytes."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables]
    raw = [p.read_bytes().decode("latin-1") for p in db.parent.glob(db.name + "*")]
    return "\n".join(rows + raw)


def notifications(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM qiflow_notification ORDER BY id")]


def test_daemon_retries_with_the_same_key(
    tmp_path: Path,
    server: HookServer,
    logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 503 with Retry-After holds the message back that long; the retry has the same key."""
    db = tmp_path / "db.sqlite"
    clock = ManualClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    settings = load_settings(write_config(tmp_path), {ENV: server.url}, check_permissions=True)
    plugins = get_plugin_manager(allow=["webhook"])
    with Engine(f"sqlite:///{db}", clock=clock, plugins=plugins, migrate=True) as engine:
        project = engine.create_project(
            "Reduce missed doses", actor=OWNER, owner=OWNER, sponsor=SPONSOR
        )
        clock.advance(days=40)  # the review (due after 30 days) is 10 days overdue
        worker = Daemon(engine, settings, name="test-daemon")
        assert sorted(worker.channels) == ["console", "webhook"]

        server.reply(Reply(503, {"Retry-After": "120"}), Reply(503, {"Retry-After": "120"}))
        enqueued, report = worker.once()
        assert (enqueued, report.sent, report.retried, report.dead) == (2, 0, 2, 0)
        for row in notifications(db):
            assert (row["status"], row["attempts"]) == ("pending", 1)
            assert row["last_error"] == "webhook: answered 503"

        clock.advance(seconds=60)  # before Retry-After: nothing is due
        assert worker.deliver_once().claimed == 0
        clock.advance(seconds=61)
        assert worker.deliver_once().sent == 2

    keys = [r.headers["idempotency-key"] for r in server.requests]
    assert len(keys) == 4
    assert keys[:2] == keys[2:]  # the same message, the same key
    by_recipient = {r.body["recipient"]: r.body for r in server.requests[2:]}
    assert sorted(by_recipient) == [OWNER, SPONSOR]
    assert by_recipient[OWNER]["subject"].startswith(f"{project.ref} review due ")
    assert "escalated to the sponsor" in by_recipient[SPONSOR]["subject"]
    assert all(row["status"] == "sent" for row in notifications(db))
    printed = capsys.readouterr()
    assert_no_secret(everything_stored(db), logs.text, printed.out, printed.err)


def test_cli_daemon_once_delivers_to_a_real_server(
    tmp_path: Path, server: HookServer, logs: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "db.sqlite"
    url = f"sqlite:///{db}"
    # the daemon judges "due" by the database's clock (real time): create the project
    # 45 days ago, so its 30-day review is 15 days overdue and the sponsor has been told
    clock = ManualClock(datetime.now(UTC) - timedelta(days=45))
    with Engine(url, clock=clock, migrate=True) as engine:
        project = engine.create_project(
            "Reduce missed doses", actor=OWNER, owner=OWNER, sponsor=SPONSOR
        )
    config = write_config(tmp_path)
    unset = ("QIFLOW_CONFIG", "QIFLOW_DATABASE_URL", "QIFLOW_WORKFLOWS_DIR")
    env: dict[str, str | None] = {ENV: server.url, "QIFLOW_PLUGINS": "webhook"}
    env.update(dict.fromkeys(unset))
    for var in ("QIFLOW_TIMEZONE", "QIFLOW_SENDING_DAYS", "QIFLOW_SENDING_HOURS", "QIFLOW_DIGEST"):
        env[var] = None

    result = CliRunner().invoke(
        main,
        ["--db", url, "daemon", "--once", "--name", "cli-test", "--config", str(config)],
        env=env,
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "swept: 2 new notification(s); delivered: 2 sent, 0 to retry, 0 dead" in result.stdout
    rows = notifications(db)
    assert [(r["channel"], r["status"]) for r in rows] == [("webhook", "sent")] * 2
    reminder = next(r for r in rows if r["kind"] == "reminder")
    [request] = [r for r in server.requests if r.body["recipient"] == OWNER]
    assert request.path == HOOK_PATH
    assert (
        request.headers["idempotency-key"] == message_key([reminder["key"]]) == request.body["key"]
    )
    assert request.body["subject"] == reminder["subject"]
    assert request.body["subject"].startswith(f"{project.ref} review due ")
    assert len(server.requests) == 2
    assert_no_secret(everything_stored(db), result.stdout, result.stderr, result.output, logs.text)


def test_cli_reports_a_bad_table_clearly(tmp_path: Path) -> None:
    config = tmp_path / "qiflow.toml"
    config.write_text('[channels.webhook]\nformat = "teams"\n', encoding="utf-8")
    url = f"sqlite:///{tmp_path}/db.sqlite"
    Engine(url, migrate=True).close()
    result = CliRunner().invoke(
        main,
        ["--db", url, "daemon", "--once", "--config", str(config)],
        env={"QIFLOW_PLUGINS": "webhook", "QIFLOW_CONFIG": None},
    )
    assert result.exit_code == 1
    assert "error: channels.webhook needs url_env" in result.stderr
