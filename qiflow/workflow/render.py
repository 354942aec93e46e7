"""Render a workflow as a Mermaid state diagram or as plain text."""

from __future__ import annotations

import re

from qiflow.workflow.definition import PREVIOUS, TransitionDef, Workflow

# Mermaid's state-diagram grammar (stateDiagram-v2) reads a line by its first word, so a
# state named `note`, `state`, `class` or `default` would be taken for a keyword: every state
# gets an id of its own (`s_` + name, and `r_` + name for the return from it to the state it
# left) and shows its name as a quoted label. Labels end at `:` or `;`, and `#`, `%` and `"`
# start entities, comments and strings, so no label contains them.
_NOT_IN_LABELS = re.compile(r'[:;#%"\r\n]+')


def _plain(text: str) -> str:
    return _NOT_IN_LABELS.sub(" ", text).strip()


def _state_id(name: str) -> str:
    return f"s_{name}"


def _return_id(source: str) -> str:
    return f"r_{source}"


def _label(transition: TransitionDef) -> str:
    extras = [*transition.requires, *(f"gate {g}" for g in transition.gates)]
    label = f"{transition.trigger} [{', '.join(extras)}]" if extras else transition.trigger
    return _plain(label)


def to_mermaid(workflow: Workflow) -> str:
    """The workflow as a Mermaid ``stateDiagram-v2``.

    Every state is declared before any edge or note uses it (Mermaid draws a note only on a
    state it already knows). A transition from any active state is a note on its
    destination; a return to the previous state goes to a node of its own per source.
    """
    returns = dict.fromkeys(s for t in workflow.transitions if t.returns for s in t.sources)
    from_anywhere: dict[str, list[str]] = {}
    for t in workflow.transitions:
        if t.any_source:
            from_anywhere.setdefault(t.dest, []).append(t.trigger)

    lines = ["stateDiagram-v2", f"    %% {_plain(workflow.name)} version {workflow.version}"]
    lines += [f'    state "{_plain(s.name)}" as {_state_id(s.name)}' for s in workflow.states]
    lines += [f'    state "back to the state it left" as {_return_id(s)}' for s in returns]
    lines.append(f"    [*] --> {_state_id(workflow.initial.name)}")
    for t in workflow.transitions:
        if t.any_source:
            continue
        for source in t.sources:
            target = _return_id(source) if t.returns else _state_id(t.dest)
            lines.append(f"    {_state_id(source)} --> {target}: {_label(t)}")
    for dest, triggers in from_anywhere.items():
        text = _plain(f"{', '.join(triggers)} from any active state")
        lines.append(f"    note left of {_state_id(dest)}: {text}")
    lines += [f"    {_state_id(s.name)} --> [*]" for s in workflow.states if s.final]
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
