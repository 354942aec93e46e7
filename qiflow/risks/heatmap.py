"""The 5 x 5 heat map: how many live risks sit at each consequence and likelihood."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qiflow.risks.policy import BANDS, RiskPolicy
from qiflow.risks.register import Risk

RATINGS = (1, 2, 3, 4, 5)
CONSEQUENCES: Mapping[int, str] = {
    1: "negligible",
    2: "minor",
    3: "moderate",
    4: "major",
    5: "catastrophic",
}
LIKELIHOODS: Mapping[int, str] = {
    1: "rare",
    2: "unlikely",
    3: "possible",
    4: "likely",
    5: "almost certain",
}


@dataclass(frozen=True)
class HeatMap:
    """Counts of live risks by (consequence, likelihood), with each cell's band."""

    counts: Mapping[tuple[int, int], int]
    bands: Mapping[tuple[int, int], str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> list[dict[str, Any]]:
        """One entry per cell, consequence 5 first (as the map is read)."""
        return [
            {
                "consequence": c,
                "likelihood": lk,
                "score": c * lk,
                "band": self.bands[c, lk],
                "risks": self.counts.get((c, lk), 0),
            }
            for c in reversed(RATINGS)
            for lk in RATINGS
        ]


def heat_map(risks: Iterable[Risk], policy: RiskPolicy) -> HeatMap:
    """The heat map of the live risks (open or tolerated) among ``risks``."""
    counts: dict[tuple[int, int], int] = {}
    for risk in risks:
        if risk.live:
            cell = (risk.consequence, risk.likelihood)
            counts[cell] = counts.get(cell, 0) + 1
    bands = {(c, lk): policy.band(c * lk) for c in RATINGS for lk in RATINGS}
    return HeatMap(counts, bands)


def render(heat: HeatMap, policy: RiskPolicy) -> str:
    """The heat map as text: a letter for each cell's band and the number of risks in it."""
    width = max(len(name) for name in CONSEQUENCES.values()) + 4
    lines = [
        "consequence".ljust(width) + "likelihood",
        " " * width + "".join(f"{lk:^7}" for lk in RATINGS),
    ]
    for c in reversed(RATINGS):
        cells = []
        for lk in RATINGS:
            count = heat.counts.get((c, lk), 0)
            cells.append(f"{heat.bands[c, lk][0].upper()} {count if count else '.':<3}".center(7))
        lines.append(f"{c} {CONSEQUENCES[c]}".ljust(width) + "".join(cells))
    lines.append("likelihood: " + ", ".join(f"{lk} {name}" for lk, name in LIKELIHOODS.items()))
    legend = ", ".join(
        f"{band[0].upper()} {band} {low}-{high}"
        for band in BANDS
        for low, high in [policy.scores(band)]
    )
    lines.append(f"{heat.total} live risk(s); {legend}")
    return "\n".join(line.rstrip() for line in lines)
