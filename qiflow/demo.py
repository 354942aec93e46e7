"""``qiflow demo``: seed a sample portfolio and walk projects through the lifecycle."""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from importlib import resources
from typing import Any

from qiflow.clock import ManualClock, SystemClock
from qiflow.engine import Engine
from qiflow.exceptions import QiflowError
from qiflow.snapshots import EDITABLE_FIELDS, Project

Echo = Callable[[str], None]


def load_portfolio() -> list[dict[str, Any]]:
    text = resources.files("qiflow.data").joinpath("demo_portfolio.toml").read_text("utf-8")
    projects: list[dict[str, Any]] = tomllib.loads(text)["projects"]
    return projects


def run_step(engine: Engine, project: Project, step: Mapping[str, Any]) -> Project:
    """Run one scripted step as the project's owner."""
    actor = project.owner or "demo"
    args = {k: v for k, v in step.items() if k not in ("do", "expect")}
    match step["do"]:
        case "fire":
            trigger = args.pop("trigger")
            return engine.fire(project.ref, trigger, actor=actor, data=args)
        case "update":
            return engine.update_project(project.ref, actor=actor, **args)
        case "measure":
            name = args.pop("name")
            return engine.add_measure(project.ref, name, actor=actor, **args)
        case "data":
            return engine.record_data_point(
                project.ref, args["measure"], args["value"], actor=actor
            )
        case "pdsa":
            return engine.record_pdsa(project.ref, actor=actor, **args)
        case "review":
            return engine.record_review(project.ref, actor=actor, **args)
    raise ValueError(f"unknown demo step {step['do']!r}")


def describe(step: Mapping[str, Any], before: Project, after: Project) -> str:
    match step["do"]:
        case "fire":
            cycle = f" (PDSA cycle {after.current_cycle})" if after.current_cycle else ""
            return f"{step['trigger']}: {before.state} -> {after.state}{cycle}"
        case "measure":
            return f"measure added: {step['name']} ({step['kind']})"
        case "data":
            return f"data point: {step['measure']} = {step['value']:g}"
        case "pdsa":
            parts = [k for k in ("plan", "prediction", "observation", "study") if k in step]
            return f"PDSA cycle {max(after.current_cycle, 1)}: {', '.join(parts)} recorded"
        case "review":
            return f"review recorded; next due {after.next_review_at:%Y-%m-%d}"
        case _:
            return f"updated: {', '.join(k for k in step if k != 'do')}"


STEP = timedelta(days=1)


def run_demo(
    engine: Engine, clock: ManualClock, echo: Echo, portfolio: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Create every project in the portfolio and run its steps, a simulated day apart."""
    portfolio = load_portfolio() if portfolio is None else portfolio
    echo(f"Seeding {len(portfolio)} QI projects and walking them through the lifecycle.\n")
    refused = 0
    for entry in portfolio:
        fields = {k: v for k, v in entry.items() if k in EDITABLE_FIELDS and k != "title"}
        project = engine.create_project(entry["title"], actor=entry["owner"], **fields)
        steps = entry.get("steps", [])
        if steps:
            echo(f"{project.ref} {project.title}")
        for step in steps:
            clock.advance(STEP)
            try:
                after = run_step(engine, project, step)
            except QiflowError as exc:
                if step.get("expect") != "refused":
                    raise
                refused += 1
                echo(f"    refused, as the rules require: {exc}")
                continue
            echo(f"    {describe(step, project, after)}")
            project = after
        clock.advance(STEP)
    return {"projects": len(portfolio), "refused": refused}


def summarise(engine: Engine, echo: Echo) -> None:
    projects = engine.projects()
    counts = Counter(p.state for p in projects)
    echo("\nPortfolio by state:")
    for state, count in sorted(counts.items(), key=lambda item: -item[1]):
        echo(f"    {state:18}{count}")
    overdue = engine.projects(overdue=True)
    echo(f"\n{len(overdue)} project(s) overdue for review{', e.g.:' if overdue else '.'}")
    for project in overdue[:5]:
        echo(
            f"    {project.ref} {project.state:18}due {project.next_review_at:%Y-%m-%d}  "
            f"{project.title}"
        )
    breaks = engine.verify_audit()
    events = sum(len(engine.history(p.ref)) for p in projects)
    echo(
        f"\nAudit trail: {events} events in {len(projects)} hash chains, "
        f"{'all verified' if not breaks else f'{len(breaks)} BROKEN'}."
    )


def demo_clock(portfolio: list[dict[str, Any]]) -> ManualClock:
    """A clock that starts far enough back for the portfolio's history to end today."""
    steps = sum(len(entry.get("steps", [])) + 1 for entry in portfolio)
    return ManualClock(SystemClock().now() - steps * STEP)
