"""What each page shows, read through the engine's public API into plain values for the
templates (the committee pack reads the same)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qiflow import Engine, Project
from qiflow.measurement import Picture, Progress
from qiflow.measurement.drawing import svg
from qiflow.snapshots import Event, Signoff, TriggerOption
from qiflow.web.rendering import words

#: Programme status values and how they read.
PROGRAMME = {"none": "No", "candidate": "Candidate", "programme": "Programme"}


@dataclass(frozen=True)
class Filters:
    """The portfolio's filters, as given in the page's query."""

    directorate: str = ""
    owner: str = ""
    programme: str = ""
    overdue: bool = False

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        programme = query.get("programme", "").strip()
        return cls(
            directorate=query.get("directorate", "").strip(),
            owner=query.get("owner", "").strip(),
            programme=programme if programme in PROGRAMME else "",
            overdue=query.get("overdue", "") in ("1", "on", "true", "yes"),
        )


@dataclass(frozen=True)
class Row:
    """A project in a list, with its measures' icons and next review."""

    project: Project
    icons: tuple[tuple[str, str | None, str | None], ...]  # (measure, variation, assurance)
    overdue: bool
    score: float | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    rows: tuple[Row, ...]


def rows(engine: Engine, projects: Sequence[Project]) -> list[Row]:
    now = engine.clock.now()
    found = {p.project.ref: p for p in engine.progress([p.ref for p in projects])}
    listed = []
    for project in projects:
        progress: Progress | None = found.get(project.ref)
        charts = progress.charts if progress else ()
        listed.append(
            Row(
                project,
                tuple((c.measure.name, c.variation_icon, c.assurance_icon) for c in charts),
                project.next_review_at is not None and project.next_review_at < now,
                progress.confirmed.score if progress and progress.confirmed else None,
            )
        )
    return listed


def state_order(engine: Engine, projects: Sequence[Project]) -> list[str]:
    """The states of the default workflow in their order, then any others projects are in."""
    order = [s.name for s in engine.workflow().states]
    for project in projects:
        if project.state not in order:
            order.append(project.state)
    return order


def portfolio(engine: Engine, filters: Filters) -> list[Stage]:
    projects = engine.projects(
        directorate=filters.directorate or None,
        owner=filters.owner or None,
        programme=filters.programme or None,
        overdue=filters.overdue,
    )
    listed = rows(engine, projects)
    return [
        Stage(state, tuple(r for r in listed if r.project.state == state))
        for state in state_order(engine, projects)
        if any(r.project.state == state for r in listed)
    ]


_ID = re.compile(r'\bid="([^"]+)"')


def inline_svg(document: str, prefix: str) -> str:
    """An SVG document fit to sit inside a page beside others: no XML prolog, and every
    id (and every reference to one) prefixed so that two charts never share an id."""
    start = document.find("<svg")
    body = document[start:] if start >= 0 else document
    ids = set(_ID.findall(body))
    for name in sorted(ids, key=len, reverse=True):
        new = f"{prefix}-{name}"
        body = body.replace(f'id="{name}"', f'id="{new}"')
        body = body.replace(f"url(#{name})", f"url(#{new})")
        body = body.replace(f'href="#{name}"', f'href="#{new}"')
    return re.sub(
        r'aria-labelledby="([^"]+)"',
        lambda m: 'aria-labelledby="' + " ".join(f"{prefix}-{i}" for i in m[1].split()) + '"',
        body,
    )


@dataclass(frozen=True)
class Chart:
    """A measure on a page: its chart (inline SVG, or None under two points) and icons."""

    name: str
    kind: str
    unit: str
    direction: str
    target: float | None
    points: int
    variation: str | None
    assurance: str | None
    svg: str | None
    latest: float | None


def charts(engine: Engine, project: Project, prefix: str = "chart") -> list[Chart]:
    starts = engine.cycle_starts(project.ref)
    found = []
    for number, measure in enumerate(engine.measures(project.ref), start=1):
        picture: Picture = engine.measure_chart(project.ref, measure.name)
        drawn = None
        if picture.chart != "none":
            document = svg(picture, title=f"{measure.name} ({measure.unit})", cycle_starts=starts)
            drawn = inline_svg(document, f"{prefix}{number}")
        found.append(
            Chart(
                measure.name,
                measure.kind,
                measure.unit,
                measure.direction,
                measure.target,
                len(picture.points),
                picture.variation_icon,
                picture.assurance_icon,
                drawn,
                picture.points[-1].value if picture.points else None,
            )
        )
    return found


@dataclass(frozen=True)
class Gate:
    """A gate of the project's workflow: what it awaits, and its sign-off rounds."""

    name: str
    awaits: tuple[str, ...]
    rounds: tuple[Signoff, ...]

    @property
    def pending(self) -> Signoff | None:
        last = self.rounds[-1] if self.rounds else None
        return last if last is not None and last.status == "pending" else None


@dataclass(frozen=True)
class ProjectPage:
    project: Project
    triggers: tuple[TriggerOption, ...]
    cycles: tuple[Any, ...]
    charts: tuple[Chart, ...]
    gates: tuple[Gate, ...]
    diagram: Any
    risks: tuple[Any, ...]
    history: tuple[Event, ...]
    audit_ok: bool
    audit_problem: str | None
    domains: tuple[str, ...] = field(default=())
    team: tuple[Any, ...] = ()


def project_page(engine: Engine, ref: str, actor: str) -> ProjectPage:
    project = engine.get(ref)
    status = engine.gate_status(ref)
    signoffs = engine.signoffs(ref)
    gates = tuple(
        Gate(name, tuple(awaits), tuple(s for s in signoffs if s.gate == name))
        for name, awaits in status.items()
    )
    broken = next((b for r, b in engine.iter_audit() if r == project.ref), None)
    workflow = engine.workflow(project.workflow, project.workflow_version)
    domains = tuple(workflow.gate_config.get("qeia", {}).get("domains", ()))
    return ProjectPage(
        project=project,
        triggers=tuple(engine.available_triggers(ref, actor=actor)),
        cycles=tuple(engine.cycles(ref)),
        charts=tuple(charts(engine, project)),
        gates=gates,
        diagram=engine.driver_diagram(ref),
        risks=tuple(engine.risks(ref)),
        history=tuple(reversed(engine.history(ref))),
        audit_ok=broken is None,
        audit_problem=None if broken is None else str(broken),
        domains=domains,
        team=tuple(engine.team(ref)),
    )


def roles_of(engine: Engine, project: Project, actor: str, wanted: Sequence[str] = ()) -> set[str]:
    """The roles ``actor`` holds on ``project``, as the engine's rules count them: from
    plugins (owner, sponsor, ...), and for each ``wanted`` role the directory's holders
    (a plugin's ``qiflow_role_holders`` answer alone when it gives one, else the staff
    directory's record)."""
    roles: set[str] = set()
    for found in engine.pm.hook.qiflow_actor_roles(project=project, actor=actor):
        roles.update(found)
    person = engine.person(actor)
    for role in wanted:
        holders = engine.pm.hook.qiflow_role_holders(role=role)
        if holders is not None:
            if actor in holders:
                roles.add(role)
        elif person is not None and person.active and role in person.roles:
            roles.add(role)
    return roles


@dataclass(frozen=True)
class Awaiting:
    """A pending sign-off round that awaits a role the visitor holds."""

    project: Project
    signoff: Signoff
    roles: tuple[str, ...]


@dataclass(frozen=True)
class SignalSeen:
    project: Project
    event: Event


@dataclass(frozen=True)
class MyWork:
    awaiting: tuple[Awaiting, ...]
    overdue: tuple[Row, ...]
    signals: tuple[SignalSeen, ...]


#: How many of the latest signals on one's projects My work lists.
RECENT_SIGNALS = 20


def my_work(engine: Engine, actor: str) -> MyWork:
    now = engine.clock.now()
    awaiting: list[Awaiting] = []
    mine: list[Project] = []
    for project in engine.projects():
        signoffs = engine.signoffs(project.ref)
        wanted = sorted({r for s in signoffs if s.status == "pending" for r in s.roles})
        held = roles_of(engine, project, actor, wanted)
        if {"owner", "sponsor"} & held:
            mine.append(project)
        for signoff in signoffs:
            decided = {d.role for d in signoff.decisions}
            open_roles = tuple(r for r in signoff.roles if r in held and r not in decided)
            if signoff.status == "pending" and open_roles:
                awaiting.append(Awaiting(project, signoff, open_roles))
    overdue = [
        p
        for p in mine
        if p.owner == actor and p.next_review_at is not None and p.next_review_at < now
    ]
    signals = [
        SignalSeen(project, event)
        for project in mine
        for event in engine.history(project.ref)
        if event.type == "measure.signal"
    ]
    signals.sort(key=lambda s: s.event.created_at, reverse=True)
    return MyWork(tuple(awaiting), tuple(rows(engine, overdue)), tuple(signals[:RECENT_SIGNALS]))


@dataclass(frozen=True)
class QeiaStatus:
    """Where a project's QEIA stands: none, pending, stage 2, passed, expiring or expired."""

    label: str
    stage: str | None = None
    valid_until: datetime | None = None


#: A passed QEIA within this many days of its end is "expiring".
EXPIRING_DAYS = 30


def qeia_status(engine: Engine, project: Project) -> QeiaStatus:
    rounds = engine.signoffs(project.ref, "qeia")
    if not rounds:
        return QeiaStatus("Not requested")
    last = rounds[-1]
    if last.status == "pending":
        label = "Pending stage 2" if "stage 2" in last.stage else "Pending"
        return QeiaStatus(label, last.stage)
    if last.status == "passed" and last.valid_until is not None:
        left = last.valid_until - engine.clock.now()
        if left.total_seconds() <= 0:
            return QeiaStatus("Expired", last.stage, last.valid_until)
        if left.days < EXPIRING_DAYS:
            return QeiaStatus("Expiring", last.stage, last.valid_until)
    return QeiaStatus(words(last.status), last.stage, last.valid_until)


@dataclass(frozen=True)
class BoardRow:
    project: Project
    qeia: QeiaStatus


def programme_board(engine: Engine) -> tuple[list[BoardRow], list[BoardRow]]:
    """The programme's projects, and the candidates for it."""
    found = {
        status: [BoardRow(p, qeia_status(engine, p)) for p in engine.projects(programme=status)]
        for status in ("programme", "candidate")
    }
    return found["programme"], found["candidate"]
