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
    "--at",
    "observed_at",
    type=click.DateTime(),
    help="When observed, in the trust's time zone ([sending] timezone) [default: now].",
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
    engine = state.engine()
    emit_project(
        engine.record_data_point(
            ref, name, value, actor=actor, observed_at=state.local(observed_at), note=note
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
        ["measure", "kind", "unit", "better", "points (id=value)", "latest"],
        [
            (
                m.name,
                m.kind,
                m.unit,
                m.direction,
                " ".join(f"{p.id}={p.value:g}" for p in points) or None,
                f"{points[-1].value:g} at {when(points[-1].observed_at)}" if points else None,
            )
            for m, points in found
        ],
    )


reason_option = click.option(
    "--reason", required=True, help="What was wrong (kept in the audit trail)."
)


@measure.command(name="correct")
@click.argument("ref")
@click.argument("name")
@click.option("--name", "new_name", help="The measure's right name.")
@click.option("--kind", type=click.Choice(MEASURE_KINDS))
@click.option("--unit")
@click.option("--direction", type=click.Choice(DIRECTIONS))
@reason_option
@actor_option
@json_option
@pass_context
def measure_correct(
    state: Context,
    /,
    ref: str,
    name: str,
    new_name: str | None,
    kind: str | None,
    unit: str | None,
    direction: str | None,
    reason: str,
    actor: str,
    as_json: bool,
) -> None:
    """Correct measure NAME of project REF (its data points stay with it)."""
    done = state.engine().correct_measure(
        ref,
        name,
        actor=actor,
        reason=reason,
        name=new_name,
        kind=kind,
        unit=unit,
        direction=direction,
    )
    emit_project(done, as_json)


@measure.command(name="void")
@click.argument("ref")
@click.argument("name")
@reason_option
@actor_option
@json_option
@pass_context
def measure_void(
    state: Context, /, ref: str, name: str, reason: str, actor: str, as_json: bool
) -> None:
    """Void measure NAME of project REF, added in error: it then counts nowhere."""
    emit_project(state.engine().void_measure(ref, name, actor=actor, reason=reason), as_json)


@measure.command(name="correct-point")
@click.argument("ref")
@click.argument("point_id", type=int)
@click.option("--value", type=float)
@click.option("--at", "observed_at", type=click.DateTime(), help="In the trust's time zone.")
@click.option("--note")
@reason_option
@actor_option
@json_option
@pass_context
def measure_correct_point(
    state: Context,
    /,
    ref: str,
    point_id: int,
    value: float | None,
    observed_at: datetime | None,
    note: str | None,
    reason: str,
    actor: str,
    as_json: bool,
) -> None:
    """Correct data point POINT_ID of project REF (ids: `qiflow measure list`)."""
    done = state.engine().correct_data_point(
        ref,
        point_id,
        actor=actor,
        reason=reason,
        value=value,
        observed_at=state.local(observed_at),
        note=note,
    )
    emit_project(done, as_json)


@measure.command(name="void-point")
@click.argument("ref")
@click.argument("point_id", type=int)
@reason_option
@actor_option
@json_option
@pass_context
def measure_void_point(
    state: Context, /, ref: str, point_id: int, reason: str, actor: str, as_json: bool
) -> None:
    """Void data point POINT_ID of project REF, recorded in error."""
    done = state.engine().void_data_point(ref, point_id, actor=actor, reason=reason)
    emit_project(done, as_json)


@pdsa.command(name="correct")
@click.argument("ref")
@click.argument("cycle", type=click.IntRange(min=1))
@click.argument("entry")
@click.option("--text", help="The right text; leave it out to void the entry.")
@reason_option
@actor_option
@json_option
@pass_context
def pdsa_correct(
    state: Context,
    /,
    ref: str,
    cycle: int,
    entry: str,
    text: str | None,
    reason: str,
    actor: str,
    as_json: bool,
) -> None:
    """Correct (or, without --text, void) ENTRY of PDSA cycle CYCLE of project REF.

    ENTRY is plan, prediction, study, act (the Act decision: adopt, adapt or abandon) or
    observationN (the Nth observation). A corrected act gives the change ideas the cycle
    tested that status; a voided one puts them back in test and reopens the cycle. The
    project's state does not move: fire the workflow's triggers for that.
    """
    done = state.engine().correct_pdsa(ref, cycle, entry, actor=actor, reason=reason, text=text)
    emit_project(done, as_json)


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
