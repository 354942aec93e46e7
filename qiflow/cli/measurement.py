"""``qiflow measure set|rebase|import|spc|chart`` and ``qiflow review score``: measures
as evidence (Making Data Count charts, signals) and suggested IHI progress scores."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from qiflow.cli.context import Context, actor_option, pass_context
from qiflow.cli.output import emit_json, emit_project, json_option, table, when
from qiflow.cli.records import measure, review
from qiflow.exceptions import ValidationError
from qiflow.measurement import Picture, Progress
from qiflow.measurement.drawing import draw
from qiflow.snapshots import to_jsonable

__all__ = ["chart_data", "icons", "measure", "progress_data", "review"]


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def chart_data(chart: Picture) -> dict[str, Any]:
    """A measure's chart as JSON-ready data (undefined limits are null)."""
    result = chart.xmr or chart.run
    points = []
    for point, data in zip(chart.points, result.points if result else (), strict=True):
        row = {k: _finite(v) for k, v in to_jsonable(data).items()}
        points.append({"observed_at": to_jsonable(point.observed_at), "id": point.id, **row})
    found: dict[str, Any] = {
        "measure": chart.measure.name,
        "kind": chart.measure.kind,
        "unit": chart.measure.unit,
        "direction": chart.measure.direction,
        "target": chart.measure.target,
        "primary": chart.measure.primary,
        "chart": chart.chart,
        "variation_icon": chart.variation_icon,
        "assurance_icon": chart.assurance_icon,
        "warnings": list(result.warnings) if result else [],
        "points": points,
    }
    if chart.xmr is not None:
        found["periods"] = [
            {k: _finite(v) for k, v in to_jsonable(period).items()} for period in chart.xmr.periods
        ]
    if chart.run is not None:
        found["median"] = chart.run.median
        found["runs"] = chart.run.runs
    return found


def icons(chart: Picture) -> str:
    """The chart's icons in a few words: ``xmr: improvement_low, fail``."""
    if chart.xmr is None:
        return f"{chart.chart} chart, {len(chart.points)} point(s)"
    return f"xmr: {chart.variation_icon}" + (
        f", assurance {chart.assurance_icon}" if chart.assurance_icon else ""
    )


@measure.command(name="set")
@click.argument("ref")
@click.argument("name")
@click.option("--target", type=float, help="The value aimed at (gives the assurance icon).")
@click.option("--no-target", is_flag=True, help="Remove the target.")
@click.option("--primary", is_flag=True, help="Make this the project's primary outcome measure.")
@click.option(
    "--baseline", "baseline_points", type=click.IntRange(min=12), help="Fix limits on N points."
)
@actor_option
@json_option
@pass_context
def measure_set(
    state: Context,
    /,
    ref: str,
    name: str,
    target: float | None,
    no_target: bool,
    primary: bool,
    baseline_points: int | None,
    actor: str,
    as_json: bool,
) -> None:
    """Set the chart settings of measure NAME of project REF."""
    if target is not None and no_target:
        raise click.UsageError("give --target or --no-target, not both")
    settings: dict[str, Any] = {}
    if target is not None or no_target:
        settings["target"] = target
    if primary:
        settings["primary"] = True
    if baseline_points is not None:
        settings["baseline_points"] = baseline_points
    emit_project(state.engine().configure_measure(ref, name, actor=actor, **settings), as_json)


@measure.command(name="rebase")
@click.argument("ref")
@click.argument("name")
@click.option(
    "--at", required=True, type=click.DateTime(), help="The new period starts at this date."
)
@click.option("--reason", required=True, help="What changed in the process (audited).")
@actor_option
@json_option
@pass_context
def measure_rebase(
    state: Context, /, ref: str, name: str, at: datetime, reason: str, actor: str, as_json: bool
) -> None:
    """Start a new limit period of measure NAME's chart at the first point from --at."""
    emit_project(
        state.engine().rebase_measure(ref, name, at=at, reason=reason, actor=actor), as_json
    )


@measure.command(name="import")
@click.argument("ref")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@actor_option
@json_option
@pass_context
def measure_import(
    state: Context, /, ref: str, name: str, file: Path, actor: str, as_json: bool
) -> None:
    """Import data points of measure NAME from CSV FILE: date,value[,note,cycle].

    One command, all or nothing: a file with a bad row imports nothing and every bad
    row is named.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{file.name}: cannot read it ({exc})") from exc
    emit_project(
        state.engine().import_data_points(ref, name, text, actor=actor, source=file.name), as_json
    )


def _chart_option(func: Any) -> Any:
    return click.option(
        "--xmr/--auto",
        "use_xmr",
        default=None,
        help="An XmR chart even with fewer than 12 points [default: a run chart until 12].",
    )(func)


@measure.command(name="spc")
@click.argument("ref")
@click.argument("name")
@_chart_option
@json_option
@pass_context
def measure_spc(
    state: Context, /, ref: str, name: str, use_xmr: bool | None, as_json: bool
) -> None:
    """Print measure NAME's chart: each point, its lines and rule, and the icons."""
    chart = state.engine().measure_chart(ref, name, use_xmr=use_xmr or None)
    data = chart_data(chart)
    if as_json:
        emit_json(data)
        return
    click.echo(f"{name}: {icons(chart)}")
    for warning in data["warnings"]:
        click.echo(f"warning: {warning}")
    if chart.xmr is not None:
        table(
            ["#", "observed", "value", "mean", "lpl", "upl", "type", "rule"],
            [
                (
                    p.index + 1,
                    when(point.observed_at),
                    f"{p.value:g}",
                    f"{p.mean:.4g}",
                    f"{p.lpl:.4g}",
                    f"{p.upl:.4g}",
                    p.point_type,
                    p.rule,
                )
                for point, p in zip(chart.points, chart.xmr.points, strict=True)
            ],
        )
    elif chart.run is not None:
        table(
            ["#", "observed", "value", "median", "type", "rule"],
            [
                (
                    p.index + 1,
                    when(point.observed_at),
                    f"{p.value:g}",
                    f"{p.median:.4g}",
                    p.point_type,
                    p.rule,
                )
                for point, p in zip(chart.points, chart.run.points, strict=True)
            ],
        )


@measure.command(name="chart")
@click.argument("ref")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.svg or FILE.png.",
)
@_chart_option
@pass_context
def measure_chart(state: Context, /, ref: str, name: str, out: Path, use_xmr: bool | None) -> None:
    """Draw measure NAME's chart (Making Data Count style) to an SVG or PNG file."""
    if out.suffix.lower() not in (".svg", ".png"):
        raise click.BadParameter("the file must end in .svg or .png", param_hint="-o")
    engine = state.engine()
    chart = engine.measure_chart(ref, name, use_xmr=use_xmr or None)
    title = f"{engine.get(ref).ref} {name}"
    click.echo(str(draw(chart, out, title=title, cycle_starts=engine.cycle_starts(ref))))


def progress_data(found: Progress) -> dict[str, Any]:
    suggestion, confirmed = found.suggestion, found.confirmed
    return {
        "suggested": suggestion.score,
        "label": suggestion.label,
        "reasons": list(suggestion.reasons),
        "next": suggestion.next,
        "confirmed": None if confirmed is None else confirmed.score,
        "confirmed_at": None if confirmed is None else to_jsonable(confirmed.confirmed_at),
    }


@review.command(name="score")
@click.argument("ref", required=False)
@json_option
@pass_context
def review_score(state: Context, /, ref: str | None, as_json: bool) -> None:
    """Suggest an IHI progress score for project REF (every project without REF), with
    the reasons; confirm it with `qiflow review record REF --score N`."""
    found = state.engine().progress([ref] if ref else None)
    if as_json:
        emit_json([{"ref": p.project.ref, **progress_data(p)} for p in found])
        return
    if ref:
        data = progress_data(found[0])
        click.echo(f"{ref}: suggested {data['suggested']:.1f} ({data['label']})")
        for reason in data["reasons"]:
            click.echo(f"  - {reason}")
        if data["next"]:
            click.echo(f"  next: {data['next']}")
        confirmed = found[0].confirmed
        click.echo(
            f"  confirmed: {confirmed.score:.1f} at {when(confirmed.confirmed_at)}"
            if confirmed
            else "  confirmed: none yet"
        )
        return
    table(
        ["ref", "state", "suggested", "confirmed", "next"],
        [
            (
                p.project.ref,
                p.project.state,
                f"{p.suggestion.score:.1f}",
                f"{p.confirmed.score:.1f}" if p.confirmed else None,
                p.suggestion.next,
            )
            for p in found
        ],
    )
