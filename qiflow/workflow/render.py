"""Render a workflow as a Mermaid state diagram or as plain text."""

from __future__ import annotations

from qiflow.workflow.definition import PREVIOUS, Workflow


def _label(trigger: str, guards: tuple[str, ...], gates: tuple[str, ...]) -> str:
    extras = [*guards, *(f"gate:{g}" for g in gates)]
    return f"{trigger} [{', '.join(extras)}]" if extras else trigger


def to_mermaid(workflow: Workflow) -> str:
    lines = ["stateDiagram-v2", f"    %% {workflow.name} version {workflow.version}"]
    lines.append(f"    [*] --> {workflow.initial.name}")
    for t in workflow.transitions:
        label = _label(t.trigger, t.requires, t.gates)
        dest = "previous" if t.dest == PREVIOUS else t.dest
        if t.any_source:
            lines.append(f"    note left of {t.dest}: {t.trigger} from any active state")
            continue
        for source in t.sources:
            target = f"{source}_{dest}_return" if t.dest == PREVIOUS else dest
            if t.dest == PREVIOUS:
                lines.append(f"    {source} --> {target}: {label}")
                lines.append(f'    state "back to the state it left" as {target}')
            else:
                lines.append(f"    {source} --> {target}: {label}")
    for state in workflow.states:
        if state.final:
            lines.append(f"    {state.name} --> [*]")
    return "\n".join(lines) + "\n"


def to_text(workflow: Workflow) -> str:
    lines = [f"{workflow.name} version {workflow.version}: {workflow.title}", "", "states:"]
    for state in workflow.states:
        marks = [m for m, on in (("initial", state.initial), ("final", state.final)) if on]
        if state.review:
            marks.append(f"review every {state.review}")
        lines.append(f"  {state.name}" + (f" ({', '.join(marks)})" if marks else ""))
    lines += ["", "transitions:"]
    for t in workflow.transitions:
        source = "any active state" if t.any_source else ", ".join(t.sources)
        dest = "the previous state" if t.dest == PREVIOUS else t.dest
        lines.append(f"  {t.trigger}: {source} -> {dest}")
        for label, values in (
            ("roles", t.roles),
            ("requires", t.requires),
            ("gates", t.gates),
            ("effects", t.effects),
        ):
            if values:
                lines.append(f"      {label}: {', '.join(values)}")
        if t.on:
            lines.append(f"      fires automatically on: {t.on}")
    return "\n".join(lines) + "\n"
