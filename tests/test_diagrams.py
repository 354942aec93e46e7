"""Workflow diagrams: ``qiflow workflow show --format mermaid`` draws in Mermaid itself.

The diagrams of the shipped workflows and of the valid workflows in
``tests/workflow_corpus/valid/`` are rendered to SVG by mermaid-cli on Chromium (see
``tests/mermaid_support.py``); each SVG must name every state and every trigger of its file.
What the diagram must show is read from the TOML file here, not from qiflow's loader.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qiflow.cli import main
from tests.mermaid_support import MermaidError, render_svg

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "workflows").glob("*.toml"))
VALID_CORPUS = sorted((Path(__file__).parent / "workflow_corpus" / "valid").glob("*.toml"))
WORKFLOW_FILES = SHIPPED + VALID_CORPUS


def read(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def show_mermaid(path: Path, tmp_path: Path) -> str:
    """``qiflow workflow show NAME --format mermaid`` for the workflow file at ``path``."""
    directory = tmp_path / "workflows"
    directory.mkdir()
    shutil.copy(path, directory)
    name = read(path)["name"]
    result = CliRunner().invoke(
        main,
        ["--workflows", str(directory), "workflow", "show", name, "--format", "mermaid"],
        env={"QIFLOW_WORKFLOWS_DIR": None},
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def svg_text(svg: str) -> list[str]:
    """The text an SVG shows: each text node, entities decoded, whitespace collapsed."""
    nodes = (unescape(t) for t in re.findall(r">([^<>]+)<", svg))
    return [" ".join(node.split()) for node in nodes if node.strip()]


def file_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_there_are_workflows_to_draw() -> None:
    assert [p.name for p in SHIPPED] == ["qi_project.toml", "qi_project_v2.toml"]
    assert len(VALID_CORPUS) >= 2


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=file_id)
def test_states_are_declared_before_notes_and_edges_use_them(path: Path, tmp_path: Path) -> None:
    """Mermaid draws a note only on a state it already knows ("No such shape: undefined")."""
    lines = [line.strip() for line in show_mermaid(path, tmp_path).splitlines()]
    first_note = next((i for i, line in enumerate(lines) if line.startswith("note ")), None)
    first_edge = next(i for i, line in enumerate(lines) if "-->" in line)
    last_state = max(i for i, line in enumerate(lines) if line.startswith("state "))
    assert last_state < first_edge
    if first_note is not None:
        assert last_state < first_note


@pytest.mark.mermaid
@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=file_id)
def test_diagram_renders_in_mermaid(path: Path, tmp_path: Path) -> None:
    spec = read(path)
    svg = render_svg(show_mermaid(path, tmp_path), tmp_path)
    shown = svg_text(svg)
    labels = " | ".join(shown)
    for state in spec["states"]:
        assert state["name"] in shown, f"state {state['name']!r} not drawn; text: {labels}"
    for transition in spec["transitions"]:
        trigger = transition["trigger"]
        assert re.search(rf"(^|[ |]){trigger}\b", labels), f"trigger {trigger!r} not drawn"


@pytest.mark.mermaid
def test_render_svg_reports_what_mermaid_rejects(tmp_path: Path) -> None:
    """The renderer the tests above rely on does fail on a diagram Mermaid cannot draw."""
    broken = "stateDiagram-v2\n    note left of later: a note on an undeclared state\n"
    broken += "    [*] --> later\n"
    with pytest.raises(MermaidError, match="mmdc exited"):
        render_svg(broken, tmp_path)
