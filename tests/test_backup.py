"""``qiflow backup`` while a writer runs, and ``qiflow restore --check`` on good and bad copies."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner, Result

from qiflow import Engine
from qiflow.cli import main

WRITER = """
import sys
from pathlib import Path
from qiflow import Engine

url, stop = sys.argv[1], Path(sys.argv[2])
with Engine(url) as engine:
    n = 0
    while not stop.exists():
        p = engine.create_project(f"Project {n}", actor="writer", owner="writer")
        engine.update_project(p.ref, actor="writer", aim=f"Aim {n}")
        n += 1
"""


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def count_projects(url: str) -> int:
    with Engine(url) as engine:
        return len(engine.projects())


def test_a_backup_taken_while_a_writer_runs_passes_the_audit_check(
    tmp_path: Path, sqlite_template: Path
) -> None:
    source = tmp_path / "live.db"
    source.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{source}"
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, str(stop)])
    try:
        deadline = time.monotonic() + 60
        while count_projects(url) < 5:
            assert writer.poll() is None, "the writer died"
            assert time.monotonic() < deadline, "the writer wrote nothing"
            time.sleep(0.2)
        copies = []
        for i in range(3):  # several copies, each taken mid-write
            copy = tmp_path / f"copy-{i}.db"
            result = cli("--db", url, "backup", str(copy))
            assert result.exit_code == 0, result.output
            assert "project chain(s) verified" in result.output
            copies.append(copy)
        assert writer.poll() is None, "the writer was still writing during every backup"
    finally:
        stop.touch()
        assert writer.wait(timeout=60) == 0
    written = count_projects(url)
    sizes = []
    for copy in copies:
        checked = cli("restore", "--check", "--json", str(copy))
        assert checked.exit_code == 0, checked.output
        found = json.loads(checked.output)
        assert found["ok"]
        assert found["breaks"] == []
        assert found["integrity"] == []
        assert 5 <= found["projects_checked"] <= written
        sizes.append(found["projects_checked"])
        assert not copy.with_name(copy.name + ".partial").exists()
    assert sizes == sorted(sizes)  # later copies hold at least as much


def test_restore_check_finds_a_tampered_copy(tmp_path: Path, sqlite_template: Path) -> None:
    source = tmp_path / "live.db"
    source.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{source}"
    with Engine(url) as engine:
        first = engine.create_project("Falls", actor="alice", owner="alice")
        engine.create_project("Sepsis", actor="alice", owner="alice")
    copy = tmp_path / "copy.db"
    assert cli("--db", url, "backup", str(copy)).exit_code == 0
    with sqlite3.connect(copy) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute(
            "UPDATE qiflow_event SET payload = replace(payload, 'Falls', 'Trips') "
            "WHERE project_id = (SELECT id FROM qiflow_project WHERE ref = ?)",
            (first.ref,),
        )
    result = cli("restore", "--check", str(copy))
    assert result.exit_code == 1
    assert f"BROKEN {first.ref}:" in result.output
    assert "verified" not in result.output


def test_restore_check_refuses_what_is_not_a_qiflow_copy(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = cli("restore", "--check", str(empty))
    assert result.exit_code == 1
    assert "has no qiflow tables" in result.output
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    assert cli("restore", "--check", str(garbage)).exit_code == 1
    missing = cli("restore", "--check", str(tmp_path / "absent.db"))
    assert missing.exit_code == 2
    assert cli("restore", str(empty)).exit_code == 2


def test_backup_refuses_to_overwrite_and_points_postgres_at_pg_dump(
    tmp_path: Path, db_url: str
) -> None:
    target = tmp_path / "exists.db"
    target.write_text("keep me")
    result = CliRunner().invoke(main, ["--db", db_url, "backup", str(target)])
    assert result.exit_code == 1
    assert target.read_text() == "keep me"
    if db_url.startswith("postgresql"):
        result = CliRunner().invoke(main, ["--db", db_url, "backup", str(tmp_path / "new.db")])
        assert result.exit_code == 1
        assert "back it up with pg_dump" in result.output
        assert not (tmp_path / "new.db").exists()


def test_restore_check_of_a_postgres_database(db_url: str) -> None:
    with Engine(db_url) as engine:
        engine.create_project("Falls", actor="alice", owner="alice")
    result = cli("restore", "--check", "--json", db_url)
    assert json.loads(result.output)["projects_checked"] == 1
