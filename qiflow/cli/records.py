"""``qiflow pdsa``, ``qiflow measure`` and ``qiflow review``: what a project records."""

from __future__ import annotations

from datetime import datetime

import click

from qiflow.cli.context import Context, actor_option, pass_context
from qiflow.cli.output import emit_json, emit_project, json_option, project_line, table, when
from qiflow.snapshots import DIRECTIONS, MEASURE_KINDS


@click.group()
def pdsa() -> None:
    """Record Plan-Do-Study-Act cycles."""


@pdsa.command(name="record")
@click.argument("ref")
@click.option("--cycle", type=click.IntRange(min=1), help="Cycle number [default: current].")
@click.option("--plan", help="What will be tried, by whom, when.")
@click.option("--prediction", help="What we expect to happen.")
@click.option("--observation", help="A Do observation (appended).")
@click.option("--study", help="What happened, compared with the prediction.")
@click.option(
    "--tests",
    metavar="IDEA_ID[,IDEA_ID...]",
    help="The change idea(s) the cycle tests (driver diagram ids, e.g. C1); now being tested.",
)
@actor_option
@json_option
@pass_context
def pdsa_record(
    state: Context,
    /,
    ref: str,
    cycle: int | None,
    plan: str | None,
    prediction: str | None,
    observation: str | None,
    study: str | None,
    tests: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Record part of the current PDSA cycle of project REF.

    The Act decision that closes a cycle (fire adopt, adapt or abandon) gives the
    change ideas it tests that status.
    """
    emit_project(
        state.engine().record_pdsa(
            ref,
            actor=actor,
            cycle=cycle,
            plan=plan,
            prediction=prediction,
            observation=observation,
            study=study,
            tests=tests,
        ),
        as_json,
    )


@click.group()
def measure() -> None:
    """Define measures and record their data points."""


@measure.command(name="add")
@click.argument("ref")
@click.argument("name")
@click.option("--kind", type=click.Choice(MEASURE_KINDS), required=True)
@click.option("--unit", required=True, help="e.g. %, days, count.")
@click.option(
    "--direction",
    type=click.Choice(DIRECTIONS),
    required=True,
    help="Which way is an improvement (neutral: none).",
)
@click.option("--target", type=float, help="The value aimed at (gives the assurance icon).")
@click.option("--primary", is_flag=True, help="The project's primary outcome measure.")
@click.option(
    "--baseline",
    "baseline_points",
    type=click.IntRange(min=12),
    help="Fix the chart's limits on the first N points (N >= 12).",
)
@actor_option
@json_option
@pass_context
def measure_add(
    state: Context,
    /,
    ref: str,
    name: str,
    kind: str,
    unit: str,
    direction: str,
    target: float | None,
    primary: bool,
    baseline_points: int | None,
    actor: str,
    as_json: bool,
) -> None:
    """Add measure NAME to project REF."""
    emit_project(
        state.engine().add_measure(
            ref,
            name,
            kind=kind,
            unit=unit,
            direction=direction,
            target=target,
            primary=primary,
            baseline_points=baseline_points,
            actor=actor,
        ),
        as_json,
    )


@measure.command(name="record")
@click.argument("ref")
@click.argument("name")
@click.argument("value", type=float)
@click.option(
    "--at", "observed_at", type=click.DateTime(), help="When observed (UTC) [default: now]."
)
@click.option("--note")
@actor_option
@json_option
@pass_context
def measure_record(
    state: Context,
    /,
    ref: str,
    name: str,
    value: float,
    observed_at: datetime | None,
    note: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Record VALUE for measure NAME of project REF."""
    emit_project(
        state.engine().record_data_point(
            ref, name, value, actor=actor, observed_at=observed_at, note=note
        ),
        as_json,
    )


@measure.command(name="list")
@click.argument("ref")
@json_option
@pass_context
def measure_list(state: Context, /, ref: str, as_json: bool) -> None:
    """List the measures of project REF with their data points."""
    engine = state.engine()
    found = [(m, engine.data_points(ref, m.name)) for m in engine.measures(ref)]
    if as_json:
        emit_json([{"measure": m, "data_points": points} for m, points in found])
        return
    table(
        ["measure", "kind", "unit", "better", "points", "latest"],
        [
            (
                m.name,
                m.kind,
                m.unit,
                m.direction,
                len(points),
                f"{points[-1].value:g} at {when(points[-1].observed_at)}" if points else None,
            )
            for m, points in found
        ],
    )


@click.group()
def review() -> None:
    """Record project reviews."""


@review.command(name="record")
@click.argument("ref")
@click.option("--notes")
@click.option("--score", "progress_score", type=float, help="IHI progress score, 0.5 to 5.0.")
@actor_option
@json_option
@pass_context
def review_record(
    state: Context,
    /,
    ref: str,
    notes: str | None,
    progress_score: float | None,
    actor: str,
    as_json: bool,
) -> None:
    """Record a review of project REF; sets its next review date."""
    done = state.engine().record_review(
        ref, actor=actor, notes=notes, progress_score=progress_score
    )
    if as_json:
        emit_json(done)
    else:
        click.echo(f"{project_line(done)}; next review {when(done.next_review_at)}")
