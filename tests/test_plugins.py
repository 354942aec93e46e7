"""Plugins load from the ``qiflow`` entry-point group and extend workflow files."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qiflow import ConfigError, Engine, GuardFailed, ManualClock, ValidationError
from qiflow.lifecycle.vocabulary import vocabulary
from qiflow.plugins import DEFAULT_PLUGINS, get_plugin_manager
from qiflow.workflow import load_file
from tests.helpers import OWNER, SPONSOR

PLUGIN = """
from qiflow import Requirement, hookimpl


def _team_named(ctx):
    return [] if ctx.project.team else ["no team: name the team that tests the change"]


@hookimpl
def qiflow_requirements():
    return {"team_named": Requirement("team_named", "a team is named", _team_named)}


@hookimpl
def qiflow_roles():
    return ["ward_manager"]
"""

WORKFLOW = """
name = "ward_project"
version = 1

[[states]]
name = "idea"
initial = true

[[states]]
name = "testing"
review = "P7D"

[[states]]
name = "done"
final = true

[[transitions]]
trigger = "start"
source = "idea"
dest = "testing"
roles = ["owner", "ward_manager"]
requires = ["owner_and_sponsor_set", "team_named"]

[[transitions]]
trigger = "finish"
source = "testing"
dest = "done"
"""


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[None]:
    """A real installed distribution (a dist-info on sys.path) declaring the entry point."""
    site = tmp_path / "site"
    dist = site / "qiflow_probe-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: qiflow-probe\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[qiflow]\nprobe = qiflow_probe_plugin\n")
    (site / "qiflow_probe_plugin.py").write_text(PLUGIN)
    sys.path.insert(0, str(site))
    try:
        yield
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("qiflow_probe_plugin", None)


def test_builtins_are_registered_as_plugins() -> None:
    pm = get_plugin_manager(entry_points=False)
    assert sorted(pm.get_name(p) for p in pm.get_plugins()) == sorted(DEFAULT_PLUGINS)


def test_entry_point_plugin_extends_the_vocabulary(installed_plugin: None, tmp_path: Path) -> None:
    (tmp_path / "ward.toml").write_text(WORKFLOW)
    pm = get_plugin_manager()
    assert pm.has_plugin("probe")
    workflow, problems = load_file(tmp_path / "ward.toml", vocabulary(pm))
    assert problems == []
    assert workflow is not None
    without, problems = load_file(tmp_path / "ward.toml", vocabulary(get_plugin_manager(allow=[])))
    assert without is None
    assert {p.key for p in problems} == {"transitions[0].roles", "transitions[0].requires"}


def test_entry_point_plugin_guards_a_transition(
    installed_plugin: None, tmp_path: Path, db_url: str
) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "ward.toml").write_text(WORKFLOW)
    with Engine(db_url, workflows_dir=workflows, clock=ManualClock()) as engine:
        project = engine.create_project(
            "Ward", actor=OWNER, owner=OWNER, sponsor=SPONSOR, workflow="ward_project"
        )
        with pytest.raises(GuardFailed, match="no team"):
            engine.fire(project.ref, "start", actor=OWNER)
        engine.update_project(project.ref, actor=OWNER, team="Ward 3")
        assert engine.fire(project.ref, "start", actor=OWNER).state == "testing"


def test_the_engine_obeys_the_allow_list(
    installed_plugin: None, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library Engine loads the plugins the same allow-list lets load as the CLI and the
    daemon: its ``allow_plugins`` argument, else QIFLOW_PLUGINS, else every installed one."""
    monkeypatch.delenv("QIFLOW_PLUGINS", raising=False)
    with Engine(db_url, clock=ManualClock()) as engine:
        assert engine.pm.has_plugin("probe")
    with Engine(db_url, clock=ManualClock(), allow_plugins=["finance"]) as engine:
        assert not engine.pm.has_plugin("probe")
    with Engine(db_url, clock=ManualClock(), allow_plugins=["probe"]) as engine:
        assert engine.pm.has_plugin("probe")
    monkeypatch.setenv("QIFLOW_PLUGINS", " finance , webhook ")
    with Engine(db_url, clock=ManualClock()) as engine:
        assert not engine.pm.has_plugin("probe")
        assert engine.pm.has_plugin("finance")
    with Engine(db_url, clock=ManualClock(), allow_plugins=["probe"]) as engine:
        assert engine.pm.has_plugin("probe")  # the argument wins over the environment


@pytest.mark.parametrize(
    ("allow", "message"),
    [
        ("finance", "a list of names, not the string 'finance'"),
        (["fin ance"], "'fin ance' is not a plugin name"),
    ],
)
def test_a_bad_allow_list_is_refused(allow: object, message: str, db_url: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Engine(db_url, clock=ManualClock(), allow_plugins=allow)  # type: ignore[arg-type]


def test_allow_plugins_does_not_go_with_a_plugin_manager(db_url: str) -> None:
    with pytest.raises(ValidationError, match="not a ready plugin manager"):
        Engine(db_url, plugins=get_plugin_manager(allow=[]), allow_plugins=["finance"])


def test_importing_qiflow_has_no_side_effects() -> None:
    import subprocess

    code = (
        "import structlog, qiflow; from structlog._config import _CONFIG;"
        "print(_CONFIG.is_configured)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"
