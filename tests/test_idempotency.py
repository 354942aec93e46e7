"""Idempotency keys are bound to their request, replay refusals, and expire (issue 8, bug 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qiflow import Engine, IdempotencyConflict, ManualClock, PermissionDenied, ValidationError
from tests.helpers import LOW_RISK, OWNER, SPONSOR, new_project


def test_the_same_key_with_another_title_is_a_conflict(engine: Engine) -> None:
    first = engine.create_project("Reduce falls", actor=OWNER, idempotency_key="k-1")
    again = engine.create_project("Reduce falls", actor=OWNER, idempotency_key="k-1")
    assert again.ref == first.ref  # the same request: the same result
    with pytest.raises(IdempotencyConflict, match="'k-1'") as raised:
        engine.create_project("Reduce pressure ulcers", actor=OWNER, idempotency_key="k-1")
    assert raised.value.key == "k-1"
    assert isinstance(raised.value, ValidationError)
    assert [p.title for p in engine.projects()] == ["Reduce falls"]


def test_a_key_reused_for_another_change_of_the_same_project_is_a_conflict(
    engine: Engine,
) -> None:
    project = new_project(engine)
    engine.update_project(project.ref, actor=OWNER, aim="Halve falls", idempotency_key="u-1")
    with pytest.raises(IdempotencyConflict):
        engine.update_project(project.ref, actor=OWNER, aim="Stop falls", idempotency_key="u-1")
    assert engine.get(project.ref).aim == "Halve falls"


def test_a_replayed_refused_signoff_is_refused_again(engine: Engine) -> None:
    project = new_project(engine)
    engine.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)
    with pytest.raises(PermissionDenied) as first:
        engine.decide_signoff(
            project.ref, "qeia", actor="mallory", approve=True, idempotency_key="d-1"
        )
    events = len(engine.history(project.ref))
    with pytest.raises(PermissionDenied) as replay:
        engine.decide_signoff(
            project.ref, "qeia", actor="mallory", approve=True, idempotency_key="d-1"
        )
    assert str(replay.value) == str(first.value)
    assert len(engine.history(project.ref)) == events  # nothing recorded twice
    assert engine.decide_signoff(project.ref, "qeia", actor=SPONSOR, approve=True).version


def test_keys_expire_after_the_configured_period(db_url: str) -> None:
    clock = ManualClock()
    with Engine(db_url, clock=clock, idempotency_expiry=timedelta(hours=1)) as engine:
        first = engine.create_project("A", actor=OWNER, idempotency_key="k")
        clock.advance(timedelta(minutes=59))
        assert engine.create_project("A", actor=OWNER, idempotency_key="k").ref == first.ref
        clock.advance(timedelta(minutes=2))
        second = engine.create_project("B", actor=OWNER, idempotency_key="k")  # a new request
        assert second.ref != first.ref
