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


#: What a lease must cover beyond one send's worst case: renewing it and recording the send.
LEASE_MARGIN = timedelta(seconds=2)


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
    #: Claims found taken by another daemon when their lease was renewed.
    lost: int = 0
    #: Claims taken from another daemon whose lease had run out.
    taken_over: int = 0


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
    clock: Callable[[], datetime] | None = None,
    in_flight: set[int] | None = None,
) -> DeliveryReport:
    """Claim one batch and send it; stop between messages if ``stopping()`` turns true.

    Nothing is sent while ``window`` (the trust's sending hours) is closed.

    ``person`` looks recipients up (the engine's directory); by default the person table.

    Before each message the lease on everything still unsent is renewed to ``clock()``
    (the database's clock in the daemon) plus the lease; if the message's own claim was
    lost (its lease ran out and another daemon took it), the pass stops there, so no
    message is sent by two daemons at once. ``in_flight`` holds the ids being sent
    while they are, for a shutdown that must not give them back.
    """
    read_clock = clock or (lambda: now)
    sending = in_flight if in_flight is not None else set()
    report = DeliveryReport()
    if window is not None and not window.is_open(now):
        return report  # a backlog waits for the window, like everything else
    with store.write() as tx:
        claimed = tx.outbox.claim(
            now=now, daemon=daemon, lease=settings.lease, limit=settings.batch
        )
        report.taken_over = tx.outbox.taken_over
        messages = group(claimed, settings.digest)
        keys = []
        for rows in messages:
            key = rows[0].message_key or message_key(r.key for r in rows)
            tx.outbox.assign_key([r.id for r in rows], key)
            keys.append(key)
    report.claimed = len(claimed)
    people: dict[str, Person | None] = {}
    unsent = [r.id for r in claimed]
    for rows, key in zip(messages, keys, strict=True):
        if stopping():
            break
        ids = [r.id for r in rows]
        with store.write() as tx:
            held = tx.outbox.renew(unsent, daemon=daemon, until=read_clock() + settings.lease)
        if not held.issuperset(ids):
            log.warning(
                "claim lost: its lease ran out and another daemon took it; stopping this pass",
                daemon=daemon,
                key=key,
            )
            report.lost = len(set(unsent) - held)
            break
        unsent = [i for i in unsent if i not in set(ids)]
        sending.update(ids)
        recipient = rows[0].recipient
        if recipient not in people:  # one directory look-up per person per pass
            if person is not None:
                people[recipient] = person(recipient)
            else:
                with store.read() as tx:
                    people[recipient] = tx.people.get(recipient)
        sending.update(ids)
        try:
            status = _send(
                store,
                channels.get(rows[0].channel),
                build(rows, people[recipient], key),
                ids,
                daemon=daemon,
                now=now,
                settings=settings,
            )
        finally:
            sending.difference_update(ids)
        if status == outbox.SENT:
            report.sent += len(ids)
        elif status == outbox.DEAD:
            report.dead += len(ids)
        elif status == outbox.SENDING:
            report.lost += len(ids)
        else:
            report.retried += len(ids)
    if stopping():
        with store.write() as tx:
            report.released = tx.outbox.release(daemon)
    return report


def _send(
    store: Store,
    channel: Channel | None,
    notification: Notification,
    ids: list[int],
    *,
    daemon: str,
    now: datetime,
    settings: DeliverySettings,
) -> str:
    """Send one message and record the outcome; return the rows' new status (SENDING:
    the claim was lost while sending, so it was not recorded)."""
    try:
        if channel is None:
            raise DeliveryError(
                f"no channel {notification.channel!r} is configured", permanent=True
            )
        channel.send(notification)
    except Exception as exc:
        error = (
            exc if isinstance(exc, DeliveryError) else DeliveryError(f"{type(exc).__name__}: {exc}")
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
        log.warning(
            "delivery failed",
            channel=notification.channel,
            recipient=notification.recipient,
            key=notification.key,
            status=status,
            error=str(error),
        )
        return status
    with store.write() as tx:
        recorded = tx.outbox.mark_sent(ids, daemon=daemon, now=now)
    return outbox.SENT if recorded else outbox.SENDING  # SENDING: another daemon holds it now
