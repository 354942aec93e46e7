"""Signed webhooks (Standard Webhooks), checked by a receiver that uses the
``standardwebhooks`` library, never qiflow's own code, on a real local HTTP server."""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from qiflow import DeliveryError, Engine, Item, ManualClock, Notification
from qiflow.cli import main
from qiflow.config import load_settings
from qiflow.exceptions import ConfigError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from webhook_receiver import HookServer, Reply

from qiflow_webhook.cards import encode
from qiflow_webhook.plugin import WebhookChannel, qiflow_channels

KEY = "qiflow-0123456789abcdef0123456789abcdef"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def notification(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "key": KEY,
        "channel": "webhook",
        "recipient": "olivia",
        "name": "Olivia Owen",
        "address": None,
        "subject": "QI-0001 review due 04 Feb 2026: Réduire les chutes",
        "body": "The review of QI-0001 was due.",
        "items": (Item("reminder", "QI-0001", "QI-0001 review due", "Due."),),
    }
    return Notification(**{**values, **changes})


def channel(url: str, **options: Any) -> WebhookChannel:
    return WebhookChannel("webhook", url, connect_timeout=2.0, read_timeout=2.0, **options)


def receiver(server: HookServer, secret: str) -> None:
    """The server checks each request as a receiver would, with the library."""
    hook = Webhook(secret)

    def verify(raw: bytes, headers: dict[str, str]) -> bool:
        try:
            hook.verify(raw, headers)
        except WebhookVerificationError:
            return False
        return True

    server.verify = verify


def post(server: HookServer, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(server.url, content=body, headers=headers, timeout=2.0).status_code


@pytest.mark.parametrize("fmt", ["generic", "teams", "teams-connector"])
def test_the_receiver_verifies_a_signed_message(server: HookServer, fmt: str) -> None:
    secret = new_secret()
    receiver(server, secret)
    channel(server.url, signing_secret=secret, format=fmt).send(notification())

    [request] = server.requests
    assert request.verified is True
    assert request.headers["webhook-id"] == KEY == request.headers["idempotency-key"]
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["webhook-signature"].startswith("v1,")


def test_every_retry_has_the_same_webhook_id_and_a_fresh_signature(server: HookServer) -> None:
    secret = new_secret()
    receiver(server, secret)
    server.reply(Reply(503))
    ch = channel(server.url, signing_secret=secret)
    with pytest.raises(DeliveryError):
        ch.send(notification())
    ch.send(notification())

    first, second = server.requests
    assert first.verified is second.verified is True
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == KEY


def test_a_tampered_body_an_old_timestamp_and_a_wrong_secret_are_refused(
    server: HookServer,
) -> None:
    secret = new_secret()
    receiver(server, secret)
    ch = channel(server.url, signing_secret=secret)
    n = notification()
    body = encode(ch.payload(n))
    headers = ch.headers(n, body)
    assert post(server, body, headers) == 200  # as signed: accepted

    tampered = body.replace(b"olivia", b"mallory")
    assert tampered != body
    assert post(server, tampered, headers) == 401

    old = ch.headers(n, body, now=time.time() - 10 * 60)  # outside the 5-minute tolerance
    assert post(server, body, old) == 401

    stranger = channel(server.url, signing_secret=new_secret())
    assert post(server, body, stranger.headers(n, body)) == 401

    unsigned = channel(server.url)
    assert post(server, body, unsigned.headers(n, body)) == 401
    assert [r.verified for r in server.requests] == [True, False, False, False, False]


def test_a_refused_signature_is_a_permanent_failure(server: HookServer) -> None:
    receiver(server, new_secret())
    with pytest.raises(DeliveryError, match="answered 401") as caught:
        channel(server.url, signing_secret=new_secret()).send(notification())
    assert caught.value.permanent


def test_during_a_rotation_both_secrets_sign(server: HookServer) -> None:
    old, new = new_secret(), new_secret()
    ch = channel(server.url, signing_secret=new, previous_signing_secret=old)
    for receivers_secret in (old, new):  # a receiver not yet moved, and one already moved
        receiver(server, receivers_secret)
        ch.send(notification())
    assert [r.verified for r in server.requests] == [True, True]
    assert len(server.requests[0].headers["webhook-signature"].split(" ")) == 2
    receiver(server, new_secret())  # neither secret
    with pytest.raises(DeliveryError, match="answered 401"):
        ch.send(notification())


def test_secrets_from_the_environment_and_a_file(server: HookServer, tmp_path: Path) -> None:
    new, old = new_secret(), new_secret()
    (tmp_path / "previous").write_text(old + "\n", encoding="utf-8")
    config = tmp_path / "qiflow.toml"
    config.write_text(
        '[channels.webhook]\nurl_env = "HOOK"\nsigning_secret_env = "HOOK_SECRET"\n'
        f'previous_signing_secret_file = "{tmp_path / "previous"}"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    settings = load_settings(
        config, {"HOOK": server.url, "HOOK_SECRET": new}, check_permissions=True
    )
    ch = qiflow_channels(config=settings.channels)["webhook"]
    assert isinstance(ch, WebhookChannel)
    assert new not in repr(ch)
    assert old not in repr(ch)
    for receivers_secret in (old, new):
        receiver(server, receivers_secret)
        ch.send(notification())
    assert [r.verified for r in server.requests] == [True, True]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "signing_secret is empty"),
        ("c2VjcmV0", "must start with whsec_"),
        ("whsec_not base64!", "is not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "holds 5 bytes; it needs 24 to 64"),
    ],
)
def test_a_malformed_secret_is_a_clear_configuration_error(secret: str, message: str) -> None:
    table = {"url": "https://hooks.example.org/x", "signing_secret": secret}
    with pytest.raises(ConfigError, match=message) as caught:
        qiflow_channels(config={"webhook": table})
    assert str(caught.value).startswith("channels.webhook.signing_secret")
    if len(secret) > 8:
        assert secret not in str(caught.value)


def test_a_previous_secret_alone_is_refused() -> None:
    table = {"url": "https://hooks.example.org/x", "previous_signing_secret": new_secret()}
    with pytest.raises(ConfigError, match="needs signing_secret_env"):
        qiflow_channels(config={"webhook": table})


def test_the_daemon_stops_at_start_up_on_a_missing_or_malformed_secret(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with Engine(db, clock=ManualClock(datetime(2026, 1, 5, tzinfo=UTC)), migrate=True):
        pass
    config = tmp_path / "qiflow.toml"
    config.write_text(
        '[channels.webhook]\nurl_env = "HOOK"\nsigning_secret_env = "HOOK_SECRET"\n',
        encoding="utf-8",
    )
    env: dict[str, str | None] = {
        "HOOK": "https://hooks.example.org/x",
        "QIFLOW_PLUGINS": "webhook",
        "QIFLOW_CONFIG": None,
        "HOOK_SECRET": None,
    }
    args = ["--db", db, "daemon", "--once", "--config", str(config)]
    missing = CliRunner().invoke(main, args, env=env)
    assert missing.exit_code == 1
    assert "channels.webhook.signing_secret_env: environment variable HOOK_SECRET is not set" in (
        missing.stderr
    )
    malformed = CliRunner().invoke(main, args, env={**env, "HOOK_SECRET": "hunter2hunter2"})
    assert malformed.exit_code == 1
    assert "error: channels.webhook.signing_secret must start with whsec_" in malformed.stderr
    assert "hunter2hunter2" not in malformed.stderr + malformed.stdout
