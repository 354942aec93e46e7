"""The commands: what each one does to a project, as ``Change`` functions for the runner.

Input that can be checked without the database is checked by the caller
(:class:`~qiflow.engine.Engine`) before a transaction starts; what needs the
project's current state is checked here, inside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from qiflow.exceptions import ValidationError
from qiflow.lifecycle import ideas
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.runner import Change, store_definition
from qiflow.lifecycle.steps import Lifecycle
from qiflow.store import Tx
from qiflow.workflow import WorkflowRegistry


def apply_fields(
    lifecycle: Lifecycle,
    draft: Draft,
    values: Mapping[str, Any],
    plugin_values: Mapping[str, Any] | None = None,
) -> None:
    """Set the fields that really change and record them in one ``project.updated``;
    ``plugin_values`` (fields plugins declare) are recorded under ``changes.fields``."""
    changed = {k: v for k, v in values.items() if draft.values.get(k) != v}
    stored = draft.values.get("plugin_fields") or {}
    extra = {k: v for k, v in (plugin_values or {}).items() if stored.get(k) != v}
    if not changed and not extra:
        return
    removes_quality = "quality_objectives" in changed and not changed["quality_objectives"]
    if removes_quality and draft.values["state"] != lifecycle.workflow(draft.project).initial.name:
        raise ValidationError(
            f"{draft.values['ref']}: an improvement plan without a quality objective is "
            "refused, even with a financial objective (strategy section 5.1); replace "
            "the quality objective rather than removing it"
        )
    draft.set(**changed)
    if extra:
        merged = {k: v for k, v in {**stored, **extra}.items() if v is not None}
        draft.set(plugin_fields=merged)
    draft.emit("project.updated", {"changes": {**changed, **({"fields": extra} if extra else {})}})


def update(
    lifecycle: Lifecycle, values: Mapping[str, Any], plugin_values: Mapping[str, Any] | None = None
) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        apply_fields(lifecycle, draft, values, plugin_values)

    return change


def fire(
    lifecycle: Lifecycle,
    trigger: str,
    *,
    actor: str,
    values: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        if values:
            apply_fields(lifecycle, draft, values)
        lifecycle.fire(draft, tx, trigger, actor=actor, data=extra)

    return change


def record_pdsa(
    cycle: int | None,
    given: Mapping[str, str],
    note: str | None,
    tests: str | Sequence[str] | None = None,
) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        current = draft.values["current_cycle"]
        number = cycle if cycle is not None else max(current, 1)
        if number < 1 or number > max(current, 1):
            raise ValidationError(
                f"{draft.values['ref']} has no PDSA cycle {number}; "
                f"the current cycle is {max(current, 1)}"
            )
        existing = tx.records.cycle(draft.values["id"], number)
        if existing is not None and existing.act:
            raise ValidationError(
                f"PDSA cycle {number} is closed (decision: "
                f"{existing.act}); record on cycle {current}"
            )
        values: dict[str, Any] = dict(given)
        if note:
            observations = list(existing.observations) if existing else []
            values["observations"] = [*observations, note]
        added = ideas.named(tx, draft.values["id"], number, tests) if tests is not None else []
        if added:
            values["tests"] = [*(existing.tests if existing else ()), *added]
        tx.records.save_cycle(draft.values["id"], number, values)
        payload: dict[str, Any] = {"cycle": number, **given}
        if note:
            payload["observation"] = note
        if added:
            payload["tests"] = added
        draft.emit("pdsa.recorded", payload)
        ideas.mark_testing(draft, tx, number, added)

    return change


def add_measure(name: str, kind: str, unit: str, direction: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        for existing in tx.records.measures(draft.values["id"]):
            if existing.name == name:
                raise ValidationError(
                    f"{draft.values['ref']} already has a measure {name!r}: "
                    "choose another name, or correct or void that one"
                )
        tx.records.add_measure(
            {
                "project_id": draft.values["id"],
                "name": name,
                "kind": kind,
                "unit": unit,
                "direction": direction,
            }
        )
        draft.emit(
            "measure.added", {"name": name, "kind": kind, "unit": unit, "direction": direction}
        )

    return change


def record_data_point(measure: str, value: float, when: datetime, note: str | None) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        found = [m for m in tx.records.measures(draft.values["id"]) if m.name == measure]
        if not found:
            raise ValidationError(f"{draft.values['ref']} has no measure {measure!r}")
        point = tx.records.add_data_point(
            {"measure_id": found[0].id, "observed_at": when, "value": value, "note": note}
        )
        draft.emit(
            "datapoint.recorded",
            {
                "id": point,
                "measure": measure,
                "value": value,
                "observed_at": when.isoformat(),
                "note": note,
            },
        )

    return change


def record_review(lifecycle: Lifecycle, notes: str | None, progress_score: float | None) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        state = lifecycle.workflow(draft.project).state(draft.values["state"])
        if state.review is None:
            raise ValidationError(
                f"{draft.values['ref']} is {state.name}, a state with no review cadence"
            )
        due = state.review.after(draft.now, lifecycle.zone)
        draft.set(next_review_at=due)
        draft.emit(
            "review.recorded",
            {"notes": notes, "progress_score": progress_score, "next_review_at": due.isoformat()},
        )

    return change


def migrate(registry: WorkflowRegistry, to_version: int) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        current = draft.project
        target = registry.get(current.workflow, to_version)
        if to_version == current.workflow_version:
            raise ValidationError(
                f"{current.ref} is already on {current.workflow} version {to_version}"
            )
        missing = [
            s
            for s in (current.state, current.previous_state)
            if s is not None and not target.has_state(s)
        ]
        if missing:
            raise ValidationError(
                f"{current.ref} cannot move to {current.workflow} version {to_version}: "
                f"state {missing[0]!r} does not exist there; fire a transition to a state "
                "both versions share first"
            )
        store_definition(tx, target, draft.now)
        draft.set(workflow_version=to_version)
        draft.emit(
            "project.migrated", {"from_version": current.workflow_version, "to_version": to_version}
        )

    return change
