"""The harness of the bad-input corpus: run a case, check the error, check nothing changed."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import MetaData, create_engine, select, text

from qiflow.cli import main
from qiflow.store import normalise_url

MINI_WORKFLOW = """\
name = "mini"
version = 1

[gates.qeia]
rescreen_on = ["finish"]

[[states]]
name = "start"
initial = true
review = "P14D"

[[states]]
name = "done"
final = true

[[transitions]]
trigger = "finish"
source = "start"
dest = "done"
"""


@dataclass(frozen=True)
class Case:
    """One bad input given to the command line.

    ``args`` and ``files`` may say ``{tmp}`` (the test's directory) and ``{db}`` (its
    database URL). ``expect`` are the words the one error line must hold; ``where``,
    for workflow files, is the file the line must name.
    """

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    status: int = 1
    db: bool = True
    #: SQL run on the seeded database before the case (e.g. to make it a newer schema).
    setup: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.id


def write_files(tmp: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.replace("{tmp}", str(tmp)), encoding="utf-8")


def run_cli(args: list[str], env: Mapping[str, str] | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(main, args, env={"QIFLOW_ACTOR": "olivia", **(env or {})})


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_clean_failure(result: Result, status: int, expect: tuple[str, ...]) -> str:
    """Exit ``status``, no traceback, and one stderr line holding every expected word."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        shown = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"uncaught exception:\n{shown}")
    output = result.output + result.stderr
    assert "Traceback" not in output, output
    assert result.exit_code == status, (result.exit_code, output)
    lines = error_lines(result)
    if status == 1:
        if lines and re.fullmatch(r"\d+ problem\(s\) found", lines[-1]):
            # `workflow validate` lists every problem, each naming its file, then counts them
            lines = lines[:-1]
            assert lines, "no problem listed"
            assert all(expect[0] in line for line in lines), lines
            assert lines[-1:] != [], lines
        else:
            assert len(lines) == 1, lines
            assert lines[0].startswith("error: "), lines
    matching = [line for line in lines if all(word in line for word in expect)]
    assert matching, f"no line holds all of {expect}: {lines}"
    return matching[0]


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the database, in a stable order."""
    engine = create_engine(normalise_url(url))
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
                for name, table in sorted(meta.tables.items())
            }
    finally:
        engine.dispose()


def expand(values: tuple[str, ...], tmp: Path, db: str) -> list[str]:
    return [v.replace("{tmp}", str(tmp)).replace("{db}", db) for v in values]


def execute(url: str, statements: tuple[str, ...]) -> None:
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def unchanged(url: str, action: Callable[[], None]) -> None:
    before = dump(url)
    action()
    assert dump(url) == before, "the database changed"
