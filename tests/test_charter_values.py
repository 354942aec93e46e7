"""The driver diagram's rules as values, without a database: random edit sequences keep
the diagram well formed, and replaying the events gives the same diagram."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qiflow.charter import diagram as dd
from qiflow.charter import outline, render
from qiflow.exceptions import ValidationError

KINDS = st.sampled_from(dd.KINDS)
IDS = st.sampled_from(["P1", "P2", "P3", "S1", "S2", "S3", "S4", "C1", "C2", "C3", "C4", "C5"])
EDITS = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"), KINDS, st.text(min_size=1, max_size=8), st.lists(IDS, max_size=3)
        ),
        st.tuples(st.just("move"), IDS, st.lists(IDS, max_size=3)),
        st.tuples(st.just("rename"), IDS, st.text(min_size=1, max_size=8)),
        st.tuples(st.just("remove"), IDS),
        st.tuples(st.just("status"), IDS, st.sampled_from(dd.STATUSES)),
    ),
    max_size=40,
)


def plan(diagram: dd.DriverDiagram, edit: tuple) -> dd.CharterEvent | None:  # type: ignore[type-arg]
    match edit:
        case ("add", kind, title, under):
            return dd.add(diagram, kind, title, under=under)
        case ("move", node, under):
            return dd.move(diagram, node, under)
        case ("rename", node, title):
            return dd.rename(diagram, node, title)
        case ("remove", node):
            return dd.remove(diagram, node)
        case ("status", node, status):
            return dd.set_status(diagram, node, status)
    raise AssertionError(edit)


@settings(max_examples=300, deadline=None)
@given(EDITS)
def test_random_edits_keep_the_diagram_well_formed(edits: list[tuple]) -> None:  # type: ignore[type-arg]
    diagram = dd.DriverDiagram()
    events: list[dd.CharterEvent] = []
    ever: set[str] = set()
    for edit in edits:
        try:
            event = plan(diagram, edit)
        except ValidationError:
            continue
        if event is None:
            continue
        diagram = dd.apply(diagram, event)
        events.append(event)
        if event.type == dd.ADDED:
            assert event.payload["id"] not in ever, "ids are never reused"
            ever.add(event.payload["id"])
        ids = [n.id for n in diagram.nodes]
        assert len(ids) == len(set(ids))
        assert not set(ids) & set(diagram.retired)
        titles = [dd.title_key(n.title) for n in diagram.nodes]
        assert len(titles) == len(set(titles))
        for node in diagram.nodes:
            allowed = dd.PARENT_KINDS[node.kind]
            assert bool(node.parents) == bool(allowed), node
            for parent in node.parents:
                assert diagram.node(parent).kind in allowed, (node, parent)
            assert node.status in dd.STATUSES
    assert dd.replay(events) == diagram


def build() -> dd.DriverDiagram:
    diagram = dd.DriverDiagram()
    for kind, title, under in (
        ("primary", "Reliable prescribing", ()),
        ("secondary", "Clear charts", ("P1",)),
        ("idea", "Chart", ("S1",)),
        ("idea", "Check", ("S1",)),
        ("primary", "Engaged patients", ()),
        ("idea", "Texts", ("P2",)),
    ):
        diagram = dd.apply(diagram, dd.add(diagram, kind, title, under=under))
    return diagram


@pytest.mark.parametrize(
    ("statuses", "primary"),
    [
        ({}, "idea"),
        ({"C1": "abandoned"}, "idea"),
        ({"C1": "abandoned", "C2": "abandoned"}, "abandoned"),
        ({"C1": "adapted", "C2": "abandoned"}, "adapted"),
        ({"C1": "adapted", "C2": "testing"}, "testing"),
        ({"C1": "adopted", "C2": "testing"}, "adopted"),
    ],
)
def test_a_driver_shows_the_progress_of_the_ideas_beneath_it(
    statuses: dict[str, str], primary: str
) -> None:
    diagram = build()
    for node, status in statuses.items():
        event = dd.set_status(diagram, node, status)
        assert event is not None
        diagram = dd.apply(diagram, event)
    assert diagram.node("P1").status == primary
    assert diagram.node("S1").status == primary
    assert diagram.node("P2").status == "idea"


def test_status_is_only_for_change_ideas() -> None:
    diagram = build()
    with pytest.raises(ValidationError, match="only change ideas are tested"):
        dd.set_status(diagram, "S1", "adopted")
    with pytest.raises(ValidationError, match="'done' is not one of"):
        dd.set_status(diagram, "C1", "done")
    assert dd.set_status(diagram, "C1", "idea") is None


def test_mermaid_labels_escape_what_mermaid_would_read() -> None:
    diagram = dd.DriverDiagram()
    diagram = dd.apply(diagram, dd.add(diagram, "primary", 'A "quoted" <b>#1</b> `x`'))
    text = render.to_mermaid(diagram, "Aim;\nwith newline")
    assert 'P1["P1: A #quot;quoted#quot; #lt;b#gt;#35;1#lt;/b#gt; #96;x#96;"]' in text
    assert 'aim(["Aim: Aim; with newline"])' in text


def test_an_outline_may_not_repeat_only_what_exists() -> None:
    diagram = build()
    with pytest.raises(outline.OutlineError, match="nothing to import"):
        outline.plan(
            "primary,secondary,idea\nReliable prescribing,Clear charts,Chart\n", "csv", diagram
        )
    with pytest.raises(outline.OutlineError, match="the outline has no rows"):
        outline.plan("primary,idea\n,\n", "csv", diagram)
    with pytest.raises(outline.OutlineError, match="unknown column"):
        outline.plan("primary,secondry\nA,B\n", "csv", diagram)
    with pytest.raises(ValidationError, match="'xml' is not one of"):
        outline.plan("", "xml", diagram)
