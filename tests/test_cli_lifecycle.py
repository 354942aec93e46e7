"""The whole lifecycle end to end through the command line, on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner, Result

from qiflow.builtin.qeia import DOMAINS
from qiflow.cli import main
from tests.helpers import BASELINE, IMPROVED, weekly_csv


def run(db_url: str, *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def show(db_url: str, ref: str) -> dict:
    return json.loads(run(db_url, "project", "show", ref, "--json").output)


def screening(tmp_path: Path) -> str:
    path = tmp_path / "screening.toml"
    path.write_text("".join(f"[scores.{d}]\nimpact = 2\nlikelihood = 3\n" for d in DOMAINS))
    return str(path)


def test_lifecycle_end_to_end(db_url: str, tmp_path: Path) -> None:
    me = ("--actor", "olivia")
    created = json.loads(
        run(
            db_url,
            "project",
            "create",
            "Reduce missed doses",
            "--owner",
            "olivia",
            "--directorate",
            "Adult Community",
            *me,
            "--json",
        ).output
    )
    ref = created["ref"]
    assert (ref, created["state"]) == ("QI-0001", "idea")

    refused = run(db_url, "project", "fire", ref, "diagnose", *me, ok=False)
    assert refused.exit_code == 1
    assert "no sponsor" in refused.output
    run(db_url, "project", "update", ref, "--sponsor", "sam", *me)
    run(db_url, "project", "fire", ref, "diagnose", *me)
    run(
        db_url,
        "project",
        "update",
        ref,
        "--aim",
        "Halve missed doses",
        "--quality-objective",
        "Fewer relapses",
        *me,
    )
    run(db_url, "driver", "add", ref, "--primary", "Patients know their dates", *me)
    run(db_url, "driver", "add", ref, "--idea", "Text reminders", "--under", "P1", *me)
    run(db_url, "project", "fire", ref, "plan_measurement", *me)
    run(
        db_url,
        "measure",
        "add",
        ref,
        "Missed doses",
        "--kind",
        "outcome",
        "--unit",
        "%",
        "--direction",
        "decrease",
        *me,
    )
    run(
        db_url,
        "measure",
        "add",
        ref,
        "Clinic time",
        "--kind",
        "balancing",
        "--unit",
        "minutes",
        "--direction",
        "decrease",
        *me,
    )
    run(db_url, "measure", "record", ref, "Missed doses", "12", *me)
    blocked = run(db_url, "project", "fire", ref, "start_testing", *me, ok=False)
    assert "QEIA: not requested yet" in blocked.output
    assert f"no risk assessment: record the project's risks (qiflow risk add {ref}" in (
        blocked.output
    )
    run(
        db_url,
        "risk",
        "add",
        ref,
        "Reminders sent to a wrong number",
        "--category",
        "information governance",
        "--owner",
        "l.evans",
        "--consequence",
        "3",
        "--likelihood",
        "2",
        *me,
    )
    form = screening(tmp_path)
    requested = run(db_url, "qeia", "screen", ref, "--from", form, *me).output
    assert "QEIA stage 1 requested (round 1); awaiting any of sponsor, qi_lead" in requested
    own = run(db_url, "signoff", "decide", ref, "qeia", "--approve", *me, ok=False)
    assert "owns the project and cannot approve" in own.output
    decided = run(db_url, "signoff", "decide", ref, "qeia", "--approve", "--actor", "sam")
    assert "QEIA stage 1 is passed" in decided.output
    status = json.loads(run(db_url, "signoff", "status", ref, "--json").output)
    assert status["gates"] == [{"gate": "qeia", "passed": True, "awaiting": []}]
    assert status["signoffs"][0]["summary"]["risk"] == "low"
    run(db_url, "pdsa", "record", ref, "--tests", "C1", *me)
    run(db_url, "project", "fire", ref, "start_testing", *me)

    run(db_url, "pdsa", "record", ref, "--plan", "Text reminders", "--prediction", "Below 8%", *me)
    run(db_url, "pdsa", "record", ref, "--observation", "41 reminders sent", *me)
    run(db_url, "pdsa", "record", ref, "--study", "9.5%: better, short of 8%", *me)
    adapted = json.loads(run(db_url, "project", "fire", ref, "adapt", *me, "--json").output)
    assert (adapted["state"], adapted["current_cycle"]) == ("pdsa_testing", 2)
    run(
        db_url,
        "pdsa",
        "record",
        ref,
        "--plan",
        "Check numbers first",
        "--prediction",
        "Below 6%",
        "--study",
        "5.1%",
        "--tests",
        "C1",
        *me,
    )
    run(db_url, "review", "record", ref, "--notes", "on track", "--score", "3.0", *me)
    state = show(db_url, ref)
    allowed = {t["trigger"]: t["allowed"] for t in state["triggers"]}
    assert allowed == {"adopt": True, "adapt": True, "abandon": False, "pause": True}
    run(db_url, "project", "fire", ref, "adopt", *me)
    run(db_url, "qeia", "screen", ref, "--from", form, *me)
    run(db_url, "signoff", "decide", ref, "qeia", "--approve", "--actor", "sam")
    run(db_url, "project", "fire", ref, "spread", *me)
    blocked = run(db_url, "project", "fire", ref, "sustain", "--actor", "sam", ok=False)
    assert "no primary outcome measure" in blocked.output  # version 2 needs the evidence
    run(db_url, "measure", "set", ref, "Missed doses", "--primary", *me)
    evidence = tmp_path / "missed.csv"
    evidence.write_text(weekly_csv(BASELINE + IMPROVED), encoding="utf-8")
    run(db_url, "measure", "import", ref, "Missed doses", str(evidence), *me)
    run(db_url, "project", "fire", ref, "sustain", "--actor", "sam")
    final = show(db_url, ref)
    assert final["project"]["state"] == "sustained"
    assert [c["act"] for c in final["cycles"]] == ["adapt", "adopt"]
    assert final["triggers"] == []

    second = json.loads(
        run(
            db_url,
            "project",
            "create",
            "Peer café",
            "--owner",
            "m",
            "--sponsor",
            "s",
            "--actor",
            "m",
            "--json",
        ).output
    )["ref"]
    run(db_url, "project", "fire", second, "diagnose", "--actor", "m")
    paused = json.loads(
        run(db_url, "project", "fire", second, "pause", "--actor", "s", "--json").output
    )
    assert paused["state"] == "on_hold"
    run(db_url, "project", "fire", second, "resume", "--actor", "m")

    listed = json.loads(run(db_url, "project", "list", "--json").output)
    assert [(p["ref"], p["state"]) for p in listed] == [(ref, "sustained"), (second, "diagnosis")]
    text = run(db_url, "project", "list", "--state", "diagnosis").output
    assert second in text
    assert ref not in text
    history = json.loads(run(db_url, "project", "history", ref, "--json").output)
    assert [e["pos"] for e in history] == list(range(1, len(history) + 1))
    assert sum(e["type"] == "project.transitioned" for e in history) == 7
    measures = json.loads(run(db_url, "measure", "list", ref, "--json").output)
    assert [len(m["data_points"]) for m in measures] == [1 + len(BASELINE + IMPROVED), 0]
    verified = json.loads(run(db_url, "audit", "verify", "--json").output)
    assert verified == {"projects_checked": 2, "ok": True, "breaks": []}


def test_cli_errors_are_one_clear_line(db_url: str) -> None:
    missing = run(db_url, "project", "show", "QI-0404", ok=False)
    assert missing.exit_code == 1
    assert "error: no project 'QI-0404'" in missing.output
    run(db_url, "project", "create", "X", "--owner", "a", "--actor", "a")
    bad = run(db_url, "project", "fire", "QI-0001", "adopt", "--actor", "a", ok=False)
    assert bad.exit_code == 1
    assert "triggers from here: diagnose, pause" in bad.output
    stale = run(
        db_url,
        "project",
        "fire",
        "QI-0001",
        "pause",
        "--actor",
        "a",
        "--expected-version",
        "7",
        ok=False,
    )
    assert "is at version 1, not 7" in stale.output


def test_init_then_uninitialised_hint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    hint = run(url, "project", "list", ok=False)
    assert hint.exit_code == 1
    assert "qiflow init" in hint.output
    assert "schema none -> " in run(url, "init").output
    assert "up to date" in run(url, "init").output
    assert "no projects match" in run(url, "project", "list").output


def test_demo_runs_in_a_fresh_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qiflow", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Seeding 20 QI projects" in out
    assert "adapt: pdsa_testing -> pdsa_testing (PDSA cycle 2)" in out
    assert "abandon: pdsa_testing -> abandoned" in out
    assert "refused, as the rules require" in out
    assert "strategy section 5.1" in out
    assert "all verified" in out
    # measures: each kind of signal, one project sustained on its chart, charts drawn
    assert "Measures: signals from the charts: 3 improvement, 3 concern, 2 neutral" in out
    assert "signal: concern (outside_limits, concern_high)" in out  # the balancing measure
    assert "'sustain' is blocked: measure 'Missed depot doses' has 2 points since" in out
    assert "sustain: spreading -> sustained" in out
    assert "QI-0001 4.5 sustainable improvement, confirmed 4.5" in out
    charts = sorted(p.name for p in (tmp_path / "qiflow-demo-charts").iterdir())
    assert "QI-0001-missed-depot-doses.svg" in charts
    assert f"{len(charts)} charts (Making Data Count style) written to qiflow-demo-charts" in out
    svg = ET.parse(tmp_path / "qiflow-demo-charts" / "QI-0001-missed-depot-doses.svg")
    title = svg.getroot().find("{http://www.w3.org/2000/svg}title")
    assert title is not None
    assert title.text == "QI-0001 Missed depot doses"
    assert (tmp_path / "qiflow-demo.db").exists()
    listed = run(f"sqlite:///{tmp_path / 'qiflow-demo.db'}", "project", "list", "--json")
    assert len(json.loads(listed.output)) == 20
