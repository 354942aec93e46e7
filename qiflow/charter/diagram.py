"""The driver diagram as immutable values, and the rules for editing it.

A diagram holds three kinds of node: primary drivers (directly under the aim),
secondary drivers (each under one primary driver) and change ideas (under one or
more drivers, primary or secondary). A node keeps its id for life (``P1``, ``S3``,
``C7``); a removed node's id is never given again, so PDSA cycles that tested it
still name it unambiguously. Because a node can only sit under a node of a higher
kind, the diagram cannot contain a cycle.

Every edit is planned by a function here that checks it against the current
diagram and returns the :class:`CharterEvent` that records it; :func:`apply` folds
an event into a diagram. The engine stores what ``apply`` returns, and replaying a
project's events through ``apply`` gives the stored diagram back.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from qiflow.charter.events import CharterEvent
from qiflow.exceptions import ValidationError

PRIMARY, SECONDARY, IDEA = "primary", "secondary", "idea"
#: Node kinds, from the aim outwards.
KINDS: tuple[str, ...] = (PRIMARY, SECONDARY, IDEA)
ID_PREFIX = {PRIMARY: "P", SECONDARY: "S", IDEA: "C"}
KIND_NAMES = {PRIMARY: "primary driver", SECONDARY: "secondary driver", IDEA: "change idea"}
#: What a node of each kind may sit under.
PARENT_KINDS: Mapping[str, tuple[str, ...]] = {
    PRIMARY: (),
    SECONDARY: (PRIMARY,),
    IDEA: (PRIMARY, SECONDARY),
}

UNTESTED, TESTING, ADOPTED, ADAPTED, ABANDONED = (
    "idea",
    "testing",
    "adopted",
    "adapted",
    "abandoned",
)
#: A change idea's status: untested ("idea"), being tested, or the last Act decision on it.
STATUSES: tuple[str, ...] = (UNTESTED, TESTING, ADOPTED, ADAPTED, ABANDONED)
#: The status an Act decision (the trigger that closes a PDSA cycle) gives the ideas it tested.
ACT_STATUS: Mapping[str, str] = {"adopt": ADOPTED, "adapt": ADAPTED, "abandon": ABANDONED}

ADDED, MOVED, RENAMED, REMOVED, STATUS_CHANGED = (
    "driver.added",
    "driver.moved",
    "driver.renamed",
    "driver.removed",
    "driver.status_changed",
)
#: The event types that change a diagram.
EVENT_TYPES: tuple[str, ...] = (ADDED, MOVED, RENAMED, REMOVED, STATUS_CHANGED)

MAX_TITLE = 200
#: How a driver's shown status follows from the ideas under it (highest wins).
_DRIVER_RANK = {ADOPTED: 4, TESTING: 3, ADAPTED: 2, UNTESTED: 1}


@dataclass(frozen=True)
class DriverNode:
    """One node of a driver diagram.

    ``status`` of a change idea is its own; a driver's is derived from the change
    ideas beneath it (the most advanced of adopted, testing, adapted, idea; abandoned
    only when every idea beneath it is). ``measures`` names the project's measures
    the node is expected to move.
    """

    id: str
    kind: str
    title: str
    status: str
    parents: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriverDiagram:
    """A project's driver diagram: its live nodes in the order they were added.

    ``retired`` holds the ids of removed nodes, which are never reused. Build one
    with :meth:`build` (or :func:`apply`), which derives the drivers' statuses.
    """

    nodes: tuple[DriverNode, ...] = ()
    retired: tuple[str, ...] = ()

    @classmethod
    def build(cls, nodes: Iterable[DriverNode], retired: Iterable[str] = ()) -> DriverDiagram:
        listed = list(nodes)
        children: dict[str, list[DriverNode]] = {}
        for node in listed:
            for parent in node.parents:
                children.setdefault(parent, []).append(node)

        def ideas_under(node_id: str) -> list[DriverNode]:
            found: dict[str, DriverNode] = {}
            for child in children.get(node_id, ()):
                if child.kind == IDEA:
                    found[child.id] = child
                else:
                    found.update((i.id, i) for i in ideas_under(child.id))
            return list(found.values())

        derived = [
            node if node.kind == IDEA else _with_status(node, _driver_status(ideas_under(node.id)))
            for node in listed
        ]
        return cls(tuple(derived), tuple(retired))

    @cached_property
    def _by_id(self) -> Mapping[str, DriverNode]:
        return {n.id: n for n in self.nodes}

    # reading ----------------------------------------------------------------------
    def get(self, node_id: str) -> DriverNode | None:
        return self._by_id.get(node_id.strip().upper())

    def node(self, node_id: str) -> DriverNode:
        """The live node ``node_id``; a ValidationError names the ids there are."""
        found = self.get(node_id)
        if found is None:
            if node_id.strip().upper() in self.retired:
                raise ValidationError(f"driver diagram node {node_id} was removed")
            known = ", ".join(n.id for n in self.nodes) or "none yet"
            raise ValidationError(f"the driver diagram has no node {node_id!r} (nodes: {known})")
        return found

    def of_kind(self, kind: str) -> tuple[DriverNode, ...]:
        return tuple(n for n in self.nodes if n.kind == kind)

    def children(self, node_id: str) -> tuple[DriverNode, ...]:
        return tuple(n for n in self.nodes if node_id in n.parents)

    def ideas(self) -> tuple[DriverNode, ...]:
        return self.of_kind(IDEA)

    def titled(self, title: str) -> DriverNode | None:
        key = title_key(title)
        return next((n for n in self.nodes if title_key(n.title) == key), None)

    def next_id(self, kind: str) -> str:
        prefix = ID_PREFIX[kind]
        used = [n.id for n in self.nodes] + list(self.retired)
        numbers = [int(i[len(prefix) :]) for i in used if i.startswith(prefix)]
        return f"{prefix}{max(numbers, default=0) + 1}"

    def __len__(self) -> int:
        return len(self.nodes)


def _with_status(node: DriverNode, status: str) -> DriverNode:
    return node if node.status == status else replace(node, status=status)


def _driver_status(ideas: Sequence[DriverNode]) -> str:
    if ideas and all(i.status == ABANDONED for i in ideas):
        return ABANDONED
    ranked = [i.status for i in ideas if i.status in _DRIVER_RANK]
    return max(ranked, key=_DRIVER_RANK.__getitem__, default=UNTESTED)


def title_key(title: str) -> str:
    """Titles are compared without case and with runs of spaces folded."""
    return " ".join(title.split()).casefold()


def clean_title(title: str, what: str = "a node") -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValidationError(f"{what} needs a title")
    if len(cleaned) > MAX_TITLE:
        raise ValidationError(f"{what}'s title is longer than {MAX_TITLE} characters")
    return cleaned


def split_ids(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"S1,S2"`` or ``["S1", "S2"]`` as clean upper-case ids, in order, without repeats."""
    parts = value.split(",") if isinstance(value, str) else value
    ids = [p.strip().upper() for p in parts if p.strip()]
    return tuple(dict.fromkeys(ids))


# planning edits -------------------------------------------------------------------
def add(
    diagram: DriverDiagram,
    kind: str,
    title: str,
    *,
    under: str | Sequence[str] = (),
    measures: Sequence[str] = (),
    known_measures: Collection[str] | None = None,
) -> CharterEvent:
    """Add a node of ``kind`` under ``under`` (driver ids; none for a primary driver)."""
    if kind not in KINDS:
        raise ValidationError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    title = clean_title(title, f"a {_kind_name(kind)}")
    _unique_title(diagram, title)
    parents = _parents(diagram, kind, split_ids(under))
    return CharterEvent(
        ADDED,
        {
            "id": diagram.next_id(kind),
            "kind": kind,
            "title": title,
            "parents": list(parents),
            "measures": list(_measures(measures, known_measures)),
        },
    )


def move(diagram: DriverDiagram, node_id: str, under: str | Sequence[str]) -> CharterEvent:
    """Put a secondary driver or change idea under other drivers."""
    node = diagram.node(node_id)
    if node.kind == PRIMARY:
        raise ValidationError(
            f"{node.id} is a primary driver: it sits under the aim and cannot move"
        )
    parents = _parents(diagram, node.kind, split_ids(under))
    if parents == node.parents:
        raise ValidationError(f"{node.id} is already under {', '.join(parents)}")
    return CharterEvent(MOVED, {"id": node.id, "from": list(node.parents), "to": list(parents)})


def rename(diagram: DriverDiagram, node_id: str, title: str) -> CharterEvent:
    node = diagram.node(node_id)
    title = clean_title(title, node.id)
    if title == node.title:
        raise ValidationError(f"{node.id} is already titled {title!r}")
    if title_key(title) != title_key(node.title):
        _unique_title(diagram, title)
    return CharterEvent(RENAMED, {"id": node.id, "from": node.title, "to": title})


def remove(
    diagram: DriverDiagram, node_id: str, *, in_test: Mapping[str, int] | None = None
) -> CharterEvent:
    """Remove a node that leaves nothing stranded.

    A node with children that sit only under it cannot go (move or remove them
    first); ``in_test`` maps change ideas named by an undecided PDSA cycle to that
    cycle, and those cannot go until the cycle's Act decision.
    """
    node = diagram.node(node_id)
    stranded = [c.id for c in diagram.children(node.id) if c.parents == (node.id,)]
    if stranded:
        raise ValidationError(
            f"{node.id} cannot be removed: it is the only driver of {', '.join(stranded)}; "
            "move or remove them first"
        )
    cycle = (in_test or {}).get(node.id)
    if cycle is not None:
        raise ValidationError(
            f"{node.id} is being tested by PDSA cycle {cycle}; record the cycle's Act "
            "decision (adopt, adapt or abandon) before removing it"
        )
    return CharterEvent(REMOVED, {"id": node.id, "kind": node.kind, "title": node.title})


def set_status(
    diagram: DriverDiagram, node_id: str, status: str, **context: Any
) -> CharterEvent | None:
    """A change idea's new status (``context``: the cycle and decision that set it).

    Returns None when the idea already has that status.
    """
    node = diagram.node(node_id)
    if node.kind != IDEA:
        raise ValidationError(
            f"{node.id} is a {_kind_name(node.kind)}; only change ideas are tested"
        )
    if status not in STATUSES:
        raise ValidationError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if node.status == status:
        return None
    return CharterEvent(
        STATUS_CHANGED, {"id": node.id, "from": node.status, "to": status, **context}
    )


def tested_ideas(diagram: DriverDiagram, ids: str | Sequence[str]) -> tuple[str, ...]:
    """Check that ``ids`` name live change ideas; return them clean."""
    found = split_ids(ids)
    if not found:
        raise ValidationError("name at least one change idea the cycle tests (e.g. C1)")
    for node_id in found:
        node = diagram.node(node_id)
        if node.kind != IDEA:
            raise ValidationError(
                f"{node.id} is a {_kind_name(node.kind)}, not a change idea: a PDSA cycle "
                "tests change ideas"
            )
    return found


# applying events ------------------------------------------------------------------
def apply(diagram: DriverDiagram, event: CharterEvent) -> DriverDiagram:
    """The diagram after ``event`` (one of :data:`EVENT_TYPES`)."""
    p = event.payload
    nodes = list(diagram.nodes)
    retired = list(diagram.retired)
    index = {n.id: i for i, n in enumerate(nodes)}
    match event.type:
        case "driver.added":
            nodes.append(
                DriverNode(
                    id=p["id"],
                    kind=p["kind"],
                    title=p["title"],
                    status=UNTESTED,
                    parents=tuple(p["parents"]),
                    measures=tuple(p.get("measures", ())),
                )
            )
        case "driver.moved":
            nodes[index[p["id"]]] = replace(nodes[index[p["id"]]], parents=tuple(p["to"]))
        case "driver.renamed":
            nodes[index[p["id"]]] = replace(nodes[index[p["id"]]], title=p["to"])
        case "driver.status_changed":
            nodes[index[p["id"]]] = replace(nodes[index[p["id"]]], status=p["to"])
        case "driver.removed":
            gone = p["id"]
            nodes = [
                replace(n, parents=tuple(x for x in n.parents if x != gone))
                for n in nodes
                if n.id != gone
            ]
            retired.append(gone)
        case _:
            raise ValueError(f"not a driver diagram event: {event.type}")
    return DriverDiagram.build(nodes, retired)


def replay(events: Iterable[CharterEvent]) -> DriverDiagram:
    """The diagram a project's events imply (events of other types are skipped)."""
    diagram = DriverDiagram()
    for event in events:
        if event.type in EVENT_TYPES:
            diagram = apply(diagram, event)
    return diagram


# checks ---------------------------------------------------------------------------
def _kind_name(kind: str) -> str:
    return KIND_NAMES[kind]


def _unique_title(diagram: DriverDiagram, title: str) -> None:
    same = diagram.titled(title)
    if same is not None:
        raise ValidationError(f"{same.id} is already titled {same.title!r}; titles are unique")


def _parents(diagram: DriverDiagram, kind: str, under: tuple[str, ...]) -> tuple[str, ...]:
    allowed = PARENT_KINDS[kind]
    if not allowed:
        if under:
            raise ValidationError("a primary driver sits under the aim: give no --under")
        return ()
    if not under:
        where = " or ".join(_kind_name(k) for k in allowed)
        raise ValidationError(f"a {_kind_name(kind)} goes under a {where}: give its id")
    if kind == SECONDARY and len(under) > 1:
        raise ValidationError("a secondary driver sits under one primary driver")
    for parent_id in under:
        parent = diagram.node(parent_id)
        if parent.kind not in allowed:
            where = " or ".join(_kind_name(k) for k in allowed)
            raise ValidationError(
                f"{parent.id} is a {_kind_name(parent.kind)}; a {_kind_name(kind)} goes "
                f"under a {where}"
            )
    return under


def _measures(measures: Sequence[str], known: Collection[str] | None) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(m.strip() for m in measures if m.strip()))
    if known is not None:
        unknown = [m for m in cleaned if m not in known]
        if unknown:
            listed = ", ".join(sorted(known)) or "none yet (add them with `measure add`)"
            raise ValidationError(
                f"no measure {', '.join(repr(m) for m in unknown)} on the project; "
                f"measures: {listed}"
            )
    return cleaned
