"""What a notification channel receives, and how it reports a failed delivery."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from qiflow.exceptions import QiflowError


@dataclass(frozen=True)
class Item:
    """One thing a message is about (an overdue review, an escalation...).

    ``rule`` names why the recipient is told ("sponsor escalation: ..."), ``due`` is
    when the review or sign-off fell due (UTC); both are None when not known.
    """

    kind: str
    project_ref: str | None
    subject: str
    body: str
    rule: str | None = None
    due: datetime | None = None
    project_title: str | None = None


@dataclass(frozen=True)
class Notification:
    """One message to one person, possibly a digest of several items.

    ``key`` is the idempotency key: the same for every attempt at the same message,
    so a receiver can drop a repeat (the email Message-ID, a webhook header).
    """

    key: str
    channel: str
    recipient: str
    name: str | None
    address: str | None
    subject: str
    body: str
    items: Sequence[Item] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


class DeliveryError(QiflowError):
    """A channel could not deliver; qiflow retries with backoff unless it is permanent."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Channel(Protocol):
    """Sends notifications somewhere: a log, email, a webhook.

    A channel whose send can block may also have ``send_timeout``, the most seconds one
    send can take (its connect plus read timeout): the daemon refuses a lease shorter
    than that plus a margin.
    """

    name: str

    def send(self, notification: Notification) -> None:
        """Deliver, or raise :class:`DeliveryError` (anything else counts as retryable)."""
        ...
