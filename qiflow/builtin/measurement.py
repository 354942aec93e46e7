"""Requirements on a project's measures (``improvement_shown``, ``improvement_sustained``)
and the ``[measurement]`` table of a workflow file that configures them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qiflow.durations import parse_duration
from qiflow.lifecycle.requirements import GuardContext, Requirement
from qiflow.measurement import (
    DEFAULT_SUSTAIN_POINTS,
    Picture,
    improvement_shown,
    improvement_sustained,
    picture,
)
from qiflow.plugins import hookimpl
from qiflow.workflow.loader import TableCheck

#: The ``[measurement]`` keys: points an improvement must hold for; how old a confirmed
#: progress score may be before its owner is reminded.
MEASUREMENT_KEYS = {"sustain_points", "score_stale_after"}


def check_measurement_config(config: Mapping[str, Any]) -> list[str]:
    problems = [
        f"unknown key {k!r}; expected one of {', '.join(sorted(MEASUREMENT_KEYS))}"
        for k in config
        if k not in MEASUREMENT_KEYS
    ]
    points = config.get("sustain_points", DEFAULT_SUSTAIN_POINTS)
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        problems.append(f"sustain_points must be a positive integer, not {points!r}")
    if "score_stale_after" in config:
        try:
            parse_duration(str(config["score_stale_after"]))
        except ValueError as exc:
            problems.append(f"score_stale_after: {exc}")
    return problems


def sustain_points(config: Mapping[str, Any]) -> int:
    return int(config.get("sustain_points", DEFAULT_SUSTAIN_POINTS))


def _primary(ctx: GuardContext) -> tuple[Picture | None, list[str]]:
    for series in ctx.measure_series():
        if series.measure.primary and series.measure.kind == "outcome":
            return picture(series), []
    return None, [
        "no primary outcome measure: choose one (measure add ... --primary, "
        "or measure set REF NAME --primary)"
    ]


def shown(ctx: GuardContext) -> list[str]:
    chart, reasons = _primary(ctx)
    return reasons if chart is None else improvement_shown(chart)


def sustained(ctx: GuardContext) -> list[str]:
    chart, reasons = _primary(ctx)
    if chart is None:
        return reasons
    return improvement_sustained(chart, sustain_points(ctx.workflow.measurement))


REQUIREMENTS = {
    r.name: r
    for r in (
        Requirement(
            "improvement_shown",
            "the primary outcome measure's XmR chart shows special-cause improvement "
            "since its baseline",
            shown,
        ),
        Requirement(
            "improvement_sustained",
            "the primary outcome measure's improvement holds: no special cause of concern "
            "and the latest mean on the improved side of the baseline, for the workflow's "
            f"sustain_points ({DEFAULT_SUSTAIN_POINTS} unless set)",
            sustained,
        ),
    )
}


@hookimpl
def qiflow_requirements() -> Mapping[str, Requirement]:
    return REQUIREMENTS


@hookimpl
def qiflow_workflow_tables() -> Mapping[str, TableCheck]:
    """The ``[measurement]`` table of a workflow file is read, and checked, here."""
    return {"measurement": check_measurement_config}
