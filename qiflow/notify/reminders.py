"""The reminder sweep: find overdue reviews and enqueue who to tell, exactly once.

A review is due at ``next_review_at``. The owner is reminded at the due date; the
sponsor is told after ``sponsor_after`` overdue and the transformation team after
``transformation_after`` (defaults 7 and 21 days; a workflow's ``[reminders]`` table
changes them). With the digest on (the default) a message waits for the next
opening of the sending window, so each person gets one message a day listing
everything that is due; without it, it waits only until the window is open.

The sweep reads only the projects that are due (an index on ``next_review_at``),
so its cost grows with what is due, not with the size of the portfolio.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from qiflow.clock import ensure_utc
from qiflow.durations import Duration, parse_duration
from qiflow.hookmarkers import hookimpl
from qiflow.measurement import (
    DEFAULT_SCORE_STALE_AFTER,
    SCORE_DIFFERENCE,
    progress,
)
from qiflow.notify.civil_time import SendingWindow
from qiflow.snapshots import Project
from qiflow.store import Tx
from qiflow.store.projects import DueReview, Reminded
from qiflow.workflow import WorkflowRegistry
from qiflow.workflow.loader import TableCheck

DEFAULT_AFTER = {"sponsor_after": "P7D", "transformation_after": "P21D"}
#: A pending sign-off reminds its approvers after this; an approval warns before it runs out.
SIGNOFF_PENDING_AFTER = parse_duration("P7D")
SIGNOFF_EXPIRY_WARNING = parse_duration("P30D")
REMINDER_KEYS = set(DEFAULT_AFTER)
#: Why a person is told, by the stage in a notification's key (see :func:`describe`).
RULES = {
    "owner": "owner reminder: you own this project and its review is due",
    "sponsor": "sponsor escalation: you sponsor this project and its review is overdue "
    "past the workflow's sponsor_after (7 days unless the workflow sets another)",
    "transformation_team": "transformation team escalation: the review is overdue past the "
    "workflow's transformation_after (21 days unless the workflow sets another)",
    "approvers": "approver reminder: you can decide this sign-off and it has been pending "
    "for a week",
    "expiring": "approval expiry warning: you own this project and one of its approvals "
    "runs out within 30 days",
    "event": "event notice: you are the owner, sponsor or an approver of this project, "
    "or hold a role that is told of this event",
    "risk_review": "risk review reminder: you own this risk and its review is due "
    "(the band's review cadence, from the workflow's [risks] table)",
    "risk_action": "risk action reminder: you own this action on a risk and it is overdue",
    "score": "progress score reminder: you own this project and its confirmed progress "
    "score is older than the workflow's score_stale_after (90 days unless the "
    "workflow sets another), or 1.0 or more from the suggested score",
}
#: The score reminders run once a day (they chart the whole portfolio); this counter
#: holds the day (``date.toordinal()``) they last ran.
SCORE_DAY = "score_reminders"
_KEY = re.compile(
    r"(?:(?:review|signoff|score):[^:]+|risk:[^:]+:R\d+(?::A\d+)?)"
    r":(?P<due>[0-9T:.+-]+):(?P<stage>[a-z_]+):"
)


def describe(key: str) -> dict[str, Any]:
    """The rule and due instant behind a notification, read from its key (as built by
    :func:`sweep`, :func:`_signoff_rows` and the event notices); empty if unknown."""
    if key.startswith("event:"):
        return {"rule": RULES["event"]}
    found = _KEY.match(key)
    if not found or found["stage"] not in RULES:
        return {}
    try:
        due = ensure_utc(datetime.fromisoformat(found["due"]))
    except ValueError:
        return {}
    return {"rule": RULES[found["stage"]], "due": due}


@hookimpl
def qiflow_workflow_tables() -> Mapping[str, TableCheck]:
    """The ``[reminders]`` table of a workflow file is read, and checked, here."""
    return {"reminders": check_reminders_config}


def check_reminders_config(config: Mapping[str, Any]) -> list[str]:
    problems = [
        f"unknown key {k!r}; expected one of {', '.join(sorted(REMINDER_KEYS))}"
        for k in config
        if k not in REMINDER_KEYS
    ]
    for key in REMINDER_KEYS & set(config):
        try:
            parse_duration(str(config[key]))
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    return problems


@dataclass(frozen=True)
class ReminderPolicy:
    """How reminders are sent: when, batched or not, and through which channels."""

    window: SendingWindow = field(default_factory=SendingWindow)
    digest: bool = True
    routing: Mapping[str, Sequence[str]] = field(
        default_factory=lambda: {
            "reminder": ("console",),
            "escalation": ("console",),
            "event": ("console",),
        }
    )

    def send_at(self, instant: datetime) -> datetime:
        return self.window.next_start(instant) if self.digest else self.window.next_open(instant)


class Preferences:
    """People's own channel choices, falling back to the configured routing.

    A preference for a channel that is not available here is ignored, so a person's
    choice can never send their notifications to a dead letter.
    """

    def __init__(self, tx: Tx, policy: ReminderPolicy, available: Iterable[str] | None) -> None:
        self.policy = policy
        self.available = set(available) if available is not None else None
        self._chosen: dict[str, tuple[str, ...]] | None = None
        self._tx = tx

    def channels(self, recipient: str, kind: str) -> tuple[str, ...]:
        """``kind`` is "reminder", "escalation" or "event:<type>" (routed by its own key
        if the routing has one, else by "event")."""
        if self._chosen is None:
            self._chosen = {p.id: tuple(p.channels) for p in self._tx.people.all() if p.channels}
        chosen = [
            c
            for c in self._chosen.get(recipient, ())
            if self.available is None or c in self.available
        ]
        if chosen:
            return tuple(chosen)
        routing = self.policy.routing
        fallback = routing.get(kind.split(":")[0], ("console",))
        return tuple(routing.get(kind, fallback))


#: Who holds a role in a plugin's directory (the ``qiflow_role_holders`` hook): person
#: ids, or None when the directory does not say (then qiflow's person table answers).
RoleLookup = Callable[[str], Iterable[str] | None]


class RoleHolders:
    """Who holds each role: a plugin's directory first, else the active people of the
    person table (read once, and only if some role is not answered by the plugin)."""

    def __init__(self, tx: Tx, lookup: RoleLookup | None = None) -> None:
        self._tx = tx
        self._lookup = lookup
        self._table: dict[str, list[str]] | None = None
        self._found: dict[str, list[str]] = {}

    def get(self, role: str, default: Sequence[str] = ()) -> list[str]:
        if role not in self._found:
            answer = self._lookup(role) if self._lookup is not None else None
            if answer is None:
                answer = self._person_table().get(role, list(default))
            self._found[role] = list(dict.fromkeys(answer))
        return self._found[role]

    def _person_table(self) -> dict[str, list[str]]:
        if self._table is None:
            self._table = {}
            for person in self._tx.people.all():
                if person.active:
                    for role in person.roles:
                        self._table.setdefault(role, []).append(person.id)
        return self._table


def role_holders(tx: Tx, lookup: RoleLookup | None = None) -> RoleHolders:
    """Who holds each role: ``lookup`` (a plugin's directory) first, then the person table."""
    return RoleHolders(tx, lookup)


def approvers(
    roles: Iterable[str],
    sponsor: str | None,
    holders: RoleHolders,
    *excluded: str | None,
) -> set[str]:
    """Who can decide a sign-off awaiting ``roles``: the project's sponsor for "sponsor",
    the holders of every other role; never the owner or the requester (``excluded``)."""
    found = {
        p
        for role in roles
        for p in ([sponsor] if role == "sponsor" and sponsor else holders.get(role, []))
    }
    return found - set(excluded)


def _after(config: Mapping[str, Any], key: str) -> Duration:
    return parse_duration(str(config.get(key, DEFAULT_AFTER[key])))


def sweep(
    tx: Tx,
    *,
    now: datetime,
    policy: ReminderPolicy,
    registry: WorkflowRegistry,
    limit: int | None = None,
    available: Iterable[str] | None = None,
    zone: tzinfo | None = None,
    lookup: RoleLookup | None = None,
) -> int:
    """Enqueue every reminder and escalation that is due by ``now``; return how many were new.

    ``zone`` is the trust's time zone (default: the sending window's): escalation delays
    count its calendar days, and messages give dates as people there read them.
    """
    now = ensure_utc(now)
    preferences = Preferences(tx, policy, available)
    due_projects = tx.projects.due_for_review(now, limit)
    holders = role_holders(tx, lookup)
    team = holders.get("transformation_team") if due_projects else []
    rows: list[dict[str, Any]] = []
    reminded: list[Reminded] = []
    for project in due_projects:
        due = project.next_review_at
        try:
            config = registry.get(project.workflow, project.workflow_version).reminders
        except Exception:  # a workflow version no longer loadable still gets reminders
            config = {}
        stages: list[tuple[str, str, datetime, list[str]]] = [
            ("reminder", "owner", due, [project.owner] if project.owner else [])
        ]
        zone = zone or policy.window.zone
        sponsor_at = _after(config, "sponsor_after").after(due, zone)
        if now >= sponsor_at:
            stages.append(
                (
                    "escalation",
                    "sponsor",
                    sponsor_at,
                    [project.sponsor] if project.sponsor else [],
                )
            )
        team_at = _after(config, "transformation_after").after(due, zone)
        if now >= team_at:
            stages.append(("escalation", "transformation_team", team_at, team))
        later = [at for at in (sponsor_at, team_at) if at > now]
        reminded.append(Reminded(project.id, due, min(later) if later else None))
        for kind, stage, at, recipients in stages:
            subject, body = _message(project, stage, due, now, zone)
            for recipient in recipients:
                for channel in preferences.channels(recipient, kind):
                    rows.append(
                        {
                            "key": f"review:{project.id}:{due.isoformat()}:{stage}:"
                            f"{recipient}:{channel}",
                            "kind": kind,
                            "recipient": recipient,
                            "channel": channel,
                            "project_id": project.id,
                            "subject": subject,
                            "body": body,
                            # a late sweep must not make a second digest today
                            "not_before": policy.send_at(max(at, now)),
                            "created_at": now,
                        }
                    )
    rows.extend(_signoff_rows(tx, now, policy, preferences, holders))
    rows.extend(_score_rows(tx, now, policy, preferences, registry))
    new = tx.outbox.enqueue(rows)
    tx.projects.reminded(reminded)
    return new


def _score_rows(
    tx: Tx,
    now: datetime,
    policy: ReminderPolicy,
    preferences: Preferences,
    registry: WorkflowRegistry,
) -> list[dict[str, Any]]:
    """Owners whose confirmed progress score is stale or far from the suggestion
    (once a day: the whole portfolio is charted in a fixed number of statements)."""
    today = now.date().toordinal()
    last = tx.counters.value(SCORE_DAY)
    if last is not None and last >= today:
        return []
    if last is None:
        tx.counters.next(SCORE_DAY)
    tx.counters.advance(SCORE_DAY, today)

    def config(project: Project) -> Mapping[str, Any]:
        try:
            return registry.get(project.workflow, project.workflow_version).measurement
        except Exception:  # a workflow version no longer loadable: the defaults
            return {}

    rows: list[dict[str, Any]] = []
    for found in progress(tx, config):
        project, suggestion, confirmed = found.project, found.suggestion, found.confirmed
        if confirmed is None or not project.owner or _final(registry, project):
            continue  # nothing confirmed yet: the review reminders ask for a review
        stale = parse_duration(
            str(config(project).get("score_stale_after", DEFAULT_SCORE_STALE_AFTER))
        )
        if abs(suggestion.score - confirmed.score) >= SCORE_DIFFERENCE:
            due = confirmed.confirmed_at
            why = f"the confirmed score {confirmed.score:.1f} is far from the suggestion"
        else:
            due = stale.after(confirmed.confirmed_at)
            since = f"{confirmed.confirmed_at:%d %b %Y}"
            why = f"the confirmed score {confirmed.score:.1f} dates from {since}"
        if now < due:
            continue
        subject = f"{project.ref} progress score to review: {project.title}"
        body = (
            f"{why}. qiflow suggests {suggestion.score:.1f} ({suggestion.label}): "
            f"{'; '.join(suggestion.reasons)}. Confirm a score with "
            f"`qiflow review record {project.ref} --score N`."
        )
        for channel in preferences.channels(project.owner, "reminder"):
            rows.append(
                {
                    # a new suggestion (or confirmation) reminds once more
                    "key": f"score:{project.id}@{suggestion.score}:{due.isoformat()}:score:"
                    f"{project.owner}:{channel}",
                    "kind": "reminder",
                    "recipient": project.owner,
                    "channel": channel,
                    "project_id": project.id,
                    "subject": subject,
                    "body": body,
                    "not_before": policy.send_at(now),
                    "created_at": now,
                }
            )
    return rows


def _final(registry: WorkflowRegistry, project: Project) -> bool:
    try:
        return registry.get(project.workflow, project.workflow_version).state(project.state).final
    except Exception:  # an unknown workflow or state: remind rather than stay silent
        return False


def _signoff_rows(
    tx: Tx, now: datetime, policy: ReminderPolicy, preferences: Preferences, holders: RoleHolders
) -> list[dict[str, Any]]:
    """Approvers of sign-offs pending a week; owners of approvals about to run out."""
    found = tx.signoffs.to_remind(
        pending_since=now - SIGNOFF_PENDING_AFTER.delta,
        expiring_between=(now, now + SIGNOFF_EXPIRY_WARNING.delta),
    )
    if not found:
        return []
    rows: list[dict[str, Any]] = []
    for item in found:
        s = item.signoff
        if s.status == "pending":
            due = s.requested_at + SIGNOFF_PENDING_AFTER.delta
            recipients = sorted(
                approvers(s.roles, item.sponsor, holders, item.owner, s.requested_by)
            )
            stage = "approvers"
            subject = f"{item.ref} {s.stage} awaits your decision: {item.title}"
            body = (
                f"{s.stage} for {item.ref} was requested by {s.requested_by} and "
                f"awaits {', '.join(s.roles)}. Decide it with `qiflow signoff decide "
                f"{item.ref} {s.gate} --approve` (or --reject --comment ...)."
            )
        else:
            assert s.valid_until is not None  # a passed sign-off about to run out
            until = s.valid_until.astimezone(policy.window.zone)  # the trust's calendar
            due = s.valid_until - SIGNOFF_EXPIRY_WARNING.delta
            recipients = [item.owner] if item.owner else []
            stage = "expiring"
            subject = f"{item.ref} {s.stage} runs out on {until:%d %b %Y}: {item.title}"
            body = (
                f"The {s.stage} approval of {item.ref} runs out on {until:%d %b %Y}; "
                "gated transitions are blocked after that until a new review passes."
            )
        for recipient in recipients:
            for channel in preferences.channels(recipient, "reminder"):
                rows.append(
                    {
                        "key": f"signoff:{s.id}:{due.isoformat()}:{stage}:{recipient}:{channel}",
                        "kind": "reminder",
                        "recipient": recipient,
                        "channel": channel,
                        "project_id": s.project_id,
                        "subject": subject,
                        "body": body,
                        "not_before": policy.send_at(max(due, now)),
                        "created_at": now,
                    }
                )
    return rows


def _message(
    project: DueReview, stage: str, due: datetime, now: datetime, zone: tzinfo
) -> tuple[str, str]:
    days = (now - due).days
    when = due.astimezone(zone).strftime("%d %b %Y")  # as people in the trust read dates
    ref, title = project.ref, project.title
    if stage == "owner":
        return (
            f"{ref} review due {when}: {title}",
            f"The review of {ref} ({title}) was due on {when}. Record it with "
            f"`qiflow review record {ref}`.",
        )
    who = "sponsor" if stage == "sponsor" else "transformation team"
    return (
        f"{ref} review overdue since {when} (escalated to the {who}): {title}",
        f"The review of {ref} ({title}), owned by {project.owner or 'nobody'}, has been "
        f"overdue since {when} ({days} days).",
    )
