"""Deliver qiflow notifications as JSON POSTs: a generic webhook, or a Teams card.

A webhook URL is a secret (anyone holding it can post): it is read from the
configuration (best through ``url_env``), and never logged, put in an error
message or stored in an event. Every request carries the notification's key in
an ``Idempotency-Key`` header so the receiver can drop a repeat; redirects are
not followed; connect and read timeouts are always set.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from qiflow import Channel, DeliveryError, Notification, hookimpl
from qiflow.exceptions import ConfigError

FORMATS = ("generic", "teams")
KEYS = ("url", "format", "connect_timeout", "read_timeout")
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
    ) -> None:
        if format not in FORMATS:
            raise ConfigError(f"channels.{name}.format must be one of {', '.join(FORMATS)}")
        try:
            parsed = httpx.URL(url)
        except Exception:  # the message could quote the URL
            parsed = None
        if parsed is None or parsed.scheme not in ("https", "http") or not parsed.host:
            raise ConfigError(f"channels.{name}: the url must be an http(s) URL")
        self.name = name
        self.format = format
        self._url = url
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                _seconds(name, "read_timeout", read_timeout),
                connect=_seconds(name, "connect_timeout", connect_timeout),
            ),
            follow_redirects=False,
        )
        _HIDE_URLS.add(name, url, parsed)
        for logger in _HTTP_LOGGERS:
            logging.getLogger(logger).addFilter(_HIDE_URLS)  # once: a logger's filters are a set

    def __repr__(self) -> str:  # never show the URL
        return f"WebhookChannel(name={self.name!r}, format={self.format!r})"

    def payload(self, n: Notification) -> dict[str, Any]:
        if self.format == "teams":
            return {
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": n.subject,
                "title": n.subject,
                "text": n.body.replace("\n", "\n\n"),
            }
        return {
            "key": n.key,
            "recipient": n.recipient,
            "name": n.name,
            "subject": n.subject,
            "body": n.body,
            "items": [{"kind": i.kind, "subject": i.subject, "body": i.body} for i in n.items],
        }

    def send(self, notification: Notification) -> None:
        try:
            response = self._client.post(
                self._url,
                json=self.payload(notification),
                headers={"Idempotency-Key": notification.key},
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
    channels: dict[str, Channel] = {}
    for name, default_format in (("webhook", "generic"), ("teams", "teams")):
        table = config.get(name)
        if table is None:
            continue
        unknown = sorted(set(table) - set(KEYS))
        if unknown:
            raise ConfigError(
                f"channels.{name}: unknown setting(s) {', '.join(unknown)} "
                "(expected url_env, format, connect_timeout, read_timeout)"
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
        )
    return channels
