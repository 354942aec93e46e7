"""How the CLI prints: tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from qiflow.fields import ProjectField
from qiflow.snapshots import Event, PdsaCycle, Project, TriggerOption, to_jsonable

F = TypeVar("F", bound=Callable[..., Any])

json_option: Callable[[F], F] = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text."
)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def emit_project(project: Project, as_json: bool) -> None:
    """A command's result: the project's JSON, or its one-line summary."""
    if as_json:
        emit_json(project)
    else:
        click.echo(project_line(project))


#: The trust's time zone: every date shown to a person is in it (set per command).
_ZONE: list[tzinfo] = [ZoneInfo("Europe/London")]


def use_zone(zone: tzinfo) -> None:
    """Show dates in ``zone`` (the trust's, from ``[sending] timezone``)."""
    _ZONE[0] = zone


def when(value: datetime | None) -> str:
    """A stored instant as people in the trust read it (local date and time)."""
    return value.astimezone(_ZONE[0]).strftime("%Y-%m-%d %H:%M") if value else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) if c is not None else "-" for c in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def project_line(project: Project) -> str:
    return (
        f"{project.ref} v{project.version} {project.state}"
        f"{' (cycle ' + str(project.current_cycle) + ')' if project.current_cycle else ''}"
        f": {project.title}"
    )


def show_project(
    project: Project,
    options: Sequence[TriggerOption],
    declared: Mapping[str, ProjectField] | None = None,
) -> None:
    """The project's fields, its plugin-declared fields (by label), and what may fire."""
    rows: list[tuple[str, object]] = [
        ("ref", project.ref),
        ("id", project.id),
        ("title", project.title),
        ("workflow", f"{project.workflow} v{project.workflow_version}"),
        ("state", project.state),
        ("version", project.version),
        ("owner", project.owner),
        ("sponsor", project.sponsor),
        ("directorate", project.directorate),
        ("team", project.team),
        ("aim", project.aim),
        ("quality objectives", "; ".join(project.quality_objectives) or None),
        ("primary outcome", project.primary_outcome),
        ("secondary outcomes", "; ".join(project.secondary_outcomes) or None),
        (
            "expected saving",
            f"£{project.expected_saving:,}" if project.expected_saving is not None else None,
        ),
        ("scale", project.scale),
        ("programme status", project.programme_status),
        ("lead exec sponsor", project.lead_executive_sponsor),
        ("QI sponsor", project.qi_sponsor),
        ("PDSA cycle", project.current_cycle or None),
        ("learning", project.learning),
        ("next review", when(project.next_review_at)),
        ("updated", when(project.updated_at)),
    ]
    for name, spec in (declared or {}).items():
        value = project.fields.get(name)
        shown = {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value
        rows.append((spec.label or name, shown))
    for label, value in rows:
        click.echo(f"{label + ':':20}{value if value is not None else '-'}")
    click.echo("triggers:")
    for option in options:
        mark = "ok " if option.allowed else "no "
        click.echo(f"  {mark}{option.trigger} -> {option.dest}")
        for reason in option.reasons:
            click.echo(f"       - {reason}")
    if not options:
        click.echo("  none: the project has reached a final state")


def history_rows(events: Sequence[Event]) -> None:
    table(
        ["seq", "v", "at", "actor", "event", "detail"],
        [(e.seq, e.version, when(e.created_at), e.actor, e.type, _detail(e)) for e in events],
    )


def _detail(event: Event) -> str:
    p = event.payload
    if event.type == "project.transitioned":
        return f"{p['trigger']}: {p['from']} -> {p['to']}" + (
            f" (cycle {p['cycle']})" if p.get("cycle") else ""
        )
    if event.type == "project.updated":
        return ", ".join(sorted(p["changes"]))
    if event.type == "project.created":
        return f"{p['ref']} in {p['state']}"
    if event.type == "pdsa.recorded":
        return f"cycle {p['cycle']}: " + ", ".join(k for k in p if k != "cycle")
    return ", ".join(f"{k}={v}" for k, v in p.items() if v is not None)[:60]


def cycle_parts(cycle: PdsaCycle) -> None:
    """A PDSA cycle's plan, prediction and study, one indented line each."""
    for label, text in (
        ("plan", cycle.plan),
        ("prediction", cycle.prediction),
        ("study", cycle.study),
    ):
        if text:
            click.echo(f"  {label}: {text}")
