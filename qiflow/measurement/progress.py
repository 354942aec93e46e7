"""A suggested IHI progress score (0.5 to 5.0, as Life QI uses the scale), with reasons.

Each rung needs the ones below it; the suggestion is the highest rung reached, the
reasons say why, and ``next`` says what the next rung needs. A person confirms a
score with ``review record --score``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qiflow.measurement.picture import Picture
from qiflow.measurement.sustain import (
    DEFAULT_SUSTAIN_POINTS,
    first_improvement,
    improvement_sustained,
    latest_mean,
)
from qiflow.snapshots import Project

#: The scale's labels.
SCORES: dict[float, str] = {
    0.5: "intent to participate",
    1.0: "forming team",
    1.5: "planning for the project has begun",
    2.0: "activity, but no changes",
    2.5: "changes tested, but no improvement",
    3.0: "modest improvement",
    3.5: "improvement",
    4.0: "significant improvement",
    4.5: "sustainable improvement",
    5.0: "outstanding sustainable results",
}
#: How old a confirmed score may grow before its owner is reminded (a workflow's
#: ``[measurement]`` table may set ``score_stale_after``).
DEFAULT_SCORE_STALE_AFTER = "P90D"
#: A suggestion this far from the confirmed score reminds the owner too.
SCORE_DIFFERENCE = 1.0
TESTING = frozenset({"pdsa_testing", "adopted", "spreading", "sustained"})
SPREAD = frozenset({"spreading", "sustained"})


@dataclass(frozen=True)
class Suggestion:
    """The suggested score, the reasons for it, and what the next rung needs."""

    score: float
    label: str
    reasons: tuple[str, ...]
    next: str | None


def _reached_target(chart: Picture, points: int) -> bool:
    measure = chart.measure
    if measure.target is None or chart.xmr is None:
        return False
    mean = latest_mean(chart, points)
    return mean >= measure.target if measure.direction == "increase" else mean <= measure.target


def suggest(
    project: Project,
    *,
    team_size: int,
    cycles_studied: int,
    charts: Sequence[Picture],
    sustain_points: int = DEFAULT_SUSTAIN_POINTS,
) -> Suggestion:
    """The suggested score for ``project`` from its team, cycles and measures' charts."""
    outcomes = [c for c in charts if c.measure.kind == "outcome"]
    improved = [
        c for c in charts if c.measure.kind != "balancing" and first_improvement(c) is not None
    ]
    improved_outcomes = [c for c in outcomes if first_improvement(c) is not None]
    primary = next((c for c in outcomes if c.measure.primary), None)
    sustained = primary is not None and not improvement_sustained(primary, sustain_points)
    names = ", ".join(repr(c.measure.name) for c in improved)
    outcome_names = ", ".join(repr(c.measure.name) for c in improved_outcomes)
    ladder: list[tuple[float, bool, str, str]] = [
        (
            1.0,
            bool(project.owner and project.sponsor and (team_size or project.team)),
            "an owner, a sponsor and a team",
            "an owner, a sponsor and a team",
        ),
        (
            1.5,
            bool(project.aim and project.quality_objectives and charts),
            "an aim, a quality objective and measures",
            "an aim, a quality objective and measures",
        ),
        (2.0, project.state in TESTING, "PDSA testing under way", "PDSA testing under way"),
        (
            2.5,
            cycles_studied > 0,
            f"{cycles_studied} PDSA cycle(s) studied",
            "a PDSA cycle studied",
        ),
        (
            3.0,
            bool(improved),
            f"special-cause improvement on {names}",
            "a special-cause improvement on a process or outcome measure",
        ),
        (
            3.5,
            bool(improved_outcomes),
            f"special-cause improvement on outcome measure(s) {outcome_names}",
            "a special-cause improvement on an outcome measure",
        ),
        (
            4.0,
            any(_reached_target(c, sustain_points) for c in improved_outcomes),
            "an improved outcome measure's latest mean has reached its target",
            "an improved outcome measure's latest mean at its target",
        ),
        (
            4.5,
            sustained and project.state in SPREAD,
            f"the primary outcome's improvement has held for {sustain_points} points, "
            "and spread has begun",
            f"the primary outcome's improvement held for {sustain_points} points, and spread",
        ),
        (
            5.0,
            sustained
            and project.state == "sustained"
            and primary is not None
            and primary.assurance_icon == "pass",
            "sustained, and the primary outcome will consistently meet its target",
            "the sustained state, and the primary outcome's assurance icon 'pass'",
        ),
    ]
    score, reasons, following = 0.5, ["the project is registered"], None
    for rung, met, why, needs in ladder:
        if not met:
            following = f"{rung:.1f} ({SCORES[rung]}) needs {needs}"
            break
        score = rung
        reasons.append(why)
    concerns = [c.measure.name for c in charts if (c.variation_icon or "").startswith("concern")]
    if concerns:
        reasons.append("note: special cause of concern on " + ", ".join(map(repr, concerns)))
    return Suggestion(score, SCORES[score], tuple(reasons), following)
