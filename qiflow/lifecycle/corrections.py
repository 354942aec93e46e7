"""Putting right what was recorded by mistake, without rewriting history.

A data point, a measure or a PDSA entry (plan, prediction, an observation, study, or the
Act decision) can be corrected or voided, and a project created in error withdrawn. Each
is a command with a reason and an event; the original stays in the event trail, and
every query (and so SPC, reminders and escalation, which read through them) follows the
corrected record: a voided data point or measure is
left out, a withdrawn project is listed, reminded and escalated nowhere and takes no
further commands. A corrected Act decision gives the change ideas its cycle tested the
corrected status (a voided one puts them back in test and reopens the cycle); the
project's state is the workflow's and moves only by its transitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from qiflow import limits
from qiflow.charter import diagram as dd
from qiflow.clock import require_aware
from qiflow.exceptions import ValidationError
from qiflow.lifecycle import ideas
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.runner import Change, Request, Runner
from qiflow.snapshots import DIRECTIONS, MEASURE_KINDS, Measure, Project
from qiflow.store import Tx

#: The PDSA entries that can be corrected or voided (observations by their number).
PDSA_ENTRIES = ("plan", "prediction", "study", "act")
#: What a cycle's Act entry may say.
ACT_DECISIONS = tuple(dd.ACT_STATUS)
#: The event types corrections produce.
EVENT_TYPES = (
    "datapoint.corrected",
    "datapoint.voided",
    "measure.corrected",
    "measure.voided",
    "pdsa.corrected",
    "pdsa.voided",
    "project.withdrawn",
)


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a correction needs a reason: say what was wrong")
    return limits.check_text(reason, "reason", limit=limits.LONG, multiline=True).strip()


def _measure(draft: Draft, tx: Tx, name: str) -> Measure:
    found = [m for m in tx.records.measures(draft.values["id"]) if m.name == name]
    if not found:
        raise ValidationError(f"{draft.values['ref']} has no measure {name!r}")
    return found[0]


def correct_data_point(point_id: int, values: Mapping[str, Any], reason: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        found = tx.records.data_point(draft.values["id"], point_id)
        if found is None:
            raise ValidationError(f"{draft.values['ref']} has no data point {point_id}")
        measure, point = found
        if point.voided_at is not None or measure.voided_at is not None:
            raise ValidationError(f"data point {point_id} was voided; record a new one")
        tx.records.update_data_point(point_id, values)
        shown = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
        draft.emit(
            "datapoint.corrected",
            {"id": point_id, "measure": measure.name, **shown, "reason": reason},
        )

    return change


def void_data_point(point_id: int, reason: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        found = tx.records.data_point(draft.values["id"], point_id)
        if found is None:
            raise ValidationError(f"{draft.values['ref']} has no data point {point_id}")
        measure, point = found
        if point.voided_at is not None:
            raise ValidationError(f"data point {point_id} is already voided")
        tx.records.update_data_point(point_id, {"voided_at": draft.now})
        draft.emit("datapoint.voided", {"id": point_id, "measure": measure.name, "reason": reason})

    return change


def correct_measure(name: str, values: Mapping[str, str], reason: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        measure = _measure(draft, tx, name)
        new_name = values.get("name")
        live = tx.records.measures(draft.values["id"])
        if new_name and new_name != name and any(m.name == new_name for m in live):
            raise ValidationError(f"{draft.values['ref']} already has a measure {new_name!r}")
        tx.records.update_measure(measure.id, values)
        draft.emit("measure.corrected", {"measure": name, **values, "reason": reason})

    return change


def void_measure(name: str, reason: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        measure = _measure(draft, tx, name)
        tx.records.update_measure(measure.id, {"voided_at": draft.now})
        draft.emit("measure.voided", {"measure": name, "reason": reason})

    return change


def correct_pdsa(cycle: int, entry: str, text: str | None, reason: str) -> Change:
    """Replace (or, with ``text`` None, void) one entry of a PDSA cycle."""

    def change(draft: Draft, tx: Tx) -> None:
        ref = draft.values["ref"]
        found = tx.records.cycle(draft.values["id"], cycle)
        if found is None:
            raise ValidationError(f"{ref} has no PDSA cycle {cycle}")
        if entry.startswith("observation"):
            index = int(entry.removeprefix("observation")) - 1
            observations = list(found.observations)
            if not 0 <= index < len(observations):
                raise ValidationError(
                    f"PDSA cycle {cycle} of {ref} has {len(observations)} observation(s); "
                    f"there is no {entry}"
                )
            if text is None:
                del observations[index]
            else:
                observations[index] = text
            tx.records.save_cycle(draft.values["id"], cycle, {"observations": observations})
        else:
            if getattr(found, entry) is None:
                raise ValidationError(f"PDSA cycle {cycle} of {ref} has no {entry} to correct")
            tx.records.save_cycle(draft.values["id"], cycle, {entry: text})
            if entry == "act":  # the ideas the cycle tested follow the corrected decision
                if text is None:
                    ideas.reopen(draft, tx, cycle)
                else:
                    ideas.decide(draft, tx, cycle, text)
        payload: dict[str, Any] = {"cycle": cycle, "entry": entry, "reason": reason}
        if text is not None:
            payload["text"] = text
        draft.emit("pdsa.corrected" if text is not None else "pdsa.voided", payload)

    return change


def withdraw(reason: str) -> Change:
    def change(draft: Draft, tx: Tx) -> None:
        draft.set(withdrawn_at=draft.now, next_review_at=None, programme_status="none")
        draft.emit("project.withdrawn", {"reason": reason, "state": draft.values["state"]})

    return change


class CorrectionCommands:
    """The engine's corrections: each checks its input, then one runner call."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def correct_data_point(
        self,
        project: str,
        point_id: int,
        request: Request,
        *,
        reason: str,
        value: float | None = None,
        observed_at: datetime | None = None,
        note: str | None = None,
    ) -> Project:
        values: dict[str, Any] = {}
        if value is not None:
            values["value"] = limits.check_value(value)
        if observed_at is not None:
            values["observed_at"] = require_aware(observed_at, "observed_at")
        if note is not None:
            values["note"] = limits.check_text(note, "note", limit=limits.LONG, multiline=True)
        if not values:
            raise ValidationError("nothing to correct: give value, observed_at or note")
        change = correct_data_point(point_id, values, _reason(reason))
        return self._runner.run(project, "datapoint.correct", change, request)

    def void_data_point(
        self, project: str, point_id: int, request: Request, *, reason: str
    ) -> Project:
        change = void_data_point(point_id, _reason(reason))
        return self._runner.run(project, "datapoint.void", change, request)

    def correct_measure(
        self, project: str, measure: str, request: Request, *, reason: str, **fields: str | None
    ) -> Project:
        values = {k: v for k, v in fields.items() if v is not None}
        if not values:
            raise ValidationError("nothing to correct: give name, kind, unit or direction")
        problems = []
        for key in ("name", "unit"):
            if key in values:
                limit = 50 if key == "unit" else limits.SHORT
                values[key] = limits.check_text(values[key], key, limit=limit).strip()
                if not values[key]:
                    problems.append(f"a measure's {key} cannot be empty")
        if "kind" in values and values["kind"] not in MEASURE_KINDS:
            problems.append(f"kind {values['kind']!r} is not one of {', '.join(MEASURE_KINDS)}")
        if "direction" in values and values["direction"] not in DIRECTIONS:
            problems.append(
                f"direction {values['direction']!r} is not one of {', '.join(DIRECTIONS)}"
            )
        if problems:
            raise ValidationError("; ".join(problems))
        change = correct_measure(measure, values, _reason(reason))
        return self._runner.run(project, "measure.correct", change, request)

    def void_measure(self, project: str, measure: str, request: Request, *, reason: str) -> Project:
        return self._runner.run(
            project, "measure.void", void_measure(measure, _reason(reason)), request
        )

    def correct_pdsa(
        self,
        project: str,
        cycle: int,
        entry: str,
        request: Request,
        *,
        reason: str,
        text: str | None,
    ) -> Project:
        entries = (*PDSA_ENTRIES, "observationN")
        number = entry.removeprefix("observation")
        if entry not in PDSA_ENTRIES and not (
            entry.startswith("observation") and number.isdigit() and int(number) >= 1
        ):
            raise ValidationError(f"entry {entry!r} is not one of {', '.join(entries)}")
        if text is not None:
            text = limits.check_text(text, entry, limit=limits.LONG, multiline=True).strip()
            if not text:
                raise ValidationError(f"the corrected {entry} is empty: void it instead")
            if entry == "act" and text not in ACT_DECISIONS:
                raise ValidationError(
                    f"act {text!r} is not one of {', '.join(ACT_DECISIONS)}; "
                    "leave the text out to void the decision"
                )
        change = correct_pdsa(cycle, entry, text, _reason(reason))
        return self._runner.run(project, "pdsa.correct", change, request)

    def withdraw(self, project: str, request: Request, *, reason: str) -> Project:
        return self._runner.run(project, "withdraw", withdraw(_reason(reason)), request)
