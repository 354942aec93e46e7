"""Delivering the outbox: claim due notifications, send each person one message, record it.

Delivery is at-least-once: a daemon that dies after sending but before recording
leaves its claim to expire, and the message is sent again with the same
idempotency key, so the receiver can drop the repeat. A failing channel costs
only its own notifications a retry (exponential backoff with jitter, or the
receiver's Retry-After), up to a maximum number of attempts, then a dead letter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from qiflow.logs import get_logger
from qiflow.notify import outbox
from qiflow.notify.channels import Channel, DeliveryError, Item, Notification
from qiflow.notify.civil_time import SendingWindow
from qiflow.notify.reminders import describe
from qiflow.snapshots import Person, Queued
from qiflow.store import Store

log = get_logger("qiflow.notify.delivery")


@dataclass(frozen=True)
class DeliverySettings:
    lease: timedelta = timedelta(minutes=5)
    batch: int = 200
    max_attempts: int = 8
    #: One message per person for everything claimed together (the daily digest);
    #: off, every notification is its own message.
    digest: bool = True


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0


def message_key(keys: Iterable[str]) -> str:
    """The same key for every attempt at the same group of notifications (by their keys)."""
    joined = "\n".join(sorted(keys))
    return "qiflow-" + hashlib.sha256(joined.encode()).hexdigest()[:32]


def build(rows: Sequence[Queued], person: Person | None, key: str) -> Notification:
    items = [
        Item(
            kind=r.kind,
            project_ref=r.project_ref,
            subject=r.subject,
            body=r.body,
            project_title=r.project_title,
            **describe(r.key),
        )
        for r in rows
    ]
    first = rows[0]
    if len(rows) == 1:
        subject, body = first.subject, first.body
    else:
        subject = f"{len(rows)} QI project items need your attention"
        body = "\n".join(f"- {item.subject}" for item in items)
    return Notification(
        key=key,
        channel=first.channel,
        recipient=first.recipient,
        name=person.name if person else None,
        address=person.email if person else None,
        subject=subject,
        body=body,
        items=items,
    )


def group(claimed: Sequence[Queued], digest: bool) -> list[list[Queued]]:
    """Rows that go out as one message: those already sent together keep together;
    new ones form one digest per person and channel (or one message each)."""
    groups: dict[tuple[str, str, str | int], list[Queued]] = {}
    for row in claimed:
        together: str | int = row.message_key or (0 if digest else row.id)
        groups.setdefault((row.recipient, row.channel, together), []).append(row)
    return list(groups.values())


def deliver_once(
    store: Store,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    daemon: str,
    settings: DeliverySettings,
    person: Callable[[str], Person | None] | None = None,
    window: SendingWindow | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Claim one batch and send it; stop between messages if ``stopping()`` turns true.

    Nothing is sent while ``window`` (the trust's sending hours) is closed.

    ``person`` looks recipients up (the engine's directory); by default the person table.
    """
    report = DeliveryReport()
    if window is not None and not window.is_open(now):
        return report  # a backlog waits for the window, like everything else
    with store.write() as tx:
        claimed = tx.outbox.claim(
            now=now, daemon=daemon, lease=settings.lease, limit=settings.batch
        )
        messages = group(claimed, settings.digest)
        keys = []
        for rows in messages:
            key = rows[0].message_key or message_key(r.key for r in rows)
            tx.outbox.assign_key([r.id for r in rows], key)
            keys.append(key)
    report.claimed = len(claimed)
    people: dict[str, Person | None] = {}
    for rows, key in zip(messages, keys, strict=True):
        if stopping():
            break
        ids = [r.id for r in rows]
        recipient, channel_name = rows[0].recipient, rows[0].channel
        if recipient not in people:  # one directory look-up per person per pass
            if person is not None:
                people[recipient] = person(recipient)
            else:
                with store.read() as tx:
                    people[recipient] = tx.people.get(recipient)
        notification = build(rows, people[recipient], key)
        channel = channels.get(channel_name)
        try:
            if channel is None:
                raise DeliveryError(f"no channel {channel_name!r} is configured", permanent=True)
            channel.send(notification)
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, DeliveryError)
                else DeliveryError(f"{type(exc).__name__}: {exc}")
            )
            with store.write() as tx:
                status = outbox.mark_failed(
                    tx,
                    ids,
                    daemon=daemon,
                    now=now,
                    error=str(error),
                    retry_after=error.retry_after,
                    permanent=error.permanent,
                    max_attempts=settings.max_attempts,
                )
            if status == outbox.DEAD:
                report.dead += len(ids)
            else:
                report.retried += len(ids)
            log.warning(
                "delivery failed",
                channel=channel_name,
                recipient=recipient,
                key=notification.key,
                status=status,
                error=str(error),
            )
            continue
        with store.write() as tx:
            report.sent += tx.outbox.mark_sent(ids, daemon=daemon, now=now)
    if stopping():
        with store.write() as tx:
            report.released = tx.outbox.release(daemon)
    return report
