"""Issue 10: a workflow file extends another (``extends = "qi_project@2"``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from qiflow import Engine, ManualClock, WorkflowDefinitionError
from qiflow.cli import main
from qiflow.workflow.extends import to_toml
from tests.helpers import OWNER, SPONSOR

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "workflows"

CHILD = """
extends = "qi_project@2"
name = "trust_project"
version = 1
title = "Our trust's QI projects"
roles = ["ethics_chair"]

[gates.qeia]
threshold = 10          # the other QEIA settings are the shipped ones

[[states]]              # replaces the shipped idea state: a shorter review
name = "idea"
initial = true
review = "P7D"

[[states]]              # a new state
name = "ethics_review"
review = "P14D"

[[transitions]]         # replaces the shipped diagnose (same trigger and source)
trigger = "diagnose"
source = "idea"
dest = "ethics_review"
roles = ["owner"]

[[transitions]]         # new
trigger = "cleared"
source = "ethics_review"
dest = "diagnosis"
roles = ["ethics_chair"]
"""


def write(folder: Path, text: str = CHILD, name: str = "trust.toml") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_an_extending_file_adds_and_replaces_parts_of_the_shipped_one(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    folder = write(tmp_path / "wf")
    with Engine(db_url, clock=clock, workflows_dir=folder) as engine:  # shipped not listed
        child = engine.workflow("trust_project")
        shipped = engine.workflow("qi_project", 2) if ("qi_project", 2) in engine.registry else None
    assert shipped is None  # the base was read to resolve, not loaded as a workflow
    base = tomllib.loads((SHIPPED / "qi_project_v2.toml").read_text())
    resolved = tomllib.loads(child.source)
    assert "extends" not in resolved
    assert (resolved["name"], resolved["version"]) == ("trust_project", 1)
    assert resolved["gates"]["qeia"] == {**base["gates"]["qeia"], "threshold": 10}
    assert resolved["escalation"] == base["escalation"]
    names = [s["name"] for s in resolved["states"]]
    assert names == [s["name"] for s in base["states"]] + ["ethics_review"]
    assert resolved["states"][0] == {"name": "idea", "initial": True, "review": "P7D"}
    triggers = [(t["trigger"], t["source"]) for t in resolved["transitions"]]
    assert triggers == [(t["trigger"], t["source"]) for t in base["transitions"]] + [
        ("cleared", "ethics_review")
    ]
    assert resolved["transitions"][0]["dest"] == "ethics_review"
    assert resolved["roles"] == ["ethics_chair"]
    assert child.initial.name == "idea"


def test_projects_run_on_it_and_the_database_keeps_the_resolved_text(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    folder = write(tmp_path / "wf")
    with Engine(db_url, clock=clock, workflows_dir=[SHIPPED, folder]) as engine:
        ref = engine.create_project(
            "Ethics first", actor=OWNER, owner=OWNER, sponsor=SPONSOR, workflow="trust_project"
        ).ref
        assert engine.fire(ref, "diagnose", actor=OWNER).state == "ethics_review"
        source = engine.workflow("trust_project").source
    (folder / "trust.toml").unlink()  # the file is gone; the stored version stands alone
    with Engine(db_url, clock=clock, workflows_dir=SHIPPED) as engine:
        stored = engine.workflow("trust_project", 1)
        assert stored.source == source
        assert [t.trigger for t in engine.available_triggers(ref, OWNER)] == ["pause", "cleared"]


def test_workflow_show_prints_the_resolved_workflow(tmp_path: Path) -> None:
    folder = write(tmp_path / "wf")
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--db", f"sqlite:///{tmp_path / 'q.db'}", "--workflows", str(folder),
         "workflow", "show", "trust_project", "--format", "toml"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = tomllib.loads(result.output)
    assert shown["states"][-1] == {"name": "ethics_review", "review": "P14D"}
    assert (
        len(shown["transitions"])
        == len(tomllib.loads((SHIPPED / "qi_project_v2.toml").read_text())["transitions"]) + 1
    )
    text = runner.invoke(
        main,
        ["--db", f"sqlite:///{tmp_path / 'q.db'}", "--workflows", str(folder),
         "workflow", "show", "trust_project"],
    )  # fmt: skip
    assert "ethics_review" in text.output


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('extends = "qi_project"\nname = "x"\nversion = 1\n', "must be 'name@version'"),
        ('extends = "qi_project@9"\nname = "x"\nversion = 1\n', "qi_project@9: no workflow"),
        ('extends = "x@1"\nname = "x"\nversion = 1\n', "x@1: extends itself in a circle"),
        (
            'extends = "qi_project@1"\nname = "x"\nversion = 1\n'
            '[[transitions]]\ntrigger = "go"\nsource = "nowhere"\ndest = "idea"\n',
            "unknown state 'nowhere'",
        ),
    ],
)
def test_a_bad_extends_is_reported(db_url: str, tmp_path: Path, text: str, problem: str) -> None:
    folder = write(tmp_path / "wf", text)
    with pytest.raises(WorkflowDefinitionError, match=problem):
        Engine(db_url, workflows_dir=folder)


def test_the_toml_writer_round_trips_the_shipped_workflows() -> None:
    for path in sorted(SHIPPED.glob("*.toml")):
        doc = tomllib.loads(path.read_text())
        assert tomllib.loads(to_toml(doc)) == doc, path.name


def test_an_extending_file_can_remove_a_state(db_url: str, tmp_path: Path) -> None:
    """``remove_states`` drops a base state and the transitions into it or only out of it."""
    folder = write(
        tmp_path / "wf",
        'extends = "qi_project@2"\nname = "no_pause"\nversion = 1\nremove_states = ["on_hold"]\n',
    )
    with Engine(db_url, workflows_dir=folder) as engine:
        resolved = tomllib.loads(engine.workflow("no_pause").source)
    base = tomllib.loads((SHIPPED / "qi_project_v2.toml").read_text())
    assert [s["name"] for s in resolved["states"]] == [
        s["name"] for s in base["states"] if s["name"] != "on_hold"
    ]
    triggers = {t["trigger"] for t in resolved["transitions"]}
    assert {"pause", "resume"}.isdisjoint(triggers)
    assert triggers == {t["trigger"] for t in base["transitions"]} - {"pause", "resume"}
    assert "remove_states" not in resolved


@pytest.mark.parametrize(
    ("removed", "problem"),
    [
        ('["on_hol"]', "remove_states: 'on_hol': not a state of the base workflow"),
        ('"on_hold"', "remove_states: must be a list of state names"),
        ('["idea"]', "initial"),  # the resolved workflow has no initial state
    ],
)
def test_a_bad_removal_is_reported(db_url: str, tmp_path: Path, removed: str, problem: str) -> None:
    text = f'extends = "qi_project@2"\nname = "x"\nversion = 1\nremove_states = {removed}\n'
    folder = write(tmp_path / "wf", text)
    with pytest.raises(WorkflowDefinitionError, match=problem):
        Engine(db_url, workflows_dir=folder)
