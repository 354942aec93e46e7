"""Committee report packs: the pack for a quality committee or the Transformation Programme
Board, as a page, an HTML file, a PDF (WeasyPrint) or CSV for analysts.

A pack has a header (meeting, date, purpose), the portfolio by stage and what changed since
the last pack, the distribution of progress scores, the key measures with their Making Data
Count icons and charts, QEIA status, escalations and programme status, exceptions (overdue
reviews, concern signals, rejected sign-offs) and the decisions needed. The board's pack
covers programme projects and candidates; the committee's, the whole portfolio.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from jinja2 import Environment

from qiflow import Engine, Project, ValidationError
from qiflow.snapshots import Signoff
from qiflow.web import views
from qiflow.web.rendering import phrase, words

KINDS = {
    "committee": ("Quality committee", "assurance"),
    "board": ("Transformation Programme Board", "decision"),
}
PURPOSES = ("assurance", "information", "decision")
FORMATS = ("html", "pdf", "csv")
#: Without --since, a pack covers the last this many days.
DEFAULT_PERIOD = timedelta(days=30)


@dataclass(frozen=True)
class Change:
    project: Project
    when: datetime
    what: str


@dataclass(frozen=True)
class KeyMeasure:
    project: Project
    chart: views.Chart


@dataclass(frozen=True)
class Exception_:
    project: Project
    what: str


@dataclass(frozen=True)
class Decision:
    project: Project
    what: str


@dataclass(frozen=True)
class Pack:
    kind: str
    meeting: str
    purpose: str
    made_at: datetime
    since: datetime
    stages: tuple[views.Stage, ...]
    counts: tuple[tuple[str, int], ...]
    changes: tuple[Change, ...]
    scores: tuple[tuple[str, int], ...]
    measures: tuple[KeyMeasure, ...]
    qeia: tuple[views.BoardRow, ...]
    qeia_counts: tuple[tuple[str, int], ...]
    programme: tuple[views.BoardRow, ...]
    candidates: tuple[views.BoardRow, ...]
    exceptions: tuple[Exception_, ...]
    decisions: tuple[Decision, ...]

    @property
    def title(self) -> str:
        return f"{self.meeting}: QI portfolio report"


def parse_since(text: str, zone: tzinfo) -> datetime:
    """``YYYY-MM-DD`` as the start of that day in the trust's time zone."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"since {text!r} is not a date such as 2026-01-31") from None
    return datetime.combine(day, time(0), zone)


def _since(signoff: Signoff, since: datetime) -> bool:
    return signoff.decided_at is not None and signoff.decided_at >= since


def build(
    engine: Engine,
    kind: str,
    *,
    since: datetime | None = None,
    purpose: str | None = None,
    meeting: str | None = None,
) -> Pack:
    """The pack of ``kind`` (committee or board) as it stands now."""
    if kind not in KINDS:
        raise ValidationError(f"report kind {kind!r} is not one of: {', '.join(KINDS)}")
    if purpose is not None and purpose not in PURPOSES:
        raise ValidationError(f"purpose {purpose!r} is not one of: {', '.join(PURPOSES)}")
    now = engine.clock.now()
    start = since if since is not None else now - DEFAULT_PERIOD
    if start > now:
        raise ValidationError(f"--since {start.date()} is in the future")
    if kind == "board":
        projects = engine.projects(programme="programme") + engine.projects(programme="candidate")
        projects.sort(key=lambda p: p.ref)
    else:
        projects = engine.projects()
    listed = views.rows(engine, projects)
    order = views.state_order(engine, projects)
    stages = tuple(
        views.Stage(s, tuple(r for r in listed if r.project.state == s))
        for s in order
        if any(r.project.state == s for r in listed)
    )
    changes: list[Change] = []
    exceptions: list[Exception_] = []
    decisions: list[Decision] = []
    measures: list[KeyMeasure] = []
    board: list[views.BoardRow] = []
    for number, project in enumerate(projects, start=1):
        for event in engine.history(project.ref):
            if event.created_at < start:
                continue
            if event.type == "project.created":
                changes.append(Change(project, event.created_at, "created"))
            elif event.type == "project.transitioned":
                changes.append(
                    Change(
                        project,
                        event.created_at,
                        f"{words(str(event.payload.get('trigger')))}: "
                        f"{phrase(str(event.payload.get('from')))} to "
                        f"{phrase(str(event.payload.get('to')))}",
                    )
                )
            elif event.type == "measure.signal" and event.payload.get("kind") == "concern":
                exceptions.append(
                    Exception_(project, f"concern signal on {event.payload.get('measure')}")
                )
        for signoff in engine.signoffs(project.ref):
            if signoff.status == "rejected" and _since(signoff, start):
                exceptions.append(Exception_(project, f"{signoff.stage} rejected"))
            if signoff.status == "pending":
                awaiting = ", ".join(phrase(r) for r in signoff.roles)
                decisions.append(Decision(project, f"{signoff.stage}: awaiting {awaiting}"))
        if project.next_review_at is not None and project.next_review_at < now:
            exceptions.append(
                Exception_(project, f"review overdue since {project.next_review_at.date()}")
            )
        if project.programme_status == "candidate":
            decisions.append(Decision(project, "candidate for programme status"))
        key = [
            c for c in views.charts(engine, project, prefix=f"p{number}c") if c.kind == "outcome"
        ]
        measures.extend(KeyMeasure(project, c) for c in key)
        board.append(views.BoardRow(project, views.qeia_status(engine, project)))
    changes.sort(key=lambda c: c.when)
    scores: Counter[str] = Counter()
    for progress in engine.progress([p.ref for p in projects]):
        score = progress.confirmed.score if progress.confirmed else None
        scores[f"{score:g}" if score is not None else "Not scored"] += 1
    qeia_counts = Counter(row.qeia.label for row in board)
    meeting_name, default_purpose = KINDS[kind]
    return Pack(
        kind=kind,
        meeting=meeting or meeting_name,
        purpose=purpose or default_purpose,
        made_at=now,
        since=start,
        stages=stages,
        counts=tuple((s.name, len(s.rows)) for s in stages),
        changes=tuple(changes),
        scores=tuple(sorted(scores.items(), key=lambda kv: (kv[0] == "Not scored", kv[0]))),
        measures=tuple(measures),
        qeia=tuple(board),
        qeia_counts=tuple(sorted(qeia_counts.items())),
        programme=tuple(r for r in board if r.project.programme_status == "programme"),
        candidates=tuple(r for r in board if r.project.programme_status == "candidate"),
        exceptions=tuple(exceptions),
        decisions=tuple(decisions),
    )


def html(env: Environment, pack: Pack) -> str:
    """The pack as a standalone HTML document (styles inline, charts as inline SVG)."""
    return env.get_template("pack_document.html").render(pack=pack, title=pack.title)


def pdf(env: Environment, pack: Pack) -> bytes:
    """The pack as PDF, through WeasyPrint."""
    from weasyprint import HTML  # loads pango: only when a PDF is asked for

    document: bytes = HTML(string=html(env, pack)).write_pdf()
    return document


CSV_COLUMNS = (
    "ref",
    "title",
    "state",
    "owner",
    "sponsor",
    "directorate",
    "programme_status",
    "progress_score",
    "next_review",
    "review_overdue",
    "qeia",
    "measure",
    "measure_kind",
    "points",
    "latest",
    "variation",
    "assurance",
)


def _cell(value: Any) -> Any:
    """A text cell a spreadsheet will not run as a formula (OWASP's CSV injection advice)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_text(pack: Pack) -> str:
    """One row per project and key measure (a project without one: one row, measure empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    qeia = {row.project.ref: row.qeia.label for row in pack.qeia}
    measures: dict[str, list[views.Chart]] = {}
    for key in pack.measures:
        measures.setdefault(key.project.ref, []).append(key.chart)
    for stage in pack.stages:
        for row in stage.rows:
            p = row.project
            base: list[Any] = [
                p.ref,
                p.title,
                p.state,
                p.owner or "",
                p.sponsor or "",
                p.directorate or "",
                p.programme_status,
                "" if row.score is None else f"{row.score:g}",
                p.next_review_at.date().isoformat() if p.next_review_at else "",
                "yes" if row.overdue else "no",
                qeia.get(p.ref, ""),
            ]
            charts: list[views.Chart | None] = list(measures.get(p.ref, [])) or [None]
            for chart in charts:
                if chart is None:
                    writer.writerow([_cell(v) for v in [*base, "", "", "", "", "", ""]])
                else:
                    cells = [
                        *base,
                        chart.name,
                        chart.kind,
                        chart.points,
                        "" if chart.latest is None else f"{chart.latest:g}",
                        chart.variation or "",
                        chart.assurance or "",
                    ]
                    writer.writerow([_cell(v) for v in cells])
    return out.getvalue()
