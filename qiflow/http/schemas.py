"""The request and response bodies of the API, as pydantic models (the OpenAPI schemas).

Responses are built from the engine's frozen snapshots with ``model_validate``
(``from_attributes``), so the schema and what is sent cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCALE = Literal["team", "service", "directorate", "multi_directorate", "trust_wide", "system"]
MEASURE_KIND = Literal["outcome", "process", "balancing"]
DIRECTION = Literal["increase", "decrease"]
SCOPE = Literal["read", "write", "admin"]

#: Text the engine stores; long enough for any real field, short enough to refuse abuse.
Text = Field(default=None, max_length=10_000)


class Snapshot(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """A request body: unknown members are refused, and nothing is coerced (a number is
    not a date, a string not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ProjectFieldsIn(Input):
    """Editable project fields; people are referenced by their stable id."""

    owner: str | None = Field(default=None, max_length=200, examples=["a.khan"])
    sponsor: str | None = Field(default=None, max_length=200, examples=["dr.okafor"])
    directorate: str | None = Field(default=None, max_length=200, examples=["Adult Community"])
    team: str | None = Field(default=None, max_length=200)
    aim: str | None = Field(
        default=None, max_length=10_000, examples=["Zero missed depot doses by March"]
    )
    quality_objectives: list[str] | None = Field(default=None, max_length=50)
    primary_outcome: str | None = Field(default=None, max_length=10_000)
    secondary_outcomes: list[str] | None = Field(default=None, max_length=50)
    expected_saving: int | None = Field(default=None, ge=0, le=10**12, description="Whole pounds.")
    scale: SCALE | None = None
    learning: str | None = Field(default=None, max_length=10_000)
    lead_executive_sponsor: str | None = Field(default=None, max_length=200)
    qi_sponsor: str | None = Field(default=None, max_length=200)

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ProjectCreate(ProjectFieldsIn):
    title: str = Field(min_length=1, max_length=500, examples=["Reduce missed depot doses"])
    workflow: str = Field(default="qi_project", max_length=100)
    fields: dict[str, Any] | None = Field(
        default=None, description="Fields that plugins declare (see the project's `fields`)."
    )


class ProjectUpdate(ProjectFieldsIn):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    fields: dict[str, Any] | None = Field(
        default=None, description="Fields that plugins declare (see the project's `fields`)."
    )


class FireIn(Input):
    trigger: str = Field(min_length=1, max_length=100, examples=["diagnose"])
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="Editable fields to set in the same step (e.g. `learning` for "
        "`abandon`); other keys are kept in the event.",
        examples=[{}],
    )


class MigrateIn(Input):
    to_version: int = Field(ge=1, le=1_000_000)


class ProjectOut(Snapshot):
    """A project as it stands after its last command. Its ETag is ``"<version>"``."""

    id: str
    ref: str = Field(examples=["QI-0001"])
    title: str
    workflow: str
    workflow_version: int
    state: str = Field(examples=["diagnosis"])
    previous_state: str | None
    version: int = Field(examples=[2])
    owner: str | None
    sponsor: str | None
    directorate: str | None
    team: str | None
    aim: str | None
    quality_objectives: list[str]
    primary_outcome: str | None
    secondary_outcomes: list[str]
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
    fields: dict[str, Any] = Field(description="Fields that plugins declare, by name.")


class TriggerOut(Snapshot):
    """A trigger from the project's state: whether it may fire, and every reason if not."""

    trigger: str
    dest: str
    allowed: bool
    reasons: list[str]


class ProjectView(ProjectOut):
    """A project with what may fire from its state (for the calling person) and why not."""

    triggers: list[TriggerOut]


class EventOut(Snapshot):
    """One event of the audit trail."""

    seq: int
    project_id: str
    pos: int
    version: int
    type: str = Field(examples=["project.transitioned"])
    actor: str
    payload: dict[str, Any]
    created_at: datetime
    prev_hash: str
    hash: str


class EventFeed(BaseModel):
    """A page of the event feed; ask again with ``after=next_after``."""

    events: list[EventOut]
    next_after: int = Field(description="The cursor to pass as `after` next time.")


class PdsaIn(Input):
    cycle: int | None = Field(
        default=None, ge=1, le=10_000, description="Default: the current cycle."
    )
    plan: str | None = Field(default=None, max_length=10_000)
    prediction: str | None = Field(default=None, max_length=10_000)
    observation: str | None = Field(default=None, max_length=10_000)
    study: str | None = Field(default=None, max_length=10_000)
    tests: list[str] | None = Field(
        default=None, max_length=50, description="Change ideas the cycle tests (e.g. C1)."
    )


class PdsaCycleOut(Snapshot):
    project_id: str
    number: int
    plan: str | None
    prediction: str | None
    observations: list[str]
    study: str | None
    act: str | None


class MeasureIn(Input):
    name: str = Field(min_length=1, max_length=200, examples=["Missed doses"])
    kind: MEASURE_KIND
    unit: str = Field(min_length=1, max_length=50, examples=["count"])
    direction: DIRECTION


class MeasureOut(Snapshot):
    id: int
    project_id: str
    name: str
    kind: str
    unit: str
    direction: str


class DataPointIn(Input):
    value: float = Field(allow_inf_nan=False, examples=[12])
    observed_at: datetime | None = Field(
        default=None,
        strict=False,
        description="An RFC 3339 date-time (default: now).",
        examples=["2026-03-02T09:30:00Z"],
    )
    note: str | None = Field(default=None, max_length=2_000)

    @field_validator("observed_at", mode="before")
    @classmethod
    def _text_only(cls, value: object) -> object:
        if value is not None and not isinstance(value, str):
            raise ValueError("observed_at must be an RFC 3339 date-time string")
        return value


class DataPointOut(Snapshot):
    id: int
    measure_id: int
    observed_at: datetime
    value: float
    note: str | None


class ReviewIn(Input):
    notes: str | None = Field(default=None, max_length=10_000)
    progress_score: float | None = Field(
        default=None, ge=0.5, le=5.0, multiple_of=0.5, description="The IHI scale."
    )


class SignoffRequestIn(Input):
    form: dict[str, Any] = Field(default_factory=dict, description="The gate's form.")


class DecisionIn(Input):
    approve: bool
    role: str | None = Field(default=None, max_length=100)
    on_behalf_of: str | None = Field(default=None, max_length=200)
    comment: str | None = Field(default=None, max_length=10_000)


class DecisionOut(Snapshot):
    role: str
    approver: str
    delegated_by: str | None
    decision: str
    comment: str | None
    decided_at: datetime


class SignoffOut(Snapshot):
    id: int
    project_id: str
    gate: str
    round: int
    stage: str
    status: str
    form: dict[str, Any]
    summary: dict[str, Any]
    roles: list[str]
    mode: str
    valid_for: str | None
    requested_by: str
    requested_at: datetime
    requested_version: int
    decided_at: datetime | None
    valid_until: datetime | None
    reason: str | None
    decisions: list[DecisionOut]


class GateStatusOut(BaseModel):
    gate: str
    passed: bool
    awaiting: list[str]


class DeescalateIn(Input):
    reason: str = Field(min_length=1, max_length=10_000)


class PersonIn(Input):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$", examples=["a.khan"])
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=300)
    directorate: str | None = Field(default=None, max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=50)
    deputy_for: list[str] = Field(default_factory=list, max_length=50)
    channels: list[str] = Field(default_factory=list, max_length=20)
    active: bool = True


class PeopleImportIn(Input):
    people: list[PersonIn] = Field(max_length=100_000)
    replace: bool = Field(default=False, description="Deactivate people not listed.")


class PeopleImportOut(BaseModel):
    added: int
    updated: int
    deactivated: int


class PersonOut(Snapshot):
    id: str
    name: str
    email: str | None
    directorate: str | None
    roles: list[str]
    deputy_for: list[str]
    channels: list[str]
    active: bool


class AuditBreakOut(Snapshot):
    project_ref: str
    seq: int | None
    pos: int | None
    reason: str


class AuditOut(BaseModel):
    verified: bool = Field(description="True when every project's chain verifies.")
    breaks: list[AuditBreakOut]


class WorkflowSummary(BaseModel):
    name: str
    version: int
    title: str
    latest: bool


class StateOut(BaseModel):
    name: str
    initial: bool
    final: bool
    review: str | None
    description: str


class TransitionOut(BaseModel):
    trigger: str
    sources: list[str]
    dest: str
    roles: list[str]
    requires: list[str]
    gates: list[str]
    effects: list[str]
    on: str | None
    description: str


class WorkflowOut(BaseModel):
    name: str
    version: int
    title: str
    roles: list[str]
    states: list[StateOut]
    transitions: list[TransitionOut]


class TokenIn(Input):
    actor: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")
    scope: SCOPE
    act_as: bool = False
    expires: str | None = Field(
        default=None, max_length=40, examples=["P90D"], description="ISO-8601 duration."
    )


class TokenOut(Snapshot):
    """A token as listed: never its secret."""

    id: str
    actor: str
    scope: str
    act_as: bool
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The bearer token. Shown once; only its hash is kept.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    detail: str | None = Field(default=None, description="Why not ready (no addresses).")


class DriverIn(Input):
    title: str = Field(min_length=1, max_length=1_000, examples=["Reliable prescribing"])
    kind: Literal["primary", "secondary", "idea"]
    under: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="The drivers it sits under (none for a primary driver).",
        examples=[["P1"]],
    )
    measures: list[str] = Field(
        default_factory=list, max_length=50, description="Measures it should move."
    )


class DriverChangeIn(Input):
    """Exactly one of: a new ``title``, or the drivers to put the node ``under``."""

    title: str | None = Field(default=None, min_length=1, max_length=1_000)
    under: list[str] | None = Field(default=None, max_length=50)


class OutlineIn(Input):
    outline: str = Field(max_length=1_000_000, description="The CSV or TOML text.")
    format: Literal["csv", "toml"]
    source: str = Field(default="outline", max_length=200)


class TeamMemberIn(Input):
    person: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$", examples=["a.khan"])
    role: str = Field(min_length=1, max_length=40)


class DriverNodeOut(Snapshot):
    id: str = Field(examples=["C1"])
    kind: str
    title: str
    status: str
    parents: list[str]
    measures: list[str]


class DriverDiagramOut(Snapshot):
    nodes: list[DriverNodeOut]
    retired: list[str] = Field(description="Ids of removed nodes (never reused).")


class DiagramChangeOut(Snapshot):
    project: ProjectOut
    diagram: DriverDiagramOut
    nodes: list[str] = Field(description="The nodes this change added or touched.")


class TeamMemberOut(Snapshot):
    person: str
    role: str


class IdeaHistoryOut(Snapshot):
    idea: DriverNodeOut
    removed: bool
    cycles: list[PdsaCycleOut]
    events: list[EventOut]


class CharterOut(Snapshot):
    project: ProjectOut
    measures: list[MeasureOut]
    team: list[TeamMemberOut]
    diagram: DriverDiagramOut
