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
    start = initials[0] if len(initials) == 1 else None
    edges = _edges(names, transitions, start)
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
    if start is not None:
        reachable = _reachable(start, edges)
        for state in states:
            if state.name not in reachable:
                problems.append(
                    Problem(
                        path,
                        f"states.{state.name}",
                        f"unreachable from the initial state {start!r}",
                    )
                )
    return problems


def _edges(
    names: Sequence[str], transitions: Sequence[TransitionDef], start: str | None
) -> dict[str, set[str]]:
    """Directed edges; ``@previous`` goes back only to where a project can have come from.

    A ``@previous`` from S leads to a state P only if P is itself reachable and has an
    edge into S: returning cannot take a project somewhere it never was. The edges grow
    until nothing more is reachable.
    """
    known = set(names)
    edges: dict[str, set[str]] = {name: set() for name in names}
    for t in transitions:
        if t.dest != PREVIOUS and t.dest in known:
            for source in t.sources:
                if source in known:
                    edges[source].add(t.dest)
    returning = [s for t in transitions if t.dest == PREVIOUS for s in t.sources if s in known]
    if not returning:
        return edges
    while True:
        reachable = _reachable(start, edges) if start is not None else known
        added = False
        for source in returning:
            for name in reachable:
                if source in edges[name] and name not in edges[source]:
                    edges[source].add(name)
                    added = True
        if not added:
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
