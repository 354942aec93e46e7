"""``qiflow risk``: each project's risk register, and the trust's view across the portfolio."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from qiflow.cli.context import Context, actor_option, pass_context
from qiflow.cli.output import emit_json, emit_project, json_option, table
from qiflow.engine import Engine
from qiflow.exceptions import ValidationError
from qiflow.risks.heatmap import render
from qiflow.risks.policy import BANDS
from qiflow.risks.register import STATUSES, Risk
from qiflow.snapshots import to_jsonable

DAY = click.DateTime(formats=["%Y-%m-%d"])
RATING = click.IntRange(1, 5)


def risk_json(risk: Risk) -> dict[str, Any]:
    return {**to_jsonable(risk), "score": risk.score}


def risk_line(risk: Risk) -> str:
    state = "" if risk.status == "open" else f" [{risk.status}]"
    return (
        f"{risk.project} {risk.id} {risk.band} {risk.score} "
        f"(consequence {risk.consequence} x likelihood {risk.likelihood}){state}, "
        f"owner {risk.owner}, review by {risk.review_by.isoformat()}: {risk.description}"
    )


def emit_risks(risks: Sequence[Risk], as_json: bool) -> None:
    if as_json:
        emit_json([risk_json(r) for r in risks])
        return
    for risk in risks:
        click.echo(risk_line(risk))


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@click.group()
def risk() -> None:
    """Keep each project's risk register (5 x 5 matrix: consequence x likelihood, 1-5 each)."""


@risk.command(name="add")
@click.argument("ref")
@click.argument("description")
@click.option("--category", required=True, help="One of the workflow's [risks] categories.")
@click.option("--owner", required=True, help="The risk owner's person id.")
@click.option("--consequence", type=RATING, required=True, help="1 negligible ... 5 catastrophic.")
@click.option("--likelihood", type=RATING, required=True, help="1 rare ... 5 almost certain.")
@click.option("--target", type=click.IntRange(1, 25), help="The score the actions aim for.")
@click.option("--controls", default="", help="Controls already in place.")
@click.option("--review-by", type=DAY, help="First review date [default: by the band's cadence].")
@actor_option
@json_option
@pass_context
def risk_add(
    state: Context,
    /,
    ref: str,
    description: str,
    category: str,
    owner: str,
    consequence: int,
    likelihood: int,
    target: int | None,
    controls: str,
    review_by: datetime | None,
    actor: str,
    as_json: bool,
) -> None:
    """Add a risk to project REF's register."""
    added = state.engine().add_risk(
        ref,
        description,
        category=category,
        owner=owner,
        consequence=consequence,
        likelihood=likelihood,
        target=target,
        controls=controls,
        review_by=_day(review_by),
        actor=actor,
    )
    emit_risks([added], as_json)


@risk.command(name="update")
@click.argument("ref")
@click.argument("risk_id", metavar="RISK")
@click.option("--description")
@click.option("--category")
@click.option("--owner")
@click.option("--target", type=click.IntRange(1, 25))
@click.option("--controls")
@click.option("--review-by", type=DAY)
@actor_option
@json_option
@pass_context
def risk_update(
    state: Context,
    /,
    ref: str,
    risk_id: str,
    description: str | None,
    category: str | None,
    owner: str | None,
    target: int | None,
    controls: str | None,
    review_by: datetime | None,
    actor: str,
    as_json: bool,
) -> None:
    """Change RISK's fields (its scores change only by a review)."""
    changed = state.engine().update_risk(
        ref,
        risk_id,
        actor=actor,
        description=description,
        category=category,
        owner=owner,
        target=target,
        controls=controls,
        review_by=_day(review_by),
    )
    emit_risks([changed], as_json)


@risk.command(name="review")
@click.argument("ref")
@click.argument("risk_id", metavar="RISK")
@click.option("--consequence", type=RATING, required=True)
@click.option("--likelihood", type=RATING, required=True)
@click.option("--note", help="What the review found.")
@actor_option
@json_option
@pass_context
def risk_review(
    state: Context,
    /,
    ref: str,
    risk_id: str,
    consequence: int,
    likelihood: int,
    note: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Record a review of RISK: its scores now; the next review follows from its band."""
    reviewed = state.engine().review_risk(
        ref, risk_id, consequence=consequence, likelihood=likelihood, note=note, actor=actor
    )
    emit_risks([reviewed], as_json)


@risk.command(name="action")
@click.argument("ref")
@click.argument("risk_id", metavar="RISK")
@click.argument("text", required=False)
@click.option("--owner", help="Who will do it (a person id).")
@click.option("--due", type=DAY, help="When it is due (YYYY-MM-DD).")
@click.option("--done", "done", metavar="ACTION", help="Mark action ACTION (A1 ...) done instead.")
@actor_option
@json_option
@pass_context
def risk_action(
    state: Context,
    /,
    ref: str,
    risk_id: str,
    text: str | None,
    owner: str | None,
    due: datetime | None,
    done: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Add an action TEXT to RISK (with --owner and --due), or mark one --done."""
    engine = state.engine()
    if done is not None:
        if text or owner or due:
            raise click.UsageError("--done takes no TEXT, --owner or --due")
        changed = engine.complete_risk_action(ref, risk_id, done, actor=actor)
    else:
        if not text or owner is None or due is None:
            raise click.UsageError("an action needs TEXT, --owner and --due (or use --done)")
        changed = engine.add_risk_action(
            ref, risk_id, text, owner=owner, due=due.date(), actor=actor
        )
    emit_risks([changed], as_json)


@risk.command(name="tolerate")
@click.argument("ref")
@click.argument("risk_id", metavar="RISK")
@click.option("--reason", required=True, help="Why the risk is accepted at its level.")
@actor_option
@json_option
@pass_context
def risk_tolerate(
    state: Context, /, ref: str, risk_id: str, reason: str, actor: str, as_json: bool
) -> None:
    """Tolerate RISK: accept it at its level (it stays on the register and is reviewed)."""
    emit_risks([state.engine().tolerate_risk(ref, risk_id, reason=reason, actor=actor)], as_json)


@risk.command(name="close")
@click.argument("ref")
@click.argument("risk_id", metavar="RISK")
@click.option("--reason", required=True, help="Why the risk is closed.")
@actor_option
@json_option
@pass_context
def risk_close(
    state: Context, /, ref: str, risk_id: str, reason: str, actor: str, as_json: bool
) -> None:
    """Close RISK, with a reason (it is kept on the register, closed)."""
    emit_risks([state.engine().close_risk(ref, risk_id, reason=reason, actor=actor)], as_json)


@risk.command(name="none")
@click.argument("ref")
@click.option("--note", help="Why the project carries no significant risks.")
@actor_option
@json_option
@pass_context
def risk_none(state: Context, /, ref: str, note: str | None, actor: str, as_json: bool) -> None:
    """Declare, as project REF's owner, that it carries no significant risks."""
    emit_project(state.engine().declare_no_significant_risks(ref, note=note, actor=actor), as_json)


@risk.command(name="import")
@click.argument("ref")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@actor_option
@json_option
@pass_context
def risk_import(state: Context, /, ref: str, file: Path, actor: str, as_json: bool) -> None:
    """Import a CSV risk log into REF's register, all or nothing (every bad row named).

    Columns: description, category, owner, consequence, likelihood, and optionally
    target, controls, review_by (YYYY-MM-DD). The first row names them.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {file}: {exc}") from exc
    emit_risks(state.engine().import_risks(ref, text, actor=actor, source=str(file)), as_json)


def _filters(
    engine: Engine,
    project: str | None,
    band: str | None,
    owner: str | None,
    directorate: str | None,
    overdue: bool,
    status: tuple[str, ...],
) -> list[Risk]:
    return engine.risk_register(
        project=project,
        band=band,
        owner=owner,
        directorate=directorate,
        overdue=overdue,
        statuses=status or None,
    )


def _filter_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--project", "project", metavar="REF", help="One project's risks."),
            click.option("--band", type=click.Choice(BANDS)),
            click.option("--owner", help="Risks owned by this person id."),
            click.option("--directorate", help="Risks of this directorate's projects."),
            click.option(
                "--overdue", is_flag=True, help="Only risks whose review date has passed."
            ),
            click.option(
                "--status",
                type=click.Choice(STATUSES),
                multiple=True,
                help="Statuses to list (repeatable) [default: open and tolerated].",
            ),
        ]
    ):
        command = option(command)
    return command


@risk.command(name="list")
@_filter_options
@json_option
@pass_context
def risk_list(
    state: Context,
    /,
    project: str | None,
    band: str | None,
    owner: str | None,
    directorate: str | None,
    overdue: bool,
    status: tuple[str, ...],
    as_json: bool,
) -> None:
    """The risk register across the portfolio, highest score first."""
    found = _filters(state.engine(), project, band, owner, directorate, overdue, status)
    if as_json:
        emit_json([risk_json(r) for r in found])
        return
    table(
        [
            "project",
            "risk",
            "band",
            "score",
            "c x l",
            "status",
            "owner",
            "review by",
            "description",
        ],
        [
            (
                r.project,
                r.id,
                r.band,
                r.score,
                f"{r.consequence} x {r.likelihood}",
                r.status,
                r.owner,
                r.review_by.isoformat(),
                r.description[:60],
            )
            for r in found
        ],
    )


@risk.command(name="show")
@click.argument("ref")
@json_option
@pass_context
def risk_show(state: Context, /, ref: str, as_json: bool) -> None:
    """Project REF's whole register (closed risks too), with each risk's actions."""
    found = state.engine().risks(ref)
    if as_json:
        emit_json([risk_json(r) for r in found])
        return
    if not found:
        click.echo(f"{ref}: no risks recorded")
    for r in found:
        click.echo(risk_line(r))
        if r.controls:
            click.echo(f"    controls: {r.controls}")
        if r.target is not None:
            click.echo(f"    target score: {r.target}")
        if r.reason:
            click.echo(f"    {r.status}: {r.reason}")
        for a in r.actions:
            done = f"done {a.done_at:%Y-%m-%d}" if a.done_at else f"due {a.due.isoformat()}"
            click.echo(f"    {a.id} {done}, {a.owner}: {a.text}")


@risk.command(name="heatmap")
@_filter_options
@json_option
@pass_context
def risk_heatmap(
    state: Context,
    /,
    project: str | None,
    band: str | None,
    owner: str | None,
    directorate: str | None,
    overdue: bool,
    status: tuple[str, ...],
    as_json: bool,
) -> None:
    """The 5 x 5 heat map of live risks: the portfolio's, or --project REF's."""
    engine = state.engine()
    found = _filters(engine, project, band, owner, directorate, overdue, status)
    policy = engine.risk_policy(project)
    heat = engine.risk_heat_map(found, policy)
    if as_json:
        emit_json({"total": heat.total, "cells": heat.as_json()})
    else:
        click.echo(render(heat, policy))
