"""Calendar arithmetic and the dates people read follow the trust's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from qiflow import Engine, ManualClock, ValidationError
from qiflow.cli import main
from qiflow.notify.reminders import ReminderPolicy
from tests.helpers import OWNER, SPONSOR

MONTHLY = """\
name = "monthly"
version = 1

[[states]]
name = "open"
initial = true
review = "P1M"

[[states]]
name = "closed"
final = true

[[transitions]]
trigger = "close"
source = "open"
dest = "closed"
"""


@pytest.fixture
def monthly(tmp_path: Path) -> Path:
    (tmp_path / "monthly.toml").write_text(MONTHLY, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("timezone", "due"),
    [
        # 09:00 in London on 15 March (GMT) -> 09:00 in London on 15 April (BST)
        ("Europe/London", datetime(2026, 4, 15, 8, 0, tzinfo=UTC)),
        ("UTC", datetime(2026, 4, 15, 9, 0, tzinfo=UTC)),
    ],
)
def test_a_monthly_review_falls_on_the_same_local_time(
    db_url: str, monthly: Path, timezone: str, due: datetime
) -> None:
    clock = ManualClock(datetime(2026, 3, 15, 9, 0, tzinfo=UTC))
    with Engine(db_url, clock=clock, workflows_dir=monthly, timezone=timezone) as engine:
        project = engine.create_project("Monthly", actor=OWNER, workflow="monthly")
    assert project.next_review_at == due


def test_an_unknown_time_zone_is_refused(db_url: str) -> None:
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        Engine(db_url, timezone="Mars/Olympus")


def test_reminders_show_the_due_date_people_in_the_trust_read(db_url: str) -> None:
    # 23:30 UTC on 31 May is 00:30 on 1 June in London; 30 days later is 1 July there
    clock = ManualClock(datetime(2026, 5, 31, 23, 30, tzinfo=UTC))
    with Engine(db_url, clock=clock) as engine:
        project = engine.create_project("Night", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
        assert project.next_review_at == datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
        clock.set(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
        engine.sweep_notifications(ReminderPolicy(), daemon="d1")
        subjects = [n.subject for n in engine.outbox()]
    assert any("review due 01 Jul 2026" in s for s in subjects), subjects


def test_the_cli_shows_local_times(db_url: str) -> None:
    clock = ManualClock(datetime(2026, 6, 1, 8, 30, tzinfo=UTC))  # 09:30 BST
    with Engine(db_url, clock=clock) as engine:
        engine.create_project("Summer", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    result = CliRunner().invoke(main, ["--db", db_url, "project", "history", "QI-0001"])
    assert result.exit_code == 0, result.output
    assert "2026-06-01 09:30" in result.output
