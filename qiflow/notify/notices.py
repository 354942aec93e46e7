"""Event notices: the event table is the outbox, and some events are worth telling people.

A sweep reads the events committed since its cursor (so its cost follows what is
new, not the size of the trail), turns the ones in :data:`NOTICES` into
notifications for the people concerned, and enqueues them with a key per
(event, recipient, channel), exactly once however many daemons sweep.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qiflow.clock import ensure_utc
from qiflow.notify.reminders import (
    Preferences,
    RoleHolders,
    RoleLookup,
    approvers,
    role_holders,
)
from qiflow.store import Tx
from qiflow.store.events import TrailEntry

if TYPE_CHECKING:
    from qiflow.notify.reminders import ReminderPolicy

#: The durable subscriber whose cursor the notices keep (see qiflow.store.subscribers).
SUBSCRIBER = "qiflow.notices"
BATCH = 5_000

#: Which events are told, and to whom.
NOTICES: dict[str, tuple[str, ...]] = {
    "signoff.requested": ("approvers",),
    "gate.rejected": ("owner",),
    "gate.expired": ("owner",),
    "programme.candidate": ("owner", "sponsor", "transformation_team"),
    "programme.granted": ("owner", "sponsor"),
    "risk.band_rose": ("sponsor",),
    # only a special cause of concern on a balancing measure (see :func:`audience`)
    "measure.signal": ("owner", "sponsor"),
}


def audience(event_type: str, payload: Mapping[str, Any]) -> tuple[str, ...]:
    """Who is told of an event: :data:`NOTICES`, and of a measure's signal only a concern
    on a balancing measure (a change that harms something else)."""
    if event_type == "measure.signal" and (
        payload.get("kind") != "concern" or payload.get("measure_kind") != "balancing"
    ):
        return ()
    return NOTICES.get(event_type, ())


def _text(event: TrailEntry, payload: Mapping[str, Any]) -> tuple[str, str]:
    ref, title, kind = event.ref, event.title, event.type
    stage = payload.get("stage", "sign-off")
    if kind == "signoff.requested":
        return (
            f"{ref} {stage} awaits your decision: {title}",
            f"{event.actor} requested {stage} for {ref}; it awaits "
            f"{', '.join(payload.get('roles', []))}.",
        )
    if kind == "gate.rejected":
        return (
            f"{ref} {stage} was rejected: {title}",
            f"{payload.get('by')} rejected {stage}: {payload.get('reason') or 'no reason'}. "
            "Resubmit it with `qiflow signoff request`.",
        )
    if kind == "gate.expired":
        return (
            f"{ref} {stage} has expired: {title}",
            "Gated transitions are blocked until a new review passes.",
        )
    if kind == "risk.band_rose":
        risk, band, score = payload.get("risk"), payload.get("to"), payload.get("score")
        rose = f"rose from {payload['from']} to {band}" if payload.get("from") else f"is {band}"
        return (
            f"{ref} risk {risk} {rose} (score {score}): {title}",
            f"Risk {risk} of {ref} {rose}, score {score}, as {event.actor} recorded it. "
            f"See it with `qiflow risk list --project {ref}`"
            + (
                f"; review it with `qiflow risk review {ref} {risk} ...`."
                if band == "extreme"
                else "."
            ),
        )
    if kind == "measure.signal":
        name, icon = payload.get("measure"), payload.get("variation_icon")
        return (
            f"{ref} balancing measure {name!r} shows a special cause of concern: {title}",
            f"The chart of {name!r} changed (rule: {payload.get('rule') or 'icon'}, "
            f"variation: {icon}): a change may be harming something else. See "
            f"`qiflow measure spc {ref} {name!r}`.",
        )
    if kind == "programme.candidate":
        return (
            f"{ref} is a candidate for programme status: {title}",
            "Reasons: " + "; ".join(payload.get("reasons", [])),
        )
    return (
        f"{ref} now has programme status: {title}",
        "It reports to the Transformation Programme Board.",
    )


def sweep(
    tx: Tx,
    *,
    now: datetime,
    policy: ReminderPolicy,
    available: Iterable[str] | None = None,
    lookup: RoleLookup | None = None,
) -> int:
    """Enqueue notices for events after the cursor; advance it. Returns how many were new.

    The first sweep of a database only records where "now" is in the trail; move the
    cursor with ``Engine.replay_events(SUBSCRIBER, from_seq=...)`` to start elsewhere.
    """
    found = tx.subscribers.get(SUBSCRIBER, lock=True)
    if found is None:
        # A new consumer starts from now (what is committed by now), never from the first
        # event: an old database's first daemon run must not tell a year-old decision.
        start = tx.events.horizon()
        if start is not None:
            tx.subscribers.start(SUBSCRIBER, start, now)
        return 0
    cursor = found.position
    events = tx.events.after(cursor, BATCH)
    if not events:
        return 0
    holders: RoleHolders | None = None
    rows: list[dict[str, Any]] = []
    preferences = Preferences(tx, policy, available)
    for event in events:
        if event.type not in NOTICES:
            continue
        payload = json.loads(event.payload)
        told = audience(event.type, payload)
        if not told:
            continue
        if holders is None:  # read the directory once, and only if some event is told
            holders = role_holders(tx, lookup)
        recipients: set[str] = set()
        for who in told:
            if who in ("owner", "sponsor") and getattr(event, who):
                recipients.add(getattr(event, who))
            elif who == "approvers":  # the requester (the event's actor) cannot approve
                recipients |= approvers(
                    payload.get("roles", []),
                    event.sponsor,
                    holders,
                    event.owner,
                    event.actor,
                )
            else:
                recipients.update(holders.get(who, []))
        subject, body = _text(event, payload)
        for recipient in sorted(recipients):
            for channel in preferences.channels(recipient, f"event:{event.type}"):
                rows.append(
                    {
                        "key": f"event:{event.seq}:{recipient}:{channel}",
                        "kind": "event",
                        "recipient": recipient,
                        "channel": channel,
                        "project_id": event.project_id,
                        "subject": subject,
                        "body": body,
                        "not_before": policy.window.next_open(now),
                        "created_at": ensure_utc(now),
                    }
                )
    new = tx.outbox.enqueue(rows)
    last = events[-1].seq
    tx.subscribers.advance(SUBSCRIBER, last, now)
    return new
