"""The README's embedding example runs as written; the shipped test helper works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from qiflow.testing import temporary_engine

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_embedding_example_runs(tmp_path: Path) -> None:
    [example] = re.findall(r"## Embedding\n\n```python\n(.*?)```", README.read_text(), re.S)
    result = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "QIFLOW_WORKFLOWS_DIR": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "no aim" in result.stdout
    assert "plan_measurement False" in result.stdout
    assert (tmp_path / "qi.db").exists()


def test_temporary_engine_gives_a_fresh_database_and_a_manual_clock() -> None:
    with temporary_engine() as (engine, clock):
        project = engine.create_project("Test", actor="alice", owner="alice")
        assert engine.projects(overdue=True) == []
        clock.advance(days=31)
        assert engine.projects(overdue=True) == [engine.get(project.ref)]
        path = engine.database_url
    assert not Path(path.removeprefix("sqlite:///")).exists()
