"""Graph checks on a workflow's states and transitions."""

from __future__ import annotations

from collections.abc import Sequence

from qiflow.workflow.definition import PREVIOUS, Problem, StateDef, TransitionDef


def check_graph(
    path: str, states: Sequence[StateDef], transitions: Sequence[TransitionDef]
) -> list[Problem]:
    problems: list[Problem] = []
    initials = [s.name for s in states if s.initial]
    if not initials:
        problems.append(Problem(path, "states", "no initial state: mark one with initial = true"))
    elif len(initials) > 1:
        problems.append(
            Problem(path, "states", f"more than one initial state: {', '.join(initials)}")
        )
    finals = {s.name for s in states if s.final}
    names = [s.name for s in states]
    edges = _edges(names, transitions)
    for index, transition in enumerate(transitions):
        for source in transition.sources:
            if source in finals:
                problems.append(
                    Problem(
                        path,
                        f"transitions[{index}].source",
                        f"final state {source!r} cannot have outgoing transitions",
                    )
                )
    for state in states:
        if not state.final and not edges.get(state.name, set()) - {state.name}:
            problems.append(
                Problem(
                    path,
                    f"states.{state.name}",
                    "non-final state with no way out: add a transition from it or mark it final",
                )
            )
    if len(initials) == 1:
        reachable = _reachable(initials[0], edges)
        for state in states:
            if state.name not in reachable:
                problems.append(
                    Problem(
                        path,
                        f"states.{state.name}",
                        f"unreachable from the initial state {initials[0]!r}",
                    )
                )
    return problems


def _edges(names: Sequence[str], transitions: Sequence[TransitionDef]) -> dict[str, set[str]]:
    """Directed edges; ``@previous`` goes back to every state that leads into its source."""
    known = set(names)
    edges: dict[str, set[str]] = {name: set() for name in names}
    for t in transitions:
        if t.dest != PREVIOUS and t.dest in known:
            for source in t.sources:
                if source in known:
                    edges[source].add(t.dest)
    for t in transitions:
        if t.dest == PREVIOUS:
            for source in t.sources:
                if source in known:
                    edges[source].update(n for n, outs in edges.items() if source in outs)
    return edges


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen
