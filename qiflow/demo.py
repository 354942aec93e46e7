"""``qiflow demo``: seed a sample portfolio and walk projects through the lifecycle."""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from qiflow.builtin.qeia import DOMAINS as QEIA_DOMAINS
from qiflow.charter.diagram import STATUSES
from qiflow.clock import ManualClock, SystemClock
from qiflow.engine import Engine
from qiflow.exceptions import QiflowError
from qiflow.measurement.drawing import draw
from qiflow.risks.heatmap import render
from qiflow.risks.policy import BANDS
from qiflow.snapshots import EDITABLE_FIELDS, Person, Project

Echo = Callable[[str], None]


def _data() -> dict[str, Any]:
    text = resources.files("qiflow.data").joinpath("demo_portfolio.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_portfolio() -> list[dict[str, Any]]:
    projects: list[dict[str, Any]] = _data()["projects"]
    return projects


def load_people() -> list[Person]:
    return [
        Person(
            id=p["id"],
            name=p["name"],
            roles=tuple(p.get("roles", ())),
            directorate=p.get("directorate"),
            deputy_for=tuple(p.get("deputy_for", ())),
        )
        for p in _data()["people"]
    ]


def qeia_form(step: Mapping[str, Any]) -> dict[str, Any]:
    impact, likelihood = step.get("impact", 2), step.get("likelihood", 2)
    form: dict[str, Any] = {
        "scores": {domain: {"impact": impact, "likelihood": likelihood} for domain in QEIA_DOMAINS}
    }
    if "full_assessment" in step:
        form["full_assessment"] = step["full_assessment"]
    return form


def run_step(engine: Engine, project: Project, step: Mapping[str, Any]) -> Project:
    """Run one scripted step as the project's owner (or as ``by``)."""
    actor = project.owner or "demo"
    args = {k: v for k, v in step.items() if k not in ("do", "expect", "by")}
    decider = step.get("by") or project.sponsor or "demo"
    match step["do"]:
        case "set":
            name = args.pop("measure")
            return engine.configure_measure(project.ref, name, actor=actor, **args)
        case "import":
            return _import(engine, project, step, actor)
        case "rebase":
            points = engine.data_points(project.ref, step["measure"])
            at = points[step["at_point"] - 1].observed_at
            return engine.rebase_measure(
                project.ref, step["measure"], at=at, reason=step["reason"], actor=actor
            )
        case "qeia":
            return engine.request_signoff(project.ref, "qeia", qeia_form(step), actor=actor)
        case "approve" | "reject":
            return engine.decide_signoff(
                project.ref,
                "qeia",
                actor=decider,
                approve=step["do"] == "approve",
                on_behalf_of=args.get("on_behalf_of"),
                comment=args.get("comment"),
            )
        case "escalate":
            return engine.escalate(project.ref, actor=decider)
        case "fire":
            trigger = args.pop("trigger")
            return engine.fire(project.ref, trigger, actor=step.get("by") or actor, data=args)
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
        case "risk" | "risk_review" | "risk_action" | "risk_none":
            return _risk_step(engine, project, step, args, actor)
    raise ValueError(f"unknown demo step {step['do']!r}")


def _risk_step(
    engine: Engine, project: Project, step: Mapping[str, Any], args: dict[str, Any], actor: str
) -> Project:
    """A step on the project's risk register; returns the project as it now stands."""
    ref = project.ref
    if step["do"] == "risk":
        description = args.pop("description")
        args.setdefault("owner", actor)
        engine.add_risk(ref, description, actor=actor, **args)
    elif step["do"] == "risk_review":
        engine.review_risk(ref, args.pop("risk"), actor=step.get("by") or actor, **args)
    elif step["do"] == "risk_action":
        due = engine.clock.now().date() + timedelta(days=args.pop("due_in_days"))
        owner = args.pop("owner", actor)
        engine.add_risk_action(
            ref, args.pop("risk"), args.pop("text"), owner=owner, due=due, actor=actor
        )
    else:
        return engine.declare_no_significant_risks(ref, actor=actor, **args)
    return engine.get(ref)


def _describe_risk(engine: Engine, step: Mapping[str, Any], after: Project) -> str:
    if step["do"] == "risk_none":
        return "owner declared no significant risks"
    risks = engine.risks(after.ref)
    risk = risks[-1] if step["do"] == "risk" else next(r for r in risks if r.id == step["risk"])
    scored = f"{risk.band}, score {risk.score} ({risk.consequence} x {risk.likelihood})"
    if step["do"] == "risk":
        return f"risk {risk.id} added: {scored}, {risk.category}, review by {risk.review_by}"
    if step["do"] == "risk_action":
        action = risk.actions[-1]
        return f"risk {risk.id} action {action.id} for {action.owner}, due {action.due}"
    by = step.get("by") or after.owner
    return f"risk {risk.id} reviewed by {by}: {scored}; next review by {risk.review_by}"


def _series(step: Mapping[str, Any]) -> dict[str, list[float]]:
    """An import step's measures and values: ``series``, or ``measure`` and ``values``."""
    return dict(step["series"]) if "series" in step else {step["measure"]: step["values"]}


def _import(engine: Engine, project: Project, step: Mapping[str, Any], actor: str) -> Project:
    """Record each measure's values ``every`` days from the demo clock's now (the measures
    side by side), and move the clock past them."""
    every = timedelta(days=step.get("every", 7))
    start = engine.clock.now()
    done = project
    longest = 0
    for measure, values in _series(step).items():
        rows = [f"{(start + n * every).isoformat()},{v}" for n, v in enumerate(values)]
        done = engine.import_data_points(
            project.ref, measure, "date,value\n" + "\n".join(rows), actor=actor
        )
        longest = max(longest, len(rows))
    if isinstance(engine.clock, ManualClock):
        engine.clock.set(start + longest * every)
    return done


def describe(engine: Engine, step: Mapping[str, Any], before: Project, after: Project) -> str:
    programme = (
        "; programme status: " + after.programme_status
        if after.programme_status != before.programme_status
        else ""
    )
    signals = [
        f"; signal: {e.payload['kind']} ({e.payload['rule'] or 'icon'}, "
        f"{e.payload['variation_icon']}"
        + (f", assurance {e.payload['assurance_icon']}" if e.payload["assurance_icon"] else "")
        + ")"
        for e in engine.history(after.ref)
        if before.version < e.version <= after.version and e.type == "measure.signal"
    ]
    return _describe(engine, step, before, after) + programme + "".join(signals)


def _describe(engine: Engine, step: Mapping[str, Any], before: Project, after: Project) -> str:
    match step["do"]:
        case "qeia" | "approve" | "reject":
            latest = engine.signoffs(after.ref, "qeia")[-1]
            if step["do"] == "qeia":
                return (
                    f"{latest.stage} submitted (risk {latest.summary['risk']}); awaiting "
                    f"{(' and ' if latest.mode == 'all' else ' or ').join(latest.roles)}"
                )
            deputy = f" for {step['on_behalf_of']}" if "on_behalf_of" in step else ""
            verb = {"approve": "approved", "reject": "rejected"}[step["do"]]
            by = step.get("by") or before.sponsor
            return f"{latest.stage} {verb} by {by}{deputy}: now {latest.status}"
        case "escalate":
            return f"nominated for programme status by {step['by']}"
        case "fire":
            cycle = f" (PDSA cycle {after.current_cycle})" if after.current_cycle else ""
            return f"{step['trigger']}: {before.state} -> {after.state}{cycle}"
        case "measure":
            return f"measure added: {step['name']} ({step['kind']})"
        case "set":
            settings = ", ".join(f"{k} {v}" for k, v in step.items() if k not in ("do", "measure"))
            return f"measure {step['measure']}: {settings}"
        case "import":
            return "imported " + ", ".join(
                f"{len(values)} data points of {measure}"
                for measure, values in _series(step).items()
            )
        case "rebase":
            return f"rebased {step['measure']} from point {step['at_point']}: {step['reason']}"
        case "data":
            return f"data point: {step['measure']} = {step['value']:g}"
        case "pdsa":
            parts = [k for k in ("plan", "prediction", "observation", "study") if k in step]
            tests = f"; it tests {step['tests']}" if "tests" in step else ""
            return f"PDSA cycle {max(after.current_cycle, 1)}: {', '.join(parts)} recorded{tests}"
        case "review":
            return f"review recorded; next due {after.next_review_at:%Y-%m-%d}"
        case "risk" | "risk_review" | "risk_action" | "risk_none":
            return _describe_risk(engine, step, after)
        case _:
            return f"updated: {', '.join(k for k in step if k != 'do')}"


STEP = timedelta(days=1)


def run_demo(
    engine: Engine, clock: ManualClock, echo: Echo, portfolio: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Create every project in the portfolio and run its steps, a simulated day apart."""
    portfolio = load_portfolio() if portfolio is None else portfolio
    people = load_people()
    engine.import_people(people, actor="demo")
    echo(
        f"Imported {len(people)} people (sponsors, QI lead, Medical Director, Directors of "
        "Nursing, transformation team)."
    )
    echo(f"Seeding {len(portfolio)} QI projects and walking them through the lifecycle.\n")
    refused = 0
    for entry in portfolio:
        fields = {k: v for k, v in entry.items() if k in EDITABLE_FIELDS and k != "title"}
        project = engine.create_project(entry["title"], actor=entry["owner"], **fields)
        project = _charter(engine, project, entry)
        steps = entry.get("steps", [])
        if steps:
            note = (
                f" [candidate for programme status: {project.scale}]"
                if project.programme_status == "candidate"
                else ""
            )
            echo(f"{project.ref} {project.title}{note}")
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
            echo(f"    {describe(engine, step, project, after)}")
            project = after
        clock.advance(STEP)
    return {"projects": len(portfolio), "refused": refused}


def _charter(engine: Engine, project: Project, entry: Mapping[str, Any]) -> Project:
    """Import the entry's driver diagram outline and add its team, as the owner."""
    actor = entry["owner"]
    for member in entry.get("members", []):
        project = engine.add_team_member(
            project.ref, member["person"], role=member["role"], actor=actor
        )
    if "drivers" in entry:
        change = engine.import_drivers(
            project.ref, entry["drivers"], format="csv", actor=actor, source=project.ref
        )
        project = change.project
    return project


def summarise(engine: Engine, echo: Echo) -> None:
    projects = engine.projects()
    counts = Counter(p.state for p in projects)
    echo("\nPortfolio by state:")
    for state, count in sorted(counts.items(), key=lambda item: -item[1]):
        echo(f"    {state:18}{count}")
    ideas = Counter(idea.status for p in projects for idea in engine.driver_diagram(p.ref).ideas())
    echo(
        "\nChange ideas in the driver diagrams: "
        + ", ".join(f"{ideas[status]} {status}" for status in STATUSES)
    )
    board = engine.projects(programme="programme")
    candidates = engine.projects(programme="candidate")
    echo(
        f"\nTransformation Programme Board: {len(board)} programme project(s), "
        f"{len(candidates)} candidate(s)"
    )
    for project in board + candidates:
        echo(f"    {project.ref} {project.programme_status:10} {project.title}")
    overdue = engine.projects(overdue=True)
    echo(f"\n{len(overdue)} project(s) overdue for review{', e.g.:' if overdue else '.'}")
    for project in overdue[:5]:
        echo(
            f"    {project.ref} {project.state:18}due {project.next_review_at:%Y-%m-%d}  "
            f"{project.title}"
        )
    live = engine.risk_register()
    bands = Counter(r.band for r in live)
    echo(
        f"\nRisk register: {len(live)} live risk(s) across the portfolio ("
        + ", ".join(f"{bands.get(b, 0)} {b}" for b in reversed(BANDS))
        + f"); {len(engine.risk_register(overdue=True))} overdue for review."
    )
    echo(render(engine.risk_heat_map(live), engine.risk_policy()))
    breaks = engine.verify_audit()
    events = sum(len(engine.history(p.ref)) for p in projects)
    echo(
        f"\nAudit trail: {events} events in {len(projects)} hash chains, "
        f"{'all verified' if not breaks else f'{len(breaks)} BROKEN'}."
    )


def demo_clock(portfolio: list[dict[str, Any]]) -> ManualClock:
    """A clock that starts far enough back for the portfolio's history to end today."""
    steps = sum(len(entry.get("steps", [])) + 1 for entry in portfolio)
    imported = sum(
        max(map(len, _series(step).values())) * step.get("every", 7)
        for entry in portfolio
        for step in entry.get("steps", [])
        if step["do"] == "import"
    )
    return ManualClock(SystemClock().now() - steps * STEP - timedelta(days=imported))


def measurement(engine: Engine, echo: Echo) -> None:
    """The portfolio's signals, the suggested progress scores, and who reached sustained."""
    progress = engine.progress()
    kinds = Counter(
        e.payload["kind"]
        for p in progress
        for e in engine.history(p.project.ref)
        if e.type == "measure.signal"
    )
    echo(
        "\nMeasures: signals from the charts: "
        + ", ".join(f"{kinds[kind]} {kind}" for kind in ("improvement", "concern", "neutral"))
    )
    for found in progress:
        for chart in found.charts:
            if chart.chart == "xmr":
                assurance = f", assurance {chart.assurance_icon}" if chart.assurance_icon else ""
                echo(
                    f"    {found.project.ref} {chart.measure.name}: "
                    f"{chart.variation_icon}{assurance}"
                )
    scored = [p for p in progress if p.suggestion.score >= 2.0]
    echo("\nSuggested progress scores (2.0 and above; confirm with `review record --score`):")
    for found in scored:
        confirmed = f", confirmed {found.confirmed.score:.1f}" if found.confirmed else ""
        echo(
            f"    {found.project.ref} {found.suggestion.score:.1f} {found.suggestion.label}"
            f"{confirmed}"
        )


def write_charts(engine: Engine, folder: Path) -> int:
    """Every measure's chart with two or more points, as ``REF-measure.svg`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for found in engine.progress():
        for chart in found.charts:
            if chart.chart == "none":
                continue
            slug = "-".join(chart.measure.name.lower().split())
            ref = found.project.ref
            draw(
                chart,
                folder / f"{ref}-{slug}.svg",
                title=f"{ref} {chart.measure.name}",
                cycle_starts=engine.cycle_starts(ref),
            )
            written += 1
    return written
