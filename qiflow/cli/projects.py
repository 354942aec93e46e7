"""``qiflow project``: create, change, fire, list and read projects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from qiflow.charter import render
from qiflow.cli.context import Context, actor_option, pass_context
from qiflow.cli.measurement import icons, progress_data
from qiflow.cli.output import (
    cycle_parts,
    emit_json,
    emit_project,
    history_rows,
    json_option,
    show_project,
    table,
    when,
)
from qiflow.engine import Engine
from qiflow.limits import MAX_SAVING
from qiflow.snapshots import SCALES

F = TypeVar("F", bound=Callable[..., Any])


def field_options(function: F) -> F:
    """The editable project fields as options (shared by create and update)."""
    options = [
        click.option("--owner", help="The project lead (a person's id)."),
        click.option("--sponsor", help="The sponsor (a person's id)."),
        click.option("--directorate"),
        click.option("--team"),
        click.option("--aim", help="What are we trying to accomplish?"),
        click.option(
            "--quality-objective",
            "quality_objectives",
            multiple=True,
            help="A quality objective; repeat for several.",
        ),
        click.option("--primary-outcome"),
        click.option(
            "--secondary-outcome",
            "secondary_outcomes",
            multiple=True,
            help="A secondary outcome; repeat for several.",
        ),
        click.option(
            "--expected-saving",
            type=click.IntRange(min=0, max=MAX_SAVING),
            help="Expected financial saving, in whole pounds.",
        ),
        click.option("--scale", type=click.Choice(SCALES)),
        click.option("--learning", help="What the project learned (required to abandon)."),
        click.option("--lead-executive-sponsor", help="For programme projects (a person's id)."),
        click.option("--qi-sponsor", help="For programme projects (a person's id)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in values.items()
        if v is not None and v != ()
    }


@click.group()
def project() -> None:
    """Create, change, move and read QI projects."""


plugin_field_option = click.option(
    "--field",
    "field_items",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a project field a plugin declares (repeatable; NAME= clears it). "
    "`qiflow project fields` lists them.",
)


def _plugin_fields(engine: Engine, items: tuple[str, ...]) -> dict[str, Any]:
    """``--field NAME=VALUE`` items read as the fields plugins declare them."""
    declared = engine.project_fields
    extra: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--field {item!r}: write NAME=VALUE")
        spec = declared.get(name.strip())
        if spec is None:
            known = ", ".join(sorted(declared)) or "none are declared"
            raise click.UsageError(f"--field {name.strip()!r}: no such field ({known})")
        extra[spec.name] = spec.parse(text)
    return extra


@project.command()
@click.argument("title")
@field_options
@click.option("--workflow", default="qi_project", show_default=True)
@click.option("--idempotency-key", help="Repeat-safe key: a retry with it creates nothing new.")
@plugin_field_option
@actor_option
@json_option
@pass_context
def create(
    state: Context,
    /,
    title: str,
    workflow: str,
    idempotency_key: str | None,
    field_items: tuple[str, ...],
    actor: str,
    as_json: bool,
    **fields: Any,
) -> None:
    """Create a project titled TITLE in its workflow's first state."""
    engine = state.engine()
    created = engine.create_project(
        title,
        actor=actor,
        workflow=workflow,
        idempotency_key=idempotency_key,
        fields=_plugin_fields(engine, field_items) or None,
        **_given(fields),
    )
    emit_project(created, as_json)


@project.command()
@click.argument("ref")
@click.option("--title")
@field_options
@click.option(
    "--expected-version",
    type=int,
    help="Refuse if the project is not at this version (optimistic locking).",
)
@plugin_field_option
@actor_option
@json_option
@pass_context
def update(
    state: Context,
    /,
    ref: str,
    expected_version: int | None,
    field_items: tuple[str, ...],
    actor: str,
    as_json: bool,
    **fields: Any,
) -> None:
    """Change fields of project REF."""
    values = _given(fields)
    if not values and not field_items:
        raise click.UsageError("give at least one field to change, e.g. --sponsor ID")
    engine = state.engine()
    extra = _plugin_fields(engine, field_items)
    emit_project(
        engine.update_project(
            ref,
            actor=actor,
            expected_version=expected_version,
            fields=extra or None,
            **values,
        ),
        as_json,
    )


@project.command(name="fields")
@json_option
@pass_context
def fields_command(state: Context, /, as_json: bool) -> None:
    """List the project fields plugins declare: name, type, allowed values, label, help."""
    declared = state.engine().project_fields.values()
    if as_json:
        emit_json(
            [
                {"name": f.name, "type": f.type, "choices": list(f.choices),
                 "label": f.label, "help": f.help}
                for f in declared
            ]
        )  # fmt: skip
        return
    table(
        ["name", "type", "allowed", "label", "help"],
        [(f.name, f.type, ", ".join(map(str, f.choices)) or None, f.label, f.help)
         for f in declared],
    )  # fmt: skip


@project.command()
@click.argument("ref")
@click.argument("trigger")
@click.option(
    "--expected-version",
    type=int,
    help="Refuse if the project is not at this version (optimistic locking).",
)
@click.option(
    "--data",
    "data_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra data for the event (repeatable); editable fields such as "
    "learning=... are applied first.",
)
@click.option("--learning", help="Record the learning in the same step (for abandon).")
@click.option("--idempotency-key", help="Repeat-safe key: a retry with it changes nothing.")
@actor_option
@json_option
@pass_context
def fire(
    state: Context,
    /,
    ref: str,
    trigger: str,
    expected_version: int | None,
    data_items: tuple[str, ...],
    learning: str | None,
    idempotency_key: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Fire TRIGGER on project REF (see `qiflow project show REF` for what may fire)."""
    data: dict[str, Any] = {}
    for item in data_items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--data")
        data[key] = value
    if learning:
        data["learning"] = learning
    emit_project(
        state.engine().fire(
            ref,
            trigger,
            actor=actor,
            expected_version=expected_version,
            data=data,
            idempotency_key=idempotency_key,
        ),
        as_json,
    )


@project.command(name="list")
@click.option("--state", "state_name", help="Only projects in this state.")
@click.option("--owner")
@click.option("--directorate")
@click.option("--workflow")
@click.option("--overdue", is_flag=True, help="Only projects whose review date has passed.")
@click.option(
    "--programme",
    "programme",
    flag_value="programme",
    default=None,
    help="Only programme projects (for the Transformation Programme Board).",
)
@click.option(
    "--candidates",
    "programme",
    flag_value="candidate",
    help="Only candidates for programme status.",
)
@click.option("--limit", type=click.IntRange(min=1))
@click.option("--withdrawn", is_flag=True, help="Include projects withdrawn as created in error.")
@json_option
@pass_context
def list_(
    state: Context,
    /,
    state_name: str | None,
    owner: str | None,
    directorate: str | None,
    workflow: str | None,
    overdue: bool,
    programme: str | None,
    limit: int | None,
    withdrawn: bool,
    as_json: bool,
) -> None:
    """List projects, oldest first."""
    found = state.engine().projects(
        state=state_name,
        owner=owner,
        directorate=directorate,
        workflow=workflow,
        overdue=overdue,
        programme=programme,
        limit=limit,
        withdrawn=withdrawn,
    )
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no projects match")
        return
    table(
        ["ref", "state", "v", "owner", "directorate", "next review", "title"],
        [
            (
                p.ref,
                p.state,
                p.version,
                p.owner,
                p.directorate,
                when(p.next_review_at),
                p.title[:50],
            )
            for p in found
        ],
    )


@project.command()
@click.argument("ref")
@click.option("--as", "viewer", help="Check the triggers' roles for this actor.")
@json_option
@pass_context
def show(state: Context, /, ref: str, viewer: str | None, as_json: bool) -> None:
    """Show project REF, its PDSA cycles and measures, what may fire next, and its charter.

    The charter: aim, scope, quality objectives, measures, team and driver diagram.
    """
    engine = state.engine()
    found = engine.get(ref)
    options = engine.available_triggers(ref, viewer)
    cycles = engine.cycles(ref)
    charter = engine.charter(ref)
    measures = list(charter.measures)
    progress = engine.progress([ref])[0]
    charts = {chart.measure.name: chart for chart in progress.charts}
    if as_json:
        emit_json(
            {
                "project": found,
                "triggers": options,
                "cycles": cycles,
                "measures": measures,
                "charts": [
                    {
                        "measure": name,
                        "chart": chart.chart,
                        "points": len(chart.points),
                        "variation_icon": chart.variation_icon,
                        "assurance_icon": chart.assurance_icon,
                    }
                    for name, chart in charts.items()
                ],
                "progress_score": progress_data(progress),
                "team": list(charter.team),
                "driver_diagram": render.to_data(charter.diagram, found.aim),
            }
        )
        return
    show_project(found, options, engine.project_fields)
    for cycle in cycles:
        tests = f"; tests {', '.join(cycle.tests)}" if cycle.tests else ""
        click.echo(f"PDSA cycle {cycle.number}: act={cycle.act or '-'}{tests}")
        cycle_parts(cycle)
        for note in cycle.observations:
            click.echo(f"  do: {note}")
    for m in measures:
        primary = ", primary" if m.primary else ""
        target = f", target {m.target:g}" if m.target is not None else ""
        chart = f"; {icons(charts[m.name])}" if m.name in charts else ""
        click.echo(
            f"measure: {m.name} ({m.kind}{primary}, {m.unit}, {m.direction} is better"
            f"{target}){chart}"
        )
    suggestion = progress.suggestion
    confirmed = progress.confirmed
    click.echo(
        f"progress score: suggested {suggestion.score:.1f} ({suggestion.label}); confirmed "
        + (f"{confirmed.score:.1f} at {when(confirmed.confirmed_at)}" if confirmed else "none")
    )
    click.echo(render.charter_text(charter), nl=False)


@project.command()
@click.argument("ref")
@json_option
@pass_context
def history(state: Context, /, ref: str, as_json: bool) -> None:
    """Show the audit trail of project REF."""
    events = state.engine().history(ref)
    if as_json:
        emit_json(events)
    else:
        history_rows(events)


@project.command()
@click.argument("ref")
@click.option("--to-version", type=int, required=True, help="The workflow version to move to.")
@click.option("--expected-version", type=int)
@actor_option
@json_option
@pass_context
def migrate(
    state: Context,
    /,
    ref: str,
    to_version: int,
    expected_version: int | None,
    actor: str,
    as_json: bool,
) -> None:
    """Move project REF to another version of its workflow."""
    emit_project(
        state.engine().migrate_project(
            ref, to_version, actor=actor, expected_version=expected_version
        ),
        as_json,
    )


@project.command()
@click.argument("ref")
@actor_option
@json_option
@pass_context
def escalate(state: Context, /, ref: str, actor: str, as_json: bool) -> None:
    """Nominate project REF for programme status (transformation team).

    A candidate is granted programme status once it has a lead executive sponsor, a QI
    sponsor and a stage 2 QEIA signed off by both directors.
    """
    emit_project(state.engine().escalate(ref, actor=actor), as_json)


@project.command()
@click.argument("ref")
@click.option("--reason", required=True, help="Why it no longer needs programme oversight.")
@actor_option
@json_option
@pass_context
def deescalate(state: Context, /, ref: str, reason: str, actor: str, as_json: bool) -> None:
    """Remove candidate or programme status from project REF (transformation team)."""
    emit_project(state.engine().deescalate(ref, actor=actor, reason=reason), as_json)


@project.command()
@click.argument("ref")
@click.option("--reason", required=True, help="Why it was created in error.")
@actor_option
@json_option
@pass_context
def withdraw(state: Context, /, ref: str, reason: str, actor: str, as_json: bool) -> None:
    """Withdraw project REF, created in error: final, and counted nowhere (its history stays)."""
    emit_project(state.engine().withdraw_project(ref, actor=actor, reason=reason), as_json)
