"""Personal data: `people export` (subject access) and `people forget` (erasure).

After forgetting, the person's name and e-mail address are in no text column of any table
(searched independently of qiflow, row by row), every hash chain and replay still verifies,
and the id reads "former staff member".
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.exposition import generate_latest
from sqlalchemy import create_engine, inspect, text

from qiflow import Engine, ManualClock, Person
from qiflow.cli import main
from qiflow.config import load_settings
from qiflow.daemon import Daemon
from qiflow.exceptions import ConfigError, ValidationError
from qiflow.pytest_plugin import run_daemon_pass
from tests.helpers import OWNER, SPONSOR, add_change_idea, pass_qeia

NAME, EMAIL = "Zoë Quayle-Hart", "zoe.quayle-hart@trust.example"
NEEDLES = (NAME, EMAIL)


def search_everything(url: str, needles: tuple[str, ...]) -> list[str]:
    """Every table and column holding a needle, as written or JSON-escaped, any case."""
    forms = {f.lower() for n in needles for f in (n, json.dumps(n)[1:-1])}
    sql = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    found = []
    try:
        with sql.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                    for column, value in row.items():
                        shown = value if isinstance(value, str) else json.dumps(value, default=str)
                        if any(form in shown.lower() for form in forms):
                            found.append(f"{table}.{column}")
    finally:
        sql.dispose()
    return sorted(set(found))


def seed(engine: Engine, clock: ManualClock) -> str:
    """A project whose owner is the person, naming them in free text everywhere."""
    engine.import_people(
        [
            Person(OWNER, NAME, email=EMAIL, channels=("console",)),
            Person(SPONSOR, "Sam Okafor", email="sam.okafor@trust.example"),
        ],
        actor="admin",
    )
    project = engine.create_project(
        f"{NAME}'s depot clinic",
        actor=OWNER,
        owner=OWNER,
        sponsor=SPONSOR,
        idempotency_key="create-depot-clinic",
    )
    engine.fire(project.ref, "diagnose", actor=OWNER)
    engine.update_project(
        project.ref,
        actor=OWNER,
        aim=f"Fewer missed doses; ask {NAME} ({EMAIL}) for the data",
        quality_objectives=["Safer medicines", f"Fewer calls to {NAME.upper()}"],
    )
    engine.add_driver(project.ref, f"Reminder calls by {NAME}", kind="primary", actor=OWNER)
    idea = add_change_idea(engine, project)
    engine.fire(project.ref, "plan_measurement", actor=OWNER)
    engine.record_pdsa(project.ref, actor=OWNER, tests=idea, plan=f"{NAME} phones each patient")
    engine.add_measure(
        project.ref, "Missed doses", kind="outcome", unit="%", direction="decrease", actor=OWNER
    )
    engine.record_data_point(project.ref, "Missed doses", 12, actor=OWNER, note=f"from {EMAIL}")
    pass_qeia(engine, project)
    # reminders and notices to her and about her project, sent and queued
    run_daemon_pass(engine, at=clock.now() + timedelta(days=40))
    run_daemon_pass(engine, at=clock.now() + timedelta(days=50), send=False)
    return project.ref


def test_forget_erases_name_and_email_everywhere_and_keeps_the_audit_green(
    engine: Engine, db_url: str, clock: ManualClock
) -> None:
    ref = seed(engine, clock)
    before = search_everything(db_url, NEEDLES)
    assert {"qiflow_person.name", "qiflow_event.payload", "qiflow_project.title"} <= set(before)

    exported = engine.export_person(OWNER)
    assert exported["qiflow_person"][0]["email"] == EMAIL
    assert {"qiflow_project", "qiflow_event", "qiflow_notification"} <= set(exported)
    assert any(row["actor"] == OWNER for row in exported["qiflow_event"])
    cli = CliRunner().invoke(main, ["--db", db_url, "people", "export", OWNER])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["tables"]["qiflow_person"][0]["name"] == NAME

    forgotten = engine.forget_person(OWNER, actor="dpo")
    assert forgotten.not_erased == []
    assert forgotten.redacted_events >= 5

    assert search_everything(db_url, NEEDLES) == []
    assert engine.verify_audit() == []
    verify = CliRunner().invoke(main, ["--db", db_url, "audit", "verify"])
    assert verify.exit_code == 0, verify.output
    person = engine.person(OWNER)
    assert person is not None
    assert (person.name, person.email, person.channels, person.active) == (
        "former staff member",
        None,
        (),
        False,
    )
    project = engine.get(ref)
    assert project.owner == OWNER  # the id stays
    assert project.title == "[redacted]"
    assert project.quality_objectives == ("Safer medicines", "[redacted]")
    created = engine.history(ref)[0]
    assert (created.actor, created.payload["title"]) == (OWNER, "[redacted]")
    # the project goes on working
    engine.update_project(ref, actor=SPONSOR, title="Depot clinic")
    assert engine.verify_audit() == []


def test_forget_lists_what_it_cannot_erase(engine: Engine, db_url: str) -> None:
    """Someone whose id is their e-mail address: the id stays, and forget says where."""
    engine.import_people([Person(EMAIL, NAME, email=EMAIL)], actor="admin")
    engine.create_project("Clinic letters", actor=EMAIL, owner=EMAIL)
    result = CliRunner().invoke(
        main, ["--db", db_url, "people", "forget", EMAIL, "--yes", "--actor", "dpo"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{EMAIL} is now a former staff member: ")
    not_erased = [line for line in lines if line.startswith("NOT ERASED ")]
    assert any("qiflow_project" in line and "column owner" in line for line in not_erased)
    assert any(
        line.startswith("NOT ERASED event 1 (project.created): its actor") for line in not_erased
    )
    assert search_everything(db_url, (NAME,)) == []  # the name itself is gone
    assert engine.verify_audit() == []


def test_an_unknown_person_is_refused_in_one_line(engine: Engine) -> None:
    with pytest.raises(ValidationError, match=r"^no person 'nobody' in qiflow's directory"):
        engine.forget_person("nobody", actor="dpo")
    with pytest.raises(ValidationError, match="no person 'nobody'"):
        engine.export_person("nobody")


def test_the_daemon_purges_old_notifications_under_the_retention_policy(
    engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "qiflow.toml"
    path.write_text(
        "[retention]\nsent_notifications = 60\ndead_notifications = 365\n", encoding="utf-8"
    )
    settings = load_settings(path, env={})
    assert settings.retention == {"sent": timedelta(days=60), "dead": timedelta(days=365)}
    seed(engine, clock)  # sends some notifications, then moves the clock 50 days on
    before = dict(engine.outbox_status().counts)
    sent = before.pop("sent")
    assert sent > 0
    daemon = Daemon(engine, settings, name="d1", clock=clock)
    clock.advance(timedelta(days=9))  # the sent ones were enqueued 59 days ago: kept
    daemon.sweep_once()
    assert engine.outbox_status().counts["sent"] == sent
    clock.advance(timedelta(days=2))
    daemon.sweep_once()
    counts = engine.outbox_status().counts
    assert "sent" not in counts  # purged
    assert all(counts.get(status, 0) >= n for status, n in before.items())  # not sent: kept
    assert 'qiflow_notifications_purged_total{status="sent"} ' + f"{sent}.0" in (
        generate_latest(daemon.metrics.registry).decode()
    )


def test_retention_days_must_be_whole_and_positive(tmp_path: Path) -> None:
    path = tmp_path / "qiflow.toml"
    path.write_text('[retention]\nsent_notifications = 0\ndead = "P1Y"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, env={})
    assert "retention.sent_notifications: must be 1 or more, not 0" in str(refused.value)
    assert "retention.dead: unknown key; expected one of dead_notifications, " in str(refused.value)
