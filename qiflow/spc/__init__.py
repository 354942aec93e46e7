"""Statistical process control for measures: XmR charts and run charts.

``xmr`` reads a series as NHS England's Making Data Count does (matching the NHS-R
community's NHSRplotthedots 0.2.2); ``run_chart`` applies the IHI run-chart rules. The
chart renderer lives in :mod:`qiflow.spc.chart` and imports matplotlib only when used.
This package depends on nothing else in qiflow but :mod:`qiflow.exceptions`.
"""

from qiflow.spc.inputs import IMPROVEMENT_DIRECTIONS, Improvement
from qiflow.spc.rules import RULES, Rule
from qiflow.spc.runchart import RunChartPoint, RunChartResult, RunRule, run_chart, runs_limits
from qiflow.spc.xmr import (
    ASSURANCE_ICONS,
    POINT_TYPES,
    VARIATION_ICONS,
    AssuranceIcon,
    PointType,
    VariationIcon,
    XmrPeriod,
    XmrPoint,
    XmrResult,
    xmr,
)

__all__ = [
    "ASSURANCE_ICONS",
    "IMPROVEMENT_DIRECTIONS",
    "POINT_TYPES",
    "RULES",
    "VARIATION_ICONS",
    "AssuranceIcon",
    "Improvement",
    "PointType",
    "Rule",
    "RunChartPoint",
    "RunChartResult",
    "RunRule",
    "VariationIcon",
    "XmrPeriod",
    "XmrPoint",
    "XmrResult",
    "run_chart",
    "runs_limits",
    "xmr",
]
