"""Improvement shown and sustained on a measure's XmR chart (the requirements'
``improvement_shown`` and ``improvement_sustained``), as unmet reasons."""

from __future__ import annotations

from statistics import fmean

from qiflow.measurement.picture import MIN_XMR_POINTS, Picture

#: How many points an improvement must hold for by default (a workflow's ``[measurement]``
#: table may set ``sustain_points``).
DEFAULT_SUSTAIN_POINTS = 12


def _better(value: float, than: float, direction: str) -> bool:
    return value > than if direction == "increase" else value < than


def first_improvement(chart: Picture) -> int | None:
    """Position of the first special-cause improvement after the measure's baseline."""
    if chart.xmr is None:
        return None
    after = chart.measure.baseline_points or 0
    for point in chart.xmr.points:
        if point.index >= after and point.point_type == "special_cause_improvement":
            return point.index
    return None


def latest_mean(chart: Picture, points: int = DEFAULT_SUSTAIN_POINTS) -> float:
    """The latest period's mean, or the last ``points`` points' mean if never rebased."""
    assert chart.xmr is not None
    if len(chart.xmr.periods) > 1:
        return chart.xmr.periods[-1].mean
    return fmean(p.value for p in chart.xmr.points[-points:])


def improvement_shown(chart: Picture) -> list[str]:
    """Unmet reasons: a special-cause improvement since the baseline, on an XmR chart."""
    name = chart.measure.name
    if chart.measure.direction == "neutral":
        return [f"measure {name!r} has no improvement direction (it is neutral)"]
    if chart.xmr is None:
        return [
            f"measure {name!r} has {len(chart.points)} data points; an XmR chart needs "
            f"{MIN_XMR_POINTS} to show a special cause"
        ]
    if first_improvement(chart) is None:
        return [
            f"measure {name!r} shows no special-cause improvement since its baseline "
            f"(variation: {chart.xmr.variation_icon})"
        ]
    return []


def improvement_sustained(chart: Picture, points: int = DEFAULT_SUSTAIN_POINTS) -> list[str]:
    """Unmet reasons: the improvement holds for ``points`` points: that many since the first
    special-cause improvement, no special cause of concern among the last ``points``, and
    the latest period's mean (the last ``points`` points' mean if never rebased) on the
    improved side of the baseline period's mean."""
    shown = improvement_shown(chart)
    if shown:
        return shown
    assert chart.xmr is not None  # improvement_shown refuses charts without XmR
    name, direction, result = chart.measure.name, chart.measure.direction, chart.xmr
    reasons = []
    start = first_improvement(chart)
    assert start is not None
    held = len(result.points) - start
    if held < points:
        reasons.append(
            f"measure {name!r} has {held} points since its first special-cause improvement; "
            f"the improvement must hold for {points}"
        )
    recent = result.points[-points:]
    concerns = [p.index + 1 for p in recent if p.point_type == "special_cause_concern"]
    if concerns:
        reasons.append(
            f"measure {name!r} has special causes of concern at points "
            f"{', '.join(map(str, concerns))} among its last {points}"
        )
    baseline = result.periods[0].mean
    latest = latest_mean(chart, points)
    if not _better(latest, baseline, direction):
        reasons.append(
            f"measure {name!r}: the latest mean {latest:g} is not on the improved side "
            f"({direction}) of the baseline mean {baseline:g}"
        )
    return reasons
