"""docs/plugins.md documents every hook with its exact argument names."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from qiflow import hookspecs

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HEADING = re.compile(r"^### `(?P<name>qiflow_\w+)\((?P<args>[^)]*)\)`$", re.MULTILINE)


def documented() -> dict[str, list[str]]:
    return {
        m["name"]: [a.strip() for a in m["args"].split(",") if a.strip()]
        for m in HEADING.finditer(GUIDE.read_text())
    }


def specified() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("qiflow_")
    }


def test_every_hook_is_documented_with_its_arguments() -> None:
    assert specified(), "hookspecs defines hooks"
    assert documented() == specified()


def test_every_hook_has_a_docstring() -> None:
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("qiflow_"):
            assert function.__doc__, name
