"""Risk owners reminded of reviews that are due, action owners of actions overdue.

A live risk (open or tolerated) is due for review on its ``review_by`` day; its
owner is reminded from the start of that day (UTC). An action not done by its due
day is overdue the day after; its owner is reminded then. Each reminder is keyed by
the risk (and action), the day it fell due, the recipient and the channel, so it is
enqueued once however many daemons sweep; a review moves the next one forward and
so makes a new key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from qiflow.clock import ensure_utc
from qiflow.notify.reminders import Preferences, ReminderPolicy
from qiflow.risks.policy import due_instant
from qiflow.store import RiskDue, Tx


def _message(item: RiskDue) -> tuple[str, datetime, str, str, str]:
    """(key stem, when it fell due, stage, subject, body) of one reminder."""
    risk, ref = item.risk, item.risk.project
    what = f"{ref} risk {risk.id} ({risk.band}, score {risk.score}): {risk.description}"
    if item.action is None:
        day = risk.review_by
        return (
            f"risk:{item.project_id}:{risk.id}:{day.isoformat()}",
            due_instant(day),
            "risk_review",
            f"{ref} risk {risk.id} review due {day:%d %b %Y}: {item.title}",
            f"The review of {what} was due on {day:%d %b %Y}. Record it with "
            f"`qiflow risk review {ref} {risk.id} --consequence N --likelihood N`.",
        )
    action = item.action
    return (
        f"risk:{item.project_id}:{risk.id}:{action.id}:{action.due.isoformat()}",
        due_instant(action.due) + timedelta(days=1),
        "risk_action",
        f"{ref} risk {risk.id} action {action.id} overdue since {action.due:%d %b %Y}: "
        f"{item.title}",
        f"Action {action.id} on {what} was due on {action.due:%d %b %Y}: {action.text}. "
        f"Mark it done with `qiflow risk action {ref} {risk.id} --done {action.id}`.",
    )


def sweep(
    tx: Tx, *, now: datetime, policy: ReminderPolicy, available: Iterable[str] | None = None
) -> int:
    """Enqueue the risk reminders due by ``now``; return how many were new."""
    now = ensure_utc(now)
    due = tx.risks.due(now.date())
    if not due:
        return 0
    preferences = Preferences(tx, policy, available)
    rows: list[dict[str, Any]] = []
    for item in due:
        stem, at, stage, subject, body = _message(item)
        recipient = item.action.owner if item.action is not None else item.risk.owner
        for channel in preferences.channels(recipient, "reminder"):
            rows.append(
                {
                    "key": f"{stem}:{stage}:{recipient}:{channel}",
                    "kind": "reminder",
                    "recipient": recipient,
                    "channel": channel,
                    "project_id": item.project_id,
                    "subject": subject,
                    "body": body,
                    "not_before": policy.send_at(max(at, now)),
                    "created_at": now,
                }
            )
    return tx.outbox.enqueue(rows)
