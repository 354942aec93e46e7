"""The finance sign-off gate: a finance business partner approves a project's saving.

The gate applies only to projects with a financial objective (a positive
``expected_saving``). It is an addition to the quality objective, never a
replacement for it (strategy section 5.1): a project with no quality objective
cannot request it. The sign-off records the saving it covers; if the project's
expected saving changes afterwards, the sign-off no longer covers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qiflow import Approval, BaseGate, GateType, GuardContext, Signoff, ValidationError, hookimpl
from qiflow.durations import parse_duration

ROLE = "finance_business_partner"
STAGE = "Finance sign-off"
DEFAULT_VALID_FOR = "P12M"
#: Keys of the workflow file's ``[gates.finance]`` table. ``rescreen_on`` is read by
#: qiflow's shared gate machinery for every gate (a new sign-off is needed before
#: these triggers if the last one predates the project's current state).
CONFIG_KEYS = ("valid_for", "rescreen_on")
FORM_KEYS = ("saving_basis", "amount", "variance_reason")


def _pounds(value: Any) -> str:
    return f"£{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "none"


def _text(form: Mapping[str, Any], key: str) -> str | None:
    value = form.get(key)
    return value.strip() or None if isinstance(value, str) else None


class FinanceSignoff(BaseGate):
    """Approval of a project's expected saving by a finance business partner."""

    name = "finance"
    title = "Finance sign-off"

    def check_config(self, config: Mapping[str, Any]) -> list[str]:
        problems = [
            f"unknown key {key!r}; expected one of {', '.join(CONFIG_KEYS)}"
            for key in config
            if key not in CONFIG_KEYS
        ]
        if "valid_for" in config:
            value = config["valid_for"]
            if not isinstance(value, str):
                problems.append("valid_for must be an ISO-8601 duration such as 'P12M'")
            else:
                try:
                    parse_duration(value)
                except ValueError as exc:
                    problems.append(f"valid_for: {exc}")
        rescreen = config.get("rescreen_on", [])
        if not isinstance(rescreen, list) or not all(isinstance(t, str) for t in rescreen):
            problems.append("rescreen_on must be a list of triggers")
        return problems

    def applies(self, ctx: GuardContext) -> bool:
        saving = ctx.project.expected_saving
        return saving is not None and saving > 0

    def assess(self, ctx: GuardContext, form: Mapping[str, Any]) -> Approval:
        project = ctx.project
        if not project.quality_objectives:
            raise ValidationError(
                f"{project.ref}: a finance sign-off never replaces the quality objective "
                "(strategy section 5.1); set the project's quality objectives first"
            )
        problems = [
            f"unknown field {key!r}; expected {', '.join(FORM_KEYS)}"
            for key in form
            if key not in FORM_KEYS
        ]
        basis = _text(form, "saving_basis")
        if basis is None:
            problems.append("saving_basis: say how the saving was estimated")
        amount = form.get("amount")
        variance = _text(form, "variance_reason")
        if "variance_reason" in form and variance is None:
            problems.append("variance_reason must be text")
        expected = project.expected_saving
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            problems.append("amount: the saving signed off, in whole pounds (a positive integer)")
        elif amount != expected and variance is None:
            problems.append(
                f"amount {_pounds(amount)} differs from the project's expected saving "
                f"{_pounds(expected)}: make them match, or say why in variance_reason"
            )
        if problems:
            raise ValidationError("finance sign-off form: " + "; ".join(problems))
        valid_for = str(ctx.gate_config(self.name).get("valid_for", DEFAULT_VALID_FOR))
        summary: dict[str, Any] = {
            "amount": amount,
            "expected_saving": expected,
            "saving_basis": basis,
        }
        if variance is not None:
            summary["variance_reason"] = variance
        return Approval(
            stage=STAGE,
            roles=(ROLE,),
            mode="any",
            valid_for=parse_duration(valid_for),
            summary=summary,
        )

    def still_valid(self, ctx: GuardContext, signoff: Signoff) -> str | None:
        ref = ctx.project.ref
        signed = signoff.summary.get("expected_saving")
        current = ctx.project.expected_saving
        if current != signed:
            return (
                f"{STAGE}: the expected saving changed from {_pounds(signed)} to "
                f"{_pounds(current)} after it was signed off; request a new one "
                f"(qiflow signoff request {ref} {self.name})"
            )
        if not ctx.project.quality_objectives:
            return (
                f"{STAGE}: the project has no quality objective, and a finance sign-off "
                "never replaces one (strategy section 5.1)"
            )
        return None


@hookimpl
def qiflow_gates() -> Mapping[str, GateType]:
    return {FinanceSignoff.name: FinanceSignoff()}


@hookimpl
def qiflow_roles() -> Iterable[str]:
    return [ROLE]
