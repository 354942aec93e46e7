"""Driver diagrams, PDSA cycles that test change ideas, and the team, through the CLI."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qiflow.builtin.qeia import DOMAINS
from qiflow.cli import main
from tests.mermaid_support import render_svg

ROOT = Path(__file__).resolve().parents[1]
ME = ("--actor", "olivia")
SVG = "{http://www.w3.org/2000/svg}"
EDGES = {
    ("aim", "P1"),
    ("aim", "P2"),
    ("P1", "S1"),
    ("S1", "C1"),
    ("P2", "C1"),
    ("P2", "C2"),
}


def run(db_url: str, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def planned(db_url: str) -> str:
    ref = json.loads(
        run(
            db_url,
            "project",
            "create",
            "Reduce missed doses",
            "--owner",
            "olivia",
            "--sponsor",
            "sam",
            *ME,
            "--json",
        ).output
    )["ref"]
    run(db_url, "project", "fire", ref, "diagnose", *ME)
    run(
        db_url,
        "project",
        "update",
        ref,
        "--aim",
        'Halve "missed" doses <by March>',
        "--quality-objective",
        "Safer care",
        *ME,
    )
    for name, kind in (("Missed doses", "outcome"), ("Clinic time", "balancing")):
        run(
            db_url,
            "measure",
            "add",
            ref,
            name,
            "--kind",
            kind,
            "--unit",
            "%",
            "--direction",
            "decrease",
            *ME,
        )
    return ref


def build(db_url: str, ref: str) -> None:
    run(db_url, "driver", "add", ref, "--primary", "Reliable prescribing", *ME)
    run(db_url, "driver", "add", ref, "--secondary", "Clear drug charts", "--under", "P1", *ME)
    run(db_url, "driver", "add", ref, "--primary", "Engaged patients", *ME)
    out = run(
        db_url,
        "driver",
        "add",
        ref,
        "--idea",
        "Pre-printed chart",
        "--under",
        "S1,P2",
        "--measure",
        "Missed doses",
        *ME,
    ).output
    assert out.startswith("C1 added under S1, P2")
    run(db_url, "driver", "add", ref, "--idea", "Text reminders", "--under", "P2", *ME)


def plan_cycle_testing_c1(db_url: str, ref: str) -> None:
    plan = ("--plan", "Chart on ward 3", "--prediction", "Halves", "--tests", "C1")
    run(db_url, "pdsa", "record", ref, *plan, *ME)


def test_edit_and_show_the_diagram(db_url: str) -> None:
    ref = planned(db_url)
    build(db_url, ref)
    added = json.loads(
        run(
            db_url,
            "driver",
            "add",
            ref,
            "--idea",
            "Pharmacist check",
            "--under",
            "S1",
            *ME,
            "--json",
        ).output
    )
    assert added["nodes"] == ["C3"]
    assert added["project"]["ref"] == ref
    run(db_url, "driver", "rename", ref, "C3", "Pharmacist double check", *ME)
    run(db_url, "driver", "move", ref, "C3", "--under", "P1", *ME)
    run(db_url, "driver", "remove", ref, "C2", *ME)

    text = run(db_url, "driver", "show", ref).output
    assert text.splitlines()[0] == 'Aim: Halve "missed" doses <by March>'
    assert "  P1 Reliable prescribing [idea]" in text
    assert "    S1 Clear drug charts [idea]" in text
    assert "C1 Pre-printed chart [idea] (also under P2) measures: Missed doses" in text
    assert "C3 Pharmacist double check [idea]" in text
    assert "Text reminders" not in text

    data = json.loads(run(db_url, "driver", "show", ref, "--format", "json").output)
    assert data["aim"] == 'Halve "missed" doses <by March>'
    assert {n["id"]: n["parents"] for n in data["nodes"]} == {
        "P1": [],
        "S1": ["P1"],
        "P2": [],
        "C1": ["S1", "P2"],
        "C3": ["P1"],
    }
    assert data["retired"] == ["C2"]
    assert json.loads(run(db_url, "driver", "show", ref, "--json").output) == data
    events = json.loads(run(db_url, "project", "history", ref, "--json").output)
    assert [e["type"] for e in events if e["type"].startswith("driver.")] == [
        *["driver.added"] * 6,
        "driver.renamed",
        "driver.moved",
        "driver.removed",
    ]


def test_bad_edits_are_one_line_errors_and_usage_errors_exit_2(db_url: str) -> None:
    ref = planned(db_url)
    build(db_url, ref)
    refused = run(db_url, "driver", "add", ref, "--idea", "Orphan", "--under", "C1", *ME, code=1)
    assert refused.output.strip().splitlines() == [
        "error: C1 is a change idea; a change idea goes under a primary driver or secondary driver"
    ]
    one_line = run(db_url, "driver", "remove", ref, "P2", *ME, code=1).output.strip()
    assert one_line == (
        "error: P2 cannot be removed: it is the only driver of C2; move or remove them first"
    )
    run(db_url, "driver", "add", ref, "--primary", "A", "--idea", "B", *ME, code=2)
    run(db_url, "driver", "add", ref, *ME, code=2)
    run(db_url, "driver", "add", ref, "--idea", "No parent", *ME, code=2)
    run(db_url, "driver", "show", ref, "--format", "png", code=2)
    assert len(json.loads(run(db_url, "driver", "show", ref, "--json").output)["nodes"]) == 5


@pytest.mark.mermaid
def test_mermaid_has_every_node_and_edge_and_mermaid_renders_it(
    db_url: str, tmp_path: Path
) -> None:
    ref = planned(db_url)
    build(db_url, ref)
    plan_cycle_testing_c1(db_url, ref)
    text = run(db_url, "driver", "show", ref, "--format", "mermaid").output
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "flowchart LR"
    assert 'aim(["Aim: Halve #quot;missed#quot; doses #lt;by March#gt;"])' in lines
    assert 'P1["P1: Reliable prescribing"]' in lines
    assert 'C1("C1: Pre-printed chart (testing)")' in lines
    edges = {tuple(line.split(" --> ")) for line in lines if " --> " in line}
    assert edges == EDGES
    classes = dict(line.split(" ")[1:3][::-1] for line in lines if line.startswith("class "))
    assert set(classes["testing"].split(",")) == {"P1", "S1", "C1", "P2"}
    assert classes["idea"] == "C2"
    assert re.search(r"classDef testing fill:#005eb8", text)

    rendered = render_svg(text, tmp_path)
    drawn = set(re.findall(r'<g class="node[^"]*" id="[^"]*flowchart-(\w+)-\d+"', rendered))
    assert drawn == {"aim", "P1", "P2", "S1", "C1", "C2"}
    lines_drawn = set(
        re.findall(r'<path[^>]* id="[^"]*L_([A-Za-z0-9]+)_([A-Za-z0-9]+)_\d+"', rendered)
    )
    assert lines_drawn == EDGES
    labels = "".join(ET.fromstring(rendered).itertext())
    for label in (
        "P1: Reliable prescribing",
        "C1: Pre-printed chart (testing)",
        'Aim: Halve "missed" doses <by March>',
    ):
        assert label in labels


def test_svg_without_a_browser(db_url: str) -> None:
    ref = planned(db_url)
    build(db_url, ref)
    out = run(db_url, "driver", "show", ref, "--format", "svg").output
    svg = ET.fromstring(out)
    nodes = {
        g.get("id"): "".join(g.find(f"{SVG}text").itertext())  # type: ignore[union-attr]
        for g in svg.iter(f"{SVG}g")
        if g.get("class") == "node"
    }
    assert nodes["P1"] == "P1: Reliable prescribing"
    assert set(nodes) == {"aim", "P1", "S1", "P2", "C1", "C2"}
    edges = {
        (p.get("data-from"), p.get("data-to"))
        for p in svg.iter(f"{SVG}path")
        if p.get("class") == "edge"
    }
    assert edges == EDGES


def test_pdsa_tests_ideas_and_act_updates_them(db_url: str, tmp_path: Path) -> None:
    ref = planned(db_url)
    build(db_url, ref)
    run(db_url, "project", "fire", ref, "plan_measurement", *ME)
    plan_cycle_testing_c1(db_url, ref)
    screening = tmp_path / "screening.toml"

    screening.write_text("".join(f"[scores.{d}]\nimpact = 2\nlikelihood = 2\n" for d in DOMAINS))
    run(db_url, "qeia", "screen", ref, "--from", str(screening), *ME)
    run(db_url, "signoff", "decide", ref, "qeia", "--approve", "--actor", "sam")
    run(db_url, "risk", "none", ref, *ME)  # risks_assessed
    run(db_url, "project", "fire", ref, "start_testing", *ME)
    bad = run(db_url, "pdsa", "record", ref, "--study", "x", "--tests", "S1", *ME, code=1)
    assert (
        bad.output
        == "error: S1 is a secondary driver, not a change idea: a PDSA cycle tests change ideas\n"
    )
    run(db_url, "pdsa", "record", ref, "--study", "Fell by half", *ME)
    run(db_url, "project", "fire", ref, "adopt", *ME)
    data = json.loads(run(db_url, "driver", "show", ref, "--json").output)
    assert {n["id"]: n["status"] for n in data["nodes"]}["C1"] == "adopted"
    history = run(db_url, "driver", "history", ref, "C1").output
    assert "cycle 1 (adopt)" in history
    assert "prediction: Halves" in history
    assert "study: Fell by half" in history
    as_json = json.loads(run(db_url, "driver", "history", ref, "C1", "--json").output)
    assert [c["number"] for c in as_json["cycles"]] == [1]
    assert as_json["cycles"][0]["tests"] == ["C1"]


def test_import_names_every_bad_row(db_url: str, tmp_path: Path) -> None:
    ref = planned(db_url)
    good = tmp_path / "drivers.csv"
    good.write_text(
        "primary,secondary,idea,measures\n"
        "Reliable prescribing,Clear drug charts,Pre-printed chart,Missed doses\n"
        "Engaged patients,,Text reminders,\n"
    )
    out = run(db_url, "driver", "import", ref, str(good), *ME).output
    assert "imported 5 nodes: P1, S1, C1, P2, C2" in out
    bad = tmp_path / "more.csv"
    bad.write_text("primary,idea\n,Orphan\nEngaged patients,Letters\nText reminders,Calls\n")
    result = run(db_url, "driver", "import", ref, str(bad), *ME, code=1)
    assert result.output.splitlines()[0] == (f"error: {bad}: 2 problem(s), nothing imported:")
    assert "line 2: no primary driver" in result.output
    assert "line 4: 'Text reminders' is a change idea (C2), not a primary driver" in result.output
    assert "Letters" not in run(db_url, "driver", "show", ref).output
    toml = tmp_path / "drivers.toml"
    toml.write_text('[[primary]]\ntitle = "Staffing"\nideas = ["Float nurse"]\n')
    assert "imported 2 nodes: P3, C3" in run(db_url, "driver", "import", ref, str(toml), *ME).output
    run(db_url, "driver", "import", ref, str(tmp_path / "missing.csv"), *ME, code=2)
    other = tmp_path / "drivers.xlsx"
    other.write_text("x")
    assert (
        "use a .csv or .toml file"
        in run(db_url, "driver", "import", ref, str(other), *ME, code=1).output
    )


def test_team_and_the_charter_in_project_show(db_url: str) -> None:
    ref = planned(db_url)
    build(db_url, ref)
    run(db_url, "team", "add", ref, "olivia", "--role", "lead", *ME)
    run(db_url, "team", "add", ref, "pp.jones", "--role", "patient_partner", *ME)
    run(db_url, "team", "add", ref, "dr.patel", "--role", "clinical_lead", *ME)
    run(db_url, "team", "remove", ref, "dr.patel", *ME)
    run(db_url, "team", "add", ref, "x", "--role", "boss", *ME, code=2)
    assert "not in the team" in run(db_url, "team", "remove", ref, "nobody", *ME, code=1).output
    listed = json.loads(run(db_url, "team", "list", ref, "--json").output)
    assert listed == [
        {"person": "olivia", "role": "lead"},
        {"person": "pp.jones", "role": "patient_partner"},
    ]

    text = run(db_url, "project", "show", ref).output
    charter = text[text.index("charter:") :]
    assert 'aim: Halve "missed" doses <by March>' in charter
    assert "team: olivia (lead), pp.jones (patient_partner)" in charter
    assert "measures: Missed doses (outcome), Clinic time (balancing)" in charter
    assert "P1 Reliable prescribing [idea]" in charter
    assert "C2 Text reminders [idea]" in charter
    shown = json.loads(run(db_url, "project", "show", ref, "--json").output)
    assert shown["team"] == listed
    assert [n["id"] for n in shown["driver_diagram"]["nodes"]] == ["P1", "S1", "P2", "C1", "C2"]


@pytest.mark.parametrize(
    "command", ["add", "move", "rename", "remove", "show", "import", "history"]
)
def test_every_driver_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, ["driver", command, "--help"])
    assert result.exit_code == 0
    assert "REF" in result.output


def test_the_readme_example_is_the_demo_depot_project(tmp_path: Path) -> None:
    """docs/driver-diagram.mmd is what the demo's first project shows, and the committed SVG
    (rendered from it by mmdc) draws each of its nodes."""
    db = tmp_path / "demo.db"
    out = CliRunner().invoke(main, ["demo", "--file", str(db)], catch_exceptions=False).output
    assert (
        "Change ideas in the driver diagrams: 8 idea, 1 testing, 1 adopted, 1 adapted, "
        "1 abandoned" in out
    )
    shown = run(f"sqlite:///{db}", "driver", "show", "QI-0001", "--format", "mermaid").output
    assert shown == (ROOT / "docs" / "driver-diagram.mmd").read_text(encoding="utf-8")
    svg = (ROOT / "docs" / "driver-diagram.svg").read_text(encoding="utf-8")
    drawn = set(re.findall(r'<g class="node[^"]*" id="[^"]*flowchart-(\w+)-\d+"', svg))
    declared = set(re.findall(r"^    (\w+)[\[(]", shown, flags=re.MULTILINE))
    assert drawn == declared == {"aim", "P1", "P2", "S1", "S2", "C1", "C2", "C3", "C4"}
