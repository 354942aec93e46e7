"""What operators watch: the outbox by status and channel, and how far subscribers lag.

Read-only queries for the daemon's metrics and ``qiflow daemon status --check``; they
touch no row a command writes, so they never wait for one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from qiflow.store.tables import EVENT, NOTIFICATION, SUBSCRIBER


@dataclass(frozen=True)
class Depth:
    """How many notifications of one channel are in one status."""

    status: str
    channel: str
    count: int


class Operations:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def outbox_depth(self) -> list[Depth]:
        """Notifications counted by status and channel."""
        rows = self._conn.execute(
            select(NOTIFICATION.c.status, NOTIFICATION.c.channel, func.count())
            .group_by(NOTIFICATION.c.status, NOTIFICATION.c.channel)
            .order_by(NOTIFICATION.c.status, NOTIFICATION.c.channel)
        ).all()
        return [Depth(str(status), str(channel), int(n)) for status, channel, n in rows]

    def lag(self) -> dict[str, int]:
        """Events committed after each durable subscriber's cursor, by subscriber."""
        newest = self._conn.execute(select(func.coalesce(func.max(EVENT.c.seq), 0))).scalar_one()
        found = self._conn.execute(select(SUBSCRIBER.c.name, SUBSCRIBER.c.position)).all()
        return {name: max(0, int(newest) - int(value)) for name, value in found}
