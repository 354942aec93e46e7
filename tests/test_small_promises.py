"""Issue 8, bug 7: the first projects created at once, and a loop of automatic transitions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from qiflow import Engine, ManualClock, WorkflowDefinitionError

LOOP = """\
name = "loop"
version = 1

[[states]]
name = "a"
initial = true

[[states]]
name = "b"

[[transitions]]
trigger = "go"
source = "a"
dest = "b"

[[transitions]]
trigger = "back"
source = "b"
dest = "a"
on = "project.transitioned"

[[transitions]]
trigger = "forth"
source = "a"
dest = "b"
on = "project.transitioned"
"""


def test_the_first_projects_created_at_once_all_get_a_reference(db_url: str) -> None:
    """The reference counter was created by the first project: two first creations at
    once both inserted it, and one failed."""
    threads, made, errors = 6, [], []
    start = threading.Barrier(threads)
    with Engine(db_url) as engine:

        def create(i: int) -> None:
            start.wait()
            try:
                made.append(engine.create_project(f"Project {i}", actor="olivia").ref)
            except Exception as exc:  # surfaced below
                errors.append(exc)

        workers = [threading.Thread(target=create, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert errors == []
    assert sorted(made) == [f"QI-{n:04d}" for n in range(1, threads + 1)]


def test_automatic_transitions_past_the_step_limit_raise_and_save_nothing(
    db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "loop.toml").write_text(LOOP)
    with Engine(db_url, workflows_dir=folder, clock=ManualClock()) as engine:
        project = engine.create_project("Loop", actor="olivia", workflow="loop")
        with pytest.raises(WorkflowDefinitionError, match="automatic transitions fired 16 times"):
            engine.fire(project.ref, "go", actor="olivia")
        after = engine.get(project.ref)
        assert (after.state, after.version) == ("a", project.version)
        assert [e.type for e in engine.history(project.ref)] == ["project.created"]
