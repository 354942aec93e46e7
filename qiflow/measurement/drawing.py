"""A measure's chart drawn to a file (SVG or PNG), its PDSA cycles marked on the time axis.

matplotlib loads only when a chart is drawn (:mod:`qiflow.spc.chart`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from qiflow.exceptions import ValidationError
from qiflow.measurement.picture import Picture

if TYPE_CHECKING:
    from qiflow.spc.chart import Cycle, Result


def _layout(
    chart: Picture, cycle_starts: Mapping[int, datetime]
) -> tuple[Result, list[date], list[Cycle]]:
    """The chart's result, its dates, and where its PDSA cycles start."""
    from qiflow.spc.chart import Cycle  # matplotlib only when drawing

    result = chart.xmr or chart.run
    if result is None:
        raise ValidationError(f"measure {chart.measure.name!r} has fewer than 2 data points")
    dates: list[date] = [p.observed_at.date() for p in chart.points]
    cycles: list[Cycle] = []
    seen: set[int] = set()
    for position, point in enumerate(chart.points):
        if point.cycle is not None and point.cycle not in seen:
            seen.add(point.cycle)
            cycles.append(Cycle(position, f"PDSA {point.cycle}"))
    if not cycles:
        cycles = [
            Cycle(started.date(), f"PDSA {number}")
            for number, started in sorted(cycle_starts.items())
            if dates[0] <= started.date() <= dates[-1]
        ]
    return result, dates, cycles


def draw(
    chart: Picture, path: str | Path, *, title: str, cycle_starts: Mapping[int, datetime] = {}
) -> Path:
    """Write ``chart`` to ``path`` (its suffix picks SVG or PNG). Cycles are marked where
    their first data point is (a point's ``cycle``), else on the day each was first
    recorded (``cycle_starts``) if that falls within the data."""
    from qiflow.spc.chart import write_chart  # matplotlib only when drawing

    result, dates, cycles = _layout(chart, cycle_starts)
    return write_chart(
        result, path, title=title, dates=dates, cycles=cycles, unit=chart.measure.unit
    )


def svg(chart: Picture, *, title: str, cycle_starts: Mapping[int, datetime] = {}) -> str:
    """``chart`` as an SVG document, its cycles marked as :func:`draw` marks them."""
    from qiflow.spc.chart import render_svg  # matplotlib only when drawing

    result, dates, cycles = _layout(chart, cycle_starts)
    return render_svg(result, title=title, dates=dates, cycles=cycles, unit=chart.measure.unit)
