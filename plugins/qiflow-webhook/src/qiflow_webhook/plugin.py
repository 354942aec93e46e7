"""Deliver qiflow notifications as JSON POSTs: a generic webhook, or a Teams card.

A webhook URL is a secret (anyone holding it can post): it is read from the
configuration (best through ``url_env``), and never logged, put in an error
message or stored in an event. Every request carries the notification's key in
an ``Idempotency-Key`` header so the receiver can drop a repeat; redirects are
not followed; connect and read timeouts are always set.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from qiflow import hookimpl
from qiflow.notifications import Channel, DeliveryError, Notification

FORMATS = ("generic", "teams")
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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
            raise ValueError(f"channels.{name}.format must be one of {', '.join(FORMATS)}")
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"channels.{name}: the url must be http(s)")
        self.name = name
        self.format = format
        self._url = url
        self._client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout), follow_redirects=False
        )

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
        if "url" not in table:
            raise ValueError(f"channels.{name} needs url_env (the variable holding the URL)")
        channels[name] = WebhookChannel(
            name,
            str(table["url"]),
            format=str(table.get("format", default_format)),
            connect_timeout=float(table.get("connect_timeout", 5.0)),
            read_timeout=float(table.get("read_timeout", 10.0)),
        )
    return channels
