"""The SQL tables (SQLModel). Only :mod:`qiflow.store` and its migrations use them.

Changing a table means a new Alembic revision in ``qiflow/store/migrations/versions``;
``tests/test_migrations.py`` fails while the two disagree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

#: Every qiflow table name starts with this, so none collides with a host's tables.
TABLE_PREFIX = "qiflow_"


class QiflowModel(SQLModel, registry=registry()):
    """The base of qiflow's tables: its own registry and metadata, not SQLModel's shared one.

    A host application's SQLModel tables (its own ``project``, say) and qiflow's never
    meet: neither's ``create_all`` creates the other's tables, and Alembic autogenerate
    on either metadata sees only its own.
    """


#: The list filters' indexes: each filter column with the reference number, so that
#: ``projects(state=..., limit=50)`` reads the first 50 in order instead of sorting them all.
PROJECT_LIST_INDEXES = ("state", "owner", "directorate", "programme_status", "workflow")


class ProjectRow(QiflowModel, table=True):
    __tablename__ = "qiflow_project"
    __table_args__ = tuple(
        Index(f"ix_qiflow_project_{column}_number", column, "number")
        for column in PROJECT_LIST_INDEXES
    )

    id: str = Field(primary_key=True, max_length=32)
    number: int = Field(unique=True)
    ref: str = Field(unique=True, max_length=32)
    title: str = Field(sa_column=Column(Text, nullable=False))
    workflow: str = Field(max_length=100)
    workflow_version: int
    state: str = Field(max_length=100)
    previous_state: str | None = Field(default=None, max_length=100)
    version: int
    owner: str | None = Field(default=None, max_length=200)
    sponsor: str | None = Field(default=None, max_length=200)
    directorate: str | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    aim: str | None = Field(default=None, sa_column=Column(Text))
    quality_objectives: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    primary_outcome: str | None = Field(default=None, sa_column=Column(Text))
    secondary_outcomes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    expected_saving: int | None = None
    scale: str | None = Field(default=None, max_length=40)
    learning: str | None = Field(default=None, sa_column=Column(Text))
    current_cycle: int = 0
    lead_executive_sponsor: str | None = Field(default=None, max_length=200)
    qi_sponsor: str | None = Field(default=None, max_length=200)
    programme_status: str = Field(
        default="none", max_length=20, sa_column_kwargs={"server_default": "none"}
    )
    escalation_dismissed: list[str] | None = Field(default=None, sa_column=Column(JSON))
    #: Values of the project fields plugins declare (``qiflow_project_fields``), by name.
    plugin_fields: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    state_entered_at: datetime | None = None
    state_entered_version: int | None = None
    next_review_at: datetime | None = Field(default=None, index=True)
    #: When the review's next reminder stage falls due (the owner at the review date, the
    #: sponsor and the transformation team later); None once every stage was enqueued.
    #: The sweep reads only projects at or past it, so an idle sweep costs nothing per
    #: project already reminded. Set to ``next_review_at`` whenever that changes.
    next_reminder_at: datetime | None = Field(default=None, index=True)
    event_count: int = 0
    head_hash: str = Field(max_length=64)
    created_at: datetime
    updated_at: datetime
    #: Set when the project was withdrawn (created in error): it then counts nowhere.
    withdrawn_at: datetime | None = None


class EventRow(QiflowModel, table=True):
    """Append-only; each project's events form a SHA-256 hash chain."""

    __tablename__ = "qiflow_event"
    __table_args__ = (UniqueConstraint("project_id", "pos", name="uq_event_project_pos"),)

    seq: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="qiflow_project.id", max_length=32)
    pos: int
    version: int
    type: str = Field(max_length=100)
    actor: str = Field(max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    #: How ``hash`` was computed: 1 (before RFC 8785) or 2 (see qiflow.canonical).
    scheme: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class CounterRow(QiflowModel, table=True):
    """Named counters (project reference numbers), incremented under a row lock."""

    __tablename__ = "qiflow_counter"

    name: str = Field(primary_key=True, max_length=50)
    value: int


class IdempotencyRow(QiflowModel, table=True):
    __tablename__ = "qiflow_idempotency"

    key: str = Field(primary_key=True, max_length=200)
    project_id: str = Field(max_length=32)
    command: str = Field(max_length=200)
    result: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    #: SHA-256 of the request made under the key (None for keys remembered before 0015).
    fingerprint: str | None = Field(default=None, max_length=64)
    #: The refusal the command ended with (JSON: type, message, attributes), raised again
    #: on a replay.
    refusal: str | None = Field(default=None, sa_column=Column(Text))


class WorkflowRow(QiflowModel, table=True):
    """Every workflow version a project was ever created on, kept so it can be replayed."""

    __tablename__ = "qiflow_workflow_definition"

    name: str = Field(primary_key=True, max_length=100)
    version: int = Field(primary_key=True)
    sha256: str = Field(max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at: datetime


class PdsaCycleRow(QiflowModel, table=True):
    __tablename__ = "qiflow_pdsa_cycle"

    project_id: str = Field(foreign_key="qiflow_project.id", primary_key=True, max_length=32)
    number: int = Field(primary_key=True)
    plan: str | None = Field(default=None, sa_column=Column(Text))
    prediction: str | None = Field(default=None, sa_column=Column(Text))
    observations: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    study: str | None = Field(default=None, sa_column=Column(Text))
    act: str | None = Field(default=None, max_length=100)
    #: The change ideas (driver diagram ids) the cycle tests.
    tests: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class MeasureRow(QiflowModel, table=True):
    __tablename__ = "qiflow_measure"
    #: A name is unique among the project's live measures: a voided one frees its name.
    __table_args__ = (
        Index(
            "uq_qiflow_measure_live_name",
            "project_id",
            "name",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="qiflow_project.id", max_length=32)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    unit: str = Field(max_length=50)
    direction: str = Field(max_length=20)
    #: The value the measure aims at (the assurance icon reads it), if any.
    target: float | None = None
    #: The project's primary outcome measure (at most one per project).
    is_primary: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    #: The first N points are the baseline the limits are fixed on (N >= 12); None: all.
    baseline_points: int | None = None
    #: The XmR chart's icons and special-cause points when last looked at, to tell a change.
    chart_state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: Set when the measure was voided (recorded in error); its events keep the original.
    voided_at: datetime | None = None


class DataPointRow(QiflowModel, table=True):
    __tablename__ = "qiflow_data_point"
    __table_args__ = (Index("ix_qiflow_data_point_measure_observed", "measure_id", "observed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="qiflow_measure.id")
    observed_at: datetime
    value: float
    note: str | None = Field(default=None, sa_column=Column(Text))
    #: The PDSA cycle the point was observed in, if known.
    cycle: int | None = None

    #: Set when the data point was voided; a correction changes the row in place (the
    #: original stays in the event trail).
    voided_at: datetime | None = None


class MeasureRebaseRow(QiflowModel, table=True):
    """A new limit period of a measure's chart, from the first point observed at ``at``."""

    __tablename__ = "qiflow_measure_rebase"

    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="qiflow_measure.id", index=True)
    at: datetime
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(max_length=200)
    created_at: datetime


class ProgressScoreRow(QiflowModel, table=True):
    """A project's confirmed IHI progress score (the latest ``review record --score``)."""

    __tablename__ = "qiflow_progress_score"

    project_id: str = Field(foreign_key="qiflow_project.id", primary_key=True, max_length=32)
    score: float
    confirmed_at: datetime


class PersonRow(QiflowModel, table=True):
    """The built-in staff directory (``qiflow people import``); a plugin may replace it."""

    __tablename__ = "qiflow_person"

    id: str = Field(primary_key=True, max_length=200)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    directorate: str | None = Field(default=None, max_length=200)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    deputy_for: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: The channels this person wants notifications on (empty: the configured routing).
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    updated_at: datetime


class SignoffRow(QiflowModel, table=True):
    """One request for a gate's approval (a round); a resubmission is a new round."""

    __tablename__ = "qiflow_signoff"
    __table_args__ = (UniqueConstraint("project_id", "gate", "round", name="uq_signoff_round"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="qiflow_project.id", max_length=32)
    gate: str = Field(max_length=100)
    round: int
    stage: str = Field(max_length=200)
    status: str = Field(max_length=20)
    form: str = Field(sa_column=Column(Text, nullable=False))
    summary: str = Field(sa_column=Column(Text, nullable=False))
    roles: list[str] = Field(sa_column=Column(JSON, nullable=False))
    mode: str = Field(max_length=10)
    valid_for: str | None = Field(default=None, max_length=40)
    requested_by: str = Field(max_length=200)
    requested_at: datetime
    requested_version: int
    decided_at: datetime | None = None
    valid_until: datetime | None = Field(default=None, index=True)
    reason: str | None = Field(default=None, sa_column=Column(Text))


class SignoffDecisionRow(QiflowModel, table=True):
    __tablename__ = "qiflow_signoff_decision"
    __table_args__ = (UniqueConstraint("signoff_id", "role", name="uq_decision_role"),)

    id: int | None = Field(default=None, primary_key=True)
    signoff_id: int = Field(foreign_key="qiflow_signoff.id")
    role: str = Field(max_length=100)
    approver: str = Field(max_length=200)
    delegated_by: str | None = Field(default=None, max_length=200)
    decision: str = Field(max_length=10)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    decided_at: datetime


class NotificationRow(QiflowModel, table=True):
    """The delivery outbox: one row per thing to tell one person, enqueued exactly once.

    ``key`` is unique: (item, kind, due instant, recipient), so however many daemons
    sweep at once, a reminder is enqueued once. Daemons claim rows with a lease.
    """

    __tablename__ = "qiflow_notification"
    __table_args__ = (Index("ix_qiflow_notification_status_due", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    kind: str = Field(max_length=40)
    recipient: str = Field(max_length=200)
    channel: str = Field(max_length=50)
    project_id: str | None = Field(default=None, max_length=32, index=True)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)
    attempts: int = 0
    not_before: datetime
    lease_until: datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    #: The idempotency key of the message this row went out in, fixed at its first claim.
    message_key: str | None = Field(default=None, max_length=80)
    created_at: datetime
    sent_at: datetime | None = None


class DaemonRow(QiflowModel, table=True):
    """What each daemon last did, for ``qiflow daemon status``."""

    __tablename__ = "qiflow_daemon"

    name: str = Field(primary_key=True, max_length=200)
    last_sweep_at: datetime | None = None
    last_delivery_at: datetime | None = None
    updated_at: datetime


class SubscriberRow(QiflowModel, table=True):
    """A durable reader of the event trail: its cursor (the last ``seq`` it handled), its
    failures, and which daemon holds it under a lease."""

    __tablename__ = "qiflow_subscriber"

    name: str = Field(primary_key=True, max_length=200)
    position: int
    created_at: datetime
    updated_at: datetime
    failures: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    retry_at: datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = None


class DriverNodeRow(QiflowModel, table=True):
    """A node of a project's driver diagram; removed nodes stay, so ids are never reused."""

    __tablename__ = "qiflow_driver_node"

    project_id: str = Field(foreign_key="qiflow_project.id", primary_key=True, max_length=32)
    node_id: str = Field(primary_key=True, max_length=16)
    position: int
    kind: str = Field(max_length=20)
    title: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)
    parents: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    measures: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    removed: bool = False


class TeamMemberRow(QiflowModel, table=True):
    """A person's role in a project team."""

    __tablename__ = "qiflow_team_member"

    project_id: str = Field(foreign_key="qiflow_project.id", primary_key=True, max_length=32)
    person: str = Field(primary_key=True, max_length=200)
    role: str = Field(primary_key=True, max_length=40)
    position: int


class TokenRow(QiflowModel, table=True):
    """A bearer token for the HTTP API: only the hash of its secret is kept."""

    __tablename__ = "qiflow_token"

    id: str = Field(primary_key=True, max_length=32)
    secret_hash: str = Field(max_length=64)
    actor: str = Field(max_length=200)
    scope: str = Field(max_length=10)
    act_as: bool
    created_by: str = Field(max_length=200)
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=200)


class HttpIdempotencyRow(QiflowModel, table=True):
    """A request remembered under its Idempotency-Key, per token, until it expires."""

    __tablename__ = "qiflow_http_idempotency"
    __table_args__ = (Index("ix_qiflow_http_idempotency_expires_at", "expires_at"),)

    scope: str = Field(primary_key=True, max_length=64)
    key_hash: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(max_length=64)
    started_at: datetime
    locked_until: datetime | None = None
    expires_at: datetime
    status: int | None = None
    media_type: str | None = Field(default=None, max_length=100)
    headers: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    body: str | None = Field(default=None, sa_column=Column(Text))


class RiskRow(QiflowModel, table=True):
    """One risk on a project's register (its history is in the project's events)."""

    __tablename__ = "qiflow_risk"

    project_id: str = Field(foreign_key="qiflow_project.id", primary_key=True, max_length=32)
    risk: str = Field(primary_key=True, max_length=20)
    description: str = Field(sa_column=Column(Text, nullable=False))
    category: str = Field(max_length=100)
    owner: str = Field(max_length=200, index=True)
    consequence: int
    likelihood: int
    score: int
    band: str = Field(max_length=20, index=True)
    target: int | None = None
    controls: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    review_by: date = Field(index=True)
    raised_at: datetime
    raised_by: str = Field(max_length=200)
    reviewed_at: datetime | None = None
    reviewed_by: str | None = Field(default=None, max_length=200)
    extreme_since: datetime | None = None
    sponsor_reviewed_at: datetime | None = None


class RiskActionRow(QiflowModel, table=True):
    """Something being done about a risk, by someone, by a date."""

    __tablename__ = "qiflow_risk_action"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_id", "risk"],
            ["qiflow_risk.project_id", "qiflow_risk.risk"],
            name="fk_qiflow_risk_action_risk",
        ),
    )

    project_id: str = Field(primary_key=True, max_length=32)
    risk: str = Field(primary_key=True, max_length=20)
    action: str = Field(primary_key=True, max_length=20)
    text: str = Field(sa_column=Column(Text, nullable=False))
    owner: str = Field(max_length=200)
    due: date = Field(index=True)
    done_at: datetime | None = None


#: The event table is append-only, enforced by the database (created with the table).
class RedactionRow(QiflowModel, table=True):
    """Events whose payload a redaction may change, only within that redaction's
    transaction (it deletes its rows before committing)."""

    __tablename__ = "qiflow_redaction"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})


#: The columns of an event that no UPDATE may change (a redaction changes only the payload).
_KEPT = (
    "seq", "project_id", "pos", "version", "type", "actor", "created_at", "prev_hash", "hash",
    "scheme",
)  # fmt: skip
APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER qiflow_event_append_only_update BEFORE UPDATE ON qiflow_event "
    "WHEN NOT EXISTS (SELECT 1 FROM qiflow_redaction r WHERE r.seq = OLD.seq) OR "
    + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _KEPT)
    + " BEGIN SELECT RAISE(ABORT, 'the event table is append-only'); END",
    "CREATE TRIGGER qiflow_event_append_only_delete BEFORE DELETE ON qiflow_event "
    "BEGIN SELECT RAISE(ABORT, 'the event table is append-only'); END",
]
APPEND_ONLY_POSTGRES = [
    "CREATE OR REPLACE FUNCTION qiflow_event_append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM qiflow_redaction r WHERE r.seq = OLD.seq) "
    f"AND ({', '.join(f'NEW.{c}' for c in _KEPT)}) IS NOT DISTINCT FROM "
    f"({', '.join(f'OLD.{c}' for c in _KEPT)}) THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'the event table is append-only'; END $$",
    "CREATE TRIGGER qiflow_event_append_only BEFORE UPDATE OR DELETE ON qiflow_event "
    "FOR EACH ROW EXECUTE FUNCTION qiflow_event_append_only()",
]

metadata = QiflowModel.metadata
for _dialect, _statements in (("sqlite", APPEND_ONLY_SQLITE), ("postgresql", APPEND_ONLY_POSTGRES)):
    for _statement in _statements:
        event.listen(
            metadata.tables["qiflow_event"],
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),  # type: ignore[no-untyped-call]
        )

PROJECT = metadata.tables["qiflow_project"]
EVENT = metadata.tables["qiflow_event"]
COUNTER = metadata.tables["qiflow_counter"]
IDEMPOTENCY = metadata.tables["qiflow_idempotency"]
WORKFLOW = metadata.tables["qiflow_workflow_definition"]
CYCLE = metadata.tables["qiflow_pdsa_cycle"]
MEASURE = metadata.tables["qiflow_measure"]
DATA_POINT = metadata.tables["qiflow_data_point"]
MEASURE_REBASE = metadata.tables["qiflow_measure_rebase"]
PROGRESS_SCORE = metadata.tables["qiflow_progress_score"]
PERSON = metadata.tables["qiflow_person"]
SIGNOFF = metadata.tables["qiflow_signoff"]
DECISION = metadata.tables["qiflow_signoff_decision"]
NOTIFICATION = metadata.tables["qiflow_notification"]
DAEMON = metadata.tables["qiflow_daemon"]
SUBSCRIBER = metadata.tables["qiflow_subscriber"]
DRIVER_NODE = metadata.tables["qiflow_driver_node"]
TEAM_MEMBER = metadata.tables["qiflow_team_member"]
TOKEN = metadata.tables["qiflow_token"]
HTTP_IDEMPOTENCY = metadata.tables["qiflow_http_idempotency"]
RISK = metadata.tables["qiflow_risk"]
RISK_ACTION = metadata.tables["qiflow_risk_action"]
REDACTION = metadata.tables["qiflow_redaction"]
