"""The outbox's retry policy: back off after a failure, or give up (a dead letter).

The queue itself (enqueue once, claim with a lease, finish) is
:class:`qiflow.store.outbox.Outbox`; this module decides what a failure means.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from qiflow.snapshots import NOTIFICATION_STATUSES
from qiflow.store import Tx

PENDING, SENDING, SENT, DEAD = NOTIFICATION_STATUSES
MAX_RETRY_AFTER = 86_400.0  # a receiver's Retry-After is honoured up to a day


def mark_failed(
    tx: Tx,
    ids: Sequence[int],
    *,
    daemon: str,
    now: datetime,
    error: str,
    retry_after: float | None,
    permanent: bool,
    max_attempts: int,
) -> str:
    """Count a failed attempt: back off and retry, or dead-letter. Returns the new status."""
    attempts = tx.outbox.attempts(ids, daemon=daemon) + 1
    dead = permanent or attempts >= max_attempts
    delay = backoff(attempts)
    if retry_after is not None and retry_after == retry_after:  # not NaN
        delay = min(max(0.0, retry_after), MAX_RETRY_AFTER)
    tx.outbox.reschedule(
        ids,
        daemon=daemon,
        dead=dead,
        attempts=attempts,
        error=error,
        not_before=now + timedelta(seconds=delay),
    )
    return DEAD if dead else PENDING


def backoff(attempts: int, base: float = 30.0, cap: float = 3600.0) -> float:
    """Exponential backoff with full jitter: up to base * 2^(attempts-1), at most ``cap``."""
    return float(random.uniform(0.5, 1.0) * min(cap, base * 2.0 ** (attempts - 1)))
