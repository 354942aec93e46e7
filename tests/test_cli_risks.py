"""``qiflow risk`` end to end through the command line, on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qiflow.cli import main
from qiflow.workflow.catalog import default_workflows_dir

ME = ("--actor", "olivia")


def run(db_url: str, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def as_json(db_url: str, *args: str) -> Any:
    return json.loads(run(db_url, *args, "--json").stdout)


@pytest.fixture
def ref(db_url: str) -> str:
    created = as_json(
        db_url, "project", "create", "Night observations", "--owner", "olivia", "--sponsor",
        "sam", "--directorate", "Acute Inpatient", *ME,
    )  # fmt: skip
    return str(created["ref"])


def add(db_url: str, ref: str, c: int, lk: int, *extra: str) -> dict[str, Any]:
    added = as_json(
        db_url, "risk", "add", ref, f"Risk {c}x{lk}", "--category", "patient safety",
        "--owner", "olivia", "--consequence", str(c), "--likelihood", str(lk), *ME, *extra,
    )  # fmt: skip
    assert len(added) == 1
    return dict(added[0])


def test_add_review_act_and_close_a_risk(db_url: str, ref: str) -> None:
    risk = add(
        db_url, ref, 3, 3, "--target", "4", "--controls", "Board", "--review-by", "2099-01-31"
    )
    assert {k: risk[k] for k in ("id", "score", "band", "category", "review_by", "target")} == {
        "id": "R1",
        "score": 9,
        "band": "high",
        "category": "patient_safety",
        "review_by": "2099-01-31",
        "target": 4,
    }
    reviewed = run(
        db_url, "risk", "review", ref, "r1", "--consequence", "5", "--likelihood", "3",
        "--note", "Ward move", *ME,
    ).stdout  # fmt: skip
    assert reviewed.startswith(f"{ref} R1 extreme 15 (consequence 5 x likelihood 3), owner olivia")
    run(
        db_url,
        "risk",
        "action",
        ref,
        "R1",
        "Extra staff",
        "--owner",
        "bob",
        "--due",
        "2099-02-01",
        *ME,
    )
    done = as_json(db_url, "risk", "action", ref, "R1", "--done", "A1", "--actor", "bob")
    assert done[0]["actions"][0]["done_at"] is not None
    run(db_url, "risk", "update", ref, "R1", "--owner", "sam", *ME)
    closed = as_json(db_url, "risk", "close", ref, "R1", "--reason", "Move finished", *ME)
    assert (closed[0]["status"], closed[0]["reason"], closed[0]["owner"]) == (
        "closed",
        "Move finished",
        "sam",
    )
    shown = run(db_url, "risk", "show", ref).stdout
    assert "[closed]" in shown
    assert "closed: Move finished" in shown
    assert "A1 done" in shown
    history = [e["type"] for e in as_json(db_url, "project", "history", ref)]
    assert [t for t in history if t.startswith("risk.")] == [
        "risk.added",
        "risk.reviewed",
        "risk.band_rose",
        "risk.action_added",
        "risk.action_done",
        "risk.updated",
        "risk.status_changed",
    ]
    assert run(db_url, "audit", "verify").exit_code == 0


def test_list_across_the_portfolio_with_filters(db_url: str, ref: str) -> None:
    other = as_json(
        db_url, "project", "create", "Depot", "--owner", "olivia", "--sponsor", "sam",
        "--directorate", "Adult Community", *ME,
    )["ref"]  # fmt: skip
    add(db_url, ref, 5, 4)
    add(db_url, other, 2, 2)
    add(db_url, other, 4, 3)
    listed = as_json(db_url, "risk", "list")
    assert [(r["project"], r["id"], r["score"]) for r in listed] == [
        (ref, "R1", 20),
        (other, "R2", 12),
        (other, "R1", 4),
    ]
    assert [r["id"] for r in as_json(db_url, "risk", "list", "--band", "moderate")] == ["R1"]
    by_directorate = as_json(db_url, "risk", "list", "--directorate", "Adult Community")
    assert {r["project"] for r in by_directorate} == {other}
    assert as_json(db_url, "risk", "list", "--owner", "nobody") == []
    assert as_json(db_url, "risk", "list", "--overdue") == []
    table = run(db_url, "risk", "list").stdout.splitlines()
    assert table[0] == (
        "PROJECT  RISK  BAND      SCORE  C X L  STATUS  OWNER   REVIEW BY   DESCRIPTION"
    )
    assert table[1].startswith(f"{ref}  R1    extreme   20     5 x 4  open    olivia  ")
    heat = as_json(db_url, "risk", "heatmap")
    assert heat["total"] == 3
    cells = {(c["consequence"], c["likelihood"]): c["risks"] for c in heat["cells"]}
    assert (cells[5, 4], cells[4, 3], cells[2, 2], cells[1, 1]) == (1, 1, 1, 0)
    text = run(db_url, "risk", "heatmap", "--project", ref).stdout
    assert "5 catastrophic   M .    H .    E .    E 1    E ." in text
    assert "1 live risk(s)" in text


def test_risk_none_and_the_requirement(db_url: str, ref: str) -> None:
    refused = run(db_url, "risk", "none", ref, "--actor", "sam", code=1)
    assert refused.stderr.startswith(f"error: {ref}: only the project's owner (olivia) may declare")
    declared = as_json(db_url, "risk", "none", ref, "--note", "Desk exercise", *ME)
    assert declared["ref"] == ref
    add(db_url, ref, 1, 1)
    again = run(db_url, "risk", "none", ref, *ME, code=1)
    assert "the project has live risks (R1)" in again.stderr


def test_import_names_every_bad_row_and_writes_nothing(
    db_url: str, ref: str, tmp_path: Path
) -> None:
    log = tmp_path / "risks.csv"
    log.write_text(
        "description,category,owner,consequence,likelihood,review_by\n"
        "Falls,Patient safety,olivia,4,3,\n"
        "Costs,budget,sam,2,2,\n"
        "Rota gaps,workforce,sam,2,2,31/12/2099\n",
        encoding="utf-8",
    )
    failed = run(db_url, "risk", "import", ref, str(log), *ME, code=1)
    assert failed.stderr.splitlines() == [
        f"error: {log}: 2 problem(s), nothing imported:",
        "  row 3: category 'budget' is not one of patient_safety, quality, workforce, finance, "
        "reputation, information_governance, equality (the workflow file's [risks] categories)",
        "  row 4: review date '31/12/2099' is not a date (YYYY-MM-DD)",
    ]
    assert as_json(db_url, "risk", "show", ref) == []
    log.write_text(log.read_text().replace("budget", "finance").replace("31/12/2099", "2099-12-31"))
    imported = as_json(db_url, "risk", "import", ref, str(log), *ME)
    assert [(r["id"], r["band"]) for r in imported] == [
        ("R1", "high"),
        ("R2", "moderate"),
        ("R3", "moderate"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--consequence", "6", "--likelihood", "1"), "'--consequence': 6 is not in the range"),
        (("--consequence", "1"), "Missing option '--likelihood'"),
        (
            ("--consequence", "1", "--likelihood", "1", "--review-by", "soon"),
            "'soon' does not match",
        ),
    ],
)
def test_usage_errors_exit_2(db_url: str, ref: str, args: tuple[str, ...], message: str) -> None:
    result = run(
        db_url, "risk", "add", ref, "X", "--category", "quality", "--owner", "olivia", *args,
        *ME, code=2,
    )  # fmt: skip
    assert message in result.stderr
    assert as_json(db_url, "risk", "show", ref) == []


def test_an_action_needs_its_owner_and_date(db_url: str, ref: str) -> None:
    add(db_url, ref, 2, 2)
    result = run(db_url, "risk", "action", ref, "R1", "Do it", "--owner", "bob", *ME, code=2)
    assert "an action needs TEXT, --owner and --due" in result.stderr
    unknown = run(db_url, "risk", "review", "QI-0099", "R1", "--consequence", "1",
                  "--likelihood", "1", *ME, code=1)  # fmt: skip
    assert "no project 'QI-0099'" in unknown.stderr


def test_workflow_validate_checks_the_risks_table(tmp_path: Path) -> None:
    text = (default_workflows_dir() / "qi_project_v2.toml").read_text(encoding="utf-8")
    bad = (
        text.replace("high = 8, extreme", "high = 3, extreme")
        .replace('review = { extreme = "P1M"', 'review = { extreme = "monthly"')
        .replace("risk_extreme = true", 'risk_extreme = "yes"')
    )
    path = tmp_path / "qi_project_v2.toml"
    path.write_text(bad, encoding="utf-8")
    result = CliRunner().invoke(main, ["workflow", "validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:3] == [
        f"{path}: escalation: risk_extreme must be true or false",
        f"{path}: risks: bands must be whole numbers rising from low = 1 to an extreme of at "
        "most 25, e.g. { low = 1, moderate = 4, high = 8, extreme = 15 }",
        f"{path}: risks: review.extreme: 'monthly' is not an ISO-8601 duration; write e.g. "
        "'P14D' (14 days), 'P3M' (3 months), 'P1W' or 'PT12H'",
    ]
