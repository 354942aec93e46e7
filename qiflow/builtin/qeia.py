"""The Quality and Equality Impact Assessment gate, registered as qiflow's own plugin.

Stage 1 screening scores impact (1-5) x likelihood (1-5) for each domain. A
domain above the threshold, a programme project, or a form that carries a full
assessment makes it a stage 2 assessment, signed off by both the Medical
Director and the Director of Nursing & Quality; otherwise the project's sponsor
or a QI lead signs the screening off. The highest score sets the risk level,
and the risk level how long the sign-off stays valid. Every number is
configurable in the workflow file's ``[gates.qeia]`` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qiflow.durations import parse_duration
from qiflow.exceptions import ValidationError
from qiflow.governance.escalation import FULL_QEIA_ROLES
from qiflow.governance.gates import Approval, BaseGate, GateType
from qiflow.lifecycle.requirements import GuardContext
from qiflow.plugins import hookimpl
from qiflow.snapshots import Signoff

DOMAINS = (
    "patient_safety",
    "clinical_effectiveness",
    "patient_experience",
    "equality",
    "workforce",
    "finance",
)
DEFAULTS: dict[str, Any] = {
    "domains": list(DOMAINS),
    "threshold": 8,
    "bands": {"extreme": 15, "high": 9},
    "review": {"extreme": "P3M", "high": "P6M", "low": "P12M"},
    "rescreen_on": [],
}
STAGE_1, STAGE_2 = "QEIA stage 1", "QEIA stage 2"
SCREENING_ROLES = ("sponsor", "qi_lead")


def settings(config: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**DEFAULTS, **config}
    merged["bands"] = {**DEFAULTS["bands"], **config.get("bands", {})}
    merged["review"] = {**DEFAULTS["review"], **config.get("review", {})}
    return merged


def risk_level(score: int, bands: Mapping[str, int]) -> str:
    if score >= bands["extreme"]:
        return "extreme"
    return "high" if score >= bands["high"] else "low"


class Qeia(BaseGate):
    name = "qeia"
    title = "QEIA"

    def check_config(self, config: Mapping[str, Any]) -> list[str]:
        problems = [
            f"unknown key {k!r}; expected one of {', '.join(sorted(DEFAULTS))}"
            for k in config
            if k not in DEFAULTS
        ]
        cfg = settings(config)
        domains = cfg["domains"]
        if (
            not isinstance(domains, list)
            or not domains
            or not all(isinstance(d, str) and d for d in domains)
        ):
            problems.append("domains must be a non-empty list of names")
        if not isinstance(cfg["threshold"], int) or not 1 <= cfg["threshold"] <= 25:
            problems.append("threshold must be a score from 1 to 25")
        bands = cfg["bands"]
        if (
            set(bands) != {"extreme", "high"}
            or not all(isinstance(v, int) for v in bands.values())
            or not 1 <= bands["high"] < bands["extreme"] <= 25
        ):
            problems.append("bands must give integer lower bounds with 1 <= high < extreme <= 25")
        review = cfg["review"]
        if set(review) != {"extreme", "high", "low"}:
            problems.append("review must give a duration for extreme, high and low")
        for level, text in review.items():
            try:
                parse_duration(str(text))
            except ValueError as exc:
                problems.append(f"review.{level}: {exc}")
        if not isinstance(cfg["rescreen_on"], list):
            problems.append("rescreen_on must be a list of triggers")
        return problems

    def assess(self, ctx: GuardContext, form: Mapping[str, Any]) -> Approval:
        cfg = settings(ctx.gate_config(self.name))
        raw = form.get("scores")
        if not isinstance(raw, Mapping):
            raise ValidationError(
                "a QEIA form needs a [scores] table with impact and "
                f"likelihood for each domain: {', '.join(cfg['domains'])}"
            )
        problems = [f"unknown domain {d!r}" for d in raw if d not in cfg["domains"]]
        scores: dict[str, int] = {}
        for domain in cfg["domains"]:
            entry = raw.get(domain)
            if not isinstance(entry, Mapping):
                problems.append(f"{domain}: give impact and likelihood (1-5)")
                continue
            values = [entry.get("impact"), entry.get("likelihood")]
            if not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in values
            ):
                problems.append(f"{domain}: impact and likelihood must each be 1 to 5")
                continue
            scores[domain] = int(values[0]) * int(values[1])  # type: ignore[arg-type]
        if problems:
            raise ValidationError("QEIA form: " + "; ".join(problems))
        top = max(scores.values())
        above = sorted(d for d, s in scores.items() if s > cfg["threshold"])
        programme = ctx.project.programme_status == "programme"
        full = str(form.get("full_assessment") or "").strip()
        if (above or programme) and not full:
            why = (
                f"{', '.join(above)} score above {cfg['threshold']}"
                if above
                else "the project has programme status"
            )
            raise ValidationError(
                f"{why}: a stage 2 full assessment is needed; add "
                "full_assessment (and mitigations) to the form"
            )
        level = risk_level(top, cfg["bands"])
        stage2 = bool(above or programme or full)
        return Approval(
            stage=STAGE_2 if stage2 else STAGE_1,
            roles=FULL_QEIA_ROLES if stage2 else SCREENING_ROLES,
            mode="all" if stage2 else "any",
            valid_for=parse_duration(str(cfg["review"][level])),
            summary={"scores": scores, "max_score": top, "risk": level, "above_threshold": above},
        )

    def full_assessment(self, signoff: Signoff, config: Mapping[str, Any]) -> bool:
        """Whether ``signoff`` is a full assessment (stage 2), for programme status."""
        return signoff.stage == STAGE_2

    def extreme_score(self, config: Mapping[str, Any]) -> int:
        """The screening score from which the risk is extreme (the ``bands``)."""
        return int(settings(config)["bands"]["extreme"])

    def still_valid(self, ctx: GuardContext, signoff: Signoff) -> str | None:
        if ctx.project.programme_status == "programme" and signoff.stage != STAGE_2:
            return (
                f"{STAGE_2}: a programme project needs a full assessment signed off by "
                f"{' and '.join(FULL_QEIA_ROLES)}; request one"
            )
        return None


@hookimpl
def qiflow_gates() -> Mapping[str, GateType]:
    return {Qeia.name: Qeia()}
