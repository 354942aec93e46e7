"""The risk matrix a workflow file configures: categories, bands and review cadences.

The ``[risks]`` table of a workflow file::

    [risks]
    categories = ["patient_safety", "quality", "workforce", "finance", "reputation",
                  "information_governance", "equality"]
    bands = { low = 1, moderate = 4, high = 8, extreme = 15 }   # lowest score of each band
    review = { extreme = "P1M", high = "P3M", moderate = "P6M", low = "P12M" }

Every key is optional; the defaults are the NPSA matrix (1-3 low, 4-6 moderate,
8-12 high, 15-25 extreme) with extreme risks reviewed monthly, high every three
months, moderate every six and low once a year.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from qiflow.durations import Duration, parse_duration
from qiflow.exceptions import ValidationError
from qiflow.hookmarkers import hookimpl

LOW, MODERATE, HIGH, EXTREME = "low", "moderate", "high", "extreme"
#: The bands, lowest first.
BANDS: tuple[str, ...] = (LOW, MODERATE, HIGH, EXTREME)
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "patient_safety",
    "quality",
    "workforce",
    "finance",
    "reputation",
    "information_governance",
    "equality",
)
DEFAULT_BANDS: Mapping[str, int] = {LOW: 1, MODERATE: 4, HIGH: 8, EXTREME: 15}
DEFAULT_REVIEW: Mapping[str, str] = {EXTREME: "P1M", HIGH: "P3M", MODERATE: "P6M", LOW: "P12M"}
CONFIG_KEYS = ("categories", "bands", "review")
#: Every score the 5 x 5 matrix can give (7, 11, 13, 14 ... cannot be reached).
SCORES: frozenset[int] = frozenset(c * lk for c in range(1, 6) for lk in range(1, 6))
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]*$")


def category_key(text: str) -> str:
    """``"Patient safety"`` and ``"patient-safety"`` name the category ``patient_safety``."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


@dataclass(frozen=True)
class RiskPolicy:
    """Categories, bands (the lowest score of each) and how often each band is reviewed."""

    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    bands: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_BANDS))
    review: Mapping[str, Duration] = field(
        default_factory=lambda: {b: parse_duration(t) for b, t in DEFAULT_REVIEW.items()}
    )

    def band(self, score: int) -> str:
        """The band of a score (1-25)."""
        found = LOW
        for name in BANDS:
            if score >= self.bands[name]:
                found = name
        return found

    def scores(self, band: str) -> tuple[int, int]:
        """The lowest and highest score the matrix can give in ``band``."""
        index = BANDS.index(band)
        above = self.bands[BANDS[index + 1]] if index + 1 < len(BANDS) else 26
        inside = [s for s in SCORES if self.bands[band] <= s < above]
        return (min(inside), max(inside)) if inside else (self.bands[band], above - 1)

    def next_review(self, band: str, after: datetime) -> date:
        """The day a risk in ``band`` is next due for review, counted from ``after``."""
        return self.review[band].after(after).date()

    def category(self, text: str) -> str:
        """The configured category ``text`` names; raises :class:`ValidationError` if none."""
        key = category_key(text)
        if key not in self.categories:
            raise ValidationError(
                f"category {text!r} is not one of {', '.join(self.categories)} "
                "(the workflow file's [risks] categories)"
            )
        return key


def band_rank(band: str) -> int:
    """How high a band is: low 0 ... extreme 3."""
    return BANDS.index(band)


def due_instant(day: date) -> datetime:
    """The instant a review or action due on ``day`` falls due: the start of the day, UTC."""
    return datetime.combine(day, time(0), tzinfo=UTC)


@hookimpl
def qiflow_workflow_tables() -> Mapping[str, Callable[[Mapping[str, Any]], list[str]]]:
    """The ``[risks]`` table of a workflow file is read, and checked, here."""
    return {"risks": check_risks_config}


def check_risks_config(config: Mapping[str, Any]) -> list[str]:
    """Every problem with a ``[risks]`` table (empty: it is good)."""
    problems = [
        f"unknown key {key!r}; expected one of {', '.join(CONFIG_KEYS)}"
        for key in config
        if key not in CONFIG_KEYS
    ]
    categories = config.get("categories", list(DEFAULT_CATEGORIES))
    if (
        not isinstance(categories, list)
        or not categories
        or not all(isinstance(c, str) and _CATEGORY.match(c) for c in categories)
    ):
        problems.append("categories must be a non-empty list of lower_snake_case names")
    elif len(set(categories)) != len(categories):
        problems.append("categories must not repeat a name")
    bands = config.get("bands", DEFAULT_BANDS)
    if not isinstance(bands, Mapping) or set(bands) != set(BANDS):
        problems.append(f"bands must give the lowest score of each of {', '.join(BANDS)}")
    else:
        values = [bands[b] for b in BANDS]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values) or not (
            values[0] == 1
            and all(a < b for a, b in itertools.pairwise(values))
            and values[-1] <= 25
        ):
            problems.append(
                "bands must be whole numbers rising from low = 1 to an extreme of at most 25, "
                "e.g. { low = 1, moderate = 4, high = 8, extreme = 15 }"
            )
    review = config.get("review", {})
    if not isinstance(review, Mapping):
        problems.append(f"review must be a table of durations by band ({', '.join(BANDS)})")
    else:
        for band, text in review.items():
            if band not in BANDS:
                problems.append(f"review: unknown band {band!r}; bands: {', '.join(BANDS)}")
                continue
            try:
                parse_duration(text) if isinstance(text, str) else parse_duration("")
            except ValueError as exc:
                problems.append(f"review.{band}: {exc}")
    return problems


def risk_policy(config: Mapping[str, Any]) -> RiskPolicy:
    """The policy of a ``[risks]`` table (defaults for what it leaves out).

    Raises :class:`ValidationError` listing the problems of a bad table.
    """
    problems = check_risks_config(config)
    if problems:
        raise ValidationError("[risks]: " + "; ".join(problems))
    review = {**DEFAULT_REVIEW, **config.get("review", {})}
    return RiskPolicy(
        categories=tuple(config.get("categories", DEFAULT_CATEGORIES)),
        bands=dict(config.get("bands", DEFAULT_BANDS)),
        review={band: parse_duration(review[band]) for band in BANDS},
    )
