"""A plugin that raises in a role, requirement or gate hook stops the command with a
PluginError naming the plugin and the hook, and nothing is written (issue 8, bug 6)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from qiflow import Engine, GuardContext, ManualClock, PluginError, Project, hookimpl
from tests.bad_input_support import MINI_WORKFLOW
from tests.helpers import LOW_RISK, OWNER, new_project


class BrokenRoles:
    @hookimpl
    def qiflow_actor_roles(self, project: Project, actor: str) -> Iterable[str]:
        raise KeyError("the staff directory is down")


class BrokenRequirement:
    def check(self, ctx: GuardContext) -> list[str]:
        raise RuntimeError("cannot reach the finance system")


class BrokenRequirements:
    @hookimpl
    def qiflow_requirements(self) -> Mapping[str, Any]:
        return {"ledger_open": BrokenRequirement()}


class Listener:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(wrapper=True)
    def qiflow_event_committed(self, event: Any, project: Project) -> Any:
        self.calls += 1  # a wrapper still wraps: pluggy's own call loop runs the hook
        return (yield)


class BrokenListener:
    @hookimpl
    def qiflow_event_committed(self, event: Any, project: Project) -> None:
        raise RuntimeError("the index is down")


def test_a_role_hook_that_raises_names_the_plugin_and_writes_nothing(db_url: str) -> None:
    plugin = BrokenRoles()
    with Engine(db_url, clock=ManualClock(), plugins=[plugin]) as engine:
        project = new_project(engine)
        with pytest.raises(PluginError, match="qiflow_actor_roles") as raised:
            engine.fire(project.ref, "diagnose", actor=OWNER)
        assert raised.value.hook == "qiflow_actor_roles"
        assert raised.value.plugin == "BrokenRoles"  # its class: pluggy named it by id
        assert engine.get(project.ref).version == project.version
        assert len(engine.history(project.ref)) == 1


WORKFLOW = MINI_WORKFLOW.replace('dest = "done"', 'dest = "done"\nrequires = ["ledger_open"]')


def test_a_requirement_that_raises_names_it_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "mini.toml").write_text(WORKFLOW)
    plugins = [BrokenRequirements()]
    with Engine(db_url, clock=ManualClock(), plugins=plugins, workflows_dir=tmp_path) as engine:
        project = engine.create_project("Gated", actor=OWNER, workflow="mini")
        with pytest.raises(PluginError, match="requirement 'ledger_open'") as raised:
            engine.fire(project.ref, "finish", actor=OWNER)
        assert raised.value.plugin == "tests"
        assert engine.get(project.ref).version == project.version


def test_the_after_commit_hook_keeps_wrappers_and_a_failure_keeps_the_change(
    db_url: str,
) -> None:
    listener = Listener()
    with Engine(db_url, clock=ManualClock(), plugins=[listener, BrokenListener()]) as engine:
        project = new_project(engine)
        engine.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)
        assert listener.calls == len(engine.history(project.ref))
