"""Immutable values handed out by the engine. Callers never see rows or sessions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from qiflow.canonical import loads_shown
from qiflow.clock import ensure_utc

#: The project fields a caller may set with ``create_project`` / ``update_project``.
EDITABLE_FIELDS: tuple[str, ...] = (
    "title",
    "owner",
    "sponsor",
    "directorate",
    "team",
    "aim",
    "quality_objectives",
    "primary_outcome",
    "secondary_outcomes",
    "expected_saving",
    "scale",
    "learning",
    "lead_executive_sponsor",
    "qi_sponsor",
)
PROGRAMME_STATUSES = ("none", "candidate", "programme")
LIST_FIELDS = frozenset({"quality_objectives", "secondary_outcomes"})
SCALES = ("team", "service", "directorate", "multi_directorate", "trust_wide", "system")
MEASURE_KINDS = ("outcome", "process", "balancing")
DIRECTIONS = ("increase", "decrease", "neutral")


#: A database row as the store hands it over.
Row = Mapping[Any, Any]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else ensure_utc(value)


def to_jsonable(value: Any) -> Any:
    """Turn snapshots (and what they hold) into JSON-ready values."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: to_jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Project:
    """A QI project as it stands after its last command."""

    id: str
    ref: str
    title: str
    workflow: str
    workflow_version: int
    state: str
    previous_state: str | None
    version: int
    owner: str | None
    sponsor: str | None
    directorate: str | None
    team: str | None
    aim: str | None
    quality_objectives: tuple[str, ...]
    primary_outcome: str | None
    secondary_outcomes: tuple[str, ...]
    expected_saving: int | None
    scale: str | None
    learning: str | None
    current_cycle: int
    lead_executive_sponsor: str | None
    qi_sponsor: str | None
    programme_status: str
    state_entered_at: datetime
    state_entered_version: int
    next_review_at: datetime | None
    created_at: datetime
    updated_at: datetime
    #: The values of the project fields plugins declare, by name (unset fields are absent).
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: When the project was withdrawn (created in error); None while it counts.
    withdrawn_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Row) -> Project:
        return cls(
            id=row["id"],
            ref=row["ref"],
            title=row["title"],
            workflow=row["workflow"],
            workflow_version=row["workflow_version"],
            state=row["state"],
            previous_state=row["previous_state"],
            version=row["version"],
            owner=row["owner"],
            sponsor=row["sponsor"],
            directorate=row["directorate"],
            team=row["team"],
            aim=row["aim"],
            quality_objectives=tuple(row["quality_objectives"] or ()),
            primary_outcome=row["primary_outcome"],
            secondary_outcomes=tuple(row["secondary_outcomes"] or ()),
            expected_saving=row["expected_saving"],
            scale=row["scale"],
            learning=row["learning"],
            current_cycle=row["current_cycle"],
            lead_executive_sponsor=row["lead_executive_sponsor"],
            qi_sponsor=row["qi_sponsor"],
            programme_status=row["programme_status"],
            state_entered_at=ensure_utc(row["state_entered_at"] or row["created_at"]),
            state_entered_version=row["state_entered_version"] or 1,
            next_review_at=_utc(row["next_review_at"]),
            created_at=ensure_utc(row["created_at"]),
            updated_at=ensure_utc(row["updated_at"]),
            fields=dict(row.get("plugin_fields") or {}),
            withdrawn_at=_utc(row.get("withdrawn_at")),
        )

    def overdue(self, now: datetime) -> bool:
        return self.next_review_at is not None and self.next_review_at < now


@dataclass(frozen=True)
class Event:
    """One row of the append-only audit trail (and outbox)."""

    seq: int
    project_id: str
    pos: int
    version: int
    type: str
    actor: str
    payload: Mapping[str, Any]
    created_at: datetime
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Row) -> Event:
        return cls(
            seq=row["seq"],
            project_id=row["project_id"],
            pos=row["pos"],
            version=row["version"],
            type=row["type"],
            actor=row["actor"],
            payload=loads_shown(row["payload"]),
            created_at=ensure_utc(row["created_at"]),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )


@dataclass(frozen=True)
class PdsaCycle:
    project_id: str
    number: int
    plan: str | None
    prediction: str | None
    observations: tuple[str, ...]
    study: str | None
    act: str | None
    #: The change ideas (driver diagram ids) the cycle tests.
    tests: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Row) -> PdsaCycle:
        return cls(
            project_id=row["project_id"],
            number=row["number"],
            plan=row["plan"],
            prediction=row["prediction"],
            observations=tuple(row["observations"] or ()),
            study=row["study"],
            act=row["act"],
            tests=tuple(row["tests"] or ()),
        )


@dataclass(frozen=True)
class Measure:
    id: int
    project_id: str
    name: str
    kind: str
    unit: str
    direction: str
    #: The value aimed at; the chart's assurance icon reads it.
    target: float | None = None
    #: The project's primary outcome measure.
    primary: bool = False
    #: The chart's limits are fixed on the first this many points (None: on all of them).
    baseline_points: int | None = None
    #: When the measure was voided (recorded in error); None while it counts.
    voided_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Row) -> Measure:
        return cls(
            id=row["id"],
            project_id=row["project_id"],
            name=row["name"],
            kind=row["kind"],
            unit=row["unit"],
            direction=row["direction"],
            target=row["target"],
            primary=bool(row["is_primary"]),
            baseline_points=row["baseline_points"],
            voided_at=_utc(row.get("voided_at")),
        )


@dataclass(frozen=True)
class Rebase:
    """A new limit period of a measure's chart, from the first point observed at ``at``."""

    measure_id: int
    at: datetime
    reason: str
    actor: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Rebase:
        return cls(
            measure_id=row["measure_id"],
            at=ensure_utc(row["at"]),
            reason=row["reason"],
            actor=row["actor"],
            created_at=ensure_utc(row["created_at"]),
        )


@dataclass(frozen=True)
class MeasureSeries:
    """A measure with its data points (in time order) and its chart's rebases."""

    measure: Measure
    points: tuple[DataPoint, ...]
    rebases: tuple[Rebase, ...] = ()


@dataclass(frozen=True)
class ConfirmedScore:
    """The project's IHI progress score as a person last confirmed it."""

    score: float
    confirmed_at: datetime


@dataclass(frozen=True)
class DataPoint:
    id: int
    measure_id: int
    observed_at: datetime
    value: float
    note: str | None
    #: The PDSA cycle the point was observed in, if known.
    cycle: int | None = None
    #: When the data point was voided (recorded in error); None while it counts.
    voided_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Row) -> DataPoint:
        return cls(
            id=row["id"],
            measure_id=row["measure_id"],
            observed_at=ensure_utc(row["observed_at"]),
            value=row["value"],
            note=row["note"],
            cycle=row.get("cycle"),
            voided_at=_utc(row.get("voided_at")),
        )


@dataclass(frozen=True)
class TriggerOption:
    """A trigger from the project's state, whether it may fire, and every reason if not."""

    trigger: str
    dest: str
    allowed: bool
    reasons: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str | None = None
    directorate: str | None = None
    roles: tuple[str, ...] = ()
    deputy_for: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    active: bool = True

    @classmethod
    def from_row(cls, row: Row) -> Person:
        return cls(
            id=row["id"],
            name=row["name"],
            email=row["email"],
            directorate=row["directorate"],
            roles=tuple(row["roles"]),
            deputy_for=tuple(row["deputy_for"]),
            channels=tuple(row["channels"]),
            active=bool(row["active"]),
        )


#: The states of one sign-off round.
PENDING, PASSED, REJECTED, EXPIRED, SUPERSEDED = (
    "pending",
    "passed",
    "rejected",
    "expired",
    "superseded",
)


@dataclass(frozen=True)
class Decision:
    role: str
    approver: str
    delegated_by: str | None
    decision: str
    comment: str | None
    decided_at: datetime


@dataclass(frozen=True)
class Signoff:
    """One round of a gate on a project."""

    id: int
    project_id: str
    gate: str
    round: int
    stage: str
    status: str
    form: Mapping[str, Any]
    summary: Mapping[str, Any]
    roles: tuple[str, ...]
    mode: str
    valid_for: str | None
    requested_by: str
    requested_at: datetime
    requested_version: int
    decided_at: datetime | None
    valid_until: datetime | None
    reason: str | None
    decisions: tuple[Decision, ...] = ()

    @property
    def awaiting(self) -> tuple[str, ...]:
        """The roles still to approve (for "any", every role until one has)."""
        approved = {d.role for d in self.decisions if d.decision == "approve"}
        if self.mode == "any":
            return () if approved else self.roles
        return tuple(r for r in self.roles if r not in approved)

    def expired(self, now: datetime) -> bool:
        return self.status == EXPIRED or (
            self.status == PASSED and self.valid_until is not None and self.valid_until <= now
        )


#: The states of a notification in the outbox: waiting, claimed by a daemon, done, given up.
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "dead")


@dataclass(frozen=True)
class Queued:
    """One notification in the outbox: one thing to tell one person through one channel."""

    id: int
    key: str
    kind: str
    recipient: str
    channel: str
    project_id: str | None
    subject: str
    body: str
    status: str
    attempts: int
    not_before: datetime
    lease_until: datetime | None
    claimed_by: str | None
    last_error: str | None
    message_key: str | None
    created_at: datetime
    sent_at: datetime | None
    #: The project's reference and title, where the query joined them (a claim does).
    project_ref: str | None = None
    project_title: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Queued:
        return cls(
            **{
                **row,
                "not_before": ensure_utc(row["not_before"]),
                "lease_until": _utc(row["lease_until"]),
                "created_at": ensure_utc(row["created_at"]),
                "sent_at": _utc(row["sent_at"]),
            }
        )


@dataclass(frozen=True)
class DaemonStatus:
    """What one daemon last did."""

    name: str
    last_sweep_at: datetime | None
    last_delivery_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class OutboxStatus:
    """The outbox at a glance: notifications by status, the oldest due, every daemon."""

    counts: Mapping[str, int]
    oldest_pending: datetime | None
    daemons: tuple[DaemonStatus, ...]


#: A token's scopes, narrowest first; each includes the ones before it.
TOKEN_SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class Token:
    """A bearer token of the HTTP API as stored: never its secret."""

    id: str
    actor: str
    #: read, write or admin; each includes the ones before it.
    scope: str
    #: May act for a person named in the request (a service's token).
    act_as: bool
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def allows(self, needed: str) -> bool:
        """Whether this token's scope covers ``needed`` (read, write or admin)."""
        return TOKEN_SCOPES.index(self.scope) >= TOKEN_SCOPES.index(needed)


@dataclass(frozen=True)
class StoredResponse:
    """The response an entry point gave to a request, kept to answer its repeats."""

    status: int
    headers: Mapping[str, str]
    body: str
    media_type: str


@dataclass(frozen=True)
class RequestClaim:
    """What claiming an idempotency key found: ``new`` (go ahead), ``replay`` (answer
    with ``response``), ``mismatch`` (the key was used for another request) or
    ``in_flight`` (a request with the key is still running)."""

    outcome: str
    #: When this use of the key began (kept when a repeat takes over a dead one's claim).
    started_at: datetime
    response: StoredResponse | None = None
