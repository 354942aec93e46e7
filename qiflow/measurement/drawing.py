"""A measure's chart drawn to a file (SVG or PNG), its PDSA cycles marked on the time axis.

matplotlib loads only when a chart is drawn (:mod:`qiflow.spc.chart`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

from qiflow.exceptions import ValidationError
from qiflow.measurement.picture import Picture


def draw(
    chart: Picture, path: str | Path, *, title: str, cycle_starts: Mapping[int, datetime] = {}
) -> Path:
    """Write ``chart`` to ``path`` (its suffix picks SVG or PNG). Cycles are marked where
    their first data point is (a point's ``cycle``), else on the day each was first
    recorded (``cycle_starts``) if that falls within the data."""
    from qiflow.spc.chart import Cycle, write_chart  # matplotlib only when drawing

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
    return write_chart(
        result, path, title=title, dates=dates, cycles=cycles, unit=chart.measure.unit
    )
