"""Durable event subscriptions: named readers of the event trail with a cursor each.

Every reader goes through the trail's one gap-safe reader
(:meth:`qiflow.store.events.Events.horizon`), so an event that commits late is
never skipped. A new subscriber starts from now (the events committed by the time
it first runs), or from a sequence number given explicitly; never from the first
event by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from qiflow.exceptions import ValidationError
from qiflow.logs import get_logger
from qiflow.notify.outbox import backoff
from qiflow.snapshots import Event
from qiflow.store import Store, Subscriber

log = get_logger("qiflow.notify.subscriptions")

#: A subscriber's handler: called once per event, in commit order per project; an
#: exception leaves the cursor before the event, to be retried with backoff.
Handler = Callable[[Event], None]
#: Retries of a failing handler back off from 1 s, doubling, up to 5 minutes.
RETRY_BASE, RETRY_CAP = 1.0, 300.0
#: How long a holder keeps a subscriber without renewing (renewed before each event).
DEFAULT_LEASE = timedelta(seconds=60)


@dataclass
class Consumed:
    """What one pass of a subscriber did."""

    handled: int = 0
    failed: bool = False
    #: Whether another process held the subscriber (or it waits for its retry time).
    skipped: bool = False


class Subscriptions:
    """Start, list and move subscribers' cursors."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def subscribe(self, name: str, *, now: datetime, from_seq: int | None = None) -> Subscriber:
        """Make sure ``name`` exists: at ``from_seq`` (it then gets every event after it),
        or at now. An existing subscriber keeps its cursor."""
        _check_name(name)
        if from_seq is not None and from_seq < 0:
            raise ValidationError(f"--from must be a sequence number of 0 or more, not {from_seq}")
        with self._store.write() as tx:
            found = tx.subscribers.get(name)
            if found is not None:
                return found
            start = from_seq if from_seq is not None else tx.events.horizon()
            if start is None:
                raise ValidationError(
                    "the event trail is held by a transaction still writing events; "
                    "try again in a moment, or give a starting sequence number"
                )
            tx.subscribers.start(name, start, now)
            found = tx.subscribers.get(name)
            assert found is not None
            return found

    def replay(self, name: str, *, from_seq: int, now: datetime) -> Subscriber:
        """Move ``name``'s cursor to ``from_seq``: it gets every event after it again."""
        if from_seq < 0:
            raise ValidationError(f"--from must be a sequence number of 0 or more, not {from_seq}")
        with self._store.write() as tx:
            if not tx.subscribers.move(name, from_seq, now):
                known = ", ".join(s.name for s in tx.subscribers.all()) or "none yet"
                raise ValidationError(
                    f"no subscriber {name!r} (known: {known}); `qiflow events subscribers` "
                    "lists them"
                )
            found = tx.subscribers.get(name)
            assert found is not None
            return found

    def consume_once(
        self,
        name: str,
        handler: Handler,
        *,
        holder: str,
        clock: Callable[[], datetime],
        lease: timedelta = DEFAULT_LEASE,
        batch: int = 100,
    ) -> Consumed:
        """One pass: take ``name`` under a lease for ``holder``, hand it the events after its
        cursor (gap-safe), moving the cursor after each handler call returns. A handler
        that raises stops the pass; the failure is recorded and retried with backoff."""
        report = Consumed()
        with self._store.write() as tx:
            if tx.subscribers.get(name) is None:
                start = tx.events.horizon()
                if start is None:
                    report.skipped = True
                    return report
                tx.subscribers.start(name, start, clock())
            if not tx.subscribers.claim(name, holder=holder, now=clock(), lease=lease):
                report.skipped = True
                return report
            found = tx.subscribers.get(name)
            assert found is not None
        with self._store.read() as tx:
            events = tx.events.committed_after(found.position, batch)
        try:
            for event in events:
                with self._store.write() as tx:  # still ours? (renewed before each event)
                    if not tx.subscribers.claim(name, holder=holder, now=clock(), lease=lease):
                        log.warning("subscriber lease lost; stopping", subscriber=name)
                        return report
                try:
                    handler(event)
                except Exception as exc:
                    self._failed(name, exc, clock())
                    report.failed = True
                    return report
                with self._store.write() as tx:
                    tx.subscribers.advance(name, event.seq, clock())
                report.handled += 1
        finally:
            with self._store.write() as tx:
                tx.subscribers.release(name, holder)
        return report

    def consume_all(
        self,
        handlers: Mapping[str, Handler],
        *,
        holder: str,
        clock: Callable[[], datetime],
        lease: timedelta = DEFAULT_LEASE,
    ) -> dict[str, Consumed]:
        """One pass of each subscriber; one that fails never holds up another."""
        done = {}
        for name, handler in sorted(handlers.items()):
            try:
                done[name] = self.consume_once(
                    name, handler, holder=holder, clock=clock, lease=lease
                )
            except Exception:
                log.exception("subscriber pass failed", subscriber=name)
                done[name] = Consumed(failed=True)
        return done

    def _failed(self, name: str, exc: Exception, now: datetime) -> None:
        with self._store.write() as tx:
            found = tx.subscribers.get(name)
            failures = (found.failures if found else 0) + 1
            retry_at = now + timedelta(seconds=backoff(failures, RETRY_BASE, RETRY_CAP))
            tx.subscribers.failed(
                name, error=f"{type(exc).__name__}: {exc}", retry_at=retry_at, now=now
            )
        log.warning(
            "subscriber failed; retried later",
            subscriber=name,
            failures=failures,
            retry_at=retry_at.isoformat(),
            error=str(exc),
        )

    def all(self) -> list[Subscriber]:
        with self._store.read() as tx:
            return tx.subscribers.all()

    def head(self) -> int:
        """The highest sequence number committed (for a subscriber's lag)."""
        with self._store.read() as tx:
            return tx.events.horizon(wait=0.5) or 0


def _check_name(name: str) -> None:
    if not name or len(name) > 200 or name != name.strip():
        raise ValidationError(
            f"a subscriber name is 1 to 200 characters with no surrounding spaces, not {name!r}"
        )
