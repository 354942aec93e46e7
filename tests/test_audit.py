"""Tampering with stored events (change, delete, reorder) is caught by ``audit verify``."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError

from qiflow import Engine
from qiflow.cli import main
from qiflow.store import normalise_url
from tests.helpers import drive_to, new_project


def _populate(engine: Engine) -> tuple[str, list[int]]:
    new_project(engine, "Bystander")
    project = drive_to(engine, "adopted")
    return project.id, [e.seq for e in engine.history(project.ref)]


def change_payload(conn: Connection, seqs: list[int]) -> int:
    target = conn.execute(
        text(
            "SELECT min(seq) FROM qiflow_event WHERE type = 'project.transitioned' "
            'AND payload LIKE \'%"to":"pdsa_testing"%\''
        )
    ).scalar_one()
    assert target in seqs
    conn.execute(
        text(
            "UPDATE qiflow_event SET payload = replace(payload, 'pdsa_testing', 'adopted') "
            "WHERE seq = :seq"
        ),
        {"seq": target},
    )
    return int(target)


def change_actor(conn: Connection, seqs: list[int]) -> int:
    conn.execute(
        text("UPDATE qiflow_event SET actor = 'mallory' WHERE seq = :seq"), {"seq": seqs[3]}
    )
    return seqs[3]


def delete_middle(conn: Connection, seqs: list[int]) -> int:
    conn.execute(text("DELETE FROM qiflow_event WHERE seq = :seq"), {"seq": seqs[4]})
    return seqs[5]  # the next row no longer follows its predecessor


def delete_last(conn: Connection, seqs: list[int]) -> None:
    conn.execute(text("DELETE FROM qiflow_event WHERE seq = :seq"), {"seq": seqs[-1]})


def reorder(conn: Connection, seqs: list[int]) -> int:
    a, b = seqs[2], seqs[3]
    conn.execute(text("UPDATE qiflow_event SET pos = -pos WHERE seq IN (:a, :b)"), {"a": a, "b": b})
    conn.execute(text("UPDATE qiflow_event SET pos = 3 WHERE seq = :b"), {"b": b})
    conn.execute(text("UPDATE qiflow_event SET pos = 4 WHERE seq = :a"), {"a": a})
    return b


def edit_row(conn: Connection, seqs: list[int]) -> None:
    conn.execute(text("UPDATE qiflow_project SET state = 'sustained' WHERE ref = 'QI-0002'"))


def bypass_append_only(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER qiflow_event_append_only_update"))
        conn.execute(text("DROP TRIGGER qiflow_event_append_only_delete"))
    else:
        conn.execute(text("ALTER TABLE qiflow_event DISABLE TRIGGER qiflow_event_append_only"))


@pytest.mark.parametrize(
    "statement", ["UPDATE qiflow_event SET actor = 'mallory'", "DELETE FROM qiflow_event"]
)
def test_the_database_refuses_to_change_events(engine: Engine, db_url: str, statement: str) -> None:
    _populate(engine)
    raw = create_engine(normalise_url(db_url))
    try:
        with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(text(statement))
    finally:
        raw.dispose()
    assert engine.verify_audit() == []


TAMPERING: dict[str, Callable[[Connection, list[int]], int | None]] = {
    "change payload": change_payload,
    "change actor": change_actor,
    "delete middle": delete_middle,
    "delete last": delete_last,
    "reorder": reorder,
    "edit project row": edit_row,
}


def test_untouched_trail_verifies(engine: Engine, db_url: str) -> None:
    _populate(engine)
    result = CliRunner().invoke(main, ["--db", db_url, "audit", "verify"])
    assert result.exit_code == 0
    assert "ok: 2 project chain(s) verified" in result.output


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampering_is_caught(engine: Engine, db_url: str, how: str) -> None:
    _, seqs = _populate(engine)
    raw = create_engine(normalise_url(db_url))
    try:
        with raw.begin() as conn:
            bypass_append_only(conn)  # as someone with the rights to alter the schema could
            first_broken = TAMPERING[how](conn, seqs)
    finally:
        raw.dispose()
    result = CliRunner().invoke(main, ["--db", db_url, "audit", "verify", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    [found] = report["breaks"]
    assert found["project"] == "QI-0002"
    assert found["seq"] == first_broken
    text_result = CliRunner().invoke(main, ["--db", db_url, "audit", "verify"])
    assert text_result.exit_code == 1
    assert "BROKEN QI-0002" in text_result.output


def test_a_command_committing_during_the_check_is_not_tampering(engine: Engine) -> None:
    """Issue 8, bug 3: a project's head and its events were read in two transactions, so
    a command committing between them looked like deleted or changed events."""
    first = engine.create_project("First", actor="olivia", owner="olivia", sponsor="sam")
    second = engine.create_project("Second", actor="olivia", owner="olivia", sponsor="sam")
    check = engine.iter_audit()
    assert next(check) == (first.ref, None)  # every head has been read by now
    engine.record_review(second.ref, actor="olivia", notes="while the audit runs")
    engine.update_project(second.ref, actor="olivia", title="Second, renamed")
    assert list(check) == [(second.ref, None)]
    assert engine.verify_audit() == []  # and a new check sees the new events
