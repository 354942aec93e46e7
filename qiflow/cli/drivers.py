"""``qiflow driver`` and ``qiflow team``: a project's driver diagram and its team."""

from __future__ import annotations

from pathlib import Path

import click

from qiflow.charter import render, svg
from qiflow.charter.diagram import PRIMARY
from qiflow.charter.outline import FORMATS
from qiflow.charter.results import DiagramChange
from qiflow.charter.team import TEAM_ROLES
from qiflow.cli.context import Context, actor_option, pass_context
from qiflow.cli.output import cycle_parts, emit_json, emit_project, json_option, table, when
from qiflow.exceptions import ValidationError

SHOW_FORMATS = ("text", "mermaid", "svg", "json")


@click.group()
def driver() -> None:
    """Edit and show a project's driver diagram: its theory of change.

    Aim -> primary drivers -> secondary drivers -> change ideas. Nodes keep their ids
    (P1, S1, C1) for life; PDSA cycles name the change ideas they test
    (`qiflow pdsa record REF --tests C1`), and the Act decision sets their status.
    """


def _edited(change: DiagramChange, as_json: bool, what: str) -> None:
    if as_json:
        emit_json(change)
    else:
        click.echo(f"{what} ({change.project.ref} v{change.project.version})")


@driver.command(name="add")
@click.argument("ref")
@click.option("--primary", "primary", metavar="TITLE", help="Add a primary driver (under the aim).")
@click.option("--secondary", metavar="TITLE", help="Add a secondary driver --under a primary one.")
@click.option("--idea", metavar="TITLE", help="Add a change idea --under one or more drivers.")
@click.option("--under", metavar="ID[,ID...]", help="The driver(s) it sits under, e.g. S1,P2.")
@click.option(
    "--measure",
    "measures",
    multiple=True,
    metavar="NAME",
    help="A measure of the project it should move (repeatable).",
)
@actor_option
@json_option
@pass_context
def driver_add(
    state: Context,
    /,
    ref: str,
    primary: str | None,
    secondary: str | None,
    idea: str | None,
    under: str | None,
    measures: tuple[str, ...],
    actor: str,
    as_json: bool,
) -> None:
    """Add a node to the driver diagram of project REF."""
    given = [
        (k, t)
        for k, t in (("primary", primary), ("secondary", secondary), ("idea", idea))
        if t is not None
    ]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --primary, --secondary or --idea")
    kind, title = given[0]
    if kind == PRIMARY and under:
        raise click.UsageError("a primary driver sits under the aim: leave out --under")
    if kind != PRIMARY and not under:
        raise click.UsageError(f"--{kind} needs --under ID (the driver it sits under)")
    change = state.engine().add_driver(
        ref, title, kind=kind, under=under or (), measures=measures, actor=actor
    )
    [node] = change.nodes
    parents = change.diagram.node(node).parents
    _edited(change, as_json, f"{node} added under {', '.join(parents) or 'the aim'}")


@driver.command(name="move")
@click.argument("ref")
@click.argument("node_id", metavar="ID")
@click.option("--under", required=True, metavar="ID[,ID...]", help="The driver(s) to sit under.")
@actor_option
@json_option
@pass_context
def driver_move(
    state: Context, /, ref: str, node_id: str, under: str, actor: str, as_json: bool
) -> None:
    """Put secondary driver or change idea ID of project REF under other drivers."""
    change = state.engine().move_driver(ref, node_id, under=under, actor=actor)
    node = change.diagram.node(node_id)
    _edited(change, as_json, f"{node.id} moved under {', '.join(node.parents)}")


@driver.command(name="rename")
@click.argument("ref")
@click.argument("node_id", metavar="ID")
@click.argument("title")
@actor_option
@json_option
@pass_context
def driver_rename(
    state: Context, /, ref: str, node_id: str, title: str, actor: str, as_json: bool
) -> None:
    """Give node ID of project REF a new TITLE (its id stays)."""
    change = state.engine().rename_driver(ref, node_id, title, actor=actor)
    node = change.diagram.node(node_id)
    _edited(change, as_json, f"{node.id} renamed {node.title!r}")


@driver.command(name="remove")
@click.argument("ref")
@click.argument("node_id", metavar="ID")
@actor_option
@json_option
@pass_context
def driver_remove(state: Context, /, ref: str, node_id: str, actor: str, as_json: bool) -> None:
    """Remove node ID from project REF's diagram (refused while anything sits only under it).

    Its id is never given again, and a change idea keeps its history of PDSA cycles.
    """
    change = state.engine().remove_driver(ref, node_id, actor=actor)
    _edited(change, as_json, f"{change.nodes[0]} removed")


@driver.command(name="show")
@click.argument("ref")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(SHOW_FORMATS),
    default="text",
    show_default=True,
    help="mermaid: a flowchart LR for Mermaid; svg: drawn here, no browser needed "
    "(for Mermaid's own drawing, pipe --format mermaid to mermaid-cli's mmdc).",
)
@json_option
@pass_context
def driver_show(state: Context, /, ref: str, fmt: str, as_json: bool) -> None:
    """Show the driver diagram of project REF, each node with its status."""
    engine = state.engine()
    aim = engine.get(ref).aim
    diagram = engine.driver_diagram(ref)
    if as_json or fmt == "json":
        emit_json(render.to_data(diagram, aim))
    elif fmt == "mermaid":
        click.echo(render.to_mermaid(diagram, aim), nl=False)
    elif fmt == "svg":
        click.echo(svg.to_svg(diagram, aim), nl=False)
    else:
        click.echo(render.to_text(diagram, aim), nl=False)


@driver.command(name="import")
@click.argument("ref")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="[default: from the suffix]")
@actor_option
@json_option
@pass_context
def driver_import(
    state: Context, /, ref: str, path: Path, fmt: str | None, actor: str, as_json: bool
) -> None:
    """Add the nodes of an outline (CSV or TOML) to project REF's diagram, all or nothing.

    CSV columns: primary, secondary, idea, measures (names separated by ;); each row
    a path from the aim. Titles already in the diagram name those nodes. Every bad row
    is named and nothing is imported while one is bad.
    """
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValidationError(f"{path}: use a .csv or .toml file (or --format)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from exc
    change = state.engine().import_drivers(ref, text, format=fmt, source=str(path), actor=actor)
    _edited(change, as_json, f"imported {len(change.nodes)} nodes: {', '.join(change.nodes)}")


@driver.command(name="history")
@click.argument("ref")
@click.argument("idea")
@json_option
@pass_context
def driver_history(state: Context, /, ref: str, idea: str, as_json: bool) -> None:
    """Show change idea IDEA of project REF: the PDSA cycles that tested it, and its events."""
    found = state.engine().idea_history(ref, idea)
    if as_json:
        emit_json(found)
        return
    node = found.idea
    click.echo(
        f"{node.id} {node.title} [{node.status}]"
        + (" (removed)" if found.removed else f", under {', '.join(node.parents)}")
    )
    if node.measures:
        click.echo(f"measures: {'; '.join(node.measures)}")
    for cycle in found.cycles:
        click.echo(f"cycle {cycle.number} ({cycle.act or 'no Act decision yet'})")
        cycle_parts(cycle)
    if not found.cycles:
        click.echo("no PDSA cycle has tested it yet")
    table(
        ["v", "at", "actor", "event", "detail"],
        [
            (
                e.version,
                when(e.created_at),
                e.actor,
                e.type,
                ", ".join(f"{k}={v}" for k, v in e.payload.items() if k != "id"),
            )
            for e in found.events
        ],
    )


@click.group()
def team() -> None:
    """A project's team: people (by id) and their roles in it."""


@team.command(name="add")
@click.argument("ref")
@click.argument("person")
@click.option("--role", type=click.Choice(TEAM_ROLES), required=True)
@actor_option
@json_option
@pass_context
def team_add(
    state: Context, /, ref: str, person: str, role: str, actor: str, as_json: bool
) -> None:
    """Add PERSON (an id) to project REF's team with ROLE."""
    emit_project(state.engine().add_team_member(ref, person, role=role, actor=actor), as_json)


@team.command(name="remove")
@click.argument("ref")
@click.argument("person")
@click.option("--role", type=click.Choice(TEAM_ROLES), help="Only this role [default: every role].")
@actor_option
@json_option
@pass_context
def team_remove(
    state: Context, /, ref: str, person: str, role: str | None, actor: str, as_json: bool
) -> None:
    """Take PERSON out of project REF's team (one role, or all they hold)."""
    emit_project(state.engine().remove_team_member(ref, person, role=role, actor=actor), as_json)


@team.command(name="list")
@click.argument("ref")
@json_option
@pass_context
def team_list(state: Context, /, ref: str, as_json: bool) -> None:
    """List project REF's team."""
    members = state.engine().team(ref)
    if as_json:
        emit_json(list(members))
    else:
        table(["person", "role"], [(m.person, m.role) for m in members])
