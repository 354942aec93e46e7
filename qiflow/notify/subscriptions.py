"""Durable event subscriptions: named readers of the event trail with a cursor each.

Every reader goes through the trail's one gap-safe reader
(:meth:`qiflow.store.events.Events.horizon`), so an event that commits late is
never skipped. A new subscriber starts from now (the events committed by the time
it first runs), or from a sequence number given explicitly; never from the first
event by accident.
"""

from __future__ import annotations

from datetime import datetime

from qiflow.exceptions import ValidationError
from qiflow.store import Store, Subscriber


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
