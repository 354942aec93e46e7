"""Measurement for improvement as values: a measure's chart and what changed in it, the
improvement a project has shown and sustained, and its suggested IHI progress score.

Pure functions of measures, data points and rebases (no database); the lifecycle, the
notification sweep and the CLI share them.
"""

from qiflow.measurement.csvfile import PointRow, parse_points
from qiflow.measurement.picture import (
    MIN_XMR_POINTS,
    SIGNAL_KINDS,
    Picture,
    Signal,
    chart_state,
    picture,
    rebase_positions,
    signal,
)
from qiflow.measurement.portfolio import MeasurementConfig, Progress, progress
from qiflow.measurement.progress import (
    DEFAULT_SCORE_STALE_AFTER,
    SCORE_DIFFERENCE,
    SCORES,
    Suggestion,
    suggest,
)
from qiflow.measurement.sustain import (
    DEFAULT_SUSTAIN_POINTS,
    improvement_shown,
    improvement_sustained,
)

__all__ = [
    "DEFAULT_SCORE_STALE_AFTER",
    "DEFAULT_SUSTAIN_POINTS",
    "MIN_XMR_POINTS",
    "SCORES",
    "SCORE_DIFFERENCE",
    "SIGNAL_KINDS",
    "MeasurementConfig",
    "Picture",
    "PointRow",
    "Progress",
    "Signal",
    "Suggestion",
    "chart_state",
    "improvement_shown",
    "improvement_sustained",
    "parse_points",
    "picture",
    "progress",
    "rebase_positions",
    "signal",
    "suggest",
]
