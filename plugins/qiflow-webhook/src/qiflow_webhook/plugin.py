"""Deliver qiflow notifications as JSON POSTs: a generic webhook, or a Teams card.

A webhook URL is a secret (anyone holding it can post): it is read from the
configuration (best through ``url_env``), and never logged, put in an error
message or stored in an event. Every request carries the notification's key in
an ``Idempotency-Key`` header so the receiver can drop a repeat, and, with a
signing secret, Standard Webhooks signature headers whose ``webhook-id`` is that
key; redirects are not followed; connect and read timeouts are always set.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from qiflow import Channel, DeliveryError, Notification, hookimpl
from qiflow.exceptions import ConfigError

from qiflow_webhook.cards import adaptive_card, encode, message_card, project_url
from qiflow_webhook.signing import SigningKey, signature_headers

FORMATS = ("generic", "teams", "teams-connector")
#: The keys of a table once qiflow has resolved ``*_env`` and ``*_file`` (and added
#: ``base_url`` from ``[web]`` and ``timezone`` from ``[sending]``).
KEYS = (
    "url",
    "format",
    "connect_timeout",
    "read_timeout",
    "signing_secret",
    "previous_signing_secret",
    "base_url",
    "timezone",
)
#: Retried (after Retry-After, or with backoff); any other 3xx, 4xx or 5xx is permanent.
RETRYABLE = frozenset({408, 425, 429, *range(500, 600)} - {501, 505})
#: The longest Retry-After honoured (a day); a longer one is shortened to this.
MAX_RETRY_AFTER = 86_400.0
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), at most a day."""
    if not value:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


class _HideUrls(logging.Filter):
    """httpx logs each request's URL (INFO), httpcore each response's headers (DEBUG):
    put the channel's name wherever its URL, or the URL's path and query, would appear."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, str] = {}

    def add(self, name: str, url: str, parsed: httpx.URL) -> None:
        label = f"<{name} webhook url>"
        path = parsed.raw_path.decode("ascii")
        pieces = {url: label, str(parsed): label}
        if path != "/":
            pieces[path] = f"/<{name} webhook path>"
        if parsed.userinfo:
            pieces[parsed.userinfo.decode("ascii")] = f"<{name} webhook userinfo>"
        # the longest first, so a URL is replaced whole before its path is
        self.secrets = dict(sorted({**self.secrets, **pieces}.items(), key=lambda p: -len(p[0])))

    def _hide(self, text: str) -> str:
        for secret, label in self.secrets.items():
            text = text.replace(secret, label)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        if isinstance(record.msg, str):
            record.msg = self._hide(record.msg)
        if isinstance(record.args, tuple):
            args = list(record.args)
            for i, arg in enumerate(args):
                if isinstance(arg, str | bytes | httpx.URL):
                    text = arg.decode("latin-1") if isinstance(arg, bytes) else str(arg)
                    hidden = self._hide(text)
                    if hidden != text:
                        args[i] = hidden
            record.args = tuple(args)
        return True


_HIDE_URLS = _HideUrls()
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def _seconds(name: str, key: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"channels.{name}.{key} must be a positive number of seconds")
    return seconds


class WebhookChannel:
    """One webhook endpoint."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        format: str = "generic",
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        signing_secret: str | None = None,
        previous_signing_secret: str | None = None,
        base_url: str | None = None,
        timezone: str = "Europe/London",
    ) -> None:
        if format not in FORMATS:
            raise ConfigError(f"channels.{name}.format must be one of {', '.join(FORMATS)}")
        if previous_signing_secret is not None and signing_secret is None:
            raise ConfigError(
                f"channels.{name}: previous_signing_secret_env (or _file) needs "
                "signing_secret_env (or _file), the new secret"
            )
        self._keys = tuple(
            SigningKey.parse(name, setting, value)
            for setting, value in (
                ("signing_secret", signing_secret),
                ("previous_signing_secret", previous_signing_secret),
            )
            if value is not None
        )
        if base_url is not None and (
            not isinstance(base_url, str) or not base_url.startswith(("https://", "http://"))
        ):
            raise ConfigError(f"channels.{name}.base_url must be an http(s) URL")
        try:
            self.zone = ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"channels.{name}.timezone {timezone!r} is not a time zone") from None
        self.base_url = base_url.rstrip("/") if base_url else None
        try:
            parsed = httpx.URL(url)
        except Exception:  # the message could quote the URL
            parsed = None
        if parsed is None or parsed.scheme not in ("https", "http") or not parsed.host:
            raise ConfigError(f"channels.{name}: the url must be an http(s) URL")
        self.name = name
        self.format = format
        self._url = url
        read, connect = (
            _seconds(name, "read_timeout", read_timeout),
            _seconds(name, "connect_timeout", connect_timeout),
        )
        #: The most seconds one send can take; the daemon's lease must outlast it.
        self.send_timeout = read + connect
        self._client = httpx.Client(
            timeout=httpx.Timeout(read, connect=connect),
            follow_redirects=False,
        )
        _HIDE_URLS.add(name, url, parsed)
        for logger in _HTTP_LOGGERS:
            logging.getLogger(logger).addFilter(_HIDE_URLS)  # once: a logger's filters are a set

    def __repr__(self) -> str:  # never show the URL
        return f"WebhookChannel(name={self.name!r}, format={self.format!r})"

    @property
    def signed(self) -> bool:
        return bool(self._keys)

    def payload(self, n: Notification) -> dict[str, Any]:
        if self.format == "teams":
            return adaptive_card(n, base_url=self.base_url, zone=self.zone)
        if self.format == "teams-connector":
            return message_card(n, base_url=self.base_url)
        return {
            "key": n.key,
            "recipient": n.recipient,
            "name": n.name,
            "subject": n.subject,
            "body": n.body,
            "items": [
                {
                    "kind": i.kind,
                    "subject": i.subject,
                    "body": i.body,
                    "project_ref": i.project_ref,
                    "project_title": i.project_title,
                    "rule": i.rule,
                    "due": i.due.isoformat() if i.due else None,
                    "url": project_url(self.base_url, i.project_ref),
                }
                for i in n.items
            ],
        }

    def headers(self, n: Notification, body: bytes, now: float | None = None) -> dict[str, str]:
        """The request's headers; signed (Standard Webhooks) when a secret is configured.

        ``webhook-id`` is the message's idempotency key, the same on every attempt; the
        timestamp is the attempt's own, so a receiver's tolerance window holds.
        """
        headers = {"Content-Type": "application/json", "Idempotency-Key": n.key}
        if self._keys:
            stamp = int(time.time() if now is None else now)
            headers.update(signature_headers(self._keys, n.key, stamp, body))
        return headers

    def send(self, notification: Notification) -> None:
        body = encode(self.payload(notification))
        try:
            response = self._client.post(
                self._url, content=body, headers=self.headers(notification, body)
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"{self.name}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{self.name}: could not connect ({type(exc).__name__})") from None
        except Exception as exc:  # its message could quote the URL, so give only its type
            raise DeliveryError(f"{self.name}: request failed ({type(exc).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise DeliveryError(
                f"{self.name}: answered {status}; redirects are not followed", permanent=True
            )
        if status in RETRYABLE:
            raise DeliveryError(
                f"{self.name}: answered {status}",
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        raise DeliveryError(f"{self.name}: answered {status}", permanent=True)

    def close(self) -> None:
        self._client.close()


@hookimpl
def qiflow_channels(config: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Channel]:
    """``[channels.webhook]`` (generic JSON) and ``[channels.teams]`` (a Teams card)."""
    expected = ", ".join(
        f"{key}_env" if key in ("url", "signing_secret", "previous_signing_secret") else key
        for key in KEYS
    )
    channels: dict[str, Channel] = {}
    for name, default_format in (("webhook", "generic"), ("teams", "teams")):
        table = config.get(name)
        if table is None:
            continue
        unknown = sorted(set(table) - set(KEYS))
        if unknown:
            raise ConfigError(
                f"channels.{name}: unknown setting(s) {', '.join(unknown)} (expected {expected})"
            )
        if "url" not in table:
            raise ConfigError(f"channels.{name} needs url_env (the variable holding the URL)")
        if not str(table["url"]).strip():
            raise ConfigError(f"channels.{name}: the url is empty (check its url_env variable)")
        channels[name] = WebhookChannel(
            name,
            str(table["url"]),
            format=str(table.get("format", default_format)),
            connect_timeout=table.get("connect_timeout", 5.0),
            read_timeout=table.get("read_timeout", 10.0),
            signing_secret=table.get("signing_secret"),
            previous_signing_secret=table.get("previous_signing_secret"),
            base_url=table.get("base_url"),
            timezone=table.get("timezone", "Europe/London"),
        )
    return channels
