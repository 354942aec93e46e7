"""Charts people read: XmR and run charts drawn the Making Data Count way, without a browser.

Rendered with matplotlib's SVG and Agg backends (this module is imported only when a
chart is drawn, so ``import qiflow`` stays light). Colours follow NHSRplotthedots'
``ptd_spc_colours()``: improvement blue, concern orange, neutral purple, common cause grey,
a black mean, grey dashed limits, a red dashed target. The SVG keeps its text as text
(``svg.fonttype = "none"``), carries a ``<title>`` and ``<desc>`` for screen readers, and
names its parts with ids (``spc-mean``, ``spc-upl``, ``spc-points-...``) for tests and
styling.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from qiflow.exceptions import ValidationError
from qiflow.spc.runchart import RunChartPoint, RunChartResult
from qiflow.spc.xmr import AssuranceIcon, VariationIcon, XmrPoint, XmrResult

COLOURS = {
    "common_cause": "#a6a6a6",
    "special_cause_improvement": "#00b0f0",
    "special_cause_concern": "#e46c0a",
    "special_cause_neutral_high": "#490092",
    "special_cause_neutral_low": "#490092",
    "value_line": "#a6a6a6",
    "mean": "#000000",
    "limit": "#a6a6a6",
    "target": "#de1b1b",
    "cycle": "#005eb8",
}
POINT_LABELS = {
    "common_cause": "Common cause",
    "special_cause_improvement": "Special cause: improvement",
    "special_cause_concern": "Special cause: concern",
    "special_cause_neutral_high": "Special cause: neutral (high)",
    "special_cause_neutral_low": "Special cause: neutral (low)",
}
VARIATION_TEXT: dict[VariationIcon, tuple[str, str, str]] = {
    # icon: (colour, letter, caption)
    "common_cause": (COLOURS["common_cause"], "~", "Common cause"),
    "improvement_high": (COLOURS["special_cause_improvement"], "H", "Improvement (high)"),
    "improvement_low": (COLOURS["special_cause_improvement"], "L", "Improvement (low)"),
    "concern_high": (COLOURS["special_cause_concern"], "H", "Concern (high)"),
    "concern_low": (COLOURS["special_cause_concern"], "L", "Concern (low)"),
    "neutral_high": (COLOURS["special_cause_neutral_high"], "H", "Neutral (high)"),
    "neutral_low": (COLOURS["special_cause_neutral_low"], "L", "Neutral (low)"),
}
ASSURANCE_TEXT: dict[AssuranceIcon, tuple[str, str, str]] = {
    "pass": (COLOURS["special_cause_improvement"], "P", "Passes target"),
    "fail": (COLOURS["special_cause_concern"], "F", "Fails target"),
    "inconsistent": (COLOURS["common_cause"], "?", "Hit and miss target"),
}

Result = XmrResult | RunChartResult


@dataclass(frozen=True, slots=True)
class Cycle:
    """A PDSA cycle marked on the time axis: at a point's 0-based position or a date."""

    at: int | date
    label: str


def render_svg(
    result: Result,
    *,
    title: str,
    dates: Sequence[date] | None = None,
    cycles: Sequence[Cycle] = (),
    unit: str | None = None,
    description: str | None = None,
) -> str:
    """The chart as an SVG document (text kept as text, with ``<title>`` and ``<desc>``)."""
    figure = _draw(result, title=title, dates=dates, cycles=cycles, unit=unit)
    about = description or describe(result, title=title)
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "qiflow-spc"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Title": title})
    return _accessible(buffer.getvalue(), title, about)


def render_png(
    result: Result,
    *,
    title: str,
    dates: Sequence[date] | None = None,
    cycles: Sequence[Cycle] = (),
    unit: str | None = None,
    dpi: int = 120,
) -> bytes:
    """The chart as a PNG image (matplotlib's Agg backend)."""
    figure = _draw(result, title=title, dates=dates, cycles=cycles, unit=unit)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Title": title})
    return buffer.getvalue()


def write_chart(
    result: Result,
    path: str | Path,
    *,
    title: str,
    dates: Sequence[date] | None = None,
    cycles: Sequence[Cycle] = (),
    unit: str | None = None,
    description: str | None = None,
) -> Path:
    """Write the chart to ``path``; its suffix (``.svg`` or ``.png``) picks the format."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".svg":
        svg = render_svg(
            result, title=title, dates=dates, cycles=cycles, unit=unit, description=description
        )
        target.write_text(svg, encoding="utf-8")
    elif suffix == ".png":
        target.write_bytes(render_png(result, title=title, dates=dates, cycles=cycles, unit=unit))
    else:
        raise ValidationError(f"chart file {target.name!r} must end in .svg or .png")
    return target


def describe(result: Result, *, title: str) -> str:
    """A plain-language summary of the chart for screen readers (the SVG's ``<desc>``)."""
    count = len(result.points)
    improvement = sum(p.point_type == "special_cause_improvement" for p in result.points)
    concern = sum(p.point_type == "special_cause_concern" for p in result.points)
    neutral = sum(p.point_type.startswith("special_cause_neutral") for p in result.points)
    direction = {"increase": "higher is better", "decrease": "lower is better"}.get(
        result.improvement, "no direction is better"
    )
    signals = f"{improvement} point(s) of special cause improvement, {concern} of concern" + (
        f", {neutral} neutral" if neutral else ""
    )
    if isinstance(result, XmrResult):
        last = result.last_period
        text = (
            f"{title}: XmR chart of {count} points ({direction}). "
            f"Latest period: mean {_number(last.mean)}, process limits {_number(last.lpl)} "
            f"to {_number(last.upl)}. {signals}. "
            f"Variation: {VARIATION_TEXT[result.variation_icon][2].lower()}."
        )
        if len(result.periods) > 1:
            text += f" Limits rebased {len(result.periods) - 1} time(s)."
        if result.assurance_icon is not None and result.target is not None:
            caption = ASSURANCE_TEXT[result.assurance_icon][2].lower()
            text += f" Target {_number(result.target)}: {caption}."
        return text
    rules = ", ".join(result.signals) or "no signal"
    return (
        f"{title}: run chart of {count} points ({direction}), median {_number(result.median)}, "
        f"{result.runs} runs. Signals: {rules}. {signals}."
    )


def _number(value: float) -> str:
    return "undefined" if math.isnan(value) else f"{value:.4g}"


def _positions(result: Result, dates: Sequence[date] | None) -> list[Any]:
    if dates is None:
        return list(range(1, len(result.points) + 1))
    if len(dates) != len(result.points):
        raise ValidationError(
            f"{len(dates)} dates for {len(result.points)} points: give one date per point"
        )
    return list(dates)


def _draw(
    result: Result,
    *,
    title: str,
    dates: Sequence[date] | None,
    cycles: Sequence[Cycle],
    unit: str | None,
) -> Figure:
    xs = _positions(result, dates)
    figure = Figure(figsize=(9, 4.8), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=12)
    axes.set_xlabel("Date" if dates is not None else "Point")
    if dates is not None:
        # matplotlib.dates has no annotations on these two constructors
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    if unit:
        axes.set_ylabel(unit)
    axes.grid(True, color="#e8e8e8", linewidth=0.6)
    axes.plot(xs, [p.value for p in result.points], color=COLOURS["value_line"], gid="spc-values")
    if isinstance(result, XmrResult):
        _draw_xmr_lines(axes, result, xs)
    else:
        axes.plot(
            xs,
            [result.median] * len(xs),
            color=COLOURS["mean"],
            gid="spc-median",
            label=f"Median {_number(result.median)}",
        )
    points: Sequence[XmrPoint | RunChartPoint] = result.points
    for kind, label in POINT_LABELS.items():
        chosen = [i for i, p in enumerate(points) if p.point_type == kind]
        if chosen:
            axes.scatter(
                [xs[i] for i in chosen],
                [points[i].value for i in chosen],
                color=COLOURS[kind],
                s=28,
                zorder=3,
                gid=f"spc-points-{kind}",
                label=label,
            )
    _draw_cycles(axes, cycles, xs, dates)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if isinstance(result, XmrResult):
        _draw_icons(figure, result)
    return figure


def _draw_xmr_lines(axes: Axes, result: XmrResult, xs: list[Any]) -> None:
    for number, period in enumerate(result.periods):
        span = xs[period.start : period.end + 1]
        first = number == 0
        axes.plot(
            span,
            [period.mean] * len(span),
            color=COLOURS["mean"],
            gid=f"spc-mean-{number}",
            label="Mean" if first else None,
        )
        for name, value in (("upl", period.upl), ("lpl", period.lpl)):
            if not math.isnan(value):
                axes.plot(
                    span,
                    [value] * len(span),
                    color=COLOURS["limit"],
                    linestyle="--",
                    gid=f"spc-{name}-{number}",
                    label="Process limits" if first and name == "upl" else None,
                )
        if not first:
            axes.axvline(
                xs[period.start], color="#555555", linestyle=":", gid=f"spc-rebase-{number}"
            )
            axes.annotate(
                "Rebased",
                (xs[period.start], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=8,
                gid=f"spc-rebase-label-{number}",
            )
    if result.target is not None:
        axes.axhline(
            result.target,
            color=COLOURS["target"],
            linestyle="--",
            gid="spc-target",
            label=f"Target {_number(result.target)}",
        )


def _draw_cycles(
    axes: Axes, cycles: Sequence[Cycle], xs: list[Any], dates: Sequence[date] | None
) -> None:
    for number, cycle in enumerate(cycles):
        if isinstance(cycle.at, int) and not isinstance(cycle.at, bool):
            if not 0 <= cycle.at < len(xs):
                raise ValidationError(
                    f"PDSA cycle {cycle.label!r} is at point {cycle.at}, "
                    f"outside the chart's {len(xs)} points"
                )
            where: Any = xs[cycle.at]
        elif dates is not None:
            where = cycle.at
        else:
            raise ValidationError(
                f"PDSA cycle {cycle.label!r} is placed by date but the chart has no dates"
            )
        axes.plot(
            [where],
            [0],
            transform=axes.get_xaxis_transform(),
            marker="^",
            markersize=9,
            color=COLOURS["cycle"],
            clip_on=False,
            gid=f"spc-cycle-{number}",
        )
        axes.annotate(
            cycle.label,
            (where, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=COLOURS["cycle"],
            gid=f"spc-cycle-label-{number}",
        )


def _draw_icons(figure: Figure, result: XmrResult) -> None:
    icons: list[tuple[str, tuple[str, str, str]]] = [
        ("variation", VARIATION_TEXT[result.variation_icon])
    ]
    if result.assurance_icon is not None:
        icons.append(("assurance", ASSURANCE_TEXT[result.assurance_icon]))
    for slot, (kind, (colour, letter, caption)) in enumerate(icons):
        box = figure.add_axes((0.80 + 0.1 * slot, 0.06, 0.09, 0.16))
        box.set_gid(f"spc-{kind}-icon")
        box.set_aspect("equal")
        box.set_xlim(-1, 1)
        box.set_ylim(-1.9, 1.1)
        box.axis("off")
        box.add_patch(Circle((0, 0.1), 0.9, facecolor="white", edgecolor=colour, linewidth=2.5))
        box.text(
            0, 0.1, letter, ha="center", va="center", fontsize=13, fontweight="bold", color=colour
        )
        box.text(0, -1.2, caption, ha="center", va="top", fontsize=6, wrap=True)


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")


def _accessible(svg: str, title: str, description: str) -> str:
    """Give the SVG a role, a ``<title>`` and a ``<desc>`` as its first children."""
    opening = _SVG_OPEN.search(svg)
    if opening is None:  # matplotlib always writes one; keep the document if not
        return svg
    tag = opening.group(0)
    labelled = tag[:-1] + ' role="img" aria-labelledby="spc-title spc-desc">'
    children = (
        f'\n <title id="spc-title">{escape(title)}</title>'
        f'\n <desc id="spc-desc">{escape(description)}</desc>'
    )
    return svg[: opening.start()] + labelled + children + svg[opening.end() :]
