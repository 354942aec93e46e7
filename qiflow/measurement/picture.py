"""A measure's chart as its data stand, and the signal when a change alters it.

The chart is XmR (Making Data Count) from :data:`MIN_XMR_POINTS` points on, a run chart
before that (IHI rules), unless XmR is asked for. Signals come from the chart the measure
shows: while it is a run chart, a point newly part of a shift, a trend or an astronomical
point is a signal (its rule says which; a run chart has no icons), because the run-chart
rules are how a QI team reads its first weeks of data. Too few or too many runs is a
property of the whole chart, not of a point, and raises none. When the chart becomes XmR
(the 12th point) it is judged afresh: its special causes and icons against none.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from qiflow.snapshots import DataPoint, Measure, MeasureSeries, Rebase
from qiflow.spc import RunChartResult, XmrResult, run_chart, xmr

#: Fewer points than this show a run chart unless XmR is asked for.
MIN_XMR_POINTS = 12

SignalKind: TypeAlias = Literal["improvement", "concern", "neutral"]
SIGNAL_KINDS: tuple[SignalKind, ...] = ("improvement", "concern", "neutral")


def rebase_positions(points: Sequence[DataPoint], rebases: Sequence[Rebase]) -> tuple[int, ...]:
    """0-based positions where a new limit period starts: the first point observed at or
    after each rebase's instant (a rebase before the first or after the last point has
    no effect)."""
    instants = [point.observed_at for point in points]
    found = {bisect_left(instants, rebase.at) for rebase in rebases}
    return tuple(sorted(p for p in found if 0 < p < len(points)))


@dataclass(frozen=True)
class Picture:
    """A measure's chart: XmR (``xmr``), a run chart (``run``), or nothing (fewer than two
    points)."""

    measure: Measure
    points: tuple[DataPoint, ...]
    xmr: XmrResult | None
    run: RunChartResult | None

    @property
    def chart(self) -> Literal["xmr", "run", "none"]:
        return "xmr" if self.xmr is not None else "run" if self.run is not None else "none"

    @property
    def variation_icon(self) -> str | None:
        return None if self.xmr is None else self.xmr.variation_icon

    @property
    def assurance_icon(self) -> str | None:
        return None if self.xmr is None else self.xmr.assurance_icon

    def special_causes(self) -> dict[int, tuple[str, str | None]]:
        """Data point id -> (point type, rule) of every special-cause point on the chart."""
        chart = self.xmr or self.run
        if chart is None:
            return {}
        return {
            self.points[p.index].id: (p.point_type, p.rule) for p in chart.points if p.special_cause
        }


def picture(series: MeasureSeries, *, use_xmr: bool | None = None) -> Picture:
    """The chart of ``series``: XmR from :data:`MIN_XMR_POINTS` points (or if ``use_xmr``),
    a run chart before that (or if ``use_xmr`` is False)."""
    measure, points = series.measure, series.points
    values = [point.value for point in points]
    wants_xmr = len(values) >= MIN_XMR_POINTS if use_xmr is None else use_xmr
    if wants_xmr and len(values) >= 2:
        fix = measure.baseline_points
        chart = xmr(
            values,
            improvement=measure.direction,
            target=measure.target,
            rebase=rebase_positions(points, series.rebases),
            fix_after=fix if fix is not None and fix <= len(values) else None,
        )
        return Picture(measure, points, chart, None)
    if len(values) >= 2:
        return Picture(measure, points, None, run_chart(values, improvement=measure.direction))
    return Picture(measure, points, None, None)


@dataclass(frozen=True)
class Signal:
    """What changed in a measure's chart: the payload of a ``measure.signal`` event."""

    measure: str
    measure_kind: str
    kind: SignalKind
    rule: str | None
    variation_icon: str | None
    assurance_icon: str | None
    previous_variation_icon: str | None
    previous_assurance_icon: str | None
    points: int

    def payload(self) -> dict[str, object]:
        return {
            "measure": self.measure,
            "measure_kind": self.measure_kind,
            "kind": self.kind,
            "rule": self.rule,
            "variation_icon": self.variation_icon,
            "assurance_icon": self.assurance_icon,
            "previous_variation_icon": self.previous_variation_icon,
            "previous_assurance_icon": self.previous_assurance_icon,
            "points": self.points,
        }


_ASSURANCE_KIND: dict[str | None, SignalKind] = {"pass": "improvement", "fail": "concern"}


def _kind_of_point(point_type: str) -> SignalKind:
    if point_type == "special_cause_improvement":
        return "improvement"
    if point_type == "special_cause_concern":
        return "concern"
    return "neutral"


def _kind_of_icon(variation: str | None) -> SignalKind:
    if variation is not None and variation.startswith("improvement"):
        return "improvement"
    if variation is not None and variation.startswith("concern"):
        return "concern"
    return "neutral"


def chart_state(chart: Picture) -> dict[str, Any] | None:
    """What :func:`signal` compares, as JSON: the kind of chart, its icons (XmR only) and
    special causes."""
    if chart.chart == "none":
        return None
    return {
        "chart": chart.chart,
        "variation_icon": chart.variation_icon,
        "assurance_icon": chart.assurance_icon,
        "special": {str(pid): list(found) for pid, found in chart.special_causes().items()},
    }


def signal(before: Mapping[str, Any] | None, after: Picture) -> Signal | None:
    """The signal if ``after``'s chart differs from the state saved before
    (:func:`chart_state`): a new special-cause point, or (XmR) a new variation or
    assurance icon; None otherwise (or without a chart). A state saved from the other
    kind of chart counts as none (states saved before run charts signalled are XmR's).

    The kind is the newest new special cause's (improvement, concern, neutral), else the
    new variation icon's, else the new assurance icon's (pass: improvement, fail: concern).
    """
    if after.chart == "none":
        return None
    before = before or {}
    if before.get("chart", "xmr") != after.chart:
        before = {}
    old = before.get("special", {})
    now = after.special_causes()
    new = [pid for pid in now if str(pid) not in old]
    order = {point.id: position for position, point in enumerate(after.points)}
    old_variation = before.get("variation_icon")
    old_assurance = before.get("assurance_icon")
    kind: SignalKind
    rule: str | None = None
    if new:
        newest = max(new, key=order.__getitem__)
        point_type, rule = now[newest]
        kind = _kind_of_point(point_type)
    elif after.xmr is not None and after.variation_icon != (old_variation or "common_cause"):
        kind = _kind_of_icon(after.variation_icon)
    elif after.xmr is not None and after.assurance_icon != old_assurance:
        kind = _ASSURANCE_KIND.get(after.assurance_icon, "neutral")
    else:
        return None
    return Signal(
        measure=after.measure.name,
        measure_kind=after.measure.kind,
        kind=kind,
        rule=rule,
        variation_icon=after.variation_icon,
        assurance_icon=after.assurance_icon,
        previous_variation_icon=old_variation,
        previous_assurance_icon=old_assurance,
        points=len(after.points),
    )
