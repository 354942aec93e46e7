"""The requirements a workflow names to make risk assessment part of the lifecycle.

``risks_assessed``: at least one risk assessment recorded, or the owner's explicit
declaration that the project carries no significant risks (``qiflow risk none``).
``extreme_risks_reviewed``: no open extreme risk that the project's sponsor has not
reviewed since it became extreme (the shipped workflow names it on ``spread``).
"""

from __future__ import annotations

from collections.abc import Mapping

from qiflow.lifecycle.requirements import GuardContext, Requirement
from qiflow.plugins import hookimpl


def risks_assessed(ctx: GuardContext) -> list[str]:
    if ctx.risks() or ctx.declared_no_risks():
        return []
    ref = ctx.project.ref
    return [
        f"no risk assessment: record the project's risks (qiflow risk add {ref} ...) or, if it "
        f"carries none, the owner declares so (qiflow risk none {ref})"
    ]


def extreme_risks_reviewed(ctx: GuardContext) -> list[str]:
    sponsor = ctx.project.sponsor or "the sponsor, once named"
    return [
        f"risk {risk.id} is extreme (score {risk.score}) and awaits review by the sponsor "
        f"({sponsor}: qiflow risk review {ctx.project.ref} {risk.id} ...)"
        for risk in ctx.risks()
        if risk.awaits_sponsor()
    ]


REQUIREMENTS = {
    r.name: r
    for r in (
        Requirement(
            "risks_assessed",
            "a risk assessment is recorded, or the owner declared no significant risks",
            risks_assessed,
        ),
        Requirement(
            "extreme_risks_reviewed",
            "every open extreme risk has been reviewed by the sponsor since it became extreme",
            extreme_risks_reviewed,
        ),
    )
}


@hookimpl
def qiflow_requirements() -> Mapping[str, Requirement]:
    return REQUIREMENTS
