"""Change ideas in PDSA cycles: naming the ideas a cycle tests, and the Act decision on them.

Used by ``record_pdsa`` (a cycle's plan names what it tests: those ideas are now
being tested) and by the ``record_act_decision`` effect (adopt, adapt or abandon
gives each idea the cycle tested that status). Each status change is a
``driver.status_changed`` event naming the cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from qiflow.charter import diagram as dd
from qiflow.lifecycle.draft import Draft
from qiflow.store import Tx


def named(tx: Tx, project_id: str, cycle: int, tests: str | Sequence[str]) -> list[str]:
    """Check that ``tests`` are live change ideas; return the ones cycle ``cycle`` adds."""
    ids = dd.tested_ideas(tx.charters.diagram(project_id), tests)
    existing = tx.records.cycle(project_id, cycle)
    return [i for i in ids if existing is None or i not in existing.tests]


def mark_testing(draft: Draft, tx: Tx, cycle: int, ids: Sequence[str]) -> None:
    """Ideas a cycle's plan now names are being tested."""
    if not ids:
        return
    before = tx.charters.diagram(draft.values["id"])
    _set_status(draft, tx, before, ids, dd.TESTING, {"cycle": cycle})


def reopen(draft: Draft, tx: Tx, cycle: int) -> None:
    """Cycle ``cycle``'s Act decision was voided: the live ideas it tested are in test again."""
    found = tx.records.cycle(draft.values["id"], cycle)
    if found is None or not found.tests:
        return
    before = tx.charters.diagram(draft.values["id"])
    live = [i for i in found.tests if before.get(i) is not None]
    _set_status(draft, tx, before, live, dd.TESTING, {"cycle": cycle})


def decide(draft: Draft, tx: Tx, cycle: int, trigger: str) -> None:
    """The Act decision ``trigger`` on cycle ``cycle``: its ideas take the matching status."""
    status = dd.ACT_STATUS.get(trigger)
    found = tx.records.cycle(draft.values["id"], cycle)
    if status is None or found is None or not found.tests:
        return
    before = tx.charters.diagram(draft.values["id"])
    live = [i for i in found.tests if before.get(i) is not None]
    _set_status(draft, tx, before, live, status, {"cycle": cycle, "decision": trigger})


def in_test(tx: Tx, project_id: str) -> dict[str, int]:
    """Ideas named by a cycle that has no Act decision yet, with that cycle."""
    return {
        idea: cycle.number
        for cycle in tx.records.cycles(project_id)
        if not cycle.act
        for idea in cycle.tests
    }


def _set_status(
    draft: Draft,
    tx: Tx,
    before: dd.DriverDiagram,
    ids: Iterable[str],
    status: str,
    context: dict[str, object],
) -> None:
    after = before
    for idea in ids:
        event = dd.set_status(after, idea, status, **context)
        if event is not None:
            after = dd.apply(after, event)
            draft.emit(event.type, event.payload)
    tx.charters.save_diagram(draft.values["id"], before, after)
